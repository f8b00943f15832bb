/*
 * Never exits and never traps to the VMM, with interrupts off: tests that
 * strata can stop a busy guest (signal, timeout) by kicking it out of KVM_RUN.
 */
#include "rt.h"

int main(const void *dtb)
{
    (void)dtb;
    rt_puts("spinning\n");
    for (;;)
        __asm__ volatile("pause");
}
