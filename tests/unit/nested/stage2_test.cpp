// The stage-2 walker, behaviour by behaviour: decoding VTCR_EL2/VTTBR_EL2,
// exact outputs per granule and start level, each fault kind at its level,
// compose() against L1's IPA window, and the bounded enumeration.
#include "nested/stage2.hpp"
#include "nested/trace.hpp"
#include "table_builder.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace strata::nested {

void PrintTo(const Fault &f, std::ostream *os) { *os << name(f.kind) << " fault at level " << f.level; }
void PrintTo(const Translation &t, std::ostream *os) {
    *os << std::hex << "0x" << t.output.value << std::dec << " level " << t.level << " size 0x" << std::hex << t.size
        << std::dec << " perms " << int{static_cast<std::uint8_t>(t.perms)};
}
void PrintTo(const MappedRange &r, std::ostream *os) {
    *os << std::hex << "[0x" << r.input << " -> 0x" << r.output.value << ", 0x" << r.size << "]" << std::dec
        << " perms " << int{static_cast<std::uint8_t>(r.perms)};
}

namespace {

using testing::leaf_desc;
using testing::make_vtcr;
using testing::table_desc;
using testing::TableBuilder;

constexpr std::uint64_t ram_base = 0x4000'0000;
constexpr std::uint64_t ram_size = 32 << 20;
constexpr std::uint64_t outside_ram = 0x1000'0000;
constexpr std::uint64_t af = std::uint64_t{1} << 10;

constexpr std::uint64_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;

std::error_code config_error(std::uint64_t vtcr, unsigned pa_bits = 48, std::uint64_t vttbr = ram_base) {
    auto c = decode_stage2({vtcr, vttbr}, pa_bits);
    return c ? std::error_code() : std::error_code(c.error());
}

// Expectation helpers: the walk succeeded with t, or failed with f.
::testing::AssertionResult translates_to(const WalkResult &r, const Translation &t) {
    if (!r) {
        std::ostringstream os;
        PrintTo(r.error(), &os);
        return ::testing::AssertionFailure() << "faulted: " << os.str();
    }
    if (*r != t) {
        std::ostringstream got, want;
        PrintTo(*r, &got);
        PrintTo(t, &want);
        return ::testing::AssertionFailure() << "got " << got.str() << ", want " << want.str();
    }
    return ::testing::AssertionSuccess();
}
::testing::AssertionResult faults_with(const WalkResult &r, FaultKind kind, unsigned level) {
    if (r) {
        std::ostringstream os;
        PrintTo(*r, &os);
        return ::testing::AssertionFailure() << "translated: " << os.str();
    }
    if (r.error() != Fault{kind, level}) {
        std::ostringstream os;
        PrintTo(r.error(), &os);
        return ::testing::AssertionFailure() << "got " << os.str() << ", want " << name(kind) << " at level " << level;
    }
    return ::testing::AssertionSuccess();
}

class Stage2 : public ::testing::Test {
protected:
    void SetUp() override { memory.add("l1-ram", GuestAddress{ram_base}, ram_size); }
    TableBuilder builder(Granule g, unsigned t0sz, unsigned sl0, unsigned ps = 0b101) {
        return TableBuilder(memory, GuestAddress{ram_base}, ram_size, g, t0sz, sl0, ps);
    }
    WalkResult walk(const TableBuilder &b, std::uint64_t ipa, Access a = Access::read, unsigned pa_bits = 48) {
        return walk_stage2(memory, b.config(pa_bits), ipa, a);
    }
    GuestMemory memory;
};

// --- Decoding VTCR_EL2 and VTTBR_EL2 ---------------------------------------

struct DecodeCase {
    const char *name;
    Granule granule;
    unsigned t0sz, sl0;
    unsigned start_level;
    std::uint64_t start_entries, concatenated;
};

class Stage2Decode : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(Stage2Decode, StartLevelAndConcatenation) {
    const DecodeCase &c = GetParam();
    auto config = decode_stage2({make_vtcr(c.granule, c.t0sz, c.sl0), ram_base}, 48);
    ASSERT_TRUE(config) << std::error_code(config.error()).message();
    EXPECT_EQ(config->granule, c.granule);
    EXPECT_EQ(config->input_bits, 64 - c.t0sz);
    EXPECT_EQ(config->output_bits, 48u);
    EXPECT_EQ(config->start_level, c.start_level);
    EXPECT_EQ(config->start_entries, c.start_entries);
    EXPECT_EQ(config->concatenated(), c.concatenated);
    EXPECT_EQ(config->table_base, ram_base);
}

INSTANTIATE_TEST_SUITE_P(
    Granules, Stage2Decode,
    ::testing::Values(DecodeCase{"k4_t0sz32_sl0_1_level1_4_entries", Granule::k4, 32, 1, 1, 4, 1},
                      DecodeCase{"k4_t0sz32_sl0_0_level2_4_tables", Granule::k4, 32, 0, 2, 2048, 4},
                      DecodeCase{"k4_t0sz24_sl0_1_level1_2_tables", Granule::k4, 24, 1, 1, 1024, 2},
                      DecodeCase{"k4_t0sz21_sl0_1_level1_16_tables", Granule::k4, 21, 1, 1, 8192, 16},
                      DecodeCase{"k4_t0sz30_sl0_0_level2_16_tables", Granule::k4, 30, 0, 2, 8192, 16},
                      DecodeCase{"k4_t0sz16_sl0_2_level0", Granule::k4, 16, 2, 0, 512, 1},
                      DecodeCase{"k16_t0sz28_sl0_1_level2", Granule::k16, 28, 1, 2, 2048, 1},
                      DecodeCase{"k16_t0sz16_sl0_2_level1_2_tables", Granule::k16, 16, 2, 1, 4096, 2},
                      DecodeCase{"k16_t0sz36_sl0_0_level3_8_tables", Granule::k16, 36, 0, 3, 16384, 8},
                      DecodeCase{"k64_t0sz22_sl0_1_level2", Granule::k64, 22, 1, 2, 8192, 1},
                      DecodeCase{"k64_t0sz34_sl0_0_level3_2_tables", Granule::k64, 34, 0, 3, 16384, 2},
                      DecodeCase{"k64_t0sz34_sl0_1_level2_2_entries", Granule::k64, 34, 1, 2, 2, 1},
                      DecodeCase{"k64_t0sz16_sl0_2_level1", Granule::k64, 16, 2, 1, 64, 1}),
    [](const ::testing::TestParamInfo<DecodeCase> &p) { return std::string(p.param.name); });

TEST(Stage2Config, ReservedGranuleIsAConfigurationError) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 32, 1) | 0b11 << 14), Stage2ConfigError::reserved_granule);
}

