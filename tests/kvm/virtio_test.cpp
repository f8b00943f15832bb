// virtio devices on /dev/kvm, driven by the test guests: block (exact file
// contents, read-only disks, two disks), console echo, rng, the hostile
// guest's catalogue of malformed operations, and net over a real tap in a
// network namespace made for the test.
#include "tests/kvm/kvm_env.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace kvmtest;
using strata::test::slurp;

namespace {

// A disk image of `bytes`, filled with `fill`, removed when the test ends.
class Disk {
public:
    Disk(const std::string &name, std::size_t bytes, char fill = 0) : path_(temp_path(name)) {
        std::ofstream(path_, std::ios::binary) << std::string(bytes, fill);
    }
    ~Disk() { fs::remove(path_); }
    const std::string &path() const { return path_; }
    std::string contents() const { return slurp(path_); }

private:
    std::string path_;
};

// blk-test's pattern: byte o of disk i is (o * 31 + seed + i) mod 256.
std::string pattern(std::size_t bytes, unsigned seed, unsigned disk) {
    std::string s(bytes, '\0');
    for (std::size_t o = 0; o < bytes; ++o)
        s[o] = static_cast<char>((o * 31 + seed + disk) & 0xff);
    return s;
}

} // namespace

TEST(VirtioBlock, GuestPatternLandsInTheFileExactly) {
    Disk disk("blk0.img", 1 << 20);
    auto o = run_strata({"run", "--kernel", guest("blk-test"), "--blk", disk.path() + ",id=disk-zero", "--cmdline",
                         "seed=7 sectors=64"});
    EXPECT_EQ(o.out, "blk0: capacity 2048 sectors\nblk0: id disk-zero\nblk0: wrote 64 sectors, flushed, verified\n"
                     "blk0: read past end refused\nblk-test: done\n");
    EXPECT_EQ(o.status, 0) << o.err;
    const auto bytes = disk.contents();
    ASSERT_EQ(bytes.size(), 1u << 20);
    EXPECT_EQ(bytes.substr(0, 64 * 512), pattern(64 * 512, 7, 0));
    EXPECT_EQ(bytes.substr(64 * 512), std::string((1 << 20) - 64 * 512, '\0'));
}

