/*
 * Exits with the status given as code=<v> on the command line, so tests can
 * check that a guest's status survives to strata's own exit status.
 */
#include "rt.h"

int main(const void *dtb)
{
    unsigned long long code;
    int err = rt_bootarg_u64(rt_bootargs(dtb), "code", &code);

    if (err == -1) {
        rt_puts("exit-code: no code= in bootargs\n");
        rt_exit(2);
    }
    /* The exit port carries one byte; refuse what would silently wrap. */
    if (err != 0 || code > 255u) {
        rt_puts("exit-code: code= must be 0..255\n");
        rt_exit(2);
    }
    rt_exit((int)code);
}
