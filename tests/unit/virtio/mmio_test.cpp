// virtio-mmio transport (devices/virtio/mmio.hpp): the register file, the
// device status machine, queue set-up, notifications, interrupts and
// DEVICE_NEEDS_RESET, driven through Transport::read/write as a guest would.
#include "devices/virtio/mmio.hpp"

#include "tests/unit/virtio/driver.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace strata::virtio {
namespace {

using namespace test;

constexpr std::uint64_t f_device_bit = 1ull << 5; // what the fake device offers

// A device with one queue that returns every chain it pops, with the used
// length set to the chain's writable bytes.
class FakeDevice final : public Device {
public:
    DeviceId id() const override { return DeviceId::rng; }
    std::uint64_t features() const override { return f_device_bit; }
    std::size_t queues() const override { return 1; }
    std::span<const std::uint8_t> config() const override { return config_; }
    void activate(Transport &) override { ++activations; }
    void notify(Transport &transport, std::size_t queue) override {
        ++notifies;
        while (auto chain = transport.pop(queue)) {
            if (hold)
                held.push_back(std::move(*chain));
            else
                transport.complete(queue, *chain, static_cast<std::uint32_t>(chain->writable));
        }
    }
    void reset() override { ++resets; }

    int activations = 0, notifies = 0, resets = 0;
    bool hold = false;       // keep the chains popped (I/O in flight) instead of completing them
    std::vector<Chain> held; // what it keeps

private:
    std::array<std::uint8_t, 6> config_{0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
};

class TransportTest : public ::testing::Test {
protected:
    // VERSION_1 alone: the smallest feature set a driver may accept.
    void bring_up(std::uint64_t features = f_version_1) { initialise(transport, features, {&rings}, 16); }

    // One 8-byte writable buffer at descriptor 0.
    void post_buffer() {
        rings.set_desc(0, {data_base, 8, d_write, 0});
        rings.publish(0);
    }

    void post_looping_chain() {
        rings.set_desc(1, {data_base, 8, d_next, 2});
        rings.set_desc(2, {data_base, 8, d_next, 1});
        rings.publish(1);
    }

    std::uint32_t status() { return rd(transport, reg::status); }

