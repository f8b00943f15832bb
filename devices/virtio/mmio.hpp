// virtio-mmio transport, version 2 only (virtio 1.2 §4.2.2), as a register
// table (STYLE.md 4). The vCPU thread only reads and writes registers; queue
// work runs on the io_context: QueueNotify reaches it through an ioeventfd
// (or, for an access KVM did not match, a post from the vCPU thread).
//
// State: the register file and the queues, guarded by `mutex_`, which the
//   io_context holds while a device works on its queues.
// Missing features: shared memory regions (SHMSel: reads as "none"), legacy
//   (version 1) layout, notification data (VIRTIO_F_NOTIFICATION_DATA).
// Spec: virtio 1.2 §2.1 (status), §2.2 (features), §4.2.2 (registers),
//   §4.2.3.1 (initialisation).
#pragma once

#include "devices/virtio/device.hpp"
#include "vmm/bus.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/irq.hpp"

#include <boost/asio/io_context.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace strata::virtio {

// Register offsets (virtio 1.2 §4.2.2), for code that drives a Transport as
// a driver would: the vhost-user backend, the tests.
namespace reg {
inline constexpr std::uint64_t magic = 0x000, version = 0x004, device_id = 0x008, vendor_id = 0x00c,
                               device_features = 0x010, device_features_sel = 0x014, driver_features = 0x020,
                               driver_features_sel = 0x024, queue_sel = 0x030, queue_num_max = 0x034, queue_num = 0x038,
                               queue_ready = 0x044, queue_notify = 0x050, interrupt_status = 0x060,
                               interrupt_ack = 0x064, status = 0x070, queue_desc_low = 0x080, queue_desc_high = 0x084,
                               queue_driver_low = 0x090, queue_driver_high = 0x094, queue_device_low = 0x0a0,
                               queue_device_high = 0x0a4, config_generation = 0x0fc, config = 0x100;
}
inline constexpr std::uint64_t queue_notify_offset = reg::queue_notify;

namespace status {
inline constexpr std::uint32_t acknowledge = 1, driver = 2, driver_ok = 4, features_ok = 8, needs_reset = 64,
                               failed = 128;
}

class Transport final : public BusDevice {
public:
    static constexpr std::uint32_t pop_budget = 64; // chains per turn on the io_context

    // `max_queue_size` overrides the device's QueueNumMax (0: the device's own):
    // a vhost-user backend takes the ring sizes its frontend chose.
    Transport(std::string name, Device &device, const GuestMemory &memory, IrqLine &irq, boost::asio::io_context &io,
              std::uint16_t max_queue_size = 0);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    // Called on the io_context when the ioeventfd of `queue` fires.
    void notified(std::size_t queue);

    // For devices, with the lock held (from Device callbacks or run_locked):
    const GuestMemory &memory() const { return memory_; }
    Queue &queue(std::size_t index) { return queues_.at(index); }
    bool active() const { return status_ & status::driver_ok && !(status_ & status::needs_reset); }
    // Completes a chain pop() gave out (`len` bytes written); interrupts the
    // driver when it asked for that. A chain of a queue that was reset or
    // disabled since is dropped.
    void complete(std::size_t queue, const Chain &chain, std::uint32_t len);
    // Pops the next chain of `queue`; a malformed ring marks the device
    // NEEDS_RESET and returns nullopt, like an empty ring. Each turn on the
    // io_context pops at most pop_budget chains: past that pop() returns
    // nullopt and the queue is notified again after other work has run.
    std::optional<Chain> pop(std::size_t queue);
    // The guest broke the rules in a way the device cannot go on from.
    void needs_reset(const std::string &why);
    // What serves the device outside strata failed (a vhost-user backend):
    // the same DEVICE_NEEDS_RESET, logged as a device failure.
    void backend_failed(const std::string &why);
    // What the driver accepted (valid from FEATURES_OK on).
    std::uint64_t driver_features() const { return driver_features_; }
    // The device put buffers in a used ring itself (external rings): tell the driver.
    void used_buffer_interrupt();
    // Bumped on every reset: completions of work started before a reset
    // compare it and drop their result.
    std::uint64_t generation() const { return generation_; }
    // Runs fn with the lock held (for device completions on the io_context).
    template <class Fn>
    void run_locked(Fn &&fn) {
        std::lock_guard lock(mutex_);
        pop_budget_ = pop_budget;
        fn();
    }
    // The VM is going away: the device drops what it holds (as on a reset)
    // and no queue work starts any more. busy() then tells whether I/O it
    // started still touches guest memory.
    void shut_down();
    bool busy() const;
    const std::string &name() const { return name_; }
    std::uint32_t status() const;

private:
    void renotify(std::size_t queue);
    std::uint32_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint32_t value);
    void write_status(std::uint32_t value);
    void reset();
    void interrupt(std::uint32_t cause);
    std::uint64_t offered_features() const;
    void warn(const std::string &what, const char *kind = "guest error");
    void mark_needs_reset(const std::string &why, const char *kind);
    Queue *selected();

    std::string name_;
    Device &device_;
    const GuestMemory &memory_;
    IrqLine &irq_;
    boost::asio::io_context &io_;
    std::uint16_t max_queue_size_;

    mutable std::mutex mutex_; // everything below
    std::uint32_t status_ = 0;
    std::uint32_t draining_status_ = 0; // what Status reads while a reset waits for the device
    std::uint32_t device_features_sel_ = 0, driver_features_sel_ = 0;
    std::uint64_t driver_features_ = 0;
    std::uint32_t queue_sel_ = 0;
    std::uint32_t interrupt_status_ = 0;
    std::uint32_t config_generation_ = 0;
    std::uint64_t generation_ = 0;
    bool shut_down_ = false;
    std::vector<Queue> queues_;
    std::vector<bool> full_;     // per queue: a pop found no room for more buffers in flight
    std::vector<bool> renotify_; // per queue: a notified() is posted
    std::uint32_t pop_budget_ = pop_budget;
    std::vector<std::string> warned_; // each kind of guest mistake is logged once
};

} // namespace strata::virtio
