// The vhost-user frontend device (see device.hpp).
#include "devices/vhost_user/device.hpp"

#include "devices/vhost_user/frontend.hpp"
#include "devices/virtio/le.hpp"
#include "devices/virtio/mmio.hpp"
#include "devices/virtio/notifier.hpp"
#include "vmm/fd.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>

#include <cctype>
#include <chrono>
#include <cstring>
#include <optional>

namespace strata::vhost_user {

namespace {

using namespace std::chrono_literals;
using virtio::DeviceId;

constexpr auto reply_timeout = 2s;
constexpr std::uint32_t max_queues = 16;
constexpr std::size_t fs_tag_bytes = 36; // virtio 1.2 §5.11.4
// The feature bits a driver may see: the device-type bits, the two ring
// features the backend implements, VERSION_1 (the transport adds it).
constexpr std::uint64_t driver_visible = 0xff'ffffull | virtio::f_indirect_desc | virtio::f_event_idx;

struct Settings {
    std::string socket;
    DeviceId type{};
    std::string type_name;
    std::uint32_t queues = 1;
    std::uint32_t queue_size = virtio::Queue::default_size;
    std::string tag; // fs only
};

// The config space strata reads from a backend offering CONFIG, by type
// (the size of the type's config struct the drivers here know).
std::uint32_t config_size(DeviceId type) {
    switch (type) {
    case DeviceId::block: return 60; // struct virtio_blk_config up to the write-zeroes fields
    case DeviceId::net: return 12;   // mac, status, max_virtqueue_pairs, mtu
    default: return 0;
    }
}

UniqueFd make_eventfd(const std::string &what) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd)
        throw_errno("eventfd", what);
    return fd;
}

class VhostUserDevice final : public virtio::Device {
public:
    VhostUserDevice(boost::asio::io_context &io, Settings s) : io_(io), s_(std::move(s)) {
        handshake();
        for (std::uint32_t q = 0; q < s_.queues; ++q)
            kicks_.push_back(make_eventfd("vhost-user kick " + std::to_string(q)));
    }

    DeviceId id() const override { return s_.type; }
    std::uint64_t features() const override { return backend_features_ & driver_visible; }
    std::uint16_t max_queue_size() const override { return static_cast<std::uint16_t>(s_.queue_size); }
    std::size_t queues() const override { return s_.queues; }
    std::span<const std::uint8_t> config() const override { return config_; }
    bool external_rings() const override { return true; }

    void attached(virtio::Transport &transport) override {
        transport_ = &transport;
        for (std::uint32_t q = 0; q < s_.queues; ++q) {
            auto fd = make_eventfd("vhost-user call " + std::to_string(q));
            call_fds_.push_back(fd.get());
            calls_.push_back(std::make_unique<virtio::QueueNotifier>(io_, std::move(fd), [this] {
                transport_->run_locked([this] { transport_->used_buffer_interrupt(); });
            }));
        }
        watch_connection();
    }

    void activate(virtio::Transport &transport) override {
        try {
            if (!frontend_) {
                handshake();
                watch_connection();
            }
            hand_over(transport);
        } catch (const Error &e) {
            drop_connection();
            transport.backend_failed(what() + e.what());
        } catch (const virtio::CreateError &e) {
            transport.backend_failed(e.what());
        }
    }

    void notify(virtio::Transport &, std::size_t queue) override {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(kicks_.at(queue).get(), &one, sizeof one); // EAGAIN: a kick is pending
    }

    void reset() override {
        if (!frontend_ || !started_)
            return;
        started_ = false;
        try {
            for (std::uint32_t q = 0; q < s_.queues; ++q)
                if (enabled_.at(q))
                    frontend_->get_vring_base(q); // stops the ring; the driver starts it afresh
        } catch (const Error &e) {
            spdlog::warn("{}{}; reconnecting when the driver starts again", what(), e.what());
            drop_connection();
        }
    }

private:
    std::string what() const { return "vhost-user " + s_.type_name + " backend at " + s_.socket + ": "; }

