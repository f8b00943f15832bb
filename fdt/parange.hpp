// The ID_AA64MMFR0_EL1.PARange codec. PARange is what the CPU advertises, not
// what a VM can use: the IPA window actually backed is a separate number
// (DESIGN.md, "The one fact everything rests on"). The same 3-bit encoding
// sizes a stage-2's output in VTCR_EL2.PS, so the walker shares it.
//
// It lives in fdt/ (pure, depends on nothing) because the planner checks
// --pa-range with it, vmm/arch/aarch64 writes the register and nested/
// decodes VTCR_EL2.PS, and only fdt/ is visible to all three (DESIGN.md,
// dependency rules).
//
// Spec: Arm ARM D19 (ID_AA64MMFR0_EL1.PARange, bits [3:0]); encoding 0b0111
// (56 bits) exists only with FEAT_D128. Encodings 8..15 are reserved.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace strata {

inline constexpr std::array<unsigned, 8> parange_table{32, 36, 40, 42, 44, 48, 52, 56};

// Bits of physical address for an encoding, or nullopt for a reserved one.
constexpr std::optional<unsigned> parange_bits(std::uint8_t encoding) {
    if (encoding >= parange_table.size())
        return std::nullopt;
    return parange_table[encoding];
}

// The encoding for an exact bit count, or nullopt when the architecture has
// none (37 bits is not rounded to 40: a caller that wants rounding says so).
constexpr std::optional<std::uint8_t> parange_encoding(unsigned bits) {
    for (std::uint8_t e = 0; e < parange_table.size(); ++e)
        if (parange_table[e] == bits)
            return e;
    return std::nullopt;
}

inline constexpr std::uint64_t parange_mask = 0xf;

// The raw PARange field of a full ID_AA64MMFR0_EL1 value (may be reserved).
constexpr std::uint8_t parange_field(std::uint64_t mmfr0) { return static_cast<std::uint8_t>(mmfr0 & parange_mask); }

// mmfr0 with its PARange field replaced; every other field is kept. An
// encoding wider than the field is rejected rather than truncated.
constexpr std::optional<std::uint64_t> with_parange(std::uint64_t mmfr0, std::uint8_t encoding) {
    if (encoding > parange_mask)
        return std::nullopt;
    return (mmfr0 & ~parange_mask) | encoding;
}

// The advertised PA size of a full ID_AA64MMFR0_EL1 value.
constexpr std::optional<unsigned> parange_of(std::uint64_t mmfr0) { return parange_bits(parange_field(mmfr0)); }

} // namespace strata
