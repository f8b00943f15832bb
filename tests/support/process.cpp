// Child-process plumbing for the KVM tests. Children are started with
// fork and exec instead of posix_spawn, which cannot set PR_SET_PDEATHSIG
// in the child (start_tied).
#include "tests/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

extern char **environ;

namespace strata::test {

namespace {
using clock = std::chrono::steady_clock;

// Appends what is available on fd; returns false at EOF.
bool drain(int fd, std::string &into) {
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0)
        into.append(buf, static_cast<std::size_t>(n));
    return n > 0 || (n < 0 && errno == EINTR);
}
} // namespace

int start_tied(const std::vector<std::string> &argv, const std::array<int, 3> &stdio) {
    std::vector<char *> args;
    for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    // exec's errno comes back through this pipe; exec closes it unwritten.
    int exec_error[2];
    if (::pipe2(exec_error, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe2 failed");
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Async-signal-safe calls only: the test may have other threads.
        // A parent that died before prctl left the child to init, which
        // getppid shows.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent)
            ::_exit(127);
        for (std::size_t fd = 0; fd < stdio.size(); ++fd)
            if (stdio[fd] >= 0 && ::dup2(stdio[fd], static_cast<int>(fd)) < 0)
                ::_exit(127);
        ::execve(args[0], args.data(), environ);
        const int err = errno;
        [[maybe_unused]] const auto n = ::write(exec_error[1], &err, sizeof err);
        ::_exit(127);
    }
    ::close(exec_error[1]);
    if (pid < 0) {
        ::close(exec_error[0]);
        throw std::runtime_error("cannot fork to start " + argv[0]);
    }
    int err = 0;
    ssize_t n;
    while ((n = ::read(exec_error[0], &err, sizeof err)) < 0 && errno == EINTR) {
    }
    ::close(exec_error[0]);
    if (n > 0) {
        ::waitpid(pid, nullptr, 0);
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(err));
    }
    return pid;
}

Child spawn(const std::vector<std::string> &argv, bool stdin_pipe) {
    int out[2], err[2], in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || (stdin_pipe && ::pipe2(in, O_CLOEXEC)))
        throw std::runtime_error("pipe2 failed");
    const int null = stdin_pipe ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!stdin_pipe && null < 0)
        throw std::runtime_error("cannot open /dev/null");
    Child c;
    try {
        c.pid = start_tied(argv, {stdin_pipe ? in[0] : null, out[1], err[1]});
    } catch (...) {
        for (int fd : {null, out[0], out[1], err[0], err[1], in[0], in[1]})
            if (fd >= 0)
                ::close(fd);
        throw;
    }
    for (int fd : {null, out[1], err[1], in[0]})
        if (fd >= 0)
            ::close(fd);
    c.out_fd = out[0];
    c.err_fd = err[0];
    c.in_fd = in[1];
    return c;
}

std::string read_until(Child &child, const std::string &needle, std::chrono::milliseconds timeout) {
    std::string got;
    const auto deadline = clock::now() + timeout;
    while (got.find(needle) == std::string::npos && clock::now() < deadline) {
        pollfd p{child.out_fd, POLLIN, 0};
        // Never negative: poll waits forever for a negative timeout, and the
        // deadline may pass between the loop's test and this line.
        const auto left = std::max(std::chrono::milliseconds(0),
                                   std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
        if (::poll(&p, 1, static_cast<int>(left.count())) > 0 && !drain(child.out_fd, got))
            break;
    }
    return got;
}

Outcome finish(Child &child, std::chrono::milliseconds timeout, std::string already_read) {
    Outcome o;
    o.out = std::move(already_read);
    const auto start = clock::now();
    const auto deadline = start + timeout;
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
        pollfd p[2] = {{out_open ? child.out_fd : -1, POLLIN, 0}, {err_open ? child.err_fd : -1, POLLIN, 0}};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) {
            o.timed_out = true;
            ::kill(child.pid, SIGKILL);
            break;
        }
        if (::poll(p, 2, static_cast<int>(left.count())) <= 0)
            continue;
        if (p[0].revents)
            out_open = drain(child.out_fd, o.out);
        if (p[1].revents)
            err_open = drain(child.err_fd, o.err);
    }
    int ws = 0;
    ::waitpid(child.pid, &ws, 0);
    o.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    // Kept apart: a process that exited with 128+N is not one killed by N.
    o.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    o.killed_by = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    ::close(child.out_fd);
    ::close(child.err_fd);
    if (child.in_fd >= 0)
        ::close(child.in_fd);
    return o;
}

Outcome run(const std::vector<std::string> &argv, std::chrono::milliseconds timeout) {
    auto child = spawn(argv);
    return finish(child, timeout);
}

} // namespace strata::test
