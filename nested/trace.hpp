// `strata run --el2 --trace-s2`: the translations a guest hypervisor's
// stage-2 maps, read from its VTTBR_EL2/VTCR_EL2 and walked in strata's guest
// memory, with every output at or beyond strata's own IPA window flagged
// (the guest hypervisor handed its guests addresses it cannot back).
#pragma once

#include "nested/stage2.hpp"

#include <string>

namespace strata::nested {

// A report (one line per mapped range, then a summary), or why there is none.
std::string trace_stage2(const GuestMemory &memory, const Stage2Registers &regs, unsigned pa_range,
                         unsigned window_bits);

} // namespace strata::nested
