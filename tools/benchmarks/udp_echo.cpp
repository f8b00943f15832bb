// tools/benchmarks/udp_echo.cpp (bench-udp): UDP echo throughput against
// the net-echo guest. Sends CHUNK-byte datagrams to ADDR:PORT with at most
// WINDOW unanswered, until BYTES have come back or SECONDS have passed,
// whichever is first, and prints the MiB/s round-tripped (bytes echoed back
// per second of the timed part) and, on stderr, what it sent and got back.
// Run it where the guest is reachable: tools/bench starts it with
// `ip netns exec NS`.
//
// Before timing, one datagram must come back (retried for up to 10 s: the
// first one waits for ARP and for the guest to be serving). When nothing
// comes back for a whole second, every datagram in flight is counted lost
// and the window refilled, so a drop costs time but never stalls the run.
// (A second is far above the echo time even of a slow guest, ~20 ms per
// 1 KiB datagram on a nested host, so a full window is not mistaken for loss.)
//
// Usage: bench-udp ADDR PORT [BYTES=2097152] [SECONDS=10] [CHUNK=1024] [WINDOW=16]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "args.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string &what, int err) { bench::die("bench-udp", what, err); }
unsigned long long number(const char *s, const char *what) { return bench::number("bench-udp", s, what); }

// Waits up to ms for a datagram; its length, 0 on timeout.
ssize_t receive(int s, std::vector<unsigned char> &buf, int ms) {
    pollfd p{s, POLLIN, 0};
    const int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno != EINTR)
        die("poll", errno);
    if (rc <= 0)
        return 0;
    const ssize_t n = ::recv(s, buf.data(), buf.size(), 0);
    if (n < 0 && errno != EAGAIN && errno != ECONNREFUSED)
        die("recv", errno);
    return n < 0 ? 0 : n;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 3 || argc > 7) {
        std::fprintf(stderr, "usage: bench-udp ADDR PORT [BYTES=2097152] [SECONDS=10] [CHUNK=1024] [WINDOW=16]\n");
        return 2;
    }
    const unsigned long long bytes = argc > 3 ? number(argv[3], "BYTES") : 2ull << 20;
    const double seconds = argc > 4 ? static_cast<double>(number(argv[4], "SECONDS")) : 10.0;
    const std::size_t chunk = argc > 5 ? number(argv[5], "CHUNK") : 1024;
    const unsigned window = argc > 6 ? static_cast<unsigned>(number(argv[6], "WINDOW")) : 16;
    if (bytes == 0 || seconds <= 0 || chunk == 0 || chunk > 1472 || window == 0) {
        std::fprintf(stderr, "bench-udp: BYTES, SECONDS, WINDOW must be positive, CHUNK 1..1472\n");
        return 2;
    }

    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(number(argv[2], "PORT")));
    if (::inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
        std::fprintf(stderr, "bench-udp: '%s' is not an IPv4 address\n", argv[1]);
        return 2;
    }
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket", errno);
    if (::connect(s, reinterpret_cast<sockaddr *>(&to), sizeof to) != 0)
        die("connect", errno);

    std::vector<unsigned char> out(chunk), in(2048);
    for (std::size_t i = 0; i < chunk; ++i)
        out[i] = static_cast<unsigned char>(i * 131);

    // Warm-up: ARP and a serving guest.
    bool up = false;
    for (int i = 0; i < 50 && !up; ++i) {
        if (::send(s, out.data(), chunk, 0) < 0 && errno != ECONNREFUSED)
            die("send", errno);
        up = receive(s, in, 200) == static_cast<ssize_t>(chunk);
    }
    if (!up) {
        std::fprintf(stderr, "bench-udp: no echo from %s:%s within 10 s\n", argv[1], argv[2]);
        return 1;
    }
    while (receive(s, in, 50) > 0) { // late echoes of the warm-up
    }

    const auto t0 = Clock::now();
    const auto stop = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    unsigned long long sent = 0, back = 0, lost = 0;
    unsigned in_flight = 0;
    while (back < bytes && Clock::now() < stop) {
        while (in_flight < window && (sent - lost) * chunk < bytes) {
            if (::send(s, out.data(), chunk, 0) != static_cast<ssize_t>(chunk)) {
                if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED)
                    break;
                die("send", errno);
            }
            ++sent;
            ++in_flight;
        }
        const ssize_t n = receive(s, in, 1000);
        if (n == static_cast<ssize_t>(chunk)) {
            back += chunk;
            if (in_flight) // else a late echo of one counted lost
                --in_flight;
        } else if (n == 0 && in_flight) { // nothing for a second: count the window lost
            lost += in_flight;
            in_flight = 0;
        }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::fprintf(stderr, "bench-udp: %llu datagrams of %zu bytes sent, %llu bytes back, %llu lost, %.3f s\n", sent,
                 chunk, back, lost, elapsed);
    std::printf("%.3f\n", static_cast<double>(back) / (1 << 20) / elapsed);
    ::close(s);
    return back ? 0 : 1;
}
