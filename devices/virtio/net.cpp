// virtio-net over a tap: receive and transmit paths.
#include "devices/virtio/net.hpp"

#include "devices/virtio/le.hpp"
#include "devices/virtio/mmio.hpp"
#include "vmm/fd.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <vector>

namespace strata::virtio {

namespace {

constexpr std::size_t receiveq = 0, transmitq = 1;
constexpr std::uint64_t f_mac = 1ull << 5;
constexpr int vnet_hdr_size = 12; // struct virtio_net_hdr_v1
constexpr std::size_t num_buffers_offset = 10;

// The chain's device-readable or -writable bytes from `skip` on, as iovecs.
std::vector<iovec> iovecs(const GuestMemory &memory, const Chain &chain, bool writable, std::uint64_t skip = 0) {
    std::vector<iovec> v;
    for_each_piece(memory, chain, writable, skip, UINT64_MAX, [&](std::span<std::byte> piece) {
        v.push_back({piece.data(), piece.size()});
    });
    return v;
}

// The header of every frame strata gives the tap: no offload was offered, so
// whatever the guest wrote in its header (checksum or GSO requests the tap
// would act on) is replaced by "nothing to do" (virtio 1.2 §5.1.6.2).
constexpr std::array<std::uint8_t, vnet_hdr_size> plain_header{};

} // namespace

Net::Net(boost::asio::io_context &io, const NetSpec &spec) : spec_(spec), tap_(io) {
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd)
        throw_errno("open /dev/net/tun", "tap " + spec.tap);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, spec.tap.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0)
        throw std::system_error(errno, std::system_category(),
                                "cannot attach to tap '" + spec.tap + "' (create it with `ip tuntap add " + spec.tap +
                                    " mode tap` or run as root)");
    int hdr = vnet_hdr_size;
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) < 0 || ::ioctl(fd.get(), TUNSETOFFLOAD, 0) < 0)
        throw_errno("TUNSETVNETHDRSZ/TUNSETOFFLOAD", "tap " + spec.tap);
    tap_.assign(fd.release());
}

std::uint64_t Net::features() const { return f_mac; }

void Net::activate(Transport &transport) {
    receive(transport);
    transmit(transport);
}

void Net::notify(Transport &transport, std::size_t queue) {
    if (queue == receiveq)
        receive(transport);
    else if (queue == transmitq)
        transmit(transport);
}

void Net::reset() {
    rx_.reset();
    tx_.reset();
    // Outstanding waits complete later and find nothing to do (or a new
    // generation's chains): they only ever re-enter through receive/transmit.
}

void Net::receive(Transport &transport) {
    while (true) {
        if (!rx_) {
            rx_ = transport.pop(receiveq);
            if (!rx_)
                return; // no buffers: stop reading the tap until the guest posts some
        }
        if (rx_->writable < vnet_hdr_size + 14u) {
            transport.needs_reset("a receive buffer too small for a frame header");
            rx_.reset();
            return;
        }
        const auto iov = iovecs(transport.memory(), *rx_, true);
        const ssize_t n = ::readv(tap_.native_handle(), iov.data(), static_cast<int>(iov.size()));
        if (n < 0) {
            if (errno == EAGAIN && !rx_waiting_) {
                rx_waiting_ = true;
                tap_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, &transport](auto ec) {
                    transport.run_locked([&] {
                        rx_waiting_ = false;
                        if (!ec)
                            receive(transport);
                    });
                });
            }
            return;
        }
        // Without MRG_RXBUF every frame takes one chain: num_buffers = 1.
        const le16 one{1};
        write_chain(transport.memory(), *rx_, num_buffers_offset, {reinterpret_cast<const std::uint8_t *>(&one), 2});
        // A tap reports a frame's whole length even when the buffers cut it short.
        const auto written = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, rx_->writable));
        const Chain chain = std::move(*rx_);
        rx_.reset();
        transport.complete(receiveq, chain, written);
    }
}

void Net::transmit(Transport &transport) {
    while (true) {
        if (!tx_) {
            tx_ = transport.pop(transmitq);
            if (!tx_)
                return;
        }
        auto iov = iovecs(transport.memory(), *tx_, false, vnet_hdr_size);
        iov.insert(iov.begin(), {const_cast<std::uint8_t *>(plain_header.data()), plain_header.size()});
        // A frame without a whole header is dropped, as a NIC would.
        const ssize_t n = tx_->readable < vnet_hdr_size
                              ? 0
                              : ::writev(tap_.native_handle(), iov.data(), static_cast<int>(iov.size()));
        if (n < 0 && errno == EAGAIN) {
            if (!tx_waiting_) {
                tx_waiting_ = true;
                tap_.async_wait(boost::asio::posix::stream_descriptor::wait_write, [this, &transport](auto ec) {
                    transport.run_locked([&] {
                        tx_waiting_ = false;
                        if (!ec)
                            transmit(transport);
                    });
                });
            }
            return;
        }
        // A frame the tap rejects (too short, too long) is dropped, as a NIC would.
        const Chain chain = std::move(*tx_);
        tx_.reset();
        transport.complete(transmitq, chain, 0);
    }
}

} // namespace strata::virtio
