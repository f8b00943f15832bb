// The walker against a plain reference model: random granules, T0SZ/SL0,
// mappings (pages, blocks, permissions, AF) and broken entries are written as
// real tables and also kept in a std::map keyed by (level, region base). For
// thousands of input addresses the walker's result, faults and levels
// included, must equal the model's; so must the enumeration of mapped ranges.
// Fixed seed: a failure reproduces.
#include "nested/stage2.hpp"
#include "table_builder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

namespace strata::nested {
namespace {

using testing::leaf_desc;
using testing::table_desc;
using testing::TableBuilder;

constexpr std::uint64_t ram_base = 0x4000'0000;
constexpr std::uint64_t ram_size = 16 << 20;
constexpr std::uint64_t outside_ram = 0x1000'0000;

constexpr std::uint64_t bits_mask(unsigned lo, unsigned hi) {
    return ((std::uint64_t{1} << (hi + 1)) - 1) & ~((std::uint64_t{1} << lo) - 1);
}

struct Entry {
    enum class Kind : std::uint8_t { table, leaf, junk, reserved, bad_block, table_outside_ram, table_beyond_ps };
    Kind kind = Kind::table;
    std::uint64_t oa = 0;
    S2Perm perms = S2Perm::none;
    bool af = true;
};

struct Scenario {
    Granule granule = Granule::k4;
    unsigned gbits = 12, t0sz = 32, sl0 = 1, ps = 5;
    unsigned input_bits = 32, output_bits = 48, start_level = 1;
    unsigned shift(unsigned level) const { return gbits + (3 - level) * (gbits - 3); }
    unsigned first_block_level() const { return granule == Granule::k4 ? 1 : 2; }
};

// The model: what each (level, region) holds, nothing about descriptor bits.
class Reference {
public:
    explicit Reference(const Scenario &s) : s_(s) {}

    std::map<std::pair<unsigned, std::uint64_t>, Entry> entries;

    std::uint64_t base(std::uint64_t ipa, unsigned level) const {
        return ipa & ~((std::uint64_t{1} << s_.shift(level)) - 1);
    }

    WalkResult lookup(std::uint64_t ipa, Access access) const {
        if (ipa >= (std::uint64_t{1} << s_.input_bits))
            return Fault{FaultKind::translation, 0};
        for (unsigned level = s_.start_level; level <= 3; ++level) {
            auto it = entries.find({level, base(ipa, level)});
            if (it == entries.end())
                return Fault{FaultKind::translation, level};
            const Entry &e = it->second;
            switch (e.kind) {
            case Entry::Kind::table: continue;
            case Entry::Kind::junk:
            case Entry::Kind::reserved:
            case Entry::Kind::bad_block: return Fault{FaultKind::translation, level};
            case Entry::Kind::table_outside_ram: return Fault{FaultKind::walk_outside_ram, level + 1};
            case Entry::Kind::table_beyond_ps: return Fault{FaultKind::address_size, level};
            case Entry::Kind::leaf: break;
            }
            if (e.oa >= (std::uint64_t{1} << s_.output_bits))
                return Fault{FaultKind::address_size, level};
            if (!e.af)
                return Fault{FaultKind::access_flag, level};
            bool ok = access == Access::read ? (e.perms == S2Perm::read_only || e.perms == S2Perm::read_write)
                                             : (e.perms == S2Perm::write_only || e.perms == S2Perm::read_write);
            if (!ok)
                return Fault{FaultKind::permission, level};
            std::uint64_t size = std::uint64_t{1} << s_.shift(level);
            return Translation{GuestAddress{e.oa + (ipa - base(ipa, level))}, level, size, e.perms};
        }
        return Fault{FaultKind::translation, 3};
    }

