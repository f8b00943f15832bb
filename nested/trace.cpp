// The --trace-s2 report.
#include "nested/trace.hpp"

#include <cstdio>

namespace strata::nested {

namespace {
const char *perm_name(S2Perm p) {
    switch (p) {
    case S2Perm::none: return "--";
    case S2Perm::read_only: return "r-";
    case S2Perm::write_only: return "-w";
    case S2Perm::read_write: return "rw";
    }
    return "??";
}
} // namespace

std::string trace_stage2(const GuestMemory &memory, const Stage2Registers &regs, unsigned pa_range,
                         unsigned window_bits) {
    char line[200];
    std::snprintf(line, sizeof line,
                  "stage-2 of the guest hypervisor: VTCR_EL2=%#llx VTTBR_EL2=%#llx, PARange %u bits, "
                  "strata's IPA window %u bits\n",
                  static_cast<unsigned long long>(regs.vtcr), static_cast<unsigned long long>(regs.vttbr), pa_range,
                  window_bits);
    std::string out = line;
    auto config = decode_stage2(regs, pa_range);
    if (!config)
        return out + "  no usable stage-2: " + config.error().message() + "\n";
    // The decode the walk follows: the input size is the guest's IPA size.
    std::snprintf(line, sizeof line,
                  "  VTCR_EL2 decoded: %u KiB granule, %u-bit input (T0SZ %u), %u-bit output, walk from level %u\n",
                  (1u << granule_shift(config->granule)) >> 10, config->input_bits, 64 - config->input_bits,
                  config->output_bits, config->start_level);
    out += line;
    const Stage2Map map = enumerate_stage2(memory, *config);
    const std::uint64_t window_end = window_bits >= 64 ? UINT64_MAX : (std::uint64_t{1} << window_bits);
    std::size_t beyond = 0;
    for (const auto &r : map.ranges) {
        const bool outside = r.output.value + r.size > window_end;
        beyond += outside;
        std::snprintf(line, sizeof line, "  IPA %#014llx -> %#014llx  %#12llx bytes  %s%s\n",
                      static_cast<unsigned long long>(r.input), static_cast<unsigned long long>(r.output.value),
                      static_cast<unsigned long long>(r.size), perm_name(r.perms), outside ? "  BEYOND WINDOW" : "");
        out += line;
    }
    std::snprintf(line, sizeof line, "  %zu range%s mapped, %zu beyond the window%s\n", map.ranges.size(),
                  map.ranges.size() == 1 ? "" : "s", beyond, map.truncated ? " (walk truncated)" : "");
    return out + line;
}

} // namespace strata::nested
