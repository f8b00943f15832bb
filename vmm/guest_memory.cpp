// memfd-backed guest RAM and its checked accessors.
#include "vmm/guest_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <stdexcept>

namespace strata {

namespace {
struct MemoryCategory : std::error_category {
    const char *name() const noexcept override { return "guest-memory"; }
    std::string message(int) const override { return "range is not inside guest RAM"; }
};
} // namespace

std::error_code make_error_code(MemoryError e) noexcept {
    static const MemoryCategory category;
    return {static_cast<int>(e), category};
}

MemoryRegion::MemoryRegion(std::string name, GuestAddress base, std::uint64_t size)
    : name_(std::move(name)), base_(base) {
    std::string what = "guest RAM '" + name_ + "'";
    fd_ = UniqueFd(::memfd_create(name_.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd_)
        throw_errno("memfd_create", what);
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) < 0)
        throw_errno("ftruncate", what);
    // Its size is fixed: a process this memfd is shared with (a vhost-user
    // backend) may rely on it never shrinking under its mapping.
    if (::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
        throw_errno("F_ADD_SEALS", what);
    map_ = Mapping(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_.get(), 0, what);
    // Guest RAM is big and untouched at first: keep it out of core dumps.
    ::madvise(map_.get(), size, MADV_DONTDUMP);
}

MemoryRegion::MemoryRegion(std::string name, GuestAddress base, std::uint64_t size, UniqueFd fd, std::uint64_t offset)
    : name_(std::move(name)), base_(base), fd_(std::move(fd)) {
    map_ = Mapping(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_.get(), static_cast<off_t>(offset),
                   "guest RAM '" + name_ + "'");
}

namespace {
void check_new_region(const std::vector<MemoryRegion> &regions, const std::string &name, GuestAddress base,
                      std::uint64_t size) {
    if (size == 0 || size - 1 > UINT64_MAX - base.value)
        throw std::invalid_argument("guest RAM region '" + name + "' is empty or wraps");
    for (const auto &r : regions)
        if (base.value <= r.base().value + (r.size() - 1) && r.base().value <= base.value + (size - 1))
            throw std::invalid_argument("guest RAM region '" + name + "' overlaps '" + r.name() + "'");
}
} // namespace

const MemoryRegion &GuestMemory::add(std::string name, GuestAddress base, std::uint64_t size) {
    check_new_region(regions_, name, base, size);
    return insert(MemoryRegion(std::move(name), base, size));
}

const MemoryRegion &GuestMemory::add_shared(std::string name, GuestAddress base, std::uint64_t size, UniqueFd fd,
                                            std::uint64_t offset) {
    check_new_region(regions_, name, base, size);
    return insert(MemoryRegion(std::move(name), base, size, std::move(fd), offset));
}

const MemoryRegion &GuestMemory::insert(MemoryRegion region) {
    const GuestAddress base = region.base();
    regions_.push_back(std::move(region));
    std::sort(regions_.begin(), regions_.end(),
              [](const MemoryRegion &a, const MemoryRegion &b) { return a.base() < b.base(); });
    return *std::find_if(regions_.begin(), regions_.end(), [&](const MemoryRegion &r) { return r.base() == base; });
}

boost::system::result<std::span<std::byte>> GuestMemory::span(GuestAddress addr, std::uint64_t len) const {
    for (const auto &r : regions_)
        if (r.contains(addr, len))
            return std::span<std::byte>(r.host() + (addr.value - r.base().value), len);
    return std::error_code(MemoryError::out_of_range);
}

boost::system::result<void> GuestMemory::write(GuestAddress addr, std::span<const std::byte> data) const {
    auto s = span(addr, data.size());
    if (!s)
        return s.error();
    std::memcpy(s->data(), data.data(), data.size());
    return {};
}

} // namespace strata
