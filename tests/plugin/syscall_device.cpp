// test-syscall: a forwarding wrapper around test-echo with one forbidden call.
#include "tests/plugin/syscall_device.hpp"

#include "devices/virtio/mmio.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

namespace strata::test {

namespace {

using namespace virtio;

enum class When : std::uint8_t { activate, notify };

void forbidden_call() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        ::close(fd);
}

class SyscallDevice final : public Device {
public:
    SyscallDevice(std::unique_ptr<Device> inner, When when) : inner_(std::move(inner)), when_(when) {}

    DeviceId id() const override { return inner_->id(); }
    std::uint64_t features() const override { return inner_->features(); }
    std::size_t queues() const override { return inner_->queues(); }
    std::span<const std::uint8_t> config() const override { return inner_->config(); }
    bool external_rings() const override { return inner_->external_rings(); }
    std::uint16_t max_queue_size() const override { return inner_->max_queue_size(); }
    void attached(Transport &t) override { inner_->attached(t); }
    void activate(Transport &t) override {
        if (when_ == When::activate)
            forbidden_call();
        inner_->activate(t);
    }
    void notify(Transport &t, std::size_t queue) override {
        if (when_ == When::notify && !called_) {
            called_ = true;
            forbidden_call();
        }
        inner_->notify(t, queue);
    }
    void reset() override { inner_->reset(); }
    bool busy() const override { return inner_->busy(); }

private:
    std::unique_ptr<Device> inner_;
    When when_;
    bool called_ = false;
};

class SyscallConfig final : public DeviceConfig {
public:
    SyscallConfig(std::unique_ptr<DeviceConfig> inner, When when) : inner_(std::move(inner)), when_(when) {}
    DeviceId type() const override { return inner_->type(); }
    std::unique_ptr<Device> create(DeviceContext &c) const override {
        return std::make_unique<SyscallDevice>(inner_->create(c), when_);
    }

private:
    std::unique_ptr<DeviceConfig> inner_;
    When when_;
};

} // namespace

void register_syscall_device(virtio::Registry &registry) {
    registry.add({"test-syscall",
                  "on=activate|notify: test-echo that makes socket(AF_INET) then, which the sandbox forbids "
                  "(tests only)",
                  [&registry](DeviceOptions &o) -> std::unique_ptr<DeviceConfig> {
                      const auto on = o.value("on").value_or("");
                      if (on != "activate" && on != "notify")
                          throw OptionError("on= wants activate or notify, not '" + on + "'");
                      return std::make_unique<SyscallConfig>(registry.parse("test-echo"),
                                                             on == "activate" ? When::activate : When::notify);
                  }});
}

} // namespace strata::test
