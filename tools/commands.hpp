// The strata commands; each returns the process exit status. run, plan and
// dtb find --device names in `registry`.
#pragma once

#include "devices/virtio/registry.hpp"

namespace strata::cli {

int run_command(int argc, const char *const *argv, const virtio::Registry &registry);
int plan_command(int argc, const char *const *argv, const virtio::Registry &registry);
int dtb_command(int argc, const char *const *argv, const virtio::Registry &registry);
int caps_command(int argc, const char *const *argv);
int device_command(int argc, const char *const *argv, const virtio::Registry &registry);

// `strata COMMAND [options]` with the devices of `registry`: the whole CLI,
// errors reported once (tools/cli.cpp). main() (tools/strata.cpp) fills the
// registry with the built-in devices; a binary with plugins adds its own.
int strata_main(int argc, char **argv, const virtio::Registry &registry);

} // namespace strata::cli
