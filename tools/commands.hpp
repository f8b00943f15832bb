// The strata commands; each returns the process exit status.
#pragma once

namespace strata::cli {

int run_command(int argc, const char *const *argv);
int plan_command(int argc, const char *const *argv);
int dtb_command(int argc, const char *const *argv);
int caps_command(int argc, const char *const *argv);

} // namespace strata::cli
