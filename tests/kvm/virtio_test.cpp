// virtio devices on /dev/kvm, driven by the test guests: block (exact file
// contents, read-only disks, two disks, completions by interrupt), console echo, rng, the hostile
// guest's catalogue of malformed operations, a guest that never lets its rng
// queue empty, and net over a real tap in a network namespace made for the
// test (with hostile receive buffers and transmit headers too).
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

// x86_64 guests take interrupts: blk-bench with irq=1 sends its device's
// line through the IOAPIC to the local APIC and halts between completions,
// so it sees completions only when strata's irqfd interrupts it (a 10 ms
// local APIC tick bounds each wait but is not counted); it waits for the
// first batch's interrupt in any case. 64 requests of 4 KiB.
TEST(VirtioBlock, CompletionsArriveByInterruptThroughTheIoapic) {
    Disk disk("irq.img", 1 << 20);
    auto o = run_strata({"run", "--kernel", guest("blk-bench"), "--blk", disk.path(), "--cmdline",
                         "op=read size=4096 depth=8 total=262144 irq=1"});
    EXPECT_EQ(o.status, 0) << o.out << o.err;
    std::smatch m;
    ASSERT_TRUE(
        std::regex_match(o.out, m, std::regex("blk-bench: ([0-9]+) interrupts\nblk-bench: done, read 262144 bytes\n")))
        << o.out;
    EXPECT_GE(std::stoul(m[1]), 1u);
    EXPECT_LE(std::stoul(m[1]), 64u); // at most one a completion
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

// Puts strata's main thread (it runs the io_context) on one CPU and its other
// threads (the vCPU's) on another, as on a host with cores to spare. Where
// the two share a CPU, the io thread that a kick wakes runs in the vCPU's
// place, and the guest cannot act while a queue is being served. False where
// this process may use fewer than two CPUs.
bool split_threads(pid_t pid) {
    cpu_set_t allowed;
    if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return false;
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
        if (CPU_ISSET(c, &allowed))
            cpus.push_back(c);
    for (const auto &task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        const pid_t tid = std::stoi(task.path().filename().string());
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[tid == pid ? 0 : 1], &one);
        ::sched_setaffinity(tid, sizeof one, &one); // a kernel helper thread of KVM's may refuse: no matter
    }
    return true;
}

} // namespace

// rng-flood keeps its rng queue non-empty forever from vCPU 0. The io thread
// must still get round to everything else: here, the signal that stops
// strata. (Without a budget per turn this fails only while vCPU 0 keeps pace
// with the device, which takes a CPU it need not share; the burst test below
// tells a missing budget whatever the load.)
TEST(VirtioHostile, ARngQueueNeverEmptiedStillLetsSigtermStopStrata) {
    auto child = strata::test::spawn({strata_bin, "run", "--kernel", guest("rng-flood"), "--rng"});
    const auto seen = strata::test::read_until(child, "rng-flood: flooding\n", 10s);
    EXPECT_EQ(seen, "rng-flood: flooding\n");
    split_threads(child.pid);
    ::kill(child.pid, SIGTERM);
    auto o = strata::test::finish(child, 5s, seen);
    EXPECT_FALSE(o.timed_out) << "SIGTERM not handled within 5 s: the io thread never left the rng queue";
    EXPECT_EQ(o.killed_by, 0) << "strata died by signal " << o.killed_by << " instead of exiting";
    EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
    EXPECT_EQ(o.out, "rng-flood: flooding\n");
}

