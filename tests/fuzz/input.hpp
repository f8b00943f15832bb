// The fuzz input, consumed front to back: fixed-size values, byte runs and
// the rest. Past the end every read yields zeros (and `empty()` turns true),
// so a harness never needs a length check of its own and a short input is
// simply a run with fewer steps.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

namespace strata::fuzz {

class Input {
public:
    Input(const std::uint8_t *data, std::size_t size) : bytes_(data, size) {}

    bool empty() const { return at_ >= bytes_.size(); }
    std::size_t left() const { return bytes_.size() - at_; }

    template <class T>
    T take() {
        static_assert(std::is_trivially_copyable_v<T>);
        T v{};
        const std::size_t n = std::min(sizeof(T), left());
        if (n)
            std::memcpy(&v, bytes_.data() + at_, n);
        at_ += n;
        return v;
    }
    bool flag() { return take<std::uint8_t>() & 1; }
    // A value in [0, n) (n > 0), from one byte when n fits in one.
    std::uint32_t below(std::uint32_t n) { return n <= 256 ? take<std::uint8_t>() % n : take<std::uint32_t>() % n; }
    // Up to `most` bytes (fewer at the end of the input).
    std::span<const std::uint8_t> bytes(std::size_t most) {
        const std::size_t n = std::min(most, left());
        auto s = bytes_.subspan(at_, n);
        at_ += n;
        return s;
    }
    std::span<const std::uint8_t> rest() { return bytes(left()); }

private:
    std::span<const std::uint8_t> bytes_;
    std::size_t at_ = 0;
};

inline std::string text(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char *>(bytes.data()), bytes.size()};
}

} // namespace strata::fuzz
