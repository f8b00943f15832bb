// The vhost-user backend (see backend.hpp).
#include "devices/vhost_user/backend.hpp"

#include "devices/vhost_user/protocol.hpp"
#include "devices/virtio/mmio.hpp"
#include "devices/virtio/notifier.hpp"
#include "vmm/fd.hpp"
#include "vmm/fd_passing.hpp"
#include "vmm/guest_memory.hpp"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>

namespace strata::vhost_user {

namespace {

using local = boost::asio::local::stream_protocol;
using namespace std::chrono_literals;

constexpr std::uint32_t max_request_payload = 8 + 32 * max_mem_regions; // SET_MEM_TABLE is the largest
constexpr std::size_t max_fds = max_mem_regions;
constexpr std::uint64_t page_size = 4096;
constexpr std::uint64_t offered_protocol =
    protocol_feature::mq | protocol_feature::reply_ack | protocol_feature::config;

// The transport's interrupt: every queue's call eventfd (a spurious call
// only makes a driver look at a used ring that has nothing new).
class CallLine final : public IrqLine {
public:
    void set_level(bool high) override {
        if (!high)
            return;
        const std::uint64_t one = 1;
        for (const auto &fd : calls)
            if (fd) [[maybe_unused]]
                auto n = ::write(fd.get(), &one, sizeof one); // EAGAIN: already pending
    }
    std::vector<UniqueFd> calls;
};

// A request as it came off the socket.
struct Message {
    Request request{};
    bool need_reply = false;
    std::vector<std::uint8_t> payload;
    std::vector<UniqueFd> fds;
};

// The frontend broke the protocol: the connection is closed.
struct ProtocolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <class T>
T payload_as(const Message &m) {
    if (m.payload.size() != sizeof(T))
        throw ProtocolError(name(m.request) + " with a " + std::to_string(m.payload.size()) + "-byte payload, not " +
                            std::to_string(sizeof(T)));
    T v;
    std::memcpy(&v, m.payload.data(), sizeof v);
    return v;
}

} // namespace

struct Backend::Impl {
    Impl(boost::asio::io_context &io, const std::string &path, std::unique_ptr<virtio::Device> device)
        : io_(io), path_(path), device_(std::move(device)), acceptor_(io) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
            ::unlink(path.c_str()); // a stale socket of an earlier run
        boost::system::error_code ec;
        acceptor_.open(local(), ec);
        if (!ec)
            acceptor_.bind(local::endpoint(path), ec);
        if (!ec)
            acceptor_.listen(1, ec);
        if (ec)
            throw std::system_error(ec.value(), std::system_category(), "cannot listen on '" + path + "'");
        accept();
    }

    ~Impl() { ::unlink(path_.c_str()); }

