// What every KVM test file shares: where the strata binary and the test
// guests are (set by main from the command line) and how to run them.
#pragma once

#include "tests/support/expect.hpp"

#include <unistd.h>

#include <chrono>
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

} // namespace kvmtest
