// The vhost-user backend behind `strata device`: any registered device,
// served to a frontend (QEMU, strata's own --device vhost-user) over a Unix
// socket, on the caller's Asio io_context.
//
//   frontend ── messages + fds (SCM_RIGHTS) ──> Backend
//        │ SET_MEM_TABLE: its memfds, mapped here as the device's GuestMemory
//        │ kick eventfd ──> Transport::notified(q) ──> Device::notify
//        └ call eventfd <── the device's interrupt
//
// The device runs unchanged: the backend drives a virtio-mmio Transport over
// the mapped memory through its registers, as a driver would (features,
// queue size and addresses, QueueReady, DRIVER_OK), so the same checks on
// guest-controlled rings apply. One frontend at a time; when it goes, the
// device is reset and the backend waits for the next.
//
// A frontend that breaks the protocol (unknown or malformed requests, memory
// that does not cover a ring) gets its connection closed with one log line;
// a request the backend cannot honour is refused (REPLY_ACK) or logged.
#pragma once

#include "devices/virtio/device.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

namespace strata::vhost_user {

// Listens on `socket_path` (removed first when it is a stale socket) and
// serves `device` until the io_context stops. Throws std::system_error when
// the socket cannot be made.
class Backend {
public:
    Backend(boost::asio::io_context &io, const std::string &socket_path, std::unique_ptr<virtio::Device> device);
    ~Backend();
    Backend(const Backend &) = delete;
    Backend &operator=(const Backend &) = delete;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace strata::vhost_user
