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
    void notify(Transport &transport, std::size_t queue) override;

    // Console input (from the io_context; takes the transport's lock).
    void receive(Transport &transport, std::span<const std::uint8_t> bytes);

private:
    void fill(Transport &transport);

    Output output_;
    std::deque<std::uint8_t> pending_; // typed input not yet delivered
};

} // namespace strata::virtio
