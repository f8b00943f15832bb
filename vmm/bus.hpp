// One range-keyed bus per address space (MMIO, x86 port I/O), STYLE.md 1.
// Registration happens while the VM is built; after that the map is only read,
// so vCPU threads look devices up without a lock. Devices see offsets from the
// start of their range, never guest addresses, and guard their own state.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

namespace strata {

class BusDevice {
public:
    virtual ~BusDevice() = default;
    // `data` is the access (1, 2, 4 or 8 bytes, little-endian as the guest sees it).
    virtual void read(std::uint64_t offset, std::span<std::uint8_t> data) = 0;
    virtual void write(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;
};

struct BusRange {
    std::uint64_t base = 0;
    std::uint64_t size = 0;
};

enum class BusInsertError : std::uint8_t { none, zero_length, overflow, overlap };
const char *to_string(BusInsertError);

class Bus {
public:
    explicit Bus(std::string name) : name_(std::move(name)) {}

    [[nodiscard]] BusInsertError insert(BusRange range, BusDevice &device);

    struct Hit {
        BusDevice *device = nullptr;
        std::uint64_t offset = 0;
    };
    // The device whose range holds [addr, addr+len) entirely, or {nullptr, 0}.
    Hit find(std::uint64_t addr, std::uint64_t len = 1) const;

    // Dispatch an access; returns false when no device claims it (reads then see all ones).
    bool read(std::uint64_t addr, std::span<std::uint8_t> data) const;
    bool write(std::uint64_t addr, std::span<const std::uint8_t> data) const;

    const std::string &name() const { return name_; }

private:
    struct Entry {
        std::uint64_t size;
        BusDevice *device;
    };
    std::string name_;
    std::map<std::uint64_t, Entry> map_; // keyed by base
};

} // namespace strata
