// One range-keyed bus per address space (MMIO, x86 port I/O), STYLE.md 1.
// Registration happens while the VM is built; after that the map is only read,
// so vCPU threads look devices up without a lock. Devices see offsets from the
// start of their range, never guest addresses, and guard their own state.
//
// Access widths. On the MMIO bus an access goes to one device whole or to
// none: an access running past the end of a device's window is unclaimed
// (devices there are register tables with their own width rules). The port
// bus splits an access at range boundaries instead, as an ISA bus cuts a wide
// cycle into byte cycles and as QEMU's memory core clamps an access to the
// region it starts in: a device registered with a width gets the part of a
// wider access that falls in its range (in power-of-two pieces, as QEMU
// issues them), and the rest goes on to the next ports. So `outl` to the
// 1-byte debug-exit port 0xf4 hands the device its low byte, the bytes at
// 0xf5..0xf7 go to whatever is there, and unclaimed bytes read as all ones.
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
    // What becomes of an access that runs past the end of the range holding
    // its first byte (see the top of the file).
    enum class Straddle : std::uint8_t { unclaimed, split };

    explicit Bus(std::string name, Straddle straddle = Straddle::unclaimed)
        : name_(std::move(name)), straddle_(straddle) {}

    [[nodiscard]] BusInsertError insert(BusRange range, BusDevice &device);

    struct Hit {
        BusDevice *device = nullptr;
        std::uint64_t offset = 0;
    };
    // The device whose range holds [addr, addr+len) entirely, or {nullptr, 0}.
    Hit find(std::uint64_t addr, std::uint64_t len = 1) const;

    // Dispatch an access; returns false when no device gets any byte of it.
    // Bytes no device gets read as all ones; written, they are dropped.
    bool read(std::uint64_t addr, std::span<std::uint8_t> data) const;
    bool write(std::uint64_t addr, std::span<const std::uint8_t> data) const;

    const std::string &name() const { return name_; }

private:
    struct Entry {
        std::uint64_t size;
        BusDevice *device;
    };
    // Calls fn(hit, piece offset, piece length) for each piece of the access
    // [addr, addr + len) under the split rule; hit.device is null for a piece
    // no device holds.
    template <class Fn>
    void for_each_piece(std::uint64_t addr, std::size_t len, Fn fn) const;

    std::string name_;
    Straddle straddle_;
    std::map<std::uint64_t, Entry> map_; // keyed by base
};

} // namespace strata
