// The frontend's socket I/O: one deadline per request, fds out with
// SCM_RIGHTS, any fds that come back closed on arrival.
#include "devices/vhost_user/frontend.hpp"

#include "vmm/fd_passing.hpp"

#include <fmt/format.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>
#include <utility>

namespace strata::vhost_user {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Room for the most fds a request carries (SET_MEM_TABLE's eight); a reply
// carrying more is truncated by the kernel, which drops the rest itself.
constexpr std::size_t max_fds = max_mem_regions;

// One request's traffic on the socket, all against the same deadline.
class Exchange {
public:
    Exchange(int fd, Request request, const std::string &backend, milliseconds timeout)
        : fd_(fd), request_(request), backend_(backend), timeout_(timeout), deadline_(Clock::now() + timeout) {}

    void send(const Encoded &message) {
        if (message.fds.size() > max_fds)
            fail(fmt::format("{} fds to send, a message carries at most {}", message.fds.size(), max_fds));
        std::size_t sent = 0;
        while (sent < message.bytes.size()) {
            // The fds ride with the first byte; a partial send has delivered them.
            const ssize_t n = send_with_fds(fd_, std::span(message.bytes).subspan(sent),
                                            sent == 0 ? std::span<const int>(message.fds) : std::span<const int>(),
                                            MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                sent += static_cast<std::size_t>(n);
            } else if (n == 0) {
                fail(fmt::format("backend {} took none of the request's bytes", backend_));
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!wait(POLLOUT))
                    fail(fmt::format("backend {} took no request within {} ms", backend_, timeout_.count()));
            } else if (errno == EPIPE || errno == ECONNRESET) {
                fail(fmt::format("backend {} closed the connection", backend_));
            } else if (errno != EINTR) {
                fail(fmt::format("sendmsg to backend {} failed: {}", backend_, std::strerror(errno)));
            }
        }
    }

    void receive(std::span<std::uint8_t> out, const char *part) {
        std::size_t got = 0;
        while (got < out.size()) {
            std::vector<UniqueFd> unwanted; // no reply carries fds: any that come are closed unused
            const ssize_t n = receive_with_fds(fd_, out.subspan(got), unwanted, MSG_DONTWAIT);
            if (n > 0) {
                got += static_cast<std::size_t>(n);
            } else if (n == 0) {
                fail(fmt::format("backend {} closed the connection after {} of the {} bytes of the reply {}", backend_,
                                 got, out.size(), part));
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!wait(POLLIN))
                    fail(fmt::format("no reply {} from backend {} within {} ms ({} of {} bytes came)", part, backend_,
                                     timeout_.count(), got, out.size()));
            } else if (errno == ECONNRESET) {
                fail(fmt::format("backend {} closed the connection", backend_));
            } else if (errno != EINTR) {
                fail(fmt::format("recvmsg from backend {} failed: {}", backend_, std::strerror(errno)));
            }
        }
    }

private:
    [[noreturn]] void fail(const std::string &what) const { throw Error("vhost-user " + name(request_) + ": " + what); }

    // False when the deadline passed first. Readiness includes hang-up and
    // error: the next sendmsg/recvmsg then reports them.
    bool wait(short events) const {
        for (;;) {
            const auto left = std::chrono::ceil<milliseconds>(deadline_ - Clock::now()).count();
            if (left <= 0)
                return false;
            pollfd p{fd_, events, 0};
            const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
            if (r > 0)
                return true;
            if (r < 0 && errno != EINTR)
                fail(fmt::format("poll on the socket to backend {} failed: {}", backend_, std::strerror(errno)));
        }
    }

    int fd_;
    Request request_;
    const std::string &backend_;
    milliseconds timeout_;
    Clock::time_point deadline_;
};

} // namespace

Frontend::Frontend(UniqueFd socket, std::string backend, milliseconds timeout)
    : socket_(std::move(socket)), name_(std::move(backend)), timeout_(timeout) {}
Frontend::Frontend(Frontend &&) noexcept = default;
Frontend &Frontend::operator=(Frontend &&) noexcept = default;
Frontend::~Frontend() = default;

Frontend Frontend::connect(const std::string &path, milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw Error(fmt::format("vhost-user connect: the socket path '{}' has {} bytes, a Unix socket takes 1 to {}",
                                path, path.size(), sizeof addr.sun_path - 1));
    std::memcpy(addr.sun_path, path.data(), path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd)
        throw_errno("socket", "the vhost-user connection to '" + path + "'");
    const auto deadline = Clock::now() + timeout;
    // A non-blocking AF_UNIX connect either completes or, with the listener's
    // backlog full, fails with EAGAIN: then try again until the deadline.
    while (::connect(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr) != 0) {
        const int err = errno;
        if (err == EINTR)
            continue;
        if (err == EAGAIN && Clock::now() < deadline) {
            std::this_thread::sleep_for(milliseconds(5));
            continue;
        }
        throw Error(fmt::format("vhost-user connect: no backend listens at '{}' ({})", path, std::strerror(err)));
    }
    return Frontend(std::move(fd), path, timeout);
}

