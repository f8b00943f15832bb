// tools/benchmarks/vm_rate.cpp (bench-vm-rate): how many VMs this machine
// starts and stops per second with N at a time. Runs COMMAND TOTAL times,
// keeping N running (the next one is started as soon as one exits), and
// prints one line: TOTAL divided by the wall from the first posix_spawn to
// the last wait (steady_clock), in runs per second, then that wall in ms.
// Every run's stdout goes to /dev/null and it must exit 0: one that does not
// stops the measurement with exit 1 and its status on stderr.
//
// Usage: bench-vm-rate N TOTAL -- COMMAND [ARGS...]
#include "args.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

extern char **environ;

namespace {

const char *program = "bench-vm-rate";

pid_t start(char **argv) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int err = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0)
        bench::die(program, std::string("cannot start ") + argv[0], err);
    return pid;
}

// Waits for any child; exits the benchmark if it did not exit 0.
void reap() {
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0)
        bench::die(program, "wait", errno);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "%s: a run %s %d\n", program,
                     WIFEXITED(status) ? "exited with status" : "was killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        std::exit(1);
    }
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 5 || std::strcmp(argv[3], "--") != 0) {
        std::fprintf(stderr, "usage: %s N TOTAL -- COMMAND [ARGS...]\n", program);
        return 2;
    }
    const auto at_once = bench::number(program, argv[1], "N");
    const auto total = bench::number(program, argv[2], "TOTAL");
    if (at_once == 0 || total == 0) {
        std::fprintf(stderr, "%s: N and TOTAL must be at least 1\n", program);
        return 2;
    }
    char **command = argv + 4;
    const auto begin = std::chrono::steady_clock::now();
    unsigned long long started = 0, running = 0;
    while (started < total || running > 0) {
        if (started < total && running < at_once) {
            start(command);
            ++started;
            ++running;
            continue;
        }
        reap();
        --running;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
    std::printf("%.3f %.3f\n", static_cast<double>(total) * 1000 / ms, ms);
    return 0;
}
