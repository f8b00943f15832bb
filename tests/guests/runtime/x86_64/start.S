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

	.section .bss, "aw", @nobits
	.balign 16
stack_bottom:
	.skip 65536
stack_top:

	.section .note.GNU-stack, "", @progbits
