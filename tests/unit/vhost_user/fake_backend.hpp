// A scripted vhost-user backend for the frontend tests: the far end of a
// socketpair (or of a connection accepted on a Unix socket), driven by a
// script on its own thread. The script sees each request as the bytes and fds
// that arrived, and answers with whatever bytes it likes, well-formed or not.
// Every wait is bounded (5 s), so a broken frontend fails a test, never hangs it.
#pragma once

#include "devices/vhost_user/frontend.hpp"
#include "devices/vhost_user/protocol.hpp"
#include "vmm/fd.hpp"
#include "vmm/fd_passing.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace strata::vhost_user::test {

using namespace std::chrono_literals;

inline constexpr auto backend_wait = 5s;

struct Received {
    std::uint32_t request = 0, flags = 0, size = 0;
    std::vector<std::uint8_t> payload;
    std::vector<UniqueFd> fds;
};

// Little-endian fields read byte by byte: an oracle independent of le.hpp.
inline std::uint64_t le_at(std::span<const std::uint8_t> bytes, std::size_t at, std::size_t width) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i)
        v |= std::uint64_t{bytes[at + i]} << (8 * i);
    return v;
}
inline std::uint64_t u64_at(std::span<const std::uint8_t> bytes, std::size_t at) { return le_at(bytes, at, 8); }
inline std::uint32_t u32_at(std::span<const std::uint8_t> bytes, std::size_t at) {
    return static_cast<std::uint32_t>(le_at(bytes, at, 4));
}
inline void put_le(std::vector<std::uint8_t> &out, std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i)
        out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline std::vector<std::uint8_t> header_bytes(std::uint32_t request, std::uint32_t flags, std::uint32_t size) {
    std::vector<std::uint8_t> out;
    put_le(out, request, 4);
    put_le(out, flags, 4);
    put_le(out, size, 4);
    return out;
}

constexpr std::uint32_t reply_flags = flag::version | flag::reply;

// The backend's end of the connection: blocking reads with a bound.
class BackendEnd {
public:
    explicit BackendEnd(UniqueFd fd) : fd_(std::move(fd)) {}

    // The next request, or nothing when the frontend closed the connection
    // (or sent nothing for backend_wait).
    std::optional<Received> receive() {
        std::array<std::uint8_t, header_size> header{};
        Received r;
        if (!read_exact(header, r.fds))
            return std::nullopt;
        r.request = u32_at(header, 0);
        r.flags = u32_at(header, 4);
        r.size = u32_at(header, 8);
        r.payload.resize(r.size);
        if (!read_exact(r.payload, r.fds))
            return std::nullopt;
        return r;
    }
    // Receives a request that must be `request`; an empty Received otherwise.
    Received expect(Request request) {
        auto r = receive();
        EXPECT_TRUE(r.has_value()) << "the frontend sent no " << name(request);
        if (!r)
            return {};
        EXPECT_EQ(r->request, static_cast<std::uint32_t>(request)) << "expected " << name(request);
        return std::move(*r);
    }

    void send(std::span<const std::uint8_t> bytes, int fd = -1) {
        EXPECT_TRUE(try_send(bytes, fd)) << "fake backend send: " << std::strerror(errno);
    }
    // False once the frontend has closed its end.
    bool try_send(std::span<const std::uint8_t> bytes, int fd = -1) {
        return send_with_fds(fd_.get(), bytes, {&fd, fd >= 0 ? 1u : 0u}) == static_cast<ssize_t>(bytes.size());
    }
    void reply(Request request, std::span<const std::uint8_t> payload, std::uint32_t flags = reply_flags) {
        auto bytes =
            header_bytes(static_cast<std::uint32_t>(request), flags, static_cast<std::uint32_t>(payload.size()));
        bytes.insert(bytes.end(), payload.begin(), payload.end());
        send(bytes);
    }
    void reply_u64(Request request, std::uint64_t value) {
        std::vector<std::uint8_t> payload;
        put_le(payload, value, 8);
        reply(request, payload);
    }
    // Waits until the frontend closes its end (EOF), for at most backend_wait.
    bool wait_for_close() {
        std::array<std::uint8_t, 64> sink{};
        std::vector<UniqueFd> fds;
        while (read_some(sink, fds) > 0) {
        }
        return last_read_eof_;
    }
    void close() { fd_.reset(); }

private:
    // >0 bytes read, 0 at EOF, -1 after backend_wait without data or on error.
    ssize_t read_some(std::span<std::uint8_t> out, std::vector<UniqueFd> &fds) {
        pollfd p{fd_.get(), POLLIN, 0};
        last_read_eof_ = false;
        if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(backend_wait).count())) != 1)
            return -1;
        const ssize_t n = receive_with_fds(fd_.get(), out, fds);
        if (n == 0)
            last_read_eof_ = true;
        return n;
    }
    bool read_exact(std::span<std::uint8_t> out, std::vector<UniqueFd> &fds) {
        std::size_t got = 0;
        while (got < out.size()) {
            const ssize_t n = read_some(out.subspan(got), fds);
            if (n <= 0)
                return false;
            got += static_cast<std::size_t>(n);
        }
        return true;
    }

    UniqueFd fd_;
    bool last_read_eof_ = false;
};

// A temporary directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "strata-vhost-user-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr)
            throw_errno("mkdtemp", tmpl);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::string file(const std::string &name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// A Unix socket listening at `path` (bound and, unless told not to, listening).
inline UniqueFd listen_at(const std::string &path, bool listening = true) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
    if (::bind(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr) != 0)
        throw_errno("bind", path);
    if (listening && ::listen(fd.get(), 1) != 0)
        throw_errno("listen", path);
    return fd;
}

// Runs `script` on a thread against a backend end; the frontend gets the
// other end from frontend(). Declare it before the Frontend, so that the
// Frontend closes first and the script sees the close.
class FakeBackend {
public:
    using Script = std::function<void(BackendEnd &)>;

    // Over a socketpair.
    explicit FakeBackend(Script script) {
        std::array<int, 2> fds{};
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()) != 0)
            throw_errno("socketpair", "fake backend");
        frontend_end_ = UniqueFd(fds[0]);
        thread_ = std::thread([script = std::move(script), fd = fds[1]] {
            BackendEnd end{UniqueFd(fd)};
            script(end);
        });
    }
    // Accepting one connection on a listening socket.
    FakeBackend(UniqueFd listener, Script script) {
        thread_ = std::thread([script = std::move(script), listener = std::move(listener)] {
            pollfd p{listener.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(backend_wait).count())) != 1) {
                ADD_FAILURE() << "the frontend never connected";
                return;
            }
            BackendEnd end{UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC))};
            script(end);
        });
    }
    ~FakeBackend() { join(); }
    FakeBackend(const FakeBackend &) = delete;
    FakeBackend &operator=(const FakeBackend &) = delete;

    Frontend frontend(std::chrono::milliseconds timeout = 2s) {
        return Frontend::adopt(std::move(frontend_end_), "fake", timeout);
    }
    // Waits for the script to end.
    void join() {
        if (thread_.joinable())
            thread_.join();
    }

private:
    UniqueFd frontend_end_;
    std::thread thread_;
};

} // namespace strata::vhost_user::test
