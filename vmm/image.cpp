// arm64 Image header parsing and gzip inflation.
#include "vmm/image.hpp"

#include "vmm/load_error.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <cstring>

namespace strata::image {

namespace {

// booting.rst: the 64-byte header.
struct Arm64Header {
    std::uint32_t code0, code1;
    std::uint64_t text_offset;
    std::uint64_t image_size;
    std::uint64_t flags;
    std::uint64_t res2, res3, res4;
    std::uint32_t magic; // "ARM\x64"
    std::uint32_t res5;
};
static_assert(sizeof(Arm64Header) == 64);
constexpr std::uint32_t arm64_magic = 0x644d5241;
constexpr std::uint64_t flag_big_endian = 1;
constexpr std::uint64_t legacy_text_offset = 0x80000; // image_size 0: pre-3.17 kernels

} // namespace

Format detect(std::span<const std::uint8_t> file) {
    if (file.size() >= 4 && std::memcmp(file.data(),
                                        "\x7f"
                                        "ELF",
                                        4) == 0)
        return Format::elf;
    if (file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b)
        return Format::gzip;
    if (file.size() >= sizeof(Arm64Header)) {
        std::uint32_t magic;
        std::memcpy(&magic, file.data() + 56, sizeof magic);
        if (magic == arm64_magic)
            return Format::arm64_image;
    }
    return Format::unknown;
}

std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> file, const std::string &what, std::size_t limit) {
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        throw LoadError("cannot inflate " + what + ": zlib failed to start");
    std::vector<std::uint8_t> out(std::min<std::size_t>(limit, std::max<std::size_t>(file.size() * 4, 1 << 20)));
    z.next_in = const_cast<Bytef *>(file.data());
    z.avail_in = static_cast<uInt>(file.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (z.total_out == out.size()) {
            if (out.size() >= limit) {
                inflateEnd(&z);
                throw LoadError(what + " inflates to more than " + std::to_string(limit >> 20) + " MiB");
            }
            out.resize(std::min(limit, out.size() * 2));
        }
        z.next_out = out.data() + z.total_out;
        z.avail_out = static_cast<uInt>(out.size() - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&z);
            throw LoadError(what + " is not a valid gzip file (" + (z.msg ? z.msg : "truncated") + ")");
        }
    }
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
}

elf::Image parse_arm64(std::span<const std::uint8_t> file, std::uint64_t ram_base, const std::string &what) {
    Arm64Header h{};
    if (detect(file) != Format::arm64_image)
        throw LoadError(what + " is not an arm64 Image (no \"ARM\\x64\" magic at offset 56)");
    std::memcpy(&h, file.data(), sizeof h);
    if (h.flags & flag_big_endian)
        throw LoadError(what + " is a big-endian arm64 Image; strata runs little-endian guests");
    if (ram_base % (2u << 20))
        throw LoadError(what + ": the RAM base is not 2 MiB aligned, as the arm64 boot protocol needs");
    const std::uint64_t text_offset = h.image_size == 0 ? legacy_text_offset : h.text_offset;
    const std::uint64_t mem_size = std::max<std::uint64_t>(h.image_size, file.size());
    // Both fields are the file's: the kernel must end below 2^64, as an ELF
    // segment must, or the segment would wrap.
    if (text_offset > UINT64_MAX - ram_base || mem_size > UINT64_MAX - (ram_base + text_offset))
        throw LoadError(fmt::format("{} does not fit below 2^64: text_offset {:#x} and image_size {:#x} from RAM base "
                                    "{:#x}",
                                    what, h.text_offset, h.image_size, ram_base));
    const std::uint64_t load = ram_base + text_offset;
    return elf::Image{load, {{load, 0, file.size(), mem_size}}};
}

} // namespace strata::image
