// virtio console: a single port, no multiport, no size reporting.
//
// State: input bytes typed before the driver posted receive buffers (bounded).
// Missing features: VIRTIO_CONSOLE_F_SIZE, F_MULTIPORT, F_EMERG_WRITE.
// Spec: virtio 1.2 §5.3 (queue 0 receiveq, queue 1 transmitq).
#pragma once

#include "devices/virtio/device.hpp"

#include <deque>
#include <functional>

namespace strata::virtio {

class Console final : public Device {
public:
    using Output = std::function<void(std::span<const std::uint8_t>)>;
    explicit Console(Output output) : output_(std::move(output)) {}

    DeviceId id() const override { return DeviceId::console; }
    std::uint64_t features() const override { return 0; }
    std::size_t queues() const override { return 2; }
    void attached(Transport &transport) override { transport_ = &transport; }
    void notify(Transport &transport, std::size_t queue) override;

    // Console input (from the io_context; takes the transport's lock). Before
    // the device is attached there is no guest to give it to: dropped.
    void receive(std::span<const std::uint8_t> bytes);

private:
    void fill(Transport &transport);

    Output output_;
    Transport *transport_ = nullptr;
    std::deque<std::uint8_t> pending_; // typed input not yet delivered
};

} // namespace strata::virtio
