// GuestMemory: memfd-backed regions and the one checked access path (STYLE.md 2).
#include "vmm/guest_memory.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace strata {
namespace {

constexpr std::uint64_t kib64 = 0x10000;
constexpr std::uint64_t max = UINT64_MAX;

bool is_out_of_range(const boost::system::error_code &ec) {
    return std::error_code(ec) == std::error_code(MemoryError::out_of_range);
}

std::string add_error(GuestMemory &memory, GuestAddress base, std::uint64_t size) {
    try {
        memory.add("new", base, size);
    } catch (const std::invalid_argument &e) {
        return e.what();
    }
    return "no error";
}

// Two adjacent 64 KiB regions: "low" [0x10000, 0x20000) and "high" [0x20000, 0x30000).
class GuestMemorySpan : public ::testing::Test {
protected:
    void SetUp() override {
        memory.add("low", GuestAddress{0x10000}, kib64);
        memory.add("high", GuestAddress{0x20000}, kib64);
    }
    GuestMemory memory;
};

// --- add ----------------------------------------------------------------------

TEST(GuestMemoryAdd, ReturnsTheNewRegion) {
    GuestMemory memory;
    const MemoryRegion &r = memory.add("ram", GuestAddress{0x40000}, kib64);
    EXPECT_EQ(r.name(), "ram");
    EXPECT_EQ(r.base(), GuestAddress{0x40000});
    EXPECT_EQ(r.size(), kib64);
    EXPECT_NE(r.host(), nullptr);
}

// Guest RAM is shared with vhost-user backends: its memfd can never shrink
// (or grow) under their mappings.
TEST(GuestMemoryAdd, RamIsAMemfdSealedAgainstResizing) {
    GuestMemory memory;
    const auto &r = memory.add("ram", GuestAddress{0x10000}, 0x10000);

    EXPECT_EQ(::fcntl(r.fd(), F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
    EXPECT_EQ(::ftruncate(r.fd(), 0x1000), -1);
}

TEST(GuestMemoryAdd, KeepsRegionsSortedByBase) {
    GuestMemory memory;
    memory.add("high", GuestAddress{0x100000}, kib64);
    memory.add("low", GuestAddress{0}, kib64);
    ASSERT_EQ(memory.regions().size(), 2u);
    EXPECT_EQ(memory.regions()[0].name(), "low");
    EXPECT_EQ(memory.regions()[1].name(), "high");
}

TEST(GuestMemoryAdd, ReturnsTheNewRegionWhenItSortsFirst) {
    GuestMemory memory;
    memory.add("high", GuestAddress{0x100000}, kib64);
    const MemoryRegion &r = memory.add("low", GuestAddress{0}, kib64);
    EXPECT_EQ(r.name(), "low");
    EXPECT_EQ(r.base(), GuestAddress{0});
}

TEST(GuestMemoryAdd, AcceptsAnAdjacentRegion) {
    GuestMemory memory;
    memory.add("a", GuestAddress{0x10000}, kib64);
    EXPECT_NO_THROW(memory.add("b", GuestAddress{0x20000}, kib64));
    EXPECT_NO_THROW(memory.add("c", GuestAddress{0}, kib64));
    EXPECT_EQ(memory.regions().size(), 3u);
}

TEST(GuestMemoryAdd, RejectsAnEmptyRegion) {
    GuestMemory memory;
    EXPECT_EQ(add_error(memory, GuestAddress{0x10000}, 0), "guest RAM region 'new' is empty or wraps");
    EXPECT_TRUE(memory.regions().empty());
}

TEST(GuestMemoryAdd, RejectsARegionWrappingPastTheEndOfTheAddressSpace) {
    GuestMemory memory;
    EXPECT_EQ(add_error(memory, GuestAddress{max - 0x7fff}, kib64), "guest RAM region 'new' is empty or wraps");
    EXPECT_TRUE(memory.regions().empty());
}

TEST(GuestMemoryAdd, RejectsAnOverlapFromBelow) {
    GuestMemory memory;
    memory.add("ram", GuestAddress{0x20000}, kib64);
    EXPECT_EQ(add_error(memory, GuestAddress{0x10001}, kib64), "guest RAM region 'new' overlaps 'ram'");
    EXPECT_EQ(memory.regions().size(), 1u);
}

TEST(GuestMemoryAdd, RejectsAnOverlapFromAbove) {
    GuestMemory memory;
    memory.add("ram", GuestAddress{0x20000}, kib64);
    EXPECT_EQ(add_error(memory, GuestAddress{0x2ffff}, kib64), "guest RAM region 'new' overlaps 'ram'");
}

TEST(GuestMemoryAdd, RejectsARegionInsideAnother) {
    GuestMemory memory;
    memory.add("ram", GuestAddress{0x20000}, 4 * kib64);
    EXPECT_EQ(add_error(memory, GuestAddress{0x30000}, kib64), "guest RAM region 'new' overlaps 'ram'");
}

TEST(GuestMemoryAdd, RejectsARegionContainingAnother) {
    GuestMemory memory;
    memory.add("ram", GuestAddress{0x30000}, kib64);
    EXPECT_EQ(add_error(memory, GuestAddress{0x20000}, 4 * kib64), "guest RAM region 'new' overlaps 'ram'");
}

TEST(GuestMemoryAdd, RejectsAnExactDuplicate) {
    GuestMemory memory;
    memory.add("ram", GuestAddress{0x20000}, kib64);
    EXPECT_EQ(add_error(memory, GuestAddress{0x20000}, kib64), "guest RAM region 'new' overlaps 'ram'");
}

TEST(GuestMemoryAdd, NewRegionsReadAsZero) {
    GuestMemory memory;
    memory.add("ram", GuestAddress{0}, kib64);
    auto first = memory.read_obj<std::uint64_t>(GuestAddress{0});
    auto last = memory.read_obj<std::uint64_t>(GuestAddress{kib64 - 8});
    ASSERT_TRUE(first && last);
    EXPECT_EQ(*first, 0u);
    EXPECT_EQ(*last, 0u);
}

// --- span ---------------------------------------------------------------------

TEST_F(GuestMemorySpan, FirstByteOfARegionMapsToItsHostStart) {
    auto s = memory.span(GuestAddress{0x10000}, 1);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->data(), memory.regions()[0].host());
    EXPECT_EQ(s->size(), 1u);
}

TEST_F(GuestMemorySpan, LastByteOfARegionIsInside) {
    auto s = memory.span(GuestAddress{0x1ffff}, 1);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->data(), memory.regions()[0].host() + 0xffff);
}

TEST_F(GuestMemorySpan, LastByteOfTheLastRegionIsInside) {
    auto s = memory.span(GuestAddress{0x2ffff}, 1);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->data(), memory.regions()[1].host() + 0xffff);
}

