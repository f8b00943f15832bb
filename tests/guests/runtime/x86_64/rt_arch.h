/*
 * What only an x86_64 guest has: port I/O. Inline so that a benchmark's
 * `out` loop measures VM exits, not calls.
 */
#ifndef STRATA_GUEST_RT_ARCH_H
#define STRATA_GUEST_RT_ARCH_H

static inline void rt_outb(unsigned short port, unsigned char v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void rt_outw(unsigned short port, unsigned short v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline unsigned char rt_inb(unsigned short port)
{
    unsigned char v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

#endif
