/*
 * The trivial guest of tools/bench's boot-to-exit figure: it exits at its
 * first instruction, writing 1 to port 0xf4 (QEMU's isa-debug-exit
 * convention: exit status (1 << 1) | 1 = 3), so that the figure measures
 * the VMM and KVM, not guest work. It boots under strata (entered at
 * _start in 64-bit mode) and under QEMU microvm (PVH: the Xen note below
 * names the 32-bit entry); its three instructions encode the same in both
 * modes. No runtime (but its PVH note macro), no stack, no memory touched
 * but its own page.
 */
#include "pvh_note.h"

	PVH_NOTE _start

	.text
	.globl _start
_start:
	mov $1, %al
	out %al, $0xf4
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
