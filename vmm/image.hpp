// arm64 kernel images (Linux arm64 boot protocol, booting.rst): the plain
// Image with its 64-byte header, and the gzip-compressed Image other
// distributions ship. The result is an elf::Image with one segment, so the
// same checked loader places it.
#pragma once

#include "vmm/elf.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace strata::image {

enum class Format : std::uint8_t { elf, arm64_image, gzip, unknown };
Format detect(std::span<const std::uint8_t> file);

// Inflates a gzip file (LoadError when it is corrupt or inflates past `limit`).
std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> file, const std::string &what,
                                 std::size_t limit = 512u << 20);

// An arm64 Image loaded at `ram_base` (2 MiB aligned) + text_offset; the
// segment's memory size is the header's image_size (bss included).
elf::Image parse_arm64(std::span<const std::uint8_t> file, std::uint64_t ram_base, const std::string &what);

} // namespace strata::image
