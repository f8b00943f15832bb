// The vhost-user frontend device: a virtio-mmio slot whose queues a backend
// process serves (qemu-storage-daemon, virtiofsd, `strata device`), through
// --device vhost-user,socket=PATH,type=blk|fs|rng|net|N[,queues=N][,queue-size=N][,tag=NAME].
//
//   guest driver ── virtio-mmio registers ──> Transport (strata)
//        │ kick (ioeventfd) ──> notify() ──> kick eventfd ──> backend
//        │ <── irqfd <── used_buffer_interrupt() <── call eventfd <── backend
//        └── rings and buffers in guest RAM, which the backend maps from the
//            memfds of SET_MEM_TABLE
//
// The handshake (SET_OWNER, features, protocol features, queue count,
// config) runs when the device is created, before any VM: an absent or
// misbehaving backend is an error then. The rings are handed over when the
// driver sets DRIVER_OK (SET_FEATURES, SET_MEM_TABLE, per queue NUM, ADDR,
// BASE, KICK, CALL, ENABLE) and taken back on reset (GET_VRING_BASE). A
// backend that fails then marks the device DEVICE_NEEDS_RESET with one
// warning; the next reset reconnects and repeats the handshake (a backend
// that exits on disconnect, like virtiofsd, then stays failed: the device
// keeps NEEDS_RESET and strata and the other devices go on).
//
// State: the connection, the offered features and config, the kick and
//   call eventfds per queue.
// Missing features: INFLIGHT_SHMFD (neither Debian backend offers it),
//   config change notifications, packed rings, dirty logging.
// Spec: QEMU docs/interop/vhost-user.rst; virtio 1.2 §5.2 (blk), §5.11 (fs).
#pragma once

#include "devices/virtio/registry.hpp"

namespace strata::vhost_user {

void register_vhost_user_devices(virtio::Registry &registry);

} // namespace strata::vhost_user
