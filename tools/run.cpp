// `strata run`: the composition root (DESIGN.md): options -> MachineSpec ->
// fdt::plan -> Vm -> devices built from the Layout -> kernel and DTB -> run.
// Everything the user could have got wrong is checked before the VM exists.
#include "devices/exit_device.hpp"
#include "devices/host_console.hpp"
#include "devices/pl011.hpp"
#include "devices/pl031.hpp"
#include "devices/serial.hpp"
#include "devices/virtio/mmio.hpp"
#include "devices/virtio/notifier.hpp"
#include "fdt/dtb.hpp"
#include "fdt/plan.hpp"
#include "nested/trace.hpp"
#include "tools/commands.hpp"
#include "tools/device_specs.hpp"
#include "tools/options.hpp"
#include "tools/sandboxing.hpp"
#include "tools/teardown.hpp"
#include "tools/terminal.hpp"
#include "tools/user_error.hpp"
#include "vmm/arch/arch.hpp"
#include "vmm/elf.hpp"
#include "vmm/image.hpp"
#include "vmm/vm.hpp"

#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <sys/sysinfo.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>

extern "C" const std::uint8_t strata_demo_guest_start[], strata_demo_guest_end[];

namespace strata::cli {

namespace {

const char *usage = R"(Usage: strata run [options]

Boots a guest kernel in a KVM virtual machine and runs it until it powers off.
Without --kernel, strata boots its built-in demo guest.

Exit status: the guest's (0 after power-off, (v << 1) | 1 after the guest
writes v to the debug-exit port 0xf4), 2 for bad options, 3 for a host error,
4 when the guest crashed (triple fault, failed entry, KVM internal error),
128 + N when stopped by signal N, 159 when a thread made a system call its
sandbox does not allow (named on stderr).

Console: on a terminal, type Ctrl-A x to stop the VM (Ctrl-A Ctrl-A sends Ctrl-A).
)";

std::uint64_t host_memory() {
    struct sysinfo si {};
    if (::sysinfo(&si) != 0)
        return UINT64_MAX;
    return std::uint64_t{si.totalram} * si.mem_unit;
}

std::string gib(std::uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / double(1ull << 30));
    return buf;
}

po::options_description run_options() {
    po::options_description d("strata run");
    // One option per line:
    // clang-format off
    d.add_options()
        ("kernel", po::value<std::string>(), "guest kernel (ELF64); default: the built-in demo guest")
        ("cmdline", po::value<std::string>()->default_value(""), "guest command line (/chosen/bootargs)")
        ("log-level", po::value<std::string>()->default_value("warn"), "error, warn, info or debug")
        ("trace-s2", po::bool_switch(),
         "with --el2: when the VM stops, print the guest hypervisor's stage-2 translations, "
         "flagging outputs beyond strata's IPA window");
    // clang-format on
    d.add(machine_options());
    d.add(sandbox_options());
    return d;
}

// The console UART and the rest of the platform each architecture has:
// x86_64 a 16550 and the exit ports, aarch64 a PL011 and a PL031.
class PlatformDevices {
public:
    PlatformDevices(Vm &vm, const fdt::Layout &layout, devices::HostConsole &console, devices::StopFn stop)
        : irq_(vm.irq_line(layout.uart_irq)) {
        auto out = [&console](std::span<const std::uint8_t> b) { console.write(b); };
        if (layout.arch == fdt::Arch::x86_64) {
            auto &x = x86_.emplace(out, irq_.get(), stop);
            vm.add_pio("serial", x.serial);
            vm.add_pio("debug-exit", x.debug_exit);
            vm.add_pio("power-off", x.power_off);
            vm.add_pio("null", x.null_port);
        } else {
            auto &a = arm_.emplace(out, irq_.get());
            vm.add_mmio("pl011", a.uart);
            vm.add_mmio("pl031", a.rtc);
        }
    }
    void receive(std::span<const std::uint8_t> bytes) {
        if (x86_)
            x86_->serial.receive(bytes);
        else
            arm_->uart.receive(bytes);
    }

private:
    struct X86 {
        X86(devices::Serial16550::Output out, IrqLine *irq, devices::StopFn stop)
            : serial(std::move(out), irq), debug_exit(stop), power_off(stop) {}
        devices::Serial16550 serial;
        devices::DebugExit debug_exit;
        devices::PowerOff power_off;
        devices::NullDevice null_port;
    };
    struct Arm {
        Arm(devices::Pl011::Output out, IrqLine *irq) : uart(std::move(out), irq) {}
        devices::Pl011 uart;
        devices::Pl031 rtc;
    };
    std::unique_ptr<IrqLine> irq_;
    std::optional<X86> x86_;
    std::optional<Arm> arm_;
};

