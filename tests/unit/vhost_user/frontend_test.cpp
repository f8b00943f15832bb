// The vhost-user Frontend against a scripted backend on a thread: what goes
// over the socket (bytes and fds), and that every kind of bad backend (one
// that refuses, lies about the request or the size, closes mid-reply, goes
// quiet or trickles) ends in an Error within the timeout, never a hang.
#include "devices/vhost_user/frontend.hpp"

#include "tests/unit/vhost_user/errors.hpp"
#include "tests/unit/vhost_user/fake_backend.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace strata::vhost_user {
namespace {

using namespace test;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Bytes = std::vector<std::uint8_t>;

testing::AssertionResult contains(const std::string &text, const std::string &part) {
    if (text.find(part) != std::string::npos)
        return testing::AssertionSuccess();
    return testing::AssertionFailure() << "'" << text << "' lacks '" << part << "'";
}

constexpr std::uint64_t offered_features = f_protocol_features | 1ull << 32 /* VIRTIO_F_VERSION_1 */;
constexpr std::uint64_t offered_protocol =
    protocol_feature::mq | protocol_feature::reply_ack | protocol_feature::config;

// The backend half of a REPLY_ACK negotiation (no acks asked for yet).
void negotiate_reply_ack(BackendEnd &b) {
    b.expect(Request::get_protocol_features);
    b.reply_u64(Request::get_protocol_features, offered_protocol);
    auto set = b.expect(Request::set_protocol_features);
    EXPECT_EQ(set.flags, flag::version) << "SET_PROTOCOL_FEATURES must not wait for an ack it has not negotiated";
}

// --- the normal path ---

TEST(VhostUserFrontend, HandshakeOverAUnixSocketSendsEachRequestAsTheSpecSays) {
    TempDir dir;
    const auto path = dir.file("backend.sock");
    FakeBackend backend(listen_at(path), [](BackendEnd &b) {
        auto owner = b.expect(Request::set_owner);
        EXPECT_EQ(owner.flags, flag::version);
        EXPECT_EQ(owner.size, 0u);

        b.expect(Request::get_features);
        b.reply_u64(Request::get_features, offered_features);

        auto get_protocol = b.expect(Request::get_protocol_features);
        EXPECT_EQ(get_protocol.size, 0u);
        b.reply_u64(Request::get_protocol_features, offered_protocol);

        auto set_protocol = b.expect(Request::set_protocol_features);
        EXPECT_EQ(set_protocol.flags, flag::version);
        ASSERT_EQ(set_protocol.size, 8u);
        EXPECT_EQ(u64_at(set_protocol.payload, 0), offered_protocol);

        auto queues = b.expect(Request::get_queue_num);
        EXPECT_EQ(queues.flags, flag::version) << "a request with a reply of its own gets no NEED_REPLY";
        b.reply_u64(Request::get_queue_num, 4);

        auto config = b.expect(Request::get_config);
        ASSERT_EQ(config.size, 12u + 8u);
        EXPECT_EQ(u32_at(config.payload, 0), 0u);
        EXPECT_EQ(u32_at(config.payload, 4), 8u);
        Bytes answer(config.payload);
        for (std::size_t i = 12; i < answer.size(); ++i)
            answer[i] = static_cast<std::uint8_t>(0xa0 + i - 12);
        b.reply(Request::get_config, answer);

        auto features = b.expect(Request::set_features);
        EXPECT_EQ(features.flags, flag::version | flag::need_reply) << "REPLY_ACK is negotiated now";
        ASSERT_EQ(features.size, 8u);
        EXPECT_EQ(u64_at(features.payload, 0), offered_features);
        b.reply_u64(Request::set_features, 0);

        auto base = b.expect(Request::get_vring_base);
        EXPECT_EQ(base.flags, flag::version);
        ASSERT_EQ(base.size, 8u);
        EXPECT_EQ(u32_at(base.payload, 0), 1u);
        b.reply(Request::get_vring_base, Bytes{1, 0, 0, 0, 0x2a, 0, 0, 0});

        auto enable = b.expect(Request::set_vring_enable);
        ASSERT_EQ(enable.size, 8u);
        EXPECT_EQ(u32_at(enable.payload, 0), 1u);
        EXPECT_EQ(u32_at(enable.payload, 4), 1u);
        b.reply_u64(Request::set_vring_enable, 0);
    });

    auto fe = Frontend::connect(path, 2s);
    fe.set_owner();
    EXPECT_EQ(fe.get_features(), offered_features);
    EXPECT_EQ(fe.get_protocol_features(), offered_protocol);
    fe.set_protocol_features(offered_protocol);
    EXPECT_EQ(fe.protocol_features(), offered_protocol);
    EXPECT_EQ(fe.get_queue_num(), 4u);
    EXPECT_EQ(fe.get_config(0, 8), (Bytes{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7}));
    fe.set_features(offered_features);
    EXPECT_EQ(fe.get_vring_base(1), 42u);
    fe.set_vring_enable(1, true);
}

TEST(VhostUserFrontend, WithoutReplyAckRequestsWithoutAReplyDoNotWait) {
    FakeBackend backend([](BackendEnd &b) {
        for (auto r : {Request::set_owner, Request::set_features, Request::set_vring_num, Request::set_vring_base,
                       Request::set_vring_enable})
            EXPECT_EQ(b.expect(r).flags, flag::version) << name(r);
        b.wait_for_close(); // answers nothing: a frontend that waited would time out
    });
    auto fe = backend.frontend(200ms);
    const auto start = Clock::now();
    fe.set_owner();
    fe.set_features(offered_features);
    fe.set_vring_num(0, 256);
    fe.set_vring_base(0, 0);
    fe.set_vring_enable(0, true);
    EXPECT_LT(Clock::now() - start, 150ms);
}

TEST(VhostUserFrontend, ReplyInPiecesIsAssembled) {
    FakeBackend backend([](BackendEnd &b) {
        b.expect(Request::get_features);
        Bytes reply = header_bytes(1, reply_flags, 8);
        put_le(reply, 0x0123'4567'89ab'cdef, 8);
        const std::array<std::pair<std::size_t, std::size_t>, 5> pieces{
            {{0, 5}, {5, 12}, {12, 13}, {13, 19}, {19, 20}}};
        for (auto [from, to] : pieces) {
            b.send(std::span(reply).subspan(from, to - from));
            std::this_thread::sleep_for(10ms);
        }
    });
    auto fe = backend.frontend();
    EXPECT_EQ(fe.get_features(), 0x0123'4567'89ab'cdefu);
}

// --- fds ---

UniqueFd memfd_with(const std::string &text) {
    UniqueFd fd(::memfd_create("vhost-user-test", MFD_CLOEXEC));
    if (!fd || ::ftruncate(fd.get(), 4096) != 0 || ::pwrite(fd.get(), text.data(), text.size(), 0) < 0)
        throw_errno("memfd", "test region");
    return fd;
}

std::string read_fd(int fd, std::size_t size) {
    std::string out(size, '\0');
    const auto n = ::pread(fd, out.data(), size, 0);
    out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return out;
}

TEST(VhostUserFrontend, MemTableFdsArriveAtTheBackendInRegionOrderAndAreUsable) {
    const auto low = memfd_with("low RAM"), high = memfd_with("high RAM");
    FakeBackend backend([](BackendEnd &b) {
        auto m = b.expect(Request::set_mem_table);
        ASSERT_EQ(m.size, 8u + 2 * 32u);
        EXPECT_EQ(u32_at(m.payload, 0), 2u);
        EXPECT_EQ(u64_at(m.payload, 8 + 32 + 0), 0x1'0000'0000u); // region 1's guest address
        ASSERT_EQ(m.fds.size(), 2u);
        EXPECT_EQ(read_fd(m.fds[0].get(), 7), "low RAM");
        // The backend maps the fd as a real one would.
        void *p = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, m.fds[1].get(), 0);
        ASSERT_NE(p, MAP_FAILED);
        EXPECT_EQ(std::string(static_cast<const char *>(p), 8), "high RAM");
        ::munmap(p, 4096);
    });
    auto fe = backend.frontend();
    const std::array regions{MemRegion{0, 4096, 0x7f00'0000'0000, 0, low.get()},
                             MemRegion{0x1'0000'0000, 4096, 0x7f00'1000'0000, 0, high.get()}};
    fe.set_mem_table(regions);
    backend.join();
    EXPECT_EQ(read_fd(low.get(), 7), "low RAM") << "our fd stays open and ours";
}

TEST(VhostUserFrontend, VringCallFdReachesTheBackendAsTheSameEventfd) {
    UniqueFd call(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    FakeBackend backend([](BackendEnd &b) {
        auto m = b.expect(Request::set_vring_call);
        EXPECT_EQ(u64_at(m.payload, 0), 1u);
        ASSERT_EQ(m.fds.size(), 1u);
        const std::uint64_t signal = 7;
        EXPECT_EQ(::write(m.fds[0].get(), &signal, sizeof signal), 8);

        auto kick = b.expect(Request::set_vring_kick);
        EXPECT_EQ(u64_at(kick.payload, 0), 1u | vring_no_fd);
        EXPECT_TRUE(kick.fds.empty());
    });
    auto fe = backend.frontend();
    fe.set_vring_call(1, call.get());
    fe.set_vring_kick(1, -1);
    backend.join();
    std::uint64_t got = 0;
    EXPECT_EQ(::read(call.get(), &got, sizeof got), 8);
    EXPECT_EQ(got, 7u);
}

TEST(VhostUserFrontend, FdsThatComeWithAReplyAreClosed) {
    FakeBackend backend([](BackendEnd &b) {
        std::array<int, 2> pipe_fds{};
        ASSERT_EQ(::pipe2(pipe_fds.data(), O_CLOEXEC), 0);
        UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
        b.expect(Request::get_features);
        Bytes reply = header_bytes(1, reply_flags, 8);
        put_le(reply, 1, 8);
        b.send(reply, write_end.get());
        write_end.reset();
        // The read end sees a hang-up once the frontend has closed its copy.
        pollfd p{read_end.get(), POLLIN, 0};
        EXPECT_EQ(::poll(&p, 1, 2000), 1);
        EXPECT_TRUE(p.revents & POLLHUP) << "the frontend kept the fd the reply carried";
    });
    auto fe = backend.frontend();
    EXPECT_EQ(fe.get_features(), 1u);
    backend.join();
}

// --- a backend that refuses ---

TEST(VhostUserFrontend, NonZeroAckIsRefusedAndTheConnectionStaysUsable) {
    FakeBackend backend([](BackendEnd &b) {
        negotiate_reply_ack(b);
        auto addr = b.expect(Request::set_vring_addr);
        EXPECT_EQ(addr.flags, flag::version | flag::need_reply);
        b.reply_u64(Request::set_vring_addr, 1);
        b.expect(Request::set_vring_num);
        b.reply_u64(Request::set_vring_num, 0);
    });
    auto fe = backend.frontend();
    fe.get_protocol_features();
    fe.set_protocol_features(offered_protocol);
    EXPECT_TRUE(contains(error_of<Refused>([&] {
                             fe.set_vring_addr({0, 0, 0x1000, 0x3000, 0x2000, 0});
                         }),
                         "SET_VRING_ADDR: the backend refused it"));
    EXPECT_NE(fe.native_handle(), -1);
    fe.set_vring_num(0, 256);
}

TEST(VhostUserFrontend, AckForAnotherRequestIsAnError) {
    FakeBackend backend([](BackendEnd &b) {
        negotiate_reply_ack(b);
        b.expect(Request::set_owner);
        b.reply_u64(Request::set_features, 0);
    });
    auto fe = backend.frontend();
    fe.get_protocol_features();
    fe.set_protocol_features(offered_protocol);
    EXPECT_TRUE(contains(error_of([&] { fe.set_owner(); }), "SET_OWNER: reply is for SET_FEATURES"));
}

TEST(VhostUserFrontend, EmptyConfigReplyIsRefused) {
    FakeBackend backend([](BackendEnd &b) {
        negotiate_reply_ack(b);
        b.expect(Request::get_config);
        b.reply(Request::get_config, {});
    });
    auto fe = backend.frontend();
    fe.get_protocol_features();
    fe.set_protocol_features(offered_protocol);
    EXPECT_TRUE(contains(error_of<Refused>([&] { fe.get_config(0, 60); }), "GET_CONFIG: the backend refused"));
}

TEST(VhostUserFrontend, QueueNumAndConfigNeedTheirProtocolFeatures) {
    FakeBackend backend([](BackendEnd &b) { EXPECT_FALSE(b.receive().has_value()) << "nothing may be sent"; });
    auto fe = backend.frontend();
    EXPECT_TRUE(contains(error_of([&] { fe.get_queue_num(); }), "GET_QUEUE_NUM: needs protocol feature MQ"));
    EXPECT_TRUE(contains(error_of([&] { fe.get_config(0, 8); }), "GET_CONFIG: needs protocol feature CONFIG"));
}

// --- a backend that breaks the protocol ---

// The reply `bytes` (and then silence until the frontend closes) to one
// GET_FEATURES; returns what the frontend threw.
std::string error_for_features_reply(Bytes bytes, milliseconds timeout = 2s) {
    FakeBackend backend([bytes](BackendEnd &b) {
        b.expect(Request::get_features);
        b.send(bytes);
        b.wait_for_close();
    });
    auto fe = backend.frontend(timeout);
    auto text = error_of([&] { fe.get_features(); });
    EXPECT_EQ(fe.native_handle(), -1) << "an out-of-step connection must be closed";
    EXPECT_TRUE(contains(error_of([&] { fe.get_features(); }), "closed after an earlier error"));
    return text;
}

Bytes features_reply(std::uint32_t request, std::uint32_t flags, std::uint32_t size, std::size_t payload_bytes = 8) {
    Bytes out = header_bytes(request, flags, size);
    out.resize(out.size() + payload_bytes, 0x11);
    return out;
}

TEST(VhostUserFrontend, ReplyForAnotherRequestIsAnError) {
    EXPECT_TRUE(contains(error_for_features_reply(features_reply(2, reply_flags, 8)),
                         "GET_FEATURES: reply is for SET_FEATURES (2)"));
}

TEST(VhostUserFrontend, ReplyOfTheWrongSizeIsAnError) {
    EXPECT_TRUE(contains(error_for_features_reply(features_reply(1, reply_flags, 4, 4)), "reply size 4"));
}

TEST(VhostUserFrontend, ReplyWithoutTheReplyFlagIsAnError) {
    EXPECT_TRUE(contains(error_for_features_reply(features_reply(1, flag::version, 8)), "lacks the REPLY flag"));
}

TEST(VhostUserFrontend, OversizedSizeFieldIsAnErrorBeforeAnyPayloadIsRead) {
    const auto start = Clock::now();
    EXPECT_TRUE(
        contains(error_for_features_reply(features_reply(1, reply_flags, 0xffff'ffff, 0), 1s), "exceeds the maximum"));
    EXPECT_LT(Clock::now() - start, 500ms) << "it waited for a payload";
}

TEST(VhostUserFrontend, GetVringBaseForAnotherRingIsAnError) {
    FakeBackend backend([](BackendEnd &b) {
        b.expect(Request::get_vring_base);
        b.reply(Request::get_vring_base, Bytes{2, 0, 0, 0, 5, 0, 0, 0});
    });
    auto fe = backend.frontend();
    EXPECT_TRUE(contains(error_of([&] { fe.get_vring_base(0); }), "reply is for ring 2, asked for ring 0"));
}

TEST(VhostUserFrontend, BackendClosingMidReplyIsAnError) {
    FakeBackend backend([](BackendEnd &b) {
        b.expect(Request::get_features);
        Bytes partial = header_bytes(1, reply_flags, 8);
        partial.insert(partial.end(), {1, 2, 3});
        b.send(partial);
        b.close();
    });
    auto fe = backend.frontend();
    EXPECT_TRUE(
        contains(error_of([&] { fe.get_features(); }),
                 "GET_FEATURES: backend fake closed the connection after 3 of the 8 bytes of the reply payload"));
}

TEST(VhostUserFrontend, BackendClosedBeforeTheRequestIsAnError) {
    FakeBackend backend([](BackendEnd &b) { b.close(); });
    backend.join();
    auto fe = backend.frontend();
    EXPECT_TRUE(contains(error_of([&] { fe.set_owner(); }), "SET_OWNER: backend fake closed the connection"));
}

// --- a backend that hangs ---

TEST(VhostUserFrontend, BackendThatNeverAnswersIsAnErrorAfterTheTimeout) {
    FakeBackend backend([](BackendEnd &b) {
        b.expect(Request::get_features);
        b.wait_for_close();
    });
    auto fe = backend.frontend(200ms);
    const auto start = Clock::now();
    EXPECT_TRUE(contains(error_of([&] { fe.get_features(); }),
                         "GET_FEATURES: no reply header from backend fake within 200 ms"));
    const auto took = Clock::now() - start;
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 1s);
}

TEST(VhostUserFrontend, BackendThatTricklesItsReplyIsAnErrorAfterTheTimeout) {
    FakeBackend backend([](BackendEnd &b) {
        b.expect(Request::get_features);
        const Bytes reply = features_reply(1, reply_flags, 8);
        for (std::size_t i = 0; i < reply.size() && b.try_send(std::span(reply).subspan(i, 1)); ++i)
            std::this_thread::sleep_for(50ms);
    });
    auto fe = backend.frontend(200ms);
    const auto start = Clock::now();
    EXPECT_TRUE(contains(error_of([&] { fe.get_features(); }), "within 200 ms"));
    EXPECT_LT(Clock::now() - start, 800ms) << "each byte must not restart the clock";
}

TEST(VhostUserFrontend, AckThatNeverComesIsAnErrorAfterTheTimeout) {
    FakeBackend backend([](BackendEnd &b) {
        negotiate_reply_ack(b);
        b.expect(Request::set_vring_num);
        b.wait_for_close();
    });
    auto fe = backend.frontend(200ms);
    fe.get_protocol_features();
    fe.set_protocol_features(offered_protocol);
    EXPECT_TRUE(contains(error_of([&] { fe.set_vring_num(0, 128); }), "SET_VRING_NUM: no reply header"));
}

// --- connecting ---

TEST(VhostUserFrontend, ConnectingWhereNoSocketExistsIsAnError) {
    TempDir dir;
    const auto path = dir.file("absent.sock");
    EXPECT_TRUE(contains(error_of([&] { Frontend::connect(path, 200ms); }), "no backend listens at '" + path + "'"));
}

TEST(VhostUserFrontend, ConnectingToASocketNobodyListensOnIsAnError) {
    TempDir dir;
    const auto path = dir.file("bound.sock");
    const auto bound = listen_at(path, false);
    EXPECT_TRUE(contains(error_of([&] { Frontend::connect(path, 200ms); }), "Connection refused"));
}

TEST(VhostUserFrontend, ConnectingToAnOverlongPathIsAnError) {
    EXPECT_TRUE(contains(error_of([] { Frontend::connect("/tmp/" + std::string(200, 'x'), 200ms); }),
                         "a Unix socket takes 1 to 107"));
}

} // namespace
} // namespace strata::vhost_user
