// Runs the strata binary as a child process and collects what a user would
// see: stdout, stderr, the exit status and how long it took.
#pragma once

#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace strata::test {

struct Outcome {
    std::string out, err;
    int status = -1;   // the exit status when the process exited, else -1
    int killed_by = 0; // the signal that killed the process, else 0
    std::chrono::milliseconds elapsed{0};
    bool timed_out = false;
};

struct Child {
    int pid = -1;
    int out_fd = -1, err_fd = -1;
    int in_fd = -1; // the write end of stdin when spawned with stdin_pipe
};

// Starts `argv` (argv[0] a path) with its fds 0, 1 and 2 made from `stdio`
// (each above 2, or -1 to keep this process's) and returns its pid; throws
// when it cannot be started. The child is SIGKILLed when the thread that
// started it ends, so a test that is killed (by hand, the OOM killer, a
// timeout that reaches only the test) takes its strata processes with it:
// start children from the thread that runs the tests.
int start_tied(const std::vector<std::string> &argv, const std::array<int, 3> &stdio);
// Starts `argv`, tied as by start_tied, with stdin from /dev/null or from a
// pipe the test writes.
Child spawn(const std::vector<std::string> &argv, bool stdin_pipe = false);
// Reads stdout until `needle` appears or the timeout passes; returns what was read.
std::string read_until(Child &child, const std::string &needle, std::chrono::milliseconds timeout);
// Waits for exit (killing the child with SIGKILL after `timeout`).
Outcome finish(Child &child, std::chrono::milliseconds timeout, std::string already_read = {});
Outcome run(const std::vector<std::string> &argv, std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace strata::test