TEST(Stage2Config, DsOrSl2SetIsUnsupportedLpa2) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 32, 1) | std::uint64_t{1} << 32),
              Stage2ConfigError::unsupported_lpa2);
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 32, 1) | std::uint64_t{1} << 33),
              Stage2ConfigError::unsupported_lpa2);
}

TEST(Stage2Config, T0szOutside16To39IsAConfigurationError) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 15, 2)), Stage2ConfigError::t0sz_out_of_range);
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 40, 0)), Stage2ConfigError::t0sz_out_of_range);
    EXPECT_EQ(config_error(make_vtcr(Granule::k64, 0, 2)), Stage2ConfigError::t0sz_out_of_range);
}

TEST(Stage2Config, InputWiderThanThePaSizeIsAConfigurationError) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 24, 1), 36), Stage2ConfigError::input_exceeds_pa);
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 28, 1), 36), std::error_code());
}

TEST(Stage2Config, Sl0ThreeIsReservedForEveryGranule) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 32, 3)), Stage2ConfigError::invalid_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k16, 16, 3)), Stage2ConfigError::invalid_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k64, 22, 3)), Stage2ConfigError::invalid_start_level);
}

TEST(Stage2Config, DeepestStartLevelNeedsAWidePaSize) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 24, 2), 40), Stage2ConfigError::invalid_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 24, 2), 44), std::error_code());
    EXPECT_EQ(config_error(make_vtcr(Granule::k16, 24, 2), 40), Stage2ConfigError::invalid_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k16, 24, 2), 42), std::error_code());
    EXPECT_EQ(config_error(make_vtcr(Granule::k64, 22, 2), 42), Stage2ConfigError::invalid_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k64, 20, 2), 44), std::error_code());
}

TEST(Stage2Config, StartLevelNeedingMoreThan16TablesIsInconsistent) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 20, 1)), Stage2ConfigError::inconsistent_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 16, 1)), Stage2ConfigError::inconsistent_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 29, 0)), Stage2ConfigError::inconsistent_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k16, 16, 0)), Stage2ConfigError::inconsistent_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k64, 16, 1)), Stage2ConfigError::inconsistent_start_level);
}

TEST(Stage2Config, StartLevelResolvingNoBitIsInconsistent) {
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 25, 2)), Stage2ConfigError::inconsistent_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k4, 34, 1)), Stage2ConfigError::inconsistent_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k16, 28, 2)), Stage2ConfigError::inconsistent_start_level);
    EXPECT_EQ(config_error(make_vtcr(Granule::k64, 39, 1)), Stage2ConfigError::inconsistent_start_level);
}

