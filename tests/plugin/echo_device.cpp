// test-echo, written against the public device API only (device.hpp,
// registry.hpp, mmio.hpp's Transport, queue.hpp's chain copies).
#include "tests/plugin/echo_device.hpp"

#include "devices/virtio/le.hpp"
#include "devices/virtio/mmio.hpp"

#include <array>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>

namespace strata::test {

namespace {

using namespace virtio;

constexpr std::size_t inq = 0, outq = 1;
constexpr std::size_t held_limit = 4096;

class Echo final : public Device {
public:
    explicit Echo(std::uint8_t pattern) : pattern_(pattern) {}

    DeviceId id() const override { return echo_device_id; }
    std::uint64_t features() const override { return 0; }
    std::size_t queues() const override { return 2; }
    std::span<const std::uint8_t> config() const override { return config_; }
    void reset() override {
        held_.clear();
        set_count(0);
    }

    void notify(Transport &transport, std::size_t) override {
        give_back(transport);
        take(transport);
        give_back(transport);
    }

private:
    // Takes whole chains from queue 0 while they fit what is held.
    void take(Transport &transport) {
        while (held_.size() < held_limit) {
            auto chain = transport.pop(inq);
            if (!chain)
                return;
            if (chain->readable > held_limit) // so what is held stays under twice the limit
                return transport.needs_reset("a chain of more than 4096 bytes for test-echo");
            std::array<std::uint8_t, held_limit> bytes{};
            const auto n = read_chain(transport.memory(), *chain, 0, std::span(bytes).first(chain->readable));
            held_.insert(held_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
            transport.complete(inq, *chain, 0);
        }
    }

    // Fills receive buffers of queue 1 with what is held.
    void give_back(Transport &transport) {
        while (!held_.empty()) {
            auto chain = transport.pop(outq);
            if (!chain)
                return;
            std::vector<std::uint8_t> out;
            while (!held_.empty() && out.size() < chain->writable) {
                out.push_back(static_cast<std::uint8_t>(held_.front() ^ pattern_));
                held_.pop_front();
            }
            const auto n = write_chain(transport.memory(), *chain, 0, out);
            set_count(count_ + static_cast<std::uint32_t>(n));
            transport.complete(outq, *chain, static_cast<std::uint32_t>(n));
        }
    }

    void set_count(std::uint32_t count) {
        count_ = count;
        const le32 raw{count};
        std::memcpy(config_.data(), &raw, sizeof raw);
    }

    std::uint8_t pattern_;
    std::deque<std::uint8_t> held_;
    std::uint32_t count_ = 0;
    std::array<std::uint8_t, 4> config_{};
};

class EchoConfig final : public DeviceConfig {
public:
    explicit EchoConfig(std::uint8_t pattern) : pattern_(pattern) {}
    DeviceId type() const override { return echo_device_id; }
    std::unique_ptr<Device> create(DeviceContext &) const override { return std::make_unique<Echo>(pattern_); }

private:
    std::uint8_t pattern_;
};

std::uint8_t parse_pattern(const std::string &text) {
    std::size_t used = 0;
    unsigned long v = 256;
    try {
        v = std::stoul(text, &used, 0);
    } catch (const std::exception &) {
    }
    if (text.empty() || used != text.size() || v > 255)
        throw OptionError("xor=" + text + " is not a byte (0 to 255, or 0x00 to 0xff)");
    return static_cast<std::uint8_t>(v);
}

// test-throw: a device whose notify throws, as a device with a bug (or one
// that runs out of memory) would. It shares test-echo's ID, so the echo-test
// guest drives it.
class Thrower final : public Device {
public:
    DeviceId id() const override { return echo_device_id; }
    std::uint64_t features() const override { return 0; }
    std::size_t queues() const override { return 2; }
    void notify(Transport &, std::size_t) override { throw std::runtime_error("test-throw: notify failed"); }
};

class ThrowerConfig final : public DeviceConfig {
public:
    DeviceId type() const override { return echo_device_id; }
    std::unique_ptr<Device> create(DeviceContext &) const override { return std::make_unique<Thrower>(); }
};

} // namespace

void register_test_devices(virtio::Registry &registry) {
    registry.add({"test-throw", "throws from every notify (tests only)",
                  [](DeviceOptions &) { return std::make_unique<ThrowerConfig>(); }});
    registry.add(
        {"test-echo", "[xor=N]: gives back what the driver sends, XORed with N (tests only)",
         [](DeviceOptions &o) { return std::make_unique<EchoConfig>(parse_pattern(o.value("xor").value_or("0"))); }});
}

} // namespace strata::test
