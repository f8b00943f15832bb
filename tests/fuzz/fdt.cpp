// Fuzz target: the layout planner and the device-tree builder (fdt/): any
// MachineSpec and HostCaps, planned, then built with any BootConfig. A
// machine that cannot be laid out is a PlanError; a planned one must keep
// the map's invariants, and its DTB must pass libfdt's fdt_check_full and
// state what the Layout says (every reg below 2^ipa_bits, the RAM asked for).
//
// Input: the spec's fields, the host's, then the boot config; sizes come as
// a mantissa and a shift so that 512M and 2T are as near as 4097 bytes.
#include "fdt/dtb.hpp"
#include "fdt/plan.hpp"
#include "tests/fuzz/input.hpp"

#include <libfdt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace strata::fuzz {
namespace {

[[noreturn]] void broken(const std::string &what) {
    std::fprintf(stderr, "fdt invariant broken: %s\n", what.c_str());
    std::abort();
}

std::uint64_t size_from(Input &in) {
    if (in.flag())
        return in.take<std::uint64_t>();
    return std::uint64_t{in.take<std::uint16_t>()} << (in.take<std::uint8_t>() % 48);
}

fdt::MachineSpec spec_from(Input &in) {
    fdt::MachineSpec s;
    const auto bits = in.take<std::uint8_t>();
    s.arch = bits & 1 ? fdt::Arch::aarch64 : fdt::Arch::x86_64;
    s.gic = bits & 2 ? fdt::GicVersion::v2 : fdt::GicVersion::v3;
    s.el2 = bits & 4;
    s.e2h0 = bits & 8;
    s.ram_size = size_from(in);
    if (bits & 16)
        s.ram_base = size_from(in);
    if (bits & 32)
        s.initrd_size = size_from(in);
    if (bits & 64)
        s.pa_range = in.take<std::uint8_t>();
    s.cpus = in.take<std::uint16_t>() % 600;
    const auto ipa = in.take<std::uint8_t>();
    s.ipa.kind = static_cast<fdt::IpaRequest::Kind>(ipa % 4);
    s.ipa.bits = ipa / 4;
    const unsigned devices = in.take<std::uint8_t>() % 80;
    for (unsigned i = 0; i < devices; ++i)
        s.virtio.push_back({in.take<std::uint8_t>(), "virtio-" + std::to_string(i)});
    return s;
}

fdt::HostCaps caps_from(Input &in) {
    fdt::HostCaps c;
    c.ipa_limit = in.take<std::uint8_t>() % 64;
    c.pa_range = in.take<std::uint8_t>() % 64;
    const auto bits = in.take<std::uint8_t>();
    c.pages_1g = bits & 1;
    c.el2 = bits & 2;
    c.el2_e2h0 = bits & 4;
    return c;
}

void check_map(const fdt::MachineSpec &s, const fdt::Layout &l) {
    if (l.ipa_bits < 32 || l.ipa_bits > 52)
        broken("a window of " + std::to_string(l.ipa_bits) + " bits");
    const std::uint64_t limit = std::uint64_t{1} << l.ipa_bits;
    std::uint64_t ram = 0;
    for (const auto &bank : l.ram)
        ram += bank.size;
    if (ram != s.ram_size)
        broken("RAM banks add up to " + std::to_string(ram) + ", not the " + std::to_string(s.ram_size) + " asked");
    const fdt::Region *last = nullptr;
    for (const auto &r : l.regions) {
        if (r.size == 0 || r.base + r.size < r.base || r.end() > limit)
            broken(r.name + " is empty, wraps or lies above 2^" + std::to_string(l.ipa_bits));
        if (r.kind == fdt::RegionKind::in_ram) {
            bool inside = false;
            for (const auto &bank : l.ram)
                inside |= bank.base <= r.base && r.end() <= bank.end();
            if (!inside)
                broken(r.name + " is not inside one RAM bank");
            continue;
        }
        if (last && last->end() > r.base)
            broken(last->name + " overlaps " + r.name);
        last = &r;
    }
    if (l.virtio.size() != s.virtio.size() || l.cpus != s.cpus)
        broken("a layout with other vCPUs or devices than asked");
}

void check_dtb(const fdt::MachineSpec &s, const fdt::Layout &l, const std::vector<std::uint8_t> &dtb) {
    if (dtb.size() > l.dtb.size)
        broken("a DTB larger than its region");
    if (const int rc = fdt_check_full(dtb.data(), dtb.size()); rc != 0)
        broken(std::string("fdt_check_full: ") + fdt_strerror(rc));
    const void *fdt = dtb.data();
    std::uint64_t memory = 0;
    int node = 0;
    fdt_for_each_subnode(node, fdt, 0) {
        int len = 0;
        const auto *reg = static_cast<const fdt32_t *>(fdt_getprop(fdt, node, "reg", &len));
        if (!reg)
            continue;
        const std::string name = fdt_get_name(fdt, node, nullptr);
        if (len % 16)
            broken(name + ": reg is not (2 address + 2 size cells) entries");
        for (int i = 0; i < len / 4; i += 4) {
            const std::uint64_t base = std::uint64_t{fdt32_to_cpu(reg[i])} << 32 | fdt32_to_cpu(reg[i + 1]);
            const std::uint64_t size = std::uint64_t{fdt32_to_cpu(reg[i + 2])} << 32 | fdt32_to_cpu(reg[i + 3]);
            if (base + size < base || base + size > std::uint64_t{1} << l.ipa_bits)
                broken(name + ": reg beyond the window");
            if (name.starts_with("memory@"))
                memory += size;
        }
    }
    if (memory != s.ram_size)
        broken("the memory nodes describe " + std::to_string(memory) + " bytes of RAM");
}

} // namespace
} // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    using namespace strata;
    fuzz::Input in(data, size);
    const auto spec = fuzz::spec_from(in);
    const auto caps = fuzz::caps_from(in);
    fdt::BootConfig boot;
    const auto boot_bits = in.take<std::uint8_t>();
    if (boot_bits & 1) {
        const auto seed = in.bytes(in.below(65));
        boot.rng_seed.assign(seed.begin(), seed.end());
    }
    if (boot_bits & 2) {
        const auto seed = in.take<std::uint64_t>();
        boot.kaslr_seed.resize(8);
        std::memcpy(boot.kaslr_seed.data(), &seed, 8);
    }
    if (boot_bits & 4)
        boot.stdout_path = fuzz::text(in.bytes(in.below(64)));
    boot.bootargs = fuzz::text(in.rest());
    try {
        const auto layout = fdt::plan(spec, caps);
        fuzz::check_map(spec, layout);
        (void)fdt::describe(layout);
        (void)fdt::to_json(layout);
        fuzz::check_dtb(spec, layout, fdt::build(layout, boot));
    } catch (const fdt::PlanError &) {
    }
    return 0;
}
