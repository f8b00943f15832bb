/*
 * What the portable runtime needs inline on x86_64: port I/O (x86 only),
 * plus the primitives every architecture's rt_arch.h provides under the same
 * names: rt_barrier, rt_relax, rt_ticks and the rt_mmio_* accessors. Inline
 * so that a benchmark's `out` loop measures VM exits, not calls.
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

/* Full barrier for the compiler and the CPU: orders RAM and MMIO both ways. */
static inline void rt_barrier(void)
{
    __asm__ volatile("mfence" : : : "memory");
}

/* Spin-loop hint. */
static inline void rt_relax(void)
{
    __asm__ volatile("pause" : : : "memory");
}

/* A free-running tick counter (the TSC); rt_ticks_per_ms() scales it. */
static inline unsigned long long rt_ticks(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((unsigned long long)hi << 32) | lo;
}

/*
 * MMIO accessors: one plain `mov` of exactly the given width, so a VMM's
 * instruction decoder sees the simplest form and the access size the
 * caller meant (the compiler may not merge, split or fold these).
 */
static inline unsigned char rt_mmio_read8(unsigned long addr)
{
    unsigned char v;
    __asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(addr) : "memory");
    return v;
}

static inline unsigned short rt_mmio_read16(unsigned long addr)
{
    unsigned short v;
    __asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline unsigned rt_mmio_read32(unsigned long addr)
{
    unsigned v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline unsigned long long rt_mmio_read64(unsigned long addr)
{
    unsigned long long v;
    __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void rt_mmio_write8(unsigned long addr, unsigned char v)
{
    __asm__ volatile("movb %0, (%1)" : : "q"(v), "r"(addr) : "memory");
}

static inline void rt_mmio_write16(unsigned long addr, unsigned short v)
{
    __asm__ volatile("movw %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

static inline void rt_mmio_write32(unsigned long addr, unsigned v)
{
    __asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

#endif
