/*
 * x86_64 guest entry. The VMM enters every vCPU here already in long mode
 * with no stack, so secondaries must be parked before anything touches
 * memory: there is a single stack, and it belongs to vCPU 0.
 *   rdi = DTB guest-physical address, rsi = vCPU index.
 */
	.section .text.start, "ax", @progbits
	.globl _start
	.type _start, @function
_start:
	test %rsi, %rsi
	jnz park

	/*
	 * No .bss clear: an ELF loader zero-fills p_memsz past p_filesz, and
	 * strata's does. Touching every .bss page here would cost a guest page
	 * fault each (about 2 ms apiece on a nested, shadow-paged host).
	 */
	lea stack_top(%rip), %rsp
	cld
	xor %ebp, %ebp			/* terminate frame-pointer walks */
	call main
	mov %eax, %edi
	call rt_exit

park:
	cli
	hlt
	jmp park
	.size _start, . - _start

/*
 * The interrupt vectors the runtime uses (arch.c): each entry pushes its
 * vector and joins irq_common, which saves the registers a C call may
 * clobber (no FP state: the guests are built general-registers only) and
 * calls arch_irq_handler(vector). The CPU pushed 5 words onto a 16-byte
 * aligned stack; with the vector, the 9 registers and 8 more bytes, the
 * call's return address lands as the ABI expects.
 */
	.text
	.globl arch_irq_entry, arch_tick_entry
	.type arch_irq_entry, @function
arch_irq_entry:
	push $0x40
	jmp irq_common
	.size arch_irq_entry, . - arch_irq_entry
	.type arch_tick_entry, @function
arch_tick_entry:
	push $0x41
	jmp irq_common
	.size arch_tick_entry, . - arch_tick_entry
irq_common:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	mov 72(%rsp), %edi
	sub $8, %rsp
	cld
	call arch_irq_handler
	add $8, %rsp
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $8, %rsp
	iretq

	.section .bss, "aw", @nobits
	.balign 16
stack_bottom:
	.skip 65536
stack_top:

	.section .note.GNU-stack, "", @progbits
