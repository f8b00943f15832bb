/*
 * Measures the cost of a port-I/O VM exit: n=<count> writes to the null
 * port 0x80, whose handler does nothing, so the run time is exit overhead.
 * The host times the whole run and divides.
 */
#include "rt.h"

#define NULL_PORT 0x80
#define DEFAULT_WRITES 100000ull

int main(const void *dtb)
{
    unsigned long long n = DEFAULT_WRITES, i;
    int err = rt_bootarg_u64(rt_bootargs(dtb), "n", &n);

    if (err == -2) {
        rt_puts("pio-bench: n= must be a decimal or 0x-hex count\n");
        return 2;
    }
    if (err != 0)
        n = DEFAULT_WRITES;
    for (i = 0; i < n; i++)
        rt_outb(NULL_PORT, 0);
    rt_puts("pio-bench: ");
    rt_put_u64(n);
    rt_puts(" writes\n");
    return 0;
}
