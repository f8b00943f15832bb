// tools/benchmarks/realmode_vm.hpp: the least KVM setup there is, for
// bench-minimal: one VM, one memslot of memfd memory at guest address 0 (as
// strata backs guest RAM) holding `code` at `entry`, and vCPU 0 in 16-bit
// real mode (CS base 0) about to run it; further vCPUs are created, not run.
// Real mode needs no page tables, GDT or CPUID. Errors exit with 3.
#pragma once

#include <linux/kvm.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

namespace bench {

[[noreturn]] inline void die(const char *what) {
    std::perror(what);
    std::exit(3);
}

inline int check(int r, const char *what) {
    if (r < 0)
        die(what);
    return r;
}

struct RealModeVm {
    int vcpu = -1;
    kvm_run *run = nullptr;

    // `irqchip`: also create KVM's in-kernel PIC/IOAPIC/LAPIC, as strata does.
    RealModeVm(std::size_t ram_size, std::span<const std::uint8_t> code, std::uint16_t entry, bool irqchip = false,
               unsigned cpus = 1) {
        int kvm = check(::open("/dev/kvm", O_RDWR | O_CLOEXEC), "/dev/kvm");
        int vm = check(::ioctl(kvm, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
        // Intel without unrestricted guest runs real mode through a TSS; harmless elsewhere.
        check(::ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL), "KVM_SET_TSS_ADDR");
        if (irqchip)
            check(::ioctl(vm, KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");

        const int memfd = check(::memfd_create("ram", MFD_CLOEXEC), "memfd_create");
        check(::ftruncate(memfd, static_cast<off_t>(ram_size)), "ftruncate guest RAM");
        void *ram = ::mmap(nullptr, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd, 0);
        if (ram == MAP_FAILED)
            die("mmap guest RAM");
        std::memcpy(static_cast<std::uint8_t *>(ram) + entry, code.data(), code.size());
        kvm_userspace_memory_region slot{};
        slot.guest_phys_addr = 0;
        slot.memory_size = ram_size;
        slot.userspace_addr = reinterpret_cast<std::uintptr_t>(ram);
        check(::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot), "KVM_SET_USER_MEMORY_REGION");

        const int run_size = check(::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
        for (unsigned i = 0; i < cpus; i++) {
            const int fd = check(::ioctl(vm, KVM_CREATE_VCPU, i), "KVM_CREATE_VCPU");
            void *r = ::mmap(nullptr, static_cast<std::size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (r == MAP_FAILED)
                die("mmap kvm_run");
            if (i == 0) {
                vcpu = fd;
                run = static_cast<kvm_run *>(r);
            }
        }

        kvm_sregs sregs{};
        check(::ioctl(vcpu, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        check(::ioctl(vcpu, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
        kvm_regs regs{};
        regs.rip = entry;
        regs.rflags = 2; // bit 1 is reserved and must be set
        check(::ioctl(vcpu, KVM_SET_REGS, &regs), "KVM_SET_REGS");
    }

    // One KVM_RUN; returns the exit reason (details are in `run`).
    std::uint32_t enter() const {
        check(::ioctl(vcpu, KVM_RUN, 0), "KVM_RUN");
        return run->exit_reason;
    }
};

} // namespace bench
