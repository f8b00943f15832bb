// The PL011 UART registers as Linux's amba driver uses them.
#include "devices/pl011.hpp"

#include "tests/unit/devices/regs.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strata::devices {
namespace {

class RecordingIrq final : public IrqLine {
public:
    void set_level(bool high) override { levels.push_back(high); }
    std::vector<bool> levels;
};

using test::rd;
using test::wr;

class Pl011Test : public ::testing::Test {
protected:
    std::string out;
    RecordingIrq irq;
    Pl011 uart{[this](std::span<const std::uint8_t> b) { out.append(b.begin(), b.end()); }, &irq};
};

TEST_F(Pl011Test, DataRegisterWritesGoToTheOutput) {
    wr(uart, 0x000, 'h');
    wr(uart, 0x000, 'i');
    EXPECT_EQ(out, "hi");
}

TEST_F(Pl011Test, FlagsSayTransmitEmptyAndReceiveEmpty) { EXPECT_EQ(rd(uart, 0x018), 0x90u); }

TEST_F(Pl011Test, ReceivedBytesAreReadInOrderAndClearReceiveEmpty) {
    const std::uint8_t in[] = {'a', 'b'};
    uart.receive(in);
    EXPECT_EQ(rd(uart, 0x018) & 0x10, 0u);
    EXPECT_EQ(rd(uart, 0x000), static_cast<std::uint32_t>('a'));
    EXPECT_EQ(rd(uart, 0x000), static_cast<std::uint32_t>('b'));
    EXPECT_EQ(rd(uart, 0x018) & 0x10, 0x10u);
}

TEST_F(Pl011Test, PrimeCellIdsAreThoseOfAPl011) {
    const std::uint32_t expected[] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned i = 0; i < 8; ++i)
        EXPECT_EQ(rd(uart, 0xfe0 + 4 * i), expected[i]) << i;
}

TEST_F(Pl011Test, ReceiveInterruptFollowsMaskAndData) {
    wr(uart, 0x038, 1u << 4); // IMSC: RXIM
    const std::uint8_t in[] = {'x'};
    uart.receive(in);
    ASSERT_EQ(irq.levels, std::vector<bool>{true});
    EXPECT_EQ(rd(uart, 0x040), 0x50u & (1u << 4)); // MIS shows RX
    rd(uart, 0x000);                               // draining the FIFO drops the line
    EXPECT_EQ(irq.levels, (std::vector<bool>{true, false}));
}

TEST_F(Pl011Test, TransmitInterruptIsRaisedByWritesAndClearedByIcr) {
    wr(uart, 0x038, 1u << 5); // TXIM
    wr(uart, 0x000, 'z');
    EXPECT_EQ(irq.levels, std::vector<bool>{true});
    wr(uart, 0x044, 1u << 5); // ICR
    EXPECT_EQ(irq.levels, (std::vector<bool>{true, false}));
    EXPECT_EQ(rd(uart, 0x03c) & (1u << 5), 0u);
}

TEST_F(Pl011Test, ControlRegistersReadBackWhatWasWritten) {
    wr(uart, 0x030, 0x301);
    wr(uart, 0x02c, 0x70);
    wr(uart, 0x024, 13);
    EXPECT_EQ(rd(uart, 0x030), 0x301u);
    EXPECT_EQ(rd(uart, 0x02c), 0x70u);
    EXPECT_EQ(rd(uart, 0x024), 13u);
}

} // namespace
} // namespace strata::devices
