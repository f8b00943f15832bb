// Arm PrimeCell real-time clock (PL031), the RTC of arm64 guests.
//
// State: the offset between the host clock and what the guest loaded, the
//   match register and the interrupt mask.
// Missing features: the match interrupt never fires.
// Spec: PrimeCell Real Time Clock (PL031) Technical Reference Manual, §3.
#pragma once

#include "vmm/bus.hpp"

#include <cstdint>
#include <mutex>

namespace strata::devices {

class Pl031 final : public BusDevice {
public:
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

private:
    std::mutex mutex_;
    std::int64_t offset_ = 0; // guest seconds minus host seconds
    std::uint32_t match_ = 0, imsc_ = 0;
};

} // namespace strata::devices
