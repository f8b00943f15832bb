// Fuzz target: the kernel loaders (vmm/elf.cpp, vmm/image.cpp) on the path
// `strata run --kernel` takes: gzip inflated first, then an ELF64 or an arm64
// Image parsed, then loaded into guest RAM clear of a reserved area. A file
// that cannot be booted is a LoadError; otherwise the image must be sound
// (segments sorted, apart, inside the file, not wrapping, the entry inside
// one), and after load() guest RAM must hold each segment's file bytes
// followed by zeros.
//
// Input: machine u8 (bit 0: aarch64), RAM base u16 (in 2 MiB units), reserved
// area u16 (4 KiB pages from the RAM base) and u8 (pages), then the file.
// Guest RAM is 2 MiB, and gzip inflates to at most 1 MiB here, so no input
// allocates much (strata's own limit is 512 MiB: the same code path).
#include "tests/fuzz/input.hpp"
#include "vmm/elf.hpp"
#include "vmm/image.hpp"
#include "vmm/load_error.hpp"

#include <elf.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace strata::fuzz {
namespace {

constexpr std::uint64_t ram_size = 2 << 20;
constexpr std::size_t gzip_limit = 1 << 20;

[[noreturn]] void broken(const std::string &what) {
    std::fprintf(stderr, "loader invariant broken: %s\n", what.c_str());
    std::abort();
}

void check_image(const elf::Image &image, std::size_t file_size) {
    bool entry_inside = false;
    for (std::size_t i = 0; i < image.segments.size(); ++i) {
        const auto &s = image.segments[i];
        if (s.file_size > s.mem_size || s.file_offset > file_size || s.file_size > file_size - s.file_offset)
            broken("segment " + std::to_string(i) + " reaches past the file or its memory size");
        if (s.paddr + s.mem_size < s.paddr)
            broken("segment " + std::to_string(i) + " wraps past the end of the address space");
        if (i > 0 && image.segments[i - 1].paddr + image.segments[i - 1].mem_size > s.paddr)
            broken("segments out of order or overlapping");
        entry_inside |= image.entry >= s.paddr && image.entry - s.paddr < s.mem_size;
    }
    if (image.segments.empty() || !entry_inside)
        broken("no segment, or the entry outside every segment");
}

void check_loaded(const elf::Image &image, std::span<const std::uint8_t> file, const GuestMemory &memory) {
    for (const auto &s : image.segments) {
        const auto ram = memory.span(GuestAddress{s.paddr}, s.mem_size).value();
        const auto *bytes = reinterpret_cast<const std::uint8_t *>(ram.data());
        if (std::memcmp(bytes, file.data() + s.file_offset, s.file_size) != 0)
            broken("a segment's bytes differ from the file's");
        for (std::uint64_t i = s.file_size; i < s.mem_size; ++i)
            if (bytes[i] != 0)
                broken("a segment's bss is not zero");
    }
}

} // namespace
} // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    using namespace strata;
    fuzz::Input in(data, size);
    const bool aarch64 = in.flag();
    const std::uint64_t ram_base = std::uint64_t{in.take<std::uint16_t>()} << 21;
    const std::uint64_t reserved_at = ram_base + (std::uint64_t{in.take<std::uint16_t>()} << 12);
    const std::uint64_t reserved_size = std::uint64_t{in.take<std::uint8_t>()} << 12;
    const auto input_file = in.rest();
    std::vector<std::uint8_t> file(input_file.begin(), input_file.end());

    static GuestMemory memory;
    memory.clear();
    memory.add("ram", GuestAddress{ram_base}, fuzz::ram_size);
    const std::string what = "kernel 'fuzz'";
    try {
        if (image::detect(file) == image::Format::gzip)
            file = image::gunzip(file, what, fuzz::gzip_limit);
        elf::Image image;
        switch (image::detect(file)) {
        case image::Format::elf: image = elf::parse(file, aarch64 ? EM_AARCH64 : EM_X86_64, what); break;
        case image::Format::arm64_image: image = image::parse_arm64(file, ram_base, what); break;
        default: return 0;
        }
        fuzz::check_image(image, file.size());
        const std::vector<elf::Reserved> reserved{{"device tree", reserved_at, reserved_size}};
        elf::load(image, file, memory, reserved, what);
        fuzz::check_loaded(image, file, memory);
    } catch (const LoadError &) {
    }
    return 0;
}
