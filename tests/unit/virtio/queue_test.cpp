// Split virtqueue (devices/virtio/queue.hpp), device side: the tests play the
// driver, writing descriptors and rings into a real GuestMemory.
#include "devices/virtio/le.hpp"
#include "devices/virtio/queue.hpp"

#include "tests/unit/virtio/driver.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

// A fault or refusal text that names what went wrong.
#define EXPECT_MENTIONS(text, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, text)

namespace strata::virtio {
namespace {

using test::d_indirect;
using test::d_next;
using test::d_write;
using test::data_base;
using test::indirect_base;
using test::ram_base;
using test::ram_end;
using test::ram_size;

// A 16-entry queue on rings laid out by the test driver.
class QueueTest : public ::testing::Test {
protected:
    QueueTest() {
        q.size = 16;
        q.desc = rings.desc;
        q.avail = rings.avail;
        q.used = rings.used;
    }

    // Pops and expects a fault; the ring position must not move.
    std::string fault() {
        const auto before = q.last_avail();
        auto p = q.pop(memory);
        EXPECT_EQ(p.kind, Popped::Kind::fault);
        EXPECT_EQ(q.last_avail(), before);
        return p.fault;
    }

    GuestMemory memory = test::make_memory();
    test::Rings rings{memory, 16};
    Queue q;
};

TEST(LittleEndian, FieldsAreStoredLeastSignificantByteFirst) {
    const le32 v{0x1122'3344};
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &v, 4);
    EXPECT_EQ(bytes, (std::array<std::uint8_t, 4>{0x44, 0x33, 0x22, 0x11}));
    const std::array<std::uint8_t, 8> raw{1, 2, 3, 4, 5, 6, 7, 8};
    le64 w;
    std::memcpy(&w, raw.data(), 8);
    EXPECT_EQ(w.get(), 0x0807'0605'0403'0201u);
}

TEST_F(QueueTest, PopsReadableThenWritableChain) {
    rings.set_desc(2, {data_base, 100, d_next, 5});
    rings.set_desc(5, {data_base + 0x1000, 200, d_next | d_write, 7});
    rings.set_desc(7, {data_base + 0x2000, 1, d_write, 0});
    rings.publish(2);

    auto p = q.pop(memory);

    ASSERT_EQ(p.kind, Popped::Kind::chain);
    EXPECT_EQ(p.chain.head, 2);
    ASSERT_EQ(p.chain.buffers.size(), 3u);
    EXPECT_EQ(p.chain.buffers[0].addr.value, data_base);
    EXPECT_EQ(p.chain.buffers[0].len, 100u);
    EXPECT_FALSE(p.chain.buffers[0].writable);
    EXPECT_EQ(p.chain.buffers[1].addr.value, data_base + 0x1000);
    EXPECT_EQ(p.chain.buffers[1].len, 200u);
    EXPECT_TRUE(p.chain.buffers[1].writable);
    EXPECT_EQ(p.chain.buffers[2].addr.value, data_base + 0x2000);
    EXPECT_EQ(p.chain.buffers[2].len, 1u);
    EXPECT_TRUE(p.chain.buffers[2].writable);
    EXPECT_EQ(p.chain.readable, 100u);
    EXPECT_EQ(p.chain.writable, 201u);
    EXPECT_EQ(q.last_avail(), 1);
}

TEST_F(QueueTest, PopOfEmptyRingReturnsEmpty) {
    auto p = q.pop(memory);

    EXPECT_EQ(p.kind, Popped::Kind::empty);
    EXPECT_TRUE(p.chain.buffers.empty());
    EXPECT_EQ(q.last_avail(), 0);
}

TEST_F(QueueTest, PopsChainsInAvailOrderThenEmpty) {
    rings.set_desc(3, {data_base, 8, 0, 0});
    rings.set_desc(9, {data_base + 8, 8, d_write, 0});
    rings.publish(9);
    rings.publish(3);

    EXPECT_EQ(q.pop(memory).chain.head, 9);
    EXPECT_EQ(q.pop(memory).chain.head, 3);
    EXPECT_EQ(q.pop(memory).kind, Popped::Kind::empty);
    EXPECT_EQ(q.last_avail(), 2);
}

TEST_F(QueueTest, PopFollowsAvailIndexAcrossItsWrapAt65536) {
    rings.set_desc(0, {data_base, 4, 0, 0});
    // Drive last_avail up to 65534 in batches of a full ring.
    std::uint16_t idx = 0;
    while (idx != 65534) {
        const std::uint16_t batch = static_cast<std::uint16_t>(std::min(16, 65534 - idx));
        for (std::uint16_t i = 0; i < batch; ++i)
            rings.put(rings.avail + 4 + 2ull * ((idx + i) % 16), std::uint16_t{0});
        idx = static_cast<std::uint16_t>(idx + batch);
        rings.set_avail_idx(idx);
        for (std::uint16_t i = 0; i < batch; ++i) {
            auto p = q.pop(memory);
            ASSERT_EQ(p.kind, Popped::Kind::chain);
            ASSERT_TRUE(q.release(p.chain));
        }
    }
    ASSERT_EQ(q.last_avail(), 65534);
    rings.set_desc(4, {data_base, 4, 0, 0});
    rings.set_desc(6, {data_base, 4, 0, 0});
    rings.publish(4); // slot 65534 % 16 = 14, idx 65535
    rings.publish(6); // slot 15, idx wraps to 0

    auto first = q.pop(memory);
    auto second = q.pop(memory);

    EXPECT_EQ(rings.get<std::uint16_t>(rings.avail + 2), 0);
    ASSERT_EQ(first.kind, Popped::Kind::chain);
    EXPECT_EQ(first.chain.head, 4);
    ASSERT_EQ(second.kind, Popped::Kind::chain);
    EXPECT_EQ(second.chain.head, 6);
    EXPECT_EQ(q.last_avail(), 0);
    EXPECT_EQ(q.pop(memory).kind, Popped::Kind::empty);
}

TEST_F(QueueTest, PopsIndirectTable) {
    q.indirect = true;
    rings.set_desc(1, {indirect_base, 48, d_indirect, 0});
    rings.set_indirect(indirect_base, 0, {data_base, 16, d_next, 2});
    rings.set_indirect(indirect_base, 2, {data_base + 0x100, 32, d_next | d_write, 1});
    rings.set_indirect(indirect_base, 1, {data_base + 0x200, 64, d_write, 0});
    rings.publish(1);

    auto p = q.pop(memory);

    ASSERT_EQ(p.kind, Popped::Kind::chain);
    EXPECT_EQ(p.chain.head, 1);
    ASSERT_EQ(p.chain.buffers.size(), 3u);
    EXPECT_EQ(p.chain.buffers[0].addr.value, data_base);
    EXPECT_EQ(p.chain.buffers[1].addr.value, data_base + 0x100);
    EXPECT_EQ(p.chain.buffers[2].addr.value, data_base + 0x200);
    EXPECT_EQ(p.chain.readable, 16u);
    EXPECT_EQ(p.chain.writable, 96u);
}

TEST_F(QueueTest, IndirectDescriptorWithoutFeatureFaults) {
    rings.set_desc(0, {indirect_base, 16, d_indirect, 0});
    rings.set_indirect(indirect_base, 0, {data_base, 16, 0, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "VIRTIO_F_INDIRECT_DESC");
}

TEST_F(QueueTest, IndirectTableInsideIndirectTableFaults) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 16, d_indirect, 0});
    rings.set_indirect(indirect_base, 0, {indirect_base + 0x100, 16, d_indirect, 0});
    rings.set_indirect(indirect_base + 0x100, 0, {data_base, 16, 0, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "indirect table inside an indirect table");
}

TEST_F(QueueTest, IndirectWithNextFaults) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 16, d_indirect | d_next, 1});
    rings.set_desc(1, {data_base, 16, 0, 0});
    rings.set_indirect(indirect_base, 0, {data_base, 16, 0, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "both INDIRECT and NEXT");
}

