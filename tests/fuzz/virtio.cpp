// Fuzz target: the virtio-mmio transport, the split virtqueue and each device
// model (devices/virtio/{mmio,queue,rng,console,blk,net}.cpp), driven as a
// hostile guest would: register reads and writes at any offset and width,
// ring and buffer contents written into guest RAM between them, notifies,
// and the device's outside input (console bytes, tap frames) and its I/O
// completing in between. Guest RAM is one 64 KiB region at 0x10000, so no
// ring or buffer can make the harness allocate much; virtio-blk serves a
// 64 KiB memfd (io_uring, as in strata), virtio-net a fake tap
// (fake_tap.hpp). At the end the driver resets the device and the harness
// waits for every I/O to land; then transport and device are destroyed. A
// crash, a sanitizer report, an uncaught exception or I/O that never
// completes (2 s) is a bug.
//
// Input: device u8 (mod 4: rng, console, blk, net), then up to 256 steps,
// each a kind u8 (mod 8):
//   0, 1  register write: offset u8 (x4), value u32; bit 7 of the kind:
//         a 1- or 2-byte write instead (widths a guest may use);
//   2     register read: offset u8 (x4, past 0x100: config space);
//   3     guest RAM write: offset u16, length u8, the bytes;
//   4     notify: queue u8 (the ioeventfd path);
//   5     the io_context runs what is ready (I/O completions);
//   6     outside input: length u8, the bytes (console input; a tap frame);
//   7     the tap refuses the next n u8 (mod 4) frames (EAGAIN).
#include "devices/virtio/blk.hpp"
#include "devices/virtio/console.hpp"
#include "devices/virtio/mmio.hpp"
#include "devices/virtio/net.hpp"
#include "devices/virtio/rng.hpp"
#include "tests/fuzz/fake_tap.hpp"
#include "tests/fuzz/fds.hpp"
#include "tests/fuzz/input.hpp"

#include <spdlog/spdlog.h>

#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace strata::fuzz {
namespace {

constexpr std::uint64_t ram_base = 0x10000, ram_size = 64 << 10, disk_size = 64 << 10;

class NullIrq final : public IrqLine {
public:
    void set_level(bool) override {}
};

struct Fixture {
    Fixture() : disk(::memfd_create("fuzz-disk", MFD_CLOEXEC)) {
        spdlog::set_level(spdlog::level::off);
        memory.add("ram", GuestAddress{ram_base}, ram_size);
        if (!disk || ::ftruncate(disk.get(), disk_size) != 0)
            std::abort();
    }
    GuestMemory memory;
    UniqueFd disk;
    NullIrq irq;
    FdLeakCheck leaks;
};

std::unique_ptr<virtio::Device> make_device(unsigned kind, boost::asio::io_context &io, const Fixture &f,
                                            virtio::Console *&console) {
    switch (kind) {
    case 0: return std::make_unique<virtio::Rng>();
    case 1: {
        auto c = std::make_unique<virtio::Console>([](std::span<const std::uint8_t>) {});
        console = c.get();
        return c;
    }
    case 2:
        return std::make_unique<virtio::Block>(
            io, virtio::BlockSpec{"/proc/self/fd/" + std::to_string(f.disk.get()), false, "fuzz"});
    default: return std::make_unique<virtio::Net>(io, virtio::NetSpec{"fuzz0", {}});
    }
}

// Runs until the device holds no I/O and the io_context no work, or aborts:
// I/O that never lands would leave guest RAM in use after the VM is gone.
void settle(boost::asio::io_context &io, const virtio::Device &device) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
        tap::wake(); // a wait on the tap completes and finds nothing to do
        io.restart();
        io.run_for(std::chrono::milliseconds(5));
        if (io.stopped() && !device.busy())
            return;
        if (std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr, "virtio: I/O still in flight 2 s after the reset\n");
            std::abort();
        }
    }
}

void run(Fixture &f, Input &in) {
    // Nothing of the last run is left for this one: RAM and disk are zeros.
    std::memset(f.memory.span(GuestAddress{ram_base}, ram_size).value().data(), 0, ram_size);
    if (::ftruncate(f.disk.get(), 0) != 0 || ::ftruncate(f.disk.get(), disk_size) != 0)
        std::abort();
    boost::asio::io_context io;
    virtio::Console *console = nullptr;
    const unsigned kind = in.below(4);
    auto device = make_device(kind, io, f, console);
    {
        virtio::Transport transport("fuzz", *device, f.memory, f.irq, io);
        for (int step = 0; step < 256 && !in.empty(); ++step) {
            const auto op = in.take<std::uint8_t>();
            switch (op % 8) {
            case 0:
            case 1: {
                const std::uint64_t offset = std::uint64_t{in.take<std::uint8_t>()} * 4;
                const auto value = in.take<std::uint32_t>();
                std::uint8_t bytes[4];
                std::memcpy(bytes, &value, 4);
                transport.write(offset, std::span(bytes, op & 0x80 ? (op & 0x40 ? 1 : 2) : 4));
                break;
            }
            case 2: {
                std::uint8_t bytes[4];
                transport.read(std::uint64_t{in.take<std::uint8_t>()} * 4, bytes);
                break;
            }
            case 3: {
                const std::uint64_t offset = in.take<std::uint16_t>();
                const auto bytes = in.bytes(in.take<std::uint8_t>());
                const auto n = std::min<std::uint64_t>(bytes.size(), ram_size - offset);
                (void)f.memory.write(GuestAddress{ram_base + offset}, std::as_bytes(bytes.first(n)));
                break;
            }
            case 4: transport.notified(in.take<std::uint8_t>()); break;
            case 5:
                io.restart();
                io.poll();
                break;
            case 6: {
                const auto bytes = in.bytes(in.take<std::uint8_t>());
                if (console)
                    console->receive(bytes);
                else if (kind == 3)
                    tap::push_frame({bytes.begin(), bytes.end()});
                break;
            }
            default: tap::refuse_writes(in.below(4)); break;
            }
        }
        const std::uint8_t zero[4] = {};
        transport.write(virtio::reg::status, zero); // the driver resets the device
        settle(io, *device);
    }
    device.reset();
    tap::forget();
    // Whatever the device cancelled while it was destroyed runs now.
    io.restart();
    io.poll();
}

} // namespace
} // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static strata::fuzz::Fixture fixture;
    strata::fuzz::Input in(data, size);
    strata::fuzz::run(fixture, in);
    fixture.leaks.check();
    return 0;
}
