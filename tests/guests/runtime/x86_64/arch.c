/*
 * x86_64 console and power-off, on the legacy ports QEMU also decodes, so the
 * same guest ELF can run under strata and under QEMU for comparison.
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
