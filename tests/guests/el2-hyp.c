/*
 * aarch64 only: a guest hypervisor in miniature. Entered at EL2h (strata run
 * --el2), it reports what it sees, builds a stage-2 translation for an
 * L2 payload, enters the payload at EL1 and takes it back when the payload
 * issues HVC #0.
 *
 * Two numbers kept apart (DESIGN.md): the PARange the CPU advertises in
 * ID_AA64MMFR0_EL1, and strata's IPA window (/chosen/strata,ipa-bits), the
 * part of this VM's physical space that is backed. Every stage-2 output lies
 * below 2^window, except with bootargs `beyond=1`: then one extra L2 page is
 * mapped to exactly 2^window, and never touched, so that `strata run --el2
 * --trace-s2` has an output beyond the window to flag.
 *
 * The stage-2 (4 KiB granule, walk starting at level 1):
 *   L2 IPA 0x40000000..+64 KiB -> payload_region, a page-aligned buffer in
 *                                 this image (its own RAM): the payload's
 *                                 code and data at the bottom, its stack at
 *                                 the top. Normal write-back, read/write.
 *   L2 IPA 0x09000000 (4 KiB)  -> the PL011 named by the device tree,
 *                                 Device-nGnRE, read/write, execute-never.
 *   L2 IPA 0x40080000 (4 KiB)  -> 1 << window (beyond=1 only).
 *
 * The payload is position-independent assembly (payload_start..payload_end)
 * copied into payload_region. With its MMU off it writes
 *   el2-hyp: payload at EL1 says hello
 *   el2-hyp: payload currentel 1
 * one byte per store to its UART window, then HVC #0 with x0 = PAYLOAD_DONE.
 *
 * Output under QEMU TCG (-cpu max) with strata's DTB for a 36-bit window
 * and beyond=1 (PARange, window, addresses and E2H vary with the machine):
 *   el2-hyp: currentel 2
 *   el2-hyp: parange 6 (52 bits)
 *   el2-hyp: window 36 bits               (or: window unknown, using parange)
 *   el2-hyp: ram 0x40000000 0x10000000
 *   el2-hyp: pl011 0x9000000
 *   el2-hyp: map l2 0x40000000 -> 0x4020b000 size 0x10000 normal (payload)
 *   el2-hyp: map l2 0x9000000 -> 0x9000000 size 0x1000 device (pl011)
 *   el2-hyp: map l2 0x40080000 -> 0x1000000000 size 0x1000 normal (beyond the window, never touched)
 *   el2-hyp: e2h 0
 *   el2-hyp: vtcr 0x80023560 vttbr 0x100004021b000 hcr 0x8000003b
 *   el2-hyp: entering payload at el1, l2 0x40000000
 *   el2-hyp: payload at EL1 says hello
 *   el2-hyp: payload currentel 1
 *   el2-hyp: payload returned by hvc
 *
 * Bootargs: beyond=1 (above); vhe=1 sets HCR_EL2.E2H even where it is not
 * already set (to try the VHE path under QEMU, which starts with E2H = 0).
 * Exit status 0 after the HVC; 1 for a setup problem; RT_EXIT_EXCEPTION for
 * any other exception taken to EL2 (ESR, FAR, HPFAR, ELR, SPSR printed).
 */
#include "fdt_reader.h"
#include "rt.h"

#define PAGE 4096ull
#define MAX_BANKS 16

#define L2_PAYLOAD_IPA 0x40000000ull
#define L2_UART_IPA 0x09000000ull
#define L2_BEYOND_IPA 0x40080000ull
#define PAYLOAD_SIZE 0x10000ull
#define PAYLOAD_DONE 0x600d600dull

