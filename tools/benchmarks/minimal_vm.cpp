// tools/benchmarks/minimal_vm.cpp (bench-minimal): the least a VMM process can do
// to boot something: create a VM with a memslot and real-mode vCPU 0 that runs
// `out %al,$0x80; hlt`, take that one exit, and quit. Its wall time (measured
// by bench-driver) is what KVM and process start-up cost alone.
//
// Usage: bench-minimal [--irqchip] [--mem BYTES] [--cpus N]
// With --irqchip it also creates the in-kernel irqchip, which strata needs
// for interrupts; --mem (default 2 MiB) and --cpus (default 1, the others
// created but not run) give the VM the shape of a strata VM, so that the
// two can be compared like for like.
#include "args.hpp"
#include "realmode_vm.hpp"

#include <string_view>

int main(int argc, char **argv) {
    bool irqchip = false;
    std::size_t mem = 2u << 20;
    unsigned cpus = 1;
    for (int i = 1; i < argc; i++) {
        const std::string_view arg = argv[i];
        if (arg == "--irqchip")
            irqchip = true;
        else if (arg == "--mem" && i + 1 < argc)
            mem = bench::number("bench-minimal", argv[++i], "--mem");
        else if (arg == "--cpus" && i + 1 < argc)
            cpus = static_cast<unsigned>(bench::number("bench-minimal", argv[++i], "--cpus"));
        else {
            std::fprintf(stderr, "usage: bench-minimal [--irqchip] [--mem BYTES] [--cpus N]\n");
            return 2;
        }
    }
    if (mem < 0x2000 || cpus < 1) {
        std::fprintf(stderr, "bench-minimal: --mem must be at least 8 KiB and --cpus at least 1\n");
        return 2;
    }
    const std::uint8_t code[] = {0xe6, 0x80, 0xf4}; // out %al,$0x80 ; hlt
    const bench::RealModeVm vm(mem, code, 0x1000, irqchip, cpus);
    if (vm.enter() != KVM_EXIT_IO || vm.run->io.port != 0x80) {
        std::fprintf(stderr, "bench-minimal: unexpected exit %u\n", vm.run->exit_reason);
        return 1;
    }
    return 0;
}
