// The --blk and --net values: comma-separated options parsed into the specs
// the devices take. Every mistake is a UserError naming the option.
#pragma once

#include "devices/virtio/blk.hpp"
#include "devices/virtio/net.hpp"

#include <string>
#include <vector>

namespace strata::cli {

// "a,b,,c" -> {"a", "b", "", "c"}; "" -> {""}.
std::vector<std::string> split_commas(const std::string &text);

// "PATH[,ro][,id=NAME]"; the id defaults to the file name (20 bytes at most).
virtio::BlockSpec parse_block_spec(const std::string &text);

// "tap=NAME[,mac=MAC]"; the default MAC ends in 0x56 + index.
virtio::NetSpec parse_net_spec(const std::string &text, unsigned index);

} // namespace strata::cli
