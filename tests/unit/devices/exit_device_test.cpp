// The x86 exit devices: QEMU's isa-debug-exit, the ACPI power-off port, the null port.
#include "devices/exit_device.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace strata::devices {
namespace {

class ExitDevices : public ::testing::Test {
protected:
    StopFn recorder() {
        return [this](int status) { stops.push_back(status); };
    }
    std::vector<int> stops;
};

TEST_F(ExitDevices, DebugExitStopsWithTwiceTheValuePlusOne) {
    DebugExit dev(recorder());
    const std::array<std::uint8_t, 1> v{0x10};
    dev.write(0, v);
    EXPECT_EQ(stops, (std::vector<int>{0x21}));
}

TEST_F(ExitDevices, DebugExitOfZeroStopsWithOne) {
    DebugExit dev(recorder());
    const std::array<std::uint8_t, 1> v{0x00};
    dev.write(0, v);
    EXPECT_EQ(stops, (std::vector<int>{1}));
}

TEST_F(ExitDevices, DebugExitOfTheLargestByteStopsWith511) {
    DebugExit dev(recorder());
    const std::array<std::uint8_t, 1> v{0xff};
    dev.write(0, v);
    EXPECT_EQ(stops, (std::vector<int>{0x1ff}));
}

TEST_F(ExitDevices, DebugExitReadsZero) {
    DebugExit dev(recorder());
    std::array<std::uint8_t, 1> b{0xff};
    dev.read(0, b);
    EXPECT_EQ(b[0], 0x00);
    EXPECT_TRUE(stops.empty());
}

TEST_F(ExitDevices, PowerOffStopsWithZeroOnSleepEnableS5) {
    PowerOff dev(recorder());
    const std::array<std::uint8_t, 2> v{0x00, 0x20}; // 0x2000 little-endian
    dev.write(0, v);
    EXPECT_EQ(stops, (std::vector<int>{0}));
}

TEST_F(ExitDevices, PowerOffIgnoresZero) {
    PowerOff dev(recorder());
    const std::array<std::uint8_t, 2> v{0x00, 0x00};
    dev.write(0, v);
    EXPECT_TRUE(stops.empty());
}

TEST_F(ExitDevices, PowerOffIgnoresSleepEnableWithAnotherSleepType) {
    PowerOff dev(recorder());
    const std::array<std::uint8_t, 2> v{0x00, 0x24}; // 0x2400: SLP_EN, SLP_TYP 1 (suspend)
    dev.write(0, v);
    EXPECT_TRUE(stops.empty());
}

TEST_F(ExitDevices, PowerOffIgnoresASleepTypeWithoutSleepEnable) {
    PowerOff dev(recorder());
    const std::array<std::uint8_t, 2> v{0x00, 0x1c}; // 0x1c00
    dev.write(0, v);
    EXPECT_TRUE(stops.empty());
}

TEST_F(ExitDevices, PowerOffIgnoresAOneByteWrite) {
    PowerOff dev(recorder());
    // Only the low byte (0x00) is written; the 0x20 after it is not part of the access.
    const std::array<std::uint8_t, 2> buffer{0x00, 0x20};
    dev.write(0, std::span(buffer).first(1));
    EXPECT_TRUE(stops.empty());
}

TEST_F(ExitDevices, PowerOffIgnoresAOneByteWriteToTheHighByte) {
    PowerOff dev(recorder());
    const std::array<std::uint8_t, 1> v{0x20};
    dev.write(1, v);
    EXPECT_TRUE(stops.empty());
}

TEST_F(ExitDevices, PowerOffReadsZero) {
    PowerOff dev(recorder());
    std::array<std::uint8_t, 2> b{0xff, 0xff};
    dev.read(0, b);
    EXPECT_EQ(b, (std::array<std::uint8_t, 2>{0x00, 0x00}));
}

TEST(NullDevice, ReadsZero) {
    NullDevice dev;
    std::array<std::uint8_t, 4> b{0xff, 0xff, 0xff, 0xff};
    dev.read(0, b);
    EXPECT_EQ(b, (std::array<std::uint8_t, 4>{0, 0, 0, 0}));
}

TEST(NullDevice, DiscardsWrites) {
    NullDevice dev;
    const std::array<std::uint8_t, 4> v{1, 2, 3, 4};
    dev.write(0, v);
    std::array<std::uint8_t, 4> b{0xff, 0xff, 0xff, 0xff};
    dev.read(0, b);
    EXPECT_EQ(b, (std::array<std::uint8_t, 4>{0, 0, 0, 0}));
}

} // namespace
} // namespace strata::devices
