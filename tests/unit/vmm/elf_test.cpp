// ELF64 kernel images: parse() on crafted files, load() into a small guest RAM.
#include "vmm/elf.hpp"

#include "vmm/load_error.hpp"

#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace strata::elf {
namespace {

const std::string what = "kernel 'vmlinux'";
constexpr std::uint64_t ram_size = 0x10000; // guest RAM is [0, 0x10000)

// A file built from a header, program headers and payload bytes. The good
// image (good_image() below) is:
//   0x0000  Elf64_Ehdr  x86_64, ET_EXEC, entry 0x1000
//   0x0040  Elf64_Phdr  PT_LOAD paddr 0x1000 offset 0x1000 filesz 0x10 memsz 0x10   (text)
//   0x0078  Elf64_Phdr  PT_LOAD paddr 0x3000 offset 0x2000 filesz 0x08 memsz 0x100  (data + bss)
//   0x1000  text bytes 0x10..0x1f
//   0x2000  data bytes 0x20..0x27
struct ElfFile {
    Elf64_Ehdr eh{};
    std::vector<Elf64_Phdr> ph;
    std::vector<std::pair<std::size_t, std::vector<std::uint8_t>>> payload;
    std::size_t size = 0x3000;

    std::vector<std::uint8_t> bytes() const {
        std::vector<std::uint8_t> out(size);
        auto put = [&](std::size_t at, const void *src, std::size_t n) {
            if (at < out.size())
                std::memcpy(out.data() + at, src, std::min(n, out.size() - at));
        };
        put(0, &eh, sizeof eh);
        for (std::size_t i = 0; i < ph.size(); ++i)
            put(eh.e_phoff + i * sizeof(Elf64_Phdr), &ph[i], sizeof(Elf64_Phdr));
        for (const auto &[at, b] : payload)
            put(at, b.data(), b.size());
        return out;
    }
};

Elf64_Phdr load_segment(std::uint64_t paddr, std::uint64_t offset, std::uint64_t filesz, std::uint64_t memsz) {
    Elf64_Phdr p{};
    p.p_type = PT_LOAD;
    p.p_flags = PF_R | PF_W | PF_X;
    p.p_offset = offset;
    p.p_vaddr = 0xffffffff80000000 + paddr;
    p.p_paddr = paddr;
    p.p_filesz = filesz;
    p.p_memsz = memsz;
    p.p_align = 0x1000;
    return p;
}

std::vector<std::uint8_t> counting(std::uint8_t first, std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<std::uint8_t>(first + i);
    return v;
}

ElfFile good_image() {
    ElfFile f;
    std::memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
    f.eh.e_ident[EI_CLASS] = ELFCLASS64;
    f.eh.e_ident[EI_DATA] = ELFDATA2LSB;
    f.eh.e_ident[EI_VERSION] = EV_CURRENT;
    f.eh.e_type = ET_EXEC;
    f.eh.e_machine = EM_X86_64;
    f.eh.e_version = EV_CURRENT;
    f.eh.e_entry = 0x1000;
    f.eh.e_phoff = sizeof(Elf64_Ehdr);
    f.eh.e_ehsize = sizeof(Elf64_Ehdr);
    f.eh.e_phentsize = sizeof(Elf64_Phdr);
    f.eh.e_phnum = 2;
    f.ph = {load_segment(0x1000, 0x1000, 0x10, 0x10), load_segment(0x3000, 0x2000, 0x08, 0x100)};
    f.payload = {{0x1000, counting(0x10, 0x10)}, {0x2000, counting(0x20, 0x08)}};
    return f;
}

std::string parse_error(const std::vector<std::uint8_t> &file, std::uint16_t machine = EM_X86_64) {
    try {
        parse(file, machine, what);
    } catch (const LoadError &e) {
        return e.what();
    }
    return "no error";
}

// --- parse: a good image ------------------------------------------------------

TEST(ElfParse, ReadsTheEntryPoint) {
    const auto file = good_image().bytes();
    EXPECT_EQ(parse(file, EM_X86_64, what).entry, 0x1000u);
}

TEST(ElfParse, ReadsEachLoadSegment) {
    const auto file = good_image().bytes();
    const Image image = parse(file, EM_X86_64, what);
    ASSERT_EQ(image.segments.size(), 2u);
    EXPECT_EQ(image.segments[0].paddr, 0x1000u);
    EXPECT_EQ(image.segments[0].file_offset, 0x1000u);
    EXPECT_EQ(image.segments[0].file_size, 0x10u);
    EXPECT_EQ(image.segments[0].mem_size, 0x10u);
    EXPECT_EQ(image.segments[1].paddr, 0x3000u);
    EXPECT_EQ(image.segments[1].file_offset, 0x2000u);
    EXPECT_EQ(image.segments[1].file_size, 0x08u);
    EXPECT_EQ(image.segments[1].mem_size, 0x100u);
}

TEST(ElfParse, UsesThePhysicalNotTheVirtualAddress) {
    const auto file = good_image().bytes();
    EXPECT_EQ(parse(file, EM_X86_64, what).segments[0].paddr, 0x1000u); // p_vaddr is 0xffffffff80001000
}

TEST(ElfParse, SortsSegmentsByPhysicalAddress) {
    ElfFile f = good_image();
    std::swap(f.ph[0], f.ph[1]);
    const auto file = f.bytes();
    const Image image = parse(file, EM_X86_64, what);
    ASSERT_EQ(image.segments.size(), 2u);
    EXPECT_EQ(image.segments[0].paddr, 0x1000u);
    EXPECT_EQ(image.segments[1].paddr, 0x3000u);
}

TEST(ElfParse, IgnoresProgramHeadersOtherThanLoad) {
    ElfFile f = good_image();
    Elf64_Phdr note = load_segment(0x8000, 0x2800, 0x20, 0x20);
    note.p_type = PT_NOTE;
    f.ph.push_back(note);
    f.eh.e_phnum = 3;
    const auto file = f.bytes();
    EXPECT_EQ(parse(file, EM_X86_64, what).segments.size(), 2u);
}

TEST(ElfParse, AcceptsAPositionIndependentExecutable) {
    ElfFile f = good_image();
    f.eh.e_type = ET_DYN;
    EXPECT_EQ(parse_error(f.bytes()), "no error");
}

TEST(ElfParse, AcceptsAnAarch64ImageWhenAarch64IsExpected) {
    ElfFile f = good_image();
    f.eh.e_machine = EM_AARCH64;
    EXPECT_EQ(parse_error(f.bytes(), EM_AARCH64), "no error");
}

// --- parse: bad files ---------------------------------------------------------

TEST(ElfParseError, EmptyFileIsNotAnElf) { EXPECT_EQ(parse_error({}), "kernel 'vmlinux' is not an ELF file"); }

TEST(ElfParseError, RandomBytesAreNotAnElf) {
    std::vector<std::uint8_t> noise(4096);
    std::uint32_t x = 0x12345678;
    for (auto &b : noise) {
        x = x * 1664525u + 1013904223u;
        b = static_cast<std::uint8_t>(x >> 24);
    }
    ASSERT_NE(noise[0], 0x7f);
    EXPECT_EQ(parse_error(noise), "kernel 'vmlinux' is not an ELF file");
}

TEST(ElfParseError, JustTheMagicIsNotAnElf) {
    EXPECT_EQ(parse_error({0x7f, 'E', 'L', 'F'}), "kernel 'vmlinux' is not an ELF file");
}

TEST(ElfParseError, A32BitElfIsRejected) {
    Elf32_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_phoff = sizeof eh;
    eh.e_phentsize = sizeof(Elf32_Phdr);
    eh.e_phnum = 1;
    std::vector<std::uint8_t> file(0x1000);
    std::memcpy(file.data(), &eh, sizeof eh);
    EXPECT_EQ(parse_error(file), "kernel 'vmlinux' is not a 64-bit little-endian ELF file");
}

TEST(ElfParseError, ABigEndianElfIsRejected) {
    ElfFile f = good_image();
    f.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' is not a 64-bit little-endian ELF file");
}

TEST(ElfParseError, AnAarch64ImageIsRejectedOnX86_64) {
    ElfFile f = good_image();
    f.eh.e_machine = EM_AARCH64;
    EXPECT_EQ(parse_error(f.bytes(), EM_X86_64), "kernel 'vmlinux' is an ELF for aarch64, but this VM is x86_64");
}

TEST(ElfParseError, AnX86_64ImageIsRejectedOnAarch64) {
    EXPECT_EQ(parse_error(good_image().bytes(), EM_AARCH64),
              "kernel 'vmlinux' is an ELF for x86_64, but this VM is aarch64");
}

TEST(ElfParseError, ARelocatableObjectIsRejected) {
    ElfFile f = good_image();
    f.eh.e_type = ET_REL;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' is not an executable ELF (e_type 1)");
}

TEST(ElfParseError, ATruncatedProgramHeaderTableIsRejected) {
    ElfFile f = good_image();
    f.size = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 10; // the second header is cut short
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has a missing or truncated program header table");
}

TEST(ElfParseError, AProgramHeaderTablePastTheEndOfTheFileIsRejected) {
    ElfFile f = good_image();
    f.eh.e_phoff = 0x10000;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has a missing or truncated program header table");
}

TEST(ElfParseError, AHugeProgramHeaderOffsetIsRejected) {
    ElfFile f = good_image();
    f.eh.e_phoff = UINT64_MAX - 8;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has a missing or truncated program header table");
}

TEST(ElfParseError, NoProgramHeadersIsRejected) {
    ElfFile f = good_image();
    f.eh.e_phnum = 0;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has a missing or truncated program header table");
}

TEST(ElfParseError, AWrongProgramHeaderSizeIsRejected) {
    ElfFile f = good_image();
    f.eh.e_phentsize = sizeof(Elf32_Phdr);
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has a missing or truncated program header table");
}

TEST(ElfParseError, ASegmentPastTheEndOfTheFileIsRejected) {
    ElfFile f = good_image();
    f.ph[1].p_offset = 0x2ffc; // 8 bytes from 0x2ffc run past the 0x3000-byte file
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux': segment 1 extends past the end of the file");
}

TEST(ElfParseError, ASegmentOffsetPastTheEndOfTheFileIsRejected) {
    ElfFile f = good_image();
    f.ph[1].p_offset = UINT64_MAX - 4; // offset + filesz would wrap
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux': segment 1 extends past the end of the file");
}

TEST(ElfParseError, ASegmentEndingExactlyAtTheEndOfTheFileIsAccepted) {
    ElfFile f = good_image();
    f.ph[1].p_offset = 0x2ff8;
    EXPECT_EQ(parse_error(f.bytes()), "no error");
}

TEST(ElfParseError, FileSizeLargerThanMemorySizeIsRejected) {
    ElfFile f = good_image();
    f.ph[0].p_filesz = 0x11;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux': segment 0 has a file size larger than its memory size");
}

TEST(ElfParseError, ASegmentWrappingPastTheEndOfTheAddressSpaceIsRejected) {
    ElfFile f = good_image();
    f.ph[1].p_paddr = UINT64_MAX - 0x7f; // 0x100 bytes from here wrap
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux': segment 1 wraps past the end of the address space");
}

TEST(ElfParseError, OverlappingSegmentsAreRejected) {
    ElfFile f = good_image();
    f.ph[1].p_paddr = 0x100f; // text is [0x1000, 0x1010)
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has overlapping segments at 0x1000 and 0x100f");
}

TEST(ElfParseError, AdjacentSegmentsAreAccepted) {
    ElfFile f = good_image();
    f.ph[1].p_paddr = 0x1010;
    EXPECT_EQ(parse_error(f.bytes()), "no error");
}

TEST(ElfParseError, AnEntryPointOutsideEverySegmentIsRejected) {
    ElfFile f = good_image();
    f.eh.e_entry = 0x1010; // one past the text segment
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has its entry point 0x1010 outside every loadable segment");
}

TEST(ElfParseError, AnEntryPointInTheBssIsAccepted) {
    ElfFile f = good_image();
    f.eh.e_entry = 0x30ff; // last byte of the data segment's memory
    EXPECT_EQ(parse(f.bytes(), EM_X86_64, what).entry, 0x30ffu);
}

TEST(ElfParseError, NoLoadSegmentIsRejected) {
    ElfFile f = good_image();
    f.ph[0].p_type = PT_NOTE;
    f.ph[1].p_type = PT_GNU_STACK;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has no loadable segment");
}

TEST(ElfParseError, OnlyEmptyLoadSegmentsIsRejected) {
    ElfFile f = good_image();
    f.ph[0].p_filesz = f.ph[0].p_memsz = 0;
    f.ph[1].p_filesz = f.ph[1].p_memsz = 0;
    EXPECT_EQ(parse_error(f.bytes()), "kernel 'vmlinux' has no loadable segment");
}

// --- load ---------------------------------------------------------------------

class ElfLoad : public ::testing::Test {
protected:
    void SetUp() override { memory.add("ram", GuestAddress{0}, ram_size); }