Frontend Frontend::adopt(UniqueFd socket, std::string backend, milliseconds timeout) {
    if (!socket)
        throw Error("vhost-user: no socket given for backend " + backend);
    return Frontend(std::move(socket), std::move(backend), timeout);
}

int Frontend::native_handle() const { return socket_.get(); }

std::vector<std::uint8_t> Frontend::exchange(Encoded message, std::uint32_t reply_size) {
    const Request request = message.request;
    if (!socket_)
        throw Error(fmt::format("vhost-user {}: the connection to backend {} was closed after an earlier error",
                                name(request), name_));
    const bool ack = !has_reply(request) && (protocol_features_ & protocol_feature::reply_ack) != 0;
    if (ack) {
        set_need_reply(message);
        reply_size = sizeof(virtio::le64);
    }
    try {
        Exchange io(socket_.get(), request, name_, timeout_);
        io.send(message);
        if (!has_reply(request) && !ack)
            return {};
        std::array<std::uint8_t, header_size> header{};
        io.receive(header, "header");
        std::vector<std::uint8_t> payload(check_reply_header(request, header, reply_size));
        io.receive(payload, "payload");
        if (ack)
            check_ack(request, payload);
        return payload;
    } catch (const Refused &) {
        throw; // the reply was whole: the stream is still in step
    } catch (const Error &) {
        socket_.reset();
        throw;
    }
}

void Frontend::require(Request request, std::uint64_t feature, const char *feature_name) const {
    if ((protocol_features_ & feature) == 0)
        throw Error(fmt::format("vhost-user {}: needs protocol feature {}, which was not negotiated", name(request),
                                feature_name));
}

void Frontend::set_owner() { exchange(encode(Request::set_owner)); }

std::uint64_t Frontend::get_features() {
    return decode_u64(Request::get_features, exchange(encode(Request::get_features), sizeof(virtio::le64)));
}

void Frontend::set_features(std::uint64_t features) { exchange(encode_u64(Request::set_features, features)); }

std::uint64_t Frontend::get_protocol_features() {
    return decode_u64(Request::get_protocol_features,
                      exchange(encode(Request::get_protocol_features), sizeof(virtio::le64)));
}

void Frontend::set_protocol_features(std::uint64_t features) {
    exchange(encode_u64(Request::set_protocol_features, features));
    protocol_features_ = features;
}

std::uint64_t Frontend::get_queue_num() {
    require(Request::get_queue_num, protocol_feature::mq, "MQ");
    return decode_u64(Request::get_queue_num, exchange(encode(Request::get_queue_num), sizeof(virtio::le64)));
}

std::vector<std::uint8_t> Frontend::get_config(std::uint32_t offset, std::uint32_t size) {
    require(Request::get_config, protocol_feature::config, "CONFIG");
    auto message = encode_get_config(offset, size);
    return decode_config(offset, size, exchange(std::move(message), sizeof(WireConfigHeader) + size));
}

void Frontend::set_mem_table(std::span<const MemRegion> regions) { exchange(encode_mem_table(regions)); }

void Frontend::set_vring_num(std::uint32_t index, std::uint32_t num) {
    exchange(encode_vring_state(Request::set_vring_num, index, num));
}

void Frontend::set_vring_addr(const VringAddr &addr) { exchange(encode_vring_addr(addr)); }

void Frontend::set_vring_base(std::uint32_t index, std::uint32_t base) {
    exchange(encode_vring_state(Request::set_vring_base, index, base));
}

std::uint32_t Frontend::get_vring_base(std::uint32_t index) {
    return decode_vring_base(index,
                             exchange(encode_vring_state(Request::get_vring_base, index, 0), sizeof(WireVringState)));
}

void Frontend::set_vring_kick(std::uint32_t index, int fd) {
    exchange(encode_vring_fd(Request::set_vring_kick, index, fd));
}

void Frontend::set_vring_call(std::uint32_t index, int fd) {
    exchange(encode_vring_fd(Request::set_vring_call, index, fd));
}

void Frontend::set_vring_enable(std::uint32_t index, bool enable) {
    exchange(encode_vring_state(Request::set_vring_enable, index, enable ? 1 : 0));
}

} // namespace strata::vhost_user
