// Guest RAM: memfd-backed shared mappings (so a vhost-user backend can map the
// same pages later), reached only through checked accessors (STYLE.md 2).
// A range is valid only when it lies wholly inside one region; every check is
// written so that base + length cannot overflow.
#pragma once

#include "vmm/fd.hpp"

#include <boost/system/result.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace strata {

struct GuestAddress {
    std::uint64_t value = 0;
    constexpr GuestAddress() = default;
    constexpr explicit GuestAddress(std::uint64_t v) : value(v) {}
    auto operator<=>(const GuestAddress &) const = default;
};

enum class MemoryError : std::uint8_t { out_of_range };
std::error_code make_error_code(MemoryError) noexcept;

class MemoryRegion {
public:
    // A new memfd of `size` bytes.
    MemoryRegion(std::string name, GuestAddress base, std::uint64_t size);
    // `size` bytes of someone else's memory file from `offset` (a vhost-user
    // backend maps the frontend's memfds this way).
    MemoryRegion(std::string name, GuestAddress base, std::uint64_t size, UniqueFd fd, std::uint64_t offset);

    const std::string &name() const { return name_; }
    GuestAddress base() const { return base_; }
    std::uint64_t size() const { return map_.size(); }
    int fd() const { return fd_.get(); }
    std::byte *host() const { return map_.bytes(); }
    bool contains(GuestAddress addr, std::uint64_t len) const {
        return addr.value >= base_.value && addr.value - base_.value <= size() &&
               len <= size() - (addr.value - base_.value);
    }

private:
    std::string name_;
    GuestAddress base_;
    UniqueFd fd_;
    Mapping map_;
};

class GuestMemory {
public:
    // Regions must not overlap; they are kept sorted by base. The reference
    // stays valid until the next add().
    const MemoryRegion &add(std::string name, GuestAddress base, std::uint64_t size);
    // A region mapped from an existing file (see MemoryRegion).
    const MemoryRegion &add_shared(std::string name, GuestAddress base, std::uint64_t size, UniqueFd fd,
                                   std::uint64_t offset);
    void clear() { regions_.clear(); }
    const std::vector<MemoryRegion> &regions() const { return regions_; }

    // The host bytes of [addr, addr+len), or an error if not inside one region.
    boost::system::result<std::span<std::byte>> span(GuestAddress addr, std::uint64_t len) const;

    template <class T>
    boost::system::result<T> read_obj(GuestAddress addr) const {
        static_assert(std::is_trivially_copyable_v<T>);
        auto s = span(addr, sizeof(T));
        if (!s)
            return s.error();
        T v;
        std::memcpy(&v, s->data(), sizeof(T));
        return v;
    }
    template <class T>
    boost::system::result<void> write_obj(GuestAddress addr, const T &v) const {
        static_assert(std::is_trivially_copyable_v<T>);
        auto s = span(addr, sizeof(T));
        if (!s)
            return s.error();
        std::memcpy(s->data(), &v, sizeof(T));
        return {};
    }
    boost::system::result<void> write(GuestAddress addr, std::span<const std::byte> data) const;

private:
    const MemoryRegion &insert(MemoryRegion region);
    std::vector<MemoryRegion> regions_;
};

} // namespace strata

template <>
struct std::is_error_code_enum<strata::MemoryError> : std::true_type {};
