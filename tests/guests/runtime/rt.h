/*
 * The test guests' whole runtime: console output, power-off with a status,
 * and boot-argument parsing. Guests include only this and fdt_reader.h, so a
 * guest's .c reads the same on every architecture; rt_arch.h (one per
 * architecture directory) adds what only that machine has, e.g. port I/O.
 */
#ifndef STRATA_GUEST_RT_H
#define STRATA_GUEST_RT_H

#include "rt_arch.h"

void rt_putc(char c);
void rt_puts(const char *s); /* no implicit newline */
void rt_put_u64(unsigned long long v);
void rt_put_hex(unsigned long long v);                /* 0x prefix, no leading zeros */
void rt_put_hexbytes(const void *p, unsigned long n); /* two lowercase digits a byte */

/* Status 0 powers off cleanly; any other value is reported to the VMM as a failure. */
_Noreturn void rt_exit(int v);

/*
 * Finds a whitespace-separated `key=value` token in bootargs and parses
 * value as decimal or 0x-prefixed hex. The first occurrence wins.
 * 0 on success, -1 if key is absent (or bootargs NULL), -2 if the value is
 * malformed or does not fit in 64 bits.
 */
int rt_bootarg_u64(const char *bootargs, const char *key, unsigned long long *out);

/*
 * [s, end) as a decimal or 0x-prefixed hex number that fits in 64 bits:
 * 0, or -2 if it is malformed (as rt_bootarg_u64).
 */
int rt_parse_u64(const char *s, const char *end, unsigned long long *out);

/*
 * The value of a `key=value` token (first occurrence), not NUL-terminated:
 * it ends at the next whitespace or NUL; *len gets its length. NULL if absent.
 * The next occurrence: rt_bootarg(value + *len, key, len).
 */
const char *rt_bootarg(const char *bootargs, const char *key, unsigned long *len);

/*
 * Time, for bounded waits: rt_ticks() (rt_arch.h) counts at
 * rt_ticks_per_ms(), which is exact where the machine reports it and a
 * best guess otherwise.
 */
unsigned long long rt_ticks_per_ms(void);
unsigned long long rt_deadline_ms(unsigned long long ms); /* rt_ticks() value ms from now */
int rt_expired(unsigned long long deadline);
void rt_delay_us(unsigned long long us);

/*
 * Makes a device window found in the device tree accessible at its physical
 * address (the VMM's identity map may cover RAM only). 0 or -1.
 */
int rt_map_mmio(unsigned long long base, unsigned long long size);

/*
 * Interrupts, for guests that wait for a device instead of polling it
 * (x86_64 only so far: elsewhere rt_irq_route returns -1). rt_irq_route
 * sends the interrupt line `irq` (the first cell of a device node's
 * `interrupts`: an IOAPIC input on x86_64) to vCPU 0 and returns 0.
 * Interrupts stay masked except inside rt_irq_wait, which halts until one
 * arrives (one that came since the last wait ends it at once) or a 10 ms
 * tick passes, so a caller rechecks its condition and its deadline after
 * each wait. The handler only acknowledges the interrupt controller; the
 * device's own status is the caller's to read and acknowledge.
 * rt_irq_count: the device interrupts taken so far (ticks not counted).
 */
int rt_irq_route(unsigned irq);
void rt_irq_wait(void);
unsigned long rt_irq_count(void);

/*
 * /chosen/bootargs of a DTB passed at boot, or NULL if it is absent or the
 * DTB fails fdtr_check within rt_dtb_room(). Without a DTB (dtb NULL: an
 * x86_64 guest booted by QEMU through its PVH entry), the command line the
 * PVH start info points to.
 */
const char *rt_bootargs(const void *dtb);

/*
 * How many bytes the DTB may span: up to the start of this image if it lies
 * below it (it must not overlap us), else a 2 MiB cap (Linux's own DTB limit).
 */
unsigned long rt_dtb_room(const void *dtb);

/* Entry point of each guest, called on the boot CPU with the DTB address. */
int main(const void *dtb);

#endif
