// Shared by the fdt tests: machine specs in one line, and dtc run on DTB bytes.
#pragma once

#include "fdt/dtb.hpp"
#include "fdt/plan.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace strata::fdt::test {

constexpr std::uint64_t MiB = 1ull << 20;
constexpr std::uint64_t GiB = 1ull << 30;
constexpr std::uint64_t TiB = 1ull << 40;

inline MachineSpec machine(Arch arch, std::uint64_t ram, unsigned cpus = 1, unsigned virtio = 0) {
    MachineSpec s;
    s.arch = arch;
    s.ram_size = ram;
    s.cpus = cpus;
    s.virtio.assign(virtio, VirtioRequest{2, "virtio-blk"});
    return s;
}

inline HostCaps host(unsigned limit) { return HostCaps{limit, limit}; }

// The seeds of every test DTB, so the bytes never change.
inline BootConfig boot_config() {
    BootConfig b;
    b.bootargs = "console=ttyAMA0 quiet";
    b.rng_seed = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    b.kaslr_seed = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
    return b;
}

struct Dtc {
    int status = -1;
    std::string dts;      // stdout
    std::string warnings; // stderr
};

// `dtc -I dtb -O dts` on the bytes.
Dtc decompile(const std::vector<std::uint8_t> &dtb);

std::string read_file(const std::string &path);

// libfdt reads of a built DTB. cells() is empty and string_prop() "" where
// the node or property is missing; node_exists() tells the two apart.
bool node_exists(const std::vector<std::uint8_t> &dtb, const char *path);
std::vector<std::uint32_t> cells(const std::vector<std::uint8_t> &dtb, const char *path, const char *prop);
std::string string_prop(const std::vector<std::uint8_t> &dtb, const char *path, const char *prop);
std::vector<std::uint8_t> bytes_prop(const std::vector<std::uint8_t> &dtb, const char *path, const char *prop);

} // namespace strata::fdt::test
