// The built-in device types: their option parsers and how each is created.
#include "devices/virtio/builtin.hpp"

#include "devices/virtio/blk.hpp"
#include "devices/virtio/console.hpp"
#include "devices/virtio/net.hpp"
#include "devices/virtio/rng.hpp"

#include <net/if.h>

#include <cstdio>
#include <filesystem>

namespace strata::virtio {

namespace {

constexpr std::size_t blk_id_bytes = 20; // virtio 1.2 §5.2.6: GET_ID answers 20 bytes

// A config whose device needs nothing but what `make` does with the context.
template <class Make>
class SimpleConfig final : public DeviceConfig {
public:
    SimpleConfig(DeviceId type, Make make) : type_(type), make_(std::move(make)) {}
    DeviceId type() const override { return type_; }
    std::unique_ptr<Device> create(DeviceContext &context) const override { return make_(context); }

private:
    DeviceId type_;
    Make make_;
};

template <class Make>
std::unique_ptr<DeviceConfig> config(DeviceId type, Make make) {
    return std::make_unique<SimpleConfig<Make>>(type, std::move(make));
}

} // namespace

BlockSpec parse_block_options(DeviceOptions &o) {
    BlockSpec spec;
    spec.path = o.value("path").value_or("");
    if (spec.path.empty())
        throw OptionError("a disk needs path=PATH");
    spec.read_only = o.flag("ro");
    spec.id = o.value("id").value_or(std::filesystem::path(spec.path).filename().string().substr(0, blk_id_bytes));
    if (spec.id.empty() || spec.id.size() > blk_id_bytes)
        throw OptionError("the id '" + spec.id + "' is not 1 to 20 bytes long");
    return spec;
}

namespace {

std::array<std::uint8_t, 6> parse_mac(const std::string &text) {
    std::array<unsigned, 6> p{};
    char tail = 0;
    if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &tail) != 6)
        throw OptionError("mac=" + text + " is not a MAC address like 52:54:00:12:34:56");
    std::array<std::uint8_t, 6> mac{};
    for (std::size_t i = 0; i < 6; ++i)
        mac[i] = static_cast<std::uint8_t>(p[i]);
    if (mac[0] & 1)
        throw OptionError("mac=" + text + " is a multicast address");
    return mac;
}

} // namespace

// The default MAC ends in 0x56 + the index of the net device, so two taps
// without mac= still differ.
NetSpec parse_net_options(DeviceOptions &o, unsigned index) {
    NetSpec spec;
    spec.mac[5] = static_cast<std::uint8_t>(spec.mac[5] + index);
    spec.tap = o.value("tap").value_or("");
    if (spec.tap.empty() || spec.tap.size() >= IFNAMSIZ)
        throw OptionError("a net device needs tap=NAME (1 to 15 characters)");
    if (auto mac = o.value("mac"))
        spec.mac = parse_mac(*mac);
    return spec;
}

void register_builtin_devices(Registry &registry) {
    registry.add({"virtio-blk", "path=PATH[,ro][,id=NAME]: a disk backed by a host file", [](DeviceOptions &o) {
                      return config(DeviceId::block, [spec = parse_block_options(o)](DeviceContext &c) {
                          return std::make_unique<Block>(c.io, spec);
                      });
                  }});
    auto nets = std::make_shared<unsigned>(0);
    registry.add({"virtio-net", "tap=NAME[,mac=MAC]: a network device on a tap", [nets](DeviceOptions &o) {
                      return config(DeviceId::net, [spec = parse_net_options(o, (*nets)++)](DeviceContext &c) {
                          return std::make_unique<Net>(c.io, spec);
                      });
                  }});
    registry.add({"virtio-rng", "(no options): entropy from getrandom(2)", [](DeviceOptions &) {
                      return config(DeviceId::rng, [](DeviceContext &) { return std::make_unique<Rng>(); });
                  }});
    registry.add(
        {"virtio-console", "(no options): the console (stdin/stdout) as a virtio console", [](DeviceOptions &) {
             return config(DeviceId::console, [](DeviceContext &c) {
                 auto dev = std::make_unique<Console>(
                     [&console = c.console](std::span<const std::uint8_t> b) { console.write(b); });
                 c.console_input = [d = dev.get()](std::span<const std::uint8_t> b) { d->receive(b); };
                 return dev;
             });
         }});
}

} // namespace strata::virtio
