// VM assembly and the vCPU run loop.
#include "vmm/vm.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <spdlog/spdlog.h>

#include <cstring>
#include <sys/eventfd.h>
#include <unistd.h>
#include <sys/ioctl.h>
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
    IrqfdLine(const VmFd &vm, std::uint32_t irq) : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
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
        // EAGAIN means the counter is already pending: the interrupt is raised.
        [[maybe_unused]] auto n = ::write(fd_.get(), &one, sizeof one);
    }

private:
    UniqueFd fd_;
};

const char *exit_name(std::uint32_t reason) {
    switch (reason) {
    case KVM_EXIT_UNKNOWN: return "unknown exit (KVM_EXIT_UNKNOWN)";
    case KVM_EXIT_EXCEPTION: return "exception (KVM_EXIT_EXCEPTION)";
    case KVM_EXIT_HYPERCALL: return "hypercall (KVM_EXIT_HYPERCALL)";
    case KVM_EXIT_DEBUG: return "debug exit (KVM_EXIT_DEBUG)";
    case KVM_EXIT_HLT: return "halt (KVM_EXIT_HLT)";
    case KVM_EXIT_SHUTDOWN: return "triple fault (KVM_EXIT_SHUTDOWN)";
    case KVM_EXIT_FAIL_ENTRY: return "failed VM entry (KVM_EXIT_FAIL_ENTRY)";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM internal error (KVM_EXIT_INTERNAL_ERROR)";
    case KVM_EXIT_SYSTEM_EVENT: return "system event (KVM_EXIT_SYSTEM_EVENT)";
    default: return "unhandled exit";
    }
}

std::string exit_details(const kvm_run &run) {
    char buf[160] = "";
    switch (run.exit_reason) {
    case KVM_EXIT_FAIL_ENTRY:
        std::snprintf(buf, sizeof buf, " hardware_entry_failure_reason=%#llx",
                      static_cast<unsigned long long>(run.fail_entry.hardware_entry_failure_reason));
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        std::snprintf(buf, sizeof buf, " suberror=%u", run.internal.suberror);
        break;
    case KVM_EXIT_UNKNOWN:
        std::snprintf(buf, sizeof buf, " hardware_exit_reason=%#llx",
                      static_cast<unsigned long long>(run.hw.hardware_exit_reason));
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        std::snprintf(buf, sizeof buf, " type=%u", run.system_event.type);
        break;
    case KVM_EXIT_SHUTDOWN: break;
    default:
        std::snprintf(buf, sizeof buf, " exit_reason=%u", run.exit_reason);
    }
    return buf;
}

} // namespace

Vm::Vm(const Kvm &kvm, const fdt::Layout &layout)
    : kvm_(kvm), layout_(layout), vm_(kvm, layout.vm_type_bits) {
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

std::unique_ptr<IrqLine> Vm::irqfd_line(std::uint32_t irq) { return std::make_unique<IrqfdLine>(vm_, irq); }

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

int Vm::run(boost::asio::io_context &io) {
    RunControl::install_kick_handler();
    control_.on_stop([&io] { io.stop(); });
    std::vector<std::jthread> threads;
    for (auto &vcpu : vcpus_)
        threads.emplace_back([this, &vcpu] { run_vcpu(*vcpu); });
    // The io_context runs here until a stop request (the guard keeps it from
    // returning early when it has nothing to do).
    auto guard = boost::asio::make_work_guard(io);
    io.run();
    threads.clear(); // joins
    return control_.status();
}

void Vm::run_vcpu(VcpuFd &vcpu) {
    kvm_run *run = vcpu.run().get();
    control_.add_vcpu(pthread_self(), run);
    // The kick signal must be deliverable on this thread.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RunControl::kick_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

    auto fatal = [&](const std::string &what) {
        std::string regs;
        try {
            regs = arch::describe_registers(vcpu);
        } catch (const std::exception &e) {
            regs = std::string("(registers unavailable: ") + e.what() + ")";
        }
        spdlog::error("{} stopped the VM: {}{}\n  {}", vcpu.name(), what, exit_details(*run), regs);
        control_.request_stop(exit_status::guest_fault);
    };

    try {
        while (!control_.stopping()) {
            if (::ioctl(vcpu.fd(), KVM_RUN, 0) < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    run->immediate_exit = control_.stopping() ? 1 : 0;
                    continue;
                }
                throw_errno("KVM_RUN", vcpu.name());
            }
            switch (run->exit_reason) {
            case KVM_EXIT_IO: {
                auto *data = vcpu.run().bytes() + run->io.data_offset;
                const std::size_t size = run->io.size;
                for (std::uint32_t i = 0; i < run->io.count; ++i, data += size) {
                    if (run->io.direction == KVM_EXIT_IO_OUT)
                        pio_.write(run->io.port, {data, size});
                    else
                        pio_.read(run->io.port, {data, size});
                }
                break;
            }
            case KVM_EXIT_MMIO: {
                std::span<std::uint8_t> data(run->mmio.data, std::min<std::size_t>(run->mmio.len, 8));
                if (run->mmio.is_write)
                    mmio_.write(run->mmio.phys_addr, data);
                else
                    mmio_.read(run->mmio.phys_addr, data);
                break;
            }
            case KVM_EXIT_INTR:
                break;
            case KVM_EXIT_SYSTEM_EVENT:
                if (auto status = arch::system_event(vcpu, *run))
                    control_.request_stop(*status);
                else
                    fatal(exit_name(run->exit_reason));
                break;
            default:
                fatal(exit_name(run->exit_reason));
            }
        }
    } catch (const std::exception &e) {
        spdlog::error("{}: {}", vcpu.name(), e.what());
        control_.request_stop(exit_status::host_error);
    }
}

} // namespace strata