TEST_F(GuestMemorySpan, OnePastTheLastRegionIsOutside) {
    auto s = memory.span(GuestAddress{0x30000}, 1);
    ASSERT_FALSE(s);
    EXPECT_TRUE(is_out_of_range(s.error()));
}

TEST_F(GuestMemorySpan, OneBeforeTheFirstRegionIsOutside) { EXPECT_FALSE(memory.span(GuestAddress{0xffff}, 1)); }

TEST_F(GuestMemorySpan, AWholeRegionIsInside) {
    auto s = memory.span(GuestAddress{0x20000}, kib64);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->size(), kib64);
}

TEST_F(GuestMemorySpan, ARangeRunningPastTheLastRegionIsOutside) {
    EXPECT_FALSE(memory.span(GuestAddress{0x2fffc}, 8));
}

TEST_F(GuestMemorySpan, ARangeCrossingIntoTheAdjacentRegionIsOutside) {
    // Contiguous in the guest, but two separate host mappings.
    EXPECT_FALSE(memory.span(GuestAddress{0x1fffc}, 8));
    EXPECT_FALSE(memory.span(GuestAddress{0x10000}, 2 * kib64));
}

TEST_F(GuestMemorySpan, ZeroLengthInsideARegionIsAnEmptySpan) {
    auto s = memory.span(GuestAddress{0x10000}, 0);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->size(), 0u);
}

