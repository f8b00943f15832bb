/*
 * aarch64 guest entry: an arm64 Image (Linux arm64 boot protocol). The VMM
 * loads the file at a 2 MiB-aligned RAM base + text_offset (0), zero-fills
 * up to image_size, and enters vCPU 0 at the first byte with
 *   x0 = DTB physical address, MMU and caches off, DAIF masked, EL1h
 *   (EL2h for a guest hypervisor).
 * Secondary vCPUs stay off (no PSCI CPU_ON), so there is one stack.
 *
 * The image is linked at 0 as a static PIE and may be loaded anywhere:
 * code addresses everything PC-relatively (adrp/add), and the few absolute
 * pointers in data are fixed up here from .rela.dyn before any C runs.
 */
#define R_AARCH64_RELATIVE 1027

	.section .text.start, "ax", %progbits
	.globl _start
	.type _start, %function
_start:
	/* The 64-byte Image header. */
	b	entry			/* code0 */
	.long	0			/* code1 */
	.quad	0			/* text_offset */
	/*
	 * image_size: file + bss. Two 32-bit words, as the Linux kernel does:
	 * an ABS32 is resolved at link time, where a 64-bit absolute word
	 * would become a dynamic relocation in a PIE.
	 */
	.long	__image_size		/* image_size, low word */
	.long	0			/* high word: the image is far below 4 GiB */
	.quad	0xa			/* flags: LE, 4K pages (1 << 1), anywhere in PA (1 << 3) */
	.quad	0			/* res2 */
	.quad	0			/* res3 */
	.quad	0			/* res4 */
	.ascii	"ARM\x64"		/* magic */
	.long	0			/* res5 */

entry:
	mov	x19, x0			/* DTB, kept in a callee-saved register */

	/* Exceptions first, so that even a fault below is reported. */
	adrp	x1, arch_vectors
	add	x1, x1, :lo12:arch_vectors
	mrs	x2, CurrentEL
	cmp	x2, #(2 << 2)
	b.ne	1f
	msr	VBAR_EL2, x1
	b	2f
1:	msr	VBAR_EL1, x1
2:	isb

	adrp	x1, stack_top
	add	x1, x1, :lo12:stack_top
	mov	sp, x1
	mov	x29, xzr		/* terminate frame-pointer walks */
	mov	x30, xzr

	/*
	 * Self-relocation. Linked at 0, so the load address is the offset to
	 * add. Each Elf64_Rela is { r_offset, r_info, r_addend }; the link
	 * is static, so only R_AARCH64_RELATIVE can occur (others are skipped;
	 * the build checks there are none). No .bss clear: strata zero-fills
	 * the Image up to image_size.
	 */
	adrp	x1, __image_start
	add	x1, x1, :lo12:__image_start
	adrp	x2, __rela_start
	add	x2, x2, :lo12:__rela_start
	adrp	x3, __rela_end
	add	x3, x3, :lo12:__rela_end
3:	cmp	x2, x3
	b.hs	4f
	ldr	x4, [x2]
	ldr	x5, [x2, #8]
	ldr	x6, [x2, #16]
	add	x2, x2, #24
	cmp	x5, #R_AARCH64_RELATIVE
	b.ne	3b
	add	x6, x6, x1
	str	x6, [x4, x1]
	b	3b
4:
	mov	x0, x19
	bl	arch_boot		/* console and PSCI conduit from the DTB */
	mov	x0, x19
	bl	main
	bl	rt_exit
5:	wfi
	b	5b
	.size	_start, . - _start

/*
 * Exception vectors: 16 slots of 0x80 bytes, 2 KiB aligned. Every slot
 * reports and exits (a test guest takes no interrupts and makes no
 * supervisor calls), so each just passes its slot number to C on a stack
 * of its own: the fault may have been a stack overflow.
 */
	.macro	vector slot
	.balign	0x80
	mov	x0, #\slot
	b	exception_common
	.endm

	.text
	.balign	0x800
	.globl	arch_vectors
arch_vectors:
	vector	0	/* current EL, SP0: sync */
	vector	1	/* irq */
	vector	2	/* fiq */
	vector	3	/* serror */
	vector	4	/* current EL, SPx: sync */
	vector	5
	vector	6
	vector	7
	vector	8	/* lower EL, AArch64 */
	vector	9
	vector	10
	vector	11
	vector	12	/* lower EL, AArch32 */
	vector	13
	vector	14
	vector	15

exception_common:
	adrp	x1, exception_stack_top
	add	x1, x1, :lo12:exception_stack_top
	mov	sp, x1
	mov	x29, xzr
	bl	arch_exception		/* does not return */
6:	wfi
	b	6b

	.section .bss, "aw", %nobits
	.balign	16
stack_bottom:
	.skip	65536
stack_top:
	.skip	4096
exception_stack_top:

	.section .note.GNU-stack, "", %progbits
