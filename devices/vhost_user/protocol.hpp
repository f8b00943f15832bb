// The vhost-user message codec, frontend side: requests encoded to bytes plus
// the fds that travel with them, replies checked and decoded from bytes. Pure
// (no sockets), so every byte and every rejection is unit-testable; the I/O is
// in frontend.cpp.
//
//   message = header | payload            (QEMU docs/interop/vhost-user.rst)
//   header  = u32 request | u32 flags | u32 size (of the payload)
//   flags   = version 0x1 in bits 0-1 | REPLY 0x4 | NEED_REPLY 0x8
//
// The spec says "machine native byte order"; strata runs little-endian hosts
// only, so the wire structs carry le32/le64 (STYLE 3) and say so in the type.
//
// Replies are checked in this order, and each failure is an Error naming the
// request: REPLY flag, version, request number, size over the maximum (before
// any payload is read), size other than the one that reply must have, then
// the payload's own fields (the ring index, the config offset and size).
// A backend's refusal (a non-zero REPLY_ACK, an empty GET_CONFIG reply) is a
// Refused: the stream is still in step, unlike after any other Error.
#pragma once

#include "devices/virtio/le.hpp"

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::vhost_user {

// A backend that is absent, refused a request, broke the protocol, replied
// with garbage or wrong sizes, hung past the timeout or closed the connection:
// what() is one sentence naming the request and what went wrong.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
// The backend answered, and said no: a non-zero REPLY_ACK or an empty
// GET_CONFIG reply. The connection is still usable.
class Refused : public Error {
public:
    using Error::Error;
};

struct MemRegion {            // one region of SET_MEM_TABLE
    std::uint64_t guest_addr; // guest physical address
    std::uint64_t size;
    std::uint64_t user_addr; // where the frontend (strata) maps it: backends translate vring addresses with it
    std::uint64_t mmap_offset;
    int fd; // the memfd, sent with SCM_RIGHTS
};
struct VringAddr { // user addresses
    std::uint32_t index;
    std::uint32_t flags;
    std::uint64_t desc, used, avail, log;
};

// Protocol feature bits (vhost-user.rst), and the virtio feature bit
// VHOST_USER_F_PROTOCOL_FEATURES (30).
inline constexpr std::uint64_t f_protocol_features = 1ull << 30;
namespace protocol_feature {
inline constexpr std::uint64_t mq = 1ull << 0, reply_ack = 1ull << 3, config = 1ull << 9;
}

// Frontend request numbers ("Front-end message types").
enum class Request : std::uint32_t {
    get_features = 1,
    set_features = 2,
    set_owner = 3,
    reset_owner = 4,
    set_mem_table = 5,
    set_log_base = 6,
    set_log_fd = 7,
    set_vring_num = 8,
    set_vring_addr = 9,
    set_vring_base = 10,
    get_vring_base = 11,
    set_vring_kick = 12,
    set_vring_call = 13,
    set_vring_err = 14,
    get_protocol_features = 15,
    set_protocol_features = 16,
    get_queue_num = 17,
    set_vring_enable = 18,
    get_config = 24,
    set_config = 25,
};
// "GET_FEATURES", ...; "request N" for a number this codec does not name.
std::string name(Request request);

namespace flag {
inline constexpr std::uint32_t version = 0x1, version_mask = 0x3, reply = 0x4, need_reply = 0x8;
}

inline constexpr std::size_t header_size = 12;
inline constexpr std::size_t max_mem_regions = 8;     // SET_MEM_TABLE's fixed table
inline constexpr std::uint32_t max_config_size = 256; // QEMU's limit on a config access
// No reply this frontend asks for is larger (GET_CONFIG: 12 + 256 bytes); a
// size field above this is rejected before a byte of payload is read.
inline constexpr std::uint32_t max_reply_payload = 4096;
// SET_VRING_KICK / CALL / ERR: ring index in bits 0-7; bit 8 = no fd (poll).
inline constexpr std::uint64_t vring_index_mask = 0xff, vring_no_fd = 1ull << 8;

// The wire layouts. Every field is little-endian; there is no padding the
// compiler could add (each struct is a multiple of its largest member).
struct WireHeader {
    virtio::le32 request, flags, size;
};
struct WireVringState {
    virtio::le32 index, num;
};
struct WireVringAddr {
    virtio::le32 index, flags;
    virtio::le64 desc, used, avail, log;
};
struct WireMemoryHeader {
    virtio::le32 nregions, padding;
};
struct WireMemoryRegion {
    virtio::le64 guest_addr, size, user_addr, mmap_offset;
};
struct WireConfigHeader {
    virtio::le32 offset, size, flags;
};
static_assert(sizeof(WireHeader) == header_size && sizeof(WireVringState) == 8 && sizeof(WireVringAddr) == 40 &&
              sizeof(WireMemoryHeader) == 8 && sizeof(WireMemoryRegion) == 32 && sizeof(WireConfigHeader) == 12);

// A request ready for the socket: header and payload bytes, and the fds to
// attach with SCM_RIGHTS (borrowed from the caller: never closed here).
struct Encoded {
    Request request;
    std::vector<std::uint8_t> bytes;
    std::vector<int> fds;
};

// Whether the backend answers `request` with a body of its own (the spec's
// "Communication" list, plus GET_QUEUE_NUM and GET_CONFIG). Only the others
// get NEED_REPLY under REPLY_ACK.
bool has_reply(Request request);

Encoded encode(Request request, std::span<const std::uint8_t> payload = {}, std::vector<int> fds = {});
Encoded encode_u64(Request request, std::uint64_t value);
Encoded encode_vring_state(Request request, std::uint32_t index, std::uint32_t num);
Encoded encode_vring_addr(const VringAddr &addr);
// At most max_mem_regions regions, each with an fd (Error otherwise); the
// payload holds exactly the regions given (8 + 32 n bytes).
Encoded encode_mem_table(std::span<const MemRegion> regions);
// SET_VRING_KICK / CALL / ERR; fd < 0 sends no fd and sets vring_no_fd.
Encoded encode_vring_fd(Request request, std::uint32_t index, int fd);
// GET_CONFIG: size at most max_config_size; the payload's data part is zeros.
Encoded encode_get_config(std::uint32_t offset, std::uint32_t size);
void set_need_reply(Encoded &message);

// Checks the 12 header bytes of the reply to `request`, which must carry
// `expected_size` payload bytes; returns that size. A GET_CONFIG reply of
// size 0 is the backend's refusal (Refused).
std::uint32_t check_reply_header(Request request, std::span<const std::uint8_t> header, std::uint32_t expected_size);

// Payload decoders; each takes exactly the payload check_reply_header sized.
std::uint64_t decode_u64(Request request, std::span<const std::uint8_t> payload);
// REPLY_ACK: zero, or Refused naming the request and the value.
void check_ack(Request request, std::span<const std::uint8_t> payload);
// GET_VRING_BASE: the reply's index must be the one asked about.
std::uint32_t decode_vring_base(std::uint32_t index, std::span<const std::uint8_t> payload);
// GET_CONFIG: offset and size must echo the request; returns the data.
std::vector<std::uint8_t> decode_config(std::uint32_t offset, std::uint32_t size,
                                        std::span<const std::uint8_t> payload);

} // namespace strata::vhost_user
