// GoogleTest inside meson: a case that calls GTEST_SKIP passes in gtest's own
// count, so a binary holding one would show OK in `meson test`'s summary.
// run_tests_for_meson() runs every test and exits as meson's protocol wants:
// 1 if any failed, 77 (SKIP) if none failed but any was skipped, else 0.
#pragma once

#include <gtest/gtest.h>

namespace strata::test {

inline int run_tests_for_meson() {
    if (RUN_ALL_TESTS() != 0)
        return 1;
    const auto &unit = *::testing::UnitTest::GetInstance();
    return unit.skipped_test_count() > 0 ? 77 : 0;
}

} // namespace strata::test
