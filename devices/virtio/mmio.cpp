// virtio-mmio register file and device status machine.
#include "devices/virtio/mmio.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace strata::virtio {

namespace {

enum class Access : std::uint8_t { ro, wo, rw };

struct Register {
    std::uint32_t offset;
    const char *name;
    Access access;
};

// virtio 1.2 §4.2.2, table "MMIO Device Register Layout" (version 2).
// One register per line, as in the spec's table:
// clang-format off
constexpr std::array<Register, 24> registers{{
    {0x000, "MagicValue", Access::ro},
    {0x004, "Version", Access::ro},
    {0x008, "DeviceID", Access::ro},
    {0x00c, "VendorID", Access::ro},
    {0x010, "DeviceFeatures", Access::ro},
    {0x014, "DeviceFeaturesSel", Access::wo},
    {0x020, "DriverFeatures", Access::wo},
    {0x024, "DriverFeaturesSel", Access::wo},
    {0x030, "QueueSel", Access::wo},
    {0x034, "QueueNumMax", Access::ro},
    {0x038, "QueueNum", Access::wo},
    {0x044, "QueueReady", Access::rw},
    {0x050, "QueueNotify", Access::wo},
    {0x060, "InterruptStatus", Access::ro},
    {0x064, "InterruptACK", Access::wo},
    {0x070, "Status", Access::rw},
    {0x080, "QueueDescLow", Access::wo},
    {0x084, "QueueDescHigh", Access::wo},
    {0x090, "QueueDriverLow", Access::wo},
    {0x094, "QueueDriverHigh", Access::wo},
    {0x0a0, "QueueDeviceLow", Access::wo},
    {0x0a4, "QueueDeviceHigh", Access::wo},
    {0x0ac, "SHMSel", Access::wo},
    {0x0fc, "ConfigGeneration", Access::ro},
}};
// clang-format on

constexpr std::uint32_t magic = 0x7472'6976;  // "virt"
constexpr std::uint32_t vendor = 0x5354'5241; // "ARTS": strata
constexpr std::uint64_t config_base = 0x100;
// InterruptStatus bits (§4.2.2).
constexpr std::uint32_t interrupt_used = 1, interrupt_config = 2;
constexpr std::size_t warn_limit = 32; // distinct guest mistakes logged per device

const Register *find_register(std::uint64_t offset) {
    auto it = std::find_if(registers.begin(), registers.end(), [&](const Register &r) { return r.offset == offset; });
    return it == registers.end() ? nullptr : &*it;
}

void set_half(std::uint64_t &v, bool high, std::uint32_t half) {
    const unsigned shift = high ? 32 : 0;
    v = (v & ~(0xffff'ffffull << shift)) | (std::uint64_t{half} << shift);
}

} // namespace

Transport::Transport(std::string name, Device &device, const GuestMemory &memory, IrqLine &irq,
                     boost::asio::io_context &io, std::uint16_t max_queue_size)
    : name_(std::move(name)), device_(device), memory_(memory), irq_(irq), io_(io),
      max_queue_size_(max_queue_size ? max_queue_size : device.max_queue_size()), queues_(device.queues()),
      full_(device.queues()), renotify_(device.queues()) {
    device_.attached(*this);
}

std::uint32_t Transport::status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

void Transport::warn(const std::string &what, const char *kind) {
    if (std::find(warned_.begin(), warned_.end(), what) != warned_.end() || warned_.size() >= warn_limit)
        return;
    warned_.push_back(what);
    spdlog::warn("{}: {}: {} (logged once)", name_, kind, what);
}

void Transport::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::fill(data.begin(), data.end(), 0);
    std::lock_guard lock(mutex_);
    if (offset >= config_base) {
        const auto config = device_.config();
        const std::uint64_t at = offset - config_base;
        if (at < config.size())
            std::memcpy(data.data(), config.data() + at, std::min<std::uint64_t>(data.size(), config.size() - at));
        return;
    }
    const Register *reg = find_register(offset);
    if (data.size() != 4 || !reg) {
        warn(std::to_string(data.size()) + "-byte read at register offset " + std::to_string(offset));
        return;
    }
    if (reg->access == Access::wo) {
        warn(std::string("read of write-only register ") + reg->name);
        return;
    }
    const std::uint32_t v = read_register(offset);
    std::memcpy(data.data(), &v, 4);
}

void Transport::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    if (offset >= config_base) {
        warn("write to read-only config space");
        return;
    }
    const Register *reg = find_register(offset);
    if (data.size() != 4 || !reg) {
        warn(std::to_string(data.size()) + "-byte write at register offset " + std::to_string(offset));
        return;
    }
    if (reg->access == Access::ro) {
        warn(std::string("write to read-only register ") + reg->name);
        return;
    }
    std::uint32_t v;
    std::memcpy(&v, data.data(), 4);
    write_register(offset, v);
}

