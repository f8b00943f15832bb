// virtio network device on a host tap interface. Frames move straight
// between the tap and the guest's buffers (readv/writev over guest memory);
// the tap carries the 12-byte virtio-net header itself (IFF_VNET_HDR), so
// nothing is copied through strata.
//
// Backpressure: strata waits for the tap to be readable only while the guest
// has receive buffers posted, and for it to be writable only while a frame
// is waiting to go out: neither side is ever polled in a loop.
//
// State: the tap, the receive chain waiting for a frame, the transmit chain
//   waiting for room.
// Missing features: checksum and segmentation offloads, MRG_RXBUF, MQ,
//   control queue, link status.
// Spec: virtio 1.2 §5.1 (receiveq 0, transmitq 1, struct virtio_net_hdr).
#pragma once

#include "devices/virtio/device.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <optional>
#include <string>

namespace strata::virtio {

struct NetSpec {
    std::string tap;
    std::array<std::uint8_t, 6> mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
};

class Net final : public Device {
public:
    // Attaches to (or creates) the tap; std::system_error when that is not possible.
    Net(boost::asio::io_context &io, const NetSpec &spec);

    DeviceId id() const override { return DeviceId::net; }
    std::uint64_t features() const override;
    std::size_t queues() const override { return 2; }
    std::span<const std::uint8_t> config() const override { return spec_.mac; }
    void activate(Transport &transport) override;
    void notify(Transport &transport, std::size_t queue) override;
    void reset() override;

private:
    void receive(Transport &transport);
    void transmit(Transport &transport);

    NetSpec spec_;
    boost::asio::posix::stream_descriptor tap_;
    std::optional<Chain> rx_; // posted buffer waiting for a frame
    std::optional<Chain> tx_; // frame waiting for room in the tap
    bool rx_waiting_ = false; // an async_wait(read) is outstanding
    bool tx_waiting_ = false; // an async_wait(write) is outstanding
};

} // namespace strata::virtio