    boost::asio::io_context io;
    GuestMemory memory = make_memory();
    CountingIrq irq;
    FakeDevice device;
    Transport transport{"virtio-test", device, memory, irq, io};
    Rings rings{memory, 16};
};

// --- identification registers ---

TEST_F(TransportTest, MagicValueIsVirt) { EXPECT_EQ(rd(transport, reg::magic), 0x74726976u); }

TEST_F(TransportTest, VersionIs2) { EXPECT_EQ(rd(transport, reg::version), 2u); }

TEST_F(TransportTest, DeviceIdIsTheDevicesType) { EXPECT_EQ(rd(transport, reg::device_id), 4u); }

TEST_F(TransportTest, VendorIdIsStrata) { EXPECT_EQ(rd(transport, reg::vendor_id), 0x53545241u); }

TEST_F(TransportTest, ConfigGenerationStartsAtZero) { EXPECT_EQ(rd(transport, reg::config_generation), 0u); }

// --- features ---

TEST_F(TransportTest, DeviceFeaturesLowWordHasIndirectEventIdxAndDeviceBits) {
    wr(transport, reg::device_features_sel, 0);
    EXPECT_EQ(rd(transport, reg::device_features), (1u << 28) | (1u << 29) | (1u << 5));
}

TEST_F(TransportTest, DeviceFeaturesHighWordHasVersion1) {
    wr(transport, reg::device_features_sel, 1);
    EXPECT_EQ(rd(transport, reg::device_features), 1u); // bit 32
}

TEST_F(TransportTest, DeviceFeaturesBeyondSecondWordAreZero) {
    wr(transport, reg::device_features_sel, 2);
    EXPECT_EQ(rd(transport, reg::device_features), 0u);
}

// --- access rules ---

TEST_F(TransportTest, WriteToReadOnlyRegisterIsIgnored) {
    wr(transport, reg::magic, 0);
    wr(transport, reg::queue_num_max, 4);
    wr(transport, reg::interrupt_status, 3);

    EXPECT_EQ(rd(transport, reg::magic), 0x74726976u);
    EXPECT_EQ(rd(transport, reg::queue_num_max), 256u);
    EXPECT_EQ(rd(transport, reg::interrupt_status), 0u);
}

TEST_F(TransportTest, ReadOfWriteOnlyRegisterReadsZero) {
    wr(transport, reg::queue_sel, 0);
    wr(transport, reg::queue_num, 16);

    EXPECT_EQ(rd(transport, reg::queue_num), 0u);
    EXPECT_EQ(rd(transport, reg::queue_notify), 0u);
}

TEST_F(TransportTest, ReadOfUnknownRegisterOffsetReadsZero) { EXPECT_EQ(rd(transport, 0x0f0), 0u); }

TEST_F(TransportTest, OneTwoAndEightByteRegisterReadsReadZero) {
    std::array<std::uint8_t, 1> one{0xff};
    std::array<std::uint8_t, 2> two{0xff, 0xff};
    std::array<std::uint8_t, 8> eight{};
    eight.fill(0xff);

    transport.read(reg::magic, one);
    transport.read(reg::magic, two);
    transport.read(reg::magic, eight);

    EXPECT_EQ(one, (std::array<std::uint8_t, 1>{}));
    EXPECT_EQ(two, (std::array<std::uint8_t, 2>{}));
    EXPECT_EQ(eight, (std::array<std::uint8_t, 8>{}));
}

TEST_F(TransportTest, OneByteWriteOfZeroToStatusDoesNotReset) {
    wr(transport, reg::status, s_ack);
    const std::array<std::uint8_t, 1> zero{0};

    transport.write(reg::status, zero);

    EXPECT_EQ(status(), s_ack);
}

TEST_F(TransportTest, TwoAndEightByteWritesAreIgnored) {
    wr(transport, reg::status, s_ack);
    const std::array<std::uint8_t, 2> two{3, 0};
    const std::array<std::uint8_t, 8> eight{3, 0, 0, 0, 0, 0, 0, 0};

    transport.write(reg::status, two);
    transport.write(reg::status, eight);

    EXPECT_EQ(status(), s_ack);
}

TEST_F(TransportTest, WriteToConfigSpaceIsIgnored) {
    wr(transport, reg::config, 0);
    EXPECT_EQ(rd(transport, reg::config), 0x44332211u);
}

TEST_F(TransportTest, ConfigSpaceReadsAtAnyWidthAndZeroPastItsEnd) {
    std::array<std::uint8_t, 1> one{};
    std::array<std::uint8_t, 2> two{};
    std::array<std::uint8_t, 8> eight{};
    eight.fill(0xff);

    transport.read(reg::config + 5, one);
    transport.read(reg::config + 1, two);
    transport.read(reg::config, eight);

    EXPECT_EQ(one[0], 0x66);
    EXPECT_EQ(two, (std::array<std::uint8_t, 2>{0x22, 0x33}));
    EXPECT_EQ(eight, (std::array<std::uint8_t, 8>{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0, 0}));
    EXPECT_EQ(rd(transport, reg::config + 8), 0u);
}

// --- device status (§2.1, §3.1.1) ---

TEST_F(TransportTest, FeaturesOkRefusedWithoutVersion1) {
    wr(transport, reg::status, s_ack);
    wr(transport, reg::status, s_driver);
    write_driver_features(transport, f_event_idx | f_indirect_desc);

    wr(transport, reg::status, s_features_ok);

    EXPECT_EQ(status(), s_driver); // bit 8 (FEATURES_OK) not set
}

TEST_F(TransportTest, FeaturesOkRefusedForUnofferedFeature) {
    wr(transport, reg::status, s_ack);
    wr(transport, reg::status, s_driver);
    write_driver_features(transport, f_version_1 | (1ull << 6));

    wr(transport, reg::status, s_features_ok);

    EXPECT_EQ(status(), s_driver);
}

TEST_F(TransportTest, FeaturesOkAcceptedForOfferedFeatures) {
    negotiate(transport, f_version_1 | f_event_idx | f_indirect_desc | f_device_bit);
    EXPECT_EQ(status(), s_features_ok);
}

TEST_F(TransportTest, DriverFeaturesWrittenAfterFeaturesOkAreIgnored) {
    negotiate(transport, f_version_1);
    wr(transport, reg::driver_features_sel, 0);
    wr(transport, reg::driver_features, static_cast<std::uint32_t>(f_event_idx)); // too late
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_ready, 1);
    wr(transport, reg::status, s_driver_ok);
    rings.set_used_event(1); // with EVENT_IDX the first buffer would not interrupt
    post_buffer();

    transport.notified(0);

