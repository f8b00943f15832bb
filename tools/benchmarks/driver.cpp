// tools/bench/driver.cpp (bench-driver): runs one command REPS times and
// prints three numbers on one line: the median wall time in ms (posix_spawn
// to wait4, steady_clock), the median peak RSS in KiB (wait4's ru_maxrss) and
// the median guest RAM touched in KiB (0 without --guest-ram).
//
// Usage: bench-driver [--guest-ram] [--status N] REPS -- COMMAND [ARGS...]
//
// --guest-ram: strata backs guest RAM with memfds. While the child runs, the
// driver polls /proc/PID/fd and opens every memfd it finds there, which keeps
// it alive past the child's exit; afterwards fstat's st_blocks is exactly the
// guest RAM that was ever allocated, i.e. touched: a shmem page is allocated
// on its first fault (read or write) through strata's mapping, by the loader
// or by the guest through KVM, and is then counted in strata's RSS until exit.
// The polling competes for CPU, so use it for memory figures, not timings.
// The child's stdout goes to /dev/null; an exit status other than N (default
// 0) fails the run.
#include "args.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char **environ;

namespace {

struct Sample {
    double ms = 0;
    long maxrss_kib = 0;
    long guest_kib = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Opens each memfd of `pid` not yet held (by inode) and keeps it in `held`.
void hold_memfds(pid_t pid, std::vector<int> &held, std::vector<ino_t> &inodes) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR *d = ::opendir(dir.c_str());
    if (!d)
        return;
    while (dirent *e = ::readdir(d)) {
        std::string path = dir + "/" + e->d_name;
        char target[256];
        ssize_t len = ::readlink(path.c_str(), target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (std::strncmp(target, "/memfd:", 7) != 0)
            continue;
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd < 0 || ::fstat(fd, &st) < 0 || std::find(inodes.begin(), inodes.end(), st.st_ino) != inodes.end()) {
            if (fd >= 0)
                ::close(fd);
            continue;
        }
        held.push_back(fd);
        inodes.push_back(st.st_ino);
    }
    ::closedir(d);
}

Sample run_once(char **argv, bool guest_ram, int want_status) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);

    Sample s;
    std::vector<int> held;
    std::vector<ino_t> inodes;
    pid_t pid = 0;
    auto t0 = std::chrono::steady_clock::now();
    if (int err = posix_spawn(&pid, argv[0], &actions, nullptr, argv, environ)) {
        std::fprintf(stderr, "bench-driver: %s: %s\n", argv[0], std::strerror(err));
        std::exit(3);
    }
    int status = 0;
    rusage ru{};
    pid_t done = 0;
    if (guest_ram) {
        while ((done = ::wait4(pid, &status, WNOHANG, &ru)) == 0)
            hold_memfds(pid, held, inodes);
    } else {
        done = ::wait4(pid, &status, 0, &ru);
    }
    std::chrono::duration<double, std::milli> d = std::chrono::steady_clock::now() - t0;
    posix_spawn_file_actions_destroy(&actions);
    if (done != pid || !WIFEXITED(status) || WEXITSTATUS(status) != want_status) {
        std::fprintf(stderr, "bench-driver: %s failed (status 0x%x, not exit %d)\n", argv[0], status, want_status);
        std::exit(1);
    }
    s.ms = d.count();
    s.maxrss_kib = ru.ru_maxrss; // Linux reports KiB
    for (int fd : held) {
        struct stat st {};
        if (::fstat(fd, &st) == 0)
            s.guest_kib += st.st_blocks / 2; // st_blocks counts 512-byte units
        ::close(fd);
    }
    if (guest_ram && held.empty()) {
        std::fprintf(stderr, "bench-driver: saw no memfd in %s; it exited too soon\n", argv[0]);
        std::exit(1);
    }
    return s;
}

} // namespace

int main(int argc, char **argv) {
    int i = 1;
    bool guest_ram = false;
    int want_status = 0;
    for (;; i++) {
        if (i < argc && std::strcmp(argv[i], "--guest-ram") == 0)
            guest_ram = true;
        else if (i + 1 < argc && std::strcmp(argv[i], "--status") == 0)
            want_status = static_cast<int>(bench::number("bench-driver", argv[++i], "--status"));
        else
            break;
    }
    int reps = i < argc ? std::atoi(argv[i]) : 0;
    if (reps <= 0 || i + 2 >= argc || std::strcmp(argv[i + 1], "--") != 0) {
        std::fprintf(stderr, "usage: bench-driver [--guest-ram] [--status N] REPS -- COMMAND [ARGS...]\n");
        return 2;
    }
    char **command = argv + i + 2;

    std::vector<double> ms, rss, guest;
    for (int r = 0; r < reps; r++) {
        Sample s = run_once(command, guest_ram, want_status);
        ms.push_back(s.ms);
        rss.push_back(static_cast<double>(s.maxrss_kib));
        guest.push_back(static_cast<double>(s.guest_kib));
    }
    std::printf("%.3f %.0f %.0f\n", median(ms), median(rss), median(guest));
    return 0;
}