TEST_F(QueueTest, IndirectTableLengthNotMultipleOf16Faults) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 24, d_indirect, 0});
    rings.set_indirect(indirect_base, 0, {data_base, 16, 0, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "indirect table length 24");
}

TEST_F(QueueTest, EmptyIndirectTableFaults) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 0, d_indirect, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "indirect table length 0");
}

TEST_F(QueueTest, IndirectTableOutsideRamFaults) {
    q.indirect = true;
    rings.set_desc(0, {ram_end - 16, 32, d_indirect, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "indirect table outside guest RAM");
}

TEST_F(QueueTest, ChainThatLoopsFaults) {
    rings.set_desc(0, {data_base, 16, d_next, 1});
    rings.set_desc(1, {data_base, 16, d_next, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "longer than the queue size 16");
}

TEST_F(QueueTest, ChainOfQueueSizeLinksIsAccepted) {
    for (std::uint16_t i = 0; i < 16; ++i)
        rings.set_desc(
            i, {data_base, 1, static_cast<std::uint16_t>(i < 15 ? d_next : 0), static_cast<std::uint16_t>(i + 1)});
    rings.publish(0);

    auto p = q.pop(memory);

    ASSERT_EQ(p.kind, Popped::Kind::chain);
    EXPECT_EQ(p.chain.buffers.size(), 16u);
    EXPECT_EQ(p.chain.readable, 16u);
}

TEST_F(QueueTest, IndirectTableThatLoopsFaults) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 32, d_indirect, 0});
    rings.set_indirect(indirect_base, 0, {data_base, 16, d_next, 1});
    rings.set_indirect(indirect_base, 1, {data_base, 16, d_next, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "longer than the queue size 16");
}

