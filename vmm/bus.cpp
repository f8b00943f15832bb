// Range-keyed bus: an ordered map from base address to (size, device).
#include "vmm/bus.hpp"

#include <algorithm>

namespace strata {

const char *to_string(BusInsertError e) {
    switch (e) {
    case BusInsertError::none: return "no error";
    case BusInsertError::zero_length: return "the range is empty";
    case BusInsertError::overflow: return "the range wraps past the end of the address space";
    case BusInsertError::overlap: return "the range overlaps a device already registered";
    }
    return "unknown error";
}

BusInsertError Bus::insert(BusRange range, BusDevice &device) {
    if (range.size == 0)
        return BusInsertError::zero_length;
    const std::uint64_t last = range.base + (range.size - 1);
    if (last < range.base)
        return BusInsertError::overflow;
    // The first entry at or after base must start past our last byte, and the
    // entry before base must end before it.
    auto next = map_.lower_bound(range.base);
    if (next != map_.end() && next->first <= last)
        return BusInsertError::overlap;
    if (next != map_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + (prev->second.size - 1) >= range.base)
            return BusInsertError::overlap;
    }
    map_.emplace(range.base, Entry{range.size, &device});
    return BusInsertError::none;
}

Bus::Hit Bus::find(std::uint64_t addr, std::uint64_t len) const {
    auto it = map_.upper_bound(addr);
    if (it == map_.begin())
        return {};
    --it;
    const std::uint64_t offset = addr - it->first;
    if (offset >= it->second.size || len > it->second.size - offset)
        return {};
    return {it->second.device, offset};
}

bool Bus::read(std::uint64_t addr, std::span<std::uint8_t> data) const {
    auto hit = find(addr, data.size());
    if (!hit.device) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xff});
        return false;
    }
    hit.device->read(hit.offset, data);
    return true;
}

bool Bus::write(std::uint64_t addr, std::span<const std::uint8_t> data) const {
    auto hit = find(addr, data.size());
    if (!hit.device)
        return false;
    hit.device->write(hit.offset, data);
    return true;
}

} // namespace strata
