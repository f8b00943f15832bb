// cli::printable and cli::quoted: what the user typed, or a file held, as it
// may appear on a terminal.
#include "tools/user_error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace strata::cli {
namespace {

TEST(Printable, KeepsPrintableAsciiAndValidUtf8) {
    EXPECT_EQ(printable("disk-\xc3\xa9t\xc3\xa9.img \xe2\x82\xac \xf0\x9f\x92\xbe"),
              "disk-\xc3\xa9t\xc3\xa9.img \xe2\x82\xac \xf0\x9f\x92\xbe");
}

TEST(Printable, EscapesControlBytesAndBackslash) {
    EXPECT_EQ(printable(std::string("a\x1b[2Jb\nc\td\\e\x7f\x01", 14)), "a\\e[2Jb\\nc\\td\\\\e\\x7f\\x01");
    EXPECT_EQ(printable(std::string("\0x", 2)), "\\x00x");
}

TEST(Printable, EscapesC1ControlsAndInvalidUtf8) {
    EXPECT_EQ(printable("\xc2\x9b"
                        "31m"),
              "\\xc2\\x9b31m"); // CSI as a C1 control
    EXPECT_EQ(printable("\x9b"
                        "31m"),
              "\\x9b31m");                                            // a lone continuation byte
    EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");                   // overlong '/'
    EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");          // a UTF-16 surrogate
    EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");                   // cut short
    EXPECT_EQ(printable("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80"); // past U+10FFFF
}

TEST(Printable, CutsLongTextAndSaysHowMuchWasLeftOut) {
    EXPECT_EQ(printable(std::string(1000, 'x'), 10), "xxxxxxxxxx... (990 more bytes)");
    EXPECT_EQ(printable(std::string(10, 'x'), 10), "xxxxxxxxxx");
}

TEST(QuoteValue, QuotesAndCutsAt120Bytes) {
    EXPECT_EQ(quote_value("v\x1b"), "'v\\e'");
    EXPECT_EQ(quote_value(std::string(200, 'a')), "'" + std::string(120, 'a') + "... (80 more bytes)'");
}

} // namespace
} // namespace strata::cli
