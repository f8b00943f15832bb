// The layout planner: MachineSpec + HostCaps -> Layout, choosing the physical
// address window (the IPA size on arm64) from the map. The maps themselves are
// documented in plan.cpp. Also the text forms the CLI needs (`strata plan`).
#pragma once

#include "fdt/layout.hpp"
#include "fdt/plan_error.hpp"

#include <string>
#include <string_view>

namespace strata::fdt {

// Throws PlanError (one sentence: what was asked, the limit, the way out).
Layout plan(const MachineSpec &spec, const HostCaps &host);

// The most vCPUs the interrupt controller's window holds: GICv3 by the
// redistributor window, GICv2 by the architecture (8). x86_64: xAPIC IDs.
unsigned max_cpus(Arch arch, GicVersion gic);
// The number of virtio-mmio slots (bounded by the free interrupt lines).
unsigned max_virtio(Arch arch);

// "auto", "max", "0" (legacy) or a number of bits; PlanError otherwise.
IpaRequest parse_ipa_request(std::string_view text);
// "x86_64" or "aarch64" (also "arm64", "x86-64", "amd64"); PlanError otherwise.
Arch parse_arch(std::string_view text);

std::string_view name(Arch arch);

// The human table of `strata plan` and the same content as JSON.
std::string describe(const Layout &layout);
std::string to_json(const Layout &layout);

} // namespace strata::fdt
