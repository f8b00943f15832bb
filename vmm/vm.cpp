// VM assembly and the vCPU run loop.
#include "vmm/vm.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace strata {

namespace {

class KvmIrqLine final : public IrqLine {
public:
    KvmIrqLine(const VmFd &vm, std::uint32_t irq) : vm_(vm), irq_(irq) {}
    void set_level(bool high) override { arch::set_irq_line(vm_, irq_, high); }

private:
    const VmFd &vm_;
    std::uint32_t irq_;
};

// irqfd: KVM injects the interrupt when the eventfd is written.
class IrqfdLine final : public IrqLine {
public:
    IrqfdLine(const VmFd &vm, std::uint32_t irq, RunControl &control)
        : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), irq_(irq), control_(control) {
        const std::string what = "the VM (irqfd for IRQ " + std::to_string(irq) + ")";
        if (!fd_)
            throw_errno("eventfd", what);
        kvm_irqfd req{};
        req.fd = static_cast<std::uint32_t>(fd_.get());
        req.gsi = irq;
        STRATA_IOCTL(vm.fd(), KVM_IRQFD, &req, what);
    }
    void set_level(bool high) override {
        if (!high)
            return;
        const std::uint64_t one = 1;
        const auto n = ::write(fd_.get(), &one, sizeof one);
        // EAGAIN: the counter is at its maximum, so an event is pending and
        // the interrupt is raised.
        if (n == static_cast<ssize_t>(sizeof one) || (n < 0 && errno == EAGAIN))
            return;
        failed(n < 0 ? errno : EIO);
    }

private:
    // Any other error (EBADF, EINVAL) is a host fault that does not go away:
    // every later interrupt of this line would be lost and the guest would
    // wait for them forever. Not thrown: set_level runs inside device code on
    // whichever thread raised it, which can neither handle nor expect it.
    // Reported once per line, and the VM stops as after any host error.
    void failed(int err) {
        if (reported_.exchange(true))
            return;
        spdlog::error("raising IRQ {} through its irqfd failed: {}; the guest would miss its interrupts", irq_,
                      std::strerror(err));
        control_.request_stop(exit_status::host_error);
    }

    UniqueFd fd_;
    std::uint32_t irq_;
    RunControl &control_;
    std::atomic<bool> reported_{false};
};

// One access on `bus`; one that no device claims is reported as `reports` allows.
void access(const Bus &bus, UnclaimedReports &reports, const VcpuFd &vcpu, Direction dir, std::uint64_t addr,
            std::span<std::uint8_t> data) {
    const bool claimed = dir == Direction::write ? bus.write(addr, data) : bus.read(addr, data);
    if (claimed)
        return;
    if (auto warning = reports.note(dir, addr, data.size()))
        spdlog::warn("{}: {}", vcpu.name(), *warning);
}

} // namespace

Vm::Vm(const Kvm &kvm, const fdt::Layout &layout) : kvm_(kvm), layout_(layout), vm_(kvm, layout.vm_type_bits) {
    std::uint32_t slot = 0;
    for (const auto &bank : layout_.ram) {
        const auto &region = memory_.add(bank.name, GuestAddress{bank.base}, bank.size);
        vm_.set_memory_region(slot++, bank.base, bank.size, region.host());
    }
    arch_ = arch::setup_vm(kvm_, vm_, layout_);
}

namespace {
// Registers device at the Layout range `range` (nullptr: the Layout has none of that name).
template <class Range>
void register_at(Bus &bus, const Range *range, const std::string &name, BusDevice &device) {
    if (!range)
        throw std::logic_error("the layout has no " + bus.name() + " range '" + name + "'");
    if (auto e = bus.insert({range->base, range->size}, device); e != BusInsertError::none)
        throw std::logic_error("cannot register " + name + " on the " + bus.name() + " bus: " + to_string(e));
}
} // namespace

void Vm::add_mmio(const std::string &name, BusDevice &device) { register_at(mmio_, layout_.find(name), name, device); }

void Vm::add_pio(const std::string &name, BusDevice &device) {
    register_at(pio_, layout_.find_port(name), name, device);
}

std::unique_ptr<IrqLine> Vm::irq_line(std::uint32_t irq) { return std::make_unique<KvmIrqLine>(vm_, irq); }

std::unique_ptr<IrqLine> Vm::irqfd_line(std::uint32_t irq) { return std::make_unique<IrqfdLine>(vm_, irq, control_); }

