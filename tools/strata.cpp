// The strata binary: the built-in devices, then the CLI (tools/cli.cpp).
#include "devices/virtio/builtin.hpp"
#include "tools/commands.hpp"

int main(int argc, char **argv) {
    strata::virtio::Registry registry;
    strata::virtio::register_builtin_devices(registry);
    return strata::cli::strata_main(argc, argv, registry);
}
