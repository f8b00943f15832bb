// The stage-2 walker: decode, walk, compose, enumerate. See stage2.hpp for
// the walk diagram and the choices made where the architecture leaves one.
#include "nested/stage2.hpp"

#include "fdt/parange.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace strata::nested {

namespace {

struct ConfigCategory : std::error_category {
    const char *name() const noexcept override { return "stage2-config"; }
    std::string message(int e) const override {
        switch (static_cast<Stage2ConfigError>(e)) {
        case Stage2ConfigError::reserved_granule: return "VTCR_EL2.TG0 is the reserved encoding 0b11";
        case Stage2ConfigError::unsupported_lpa2:
            return "VTCR_EL2.DS or SL2 is set, but 52-bit (LPA2) stage 2 is not modelled";
        case Stage2ConfigError::t0sz_out_of_range: return "VTCR_EL2.T0SZ is outside 16..39";
        case Stage2ConfigError::input_exceeds_pa: return "VTCR_EL2.T0SZ gives an IPA wider than the PA size";
        case Stage2ConfigError::invalid_start_level: return "VTCR_EL2.SL0 is reserved for this granule or PA size";
        case Stage2ConfigError::inconsistent_start_level:
            return "VTCR_EL2.SL0 and T0SZ need fewer than 1 or more than 16 start tables";
        }
        return "unknown stage-2 configuration error";
    }
};

constexpr std::uint64_t bits_from(unsigned lo, unsigned hi) { // mask of [hi:lo], hi < 64
    return (hi == 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (hi + 1)) - 1) & ~((std::uint64_t{1} << lo) - 1);
}

constexpr unsigned max_pa_bits = 48; // no FEAT_LPA / LPA2 modelled
constexpr std::uint64_t desc_valid = 1u << 0;
constexpr std::uint64_t desc_table = 1u << 1;
constexpr std::uint64_t desc_af = 1u << 10;
constexpr unsigned s2ap_shift = 6;

unsigned first_block_level(Granule g) { return g == Granule::k4 ? 1 : 2; }

// Bits [47:outsize] of an address-bearing descriptor, and for 64 KiB the
// OA[51:48] field in [15:12]: any set bit is beyond a <= 48-bit output size.
bool output_out_of_range(const Stage2Config &c, std::uint64_t desc) {
    if (c.granule == Granule::k64 && (desc & bits_from(12, 15)) != 0)
        return true;
    return c.output_bits < 48 && (desc & bits_from(c.output_bits, 47)) != 0;
}

// What one descriptor means at one level; walk and enumerate share it.
struct Decoded {
    enum class Type : std::uint8_t { fault, table, leaf } type = Type::fault;
    Fault fault;
    std::uint64_t next = 0; // table: next-level table address; leaf: output base
};

Decoded decode(const Stage2Config &c, std::uint64_t desc, unsigned level) {
    unsigned g = granule_shift(c.granule);
    bool table_bit = (desc & desc_table) != 0;
    if ((desc & desc_valid) == 0 || (level == 3 && !table_bit) ||
        (level < 3 && !table_bit && level < first_block_level(c.granule)))
        return {Decoded::Type::fault, {FaultKind::translation, level}, 0};
    if (output_out_of_range(c, desc))
        return {Decoded::Type::fault, {FaultKind::address_size, level}, 0};
    if (level < 3 && table_bit)
        return {Decoded::Type::table, {}, desc & bits_from(g, 47)};
    return {Decoded::Type::leaf, {}, desc & bits_from(c.level_shift(level), 47)};
}

// The index bits a level resolves: all the rest of the input at the start
// level (1..stride+4 bits, so up to 16 concatenated tables), a stride below.
unsigned index_bits(const Stage2Config &c, unsigned level) {
    return level == c.start_level ? c.input_bits - c.level_shift(level) : granule_shift(c.granule) - 3;
}

S2Perm perms_of(std::uint64_t desc) { return static_cast<S2Perm>((desc >> s2ap_shift) & 3u); }

} // namespace

std::error_code make_error_code(Stage2ConfigError e) noexcept {
    static const ConfigCategory category;
    return {static_cast<int>(e), category};
}

