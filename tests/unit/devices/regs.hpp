// 32-bit register accesses on a bus device, as a driver makes them.
#pragma once

#include "vmm/bus.hpp"

#include <cstdint>

namespace strata::devices::test {

inline std::uint32_t rd(BusDevice &d, std::uint64_t off) {
    std::uint8_t b[4] = {0xaa, 0xaa, 0xaa, 0xaa};
    d.read(off, b);
    return static_cast<std::uint32_t>(b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24);
}

inline void wr(BusDevice &d, std::uint64_t off, std::uint32_t v) {
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                               static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
    d.write(off, b);
}

} // namespace strata::devices::test
