// The thread classes' allowlists, their compilation with libseccomp, and the
// SIGSYS handler that reports a forbidden call (vmm/sandbox.hpp).
#include "vmm/sandbox.hpp"

#include "vmm/arch/arch.hpp"
#include "vmm/fd.hpp"

#include <seccomp.h>

#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace strata::sandbox {

namespace {

// One allowlist entry: the call by name, allowed when every condition holds
// (several entries for one call: when any of them does).
struct Rule {
    const char *name;
    std::vector<scmp_arg_cmp> when;
    std::uint32_t action = SCMP_ACT_ALLOW;
};

scmp_arg_cmp arg_eq(unsigned arg, std::uint64_t value) { return {arg, SCMP_CMP_EQ, value, 0}; }
// (arg & mask) == value
scmp_arg_cmp arg_masked(unsigned arg, std::uint64_t mask, std::uint64_t value) {
    return {arg, SCMP_CMP_MASKED_EQ, mask, value};
}

using Rules = std::vector<Rule>;

void allow(Rules &rules, std::initializer_list<const char *> names) {
    for (const char *n : names)
        rules.push_back({n, {}});
}

void allow_ioctls(Rules &rules, const std::vector<unsigned long> &requests) {
    for (const unsigned long r : requests)
        rules.push_back({"ioctl", {arg_eq(1, r)}});
}

// Every class once the guest runs. Two names for one call where the two
// architectures differ (poll / ppoll): a name this one lacks is skipped.
void common(Rules &r) {
    // Descriptors already open: eventfds, the console, log lines on stderr.
    allow(r, {"read", "write", "readv", "writev", "close"});
    // Allocation (malloc arenas grow with mmap and mprotect); never executable.
    allow(r, {"munmap", "madvise", "mremap", "brk"});
    r.push_back({"mmap", {arg_masked(2, PROT_EXEC, 0)}});
    r.push_back({"mprotect", {arg_masked(2, PROT_EXEC, 0)}});
    // Locks, sleeps (a vhost-user connect retry) and clocks outside the vDSO.
    allow(r, {"futex", "sched_yield", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday",
              "time"});
    // Signals: the vCPU kick (tgkill to a thread of this process only),
    // returning from handlers; thread ids for log lines and pthread_kill.
    allow(r, {"rt_sigreturn", "rt_sigprocmask", "restart_syscall", "getpid", "gettid"});
    r.push_back({"tgkill", {arg_eq(0, static_cast<std::uint64_t>(::getpid()))}});
    allow(r, {"exit", "exit_group"});
    // Posting to the io_context from another thread wakes its epoll reactor.
    r.push_back({"epoll_ctl", {}});
    // fstat of an open descriptor (stdio's buffering, Asio's files).
    r.push_back({"fstat", {}});
    r.push_back({"newfstatat", {arg_masked(3, AT_EMPTY_PATH, AT_EMPTY_PATH)}});
    // The SIGSYS handler puts a raw terminal back.
    allow_ioctls(r, {TCSETS});
}

// A vhost-user frontend (re)connecting to its backend and talking to it:
// from the vCPU that starts the device, and the io thread's connection watch.
void unix_client(Rules &r) {
    r.push_back({"socket", {arg_eq(0, AF_UNIX), arg_masked(1, 0xf, SOCK_STREAM)}});
    allow(r, {"connect", "sendmsg", "recvmsg", "sendto", "recvfrom", "poll", "ppoll", "dup"});
}

// vCPU threads: KVM_RUN and what exit handling and device registers need.
void vcpu(Rules &r, const Needs &needs) {
    common(r);
    allow_ioctls(r, arch::vcpu_run_ioctls());
    // A device started by the driver waits for its tap or socket (Asio
    // registers the descriptor and may make it non-blocking).
    allow_ioctls(r, {FIONBIO});
    if (needs.unix_client)
        unix_client(r);
}

// The io thread: the vCPU list (the vCPU filter is stacked on this one), the
// event loop, files through io_uring and helper threads.
void io(Rules &r, const Needs &needs) {
    vcpu(r, needs);
    allow(r, {"epoll_wait", "epoll_pwait", "io_uring_enter", "timerfd_settime"});
    // virtio-blk's flush (its helper thread), virtio-rng's bytes.
    allow(r, {"fdatasync", "getrandom"});
    // Signals: Asio's signal_set, restored when it goes.
    allow(r, {"rt_sigaction"});
    allow_ioctls(r, {TCGETS});
    r.push_back({"fcntl", {arg_eq(1, F_GETFL)}});
    r.push_back({"fcntl", {arg_eq(1, F_SETFL)}});
    r.push_back({"fcntl", {arg_eq(1, F_GETFD)}});
    r.push_back({"fcntl", {arg_eq(1, F_SETFD)}});
    // Starting the vCPU threads: threads only (no fork), each stacking its filter.
    r.push_back({"clone", {arg_masked(0, CLONE_THREAD, CLONE_THREAD)}});
    // clone3's flags are behind a pointer, which a filter cannot read: glibc
    // falls back to clone when it fails with ENOSYS.
    r.push_back({"clone3", {}, SCMP_ACT_ERRNO(ENOSYS)});
    allow(r, {"rseq", "set_robust_list"});
    r.push_back({"prctl", {arg_eq(0, PR_SET_NO_NEW_PRIVS)}});
    r.push_back({"seccomp", {arg_eq(0, SECCOMP_SET_MODE_FILTER)}});
}

// `strata device` serving frontends: the io loop without KVM, accepting the
// next frontend, its messages and memfds, and removing the socket at exit.
void backend(Rules &r) {
    common(r);
    allow(r,
          {"epoll_wait", "epoll_pwait", "io_uring_enter", "timerfd_settime", "fdatasync", "getrandom", "rt_sigaction"});
    allow_ioctls(r, {FIONBIO, TCGETS});
    r.push_back({"fcntl", {arg_eq(1, F_GETFL)}});
    r.push_back({"fcntl", {arg_eq(1, F_SETFL)}});
    r.push_back({"fcntl", {arg_eq(1, F_GETFD)}});
    r.push_back({"fcntl", {arg_eq(1, F_SETFD)}});
    // A frontend's memory is sealed against shrinking when it arrives.
    r.push_back({"fcntl", {arg_eq(1, F_GET_SEALS)}});
    r.push_back({"fcntl", {arg_eq(1, F_ADD_SEALS)}});
    allow(r, {"accept", "accept4", "sendmsg", "recvmsg", "sendto", "recvfrom", "unlink", "unlinkat"});
    // A device's helper thread (virtio-blk's flush) is started before this
    // filter and may not have run yet: TSYNC gives it the filter, and glibc's
    // thread start then registers rseq and the robust list under it.
    allow(r, {"rseq", "set_robust_list"});
}

// The teardown holder: fds arrive on its socket and are held until it closes.
void teardown(Rules &r) { allow(r, {"recvmsg", "close", "write", "rt_sigreturn", "exit", "exit_group"}); }

// Start-up: everything the others may do, and opening what the VM needs.
void startup(Rules &r) {
    io(r, Needs{.unix_client = true});
    backend(r);
    // Files: the kernel, initrd, disks, console file, /dev/kvm, /dev/net/tun.
    allow(r, {"open", "openat", "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "readlink",
              "readlinkat", "lseek", "pread64", "fadvise64", "getdents64", "unlink", "unlinkat"});
    // Guest memory, eventfds, the event loop and its io_uring ring.
    allow(r, {"memfd_create", "ftruncate", "eventfd2", "epoll_create1", "timerfd_create", "pipe", "pipe2",
              "io_uring_setup", "io_uring_register"});
    // vhost-user: Unix sockets only.
    r.push_back({"socket", {arg_eq(0, AF_UNIX)}});
    allow(r, {"connect", "bind", "listen", "getsockopt", "setsockopt", "getsockname", "shutdown"});
    // KVM, taps, the terminal: any request.
    r.push_back({"ioctl", {}});
    allow(r, {"fcntl", "dup", "dup2", "dup3", "sysinfo", "uname", "sched_getaffinity", "prlimit64", "getrlimit",
              "getuid", "geteuid", "getgid", "getegid", "sigaltstack", "set_tid_address"});
}

Rules rules_of(Role role, const Needs &needs) {
    Rules r;
    switch (role) {
    case Role::startup: startup(r); break;
    case Role::io: io(r, needs); break;
    case Role::vcpu: vcpu(r, needs); break;
    case Role::backend: backend(r); break;
    case Role::teardown: teardown(r); break;
    }
    return r;
}

// A name neither architecture knows is a typo in the lists, not a call to skip.
int syscall_number(const char *name) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0 && seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name) < 0 &&
        seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64, name) < 0)
        throw std::logic_error(std::string("the sandbox lists an unknown system call: ") + name);
    return nr;
}