// The same flood, with a virtio console: a line the guest sends through it
// mid-flood still comes out (the console, too, is served on the io thread).
TEST(VirtioHostile, ARngQueueNeverEmptiedStillLetsTheVirtioConsoleSpeak) {
    auto child =
        strata::test::spawn({strata_bin, "run", "--kernel", guest("rng-flood"), "--rng", "--console", "virtio"});
    auto seen = strata::test::read_until(child, "rng-flood: flooding\n", 10s);
    split_threads(child.pid);
    seen += strata::test::read_until(child, "rng-flood: console heard while flooding\n", 5s);
    EXPECT_EQ(seen, "rng-flood: flooding\nrng-flood: console heard while flooding\n");
    ::kill(child.pid, SIGTERM);
    auto o = strata::test::finish(child, 5s, seen);
    EXPECT_FALSE(o.timed_out) << "SIGTERM not handled within 5 s: the io thread never left the rng queue";
    EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
}

// 100 bursts of 256 long rng chains, each kicked just before a blk request
// that writes where the chains write: the blk request must get in before a
// burst is over (each turn on the io thread pops at most a budget). Where one
// turn drains the whole queue, it never does, whatever the scheduling; where
// it does not, it does nearly every time once the vCPU has a CPU of its own.
TEST(VirtioHostile, ABurstOnTheRngQueueLetsABlkRequestInBeforeItEnds) {
    Disk disk("burst.img", 64 * 1024);
    auto child = strata::test::spawn({strata_bin, "run", "--kernel", guest("rng-flood"), "--rng", "--blk",
                                      disk.path() + ",id=burst-witness", "--cmdline", "bursts=100"});
    const auto seen = strata::test::read_until(child, "rng-flood: waiting for the host\n", 10s);
    ASSERT_EQ(seen, "rng-flood: waiting for the host\n") << strata::test::finish(child, 1s, seen).err;
    if (!split_threads(child.pid)) {
        ::kill(child.pid, SIGKILL);
        strata::test::finish(child, 1s);
        GTEST_SKIP() << "needs two CPUs, one for the vCPU and one for the io thread";
    }
    std::fstream(disk.path(), std::ios::in | std::ios::out | std::ios::binary).put('g'); // go
    auto o = strata::test::finish(child, 20s, seen);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(o.out, m, std::regex("rng-flood: blk served mid-burst in ([0-9]+) of 100 bursts\n")))
        << o.out << o.err;
    EXPECT_GT(std::stoul(m[1]), 0u) << m[0]
                                    << "the blk request waited for every burst to end: one turn on the io "
                                       "thread took a whole queue";
    EXPECT_EQ(o.out, seen + m[0].str());
    EXPECT_EQ(o.status, 0) << o.err;
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

// Sends `payload` as one UDP datagram to the guest's echo port from inside
// the namespace and returns the reply, or "" when none came within `wait`
// (a zero wait sends and returns at once). In a forked child, as above.
std::string udp_exchange(const std::string &netns, const std::string &payload, std::chrono::milliseconds wait) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return "";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        const int ns = ::open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0)
            ::_exit(10);
        const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
        timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
        ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(7777);
        to.sin_addr.s_addr = htonl(0x0a4d0002); // 10.77.0.2
        if (::connect(s, reinterpret_cast<sockaddr *>(&to), sizeof to) != 0 ||
            ::send(s, payload.data(), payload.size(), 0) != static_cast<ssize_t>(payload.size()))
            ::_exit(11);
        char buf[2048];
        const ssize_t n = wait.count() > 0 ? ::recv(s, buf, sizeof buf, 0) : 0;
        if (n > 0 && ::write(fds[1], buf, static_cast<std::size_t>(n)) != n)
            ::_exit(12);
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string reply;
    char buf[2048];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
        reply.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    ::waitpid(pid, nullptr, 0);
    return reply;
}

// Why this machine cannot give a test a tap (then it is skipped), or "".
// A machine without /dev/net/tun cannot have one. Not being root is only a
// SKIP on a developer's machine; CI runs as root, and there a test that
// cannot set up its tap fails.
std::string no_tap() {
    if (::access("/dev/net/tun", F_OK) != 0)
        return "this machine has no /dev/net/tun";
    if (::geteuid() != 0 && std::getenv("CI") == nullptr)
        return "needs root to create a tap in a network namespace (CI runs it as root)";
    return "";
}