    std::vector<std::uint8_t> ram() const {
        auto s = memory.span(GuestAddress{0}, ram_size).value();
        std::vector<std::uint8_t> out(s.size());
        std::memcpy(out.data(), s.data(), s.size());
        return out;
    }
    bool ram_is_all_zero() const {
        const auto bytes = ram();
        return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
    }
    std::string load_error(const ElfFile &f, std::span<const Reserved> reserved = {}) {
        const auto file = f.bytes();
        try {
            load(parse(file, EM_X86_64, what), file, memory, reserved, what);
        } catch (const LoadError &e) {
            return e.what();
        }
        return "no error";
    }

    GuestMemory memory;
};

TEST_F(ElfLoad, CopiesEachSegmentsFileBytesToItsPhysicalAddress) {
    const auto file = good_image().bytes();
    load(parse(file, EM_X86_64, what), file, memory, {}, what);
    const auto bytes = ram();
    EXPECT_EQ(std::vector<std::uint8_t>(bytes.begin() + 0x1000, bytes.begin() + 0x1010), counting(0x10, 0x10));
    EXPECT_EQ(std::vector<std::uint8_t>(bytes.begin() + 0x3000, bytes.begin() + 0x3008), counting(0x20, 0x08));
}

TEST_F(ElfLoad, ZeroFillsTheBssAndLeavesTheRestOfRamAlone) {
    auto s = memory.span(GuestAddress{0}, ram_size).value();
    std::memset(s.data(), 0xee, s.size());
    const auto file = good_image().bytes();
    load(parse(file, EM_X86_64, what), file, memory, {}, what);
    const auto bytes = ram();
    EXPECT_EQ(bytes[0x0fff], 0xee);
    EXPECT_EQ(bytes[0x1010], 0xee);
    EXPECT_EQ(bytes[0x2fff], 0xee);
    EXPECT_EQ(bytes[0x3007], 0x27); // last file byte of the data segment
    EXPECT_TRUE(std::all_of(bytes.begin() + 0x3008, bytes.begin() + 0x3100, [](std::uint8_t b) { return b == 0; }));
    EXPECT_EQ(bytes[0x3100], 0xee); // first byte past mem_size
}

TEST_F(ElfLoad, ASegmentEndingAtTheLastByteOfRamIsLoaded) {
    ElfFile f = good_image();
    f.ph[1].p_paddr = ram_size - 0x100;
    EXPECT_EQ(load_error(f), "no error");
    EXPECT_EQ(ram()[ram_size - 0x100], 0x20);
}

TEST_F(ElfLoad, ASegmentRunningPastTheEndOfRamIsRejectedAndNothingIsWritten) {
    ElfFile f = good_image();
    f.ph[1].p_paddr = 0xff80; // [0xff80, 0x10080)
    EXPECT_EQ(load_error(f), "kernel 'vmlinux' has a segment at [0xff80, 0x10080) that is not inside guest RAM");
    EXPECT_TRUE(ram_is_all_zero()); // not even the text segment, which did fit
}

TEST_F(ElfLoad, ASegmentWhollyOutsideRamIsRejected) {
    ElfFile f = good_image();
    f.ph[1].p_paddr = 0x100000;
    EXPECT_EQ(load_error(f), "kernel 'vmlinux' has a segment at [0x100000, 0x100100) that is not inside guest RAM");
    EXPECT_TRUE(ram_is_all_zero());
}

TEST_F(ElfLoad, ASegmentOverAReservedRangeIsRejectedAndNothingIsWritten) {
    const std::vector<Reserved> reserved{{"boot tables", 0x30f0, 0x100}};
    EXPECT_EQ(load_error(good_image(), reserved),
              "kernel 'vmlinux' has a segment at [0x3000, 0x3100) over the boot tables area [0x30f0, 0x31f0)");
    EXPECT_TRUE(ram_is_all_zero());
}

TEST_F(ElfLoad, AReservedRangeInsideASegmentIsRejected) {
    const std::vector<Reserved> reserved{{"zero page", 0x1004, 0x4}};
    EXPECT_EQ(load_error(good_image(), reserved),
              "kernel 'vmlinux' has a segment at [0x1000, 0x1010) over the zero page area [0x1004, 0x1008)");
}

TEST_F(ElfLoad, AReservedRangeTouchingASegmentIsAccepted) {
    const std::vector<Reserved> reserved{{"below", 0x0f00, 0x100}, {"above", 0x3100, 0x100}};
    EXPECT_EQ(load_error(good_image(), reserved), "no error");
}

// --- read_file ----------------------------------------------------------------

TEST(ElfReadFile, AMissingFileIsALoadError) {
    try {
        read_file("/nonexistent/strata-test/vmlinux", "kernel", 1 << 20, "RAM");
        FAIL() << "read_file did not throw";
    } catch (const LoadError &e) {
        EXPECT_EQ(std::string(e.what()),
                  "cannot open kernel '/nonexistent/strata-test/vmlinux': No such file or directory");
    }
}

TEST(ElfReadFile, ReturnsTheWholeFile) {
    const std::string path = ::testing::TempDir() + "strata-elf-read-file.bin";
    const std::vector<std::uint8_t> bytes = {0x7f, 'E', 'L', 'F', 0x00, 0xff, 0x0a, 0x0d};
    {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    EXPECT_EQ(read_file(path, "kernel", 8, "RAM"), bytes);
    std::remove(path.c_str());
}

// A file larger than what it is for is refused before a byte is read (the
// size is checked, not the allocation attempted).
TEST(ElfReadFile, AFileLargerThanTheLimitIsALoadError) {
    const std::string path = ::testing::TempDir() + "strata-elf-read-file-big.bin";
    {
        std::ofstream out(path, std::ios::binary);
        out << std::string(9, 'x');
    }
    try {
        read_file(path, "kernel", 8, "the guest's RAM");
        FAIL() << "read_file did not throw";
    } catch (const LoadError &e) {
        EXPECT_EQ(std::string(e.what()),
                  "kernel '" + path + "' is 9 bytes, more than the guest's RAM (8 bytes) can hold");
    }
    std::remove(path.c_str());
}

} // namespace
} // namespace strata::elf
