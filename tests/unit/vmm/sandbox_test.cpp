// The sandbox (vmm/sandbox.hpp) for real: each test forks, installs a thread
// class's filters in the child as strata does (start-up and io or backend on
// every thread, the vCPU filter on its own thread), makes a system call and
// checks that the child exited with the violation status and the one line
// naming the call and the class, or that it finished normally when the call
// is allowed. No KVM: the vCPU's ioctls go to a descriptor that is not a vCPU
// (they fail with ENOTTY, which shows that the filter let them through).
#include "vmm/sandbox.hpp"

#include "vmm/arch/arch.hpp"

#include <gtest/gtest.h>
#include <seccomp.h>

#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace strata::sandbox {
namespace {

using Stack = std::vector<Role>;

// The filters, compiled once (as strata compiles them before the first is installed).
const Filter &filter(Role role, bool unix_client = false) {
    static std::map<std::pair<Role, bool>, Filter> filters;
    auto it = filters.find({role, unix_client});
    if (it == filters.end())
        it = filters.emplace(std::pair{role, unix_client}, compile(role, Needs{.unix_client = unix_client})).first;
    return it->second;
}

struct Outcome {
    int status = -1; // exit status, or -1
    int signal = 0;  // the signal that killed the child, or 0
    std::string err; // what it wrote to stderr
};

// Installs `stack` in a child (start-up, io and backend on every thread, the
// vCPU filter on the calling thread), then runs `body` and exits 0.
Outcome in_child(const Stack &stack, const std::function<void()> &body, bool unix_client = false) {
    for (Role r : {Role::startup, Role::io, Role::vcpu, Role::backend, Role::teardown})
        filter(r, unix_client); // compiled before the fork, as strata compiles them before installing any
    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe2");
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(err[1], STDERR_FILENO);
        try {
            for (Role r : stack)
                filter(r, unix_client).install(r != Role::vcpu);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "install: %s\n", e.what());
            ::_exit(100);
        }
        body();
        ::_exit(0);
    }
    ::close(err[1]);
    Outcome o;
    char buf[512];
    ssize_t n;
    while ((n = ::read(err[0], buf, sizeof buf)) > 0)
        o.err.append(buf, static_cast<std::size_t>(n));
    ::close(err[0]);
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    if (WIFEXITED(ws))
        o.status = WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        o.signal = WTERMSIG(ws);
    return o;
}

// The line the SIGSYS handler writes.
std::string denial(const std::string &thread, const std::string &call, long nr) {
    return "strata: error: " + thread + " made system call " + call + " (" + std::to_string(nr) +
           "), which its sandbox does not allow: stopping (exit status 159; --sandbox off runs without the "
           "sandbox, for debugging)\n";
}

void expect_denied(const Outcome &o, const std::string &thread, const std::string &call, long nr) {
    EXPECT_EQ(o.signal, 0);
    EXPECT_EQ(o.status, violation_status);
    EXPECT_EQ(o.err, denial(thread, call, nr));
}

void expect_allowed(const Outcome &o) {
    EXPECT_EQ(o.signal, 0);
    EXPECT_EQ(o.status, 0);
    EXPECT_EQ(o.err, "");
}

// The child exits with this status when an allowed call failed.
void require(bool ok) {
    if (!ok)
        ::_exit(101);
}

// A child's body: exec /bin/true (which no class may do).
void exec_true() {
    const char *argv[] = {"/bin/true", nullptr};
    ::execve("/bin/true", const_cast<char **>(argv), environ);
}

const Stack startup_stack{Role::startup};
const Stack io_stack{Role::startup, Role::io};
const Stack vcpu_stack{Role::startup, Role::io, Role::vcpu};
const Stack backend_stack{Role::startup, Role::backend};

// --- the lists ------------------------------------------------------------

bool contains(const std::vector<std::string_view> &names, std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
}

// A filter stacked on another can only narrow it: a call the vCPU list has
// and the io list lacks would still be trapped on a vCPU thread.
TEST(SandboxLists, EachListIsInsideTheOneItIsStackedOn) {
    for (bool unix_client : {false, true}) {
        const Needs needs{.unix_client = unix_client};
        const auto startup = allowed_names(Role::startup), io = allowed_names(Role::io, needs),
                   vcpu = allowed_names(Role::vcpu, needs), backend = allowed_names(Role::backend);
        for (auto n : vcpu)
            EXPECT_TRUE(contains(io, n)) << n << " is in the vCPU list but not in the io list";
        for (auto n : io)
            EXPECT_TRUE(contains(startup, n)) << n << " is in the io list but not in the start-up list";
        for (auto n : backend)
            EXPECT_TRUE(contains(startup, n)) << n << " is in the backend list but not in the start-up list";
    }
}

