/*
 * x86_64 console and power-off, on the legacy ports QEMU also decodes, so the
 * same guest ELF can run under strata and under QEMU for comparison; plus the
 * TSC rate and identity mappings for device windows.
 */
#include "arch.h"
#include "rt.h"

#define COM1_THR 0x3f8
#define COM1_LSR 0x3fd
#define LSR_THR_EMPTY 0x20

/* QEMU's ACPI PM1a control block: SLP_EN with SLP_TYP 0 (S5) powers off. */
#define PM1A_CNT 0x604
#define PM1A_SLEEP 0x2000

/* QEMU's isa-debug-exit: the host exits with (v << 1) | 1. */
#define DEBUG_EXIT 0xf4

void arch_console_putc(char c)
{
    while (!(rt_inb(COM1_LSR) & LSR_THR_EMPTY))
        __asm__ volatile("pause");
    rt_outb(COM1_THR, (unsigned char)c);
}

_Noreturn void arch_exit(int v)
{
    if (v == 0)
        rt_outw(PM1A_CNT, PM1A_SLEEP);
    else
        rt_outb(DEBUG_EXIT, (unsigned char)v);
    /* Only reached if the VMM ignored the write. */
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void cpuid(unsigned leaf, unsigned *a, unsigned *b, unsigned *c, unsigned *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0u));
}

/* Without any CPUID hint the TSC is assumed to tick at 2 GHz. */
#define FALLBACK_TICKS_PER_MS 2000000ull

/*
 * The TSC rate from CPUID: leaf 0x15 (TSC/crystal ratio and crystal Hz),
 * then leaf 0x16 (base MHz), then the hypervisor timing leaf 0x40000010
 * (TSC kHz) that some VMMs provide. Used for timeouts only, so a wrong
 * guess costs accuracy, not correctness.
 */
unsigned long long arch_ticks_per_ms(void)
{
    unsigned a, b, c, d, max;

    cpuid(0, &max, &b, &c, &d);
    if (max >= 0x15) {
        cpuid(0x15, &a, &b, &c, &d);
        if (a && b && c)
            return (unsigned long long)c * b / a / 1000u;
    }
    if (max >= 0x16) {
        cpuid(0x16, &a, &b, &c, &d);
        if (a & 0xffffu)
            return (unsigned long long)(a & 0xffffu) * 1000u;
    }
    cpuid(0x40000000, &max, &b, &c, &d);
    if (max >= 0x40000010 && max < 0x40010000) {
        cpuid(0x40000010, &a, &b, &c, &d);
        if (a)
            return a;
    }
    return FALLBACK_TICKS_PER_MS;
}

/*
 * Identity mappings for device windows. The VMM's boot page tables cover
 * RAM only, and a device window (strata's virtio-mmio slots at 3.25 GiB) may
 * lie beyond it. Missing levels come from a small static pool; each missing
 * 2 MiB page is filled in as an uncached large page. What is already
 * present (a 1 GiB or 2 MiB page, or a page table) is left as it is.
 *
 *   CR3 -> PML4 [va 47:39] -> PDPT [38:30] -> PD [29:21] -> 2 MiB page
 */
#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define LARGE_PAGE (2ull << 20)
#define POOL_TABLES 8

static unsigned long long pt_pool[POOL_TABLES][512] __attribute__((aligned(4096)));
static int pt_used;

static unsigned long long *table_of(unsigned long long entry)
{
    return (unsigned long long *)(unsigned long)(entry & PTE_ADDR);
}

/* The table `entry` points to, taking one from the pool if it is absent. */
static unsigned long long *lower_table(unsigned long long *entry, int *changed)
{
    if (!(*entry & PTE_P)) {
        if (pt_used == POOL_TABLES)
            return 0;
        *entry = (unsigned long long)(unsigned long)pt_pool[pt_used++] | PTE_P | PTE_W;
        *changed = 1;
    }
    return table_of(*entry);
}

int arch_map_mmio(unsigned long long base, unsigned long long size)
{
    unsigned long long cr3, a, end = base + size;
    int changed = 0;

    if (size == 0 || end < base || end > (1ull << 47))
        return -1;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    for (a = base & ~(LARGE_PAGE - 1); a < end; a += LARGE_PAGE) {
        unsigned long long *pml4e = &table_of(cr3)[(a >> 39) & 511];
        unsigned long long *pdpt, *pdpte, *pd, *pde;

        pdpt = lower_table(pml4e, &changed);
        if (!pdpt)
            return -1;
        pdpte = &pdpt[(a >> 30) & 511];
        if ((*pdpte & PTE_P) && (*pdpte & PTE_PS))
            continue; /* a 1 GiB page */
        pd = lower_table(pdpte, &changed);
        if (!pd)
            return -1;
        pde = &pd[(a >> 21) & 511];
        if (*pde & PTE_P)
            continue;
        *pde = a | PTE_P | PTE_W | PTE_PWT | PTE_PCD | PTE_PS;
        changed = 1;
    }
    if (changed)
        __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
    return 0;
}
