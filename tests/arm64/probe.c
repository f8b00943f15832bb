/*
 * probe: ground truth for the arm64 tests, straight from /dev/kvm with no
 * strata code in between. Static aarch64 program, built by tests/arm64/run
 * with the cross compiler.
 *
 *   probe limit          prints the host IPA limit (KVM_CAP_ARM_VM_IPA_SIZE)
 *   probe ipa [LIMIT]    tries KVM_CREATE_VM with IPA sizes 0, 32..LIMIT (all
 *                        must succeed) and LIMIT+1 (must fail with EINVAL);
 *                        LIMIT defaults to the host's. One line per VM type,
 *                        then "probe: ipa ok|FAIL ..."; exit status 0 if all
 *                        went as expected.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int open_kvm(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("probe: cannot open /dev/kvm: %s\n", strerror(errno));
        exit(2);
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        printf("probe: KVM API version %d, expected %d\n", api, KVM_API_VERSION);
        exit(2);
    }
    return fd;
}

/* Returns 0 when the VM was created (and closes it), else errno. */
static int create_vm(int kvm, int ipa_bits)
{
    int vm = ioctl(kvm, KVM_CREATE_VM, (unsigned long)KVM_VM_TYPE_ARM_IPA_SIZE(ipa_bits));
    if (vm < 0)
        return errno;
    close(vm);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "limit") != 0 && strcmp(argv[1], "ipa") != 0)) {
        fprintf(stderr, "usage: probe limit | probe ipa [LIMIT]\n");
        return 2;
    }
    int kvm = open_kvm();
    int limit = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
    if (strcmp(argv[1], "limit") == 0) {
        printf("%d\n", limit);
        return limit > 0 ? 0 : 1;
    }
    if (argc > 2)
        limit = atoi(argv[2]);
    if (limit < 32) {
        printf("probe: ipa FAIL host IPA limit %d (KVM_CAP_ARM_VM_IPA_SIZE unsupported?)\n", limit);
        return 1;
    }

    int bad = 0;
    int err = create_vm(kvm, 0);
    printf("probe: ipa 0 (legacy 40) %s\n", err ? strerror(err) : "created");
    bad += err != 0;
    for (int n = 32; n <= limit + 1; n++) {
        err = create_vm(kvm, n);
        int expect_ok = n <= limit;
        printf("probe: ipa %d %s%s\n", n, err ? strerror(err) : "created",
               (err == 0) == expect_ok ? "" : " (UNEXPECTED)");
        if (expect_ok ? err != 0 : err != EINVAL)
            bad++;
    }
    printf("probe: ipa %s limit %d, created 0 and 32..%d, %d refused with EINVAL%s\n",
           bad ? "FAIL" : "ok", limit, limit, limit + 1, bad ? " -- see above" : "");
    return bad ? 1 : 0;
}
