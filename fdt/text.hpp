// Number formats shared by the planner's messages and the `strata plan` table.
#pragma once

#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

namespace strata::fdt::text {

inline std::string hex(std::uint64_t v, int width = 0) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%0*" PRIx64, width, v);
    return buf;
}

// "3G", "512M", "64K" or a plain byte count: the forms --mem takes.
inline std::string size(std::uint64_t bytes) {
    constexpr std::array<std::pair<std::uint64_t, char>, 4> units{
        {{1ull << 40, 'T'}, {1ull << 30, 'G'}, {1ull << 20, 'M'}, {1ull << 10, 'K'}}};
    for (const auto &[unit, suffix] : units)
        if (bytes != 0 && bytes % unit == 0)
            return std::to_string(bytes / unit) + suffix;
    return std::to_string(bytes);
}

} // namespace strata::fdt::text