TEST(SandboxLists, NoClassMayExecForkOrTrace) {
    for (Role role : {Role::startup, Role::io, Role::vcpu, Role::backend, Role::teardown})
        for (auto n : {"execve", "execveat", "fork", "vfork", "ptrace", "process_vm_writev", "mount", "bpf",
                       "kexec_load", "init_module", "setns", "unshare"})
            EXPECT_FALSE(contains(allowed_names(role, Needs{.unix_client = true}), n)) << name(role) << ": " << n;
}

TEST(SandboxLists, OnlyAVhostUserFrontendMakesSocketsOnceTheGuestRuns) {
    EXPECT_FALSE(contains(allowed_names(Role::io), "socket"));
    EXPECT_FALSE(contains(allowed_names(Role::vcpu), "socket"));
    EXPECT_TRUE(contains(allowed_names(Role::io, Needs{.unix_client = true}), "socket"));
    EXPECT_TRUE(contains(allowed_names(Role::vcpu, Needs{.unix_client = true}), "socket"));
    EXPECT_FALSE(contains(allowed_names(Role::backend), "socket"));
}

TEST(SandboxLists, EveryRoleCompiles) {
    for (Role role : {Role::startup, Role::io, Role::vcpu, Role::backend, Role::teardown})
        EXPECT_GT(filter(role).instructions(), 10u) << name(role);
}

// The teardown holder receives fds, closes them and exits: nothing else.
TEST(SandboxLists, TheTeardownHolderMayOnlyReceiveCloseAndExit) {
    auto names = allowed_names(Role::teardown);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names,
              (std::vector<std::string_view>{"close", "exit", "exit_group", "recvmsg", "rt_sigreturn", "write"}));
}

TEST(SandboxTeardown, OpeningAFileIsTrappedReceivingIsNot) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    auto allowed = in_child(Stack{Role::teardown}, [&] {
        char byte = 1;
        require(::write(pair[0], &byte, 1) == 1);
        iovec iov{&byte, 1};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        require(::recvmsg(pair[1], &msg, 0) == 1);
        require(::close(pair[1]) == 0);
    });
    EXPECT_EQ(allowed.status, 0) << allowed.err;
    auto o = in_child(Stack{Role::teardown}, [] { ::open("/dev/null", O_RDONLY); });
    expect_denied(o, "the teardown thread", "openat", SYS_openat);
    ::close(pair[0]);
    ::close(pair[1]);
}

// --- start-up -------------------------------------------------------------

TEST(SandboxStartup, ExecveIsTrapped) {
    auto o = in_child(startup_stack, exec_true);
    expect_denied(o, "the start-up thread", "execve", SYS_execve);
}

TEST(SandboxStartup, ForkIsTrapped) {
    auto o = in_child(startup_stack, [] { ::fork(); });
    expect_denied(o, "the start-up thread", "clone", SYS_clone);
}

TEST(SandboxStartup, PtraceIsTrapped) {
    auto o = in_child(startup_stack, [] { ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr); });
    expect_denied(o, "the start-up thread", "ptrace", SYS_ptrace);
}

TEST(SandboxStartup, AnInternetSocketIsTrapped) {
    auto o = in_child(startup_stack, [] { ::socket(AF_INET, SOCK_STREAM, 0); });
    expect_denied(o, "the start-up thread", "socket", SYS_socket);
}

TEST(SandboxStartup, OpeningFilesUnixSocketsAndThreadsAreAllowed) {
    auto o = in_child(startup_stack, [] {
        require(::open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0);
        require(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) >= 0);
        require(::eventfd(0, EFD_CLOEXEC) >= 0);
        require(::memfd_create("t", MFD_CLOEXEC) >= 0);
        std::thread([] {}).join(); // clone3 fails with ENOSYS, glibc falls back to clone
    });
    expect_allowed(o);
}

// --- io ------------------------------------------------------------------

TEST(SandboxIo, OpeningAFileIsTrapped) {
    auto o = in_child(io_stack, [] { ::open("/dev/null", O_RDONLY); });
    expect_denied(o, "the io thread", "openat", SYS_openat);
}

TEST(SandboxIo, ASocketIsTrappedWithoutAVhostUserFrontend) {
    auto o = in_child(io_stack, [] { ::socket(AF_UNIX, SOCK_STREAM, 0); });
    expect_denied(o, "the io thread", "socket", SYS_socket);
}

