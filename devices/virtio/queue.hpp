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
// indices are reduced modulo the size and checked, a chain is walked at most
// `size` links (an indirect table at most its own length), lengths are summed
// in 64 bits, and every buffer must lie inside guest RAM. Any violation is a
// fault: the transport then marks the device DEVICE_NEEDS_RESET.
#pragma once

#include "vmm/guest_memory.hpp"

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
};

struct Popped {
    enum class Kind : std::uint8_t { chain, empty, fault };
    Kind kind = Kind::empty;
    Chain chain;
    std::string fault; // for Kind::fault: what the guest did wrong
};

class Queue {
public:
    static constexpr std::uint16_t max_size = 32768;   // the split ring's limit (virtio 1.2 §2.7)
    static constexpr std::uint16_t default_size = 256; // QueueNumMax of strata's own devices

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

    // Back to the reset state (keeps nothing the driver wrote).
    void reset();

    std::uint16_t last_avail() const { return last_avail_; }

private:
    std::optional<std::string> walk(const GuestMemory &memory, std::uint16_t head, Chain &chain) const;

    std::uint16_t last_avail_ = 0;
    std::uint16_t next_used_ = 0;
};

// Copies between a chain's buffers and host bytes. The chain's buffers were
// checked when it was popped, so these cannot fail; they stop at the end of
// the chain and return how many bytes moved.
std::size_t read_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                       std::span<std::uint8_t> out);
std::size_t write_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                        std::span<const std::uint8_t> in);

} // namespace strata::virtio
