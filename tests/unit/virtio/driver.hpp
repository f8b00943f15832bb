// A minimal virtio guest driver for the unit tests: it lays out split rings
// in a real GuestMemory with write_obj, and drives a virtio-mmio Transport
// through its register interface, the way a guest kernel would.
//
//   guest RAM (one 1 MiB region at 0x10000), per queue q (q = 0, 1):
//   0x10000 + q*0x4000  descriptor table   (256 * 16 bytes)
//   0x11000 + q*0x4000  avail ring         (6 + 2 * 256 bytes)
//   0x12000 + q*0x4000  used ring          (6 + 8 * 256 bytes)
//   0x18000             indirect tables
//   0x20000 ..          data buffers
#pragma once

#include "devices/virtio/mmio.hpp"
#include "devices/virtio/queue.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/irq.hpp"

#include <boost/asio/io_context.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::virtio::test {

inline constexpr std::uint64_t ram_base = 0x10000;
inline constexpr std::uint64_t ram_size = 0x100000;
inline constexpr std::uint64_t ram_end = ram_base + ram_size;
inline constexpr std::uint64_t indirect_base = 0x18000;
inline constexpr std::uint64_t data_base = 0x20000;

inline constexpr std::uint16_t d_next = 1, d_write = 2, d_indirect = 4;

// Status values a driver writes in order (§3.1.1).
inline constexpr std::uint32_t s_ack = 1, s_driver = 3, s_features_ok = 11, s_driver_ok = 15;

struct Desc {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(Desc) == 16);

struct UsedElem {
    std::uint32_t id;
    std::uint32_t len;
};

inline GuestMemory make_memory() {
    GuestMemory m;
    m.add("ram", GuestAddress{ram_base}, ram_size);
    return m;
}

// The guest's view of one split virtqueue.
class Rings {
public:
    Rings(const GuestMemory &memory, std::uint16_t size, std::size_t index = 0)
        : memory_(memory), size_(size), desc(ram_base + 0x4000 * index), avail(desc + 0x1000), used(desc + 0x2000) {}

    void set_desc(std::uint16_t i, Desc d) const { put(desc + 16ull * i, d); }
    void set_indirect(std::uint64_t table, std::uint16_t i, Desc d) const { put(table + 16ull * i, d); }
    // Makes `head` available and publishes the new avail idx.
    void publish(std::uint16_t head) {
        put(avail + 4 + 2ull * (avail_idx_ % size_), head);
        ++avail_idx_;
        put(avail + 2, avail_idx_);
    }
    void set_avail_idx(std::uint16_t idx) {
        avail_idx_ = idx;
        put(avail + 2, idx);
    }
    void set_avail_flags(std::uint16_t flags) const { put(avail, flags); }
    void set_used_event(std::uint16_t event) const { put(avail + 4 + 2ull * size_, event); }

    std::uint16_t used_idx() const { return get<std::uint16_t>(used + 2); }
    UsedElem used_elem(std::uint16_t i) const { return get<UsedElem>(used + 4 + 8ull * (i % size_)); }
    std::uint16_t avail_event() const { return get<std::uint16_t>(used + 4 + 8ull * size_); }

    template <class T>
    void put(std::uint64_t addr, const T &v) const {
        if (!memory_.write_obj(GuestAddress{addr}, v))
            throw std::logic_error("test wrote outside guest RAM");
    }
    template <class T>
    T get(std::uint64_t addr) const {
        return memory_.read_obj<T>(GuestAddress{addr}).value();
    }

private:
    const GuestMemory &memory_;
    std::uint16_t size_;
    std::uint16_t avail_idx_ = 0;

public:
    const std::uint64_t desc, avail, used;
};

inline void fill(const GuestMemory &memory, std::uint64_t addr, std::span<const std::uint8_t> bytes) {
    auto s = memory.span(GuestAddress{addr}, bytes.size()).value();
    std::memcpy(s.data(), bytes.data(), bytes.size());
}
inline void fill(const GuestMemory &memory, std::uint64_t addr, const std::string &text) {
    fill(memory, addr, std::span(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()));
}
inline std::vector<std::uint8_t> bytes_at(const GuestMemory &memory, std::uint64_t addr, std::size_t len) {
    auto s = memory.span(GuestAddress{addr}, len).value();
    std::vector<std::uint8_t> out(len);
    std::memcpy(out.data(), s.data(), len);
    return out;
}
inline std::string text_at(const GuestMemory &memory, std::uint64_t addr, std::size_t len) {
    const auto b = bytes_at(memory, addr, len);
    return {b.begin(), b.end()};
}

class CountingIrq final : public IrqLine {
public:
    void set_level(bool high) override {
        if (high && !level_)
            ++pulses;
        level_ = high;
    }
    int pulses = 0;

private:
    bool level_ = false;
};

inline std::uint32_t rd(Transport &t, std::uint64_t offset) {
    std::array<std::uint8_t, 4> b{};
    t.read(offset, b);
    std::uint32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
}

inline void wr(Transport &t, std::uint64_t offset, std::uint32_t v) {
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), &v, 4);
    t.write(offset, b);
}

inline void write_driver_features(Transport &t, std::uint64_t features) {
    wr(t, reg::driver_features_sel, 0);
    wr(t, reg::driver_features, static_cast<std::uint32_t>(features));
    wr(t, reg::driver_features_sel, 1);
    wr(t, reg::driver_features, static_cast<std::uint32_t>(features >> 32));
}

// Programs queue `index` with `rings` (size and the three addresses).
inline void set_up_queue(Transport &t, std::uint32_t index, const Rings &rings, std::uint32_t size) {
    wr(t, reg::queue_sel, index);
    wr(t, reg::queue_num, size);
    wr(t, reg::queue_desc_low, static_cast<std::uint32_t>(rings.desc));
    wr(t, reg::queue_desc_high, static_cast<std::uint32_t>(rings.desc >> 32));
    wr(t, reg::queue_driver_low, static_cast<std::uint32_t>(rings.avail));
    wr(t, reg::queue_driver_high, static_cast<std::uint32_t>(rings.avail >> 32));
    wr(t, reg::queue_device_low, static_cast<std::uint32_t>(rings.used));
    wr(t, reg::queue_device_high, static_cast<std::uint32_t>(rings.used >> 32));
}

// The driver side of §3.1.1 up to FEATURES_OK.
inline void negotiate(Transport &t, std::uint64_t features) {
    wr(t, reg::status, s_ack);
    wr(t, reg::status, s_driver);
    write_driver_features(t, features);
    wr(t, reg::status, s_features_ok);
}

// Full initialisation: features, every queue in `rings` ready, DRIVER_OK.
inline void initialise(Transport &t, std::uint64_t features, const std::vector<const Rings *> &rings,
                       std::uint32_t size) {
    negotiate(t, features);
    for (std::size_t i = 0; i < rings.size(); ++i) {
        set_up_queue(t, static_cast<std::uint32_t>(i), *rings[i], size);
        wr(t, reg::queue_ready, 1);
    }
    wr(t, reg::status, s_driver_ok);
}

// Runs the io_context until `done()` holds, for at most two seconds.
template <class Done>
bool run_until(boost::asio::io_context &io, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        io.restart();
        io.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
}

// Runs every handler that is ready now (the posted QueueNotify ones).
inline void drain(boost::asio::io_context &io) {
    io.restart();
    io.poll();
}

} // namespace strata::virtio::test
