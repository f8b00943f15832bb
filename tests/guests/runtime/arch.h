/*
 * The hooks each architecture directory implements for rt.c. Kept apart from
 * rt.h so guests see the portable API only and rt.c never needs an #ifdef.
 * Each architecture's rt_arch.h also provides, inline: rt_barrier, rt_relax,
 * rt_ticks and the rt_mmio_read8/16/32/64 and rt_mmio_write8/16/32 accessors.
 */
#ifndef STRATA_GUEST_ARCH_H
#define STRATA_GUEST_ARCH_H

void arch_console_putc(char c);
_Noreturn void arch_exit(int v);

/* Rate of rt_ticks(), nonzero (a best guess where the machine does not say). */
unsigned long long arch_ticks_per_ms(void);

/* Makes [base, base + size) accessible as device memory at base; 0 or -1. */
int arch_map_mmio(unsigned long long base, unsigned long long size);

/* Interrupts (see rt_irq_route in rt.h): -1 where not implemented. */
int arch_irq_route(unsigned irq);
void arch_irq_wait(void);
unsigned long arch_irq_count(void);

/* The command line of a boot without a device tree (x86_64 PVH), or NULL. */
const char *arch_boot_cmdline(void);

/* Linker-script symbols: the first byte of the loaded image. */
extern char __image_start[];

#endif
