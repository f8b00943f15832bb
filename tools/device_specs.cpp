// --device and its short forms (see device_specs.hpp).
#include "tools/device_specs.hpp"

#include "tools/user_error.hpp"

namespace strata::cli {

namespace {

std::vector<std::string> all(const boost::program_options::variables_map &vm, const char *option) {
    return vm.count(option) ? vm[option].as<std::vector<std::string>>() : std::vector<std::string>{};
}

} // namespace

std::vector<RequestedDevice> requested_devices(const boost::program_options::variables_map &vm,
                                               const virtio::Registry &registry) {
    std::vector<RequestedDevice> out;
    if (vm.count("console") && vm["console"].as<std::string>() == "virtio")
        out.push_back(request_device(registry, "--console virtio", "virtio-console"));
    for (const auto &text : all(vm, "blk"))
        out.push_back(request_device(registry, "--blk " + text, "virtio-blk,path=" + text));
    for (const auto &text : all(vm, "net"))
        out.push_back(request_device(registry, "--net " + text, "virtio-net," + text));
    if (vm.count("rng") && vm["rng"].as<bool>())
        out.push_back(request_device(registry, "--rng", "virtio-rng"));
    for (const auto &text : all(vm, "device"))
        out.push_back(request_device(registry, "--device " + text, text));
    return out;
}

RequestedDevice request_device(const virtio::Registry &registry, const std::string &as_written,
                               const std::string &text) {
    try {
        return {as_written, text.substr(0, text.find(',')), registry.parse(text)};
    } catch (const virtio::OptionError &e) {
        throw UserError(as_written + ": " + e.what());
    }
}

std::unique_ptr<virtio::Device> create_device(const RequestedDevice &device, virtio::DeviceContext &context) {
    try {
        return device.config->create(context);
    } catch (const std::system_error &e) {
        throw UserError(device.as_written + ": " + e.what());
    } catch (const virtio::CreateError &e) {
        throw UserError(device.as_written + ": " + e.what());
    }
}

std::vector<fdt::VirtioRequest> virtio_requests(const std::vector<RequestedDevice> &devices) {
    std::vector<fdt::VirtioRequest> out;
    for (const auto &d : devices)
        out.push_back({static_cast<std::uint32_t>(d.config->type()), d.name});
    return out;
}

std::string describe_device_types(const virtio::Registry &registry) {
    std::string out = "Devices (--device NAME[,key=value...]):\n";
    for (const auto &[name, type] : registry.types())
        out += "  " + name + std::string(name.size() < 16 ? 16 - name.size() : 1, ' ') + type.summary + "\n";
    return out;
}

} // namespace strata::cli
