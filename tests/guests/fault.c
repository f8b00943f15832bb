/*
 * Triple-faults on purpose, to test that strata treats a guest shutdown
 * (KVM_EXIT_SHUTDOWN) as a failed run rather than hanging or crashing.
 * An empty IDT turns #UD into #GP, then #DF, then a shutdown. ud2 rather
 * than int3: a fault needs no software-interrupt re-injection, which some
 * (nested) KVM hosts fall back to emulating and report as an internal error.
 */
#include "rt.h"

struct __attribute__((packed)) idtr {
    unsigned short limit;
    unsigned long long base;
};

int main(const void *dtb)
{
    static const struct idtr empty = {0, 0};

    (void)dtb;

    rt_puts("fault: triple-faulting\n");
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty) : "memory");
    rt_puts("fault: still running after the triple fault\n");
    return 1;
}
