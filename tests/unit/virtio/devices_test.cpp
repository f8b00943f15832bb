// virtio device types (rng, console, block) driven through the virtio-mmio
// transport by the test driver, and the --blk / --net spec parsers. The net
// device needs a tap interface, so only its parser is tested here.
#include "devices/virtio/blk.hpp"
#include "devices/virtio/console.hpp"
#include "devices/virtio/mmio.hpp"
#include "devices/virtio/net.hpp"
#include "devices/virtio/rng.hpp"

#include "tests/unit/virtio/driver.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace strata::virtio {
namespace {

using namespace test;

// --- rng ---

class RngTest : public ::testing::Test {
protected:
    RngTest() { initialise(transport, f_version_1, {&rings}, 16); }

    boost::asio::io_context io;
    GuestMemory memory = make_memory();
    CountingIrq irq;
    Rng rng;
    Transport transport{"virtio-rng", rng, memory, irq, io};
    Rings rings{memory, 16};
};

TEST_F(RngTest, Fills64ByteWritableBuffer) {
    rings.set_desc(0, {data_base, 64, d_write, 0});
    rings.publish(0);

    wr(transport, reg::queue_notify, 0);
    drain(io);

    ASSERT_EQ(rings.used_idx(), 1);
    EXPECT_EQ(rings.used_elem(0).id, 0u);
    EXPECT_EQ(rings.used_elem(0).len, 64u);
    const auto bytes = bytes_at(memory, data_base, 64);
    EXPECT_NE(std::count(bytes.begin(), bytes.end(), bytes[0]), 64);
    EXPECT_EQ(irq.pulses, 1);
}

TEST_F(RngTest, GivesAtMost4096BytesPerChain) {
    rings.set_desc(0, {data_base, 8192, d_write, 0});
    rings.publish(0);

    transport.notified(0);

    ASSERT_EQ(rings.used_idx(), 1);
    EXPECT_EQ(rings.used_elem(0).len, 4096u);
}

TEST_F(RngTest, ReadableOnlyChainIsReturnedEmpty) {
    rings.set_desc(0, {data_base, 64, 0, 0});
    rings.publish(0);

    transport.notified(0);

    ASSERT_EQ(rings.used_idx(), 1);
    EXPECT_EQ(rings.used_elem(0).len, 0u);
}

// --- console ---

class ConsoleTest : public ::testing::Test {
protected:
    static constexpr std::uint32_t receiveq = 0, transmitq = 1;

    void bring_up() { initialise(transport, f_version_1, {&rx, &tx}, 16); }

    void post_rx(std::uint16_t head, std::uint64_t addr, std::uint32_t len) {
        rx.set_desc(head, {addr, len, d_write, 0});
        rx.publish(head);
    }

    void type(const std::string &text) {
        console.receive(std::span(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()));
    }

