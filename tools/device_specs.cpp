// --blk and --net option values (see device_specs.hpp).
#include "tools/device_specs.hpp"

#include "tools/user_error.hpp"

#include <net/if.h>

#include <cstdio>
#include <filesystem>

namespace strata::cli {

namespace {

constexpr std::size_t blk_id_bytes = 20; // virtio 1.2 §5.2.6: GET_ID answers 20 bytes

std::array<std::uint8_t, 6> parse_mac(const std::string &text) {
    std::array<unsigned, 6> p{};
    char tail = 0;
    if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &tail) != 6)
        throw UserError("--net mac=" + text + " is not a MAC address like 52:54:00:12:34:56");
    std::array<std::uint8_t, 6> mac{};
    for (std::size_t i = 0; i < 6; ++i)
        mac[i] = static_cast<std::uint8_t>(p[i]);
    if (mac[0] & 1)
        throw UserError("--net mac=" + text + " is a multicast address");
    return mac;
}

} // namespace

std::vector<std::string> split_commas(const std::string &text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = text.find(',', start);
        parts.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos)
            return parts;
        start = comma + 1;
    }
}

virtio::BlockSpec parse_block_spec(const std::string &text) {
    virtio::BlockSpec spec;
    const auto parts = split_commas(text);
    spec.path = parts.front();
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const auto &part = parts[i];
        if (part == "ro")
            spec.read_only = true;
        else if (part.rfind("id=", 0) == 0 && part.size() > 3)
            spec.id = part.substr(3);
        else
            throw UserError("--blk " + text + ": '" + part + "' is not ro or id=NAME");
    }
    if (spec.path.empty())
        throw UserError("--blk wants PATH[,ro][,id=NAME], not '" + text + "'");
    if (spec.id.size() > blk_id_bytes)
        throw UserError("--blk " + text + ": the id '" + spec.id + "' is longer than 20 bytes");
    if (spec.id.empty())
        spec.id = std::filesystem::path(spec.path).filename().string().substr(0, blk_id_bytes);
    return spec;
}

virtio::NetSpec parse_net_spec(const std::string &text, unsigned index) {
    virtio::NetSpec spec;
    spec.mac[5] = static_cast<std::uint8_t>(spec.mac[5] + index);
    for (const auto &part : split_commas(text)) {
        if (part.rfind("tap=", 0) == 0 && part.size() > 4)
            spec.tap = part.substr(4);
        else if (part.rfind("mac=", 0) == 0)
            spec.mac = parse_mac(part.substr(4));
        else
            throw UserError("--net " + text + ": '" + part + "' is not tap=NAME or mac=MAC");
    }
    if (spec.tap.empty() || spec.tap.size() >= IFNAMSIZ)
        throw UserError("--net wants tap=NAME (at most 15 characters)[,mac=MAC], not '" + text + "'");
    return spec;
}

} // namespace strata::cli
