// strata::cli: the --blk and --net values and the comma splitter behind them.
#include "tools/device_specs.hpp"

#include "tools/user_error.hpp"

#include <gtest/gtest.h>

namespace strata::cli {
namespace {

TEST(SplitCommas, KeepsEmptyPartsInOrder) {
    EXPECT_EQ(split_commas("a,b,,c"), (std::vector<std::string>{"a", "b", "", "c"}));
    EXPECT_EQ(split_commas(""), (std::vector<std::string>{""}));
    EXPECT_EQ(split_commas("a,"), (std::vector<std::string>{"a", ""}));
}

// --- --blk and --net specs ---

TEST(BlockSpecTest, ParsesPathReadOnlyAndId) {
    const auto spec = parse_block_spec("a.img,ro,id=disk0");

    EXPECT_EQ(spec.path, "a.img");
    EXPECT_TRUE(spec.read_only);
    EXPECT_EQ(spec.id, "disk0");
}

TEST(BlockSpecTest, DefaultsToReadWriteWithFileNameAsId) {
    const auto spec = parse_block_spec("/var/images/root.img");

    EXPECT_EQ(spec.path, "/var/images/root.img");
    EXPECT_FALSE(spec.read_only);
    EXPECT_EQ(spec.id, "root.img");
}

TEST(BlockSpecTest, DefaultIdIsCutTo20Bytes) {
    EXPECT_EQ(parse_block_spec("a-very-long-disk-image-name.img").id, "a-very-long-disk-ima");
}

TEST(BlockSpecTest, EmptyTextIsUserError) { EXPECT_THROW(parse_block_spec(""), UserError); }

TEST(BlockSpecTest, EmptyPathIsUserError) { EXPECT_THROW(parse_block_spec(",ro"), UserError); }

TEST(BlockSpecTest, UnknownOptionIsUserError) { EXPECT_THROW(parse_block_spec("a.img,rw"), UserError); }

TEST(BlockSpecTest, EmptyIdIsUserError) { EXPECT_THROW(parse_block_spec("a.img,id="), UserError); }

TEST(BlockSpecTest, TrailingCommaIsUserError) { EXPECT_THROW(parse_block_spec("a.img,"), UserError); }

TEST(BlockSpecTest, IdLongerThan20BytesIsUserError) {
    EXPECT_THROW(parse_block_spec("a.img,id=abcdefghijklmnopqrstu"), UserError);
}

TEST(BlockSpecTest, IdOf20BytesIsAccepted) {
    EXPECT_EQ(parse_block_spec("a.img,id=abcdefghijklmnopqrst").id, "abcdefghijklmnopqrst");
}

TEST(NetSpecTest, ParsesTapWithDefaultMacPlusIndex) {
    const auto spec = parse_net_spec("tap=tap0", 2);

    EXPECT_EQ(spec.tap, "tap0");
    EXPECT_EQ(spec.mac, (std::array<std::uint8_t, 6>{0x52, 0x54, 0x00, 0x12, 0x34, 0x58}));
}

TEST(NetSpecTest, ParsesExplicitMac) {
    const auto spec = parse_net_spec("tap=tap1,mac=02:00:00:ab:cd:ef", 0);

    EXPECT_EQ(spec.tap, "tap1");
    EXPECT_EQ(spec.mac, (std::array<std::uint8_t, 6>{0x02, 0x00, 0x00, 0xab, 0xcd, 0xef}));
}

TEST(NetSpecTest, MissingTapIsUserError) { EXPECT_THROW(parse_net_spec("mac=02:00:00:00:00:01", 0), UserError); }

TEST(NetSpecTest, EmptyTextIsUserError) { EXPECT_THROW(parse_net_spec("", 0), UserError); }

TEST(NetSpecTest, EmptyTapNameIsUserError) { EXPECT_THROW(parse_net_spec("tap=", 0), UserError); }

TEST(NetSpecTest, TapNameOf16BytesIsUserError) { EXPECT_THROW(parse_net_spec("tap=abcdefghijklmnop", 0), UserError); }

TEST(NetSpecTest, TapNameOf15BytesIsAccepted) {
    EXPECT_EQ(parse_net_spec("tap=abcdefghijklmno", 0).tap, "abcdefghijklmno");
}

TEST(NetSpecTest, UnknownOptionIsUserError) { EXPECT_THROW(parse_net_spec("tap=tap0,queues=2", 0), UserError); }

TEST(NetSpecTest, MalformedMacIsUserError) {
    EXPECT_THROW(parse_net_spec("tap=tap0,mac=52:54:00:12:34", 0), UserError);
}

TEST(NetSpecTest, MacWithTrailingTextIsUserError) {
    EXPECT_THROW(parse_net_spec("tap=tap0,mac=52:54:00:12:34:56:78", 0), UserError);
}

TEST(NetSpecTest, MulticastMacIsUserError) {
    EXPECT_THROW(parse_net_spec("tap=tap0,mac=01:00:5e:00:00:01", 0), UserError);
}

} // namespace
} // namespace strata::cli