/* Stage-2 descriptor bits (VMSAv8-64, 4 KiB granule). */
#define S2_VALID (1ull << 0)
#define S2_TABLE (1ull << 1)           /* table at level 1-2, page at level 3 */
#define S2_MEMATTR(x) ((unsigned long long)(x) << 2)
#define S2_MEMATTR_NORMAL_WB 0xfu      /* outer WB [3:2] = 0b11, inner WB [1:0] = 0b11 */
#define S2_MEMATTR_DEVICE_NGNRE 0x1u   /* [3:2] = 0b00 Device, [1:0] = 0b01 nGnRE */
#define S2_AP_RW (3ull << 6)           /* S2AP: read and write */
#define S2_SH_INNER (3ull << 8)
#define S2_AF (1ull << 10)
#define S2_XN (1ull << 54)
#define S2_OA_MASK 0x0000fffffffff000ull /* OA[47:12] */

#define S2_NORMAL (S2_VALID | S2_TABLE | S2_MEMATTR(S2_MEMATTR_NORMAL_WB) | S2_AP_RW | S2_SH_INNER | S2_AF)
#define S2_DEVICE (S2_VALID | S2_TABLE | S2_MEMATTR(S2_MEMATTR_DEVICE_NGNRE) | S2_AP_RW | S2_AF | S2_XN)

/* HCR_EL2 */
#define HCR_VM (1ull << 0)
#define HCR_SWIO (1ull << 1)
#define HCR_FMO (1ull << 3)
#define HCR_IMO (1ull << 4)
#define HCR_AMO (1ull << 5)
#define HCR_TGE (1ull << 27)
#define HCR_HCD (1ull << 29)
#define HCR_RW (1ull << 31)
#define HCR_E2H (1ull << 34)

/* VTCR_EL2 */
#define VTCR_SL0_L1 (1ull << 6)        /* 4 KiB granule: start at level 1 */
#define VTCR_IRGN0_WBWA (1ull << 8)
#define VTCR_ORGN0_WBWA (1ull << 10)
#define VTCR_SH0_INNER (3ull << 12)
#define VTCR_TG0_4K (0ull << 14)
#define VTCR_PS(x) ((unsigned long long)(x) << 16)
#define VTCR_RES1 (1ull << 31)

#define VTTBR_VMID(x) ((unsigned long long)(x) << 48)

/* SCTLR_EL1 with the MMU and caches off: only the bits that are RES1 in Armv8.0. */
#define SCTLR_EL1_MMU_OFF ((1ull << 29) | (1ull << 28) | (1ull << 23) | (1ull << 22) | (1ull << 20) | (1ull << 11))

/* SPSR_EL2 for an ERET to EL1h with D, A, I and F masked. */
#define SPSR_EL1H_DAIF 0x3c5ull

#define ESR_EC_HVC64 0x16u

#define TABLE_PAGES 8

extern char hyp_vectors[] __attribute__((visibility("hidden")));
extern char arch_vectors[] __attribute__((visibility("hidden")));
extern char payload_start[] __attribute__((visibility("hidden")));
extern char payload_end[] __attribute__((visibility("hidden")));

_Noreturn void hyp_exception(unsigned long slot, unsigned long x0);

static unsigned long long tables[TABLE_PAGES][512] __attribute__((aligned(4096)));
static unsigned table_pages_used;
static unsigned char payload_region[PAYLOAD_SIZE] __attribute__((aligned(4096)));
static unsigned long long bases[MAX_BANKS], sizes[MAX_BANKS];
static unsigned long long hcr_at_entry;

static const unsigned char parange_bits[8] = {32, 36, 40, 42, 44, 48, 52, 56};

/*
 * The hypervisor's EL2 vectors. Every slot passes its number and the
 * interrupted x0 (the payload's PAYLOAD_DONE on its HVC) to hyp_exception()
 * on a stack of its own. None returns: the HVC ends the test.
 *
 * The payload follows: position-independent, it addresses its strings
 * PC-relatively and finds its UART window in x0 and its stack in SP_EL1,
 * both set by the hypervisor. Its strings sit between payload_start and
 * payload_end, so one copy carries code and data together.
 */
