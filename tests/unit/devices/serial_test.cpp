// The 16550 UART's registers and interrupt line.
#include "devices/serial.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace strata::devices {
namespace {

// Register offsets (PC16550D data sheet, table II).
constexpr std::uint64_t rbr_thr_dll = 0, ier_dlm = 1, iir_fcr = 2, lcr = 3, mcr = 4, lsr = 5, msr = 6, scr = 7;

class RecordingIrq final : public IrqLine {
public:
    void set_level(bool high) override { levels.push_back(high); }
    std::vector<bool> levels;
};

// A UART whose output is collected in `out` and whose line is `irq`.
class Serial : public ::testing::Test {
protected:
    std::uint8_t get(std::uint64_t reg) {
        std::array<std::uint8_t, 1> b{0xaa};
        uart.read(reg, b);
        return b[0];
    }
    void set(std::uint64_t reg, std::uint8_t value) {
        const std::array<std::uint8_t, 1> b{value};
        uart.write(reg, b);
    }
    void receive(const std::string &s) {
        uart.receive(std::span(reinterpret_cast<const std::uint8_t *>(s.data()), s.size()));
    }

    std::string out;
    RecordingIrq irq;
    Serial16550 uart{[this](std::span<const std::uint8_t> b) { out.append(b.begin(), b.end()); }, &irq};
};

// --- transmit -----------------------------------------------------------------

TEST_F(Serial, ThrWriteGoesToTheOutput) {
    set(rbr_thr_dll, 'A');
    EXPECT_EQ(out, "A");
}

TEST_F(Serial, ThrWritesAreOutputInOrder) {
    set(rbr_thr_dll, 'o');
    set(rbr_thr_dll, 'k');
    set(rbr_thr_dll, '\n');
    EXPECT_EQ(out, "ok\n");
}

TEST_F(Serial, LsrReportsTheTransmitterEmpty) {
    EXPECT_EQ(get(lsr), 0x60); // THRE | TEMT, no data ready
}

TEST_F(Serial, LsrStillReportsTheTransmitterEmptyAfterAWrite) {
    set(rbr_thr_dll, 'x');
    EXPECT_EQ(get(lsr), 0x60);
}

// --- receive ------------------------------------------------------------------

TEST_F(Serial, LsrReportsDataReadyWhenBytesAreReceived) {
    receive("a");
    EXPECT_EQ(get(lsr), 0x61); // THRE | TEMT | DR
}

TEST_F(Serial, RbrReadsReceivedBytesInOrder) {
    receive("hi");
    receive("!");
    EXPECT_EQ(get(rbr_thr_dll), 'h');
    EXPECT_EQ(get(rbr_thr_dll), 'i');
    EXPECT_EQ(get(rbr_thr_dll), '!');
}

TEST_F(Serial, DataReadyClearsWhenTheLastByteIsRead) {
    receive("ab");
    get(rbr_thr_dll);
    EXPECT_EQ(get(lsr), 0x61);
    get(rbr_thr_dll);
    EXPECT_EQ(get(lsr), 0x60);
}

TEST_F(Serial, RbrReadsZeroWhenNothingWasReceived) { EXPECT_EQ(get(rbr_thr_dll), 0x00); }

TEST_F(Serial, FcrBitOneClearsTheReceiveFifo) {
    receive("abc");
    set(iir_fcr, 0x03); // enable FIFOs, clear receive FIFO
    EXPECT_EQ(get(lsr), 0x60);
    EXPECT_EQ(get(rbr_thr_dll), 0x00);
}

// --- divisor latch ------------------------------------------------------------

TEST_F(Serial, TheDivisorLatchStartsAt9600Baud) {
    set(lcr, 0x83);
    EXPECT_EQ(get(rbr_thr_dll), 0x0c);
    EXPECT_EQ(get(ier_dlm), 0x00);
}

TEST_F(Serial, DlabSwitchesOffsetsZeroAndOneToTheDivisorLatch) {
    set(lcr, 0x83);
    set(rbr_thr_dll, 0x01); // 115200 baud
    set(ier_dlm, 0x02);
    EXPECT_EQ(out, ""); // the DLL write is not transmitted
    EXPECT_EQ(get(rbr_thr_dll), 0x01);
    EXPECT_EQ(get(ier_dlm), 0x02);
}

TEST_F(Serial, ClearingDlabRestoresThrAndIer) {
    set(lcr, 0x83);
    set(rbr_thr_dll, 0x01);
    set(ier_dlm, 0x02);
    set(lcr, 0x03);
    EXPECT_EQ(get(ier_dlm), 0x00); // IER was never written
    set(rbr_thr_dll, 'z');
    EXPECT_EQ(out, "z");
}

TEST_F(Serial, ReadingDllDoesNotConsumeReceivedBytes) {
    receive("q");
    set(lcr, 0x83);
    EXPECT_EQ(get(rbr_thr_dll), 0x0c);
    set(lcr, 0x03);
    EXPECT_EQ(get(rbr_thr_dll), 'q');
}

// --- plain registers ----------------------------------------------------------

TEST_F(Serial, ScratchRegisterRoundTrips) {
    set(scr, 0x5a);
    EXPECT_EQ(get(scr), 0x5a);
}

TEST_F(Serial, LcrRoundTrips) {
    EXPECT_EQ(get(lcr), 0x03); // 8N1 at reset
    set(lcr, 0x1b);
    EXPECT_EQ(get(lcr), 0x1b);
}

TEST_F(Serial, McrKeepsItsFiveBits) {
    set(mcr, 0xff);
    EXPECT_EQ(get(mcr), 0x1f);
}

TEST_F(Serial, IerKeepsItsFourBits) {
    set(ier_dlm, 0xf5);
    EXPECT_EQ(get(ier_dlm), 0x05);
}

TEST_F(Serial, MsrReportsACableAttached) {
    EXPECT_EQ(get(msr), 0xb0); // DCD | DSR | CTS
}

TEST_F(Serial, LsrIgnoresWrites) {
    set(lsr, 0x00);
    EXPECT_EQ(get(lsr), 0x60);
}

TEST_F(Serial, AWideReadCoversConsecutiveRegisters) {
    std::array<std::uint8_t, 2> b{};
    uart.read(lsr, b);
    EXPECT_EQ(b, (std::array<std::uint8_t, 2>{0x60, 0xb0}));
}

// --- IIR and the interrupt line -----------------------------------------------

TEST_F(Serial, IirReportsNoInterruptAtReset) { EXPECT_EQ(get(iir_fcr), 0x01); }

TEST_F(Serial, IirReportsFifosEnabledAfterFcrBitZero) {
    set(iir_fcr, 0x01);
    EXPECT_EQ(get(iir_fcr), 0xc1);
}

TEST_F(Serial, IirReportsReceivedDataWhenIerBitZeroIsSet) {
    set(ier_dlm, 0x01);
    receive("x");
    EXPECT_EQ(get(iir_fcr), 0x04);
}

TEST_F(Serial, IirDoesNotReportReceivedDataWhenIerBitZeroIsClear) {
    receive("x");
    EXPECT_EQ(get(iir_fcr), 0x01);
}

TEST_F(Serial, ReceivingRaisesTheLineWhenEnabled) {
    set(ier_dlm, 0x01);
    receive("x");
    EXPECT_EQ(irq.levels, (std::vector<bool>{true}));
}

TEST_F(Serial, ReadingTheLastByteLowersTheLine) {
    set(ier_dlm, 0x01);
    receive("xy");
    get(rbr_thr_dll);
    EXPECT_EQ(irq.levels, (std::vector<bool>{true}));
    get(rbr_thr_dll);
    EXPECT_EQ(irq.levels, (std::vector<bool>{true, false}));
}

TEST_F(Serial, ReceivingDoesNotRaiseTheLineWhenDisabled) {
    receive("x");
    EXPECT_TRUE(irq.levels.empty());
}

TEST_F(Serial, EnablingTheReceiveInterruptWithDataPendingRaisesTheLine) {
    receive("x");
    set(ier_dlm, 0x01);
    EXPECT_EQ(irq.levels, (std::vector<bool>{true}));
}

TEST_F(Serial, DisablingTheReceiveInterruptLowersTheLine) {
    set(ier_dlm, 0x01);
    receive("x");
    set(ier_dlm, 0x00);
    EXPECT_EQ(irq.levels, (std::vector<bool>{true, false}));
}

TEST_F(Serial, EnablingTheThrEmptyInterruptRaisesTheLineAtOnce) {
    set(ier_dlm, 0x02);
    EXPECT_EQ(irq.levels, (std::vector<bool>{true}));
    EXPECT_EQ(get(iir_fcr), 0x02);
}

TEST_F(Serial, ReadingIirClearsTheThrEmptyInterrupt) {
    set(ier_dlm, 0x02);
    get(iir_fcr);
    EXPECT_EQ(irq.levels, (std::vector<bool>{true, false}));
    EXPECT_EQ(get(iir_fcr), 0x01);
}

TEST_F(Serial, AThrWriteRaisesTheThrEmptyInterruptAgain) {
    set(ier_dlm, 0x02);
    get(iir_fcr);
    set(rbr_thr_dll, 'a');
    EXPECT_EQ(irq.levels, (std::vector<bool>{true, false, true}));
    EXPECT_EQ(get(iir_fcr), 0x02);
}

TEST_F(Serial, ReceivedDataTakesPriorityOverThrEmpty) {
    set(ier_dlm, 0x03);
    receive("x");
    EXPECT_EQ(get(iir_fcr), 0x04);
    get(rbr_thr_dll);
    EXPECT_EQ(get(iir_fcr), 0x02);
}

TEST(SerialWithoutIrq, WorksWithNoInterruptLine) {
    std::string out;
    Serial16550 uart([&](std::span<const std::uint8_t> b) { out.append(b.begin(), b.end()); }, nullptr);
    const std::array<std::uint8_t, 1> ier{0x03};
    uart.write(ier_dlm, ier);
    const std::array<std::uint8_t, 1> c{'k'};
    uart.write(rbr_thr_dll, c);
    EXPECT_EQ(out, "k");
}

} // namespace
} // namespace strata::devices
