// virtio entropy device.
//
// State: none beyond the transport's queue.
// Missing features: none (the device type has no feature bits or config).
// Spec: virtio 1.2 §5.4.
#pragma once

#include "devices/virtio/device.hpp"

namespace strata::virtio {

class Rng final : public Device {
public:
    DeviceId id() const override { return DeviceId::rng; }
    std::uint64_t features() const override { return 0; }
    std::size_t queues() const override { return 1; }
    void notify(Transport &transport, std::size_t queue) override;
};

} // namespace strata::virtio