// One virtio-mmio slot wired up: the transport on the MMIO bus at the
// Layout's window, an irqfd for its interrupt and an ioeventfd per queue.
struct VirtioSlot {
    VirtioSlot(Vm &vm, boost::asio::io_context &io, const fdt::Layout &layout, std::size_t index,
               virtio::Device &device)
        : irq(vm.irqfd_line(layout.virtio[index].irq)),
          transport("virtio" + std::to_string(index) + " (" + layout.virtio[index].device.name + ")", device,
                    vm.memory(), *irq, io) {
        const auto &window = layout.virtio[index].window;
        vm.add_mmio(window.name, transport);
        for (std::size_t q = 0; q < device.queues(); ++q)
            notifiers.push_back(std::make_unique<virtio::QueueNotifier>(
                io, vm.ioeventfd(window.base + virtio::queue_notify_offset, 4, q),
                [this, q] { transport.notified(q); }));
    }
    std::unique_ptr<IrqLine> irq;
    virtio::Transport transport;
    std::vector<std::unique_ptr<virtio::QueueNotifier>> notifiers;
};

// The steps of `strata run`, in order. Each one reads alone; everything the
// user could have got wrong is refused before the VM exists.

void set_log_level(const po::variables_map &vm_opts) {
    const auto &text = vm_opts["log-level"].as<std::string>();
    const auto level = spdlog::level::from_str(text);
    if (level == spdlog::level::off && text != "off")
        throw UserError("--log-level wants error, warn, info or debug, not " + quote_value(text));
    spdlog::set_level(level);
}

// The flags that only make sense together, or not at all for `run`.
void check_run_flags(const po::variables_map &vm_opts, const fdt::MachineSpec &spec) {
    if (spec.arch != arch::host_arch)
        throw UserError(std::string("strata run starts ") + std::string(fdt::name(arch::host_arch)) +
                        " VMs on this host; use strata dtb or plan for " + std::string(fdt::name(spec.arch)));
    if (vm_opts["trace-s2"].as<bool>() && !spec.el2)
        throw UserError("--trace-s2 shows a guest hypervisor's stage-2: it needs --el2");
    if (vm_opts.count("host-ipa-limit") || vm_opts.count("host-pa-range"))
        throw UserError("--host-ipa-limit and --host-pa-range are for strata dtb and plan; run uses this host's KVM");
}

// The kernel file, inflated if gzip, with its ELF checked now; an arm64
// Image is placed once the map is known (place_kernel).
struct Kernel {
    std::string name;
    std::vector<std::uint8_t> file;
    image::Format format = image::Format::elf;
    std::optional<elf::Image> elf;
};

Kernel read_kernel(const po::variables_map &vm_opts, const fdt::MachineSpec &spec) {
    Kernel k;
    k.name = "the built-in demo guest";
    if (vm_opts.count("kernel")) {
        k.name = "kernel " + quote_value(vm_opts["kernel"].as<std::string>());
        k.file = elf::read_file(vm_opts["kernel"].as<std::string>(), "kernel", spec.ram_size, "the guest's RAM");
    } else {
        k.file.assign(strata_demo_guest_start, strata_demo_guest_end);
        if (k.file.empty())
            throw UserError("this strata was built without its demo guest: give --kernel");
    }
    if (image::detect(k.file) == image::Format::gzip)
        k.file = image::gunzip(k.file, k.name, std::min<std::uint64_t>(spec.ram_size, 512u << 20));
    k.format = image::detect(k.file);
    if (k.format == image::Format::arm64_image && spec.arch != fdt::Arch::aarch64)
        throw UserError(k.name + " is an arm64 Image, but this VM is " + std::string(fdt::name(spec.arch)));
    if (k.format != image::Format::elf && k.format != image::Format::arm64_image)
        throw UserError(k.name + (spec.arch == fdt::Arch::aarch64
                                      ? " is neither an ELF file nor an arm64 Image (plain or gzip)"
                                      : " is not an ELF file"));
    if (k.format == image::Format::elf)
        k.elf = elf::parse(k.file, arch::elf_machine(), k.name);
    return k;
}

