/*
 * aarch64 console, power-off and exception reports. Everything the x86
 * guests find at fixed ports comes from the device tree here: the PL011
 * named by /chosen/stdout-path (or the first "arm,pl011" node) and the PSCI
 * conduit (/psci method). start.S calls arch_boot() before main().
 *
 * Exit status through PSCI: 0 is SYSTEM_OFF; any other v is SYSTEM_RESET2
 * with a vendor-specific reset type and cookie v, which strata turns into
 * exit status (v << 1) | 1, like the x86 debug-exit port.
 */
#include "arch.h"
#include "fdt_reader.h"
#include "rt.h"

#define PL011_DR 0x000
#define PL011_FR 0x018
#define PL011_FR_TXFF 0x20u

#define PSCI_SYSTEM_OFF 0x84000008ul
#define PSCI_SYSTEM_RESET 0x84000009ul
#define PSCI_SYSTEM_RESET2_64 0xc4000012ul
#define PSCI_RESET2_VENDOR 0x80000000ul

/* Without CNTFRQ_EL0 the counter is assumed to run at 62.5 MHz. */
#define FALLBACK_TICKS_PER_MS 62500ull

void arch_boot(const void *dtb);
_Noreturn void arch_exception(unsigned long slot);

static unsigned long uart_base; /* 0: no console */
static int psci_smc; /* conduit: SMC, else HVC */
static volatile int in_exception;

/* ---- device tree -------------------------------------------------------- */

static int node_enabled(const void *dtb, int node)
{
    int len;
    const char *s = fdtr_node_getprop(dtb, node, "status", &len);
    return !s || fdtr_node_has_string(dtb, node, "status", "okay") || fdtr_node_has_string(dtb, node, "status", "ok");
}

/* The MMIO address of a PL011 that is a child of the root, or 0. */
static unsigned long pl011_base(const void *dtb, int node)
{
    int len;
    const void *ac_p = fdtr_getprop(dtb, "/", "#address-cells", &len);
    unsigned ac = ac_p && len == 4 ? fdtr_be32(ac_p) : 2u;
    const unsigned char *reg;

    if (node < 0 || !fdtr_node_has_string(dtb, node, "compatible", "arm,pl011") || !node_enabled(dtb, node))
        return 0;
    reg = fdtr_node_getprop(dtb, node, "reg", &len);
    if (!reg || ac < 1 || ac > 2 || len < (int)(4 * ac))
        return 0;
    return (unsigned long)(ac == 2 ? fdtr_be64(reg) : fdtr_be32(reg));
}

/*
 * Copies a NUL-terminated property value into buf up to the first ':'
 * (stdout-path options such as ":115200n8"); 0 or -1 if it does not fit.
 */
static int copy_path(const char *v, int len, char *buf, int size)
{
    int i;
    if (!v || len < 1 || v[len - 1] != 0)
        return -1;
    for (i = 0; i < len && v[i] && v[i] != ':'; i++) {
        if (i + 1 >= size)
            return -1;
        buf[i] = v[i];
    }
    buf[i] = 0;
    return 0;
}

static unsigned long find_uart(const void *dtb)
{
    char path[128];
    int len, node, slashes = 0, i;
    const char *v = fdtr_getprop(dtb, "/chosen", "stdout-path", &len);
    unsigned long base;

    if (copy_path(v, len, path, sizeof path) == 0) {
        if (path[0] != '/') { /* an alias */
            v = fdtr_getprop(dtb, "/aliases", path, &len);
            if (copy_path(v, len, path, sizeof path) != 0)
                path[0] = 0;
        }
        for (i = 0; path[i]; i++)
            slashes += path[i] == '/';
        /* Only children of the root: deeper nodes would need `ranges`. */
        if (path[0] == '/' && slashes == 1) {
            base = pl011_base(dtb, fdtr_path_offset(dtb, path));
            if (base)
                return base;
        }
    }
    node = fdtr_path_offset(dtb, "/");
    for (node = node < 0 ? node : fdtr_first_subnode(dtb, node); node >= 0;
         node = fdtr_next_subnode(dtb, node)) {
        base = pl011_base(dtb, node);
        if (base)
            return base;
    }
    return 0;
}

void arch_boot(const void *dtb)
{
    int psci, len;

    psci_smc = rt_current_el() >= 2; /* HVC from EL2 would trap to ourselves */
    if (fdtr_check(dtb, rt_dtb_room(dtb)) != 0)
        return;
    uart_base = find_uart(dtb);
    psci = fdtr_path_offset(dtb, "/psci");
    if (psci >= 0 && fdtr_node_getprop(dtb, psci, "method", &len))
        psci_smc = fdtr_node_has_string(dtb, psci, "method", "smc");
}

/* ---- console, power, time ----------------------------------------------- */

void arch_console_putc(char c)
{
    if (!uart_base)
        return;
    while (rt_mmio_read32(uart_base + PL011_FR) & PL011_FR_TXFF)
        rt_relax();
    rt_mmio_write32(uart_base + PL011_DR, (unsigned char)c);
}