TEST_F(QueueTest, IndirectTableOfQueueSizeIsAccepted) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 16 * 16, d_indirect, 0});
    for (std::uint16_t i = 0; i < 16; ++i)
        rings.set_indirect(
            indirect_base, i,
            {data_base, 1, static_cast<std::uint16_t>(i < 15 ? d_next : 0), static_cast<std::uint16_t>(i + 1)});
    rings.publish(0);

    auto p = q.pop(memory);

    ASSERT_EQ(p.kind, Popped::Kind::chain);
    EXPECT_EQ(p.chain.buffers.size(), 16u);
}

// virtio 1.2 §2.7.5.3.1: no chain longer than the queue, through an indirect
// table either (once a table of any length was taken: millions of 1-byte
// descriptors, each a host Buffer).
TEST_F(QueueTest, IndirectTableLongerThanQueueFaults) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 17 * 16, d_indirect, 0});
    for (std::uint16_t i = 0; i < 17; ++i)
        rings.set_indirect(indirect_base, i, {data_base, 1, d_next, static_cast<std::uint16_t>(i + 1)});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "indirect table of 17 descriptors makes a chain longer than the queue size 16");
}

TEST_F(QueueTest, DirectLinksAndIndirectTableTogetherLongerThanQueueFault) {
    q.indirect = true;
    rings.set_desc(0, {data_base, 1, d_next, 1});
    rings.set_desc(1, {indirect_base, 16 * 16, d_indirect, 0});
    for (std::uint16_t i = 0; i < 16; ++i)
        rings.set_indirect(
            indirect_base, i,
            {data_base, 1, static_cast<std::uint16_t>(i < 15 ? d_next : 0), static_cast<std::uint16_t>(i + 1)});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "longer than the queue size 16");
}

TEST_F(QueueTest, HeadStillInFlightFaultsUntilReleased) {
    rings.set_desc(3, {data_base, 8, d_write, 0});
    rings.publish(3);
    auto first = q.pop(memory);
    ASSERT_EQ(first.kind, Popped::Kind::chain);
    rings.publish(3);

    EXPECT_MENTIONS(fault(), "descriptor 3 is made available while it is still in flight");
    EXPECT_TRUE(q.release(first.chain));
    EXPECT_EQ(q.pop(memory).kind, Popped::Kind::chain);
}

