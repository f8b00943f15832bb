// virtio's little-endian integers (virtio 1.2 §1.4: le16, le32, le64), in the
// type: a field of guest memory declared le32 is converted by get() and the
// constructor, never read as a host integer by mistake. On a little-endian
// host (x86_64, arm64 as strata runs it) the conversion is the identity.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

namespace strata::virtio {

template <class T>
class Le {
    static_assert(std::is_unsigned_v<T>);

public:
    constexpr Le() = default;
    constexpr explicit Le(T host) : raw_(convert(host)) {}
    constexpr T get() const { return convert(raw_); }

private:
    static constexpr T convert(T v) {
        if constexpr (std::endian::native == std::endian::little || sizeof(T) == 1) {
            return v;
        } else {
            T out = 0;
            for (std::size_t i = 0; i < sizeof(T); ++i)
                out = static_cast<T>(out << 8 | ((v >> (8 * i)) & 0xff));
            return out;
        }
    }
    T raw_ = 0;
};

using le16 = Le<std::uint16_t>;
using le32 = Le<std::uint32_t>;
using le64 = Le<std::uint64_t>;
static_assert(sizeof(le16) == 2 && sizeof(le32) == 4 && sizeof(le64) == 8);
static_assert(std::is_trivially_copyable_v<le64>);

} // namespace strata::virtio
