// `strata device`: strata's own devices served as vhost-user backends, with
// strata's frontend on /dev/kvm as the other side: the blk pattern through a
// reset, rng for two frontends in turn, and a frontend that sends garbage.
#include "tests/kvm/backend.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace kvmtest;

namespace {

BackendProcess strata_device(const std::string &spec) {
    return BackendProcess("strata-device", {strata_bin, "device", spec, "--socket", "{socket}"});
}

std::string frontend(const BackendProcess &backend, const std::string &type) {
    return "vhost-user,socket=" + backend.socket() + ",type=" + type;
}

} // namespace

TEST(StrataDevice, BlkPatternLandsInTheImageThroughAResetOfTheDevice) {
    const auto image = temp_path("served.img");
    std::ofstream(image, std::ios::binary) << std::string(1 << 20, '\0');
    {
        auto backend = strata_device("virtio-blk,path=" + image + ",id=served");
        ASSERT_TRUE(backend.ready()) << backend.log();
        auto o = run_strata({"run", "--kernel", guest("blk-test"), "--device", frontend(backend, "blk"), "--cmdline",
                             "seed=5 sectors=32 rounds=2"},
                            30s);
        EXPECT_EQ(o.status, 0) << o.out << o.err << backend.log();
        const std::string round = "blk0: capacity 2048 sectors\nblk0: id served\n"
                                  "blk0: wrote 32 sectors, flushed, verified\nblk0: read past end refused\n";
        EXPECT_EQ(o.out, round + round + "blk-test: done\n");
    }
    const auto bytes = strata::test::slurp(image);
    fs::remove(image);
    ASSERT_EQ(bytes.size(), 1u << 20);
    bool pattern = true;
    for (std::size_t o = 0; o < 32 * 512; ++o)
        pattern &= static_cast<unsigned char>(bytes[o]) == ((o * 31 + 5) & 0xff);
    EXPECT_TRUE(pattern) << "the image does not hold the guest's pattern";
    EXPECT_EQ(bytes.substr(32 * 512), std::string((1 << 20) - 32 * 512, '\0'));
}

TEST(StrataDevice, RngServesOneFrontendAfterAnother) {
    auto backend = strata_device("virtio-rng");
    ASSERT_TRUE(backend.ready()) << backend.log();
    std::set<std::string> draws;
    for (int run = 0; run < 2; ++run) {
        auto o = run_strata({"run", "--kernel", guest("rng-test"), "--device", frontend(backend, "rng")}, 30s);
        EXPECT_EQ(o.status, 0) << o.err << backend.log();
        std::regex line("rng: ([0-9a-f]{64})\n");
        for (std::sregex_iterator it(o.out.begin(), o.out.end(), line), end; it != end; ++it)
            draws.insert((*it)[1]);
    }
    EXPECT_EQ(draws.size(), 8u); // four distinct draws per run, none repeated
}

TEST(StrataDevice, AFrontendSendingGarbageIsDroppedAndTheNextIsServed) {
    auto backend = strata_device("virtio-rng");
    ASSERT_TRUE(backend.ready()) << backend.log();
    {
        const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, backend.socket().c_str(), sizeof addr.sun_path - 1);
        ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
        const std::string garbage(64, '\xff');
        ASSERT_EQ(::write(s, garbage.data(), garbage.size()), 64);
        char byte;
        // Closed: end of stream, or a reset because our garbage was left unread.
        const auto n = ::read(s, &byte, 1);
        EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << "the backend should close the connection";
        ::close(s);
    }
    auto o = run_strata({"run", "--kernel", guest("rng-test"), "--device", frontend(backend, "rng")}, 30s);
    EXPECT_EQ(o.status, 0) << o.err << backend.log();
    EXPECT_NE(o.out.find("rng-test: done\n"), std::string::npos);
    EXPECT_NE(backend.log().find("vhost-user: frontend error: a message with flags 4294967295 (version 1, no REPLY "
                                 "bit); waiting for the next frontend"),
              std::string::npos)
        << backend.log();
}

TEST(StrataDevice, UnknownDeviceAndMissingSocketAreUsageErrors) {
    strata::test::expect_usage_error(run_strata({"device", "virtio-gpu", "--socket", temp_path("x.sock")}),
                                     "virtio-gpu: there is no device 'virtio-gpu'");
    strata::test::expect_usage_error(run_strata({"device", "virtio-rng"}),
                                     "strata device needs --socket PATH: where frontends connect");
}
