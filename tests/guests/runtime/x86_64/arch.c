/*
 * x86_64 console and power-off, on the legacy ports QEMU also decodes, so the
 * same guest ELF can run under strata and under QEMU for comparison; plus the
 * TSC rate, identity mappings for device windows, and interrupts through the
 * local APIC and IOAPIC.
 */
#include "arch.h"
#include "rt.h"

#include <stdint.h>

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
    /* No PM1a block (QEMU microvm): the debug-exit port, where 0 exits with 1. */
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

/*
 * Interrupts: an IDT whose vectors IRQ_VECTOR (devices, through the IOAPIC)
 * and TICK_VECTOR (the local APIC timer, every 10 ms) enter
 * arch_irq_entry and arch_tick_entry (start.S), which call
 * arch_irq_handler with the vector; the local APIC
 * enabled at its default base; the IOAPIC input `irq` sent to APIC 0 as an
 * edge-triggered, active-high interrupt; both 8259s masked, since KVM wires
 * GSIs below 16 to them too (and vCPU 0's LINT0 to their output).
 */
#define LAPIC_BASE 0xfee00000ull
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_SVR_ENABLE 0x100u
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_PERIODIC 0x20000u
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_DIVIDE 0x3e0
#define LAPIC_DIVIDE_BY_1 0xbu
#define LAPIC_TICKS_10MS 10000000u /* KVM's local APIC timer counts at 1 GHz */
#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10
#define IOAPIC_REDIRECTION(n) (0x10u + 2u * (n))
#define IOAPIC_INPUTS 24u
#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1
#define IRQ_VECTOR 0x40u
#define TICK_VECTOR 0x41u

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type; /* 0x8e: present, DPL 0, 64-bit interrupt gate */
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t zero;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));

void arch_irq_entry(void);  /* start.S */
void arch_tick_entry(void); /* start.S */
void arch_irq_handler(unsigned vector);

static volatile unsigned long device_interrupts;

void arch_irq_handler(unsigned vector)
{
    if (vector == IRQ_VECTOR)
        device_interrupts++;
    rt_mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

unsigned long arch_irq_count(void)
{
    return device_interrupts;
}

static void set_gate(unsigned vector, void (*handler)(void))
{
    const unsigned long a = (unsigned long)handler;
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    idt[vector] = (struct idt_gate){(uint16_t)a, cs, 0, 0x8e, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0};
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    rt_mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
    rt_mmio_write32(IOAPIC_BASE + IOAPIC_WINDOW, v);
}

int arch_irq_route(unsigned irq)
{
    static int ready;
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr = {sizeof idt - 1, (uint64_t)(unsigned long)idt};

    if (irq >= IOAPIC_INPUTS || arch_map_mmio(LAPIC_BASE, 4096) || arch_map_mmio(IOAPIC_BASE, 4096))
        return -1;
    if (!ready) {
        rt_outb(PIC1_DATA, 0xff);
        rt_outb(PIC2_DATA, 0xff);
        set_gate(IRQ_VECTOR, arch_irq_entry);
        set_gate(TICK_VECTOR, arch_tick_entry);
        __asm__ volatile("lidt %0" : : "m"(idtr));
        rt_mmio_write32(LAPIC_BASE + LAPIC_TPR, 0);
        rt_mmio_write32(LAPIC_BASE + LAPIC_SVR, LAPIC_SVR_ENABLE | 0xffu);
        rt_mmio_write32(LAPIC_BASE + LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_BY_1);
        rt_mmio_write32(LAPIC_BASE + LAPIC_LVT_TIMER, LAPIC_LVT_PERIODIC | TICK_VECTOR);
        rt_mmio_write32(LAPIC_BASE + LAPIC_TIMER_INITIAL, LAPIC_TICKS_10MS);
        ready = 1;
    }
    ioapic_write(IOAPIC_REDIRECTION(irq) + 1, 0); /* destination: APIC ID 0 */
    ioapic_write(IOAPIC_REDIRECTION(irq), IRQ_VECTOR); /* fixed, physical, high, edge, unmasked */
    return 0;
}

void arch_irq_wait(void)
{
    /* sti's one-instruction shadow covers hlt: nothing is taken in between. */
    __asm__ volatile("sti; hlt; cli" : : : "memory");
}

/*
 * The command line of a PVH boot (start.S's _start32 keeps the start info's
 * address): hvm_start_info's cmdline_paddr, at offset 24 after its magic.
 */
#define HVM_START_MAGIC 0x336ec578u

extern unsigned long long pvh_start_info;

const char *arch_boot_cmdline(void)
{
    const unsigned char *info = (const unsigned char *)(unsigned long)pvh_start_info;
    unsigned long long cmdline;

    if (!info || *(const uint32_t *)info != HVM_START_MAGIC)
        return 0;
    cmdline = *(const uint64_t *)(info + 24);
    return cmdline ? (const char *)(unsigned long)cmdline : 0;
}
