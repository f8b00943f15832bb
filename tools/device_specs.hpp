// The virtio devices the user asked for: each --device NAME[,key=value...],
// and the short forms --blk PATH[,ro][,id=NAME] (= --device
// virtio-blk,path=PATH...), --net SPEC (= virtio-net,SPEC), --rng
// (= virtio-rng) and --console virtio (= virtio-console), parsed by their
// device types in the registry. Nothing is opened here.
#pragma once

#include "devices/virtio/registry.hpp"
#include "fdt/layout.hpp"

#include <boost/program_options/variables_map.hpp>

#include <memory>
#include <string>
#include <vector>

namespace strata::cli {

struct RequestedDevice {
    std::string as_written; // "--blk disk.img,ro", for messages
    std::string name;       // the device type's name
    std::unique_ptr<virtio::DeviceConfig> config;
};

// In slot order: --console virtio, each --blk, each --net, --rng, then each
// --device as given. A bad option is a UserError naming it as written.
std::vector<RequestedDevice> requested_devices(const boost::program_options::variables_map &vm,
                                               const virtio::Registry &registry);

// One device, parsed by its type: TEXT is "NAME[,options]", `as_written`
// names it in messages. UserError for a bad name or option.
RequestedDevice request_device(const virtio::Registry &registry, const std::string &as_written,
                               const std::string &text);

// Creates (opens) the device: a file, tap or backend the user named that
// cannot be opened is their mistake to fix, a UserError naming it as written.
std::unique_ptr<virtio::Device> create_device(const RequestedDevice &device, virtio::DeviceContext &context);

// What the planner needs of them: a slot each, labelled with type ID and name.
std::vector<fdt::VirtioRequest> virtio_requests(const std::vector<RequestedDevice> &devices);

// The lines of `strata run --help` that list the registered device types.
std::string describe_device_types(const virtio::Registry &registry);

} // namespace strata::cli