TEST_F(QueueTest, ReleaseAfterResetIsStale) {
    rings.set_desc(3, {data_base, 8, d_write, 0});
    rings.publish(3);
    auto p = q.pop(memory);
    ASSERT_EQ(p.kind, Popped::Kind::chain);

    q.reset();

    EXPECT_FALSE(q.release(p.chain));
    EXPECT_EQ(q.chains_held(), 0u);
}

TEST_F(QueueTest, BuffersHeldStopAtFourPerEntry) {
    q.indirect = true;
    for (std::uint16_t head = 0; head < 5; ++head) {
        const std::uint64_t table = indirect_base + 0x100ull * head;
        rings.set_desc(head, {table, 16 * 16, d_indirect, 0});
        for (std::uint16_t i = 0; i < 16; ++i)
            rings.set_indirect(
                table, i,
                {data_base, 1, static_cast<std::uint16_t>(i < 15 ? d_next : 0), static_cast<std::uint16_t>(i + 1)});
        rings.publish(head);
    }
    std::vector<Chain> held;
    for (int i = 0; i < 4; ++i) {
        auto p = q.pop(memory);
        ASSERT_EQ(p.kind, Popped::Kind::chain);
        held.push_back(p.chain);
    }
    EXPECT_EQ(q.buffers_held(), 64u);

    EXPECT_EQ(q.pop(memory).kind, Popped::Kind::full);
    EXPECT_EQ(q.last_avail(), 4);
    ASSERT_TRUE(q.release(held[1]));
    auto p = q.pop(memory);
    EXPECT_EQ(p.kind, Popped::Kind::chain);
    EXPECT_EQ(p.chain.head, 4);
}

TEST_F(QueueTest, PushToAQueueOfSizeZeroFaults) {
    q.size = 0;

    EXPECT_MENTIONS(*q.push(memory, 0, 0).fault, "size 0");
}

TEST_F(QueueTest, NextIndexOutsideTableFaults) {
    rings.set_desc(0, {data_base, 16, d_next, 16});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "next index 16 is outside its table");
}

TEST_F(QueueTest, NextIndexOutsideIndirectTableFaults) {
    q.indirect = true;
    rings.set_desc(0, {indirect_base, 32, d_indirect, 0});
    rings.set_indirect(indirect_base, 0, {data_base, 16, d_next, 2});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "next index 2 is outside its table");
}

TEST_F(QueueTest, HeadOutsideTableFaults) {
    rings.publish(16);

    EXPECT_MENTIONS(fault(), "descriptor 16 of a 16-entry table");
}