// Devices open their host files, taps and sockets now, so a bad path stops us
// before any VM exists; one the user named that cannot be opened is their
// mistake to fix (exit 2), not a host failure.
std::vector<std::unique_ptr<virtio::Device>> create_devices(const std::vector<RequestedDevice> &requested,
                                                            virtio::DeviceContext &context) {
    std::vector<std::unique_ptr<virtio::Device>> out;
    for (const auto &d : requested)
        out.push_back(create_device(d, context));
    return out;
}

// This host's limits: memory, vCPUs, the interrupt controller, EL2; then the plan.
fdt::Layout plan_on_host(const Kvm &kvm, const po::variables_map &vm_opts, fdt::MachineSpec spec) {
    if (spec.ram_size > host_memory())
        throw UserError("--mem asks for " + gib(spec.ram_size) + " but this host has " + gib(host_memory()) +
                        " of memory: use less");
    if (spec.cpus > kvm.max_vcpus())
        throw UserError("--cpus " + std::to_string(spec.cpus) + " is more than KVM allows here (" +
                        std::to_string(kvm.max_vcpus()) + ")");
    if (spec.arch == fdt::Arch::aarch64 && vm_opts["gic"].defaulted() && !arch::gic_v3_available(kvm)) {
        spdlog::info("this host's KVM has no GICv3: using a GICv2");
        spec.gic = fdt::GicVersion::v2;
    }
    const auto caps = arch::host_caps(kvm, spec.el2);
    if (spec.el2 && !caps.el2)
        throw UserError("--el2 needs a host whose KVM runs guest hypervisors (KVM_CAP_ARM_EL2: Linux >= 6.16 "
                        "booted with kvm-arm.mode=nested on a CPU with FEAT_NV2); this one does not");
    if (spec.e2h0 && !caps.el2_e2h0)
        throw UserError("--e2h0 needs KVM_CAP_ARM_EL2_E2H0, which this host's KVM does not offer");
    fdt::Layout layout = fdt::plan(spec, caps);
    spdlog::info("VM type {} (IPA window {} bits: {}), host limit {} bits", layout.vm_type_bits, layout.ipa_bits,
                 layout.ipa_reason, layout.host.ipa_limit);
    return layout;
}

// An arm64 Image is placed at the RAM base the plan chose (still before any VM).
void place_kernel(Kernel &kernel, const fdt::Layout &layout) {
    if (!kernel.elf)
        kernel.elf = image::parse_arm64(kernel.file, layout.ram.front().base, kernel.name);
}

// The kernel and the initrd into guest RAM, clear of the boot tables and the DTB.
std::uint64_t load_guest(Vm &vm, const Kernel &kernel, const fdt::Layout &layout, const po::variables_map &vm_opts) {
    const std::vector<elf::Reserved> reserved{{"boot tables", layout.boot.base, layout.boot.size},
                                              {"device tree", layout.dtb.base, layout.dtb.size},
                                              {"initrd", layout.initrd.base, layout.initrd.size}};
    elf::load(*kernel.elf, kernel.file, vm.memory(), reserved, kernel.name);
    if (vm_opts.count("initrd")) {
        const auto initrd =
            elf::read_file(vm_opts["initrd"].as<std::string>(), "initrd", layout.initrd.size, "its place in RAM");
        if (initrd.size() != layout.initrd.size ||
            !vm.memory().write(GuestAddress{layout.initrd.base}, std::as_bytes(std::span(initrd))))
            throw UserError("the initrd changed size while strata was starting");
    }
    return kernel.elf->entry;
}