const char *name(FaultKind kind) {
    switch (kind) {
    case FaultKind::translation: return "translation";
    case FaultKind::address_size: return "address size";
    case FaultKind::access_flag: return "access flag";
    case FaultKind::permission: return "permission";
    case FaultKind::walk_outside_ram: return "walk outside RAM";
    }
    return "unknown";
}

void throw_exception_from_error(const Fault &fault, const boost::source_location &) {
    throw std::runtime_error(std::string("stage-2 ") + name(fault.kind) + " fault at level " +
                             std::to_string(fault.level));
}

boost::system::result<Stage2Config> decode_stage2(const Stage2Registers &regs, unsigned pa_bits) {
    const std::uint64_t vtcr = regs.vtcr;
    Stage2Config c;
    switch ((vtcr >> 14) & 3u) {
    case 0b00: c.granule = Granule::k4; break;
    case 0b01: c.granule = Granule::k64; break;
    case 0b10: c.granule = Granule::k16; break;
    default: return std::error_code(Stage2ConfigError::reserved_granule);
    }
    if ((vtcr >> 32) & 3u)
        return std::error_code(Stage2ConfigError::unsupported_lpa2);
    auto t0sz = static_cast<unsigned>(vtcr & 0x3fu);
    if (t0sz < 16 || t0sz > 39)
        return std::error_code(Stage2ConfigError::t0sz_out_of_range);
    c.input_bits = 64 - t0sz;
    const unsigned pa = std::min(pa_bits, max_pa_bits);
    if (c.input_bits > pa)
        return std::error_code(Stage2ConfigError::input_exceeds_pa);

    // SL0 -> start level; the deepest-reaching encodings need a wide enough PA.
    auto sl0 = static_cast<unsigned>((vtcr >> 6) & 3u);
    if (sl0 == 3)
        return std::error_code(Stage2ConfigError::invalid_start_level);
    if (c.granule == Granule::k4) {
        c.start_level = 2 - sl0;
        if (sl0 == 2 && pa < 44)
            return std::error_code(Stage2ConfigError::invalid_start_level);
    } else {
        c.start_level = 3 - sl0;
        if (sl0 == 2 && pa < (c.granule == Granule::k16 ? 42u : 44u))
            return std::error_code(Stage2ConfigError::invalid_start_level);
    }
    // The start level must resolve at least one bit and at most a full
    // stride plus four (16 concatenated tables).
    const unsigned shift = c.level_shift(c.start_level);
    const unsigned stride = granule_shift(c.granule) - 3;
    if (c.input_bits <= shift || c.input_bits - shift > stride + 4)
        return std::error_code(Stage2ConfigError::inconsistent_start_level);
    const unsigned start_bits = c.input_bits - shift;
    c.start_entries = std::uint64_t{1} << start_bits;

    auto ps = parange_bits(static_cast<std::uint8_t>((vtcr >> 16) & 7u));
    c.output_bits = std::min(ps.value_or(pa), pa);
    c.table_base = regs.vttbr & bits_from(start_bits + 3, 47);
    return c;
}

WalkResult walk_stage2(const GuestMemory &memory, const Stage2Config &c, std::uint64_t ipa, Access access) {
    if ((ipa >> c.input_bits) != 0)
        return Fault{FaultKind::translation, 0};
    if (c.output_bits < 48 && (c.table_base >> c.output_bits) != 0)
        return Fault{FaultKind::address_size, 0};

    std::uint64_t table = c.table_base;
    for (unsigned level = c.start_level; level <= 3; ++level) {
        const unsigned shift = c.level_shift(level);
        const std::uint64_t index = (ipa >> shift) & ((std::uint64_t{1} << index_bits(c, level)) - 1);
        auto desc = memory.read_obj<std::uint64_t>(GuestAddress{table + index * 8});
        if (!desc)
            return Fault{FaultKind::walk_outside_ram, level};
        // Descriptors are little-endian; strata's hosts (x86_64, arm64) are too.
        Decoded d = decode(c, *desc, level);
        if (d.type == Decoded::Type::fault)
            return d.fault;
        if (d.type == Decoded::Type::table) {
            table = d.next;
            continue;
        }
        if ((*desc & desc_af) == 0)
            return Fault{FaultKind::access_flag, level};
        const S2Perm perms = perms_of(*desc);
        if (!allows(perms, access))
            return Fault{FaultKind::permission, level};
        const std::uint64_t size = std::uint64_t{1} << shift;
        return Translation{GuestAddress{d.next | (ipa & (size - 1))}, level, size, perms};
    }
    return Fault{FaultKind::translation, 3}; // unreachable: level 3 never yields a table
}

