// Device-tree generation from a Layout (libfdt's sequential-write API).
#pragma once

#include "fdt/layout.hpp"
#include "fdt/plan_error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace strata::fdt {

// What the guest is told beyond the map. The seeds come from the caller (the
// CLI reads getrandom) so that tests get the same bytes every time; empty seeds
// are left out. kaslr_seed is 8 bytes when given.
struct BootConfig {
    std::string bootargs;
    std::string stdout_path; // empty: the PL011 on aarch64, none on x86_64
    std::vector<std::uint8_t> rng_seed;
    std::vector<std::uint8_t> kaslr_seed;
};

// The DTB bytes; throws PlanError when they exceed layout.dtb.size.
std::vector<std::uint8_t> build(const Layout &layout, const BootConfig &boot);

} // namespace strata::fdt