    boost::asio::io_context io;
    GuestMemory memory = make_memory();
    CountingIrq irq;
    std::vector<std::string> written;
    Console console{[this](std::span<const std::uint8_t> b) { written.emplace_back(b.begin(), b.end()); }};
    Transport transport{"virtio-console", console, memory, irq, io};
    Rings rx{memory, 16, receiveq};
    Rings tx{memory, 16, transmitq};
};

TEST_F(ConsoleTest, TransmitDeliversExactBytesOfChainToOutput) {
    bring_up();
    fill(memory, data_base, "hel");
    fill(memory, data_base + 0x100, "lo\n");
    tx.set_desc(0, {data_base, 3, d_next, 1});
    tx.set_desc(1, {data_base + 0x100, 3, 0, 0});
    tx.publish(0);

    wr(transport, reg::queue_notify, transmitq);
    drain(io);

    EXPECT_EQ(written, (std::vector<std::string>{"hel", "lo\n"})); // straight from each buffer, in order
    ASSERT_EQ(tx.used_idx(), 1);
    EXPECT_EQ(tx.used_elem(0).id, 0u);
    EXPECT_EQ(tx.used_elem(0).len, 0u);
}

TEST_F(ConsoleTest, TransmitDeliversEachChainInOrder) {
    bring_up();
    fill(memory, data_base, "one");
    fill(memory, data_base + 0x100, "two");
    tx.set_desc(0, {data_base, 3, 0, 0});
    tx.set_desc(1, {data_base + 0x100, 3, 0, 0});
    tx.publish(0);
    tx.publish(1);

    transport.notified(transmitq);

    EXPECT_EQ(written, (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(tx.used_idx(), 2);
}

TEST_F(ConsoleTest, ReceiveDeliversBytesIntoPostedBuffer) {
    bring_up();
    post_rx(0, data_base, 16);
    transport.notified(receiveq);

    type("abc");

    ASSERT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used_elem(0).id, 0u);
    EXPECT_EQ(rx.used_elem(0).len, 3u);
    EXPECT_EQ(text_at(memory, data_base, 3), "abc");
    EXPECT_EQ(irq.pulses, 1);
}

TEST_F(ConsoleTest, ReceiveSplitsInputAcrossPostedBuffers) {
    bring_up();
    post_rx(0, data_base, 4);
    post_rx(1, data_base + 0x100, 4);

    type("abcdef");

    ASSERT_EQ(rx.used_idx(), 2);
    EXPECT_EQ(rx.used_elem(0).len, 4u);
    EXPECT_EQ(rx.used_elem(1).len, 2u);
    EXPECT_EQ(text_at(memory, data_base, 4), "abcd");
    EXPECT_EQ(text_at(memory, data_base + 0x100, 2), "ef");
}

TEST_F(ConsoleTest, InputTypedBeforeBuffersExistIsDeliveredWhenTheyArePosted) {
    bring_up();
    type("hi");
    ASSERT_EQ(rx.used_idx(), 0);

    post_rx(0, data_base, 16);
    wr(transport, reg::queue_notify, receiveq);
    drain(io);

    ASSERT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used_elem(0).len, 2u);
    EXPECT_EQ(text_at(memory, data_base, 2), "hi");
}

TEST_F(ConsoleTest, InputTypedBeforeDriverOkIsKept) {
    type("early");
    bring_up();

    post_rx(0, data_base, 16);
    transport.notified(receiveq);

    ASSERT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used_elem(0).len, 5u);
    EXPECT_EQ(text_at(memory, data_base, 5), "early");
}

// --- block ---

constexpr std::uint32_t t_in = 0, t_out = 1, t_flush = 4, t_get_id = 8;
constexpr std::uint8_t s_ok = 0, s_ioerr = 1, s_unsupp = 2;
constexpr std::size_t disk_bytes = 64 * 1024;

struct BlockHeader {
    std::uint32_t type;
    std::uint32_t reserved;
    std::uint64_t sector;
};

std::uint8_t disk_byte(std::size_t i) { return static_cast<std::uint8_t>(i * 7 + 3); }

// A 64 KiB disk image in /tmp whose byte i is disk_byte(i).
class BlockTest : public ::testing::Test {
protected:
    BlockTest() {
        char name[] = "/tmp/strata-virtio-blk-XXXXXX";
        fd = ::mkstemp(name);
        if (fd < 0)
            throw std::runtime_error("mkstemp failed");
        path = name;
        std::vector<std::uint8_t> image(disk_bytes);
        for (std::size_t i = 0; i < disk_bytes; ++i)
            image[i] = disk_byte(i);
        if (::pwrite(fd, image.data(), image.size(), 0) != static_cast<ssize_t>(disk_bytes))
            throw std::runtime_error("pwrite failed");
    }
    ~BlockTest() override {
        transport.reset();
        block.reset();
        ::close(fd);
        ::unlink(path.c_str());
    }

    void open(bool read_only = false, const std::string &id = "disk0") {
        block.emplace(io, BlockSpec{path, read_only, id});
        transport.emplace("virtio-blk", *block, memory, irq, io);
    }
    void bring_up(bool read_only = false) {
        open(read_only);
        initialise(*transport, f_version_1, {&rings}, 16);
    }