TEST(SandboxIo, AVhostUserFrontendMakesUnixStreamSocketsOnly) {
    auto unix_stream = in_child(
        io_stack, [] { require(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) >= 0); }, true);
    expect_allowed(unix_stream);
    auto inet = in_child(
        io_stack, [] { ::socket(AF_INET, SOCK_STREAM, 0); }, true);
    expect_denied(inet, "the io thread", "socket", SYS_socket);
    auto datagram = in_child(
        io_stack, [] { ::socket(AF_UNIX, SOCK_DGRAM, 0); }, true);
    expect_denied(datagram, "the io thread", "socket", SYS_socket);
}

TEST(SandboxIo, ExecveIsTrapped) {
    auto o = in_child(io_stack, exec_true);
    expect_denied(o, "the io thread", "execve", SYS_execve);
}

TEST(SandboxIo, ATerminalIoctlOtherThanGetAndSetIsTrapped) {
    auto o = in_child(io_stack, [] {
        char c = 'x';
        ::ioctl(STDIN_FILENO, TIOCSTI, &c);
    });
    expect_denied(o, "the io thread", "ioctl", SYS_ioctl);
}

TEST(SandboxIo, ExecutableMemoryIsTrapped) {
    auto o =
        in_child(io_stack, [] { ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); });
    expect_denied(o, "the io thread", "mmap", SYS_mmap);
}

TEST(SandboxIo, TheEventLoopThreadsAndAllocationAreAllowed) {
    const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    auto o = in_child(io_stack, [&] {
        std::uint64_t one = 1, got = 0;
        require(::write(efd, &one, sizeof one) == sizeof one);
        epoll_event ev{};
        ev.events = EPOLLIN;
        require(::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
        require(::epoll_wait(ep, &ev, 1, 0) == 1);
        require(::read(efd, &got, sizeof got) == sizeof got && got == 1);
        std::vector<char> big(64 << 20, 1); // mmap'ed, not executable
        require(big[12345] == 1);
        std::thread([] {}).join();
        timespec ts{};
        require(::clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
        char b;
        require(::getrandom(&b, 1, 0) == 1);
    });
    ::close(efd);
    ::close(ep);
    expect_allowed(o);
}

// A device's helper thread (virtio-blk's fdatasync thread) started before
// the io filter gets it too: the io filter is installed on every thread.
TEST(SandboxIo, HelperThreadsStartedEarlierAreCoveredToo) {
    auto o = in_child(startup_stack, [] {
        int go[2];
        require(::pipe(go) == 0);
        std::thread helper([&] {
            char c;
            require(::read(go[0], &c, 1) == 1);
            ::open("/dev/null", O_RDONLY);
        });
        filter(Role::io).install(true);
        require(::write(go[1], "x", 1) == 1);
        helper.join();
    });
    expect_denied(o, "a helper thread", "openat", SYS_openat);
}

// --- vCPU ----------------------------------------------------------------

TEST(SandboxVcpu, KvmRunAndTheRegisterReadsPassTheFilter) {
    auto o = in_child(vcpu_stack, [] {
        // stderr is not a vCPU: each request fails with ENOTTY once the filters let it through.
        for (const unsigned long request : arch::vcpu_run_ioctls())
            require(::ioctl(STDERR_FILENO, request, 0) < 0 && errno == ENOTTY);
    });
    expect_allowed(o);
}

TEST(SandboxVcpu, AnotherKvmIoctlIsTrapped) {
    auto o = in_child(vcpu_stack, [] { ::ioctl(STDERR_FILENO, KVM_CREATE_VCPU, 1); });
    expect_denied(o, "the vCPU thread", "ioctl", SYS_ioctl);
}

TEST(SandboxVcpu, TheEventLoopsWaitIsTrapped) {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    auto o = in_child(vcpu_stack, [&] {
        epoll_event ev{};
        ::epoll_wait(ep, &ev, 1, 0);
    });
    ::close(ep);
#ifdef SYS_epoll_wait
    expect_denied(o, "the vCPU thread", "epoll_wait", SYS_epoll_wait);
#else
    expect_denied(o, "the vCPU thread", "epoll_pwait", SYS_epoll_pwait); // aarch64 has no epoll_wait
#endif
}

TEST(SandboxVcpu, OpeningAFileIsTrapped) {
    auto o = in_child(vcpu_stack, [] { ::open("/dev/null", O_RDONLY); });
    expect_denied(o, "the vCPU thread", "openat", SYS_openat);
}

TEST(SandboxVcpu, ForkIsTrapped) {
    auto o = in_child(vcpu_stack, [] { ::fork(); });
    expect_denied(o, "the vCPU thread", "clone", SYS_clone);
}

TEST(SandboxVcpu, ExecveIsTrapped) {
    auto o = in_child(vcpu_stack, exec_true);
    expect_denied(o, "the vCPU thread", "execve", SYS_execve);
}

// The kernel's view of a vCPU thread: filter mode 2, three filters, no_new_privs.
TEST(SandboxVcpu, TheKernelShowsThreeFiltersAndNoNewPrivs) {
    int ready[2], done[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(done), 0);
    for (Role r : vcpu_stack)
        filter(r);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(done[1]);
        for (Role r : vcpu_stack)
            filter(r).install(r != Role::vcpu);
        require(::write(ready[1], "x", 1) == 1);
        char c;
        [[maybe_unused]] auto n = ::read(done[0], &c, 1);
        ::_exit(0);
    }
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::map<std::string, std::string> status;
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        const auto value = line.find_first_not_of(" \t", colon + 1);
        if (colon != std::string::npos && value != std::string::npos)
            status[line.substr(0, colon)] = line.substr(value);
    }
    ::close(done[1]);
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    EXPECT_EQ(status["Seccomp"], "2");
    EXPECT_EQ(status["NoNewPrivs"], "1");
    if (status.count("Seccomp_filters")) { // Linux >= 5.9
        EXPECT_EQ(status["Seccomp_filters"], "3");
    }
    EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    for (int fd : {ready[0], ready[1], done[0]})
        ::close(fd);
}