// net-echo on the tap of `ns` with `bootargs` after its address.
strata::test::Child start_net_echo(const TapNamespace &ns, const std::string &bootargs = "") {
    return strata::test::spawn({"/usr/sbin/ip", "netns", "exec", ns.name(), strata_bin, "run", "--kernel",
                                guest("net-echo"), "--net", "tap=tap0,mac=52:54:00:ab:cd:ef", "--cmdline",
                                "ip=10.77.0.2" + (bootargs.empty() ? "" : " " + bootargs)});
}

} // namespace

TEST(VirtioNet, HostPingsTheGuestAndOneMibOfUdpRoundTrips) {
    if (const auto why = no_tap(); !why.empty())
        GTEST_SKIP() << why;
    TapNamespace ns;
    ASSERT_TRUE(ns.ok()) << "could not set up namespace " << ns.name();
    auto child = start_net_echo(ns);
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

// A driver may post receive buffers shorter than a frame. The device must
// report no more than it wrote: 12 bytes of header and the first 116 of a
// 1042-byte frame, 128 in all. (Linux's tap read already returns no more
// than the buffers hold; this holds the device to it whatever its backend.)
TEST(VirtioNet, ReceiveIntoBuffersShorterThanTheFrameReportsOnlyWhatTheyHold) {
    if (const auto why = no_tap(); !why.empty())
        GTEST_SKIP() << why;
    TapNamespace ns;
    ASSERT_TRUE(ns.ok()) << "could not set up namespace " << ns.name();
    auto child = start_net_echo(ns, "rx-buffer=128");
    auto seen = strata::test::read_until(child, " 52:54:00:ab:cd:ef\n", 10s);
    ASSERT_EQ(seen, "net-echo: rx buffers of 128 bytes\nnet-echo: up 10.77.0.2 52:54:00:ab:cd:ef\n")
        << strata::test::finish(child, 1s, seen).err;

    udp_exchange(ns.name(), std::string(1000, 'x'), 0ms); // a 1042-byte frame
    seen += strata::test::read_until(child, " posted\n", 5s);
    EXPECT_EQ(seen, "net-echo: rx buffers of 128 bytes\nnet-echo: up 10.77.0.2 52:54:00:ab:cd:ef\n"
                    "net-echo: rx used len 128 of 128 posted\n");
    // A datagram that fits still comes back: neither side lost its footing.
    EXPECT_EQ(udp_exchange(ns.name(), "short enough", 3s), "short enough");

    ::kill(child.pid, SIGTERM);
    auto o = strata::test::finish(child, 5s, seen);
    EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
}

// No offload was offered, so a guest's header asking for one (a checksum at
// an offset far past the frame, TCPv4 GSO) must not reach the tap, which
// would refuse the frame (EINVAL) or act on it. The echo arrives as sent.
TEST(VirtioNet, TransmitHeaderAskingForOffloadsNotOfferedIsNotPassedToTheTap) {
    if (const auto why = no_tap(); !why.empty())
        GTEST_SKIP() << why;
    TapNamespace ns;
    ASSERT_TRUE(ns.ok()) << "could not set up namespace " << ns.name();
    auto child = start_net_echo(ns, "tx-header=hostile");
    const auto seen = strata::test::read_until(child, " 52:54:00:ab:cd:ef\n", 10s);
    ASSERT_EQ(seen, "net-echo: tx headers ask for a checksum past the frame and TCPv4 GSO\n"
                    "net-echo: up 10.77.0.2 52:54:00:ab:cd:ef\n")
        << strata::test::finish(child, 1s, seen).err;

    EXPECT_EQ(udp_exchange(ns.name(), "sent with a hostile header", 3s), "sent with a hostile header");

    ::kill(child.pid, SIGTERM);
    auto o = strata::test::finish(child, 5s, seen);
    EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
}