TEST(Stage2Config, PsIsCappedByThePaSizeAnd48Bits) {
    EXPECT_EQ(decode_stage2({make_vtcr(Granule::k4, 32, 1, 0b010), ram_base}, 48)->output_bits, 40u);
    EXPECT_EQ(decode_stage2({make_vtcr(Granule::k4, 32, 1, 0b000), ram_base}, 48)->output_bits, 32u);
    EXPECT_EQ(decode_stage2({make_vtcr(Granule::k4, 32, 1, 0b110), ram_base}, 52)->output_bits, 48u);
    EXPECT_EQ(decode_stage2({make_vtcr(Granule::k4, 32, 1, 0b111), ram_base}, 48)->output_bits, 48u);
    EXPECT_EQ(decode_stage2({make_vtcr(Granule::k4, 32, 1, 0b101), ram_base}, 36)->output_bits, 36u);
}

TEST(Stage2Config, VttbrIgnoresVmidCnpAndBitsBelowTheStartTableAlignment) {
    // 4 KiB, T0SZ 24, start level 1: 1024 entries, 8 KiB, so BADDR[12:1] are ignored.
    std::uint64_t vttbr = std::uint64_t{0xabcd} << 48 | (ram_base + 0x2000) | 0x1ffe | 1;
    EXPECT_EQ(decode_stage2({make_vtcr(Granule::k4, 24, 1), vttbr}, 48)->table_base, ram_base + 0x2000);
    // T0SZ 32, start level 1: 4 entries, 32 bytes, so only BADDR[4:1] are ignored.
    EXPECT_EQ(decode_stage2({make_vtcr(Granule::k4, 32, 1), ram_base | 0x3f}, 48)->table_base, ram_base | 0x20);
}

TEST_F(Stage2, InconsistentRegistersFaultEveryAccessAtLevel0) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3));
    Stage2Registers good = b.registers();
    EXPECT_TRUE(translates_to(walk_stage2(memory, good, 48, 0x1000, Access::read),
                              {GuestAddress{0x5000}, 3, 4 * KiB, S2Perm::read_write}));
    for (std::uint64_t vtcr : {make_vtcr(Granule::k4, 32, 3), make_vtcr(Granule::k4, 32, 2),
                               make_vtcr(Granule::k4, 40, 0), good.vtcr | 0b11 << 14})
        EXPECT_TRUE(
            faults_with(walk_stage2(memory, {vtcr, good.vttbr}, 48, 0x1000, Access::read), FaultKind::translation, 0))
            << std::hex << vtcr;
}

// --- Exact outputs per granule, T0SZ and start level -----------------------

struct MapCase {
    const char *name;
    Granule granule;
    unsigned t0sz, sl0;
    std::uint64_t ipa, oa;
    unsigned level;
    std::uint64_t size, offset;
};

class Stage2Maps : public Stage2, public ::testing::WithParamInterface<MapCase> {};

TEST_P(Stage2Maps, TranslatesToTheOutputPlusTheOffset) {
    const MapCase &c = GetParam();
    auto b = builder(c.granule, c.t0sz, c.sl0);
    ASSERT_TRUE(b.map(c.ipa, c.oa, c.level));
    EXPECT_TRUE(
        translates_to(walk(b, c.ipa + c.offset), {GuestAddress{c.oa + c.offset}, c.level, c.size, S2Perm::read_write}));
    EXPECT_TRUE(
        translates_to(walk(b, c.ipa, Access::write), {GuestAddress{c.oa}, c.level, c.size, S2Perm::read_write}));
    EXPECT_TRUE(translates_to(walk(b, c.ipa + c.size - 1),
                              {GuestAddress{c.oa + c.size - 1}, c.level, c.size, S2Perm::read_write}));
}

