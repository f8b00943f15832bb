// What every KVM test file shares: where the strata binary and the test
// guests are (defined in kvm_env.cpp, set by main from the command line) and
// how to run them.
#pragma once

#include "tests/support/expect.hpp"
#include "tests/support/meson_main.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace kvmtest {

extern std::string strata_bin, guest_dir;
extern std::string plugged_bin; // strata with the tests-only devices (tests/plugin)

inline std::string guest(const std::string &name) { return guest_dir + "/" + name; }

inline strata::test::Outcome run_strata(std::vector<std::string> args,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    args.insert(args.begin(), strata_bin);
    return strata::test::run(args, timeout);
}

inline std::string temp_path(const std::string &name) {
    return (std::filesystem::temp_directory_path() / ("strata-kvm-" + std::to_string(::getpid()) + "-" + name))
        .string();
}

// The end of every KVM test main: skip only where KVM cannot exist; a
// /dev/kvm we may not use is a set-up error to fix, not a reason to pass.
inline int run_kvm_tests() {
    if (::access("/dev/kvm", F_OK) != 0 && errno == ENOENT) {
        std::printf("SKIP: this machine has no /dev/kvm\n");
        return 77;
    }
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        std::printf("FAIL: /dev/kvm exists but cannot be opened for reading and writing: %s "
                    "(run as root or join the kvm group)\n",
                    std::strerror(errno));
        return 1;
    }
    return strata::test::run_tests_for_meson();
}

} // namespace kvmtest
