// A generated matrix of machines, checked for the planner's invariants against
// an oracle written from the documented maps (not from the planner):
//   - a plan exists exactly when the map fits the window asked for, and the
//     error otherwise names both numbers and says what to use instead;
//   - every region, and every reg property of the DTB, lies below 2^N;
//   - no two regions overlap; what lies in RAM lies inside one bank;
//   - the RAM banks (and the memory nodes) add up to the RAM asked for;
//   - `auto` is minimal; the --mem a message suggests is the largest that fits;
//   - every DTB passes fdt_check_full and decompiles with dtc without warnings.
// Axes, with their edges: RAM 16 MiB .. 1 TiB (around the 3 GiB x86 hole, the
// 4 GiB line and the 40-bit legacy window), vCPUs 1 .. the GIC maximum (+1),
// virtio 0 .. 32 (+1), host limits 32 .. 52, requests auto/max/0/N.

#include "support.hpp"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <gtest/gtest.h>
#include <libfdt.h>
#include <optional>

namespace strata::fdt::test {
namespace {

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

std::string describe_case(const MachineSpec &s, const std::string &request, unsigned limit) {
    return std::string(name(s.arch)) + (s.arch == Arch::aarch64 ? s.gic == GicVersion::v3 ? " gicv3" : " gicv2" : "") +
           (s.el2 ? " el2" : "") + " ram=" + hex(s.ram_size) + (s.ram_base ? " base=" + hex(*s.ram_base) : "") +
           " cpus=" + std::to_string(s.cpus) + " virtio=" + std::to_string(s.virtio.size()) +
           " initrd=" + std::to_string(s.initrd_size) + " --ipa-bits " + request + " limit=" + std::to_string(limit);
}

// ---- the oracle

std::uint64_t expected_top(const MachineSpec &s) {
    if (s.arch == Arch::x86_64) {
        const std::uint64_t lapic_end = 0xFEE0'1000;
        return s.ram_size > 3 * GiB ? s.ram_size + 1 * GiB : lapic_end;
    }
    return s.ram_base.value_or(1 * GiB) + s.ram_size; // all devices lie below 1 GiB
}

unsigned need_bits(std::uint64_t top) { return std::max(32u, static_cast<unsigned>(std::bit_width(top - 1))); }

bool spec_fits_controllers(const MachineSpec &s) {
    return s.cpus >= 1 && s.cpus <= max_cpus(s.arch, s.gic) && s.virtio.size() <= max_virtio(s.arch);
}

// The window the request gets, or nullopt when the map cannot fit it.
std::optional<unsigned> expected_window(const MachineSpec &s, unsigned limit) {
    const unsigned need = need_bits(expected_top(s));
    switch (s.ipa.kind) {
    case IpaRequest::Kind::automatic: return need <= limit ? std::optional(need) : std::nullopt;
    case IpaRequest::Kind::max: return need <= limit ? std::optional(limit) : std::nullopt;
    case IpaRequest::Kind::exact: {
        const unsigned n = s.ipa.bits;
        return n >= 32 && n <= limit && need <= n ? std::optional(n) : std::nullopt;
    }
    case IpaRequest::Kind::legacy: return limit >= 40 && need <= 40 ? std::optional(40u) : std::nullopt;
    }
    return std::nullopt;
}

// The start of the one sentence each failure must produce.
std::string expected_message_start(const MachineSpec &s, unsigned limit) {
    const unsigned need = need_bits(expected_top(s));
    const std::string needs = "the memory map needs " + std::to_string(need) + " bits (its highest address is " +
                              hex(expected_top(s) - 1) + ") but ";
    const std::string lim = s.arch == Arch::aarch64 ? "IPA limit" : "physical address limit";
    const std::string over_host =
        s.ram_base ? "RAM of " : needs + "this host's " + lim + " is " + std::to_string(limit) + " bits: use --mem ";
    switch (s.ipa.kind) {
    case IpaRequest::Kind::automatic:
    case IpaRequest::Kind::max: return over_host;
    case IpaRequest::Kind::exact: {
        const std::string asked = "--ipa-bits " + std::to_string(s.ipa.bits);
        if (s.ipa.bits < 32)
            return asked + " is below the smallest window of 32 bits";
        if (s.ipa.bits > limit)
            return asked + " is above this host's " + lim + " of " + std::to_string(limit);
        return needs + asked + " was asked: use ";
    }
    case IpaRequest::Kind::legacy:
        if (limit < 40)
            return "--ipa-bits 0 (legacy) means 40 bits but this host's " + lim;
        return needs + "--ipa-bits 0 (legacy) gives 40 bits: use ";
    }
    return "?";
}

// ---- the checks

void expect_map_invariants(const MachineSpec &s, const Layout &l, unsigned window) {
    const std::uint64_t limit = 1ull << window;
    std::uint64_t ram_total = 0;
    for (const auto &bank : l.ram)
        ram_total += bank.size;
    EXPECT_EQ(ram_total, s.ram_size);
    EXPECT_TRUE(std::is_sorted(l.ram.begin(), l.ram.end(), [](auto &a, auto &b) { return a.base < b.base; }));

    std::vector<Region> placed, inside;
    for (const auto &r : l.regions) {
        EXPECT_GT(r.size, 0u) << r.name;
        EXPECT_LE(r.end(), limit) << r.name << " above 2^" << window;
        (r.kind == RegionKind::in_ram ? inside : placed).push_back(r);
    }
    for (std::size_t i = 1; i < placed.size(); ++i)
        EXPECT_LE(placed[i - 1].end(), placed[i].base) << placed[i - 1].name << " overlaps " << placed[i].name;
    for (std::size_t i = 0; i < inside.size(); ++i) {
        const auto &r = inside[i];
        EXPECT_TRUE(std::any_of(l.ram.begin(), l.ram.end(),
                                [&](const Region &b) { return b.base <= r.base && r.end() <= b.end(); }))
            << r.name << " is not inside one RAM bank";
        for (std::size_t j = i + 1; j < inside.size(); ++j)
            EXPECT_TRUE(r.end() <= inside[j].base || inside[j].end() <= r.base)
                << r.name << " overlaps " << inside[j].name;
    }
    EXPECT_EQ(l.virtio.size(), s.virtio.size());
    EXPECT_EQ(l.cpus, s.cpus);
}

// Every reg of the root's children (2 address + 2 size cells) below 2^N, and
// the memory nodes adding up to the RAM asked for.
void expect_dtb_invariants(const MachineSpec &s, const Layout &l, const std::vector<std::uint8_t> &dtb) {
    ASSERT_EQ(fdt_check_full(dtb.data(), dtb.size()), 0);
    const void *fdt = dtb.data();
    std::uint64_t memory = 0;
    int node = 0;
    fdt_for_each_subnode(node, fdt, 0) {
        int len = 0;
        const auto *reg = static_cast<const fdt32_t *>(fdt_getprop(fdt, node, "reg", &len));
        if (reg == nullptr)
            continue;
        ASSERT_EQ(len % 16, 0) << fdt_get_name(fdt, node, nullptr);
        for (int i = 0; i < len / 4; i += 4) {
            const std::uint64_t base = std::uint64_t{fdt32_to_cpu(reg[i])} << 32 | fdt32_to_cpu(reg[i + 1]);
            const std::uint64_t size = std::uint64_t{fdt32_to_cpu(reg[i + 2])} << 32 | fdt32_to_cpu(reg[i + 3]);
            EXPECT_LE(base + size, 1ull << l.ipa_bits) << fdt_get_name(fdt, node, nullptr);
            if (std::string_view(fdt_get_name(fdt, node, nullptr)).starts_with("memory@"))
                memory += size;
        }
    }
    EXPECT_EQ(memory, s.ram_size);
    const auto ipa = cells(dtb, "/chosen", "strata,ipa-bits");
    EXPECT_EQ(ipa, std::vector<std::uint32_t>{l.ipa_bits});
}

// A message's "--mem X or less" must name the largest RAM (in MiB) that fits.
void expect_largest_mem(MachineSpec s, unsigned limit, const std::string &message) {
    const auto at = message.find("--mem ");
    if (at == std::string::npos || s.ram_base)
        return;
    unsigned long long value = 0;
    char unit = 0;
    ASSERT_EQ(std::sscanf(message.c_str() + at, "--mem %llu%c", &value, &unit), 2) << message;
    const std::uint64_t suggested = value * (unit == 'T' ? 1024 * GiB : unit == 'G' ? GiB : MiB);
    s.ram_size = suggested;
    EXPECT_TRUE(expected_window(s, limit)) << message;
    s.ram_size = suggested + MiB;
    EXPECT_FALSE(expected_window(s, limit)) << message;
}

// ---- the axes

struct Machine {
    Arch arch;
    GicVersion gic;
    bool el2;
    std::optional<std::uint64_t> ram_base;
};

std::vector<MachineSpec> machines() {
    const std::vector<Machine> kinds{
        {Arch::x86_64, GicVersion::v3, false, std::nullopt},  {Arch::aarch64, GicVersion::v3, false, std::nullopt},
        {Arch::aarch64, GicVersion::v2, false, std::nullopt}, {Arch::aarch64, GicVersion::v3, true, std::nullopt},
        {Arch::aarch64, GicVersion::v3, false, 8 * GiB},
    };
    const std::vector<std::uint64_t> rams{16 * MiB, 1 * GiB,   3 * GiB,    3 * GiB + 2 * MiB, 4 * GiB,
                                          64 * GiB, 255 * GiB, 1023 * GiB, 1024 * GiB};
    std::vector<MachineSpec> out;
    for (const auto &k : kinds) {
        const unsigned top_cpus = max_cpus(k.arch, k.gic);
        const unsigned top_virtio = max_virtio(k.arch);
        for (auto ram : rams)
            for (unsigned cpus : {1u, 2u, top_cpus, top_cpus + 1})
                for (unsigned virtio : {0u, 1u, top_virtio, top_virtio + 1}) {
                    MachineSpec s = machine(k.arch, ram, cpus, virtio);
                    s.gic = k.gic;
                    s.el2 = k.el2;
                    s.ram_base = k.ram_base;
                    s.initrd_size = ram >= 1 * GiB && cpus == 2 ? 16 * MiB + 1 : 0;
                    out.push_back(s);
                }
    }
    return out;
}

const std::vector<std::string> kRequests{"auto", "max", "0", "31", "32", "36", "40", "44", "48", "52"};

TEST(PlanMatrix, PlansExactlyWhenTheMapFitsAndKeepsEveryInvariant) {
    unsigned planned = 0, refused = 0;
    for (MachineSpec s : machines()) {
        for (const auto &request : kRequests) {
            s.ipa = parse_ipa_request(request);
            for (unsigned limit = 32; limit <= 52; ++limit) {
                SCOPED_TRACE(describe_case(s, request, limit));
                const bool controllers = spec_fits_controllers(s);
                const auto window = expected_window(s, limit);
                try {
                    const Layout l = plan(s, host(limit));
                    ++planned;
                    ASSERT_TRUE(controllers && window) << "planned a map that cannot fit";
                    EXPECT_EQ(l.ipa_bits, *window);
                    EXPECT_EQ(l.vm_type_bits, s.arch == Arch::x86_64 || request == "0" ? 0u : *window);
                    expect_map_invariants(s, l, *window);
                    if (request == "auto") {
                        EXPECT_TRUE(l.ipa_bits == 32 || expected_top(s) > 1ull << (l.ipa_bits - 1)) << "not minimal";
                    }
                } catch (const PlanError &e) {
                    ++refused;
                    const std::string what = e.what();
                    ASSERT_TRUE(!controllers || !window) << "refused a map that fits: " << what;
                    if (!controllers) {
                        EXPECT_NE(what.find("were asked for"), std::string::npos) << what;
                        continue;
                    }
                    EXPECT_EQ(what.rfind(expected_message_start(s, limit), 0), 0u) << what;
                    EXPECT_EQ(std::count(what.begin(), what.end(), ':'), 1) << "one sentence, one way out: " << what;
                    if (limit == 40 || limit == 36)
                        expect_largest_mem(s, limit, what);
                }
            }
        }
    }
    EXPECT_GT(planned, 10'000u);
    EXPECT_GT(refused, 10'000u);
}

TEST(PlanMatrix, EveryMachinesDtbIsValidAndDecompilesWithoutWarnings) {
    unsigned built = 0;
    for (const MachineSpec &s : machines()) {
        if (!spec_fits_controllers(s))
            continue;
        SCOPED_TRACE(describe_case(s, "auto", 52));
        const Layout l = plan(s, host(52));
        const auto dtb = build(l, boot_config());
        expect_dtb_invariants(s, l, dtb);
        const Dtc out = decompile(dtb);
        EXPECT_EQ(out.status, 0);
        EXPECT_EQ(out.warnings, "");
        ++built;
    }
    EXPECT_GT(built, 100u);
}

} // namespace
} // namespace strata::fdt::test
