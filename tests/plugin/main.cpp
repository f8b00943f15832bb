// strata with one more device: the CLI of tools/ unchanged, the built-ins,
// and test-echo registered from tests/ (a plugin is this much code).
#include "devices/vhost_user/device.hpp"
#include "devices/virtio/builtin.hpp"
#include "tests/plugin/echo_device.hpp"
#include "tests/plugin/syscall_device.hpp"
#include "tools/commands.hpp"

int main(int argc, char **argv) {
    strata::virtio::Registry registry;
    strata::virtio::register_builtin_devices(registry);
    strata::vhost_user::register_vhost_user_devices(registry);
    strata::test::register_test_devices(registry);
    strata::test::register_syscall_device(registry);
    return strata::cli::strata_main(argc, argv, registry);
}
