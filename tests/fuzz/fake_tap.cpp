// The fake tap (see fake_tap.hpp): the --wrap'ed calls.
#include "tests/fuzz/fake_tap.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <string_view>

extern "C" {
int __real_open(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);
int __real_ioctl(int fd, unsigned long request, ...);
ssize_t __real_readv(int fd, const iovec *iov, int count);
ssize_t __real_writev(int fd, const iovec *iov, int count);
}

namespace strata::fuzz::tap {
namespace {
int tap_fd = -1;
std::deque<std::vector<std::uint8_t>> frames;
unsigned refusals = 0;
std::uint64_t sent = 0;

void drain_counter() {
    std::uint64_t count;
    (void)!::read(tap_fd, &count, sizeof count);
}
} // namespace

int fd() { return tap_fd; }

void push_frame(std::vector<std::uint8_t> frame) {
    frames.push_back(std::move(frame));
    wake();
}

void wake() {
    const std::uint64_t one = 1;
    if (tap_fd >= 0)
        (void)!::write(tap_fd, &one, sizeof one);
}

void refuse_writes(unsigned count) { refusals = count; }

void forget() {
    frames.clear();
    refusals = 0;
    tap_fd = -1;
}

std::uint64_t frames_sent() { return sent; }

} // namespace strata::fuzz::tap

using namespace strata::fuzz;

namespace {
// Opening /dev/net/tun yields the fake; `real` opens anything else.
template <class Real>
int open_or_fake(const char *path, int flags, va_list args, Real real) {
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        mode = va_arg(args, mode_t);
    if (std::string_view(path) != "/dev/net/tun")
        return real(path, flags, mode);
    tap::forget();
    tap::tap_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return tap::tap_fd;
}
} // namespace

// With -D_FILE_OFFSET_BITS=64 (meson's default) <fcntl.h> names open64;
// both are wrapped, so the real tun is never opened.
extern "C" int __wrap_open(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const int fd = open_or_fake(path, flags, args, __real_open);
    va_end(args);
    return fd;
}

extern "C" int __wrap_open64(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    const int fd = open_or_fake(path, flags, args, __real_open64);
    va_end(args);
    return fd;
}

extern "C" int __wrap_ioctl(int fd, unsigned long request, ...) {
    va_list args;
    va_start(args, request);
    void *arg = va_arg(args, void *);
    va_end(args);
    if (fd >= 0 && fd == tap::tap_fd &&
        (request == TUNSETIFF || request == TUNSETVNETHDRSZ || request == TUNSETOFFLOAD))
        return 0;
    return __real_ioctl(fd, request, arg);
}

extern "C" ssize_t __wrap_readv(int fd, const iovec *iov, int count) {
    if (fd < 0 || fd != tap::tap_fd)
        return __real_readv(fd, iov, count);
    if (tap::frames.empty()) {
        tap::drain_counter();
        errno = EAGAIN;
        return -1;
    }
    const auto frame = std::move(tap::frames.front());
    tap::frames.pop_front();
    std::size_t at = 0;
    for (int i = 0; i < count && at < frame.size(); ++i) {
        const std::size_t n = std::min(iov[i].iov_len, frame.size() - at);
        std::memcpy(iov[i].iov_base, frame.data() + at, n);
        at += n;
    }
    return static_cast<ssize_t>(frame.size());
}

extern "C" ssize_t __wrap_writev(int fd, const iovec *iov, int count) {
    if (fd < 0 || fd != tap::tap_fd)
        return __real_writev(fd, iov, count);
    if (tap::refusals > 0) {
        --tap::refusals;
        errno = EAGAIN;
        return -1;
    }
    std::size_t total = 0;
    for (int i = 0; i < count; ++i)
        total += iov[i].iov_len;
    ++tap::sent;
    return static_cast<ssize_t>(total);
}