    std::vector<MappedRange> mapped() const {
        std::vector<MappedRange> leaves;
        for (const auto &[key, e] : entries)
            if (e.kind == Entry::Kind::leaf && e.af && e.oa < (std::uint64_t{1} << s_.output_bits))
                leaves.push_back({key.second, GuestAddress{e.oa}, std::uint64_t{1} << s_.shift(key.first), e.perms});
        std::sort(leaves.begin(), leaves.end(), [](auto &a, auto &b) { return a.input < b.input; });
        std::vector<MappedRange> merged;
        for (const auto &r : leaves) {
            if (!merged.empty()) {
                auto &last = merged.back();
                if (last.perms == r.perms && last.input + last.size == r.input &&
                    last.output.value + last.size == r.output.value) {
                    last.size += r.size;
                    continue;
                }
            }
            merged.push_back(r);
        }
        return merged;
    }

private:
    const Scenario &s_;
};

class Random {
public:
    explicit Random(std::uint64_t seed) : rng_(seed) {}
    std::uint64_t next() { return rng_(); }
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
    std::uint64_t bits(unsigned n) { return n >= 64 ? rng_() : rng_() & ((std::uint64_t{1} << n) - 1); }
    bool chance(unsigned percent) { return below(100) < percent; }
    unsigned in(unsigned lo, unsigned hi) { return lo + static_cast<unsigned>(below(hi - lo + 1)); }

private:
    std::mt19937_64 rng_;
};

Scenario random_scenario(Random &rng) {
    Scenario s;
    for (;;) {
        unsigned g = rng.in(0, 2);
        s.granule = g == 0 ? Granule::k4 : g == 1 ? Granule::k16 : Granule::k64;
        s.gbits = g == 0 ? 12 : g == 1 ? 14 : 16;
        s.sl0 = rng.in(0, 2);
        s.start_level = s.granule == Granule::k4 ? 2 - s.sl0 : 3 - s.sl0;
        s.t0sz = rng.in(16, 39);
        s.input_bits = 64 - s.t0sz;
        unsigned shift = s.shift(s.start_level);
        if (s.input_bits > shift && s.input_bits - shift <= s.gbits - 3 + 4)
            break;
    }
    s.ps = rng.in(0, 7);
    constexpr unsigned ps_bits[] = {32, 36, 40, 42, 44, 48, 52, 56};
    s.output_bits = std::min(ps_bits[s.ps], 48u);
    return s;
}

// Builds one random stage 2 in memory and in the model.
void populate(const Scenario &s, TableBuilder &b, Reference &ref, Random &rng, std::vector<std::uint64_t> &centres) {
    for (int i = 0; i < 3; ++i)
        centres.push_back(rng.bits(s.input_bits));
    const unsigned count = rng.in(1, 48);
    for (unsigned n = 0; n < count; ++n) {
        using K = Entry::Kind;
        Entry e;
        unsigned level = 3;
        unsigned roll = rng.in(0, 99);
        if (roll < 70) {
            e.kind = K::leaf;
            std::vector<unsigned> levels{3};
            for (unsigned l = std::max(s.start_level, s.first_block_level()); l < 3; ++l)
                levels.push_back(l);
            level = levels[rng.below(levels.size())];
        } else if (roll < 76) {
            e.kind = K::junk;
            level = rng.in(s.start_level, 3);
        } else if (roll < 80) {
            e.kind = K::reserved;
        } else if (roll < 84) {
            if (s.start_level >= s.first_block_level())
                continue;
            e.kind = K::bad_block;
            level = rng.in(s.start_level, s.first_block_level() - 1);
        } else if (roll < 92) {
            if (s.start_level == 3)
                continue;
            e.kind = K::table_outside_ram;
            level = rng.in(s.start_level, 2);
        } else {
            if (s.start_level == 3 || s.output_bits >= 48)
                continue;
            e.kind = K::table_beyond_ps;
            level = rng.in(s.start_level, 2);
        }
        const unsigned shift = s.shift(level);
        const std::uint64_t size = std::uint64_t{1} << shift;
        unsigned span = std::min(s.input_bits, shift + (rng.chance(70) ? 4 : s.gbits - 3));
        std::uint64_t ipa =
            (centres[rng.below(centres.size())] + rng.bits(span)) & ((std::uint64_t{1} << s.input_bits) - 1);
        ipa &= ~(size - 1);

        // Skip what would overlap: a non-table above, or anything in the slot.
        bool blocked = ref.entries.count({level, ipa}) != 0;
        for (unsigned l = s.start_level; l < level && !blocked; ++l) {
            auto it = ref.entries.find({l, ref.base(ipa, l)});
            blocked = it != ref.entries.end() && it->second.kind != K::table;
        }
        if (blocked)
            continue;

        std::uint64_t desc = 0;
        switch (e.kind) {
        case K::leaf: {
            bool beyond = s.output_bits < 48 && rng.chance(15);
            std::uint64_t lo = beyond ? std::uint64_t{1} << s.output_bits : 0;
            std::uint64_t hi = beyond ? std::uint64_t{1} << 48 : std::uint64_t{1} << s.output_bits;
            e.oa = (lo + rng.below(hi - lo)) & ~(size - 1);
            if (e.oa < lo)
                e.oa = lo;
            e.perms = static_cast<S2Perm>(rng.in(0, 3));
            e.af = rng.chance(90);
            desc = leaf_desc(e.oa, level, e.perms, e.af);
            if (rng.chance(50)) // attributes, contiguous, XN, software bits, RES0 below a block's OA
                desc |= rng.next() & (bits_mask(2, 5) | bits_mask(8, 9) | bits_mask(52, 58) |
                                      (level < 3 ? bits_mask(16, shift - 1) : 0));
            break;
        }
        case K::junk: desc = rng.next() & ~std::uint64_t{1}; break;
        case K::reserved:
            desc = (rng.bits(48) & ~((std::uint64_t{1} << s.gbits) - 1)) | std::uint64_t{1} << 10 | 0b01;
            break;
        case K::bad_block: desc = leaf_desc(rng.bits(48) & ~(size - 1), level, S2Perm::read_write); break;
        case K::table_outside_ram: desc = table_desc(outside_ram); break;
        case K::table_beyond_ps: desc = table_desc(std::uint64_t{1} << s.output_bits); break;
        case K::table: break;
        }
        ASSERT_TRUE(b.put(ipa, level, desc)) << "arena exhausted";
        for (unsigned l = s.start_level; l < level; ++l)
            ref.entries.insert({{l, ref.base(ipa, l)}, Entry{}});
        ref.entries[{level, ipa}] = e;
    }
}

std::uint64_t random_ipa(const Scenario &s, const Reference &ref, const std::vector<std::uint64_t> &centres,
                         Random &rng) {
    unsigned roll = rng.in(0, 99);
    if (roll < 40 && !ref.entries.empty()) {
        auto it = ref.entries.begin();
        std::advance(it, static_cast<long>(rng.below(ref.entries.size())));
        return it->first.second + rng.bits(s.shift(it->first.first));
    }
    if (roll < 70)
        return (centres[rng.below(centres.size())] + rng.bits(rng.in(s.gbits, s.input_bits))) &
               ((std::uint64_t{1} << s.input_bits) - 1);
    if (roll < 90)
        return rng.bits(s.input_bits);
    return rng.next() | std::uint64_t{1} << rng.in(s.input_bits, 63);
}

std::string describe(const WalkResult &r) {
    if (r)
        return "output 0x" + (std::ostringstream() << std::hex << r->output.value).str() + " level " +
               std::to_string(r->level) + " size 0x" + (std::ostringstream() << std::hex << r->size).str() + " perms " +
               std::to_string(static_cast<int>(r->perms));
    return std::string(name(r.error().kind)) + " fault at level " + std::to_string(r.error().level);
}

bool same(const WalkResult &a, const WalkResult &b) {
    if (a.has_value() != b.has_value())
        return false;
    return a ? *a == *b : a.error() == b.error();
}

TEST(Stage2Random, WalkerMatchesTheReferenceModel) {
    Random rng(0x5ee'd5'7a9e2);
    constexpr int scenarios = 200;
    constexpr int probes = 3000;
    std::size_t translated = 0, faulted[5] = {};
    for (int n = 0; n < scenarios; ++n) {
        const Scenario s = random_scenario(rng);
        GuestMemory memory;
        memory.add("l1-ram", GuestAddress{ram_base}, ram_size);
        TableBuilder b(memory, GuestAddress{ram_base}, ram_size, s.granule, s.t0sz, s.sl0, s.ps);
        Reference ref(s);
        std::vector<std::uint64_t> centres;
        populate(s, b, ref, rng, centres);
        if (HasFatalFailure())
            return;

        auto config = decode_stage2(b.registers(), 48);
        ASSERT_TRUE(config) << "scenario " << n;
        ASSERT_EQ(config->start_level, s.start_level) << "scenario " << n;
        ASSERT_EQ(config->input_bits, s.input_bits) << "scenario " << n;
        ASSERT_EQ(config->output_bits, s.output_bits) << "scenario " << n;
        ASSERT_EQ(config->start_entries, b.start_entries()) << "scenario " << n;

        const std::string where = "scenario " + std::to_string(n) + " (granule 2^" + std::to_string(s.gbits) +
                                  ", T0SZ " + std::to_string(s.t0sz) + ", SL0 " + std::to_string(s.sl0) + ", PS " +
                                  std::to_string(s.ps) + ")";
        for (int p = 0; p < probes; ++p) {
            std::uint64_t ipa = random_ipa(s, ref, centres, rng);
            Access access = rng.chance(50) ? Access::read : Access::write;
            WalkResult got = walk_stage2(memory, *config, ipa, access);
            WalkResult want = ref.lookup(ipa, access);
            ASSERT_TRUE(same(got, want)) << where << ", IPA 0x" << std::hex << ipa << std::dec
                                         << (access == Access::read ? " read" : " write") << ": walker "
                                         << describe(got) << ", model " << describe(want);
            if (got)
                ++translated;
            else
                ++faulted[static_cast<int>(got.error().kind)];
        }

        auto map = enumerate_stage2(memory, *config, {.max_descriptors = 1 << 24, .max_ranges = 1 << 16});
        ASSERT_FALSE(map.truncated) << where;
        ASSERT_EQ(map.ranges, ref.mapped()) << where;
    }
    // The generator must reach every outcome, or the comparison proves little.
    EXPECT_GT(translated, 20000u);
    for (int k = 0; k < 5; ++k)
        EXPECT_GT(faulted[k], 2000u) << name(static_cast<FaultKind>(k));
}

} // namespace
} // namespace strata::nested
