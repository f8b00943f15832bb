// The backend of `strata device` against a frontend that lies: strata's own
// Frontend (frontend.hpp) connected to a Backend serving virtio-rng on an
// io_context thread. A ring outside the memory table, or one the transport
// refuses, drops the connection; the next frontend is served. No KVM needed.
#include "devices/vhost_user/backend.hpp"
#include "devices/vhost_user/frontend.hpp"
#include "devices/virtio/rng.hpp"
#include "vmm/fd.hpp"
#include "vmm/fd_passing.hpp"

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <cstring>

#include <fcntl.h>
#include <sys/un.h>

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

namespace strata::vhost_user {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t region_size = 1 << 20;
constexpr std::uint64_t guest_base = 0x4000'0000, user_base = 0x7f00'0000'0000;

class BackendTest : public ::testing::Test {
protected:
    BackendTest()
        : path_((std::filesystem::temp_directory_path() / ("strata-backend-" + std::to_string(::getpid()))).string()),
          backend_(io_, path_, std::make_unique<virtio::Rng>()),
          memory_(::memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING)) {
        if (::ftruncate(memory_.get(), region_size) != 0)
            throw_errno("ftruncate", "test guest memory");
        thread_ = std::thread([this] { io_.run(); });
    }
    ~BackendTest() override {
        io_.stop();
        thread_.join();
    }

    // A frontend up to SET_MEM_TABLE: one 1 MiB region at guest_base.
    Frontend connect() {
        auto fe = Frontend::connect(path_, 1s);
        fe.set_owner();
        fe.set_features(fe.get_features() & ~f_protocol_features);
        const MemRegion region{guest_base, region_size, user_base, 0, memory_.get()};
        fe.set_mem_table({&region, 1});
        return fe;
    }

    // A socket to the backend, for bytes no Frontend would send.
    UniqueFd raw_connect() {
        UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
        for (int i = 0; i < 100 && ::connect(sock.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0; ++i)
            std::this_thread::sleep_for(10ms);
        return sock;
    }

    boost::asio::io_context io_;
    std::string path_;
    Backend backend_;
    UniqueFd memory_;
    std::thread thread_;
};

TEST_F(BackendTest, ARingOutsideTheMemoryTableDropsTheConnection) {
    auto fe = connect();
    fe.set_vring_num(0, 16);
    fe.set_vring_addr({0, 0, user_base + region_size, user_base + 0x2000, user_base + 0x1000, 0}); // desc beyond
    EXPECT_THROW(fe.get_vring_base(0), Error); // the backend closed the connection
}

TEST_F(BackendTest, ARingTheTransportRefusesDropsTheConnectionAndTheNextFrontendIsServed) {
    {
        auto fe = connect();
        fe.set_vring_num(0, 16);
        fe.set_vring_addr({0, 0, user_base + 8, user_base + 0x2000, user_base + 0x1000, 0}); // misaligned descriptors
        UniqueFd kick(::eventfd(0, EFD_CLOEXEC));
        EXPECT_THROW(
            {
                fe.set_vring_kick(0, kick.get()); // without protocol features the ring starts here
                fe.get_vring_base(0);
            },
            Error);
    }
    auto fe = connect();
    fe.set_vring_num(0, 16);
    fe.set_vring_addr({0, 0, user_base, user_base + 0x2000, user_base + 0x1000, 0});
    UniqueFd kick(::eventfd(0, EFD_CLOEXEC)), call(::eventfd(0, EFD_CLOEXEC));
    fe.set_vring_call(0, call.get());
    fe.set_vring_kick(0, kick.get());
    EXPECT_EQ(fe.get_vring_base(0), 0u); // a working ring, stopped before any request
}

// Found by the vhost_user_backend fuzz target: the backend mapped a region's
// size from the message without looking at the file, and its first read of a
// ring past the file's end was a SIGBUS that ended `strata device`.
TEST_F(BackendTest, AMemoryRegionLargerThanItsFileDropsTheConnection) {
    auto fe = Frontend::connect(path_, 1s);
    fe.set_owner();
    fe.set_features(fe.get_features() & ~f_protocol_features);
    const MemRegion region{guest_base, 2 * region_size, user_base, 0, memory_.get()}; // the file has region_size
    fe.set_mem_table({&region, 1});
    EXPECT_THROW(fe.get_vring_base(0), Error); // the backend closed the connection
}

TEST_F(BackendTest, AMemoryRegionOffsetPastItsFileDropsTheConnection) {
    auto fe = Frontend::connect(path_, 1s);
    fe.set_owner();
    fe.set_features(fe.get_features() & ~f_protocol_features);
    const MemRegion region{guest_base, region_size, user_base, region_size / 2, memory_.get()};
    fe.set_mem_table({&region, 1});
    EXPECT_THROW(fe.get_vring_base(0), Error);
}

// Found by the vhost_user_backend fuzz target: a region at a guest address
// (or file offset) that is not page-aligned put an aligned ring at a
// misaligned host address, and the ring's atomic 16-bit loads were undefined
// behaviour (UBSan).
TEST_F(BackendTest, AMemoryRegionNotPageAlignedDropsTheConnection) {
    for (const MemRegion region : {MemRegion{guest_base + 3, region_size / 2, user_base, 0, memory_.get()},
                                   MemRegion{guest_base, region_size / 2, user_base, 3, memory_.get()}}) {
        auto fe = Frontend::connect(path_, 1s);
        fe.set_owner();
        fe.set_features(fe.get_features() & ~f_protocol_features);
        fe.set_mem_table({&region, 1});
        EXPECT_THROW(fe.get_vring_base(0), Error)
            << "guest address " << region.guest_addr << ", offset " << region.mmap_offset;
    }
}

// A frontend that shrank its memory after SET_MEM_TABLE would make the
// backend's next ring access a SIGBUS: the backend seals the memfd first, so
// the frontend cannot shrink it any more.
TEST_F(BackendTest, FrontendMemoryIsSealedAgainstShrinking) {
    auto fe = connect();
    fe.set_vring_num(0, 16); // answered after SET_MEM_TABLE was handled
    fe.get_vring_base(0);

    EXPECT_NE(::fcntl(memory_.get(), F_GET_SEALS) & F_SEAL_SHRINK, 0);
    EXPECT_EQ(::ftruncate(memory_.get(), region_size / 2), -1);
    EXPECT_EQ(errno, EPERM);
}

// A frontend may write one message in pieces (the socket is a stream): the
// backend waits for the rest instead of calling the message truncated, for
// as long as the frontend takes, and its io thread serves others meanwhile.
TEST_F(BackendTest, AMessageWrittenInPiecesIsServed) {
    const UniqueFd sock = raw_connect();
    const timeval patience{5, 0};
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    const std::uint32_t get_features[3] = {1, 1, 0}; // GET_FEATURES, version 1, no payload
    const auto *bytes = reinterpret_cast<const char *>(get_features);
    ASSERT_EQ(::send(sock.get(), bytes, 5, 0), 5);
    std::this_thread::sleep_for(50ms);
    std::promise<void> ran;
    boost::asio::post(io_, [&] { ran.set_value(); });
    EXPECT_EQ(ran.get_future().wait_for(500ms), std::future_status::ready) << "the half message holds the io thread";
    std::this_thread::sleep_for(1500ms);
    ASSERT_EQ(::send(sock.get(), bytes + 5, 7, 0), 7);

    std::uint32_t reply[5] = {};
    ASSERT_EQ(::recv(sock.get(), reply, sizeof reply, MSG_WAITALL), static_cast<ssize_t>(sizeof reply));
    EXPECT_EQ(reply[0], 1u); // GET_FEATURES
    EXPECT_EQ(reply[1], 5u); // version 1 | REPLY
    EXPECT_EQ(reply[2], 8u); // a u64
    EXPECT_NE(reply[3] | reply[4], 0u);
}

std::size_t open_fds() {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {}));
}

