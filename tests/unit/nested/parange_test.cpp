// ID_AA64MMFR0_EL1.PARange: the eight encodings both ways, reserved values,
// and replacing the field without touching its neighbours.
#include "fdt/parange.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

namespace strata::nested {
namespace {

TEST(Parange, EachEncodingDecodesToItsBitCount) {
    EXPECT_EQ(parange_bits(0), 32u);
    EXPECT_EQ(parange_bits(1), 36u);
    EXPECT_EQ(parange_bits(2), 40u);
    EXPECT_EQ(parange_bits(3), 42u);
    EXPECT_EQ(parange_bits(4), 44u);
    EXPECT_EQ(parange_bits(5), 48u);
    EXPECT_EQ(parange_bits(6), 52u);
    EXPECT_EQ(parange_bits(7), 56u);
}

TEST(Parange, ReservedEncodingsAreErrors) {
    for (std::uint8_t e = 8; e < 16; ++e)
        EXPECT_EQ(parange_bits(e), std::nullopt) << int{e};
    EXPECT_EQ(parange_bits(0xff), std::nullopt);
}

TEST(Parange, EachBitCountEncodesAndRoundTrips) {
    for (std::uint8_t e = 0; e < 8; ++e)
        EXPECT_EQ(parange_encoding(*parange_bits(e)), e);
}

TEST(Parange, BitCountsOutsideTheTableAreErrors) {
    for (unsigned bits : {0u, 31u, 33u, 37u, 39u, 41u, 43u, 47u, 50u, 53u, 64u, 1000u})
        EXPECT_EQ(parange_encoding(bits), std::nullopt) << bits;
}

TEST(Parange, FieldIsBits3To0OfMmfr0) {
    EXPECT_EQ(parange_field(0x0000'0000'0010'1125), 0x5);
    EXPECT_EQ(parange_field(0xffff'ffff'ffff'fff6), 0x6);
    EXPECT_EQ(parange_of(0x1122'3344'5566'7702), 40u);
    EXPECT_EQ(parange_of(0x1122'3344'5566'770f), std::nullopt);
}

TEST(Parange, ReplacingTheFieldKeepsEveryOtherField) {
    EXPECT_EQ(with_parange(0x0000'0000'0010'1125, 2), 0x0000'0000'0010'1122u);
    EXPECT_EQ(with_parange(0xffff'ffff'ffff'ffff, 0), 0xffff'ffff'ffff'fff0u);
    EXPECT_EQ(with_parange(0x1234'5678'9abc'def0, 6), 0x1234'5678'9abc'def6u);
}

TEST(Parange, ReplacingWithAnEncodingWiderThanTheFieldIsAnError) {
    EXPECT_EQ(with_parange(0, 16), std::nullopt);
    EXPECT_EQ(with_parange(0, 0xff), std::nullopt);
}

// A 36-bit VM on a 52-bit CPU: the advertised field is 52, the window 36.
TEST(Parange, AdvertisedSizeIsIndependentOfTheWindow) {
    std::uint64_t mmfr0 = *with_parange(0x0000'0000'0010'1120, *parange_encoding(52));
    EXPECT_EQ(parange_of(mmfr0), 52u);
    EXPECT_EQ(parange_encoding(36), 1);
}

static_assert(parange_bits(5) == 48u);
static_assert(parange_encoding(44) == 4);

} // namespace
} // namespace strata::nested