TEST_F(QueueTest, DescriptorBufferOutsideRamFaults) {
    rings.set_desc(0, {ram_end - 8, 16, 0, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "buffer outside guest RAM");
}

TEST_F(QueueTest, DescriptorWhoseEndWrapsFaults) {
    rings.set_desc(0, {UINT64_MAX - 3, 16, 0, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "buffer outside guest RAM");
}

TEST_F(QueueTest, DescriptorEndingAtLastByteOfRamIsAccepted) {
    rings.set_desc(0, {ram_end - 16, 16, 0, 0});
    rings.publish(0);

    EXPECT_EQ(q.pop(memory).kind, Popped::Kind::chain);
}

TEST_F(QueueTest, LengthsAddingUpPast4GiBFault) {
    // 4096 links of the whole 1 MiB region make exactly 4 GiB, one past
    // UINT32_MAX: a chain that long needs a queue of more than 4096 entries.
    constexpr std::uint16_t links = 4096;
    Queue big;
    big.size = 8192;
    big.desc = ram_base + 0x60000;  // 128 KiB of descriptors
    big.avail = ram_base + 0x80000; // 16 KiB + 6
    big.used = ram_base + 0x88000;  // 64 KiB + 6
    big.indirect = true;
    ASSERT_FALSE(big.check(memory));
    const std::uint64_t table = ram_base + 0x40000;
    rings.put(big.desc, test::Desc{table, 16u * links, d_indirect, 0});
    for (std::uint16_t i = 0; i < links; ++i)
        rings.set_indirect(table, i,
                           {ram_base, static_cast<std::uint32_t>(ram_size), d_next, static_cast<std::uint16_t>(i + 1)});
    rings.put(big.avail + 4, std::uint16_t{0});
    rings.put(big.avail + 2, std::uint16_t{1});

    auto p = big.pop(memory);

    EXPECT_EQ(p.kind, Popped::Kind::fault);
    EXPECT_MENTIONS(p.fault, "past 4 GiB");
}

TEST_F(QueueTest, AvailIndexMoreThanSizeAheadFaults) {
    rings.set_desc(0, {data_base, 16, 0, 0});
    rings.set_avail_idx(17);

    EXPECT_MENTIONS(fault(), "17 entries ahead of a 16-entry queue");
}

TEST_F(QueueTest, AvailIndexExactlySizeAheadIsAccepted) {
    rings.set_desc(0, {data_base, 16, 0, 0});
    rings.set_avail_idx(16); // every ring slot names descriptor 0

    EXPECT_EQ(q.pop(memory).kind, Popped::Kind::chain);
}

TEST_F(QueueTest, ReadableAfterWritableFaults) {
    rings.set_desc(0, {data_base, 16, d_write | d_next, 1});
    rings.set_desc(1, {data_base + 16, 16, 0, 0});
    rings.publish(0);

    EXPECT_MENTIONS(fault(), "device-readable descriptor after a device-writable one");
}

TEST_F(QueueTest, ZeroLengthDescriptorAddsNoBuffer) {
    rings.set_desc(0, {data_base, 0, d_next, 1});
    rings.set_desc(1, {data_base, 8, d_write, 0});
    rings.publish(0);

    auto p = q.pop(memory);

    ASSERT_EQ(p.kind, Popped::Kind::chain);
    ASSERT_EQ(p.chain.buffers.size(), 1u);
    EXPECT_EQ(p.chain.writable, 8u);
}

// --- check(): whether a configuration may be made ready ---

TEST_F(QueueTest, CheckAcceptsAlignedRingsInsideRam) { EXPECT_EQ(q.check(memory), std::nullopt); }

TEST_F(QueueTest, CheckRefusesSizeZero) {
    q.size = 0;
    EXPECT_MENTIONS(q.check(memory).value_or(""), "queue size 0 is not a power of two up to 32768");
}

TEST_F(QueueTest, CheckRefusesSizeNotPowerOfTwo) {
    q.size = 7;
    EXPECT_MENTIONS(q.check(memory).value_or(""), "queue size 7");
}

TEST_F(QueueTest, CheckRefusesSizeAboveTheSplitRingLimitOf32768) {
    q.size = 65535; // the largest a 16-bit QueueNum holds
    EXPECT_MENTIONS(q.check(memory).value_or(""), "queue size 65535 is not a power of two up to 32768");
}

TEST_F(QueueTest, CheckAcceptsSize256) {
    q.size = 256;
    EXPECT_EQ(q.check(memory), std::nullopt);
}

TEST_F(QueueTest, CheckRefusesDescriptorTableNotAlignedTo16) {
    q.desc += 8;
    EXPECT_MENTIONS(q.check(memory).value_or(""), "misaligned");
}

TEST_F(QueueTest, CheckRefusesAvailRingNotAlignedTo2) {
    q.avail += 1;
    EXPECT_MENTIONS(q.check(memory).value_or(""), "misaligned");
}

TEST_F(QueueTest, CheckRefusesUsedRingNotAlignedTo4) {
    q.used += 2;
    EXPECT_MENTIONS(q.check(memory).value_or(""), "misaligned");
}

TEST_F(QueueTest, CheckRefusesDescriptorTableOutsideRam) {
    q.desc = ram_end - 16 * 8; // half of the 16-entry table is past the end
    EXPECT_MENTIONS(q.check(memory).value_or(""), "outside guest RAM");
}

TEST_F(QueueTest, CheckRefusesAvailRingOutsideRam) {
    q.avail = ram_end - 6; // the ring needs 6 + 2 * 16 bytes
    EXPECT_MENTIONS(q.check(memory).value_or(""), "outside guest RAM");
}

TEST_F(QueueTest, CheckRefusesUsedRingOutsideRam) {
    q.used = ram_end - 8 * 16; // the ring needs 6 + 8 * 16 bytes
    EXPECT_MENTIONS(q.check(memory).value_or(""), "outside guest RAM");
}

TEST_F(QueueTest, CheckAcceptsUsedRingThatJustFitsBeforeEndOfRam) {
    q.used = ram_end - 136; // 6 + 8 * 16 = 134 bytes, 4-byte aligned
    EXPECT_EQ(q.check(memory), std::nullopt);
}

// --- push(): the used ring and interrupt suppression ---

TEST_F(QueueTest, PushWritesUsedElementAndIndex) {
    auto r = q.push(memory, 3, 42);

    EXPECT_EQ(r.fault, std::nullopt);
    EXPECT_EQ(rings.used_idx(), 1);
    EXPECT_EQ(rings.used_elem(0).id, 3u);
    EXPECT_EQ(rings.used_elem(0).len, 42u);
}

TEST_F(QueueTest, PushWrapsUsedRingSlotModuloSize) {
    for (std::uint16_t i = 0; i < 17; ++i)
        q.push(memory, i, 100u + i);

    EXPECT_EQ(rings.used_idx(), 17);
    EXPECT_EQ(rings.used_elem(16).id, 16u); // slot 0 rewritten
    EXPECT_EQ(rings.used_elem(16).len, 116u);
    EXPECT_EQ(rings.used_elem(1).id, 1u);
}

TEST_F(QueueTest, PushToUsedRingOutsideRamFaults) {
    q.used = ram_end;

    auto r = q.push(memory, 0, 0);

    EXPECT_MENTIONS(r.fault.value_or(""), "used ring lies outside guest RAM");
    EXPECT_FALSE(r.notify);
}

TEST_F(QueueTest, PushWithoutEventIdxNotifies) { EXPECT_TRUE(q.push(memory, 0, 0).notify); }

TEST_F(QueueTest, PushWithoutEventIdxHonoursNoInterruptFlag) {
    rings.set_avail_flags(1); // VIRTQ_AVAIL_F_NO_INTERRUPT

    auto r = q.push(memory, 0, 0);

    EXPECT_FALSE(r.notify);
    EXPECT_EQ(rings.used_idx(), 1); // the buffer is still returned
}

TEST_F(QueueTest, PushWithEventIdxNotifiesExactlyWhenCrossingUsedEvent) {
    q.event_idx = true;
    rings.set_used_event(2); // interrupt once used idx moves past 2

    std::vector<bool> notified;
    for (std::uint16_t i = 0; i < 5; ++i)
        notified.push_back(q.push(memory, i, 0).notify);

    EXPECT_EQ(notified, (std::vector<bool>{false, false, true, false, false}));
}

TEST_F(QueueTest, PushWithEventIdxNotifiesAcrossUsedIndexWrap) {
    q.event_idx = true;
    rings.set_used_event(65535);
    for (std::uint32_t i = 0; i < 65535; ++i)
        q.push(memory, 0, 0);

    ASSERT_EQ(rings.used_idx(), 65535);
    EXPECT_TRUE(q.push(memory, 0, 0).notify); // 65535 -> 0 crosses the event
    EXPECT_EQ(rings.used_idx(), 0);
    EXPECT_FALSE(q.push(memory, 0, 0).notify);
}

TEST_F(QueueTest, PushWithEventIdxIgnoresNoInterruptFlag) {
    q.event_idx = true;
    rings.set_avail_flags(1);
    rings.set_used_event(0);

    EXPECT_TRUE(q.push(memory, 0, 0).notify);
}

TEST_F(QueueTest, PopWithEventIdxWritesAvailEvent) {
    q.event_idx = true;
    rings.set_desc(0, {data_base, 16, 0, 0});
    rings.set_desc(1, {data_base, 16, 0, 0});
    rings.publish(0);
    rings.publish(1);

    q.pop(memory);
    EXPECT_EQ(rings.avail_event(), 1);
    q.pop(memory);
    EXPECT_EQ(rings.avail_event(), 2);
}

TEST_F(QueueTest, PopWithoutEventIdxLeavesAvailEventAlone) {
    rings.put(rings.used + 4 + 8 * 16, std::uint16_t{0xbeef});
    rings.set_desc(0, {data_base, 16, 0, 0});
    rings.publish(0);

    q.pop(memory);

    EXPECT_EQ(rings.avail_event(), 0xbeef);
}

TEST_F(QueueTest, ResetForgetsRingPositionsAndConfiguration) {
    rings.set_desc(0, {data_base, 16, 0, 0});
    rings.publish(0);
    q.pop(memory);
    q.ready = true;

    q.reset();

    EXPECT_EQ(q.last_avail(), 0);
    EXPECT_EQ(q.size, Queue::default_size);
    EXPECT_EQ(q.desc, 0u);
    EXPECT_FALSE(q.ready);
}

// --- read_chain / write_chain ---

// Readable buffers of 4, 4 and 8 bytes, then writable ones of 3 and 5 bytes.
class ChainCopyTest : public QueueTest {
protected:
    ChainCopyTest() {
        test::fill(memory, data_base, "ABCD");
        test::fill(memory, data_base + 0x100, "EFGH");
        test::fill(memory, data_base + 0x200, "IJKLMNOP");
        rings.set_desc(0, {data_base, 4, d_next, 1});
        rings.set_desc(1, {data_base + 0x100, 4, d_next, 2});
        rings.set_desc(2, {data_base + 0x200, 8, d_next, 3});
        rings.set_desc(3, {data_base + 0x300, 3, d_next | d_write, 4});
        rings.set_desc(4, {data_base + 0x400, 5, d_write, 0});
        rings.publish(0);
        chain = q.pop(memory).chain;
    }
    Chain chain;
};

TEST_F(ChainCopyTest, ReadChainGathersReadableBuffersFromOffset) {
    std::array<std::uint8_t, 8> out{};

    EXPECT_EQ(read_chain(memory, chain, 2, out), 8u);
    EXPECT_EQ(std::string(out.begin(), out.end()), "CDEFGHIJ");
}

TEST_F(ChainCopyTest, ReadChainStopsAtEndOfReadableBytes) {
    std::array<std::uint8_t, 16> out{};

    EXPECT_EQ(read_chain(memory, chain, 10, out), 6u);
    EXPECT_EQ(std::string(out.begin(), out.begin() + 6), "KLMNOP");
}

TEST_F(ChainCopyTest, ReadChainPastEndCopiesNothing) {
    std::array<std::uint8_t, 4> out{};

    EXPECT_EQ(read_chain(memory, chain, 16, out), 0u);
}

TEST_F(ChainCopyTest, WriteChainScattersIntoWritableBuffersFromOffset) {
    const std::string in = "wxyz";

    const auto n = write_chain(memory, chain, 1, std::span(reinterpret_cast<const std::uint8_t *>(in.data()), 4));

    EXPECT_EQ(n, 4u);
    EXPECT_EQ(test::text_at(memory, data_base + 0x300, 3), std::string("\0wx", 3));
    EXPECT_EQ(test::text_at(memory, data_base + 0x400, 5), std::string("yz\0\0\0", 5));
    EXPECT_EQ(test::text_at(memory, data_base, 4), "ABCD"); // readable buffers untouched
}

TEST_F(ChainCopyTest, WriteChainStopsAtEndOfWritableBytes) {
    const std::string in = "0123456789";

    const auto n = write_chain(memory, chain, 0, std::span(reinterpret_cast<const std::uint8_t *>(in.data()), 10));

    EXPECT_EQ(n, 8u);
    EXPECT_EQ(test::text_at(memory, data_base + 0x300, 3), "012");
    EXPECT_EQ(test::text_at(memory, data_base + 0x400, 5), "34567");
}

} // namespace
} // namespace strata::virtio
