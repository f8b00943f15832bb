// Move-only owners for kernel resources (STYLE.md 6): a file descriptor and an
// mmap'ed range. Each is wrapped the moment the syscall returns it.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <system_error>
#include <utility>

namespace strata {

// Throws std::system_error for a failed host call: "<call> on <object>: <errno text>".
[[noreturn]] inline void throw_errno(const std::string &call, const std::string &object, int err = errno) {
    throw std::system_error(err, std::generic_category(), call + " on " + object);
}

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    UniqueFd &operator=(UniqueFd &&o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

class Mapping {
public:
    Mapping() = default;
    // mmap(nullptr, size, prot, flags, fd, offset); throws naming `what`.
    Mapping(std::size_t size, int prot, int flags, int fd, off_t offset, const std::string &what) : size_(size) {
        void *p = ::mmap(nullptr, size, prot, flags, fd, offset);
        if (p == MAP_FAILED)
            throw_errno("mmap", what);
        addr_ = p;
    }
    Mapping(Mapping &&o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Mapping &operator=(Mapping &&o) noexcept {
        if (this != &o) {
            reset();
            addr_ = std::exchange(o.addr_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    Mapping(const Mapping &) = delete;
    Mapping &operator=(const Mapping &) = delete;
    ~Mapping() { reset(); }

    void *get() const { return addr_; }
    std::byte *bytes() const { return static_cast<std::byte *>(addr_); }
    std::size_t size() const { return size_; }

private:
    void reset() {
        if (addr_)
            ::munmap(addr_, size_);
        addr_ = nullptr;
        size_ = 0;
    }
    void *addr_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace strata
