// The vhost-user codec: requests to bytes, replies checked field by field.
#include "devices/vhost_user/protocol.hpp"

#include <fmt/format.h>

#include <cstring>
#include <type_traits>

namespace strata::vhost_user {
namespace {

using virtio::le32;
using virtio::le64;

[[noreturn]] void fail(Request request, const std::string &what) {
    throw Error("vhost-user " + name(request) + ": " + what);
}

template <class T>
void append(std::vector<std::uint8_t> &out, const T &wire) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto *p = reinterpret_cast<const std::uint8_t *>(&wire);
    out.insert(out.end(), p, p + sizeof(T));
}

// The caller has checked that `bytes` holds at least sizeof(T) from `at`.
template <class T>
T read_wire(std::span<const std::uint8_t> bytes, std::size_t at = 0) {
    static_assert(std::is_trivially_copyable_v<T>);
    T wire;
    std::memcpy(&wire, bytes.data() + at, sizeof(T));
    return wire;
}

void expect_payload(Request request, std::span<const std::uint8_t> payload, std::size_t size) {
    if (payload.size() != size)
        fail(request, fmt::format("payload of {} bytes given to the decoder, the reply has {}", payload.size(), size));
}

} // namespace

std::string name(Request request) {
    switch (request) {
    case Request::get_features: return "GET_FEATURES";
    case Request::set_features: return "SET_FEATURES";
    case Request::set_owner: return "SET_OWNER";
    case Request::reset_owner: return "RESET_OWNER";
    case Request::set_mem_table: return "SET_MEM_TABLE";
    case Request::set_log_base: return "SET_LOG_BASE";
    case Request::set_log_fd: return "SET_LOG_FD";
    case Request::set_vring_num: return "SET_VRING_NUM";
    case Request::set_vring_addr: return "SET_VRING_ADDR";
    case Request::set_vring_base: return "SET_VRING_BASE";
    case Request::get_vring_base: return "GET_VRING_BASE";
    case Request::set_vring_kick: return "SET_VRING_KICK";
    case Request::set_vring_call: return "SET_VRING_CALL";
    case Request::set_vring_err: return "SET_VRING_ERR";
    case Request::get_protocol_features: return "GET_PROTOCOL_FEATURES";
    case Request::set_protocol_features: return "SET_PROTOCOL_FEATURES";
    case Request::get_queue_num: return "GET_QUEUE_NUM";
    case Request::set_vring_enable: return "SET_VRING_ENABLE";
    case Request::get_config: return "GET_CONFIG";
    case Request::set_config: return "SET_CONFIG";
    }
    return "request " + std::to_string(static_cast<std::uint32_t>(request));
}

bool has_reply(Request request) {
    switch (request) {
    case Request::get_features:
    case Request::get_protocol_features:
    case Request::get_vring_base:
    case Request::get_queue_num:
    case Request::get_config: return true;
    default: return false;
    }
}

Encoded encode(Request request, std::span<const std::uint8_t> payload, std::vector<int> fds) {
    Encoded out{request, {}, std::move(fds)};
    out.bytes.reserve(header_size + payload.size());
    append(out.bytes, WireHeader{le32(static_cast<std::uint32_t>(request)), le32(flag::version),
                                 le32(static_cast<std::uint32_t>(payload.size()))});
    out.bytes.insert(out.bytes.end(), payload.begin(), payload.end());
    return out;
}

Encoded encode_u64(Request request, std::uint64_t value) {
    std::vector<std::uint8_t> payload;
    append(payload, le64(value));
    return encode(request, payload);
}

Encoded encode_vring_state(Request request, std::uint32_t index, std::uint32_t num) {
    std::vector<std::uint8_t> payload;
    append(payload, WireVringState{le32(index), le32(num)});
    return encode(request, payload);
}

Encoded encode_vring_addr(const VringAddr &addr) {
    std::vector<std::uint8_t> payload;
    append(payload, WireVringAddr{le32(addr.index), le32(addr.flags), le64(addr.desc), le64(addr.used),
                                  le64(addr.avail), le64(addr.log)});
    return encode(Request::set_vring_addr, payload);
}

