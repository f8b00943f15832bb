// test-syscall: test-echo (echo_device.hpp) that also makes a system call
// the sandbox forbids, socket(AF_INET, SOCK_DGRAM), at one moment of the
// driver's choosing: `on=activate` when the driver sets DRIVER_OK (on a vCPU
// thread), `on=notify` at its first queue notification (on the io thread,
// through the ioeventfd). With the sandbox on strata stops there, naming the
// call and the thread; with --sandbox off the socket is made and closed and
// the echo goes on. Tests only (kvm tier, tests/kvm/sandbox_test.cpp).
#pragma once

#include "devices/virtio/registry.hpp"

namespace strata::test {

// After register_test_devices(): it wraps the registry's test-echo.
void register_syscall_device(virtio::Registry &registry);

} // namespace strata::test