    EXPECT_EQ(irq.pulses, 1);
    EXPECT_EQ(rings.avail_event(), 0); // not written: the queue runs without EVENT_IDX
}

TEST_F(TransportTest, DriverOkWithoutFeaturesOkRefused) {
    wr(transport, reg::status, s_ack);
    wr(transport, reg::status, s_driver);

    wr(transport, reg::status, s_driver | 4);

    EXPECT_EQ(status(), s_driver);
}

TEST_F(TransportTest, DriverOkActivatesDeviceOnce) {
    bring_up();
    wr(transport, reg::status, s_driver_ok);

    EXPECT_EQ(status(), s_driver_ok);
    EXPECT_EQ(device.activations, 1);
}

TEST_F(TransportTest, StatusGoingBackwardsIsIgnored) {
    negotiate(transport, f_version_1);

    wr(transport, reg::status, s_driver);

    EXPECT_EQ(status(), s_features_ok);
}

TEST_F(TransportTest, DriverCannotSetNeedsResetItself) {
    wr(transport, reg::status, s_ack | 64);
    EXPECT_EQ(status(), s_ack);
}

TEST_F(TransportTest, WritingZeroToStatusResetsEverything) {
    bring_up();
    post_buffer();
    transport.notified(0);
    ASSERT_EQ(rd(transport, reg::interrupt_status), 1u);
    wr(transport, reg::queue_sel, 0);

    wr(transport, reg::status, 0);

    EXPECT_EQ(status(), 0u);
    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
    EXPECT_EQ(rd(transport, reg::interrupt_status), 0u);
    EXPECT_EQ(device.resets, 1);
    // The driver features are gone: FEATURES_OK without writing them again
    // lacks VERSION_1 and is refused.
    wr(transport, reg::status, s_ack);
    wr(transport, reg::status, s_driver);
    wr(transport, reg::status, s_features_ok);
    EXPECT_EQ(status(), s_driver);
}

TEST_F(TransportTest, ResetForgetsQueueSelector) {
    wr(transport, reg::queue_sel, 5);
    ASSERT_EQ(rd(transport, reg::queue_num_max), 0u);

    wr(transport, reg::status, 0);

    EXPECT_EQ(rd(transport, reg::queue_num_max), 256u);
}

// --- queue set-up (§4.2.3.2) ---

TEST_F(TransportTest, QueueNumMaxIs256) {
    wr(transport, reg::queue_sel, 0);
    EXPECT_EQ(rd(transport, reg::queue_num_max), 256u);
}

TEST_F(TransportTest, QueueAboveQueueNumMaxIsNotMadeReady) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_num, 512);

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

TEST_F(TransportTest, QueueNumMaxCanBeRaisedForABackendThatTakesTheFrontendsSizes) {
    Transport wide{"wide", device, memory, irq, io, Queue::max_size};
    wr(wide, reg::queue_sel, 0);
    EXPECT_EQ(rd(wide, reg::queue_num_max), 32768u);
}

TEST_F(TransportTest, QueueNumMaxOfMissingQueueIsZero) {
    wr(transport, reg::queue_sel, 1);
    EXPECT_EQ(rd(transport, reg::queue_num_max), 0u);
}

TEST_F(TransportTest, QueueReadyAcceptedForValidQueue) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 1u);
}

TEST_F(TransportTest, QueueReadyRefusedForSize7) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 7);

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

TEST_F(TransportTest, QueueReadyRefusedForSize0) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 0);

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

TEST_F(TransportTest, QueueReadyRefusedForSizeAbove16Bits) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 0x10010); // must not be truncated to 16

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

TEST_F(TransportTest, QueueReadyRefusedForMisalignedDescriptorTable) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_desc_low, static_cast<std::uint32_t>(rings.desc + 8));

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

TEST_F(TransportTest, QueueReadyRefusedForMisalignedUsedRing) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_device_low, static_cast<std::uint32_t>(rings.used + 2));

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

TEST_F(TransportTest, QueueReadyRefusedForRingOutsideRam) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_driver_high, 1); // avail ring at 4 GiB + 0x11000

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

TEST_F(TransportTest, QueueAddressWritesIgnoredWhileReady) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_ready, 1);

    wr(transport, reg::queue_desc_low, static_cast<std::uint32_t>(rings.desc + 8)); // misaligned
    wr(transport, reg::queue_num, 7);
    wr(transport, reg::status, s_driver_ok);
    post_buffer();
    wr(transport, reg::queue_notify, 0);
    drain(io);

    EXPECT_EQ(rd(transport, reg::queue_ready), 1u);
    EXPECT_EQ(rings.used_idx(), 1); // still the original, valid set-up
    EXPECT_EQ(status() & status::needs_reset, 0u);
}

