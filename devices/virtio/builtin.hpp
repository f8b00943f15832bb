// The built-in virtio devices, registered by name like any plugin:
//   virtio-blk      path=PATH[,ro][,id=NAME]   a disk backed by a host file
//   virtio-net      tap=NAME[,mac=MAC]         a tap device
//   virtio-rng                                 entropy from getrandom(2)
//   virtio-console                             the console, taking its input
// (`--blk`, `--net`, `--rng` and `--console virtio` are short forms of these.)
#pragma once

#include "devices/virtio/blk.hpp"
#include "devices/virtio/net.hpp"
#include "devices/virtio/registry.hpp"

namespace strata::virtio {

void register_builtin_devices(Registry &registry);

// The option parsers of virtio-blk and virtio-net (OptionError when refused).
// `index` numbers the net devices: the default MAC ends in 0x56 + index.
BlockSpec parse_block_options(DeviceOptions &options);
NetSpec parse_net_options(DeviceOptions &options, unsigned index);

} // namespace strata::virtio
