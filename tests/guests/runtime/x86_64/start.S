/*
 * x86_64 guest entry. The VMM enters every vCPU here already in long mode
 * with no stack, so secondaries must be parked before anything touches
 * memory: there is a single stack, and it belongs to vCPU 0.
 *   rdi = DTB guest-physical address, rsi = vCPU index.
 */
#include "pvh_note.h"

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
 * PVH entry, for QEMU (microvm boots an ELF with this note in 32-bit
 * protected mode, paging off, %ebx = the hvm_start_info): identity-map the
 * first 4 GiB with 2 MiB pages (RAM and QEMU's device windows), enter long
 * mode through a GDT of our own, and join _start as vCPU 0 without a DTB
 * (%rdi = 0): rt_bootargs and virtio_find then read the command line the
 * start info points to (arch_boot_cmdline). Under strata it never runs.
 */
	PVH_NOTE _start32

	.text
	.code32
	.type _start32, @function
_start32:
	mov %ebx, pvh_start_info
	xor %ecx, %ecx
1:	mov %ecx, %eax			/* PD entry ecx maps ecx * 2 MiB: P, W, PS */
	shl $21, %eax
	or $0x83, %eax
	mov %eax, pvh_pd(, %ecx, 8)
	movl $0, pvh_pd + 4(, %ecx, 8)
	inc %ecx
	cmp $2048, %ecx
	jb 1b
	xor %ecx, %ecx
2:	mov %ecx, %eax			/* PDPT entry ecx -> the ecx-th PD */
	shl $12, %eax
	add $pvh_pd + 3, %eax
	mov %eax, pvh_pdpt(, %ecx, 8)
	inc %ecx
	cmp $4, %ecx
	jb 2b
	movl $pvh_pdpt + 3, pvh_pml4
	mov $pvh_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax		/* PG, PE */
	mov %eax, %cr0
	lgdt pvh_gdtr
	ljmp $0x08, $pvh_long
	.size _start32, . - _start32

	.code64
pvh_long:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %edi, %edi
	xor %esi, %esi
	jmp _start

	.section .rodata
	.balign 8
pvh_gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: data */
pvh_gdtr:
	.word . - pvh_gdt - 1
	.long pvh_gdt

	.data
	.balign 8
	.globl pvh_start_info
pvh_start_info:
	.quad 0

	.section .bss, "aw", @nobits
	.balign 4096
pvh_pml4:
	.skip 4096
pvh_pdpt:
	.skip 4096
pvh_pd:
	.skip 4 * 4096

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