    // Request n: descriptors 3n..3n+2, header at hdr(n), data at data(n), status at st(n).
    static std::uint64_t hdr(std::uint16_t n) { return data_base + 0x100ull * n; }
    static std::uint64_t st(std::uint16_t n) { return data_base + 0x1000 + n; }
    static std::uint64_t data(std::uint16_t n) { return data_base + 0x10000 + 0x4000ull * n; }

    // Posts a request whose data (if any) the device writes (`in`) or reads.
    void post(std::uint16_t n, std::uint32_t type, std::uint64_t sector, std::uint32_t data_len, bool in) {
        const auto head = static_cast<std::uint16_t>(3 * n);
        rings.put(hdr(n), BlockHeader{type, 0, sector});
        rings.put(st(n), std::uint8_t{0xff});
        std::uint16_t next = head;
        rings.set_desc(next, {hdr(n), 16, d_next, static_cast<std::uint16_t>(next + 1)});
        ++next;
        if (data_len != 0) {
            rings.set_desc(next, {data(n), data_len, static_cast<std::uint16_t>(d_next | (in ? d_write : 0)),
                                  static_cast<std::uint16_t>(next + 1)});
            ++next;
        }
        rings.set_desc(next, {st(n), 1, d_write, 0});
        rings.publish(head);
    }

    // Notifies and runs the io_context until `count` requests completed.
    bool complete(std::uint16_t count) {
        wr(*transport, reg::queue_notify, 0);
        return run_until(io, [&] { return rings.used_idx() == count; });
    }

    std::uint8_t status_of(std::uint16_t n) { return rings.get<std::uint8_t>(st(n)); }

    std::vector<std::uint8_t> file_bytes(std::size_t offset, std::size_t len) const {
        std::vector<std::uint8_t> out(len);
        EXPECT_EQ(::pread(fd, out.data(), len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
        return out;
    }
    static std::vector<std::uint8_t> pattern(std::size_t offset, std::size_t len) {
        std::vector<std::uint8_t> out(len);
        for (std::size_t i = 0; i < len; ++i)
            out[i] = disk_byte(offset + i);
        return out;
    }
    bool file_untouched() const {
        return ::lseek(fd, 0, SEEK_END) == static_cast<off_t>(disk_bytes) &&
               file_bytes(0, disk_bytes) == pattern(0, disk_bytes);
    }

    std::string path;
    int fd = -1;
    boost::asio::io_context io;
    GuestMemory memory = make_memory();
    CountingIrq irq;
    std::optional<Block> block;
    std::optional<Transport> transport;
    Rings rings{memory, 16};
};

TEST_F(BlockTest, CapacityIs128SectorsFor64KiB) {
    open();
    EXPECT_EQ(block->capacity(), 128u);
}

TEST_F(BlockTest, ConfigSpaceReadsCapacityAtAnyWidth) {
    open();
    std::array<std::uint8_t, 1> one{};
    std::array<std::uint8_t, 2> two{};
    std::array<std::uint8_t, 8> eight{};

    transport->read(reg::config, one);
    transport->read(reg::config, two);
    transport->read(reg::config, eight);

    EXPECT_EQ(one[0], 128);
    EXPECT_EQ(two, (std::array<std::uint8_t, 2>{128, 0}));
    EXPECT_EQ(eight, (std::array<std::uint8_t, 8>{128, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(rd(*transport, reg::config), 128u);
    EXPECT_EQ(rd(*transport, reg::config + 4), 0u);
}

TEST_F(BlockTest, OffersFlushAndNotReadOnly) {
    open();
    wr(*transport, reg::device_features_sel, 0);
    const auto low = rd(*transport, reg::device_features);

    EXPECT_EQ(low & (1u << 9), 1u << 9);
    EXPECT_EQ(low & (1u << 5), 0u);
}

TEST_F(BlockTest, ReadOnlyDiskOffersReadOnlyFeature) {
    open(true);
    wr(*transport, reg::device_features_sel, 0);

    EXPECT_EQ(rd(*transport, reg::device_features) & (1u << 5), 1u << 5);
}

TEST_F(BlockTest, InReadsFileBytesIntoGuestMemory) {
    bring_up();
    post(0, t_in, 2, 1024, true);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ok);
    EXPECT_EQ(rings.used_elem(0).id, 0u);
    EXPECT_EQ(rings.used_elem(0).len, 1025u);
    EXPECT_EQ(bytes_at(memory, data(0), 1024), pattern(1024, 1024));
    EXPECT_EQ(irq.pulses, 1);
}

TEST_F(BlockTest, InScattersAcrossSeveralBuffers) {
    bring_up();
    rings.put(hdr(0), BlockHeader{t_in, 0, 1});
    rings.set_desc(0, {hdr(0), 16, d_next, 1});
    rings.set_desc(1, {data(0), 512, d_next | d_write, 2});
    rings.set_desc(2, {data(1), 512, d_next | d_write, 3});
    rings.set_desc(3, {st(0), 1, d_write, 0});
    rings.publish(0);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ok);
    EXPECT_EQ(rings.used_elem(0).len, 1025u);
    EXPECT_EQ(bytes_at(memory, data(0), 512), pattern(512, 512));
    EXPECT_EQ(bytes_at(memory, data(1), 512), pattern(1024, 512));
}

TEST_F(BlockTest, OutWritesGuestBytesToFile) {
    bring_up();
    const std::vector<std::uint8_t> payload(512, 0xa5);
    fill(memory, data(0), payload);
    post(0, t_out, 3, 512, false);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ok);
    EXPECT_EQ(rings.used_elem(0).len, 1u);
    EXPECT_EQ(file_bytes(1536, 512), payload);
    EXPECT_EQ(file_bytes(1024, 512), pattern(1024, 512)); // neighbours untouched
    EXPECT_EQ(file_bytes(2048, 512), pattern(2048, 512));
}

TEST_F(BlockTest, FlushCompletesOk) {
    bring_up();
    post(0, t_flush, 0, 0, false);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ok);
    EXPECT_EQ(rings.used_elem(0).len, 1u);
}

TEST_F(BlockTest, GetIdReturnsIdPaddedTo20Bytes) {
    bring_up();
    fill(memory, data(0), std::vector<std::uint8_t>(20, 0xee));
    post(0, t_get_id, 0, 20, true);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ok);
    EXPECT_EQ(rings.used_elem(0).len, 21u);
    EXPECT_EQ(text_at(memory, data(0), 20), std::string("disk0") + std::string(15, '\0'));
}