// A queue disabled (QueueReady 0) while the device holds one of its chains:
// the completion that comes later pushes nothing, whatever the driver did to
// the queue meanwhile (here: size 0, which once divided by zero).
TEST_F(TransportTest, CompletionAfterQueueDisabledIsDropped) {
    bring_up();
    device.hold = true;
    post_buffer();
    wr(transport, reg::queue_notify, 0);
    drain(io);
    ASSERT_EQ(device.held.size(), 1u);

    wr(transport, reg::queue_ready, 0);
    wr(transport, reg::queue_num, 0);
    transport.run_locked([&] { transport.complete(0, device.held[0], 8); });

    EXPECT_EQ(rings.used_idx(), 0);
    EXPECT_EQ(status() & status::needs_reset, 0u);
}

TEST_F(TransportTest, CompletionAfterQueueReenabledDoesNotReachTheNewRing) {
    bring_up();
    device.hold = true;
    post_buffer();
    wr(transport, reg::queue_notify, 0);
    drain(io);
    ASSERT_EQ(device.held.size(), 1u);

    wr(transport, reg::queue_ready, 0);
    Rings fresh{memory, 16, 1};
    set_up_queue(transport, 0, fresh, 16);
    wr(transport, reg::queue_ready, 1);
    ASSERT_EQ(rd(transport, reg::queue_ready), 1u);
    transport.run_locked([&] { transport.complete(0, device.held[0], 8); });

    EXPECT_EQ(fresh.used_idx(), 0);
    EXPECT_EQ(rings.used_idx(), 0);
}

// One notify cannot keep the io_context to itself: it pops pop_budget chains,
// and the rest run in a later turn.
TEST_F(TransportTest, NotifyPopsABudgetPerTurnAndPostsTheRest) {
    Rings big{memory, 128, 1};
    initialise(transport, f_version_1, {&big}, 128);
    for (std::uint16_t i = 0; i < 100; ++i) {
        big.set_desc(i, {data_base, 8, d_write, 0});
        big.publish(i);
    }

    transport.notified(0);
    EXPECT_EQ(big.used_idx(), Transport::pop_budget);
    drain(io);

    EXPECT_EQ(big.used_idx(), 100);
}

// The buffers a queue holds in flight are bounded (4 per entry): a chain that
// does not fit stays in the avail ring until a completion makes room.
TEST_F(TransportTest, BuffersInFlightAreBoundedAndResumeOnCompletion) {
    bring_up(f_version_1 | f_indirect_desc);
    device.hold = true;
    for (std::uint16_t head = 0; head < 5; ++head) {
        const std::uint64_t table = indirect_base + 0x100ull * head;
        rings.set_desc(head, {table, 16 * 16, d_indirect, 0});
        for (std::uint16_t i = 0; i < 16; ++i)
            rings.set_indirect(table, i,
                               {data_base + i, 1, static_cast<std::uint16_t>(d_write | (i < 15 ? d_next : 0)),
                                static_cast<std::uint16_t>(i + 1)});
        rings.publish(head);
    }
    wr(transport, reg::queue_notify, 0);
    drain(io);
    ASSERT_EQ(device.held.size(), 4u); // 64 buffers: the fifth chain waits

    transport.run_locked([&] { transport.complete(0, device.held[0], 0); });
    drain(io);

    EXPECT_EQ(device.held.size(), 5u);
    EXPECT_EQ(device.held[4].head, 4);
    EXPECT_EQ(status() & status::needs_reset, 0u);
}

TEST_F(TransportTest, QueueReadyForMissingQueueIsIgnored) {
    negotiate(transport, f_version_1);
    wr(transport, reg::queue_sel, 1);

    wr(transport, reg::queue_ready, 1);

    EXPECT_EQ(rd(transport, reg::queue_ready), 0u);
}

// --- notifications and interrupts ---

TEST_F(TransportTest, QueueNotifyRunsDeviceOnIoContext) {
    bring_up();
    post_buffer();

    wr(transport, reg::queue_notify, 0);
    EXPECT_EQ(device.notifies, 0); // only posted so far
    drain(io);

    EXPECT_EQ(device.notifies, 1);
    EXPECT_EQ(rings.used_idx(), 1);
    EXPECT_EQ(rings.used_elem(0).id, 0u);
    EXPECT_EQ(rings.used_elem(0).len, 8u);
}

TEST_F(TransportTest, NotifyBeforeDriverOkDoesNothing) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_ready, 1);
    post_buffer();

    wr(transport, reg::queue_notify, 0);
    drain(io);

    EXPECT_EQ(device.notifies, 0);
    EXPECT_EQ(rings.used_idx(), 0);
}

