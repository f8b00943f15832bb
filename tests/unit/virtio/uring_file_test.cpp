// UringFile (devices/virtio/uring_file.hpp) on a real file and io_uring: the
// operations prepared in one handler reach the kernel in one submission, land
// where they should, and report short or failed transfers to their handlers.
#include "devices/virtio/uring_file.hpp"
#include "vmm/fd.hpp"

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <vector>

namespace strata::virtio {
namespace {

constexpr std::size_t block = 4096, blocks = 16;

struct UringFileTest : ::testing::Test {
    // A file in /tmp, as tools/bench's disk (a memfd's reads would not
    // complete inline: shmem punts them to io_uring's workers).
    UringFileTest() : fd_(temporary_file()) {
        std::vector<std::uint8_t> bytes(block * blocks);
        for (std::size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = static_cast<std::uint8_t>(i / block + 1); // block i holds the byte i + 1
        EXPECT_EQ(::pwrite(fd_.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    }
    static UniqueFd temporary_file() {
        char name[] = "/tmp/strata-uring-file-test-XXXXXX";
        UniqueFd fd(::mkstemp(name));
        ::unlink(name);
        return fd;
    }
    boost::asio::io_context io_;
    UniqueFd fd_;
};

TEST_F(UringFileTest, ReadsPreparedInOneHandlerGoToTheKernelInOneSubmission) {
    UringFile file(io_, fd_.get(), 8); // fewer slots than reads: the ninth submits the first eight
    std::vector<std::array<std::uint8_t, block>> buffers(blocks);
    std::vector<int> results(blocks, -1);
    boost::asio::post(io_, [&] {
        for (std::size_t i = 0; i < blocks; ++i)
            file.read((blocks - 1 - i) * block, {{buffers[i].data(), block}}, [&, i](int n) { results[i] = n; });
    });
    io_.run();
    EXPECT_EQ(file.submissions(), 2u); // 8 when the slots ran out, 8 after the handler
    EXPECT_EQ(file.in_flight(), 0u);
    for (std::size_t i = 0; i < blocks; ++i) {
        EXPECT_EQ(results[i], static_cast<int>(block)) << i;
        EXPECT_EQ(buffers[i][0], blocks - i) << i;
        EXPECT_EQ(buffers[i][block - 1], blocks - i) << i;
    }
}

// The file's pages are in the page cache, so its reads complete inside
// io_uring_enter: their handlers run in the handler that submitted them,
// not one eventfd wake-up later. And no handler runs inside read().
TEST_F(UringFileTest, ReadsThatCompleteInlineAreReapedByTheSubmittingHandler) {
    UringFile file(io_, fd_.get(), 32);
    std::vector<std::array<std::uint8_t, block>> buffers(blocks);
    std::vector<int> results(blocks, -1);
    boost::asio::post(io_, [&] {
        for (std::size_t i = 0; i < blocks; ++i)
            file.read(i * block, {{buffers[i].data(), block}}, [&, i](int n) { results[i] = n; });
        EXPECT_EQ(results, std::vector<int>(blocks, -1));
    });
    ASSERT_EQ(io_.run_one(), 1u); // the reads are prepared
    ASSERT_EQ(io_.run_one(), 1u); // the submission
    EXPECT_EQ(file.in_flight(), 0u);
    EXPECT_EQ(results, std::vector<int>(blocks, static_cast<int>(block)));
    io_.run(); // the eventfd's wake-up finds nothing and does not wait again
    EXPECT_EQ(file.submissions(), 1u);
}

TEST_F(UringFileTest, AWriteLandsAndAReadPastTheEndIsShort) {
    UringFile file(io_, fd_.get(), 8);
    std::array<std::uint8_t, 512> out, in{};
    out.fill(0xab);
    int wrote = -1, read = -1, past = -1;
    boost::asio::post(io_, [&] {
        file.write(3 * block, {{out.data(), out.size()}}, [&](int n) {
            wrote = n;
            file.read(3 * block, {{in.data(), in.size()}}, [&](int m) { read = m; });
        });
        file.read(blocks * block - 100, {{in.data(), in.size()}}, [&](int n) { past = n; });
    });
    io_.run();
    EXPECT_EQ(wrote, 512);
    EXPECT_EQ(read, 512);
    EXPECT_EQ(in, out);
    EXPECT_EQ(past, 100); // the caller (virtio-blk) makes a short transfer an I/O error
}

TEST_F(UringFileTest, AFailedOperationReportsItsErrno) {
    const UniqueFd read_only(::open(("/proc/self/fd/" + std::to_string(fd_.get())).c_str(), O_RDONLY | O_CLOEXEC));
    UringFile file(io_, read_only.get(), 8);
    std::array<std::uint8_t, 512> out{};
    int wrote = 0;
    boost::asio::post(io_, [&] { file.write(0, {{out.data(), out.size()}}, [&](int n) { wrote = n; }); });
    io_.run();
    EXPECT_EQ(wrote, -EBADF);
}

} // namespace
} // namespace strata::virtio
