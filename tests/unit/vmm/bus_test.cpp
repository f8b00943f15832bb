// Bus: range registration (STYLE.md 1) and dispatch at the edges of a range,
// whole on the MMIO bus, split at range boundaries on the port bus.
#include "vmm/bus.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace strata {
namespace {

// Records every access; reads answer a fixed byte pattern.
class RecordingDevice final : public BusDevice {
public:
    struct Access {
        std::uint64_t offset;
        std::vector<std::uint8_t> bytes;
    };
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override {
        reads.push_back({offset, std::vector<std::uint8_t>(data.size())});
        for (std::size_t i = 0; i < data.size(); ++i)
            data[i] = static_cast<std::uint8_t>(0xa0 + i);
    }
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override {
        writes.push_back({offset, {data.begin(), data.end()}});
    }
    std::vector<Access> reads;
    std::vector<Access> writes;
};

constexpr std::uint64_t max = UINT64_MAX;

// --- insert -----------------------------------------------------------------

TEST(BusInsert, AcceptsARange) {
    Bus bus("mmio");
    RecordingDevice dev;
    EXPECT_EQ(bus.insert({0x1000, 0x100}, dev), BusInsertError::none);
}

TEST(BusInsert, RejectsZeroLength) {
    Bus bus("mmio");
    RecordingDevice dev;
    EXPECT_EQ(bus.insert({0x1000, 0}, dev), BusInsertError::zero_length);
}

TEST(BusInsert, RejectsARangeWrappingPastTheEndOfTheAddressSpace) {
    Bus bus("mmio");
    RecordingDevice dev;
    EXPECT_EQ(bus.insert({max - 0xfff, 0x1001}, dev), BusInsertError::overflow);
}

TEST(BusInsert, RejectsTheLargestSizeAtBaseTwo) {
    Bus bus("mmio");
    RecordingDevice dev;
    // [2, 2 + 2^64 - 1) would end one byte past UINT64_MAX.
    EXPECT_EQ(bus.insert({2, max}, dev), BusInsertError::overflow);
}

TEST(BusInsert, AcceptsTheLargestSizeAtBaseOne) {
    Bus bus("mmio");
    RecordingDevice dev;
    // [1, 2^64): the last byte is UINT64_MAX.
    EXPECT_EQ(bus.insert({1, max}, dev), BusInsertError::none);
}

TEST(BusInsert, AcceptsARangeEndingExactlyAtTheLastAddress) {
    Bus bus("mmio");
    RecordingDevice dev;
    EXPECT_EQ(bus.insert({max - 0xfff, 0x1000}, dev), BusInsertError::none);
}

TEST(BusInsert, AcceptsTheWholeAddressSpaceButOneByte) {
    Bus bus("mmio");
    RecordingDevice dev;
    EXPECT_EQ(bus.insert({0, max}, dev), BusInsertError::none);
}

TEST(BusInsert, RejectsAnOverlapFromBelow) {
    Bus bus("mmio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    // [0xf01, 0x1001) shares byte 0x1000 with a.
    EXPECT_EQ(bus.insert({0xf01, 0x100}, b), BusInsertError::overlap);
}

TEST(BusInsert, RejectsAnOverlapFromAbove) {
    Bus bus("mmio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    // [0x10ff, 0x11ff) shares byte 0x10ff with a.
    EXPECT_EQ(bus.insert({0x10ff, 0x100}, b), BusInsertError::overlap);
}

TEST(BusInsert, RejectsARangeInsideAnother) {
    Bus bus("mmio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    EXPECT_EQ(bus.insert({0x1010, 0x10}, b), BusInsertError::overlap);
}

TEST(BusInsert, RejectsARangeContainingAnother) {
    Bus bus("mmio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x1010, 0x10}, a), BusInsertError::none);
    EXPECT_EQ(bus.insert({0x1000, 0x100}, b), BusInsertError::overlap);
}

TEST(BusInsert, RejectsAnExactDuplicate) {
    Bus bus("mmio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    EXPECT_EQ(bus.insert({0x1000, 0x100}, b), BusInsertError::overlap);
}

TEST(BusInsert, RejectsARangeBridgingTwoOthers) {
    Bus bus("mmio");
    RecordingDevice a, b, c;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    ASSERT_EQ(bus.insert({0x3000, 0x100}, b), BusInsertError::none);
    EXPECT_EQ(bus.insert({0x10ff, 0x1f02}, c), BusInsertError::overlap);
}

TEST(BusInsert, AcceptsARangeEndingWhereAnotherBegins) {
    Bus bus("mmio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    EXPECT_EQ(bus.insert({0xf00, 0x100}, b), BusInsertError::none);
}

TEST(BusInsert, AcceptsARangeBeginningWhereAnotherEnds) {
    Bus bus("mmio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    EXPECT_EQ(bus.insert({0x1100, 0x100}, b), BusInsertError::none);
}

TEST(BusInsert, AcceptsARangeFillingTheGapBetweenTwoOthers) {
    Bus bus("mmio");
    RecordingDevice a, b, c;
    ASSERT_EQ(bus.insert({0x1000, 0x100}, a), BusInsertError::none);
    ASSERT_EQ(bus.insert({0x1200, 0x100}, b), BusInsertError::none);
    EXPECT_EQ(bus.insert({0x1100, 0x100}, c), BusInsertError::none);
}

TEST(BusInsert, ErrorsHaveMessages) {
    EXPECT_STREQ(to_string(BusInsertError::zero_length), "the range is empty");
    EXPECT_STREQ(to_string(BusInsertError::overflow), "the range wraps past the end of the address space");
    EXPECT_STREQ(to_string(BusInsertError::overlap), "the range overlaps a device already registered");
}

// --- find -------------------------------------------------------------------

class BusFind : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(bus.insert({0x1000, 0x100}, dev), BusInsertError::none); }
    Bus bus{"mmio"};
    RecordingDevice dev;
};

TEST_F(BusFind, FirstByteIsOffsetZero) {
    auto hit = bus.find(0x1000);
    EXPECT_EQ(hit.device, &dev);
    EXPECT_EQ(hit.offset, 0u);
}

TEST_F(BusFind, LastByteIsOffsetSizeMinusOne) {
    auto hit = bus.find(0x10ff);
    EXPECT_EQ(hit.device, &dev);
    EXPECT_EQ(hit.offset, 0xffu);
}

TEST_F(BusFind, OnePastTheEndIsUnclaimed) {
    auto hit = bus.find(0x1100);
    EXPECT_EQ(hit.device, nullptr);
    EXPECT_EQ(hit.offset, 0u);
}

TEST_F(BusFind, OneBeforeTheBaseIsUnclaimed) { EXPECT_EQ(bus.find(0xfff).device, nullptr); }

TEST_F(BusFind, AnAccessEndingOnTheLastByteIsClaimed) {
    auto hit = bus.find(0x10fc, 4);
    EXPECT_EQ(hit.device, &dev);
    EXPECT_EQ(hit.offset, 0xfcu);
}

TEST_F(BusFind, AnAccessStraddlingTheEndIsUnclaimed) { EXPECT_EQ(bus.find(0x10fd, 4).device, nullptr); }

TEST_F(BusFind, AnAccessStraddlingTheBaseIsUnclaimed) { EXPECT_EQ(bus.find(0xffe, 4).device, nullptr); }

TEST_F(BusFind, AnAccessAsLargeAsTheRangeIsClaimed) {
    auto hit = bus.find(0x1000, 0x100);
    EXPECT_EQ(hit.device, &dev);
    EXPECT_EQ(hit.offset, 0u);
}

TEST_F(BusFind, AHugeLengthDoesNotWrapIntoAHit) { EXPECT_EQ(bus.find(0x1001, max).device, nullptr); }

TEST(BusFindTop, TheLastAddressOfTheAddressSpaceIsFound) {
    Bus bus("mmio");
    RecordingDevice dev;
    ASSERT_EQ(bus.insert({max - 0xfff, 0x1000}, dev), BusInsertError::none);
    auto hit = bus.find(max);
    EXPECT_EQ(hit.device, &dev);
    EXPECT_EQ(hit.offset, 0xfffu);
}

TEST(BusFindTop, AnEightByteAccessAtTheLastAddressIsUnclaimed) {
    Bus bus("mmio");
    RecordingDevice dev;
    ASSERT_EQ(bus.insert({max - 0xfff, 0x1000}, dev), BusInsertError::none);
    EXPECT_EQ(bus.find(max, 8).device, nullptr);
}

TEST(BusFindAdjacent, EachOfTwoAdjacentDevicesGetsItsOwnBytes) {
    Bus bus("pio");
    RecordingDevice a, b;
    ASSERT_EQ(bus.insert({0x3f8, 8}, a), BusInsertError::none);
    ASSERT_EQ(bus.insert({0x400, 8}, b), BusInsertError::none);
    EXPECT_EQ(bus.find(0x3ff).device, &a);
    EXPECT_EQ(bus.find(0x400).device, &b);
    EXPECT_EQ(bus.find(0x400).offset, 0u);
    EXPECT_EQ(bus.find(0x3fe, 4).device, nullptr); // spans both devices
}

TEST(BusFindEmpty, AnEmptyBusClaimsNothing) {
    Bus bus("mmio");
    EXPECT_EQ(bus.find(0).device, nullptr);
    EXPECT_EQ(bus.find(max).device, nullptr);
}

// --- read / write -----------------------------------------------------------

class BusAccess : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(bus.insert({0xd000'0000, 0x200}, dev), BusInsertError::none); }
    Bus bus{"mmio"};
    RecordingDevice dev;
};

TEST_F(BusAccess, ReadPassesTheOffsetFromTheBase) {
    std::array<std::uint8_t, 4> data{};
    EXPECT_TRUE(bus.read(0xd000'0010, data));
    ASSERT_EQ(dev.reads.size(), 1u);
    EXPECT_EQ(dev.reads[0].offset, 0x10u);
    EXPECT_EQ(dev.reads[0].bytes.size(), 4u);
    EXPECT_EQ(data, (std::array<std::uint8_t, 4>{0xa0, 0xa1, 0xa2, 0xa3}));
}

TEST_F(BusAccess, WritePassesTheOffsetAndTheBytes) {
    const std::array<std::uint8_t, 2> data{0x34, 0x12};
    EXPECT_TRUE(bus.write(0xd000'01fe, data));
    ASSERT_EQ(dev.writes.size(), 1u);
    EXPECT_EQ(dev.writes[0].offset, 0x1feu);
    EXPECT_EQ(dev.writes[0].bytes, (std::vector<std::uint8_t>{0x34, 0x12}));
}

TEST_F(BusAccess, UnclaimedReadReturnsFalseAndAllOnes) {
    std::array<std::uint8_t, 4> data{0x11, 0x22, 0x33, 0x44};
    EXPECT_FALSE(bus.read(0xd000'0200, data));
    EXPECT_EQ(data, (std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
    EXPECT_TRUE(dev.reads.empty());
}

TEST_F(BusAccess, ReadStraddlingTheEndIsUnclaimedAndAllOnes) {
    std::array<std::uint8_t, 8> data{};
    EXPECT_FALSE(bus.read(0xd000'01fc, data));
    EXPECT_EQ(data, (std::array<std::uint8_t, 8>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    EXPECT_TRUE(dev.reads.empty());
}

TEST_F(BusAccess, UnclaimedWriteReturnsFalseAndReachesNoDevice) {
    const std::array<std::uint8_t, 1> data{0x55};
    EXPECT_FALSE(bus.write(0xcfff'ffff, data));
    EXPECT_TRUE(dev.writes.empty());
}

TEST_F(BusAccess, WriteStraddlingTheEndReachesNoDevice) {
    const std::array<std::uint8_t, 4> data{1, 2, 3, 4};
    EXPECT_FALSE(bus.write(0xd000'01fe, data));
    EXPECT_TRUE(dev.writes.empty());
}

// --- port bus: accesses split at range boundaries -------------------------

// The x86 legacy ports as strata registers them: debug-exit 0xf4/1, serial 0x3f8/8.
class SplitBus : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(bus.insert({0xf4, 1}, exit_port), BusInsertError::none);
        ASSERT_EQ(bus.insert({0x3f8, 8}, serial), BusInsertError::none);
        ASSERT_EQ(bus.insert({0x400, 8}, next), BusInsertError::none);
    }
    Bus bus{"port I/O", Bus::Straddle::split};
    RecordingDevice exit_port, serial, next;
};

TEST_F(SplitBus, AFourByteWriteToAOneBytePortGivesTheDeviceTheLowByte) {
    const std::array<std::uint8_t, 4> outl{0x05, 0x01, 0x00, 0x00}; // outl 0x105
    EXPECT_TRUE(bus.write(0xf4, outl));
    ASSERT_EQ(exit_port.writes.size(), 1u);
    EXPECT_EQ(exit_port.writes[0].offset, 0u);
    EXPECT_EQ(exit_port.writes[0].bytes, (std::vector<std::uint8_t>{0x05}));
}

TEST_F(SplitBus, ATwoByteWriteToAOneBytePortGivesTheDeviceTheLowByte) {
    const std::array<std::uint8_t, 2> outw{0xff, 0x01};
    EXPECT_TRUE(bus.write(0xf4, outw));
    ASSERT_EQ(exit_port.writes.size(), 1u);
    EXPECT_EQ(exit_port.writes[0].bytes, (std::vector<std::uint8_t>{0xff}));
}

TEST_F(SplitBus, AFourByteReadOfAOneBytePortIsTheDeviceByteThenAllOnes) {
    std::array<std::uint8_t, 4> inl{};
    EXPECT_TRUE(bus.read(0xf4, inl));
    EXPECT_EQ(inl, (std::array<std::uint8_t, 4>{0xa0, 0xff, 0xff, 0xff}));
    ASSERT_EQ(exit_port.reads.size(), 1u);
    EXPECT_EQ(exit_port.reads[0].bytes.size(), 1u);
}

TEST_F(SplitBus, AnAccessInsideOneRangeReachesItsDeviceWhole) {
    const std::array<std::uint8_t, 4> data{1, 2, 3, 4};
    EXPECT_TRUE(bus.write(0x3f8, data));
    ASSERT_EQ(serial.writes.size(), 1u);
    EXPECT_EQ(serial.writes[0].offset, 0u);
    EXPECT_EQ(serial.writes[0].bytes, (std::vector<std::uint8_t>{1, 2, 3, 4}));
}

TEST_F(SplitBus, AnAccessAcrossTwoAdjacentDevicesGivesEachItsBytes) {
    const std::array<std::uint8_t, 4> data{1, 2, 3, 4};
    EXPECT_TRUE(bus.write(0x3fe, data));
    ASSERT_EQ(serial.writes.size(), 1u);
    EXPECT_EQ(serial.writes[0].offset, 6u);
    EXPECT_EQ(serial.writes[0].bytes, (std::vector<std::uint8_t>{1, 2}));
    ASSERT_EQ(next.writes.size(), 1u);
    EXPECT_EQ(next.writes[0].offset, 0u);
    EXPECT_EQ(next.writes[0].bytes, (std::vector<std::uint8_t>{3, 4}));
}

TEST_F(SplitBus, PiecesForADeviceArePowersOfTwo) {
    // Three bytes are left in the serial range at 0x3fd: QEMU issues 2 + 1.
    const std::array<std::uint8_t, 4> data{1, 2, 3, 4};
    EXPECT_TRUE(bus.write(0x3fd, data));
    ASSERT_EQ(serial.writes.size(), 2u);
    EXPECT_EQ(serial.writes[0].offset, 5u);
    EXPECT_EQ(serial.writes[0].bytes, (std::vector<std::uint8_t>{1, 2}));
    EXPECT_EQ(serial.writes[1].offset, 7u);
    EXPECT_EQ(serial.writes[1].bytes, (std::vector<std::uint8_t>{3}));
    ASSERT_EQ(next.writes.size(), 1u);
    EXPECT_EQ(next.writes[0].bytes, (std::vector<std::uint8_t>{4}));
}

TEST_F(SplitBus, AnAccessStartingBeforeADeviceGivesItTheBytesInItsRange) {
    const std::array<std::uint8_t, 2> data{0x11, 0x22};
    EXPECT_TRUE(bus.write(0xf3, data));
    ASSERT_EQ(exit_port.writes.size(), 1u);
    EXPECT_EQ(exit_port.writes[0].offset, 0u);
    EXPECT_EQ(exit_port.writes[0].bytes, (std::vector<std::uint8_t>{0x22}));
}

TEST_F(SplitBus, AnAccessNoDeviceTouchesIsUnclaimedAndReadsAllOnes) {
    std::array<std::uint8_t, 4> data{};
    EXPECT_FALSE(bus.read(0x1234, data));
    EXPECT_EQ(data, (std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
    const std::array<std::uint8_t, 4> out{1, 2, 3, 4};
    EXPECT_FALSE(bus.write(0xf0, out)); // 0xf0..0xf3 end just below the exit port
    EXPECT_TRUE(exit_port.writes.empty());
}

TEST(SplitBusTop, AnAccessRunningPastTheLastAddressStopsThere) {
    Bus bus("port I/O", Bus::Straddle::split);
    RecordingDevice dev;
    ASSERT_EQ(bus.insert({max, 1}, dev), BusInsertError::none);
    std::array<std::uint8_t, 4> data{};
    EXPECT_TRUE(bus.read(max, data));
    EXPECT_EQ(data, (std::array<std::uint8_t, 4>{0xa0, 0xff, 0xff, 0xff}));
    ASSERT_EQ(dev.reads.size(), 1u);
    EXPECT_EQ(dev.reads[0].offset, 0u);
}

TEST(BusName, IsTheOneGiven) {
    Bus bus("pio");
    EXPECT_EQ(bus.name(), "pio");
}

} // namespace
} // namespace strata
