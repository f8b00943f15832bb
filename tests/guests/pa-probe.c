/*
 * aarch64 only: what physical address space the guest sees. Prints the
 * exception level, ID_AA64MMFR0_EL1.PARange, the VM's window from
 * /chosen/strata,ipa-bits, the highest RAM bank, and then proves the last
 * 4 KiB page of that bank is real memory: a pattern written with the MMU
 * off (physical addresses) must read back. The page's contents are put
 * back afterwards, in case the VMM placed something there (the DTB).
 *
 *   pa-probe: currentel 1
 *   pa-probe: parange 4 (44 bits)
 *   pa-probe: window 40 bits            (or: window unknown)
 *   pa-probe: ram 0x40000000 0x8000000
 *   pa-probe: last page 0x47fff000 ok   (or: ... FAIL, exit 1)
 */
#include "fdt_reader.h"
#include "rt.h"

#define PAGE 4096ull
#define WORDS (PAGE / 8u)
#define MAX_BANKS 16

extern char __image_start[], __image_end[];

static unsigned long long saved[WORDS];
static unsigned long long bases[MAX_BANKS], sizes[MAX_BANKS];

static unsigned long long pattern(unsigned long long addr)
{
    return addr ^ 0xa5a55a5a0ff0f00full;
}

/* Writes, reads back and restores the page at addr; 1 if it held the pattern. */
static int probe_page(unsigned long long addr)
{
    volatile unsigned long long *p = (volatile unsigned long long *)(unsigned long)addr;
    unsigned i;
    int ok = 1;

    for (i = 0; i < WORDS; i++)
        saved[i] = p[i];
    for (i = 0; i < WORDS; i++)
        p[i] = pattern(addr + 8u * i);
    rt_barrier();
    for (i = 0; i < WORDS; i++)
        if (p[i] != pattern(addr + 8u * i))
            ok = 0;
    for (i = 0; i < WORDS; i++)
        p[i] = saved[i];
    rt_barrier();
    return ok;
}

int main(const void *dtb)
{
    static const unsigned char parange_bits[8] = {32, 36, 40, 42, 44, 48, 52, 56};
    unsigned parange = (unsigned)rt_id_aa64mmfr0() & 0xfu;
    unsigned long long base = 0, size = 0, page;
    unsigned long image = (unsigned long)__image_start, image_end = (unsigned long)__image_end;
    const void *ipa;
    int len, n, i;

    rt_puts("pa-probe: currentel ");
    rt_put_u64(rt_current_el());
    rt_puts("\npa-probe: parange ");
    rt_put_u64(parange);
    if (parange < 8u) {
        rt_puts(" (");
        rt_put_u64(parange_bits[parange]);
        rt_puts(" bits)\n");
    } else {
        rt_puts(" (unknown)\n");
    }

    if (fdtr_check(dtb, rt_dtb_room(dtb)) != 0) {
        rt_puts("pa-probe: bad device tree\n");
        rt_exit(3);
    }
    ipa = fdtr_getprop(dtb, "/chosen", "strata,ipa-bits", &len);
    rt_puts("pa-probe: window ");
    if (ipa && len == 4) {
        rt_put_u64(fdtr_be32(ipa));
        rt_puts(" bits\n");
    } else {
        rt_puts("unknown\n");
    }

    n = fdtr_memory_banks(dtb, bases, sizes, MAX_BANKS);
    for (i = 0; i < n; i++) {
        if (bases[i] + sizes[i] > base + size) {
            base = bases[i];
            size = sizes[i];
        }
    }
    if (size < PAGE) {
        rt_puts("pa-probe: no RAM bank of a page or more\n");
        rt_exit(1);
    }
    rt_puts("pa-probe: ram ");
    rt_put_hex(base);
    rt_puts(" ");
    rt_put_hex(size);
    rt_puts("\n");

    /* Nothing reads the DTB from here on: the page may hold it. */
    page = (base + size - PAGE) & ~(PAGE - 1u);
    rt_puts("pa-probe: last page ");
    rt_put_hex(page);
    if (page < base || (page < image_end && page + PAGE > image)) {
        rt_puts(" FAIL (not a page of its own above the image)\n");
        rt_exit(1);
    }
    if (!probe_page(page)) {
        rt_puts(" FAIL\n");
        rt_exit(1);
    }
    rt_puts(" ok\n");
    return 0;
}
