// Fuzz target: the stage-2 walker (nested/) on arbitrary VTCR_EL2, VTTBR_EL2,
// PARange and tables. The tables are the input's bytes in a 64 KiB region of
// guest memory at 0x4000'0000 (a bounded walk: every table lies there or is
// unreadable). Checked, besides no crash: the raw-register walk equals the
// decoded one; a translation keeps the page offset, lies below the output
// size and is one page or block of its level; compose() agrees with the walk;
// every range enumerate_stage2() lists translates, first and last byte, to
// where it says (the two walks share only the descriptor decoding); trace
// runs.
//
// Input: vtcr u64, vttbr u64, pa_bits u8, window_bits u8, then 16 probes
// (ipa u64, access u8), then the region's bytes (zero-padded).
#include "nested/stage2.hpp"
#include "nested/trace.hpp"
#include "tests/fuzz/input.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace strata::fuzz {
namespace {

constexpr std::uint64_t ram_base = 0x4000'0000, ram_size = 64 << 10;

[[noreturn]] void broken(const std::string &what, std::uint64_t ipa) {
    std::fprintf(stderr, "stage-2 invariant broken at IPA %#llx: %s\n", static_cast<unsigned long long>(ipa),
                 what.c_str());
    std::abort();
}

void check_walk(const GuestMemory &memory, const nested::Stage2Registers &regs, unsigned pa_bits,
                const boost::system::result<nested::Stage2Config> &config, std::uint64_t ipa, nested::Access access,
                unsigned window_bits) {
    const auto raw = nested::walk_stage2(memory, regs, pa_bits, ipa, access);
    if (!config) {
        if (raw || raw.error() != nested::Fault{nested::FaultKind::translation, 0})
            broken("an inconsistent VTCR_EL2 did not fault at level 0", ipa);
        return;
    }
    const auto walked = nested::walk_stage2(memory, *config, ipa, access);
    if (raw != walked)
        broken("the raw-register walk differs from the decoded one", ipa);
    const auto composed = nested::compose(memory, *config, ipa, access, window_bits);
    if (composed.has_value() != walked.has_value() ||
        (walked && (composed->translation != *walked ||
                    composed->beyond_window != (window_bits < 64 && walked->output.value >> window_bits != 0))) ||
        (!walked && composed.error() != walked.error()))
        broken("compose() differs from the walk", ipa);
    if (!walked) {
        if (walked.error().level > 3)
            broken("a fault at level " + std::to_string(walked.error().level), ipa);
        return;
    }
    const auto &t = *walked;
    if (t.level < config->start_level || t.level > 3 || t.size != std::uint64_t{1} << config->level_shift(t.level))
        broken("a leaf of the wrong level or size", ipa);
    if ((t.output.value & (t.size - 1)) != (ipa & (t.size - 1)))
        broken("the output lost the page offset", ipa);
    if (config->output_bits < 64 && t.output.value >> config->output_bits != 0)
        broken("an output beyond the output size", ipa);
    if (!nested::allows(t.perms, access))
        broken("a translation for an access its S2AP forbids", ipa);
}

void check_enumeration(const GuestMemory &memory, const nested::Stage2Config &config) {
    const auto map = nested::enumerate_stage2(memory, config);
    std::uint64_t next = 0;
    for (const auto &r : map.ranges) {
        if (r.size == 0 || r.input < next || r.input + r.size < r.input)
            broken("ranges not ascending, empty or wrapping", r.input);
        next = r.input + r.size;
        for (const std::uint64_t offset : {std::uint64_t{0}, r.size - 1}) {
            const auto access =
                nested::allows(r.perms, nested::Access::read) ? nested::Access::read : nested::Access::write;
            const auto t = nested::walk_stage2(memory, config, r.input + offset, access);
            if (r.perms == nested::S2Perm::none) {
                if (t || t.error().kind != nested::FaultKind::permission)
                    broken("a range listed without permissions does not fault on permission", r.input + offset);
            } else if (!t || t->output.value != r.output.value + offset || t->perms != r.perms) {
                broken("a listed range does not translate where it says", r.input + offset);
            }
        }
    }
}

} // namespace
} // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    using namespace strata;
    static GuestMemory memory = [] {
        GuestMemory m;
        m.add("l1-ram", GuestAddress{fuzz::ram_base}, fuzz::ram_size);
        return m;
    }();
    fuzz::Input in(data, size);
    const nested::Stage2Registers regs{in.take<std::uint64_t>(), in.take<std::uint64_t>()};
    const unsigned pa_bits = in.take<std::uint8_t>() % 64;
    const unsigned window_bits = in.take<std::uint8_t>() % 65;
    struct Probe {
        std::uint64_t ipa;
        nested::Access access;
    };
    std::array<Probe, 16> probes;
    for (auto &p : probes)
        p = {in.take<std::uint64_t>(), in.flag() ? nested::Access::write : nested::Access::read};
    auto ram = memory.span(GuestAddress{fuzz::ram_base}, fuzz::ram_size).value();
    const auto tables = in.bytes(fuzz::ram_size);
    std::memcpy(ram.data(), tables.data(), tables.size());
    std::memset(ram.data() + tables.size(), 0, ram.size() - tables.size());

    const auto config = nested::decode_stage2(regs, pa_bits);
    for (const auto &p : probes)
        fuzz::check_walk(memory, regs, pa_bits, config, p.ipa, p.access, window_bits);
    if (config)
        fuzz::check_enumeration(memory, *config);
    (void)nested::trace_stage2(memory, regs, pa_bits, window_bits);
    return 0;
}
