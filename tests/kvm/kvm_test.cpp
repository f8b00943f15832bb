// strata on this machine's /dev/kvm, driven as a user drives it: the strata
// binary with the x86_64 test guests, checking exact output and exit status.
#include "tests/kvm/kvm_env.hpp"
#include "tests/support/meson_main.hpp"

#include <gtest/gtest.h>

#include <cpuid.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using strata::test::expect_usage_error;
using strata::test::Outcome;
using strata::test::slurp;

using namespace kvmtest;

TEST(Boot, HelloPrintsBootargsMemoryAndCpusFromTheDeviceTree) {
    auto o = run_strata({"run", "--kernel", guest("hello"), "--cmdline", "hello world", "--mem", "64M"});
    EXPECT_EQ(o.out, "hello from strata\nbootargs: hello world\nmemory: 67108864 bytes\ncpus: 1\n");
    EXPECT_EQ(o.err, "");
    EXPECT_EQ(o.status, 0);
}

TEST(Boot, WithoutKernelTheBuiltInDemoGuestRuns) {
    auto o = run_strata({"run", "--cmdline", "demo"});
    EXPECT_EQ(o.out, "hello from strata\nbootargs: demo\nmemory: 134217728 bytes\ncpus: 1\n");
    EXPECT_EQ(o.status, 0);
}

TEST(Boot, TwoVcpusBoot) {
    auto o = run_strata({"run", "--kernel", guest("hello"), "--cpus", "2"});
    EXPECT_EQ(o.out, "hello from strata\nbootargs: \nmemory: 134217728 bytes\ncpus: 2\n");
    EXPECT_EQ(o.status, 0);
}

TEST(Boot, FourVcpusBoot) {
    auto o = run_strata({"run", "--kernel", guest("hello"), "--cpus", "4", "--mem", "256M"});
    EXPECT_EQ(o.out, "hello from strata\nbootargs: \nmemory: 268435456 bytes\ncpus: 4\n");
    EXPECT_EQ(o.status, 0);
}

TEST(Boot, RamAboveFourGibIsSplitAroundTheMmioHole) {
    auto o = run_strata({"run", "--kernel", guest("hello"), "--mem", "5G"});
    EXPECT_EQ(o.out, "hello from strata\nbootargs: \nmemory: 5368709120 bytes\ncpus: 1\n");
    EXPECT_EQ(o.status, 0);
}

TEST(Config, IniFileGivesTheSameOptionsAndTheCommandLineWins) {
    const auto ini = temp_path("config.ini");
    std::ofstream(ini) << "kernel = " << guest("hello") << "\nmem = 32M\ncpus = 3\ncmdline = from file\n";
    auto o = run_strata({"run", "--config", ini, "--cpus", "2"});
    fs::remove(ini);
    EXPECT_EQ(o.out, "hello from strata\nbootargs: from file\nmemory: 33554432 bytes\ncpus: 2\n");
    EXPECT_EQ(o.status, 0);
}

TEST(Console, FileConsoleGetsTheOutputAndStdoutNothing) {
    const auto path = temp_path("console.txt");
    auto o = run_strata({"run", "--kernel", guest("hello"), "--console", "file:" + path});
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(slurp(path), "hello from strata\nbootargs: \nmemory: 134217728 bytes\ncpus: 1\n");
    fs::remove(path);
    EXPECT_EQ(o.status, 0);
}

TEST(Console, NoneDiscardsTheOutput) {
    auto o = run_strata({"run", "--kernel", guest("hello"), "--console", "none"});
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(o.status, 0);
}

TEST(Exit, DebugExitValuePropagatesAsQemuComputesIt) {
    EXPECT_EQ(run_strata({"run", "--kernel", guest("exit-code"), "--cmdline", "code=5"}).status, 11);
    EXPECT_EQ(run_strata({"run", "--kernel", guest("exit-code"), "--cmdline", "code=1"}).status, 3);
    EXPECT_EQ(run_strata({"run", "--kernel", guest("exit-code"), "--cmdline", "code=127"}).status, 255);
}

