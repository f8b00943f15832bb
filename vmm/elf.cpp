// ELF64 parsing and loading (System V gABI: file header, program headers).
#include "vmm/elf.hpp"

#include "vmm/load_error.hpp"

#include <fmt/format.h>

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::elf {

namespace {

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

const char *machine_name(std::uint16_t m) {
    switch (m) {
    case EM_X86_64: return "x86_64";
    case EM_AARCH64: return "aarch64";
    case EM_386: return "i386";
    case EM_ARM: return "32-bit arm";
    case EM_RISCV: return "riscv";
    default: return "unknown-machine";
    }
}

} // namespace

Image parse(std::span<const std::uint8_t> file, std::uint16_t machine, const std::string &what) {
    Elf64_Ehdr eh;
    if (file.size() < sizeof eh || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0)
        throw LoadError(what + " is not an ELF file");
    std::memcpy(&eh, file.data(), sizeof eh);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        throw LoadError(what + " is not a 64-bit little-endian ELF file");
    if (eh.e_machine != machine)
        throw LoadError(what + " is an ELF for " + machine_name(eh.e_machine) + ", but this VM is " +
                        machine_name(machine));
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
        throw LoadError(what + " is not an executable ELF (e_type " + std::to_string(eh.e_type) + ")");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > file.size() ||
        std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > file.size() - eh.e_phoff)
        throw LoadError(what + " has a missing or truncated program header table");

    Image image{eh.e_entry, {}};
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        const std::string seg = what + ": segment " + std::to_string(i);
        if (ph.p_filesz > ph.p_memsz)
            throw LoadError(seg + " has a file size larger than its memory size");
        if (ph.p_offset > file.size() || ph.p_filesz > file.size() - ph.p_offset)
            throw LoadError(seg + " extends past the end of the file");
        if (ph.p_paddr + ph.p_memsz < ph.p_paddr)
            throw LoadError(seg + " wraps past the end of the address space");
        image.segments.push_back({ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
    }
    if (image.segments.empty())
        throw LoadError(what + " has no loadable segment");
    std::sort(image.segments.begin(), image.segments.end(),
              [](const Segment &a, const Segment &b) { return a.paddr < b.paddr; });
    for (std::size_t i = 1; i < image.segments.size(); ++i) {
        const auto &a = image.segments[i - 1], &b = image.segments[i];
        if (a.paddr + a.mem_size > b.paddr)
            throw LoadError(what + " has overlapping segments at " + hex(a.paddr) + " and " + hex(b.paddr));
    }
    bool entry_inside = std::any_of(image.segments.begin(), image.segments.end(), [&](const Segment &s) {
        return image.entry >= s.paddr && image.entry - s.paddr < s.mem_size;
    });
    if (!entry_inside)
        throw LoadError(what + " has its entry point " + hex(image.entry) + " outside every loadable segment");
    return image;
}

void load(const Image &image, std::span<const std::uint8_t> file, const GuestMemory &memory,
          std::span<const Reserved> reserved, const std::string &what) {
    // Check everything first so that a failure leaves guest RAM untouched.
    for (const auto &s : image.segments) {
        const std::string range = "[" + hex(s.paddr) + ", " + hex(s.paddr + s.mem_size) + ")";
        if (!memory.span(GuestAddress{s.paddr}, s.mem_size))
            throw LoadError(what + " has a segment at " + range + " that is not inside guest RAM");
        for (const auto &r : reserved)
            if (s.paddr < r.base + r.size && r.base < s.paddr + s.mem_size)
                throw LoadError(what + " has a segment at " + range + " over the " + r.name + " area [" + hex(r.base) +
                                ", " + hex(r.base + r.size) + ")");
    }
    for (const auto &s : image.segments) {
        auto dst = memory.span(GuestAddress{s.paddr}, s.mem_size).value();
        std::memcpy(dst.data(), file.data() + s.file_offset, s.file_size);
        std::memset(dst.data() + s.file_size, 0, s.mem_size - s.file_size);
    }
}

std::vector<std::uint8_t> read_file(const std::string &path, const std::string &what, std::uint64_t limit,
                                    const std::string &limit_name) {
    const std::string name = what + " '" + path + "'";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0)
        throw LoadError("cannot open " + name + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
        throw LoadError("cannot read " + name + ": it is not a regular file");
    if (static_cast<std::uint64_t>(st.st_size) > limit)
        throw LoadError(
            fmt::format("{} is {} bytes, more than {} ({} bytes) can hold", name, st.st_size, limit_name, limit));
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw LoadError("cannot read " + name + ": " +
                            (n < 0 ? std::strerror(errno) : "it shrank while being read"));
        got += static_cast<std::size_t>(n);
    }
    return bytes;
}

} // namespace strata::elf
