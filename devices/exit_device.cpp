// Guest-requested stops and the null port.
#include "devices/exit_device.hpp"

#include <algorithm>

namespace strata::devices {

void DebugExit::read(std::uint64_t, std::span<std::uint8_t> data) { std::fill(data.begin(), data.end(), 0); }

void DebugExit::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    if (offset == 0 && !data.empty())
        stop_((data[0] << 1) | 1);
}

void PowerOff::read(std::uint64_t, std::span<std::uint8_t> data) { std::fill(data.begin(), data.end(), 0); }

void PowerOff::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    constexpr unsigned slp_en = 0x2000, slp_typ_mask = 0x1c00;
    if (offset != 0 || data.size() < 2)
        return;
    const unsigned value = data[0] | (data[1] << 8);
    if ((value & slp_en) && (value & slp_typ_mask) == 0)
        stop_(0);
}

void NullDevice::read(std::uint64_t, std::span<std::uint8_t> data) { std::fill(data.begin(), data.end(), 0); }

} // namespace strata::devices
