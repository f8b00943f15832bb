// What Arm PrimeCell peripherals (PL011, PL031) share: 32-bit registers, of
// which narrower accesses see the low bytes, and the identification registers
// at 0xfe0..0xffc (four peripheral ID bytes, then the cell ID the amba bus checks).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>

namespace strata::devices::primecell {

using PeriphId = std::array<std::uint8_t, 4>;

inline bool is_id(std::uint64_t offset) { return offset >= 0xfe0 && offset < 0x1000; }

inline std::uint32_t id(std::uint64_t offset, const PeriphId &periph) {
    constexpr std::uint8_t cell[4] = {0x0d, 0xf0, 0x05, 0xb1};
    const std::size_t i = (offset - 0xfe0) / 4;
    return i < 4 ? periph[i] : cell[i - 4];
}

inline void put32(std::span<std::uint8_t> data, std::uint32_t v) {
    std::fill(data.begin(), data.end(), 0);
    std::memcpy(data.data(), &v, std::min<std::size_t>(data.size(), 4));
}

inline std::uint32_t get32(std::span<const std::uint8_t> data) {
    std::uint32_t v = 0;
    std::memcpy(&v, data.data(), std::min<std::size_t>(data.size(), 4));
    return v;
}

} // namespace strata::devices::primecell
