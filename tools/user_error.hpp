// A mistake in what the user asked for on the command line or in a config
// file. tools/ is the only layer that speaks to the user: strata.cpp prints
// what() as one sentence and exits 2. The layers below have their own errors
// (fdt::PlanError, LoadError, std::system_error), which the commands turn
// into this one where the user's input caused them.
//
// What the user typed or a file held is shown with quote_value(): a config file of
// random bytes must not reach the terminal as escape sequences, nor as a
// screenful. Every message goes out through printable() as a last guard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace strata::cli {

class UserError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// `text` with every byte that is not printable escaped (\n, \t, \e and \xNN
// for other control bytes, DEL, C1 controls and bytes that are not valid
// UTF-8; a backslash is doubled), cut after `limit` bytes of input with
// "... (N more bytes)".
inline std::string printable(std::string_view text, std::size_t limit = 400) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    auto escape = [&](std::uint8_t b) { out += {'\\', 'x', hex[b >> 4], hex[b & 15]}; };
    std::size_t i = 0;
    for (; i < text.size() && i < limit;) {
        const auto b = static_cast<std::uint8_t>(text[i]);
        if (b == '\\' || b == '\n' || b == '\t' || b == 0x1b) {
            out += b == '\\' ? "\\\\" : b == '\n' ? "\\n" : b == '\t' ? "\\t" : "\\e";
            ++i;
            continue;
        }
        if (b >= 0x20 && b < 0x7f) {
            out += static_cast<char>(b);
            ++i;
            continue;
        }
        // A UTF-8 sequence is kept whole when it is valid, shortest-form and
        // not a C1 control (U+0080..U+009F, which terminals obey).
        const std::size_t n = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
        bool valid = n != 0 && i + n <= text.size();
        for (std::size_t k = 1; valid && k < n; ++k)
            valid = (static_cast<std::uint8_t>(text[i + k]) & 0xc0) == 0x80;
        if (valid) {
            const auto b1 = static_cast<std::uint8_t>(text[i + 1]);
            valid = !(b == 0xc2 && b1 < 0xa0) && !(b == 0xe0 && b1 < 0xa0) && !(b == 0xed && b1 >= 0xa0) &&
                    !(b == 0xf0 && b1 < 0x90) && !(b == 0xf4 && b1 >= 0x90);
        }
        if (!valid) {
            escape(b);
            ++i;
            continue;
        }
        out.append(text.substr(i, n));
        i += n;
    }
    if (i < text.size())
        out += "... (" + std::to_string(text.size() - i) + " more bytes)";
    return out;
}

// A value from the user inside a message: 'value', made printable, cut at 120 bytes.
inline std::string quote_value(std::string_view value) { return "'" + printable(value, 120) + "'"; }

} // namespace strata::cli
