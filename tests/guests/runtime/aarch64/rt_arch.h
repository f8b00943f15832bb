/*
 * What the portable runtime needs inline on aarch64, under the names every
 * architecture's rt_arch.h provides: rt_barrier, rt_relax, rt_ticks and the
 * rt_mmio_* accessors; plus a few aarch64-only system-register reads for
 * guests that probe the machine.
 *
 * The guests run with the MMU off, so every data access is Device-nGnRnE:
 * unaligned accesses fault and exclusives are unavailable. The runtime is
 * built with -mstrict-align and keeps everything naturally aligned.
 */
#ifndef STRATA_GUEST_RT_ARCH_H
#define STRATA_GUEST_RT_ARCH_H

/* rt_exit status after an unexpected exception (the handler prints ESR, FAR, ELR). */
#define RT_EXIT_EXCEPTION 99

/* Full barrier for the compiler and the CPU: orders RAM and MMIO both ways. */
static inline void rt_barrier(void)
{
    __asm__ volatile("dsb sy" : : : "memory");
}

/* Spin-loop hint. */
static inline void rt_relax(void)
{
    __asm__ volatile("yield" : : : "memory");
}

/* The virtual counter; rt_ticks_per_ms() scales it (CNTFRQ_EL0). */
static inline unsigned long long rt_ticks(void)
{
    unsigned long long v;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
    return v;
}

/* The exception level we run at, 0..3. */
static inline unsigned rt_current_el(void)
{
    unsigned long long v;
    __asm__ volatile("mrs %0, CurrentEL" : "=r"(v));
    return (unsigned)(v >> 2) & 3u;
}

static inline unsigned long long rt_id_aa64mmfr0(void)
{
    unsigned long long v;
    __asm__ volatile("mrs %0, id_aa64mmfr0_el1" : "=r"(v));
    return v;
}

/*
 * MMIO accessors: one plain load or store of exactly the given width,
 * base-register addressing and no writeback, so that the data abort
 * syndrome is valid (ISV) and a VMM sees the access size the caller meant.
 */
static inline unsigned char rt_mmio_read8(unsigned long addr)
{
    unsigned v;
    __asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return (unsigned char)v;
}

static inline unsigned short rt_mmio_read16(unsigned long addr)
{
    unsigned v;
    __asm__ volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return (unsigned short)v;
}

static inline unsigned rt_mmio_read32(unsigned long addr)
{
    unsigned v;
    __asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline unsigned long long rt_mmio_read64(unsigned long addr)
{
    unsigned long long v;
    __asm__ volatile("ldr %x0, [%1]" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void rt_mmio_write8(unsigned long addr, unsigned char v)
{
    __asm__ volatile("strb %w0, [%1]" : : "r"((unsigned)v), "r"(addr) : "memory");
}

static inline void rt_mmio_write16(unsigned long addr, unsigned short v)
{
    __asm__ volatile("strh %w0, [%1]" : : "r"((unsigned)v), "r"(addr) : "memory");
}

static inline void rt_mmio_write32(unsigned long addr, unsigned v)
{
    __asm__ volatile("str %w0, [%1]" : : "r"(v), "r"(addr) : "memory");
}

#endif