__asm__(
    "	.pushsection .text, \"ax\", %progbits\n"
    "	.macro	hyp_vector slot\n"
    "	.balign	0x80\n"
    "	mov	x1, x0\n"
    "	mov	x0, #\\slot\n"
    "	b	hyp_vector_common\n"
    "	.endm\n"
    "	.balign	0x800\n"
    "	.globl	hyp_vectors\n"
    "	.hidden	hyp_vectors\n"
    "hyp_vectors:\n"
    "	hyp_vector 0\n"
    "	hyp_vector 1\n"
    "	hyp_vector 2\n"
    "	hyp_vector 3\n"
    "	hyp_vector 4\n"
    "	hyp_vector 5\n"
    "	hyp_vector 6\n"
    "	hyp_vector 7\n"
    "	hyp_vector 8\n"
    "	hyp_vector 9\n"
    "	hyp_vector 10\n"
    "	hyp_vector 11\n"
    "	hyp_vector 12\n"
    "	hyp_vector 13\n"
    "	hyp_vector 14\n"
    "	hyp_vector 15\n"
    "hyp_vector_common:\n"
    "	adrp	x2, hyp_trap_stack_top\n"
    "	add	x2, x2, :lo12:hyp_trap_stack_top\n"
    "	mov	sp, x2\n"
    "	mov	x29, xzr\n"
    "	mov	x30, xzr\n"
    "	bl	hyp_exception\n"
    "1:	wfi\n"
    "	b	1b\n"
    "\n"
    "	.balign	16\n"
    "	.globl	payload_start\n"
    "	.hidden	payload_start\n"
    "payload_start:\n"
    "	stp	x29, x30, [sp, #-16]!\n" /* the stack at the top of the region */
    "	mov	x29, sp\n"
    "	adr	x1, payload_hello\n"
    "	bl	payload_puts\n"
    "	adr	x1, payload_el\n"
    "	bl	payload_puts\n"
    "	mrs	x2, CurrentEL\n"
    "	ubfx	x2, x2, #2, #2\n"
    "	add	w2, w2, #'0'\n"
    "	bl	payload_putc\n"
    "	mov	w2, #'\\n'\n"
    "	bl	payload_putc\n"
    "	ldp	x29, x30, [sp], #16\n"
    "	movz	x0, #0x600d\n"
    "	movk	x0, #0x600d, lsl #16\n"
    "	hvc	#0\n"
    "2:	wfi\n" /* the hypervisor never comes back */
    "	b	2b\n"
    /* x0 = UART, x1 = NUL-terminated string; clobbers x1-x3. */
    /* No UARTFR.TXFF polling: strata's PL011 never fills (nor does QEMU's at
     * this rate), and under nested emulation every payload MMIO access is a
     * shadow stage-2 fault that costs a large fraction of a second. */
    "payload_puts:\n"
    "3:	ldrb	w2, [x1], #1\n"
    "	cbz	w2, 5f\n"
    "	str	w2, [x0]\n"         /* UARTDR: one byte per store */
    "	b	3b\n"
    "5:	ret\n"
    /* x0 = UART, w2 = byte. */
    "payload_putc:\n"
    "	str	w2, [x0]\n"
    "	ret\n"
    "payload_hello:\n"
    "	.asciz	\"el2-hyp: payload at EL1 says hello\\n\"\n"
    "payload_el:\n"
    "	.asciz	\"el2-hyp: payload currentel \"\n"
    "	.balign	16\n"
    "	.globl	payload_end\n"
    "	.hidden	payload_end\n"
    "payload_end:\n"
    "	.popsection\n"
    "\n"
    "	.pushsection .bss, \"aw\", %nobits\n"
    "	.balign	16\n"
    "hyp_trap_stack:\n"
    "	.skip	8192\n"
    "hyp_trap_stack_top:\n"
    "	.popsection\n");

#define READ_SYSREG(name, var) __asm__ volatile("mrs %0, " #name : "=r"(var))
#define WRITE_SYSREG(name, val) __asm__ volatile("msr " #name ", %0" : : "r"((unsigned long long)(val)) : "memory")



/* The first address of node's reg (a child of the root), or 0. */
static unsigned long long reg_base(const void *dtb, int node)
{
    int len;
    const void *ac_p = fdtr_getprop(dtb, "/", "#address-cells", &len);
    unsigned ac = ac_p && len == 4 ? fdtr_be32(ac_p) : 2u;
    const unsigned char *reg = fdtr_node_getprop(dtb, node, "reg", &len);
    if (!reg || ac < 1 || ac > 2 || len < (int)(4 * ac))
        return 0;
    return ac == 2 ? fdtr_be64(reg) : fdtr_be32(reg);
}

