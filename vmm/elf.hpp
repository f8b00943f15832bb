// ELF64 kernel images: parsed from bytes (so malformed files are unit-tested
// without KVM), then copied into guest RAM segment by segment. Every mistake in
// the file is a LoadError naming the file: the VM is never half-loaded.
#pragma once

#include "vmm/guest_memory.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace strata::elf {

struct Segment {
    std::uint64_t paddr = 0;
    std::uint64_t file_offset = 0;
    std::uint64_t file_size = 0;
    std::uint64_t mem_size = 0;
};

struct Image {
    std::uint64_t entry = 0;
    std::vector<Segment> segments; // PT_LOAD only, sorted by paddr, non-overlapping
};

// `machine` is EM_X86_64 or EM_AARCH64; `what` names the file in errors.
Image parse(std::span<const std::uint8_t> file, std::uint16_t machine, const std::string &what);

struct Reserved {
    std::string name;
    std::uint64_t base = 0;
    std::uint64_t size = 0;
};

// Checks every segment lies inside RAM and clear of `reserved`, then copies
// them (zero-filling the rest of mem_size).
void load(const Image &image, std::span<const std::uint8_t> file, const GuestMemory &memory,
          std::span<const Reserved> reserved, const std::string &what);

// Reads a whole file, with a LoadError for a missing or unreadable one, or
// one larger than `limit` bytes (what it is for cannot hold more: the
// guest's RAM for a kernel), which is never read.
std::vector<std::uint8_t> read_file(const std::string &path, const std::string &what, std::uint64_t limit,
                                    const std::string &limit_name);

} // namespace strata::elf
