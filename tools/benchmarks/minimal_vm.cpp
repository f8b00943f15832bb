// tools/benchmarks/minimal_vm.cpp (bench-minimal): the least a VMM process can do
// to boot something: create a VM with a 2 MiB memslot and one real-mode vCPU
// that runs `out %al,$0x80; hlt`, take that one exit, and quit. Its wall time
// (measured by bench-driver) is what KVM and process start-up cost alone.
#include "realmode_vm.hpp"

#include <string_view>

// With --irqchip it also creates the in-kernel irqchip, which strata needs for
// interrupts: that alone costs several ms of VM set-up and teardown here.
int main(int argc, char **argv) {
    const bool irqchip = argc > 1 && std::string_view(argv[1]) == "--irqchip";
    const std::uint8_t code[] = {0xe6, 0x80, 0xf4}; // out %al,$0x80 ; hlt
    const bench::RealModeVm vm(2u << 20, code, 0x1000, irqchip);
    if (vm.enter() != KVM_EXIT_IO || vm.run->io.port != 0x80) {
        std::fprintf(stderr, "bench-minimal: unexpected exit %u\n", vm.run->exit_reason);
        return 1;
    }
    return 0;
}
