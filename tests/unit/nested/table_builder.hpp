// Builds stage-2 tables in guest memory the way a guest hypervisor would, so
// the walker's tests can state mappings rather than descriptor bits. The
// geometry is computed here on its own, not borrowed from the walker.
#pragma once

#include "nested/stage2.hpp"
#include "vmm/guest_memory.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>

namespace strata::nested::testing {

constexpr std::uint64_t tg0_bits(Granule g) { return g == Granule::k4 ? 0b00 : g == Granule::k64 ? 0b01 : 0b10; }

constexpr std::uint64_t make_vtcr(Granule g, unsigned t0sz, unsigned sl0, unsigned ps = 0b101) {
    return std::uint64_t{t0sz} | std::uint64_t{sl0} << 6 | tg0_bits(g) << 14 | std::uint64_t{ps} << 16;
}

// A leaf: page at level 3 (0b11), block above (0b01).
constexpr std::uint64_t leaf_desc(std::uint64_t oa, unsigned level, S2Perm perms, bool af = true) {
    return oa | (af ? std::uint64_t{1} << 10 : 0) | std::uint64_t{static_cast<std::uint8_t>(perms)} << 6 |
           (level == 3 ? 0b11u : 0b01u);
}

constexpr std::uint64_t table_desc(std::uint64_t next) { return next | 0b11u; }

class TableBuilder {
public:
    TableBuilder(const GuestMemory &memory, GuestAddress arena, std::uint64_t arena_size, Granule g, unsigned t0sz,
                 unsigned sl0, unsigned ps = 0b101)
        : memory_(memory), granule_(g), t0sz_(t0sz), sl0_(sl0), ps_(ps), next_(arena.value),
          end_(arena.value + arena_size) {
        start_level_ = g == Granule::k4 ? 2 - sl0 : 3 - sl0;
        start_entries_ = std::uint64_t{1} << (64 - t0sz - shift(start_level_));
        std::uint64_t bytes = start_entries_ * 8;
        auto base = allocate(bytes < granule_bytes() ? granule_bytes() : bytes);
        if (!base)
            throw std::runtime_error("arena too small for the start table");
        start_ = *base;
    }

    unsigned gbits() const { return granule_ == Granule::k4 ? 12 : granule_ == Granule::k16 ? 14 : 16; }
    std::uint64_t granule_bytes() const { return std::uint64_t{1} << gbits(); }
    unsigned shift(unsigned level) const { return gbits() + (3 - level) * (gbits() - 3); }
    unsigned start_level() const { return start_level_; }
    std::uint64_t start_entries() const { return start_entries_; }
    std::uint64_t start_table() const { return start_; }
    std::uint64_t vtcr() const { return make_vtcr(granule_, t0sz_, sl0_, ps_); }
    Stage2Registers registers() const { return {vtcr(), start_}; }
    Stage2Config config(unsigned pa_bits = 48) const {
        auto c = decode_stage2(registers(), pa_bits);
        if (!c)
            throw std::runtime_error("builder made an inconsistent configuration");
        return *c;
    }

    std::uint64_t index(std::uint64_t ipa, unsigned level) const {
        std::uint64_t entries = level == start_level_ ? start_entries_ : std::uint64_t{1} << (gbits() - 3);
        return (ipa >> shift(level)) & (entries - 1);
    }

    // The descriptor slot for ipa at level, creating tables on the way; nullopt
    // when a non-table entry is in the way or the arena is full.
    std::optional<std::uint64_t> slot(std::uint64_t ipa, unsigned level) {
        std::uint64_t table = start_;
        for (unsigned l = start_level_; l < level; ++l) {
            std::uint64_t at = table + index(ipa, l) * 8;
            std::uint64_t d = read(at);
            if (d == 0) {
                auto t = allocate(granule_bytes());
                if (!t)
                    return std::nullopt;
                write(at, table_desc(*t));
                table = *t;
            } else if ((d & 3) == 3 && owns(d & next_mask())) {
                table = d & next_mask();
            } else {
                return std::nullopt;
            }
        }
        return table + index(ipa, level) * 8;
    }

    bool put(std::uint64_t ipa, unsigned level, std::uint64_t desc) {
        auto at = slot(ipa, level);
        if (!at || read(*at) != 0)
            return false;
        write(*at, desc);
        return true;
    }
    bool map(std::uint64_t ipa, std::uint64_t oa, unsigned level, S2Perm perms = S2Perm::read_write, bool af = true) {
        return put(ipa, level, leaf_desc(oa, level, perms, af));
    }

    std::uint64_t read(std::uint64_t at) const {
        auto v = memory_.read_obj<std::uint64_t>(GuestAddress{at});
        if (!v)
            throw std::runtime_error("builder read outside RAM");
        return *v;
    }
    void write(std::uint64_t at, std::uint64_t v) const {
        if (!memory_.write_obj(GuestAddress{at}, v))
            throw std::runtime_error("builder write outside RAM");
    }

private:
    std::uint64_t next_mask() const { return ((std::uint64_t{1} << 48) - 1) & ~(granule_bytes() - 1); }
    bool owns(std::uint64_t addr) const { return addr >= first_ && addr < next_; }
    std::optional<std::uint64_t> allocate(std::uint64_t bytes) {
        std::uint64_t at = (next_ + bytes - 1) & ~(bytes - 1);
        if (at + bytes > end_)
            return std::nullopt;
        if (first_ == 0)
            first_ = at;
        next_ = at + bytes;
        return at;
    }

    const GuestMemory &memory_;
    Granule granule_;
    unsigned t0sz_, sl0_, ps_;
    unsigned start_level_ = 0;
    std::uint64_t start_entries_ = 0;
    std::uint64_t start_ = 0;
    std::uint64_t first_ = 0;
    std::uint64_t next_;
    std::uint64_t end_;
};

} // namespace strata::nested::testing
