// The main of the unit-test binaries: GoogleTest's, with skips shown to meson.
#include "tests/support/meson_main.hpp"

int main(int argc, char **argv) {
    ::testing::InitGoogleTest(&argc, argv);
    return strata::test::run_tests_for_meson();
}