    // Connect, SET_OWNER, features, protocol features, queue count, config.
    void handshake() {
        try {
            auto fe = Frontend::connect(s_.socket, reply_timeout);
            fe.set_owner();
            backend_features_ = fe.get_features();
            if (!(backend_features_ & virtio::f_version_1))
                throw virtio::CreateError(what() + "it does not offer VIRTIO_F_VERSION_1");
            protocol_ = 0;
            if (backend_features_ & f_protocol_features) {
                protocol_ = fe.get_protocol_features() &
                            (protocol_feature::mq | protocol_feature::reply_ack | protocol_feature::config);
                fe.set_protocol_features(protocol_);
            }
            if (protocol_ & protocol_feature::mq) {
                const auto n = fe.get_queue_num();
                if (n < s_.queues)
                    throw virtio::CreateError(what() + "it serves " + std::to_string(n) + " queues, not " +
                                              std::to_string(s_.queues));
            }
            config_ = made_config();
            if (config_.empty() && (protocol_ & protocol_feature::config) && config_size(s_.type))
                config_ = fe.get_config(0, config_size(s_.type));
            frontend_.emplace(std::move(fe));
            enabled_.assign(s_.queues, false);
        } catch (const Error &e) {
            throw virtio::CreateError(what() + e.what());
        }
    }

    // The config strata makes itself: virtio-fs (tag, request queues), which
    // virtiofsd leaves to the frontend.
    std::vector<std::uint8_t> made_config() const {
        if (s_.type != DeviceId::fs)
            return {};
        std::vector<std::uint8_t> c(fs_tag_bytes + 4, 0);
        std::memcpy(c.data(), s_.tag.data(), s_.tag.size());
        const virtio::le32 request_queues{s_.queues - 1}; // queue 0 is the high-priority queue
        std::memcpy(c.data() + fs_tag_bytes, &request_queues, 4);
        return c;
    }

    // DRIVER_OK: features, memory, then every ready queue.
    void hand_over(virtio::Transport &t) {
        auto &fe = *frontend_;
        fe.set_features((t.driver_features() & (driver_visible | virtio::f_version_1)) |
                        (backend_features_ & f_protocol_features));
        std::vector<MemRegion> regions;
        for (const auto &r : t.memory().regions())
            regions.push_back({r.base().value, r.size(), reinterpret_cast<std::uint64_t>(r.host()), 0, r.fd()});
        fe.set_mem_table(regions);
        for (std::uint32_t q = 0; q < s_.queues; ++q) {
            const virtio::Queue &queue = t.queue(q);
            if (!queue.ready)
                continue;
            auto host = [&](std::uint64_t guest, std::uint64_t len) {
                return reinterpret_cast<std::uint64_t>(t.memory().span(GuestAddress{guest}, len).value().data());
            };
            fe.set_vring_num(q, queue.size);
            fe.set_vring_addr({q, 0, host(queue.desc, 16ull * queue.size), host(queue.used, 6 + 8ull * queue.size),
                               host(queue.avail, 6 + 2ull * queue.size), 0});
            fe.set_vring_base(q, 0);
            fe.set_vring_kick(q, kicks_[q].get());
            fe.set_vring_call(q, call_fds_.at(q));
            if (backend_features_ & f_protocol_features)
                fe.set_vring_enable(q, true);
            enabled_[q] = true;
        }
        started_ = true;
    }

    // A backend that closes the connection while the guest runs: NEEDS_RESET.
    // Runs with the transport's lock held (as every use of the connection does).
    void watch_connection() {
        if (!frontend_)
            return;
        watch_.emplace(io_, ::dup(frontend_->native_handle()));
        watch_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](auto ec) {
            if (ec)
                return; // cancelled: the connection was replaced or strata stops
            transport_->run_locked([this] {
                if (!watch_)
                    return;
                char byte;
                const auto n = ::recv(watch_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    drop_connection();
                    return transport_->backend_failed(what() + "it closed the connection");
                }
                // Bytes a request is about to read: look again a little later.
                timer_.expires_after(10ms);
                timer_.async_wait([this](auto timer_ec) {
                    if (!timer_ec)
                        transport_->run_locked([this] { watch_connection(); });
                });
            });
        });
    }

    void drop_connection() {
        watch_.reset();
        frontend_.reset();
        started_ = false;
    }

    boost::asio::io_context &io_;
    Settings s_;
    std::optional<Frontend> frontend_;
    std::uint64_t backend_features_ = 0, protocol_ = 0;
    std::vector<std::uint8_t> config_;
    std::vector<UniqueFd> kicks_;
    std::vector<int> call_fds_; // owned by calls_
    std::vector<std::unique_ptr<virtio::QueueNotifier>> calls_;
    std::vector<bool> enabled_;
    bool started_ = false;
    virtio::Transport *transport_ = nullptr;
    std::optional<boost::asio::posix::stream_descriptor> watch_;
    boost::asio::steady_timer timer_{io_};
};

