// The arm64 Image loader: format detection, header fields, gzip inflation.
#include "vmm/image.hpp"
#include "vmm/load_error.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <vector>

namespace strata::image {
namespace {

// A minimal arm64 Image: the 64-byte header (booting.rst) and `body` bytes.
std::vector<std::uint8_t> arm64_image(std::uint64_t text_offset, std::uint64_t image_size, std::uint64_t flags,
                                      std::size_t body = 64) {
    std::vector<std::uint8_t> f(64 + body, 0x5a);
    const std::uint32_t code0 = 0x14000010; // b +64
    std::memcpy(&f[0], &code0, 4);
    std::memcpy(&f[8], &text_offset, 8);
    std::memcpy(&f[16], &image_size, 8);
    std::memcpy(&f[24], &flags, 8);
    std::memcpy(&f[56], "ARM\x64", 4);
    return f;
}

std::vector<std::uint8_t> gzip(const std::vector<std::uint8_t> &in) {
    z_stream z{};
    deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::vector<std::uint8_t> out(in.size() + 1024);
    z.next_in = const_cast<Bytef *>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

TEST(ImageDetect, RecognisesElfImageAndGzip) {
    EXPECT_EQ(detect(std::vector<std::uint8_t>{0x7f, 'E', 'L', 'F', 2}), Format::elf);
    EXPECT_EQ(detect(arm64_image(0, 4096, 0xa)), Format::arm64_image);
    EXPECT_EQ(detect(std::vector<std::uint8_t>{0x1f, 0x8b, 8, 0}), Format::gzip);
    EXPECT_EQ(detect(std::vector<std::uint8_t>(100, 0)), Format::unknown);
    EXPECT_EQ(detect(std::vector<std::uint8_t>{}), Format::unknown);
}

TEST(ImageParse, LoadsAtRamBasePlusTextOffsetWithImageSize) {
    const auto f = arm64_image(0x80000, 0x200000, 0xa);
    const auto img = parse_arm64(f, 0x4000'0000, "k");
    EXPECT_EQ(img.entry, 0x4008'0000u);
    ASSERT_EQ(img.segments.size(), 1u);
    EXPECT_EQ(img.segments[0].paddr, 0x4008'0000u);
    EXPECT_EQ(img.segments[0].file_offset, 0u);
    EXPECT_EQ(img.segments[0].file_size, f.size());
    EXPECT_EQ(img.segments[0].mem_size, 0x200000u);
}

TEST(ImageParse, ZeroImageSizeMeansTheLegacyTextOffset) {
    const auto img = parse_arm64(arm64_image(0x1234, 0, 0), 0x8000'0000, "k");
    EXPECT_EQ(img.entry, 0x8008'0000u);
}

TEST(ImageParse, BigEndianImageIsRefused) {
    try {
        parse_arm64(arm64_image(0, 4096, 1), 0x4000'0000, "kernel 'be'");
        FAIL();
    } catch (const LoadError &e) {
        EXPECT_STREQ(e.what(), "kernel 'be' is a big-endian arm64 Image; strata runs little-endian guests");
    }
}

TEST(ImageParse, MisalignedRamBaseIsRefused) {
    EXPECT_THROW(parse_arm64(arm64_image(0, 4096, 0), 0x4010'0000, "k"), LoadError);
}

// Found by the loaders fuzz target: text_offset and image_size are the
// file's, so RAM base + text_offset + image_size can pass 2^64; the kernel
// would then be a segment that wraps (the ELF loader refuses those too).
TEST(ImageParse, ImageSizeThatWrapsPastTheAddressSpaceIsRefused) {
    try {
        parse_arm64(arm64_image(0x80000, 0xffff'ffff'fff0'0000, 0), 0x4000'0000, "kernel 'huge'");
        FAIL();
    } catch (const LoadError &e) {
        EXPECT_STREQ(e.what(), "kernel 'huge' does not fit below 2^64: text_offset 0x80000 and image_size "
                               "0xfffffffffff00000 from RAM base 0x40000000");
    }
}

TEST(ImageParse, TextOffsetThatWrapsPastTheAddressSpaceIsRefused) {
    EXPECT_THROW(parse_arm64(arm64_image(0xffff'ffff'ffe0'0000, 0x1000, 0), 0x4000'0000, "k"), LoadError);
}

TEST(ImageParse, FileWithoutMagicIsRefused) {
    EXPECT_THROW(parse_arm64(std::vector<std::uint8_t>(128, 0), 0x4000'0000, "k"), LoadError);
}

TEST(Gunzip, InflatesWhatDeflateMade) {
    const auto img = arm64_image(0, 1 << 20, 0xa, 300000);
    EXPECT_EQ(gunzip(gzip(img), "k"), img);
}

TEST(Gunzip, CorruptStreamIsALoadError) {
    auto z = gzip(arm64_image(0, 4096, 0));
    z.resize(z.size() / 2);
    EXPECT_THROW(gunzip(z, "k"), LoadError);
}

TEST(Gunzip, OutputBeyondTheLimitIsALoadError) {
    const std::vector<std::uint8_t> zeros(4 << 20, 0);
    try {
        gunzip(gzip(zeros), "kernel 'bomb'", 1 << 20);
        FAIL();
    } catch (const LoadError &e) {
        EXPECT_STREQ(e.what(), "kernel 'bomb' inflates to more than 1 MiB");
    }
}

} // namespace
} // namespace strata::image