TEST_F(GuestMemorySpan, ZeroLengthOutsideEveryRegionIsOutside) {
    EXPECT_FALSE(memory.span(GuestAddress{0x40000}, 0));
    EXPECT_FALSE(memory.span(GuestAddress{0}, 0));
}

TEST_F(GuestMemorySpan, TheLastAddressOfTheAddressSpaceIsOutside) {
    EXPECT_FALSE(memory.span(GuestAddress{max}, 1));
    EXPECT_FALSE(memory.span(GuestAddress{max}, 0));
}

TEST_F(GuestMemorySpan, TheLargestLengthIsOutside) {
    EXPECT_FALSE(memory.span(GuestAddress{0x10000}, max));
    EXPECT_FALSE(memory.span(GuestAddress{max}, max));
}

TEST_F(GuestMemorySpan, ALengthWrappingToZeroIsOutside) {
    // 0x10000 + (2^64 - 0x10000) wraps to exactly 0.
    EXPECT_FALSE(memory.span(GuestAddress{0x10000}, 0 - std::uint64_t{0x10000}));
}

TEST_F(GuestMemorySpan, ALengthWrappingBackIntoTheRegionIsOutside) {
    // 0x10010 + (2^64 - 8) wraps to 0x10008, inside "low".
    EXPECT_FALSE(memory.span(GuestAddress{0x10010}, max - 7));
}

TEST(GuestMemoryEmpty, HasNoValidRange) {
    GuestMemory memory;
    EXPECT_FALSE(memory.span(GuestAddress{0}, 0));
    EXPECT_FALSE(memory.span(GuestAddress{0}, 1));
}

TEST(GuestMemoryHigh, ARegionNearTheTopOfTheAddressSpaceIsReachable) {
    // [2^64 - 0x20000, 2^64 - 0x10000): the last byte is max - 0x10000.
    GuestMemory memory;
    memory.add("top", GuestAddress{max - 0x1ffff}, kib64);
    EXPECT_TRUE(memory.span(GuestAddress{max - 0x10000}, 1));
    EXPECT_FALSE(memory.span(GuestAddress{max - 0x10000}, 2));
    EXPECT_FALSE(memory.span(GuestAddress{max - 0x1ffff}, max));
}

// --- read_obj / write_obj / write ---------------------------------------------

struct Record {
    std::uint32_t a;
    std::uint16_t b;
    std::uint8_t c;
    std::uint8_t d;
};

TEST_F(GuestMemorySpan, WriteObjThenReadObjRoundTrips) {
    ASSERT_TRUE(memory.write_obj(GuestAddress{0x10100}, Record{0xdeadbeef, 0x1234, 0x56, 0x78}));
    auto r = memory.read_obj<Record>(GuestAddress{0x10100});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->a, 0xdeadbeefu);
    EXPECT_EQ(r->b, 0x1234u);
    EXPECT_EQ(r->c, 0x56u);
    EXPECT_EQ(r->d, 0x78u);
}

TEST_F(GuestMemorySpan, WriteObjStoresLittleEndianBytesAtTheAddress) {
    ASSERT_TRUE(memory.write_obj(GuestAddress{0x20010}, std::uint32_t{0x11223344}));
    const std::byte *host = memory.regions()[1].host() + 0x10;
    EXPECT_EQ(host[0], std::byte{0x44});
    EXPECT_EQ(host[1], std::byte{0x33});
    EXPECT_EQ(host[2], std::byte{0x22});
    EXPECT_EQ(host[3], std::byte{0x11});
}