TEST_F(TransportTest, NotifyWorksOnceDriverOkIsSet) {
    negotiate(transport, f_version_1);
    set_up_queue(transport, 0, rings, 16);
    wr(transport, reg::queue_ready, 1);
    post_buffer();
    transport.notified(0);

    wr(transport, reg::status, s_driver_ok);
    transport.notified(0);

    EXPECT_EQ(rings.used_idx(), 1);
}

TEST_F(TransportTest, NotifyForMissingQueueIsIgnored) {
    bring_up();

    wr(transport, reg::queue_notify, 7);
    drain(io);

    EXPECT_EQ(device.notifies, 0);
}

TEST_F(TransportTest, UsedBufferSetsInterruptStatusBit0AndPulsesIrq) {
    bring_up();
    post_buffer();

    transport.notified(0);

    EXPECT_EQ(rd(transport, reg::interrupt_status), 1u);
    EXPECT_EQ(irq.pulses, 1);
}

TEST_F(TransportTest, InterruptAckClearsAcknowledgedBits) {
    bring_up();
    post_buffer();
    transport.notified(0);

    wr(transport, reg::interrupt_ack, 1);

    EXPECT_EQ(rd(transport, reg::interrupt_status), 0u);
}

TEST_F(TransportTest, SuppressedUsedBufferDoesNotInterrupt) {
    bring_up();
    rings.set_avail_flags(1); // VIRTQ_AVAIL_F_NO_INTERRUPT
    post_buffer();

    transport.notified(0);

    EXPECT_EQ(rings.used_idx(), 1);
    EXPECT_EQ(rd(transport, reg::interrupt_status), 0u);
    EXPECT_EQ(irq.pulses, 0);
}

TEST_F(TransportTest, EventIdxNegotiatedAtQueueReadyDrivesInterrupts) {
    bring_up(f_version_1 | f_event_idx);
    rings.set_used_event(1); // interrupt only for the second buffer
    post_buffer();
    transport.notified(0);
    EXPECT_EQ(irq.pulses, 0);

    post_buffer();
    transport.notified(0);

    EXPECT_EQ(irq.pulses, 1);
    EXPECT_EQ(rings.avail_event(), 2);
}

TEST_F(TransportTest, MalformedChainSetsNeedsReset) {
    bring_up();
    post_looping_chain();

    transport.notified(0);

    EXPECT_EQ(status(), s_driver_ok | 0x40u);
    EXPECT_EQ(rings.used_idx(), 0);
    EXPECT_EQ(device.resets, 1);
}

TEST_F(TransportTest, MalformedChainRaisesConfigInterrupt) {
    bring_up();
    post_looping_chain();

    transport.notified(0);

    EXPECT_EQ(rd(transport, reg::interrupt_status), 2u);
    EXPECT_EQ(irq.pulses, 1);
}

TEST_F(TransportTest, NotifiesAreIgnoredAfterNeedsReset) {
    bring_up();
    post_looping_chain();
    transport.notified(0);
    ASSERT_EQ(device.notifies, 1);

    post_buffer();
    transport.notified(0);
    wr(transport, reg::queue_notify, 0);
    drain(io);

    EXPECT_EQ(device.notifies, 1);
    EXPECT_EQ(rings.used_idx(), 0);
    EXPECT_EQ(irq.pulses, 1);
}

TEST_F(TransportTest, StatusWritesKeepNeedsReset) {
    bring_up();
    post_looping_chain();
    transport.notified(0);

    wr(transport, reg::status, s_driver_ok);

    EXPECT_EQ(status(), s_driver_ok | 0x40u);
}

TEST_F(TransportTest, DeviceWorksAgainAfterResetAndReinitialisation) {
    bring_up();
    post_looping_chain();
    transport.notified(0);

    wr(transport, reg::status, 0);
    Rings fresh{memory, 16};
    fresh.set_avail_idx(0);
    fresh.put(fresh.used + 2, std::uint16_t{0});
    initialise(transport, f_version_1, {&fresh}, 16);
    fresh.set_desc(0, {data_base, 8, d_write, 0});
    fresh.publish(0);
    transport.notified(0);

    EXPECT_EQ(status(), s_driver_ok);
    EXPECT_EQ(fresh.used_idx(), 1);
    EXPECT_EQ(fresh.used_elem(0).len, 8u);
}

TEST_F(TransportTest, ResetBumpsGeneration) {
    const auto before = transport.generation();
    wr(transport, reg::status, 0);
    EXPECT_EQ(transport.generation(), before + 1);
}

} // namespace
} // namespace strata::virtio
