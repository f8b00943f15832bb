// The exit decision (vmm/exit.hpp): every exit reason the run loop handles,
// from a kvm_run filled in as KVM would, with no KVM; and which unclaimed
// accesses are reported.
#include "vmm/exit.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

namespace strata {

// Failures print the action in words.
void PrintTo(const ExitAction &action, std::ostream *os) { *os << to_string(action); }

namespace {

kvm_run exit_of(std::uint32_t reason) {
    kvm_run run{};
    run.exit_reason = reason;
    return run;
}

ExitAction decide(const kvm_run &run) { return decide_exit(run, std::nullopt); }

// A port-I/O exit whose data KVM put at offset 0x1000 of the kvm_run page.
kvm_run io_exit(std::uint8_t direction, std::uint8_t size, std::uint16_t port, std::uint32_t count) {
    auto run = exit_of(KVM_EXIT_IO);
    run.io.direction = direction;
    run.io.size = size;
    run.io.port = port;
    run.io.count = count;
    run.io.data_offset = 0x1000;
    return run;
}

// --- port I/O and MMIO: dispatched, then resumed -----------------------------

TEST(DecideExit, PortOutIsAWriteOfItsSizeAtItsPort) {
    const auto run = io_exit(KVM_EXIT_IO_OUT, 4, 0xf4, 1);
    EXPECT_EQ(decide(run), ExitAction(PortIo{Direction::write, 0xf4, 4, 1, 0x1000}));
}

TEST(DecideExit, PortInIsARead) {
    const auto run = io_exit(KVM_EXIT_IO_IN, 1, 0x3fd, 1);
    EXPECT_EQ(decide(run), ExitAction(PortIo{Direction::read, 0x3fd, 1, 1, 0x1000}));
}

TEST(DecideExit, RepOutsKeepsItsCount) {
    const auto run = io_exit(KVM_EXIT_IO_OUT, 2, 0x3f8, 16);
    EXPECT_EQ(decide(run), ExitAction(PortIo{Direction::write, 0x3f8, 2, 16, 0x1000}));
}

TEST(DecideExit, MmioWriteIsAWriteOfItsLengthAtItsAddress) {
    auto run = exit_of(KVM_EXIT_MMIO);
    run.mmio.phys_addr = 0xd000'0050;
    run.mmio.len = 4;
    run.mmio.is_write = 1;
    EXPECT_EQ(decide(run), ExitAction(Mmio{Direction::write, 0xd000'0050, 4}));
}

TEST(DecideExit, MmioReadIsARead) {
    auto run = exit_of(KVM_EXIT_MMIO);
    run.mmio.phys_addr = 0x0900'0018;
    run.mmio.len = 8;
    EXPECT_EQ(decide(run), ExitAction(Mmio{Direction::read, 0x0900'0018, 8}));
}

TEST(DecideExit, MmioLengthIsCappedAtTheEightBytesOfItsDataField) {
    auto run = exit_of(KVM_EXIT_MMIO);
    run.mmio.phys_addr = 0x1000;
    run.mmio.len = 64;
    EXPECT_EQ(decide(run), ExitAction(Mmio{Direction::read, 0x1000, 8}));
}

TEST(DecideExit, AnArchitectureStatusDoesNotTurnAnAccessIntoAStop) {
    auto run = exit_of(KVM_EXIT_MMIO);
    run.mmio.phys_addr = 0x1000;
    run.mmio.len = 4;
    EXPECT_EQ(decide_exit(run, 11), ExitAction(Mmio{Direction::read, 0x1000, 4}));
}

// --- interruptions and system events -----------------------------------------

TEST(DecideExit, InterruptedRunResumes) { EXPECT_EQ(decide(exit_of(KVM_EXIT_INTR)), ExitAction(Resume{})); }

TEST(DecideExit, SystemEventShutdownStopsWithTheArchitecturesStatus) {
    auto run = exit_of(KVM_EXIT_SYSTEM_EVENT);
    run.system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
    EXPECT_EQ(decide_exit(run, 0), ExitAction(Stop{0}));
}

TEST(DecideExit, SystemEventResetWithAGuestStatusStopsWithIt) {
    // aarch64: PSCI SYSTEM_RESET2 of the vendor type carries (v << 1) | 1.
    auto run = exit_of(KVM_EXIT_SYSTEM_EVENT);
    run.system_event.type = KVM_SYSTEM_EVENT_RESET;
    EXPECT_EQ(decide_exit(run, 11), ExitAction(Stop{11}));
}

TEST(DecideExit, SystemEventCrashIsACrashNamingItsType) {
    auto run = exit_of(KVM_EXIT_SYSTEM_EVENT);
    run.system_event.type = KVM_SYSTEM_EVENT_CRASH;
    EXPECT_EQ(decide(run), ExitAction(Crash{"system event (KVM_EXIT_SYSTEM_EVENT) type=3"}));
}

TEST(DecideExit, AnUnknownSystemEventIsACrashNamingItsType) {
    auto run = exit_of(KVM_EXIT_SYSTEM_EVENT);
    run.system_event.type = 99;
    EXPECT_EQ(decide(run), ExitAction(Crash{"system event (KVM_EXIT_SYSTEM_EVENT) type=99"}));
}

// --- everything else stops the VM as a guest fault ---------------------------

TEST(DecideExit, TripleFaultIsACrash) {
    EXPECT_EQ(decide(exit_of(KVM_EXIT_SHUTDOWN)), ExitAction(Crash{"triple fault (KVM_EXIT_SHUTDOWN)"}));
}

TEST(DecideExit, FailedEntryIsACrashWithTheHardwareReason) {
    auto run = exit_of(KVM_EXIT_FAIL_ENTRY);
    run.fail_entry.hardware_entry_failure_reason = 0x8000'0021;
    EXPECT_EQ(decide(run),
              ExitAction(Crash{"failed VM entry (KVM_EXIT_FAIL_ENTRY) hardware_entry_failure_reason=0x80000021"}));
}

TEST(DecideExit, InternalErrorIsACrashWithTheSuberror) {
    auto run = exit_of(KVM_EXIT_INTERNAL_ERROR);
    run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    EXPECT_EQ(decide(run), ExitAction(Crash{"KVM internal error (KVM_EXIT_INTERNAL_ERROR) suberror=1"}));
}

TEST(DecideExit, HaltIsACrash) {
    // With the in-kernel irqchip KVM handles hlt itself; an exit means something is off.
    EXPECT_EQ(decide(exit_of(KVM_EXIT_HLT)), ExitAction(Crash{"halt (KVM_EXIT_HLT)"}));
}

TEST(DecideExit, UnknownExitIsACrashWithTheHardwareReason) {
    auto run = exit_of(KVM_EXIT_UNKNOWN);
    run.hw.hardware_exit_reason = 0x2a;
    EXPECT_EQ(decide(run), ExitAction(Crash{"unknown exit (KVM_EXIT_UNKNOWN) hardware_exit_reason=0x2a"}));
}

TEST(DecideExit, ExceptionHypercallAndDebugExitsAreNamedCrashes) {
    EXPECT_EQ(decide(exit_of(KVM_EXIT_EXCEPTION)), ExitAction(Crash{"exception (KVM_EXIT_EXCEPTION) exit_reason=1"}));
    EXPECT_EQ(decide(exit_of(KVM_EXIT_HYPERCALL)), ExitAction(Crash{"hypercall (KVM_EXIT_HYPERCALL) exit_reason=3"}));
    EXPECT_EQ(decide(exit_of(KVM_EXIT_DEBUG)), ExitAction(Crash{"debug exit (KVM_EXIT_DEBUG) exit_reason=4"}));
}

TEST(DecideExit, AnUnhandledReasonIsACrashWithItsNumber) {
    EXPECT_EQ(decide(exit_of(KVM_EXIT_IRQ_WINDOW_OPEN)), ExitAction(Crash{"unhandled exit exit_reason=7"}));
    EXPECT_EQ(decide(exit_of(9999)), ExitAction(Crash{"unhandled exit exit_reason=9999"}));
}

TEST(DecideExit, AnArchitectureStatusDoesNotTurnACrashIntoAStop) {
    EXPECT_EQ(decide_exit(exit_of(KVM_EXIT_SHUTDOWN), 0), ExitAction(Crash{"triple fault (KVM_EXIT_SHUTDOWN)"}));
}

TEST(ExitActionText, SaysWhatWillHappen) {
    EXPECT_EQ(to_string(Resume{}), "resume");
    EXPECT_EQ(to_string(PortIo{Direction::write, 0xf4, 4, 1, 0x1000}), "port write 0xf4 1x4 data at 0x1000");
    EXPECT_EQ(to_string(Mmio{Direction::read, 0xd000'0000, 4}), "mmio read 0xd0000000 4 bytes");
    EXPECT_EQ(to_string(Stop{11}), "stop 11");
    EXPECT_EQ(to_string(Crash{"triple fault"}), "crash: triple fault");
}

// --- unclaimed accesses: once per range, boundedly --------------------------

TEST(UnclaimedReports, TheFirstAccessToAPortIsReportedInWords) {
    UnclaimedReports r("port I/O", 1, "port");
    EXPECT_EQ(r.note(Direction::read, 0x1234, 1),
              "port I/O: 1-byte read at 0x1234 claimed by no device: it reads all ones (reported once per port)");
}

TEST(UnclaimedReports, AWriteIsReportedAsDropped) {
    UnclaimedReports r("MMIO", 0x1000, "4 KiB page");
    EXPECT_EQ(r.note(Direction::write, 0xe000'0010, 4),
              "MMIO: 4-byte write at 0xe0000010 claimed by no device: it is dropped (reported once per 4 KiB page)");
}

TEST(UnclaimedReports, TheSamePortAgainIsNotReported) {
    UnclaimedReports r("port I/O", 1, "port");
    ASSERT_TRUE(r.note(Direction::read, 0x1234, 1));
    EXPECT_EQ(r.note(Direction::read, 0x1234, 4), std::nullopt);
    EXPECT_EQ(r.note(Direction::write, 0x1234, 1), std::nullopt);
}

TEST(UnclaimedReports, TheNextPortIsReportedToo) {
    UnclaimedReports r("port I/O", 1, "port");
    ASSERT_TRUE(r.note(Direction::read, 0x1234, 1));
    EXPECT_TRUE(r.note(Direction::read, 0x1235, 1));
}

TEST(UnclaimedReports, AnotherAddressInTheSamePageIsNotReported) {
    UnclaimedReports r("MMIO", 0x1000, "4 KiB page");
    ASSERT_TRUE(r.note(Direction::read, 0xe000'0000, 4));
    EXPECT_EQ(r.note(Direction::read, 0xe000'0ffc, 4), std::nullopt);
}

TEST(UnclaimedReports, TheNextPageIsReported) {
    UnclaimedReports r("MMIO", 0x1000, "4 KiB page");
    ASSERT_TRUE(r.note(Direction::read, 0xe000'0fff, 1));
    EXPECT_TRUE(r.note(Direction::read, 0xe000'1000, 1));
}

TEST(UnclaimedReports, TheLastPageOfTheAddressSpaceIsReportedOnce) {
    UnclaimedReports r("MMIO", 0x1000, "4 KiB page");
    EXPECT_TRUE(r.note(Direction::read, UINT64_MAX, 1));
    EXPECT_EQ(r.note(Direction::read, UINT64_MAX - 0xfff, 8), std::nullopt);
}

TEST(UnclaimedReports, PastTheLimitOneLineSaysTheRestGoUnreported) {
    UnclaimedReports r("port I/O", 1, "port", 2);
    ASSERT_TRUE(r.note(Direction::read, 0x10, 1));
    ASSERT_TRUE(r.note(Direction::read, 0x11, 1));
    EXPECT_EQ(r.note(Direction::read, 0x12, 1),
              "port I/O: unclaimed accesses at 2 different ports reported; further ones are not");
    EXPECT_EQ(r.note(Direction::read, 0x13, 1), std::nullopt);
    EXPECT_EQ(r.note(Direction::read, 0x12, 1), std::nullopt);
}

TEST(UnclaimedReports, AGuestSweepingEveryPageGetsAtMostTheLimitPlusOneLines) {
    UnclaimedReports r("MMIO", 0x1000, "4 KiB page", 32);
    int lines = 0;
    for (std::uint64_t page = 0; page < 100'000; ++page)
        lines += r.note(Direction::write, page << 12, 4).has_value();
    EXPECT_EQ(lines, 33);
}

} // namespace
} // namespace strata