WalkResult walk_stage2(const GuestMemory &memory, const Stage2Registers &regs, unsigned pa_bits, std::uint64_t ipa,
                       Access access) {
    auto config = decode_stage2(regs, pa_bits);
    if (!config)
        return Fault{FaultKind::translation, 0};
    return walk_stage2(memory, *config, ipa, access);
}

boost::system::result<Composed, Fault> compose(const GuestMemory &l1_memory, const Stage2Config &l1_stage2,
                                               std::uint64_t l2_ipa, Access access, unsigned l1_window_bits) {
    auto t = walk_stage2(l1_memory, l1_stage2, l2_ipa, access);
    if (!t)
        return t.error();
    bool beyond = l1_window_bits < 64 && (t->output.value >> l1_window_bits) != 0;
    return Composed{*t, beyond};
}

namespace {

class Enumerator {
public:
    Enumerator(const GuestMemory &memory, const Stage2Config &config, const Stage2Limits &limits)
        : memory_(memory), c_(config), limits_(limits) {}

    Stage2Map run() {
        if (c_.output_bits < 48 && (c_.table_base >> c_.output_bits) != 0)
            return std::move(map_);
        visit(c_.table_base, c_.start_level, 0);
        return std::move(map_);
    }

private:
    // Walks one table covering inputs from `input`; returns false once a
    // limit stops the whole enumeration.
    bool visit(std::uint64_t table, unsigned level, std::uint64_t input) {
        if (!visited_.insert(table).second) {
            ++map_.shared_tables;
            return true;
        }
        const unsigned shift = c_.level_shift(level);
        const std::uint64_t entries = std::uint64_t{1} << index_bits(c_, level);
        bool unreadable = false;
        for (std::uint64_t i = 0; i < entries; ++i) {
            if (map_.descriptors_read == limits_.max_descriptors) {
                map_.truncated = true;
                return false;
            }
            ++map_.descriptors_read;
            auto desc = memory_.read_obj<std::uint64_t>(GuestAddress{table + i * 8});
            if (!desc) {
                unreadable = true;
                continue;
            }
            const std::uint64_t in = input | (i << shift);
            Decoded d = decode(c_, *desc, level);
            if (d.type == Decoded::Type::fault) {
                if (d.fault.kind == FaultKind::address_size)
                    ++map_.faulting_entries;
                continue;
            }
            if (d.type == Decoded::Type::table) {
                if (!visit(d.next, level + 1, in))
                    return false;
                continue;
            }
            if ((*desc & desc_af) == 0) {
                ++map_.faulting_entries;
                continue;
            }
            if (!add({in, GuestAddress{d.next}, std::uint64_t{1} << shift, perms_of(*desc)}))
                return false;
        }
        if (unreadable)
            ++map_.unreadable_tables;
        return true;
    }

    bool add(const MappedRange &r) {
        auto &ranges = map_.ranges;
        if (!ranges.empty()) {
            MappedRange &last = ranges.back();
            if (last.perms == r.perms && last.input + last.size == r.input &&
                last.output.value + last.size == r.output.value) {
                last.size += r.size;
                return true;
            }
        }
        if (ranges.size() == limits_.max_ranges) {
            map_.truncated = true;
            return false;
        }
        ranges.push_back(r);
        return true;
    }

    const GuestMemory &memory_;
    const Stage2Config &c_;
    const Stage2Limits &limits_;
    Stage2Map map_;
    std::unordered_set<std::uint64_t> visited_;
};

} // namespace

Stage2Map enumerate_stage2(const GuestMemory &memory, const Stage2Config &config, const Stage2Limits &limits) {
    return Enumerator(memory, config, limits).run();
}

} // namespace strata::nested
