// Fuzz target: the backend behind `strata device` (devices/vhost_user/
// backend.cpp) against a frontend whose every byte is the fuzzer's: requests
// of any number, size and flags, split anywhere, with any fds attached
// (memfds for SET_MEM_TABLE, eventfds for kicks and calls, too many or none),
// memory tables that lie, rings anywhere, and ring contents written into the
// shared memory between requests, with kicks. The backends (virtio-rng and
// virtio-console, chosen by the input) live for the whole process, as in
// `strata device`; each run is one frontend connection on their socket,
// closed at the end, after which the backend must take the next one. A
// frontend's mistake closes its connection; a crash, an uncaught exception,
// a hang (libFuzzer's -timeout) or a leaked fd is a bug.
//
// Input: device u8 (bit 0: console), then up to 64 steps, each a kind u8:
//   0, 1  bytes to send: length u16 (mod 1024), fds u8 (low nibble: memfds
//         of 64 KiB, high nibble: eventfds), the bytes;
//   2     a write into this run's memfd i (u8 mod 8) at offset u16: length
//         u8, the bytes (the rings and buffers the backend reads);
//   3     a kick: eventfd i (u8 mod 8) is written.
// After each step the io_context runs whatever is ready and the replies are
// read (and dropped).
#include "devices/vhost_user/backend.hpp"
#include "devices/virtio/console.hpp"
#include "devices/virtio/rng.hpp"
#include "tests/fuzz/fds.hpp"
#include "tests/fuzz/input.hpp"

#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/un.h>

#include <cstdlib>
#include <string>

namespace strata::fuzz {
namespace {

constexpr std::size_t region_size = 64 << 10;

std::string socket_path(const char *device) {
    return "/tmp/strata-fuzz-" + std::to_string(::getpid()) + "-" + device + ".sock";
}

struct Fixture {
    Fixture() { spdlog::set_level(spdlog::level::off); }
    boost::asio::io_context io;
    std::string rng_path = socket_path("rng"), console_path = socket_path("console");
    vhost_user::Backend rng{io, rng_path, std::make_unique<virtio::Rng>()};
    vhost_user::Backend console{io, console_path,
                                std::make_unique<virtio::Console>([](std::span<const std::uint8_t>) {})};
    FdLeakCheck leaks;
};

struct Region {
    UniqueFd fd;
    Mapping map;
};

// Runs the handlers that are ready, and those their completions make ready:
// Asio submits a wait to io_uring in one poll() and reaps it in a later one,
// so only two polls in a row that run nothing mean nothing is ready.
void run_ready(boost::asio::io_context &io) {
    for (int i = 0, idle = 0; i < 256 && idle < 2; ++i) {
        io.restart();
        idle = io.poll() == 0 ? idle + 1 : 0;
    }
}

// Runs what is ready, then reads (and drops) what the backend said.
// Returns false once the backend has closed the connection.
bool pump(boost::asio::io_context &io, int client) {
    run_ready(io);
    std::array<std::uint8_t, 4096> buf;
    for (;;) {
        const ssize_t n = ::recv(client, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        if (n < 0)
            return true;
    }
}

void run(Fixture &f, Input &in) {
    const std::string &path = in.flag() ? f.console_path : f.rng_path;
    UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(client.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr) != 0)
        std::abort(); // the backend no longer listens: it did not take the next frontend
    std::vector<Region> regions;
    std::vector<UniqueFd> events;
    bool open = pump(f.io, client.get());
    for (int step = 0; step < 64 && open && !in.empty(); ++step) {
        switch (in.below(4)) {
        case 0:
        case 1: {
            const auto length = in.take<std::uint16_t>() % 1024u;
            const auto fd_counts = in.take<std::uint8_t>();
            const auto bytes = in.bytes(length);
            std::vector<int> fds;
            for (unsigned i = 0; i < (fd_counts & 15u) % 10; ++i) {
                Region r{UniqueFd(::memfd_create("fuzz-guest", MFD_CLOEXEC)), {}};
                if (::ftruncate(r.fd.get(), region_size) != 0)
                    std::abort();
                r.map = Mapping(region_size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd.get(), 0, "fuzz guest RAM");
                fds.push_back(r.fd.get());
                regions.push_back(std::move(r));
            }
            for (unsigned i = 0; i < (fd_counts >> 4) % 4; ++i) {
                events.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
                fds.push_back(events.back().get());
            }
            if (!bytes.empty())
                (void)send_with_fds(client.get(), bytes, fds);
            break;
        }
        case 2: {
            const std::size_t i = in.below(8);
            const std::size_t offset = in.take<std::uint16_t>();
            const auto bytes = in.bytes(in.take<std::uint8_t>());
            if (i < regions.size() && offset + bytes.size() <= region_size)
                std::memcpy(regions[i].map.bytes() + offset, bytes.data(), bytes.size());
            break;
        }
        default: {
            const std::size_t i = in.below(8);
            const std::uint64_t one = 1;
            if (i < events.size())
                (void)!::write(events[i].get(), &one, sizeof one);
            break;
        }
        }
        open = pump(f.io, client.get());
    }
    // The frontend leaves: the backend must notice, reset and listen again.
    ::shutdown(client.get(), SHUT_WR);
    for (int i = 0; i < 1000 && pump(f.io, client.get()); ++i)
        f.io.run_one_for(std::chrono::milliseconds(1));
}

} // namespace
} // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static strata::fuzz::Fixture fixture;
    strata::fuzz::Input in(data, size);
    strata::fuzz::run(fixture, in);
    // The backend's own end of the connection and the session it ran go now.
    strata::fuzz::run_ready(fixture.io);
    fixture.leaks.check();
    return 0;
}
