// A VM assembled from one Layout: KVM VM fd, guest memory and memslots, the
// buses, the in-kernel irqchip, and the vCPU threads. Devices live outside vmm/
// (they are built by the composition root) and are registered here by the
// Layout's addresses; registration failures are reported, never ignored.
//
// Member order is the dependency graph (STYLE.md 7): destroying the Vm joins
// nothing by itself -- run() returns only after every thread is joined.
#pragma once

#include "fdt/layout.hpp"
#include "vmm/arch/arch.hpp"
#include "vmm/bus.hpp"
#include "vmm/exit.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/irq.hpp"
#include "vmm/kvm.hpp"
#include "vmm/run_control.hpp"
#include "vmm/sandbox.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>
#include <vector>

namespace strata {

class Vm {
public:
    Vm(const Kvm &kvm, const fdt::Layout &layout);

    const fdt::Layout &layout() const { return layout_; }
    const GuestMemory &memory() const { return memory_; }
    const VmFd &fd() const { return vm_; }
    RunControl &control() { return control_; }

    // Register at the Layout's region or port range of that name.
    void add_mmio(const std::string &region, BusDevice &device);
    void add_pio(const std::string &port_range, BusDevice &device);
    std::unique_ptr<IrqLine> irq_line(std::uint32_t irq);
    // An interrupt raised through KVM_IRQFD (edge: each pulse is one event),
    // safe to raise from any thread without a VM ioctl.
    std::unique_ptr<IrqLine> irqfd_line(std::uint32_t irq);
    // An eventfd KVM signals for a `len`-byte guest write of `value` at `addr`
    // (KVM_IOEVENTFD with datamatch), instead of exiting to a vCPU thread.
    UniqueFd ioeventfd(std::uint64_t addr, std::uint32_t len, std::uint64_t value);

    // Copies the DTB to layout.dtb and creates the vCPUs entering at `entry`
    // (and initialises the in-kernel interrupt controller). Devices may still
    // be added until run().
    void boot(std::uint64_t entry, std::span<const std::uint8_t> dtb);

    // Runs the vCPU threads and `io` on the calling thread until a stop is
    // requested; joins every thread and returns the exit status. With
    // `filters`, the sandbox's io filter goes on every thread first and each
    // vCPU thread installs the vCPU filter before its first KVM_RUN.
    int run(boost::asio::io_context &io, const sandbox::RunFilters *filters = nullptr);

    // After run(): the vCPUs are stopped but still there to inspect.
    VcpuFd &vcpu(std::size_t index) { return *vcpus_.at(index); }

private:
    void run_vcpu(VcpuFd &vcpu, const sandbox::Filter *filter);
    void act(VcpuFd &vcpu, const ExitAction &action);
    void crash(VcpuFd &vcpu, const std::string &reason);

    const Kvm &kvm_;
    fdt::Layout layout_;
    VmFd vm_;
    GuestMemory memory_;
    std::unique_ptr<arch::VmState> arch_; // the in-kernel interrupt controller
    Bus mmio_{"MMIO"};
    Bus pio_{"port I/O", Bus::Straddle::split};
    UnclaimedReports mmio_unclaimed_{"MMIO", 0x1000, "4 KiB page"};
    UnclaimedReports pio_unclaimed_{"port I/O", 1, "port"};
    RunControl control_;
    std::vector<std::unique_ptr<VcpuFd>> vcpus_;
};

} // namespace strata