INSTANTIATE_TEST_SUITE_P(
    Granules, Stage2Maps,
    ::testing::Values(
        MapCase{"k4_t0sz32_l1_page", Granule::k4, 32, 1, 0x1234'5000, 0x9'8765'4000, 3, 4 * KiB, 0xabc},
        MapCase{"k4_t0sz32_l1_block_2m", Granule::k4, 32, 1, 0x4020'0000, 0x1'0040'0000, 2, 2 * MiB, 0x12345},
        MapCase{"k4_t0sz32_l1_block_1g", Granule::k4, 32, 1, 0x8000'0000, 0x40'0000'0000, 1, GiB, 0x1234'5678},
        MapCase{"k4_t0sz32_l2start_page_in_fourth_table", Granule::k4, 32, 0, 0xffff'f000, 0x7000, 3, 4 * KiB, 0xff8},
        MapCase{"k4_t0sz32_l2start_block_2m", Granule::k4, 32, 0, 0xc020'0000, 0x2'0000'0000, 2, 2 * MiB, 0x1f'fff0},
        MapCase{"k4_t0sz24_l1_page_in_second_table", Granule::k4, 24, 1, 0xff'ffff'f000, 0x1000, 3, 4 * KiB, 1},
        MapCase{"k4_t0sz24_l1_block_1g", Granule::k4, 24, 1, 0x80'0000'0000, 0xc000'0000, 1, GiB, 0x3fff'0000},
        MapCase{"k4_t0sz16_l0_page", Granule::k4, 16, 2, 0xffff'ffff'f000, 0xffff'ffff'f000, 3, 4 * KiB, 0x10},
        MapCase{"k4_t0sz16_l0_block_2m", Granule::k4, 16, 2, 0x8000'0020'0000, 0x20'0000, 2, 2 * MiB, 0x100},
        MapCase{"k16_t0sz28_l2_page", Granule::k16, 28, 1, 0xf'ffff'c000, 0x1'2345'c000, 3, 16 * KiB, 0x3abc},
        MapCase{"k16_t0sz28_l2_block_32m", Granule::k16, 28, 1, 0x200'0000, 0x8'0200'0000, 2, 32 * MiB, 0x1ff'0000},
        MapCase{"k16_t0sz16_l1_page_in_second_table", Granule::k16, 16, 2, 0xffff'ffff'c000, 0x4000, 3, 16 * KiB, 4},
        MapCase{"k16_t0sz17_l1_block_32m", Granule::k16, 17, 2, 0x7fff'fe00'0000, 0x600'0000, 2, 32 * MiB, 0x123'4567},
        MapCase{"k16_t0sz36_l3start_page", Granule::k16, 36, 0, 0xfff'c000, 0xab'cdef'c000, 3, 16 * KiB, 0x3fff},
        MapCase{"k64_t0sz22_l2_page", Granule::k64, 22, 1, 0x3ff'ffff'0000, 0x1'0000, 3, 64 * KiB, 0xfffe},
        MapCase{"k64_t0sz22_l2_block_512m", Granule::k64, 22, 1, 0x2000'0000, 0xfff'e000'0000, 2, 512 * MiB,
                0x1234'5678},
        MapCase{"k64_t0sz34_l3start_page_in_second_table", Granule::k64, 34, 0, 0x3fff'0000, 0x5'0000, 3, 64 * KiB, 8},
        MapCase{"k64_t0sz34_l2start_block_512m", Granule::k64, 34, 1, 0x2000'0000, 0x4000'0000, 2, 512 * MiB,
                0x1fff'0000},
        MapCase{"k64_t0sz16_l1start_page", Granule::k64, 16, 2, 0x8000'1234'0000, 0x7777'0000, 3, 64 * KiB, 0x5555}),
    [](const ::testing::TestParamInfo<MapCase> &p) { return std::string(p.param.name); });

TEST_F(Stage2, BlockIgnoresBitsBelowItsOutputAlignment) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.put(0x20'0000, 2, leaf_desc(0x60'0000, 2, S2Perm::read_write) | 0x1f'f000));
    EXPECT_TRUE(translates_to(walk(b, 0x20'0040), {GuestAddress{0x60'0040}, 2, 2 * MiB, S2Perm::read_write}));
}

TEST_F(Stage2, AttributeContiguousXnAndSoftwareBitsDoNotChangeTheOutput) {
    auto b = builder(Granule::k16, 28, 1);
    std::uint64_t attrs = 0b1111 << 2 | 0b11 << 8 | std::uint64_t{0x7f} << 52;
    ASSERT_TRUE(b.put(0x4000, 3, leaf_desc(0x8000, 3, S2Perm::read_only) | attrs));
    EXPECT_TRUE(translates_to(walk(b, 0x4001), {GuestAddress{0x8001}, 3, 16 * KiB, S2Perm::read_only}));
}

// --- Translation faults ----------------------------------------------------

TEST_F(Stage2, EmptyStartTableIsATranslationFaultAtTheStartLevel) {
    EXPECT_TRUE(faults_with(walk(builder(Granule::k4, 32, 1), 0x1000), FaultKind::translation, 1));
}

TEST_F(Stage2, EmptyConcatenatedStartTableFaultsAtLevel2) {
    EXPECT_TRUE(faults_with(walk(builder(Granule::k4, 32, 0), 0xffff'f000), FaultKind::translation, 2));
}

TEST_F(Stage2, MissingLevel2EntryIsATranslationFaultAtLevel2) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3));
    EXPECT_TRUE(faults_with(walk(b, 0x2000'0000), FaultKind::translation, 2));
}

TEST_F(Stage2, MissingLevel3EntryIsATranslationFaultAtLevel3) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3));
    EXPECT_TRUE(faults_with(walk(b, 0x2000), FaultKind::translation, 3));
}

TEST_F(Stage2, ClearValidBitIsATranslationFaultWhateverElseIsSet) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.put(0x1000, 3, 0xffff'ffff'ffff'fffe));
    EXPECT_TRUE(faults_with(walk(b, 0x1000), FaultKind::translation, 3));
    ASSERT_TRUE(b.put(0x4000'0000, 1, 0xffff'ffff'ffff'fffe));
    EXPECT_TRUE(faults_with(walk(b, 0x4000'0000), FaultKind::translation, 1));
}

TEST_F(Stage2, BlockEncodingAtLevel3IsReserved) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.put(0x1000, 3, 0x5000 | af | 0b11 << 6 | 0b01));
    EXPECT_TRUE(faults_with(walk(b, 0x1000), FaultKind::translation, 3));
}

TEST_F(Stage2, NoBlocksAtLevel0With4k) {
    auto b = builder(Granule::k4, 16, 2);
    ASSERT_TRUE(b.put(0, 0, leaf_desc(0, 0, S2Perm::read_write)));
    EXPECT_TRUE(faults_with(walk(b, 0x1000), FaultKind::translation, 0));
}

TEST_F(Stage2, NoBlocksAtLevel1With16k) {
    auto b = builder(Granule::k16, 17, 2);
    ASSERT_TRUE(b.put(0, 1, leaf_desc(0, 1, S2Perm::read_write)));
    EXPECT_TRUE(faults_with(walk(b, 0x4000), FaultKind::translation, 1));
}

TEST_F(Stage2, NoBlocksAtLevel1With64k) {
    auto b = builder(Granule::k64, 16, 2);
    ASSERT_TRUE(b.put(0, 1, leaf_desc(0, 1, S2Perm::read_write)));
    EXPECT_TRUE(faults_with(walk(b, 0x1'0000), FaultKind::translation, 1));
}

TEST_F(Stage2, InputAtOrAboveTheInputSizeIsATranslationFaultAtLevel0) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0, 0x4000'0000, 1));
    EXPECT_TRUE(translates_to(walk(b, 0x3fff'ffff), {GuestAddress{0x7fff'ffff}, 1, GiB, S2Perm::read_write}));
    EXPECT_TRUE(faults_with(walk(b, 0xffff'ffff), FaultKind::translation, 1));
    EXPECT_TRUE(faults_with(walk(b, std::uint64_t{1} << 32), FaultKind::translation, 0));
    EXPECT_TRUE(faults_with(walk(b, UINT64_MAX), FaultKind::translation, 0));
}

TEST_F(Stage2, InputBeyondTheInputSizeFaultsAtLevel0NotAtTheStartLevel) {
    auto b = builder(Granule::k64, 34, 0);
    EXPECT_TRUE(faults_with(walk(b, 0x4000'0000), FaultKind::translation, 0));
    EXPECT_TRUE(faults_with(walk(b, 0x3fff'0000), FaultKind::translation, 3));
}

// --- Address size faults ---------------------------------------------------

TEST_F(Stage2, PageOutputBeyondPsIsAnAddressSizeFaultAtLevel3) {
    auto b = builder(Granule::k4, 32, 1, 0b000); // 32-bit output
    ASSERT_TRUE(b.map(0x1000, 0xffff'f000, 3));
    ASSERT_TRUE(b.map(0x2000, 0x1'0000'0000, 3));
    EXPECT_TRUE(translates_to(walk(b, 0x1fff), {GuestAddress{0xffff'ffff}, 3, 4 * KiB, S2Perm::read_write}));
    EXPECT_TRUE(faults_with(walk(b, 0x2000), FaultKind::address_size, 3));
}

TEST_F(Stage2, BlockOutputBeyondPsIsAnAddressSizeFaultAtItsLevel) {
    auto b = builder(Granule::k4, 32, 1, 0b000);
    ASSERT_TRUE(b.map(0x20'0000, 0x1'0020'0000, 2));
    ASSERT_TRUE(b.map(0x4000'0000, 0x80'0000'0000, 1));
    EXPECT_TRUE(faults_with(walk(b, 0x20'0000), FaultKind::address_size, 2));
    EXPECT_TRUE(faults_with(walk(b, 0x4000'0000), FaultKind::address_size, 1));
}

TEST_F(Stage2, TableAddressBeyondPsIsAnAddressSizeFaultAtTheTablesLevel) {
    auto b = builder(Granule::k4, 32, 1, 0b000);
    ASSERT_TRUE(b.put(0x4000'0000, 1, table_desc(0x1'0000'0000)));
    EXPECT_TRUE(faults_with(walk(b, 0x4000'0000), FaultKind::address_size, 1));
}

TEST_F(Stage2, PaSizeCapsPs) {
    auto b = builder(Granule::k4, 32, 1, 0b101);
    ASSERT_TRUE(b.map(0x1000, 0x10'0000'0000, 3));
    EXPECT_TRUE(translates_to(walk(b, 0x1000, Access::read, 40),
                              {GuestAddress{0x10'0000'0000}, 3, 4 * KiB, S2Perm::read_write}));
    EXPECT_TRUE(faults_with(walk(b, 0x1000, Access::read, 36), FaultKind::address_size, 3));
}

TEST_F(Stage2, VttbrBeyondPsIsAnAddressSizeFaultAtLevel0) {
    auto config = decode_stage2({make_vtcr(Granule::k4, 32, 1, 0b000), 0x1'0000'0000}, 48);
    ASSERT_TRUE(config);
    EXPECT_TRUE(faults_with(walk_stage2(memory, *config, 0x1000, Access::read), FaultKind::address_size, 0));
}

TEST_F(Stage2, SixtyFourKDescriptorBits15To12AreOutputBitsBeyond48) {
    auto b = builder(Granule::k64, 22, 1);
    ASSERT_TRUE(b.put(0x1'0000, 3, leaf_desc(0x5'0000, 3, S2Perm::read_write) | 0x1000));
    EXPECT_TRUE(faults_with(walk(b, 0x1'0000), FaultKind::address_size, 3));
}

// --- Access flag and permission faults -------------------------------------

TEST_F(Stage2, ClearAccessFlagIsAnAccessFlagFaultAtTheLeafLevel) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3, S2Perm::read_write, false));
    ASSERT_TRUE(b.map(0x4000'0000, 0x4000'0000, 1, S2Perm::read_write, false));
    EXPECT_TRUE(faults_with(walk(b, 0x1000), FaultKind::access_flag, 3));
    EXPECT_TRUE(faults_with(walk(b, 0x4000'0000, Access::write), FaultKind::access_flag, 1));
}

TEST_F(Stage2, AccessFlagIsCheckedBeforePermissions) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3, S2Perm::none, false));
    EXPECT_TRUE(faults_with(walk(b, 0x1000, Access::write), FaultKind::access_flag, 3));
}

TEST_F(Stage2, WriteToReadOnlyIsAPermissionFault) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3, S2Perm::read_only));
    EXPECT_TRUE(translates_to(walk(b, 0x1008), {GuestAddress{0x5008}, 3, 4 * KiB, S2Perm::read_only}));
    EXPECT_TRUE(faults_with(walk(b, 0x1008, Access::write), FaultKind::permission, 3));
}

TEST_F(Stage2, ReadOfWriteOnlyIsAPermissionFault) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x20'0000, 0x60'0000, 2, S2Perm::write_only));
    EXPECT_TRUE(
        translates_to(walk(b, 0x20'0010, Access::write), {GuestAddress{0x60'0010}, 2, 2 * MiB, S2Perm::write_only}));
    EXPECT_TRUE(faults_with(walk(b, 0x20'0010), FaultKind::permission, 2));
}

TEST_F(Stage2, NoAccessFaultsReadsAndWrites) {
    auto b = builder(Granule::k16, 28, 1);
    ASSERT_TRUE(b.map(0x4000, 0x8000, 3, S2Perm::none));
    EXPECT_TRUE(faults_with(walk(b, 0x4000), FaultKind::permission, 3));
    EXPECT_TRUE(faults_with(walk(b, 0x4000, Access::write), FaultKind::permission, 3));
}

// --- Walks that leave guest RAM --------------------------------------------

TEST_F(Stage2, VttbrOutsideRamIsAWalkOutsideRamAtTheStartLevel) {
    auto config = decode_stage2({make_vtcr(Granule::k4, 32, 1), outside_ram}, 48);
    ASSERT_TRUE(config);
    EXPECT_TRUE(faults_with(walk_stage2(memory, *config, 0x1000, Access::read), FaultKind::walk_outside_ram, 1));
}

TEST_F(Stage2, TableOutsideRamIsAWalkOutsideRamAtTheNextLevel) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.put(0, 1, table_desc(outside_ram)));
    ASSERT_TRUE(b.put(0x4000'0000, 1, table_desc(0xffff'ffff'f000)));
    EXPECT_TRUE(faults_with(walk(b, 0x1000), FaultKind::walk_outside_ram, 2));
    EXPECT_TRUE(faults_with(walk(b, 0x7fff'ffff), FaultKind::walk_outside_ram, 2));
}

// --- the --trace-s2 report ----------------------------------------------------

TEST_F(Stage2, TraceListsEachRangeAndFlagsThoseBeyondTheWindow) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x8000'0000, 3, S2Perm::read_write));
    ASSERT_TRUE(b.map(0x2000, 0x10'0000'0000, 3, S2Perm::read_only)); // beyond a 36-bit window
    const std::string report = trace_stage2(memory, b.registers(), 48, 36);
    EXPECT_NE(report.find("IPA 0x000000001000 -> 0x000080000000        0x1000 bytes  rw\n"), std::string::npos)
        << report;
    EXPECT_NE(report.find("IPA 0x000000002000 -> 0x001000000000        0x1000 bytes  r-  BEYOND WINDOW\n"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("  2 ranges mapped, 1 beyond the window\n"), std::string::npos) << report;
}

TEST_F(Stage2, TraceShowsTheVtcrDecodeItWalks) {
    auto b = builder(Granule::k4, 24, 1); // a 40-bit guest, as Linux's KVM makes one
    ASSERT_TRUE(b.map(0x4000'0000, 0x8000'0000, 3));
    const std::string report = trace_stage2(memory, b.registers(), 44, 36);
    EXPECT_NE(report.find("  VTCR_EL2 decoded: 4 KiB granule, 40-bit input (T0SZ 24), 44-bit output, walk from "
                          "level 1\n"),
              std::string::npos)
        << report;
}

TEST_F(Stage2, TraceOfAnUnusableConfigurationSaysWhy) {
    const std::string report = trace_stage2(memory, {make_vtcr(Granule::k4, 32, 3), ram_base}, 48, 36);
    EXPECT_NE(report.find("  no usable stage-2: "), std::string::npos) << report;
}

// --- compose(): L2 IPA -> L1 IPA, checked against L1's window ---------------

TEST_F(Stage2, ComposeWithinTheWindowIsNotFlagged) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0xf'ffff'f000, 3));
    auto r = compose(memory, b.config(), 0x1123, Access::read, 36);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->translation.output, GuestAddress{0xf'ffff'f123});
    EXPECT_FALSE(r->beyond_window);
}

TEST_F(Stage2, ComposeAtTheWindowEdgeIsFlagged) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x2000, 0x10'0000'0000, 3));
    auto r = compose(memory, b.config(), 0x2000, Access::write, 36);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->translation.output, GuestAddress{0x10'0000'0000});
    EXPECT_TRUE(r->beyond_window);
}

TEST_F(Stage2, ComposeFlagsDependOnTheWindowNotOnPs) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x4000'0000, 0x40'0000'0000, 1));
    EXPECT_TRUE(compose(memory, b.config(), 0x4000'0000, Access::read, 36)->beyond_window);
    EXPECT_TRUE(compose(memory, b.config(), 0x4000'0000, Access::read, 38)->beyond_window);
    EXPECT_FALSE(compose(memory, b.config(), 0x4000'0000, Access::read, 40)->beyond_window);
}

TEST_F(Stage2, ComposePassesStage2FaultsThrough) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3, S2Perm::read_only));
    auto r = compose(memory, b.config(), 0x1000, Access::write, 40);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), (Fault{FaultKind::permission, 3}));
    EXPECT_EQ(compose(memory, b.config(), 0x2000'0000, Access::read, 40).error(), (Fault{FaultKind::translation, 2}));
}

// --- enumerate_stage2(): the dump for --trace-s2 ---------------------------

TEST_F(Stage2, EnumerateListsPagesAndBlocksInInputOrder) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x8000'0000, 0x1'0000'0000, 1, S2Perm::read_write));
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3, S2Perm::read_only));
    ASSERT_TRUE(b.map(0x4000'0000, 0x20'0000, 2, S2Perm::write_only));
    auto map = enumerate_stage2(memory, b.config());
    EXPECT_FALSE(map.truncated);
    EXPECT_EQ(map.ranges, (std::vector<MappedRange>{
                              {0x1000, GuestAddress{0x5000}, 4 * KiB, S2Perm::read_only},
                              {0x4000'0000, GuestAddress{0x20'0000}, 2 * MiB, S2Perm::write_only},
                              {0x8000'0000, GuestAddress{0x1'0000'0000}, GiB, S2Perm::read_write},
                          }));
}

TEST_F(Stage2, EnumerateMergesContiguousRunsAcrossLevels) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1f'e000, 0x3f'e000, 3));
    ASSERT_TRUE(b.map(0x1f'f000, 0x3f'f000, 3));
    ASSERT_TRUE(b.map(0x20'0000, 0x40'0000, 2));
    auto map = enumerate_stage2(memory, b.config());
    EXPECT_EQ(map.ranges, (std::vector<MappedRange>{
                              {0x1f'e000, GuestAddress{0x3f'e000}, 2 * MiB + 8 * KiB, S2Perm::read_write},
                          }));
}

TEST_F(Stage2, EnumerateKeepsPermissionChangesAndOutputGapsApart) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x9000, 3, S2Perm::read_write));
    ASSERT_TRUE(b.map(0x2000, 0xa000, 3, S2Perm::read_only));
    ASSERT_TRUE(b.map(0x3000, 0xc000, 3, S2Perm::read_only));
    auto map = enumerate_stage2(memory, b.config());
    EXPECT_EQ(map.ranges, (std::vector<MappedRange>{
                              {0x1000, GuestAddress{0x9000}, 4 * KiB, S2Perm::read_write},
                              {0x2000, GuestAddress{0xa000}, 4 * KiB, S2Perm::read_only},
                              {0x3000, GuestAddress{0xc000}, 4 * KiB, S2Perm::read_only},
                          }));
}

TEST_F(Stage2, EnumerateSkipsLeavesThatFaultOnEveryAccess) {
    auto b = builder(Granule::k4, 32, 1, 0b000);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3, S2Perm::read_write, false));
    ASSERT_TRUE(b.map(0x2000, 0x1'0000'0000, 3));
    ASSERT_TRUE(b.map(0x3000, 0x7000, 3, S2Perm::none));
    auto map = enumerate_stage2(memory, b.config());
    EXPECT_EQ(map.ranges, (std::vector<MappedRange>{{0x3000, GuestAddress{0x7000}, 4 * KiB, S2Perm::none}}));
    EXPECT_EQ(map.faulting_entries, 2u);
}

TEST_F(Stage2, EnumerateWalksAnAliasedTableOnce) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.map(0x1000, 0x5000, 3));
    b.write(b.start_table() + 8, b.read(b.start_table())); // level-1 entry 1 aliases entry 0
    EXPECT_TRUE(translates_to(walk(b, 0x4000'1000), {GuestAddress{0x5000}, 3, 4 * KiB, S2Perm::read_write}));
    auto map = enumerate_stage2(memory, b.config());
    EXPECT_EQ(map.ranges, (std::vector<MappedRange>{{0x1000, GuestAddress{0x5000}, 4 * KiB, S2Perm::read_write}}));
    EXPECT_EQ(map.shared_tables, 1u);
}

TEST_F(Stage2, SelfReferencingTablesTerminate) {
    auto b = builder(Granule::k4, 16, 2);
    for (std::uint64_t i = 0; i < 512; ++i)
        b.write(b.start_table() + i * 8, table_desc(b.start_table()));
    // The walker reads the start table at every level; at level 3 the
    // descriptor reads as a page with AF = 0.
    EXPECT_TRUE(faults_with(walk(b, 0x1234'5678'9000), FaultKind::access_flag, 3));
    auto map = enumerate_stage2(memory, b.config());
    EXPECT_TRUE(map.ranges.empty());
    EXPECT_EQ(map.descriptors_read, 512u);
    EXPECT_EQ(map.shared_tables, 512u);
    EXPECT_FALSE(map.truncated);
}

TEST_F(Stage2, EnumerateStopsAtTheDescriptorCap) {
    auto b = builder(Granule::k4, 32, 0); // 2048 start descriptors
    ASSERT_TRUE(b.map(0, 0x20'0000, 2));
    auto map = enumerate_stage2(memory, b.config(), {.max_descriptors = 100, .max_ranges = 16});
    EXPECT_TRUE(map.truncated);
    EXPECT_EQ(map.descriptors_read, 100u);
    EXPECT_EQ(map.ranges.size(), 1u);
}

TEST_F(Stage2, EnumerateStopsAtTheRangeCap) {
    auto b = builder(Granule::k4, 32, 1);
    for (std::uint64_t i = 1; i <= 3; ++i)
        ASSERT_TRUE(b.map(i * 0x1000, i * 0x2000, 3));
    auto map = enumerate_stage2(memory, b.config(), {.max_descriptors = 1 << 20, .max_ranges = 2});
    EXPECT_TRUE(map.truncated);
    EXPECT_EQ(map.ranges.size(), 2u);
}

TEST_F(Stage2, EnumerateCountsTablesOutsideRam) {
    auto b = builder(Granule::k4, 32, 1);
    ASSERT_TRUE(b.put(0, 1, table_desc(outside_ram)));
    ASSERT_TRUE(b.map(0x4000'0000, 0x4000'0000, 1));
    auto map = enumerate_stage2(memory, b.config());
    EXPECT_EQ(map.unreadable_tables, 1u);
    EXPECT_EQ(map.ranges,
              (std::vector<MappedRange>{{0x4000'0000, GuestAddress{0x4000'0000}, GiB, S2Perm::read_write}}));
}

} // namespace
} // namespace strata::nested