/* The PL011 named by /chosen/stdout-path when it is one, else the first under the root. */
static unsigned long long find_pl011(const void *dtb)
{
    char path[128];
    int len, node, i;
    const char *v = fdtr_getprop(dtb, "/chosen", "stdout-path", &len);

    if (v && len > 1 && v[len - 1] == 0 && v[0] == '/') {
        for (i = 0; i < len && v[i] && v[i] != ':' && i + 1 < (int)sizeof path; i++)
            path[i] = v[i];
        path[i] = 0;
        node = fdtr_path_offset(dtb, path);
        if (node >= 0 && fdtr_node_has_string(dtb, node, "compatible", "arm,pl011") && reg_base(dtb, node))
            return reg_base(dtb, node);
    }
    node = fdtr_path_offset(dtb, "/");
    for (node = node < 0 ? node : fdtr_first_subnode(dtb, node); node >= 0;
         node = fdtr_next_subnode(dtb, node))
        if (fdtr_node_has_string(dtb, node, "compatible", "arm,pl011") && reg_base(dtb, node))
            return reg_base(dtb, node);
    return 0;
}

/* The number of bits needed for addresses below end (end > 0). */
static unsigned bits_for(unsigned long long end)
{
    unsigned n = 0;
    end -= 1;
    while (n < 64 && (end >> n) != 0)
        n++;
    return n;
}

static unsigned long long *new_table(void)
{
    unsigned long long *t;
    unsigned i;
    if (table_pages_used == TABLE_PAGES) {
        rt_puts("el2-hyp: out of stage-2 table pages\n");
        rt_exit(1);
    }
    t = tables[table_pages_used++];
    for (i = 0; i < 512; i++)
        t[i] = 0;
    return t;
}

/*
 * Maps one 4 KiB page: walks from the level-1 root (tables[0]), adding
 * level-2 and level-3 tables as needed. Table addresses are physical: the
 * hypervisor runs with its MMU off.
 */
static void map_page(unsigned long long ipa, unsigned long long oa, unsigned long long attrs)
{
    unsigned long long *t = tables[0];
    unsigned shift;

    for (shift = 30; shift > 12; shift -= 9) {
        unsigned long long *e = &t[(ipa >> shift) & 511u];
        if (!(*e & S2_VALID))
            *e = (unsigned long long)(unsigned long)new_table() | S2_VALID | S2_TABLE;
        t = (unsigned long long *)(unsigned long)(*e & S2_OA_MASK);
    }
    t[(ipa >> 12) & 511u] = (oa & S2_OA_MASK) | attrs;
}

static void map_range(unsigned long long ipa, unsigned long long oa, unsigned long long size,
                      unsigned long long attrs, const char *what)
{
    unsigned long long off;
    for (off = 0; off < size; off += PAGE)
        map_page(ipa + off, oa + off, attrs);
    rt_puts("el2-hyp: map l2 ");
    rt_put_hex(ipa);
    rt_puts(" -> ");
    rt_put_hex(oa);
    rt_puts(" size ");
    rt_put_hex(size);
    rt_puts(" ");
    rt_puts(what);
    rt_puts("\n");
}

/*
 * Cleans and invalidates [p, p + n) to the point of coherency: everything
 * here was written with the MMU off (non-cacheable), while the stage-2
 * walks are cacheable and the payload's fetches may hit stale lines.
 */
static void clean_dcache(const void *p, unsigned long n)
{
    unsigned long long ctr;
    unsigned long line, a, end = (unsigned long)p + n;
    READ_SYSREG(ctr_el0, ctr);
    line = 4ul << ((ctr >> 16) & 0xfu); /* DminLine: log2 of words */
    for (a = (unsigned long)p & ~(line - 1); a < end; a += line)
        __asm__ volatile("dc civac, %0" : : "r"(a) : "memory");
    __asm__ volatile("dsb ish" : : : "memory");
}