// --- The SIGSYS handler and the state it reads (static: a signal handler has no other way in).

// Above every syscall number of x86_64 and aarch64 (libseccomp 2.5.4 names
// up to 456 for both). Each number is a scan of libseccomp's table, longest
// for the numbers it does not know: 1024 slots cost 0.2 ms of every start,
// 512 a quarter of that.
constexpr int name_slots = named_syscalls;
constexpr std::size_t name_bytes = 32;
char syscall_names[name_slots][name_bytes];
std::uint32_t native_arch = 0;
std::once_flag prepared;

thread_local const char *thread_role = nullptr;

std::atomic<int> terminal_fd{-1};
termios terminal_saved{};

// A line built without allocation, for the signal handler.
class Line {
public:
    void add(const char *s) {
        while (*s && used_ < sizeof buf_ - 1)
            buf_[used_++] = *s++;
    }
    void add(long v) {
        char digits[24];
        std::size_t n = 0;
        unsigned long u = v < 0 ? 0ul - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
        do {
            digits[n++] = static_cast<char>('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            add("-");
        while (n)
            buf_[used_ < sizeof buf_ - 1 ? used_++ : used_] = digits[--n];
    }
    void write_to(int fd) const {
        std::size_t done = 0;
        while (done < used_) {
            const ssize_t n = ::write(fd, buf_ + done, used_ - done);
            if (n <= 0)
                return;
            done += static_cast<std::size_t>(n);
        }
    }

private:
    char buf_[400]{};
    std::size_t used_ = 0;
};

void on_sigsys(int, siginfo_t *info, void *) {
    const int nr = info->si_syscall;
    Line line;
    line.add("strata: error: ");
    if (thread_role) {
        line.add("the ");
        line.add(thread_role);
        line.add(" thread");
    } else {
        line.add("a helper thread");
    }
    line.add(" made system call ");
    if (info->si_arch == native_arch && nr >= 0 && nr < name_slots && syscall_names[nr][0]) {
        line.add(syscall_names[nr]);
        line.add(" (");
        line.add(static_cast<long>(nr));
        line.add(")");
    } else {
        line.add(static_cast<long>(nr));
        line.add(" of audit architecture ");
        line.add(static_cast<long>(info->si_arch));
    }
    line.add(", which its sandbox does not allow: stopping (exit status ");
    line.add(static_cast<long>(violation_status));
    line.add("; --sandbox off runs without the sandbox, for debugging)\n");
    line.write_to(STDERR_FILENO);
    if (const int fd = terminal_fd.load(); fd >= 0)
        ::tcsetattr(fd, TCSANOW, &terminal_saved);
    ::_exit(violation_status);
}

void prepare_handler() {
    native_arch = seccomp_arch_native();
    for (int nr = 0; nr < name_slots; ++nr) {
        std::unique_ptr<char, decltype(&std::free)> n(seccomp_syscall_resolve_num_arch(native_arch, nr), &std::free);
        if (n)
            std::strncpy(syscall_names[nr], n.get(), name_bytes - 1);
    }
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask);
    if (::sigaction(SIGSYS, &sa, nullptr) != 0)
        throw_errno("sigaction", "SIGSYS (the sandbox's handler)");
}

class Context {
public:
    Context() : ctx_(seccomp_init(SCMP_ACT_TRAP)) {
        if (!ctx_)
            throw std::system_error(ENOMEM, std::generic_category(), "seccomp_init");
    }
    ~Context() { seccomp_release(ctx_); }
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;
    scmp_filter_ctx get() const { return ctx_; }

private:
    scmp_filter_ctx ctx_;
};

void check(int rc, const std::string &call, Role role) {
    if (rc < 0)
        throw std::system_error(-rc, std::generic_category(),
                                call + " for the sandbox's " + std::string(name(role)) + " filter");
}

} // namespace