TEST_F(BlockTest, ReadBeyondCapacityIsIoErr) {
    bring_up();
    post(0, t_in, 127, 1024, true); // the last sector and one past it

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ioerr);
    EXPECT_EQ(rings.used_elem(0).len, 1u);
}

TEST_F(BlockTest, WriteBeyondCapacityIsIoErrAndLeavesFileUntouched) {
    bring_up();
    fill(memory, data(0), std::vector<std::uint8_t>(512, 0x5a));
    post(0, t_out, 128, 512, false);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ioerr);
    EXPECT_TRUE(file_untouched());
}

TEST_F(BlockTest, WriteAtHugeSectorIsIoErr) {
    bring_up();
    post(0, t_out, UINT64_MAX, 512, false);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ioerr);
    EXPECT_TRUE(file_untouched());
}

TEST_F(BlockTest, ReadOfPartialSectorIsIoErr) {
    bring_up();
    post(0, t_in, 0, 100, true);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ioerr);
}

TEST_F(BlockTest, ReadOnlyDiskRefusesOutAndLeavesFileUntouched) {
    bring_up(true);
    fill(memory, data(0), std::vector<std::uint8_t>(512, 0x5a));
    post(0, t_out, 0, 512, false);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ioerr);
    EXPECT_TRUE(file_untouched());
}

TEST_F(BlockTest, ReadOnlyDiskStillReads) {
    bring_up(true);
    post(0, t_in, 0, 512, true);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ok);
    EXPECT_EQ(bytes_at(memory, data(0), 512), pattern(0, 512));
}

TEST_F(BlockTest, UnknownRequestTypeIsUnsupp) {
    bring_up();
    post(0, 99, 0, 0, false);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_unsupp);
    EXPECT_EQ(rings.used_elem(0).len, 1u);
}

