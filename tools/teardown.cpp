// The holder process of DeferredTeardown (see teardown.hpp).
#include "tools/teardown.hpp"

#include "vmm/fd_passing.hpp"
#include "vmm/sandbox.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace strata::cli {

namespace {

// Holds every fd that arrives on `socket` until strata's end of it closes,
// then exits: the kernel closes what it held, and KVM frees the VM here.
[[noreturn]] void hold_until_strata_exits(int socket, bool sandboxed) {
    ::prctl(PR_SET_NAME, "strata-teardown");
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; ++fd)
        if (null >= 0)
            ::dup2(null, fd);
    // Nothing of strata's but the socket: no pipe or terminal stays open
    // past strata's exit because of this process.
    if (socket > 3)
        ::close_range(3, static_cast<unsigned>(socket) - 1, 0);
    ::close_range(static_cast<unsigned>(socket) + 1, ~0u, 0);
    if (sandboxed) {
        try {
            sandbox::compile(sandbox::Role::teardown).install();
        } catch (const std::exception &) {
            ::_exit(1); // strata's own close is then the last: it tears down itself
        }
    }
    std::vector<UniqueFd> held;
    for (;;) {
        std::uint8_t byte;
        const ssize_t n = receive_with_fds(socket, {&byte, 1}, held);
        if (n == 0 || (n < 0 && errno != EINTR))
            ::_exit(0); // strata has exited (or the socket broke): drop what is held
    }
}

} // namespace

DeferredTeardown::DeferredTeardown(bool sandboxed) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        spdlog::debug("teardown: no socket pair ({}); strata frees the VM itself", std::strerror(errno));
        return;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pair[0]);
        hold_until_strata_exits(pair[1], sandboxed);
    }
    ::close(pair[1]);
    if (pid < 0) {
        spdlog::debug("teardown: cannot fork the holder ({}); strata frees the VM itself", std::strerror(errno));
        ::close(pair[0]);
        return;
    }
    socket_ = UniqueFd(pair[0]);
}

void DeferredTeardown::hold(int vm_fd) {
    if (!socket_)
        return;
    const std::uint8_t byte = 0;
    if (send_with_fds(socket_.get(), {&byte, 1}, {&vm_fd, 1}) != 1)
        spdlog::debug("teardown: the holder did not take the VM ({}); strata frees it itself", std::strerror(errno));
}

} // namespace strata::cli