std::string_view name(Role role) {
    switch (role) {
    case Role::startup: return "start-up";
    case Role::io: return "io";
    case Role::vcpu: return "vCPU";
    case Role::backend: return "backend";
    case Role::teardown: return "teardown";
    }
    return "?";
}

Filter compile(Role role, const Needs &needs) {
    std::call_once(prepared, prepare_handler);
    Context ctx;
    // A syscall of another ABI (x32, i386 on x86_64) is trapped too, and named by number.
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP), "seccomp_attr_set", role);
    // A binary tree of syscall numbers: every KVM exit passes through the filters.
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "seccomp_attr_set", role);
    for (const auto &rule : rules_of(role, needs)) {
        const int nr = syscall_number(rule.name);
        if (nr < 0)
            continue; // not a call of this architecture
        const int rc = seccomp_rule_add_array(ctx.get(), rule.action, nr, static_cast<unsigned>(rule.when.size()),
                                              rule.when.data());
        check(rc, std::string("seccomp_rule_add (") + rule.name + ")", role);
    }
    // libseccomp writes the program to a descriptor: a memfd, read back.
    UniqueFd fd(::memfd_create("strata-seccomp", MFD_CLOEXEC));
    if (!fd)
        throw_errno("memfd_create", "the sandbox's " + std::string(name(role)) + " filter");
    check(seccomp_export_bpf(ctx.get(), fd.get()), "seccomp_export_bpf", role);
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size < 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
        size / static_cast<off_t>(sizeof(sock_filter)) > BPF_MAXINSNS)
        throw std::system_error(EINVAL, std::generic_category(),
                                "the sandbox's " + std::string(name(role)) + " filter has " + std::to_string(size) +
                                    " bytes");
    std::vector<sock_filter> program(static_cast<std::size_t>(size) / sizeof(sock_filter));
    const auto bytes = program.size() * sizeof(sock_filter);
    if (::pread(fd.get(), program.data(), bytes, 0) != static_cast<ssize_t>(bytes))
        throw_errno("pread", "the sandbox's exported " + std::string(name(role)) + " filter");
    return Filter(role, std::move(program));
}

