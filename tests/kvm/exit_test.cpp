// How a guest leaves strata and what strata says about accesses no device
// claims, through the strata binary: the debug-exit port written 2 and 4 bytes
// wide exits as QEMU's isa-debug-exit does, and an unclaimed port or MMIO page
// gets exactly one warning while the guest goes on and reads all ones. And
// what comes after: the VM's teardown in a holder process.
#include "tests/kvm/kvm_env.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
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

// After the guest: strata hands its VM to a holder process (tools/
// teardown.hpp) so that KVM's teardown comes after strata's exit status.
// While the VM runs, strata's one child is that holder: named
// strata-teardown, holding the VM and its socket and nothing else of
// strata's (stdin/out/err are /dev/null, so no pipe of strata's stays open),
// under its own seccomp filter; it is gone soon after strata exits.
namespace {

std::map<int, std::string> fd_targets(int pid) {
    std::map<int, std::string> out;
    for (const auto &e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        out[std::stoi(e.path().filename().string())] = std::filesystem::read_symlink(e.path()).string();
    return out;
}

std::string status_field(int pid, const std::string &field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0)
            return line.substr(line.find_first_not_of(" \t", field.size() + 1));
    return "";
}

void expect_holder_of_running_vm(const std::vector<std::string> &options, const std::string &seccomp) {
    std::vector<std::string> argv{strata_bin, "run", "--kernel", guest("spin")};
    argv.insert(argv.end(), options.begin(), options.end());
    auto child = strata::test::spawn(argv);
    const auto seen = strata::test::read_until(child, "spinning\n", 5s);
    ASSERT_EQ(seen, "spinning\n");
    std::ifstream children_file("/proc/" + std::to_string(child.pid) + "/task/" + std::to_string(child.pid) +
                                "/children");
    std::vector<int> children;
    for (int pid; children_file >> pid;)
        children.push_back(pid);
    ASSERT_EQ(children.size(), 1u) << "strata's children";
    const int holder = children[0];
    // What it holds once it has taken what strata sent (it may not have run
    // yet: just forked, it is still named strata and holds strata's fds).
    std::map<int, std::string> fds;
    std::vector<std::string> rest;
    for (int i = 0; i < 500; ++i) {
        fds = fd_targets(holder);
        rest.clear();
        for (const auto &[fd, target] : fds)
            if (fd > 2)
                rest.push_back(target.rfind("socket:", 0) == 0 ? "socket" : target);
        std::sort(rest.begin(), rest.end());
        if (std::find(rest.begin(), rest.end(), "anon_inode:kvm-vm") != rest.end())
            break;
        std::this_thread::sleep_for(10ms);
    }
    // It names itself and installs its filter before it takes anything.
    EXPECT_EQ(status_field(holder, "Name"), "strata-teardown");
    EXPECT_EQ(status_field(holder, "Seccomp"), seccomp);
    EXPECT_EQ(fds[0], "/dev/null");
    EXPECT_EQ(fds[1], "/dev/null");
    EXPECT_EQ(fds[2], "/dev/null");
    EXPECT_EQ(rest, (std::vector<std::string>{"anon_inode:kvm-vm", "socket"}));

    ::kill(child.pid, SIGTERM);
    const auto o = strata::test::finish(child, 5s, seen);
    EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {
        gone = status_field(holder, "Name") != "strata-teardown"; // exited (and reaped, or a zombie)
        gone = gone || status_field(holder, "State").rfind("Z", 0) == 0;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(gone) << "the holder outlived strata by 5 s";
}

} // namespace

TEST(Teardown, AHolderProcessTakesTheVmAndNothingElseAndEndsAfterStrata) {
    expect_holder_of_running_vm({}, "2"); // 2: a seccomp filter
}

TEST(Teardown, WithTheSandboxOffTheHolderIsUnfiltered) { expect_holder_of_running_vm({"--sandbox", "off"}, "0"); }
