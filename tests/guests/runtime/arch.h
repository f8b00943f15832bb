/*
 * The hooks each architecture directory implements for rt.c. Kept apart from
 * rt.h so guests see the portable API only and rt.c never needs an #ifdef.
 */
#ifndef STRATA_GUEST_ARCH_H
#define STRATA_GUEST_ARCH_H

void arch_console_putc(char c);
_Noreturn void arch_exit(int v);

/* Linker-script symbols: the first byte of the loaded image. */
extern char __image_start[];

#endif