    // --- connections ---

    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, local::socket socket) {
            if (ec)
                return; // stopping
            spdlog::info("vhost-user: a frontend connected on {}", path_);
            conn_.emplace(std::move(socket));
            start_session();
            read_next();
        });
    }

    void start_session() {
        memory_.clear();
        irq_ = std::make_unique<CallLine>();
        irq_->calls.resize(device_->queues());
        transport_ = std::make_unique<virtio::Transport>("strata device", *device_, memory_, *irq_, io_,
                                                         virtio::Queue::max_size);
        kicks_.clear();
        kicks_.resize(device_->queues());
        rings_.assign(device_->queues(), Ring{});
        table_.clear();
        features_ = protocol_ = 0;
    }

    // The frontend left (or broke the protocol): reset the device, wait for
    // its I/O in guest memory to land, unmap, and take the next frontend.
    void end_session(const std::string &why, bool error = true) {
        if (error)
            spdlog::warn("vhost-user: {}; waiting for the next frontend on {}", why, path_);
        else
            spdlog::info("vhost-user: {}; waiting for the next frontend on {}", why, path_);
        conn_.reset();
        in_.clear();
        in_fds_.clear(); // those of a request the frontend never finished
        kicks_.clear();
        if (transport_)
            reg(virtio::reg::status, 0); // Status 0: reset; the device drops what it holds
        drain();
    }

    void drain() {
        if (device_->busy()) {
            timer_.expires_after(10ms);
            timer_.async_wait([this](auto ec) {
                if (!ec)
                    drain();
            });
            return;
        }
        transport_.reset();
        memory_.clear();
        accept();
    }

    // Waits for the socket, reads what it holds of the next request and
    // serves the request once it is whole. A frontend may write a request in
    // pieces (the socket is a stream): the pieces gather in in_, and the io
    // thread serves others meanwhile, however long the rest takes.
    void read_next() {
        conn_->async_wait(local::socket::wait_read, [this](boost::system::error_code ec) {
            if (ec)
                return;
            try {
                if (!receive_piece())
                    return end_session(in_.empty() ? "the frontend closed the connection"
                                                   : "the frontend closed the connection halfway through a request",
                                       !in_.empty());
                if (auto m = whole_message())
                    handle(*m);
                read_next();
            } catch (const ProtocolError &e) {
                end_session(std::string("frontend error: ") + e.what());
            } catch (const std::exception &e) {
                end_session(std::string("cannot serve the frontend: ") + e.what());
            }
        });
    }

    // Bytes the request being gathered still needs: its header, then its
    // payload (the header checked first).
    std::size_t wanted() const {
        if (in_.size() < sizeof(WireHeader))
            return sizeof(WireHeader) - in_.size();
        WireHeader h;
        std::memcpy(&h, in_.data(), sizeof h);
        return sizeof h + h.size.get() - in_.size();
    }

    // One recvmsg of at most what the request still needs, with the fds that
    // come along. Returns false when the frontend closed the connection.
    bool receive_piece() {
        const std::size_t have = in_.size();
        in_.resize(have + wanted());
        bool truncated = false;
        const ssize_t n =
            receive_with_fds(conn_->native_handle(), std::span(in_).subspan(have), in_fds_, MSG_DONTWAIT, &truncated);
        in_.resize(have + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n == 0)
            return false;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            throw ProtocolError(std::string("cannot read a request: ") + std::strerror(errno));
        if (truncated || in_fds_.size() > max_fds)
            throw ProtocolError("more fds than any request carries");
        return true;
    }

    // The request gathered in in_ once it is whole (its header checked as
    // soon as it is), with every fd that came with its pieces.
    std::optional<Message> whole_message() {
        if (in_.size() < sizeof(WireHeader))
            return std::nullopt;
        WireHeader h;
        std::memcpy(&h, in_.data(), sizeof h);
        Message m;
        m.request = static_cast<Request>(h.request.get());
        const std::uint32_t flags = h.flags.get(), size = h.size.get();
        if ((flags & flag::version_mask) != flag::version || (flags & flag::reply))
            throw ProtocolError("a message with flags " + std::to_string(flags) + " (version 1, no REPLY bit)");
        if (size > max_request_payload)
            throw ProtocolError(name(m.request) + " with a " + std::to_string(size) + "-byte payload");
        if (wanted() > 0)
            return std::nullopt;
        m.need_reply = flags & flag::need_reply;
        m.payload.assign(in_.begin() + sizeof h, in_.end());
        m.fds = std::move(in_fds_);
        in_.clear();
        in_fds_.clear();
        return m;
    }

    void send_reply(Request request, std::span<const std::uint8_t> payload) {
        WireHeader h{virtio::le32{static_cast<std::uint32_t>(request)}, virtio::le32{flag::version | flag::reply},
                     virtio::le32{static_cast<std::uint32_t>(payload.size())}};
        std::vector<std::uint8_t> bytes(sizeof h + payload.size());
        std::memcpy(bytes.data(), &h, sizeof h);
        if (!payload.empty()) // a refusal has no payload, and no data() to copy from
            std::memcpy(bytes.data() + sizeof h, payload.data(), payload.size());
        if (::send(conn_->native_handle(), bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(bytes.size()))
            throw ProtocolError("the frontend does not take replies");
    }

    void reply_u64(Request request, std::uint64_t v) {
        const virtio::le64 le{v};
        send_reply(request, {reinterpret_cast<const std::uint8_t *>(&le), sizeof le});
    }

    // --- requests ---

    struct Ring {
        std::uint32_t num = 0;
        std::uint64_t desc = 0, avail = 0, used = 0; // guest-physical
        bool started = false;
    };

    void handle(Message &m) {
        bool refused = false;
        switch (m.request) {
        case Request::get_features:
            return reply_u64(m.request, device_->features() | virtio::f_version_1 | virtio::f_indirect_desc |
                                            virtio::f_event_idx | f_protocol_features);
        case Request::set_features: set_features(payload_as<virtio::le64>(m).get()); break;
        case Request::set_owner:
        case Request::reset_owner: break;
        case Request::get_protocol_features: return reply_u64(m.request, offered_protocol);
        case Request::set_protocol_features: protocol_ = payload_as<virtio::le64>(m).get() & offered_protocol; break;
        case Request::get_queue_num: return reply_u64(m.request, device_->queues());
        case Request::set_mem_table: set_mem_table(m); break;
        case Request::set_vring_num: {
            const auto s = payload_as<WireVringState>(m);
            ring(s.index.get()).num = s.num.get();
            break;
        }
        case Request::set_vring_addr: set_vring_addr(payload_as<WireVringAddr>(m)); break;
        case Request::set_vring_base: {
            const auto s = payload_as<WireVringState>(m);
            (void)ring(s.index.get());
            refused = s.num.get() != 0; // rings start at 0 here: no migration
            break;
        }
        case Request::get_vring_base: {
            const auto s = payload_as<WireVringState>(m);
            const WireVringState back{s.index, virtio::le32{stop(s.index.get())}};
            return send_reply(m.request, {reinterpret_cast<const std::uint8_t *>(&back), sizeof back});
        }
        case Request::set_vring_kick:
        case Request::set_vring_call:
        case Request::set_vring_err: set_vring_fd(m); break;
        case Request::set_vring_enable: {
            const auto s = payload_as<WireVringState>(m);
            if (s.num.get())
                start(s.index.get());
            else
                (void)stop(s.index.get());
            break;
        }
        case Request::get_config: return get_config(m);
        case Request::set_config: refused = true; break; // config spaces here are read-only
        default:
            throw ProtocolError("request " + std::to_string(static_cast<std::uint32_t>(m.request)) + " is not served");
        }
        if (m.need_reply && (protocol_ & protocol_feature::reply_ack))
            reply_u64(m.request, refused ? 1 : 0);
    }

    Ring &ring(std::uint32_t index) {
        if (index >= rings_.size())
            throw ProtocolError("ring " + std::to_string(index) + " of a device with " + std::to_string(rings_.size()));
        return rings_[index];
    }

    void reg(std::uint64_t offset, std::uint32_t value) {
        const virtio::le32 le{value};
        transport_->write(offset, {reinterpret_cast<const std::uint8_t *>(&le), 4});
    }

    std::uint32_t read_reg(std::uint64_t offset) {
        virtio::le32 le;
        transport_->read(offset, {reinterpret_cast<std::uint8_t *>(&le), 4});
        return le.get();
    }

    void set_features(std::uint64_t features) {
        features = features & ~f_protocol_features;
        const bool running = std::any_of(rings_.begin(), rings_.end(), [](const Ring &r) { return r.started; });
        if (running && features != features_)
            throw ProtocolError("SET_FEATURES changing the features of running rings");
        if (running)
            return;
        features_ = features;
        reg(virtio::reg::status, 0); // frontends (QEMU) send SET_FEATURES more than once: start over
        reg(virtio::reg::status, virtio::status::acknowledge | virtio::status::driver);
        for (std::uint32_t half = 0; half < 2; ++half) {
            reg(virtio::reg::driver_features_sel, half);
            reg(virtio::reg::driver_features, static_cast<std::uint32_t>(features_ >> (32 * half)));
        }
        reg(virtio::reg::status, virtio::status::acknowledge | virtio::status::driver | virtio::status::features_ok);
        if (!(read_reg(virtio::reg::status) & virtio::status::features_ok))
            throw ProtocolError("SET_FEATURES with features the device does not offer");
    }

    // A memfd that allows sealing gets F_SEAL_SHRINK (QEMU's memfd backends
    // and strata's guest RAM come sealed); other files (hugetlbfs, a tmpfs
    // file) cannot be sealed: that is logged once, as a frontend that
    // truncates one can still end this process with a SIGBUS.
    void seal_against_shrinking(int fd, std::uint32_t region) {
        const int seals = ::fcntl(fd, F_GET_SEALS);
        if (seals >= 0 && (seals & F_SEAL_SHRINK))
            return;
        if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0)
            return;
        if (!warned_unsealed_)
            spdlog::warn("frontend memory region {} cannot be sealed against shrinking ({}): a frontend that "
                         "truncates it would end this backend",
                         region, std::strerror(errno));
        warned_unsealed_ = true;
    }

    void set_mem_table(Message &m) {
        if (m.payload.size() < sizeof(WireMemoryHeader))
            throw ProtocolError("a SET_MEM_TABLE without its header");
        WireMemoryHeader h;
        std::memcpy(&h, m.payload.data(), sizeof h);
        const std::uint32_t n = h.nregions.get();
        if (n == 0 || n > max_mem_regions || m.payload.size() != sizeof h + n * sizeof(WireMemoryRegion) ||
            m.fds.size() != n)
            throw ProtocolError("a SET_MEM_TABLE of " + std::to_string(n) + " regions with " +
                                std::to_string(m.fds.size()) + " fds in " + std::to_string(m.payload.size()) +
                                " bytes");
        memory_.clear();
        table_.clear();
        for (std::uint32_t i = 0; i < n; ++i) {
            WireMemoryRegion r;
            std::memcpy(&r, m.payload.data() + sizeof h + i * sizeof r, sizeof r);
            // A mapping may reach past its file's end, but touching that part
            // is a SIGBUS: the region must lie wholly inside the file, and the
            // file must not shrink later (sealed, or sealed now).
            seal_against_shrinking(m.fds[i].get(), i);
            struct stat st {};
            const std::uint64_t size = r.size.get(), offset = r.mmap_offset.get();
            const auto file = ::fstat(m.fds[i].get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
            if (offset > file || size > file - offset)
                throw ProtocolError("a SET_MEM_TABLE region of " + std::to_string(size) + " bytes at offset " +
                                    std::to_string(offset) + " in a file of " + std::to_string(file));
            // Page-aligned, as every frontend maps guest RAM: then an aligned
            // guest address is an aligned host address, which the rings'
            // atomic accesses need (found by the fuzz target: a region at
            // guest address 3 made a 16-bit ring index misaligned).
            if (r.guest_addr.get() % page_size || offset % page_size)
                throw ProtocolError("a SET_MEM_TABLE region at guest address " + std::to_string(r.guest_addr.get()) +
                                    ", file offset " + std::to_string(offset) + ": not page-aligned");
            memory_.add_shared("frontend region " + std::to_string(i), GuestAddress{r.guest_addr.get()}, r.size.get(),
                               std::move(m.fds[i]), r.mmap_offset.get());
            table_.push_back({r.guest_addr.get(), r.size.get(), r.user_addr.get()});
        }
    }

    // A frontend (user) address to the guest-physical one, through the table.
    std::uint64_t guest_address(std::uint64_t user, const char *what) {
        for (const auto &t : table_)
            if (user >= t.user && user - t.user < t.size)
                return t.guest + (user - t.user);
        throw ProtocolError(std::string("a ") + what + " ring outside the memory table");
    }

    void set_vring_addr(const WireVringAddr &a) {
        Ring &r = ring(a.index.get());
        r.desc = guest_address(a.desc.get(), "descriptor");
        r.avail = guest_address(a.avail.get(), "available");
        r.used = guest_address(a.used.get(), "used");
    }

    void set_vring_fd(Message &m) {
        const std::uint64_t v = payload_as<virtio::le64>(m).get();
        const auto index = static_cast<std::uint32_t>(v & vring_index_mask);
        (void)ring(index);
        if ((v & vring_no_fd) || m.fds.size() != 1)
            throw ProtocolError(name(m.request) + " without an fd (polling is not offered)");
        if (m.request == Request::set_vring_kick) {
            kicks_[index] = std::make_unique<virtio::QueueNotifier>(io_, std::move(m.fds[0]), [this, index] {
                if (transport_)
                    transport_->notified(index);
            });
            if (!(protocol_ & f_protocol_features) && !(features_ & f_protocol_features))
                start(index); // without protocol features a ring starts with its kick
        } else if (m.request == Request::set_vring_call) {
            irq_->calls[index] = std::move(m.fds[0]);
        } // SET_VRING_ERR: the fd is closed; errors are logged here instead
    }

    // The ring as a driver would set it up, then DRIVER_OK once.
    void start(std::uint32_t index) {
        Ring &r = ring(index);
        if (r.started)
            return;
        reg(virtio::reg::queue_sel, index);
        reg(virtio::reg::queue_num, r.num);
        const std::pair<std::uint64_t, std::uint64_t> addrs[] = {{virtio::reg::queue_desc_low, r.desc},
                                                                 {virtio::reg::queue_driver_low, r.avail},
                                                                 {virtio::reg::queue_device_low, r.used}};
        for (const auto &[offset, addr] : addrs) {
            reg(offset, static_cast<std::uint32_t>(addr));
            reg(offset + 4, static_cast<std::uint32_t>(addr >> 32));
        }
        reg(virtio::reg::queue_ready, 1);
        if (!read_reg(virtio::reg::queue_ready))
            throw ProtocolError("ring " + std::to_string(index) + " cannot be used (size or addresses)");
        r.started = true;
        const std::uint32_t status = read_reg(virtio::reg::status);
        if (!(status & virtio::status::driver_ok))
            reg(virtio::reg::status, status | virtio::status::driver_ok);
    }

    // GET_VRING_BASE: the ring stops; when none runs any more the device is
    // reset, ready for the frontend's next SET_FEATURES.
    std::uint32_t stop(std::uint32_t index) {
        Ring &r = ring(index);
        std::uint32_t base = 0;
        if (r.started) {
            transport_->run_locked([&] { base = transport_->queue(index).last_avail(); });
            reg(virtio::reg::queue_sel, index);
            reg(virtio::reg::queue_ready, 0);
            r.started = false;
        }
        kicks_[index].reset();
        if (std::none_of(rings_.begin(), rings_.end(), [](const Ring &x) { return x.started; }))
            reg(virtio::reg::status, 0);
        return base;
    }

    void get_config(const Message &m) {
        if (m.payload.size() < sizeof(WireConfigHeader))
            throw ProtocolError("a GET_CONFIG without its header");
        WireConfigHeader h;
        std::memcpy(&h, m.payload.data(), sizeof h);
        const std::uint32_t offset = h.offset.get(), size = h.size.get();
        const auto config = device_->config();
        if (offset > config.size() || size > max_config_size)
            return send_reply(m.request, {}); // refused: no data
        std::vector<std::uint8_t> out(sizeof h + size, 0);
        std::memcpy(out.data(), &h, sizeof h);
        // A device without config space (virtio-rng) has no data() to copy
        // from: its bytes read as zeros.
        if (const std::size_t n = std::min<std::size_t>(size, config.size() - offset); n != 0)
            std::memcpy(out.data() + sizeof h, config.data() + offset, n);
        send_reply(m.request, out);
    }

    struct TableEntry {
        std::uint64_t guest, size, user;
    };

    boost::asio::io_context &io_;
    std::string path_;
    std::unique_ptr<virtio::Device> device_;
    local::acceptor acceptor_;
    std::optional<local::socket> conn_;
    std::vector<std::uint8_t> in_; // the request being gathered
    std::vector<UniqueFd> in_fds_; // and the fds that came with it
    GuestMemory memory_;
    std::vector<TableEntry> table_;
    bool warned_unsealed_ = false; // one warning per frontend for memory that cannot be sealed
    std::unique_ptr<CallLine> irq_;
    std::unique_ptr<virtio::Transport> transport_;
    std::vector<std::unique_ptr<virtio::QueueNotifier>> kicks_;
    std::vector<Ring> rings_;
    std::uint64_t features_ = 0, protocol_ = 0;
    boost::asio::steady_timer timer_{io_};
};

Backend::Backend(boost::asio::io_context &io, const std::string &socket_path, std::unique_ptr<virtio::Device> device)
    : impl_(std::make_unique<Impl>(io, socket_path, std::move(device))) {}

Backend::~Backend() = default;

} // namespace strata::vhost_user
