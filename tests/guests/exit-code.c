/*
 * Exits with the status given as code=<v> on the command line, so tests can
 * check that a guest's status survives to strata's own exit status.
 *
 * More options:
 *   width=2 | width=4 (x86_64): exit with an outw/outl of v to the debug-exit
 *     port, as many unikernels do, instead of the runtime's outb. QEMU's
 *     isa-debug-exit exits with (v << 1) | 1 for any width; the process keeps
 *     the low 8 bits. If the VMM lets the guest go on, it says so and exits
 *     with 2 the ordinary way.
 *   port=<p> (x86_64), mmio=<addr>: before exiting, touch that address, which
 *     no device is expected to claim: two 1-byte and two 4-byte reads and a
 *     write (for mmio=, 4 bytes further on, in the same page when addr is
 *     4-byte aligned), then print what the last reads returned (all ones on
 *     hardware).
 */
#include "rt.h"

#define DEBUG_EXIT_PORT 0xf4

static void put_probe(const char *what, unsigned long long where, const char *narrow, unsigned long long n,
                      const char *wide, unsigned long long w)
{
    rt_puts("exit-code: ");
    rt_puts(what);
    rt_puts(" ");
    rt_put_hex(where);
    rt_puts(": ");
    rt_puts(narrow);
    rt_puts(" ");
    rt_put_hex(n);
    rt_puts(", ");
    rt_puts(wide);
    rt_puts(" ");
    rt_put_hex(w);
    rt_puts("\n");
}

static void probe_mmio(unsigned long long addr)
{
    unsigned char b = 0;
    unsigned w = 0;

    if (rt_map_mmio(addr & ~0xfffull, 0x1000) != 0) {
        rt_puts("exit-code: cannot map mmio=\n");
        rt_exit(2);
    }
    for (int i = 0; i < 2; i++) {
        b = rt_mmio_read8((unsigned long)addr);
        w = rt_mmio_read32((unsigned long)addr);
    }
    rt_mmio_write32((unsigned long)(addr + 4), 0x5a5a5a5au);
    put_probe("mmio", addr, "read8", b, "read32", w);
}

#if defined(__x86_64__)
static inline unsigned in32(unsigned short port)
{
    unsigned v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static inline void out32(unsigned short port, unsigned v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static void probe_port(unsigned short port)
{
    unsigned char b = 0;
    unsigned w = 0;

    for (int i = 0; i < 2; i++) {
        b = rt_inb(port);
        w = in32(port);
    }
    rt_outb(port, 0x5a);
    put_probe("port", port, "inb", b, "inl", w);
}

static _Noreturn void wide_exit(unsigned long long width, unsigned long long code)
{
    if (width == 2)
        rt_outw(DEBUG_EXIT_PORT, (unsigned short)code);
    else
        out32(DEBUG_EXIT_PORT, (unsigned)code);
    rt_puts("exit-code: still running after the exit write\n");
    rt_exit(2);
}
#endif

int main(const void *dtb)
{
    const char *args = rt_bootargs(dtb);
    unsigned long long code, width = 1, port, mmio;
    int err = rt_bootarg_u64(args, "code", &code);
    int has_port = rt_bootarg_u64(args, "port", &port) == 0;
    int has_mmio = rt_bootarg_u64(args, "mmio", &mmio) == 0;

    if (err == -1) {
        rt_puts("exit-code: no code= in bootargs\n");
        rt_exit(2);
    }
    if (rt_bootarg_u64(args, "width", &width) == -2 || (width != 1 && width != 2 && width != 4)) {
        rt_puts("exit-code: width= must be 1, 2 or 4\n");
        rt_exit(2);
    }
    /* The exit write carries `width` bytes; refuse what would silently wrap. */
    if (err != 0 || code > (width == 4 ? 0xffffffffull : (1ull << (8 * width)) - 1)) {
        rt_puts("exit-code: code= does not fit the exit write\n");
        rt_exit(2);
    }
    if (has_mmio)
        probe_mmio(mmio);
#if defined(__x86_64__)
    if (has_port) {
        if (port > 0xffff) {
            rt_puts("exit-code: port= must be 0..0xffff\n");
            rt_exit(2);
        }
        probe_port((unsigned short)port);
    }
    if (width != 1)
        wide_exit(width, code);
#else
    if (has_port || width != 1) {
        rt_puts("exit-code: port= and width= need x86 port I/O\n");
        rt_exit(2);
    }
#endif
    rt_exit((int)code);
}
