// The vhost-user frontend connection: strata's side of the Unix socket to a
// backend (qemu-storage-daemon, virtiofsd, `strata device`), one synchronous
// request at a time. The frontend device uses it at set-up and on reset, so a
// blocking call with a deadline is all it needs.
//
// The socket is a plain AF_UNIX stream in a UniqueFd (vmm/fd.hpp), not an
// Asio socket: every exchange is sendmsg/recvmsg with SCM_RIGHTS on the raw
// fd and a poll() against one deadline per request, none of which Asio would
// do for us, and no io_context needs to run while a device is being set up.
// Every call is MSG_DONTWAIT (an adopted fd keeps its own mode) and
// MSG_NOSIGNAL, so a backend that stops reading or vanishes is a timeout or an
// Error, never a hang or a SIGPIPE.
//
// Every request has `timeout` from its first byte sent to its reply's last
// byte received, however the reply is split on the stream. After an Error
// other than Refused (timeout, close, a malformed reply) the stream is out of
// step, so the connection is closed and every later request fails at once
// (native_handle() is then -1). Not thread-safe: one caller at a time.
//
// State: the socket, the timeout, the negotiated protocol features.
// Missing: the backend's request channel (SET_BACKEND_REQ_FD), SET_CONFIG,
//   logging and migration, inflight tracking, in-band notifications,
//   CONFIGURE_MEM_SLOTS (ADD/REM_MEM_REG).
// Spec: QEMU docs/interop/vhost-user.rst ("Front-end message types",
//   "REPLY_ACK"); the codec is protocol.hpp.
#pragma once

#include "devices/vhost_user/protocol.hpp"
#include "vmm/fd.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace strata::vhost_user {

class Frontend {
public:
    // Connects to the backend's Unix socket (Error when nothing listens there);
    // every reply must arrive within `timeout`.
    static Frontend connect(const std::string &path, std::chrono::milliseconds timeout);
    // Takes a socket already connected to a backend (socketpair, an inherited
    // fd); `backend` stands for it in error messages.
    static Frontend adopt(UniqueFd socket, std::string backend, std::chrono::milliseconds timeout);
    Frontend(Frontend &&) noexcept;
    Frontend &operator=(Frontend &&) noexcept;
    ~Frontend();

    void set_owner();
    std::uint64_t get_features();
    void set_features(std::uint64_t features);
    std::uint64_t get_protocol_features();
    // Remembers REPLY_ACK: then every request without a reply waits for its ack.
    void set_protocol_features(std::uint64_t features);
    std::uint64_t get_queue_num();                                                  // needs MQ
    std::vector<std::uint8_t> get_config(std::uint32_t offset, std::uint32_t size); // needs CONFIG
    void set_mem_table(std::span<const MemRegion> regions);                         // at most 8 regions
    void set_vring_num(std::uint32_t index, std::uint32_t num);
    void set_vring_addr(const VringAddr &addr);
    void set_vring_base(std::uint32_t index, std::uint32_t base);
    std::uint32_t get_vring_base(std::uint32_t index); // also stops the ring (backend side)
    // The fd is sent with SCM_RIGHTS (not closed by us); fd < 0 sends none and
    // sets the no-fd bit, which asks the backend to poll the ring instead.
    void set_vring_kick(std::uint32_t index, int fd);
    void set_vring_call(std::uint32_t index, int fd);
    void set_vring_enable(std::uint32_t index, bool enable);
    int native_handle() const; // for tests / watching for a close

    // The protocol features last set (0 before set_protocol_features).
    std::uint64_t protocol_features() const { return protocol_features_; }

private:
    Frontend(UniqueFd socket, std::string backend, std::chrono::milliseconds timeout);
    // Sends `message` and reads its reply: `reply_size` payload bytes for a
    // request with a reply, the 8-byte ack for one without under REPLY_ACK,
    // nothing otherwise. Returns the payload.
    std::vector<std::uint8_t> exchange(Encoded message, std::uint32_t reply_size = 0);
    void require(Request request, std::uint64_t feature, const char *feature_name) const;

    UniqueFd socket_;
    std::string name_; // the socket path, for messages
    std::chrono::milliseconds timeout_;
    std::uint64_t protocol_features_ = 0;
};

} // namespace strata::vhost_user
