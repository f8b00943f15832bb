// test-echo: a device that exists only for the tests, registered from here to
// show that a plugin needs no change to tools/ or vmm/ (README, "Writing a
// device"). Queue 0 takes bytes from the driver; queue 1 gives them back,
// each XORed with the `xor=N` option; the config space counts the bytes
// given back (le32).
//
// State: the bytes taken and not yet given back: queue 0 is read only while
//   fewer than 4 KiB are held, a chain may carry at most 4 KiB, so at most
//   8 KiB are ever held.
// Missing features: none; it is a test device.
// Spec: its own (device type 0x7e57, no feature bits).
#pragma once

#include "devices/virtio/registry.hpp"

namespace strata::test {

inline constexpr virtio::DeviceId echo_device_id{0x7e57};

void register_test_devices(virtio::Registry &registry);

} // namespace strata::test