static int in_ram(unsigned long long base, unsigned long long size, int banks)
{
    int i;
    for (i = 0; i < banks; i++)
        if (base >= bases[i] && base + size <= bases[i] + sizes[i])
            return 1;
    return 0;
}

int main(const void *dtb)
{
    unsigned parange = (unsigned)rt_id_aa64mmfr0() & 0xfu;
    unsigned pa_bits, window, ipa_bits, need_bits, ps, i;
    unsigned long long base = 0, size = 0, uart, payload_pa, beyond_oa = 0, oa_end, ipa_end;
    unsigned long long hcr, vtcr, vttbr, readback;
    unsigned long long beyond_arg = 0, vhe_arg = 0;
    const char *bootargs;
    const void *ipa;
    int len, n, e2h;

    rt_puts("el2-hyp: currentel ");
    rt_put_u64(rt_current_el());
    rt_puts("\n");
    if (rt_current_el() != 2) {
        rt_puts("el2-hyp: not entered at EL2 (run with strata run --el2)\n");
        rt_exit(1);
    }

    rt_puts("el2-hyp: parange ");
    rt_put_u64(parange);
    if (parange >= 7u) { /* 0b0111 and up are reserved */
        rt_puts(" (unknown)\n");
        rt_exit(1);
    }
    pa_bits = parange_bits[parange];
    rt_puts(" (");
    rt_put_u64(pa_bits);
    rt_puts(" bits)\n");

    if (fdtr_check(dtb, rt_dtb_room(dtb)) != 0) {
        rt_puts("el2-hyp: bad device tree\n");
        rt_exit(1);
    }
    ipa = fdtr_getprop(dtb, "/chosen", "strata,ipa-bits", &len);
    rt_puts("el2-hyp: window ");
    if (ipa && len == 4 && fdtr_be32(ipa) >= 32u && fdtr_be32(ipa) <= 64u) {
        window = fdtr_be32(ipa);
        rt_put_u64(window);
        rt_puts(" bits\n");
    } else {
        window = pa_bits; /* not strata's device tree: all the CPU offers */
        rt_puts("unknown, using parange\n");
    }

    n = fdtr_memory_banks(dtb, bases, sizes, MAX_BANKS);
    for (i = 0; n > 0 && i < (unsigned)n; i++) {
        if (bases[i] + sizes[i] > base + size) {
            base = bases[i];
            size = sizes[i];
        }
    }
    if (size == 0) {
        rt_puts("el2-hyp: no RAM in the device tree\n");
        rt_exit(1);
    }
    rt_puts("el2-hyp: ram ");
    rt_put_hex(base);
    rt_puts(" ");
    rt_put_hex(size);
    rt_puts("\n");

    bootargs = rt_bootargs(dtb);
    if (rt_bootarg_u64(bootargs, "beyond", &beyond_arg) == -2 ||
        rt_bootarg_u64(bootargs, "vhe", &vhe_arg) == -2) {
        rt_puts("el2-hyp: bad beyond= or vhe= in bootargs\n");
        rt_exit(1);
    }

    uart = find_pl011(dtb);
    rt_puts("el2-hyp: pl011 ");
    rt_put_hex(uart);
    rt_puts("\n");
    if (!uart || (uart & (PAGE - 1u))) {
        rt_puts("el2-hyp: no page-aligned PL011 in the device tree\n");
        rt_exit(1);
    }

    /*
     * The outputs: both inside RAM or MMIO strata backs, below 2^window.
     * payload_region is part of this image, so it is in our own RAM.
     */
    payload_pa = (unsigned long)payload_region;
    if (!in_ram(payload_pa, PAYLOAD_SIZE, n)) {
        rt_puts("el2-hyp: payload region is not in a RAM bank\n");
        rt_exit(1);
    }
    oa_end = payload_pa + PAYLOAD_SIZE;
    if (uart + PAGE > oa_end)
        oa_end = uart + PAGE;
    if (window < 64 && (oa_end - 1u) >> window) {
        rt_puts("el2-hyp: an output lies beyond the window\n");
        rt_exit(1);
    }
    if (beyond_arg) {
        /* The first page at or above the window: never accessed. */
        beyond_oa = window < 64 ? 1ull << window : 0;
        if (window >= 48) {
            rt_puts("el2-hyp: beyond=1: 1 << window does not fit a 48-bit output address\n");
            rt_exit(1);
        }
        if (beyond_oa + PAGE > oa_end)
            oa_end = beyond_oa + PAGE;
    }

    /*
     * PS: the smallest PARange encoding that holds every output, and never
     * more than the CPU's PARange (nor 48 bits: 4 KiB descriptors without
     * FEAT_LPA2 carry OA[47:12]).
     */
    need_bits = bits_for(oa_end);
    for (ps = 0; ps < 5u && parange_bits[ps] < need_bits; ps++)
        ;
    if (ps > parange)
        ps = parange;
    if (parange_bits[ps] < need_bits) {
        rt_puts("el2-hyp: outputs need ");
        rt_put_u64(need_bits);
        rt_puts(" bits, more than stage 2 can express here\n");
        rt_exit(1);
    }

    /*
     * T0SZ: the L2 IPA space the mappings need, at least 32 bits; a
     * level-1 start resolves up to 39 bits from one table.
     */
    ipa_end = L2_PAYLOAD_IPA + PAYLOAD_SIZE;
    if (beyond_arg && L2_BEYOND_IPA + PAGE > ipa_end)
        ipa_end = L2_BEYOND_IPA + PAGE;
    ipa_bits = bits_for(ipa_end);
    if (ipa_bits < 32u)
        ipa_bits = 32u;

    /* The stage-2 tables, then the payload, copied into its region. */
    table_pages_used = 0;
    (void)new_table(); /* the level-1 root: 2^(ipa_bits - 30) entries */
    for (i = 0; i < PAYLOAD_SIZE; i++)
        payload_region[i] = 0;
    for (i = 0; i < (unsigned)(payload_end - payload_start); i++)
        payload_region[i] = (unsigned char)payload_start[i];

    map_range(L2_PAYLOAD_IPA, payload_pa, PAYLOAD_SIZE, S2_NORMAL, "normal (payload)");
    map_range(L2_UART_IPA, uart, PAGE, S2_DEVICE, "device (pl011)");
    if (beyond_arg)
        map_range(L2_BEYOND_IPA, beyond_oa, PAGE, S2_NORMAL, "normal (beyond the window, never touched)");

    clean_dcache(tables, sizeof tables);
    clean_dcache(payload_region, PAYLOAD_SIZE);
    __asm__ volatile("ic iallu\n\tdsb ish\n\tisb" : : : "memory");

    vtcr = VTCR_RES1 | VTCR_PS(ps) | VTCR_TG0_4K | VTCR_SH0_INNER | VTCR_ORGN0_WBWA | VTCR_IRGN0_WBWA |
           VTCR_SL0_L1 | (64u - ipa_bits);
    vttbr = VTTBR_VMID(1) | (unsigned long long)(unsigned long)tables[0];

    /*
     * HCR_EL2: stage 2 on (VM), EL1 is AArch64 (RW), physical IRQ, FIQ and
     * SError go to EL2 (IMO, FMO, AMO), set/way by VA (SWIO); TGE = 0 so
     * EL1 is used, HCD = 0 so HVC is enabled and traps here. E2H stays as
     * it was (strata's default guest hypervisor has no E2H = 0; where it
     * is RES1 a write of 0 would be ignored anyway) unless vhe=1.
     */
    READ_SYSREG(hcr_el2, hcr_at_entry);
    hcr = HCR_VM | HCR_SWIO | HCR_FMO | HCR_IMO | HCR_AMO | HCR_RW | (hcr_at_entry & HCR_E2H);
    if (vhe_arg)
        hcr |= HCR_E2H;

    WRITE_SYSREG(vtcr_el2, vtcr);
    WRITE_SYSREG(vttbr_el2, vttbr);
    __asm__ volatile("isb\n\ttlbi vmalls12e1\n\tdsb ish" : : : "memory");
    WRITE_SYSREG(hcr_el2, hcr);
    __asm__ volatile("isb" : : : "memory");
    READ_SYSREG(hcr_el2, readback);
    e2h = (readback & HCR_E2H) != 0;
    rt_puts("el2-hyp: e2h ");
    rt_put_u64((unsigned)e2h);
    rt_puts("\n");

    /*
     * The payload's EL1 state: MMU off, no vector base (an exception at
     * EL1 would fetch from L2 IPA 0x200, which stage 2 leaves unmapped, so
     * it comes here as a stage-2 abort), stack at the top of its region.
     * With E2H = 1 the _EL1 names reach the EL2 registers from EL2; the
     * EL1 ones are SCTLR_EL12 and VBAR_EL12.
     */
    if (e2h) {
        WRITE_SYSREG(s3_5_c1_c0_0, SCTLR_EL1_MMU_OFF); /* SCTLR_EL12 */
        WRITE_SYSREG(s3_5_c12_c0_0, 0);                /* VBAR_EL12 */
    } else {
        WRITE_SYSREG(sctlr_el1, SCTLR_EL1_MMU_OFF);
        WRITE_SYSREG(vbar_el1, 0);
    }
    WRITE_SYSREG(sp_el1, L2_PAYLOAD_IPA + PAYLOAD_SIZE);
    WRITE_SYSREG(vbar_el2, (unsigned long)hyp_vectors);
    WRITE_SYSREG(spsr_el2, SPSR_EL1H_DAIF);
    WRITE_SYSREG(elr_el2, L2_PAYLOAD_IPA);

    rt_puts("el2-hyp: vtcr ");
    rt_put_hex(vtcr);
    rt_puts(" vttbr ");
    rt_put_hex(vttbr);
    rt_puts(" hcr ");
    rt_put_hex(readback);
    rt_puts("\nel2-hyp: entering payload at el1, l2 ");
    rt_put_hex(L2_PAYLOAD_IPA);
    rt_puts("\n");

    {
        register unsigned long x0 __asm__("x0") = L2_UART_IPA;
        __asm__ volatile("isb\n\teret" : : "r"(x0) : "memory");
    }
    __builtin_unreachable();
}