TEST_F(GuestMemorySpan, ReadObjAtTheLastBytesOfARegionWorks) {
    ASSERT_TRUE(memory.write_obj(GuestAddress{0x1fff8}, std::uint64_t{0x0102030405060708}));
    auto v = memory.read_obj<std::uint64_t>(GuestAddress{0x1fff8});
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 0x0102030405060708u);
}

TEST_F(GuestMemorySpan, ReadObjCrossingARegionBoundaryIsAnError) {
    auto v = memory.read_obj<std::uint64_t>(GuestAddress{0x1fffc});
    ASSERT_FALSE(v);
    EXPECT_TRUE(is_out_of_range(v.error()));
}

TEST_F(GuestMemorySpan, WriteObjOutsideRamIsAnErrorAndWritesNothing) {
    auto w = memory.write_obj(GuestAddress{0x2fffc}, std::uint64_t{max});
    ASSERT_FALSE(w);
    EXPECT_TRUE(is_out_of_range(w.error()));
    auto tail = memory.read_obj<std::uint32_t>(GuestAddress{0x2fffc});
    ASSERT_TRUE(tail);
    EXPECT_EQ(*tail, 0u);
}

TEST_F(GuestMemorySpan, WriteCopiesBytesToTheAddress) {
    const std::array<std::byte, 3> bytes{std::byte{0xaa}, std::byte{0xbb}, std::byte{0xcc}};
    ASSERT_TRUE(memory.write(GuestAddress{0x20000}, bytes));
    auto v = memory.read_obj<std::array<std::byte, 3>>(GuestAddress{0x20000});
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, bytes);
}

TEST_F(GuestMemorySpan, WriteCrossingARegionBoundaryIsAnError) {
    const std::array<std::byte, 2> bytes{std::byte{1}, std::byte{2}};
    auto w = memory.write(GuestAddress{0x1ffff}, bytes);
    ASSERT_FALSE(w);
    EXPECT_TRUE(is_out_of_range(w.error()));
}

TEST(GuestMemoryError, HasAMessage) {
    EXPECT_EQ(std::error_code(MemoryError::out_of_range).message(), "range is not inside guest RAM");
}

// --- the fd a vhost-user backend maps ----------------------------------------

TEST_F(GuestMemorySpan, EachRegionHasItsOwnValidFd) {
    const int low = memory.regions()[0].fd();
    const int high = memory.regions()[1].fd();
    EXPECT_GE(low, 0);
    EXPECT_GE(high, 0);
    EXPECT_NE(low, high);
}

TEST_F(GuestMemorySpan, TheFdIsAsLargeAsTheRegion) {
    struct stat st {};
    ASSERT_EQ(::fstat(memory.regions()[1].fd(), &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), kib64);
}

TEST_F(GuestMemorySpan, AMappingOfTheFdSeesBytesWrittenThroughGuestMemory) {
    ASSERT_TRUE(memory.write_obj(GuestAddress{0x20000 + 0x1234}, std::uint32_t{0xcafef00d}));
    void *p = ::mmap(nullptr, kib64, PROT_READ, MAP_SHARED, memory.regions()[1].fd(), 0);
    ASSERT_NE(p, MAP_FAILED);
    std::uint32_t seen = 0;
    std::memcpy(&seen, static_cast<const std::byte *>(p) + 0x1234, sizeof seen);
    ::munmap(p, kib64);
    EXPECT_EQ(seen, 0xcafef00du);
}

TEST_F(GuestMemorySpan, GuestMemorySeesBytesWrittenThroughAMappingOfTheFd) {
    void *p = ::mmap(nullptr, kib64, PROT_READ | PROT_WRITE, MAP_SHARED, memory.regions()[0].fd(), 0);
    ASSERT_NE(p, MAP_FAILED);
    const std::uint32_t value = 0x600dcafe;
    std::memcpy(static_cast<std::byte *>(p) + 0xfffc, &value, sizeof value);
    ::munmap(p, kib64);
    auto v = memory.read_obj<std::uint32_t>(GuestAddress{0x1fffc});
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 0x600dcafeu);
}

} // namespace
} // namespace strata