TEST(VirtioBlock, TwoDisksAtOnceEachGetTheirOwnPattern) {
    Disk a("two-a.img", 256 * 1024), b("two-b.img", 512 * 1024);
    auto o = run_strata({"run", "--kernel", guest("blk-test"), "--blk", a.path(), "--blk", b.path() + ",id=second",
                         "--cmdline", "seed=1 sectors=32"});
    EXPECT_EQ(o.status, 0) << o.out << o.err;
    EXPECT_NE(o.out.find("blk0: capacity 512 sectors\n"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("blk1: capacity 1024 sectors\nblk1: id second\n"), std::string::npos) << o.out;
    EXPECT_EQ(a.contents().substr(0, 32 * 512), pattern(32 * 512, 1, 0));
    EXPECT_EQ(b.contents().substr(0, 32 * 512), pattern(32 * 512, 1, 1));
}

TEST(VirtioBlock, ReadOnlyDiskRefusesWritesAndStaysUnchanged) {
    Disk disk("ro.img", 64 * 1024, 'A');
    auto o = run_strata({"run", "--kernel", guest("blk-test"), "--blk", disk.path() + ",ro"});
    EXPECT_EQ(o.status, 0) << o.out << o.err;
    EXPECT_NE(o.out.find("blk0: read-only, write refused\n"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("blk0: sector0 4141414141414141\n"), std::string::npos) << o.out;
    EXPECT_EQ(disk.contents(), std::string(64 * 1024, 'A'));
}

TEST(VirtioBlock, MissingDiskIsAUsageError) {
    auto o = run_strata({"run", "--kernel", guest("blk-test"), "--blk", "/nonexistent/disk.img"});
    strata::test::expect_usage_error(o, "cannot open disk '/nonexistent/disk.img' for writing");
}

TEST(VirtioRng, FourRequestsOfRandomBytesThatDiffer) {
    auto o = run_strata({"run", "--kernel", guest("rng-test"), "--rng"});
    EXPECT_EQ(o.status, 0) << o.err;
    std::regex line("rng: ([0-9a-f]{64})\n");
    std::set<std::string> seen;
    for (std::sregex_iterator it(o.out.begin(), o.out.end(), line), end; it != end; ++it)
        seen.insert((*it)[1]);
    EXPECT_EQ(seen.size(), 4u) << o.out; // four distinct 32-byte draws
    for (const auto &hex : seen)
        EXPECT_NE(hex, std::string(64, hex[0])) << "constant bytes";
    EXPECT_NE(o.out.find("rng-test: done\n"), std::string::npos);
}

TEST(VirtioConsole, EchoesInputExactly) {
    auto child =
        strata::test::spawn({strata_bin, "run", "--kernel", guest("console-echo"), "--console", "virtio"}, true);
    const std::string input = "hello strata\nsecond line, with punctuation!\nquit\n";
    ASSERT_EQ(::write(child.in_fd, input.data(), input.size()), static_cast<ssize_t>(input.size()));
    auto o = strata::test::finish(child, 10s);
    EXPECT_EQ(o.out, "console-echo: ready\n" + input + "console-echo: bye\n");
    EXPECT_EQ(o.status, 0) << o.err;
}

TEST(VirtioHostile, MalformedOperationsAreSurvivedAndAHealthyDeviceKeepsWorking) {
    Disk disk("hostile.img", 64 * 1024);
    auto o = run_strata({"run", "--kernel", guest("hostile"), "--blk", disk.path(), "--rng"}, 60s);
    const char *cases[] = {"loop-chain",
                           "desc-outside-ram",
                           "length-overflow",
                           "avail-ahead",
                           "queue-size-not-power-of-two",
                           "misaligned-ring",
                           "notify-before-driver-ok",
                           "write-read-only",
                           "narrow-and-wide-access",
                           "status-backwards",
                           "indirect-too-long",
                           "disable-with-io-in-flight"};
    for (const char *c : cases) {
        EXPECT_NE(o.out.find(std::string("hostile: ") + c + ": ok\n"), std::string::npos) << c << "\n" << o.out;
        EXPECT_NE(o.out.find(std::string("hostile: healthy after ") + c + "\n"), std::string::npos) << c;
    }
    EXPECT_EQ(o.out.find("FAIL"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("hostile: victim works after reset\nhostile: done\n"), std::string::npos) << o.out;
    EXPECT_EQ(o.status, 0) << o.err;
    // Each kind of mistake is logged, once.
    for (const char *log :
         {"a descriptor chain longer than the queue size 16 (or a loop)", "a buffer outside guest RAM",
          "entries ahead of a", "is not a power of two", "misaligned ring", "queue notify before DRIVER_OK",
          "write to read-only register MagicValue", "8-byte read at register offset 0", "device status went backwards",
          "an indirect table of 17 descriptors makes a chain longer than the queue size 16"}) {
        const auto first = o.err.find(log);
        EXPECT_NE(first, std::string::npos) << log << "\n" << o.err;
        EXPECT_EQ(o.err.find(log, first + 1), std::string::npos) << "logged twice: " << log;
    }
}

namespace {

int sh(const std::string &command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// A network namespace with a tap at 10.77.0.1/24, made for one test and
// removed after it. The guest answers at 10.77.0.2; no traffic leaves it.
class TapNamespace {
public:
    TapNamespace() : name_("strata-t" + std::to_string(::getpid())) {
        sh("ip netns del " + name_);
        ok_ = sh("ip netns add " + name_) == 0 && sh(exec("ip tuntap add tap0 mode tap")) == 0 &&
              sh(exec("ip addr add 10.77.0.1/24 dev tap0")) == 0 && sh(exec("ip link set tap0 up")) == 0 &&
              sh(exec("ip link set lo up")) == 0;
    }
    ~TapNamespace() { sh("ip netns del " + name_); }
    bool ok() const { return ok_; }
    const std::string &name() const { return name_; }
    std::string exec(const std::string &command) const { return "ip netns exec " + name_ + " " + command; }

private:
    std::string name_;
    bool ok_ = false;
};

// Sends 1 MiB to the guest's UDP echo in 1 KiB datagrams (at most 16 in
// flight) from inside the namespace; returns 0 when every byte came back in
// order. Runs in a forked child so only it joins the namespace.
int udp_round_trip(const std::string &netns) {
    const int ns = ::open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0)
        return 10;
    const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    timeval tv{5, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(7777);
    to.sin_addr.s_addr = htonl(0x0a4d0002); // 10.77.0.2
    if (::connect(s, reinterpret_cast<sockaddr *>(&to), sizeof to) != 0)
        return 11;
    constexpr std::size_t total = 1 << 20, chunk = 1024, window = 16;
    std::vector<unsigned char> data(total), back;
    for (std::size_t i = 0; i < total; ++i)
        data[i] = static_cast<unsigned char>((i * 131 + i / chunk) & 0xff);
    std::size_t sent = 0;
    unsigned char buf[2048];
    while (back.size() < total) {
        while (sent < total && sent - back.size() < window * chunk) {
            if (::send(s, data.data() + sent, chunk, 0) != static_cast<ssize_t>(chunk))
                return 12;
            sent += chunk;
        }
        const ssize_t n = ::recv(s, buf, sizeof buf, 0);
        if (n != static_cast<ssize_t>(chunk))
            return 13; // timeout or a truncated echo
        back.insert(back.end(), buf, buf + n);
    }
    return back == data ? 0 : 14;
}

} // namespace

TEST(VirtioNet, HostPingsTheGuestAndOneMibOfUdpRoundTrips) {
    // A machine without /dev/net/tun cannot have a tap: SKIP. Not being root
    // is only a SKIP on a developer's machine; CI runs as root, and there a
    // test that cannot set up its tap fails.
    if (::access("/dev/net/tun", F_OK) != 0)
        GTEST_SKIP() << "this machine has no /dev/net/tun";
    if (::geteuid() != 0 && std::getenv("CI") == nullptr)
        GTEST_SKIP() << "needs root to create a tap in a network namespace (CI runs it as root)";
    TapNamespace ns;
    ASSERT_TRUE(ns.ok()) << "could not set up namespace " << ns.name();
    auto child = strata::test::spawn({"/usr/sbin/ip", "netns", "exec", ns.name(), strata_bin, "run", "--kernel",
                                      guest("net-echo"), "--net", "tap=tap0,mac=52:54:00:ab:cd:ef", "--cmdline",
                                      "ip=10.77.0.2"});
    const auto up = strata::test::read_until(child, "\n", 10s);
    ASSERT_EQ(up, "net-echo: up 10.77.0.2 52:54:00:ab:cd:ef\n");

    FILE *ping = ::popen(ns.exec("ping -c 5 -i 0.2 -W 3 10.77.0.2").c_str(), "r");
    std::string ping_out;
    char line[256];
    while (ping && std::fgets(line, sizeof line, ping))
        ping_out += line;
    if (ping)
        ::pclose(ping);
    EXPECT_NE(ping_out.find("5 packets transmitted, 5 received, 0% packet loss"), std::string::npos) << ping_out;

    const pid_t pid = ::fork();
    if (pid == 0)
        ::_exit(udp_round_trip(ns.name()));
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << "udp round trip failed with " << WEXITSTATUS(ws);

    ::kill(child.pid, SIGTERM);
    auto o = strata::test::finish(child, 5s, up);
    EXPECT_EQ(o.killed_by, 0) << "strata died by signal " << o.killed_by << " instead of exiting";
    EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
}
