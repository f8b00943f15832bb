/*
 * The trivial guest of tools/bench's boot-to-exit figure: it exits at its
 * first instruction, writing 1 to port 0xf4 (QEMU's isa-debug-exit
 * convention: exit status (1 << 1) | 1 = 3), so that the figure measures
 * the VMM and KVM, not guest work. It boots under strata (entered at
 * _start in 64-bit mode) and under QEMU microvm (PVH: the Xen note below
 * names the 32-bit entry); its three instructions encode the same in both
 * modes. No runtime, no stack, no memory touched but its own page.
 */
	.section .note.pvh, "a", @note
	.balign 4
	.long 4			/* name size: "Xen\0" */
	.long 4			/* descriptor size */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start		/* the 32-bit entry */

	.text
	.globl _start
_start:
	mov $1, %al
	out %al, $0xf4
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
