// The PL031 RTC registers as Linux's amba driver uses them.
#include "devices/pl031.hpp"

#include "tests/unit/devices/regs.hpp"

#include <gtest/gtest.h>

#include <ctime>

namespace strata::devices {
namespace {

using test::rd;
using test::wr;

TEST(Pl031, DataRegisterIsTheHostTimeUntilLoaded) {
    Pl031 rtc;
    const auto now = static_cast<std::uint32_t>(std::time(nullptr));
    const auto t = rd(rtc, 0x000);
    EXPECT_GE(t, now);
    EXPECT_LE(t, now + 2);
    wr(rtc, 0x008, 1000); // RTCLR
    EXPECT_LE(rd(rtc, 0x000), 1002u);
    EXPECT_GE(rd(rtc, 0x000), 1000u);
}

TEST(Pl031, PrimeCellIdsAreThoseOfAPl031) {
    Pl031 rtc;
    EXPECT_EQ(rd(rtc, 0xfe0), 0x31u);
    EXPECT_EQ(rd(rtc, 0xfe4), 0x10u);
    EXPECT_EQ(rd(rtc, 0xff0), 0x0du);
    EXPECT_EQ(rd(rtc, 0xffc), 0xb1u);
    EXPECT_EQ(rd(rtc, 0x00c), 1u); // always enabled
}

} // namespace
} // namespace strata::devices
