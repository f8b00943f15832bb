// Text formats shared by the planner's messages, the `strata plan` table and
// the JSON that `strata plan` and `strata caps` print.
#pragma once

#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
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

// A JSON string literal: quotes, backslashes and control characters escaped.
inline std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + '"';
}

} // namespace strata::fdt::text