Encoded encode_mem_table(std::span<const MemRegion> regions) {
    if (regions.size() > max_mem_regions)
        fail(Request::set_mem_table,
             fmt::format("{} memory regions asked for, the message holds at most {}", regions.size(), max_mem_regions));
    std::vector<std::uint8_t> payload;
    std::vector<int> fds;
    append(payload, WireMemoryHeader{le32(static_cast<std::uint32_t>(regions.size())), le32(0)});
    for (const auto &r : regions) {
        if (r.fd < 0)
            fail(Request::set_mem_table,
                 fmt::format("the region at guest address {:#x} has no fd to share", r.guest_addr));
        append(payload, WireMemoryRegion{le64(r.guest_addr), le64(r.size), le64(r.user_addr), le64(r.mmap_offset)});
        fds.push_back(r.fd);
    }
    return encode(Request::set_mem_table, payload, std::move(fds));
}

Encoded encode_vring_fd(Request request, std::uint32_t index, int fd) {
    if (index > vring_index_mask)
        fail(request, fmt::format("ring index {} does not fit the message's 8 bits", index));
    std::vector<std::uint8_t> payload;
    append(payload, le64(index | (fd < 0 ? vring_no_fd : 0)));
    return encode(request, payload, fd < 0 ? std::vector<int>{} : std::vector<int>{fd});
}

Encoded encode_get_config(std::uint32_t offset, std::uint32_t size) {
    if (size > max_config_size)
        fail(Request::get_config,
             fmt::format("{} bytes of config space asked for, the protocol allows at most {}", size, max_config_size));
    std::vector<std::uint8_t> payload;
    append(payload, WireConfigHeader{le32(offset), le32(size), le32(0)});
    payload.resize(payload.size() + size);
    return encode(Request::get_config, payload);
}

void set_need_reply(Encoded &message) {
    auto header = read_wire<WireHeader>(message.bytes);
    header.flags = le32(header.flags.get() | flag::need_reply);
    std::memcpy(message.bytes.data(), &header, sizeof header);
}

std::uint32_t check_reply_header(Request request, std::span<const std::uint8_t> header, std::uint32_t expected_size) {
    if (header.size() != header_size)
        fail(request, fmt::format("reply header of {} bytes, a header has {}", header.size(), header_size));
    const auto wire = read_wire<WireHeader>(header);
    const std::uint32_t flags = wire.flags.get(), number = wire.request.get(), size = wire.size.get();
    if (!(flags & flag::reply))
        fail(request, fmt::format("the backend's answer lacks the REPLY flag (flags {:#x})", flags));
    if ((flags & flag::version_mask) != flag::version)
        fail(request,
             fmt::format("reply speaks protocol version {}, not {}", flags & flag::version_mask, flag::version));
    if (number != static_cast<std::uint32_t>(request))
        fail(request, fmt::format("reply is for {} ({}), not this request ({})", name(Request{number}), number,
                                  static_cast<std::uint32_t>(request)));
    if (size > max_reply_payload)
        fail(request, fmt::format("reply size {} exceeds the maximum of {} bytes", size, max_reply_payload));
    if (request == Request::get_config && size == 0)
        throw Refused("vhost-user GET_CONFIG: the backend refused it (empty reply)");
    if (size != expected_size)
        fail(request, fmt::format("reply size {}, this reply has {} bytes", size, expected_size));
    return size;
}

std::uint64_t decode_u64(Request request, std::span<const std::uint8_t> payload) {
    expect_payload(request, payload, sizeof(le64));
    return read_wire<le64>(payload).get();
}

void check_ack(Request request, std::span<const std::uint8_t> payload) {
    if (const auto ack = decode_u64(request, payload); ack != 0)
        throw Refused(fmt::format("vhost-user {}: the backend refused it (REPLY_ACK {:#x})", name(request), ack));
}

std::uint32_t decode_vring_base(std::uint32_t index, std::span<const std::uint8_t> payload) {
    expect_payload(Request::get_vring_base, payload, sizeof(WireVringState));
    const auto state = read_wire<WireVringState>(payload);
    if (state.index.get() != index)
        fail(Request::get_vring_base, fmt::format("reply is for ring {}, asked for ring {}", state.index.get(), index));
    return state.num.get();
}

std::vector<std::uint8_t> decode_config(std::uint32_t offset, std::uint32_t size,
                                        std::span<const std::uint8_t> payload) {
    expect_payload(Request::get_config, payload, sizeof(WireConfigHeader) + size);
    const auto head = read_wire<WireConfigHeader>(payload);
    if (head.offset.get() != offset || head.size.get() != size)
        fail(Request::get_config, fmt::format("reply covers offset {} size {}, asked for offset {} size {}",
                                              head.offset.get(), head.size.get(), offset, size));
    const auto data = payload.subspan(sizeof(WireConfigHeader));
    return {data.begin(), data.end()};
}

} // namespace strata::vhost_user
