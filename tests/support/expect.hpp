// Small helpers shared by the tests that drive the strata binary.
#pragma once

#include "tests/support/process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

namespace strata::test {

inline std::string slurp(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// A usage error: exit 2, nothing on stdout, one line on stderr holding `message`.
inline void expect_usage_error(const Outcome &o, const std::string &message) {
    EXPECT_EQ(o.status, 2) << o.err;
    EXPECT_EQ(o.out, "");
    EXPECT_NE(o.err.find(message), std::string::npos) << "stderr was: " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

} // namespace strata::test
