// `strata run`: the composition root (DESIGN.md): options -> MachineSpec ->
// fdt::plan -> Vm -> devices built from the Layout -> kernel and DTB -> run.
// Everything the user could have got wrong is checked before the VM exists.
#include "devices/console.hpp"
#include "devices/exit_device.hpp"
#include "devices/pl011.hpp"
#include "devices/serial.hpp"
#include "devices/virtio/blk.hpp"
#include "devices/virtio/console.hpp"
#include "devices/virtio/mmio.hpp"
#include "devices/virtio/net.hpp"
#include "devices/virtio/notifier.hpp"
#include "devices/virtio/rng.hpp"
#include "fdt/dtb.hpp"
#include "fdt/plan.hpp"
#include "fdt/user_error.hpp"
#include "nested/trace.hpp"
#include "tools/commands.hpp"
#include "tools/options.hpp"
#include "tools/terminal.hpp"
#include "vmm/arch/arch.hpp"
#include "vmm/elf.hpp"
#include "vmm/image.hpp"
#include "vmm/vm.hpp"

#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <sys/sysinfo.h>

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
128 + N when stopped by signal N.

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
    d.add_options()
        ("kernel", po::value<std::string>(), "guest kernel (ELF64); default: the built-in demo guest")
        ("cmdline", po::value<std::string>()->default_value(""), "guest command line (/chosen/bootargs)")
        ("log-level", po::value<std::string>()->default_value("warn"), "error, warn, info or debug")
        ("trace-s2", po::bool_switch(),
         "with --el2: when the VM stops, print the guest hypervisor's stage-2 translations, "
         "flagging outputs beyond strata's IPA window");
    d.add(machine_options());
    return d;
}

// The devices of the virtio slots, in the planner's slot order (console,
// each --blk, each --net, rng: see machine_spec()).
std::vector<std::unique_ptr<virtio::Device>> make_virtio_devices(boost::asio::io_context &io,
                                                                 const po::variables_map &opts,
                                                                 const fdt::MachineSpec &spec,
                                                                 devices::Console &console,
                                                                 virtio::Console *&virtio_console) {
    std::vector<std::unique_ptr<virtio::Device>> out;
    std::size_t blk = 0, net = 0;
    for (auto kind : spec.virtio) {
        switch (kind) {
        case fdt::DeviceKind::virtio_console: {
            auto dev = std::make_unique<virtio::Console>([&console](std::span<const std::uint8_t> b) { console.write(b); });
            virtio_console = dev.get();
            out.push_back(std::move(dev));
            break;
        }
        case fdt::DeviceKind::virtio_blk:
            out.push_back(std::make_unique<virtio::Block>(
                io, virtio::parse_block_spec(opts["blk"].as<std::vector<std::string>>().at(blk++))));
            break;
        case fdt::DeviceKind::virtio_net: {
            const auto &text = opts["net"].as<std::vector<std::string>>().at(net);
            out.push_back(std::make_unique<virtio::Net>(io, virtio::parse_net_spec(text, static_cast<unsigned>(net))));
            ++net;
            break;
        }
        case fdt::DeviceKind::virtio_rng: out.push_back(std::make_unique<virtio::Rng>()); break;
        }
    }
    return out;
}

