// virtio-net over a tap: receive and transmit paths.
#include "devices/virtio/net.hpp"

#include "devices/virtio/mmio.hpp"
#include "fdt/user_error.hpp"
#include "vmm/fd.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace strata::virtio {

namespace {

constexpr std::size_t receiveq = 0, transmitq = 1;
constexpr std::uint64_t f_mac = 1ull << 5;
constexpr int vnet_hdr_size = 12; // struct virtio_net_hdr_v1
constexpr std::size_t num_buffers_offset = 10;

std::vector<iovec> iovecs(const GuestMemory &memory, const Chain &chain, bool writable) {
    std::vector<iovec> v;
    for (const auto &b : chain.buffers)
        if (b.writable == writable)
            v.push_back({memory.span(b.addr, b.len).value().data(), b.len});
    return v;
}

std::array<std::uint8_t, 6> parse_mac(const std::string &text) {
    std::array<unsigned, 6> p{};
    char tail = 0;
    if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &tail) != 6)
        throw UserError("--net mac=" + text + " is not a MAC address like 52:54:00:12:34:56");
    std::array<std::uint8_t, 6> mac{};
    for (std::size_t i = 0; i < 6; ++i)
        mac[i] = static_cast<std::uint8_t>(p[i]);
    if (mac[0] & 1)
        throw UserError("--net mac=" + text + " is a multicast address");
    return mac;
}

} // namespace

NetSpec parse_net_spec(const std::string &text, unsigned index) {
    NetSpec spec;
    spec.mac[5] = static_cast<std::uint8_t>(spec.mac[5] + index);
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = text.find(',', start);
        const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (part.rfind("tap=", 0) == 0 && part.size() > 4)
            spec.tap = part.substr(4);
        else if (part.rfind("mac=", 0) == 0)
            spec.mac = parse_mac(part.substr(4));
        else
            throw UserError("--net " + text + ": '" + part + "' is not tap=NAME or mac=MAC");
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    if (spec.tap.empty() || spec.tap.size() >= IFNAMSIZ)
        throw UserError("--net wants tap=NAME (at most 15 characters)[,mac=MAC], not '" + text + "'");
    return spec;
}

Net::Net(boost::asio::io_context &io, const NetSpec &spec) : spec_(spec), tap_(io) {
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd)
        throw UserError(std::string("cannot open /dev/net/tun for --net tap=") + spec.tap + ": " + std::strerror(errno));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, spec.tap.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0)
        throw UserError("cannot attach to tap '" + spec.tap + "': " + std::strerror(errno) +
                        " (create it with `ip tuntap add " + spec.tap + " mode tap` or run as root)");
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
        const std::uint16_t one = 1;
        write_chain(transport.memory(), *rx_, num_buffers_offset, {reinterpret_cast<const std::uint8_t *>(&one), 2});
        const std::uint16_t head = rx_->head;
        rx_.reset();
        transport.complete(receiveq, head, static_cast<std::uint32_t>(n));
    }
}

void Net::transmit(Transport &transport) {
    while (true) {
        if (!tx_) {
            tx_ = transport.pop(transmitq);
            if (!tx_)
                return;
        }
        const auto iov = iovecs(transport.memory(), *tx_, false);
        const ssize_t n = ::writev(tap_.native_handle(), iov.data(), static_cast<int>(iov.size()));
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
        const std::uint16_t head = tx_->head;
        tx_.reset();
        transport.complete(transmitq, head, 0);
    }
}

} // namespace strata::virtio
