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

	lea stack_top(%rip), %rsp
	mov %rdi, %rbx			/* DTB, callee-saved across the clear */

	/* .bss holds the stack too: nothing is on it yet, so clearing is safe. */
	cld
	lea __bss_start(%rip), %rdi
	lea __bss_end(%rip), %rcx
	sub %rdi, %rcx
	xor %eax, %eax
	rep stosb

	xor %ebp, %ebp			/* terminate frame-pointer walks */
	mov %rbx, %rdi
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