// --- backend (strata device) ---------------------------------------------

TEST(SandboxBackend, AcceptingTheNextFrontendIsAllowed) {
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_EQ(::bind(listener, reinterpret_cast<const sockaddr *>(&addr), sizeof(sa_family_t)), 0); // autobind
    ASSERT_EQ(::listen(listener, 1), 0);
    auto o = in_child(backend_stack, [&] { require(::accept(listener, nullptr, nullptr) < 0 && errno == EAGAIN); });
    ::close(listener);
    expect_allowed(o);
}

TEST(SandboxBackend, ASocketIsTrapped) {
    auto o = in_child(backend_stack, [] { ::socket(AF_UNIX, SOCK_STREAM, 0); });
    expect_denied(o, "the backend thread", "socket", SYS_socket);
}

TEST(SandboxBackend, KvmIsTrapped) {
    auto o = in_child(backend_stack, [] { ::ioctl(STDERR_FILENO, KVM_RUN, 0); });
    expect_denied(o, "the backend thread", "ioctl", SYS_ioctl);
}

// --- the handler ---------------------------------------------------------

// A raw console is put back before strata exits.
TEST(SandboxHandler, TheRawTerminalIsRestored) {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(master, 0);
    ASSERT_EQ(::grantpt(master), 0);
    ASSERT_EQ(::unlockpt(master), 0);
    const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(slave, 0);
    termios cooked{};
    ASSERT_EQ(::tcgetattr(slave, &cooked), 0);
    ASSERT_TRUE(cooked.c_lflag & ICANON);
    auto o = in_child(startup_stack, [&] {
        termios raw = cooked;
        ::cfmakeraw(&raw);
        require(::tcsetattr(slave, TCSANOW, &raw) == 0);
        restore_terminal_on_violation(slave, cooked);
        filter(Role::io).install(true);
        ::open("/dev/null", O_RDONLY);
    });
    expect_denied(o, "the io thread", "openat", SYS_openat);
    termios after{};
    ASSERT_EQ(::tcgetattr(slave, &after), 0);
    EXPECT_TRUE(after.c_lflag & ICANON);
    EXPECT_TRUE(after.c_lflag & ECHO);
    ::close(slave);
    ::close(master);
}

// The handler's name table must cover every number libseccomp can name, on
// both architectures strata builds for; a newer libseccomp that knows more
// calls fails this rather than denials printed as bare numbers.
TEST(SandboxHandler, TheNameTableCoversEveryCallLibseccompKnows) {
    for (const std::uint32_t arch : {SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64})
        for (int nr = named_syscalls; nr < 4096; ++nr) {
            std::unique_ptr<char, decltype(&std::free)> n(seccomp_syscall_resolve_num_arch(arch, nr), &std::free);
            EXPECT_EQ(n, nullptr) << "arch " << arch << " names " << nr << ": " << n.get();
        }
}

} // namespace
} // namespace strata::sandbox
