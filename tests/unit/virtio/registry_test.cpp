// The device registry: --device's option list, lookup by name, and the
// built-in devices' option parsers.
#include "devices/virtio/builtin.hpp"
#include "devices/virtio/registry.hpp"

#include <gtest/gtest.h>

#include <string>

namespace strata::virtio {
namespace {

template <class F>
std::string option_error(F f) {
    try {
        f();
    } catch (const OptionError &e) {
        return e.what();
    }
    return "no error";
}

// --- DeviceOptions ----------------------------------------------------------

TEST(DeviceOptions, ValuesAndFlagsAreTakenByName) {
    auto o = DeviceOptions::parse("path=/a/b.img,ro,id=x=y");
    EXPECT_EQ(o.value("path"), "/a/b.img");
    EXPECT_EQ(o.value("id"), "x=y"); // only the first '=' splits
    EXPECT_TRUE(o.flag("ro"));
    EXPECT_FALSE(o.flag("rw"));
    EXPECT_EQ(o.value("size"), std::nullopt);
    EXPECT_NO_THROW(o.finish());
}

TEST(DeviceOptions, AnOptionNothingTookIsRefusedByName) {
    auto o = DeviceOptions::parse("path=x,bogus=1");
    (void)o.value("path");
    EXPECT_EQ(option_error([&] { o.finish(); }), "'bogus' is not an option of this device");
}

TEST(DeviceOptions, RepeatedOptionIsRefused) {
    auto o = DeviceOptions::parse("tap=a,tap=b");
    EXPECT_EQ(option_error([&] { (void)o.value("tap"); }), "'tap' is given twice");
}

TEST(DeviceOptions, FlagWithAValueAndValueWithoutOneAreRefused) {
    auto o = DeviceOptions::parse("ro=1,path");
    EXPECT_EQ(option_error([&] { (void)o.flag("ro"); }), "'ro' takes no value");
    EXPECT_EQ(option_error([&] { (void)o.value("path"); }), "'path' wants a value: path=...");
}

TEST(DeviceOptions, EmptyOptionIsRefused) {
    EXPECT_EQ(option_error([] { DeviceOptions::parse("a,,b"); }), "an empty option in 'a,,b'");
    EXPECT_EQ(option_error([] { DeviceOptions::parse("a,"); }), "an empty option in 'a,'");
    EXPECT_NO_THROW(DeviceOptions::parse(""));
}

// --- Registry ---------------------------------------------------------------

Registry builtins() {
    Registry r;
    register_builtin_devices(r);
    return r;
}

TEST(Registry, BuiltinsAreRegisteredByName) {
    const auto r = builtins();
    for (const char *name : {"virtio-blk", "virtio-net", "virtio-rng", "virtio-console"})
        EXPECT_NE(r.find(name), nullptr) << name;
    EXPECT_EQ(r.types().size(), 4u);
}

TEST(Registry, ParseGivesTheTypeIdWithoutOpeningAnything) {
    const auto r = builtins();
    EXPECT_EQ(r.parse("virtio-blk,path=/nonexistent/disk.img")->type(), DeviceId::block);
    EXPECT_EQ(r.parse("virtio-net,tap=tap9")->type(), DeviceId::net);
    EXPECT_EQ(r.parse("virtio-rng")->type(), DeviceId::rng);
    EXPECT_EQ(r.parse("virtio-console")->type(), DeviceId::console);
}

TEST(Registry, UnknownNameListsTheKnownOnes) {
    EXPECT_EQ(option_error([] { builtins().parse("virtio-gpu,x=1"); }),
              "there is no device 'virtio-gpu' (known: virtio-blk, virtio-console, virtio-net, virtio-rng)");
}

TEST(Registry, OptionsTheTypeDoesNotTakeAreRefused) {
    EXPECT_EQ(option_error([] { builtins().parse("virtio-rng,rate=5"); }), "'rate' is not an option of this device");
}

TEST(Registry, ANameRegisteredTwiceIsABug) {
    Registry r;
    register_builtin_devices(r);
    EXPECT_THROW(register_builtin_devices(r), std::logic_error);
}

// --- the built-ins' options ---------------------------------------------------

BlockSpec block(const std::string &text) {
    auto o = DeviceOptions::parse(text);
    auto spec = parse_block_options(o);
    o.finish();
    return spec;
}

NetSpec net(const std::string &text, unsigned index = 0) {
    auto o = DeviceOptions::parse(text);
    auto spec = parse_net_options(o, index);
    o.finish();
    return spec;
}

TEST(BlockOptions, PathReadOnlyAndId) {
    const auto spec = block("path=a.img,ro,id=disk0");
    EXPECT_EQ(spec.path, "a.img");
    EXPECT_TRUE(spec.read_only);
    EXPECT_EQ(spec.id, "disk0");
}

TEST(BlockOptions, DefaultsToReadWriteWithTheFileNameCutTo20BytesAsId) {
    EXPECT_FALSE(block("path=/var/images/root.img").read_only);
    EXPECT_EQ(block("path=/var/images/root.img").id, "root.img");
    EXPECT_EQ(block("path=a-very-long-disk-image-name.img").id, "a-very-long-disk-ima");
}

TEST(BlockOptions, PathIsRequiredAndTheIdIs1To20Bytes) {
    EXPECT_EQ(option_error([] { block("ro"); }), "a disk needs path=PATH");
    EXPECT_EQ(option_error([] { block("path="); }), "a disk needs path=PATH");
    EXPECT_EQ(option_error([] { block("path=a,id="); }), "the id '' is not 1 to 20 bytes long");
    EXPECT_EQ(option_error([] { block("path=a,id=abcdefghijklmnopqrstu"); }),
              "the id 'abcdefghijklmnopqrstu' is not 1 to 20 bytes long");
    EXPECT_EQ(block("path=a,id=abcdefghijklmnopqrst").id, "abcdefghijklmnopqrst");
}

TEST(NetOptions, TapAndDefaultMacNumberedByIndex) {
    const auto spec = net("tap=tap0", 2);
    EXPECT_EQ(spec.tap, "tap0");
    EXPECT_EQ(spec.mac, (std::array<std::uint8_t, 6>{0x52, 0x54, 0x00, 0x12, 0x34, 0x58}));
}

TEST(NetOptions, ExplicitMac) {
    EXPECT_EQ(net("tap=tap1,mac=02:00:00:ab:cd:ef").mac, (std::array<std::uint8_t, 6>{2, 0, 0, 0xab, 0xcd, 0xef}));
}

TEST(NetOptions, TapIsRequiredAndAtMost15Characters) {
    EXPECT_EQ(option_error([] { net("mac=02:00:00:00:00:01"); }), "a net device needs tap=NAME (1 to 15 characters)");
    EXPECT_EQ(option_error([] { net("tap="); }), "a net device needs tap=NAME (1 to 15 characters)");
    EXPECT_EQ(option_error([] { net("tap=abcdefghijklmnop"); }), "a net device needs tap=NAME (1 to 15 characters)");
    EXPECT_EQ(net("tap=abcdefghijklmno").tap, "abcdefghijklmno");
}

TEST(NetOptions, MalformedAndMulticastMacsAreRefused) {
    EXPECT_EQ(option_error([] { net("tap=t,mac=52:54:00:12:34"); }),
              "mac=52:54:00:12:34 is not a MAC address like 52:54:00:12:34:56");
    EXPECT_EQ(option_error([] { net("tap=t,mac=52:54:00:12:34:56:78"); }),
              "mac=52:54:00:12:34:56:78 is not a MAC address like 52:54:00:12:34:56");
    EXPECT_EQ(option_error([] { net("tap=t,mac=01:00:5e:00:00:01"); }), "mac=01:00:5e:00:00:01 is a multicast address");
}

} // namespace
} // namespace strata::virtio
