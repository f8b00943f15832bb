// The strata binary: the built-in devices, then the CLI (tools/cli.cpp).
#include "devices/vhost_user/device.hpp"
#include "devices/virtio/builtin.hpp"
#include "tools/commands.hpp"

int main(int argc, char **argv) {
    strata::virtio::Registry registry;
    strata::virtio::register_builtin_devices(registry);
    strata::vhost_user::register_vhost_user_devices(registry);
    return strata::cli::strata_main(argc, argv, registry);
}
