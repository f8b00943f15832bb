// A software walker for an Armv8 stage-2 translation regime, as a guest
// hypervisor (L1) programs it for its own guest (L2): VTCR_EL2 and VTTBR_EL2
// in, the L1 IPA (or the architectural fault) out. The tables live in L1's
// memory, which is strata's GuestMemory, and are hostile: every read goes
// through the checked accessor and a bad one is a value, never a crash.
//
// Spec: Arm ARM D8 "The AArch64 Virtual Memory System Architecture" (stage 2
// initial lookup level and concatenation, descriptor formats), VTCR_EL2,
// VTTBR_EL2, and the AArch64 translation pseudocode for fault order and level.
//
// The walk, 4 KiB granule, T0SZ = 24 (40-bit IPA), SL0 = 0b01 (start level 1):
//
//   L2 IPA   63       40 39      30 29      21 20      12 11        0
//           +-----------+----------+----------+----------+-----------+
//           | must be 0 | L1 index | L2 index | L3 index |  offset   |
//           +-----------+----------+----------+----------+-----------+
//                        10 bits:   9 bits     9 bits
//                        1024 entries = 2 concatenated 4 KiB tables
//
//   VTTBR_EL2.BADDR[47:13]  (start table aligned to its 8 KiB)
//        |
//        v
//   [ level 1, 2 x 4 KiB ] --table--> [ level 2 ] --table--> [ level 3 ] --page--> OA[47:12] + IPA[11:0]
//        |                                 |
//        +--block (1 GiB)--> OA[47:30]     +--block (2 MiB)--> OA[47:21] + IPA[20:0]
//           + IPA[29:0]
//
//   Per granule (shift of each level's index; "B" marks where blocks exist):
//             level 0     level 1       level 2       level 3 (pages)
//     4 KiB   [47:39]     [38:30] B     [29:21] B     [20:12]
//     16 KiB  [47]        [46:36]       [35:25] B     [24:14]
//     64 KiB  -           [47:42]       [41:29] B     [28:16]
//
//   Every descriptor is a little-endian u64: bit 0 valid; bit 1 table/page
//   (1) or block (0, only where "B"; reserved at level 3); S2AP [7:6] (bit 6
//   read, bit 7 write); AF [10]; output address [47:granule] (64 KiB: bits
//   [15:12] are OA[51:48], always beyond a <= 48-bit output size here).
//
// Fault order per the pseudocode: configuration and input range (translation,
// level 0), VTTBR base beyond the output size (address size, level 0); then
// per descriptor: unreadable (walk_outside_ram), invalid or reserved or a
// block where the granule has none (translation), an address beyond the
// output size (address size); at the leaf: AF == 0 (access flag), then S2AP
// (permission). Each fault carries the level of the descriptor that caused it.
//
// Choices (where the architecture leaves one or strata does not model it):
// - An inconsistent VTCR_EL2 faults every access as a translation fault at
//   level 0, as the pseudocode does; decode_stage2() also names the reason
//   (Stage2ConfigError) for tracing.
// - An input address at or above 2^(64 - T0SZ) is a translation fault at
//   level 0 (pseudocode), not at the start level.
// - No FEAT_LPA/LPA2 (52-bit), FEAT_TTST (small tables) or FEAT_D128: T0SZ
//   must be 16..39, VTCR_EL2.DS [32] and SL2 [33] must be 0, 4 KiB SL0 = 0b11
//   and 16/64 KiB SL0 = 0b11 are invalid, and the output size is
//   min(PS, pa_bits, 48). TG0 = 0b11 (reserved) is a configuration fault.
// - T0SZ implying an IPA wider than pa_bits: the CONSTRAINED UNPREDICTABLE
//   choice "fault" (Stage2ConfigError::input_exceeds_pa).
// - A descriptor that cannot be read (not wholly inside one RAM region) is
//   FaultKind::walk_outside_ram, the synchronous external abort on a walk,
//   at the level of the descriptor being read: the start level for a bad
//   VTTBR, level L+1 for a level-L table descriptor pointing outside RAM.
// - VTTBR_EL2.BADDR bits below the start table's alignment are ignored
//   (treated as 0); VMID [63:48] and CnP [0] are ignored.
// - Not modelled: execute permission (XN), memory attributes, the contiguous
//   hint, hardware AF/dirty updates (HA/HD): the walker never writes.
#pragma once

#include "vmm/guest_memory.hpp"

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

namespace strata::nested {

enum class Granule : std::uint8_t { k4, k16, k64 };

// log2 of the granule size in bytes: 12, 14 or 16.
constexpr unsigned granule_shift(Granule g) {
    switch (g) {
    case Granule::k4: return 12;
    case Granule::k16: return 14;
    case Granule::k64: return 16;
    }
    return 12;
}

struct Stage2Registers {
    std::uint64_t vtcr = 0;
    std::uint64_t vttbr = 0;
};

enum class Stage2ConfigError : std::uint8_t {
    reserved_granule = 1,     // TG0 = 0b11
    unsupported_lpa2,         // DS or SL2 set
    t0sz_out_of_range,        // T0SZ outside 16..39
    input_exceeds_pa,         // 64 - T0SZ > pa_bits
    invalid_start_level,      // SL0 reserved for the granule or needs a wider PA
    inconsistent_start_level, // T0SZ needs < 1 or > 16 tables at the start level
};
std::error_code make_error_code(Stage2ConfigError) noexcept;

// A decoded, consistent stage-2 configuration.
struct Stage2Config {
    Granule granule = Granule::k4;
    unsigned input_bits = 0;         // 64 - T0SZ
    unsigned output_bits = 0;        // min(PS, pa_bits, 48)
    unsigned start_level = 0;        // 0..3
    std::uint64_t start_entries = 0; // descriptors in the (concatenated) start table
    std::uint64_t table_base = 0;    // VTTBR_EL2.BADDR, aligned to the start table