UniqueFd Vm::ioeventfd(std::uint64_t addr, std::uint32_t len, std::uint64_t value) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    const std::string what = "the VM (ioeventfd at " + std::to_string(addr) + ")";
    if (!fd)
        throw_errno("eventfd", what);
    kvm_ioeventfd req{};
    req.datamatch = value;
    req.addr = addr;
    req.len = len;
    req.fd = fd.get();
    req.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
    STRATA_IOCTL(vm_.fd(), KVM_IOEVENTFD, &req, what);
    return fd;
}

void Vm::boot(std::uint64_t entry, std::span<const std::uint8_t> dtb) {
    if (dtb.size() > layout_.dtb.size)
        throw std::logic_error("the device tree does not fit its window");
    if (!memory_.write(GuestAddress{layout_.dtb.base}, std::as_bytes(dtb)))
        throw std::logic_error("the device tree window is not inside guest RAM");
    arch::setup_boot_memory(memory_, layout_, kvm_);
    for (unsigned i = 0; i < layout_.cpus; ++i) {
        vcpus_.push_back(std::make_unique<VcpuFd>(kvm_, vm_, i));
        arch::setup_vcpu(kvm_, vm_, *vcpus_.back(), layout_, entry, layout_.dtb.base);
    }
    arch::after_vcpus(*arch_, layout_);
}

int Vm::run(boost::asio::io_context &io, const sandbox::RunFilters *filters) {
    RunControl::install_kick_handler();
    control_.on_stop([&io] { io.stop(); });
    // Everything is open: the io filter on every thread (device helper threads
    // too) before any vCPU thread exists; each vCPU thread stacks its own.
    if (filters)
        filters->io.install(true);
    std::vector<std::jthread> threads;
    for (auto &vcpu : vcpus_)
        threads.emplace_back([this, &vcpu, filters] { run_vcpu(*vcpu, filters ? &filters->vcpu : nullptr); });
    // The io_context runs here until a stop request (the guard keeps it from
    // returning early when it has nothing to do). Whatever escapes a handler
    // (bad_alloc, a bug) stops the vCPUs before their threads are joined.
    auto guard = boost::asio::make_work_guard(io);
    try {
        io.run();
    } catch (const std::exception &e) {
        spdlog::error("the io thread failed: {}", e.what());
        control_.request_stop(exit_status::host_error);
    } catch (...) {
        spdlog::error("the io thread failed with an unknown exception");
        control_.request_stop(exit_status::host_error);
    }
    threads.clear(); // joins
    return control_.status();
}

void Vm::run_vcpu(VcpuFd &vcpu, const sandbox::Filter *filter) {
    kvm_run *run = vcpu.run().get();
    control_.add_vcpu(pthread_self(), run);
    // The kick signal must be deliverable on this thread.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RunControl::kick_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

    try {
        if (filter)
            filter->install(); // before this vCPU's first guest instruction
        while (!control_.stopping()) {
            if (::ioctl(vcpu.fd(), KVM_RUN, 0) < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    run->immediate_exit = control_.stopping() ? 1 : 0;
                    continue;
                }
                throw_errno("KVM_RUN", vcpu.name());
            }
            // Only the architecture can read a system event's arguments
            // (registers, on aarch64), so it is asked before the decision.
            const auto event_status =
                run->exit_reason == KVM_EXIT_SYSTEM_EVENT ? arch::system_event(vcpu, *run) : std::nullopt;
            act(vcpu, decide_exit(*run, event_status));
        }
    } catch (const std::exception &e) {
        spdlog::error("{}: {}", vcpu.name(), e.what());
        control_.request_stop(exit_status::host_error);
    }
}

void Vm::act(VcpuFd &vcpu, const ExitAction &action) {
    if (const auto *io = std::get_if<PortIo>(&action)) {
        std::uint8_t *data = vcpu.run().bytes() + io->data_offset;
        for (std::uint32_t i = 0; i < io->count; ++i, data += io->size)
            access(pio_, pio_unclaimed_, vcpu, io->dir, io->port, {data, io->size});
    } else if (const auto *mmio = std::get_if<Mmio>(&action)) {
        access(mmio_, mmio_unclaimed_, vcpu, mmio->dir, mmio->addr, {vcpu.run()->mmio.data, mmio->len});
    } else if (const auto *stop = std::get_if<Stop>(&action)) {
        control_.request_stop(stop->status);
    } else if (const auto *fault = std::get_if<Crash>(&action)) {
        crash(vcpu, fault->reason);
    }
}

void Vm::crash(VcpuFd &vcpu, const std::string &reason) {
    std::string regs;
    try {
        regs = arch::describe_registers(vcpu);
    } catch (const std::exception &e) {
        regs = std::string("(registers unavailable: ") + e.what() + ")";
    }
    spdlog::error("{} stopped the VM: {}\n  {}", vcpu.name(), reason, regs);
    control_.request_stop(exit_status::guest_fault);
}

} // namespace strata
