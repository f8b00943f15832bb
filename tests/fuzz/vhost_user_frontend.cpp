// Fuzz target: strata's vhost-user frontend (devices/vhost_user/frontend.cpp
// and the reply half of the codec, protocol.cpp) against a backend whose
// every byte is the fuzzer's: replies of wrong sizes, for other requests,
// with other flags or versions, cut short, with fds attached that no reply
// carries. Each run is a socketpair: the backend's bytes are written to one
// end up front (and the end shut, so a short reply is a close, never a
// wait), then the Frontend on the other end makes the requests the input
// lists. Error and Refused are the expected outcomes; a crash, an uncaught
// exception, a reply value of the wrong size or a leaked fd is a bug.
//
// Input: request count u8, fds u8 (low nibble: attached to the first part
// of the stream, high: to the second), split point u16, the requests (one
// byte each: low nibble the request, high nibble its argument), then the
// backend's stream.
#include "devices/vhost_user/frontend.hpp"
#include "tests/fuzz/fds.hpp"
#include "tests/fuzz/input.hpp"

#include <sys/eventfd.h>

#include <cstdio>
#include <cstdlib>

namespace strata::fuzz {
namespace {

using namespace std::chrono_literals;
namespace vu = vhost_user;

[[noreturn]] void broken(const char *what) {
    std::fprintf(stderr, "vhost-user frontend: %s\n", what);
    std::abort();
}

// A few fds to attach to the backend's bytes (closed here once sent: the
// frontend gets its own copies, and must close them).
void send_part(int socket, std::span<const std::uint8_t> bytes, unsigned fd_count) {
    if (bytes.empty())
        return;
    std::vector<int> fds;
    for (unsigned i = 0; i < fd_count % 4; ++i)
        fds.push_back(::eventfd(0, EFD_CLOEXEC));
    (void)send_with_fds(socket, bytes, fds);
    for (int fd : fds)
        ::close(fd);
}

void request(vu::Frontend &f, std::uint8_t op, int spare_fd) {
    const unsigned arg = op >> 4;
    switch (op & 15) {
    case 0: f.set_owner(); return;
    case 1: (void)f.get_features(); return;
    case 2: f.set_features(std::uint64_t{arg} << 30); return;
    case 3: (void)f.get_protocol_features(); return;
    case 4:
        f.set_protocol_features((arg & 1 ? vu::protocol_feature::mq : 0) |
                                (arg & 2 ? vu::protocol_feature::reply_ack : 0) |
                                (arg & 4 ? vu::protocol_feature::config : 0));
        return;
    case 5: (void)f.get_queue_num(); return;
    case 6: {
        constexpr std::uint32_t sizes[] = {0, 1, 4, 8, 12, 60, 256, 257};
        const std::uint32_t size = sizes[arg % 8], offset = arg / 8 * 4;
        if (f.get_config(offset, size).size() != size)
            broken("GET_CONFIG returned other than the size asked");
        return;
    }
    case 7: {
        std::vector<vu::MemRegion> regions;
        for (unsigned i = 0; i < arg % 10; ++i)
            regions.push_back({0x1000ull * i, 0x1000, 0x7000'0000ull + 0x1000ull * i, 0, arg == 9 ? -1 : spare_fd});
        f.set_mem_table(regions);
        return;
    }
    case 8: f.set_vring_num(arg, 256); return;
    case 9: f.set_vring_addr({arg, 0, 0x1000, 0x2000, 0x3000, 0}); return;
    case 10: f.set_vring_base(arg, 0); return;
    case 11: (void)f.get_vring_base(arg); return;
    case 12: f.set_vring_kick(arg == 15 ? 256 : arg, arg & 1 ? -1 : spare_fd); return;
    case 13: f.set_vring_call(arg, arg & 1 ? -1 : spare_fd); return;
    case 14: f.set_vring_enable(arg, arg & 1); return;
    default: (void)f.native_handle(); return;
    }
}

} // namespace
} // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    using namespace strata;
    static const int spare_fd = ::eventfd(0, EFD_CLOEXEC);
    static fuzz::FdLeakCheck leaks;
    fuzz::Input in(data, size);
    const unsigned count = in.take<std::uint8_t>() % 32;
    const auto fds = in.take<std::uint8_t>();
    const std::size_t split = in.take<std::uint16_t>();
    const auto ops = in.bytes(count);
    const auto stream = in.rest();
    {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            std::abort();
        UniqueFd backend(pair[1]);
        const std::size_t first = std::min(split, stream.size());
        fuzz::send_part(backend.get(), stream.first(first), fds & 15);
        fuzz::send_part(backend.get(), stream.subspan(first), fds >> 4);
        ::shutdown(backend.get(), SHUT_WR);
        auto frontend = vhost_user::Frontend::adopt(UniqueFd(pair[0]), "fuzz", std::chrono::milliseconds(100));
        for (const auto op : ops) {
            try {
                fuzz::request(frontend, op, spare_fd);
            } catch (const vhost_user::Error &) {
            }
        }
    }
    leaks.check();
    return 0;
}
