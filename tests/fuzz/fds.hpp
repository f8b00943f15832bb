// Helpers the socket-driven targets share: fds passed with SCM_RIGHTS, and a
// check that no iteration leaks fds (the number open, counted in
// /proc/self/fd, must not grow from run to run).
#pragma once

#include "vmm/fd.hpp"
#include "vmm/fd_passing.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

namespace strata::fuzz {

// Sends `bytes` (at least one) on a stream socket with `fds` attached.
// Returns whether the socket took all of them.
inline bool send_with_fds(int socket, std::span<const std::uint8_t> bytes, std::span<const int> fds) {
    return strata::send_with_fds(socket, bytes, fds, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(bytes.size());
}

class FdLeakCheck {
public:
    // Call once per iteration, after everything the iteration opened is closed.
    void check() {
        const int open_fds = count();
        if (baseline_ < 0)
            baseline_ = open_fds;
        if (open_fds > baseline_ + 16) {
            std::fprintf(stderr, "fd leak: %d fds open, %d after the first run\n", open_fds, baseline_);
            std::abort();
        }
    }

private:
    static int count() {
        DIR *dir = ::opendir("/proc/self/fd");
        if (!dir)
            std::abort();
        int n = 0;
        while (::readdir(dir))
            ++n;
        ::closedir(dir);
        return n;
    }
    int baseline_ = -1;
};

} // namespace strata::fuzz