TEST_F(BlockTest, HeaderShorterThan16BytesIsIoErr) {
    bring_up();
    rings.put(hdr(0), BlockHeader{t_in, 0, 0});
    rings.put(st(0), std::uint8_t{0xff});
    rings.set_desc(0, {hdr(0), 8, d_next, 1});
    rings.set_desc(1, {st(0), 1, d_write, 0});
    rings.publish(0);

    ASSERT_TRUE(complete(1));

    EXPECT_EQ(status_of(0), s_ioerr);
}

TEST_F(BlockTest, RequestWithoutWritableStatusByteSetsNeedsReset) {
    bring_up();
    rings.put(hdr(0), BlockHeader{t_in, 0, 0});
    rings.set_desc(0, {hdr(0), 16, d_next, 1});
    rings.set_desc(1, {data(0), 512, 0, 0});
    rings.publish(0);

    wr(*transport, reg::queue_notify, 0);
    drain(io);

    EXPECT_EQ(rd(*transport, reg::status), s_driver_ok | 0x40u);
    EXPECT_EQ(rings.used_idx(), 0);
    EXPECT_EQ(rd(*transport, reg::interrupt_status), 2u);
}

TEST_F(BlockTest, SeveralRequestsInFlightAllComplete) {
    bring_up();
    for (std::uint16_t n = 0; n < 4; ++n)
        post(n, t_in, 8u * n, 4096, true);

    ASSERT_TRUE(complete(4));

    std::set<std::uint32_t> heads;
    for (std::uint16_t i = 0; i < 4; ++i) {
        heads.insert(rings.used_elem(i).id);
        EXPECT_EQ(rings.used_elem(i).len, 4097u);
    }
    EXPECT_EQ(heads, (std::set<std::uint32_t>{0, 3, 6, 9}));
    for (std::uint16_t n = 0; n < 4; ++n) {
        EXPECT_EQ(status_of(n), s_ok);
        EXPECT_EQ(bytes_at(memory, data(n), 4096), pattern(4096u * n, 4096));
    }
    EXPECT_EQ(block->in_flight(), 0u);
}

// virtio 1.2 §2.4.1: once Status reads 0 again the device must not touch
// the queues (or their buffers) until the driver re-initialises it.
// §4.2.3.1: after writing 0 the driver waits for Status to read 0 before it
// reuses anything; strata holds Status non-zero while a read may still land.
TEST_F(BlockTest, StatusReadsZeroOnlyAfterReadsInFlightAtResetHaveLanded) {
    bring_up();
    post(0, t_in, 0, 4096, true);
    transport->notified(0); // the read is submitted, not yet completed
    ASSERT_EQ(block->in_flight(), 1u);

    wr(*transport, reg::status, 0);
    EXPECT_NE(rd(*transport, reg::status), 0u); // the reset is not complete
    ASSERT_TRUE(run_until(io, [&] { return block->in_flight() == 0; }));
    EXPECT_EQ(rd(*transport, reg::status), 0u);

    EXPECT_EQ(status_of(0), 0xff); // no status byte and no used entry for the old request
    EXPECT_EQ(rings.used_idx(), 0);
}

TEST_F(BlockTest, CompletionAfterResetLeavesUsedRingAlone) {
    bring_up();
    post(0, t_in, 0, 4096, true);
    transport->notified(0);

    wr(*transport, reg::status, 0);
    ASSERT_TRUE(run_until(io, [&] { return block->in_flight() == 0; }));

    EXPECT_EQ(rings.used_idx(), 0);
    EXPECT_EQ(status_of(0), 0xff);
    EXPECT_EQ(irq.pulses, 0);
}

TEST_F(BlockTest, MissingFileIsAHostErrorNamingTheDisk) {
    try {
        Block(io, BlockSpec{"/nonexistent/strata.img", false, "x"});
        FAIL() << "no error";
    } catch (const std::system_error &e) {
        EXPECT_EQ(e.code().value(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("cannot open disk '/nonexistent/strata.img' for writing"),
                  std::string::npos)
            << e.what();
    }
}

} // namespace
} // namespace strata::virtio
