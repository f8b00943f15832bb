/*
 * PVH_NOTE entry: the ELF note by which QEMU (microvm, -kernel) finds a
 * PVH entry point: name "Xen", type XEN_ELFNOTE_PHYS32_ENTRY (18), the
 * 32-bit address of `entry`. For .S files; the linker script puts
 * .note.pvh in a PT_NOTE segment, where QEMU looks.
 */
#ifndef STRATA_GUEST_PVH_NOTE_H
#define STRATA_GUEST_PVH_NOTE_H

/* clang-format off */
.macro PVH_NOTE entry
	.pushsection .note.pvh, "a", @note
	.balign 4
	.long 4			/* name size: "Xen\0" */
	.long 4			/* descriptor size */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long \entry
	.popsection
.endm
/* clang-format on */

#endif
