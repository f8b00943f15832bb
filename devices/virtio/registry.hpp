// The device registry: virtio device types found by name, each with its option
// parser. `strata run --device NAME[,key=value...]` looks NAME up here; the
// built-in devices register the same way a plugin does (builtin.hpp), and the
// composition root fills the registry explicitly: no static initialisers.
//
// A device type turns its options into a DeviceConfig before any VM exists:
// the options are checked and the virtio type ID is known (the planner needs
// it for the slot), but nothing is opened. create() then builds the device,
// opening host files or sockets (std::system_error or CreateError when it
// cannot); it runs once, before the VM, on the thread that builds the machine.
//
//   registry.add({"my-dev", "what it does", [](DeviceOptions &o) { ... return config; }});
//   --device my-dev,size=4,ro   ->  parse(options) -> DeviceConfig -> create(context) -> Device
#pragma once

#include "devices/host_console.hpp"
#include "devices/virtio/device.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace strata::virtio {

// A device's options that cannot be used as given; what() is one sentence
// naming the option. The composition root adds how the user wrote it.
class OptionError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A device that cannot be created as configured, for a reason other than a
// failed host call: a backend that is absent or refuses the handshake.
// (Failed host calls are std::system_error.)
class CreateError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "key=value,flag,key2=value2": the options after a device's name. Each option
// is taken at most once; finish() refuses any the device did not take.
class DeviceOptions {
public:
    static DeviceOptions parse(std::string_view text);

    // The value of key=VALUE (OptionError for a bare `key` or a repeated one).
    std::optional<std::string> value(std::string_view key);
    // A bare `key` (OptionError for key=VALUE or a repeated one).
    bool flag(std::string_view key);
    // OptionError naming the first option nothing took.
    void finish() const;

private:
    struct Item {
        std::string key;
        std::optional<std::string> value;
        bool taken = false;
    };
    Item *find(std::string_view key);
    std::vector<Item> items_;
};

// What a device may use while it is created.
struct DeviceContext {
    boost::asio::io_context &io;   // where its I/O completes (the VM's io_context thread)
    devices::HostConsole &console; // the host side of the console
    // A device that takes the console's input (virtio-console) sets this; when
    // nothing does, input goes to the UART.
    std::function<void(std::span<const std::uint8_t>)> console_input;
};

// A device as the user described it: checked, not yet opened.
class DeviceConfig {
public:
    virtual ~DeviceConfig() = default;
    virtual DeviceId type() const = 0;
    virtual std::unique_ptr<Device> create(DeviceContext &context) const = 0;
};

struct DeviceType {
    std::string name;    // what --device takes, e.g. "virtio-blk"
    std::string summary; // one line for `strata run --help`: its options
    std::function<std::unique_ptr<DeviceConfig>(DeviceOptions &)> parse;
};

class Registry {
public:
    // std::logic_error for an empty or repeated name: a bug in the caller.
    void add(DeviceType type);
    const DeviceType *find(std::string_view name) const;
    const std::map<std::string, DeviceType, std::less<>> &types() const { return types_; }

    // "NAME[,options]" -> the device type's config (OptionError for an
    // unknown NAME, or options the type refuses).
    std::unique_ptr<DeviceConfig> parse(std::string_view text) const;

private:
    std::map<std::string, DeviceType, std::less<>> types_;
};

} // namespace strata::virtio
