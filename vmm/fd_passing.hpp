// Passing descriptors over a Unix socket (SCM_RIGHTS) both ways, for
// vhost-user and the teardown holder, and for the tests and fuzz targets that
// speak to them.
#pragma once

#include "vmm/fd.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace strata {

inline constexpr std::size_t max_passed_fds = 16;

// One sendmsg of `bytes` (at least one) with `fds` attached to its first
// byte. Returns what sendmsg returns (more than max_passed_fds: -1, EINVAL).
inline ssize_t send_with_fds(int socket, std::span<const std::uint8_t> bytes, std::span<const int> fds,
                             int flags = MSG_NOSIGNAL) {
    if (fds.size() > max_passed_fds) {
        errno = EINVAL;
        return -1;
    }
    iovec iov{const_cast<std::uint8_t *>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_passed_fds)> control{};
    if (!fds.empty()) {
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    return ::sendmsg(socket, &msg, flags);
}

// One recvmsg into `bytes` (flags | MSG_CMSG_CLOEXEC). The fds that came
// along are appended to `fds`, owned there; more than max_passed_fds set
// `*truncated` (the kernel closed the rest). Returns what recvmsg returns.
inline ssize_t receive_with_fds(int socket, std::span<std::uint8_t> bytes, std::vector<UniqueFd> &fds, int flags = 0,
                                bool *truncated = nullptr) {
    iovec iov{bytes.data(), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * max_passed_fds)> control{};
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(socket, &msg, flags | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return n;
    for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                fds.emplace_back(fd);
            }
    if (truncated)
        *truncated = msg.msg_flags & MSG_CTRUNC;
    return n;
}

} // namespace strata
