// The device API: what a virtio device implements to run under strata
// (virtio 1.2 §5). Write a class derived from Device, register a DeviceType
// for it (registry.hpp), and `strata run --device NAME,...` runs it; the
// README's "Writing a device" walks through a complete one.
//
// The device supplies: its type ID (§5: 1 net, 2 block, 3 console, 4 entropy,
// 26 fs, or any other number for a device of your own), its feature bits
// (bits 0-23 and device-specific ones; the transport adds VERSION_1 and the
// ring features), its number of queues, its config space, and the work of
// its queues. The transport (mmio.hpp) does everything else: the virtio-mmio
// registers, feature negotiation, the status machine, queue set-up and
// checks, interrupts, and DEVICE_NEEDS_RESET when the driver breaks a rule.
//
// Guest memory: only through Transport::memory() (a checked GuestMemory:
// spans are bounds-checked per access) and the chains Transport::pop() hands
// out, whose buffers were checked to lie in guest RAM. Copy with
// read_chain()/write_chain() (queue.hpp). Never keep a raw pointer into guest
// RAM past the call that produced it: the guest may move its rings at any
// reset.
//
// Threads and locking: every virtual below is called with the transport's
// lock held, on the io_context thread (notify, activate: queue work) or on a
// vCPU thread (reset, config reads). Never block in them. Work that finishes
// later (file I/O on io_uring, a socket) completes on the io_context thread
// and re-enters with Transport::run_locked(), then calls complete(); it first
// compares Transport::generation() with the value it started under, because a
// reset in between means the driver no longer owns that chain's buffers.
// Input from outside (a console, a socket) also goes through run_locked().
#pragma once

#include "devices/virtio/queue.hpp"

#include <cstdint>
#include <span>

namespace strata::virtio {

inline constexpr std::uint64_t f_indirect_desc = 1ull << 28;
inline constexpr std::uint64_t f_event_idx = 1ull << 29;
inline constexpr std::uint64_t f_version_1 = 1ull << 32;

// The virtio device type (§5). Any value may be used: DeviceId{0x7e57}.
enum class DeviceId : std::uint32_t { net = 1, block = 2, console = 3, rng = 4, fs = 26 };

class Transport;

class Device {
public:
    virtual ~Device() = default;
    virtual DeviceId id() const = 0;
    virtual std::uint64_t features() const = 0; // device-type bits; the transport adds the ring bits
    virtual std::size_t queues() const = 0;
    virtual std::span<const std::uint8_t> config() const { return {}; } // read-only config space
    // The queues are processed outside strata (a vhost-user backend): the
    // transport then offers only the ring features (INDIRECT_DESC, EVENT_IDX)
    // that features() includes, never pops a chain, and leaves notify() to
    // forward the kick; the device raises used-buffer interrupts itself
    // (Transport::used_buffer_interrupt).
    virtual bool external_rings() const { return false; }
    // QueueNumMax: a power of two, at most Queue::max_size.
    virtual std::uint16_t max_queue_size() const { return Queue::default_size; }

    // The transport this device sits behind, once, when the slot is wired
    // (before the guest runs; no lock). Keep it to deliver outside input.
    virtual void attached(Transport &) {}
    // The driver set DRIVER_OK: work may start (e.g. begin reading a tap).
    virtual void activate(Transport &) {}
    // The driver made buffers available on `queue`.
    virtual void notify(Transport &transport, std::size_t queue) = 0;
    // The device is reset: drop every chain held, cancel what can be.
    virtual void reset() {}
    // Work still touching guest memory (I/O in flight). Until it is done the
    // transport keeps Status non-zero after a reset, so the driver (which
    // waits for Status to read 0, §4.2.3.1) does not reuse its buffers early.
    virtual bool busy() const { return false; }
};

} // namespace strata::virtio