TEST(Exit, PowerOffExitsZero) {
    EXPECT_EQ(run_strata({"run", "--kernel", guest("exit-code"), "--cmdline", "code=0"}).status, 0);
}

TEST(Exit, FaultingGuestIsReportedWithRegistersWithinASecond) {
    auto o = run_strata({"run", "--kernel", guest("fault")}, 5s);
    EXPECT_EQ(o.status, 4);
    EXPECT_EQ(o.out, "fault: triple-faulting\n");
    EXPECT_NE(o.err.find("vCPU 0 stopped the VM"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("rip=0x"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("cr3=0x"), std::string::npos) << o.err;
    EXPECT_LT(o.elapsed, 1s);
}

class Signals : public ::testing::TestWithParam<int> {};

TEST_P(Signals, StopASpinningGuestWithinASecond) {
    const int signo = GetParam();
    auto child = strata::test::spawn({strata_bin, "run", "--kernel", guest("spin"), "--cpus", "2"});
    auto seen = strata::test::read_until(child, "spinning\n", 5s);
    ASSERT_EQ(seen, "spinning\n");
    ::kill(child.pid, signo);
    auto o = strata::test::finish(child, 5s, seen);
    EXPECT_FALSE(o.timed_out);
    EXPECT_EQ(o.killed_by, 0) << "strata died by signal " << o.killed_by << " instead of exiting";
    EXPECT_EQ(o.status, 128 + signo);
    EXPECT_LT(o.elapsed, 1s);
}
INSTANTIATE_TEST_SUITE_P(Run, Signals, ::testing::Values(SIGTERM, SIGINT));

TEST(BadInput, UnknownFlag) {
    expect_usage_error(run_strata({"run", "--frobnicate"}), "unrecognised option '--frobnicate'");
}

TEST(BadInput, UnknownCommand) { expect_usage_error(run_strata({"fly"}), "unknown command 'fly'"); }

TEST(BadInput, MemoryZero) { expect_usage_error(run_strata({"run", "--mem", "0"}), "--mem must be more than 0"); }

TEST(BadInput, MemoryNotASize) {
    expect_usage_error(run_strata({"run", "--mem", "lots"}),
                       "--mem wants a size such as 512M, 2G or a number of bytes");
}

TEST(BadInput, MemoryAboveTheHost) { expect_usage_error(run_strata({"run", "--mem", "100T"}), "of memory: use less"); }

TEST(BadInput, CpusZero) { expect_usage_error(run_strata({"run", "--cpus", "0"}), "--cpus must be at least 1"); }

TEST(BadInput, CpusAboveKvmLimit) {
    expect_usage_error(run_strata({"run", "--cpus", "100000"}), "is more than KVM allows here");
}

TEST(BadInput, MissingKernel) {
    expect_usage_error(run_strata({"run", "--kernel", "/nonexistent/kernel"}),
                       "cannot open kernel '/nonexistent/kernel': No such file or directory");
}

TEST(BadInput, KernelThatIsADirectory) {
    expect_usage_error(run_strata({"run", "--kernel", "/"}), "cannot read kernel '/'");
}

TEST(BadInput, KernelThatIsNotAnElf) {
    const auto path = temp_path("not-elf");
    std::ofstream(path) << "#!/bin/sh\necho hello\n";
    auto o = run_strata({"run", "--kernel", path});
    fs::remove(path);
    expect_usage_error(o, "is not an ELF file");
}

TEST(BadInput, KernelForAnotherMachine) {
    auto bytes = slurp(guest("hello"));
    ASSERT_GT(bytes.size(), 20u);
    bytes[18] = static_cast<char>(183); // e_machine = EM_AARCH64
    bytes[19] = 0;
    const auto path = temp_path("arm-elf");
    std::ofstream(path, std::ios::binary) << bytes;
    auto o = run_strata({"run", "--kernel", path});
    fs::remove(path);
    expect_usage_error(o, "is an ELF for aarch64, but this VM is x86_64");
}

TEST(Cli, HelpExplainsTheEscapeAndExitStatus) {
    auto o = run_strata({"run", "--help"});
    EXPECT_EQ(o.status, 0);
    EXPECT_NE(o.out.find("Ctrl-A x"), std::string::npos);
    EXPECT_NE(o.out.find("--kernel"), std::string::npos);
    EXPECT_NE(o.out.find("Exit status"), std::string::npos);
}

TEST(Cli, VersionPrintsTheVersion) {
    auto o = run_strata({"--version"});
    EXPECT_EQ(o.status, 0);
    EXPECT_EQ(o.out.rfind("strata ", 0), 0u);
}

namespace {

// What strata caps should say, read here independently of strata: the CPU's
// CPUID, and KVM's supported CPUID asked of /dev/kvm directly.
struct HostFacts {
    unsigned cpu_bits = 0, kvm_bits = 0;
    std::string inside_vm = "no";
};

HostFacts read_host_facts() {
    HostFacts h;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0x8000'0008, &a, &b, &c, &d))
        h.cpu_bits = a & 0xff;
    __get_cpuid(1, &a, &b, &c, &d);
    if (c & (1u << 31)) {
        __cpuid(0x4000'0000, a, b, c, d);
        char vendor[13] = {};
        std::memcpy(vendor, &b, 4);
        std::memcpy(vendor + 4, &c, 4);
        std::memcpy(vendor + 8, &d, 4);
        h.inside_vm = std::string("yes (CPUID hypervisor bit, vendor \"") + vendor + "\")";
    }
    // struct kvm_cpuid2 in its C layout (in C++ linux/kvm.h's flexible array
    // adds a byte and changes the ioctl number): an 8-byte header, then entries.
    struct Cpuid2 {
        std::uint32_t nent, padding;
        kvm_cpuid_entry2 entries[256];
    };
    struct Cpuid2Header {
        std::uint32_t nent, padding;
    };
    auto cpuid = std::make_unique<Cpuid2>();
    cpuid->nent = 256;
    const int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm >= 0 && ::ioctl(kvm, _IOWR(KVMIO, 0x05, Cpuid2Header), cpuid.get()) == 0)
        for (unsigned i = 0; i < cpuid->nent; ++i)
            if (cpuid->entries[i].function == 0x8000'0008)
                h.kvm_bits = cpuid->entries[i].eax & 0xff;
    if (kvm >= 0)
        ::close(kvm);
    return h;
}

} // namespace

TEST(Caps, ReportsAddressSizesAndTheOwnWindowApart) {
    const auto host = read_host_facts();
    ASSERT_NE(host.kvm_bits, 0u) << "KVM_GET_SUPPORTED_CPUID has no leaf 0x80000008";
    auto o = run_strata({"caps"});
    EXPECT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.out.rfind("arch                      x86_64\nkvm_api_version           12\n", 0), 0u) << o.out;
    EXPECT_NE(o.out.find("\ncpu_physical_address_bits " + std::to_string(host.cpu_bits) + "\n"), std::string::npos)
        << o.out;
    EXPECT_NE(o.out.find("\nkvm_physical_address_bits " + std::to_string(host.kvm_bits) + "\n"), std::string::npos)
        << o.out;
    EXPECT_NE(o.out.find("\ninside_vm                 " + host.inside_vm + "\n"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("\nown_window_bits           "), std::string::npos) << o.out;
}

TEST(Caps, JsonHasTheSameFacts) {
    const auto host = read_host_facts();
    auto o = run_strata({"caps", "--json"});
    EXPECT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.out.rfind("{\"arch\": \"x86_64\", \"kvm_api_version\": \"12\", ", 0), 0u) << o.out;
    EXPECT_NE(o.out.find("\"kvm_physical_address_bits\": \"" + std::to_string(host.kvm_bits) + "\""), std::string::npos)
        << o.out;
}

int main(int argc, char **argv) {
    ::testing::InitGoogleTest(&argc, argv);
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s STRATA GUEST_DIR STRATA_PLUGGED\n", argv[0]);
        return 1;
    }
    strata_bin = argv[1];
    guest_dir = argv[2];
    plugged_bin = argv[3];
    return kvmtest::run_kvm_tests();
}
