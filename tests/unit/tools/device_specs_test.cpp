// strata::cli: --device and its short forms, in slot order, with messages
// that name the option as the user wrote it.
#include "tools/device_specs.hpp"

#include "devices/virtio/builtin.hpp"
#include "tools/options.hpp"
#include "tools/user_error.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace strata::cli {
namespace {

po::variables_map args(std::vector<std::string> words) {
    words.insert(words.begin(), "run");
    std::vector<const char *> argv;
    for (const auto &w : words)
        argv.push_back(w.c_str());
    po::options_description desc;
    desc.add(machine_options());
    return parse(static_cast<int>(argv.size()), argv.data(), desc).vm;
}

std::vector<fdt::VirtioRequest> slots(std::vector<std::string> words) {
    virtio::Registry registry;
    virtio::register_builtin_devices(registry);
    return virtio_requests(requested_devices(args(std::move(words)), registry));
}

std::string error_of(std::vector<std::string> words) {
    try {
        slots(std::move(words));
    } catch (const UserError &e) {
        return e.what();
    }
    return "no error";
}

TEST(RequestedDevices, ShortFormsComeFirstInTheirOrderThenEachDevice) {
    const auto s = slots({"--device", "virtio-rng", "--rng", "--blk", "a.img", "--net", "tap=t0", "--console", "virtio",
                          "--device", "virtio-blk,path=b.img,ro", "--blk", "c.img"});
    std::vector<std::string> names;
    std::vector<std::uint32_t> types;
    for (const auto &r : s) {
        names.push_back(r.name);
        types.push_back(r.type_id);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"virtio-console", "virtio-blk", "virtio-blk", "virtio-net", "virtio-rng",
                                               "virtio-rng", "virtio-blk"}));
    EXPECT_EQ(types, (std::vector<std::uint32_t>{3, 2, 2, 1, 4, 4, 2}));
}

TEST(RequestedDevices, NoDevicesNoSlots) { EXPECT_TRUE(slots({}).empty()); }

TEST(RequestedDevices, DevicesInAConfigFileComeAfterThoseOnTheCommandLine) {
    const auto path = (std::filesystem::temp_directory_path() / "strata-device-test.ini").string();
    std::ofstream(path) << "device = virtio-rng\ndevice = virtio-blk,path=a.img\n";
    const auto s = slots({"--config", path, "--device", "virtio-net,tap=t0"});
    std::filesystem::remove(path);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].name, "virtio-net");
    EXPECT_EQ(s[1].name, "virtio-rng");
    EXPECT_EQ(s[2].name, "virtio-blk");
}

TEST(RequestedDevices, ErrorsNameTheOptionAsWritten) {
    EXPECT_EQ(error_of({"--blk", "a.img,rw"}), "--blk a.img,rw: 'rw' is not an option of this device");
    EXPECT_EQ(error_of({"--blk", ",ro"}), "--blk ,ro: a disk needs path=PATH");
    EXPECT_EQ(error_of({"--net", "tap=t0,queues=2"}),
              "--net tap=t0,queues=2: 'queues' is not an option of this device");
    EXPECT_EQ(error_of({"--device", "virtio-blk"}), "--device virtio-blk: a disk needs path=PATH");
    EXPECT_EQ(error_of({"--device", "nope"}),
              "--device nope: there is no device 'nope' (known: virtio-blk, virtio-console, virtio-net, virtio-rng)");
}

TEST(RequestedDevices, HelpListsEveryDeviceTypeWithItsOptions) {
    virtio::Registry registry;
    virtio::register_builtin_devices(registry);
    const auto text = describe_device_types(registry);
    EXPECT_EQ(text.rfind("Devices (--device NAME[,key=value...]):\n", 0), 0u);
    EXPECT_NE(text.find("\n  virtio-blk      path=PATH[,ro][,id=NAME]: a disk backed by a host file\n"),
              std::string::npos)
        << text;
}

} // namespace
} // namespace strata::cli