// The console UART and the rest of the platform each architecture has:
// x86_64 a 16550 and the exit ports, aarch64 a PL011 and a PL031.
class PlatformDevices {
public:
    PlatformDevices(Vm &vm, const fdt::Layout &layout, devices::Console &console, devices::StopFn stop)
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
          transport("virtio" + std::to_string(index) + " (" + std::string(fdt::name(layout.virtio[index].kind)) + ")",
                    device, vm.memory(), *irq, io) {
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

} // namespace

int run_command(int argc, const char *const *argv) {
    const auto desc = run_options();
    const auto opts = parse(argc, argv, desc);
    if (opts.help) {
        std::cout << usage << '\n' << desc << '\n';
        return 0;
    }
    const auto &vm_opts = opts.vm;
    const auto level = spdlog::level::from_str(vm_opts["log-level"].as<std::string>());
    if (level == spdlog::level::off && vm_opts["log-level"].as<std::string>() != "off")
        throw UserError("--log-level wants error, warn, info or debug, not '" +
                        vm_opts["log-level"].as<std::string>() + "'");
    spdlog::set_level(level);

    auto spec = machine_spec(vm_opts);
    const auto console_spec = parse_console(vm_opts["console"].as<std::string>());
    if (spec.arch != arch::host_arch)
        throw UserError(std::string("strata run starts ") + std::string(fdt::name(arch::host_arch)) +
                        " VMs on this host; use strata dtb or plan for " + std::string(fdt::name(spec.arch)));
    if (vm_opts["trace-s2"].as<bool>() && !spec.el2)
        throw UserError("--trace-s2 shows a guest hypervisor's stage-2: it needs --el2");
    if (vm_opts.count("host-ipa-limit") || vm_opts.count("host-pa-range"))
        throw UserError("--host-ipa-limit and --host-pa-range are for strata dtb and plan; run uses this host's KVM");

    // The kernel: read and checked before any VM exists.
    std::vector<std::uint8_t> kernel_file;
    std::string kernel_name = "the built-in demo guest";
    if (vm_opts.count("kernel")) {
        kernel_name = "kernel '" + vm_opts["kernel"].as<std::string>() + "'";
        kernel_file = elf::read_file(vm_opts["kernel"].as<std::string>(), "kernel");
    } else {
        kernel_file.assign(strata_demo_guest_start, strata_demo_guest_end);
        if (kernel_file.empty())
            throw UserError("this strata was built without its demo guest: give --kernel");
    }
    if (image::detect(kernel_file) == image::Format::gzip)
        kernel_file = image::gunzip(kernel_file, kernel_name);
    const auto format = image::detect(kernel_file);
    if (format == image::Format::arm64_image && spec.arch != fdt::Arch::aarch64)
        throw UserError(kernel_name + " is an arm64 Image, but this VM is " + std::string(fdt::name(spec.arch)));
    if (format != image::Format::elf && format != image::Format::arm64_image)
        throw UserError(kernel_name + (spec.arch == fdt::Arch::aarch64
                                           ? " is neither an ELF file nor an arm64 Image (plain or gzip)"
                                           : " is not an ELF file"));
    // An ELF is checked now; an arm64 Image is placed once the map is known.
    std::optional<elf::Image> kernel;
    if (format == image::Format::elf)
        kernel = elf::parse(kernel_file, arch::elf_machine(), kernel_name);

    // Devices open their host files and taps now, so a bad path stops us
    // before any VM exists.
    boost::asio::io_context io;
    devices::Console console(console_spec);
    virtio::Console *virtio_console = nullptr;
    auto virtio_devices = make_virtio_devices(io, vm_opts, spec, console, virtio_console);

    Kvm kvm;
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
    const fdt::Layout layout = fdt::plan(spec, arch::host_caps(kvm, spec.el2));
    if (!kernel)
        kernel = image::parse_arm64(kernel_file, layout.ram.front().base, kernel_name);
    spdlog::info("VM type {} (IPA window {} bits: {}), host limit {} bits", layout.vm_type_bits, layout.ipa_bits,
                 layout.ipa_reason, layout.host.ipa_limit);

    const auto dtb = fdt::build(layout, boot_config(vm_opts));

    Vm vm(kvm, layout);
    auto stop = [&vm](int status) { vm.control().request_stop(status); };

    std::vector<elf::Reserved> reserved{{"boot tables", layout.boot.base, layout.boot.size},
                                        {"device tree", layout.dtb.base, layout.dtb.size},
                                        {"initrd", layout.initrd.base, layout.initrd.size}};
    elf::load(*kernel, kernel_file, vm.memory(), reserved, kernel_name);
    if (vm_opts.count("initrd")) {
        const auto initrd = elf::read_file(vm_opts["initrd"].as<std::string>(), "initrd");
        if (initrd.size() != layout.initrd.size ||
            !vm.memory().write(GuestAddress{layout.initrd.base}, std::as_bytes(std::span(initrd))))
            throw UserError("the initrd changed size while strata was starting");
    }

    PlatformDevices platform(vm, layout, console, stop);

    vm.boot(kernel->entry, dtb);

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
    // The virtio console, when there is one, is slot 0 (machine_spec() puts it first).
    auto *console_transport = virtio_console ? &virtio_slots.front()->transport : nullptr;
    console.start_input(
        io,
        [&](std::span<const std::uint8_t> b) {
            if (virtio_console)
                virtio_console->receive(*console_transport, b);
            else
                platform.receive(b);
        },
        [&] {
            spdlog::info("stopping on the console escape (Ctrl-A x)");
            stop(0);
        });
    const int status = vm.run(io);
    if (vm_opts["trace-s2"].as<bool>()) {
        if (auto s2 = arch::stage2_state(vm.vcpu(0)))
            std::cerr << nested::trace_stage2(vm.memory(), {s2->vtcr, s2->vttbr}, s2->pa_range, layout.ipa_bits);
        else
            std::cerr << "strata: --trace-s2: vCPU 0 has no EL2 state (run with --el2)\n";
    }
    return status;
}

} // namespace strata::cli
