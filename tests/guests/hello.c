/*
 * The smoke-test guest: proves the boot ABI end to end (entry, stack, DTB in
 * rdi, serial, clean power-off) and echoes what the VMM put in the device
 * tree, so a test can check the memory size, CPU count and command line the
 * user asked for actually reached the guest.
 */
#include "fdt_reader.h"
#include "rt.h"

int main(const void *dtb)
{
    const char *bootargs;
    int cpus;

    if (fdtr_check(dtb, rt_dtb_room(dtb)) != 0) {
        rt_puts("bad device tree\n");
        rt_exit(3);
    }
    bootargs = fdtr_bootargs(dtb);
    cpus = fdtr_cpu_count(dtb);

    rt_puts("hello from strata\n");
    rt_puts("bootargs: ");
    rt_puts(bootargs ? bootargs : "");
    rt_puts("\nmemory: ");
    rt_put_u64(fdtr_memory_total(dtb));
    rt_puts(" bytes\ncpus: ");
    rt_put_u64(cpus > 0 ? (unsigned long long)cpus : 0u);
    rt_puts("\n");
    return 0;
}