// The guest has stopped: no device may still read or write its memory when
// the Vm unmaps it. Block requests in flight on io_uring are waited for.
void shut_down_devices(boost::asio::io_context &io, const std::vector<std::unique_ptr<VirtioSlot>> &slots) {
    for (const auto &slot : slots)
        slot->transport.shut_down();
    auto busy = [&] {
        return std::count_if(slots.begin(), slots.end(), [](const auto &slot) { return slot->transport.busy(); });
    };
    io.restart();
    const auto start = std::chrono::steady_clock::now();
    bool warned = false;
    while (busy() > 0) {
        if (!warned && std::chrono::steady_clock::now() - start > std::chrono::seconds(5)) {
            spdlog::warn("waiting for the I/O of {} devices before releasing guest memory", busy());
            warned = true;
        }
        io.run_one_for(std::chrono::milliseconds(100));
    }
}

// With --trace-s2: the guest hypervisor's stage-2 as the VM left it.
void print_stage2(Vm &vm, const fdt::Layout &layout) {
    if (auto s2 = arch::stage2_state(vm.vcpu(0)))
        std::cerr << nested::trace_stage2(vm.memory(), {s2->vtcr, s2->vttbr}, s2->pa_range, layout.ipa_bits);
    else
        std::cerr << "strata: --trace-s2: vCPU 0 has no EL2 state (run with --el2)\n";
}

} // namespace

int run_command(int argc, const char *const *argv, const virtio::Registry &registry) {
    const auto desc = run_options();
    const auto opts = parse(argc, argv, desc);
    if (opts.help) {
        std::cout << usage << '\n' << desc << '\n' << describe_device_types(registry);
        return 0;
    }
    const auto &vm_opts = opts.vm;
    set_log_level(vm_opts);
    const auto requested = requested_devices(vm_opts, registry);
    const auto spec = machine_spec(vm_opts, virtio_requests(requested));
    const auto console_spec = parse_console(vm_opts["console"].as<std::string>());
    check_run_flags(vm_opts, spec);
    DeferredTeardown teardown(sandbox_enabled(vm_opts)); // first: it forks, and nothing may be open yet
    const auto sandbox_filters = start_run_sandbox(vm_opts, requested);
    auto kernel = read_kernel(vm_opts, spec);

    boost::asio::io_context io;
    devices::HostConsole console(console_spec);
    virtio::DeviceContext device_context{io, console, {}};
    auto virtio_devices = create_devices(requested, device_context);

    Kvm kvm;
    const fdt::Layout layout = plan_on_host(kvm, vm_opts, spec);
    place_kernel(kernel, layout);
    const auto dtb = fdt::build(layout, boot_config(vm_opts));

    Vm vm(kvm, layout);
    teardown.hold(vm.fd().fd());
    auto stop = [&vm](int status) { vm.control().request_stop(status); };
    const std::uint64_t entry = load_guest(vm, kernel, layout, vm_opts);
    PlatformDevices platform(vm, layout, console, stop);
    vm.boot(entry, dtb);

    // After boot(): on arm64 KVM takes irqfds only once the vGIC is initialised.
    std::vector<std::unique_ptr<VirtioSlot>> virtio_slots;
    for (std::size_t i = 0; i < layout.virtio.size(); ++i)
        virtio_slots.push_back(std::make_unique<VirtioSlot>(vm, io, layout, i, *virtio_devices[i]));

    boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    signals.async_wait([&](const boost::system::error_code &ec, int signo) {
        if (!ec) {
            spdlog::info("stopping on signal {}", signo);
            stop(exit_status::signal_base + signo);
        }
    });
    RawTerminal raw_terminal;
    // Console input goes to the device that claimed it (virtio-console), else the UART.
    console.start_input(
        io,
        [&](std::span<const std::uint8_t> b) {
            if (device_context.console_input)
                device_context.console_input(b);
            else
                platform.receive(b);
        },
        [&] {
            spdlog::info("stopping on the console escape (Ctrl-A x)");
            stop(0);
        });
    const int status = vm.run(io, sandbox_filters ? &*sandbox_filters : nullptr);
    shut_down_devices(io, virtio_slots);
    if (vm_opts["trace-s2"].as<bool>())
        print_stage2(vm, layout);
    return status;
}

} // namespace strata::cli
