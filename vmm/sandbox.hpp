// The seccomp-bpf sandbox: one allowlist per thread class, installed with
// no_new_privs once everything the class needs is open.
//
//   start-up  everything before the guest runs: opening files, KVM, taps,
//             sockets, io_uring rings; installed (on every thread) right after
//             the command line is read. Never: exec, fork, ptrace, mount,
//             bpf, sockets other than AF_UNIX, ...
//   io        the thread running the io_context (and any helper thread a
//             device started, e.g. virtio-blk's fdatasync thread: installed
//             on every thread at once, TSYNC): eventfds, epoll, io_uring_enter,
//             timers, tap and console I/O, signals, spawning the vCPU threads.
//   vcpu      each vCPU thread, stacked on the io filter when the thread
//             starts: KVM_RUN and the few vCPU ioctls, and what device
//             register handlers do (eventfd writes, posting to the io_context).
//   backend   `strata device` once its listening socket exists: the io class
//             without KVM, plus accepting frontends and their memfds.
//   teardown  the process that holds a VM's fd until `strata run` has exited
//             (tools/teardown.hpp): receiving fds, closing them, exiting.
//
// Filters stack: a thread runs every filter it inherited and its own, so each
// list is a subset of the one it is stacked on (start-up > io > vcpu,
// start-up > backend). Libseccomp compiles every filter at start-up (it may
// probe the kernel with system calls that the filters forbid); installing one
// is then two system calls (prctl no_new_privs, seccomp).
//
// A system call outside a thread's list is not made: SECCOMP_RET_TRAP raises
// SIGSYS, whose handler writes one line naming the thread and the call (names
// resolved with libseccomp beforehand; only async-signal-safe calls in the
// handler), restores a raw terminal, and exits with violation_status.
#pragma once

#include <linux/filter.h>

#include <csignal>
#include <cstdint>
#include <string_view>
#include <vector>

struct termios;

namespace strata::sandbox {

enum class Role : std::uint8_t { startup, io, vcpu, backend, teardown };
std::string_view name(Role role); // "start-up", "io", "vCPU", "backend", "teardown"

// The exit status after a forbidden system call: 128 + SIGSYS, as after a
// death by that signal (which SECCOMP_RET_KILL_PROCESS would cause).
inline constexpr int violation_status = 128 + SIGSYS;

// The SIGSYS handler names system calls below this number (a table filled
// from libseccomp before the first filter); others it gives as a number.
inline constexpr int named_syscalls = 512;

// What the lists depend on beyond the role.
struct Needs {
    // vhost-user frontends connect again when a backend went away, from the
    // thread that starts the device (a vCPU): socket(AF_UNIX, SOCK_STREAM) and
    // connect at run time. Without one, no thread may make a socket after start-up.
    bool unix_client = false;
};

// One role's compiled filter (classic BPF), ready to install.
class Filter {
public:
    Filter(Role role, std::vector<sock_filter> program) : role_(role), program_(std::move(program)) {}
    Role role() const { return role_; }
    std::size_t instructions() const { return program_.size(); }

    // Sets no_new_privs and installs the filter on the calling thread, or with
    // `every_thread` on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC).
    // Throws std::system_error. The calling thread's diagnostics name the role.
    void install(bool every_thread = false) const;

private:
    Role role_;
    std::vector<sock_filter> program_;
};

// What Vm::run installs: `io` on every thread before the vCPU threads start
// (the io thread and any device helper thread), `vcpu` on each vCPU thread
// before its first KVM_RUN.
struct RunFilters {
    Filter io;
    Filter vcpu;
};

// Compiles the filter of `role` with libseccomp (throws std::system_error)
// for this process: tgkill is allowed to this process id only, so a filter
// compiled before a fork() does not fit the child.
// The first call also installs the SIGSYS handler and resolves the names of
// this architecture's system calls for it.
Filter compile(Role role, const Needs &needs = {});

// The terminal the SIGSYS handler puts back before exiting (the console's raw
// mode). Cleared by forget_terminal().
void restore_terminal_on_violation(int fd, const termios &saved);
void forget_terminal();

// The system call numbers the role may make, for tests and the README: this
// architecture's names in the order of the lists (arguments not shown).
std::vector<std::string_view> allowed_names(Role role, const Needs &needs = {});

} // namespace strata::sandbox