    // Lowest IPA bit resolved by a level's index.
    unsigned level_shift(unsigned level) const {
        unsigned g = granule_shift(granule);
        return g + (3 - level) * (g - 3);
    }
    // Granule-sized tables concatenated at the start level (1 if smaller).
    std::uint64_t concatenated() const {
        std::uint64_t per_table = std::uint64_t{1} << (granule_shift(granule) - 3);
        return start_entries > per_table ? start_entries / per_table : 1;
    }
    bool operator==(const Stage2Config &) const = default;
};

// pa_bits is the PA size the guest hypervisor sees (its PARange).
boost::system::result<Stage2Config> decode_stage2(const Stage2Registers &regs, unsigned pa_bits);

enum class Access : std::uint8_t { read, write };

// S2AP, bits [7:6] of a leaf: bit 6 allows reads, bit 7 writes.
enum class S2Perm : std::uint8_t { none = 0b00, read_only = 0b01, write_only = 0b10, read_write = 0b11 };

constexpr bool allows(S2Perm p, Access a) {
    auto bits = static_cast<unsigned>(p);
    return a == Access::read ? (bits & 1u) != 0 : (bits & 2u) != 0;
}

struct Translation {
    GuestAddress output;    // the L1 IPA
    unsigned level = 0;     // level of the leaf descriptor
    std::uint64_t size = 0; // bytes mapped by that leaf (page or block)
    S2Perm perms = S2Perm::none;
    bool operator==(const Translation &) const = default;
};

enum class FaultKind : std::uint8_t {
    translation,
    address_size,
    access_flag,
    permission,
    walk_outside_ram, // a descriptor read fell outside L1's RAM (external abort on walk)
};
const char *name(FaultKind kind);

struct Fault {
    FaultKind kind = FaultKind::translation;
    unsigned level = 0;
    bool operator==(const Fault &) const = default;
};

// So that result<T, Fault>::value() on a fault throws (std::runtime_error).
[[noreturn]] void throw_exception_from_error(const Fault &fault, const boost::source_location &loc);

using WalkResult = boost::system::result<Translation, Fault>;

// Translate an L2 IPA through a decoded configuration; tables are read from
// memory (L1's physical address space).
WalkResult walk_stage2(const GuestMemory &memory, const Stage2Config &config, std::uint64_t ipa, Access access);

// The same from raw registers, as the hardware would: an inconsistent
// configuration is a translation fault at level 0.
WalkResult walk_stage2(const GuestMemory &memory, const Stage2Registers &regs, unsigned pa_bits, std::uint64_t ipa,
                       Access access);

struct Composed {
    Translation translation;    // L2 IPA -> L1 IPA
    bool beyond_window = false; // the L1 IPA is at or above 2^window_bits: L1 cannot back it
    bool operator==(const Composed &) const = default;
};

// L2 IPA -> L1 IPA through L1's stage 2, then the L1 IPA against L1's own
// IPA window (strata's VM IPA size, in bits). An L1 IPA beyond the window
// is not a stage-2 fault of L1's tables; the access would be aborted by
// strata's own stage 2, so it is flagged rather than turned into a Fault.
boost::system::result<Composed, Fault> compose(const GuestMemory &l1_memory, const Stage2Config &l1_stage2,
                                               std::uint64_t l2_ipa, Access access, unsigned l1_window_bits);

struct MappedRange {
    std::uint64_t input = 0; // L2 IPA
    GuestAddress output;     // L1 IPA
    std::uint64_t size = 0;
    S2Perm perms = S2Perm::none;
    bool operator==(const MappedRange &) const = default;
};

struct Stage2Limits {
    std::size_t max_descriptors = std::size_t{1} << 20; // descriptor reads in all
    std::size_t max_ranges = std::size_t{1} << 16;      // merged ranges returned
};

struct Stage2Map {
    std::vector<MappedRange> ranges; // ascending input, adjacent equal runs merged
    std::size_t descriptors_read = 0;
    std::size_t shared_tables = 0;     // table references to a table already walked: not walked again
    std::size_t unreadable_tables = 0; // tables (or parts) outside RAM
    std::size_t faulting_entries = 0;  // valid entries that fault on any access (AF = 0, address size)
    bool truncated = false;            // a limit was hit; the list is a prefix
};

// Every leaf that translates (valid, AF = 1, output in range), in input
// order; S2AP = 0b00 leaves are listed with perms none. Bounded: each table
// is walked at most once (an aliased table is counted, not re-listed) and at
// most limits.max_descriptors descriptors are read.
Stage2Map enumerate_stage2(const GuestMemory &memory, const Stage2Config &config, const Stage2Limits &limits = {});

} // namespace strata::nested

template <>
struct std::is_error_code_enum<strata::nested::Stage2ConfigError> : std::true_type {};