class VhostUserConfig final : public virtio::DeviceConfig {
public:
    explicit VhostUserConfig(Settings s) : s_(std::move(s)) {}
    DeviceId type() const override { return s_.type; }
    std::unique_ptr<virtio::Device> create(virtio::DeviceContext &c) const override {
        return std::make_unique<VhostUserDevice>(c.io, s_);
    }

private:
    Settings s_;
};

std::uint32_t number(const std::string &key, const std::string &text, std::uint32_t low, std::uint32_t high) {
    std::size_t used = 0;
    unsigned long v = 0;
    try {
        v = std::stoul(text, &used, 0);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used == 0 || used != text.size() || v < low || v > high)
        throw virtio::OptionError(key + "=" + text + " is not a number from " + std::to_string(low) + " to " +
                                  std::to_string(high));
    return static_cast<std::uint32_t>(v);
}

Settings parse(virtio::DeviceOptions &o) {
    Settings s;
    s.socket = o.value("socket").value_or("");
    if (s.socket.empty())
        throw virtio::OptionError("a vhost-user device needs socket=PATH (the backend's Unix socket)");
    s.type_name = o.value("type").value_or("");
    struct Known {
        const char *name;
        DeviceId id;
        std::uint32_t queues;
    };
    constexpr Known known[] = {
        {"blk", DeviceId::block, 1}, {"fs", DeviceId::fs, 2}, {"rng", DeviceId::rng, 1}, {"net", DeviceId::net, 2}};
    bool found = false;
    for (const auto &k : known)
        if (s.type_name == k.name) {
            s.type = k.id;
            s.queues = k.queues;
            found = true;
        }
    if (!found) {
        if (s.type_name.empty() || !std::isdigit(static_cast<unsigned char>(s.type_name[0])))
            throw virtio::OptionError("type=" + s.type_name + " is not blk, fs, rng, net or a virtio device ID");
        s.type = DeviceId{number("type", s.type_name, 1, 0xffff)};
    }
    if (auto q = o.value("queues"))
        s.queues = number("queues", *q, 1, max_queues);
    if (s.type == DeviceId::fs && s.queues < 2)
        throw virtio::OptionError("a virtio-fs device needs queues=2 or more (one high-priority, one request queue)");
    if (auto qs = o.value("queue-size")) {
        s.queue_size = number("queue-size", *qs, 1, virtio::Queue::max_size);
        if (s.queue_size & (s.queue_size - 1))
            throw virtio::OptionError("queue-size=" + *qs + " is not a power of two");
    }
    if (auto tag = o.value("tag")) {
        if (s.type != DeviceId::fs)
            throw virtio::OptionError("tag= names a virtio-fs file system: it needs type=fs");
        s.tag = *tag;
    }
    if (s.type == DeviceId::fs && (s.tag.empty() || s.tag.size() > fs_tag_bytes))
        throw virtio::OptionError("a virtio-fs device needs tag=NAME of 1 to 36 bytes (what the guest mounts)");
    return s;
}

} // namespace

void register_vhost_user_devices(virtio::Registry &registry) {
    registry.add({"vhost-user",
                  "socket=PATH,type=blk|fs|rng|net|N[,queues=N][,queue-size=N][,tag=NAME]: "
                  "a device served by a vhost-user backend process",
                  [](virtio::DeviceOptions &o) { return std::make_unique<VhostUserConfig>(parse(o)); }});
}

} // namespace strata::vhost_user
