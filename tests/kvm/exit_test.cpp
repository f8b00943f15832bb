// How a guest leaves strata and what strata says about accesses no device
// claims, through the strata binary: the debug-exit port written 2 and 4 bytes
// wide exits as QEMU's isa-debug-exit does, and an unclaimed port or MMIO page
// gets exactly one warning while the guest goes on and reads all ones.
#include "tests/kvm/kvm_env.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

using namespace kvmtest;

namespace {

std::vector<std::string> lines(const std::string &text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

bool ends_with(const std::string &s, const std::string &tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

strata::test::Outcome exit_code(const std::string &cmdline) {
    return run_strata({"run", "--kernel", guest("exit-code"), "--cmdline", cmdline});
}

// QEMU: exit((v << 1) | 1); the process exit status keeps the low 8 bits.
int qemu_status(unsigned long long v) { return static_cast<int>(((v << 1) | 1) & 0xff); }

TEST(DebugExitWidth, OutlExitsWithQemusStatus) {
    auto o = exit_code("code=5 width=4");
    EXPECT_EQ(o.status, qemu_status(5)) << o.out << o.err;
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(o.err, "");
}

TEST(DebugExitWidth, OutlOfAValueWiderThanAByteKeepsQemusLowEightBits) {
    auto o = exit_code("code=0x12345 width=4");
    EXPECT_EQ(o.status, qemu_status(0x12345)) << o.out << o.err; // 0x8b
    EXPECT_EQ(o.err, "");
}

TEST(DebugExitWidth, OutwExitsWithQemusStatus) {
    auto o = exit_code("code=5 width=2");
    EXPECT_EQ(o.status, qemu_status(5)) << o.out << o.err;
    EXPECT_EQ(o.err, "");
}

TEST(DebugExitWidth, OutwOfAValueWiderThanAByteKeepsQemusLowEightBits) {
    auto o = exit_code("code=0x1ff width=2");
    EXPECT_EQ(o.status, qemu_status(0x1ff)) << o.out << o.err; // 255
    EXPECT_EQ(o.err, "");
}

TEST(DebugExitWidth, OutlOfZeroExitsWithOneNotPowerOff) { EXPECT_EQ(exit_code("code=0 width=4").status, 1); }

TEST(Unclaimed, AnUnclaimedPortIsWarnedOnceReadsAllOnesAndTheGuestGoesOn) {
    auto o = exit_code("code=3 port=0x1234");
    EXPECT_EQ(o.out, "exit-code: port 0x1234: inb 0xff, inl 0xffffffff\n");
    EXPECT_EQ(o.status, qemu_status(3));
    const auto err = lines(o.err);
    ASSERT_EQ(err.size(), 1u) << o.err;
    EXPECT_TRUE(ends_with(err[0], "vCPU 0: port I/O: 1-byte read at 0x1234 claimed by no device: it reads all ones "
                                  "(reported once per port)"))
        << err[0];
}

TEST(Unclaimed, AnUnclaimedMmioPageIsWarnedOnceReadsAllOnesAndTheGuestGoesOn) {
    auto o = exit_code("code=3 mmio=0xe0000000");
    EXPECT_EQ(o.out, "exit-code: mmio 0xe0000000: read8 0xff, read32 0xffffffff\n");
    EXPECT_EQ(o.status, qemu_status(3));
    const auto err = lines(o.err);
    ASSERT_EQ(err.size(), 1u) << o.err;
    EXPECT_TRUE(ends_with(err[0], "vCPU 0: MMIO: 1-byte read at 0xe0000000 claimed by no device: it reads all ones "
                                  "(reported once per 4 KiB page)"))
        << err[0];
}

TEST(Unclaimed, APortAndAnMmioPageGetOneWarningEach) {
    auto o = exit_code("code=3 port=0x1234 mmio=0xe0000000");
    EXPECT_EQ(o.status, qemu_status(3));
    const auto err = lines(o.err);
    ASSERT_EQ(err.size(), 2u) << o.err;
    EXPECT_NE(err[0].find("MMIO: 1-byte read at 0xe0000000"), std::string::npos) << err[0];
    EXPECT_NE(err[1].find("port I/O: 1-byte read at 0x1234"), std::string::npos) << err[1];
}

} // namespace
