// The sandbox in a real `strata run` and `strata device`: every thread of a
// running VM carries its filters (the kernel's /proc view: seccomp mode 2,
// no_new_privs, two filters on the io thread, three on each vCPU thread);
// --sandbox off carries none; a device that makes a forbidden call on the io
// thread or on a vCPU thread stops strata with exit status 159 and one line
// naming the call and the thread, while the same run with --sandbox off
// finishes; the backend process filters itself once it listens.
#include "tests/kvm/backend.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/syscall.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace kvmtest;

namespace {

// Name: value lines of /proc/PID/task/TID/status.
std::map<std::string, std::string> thread_status(const fs::path &status_file) {
    std::map<std::string, std::string> out;
    std::ifstream in(status_file);
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        const auto value = line.find_first_not_of(" \t", colon + 1);
        if (colon != std::string::npos && value != std::string::npos)
            out[line.substr(0, colon)] = line.substr(value);
    }
    return out;
}

struct Threads {
    int pid = 0; // the process, whose main thread has this tid
    std::map<int, std::map<std::string, std::string>> by_tid;
    // Seccomp_filters -> strata's own threads with that many. KVM's workers
    // (kvm-nx-lpage-recovery) are tasks of the process too, with the filters
    // of the thread that made them, but make no system calls of their own.
    std::map<std::string, int> count_by_filters;
};

Threads threads_of(int pid) {
    Threads t;
    t.pid = pid;
    const auto name = thread_status("/proc/" + std::to_string(pid) + "/status")["Name"];
    for (const auto &task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        auto s = thread_status(task.path() / "status");
        if (s["Name"] == name)
            t.count_by_filters[s["Seccomp_filters"]]++;
        t.by_tid[std::stoi(task.path().filename().string())] = std::move(s);
    }
    return t;
}

// The threads of `strata run --kernel spin OPTIONS` while the guest spins,
// read again (for up to 5 s) until `settled` holds: vCPU 0 says it spins
// while another vCPU thread may not have run yet. Then SIGTERM, which must
// end strata with 128 + SIGTERM. None where the guest never said it was
// spinning.
Threads threads_of_spinning_vm(const std::vector<std::string> &options,
                               const std::function<bool(const Threads &)> &settled = {}) {
    std::vector<std::string> argv{strata_bin, "run", "--kernel", guest("spin")};
    argv.insert(argv.end(), options.begin(), options.end());
    auto child = strata::test::spawn(argv);
    const auto seen = strata::test::read_until(child, "spinning\n", 5s);
    Threads t;
    if (seen == "spinning\n") {
        t = threads_of(child.pid);
        for (int i = 0; i < 500 && settled && !settled(t); ++i) {
            std::this_thread::sleep_for(10ms);
            t = threads_of(child.pid);
        }
    } else
        ADD_FAILURE() << "the guest did not say it was spinning; it said: " << seen;
    ::kill(child.pid, SIGTERM);
    const auto o = strata::test::finish(child, 5s, seen);
    EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
    return t;
}

std::string denial(const std::string &thread) {
    return "strata: error: the " + thread + " thread made system call socket (" + std::to_string(SYS_socket) +
           "), which its sandbox does not allow: stopping (exit status 159; --sandbox off runs without the "
           "sandbox, for debugging)\n";
}

strata::test::Outcome run_plugged(std::vector<std::string> args) {
    args.insert(args.begin(), plugged_bin);
    return strata::test::run(args, 20s);
}

// A run stopped by its sandbox: exit status 159 (not a signal), the one
// line of denial() naming `thread`, and no guest output.
void expect_stopped_by_sandbox(const strata::test::Outcome &o, const std::string &thread) {
    EXPECT_EQ(o.killed_by, 0);
    EXPECT_EQ(o.status, 159);
    EXPECT_EQ(o.err, denial(thread));
    EXPECT_EQ(o.out, "");
}

} // namespace

TEST(Sandbox, EveryThreadOfARunningVmIsFiltered) {
    const auto t = threads_of_spinning_vm({"--cpus", "2"}, [](const Threads &seen) {
        return seen.count_by_filters.count("3") && seen.count_by_filters.at("3") == 2;
    });
    ASSERT_FALSE(t.by_tid.empty());
    for (const auto &[tid, s] : t.by_tid) {
        EXPECT_EQ(s.at("Seccomp"), "2") << "thread " << tid;
        EXPECT_EQ(s.at("NoNewPrivs"), "1") << "thread " << tid;
    }
    // start-up + io on the io thread; + vCPU on each of the two vCPU threads.
    EXPECT_EQ(t.by_tid.at(t.pid).at("Seccomp_filters"), "2");
    EXPECT_EQ(t.count_by_filters.count("3") ? t.count_by_filters.at("3") : 0, 2);
}

TEST(Sandbox, OffLeavesEveryThreadUnfiltered) {
    const auto t = threads_of_spinning_vm({"--sandbox", "off"});
    EXPECT_GE(t.by_tid.size(), 2u);
    for (const auto &[tid, s] : t.by_tid)
        EXPECT_EQ(s.at("Seccomp"), "0") << "thread " << tid;
}

TEST(Sandbox, AForbiddenCallOnTheIoThreadStopsStrataNamingIt) {
    expect_stopped_by_sandbox(
        run_plugged({"run", "--kernel", guest("echo-test"), "--device", "test-syscall,on=notify"}), "io");
}

TEST(Sandbox, AForbiddenCallOnAVcpuThreadStopsStrataNamingIt) {
    expect_stopped_by_sandbox(
        run_plugged({"run", "--kernel", guest("echo-test"), "--device", "test-syscall,on=activate"}), "vCPU");
}

TEST(Sandbox, OffLetsTheSameCallsThrough) {
    for (const std::string on : {"notify", "activate"}) {
        auto o = run_plugged(
            {"run", "--kernel", guest("echo-test"), "--device", "test-syscall,on=" + on, "--sandbox", "off"});
        EXPECT_EQ(o.status, 0) << on << ": " << o.err;
        EXPECT_EQ(o.out, "echo-test: back \"hello from a plugin\" (19 bytes)\necho-test: count 19\n") << on;
    }
}

TEST(Sandbox, OnlyOnAndOffAreAccepted) {
    strata::test::expect_usage_error(run_strata({"run", "--sandbox", "maybe"}),
                                     "--sandbox wants on or off, not 'maybe'");
}

TEST(Sandbox, StrataDeviceFiltersItselfOnceItListens) {
    BackendProcess backend("strata-device", {strata_bin, "device", "virtio-rng", "--socket", "{socket}"});
    ASSERT_TRUE(backend.ready()) << backend.log();
    // The socket exists a moment before the filter: wait for the second one.
    std::map<std::string, std::string> s;
    for (int i = 0; i < 200; ++i) {
        s = thread_status("/proc/" + std::to_string(backend.pid()) + "/status");
        if (s["Seccomp_filters"] == "2")
            break;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(s["Seccomp"], "2");
    EXPECT_EQ(s["NoNewPrivs"], "1");
    EXPECT_EQ(s["Seccomp_filters"], "2") << "start-up and backend";
    // It still serves a frontend.
    auto o = run_strata(
        {"run", "--kernel", guest("rng-test"), "--device", "vhost-user,socket=" + backend.socket() + ",type=rng"}, 20s);
    EXPECT_EQ(o.status, 0) << o.out << o.err << backend.log();
}
