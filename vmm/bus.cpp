// Range-keyed bus: an ordered map from base address to (size, device).
#include "vmm/bus.hpp"

#include <algorithm>
#include <bit>

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

template <class Fn>
void Bus::for_each_piece(std::uint64_t addr, std::size_t len, Fn fn) const {
    for (std::size_t done = 0; done < len;) {
        const std::uint64_t at = addr + done;
        const std::size_t rest = len - done;
        if (at < addr) { // wrapped past the top of the address space: nothing is there
            fn(Hit{}, done, rest);
            return;
        }
        auto next = map_.upper_bound(at);
        Hit hit{};
        std::size_t piece = rest;
        if (next != map_.begin()) {
            auto holder = std::prev(next);
            const std::uint64_t offset = at - holder->first;
            if (offset < holder->second.size) {
                hit = {holder->second.device, offset};
                piece = std::bit_floor(std::min<std::uint64_t>(rest, holder->second.size - offset));
            }
        }
        if (!hit.device && next != map_.end())
            piece = std::min<std::uint64_t>(rest, next->first - at); // up to the next device
        fn(hit, done, piece);
        done += piece;
    }
}

bool Bus::read(std::uint64_t addr, std::span<std::uint8_t> data) const {
    if (straddle_ == Straddle::split) {
        bool claimed = false;
        for_each_piece(addr, data.size(), [&](Hit hit, std::size_t at, std::size_t len) {
            auto piece = data.subspan(at, len);
            if (!hit.device) {
                std::fill(piece.begin(), piece.end(), std::uint8_t{0xff});
                return;
            }
            hit.device->read(hit.offset, piece);
            claimed = true;
        });
        return claimed;
    }
    auto hit = find(addr, data.size());
    if (!hit.device) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xff});
        return false;
    }
    hit.device->read(hit.offset, data);
    return true;
}

bool Bus::write(std::uint64_t addr, std::span<const std::uint8_t> data) const {
    if (straddle_ == Straddle::split) {
        bool claimed = false;
        for_each_piece(addr, data.size(), [&](Hit hit, std::size_t at, std::size_t len) {
            if (!hit.device)
                return;
            hit.device->write(hit.offset, data.subspan(at, len));
            claimed = true;
        });
        return claimed;
    }
    auto hit = find(addr, data.size());
    if (!hit.device)
        return false;
    hit.device->write(hit.offset, data);
    return true;
}

} // namespace strata