// The fds that came with a request the frontend never finished are closed
// with its connection (found by the vhost_user_backend fuzz target: they
// stayed open until the next frontend came).
TEST_F(BackendTest, FdsOfAnUnfinishedRequestAreClosedWithTheConnection) {
    const std::size_t before = open_fds();
    {
        const UniqueFd sock = raw_connect();
        UniqueFd kick(::eventfd(0, EFD_CLOEXEC));
        const std::uint32_t set_vring_kick[3] = {12, 1, 8}; // SET_VRING_KICK, version 1, a u64 to come
        const int fd = kick.get();
        ASSERT_EQ(send_with_fds(sock.get(),
                                {reinterpret_cast<const std::uint8_t *>(set_vring_kick), sizeof set_vring_kick},
                                {&fd, 1}),
                  static_cast<ssize_t>(sizeof set_vring_kick));
        std::this_thread::sleep_for(50ms); // the backend takes the header and the fd, and waits for the payload
    }
    for (int i = 0; i < 200 && open_fds() != before; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(open_fds(), before);
}

// virtio-rng has no config space: reads inside [0, size) are zeros as on
// virtio-mmio, an offset past it is refused; the connection stays usable.
TEST_F(BackendTest, GetConfigPastTheConfigSpaceIsRefusedNotACrash) {
    auto fe = Frontend::connect(path_, 1s);
    fe.set_owner();
    ASSERT_TRUE(fe.get_features() & f_protocol_features);
    fe.set_protocol_features(fe.get_protocol_features());
    EXPECT_EQ(fe.get_config(0, 8), std::vector<std::uint8_t>(8, 0));
    EXPECT_THROW(fe.get_config(64, 8), Refused);
    EXPECT_EQ(fe.get_queue_num(), 1u);
}

} // namespace
} // namespace strata::vhost_user