/*
 * Every exception taken to EL2 after the ERET. The payload's HVC #0 with
 * x0 = PAYLOAD_DONE ends the test: HCR_EL2 and VBAR_EL2 go back to what the
 * runtime had (stage 2 off, its vectors), VTCR_EL2 and VTTBR_EL2 stay for
 * strata's --trace-s2, and PSCI SYSTEM_OFF reports success.
 */
_Noreturn void hyp_exception(unsigned long slot, unsigned long x0)
{
    unsigned long long esr, far, hpfar, elr, spsr;
    unsigned ec;

    READ_SYSREG(esr_el2, esr);
    READ_SYSREG(far_el2, far);
    READ_SYSREG(hpfar_el2, hpfar);
    READ_SYSREG(elr_el2, elr);
    READ_SYSREG(spsr_el2, spsr);
    ec = (unsigned)(esr >> 26) & 0x3fu;

    WRITE_SYSREG(hcr_el2, hcr_at_entry);
    WRITE_SYSREG(vbar_el2, (unsigned long)arch_vectors);
    __asm__ volatile("isb" : : : "memory");

    if (slot == 8 && ec == ESR_EC_HVC64 && (esr & 0xffffu) == 0 && x0 == PAYLOAD_DONE) {
        rt_puts("el2-hyp: payload returned by hvc\n");
        rt_exit(0);
    }
    rt_puts("el2-hyp: unexpected exception: vector ");
    rt_put_hex(slot * 0x80u);
    rt_puts(" ec ");
    rt_put_hex(ec);
    rt_puts(" esr ");
    rt_put_hex(esr);
    rt_puts(" far ");
    rt_put_hex(far);
    rt_puts(" hpfar ");
    rt_put_hex(hpfar);
    rt_puts(" elr ");
    rt_put_hex(elr);
    rt_puts(" spsr ");
    rt_put_hex(spsr);
    rt_puts(" x0 ");
    rt_put_hex(x0);
    rt_puts("\n");
    rt_exit(RT_EXIT_EXCEPTION);
}
