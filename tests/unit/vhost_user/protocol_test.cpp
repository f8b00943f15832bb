// The vhost-user codec as a specification: the exact bytes of requests (read
// off vhost-user.rst's layouts, written out by hand here), and every way a
// reply header or payload is refused.
#include "devices/vhost_user/protocol.hpp"

#include "tests/unit/vhost_user/errors.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace strata::vhost_user {
namespace {

using test::error_of;
using Bytes = std::vector<std::uint8_t>;

testing::AssertionResult contains(const std::string &text, const std::string &part) {
    if (text.find(part) != std::string::npos)
        return testing::AssertionSuccess();
    return testing::AssertionFailure() << "'" << text << "' lacks '" << part << "'";
}

// --- requests ---

TEST(VhostUserEncode, SetOwnerIsAHeaderWithVersionOneAndNoPayload) {
    const auto m = encode(Request::set_owner);
    EXPECT_EQ(m.bytes, (Bytes{0x03, 0, 0, 0, 0x01, 0, 0, 0, 0x00, 0, 0, 0}));
    EXPECT_TRUE(m.fds.empty());
}

TEST(VhostUserEncode, SetMemTableWithTwoRegionsHoldsExactlyThoseRegionsAndTheirFds) {
    const std::array regions{
        MemRegion{0x0, 0x4000'0000, 0x7f00'0000'0000, 0x0, 10},
        MemRegion{0x1'0000'0000, 0x2000'0000, 0x7f80'0000'0000, 0x1000, 11},
    };
    const auto m = encode_mem_table(regions);
    const Bytes expected{
        0x05, 0,    0, 0,    0x01, 0,    0, 0, 0x48, 0, 0, 0, // SET_MEM_TABLE, version 1, 8 + 2 * 32 bytes
        0x02, 0,    0, 0,    0x00, 0,    0, 0,                // two regions, padding
        0,    0,    0, 0,    0,    0,    0, 0,                // region 0: guest address 0
        0,    0,    0, 0x40, 0,    0,    0, 0,                //   size 1 GiB
        0,    0,    0, 0,    0,    0x7f, 0, 0,                //   user address 0x7f0000000000
        0,    0,    0, 0,    0,    0,    0, 0,                //   mmap offset 0
        0,    0,    0, 0,    0x01, 0,    0, 0,                // region 1: guest address 4 GiB
        0,    0,    0, 0x20, 0,    0,    0, 0,                //   size 512 MiB
        0,    0,    0, 0,    0x80, 0x7f, 0, 0,                //   user address 0x7f8000000000
        0,    0x10, 0, 0,    0,    0,    0, 0,                //   mmap offset 0x1000
    };
    EXPECT_EQ(m.bytes, expected);
    EXPECT_EQ(m.fds, (std::vector<int>{10, 11}));
}

TEST(VhostUserEncode, SetVringAddrIsIndexFlagsThenDescUsedAvailLog) {
    const auto m = encode_vring_addr({1, 0, 0x7f00'0000'1000, 0x7f00'0000'3000, 0x7f00'0000'2000, 0});
    const Bytes expected{
        0x09, 0,    0, 0, 0x01, 0,    0, 0, 0x28, 0, 0, 0, // SET_VRING_ADDR, version 1, 40 bytes
        0x01, 0,    0, 0, 0x00, 0,    0, 0,                // index 1, flags 0
        0,    0x10, 0, 0, 0,    0x7f, 0, 0,                // descriptor table
        0,    0x30, 0, 0, 0,    0x7f, 0, 0,                // used ring
        0,    0x20, 0, 0, 0,    0x7f, 0, 0,                // available ring
        0,    0,    0, 0, 0,    0,    0, 0,                // log
    };
    EXPECT_EQ(m.bytes, expected);
    EXPECT_TRUE(m.fds.empty());
}

TEST(VhostUserEncode, GetConfigCarriesOffsetSizeFlagsAndRoomForTheData) {
    const auto m = encode_get_config(4, 8);
    const Bytes expected{
        0x18, 0, 0, 0, 0x01, 0, 0, 0, 0x14, 0, 0, 0, // GET_CONFIG, version 1, 12 + 8 bytes
        0x04, 0, 0, 0, 0x08, 0, 0, 0, 0x00, 0, 0, 0, // offset 4, size 8, flags 0
        0,    0, 0, 0, 0,    0, 0, 0,                // the data, zeros
    };
    EXPECT_EQ(m.bytes, expected);
}

TEST(VhostUserEncode, VringKickCarriesTheIndexAndTheFd) {
    const auto m = encode_vring_fd(Request::set_vring_kick, 1, 7);
    EXPECT_EQ(m.bytes, (Bytes{0x0c, 0, 0, 0, 0x01, 0, 0, 0, 0x08, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(m.fds, std::vector<int>{7});
}

TEST(VhostUserEncode, VringCallWithoutAnFdSetsBitEightAndSendsNoFd) {
    const auto m = encode_vring_fd(Request::set_vring_call, 2, -1);
    EXPECT_EQ(m.bytes, (Bytes{0x0d, 0, 0, 0, 0x01, 0, 0, 0, 0x08, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0}));
    EXPECT_TRUE(m.fds.empty());
}

TEST(VhostUserEncode, VringStateIsIndexThenNum) {
    const auto m = encode_vring_state(Request::set_vring_num, 3, 256);
    EXPECT_EQ(m.bytes, (Bytes{0x08, 0, 0, 0, 0x01, 0, 0, 0, 0x08, 0, 0, 0, 0x03, 0, 0, 0, 0x00, 0x01, 0, 0}));
}

TEST(VhostUserEncode, ProtocolFeaturesAreOneLittleEndianU64) {
    const auto m = encode_u64(Request::set_protocol_features,
                              protocol_feature::mq | protocol_feature::reply_ack | protocol_feature::config);
    EXPECT_EQ(m.bytes, (Bytes{0x10, 0, 0, 0, 0x01, 0, 0, 0, 0x08, 0, 0, 0, 0x09, 0x02, 0, 0, 0, 0, 0, 0}));
}

TEST(VhostUserEncode, NeedReplySetsFlagBitThreeOnly) {
    auto m = encode_u64(Request::set_features, 1);
    set_need_reply(m);
    EXPECT_EQ(m.bytes, (Bytes{0x02, 0, 0, 0, 0x09, 0, 0, 0, 0x08, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(VhostUserEncode, MemTableOfNineRegionsIsRefused) {
    const std::vector<MemRegion> regions(9, MemRegion{0, 4096, 0, 0, 3});
    EXPECT_TRUE(contains(error_of([&] { encode_mem_table(regions); }), "at most 8"));
}

TEST(VhostUserEncode, MemTableRegionWithoutAnFdIsRefused) {
    const std::array regions{MemRegion{0x8000, 4096, 0, 0, -1}};
    EXPECT_TRUE(contains(error_of([&] { encode_mem_table(regions); }), "0x8000 has no fd"));
}

TEST(VhostUserEncode, ConfigAccessOver256BytesIsRefused) {
    EXPECT_TRUE(contains(error_of([] { encode_get_config(0, 257); }), "at most 256"));
}

TEST(VhostUserEncode, VringFdIndexOver255IsRefused) {
    EXPECT_TRUE(contains(error_of([] { encode_vring_fd(Request::set_vring_kick, 256, 3); }), "ring index 256"));
}

TEST(VhostUserEncode, OnlyGettersHaveAReplyOfTheirOwn) {
    for (auto r : {Request::get_features, Request::get_protocol_features, Request::get_vring_base,
                   Request::get_queue_num, Request::get_config})
        EXPECT_TRUE(has_reply(r)) << name(r);
    for (auto r : {Request::set_owner, Request::set_features, Request::set_protocol_features, Request::set_mem_table,
                   Request::set_vring_num, Request::set_vring_addr, Request::set_vring_base, Request::set_vring_kick,
                   Request::set_vring_call, Request::set_vring_enable})
        EXPECT_FALSE(has_reply(r)) << name(r);
}

// --- replies ---

Bytes header(std::uint32_t request, std::uint32_t flags, std::uint32_t size) {
    Bytes out;
    for (std::uint32_t v : {request, flags, size})
        for (int i = 0; i < 4; ++i)
            out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return out;
}

TEST(VhostUserReply, WellFormedHeaderGivesThePayloadSize) {
    EXPECT_EQ(check_reply_header(Request::get_features, header(1, 0x5, 8), 8), 8u);
}

TEST(VhostUserReply, HeaderWithoutReplyFlagIsRefused) {
    EXPECT_TRUE(contains(error_of([] { check_reply_header(Request::get_features, header(1, 0x1, 8), 8); }),
                         "lacks the REPLY flag"));
}

TEST(VhostUserReply, HeaderOfAnotherVersionIsRefused) {
    EXPECT_TRUE(
        contains(error_of([] { check_reply_header(Request::get_features, header(1, 0x6, 8), 8); }), "version 2"));
}

TEST(VhostUserReply, HeaderForAnotherRequestIsRefused) {
    EXPECT_TRUE(contains(error_of([] { check_reply_header(Request::get_features, header(2, 0x5, 8), 8); }),
                         "reply is for SET_FEATURES (2)"));
}

TEST(VhostUserReply, HeaderOfTheWrongSizeIsRefused) {
    EXPECT_TRUE(
        contains(error_of([] { check_reply_header(Request::get_features, header(1, 0x5, 4), 8); }), "reply size 4"));
}

TEST(VhostUserReply, HeaderSizeOverTheMaximumIsRefusedAsSuch) {
    EXPECT_TRUE(contains(error_of([] { check_reply_header(Request::get_features, header(1, 0x5, 0xffffffff), 8); }),
                         "4294967295 exceeds the maximum"));
}

TEST(VhostUserReply, TruncatedHeaderIsRefused) {
    EXPECT_TRUE(contains(error_of([] { check_reply_header(Request::get_features, Bytes(11), 8); }), "11 bytes"));
}

TEST(VhostUserReply, EmptyGetConfigReplyIsTheBackendsRefusal) {
    EXPECT_TRUE(contains(error_of<Refused>([] { check_reply_header(Request::get_config, header(24, 0x5, 0), 20); }),
                         "refused"));
}

TEST(VhostUserReply, ZeroAckPassesNonZeroAckIsRefused) {
    check_ack(Request::set_vring_num, Bytes{0, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_TRUE(contains(error_of<Refused>([] {
                             check_ack(Request::set_vring_num, Bytes{1, 0, 0, 0, 0, 0, 0, 0});
                         }),
                         "SET_VRING_NUM: the backend refused it (REPLY_ACK 0x1)"));
}

TEST(VhostUserReply, U64IsLittleEndian) {
    EXPECT_EQ(decode_u64(Request::get_features, Bytes{0x01, 0x02, 0, 0x40, 0, 0, 0, 0x80}), 0x8000'0000'4000'0201u);
}

TEST(VhostUserReply, VringBaseForAnotherRingIsRefused) {
    EXPECT_EQ(decode_vring_base(1, Bytes{1, 0, 0, 0, 0x34, 0x12, 0, 0}), 0x1234u);
    EXPECT_TRUE(contains(error_of([] {
                             decode_vring_base(1, Bytes{2, 0, 0, 0, 0x34, 0x12, 0, 0});
                         }),
                         "reply is for ring 2, asked for ring 1"));
}

TEST(VhostUserReply, ConfigReturnsTheDataWhenOffsetAndSizeEchoTheRequest) {
    const Bytes payload{4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd};
    EXPECT_EQ(decode_config(4, 2, payload), (Bytes{0xab, 0xcd}));
    EXPECT_TRUE(contains(error_of([&] { decode_config(0, 2, payload); }), "offset 4 size 2, asked for offset 0"));
}

TEST(VhostUserReply, NamesUnknownRequestsByNumber) {
    EXPECT_EQ(name(Request::get_vring_base), "GET_VRING_BASE");
    EXPECT_EQ(name(Request{99}), "request 99");
}

} // namespace
} // namespace strata::vhost_user
