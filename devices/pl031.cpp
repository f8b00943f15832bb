// PL031 RTC register model.
#include "devices/pl031.hpp"

#include "devices/primecell.hpp"

#include <ctime>

namespace strata::devices {

namespace {
constexpr primecell::PeriphId pl031_id{0x31, 0x10, 0x04, 0x00}; // PL031 r0
} // namespace

void Pl031::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    std::uint32_t v = 0;
    if (primecell::is_id(offset))
        v = primecell::id(offset, pl031_id);
    else if (offset == 0x000) // RTCDR
        v = static_cast<std::uint32_t>(std::time(nullptr) + offset_);
    else if (offset == 0x004) // RTCMR
        v = match_;
    else if (offset == 0x00c) // RTCCR: always enabled
        v = 1;
    else if (offset == 0x010) // RTCIMSC
        v = imsc_;
    primecell::put32(data, v);
}

void Pl031::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    const std::uint32_t v = primecell::get32(data);
    if (offset == 0x004)
        match_ = v;
    else if (offset == 0x008) // RTCLR: set the clock
        offset_ = static_cast<std::int64_t>(v) - static_cast<std::int64_t>(std::time(nullptr));
    else if (offset == 0x010)
        imsc_ = v & 1;
}

} // namespace strata::devices