Queue *Transport::selected() { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }

std::uint32_t Transport::read_register(std::uint64_t offset) {
    const std::uint64_t offered = offered_features();
    switch (offset) {
    case 0x000: return magic;
    case 0x004: return 2;
    case 0x008: return static_cast<std::uint32_t>(device_.id());
    case 0x00c: return vendor;
    case 0x010:
        return device_features_sel_ < 2 ? static_cast<std::uint32_t>(offered >> (32 * device_features_sel_)) : 0;
    case 0x034: return selected() ? max_queue_size_ : 0;
    case 0x044: return selected() && selected()->ready ? 1 : 0;
    case 0x060: return interrupt_status_;
    case 0x070:
        if (draining_status_ && device_.busy())
            return draining_status_; // the reset is not complete yet
        draining_status_ = 0;
        return status_;
    case 0x0fc: return config_generation_;
    default: return 0;
    }
}

void Transport::write_register(std::uint64_t offset, std::uint32_t v) {
    Queue *q = selected();
    auto queue_config = [&](auto &&apply) {
        if (!q)
            return warn("queue set-up for queue " + std::to_string(queue_sel_) + ", which does not exist");
        if (q->ready)
            return warn("queue set-up while the queue is ready");
        apply(*q);
    };
    switch (offset) {
    case 0x014: device_features_sel_ = v; return;
    case 0x020:
        if (status_ & status::features_ok)
            return warn("driver features changed after FEATURES_OK");
        if (driver_features_sel_ < 2)
            set_half(driver_features_, driver_features_sel_ == 1, v);
        return;
    case 0x024: driver_features_sel_ = v; return;
    case 0x030: queue_sel_ = v; return;
    case 0x038:
        return queue_config([&](Queue &queue) { queue.size = static_cast<std::uint16_t>(std::min(v, 0xffffu)); });
    case 0x044:
        if (!q)
            return warn("QueueReady for a queue that does not exist");
        if (v == 0) {
            // Disabling a queue fences it as a reset does: chains in flight
            // are released as stale, and their completions push nothing.
            if (q->ready)
                q->reset();
            return;
        }
        if (q->size > max_queue_size_)
            return warn("queue " + std::to_string(queue_sel_) + " not made ready: queue size " +
                        std::to_string(q->size) + " is above QueueNumMax");
        if (auto why = q->check(memory_))
            return warn("queue " + std::to_string(queue_sel_) + " not made ready: " + *why);
        q->event_idx = driver_features_ & f_event_idx;
        q->indirect = driver_features_ & f_indirect_desc;
        q->ready = true;
        return;
    case 0x050:
        // KVM's ioeventfd normally takes these; this one came by a plain exit.
        boost::asio::post(io_, [this, v] { notified(v); });
        return;
    case 0x064: interrupt_status_ &= ~v; return;
    case 0x070: write_status(v); return;
    case 0x080: return queue_config([&](Queue &queue) { set_half(queue.desc, false, v); });
    case 0x084: return queue_config([&](Queue &queue) { set_half(queue.desc, true, v); });
    case 0x090: return queue_config([&](Queue &queue) { set_half(queue.avail, false, v); });
    case 0x094: return queue_config([&](Queue &queue) { set_half(queue.avail, true, v); });
    case 0x0a0: return queue_config([&](Queue &queue) { set_half(queue.used, false, v); });
    case 0x0a4: return queue_config([&](Queue &queue) { set_half(queue.used, true, v); });
    default: return; // SHMSel: strata has no shared memory regions
    }
}

