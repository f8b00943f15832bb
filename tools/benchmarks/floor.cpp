// tools/benchmarks/floor.cpp (bench-floor): the floor under any VMM's port-I/O
// round trip. A real-mode vCPU loops on `out %al,$0x80`; this program does
// KVM_RUN once per write and handles the exit with a bare switch, no bus and
// no device (the VM has KVM's in-kernel irqchip, like strata's). Usage: bench-floor [N=200000] [ROUNDS=5]; prints the median over
// ROUNDS of microseconds per exit, e.g. "0.6123 us/exit".
#include "realmode_vm.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

int main(int argc, char **argv) {
    const long n = argc > 1 ? std::atol(argv[1]) : 200000;
    const long rounds = argc > 2 ? std::atol(argv[2]) : 5;
    if (n <= 0 || rounds <= 0) {
        std::fprintf(stderr, "usage: bench-floor [N] [ROUNDS]\n");
        return 2;
    }
    // At 0x1000: out %al,$0x80 ; jmp 0x1000
    const std::uint8_t code[] = {0xe6, 0x80, 0xeb, 0xfc};
    // The same VM shape as strata's (in-kernel irqchip), so the ratio compares exit paths.
    const bench::RealModeVm vm(0x2000, code, 0x1000, true);

    auto one_exit = [&] {
        switch (vm.enter()) {
        case KVM_EXIT_IO:
            if (vm.run->io.port == 0x80)
                return;
            [[fallthrough]];
        default:
            std::fprintf(stderr, "bench-floor: unexpected exit %u\n", vm.run->exit_reason);
            std::exit(1);
        }
    };

    for (int i = 0; i < 1000; i++) // warm up: fault in the pages, settle the vCPU
        one_exit();
    std::vector<double> us;
    for (long r = 0; r < rounds; r++) {
        auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < n; i++)
            one_exit();
        std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - t0;
        us.push_back(d.count() / static_cast<double>(n));
    }
    std::sort(us.begin(), us.end());
    std::printf("%.4f us/exit\n", us[us.size() / 2]);
    return 0;
}