/* An SMC Calling Convention call: x0 = function id, x1..x3 arguments. */
static unsigned long psci(unsigned long fn, unsigned long a1, unsigned long a2)
{
    register unsigned long x0 __asm__("x0") = fn;
    register unsigned long x1 __asm__("x1") = a1;
    register unsigned long x2 __asm__("x2") = a2;
    register unsigned long x3 __asm__("x3") = 0;

    if (psci_smc)
        __asm__ volatile("smc #0"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                         :
                         : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
                           "x15", "x16", "x17", "memory");
    else
        __asm__ volatile("hvc #0"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                         :
                         : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
                           "x15", "x16", "x17", "memory");
    return x0;
}

_Noreturn void arch_exit(int v)
{
    if (v == 0) {
        psci(PSCI_SYSTEM_OFF, 0, 0);
    } else {
        psci(PSCI_SYSTEM_RESET2_64, PSCI_RESET2_VENDOR, (unsigned long)(unsigned)v);
        /*
         * Only reached where SYSTEM_RESET2 is missing (QEMU's built-in
         * PSCI): say so, then reset, which `qemu -no-reboot` turns into an
         * exit, rather than hang.
         */
        rt_puts("rt_exit: SYSTEM_RESET2 unsupported, status ");
        rt_put_u64((unsigned)v);
        rt_puts(" lost\n");
        psci(PSCI_SYSTEM_RESET, 0, 0);
    }
    for (;;)
        __asm__ volatile("wfi");
}

unsigned long long arch_ticks_per_ms(void)
{
    unsigned long long f;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(f));
    f &= 0xffffffffull;
    return f >= 1000u ? f / 1000u : FALLBACK_TICKS_PER_MS;
}

/* With the MMU off every address is already Device memory at its physical address. */
int arch_map_mmio(unsigned long long base, unsigned long long size)
{
    return size == 0 || base + size < base ? -1 : 0;
}

/* ---- exceptions --------------------------------------------------------- */

static const char *ec_name(unsigned ec)
{
    switch (ec) {
    case 0x00:
        return "unknown reason";
    case 0x01:
        return "wfi/wfe";
    case 0x07:
        return "fp/simd access";
    case 0x0e:
        return "illegal execution state";
    case 0x15:
        return "svc";
    case 0x16:
        return "hvc";
    case 0x17:
        return "smc";
    case 0x18:
        return "msr/mrs";
    case 0x20:
        return "instruction abort, lower el";
    case 0x21:
        return "instruction abort";
    case 0x22:
        return "pc alignment";
    case 0x24:
        return "data abort, lower el";
    case 0x25:
        return "data abort";
    case 0x26:
        return "sp alignment";
    case 0x2f:
        return "serror";
    case 0x3c:
        return "brk";
    default:
        return "other";
    }
}

static const char *const slot_kind[4] = {"sync", "irq", "fiq", "serror"};

#define READ_SYSREG(name, var) __asm__ volatile("mrs %0, " #name : "=r"(var))

_Noreturn void arch_exception(unsigned long slot)
{
    unsigned long long esr, far, elr, spsr;
    unsigned ec;

    if (in_exception) /* faulted while reporting: just leave */
        arch_exit(RT_EXIT_EXCEPTION);
    in_exception = 1;
    if (rt_current_el() == 2) {
        READ_SYSREG(esr_el2, esr);
        READ_SYSREG(far_el2, far);
        READ_SYSREG(elr_el2, elr);
        READ_SYSREG(spsr_el2, spsr);
    } else {
        READ_SYSREG(esr_el1, esr);
        READ_SYSREG(far_el1, far);
        READ_SYSREG(elr_el1, elr);
        READ_SYSREG(spsr_el1, spsr);
    }
    ec = (unsigned)(esr >> 26) & 0x3fu;
    rt_puts("exception: ");
    rt_puts(slot_kind[slot & 3u]);
    rt_puts(" (vector ");
    rt_put_hex(slot * 0x80u);
    rt_puts(") ec ");
    rt_put_hex(ec);
    rt_puts(" (");
    rt_puts(ec_name(ec));
    rt_puts(") esr ");
    rt_put_hex(esr);
    rt_puts(" far ");
    rt_put_hex(far);
    rt_puts(" elr ");
    rt_put_hex(elr);
    rt_puts(" spsr ");
    rt_put_hex(spsr);
    rt_puts("\n");
    arch_exit(RT_EXIT_EXCEPTION);
}

/* Interrupts through the GIC are not implemented for the test guests yet. */
int arch_irq_route(unsigned irq)
{
    (void)irq;
    return -1;
}

void arch_irq_wait(void) {}

unsigned long arch_irq_count(void)
{
    return 0;
}

/* arm64 guests always boot with a device tree. */
const char *arch_boot_cmdline(void)
{
    return 0;
}