void Transport::write_status(std::uint32_t v) {
    if (v == 0)
        return reset();
    const std::uint32_t sticky = status_ & ~status::needs_reset;
    if ((sticky & ~v) != 0)
        return warn("device status went backwards (" + std::to_string(status_) + " to " + std::to_string(v) + ")");
    std::uint32_t next = v & ~status::needs_reset;
    if ((next & status::features_ok) && !(status_ & status::features_ok)) {
        const std::uint64_t offered = offered_features();
        if (!(driver_features_ & f_version_1) || (driver_features_ & ~offered)) {
            warn("FEATURES_OK refused: the driver must accept VERSION_1 and only offered features");
            next &= ~status::features_ok;
        }
    }
    if ((next & status::driver_ok) && !(next & status::features_ok)) {
        warn("DRIVER_OK without FEATURES_OK");
        next &= ~status::driver_ok;
    }
    const bool starting = (next & status::driver_ok) && !(status_ & status::driver_ok);
    status_ = next | (status_ & status::needs_reset);
    if (starting)
        device_.activate(*this);
}

void Transport::reset() {
    device_.reset();
    draining_status_ = device_.busy() ? (status_ ? status_ : status::acknowledge) : 0;
    status_ = 0;
    device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
    driver_features_ = 0;
    interrupt_status_ = 0;
    ++generation_;
    for (auto &q : queues_)
        q.reset();
    std::fill(full_.begin(), full_.end(), false);
}

void Transport::shut_down() {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    reset();
}

bool Transport::busy() const {
    std::lock_guard lock(mutex_);
    return device_.busy();
}

void Transport::notified(std::size_t queue) {
    std::lock_guard lock(mutex_);
    if (shut_down_)
        return;
    if (queue < queues_.size())
        renotify_[queue] = false;
    if (!(status_ & status::driver_ok))
        return warn("queue notify before DRIVER_OK");
    if (status_ & status::needs_reset)
        return;
    if (queue >= queues_.size() || !queues_[queue].ready)
        return warn("notify for queue " + std::to_string(queue) + ", which is not ready");
    pop_budget_ = pop_budget;
    device_.notify(*this, queue);
}

// Runs notified(queue) again later, once: after other work on the io_context.
void Transport::renotify(std::size_t queue) {
    if (renotify_[queue])
        return;
    renotify_[queue] = true;
    boost::asio::post(io_, [this, queue] { notified(queue); });
}

std::optional<Chain> Transport::pop(std::size_t queue) {
    if (!active() || !queues_.at(queue).ready)
        return std::nullopt;
    if (pop_budget_ == 0) { // this turn has done its share: the rest comes next turn
        renotify(queue);
        return std::nullopt;
    }
    auto p = queues_[queue].pop(memory_);
    switch (p.kind) {
    case Popped::Kind::fault: needs_reset(p.fault); return std::nullopt;
    case Popped::Kind::empty: return std::nullopt;
    case Popped::Kind::full: full_[queue] = true; return std::nullopt;
    case Popped::Kind::chain: break;
    }
    --pop_budget_;
    return std::move(p.chain);
}

void Transport::complete(std::size_t queue, const Chain &chain, std::uint32_t len) {
    auto &q = queues_.at(queue);
    if (!active() || !q.release(chain))
        return;         // reset, disabled or failed since the chain was popped: it is not the driver's any more
    if (full_[queue]) { // release() made room for chains left in the avail ring
        full_[queue] = false;
        renotify(queue);
    }
    auto r = q.push(memory_, chain.head, len);
    if (r.fault)
        return needs_reset(*r.fault);
    if (r.notify)
        interrupt(interrupt_used);
}

void Transport::needs_reset(const std::string &why) { mark_needs_reset(why, "guest error"); }

void Transport::backend_failed(const std::string &why) { mark_needs_reset(why, "device failure"); }

void Transport::mark_needs_reset(const std::string &why, const char *kind) {
    warn(why + "; device needs reset", kind);
    if (status_ & status::needs_reset)
        return;
    status_ |= status::needs_reset;
    device_.reset();
    if (status_ & status::driver_ok)
        interrupt(interrupt_config); // a configuration change tells the driver to look at Status
}

void Transport::used_buffer_interrupt() { interrupt(interrupt_used); }

std::uint64_t Transport::offered_features() const {
    return device_.features() | f_version_1 | (device_.external_rings() ? 0 : f_event_idx | f_indirect_desc);
}

void Transport::interrupt(std::uint32_t cause) {
    interrupt_status_ |= cause;
    irq_.pulse();
}

} // namespace strata::virtio
