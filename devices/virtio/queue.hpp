// Split virtqueue (virtio 1.2 §2.7), device side, over checked guest memory.
//
//   descriptor table (16-byte aligned)     avail ring (driver -> device)
//   +------+-----+-------+------+          +-------+-----+---------+------------+
//   | addr | len | flags | next | x size   | flags | idx | ring[n] | used_event |
//   +------+-----+-------+------+          +-------+-----+---------+------------+
//   used ring (device -> driver, 4-byte aligned)
//   +-------+-----+----------------------+-------------+
//   | flags | idx | {id, len}[size]      | avail_event |
//   +-------+-----+----------------------+-------------+
//
// Everything in these rings is written by the guest and is hostile (STYLE.md 3):
// indices are reduced modulo the size and checked, a chain holds at most
// `size` descriptors, counting those of its indirect table (virtio 1.2
// §2.7.5.3.1), lengths are summed in 64 bits, every buffer must lie inside
// guest RAM, and a head is in flight at most once. Any violation is a fault:
// the transport then marks the device DEVICE_NEEDS_RESET.
//
// Host memory is bounded by the queue, not by what the guest writes: at most
// `size` chains are in flight (one per head) holding at most
// held_buffers_per_entry * size buffers together; past that pop() leaves the
// avail ring alone until completions release buffers. Ring indices and flags
// are read and written with atomic accesses (the driver writes them
// concurrently); each descriptor is copied out of guest memory once.
#pragma once

#include "vmm/guest_memory.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strata::virtio {

struct Buffer {
    GuestAddress addr;
    std::uint32_t len = 0;
    bool writable = false;
};

// A descriptor chain taken from the avail ring; readable buffers come first.
struct Chain {
    std::uint16_t head = 0;
    std::vector<Buffer> buffers;
    std::uint64_t readable = 0; // total bytes the device may read
    std::uint64_t writable = 0; // total bytes the device may write
    std::uint32_t epoch = 0;    // the queue's epoch when it was popped (Queue::release)
};

struct Popped {
    // full: a chain is available but the queue holds as many buffers as it
    // may; it stays in the avail ring until release() makes room.
    enum class Kind : std::uint8_t { chain, empty, full, fault };
    Kind kind = Kind::empty;
    Chain chain;
    std::string fault; // for Kind::fault: what the guest did wrong
};

class Queue {
public:
    static constexpr std::uint16_t max_size = 32768;   // the split ring's limit (virtio 1.2 §2.7)
    static constexpr std::uint16_t default_size = 256; // QueueNumMax of strata's own devices
    static constexpr std::uint32_t held_buffers_per_entry = 4;

    // Driver-written configuration (through the transport).
    std::uint16_t size = default_size;
    std::uint64_t desc = 0, avail = 0, used = 0;
    bool ready = false;

    // Negotiated features that change the ring format.
    bool event_idx = false;
    bool indirect = false;

    // Why the configuration cannot be made ready, or nullopt when it can.
    std::optional<std::string> check(const GuestMemory &memory) const;

    Popped pop(const GuestMemory &memory);
    // Adds {head, len} to the used ring. Returns whether the driver asked for
    // an interrupt, or a fault text when the used ring is unreachable.
    struct Pushed {
        bool notify = false;
        std::optional<std::string> fault;
    };
    Pushed push(const GuestMemory &memory, std::uint16_t head, std::uint32_t len);

    // The device is done with a chain pop() gave out: false when the chain is
    // not in flight in this epoch (the queue was reset or disabled since), in
    // which case it must not be pushed.
    bool release(const Chain &chain);

    // Back to the reset state (keeps nothing the driver wrote). The epoch
    // moves on, so chains popped before are released as stale.
    void reset();

    std::uint16_t last_avail() const { return last_avail_; }
    std::uint32_t chains_held() const { return chains_held_; }
    std::uint32_t buffers_held() const { return buffers_held_; }

private:
    std::optional<std::string> walk(const GuestMemory &memory, std::uint16_t head, Chain &chain) const;

    std::uint16_t last_avail_ = 0;
    std::uint16_t next_used_ = 0;
    std::uint32_t epoch_ = 0;
    // Per head: 0 when not in flight, else 1 + the buffers its chain holds.
    std::vector<std::uint16_t> in_flight_;
    std::uint32_t chains_held_ = 0;
    std::uint32_t buffers_held_ = 0;
};

// Calls fn(std::span<std::byte>) for each piece of guest memory holding the
// chain's device-readable (or device-writable) bytes [offset, offset + len),
// in order; returns how many bytes the pieces hold. One pass over the chain.
// The chain's buffers were checked when it was popped.
template <class Fn>
std::uint64_t for_each_piece(const GuestMemory &memory, const Chain &chain, bool writable, std::uint64_t offset,
                             std::uint64_t len, Fn &&fn) {
    std::uint64_t done = 0;
    for (const auto &b : chain.buffers) {
        if (b.writable != writable)
            continue;
        if (done == len)
            break;
        if (offset >= b.len) {
            offset -= b.len;
            continue;
        }
        const std::uint64_t n = std::min<std::uint64_t>(b.len - offset, len - done);
        fn(memory.span(GuestAddress{b.addr.value + offset}, n).value());
        done += n;
        offset = 0;
    }
    return done;
}

// Copies between a chain's buffers and host bytes. The chain's buffers were
// checked when it was popped, so these cannot fail; they stop at the end of
// the chain and return how many bytes moved.
std::size_t read_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                       std::span<std::uint8_t> out);
std::size_t write_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                        std::span<const std::uint8_t> in);

} // namespace strata::virtio
