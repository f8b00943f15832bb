// Lookups on a Layout, and the size of the x86_64 boot page tables the
// planner checks and the x86_64 backend writes (one formula for both).
#include "fdt/layout.hpp"

#include <algorithm>

namespace strata::fdt {

const Region *Layout::find(std::string_view n) const {
    auto it = std::find_if(regions.begin(), regions.end(), [&](const Region &r) { return r.name == n; });
    return it == regions.end() ? nullptr : &*it;
}

const PortRange *Layout::find_port(std::string_view n) const {
    auto it = std::find_if(ports.begin(), ports.end(), [&](const PortRange &p) { return p.name == n; });
    return it == ports.end() ? nullptr : &*it;
}

std::uint64_t Layout::map_end() const {
    std::uint64_t end = 0;
    for (const auto &r : regions)
        end = std::max(end, r.end());
    return end;
}

BootTables Layout::boot_tables() const {
    constexpr std::uint64_t page = 0x1000, gib = 1ull << 30, pdpt_span = 512 * gib;
    BootTables t;
    t.end = map_end();
    t.pdpts = (t.end + pdpt_span - 1) / pdpt_span;
    t.gibs = (t.end + gib - 1) / gib;
    t.pages_1g = host.pages_1g;
    t.bytes = BootTables::tables_offset + (t.pdpts + (t.pages_1g ? 0 : t.gibs)) * page;
    if (t.pdpts > 512) // one PML4 page holds 512 PDPTs
        t.bytes = UINT64_MAX;
    return t;
}

} // namespace strata::fdt