void Filter::install(bool every_thread) const {
    const std::string what = "the calling thread (the sandbox's " + std::string(name(role_)) + " filter)";
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw_errno("prctl(PR_SET_NO_NEW_PRIVS)", what);
    sock_fprog prog{static_cast<unsigned short>(program_.size()), const_cast<sock_filter *>(program_.data())};
    const long rc =
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, every_thread ? SECCOMP_FILTER_FLAG_TSYNC : 0, &prog);
    if (rc < 0)
        throw_errno("seccomp(SECCOMP_SET_MODE_FILTER)", what);
    if (rc > 0) // TSYNC: the thread that could not take the filter
        throw std::system_error(EBUSY, std::generic_category(),
                                "seccomp(SECCOMP_FILTER_FLAG_TSYNC) on " + what + ": thread " + std::to_string(rc) +
                                    " has a filter of its own");
    thread_role = name(role_).data();
}

void restore_terminal_on_violation(int fd, const termios &saved) {
    terminal_saved = saved;
    terminal_fd.store(fd);
}

void forget_terminal() { terminal_fd.store(-1); }

std::vector<std::string_view> allowed_names(Role role, const Needs &needs) {
    std::vector<std::string_view> out;
    for (const auto &rule : rules_of(role, needs))
        if (rule.action == SCMP_ACT_ALLOW && syscall_number(rule.name) >= 0 &&
            std::find(out.begin(), out.end(), rule.name) == out.end())
            out.emplace_back(rule.name);
    return out;
}

} // namespace strata::sandbox
