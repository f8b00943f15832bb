// What the architecture-neutral core asks of vmm/arch/<arch>/. Exactly one
// implementation is compiled, chosen by meson from the host CPU family.
#pragma once

#include "fdt/layout.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/kvm.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strata::arch {

inline constexpr fdt::Arch host_arch =
#if defined(__x86_64__)
    fdt::Arch::x86_64;
#else
    fdt::Arch::aarch64;
#endif

// ELF e_machine of kernels for this architecture.
std::uint16_t elf_machine();

// Physical-address facts of this host for the planner. `el2`: for a guest
// hypervisor, whose vCPUs KVM may give a lower PARange (NV caps it at 48).
fdt::HostCaps host_caps(const Kvm &kvm, bool el2 = false);

// Whatever an architecture keeps per VM (the vGIC device on aarch64).
class VmState {
public:
    virtual ~VmState() = default;
};

// Whether this host's KVM can give a VM a GICv3 (aarch64; x86_64: true).
bool gic_v3_available(const Kvm &kvm);

// After KVM_CREATE_VM and the memslots, before any vCPU: interrupt controller etc.
std::unique_ptr<VmState> setup_vm(const Kvm &kvm, const VmFd &vm, const fdt::Layout &layout);

// Architecture state every vCPU needs before the first KVM_RUN (boot tables in
// RAM are written once, by setup_boot_memory).
void setup_boot_memory(const GuestMemory &memory, const fdt::Layout &layout, const Kvm &kvm);
void setup_vcpu(const Kvm &kvm, const VmFd &vm, VcpuFd &vcpu, const fdt::Layout &layout, std::uint64_t entry,
                std::uint64_t dtb);
// Once every vCPU exists (the vGIC is initialised here on aarch64).
void after_vcpus(VmState &state, const fdt::Layout &layout);

// The exit status a KVM_EXIT_SYSTEM_EVENT asks for, or nullopt when it is a
// crash the run loop reports with registers.
std::optional<int> system_event(VcpuFd &vcpu, const kvm_run &run);

// One line with the registers that explain a crash (program counter first).
std::string describe_registers(VcpuFd &vcpu);

// What this host's CPU and KVM offer, as (name, value) lines for `strata caps`:
// physical address sizes, guest-hypervisor support, whether strata itself runs
// in a VM. Names are stable (they are the JSON keys).
std::vector<std::pair<std::string, std::string>> describe_host(const Kvm &kvm);

// A guest hypervisor's stage-2 registers (aarch64 EL2 vCPUs: VTCR_EL2,
// VTTBR_EL2, and the PARange it reads), or nullopt where there are none.
struct Stage2State {
    std::uint64_t vtcr = 0, vttbr = 0;
    unsigned pa_range = 0;
};
std::optional<Stage2State> stage2_state(VcpuFd &vcpu);

// Raise or lower an interrupt line of the in-kernel irqchip.
void set_irq_line(const VmFd &vm, std::uint32_t irq, bool level);

// The ioctl requests a vCPU thread makes once the guest runs (the sandbox's
// vCPU filter allows these and no others): KVM_RUN, the registers that
// system_event, describe_registers and stage2_state read, set_irq_line's.
std::vector<unsigned long> vcpu_run_ioctls();

} // namespace strata::arch
