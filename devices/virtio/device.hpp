// What a virtio device type implements (virtio 1.2 §5): its ID, feature
// bits, config space and the work of its queues. The transport (mmio.hpp)
// does everything else: registers, feature negotiation, status, queue set-up,
// interrupts and DEVICE_NEEDS_RESET.
//
// Threading: every call below is made with the transport's lock held, on the
// io_context thread (queue work, completions) or a vCPU thread (config space,
// reset). Devices that complete work later (block I/O) re-enter through
// Transport::run_locked from the io_context.
#pragma once

#include "devices/virtio/queue.hpp"

#include <cstdint>
#include <span>

namespace strata::virtio {

inline constexpr std::uint64_t f_indirect_desc = 1ull << 28;
inline constexpr std::uint64_t f_event_idx = 1ull << 29;
inline constexpr std::uint64_t f_version_1 = 1ull << 32;

enum class DeviceId : std::uint32_t { net = 1, block = 2, console = 3, rng = 4 };

class Transport;

class Device {
public:
    virtual ~Device() = default;
    virtual DeviceId id() const = 0;
    virtual std::uint64_t features() const = 0; // device-type bits; the transport adds the ring bits
    virtual std::size_t queues() const = 0;
    virtual std::span<const std::uint8_t> config() const { return {}; }

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
