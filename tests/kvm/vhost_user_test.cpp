// The vhost-user frontend against a backend no one here wrote: Debian's
// qemu-storage-daemon exporting a disk image as vhost-user-blk, started and
// stopped by each test. The blk-test guest drives it through strata's
// --device vhost-user exactly as it drives the in-process virtio-blk.
#include "tests/kvm/backend.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace kvmtest;
using strata::test::slurp;

namespace {

constexpr const char *storage_daemon = "/usr/bin/qemu-storage-daemon";

// qemu-storage-daemon serving `image` as vhost-user-blk.
BackendProcess storage_daemon_for(const std::string &image, bool writable) {
    return BackendProcess("qsd",
                          {storage_daemon, "--blockdev", "driver=file,node-name=file0,filename=" + image, "--export",
                           "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path={socket}"
                           ",writable=" +
                               std::string(writable ? "on" : "off")});
}

std::string pattern(std::size_t bytes, unsigned seed) {
    std::string s(bytes, '\0');
    for (std::size_t o = 0; o < bytes; ++o)
        s[o] = static_cast<char>((o * 31 + seed) & 0xff);
    return s;
}

} // namespace

// Two rounds in one VM: the device is reset between them, strata takes the
// rings back (GET_VRING_BASE) and hands them over again at the next DRIVER_OK.
TEST(VhostUserBlk, GuestPatternLandsInTheImageTheDaemonServesAndASecondRunReadsIt) {
    ASSERT_TRUE(fs::exists(storage_daemon)) << "tools/setup installs qemu-system-common";
    const auto image = temp_path("vu.img");
    std::ofstream(image, std::ios::binary) << std::string(1 << 20, '\0');
    {
        BackendProcess qsd = storage_daemon_for(image, true);
        ASSERT_TRUE(qsd.ready()) << "qemu-storage-daemon did not start";
        auto o =
            run_strata({"run", "--kernel", guest("blk-test"), "--device",
                        "vhost-user,socket=" + qsd.socket() + ",type=blk", "--cmdline", "seed=7 sectors=64 rounds=2"},
                       30s);
        EXPECT_EQ(o.status, 0) << o.out << o.err;
        EXPECT_NE(o.out.find("blk0: capacity 2048 sectors\n"), std::string::npos) << o.out;
        const std::string round = "blk0: wrote 64 sectors, flushed, verified\nblk0: read past end refused\n";
        EXPECT_NE(o.out.find(round + "blk0: capacity 2048 sectors\n"), std::string::npos) << o.out; // then round 2
        EXPECT_NE(o.out.find(round + "blk-test: done\n"), std::string::npos) << o.out;
    }
    const auto bytes = slurp(image);
    ASSERT_GE(bytes.size(), 64u * 512);
    EXPECT_TRUE(bytes.substr(0, 64 * 512) == pattern(64 * 512, 7)) << "the image does not hold the guest's pattern";
    {
        BackendProcess qsd = storage_daemon_for(image, false);
        ASSERT_TRUE(qsd.ready());
        auto o = run_strata(
            {"run", "--kernel", guest("blk-test"), "--device", "vhost-user,socket=" + qsd.socket() + ",type=blk"}, 30s);
        EXPECT_EQ(o.status, 0) << o.out << o.err;
        EXPECT_NE(o.out.find("blk0: read-only, write refused\n"), std::string::npos) << o.out;
        EXPECT_NE(o.out.find("blk0: sector0 0726456483a2c1e0\n"), std::string::npos) << o.out; // byte o: o * 31 + 7
    }
    fs::remove(image);
}

// The daemon dies while the guest streams reads: strata logs one device
// failure, marks the device NEEDS_RESET and goes on; the guest (which polls
// with a timeout) gives up and powers off, and strata exits with its status.
TEST(VhostUserBlk, ABackendThatDiesMidRunMarksTheDeviceAndStrataGoesOn) {
    const auto image = temp_path("vu-dies.img");
    std::ofstream(image, std::ios::binary) << std::string(64 << 20, '\0');
    BackendProcess qsd = storage_daemon_for(image, true);
    ASSERT_TRUE(qsd.ready());
    auto child = strata::test::spawn({strata_bin, "run", "--kernel", guest("blk-bench"), "--device",
                                      "vhost-user,socket=" + qsd.socket() + ",type=blk", "--cmdline",
                                      "op=read size=65536 depth=16 total=1000000000000"});
    std::this_thread::sleep_for(1500ms); // the guest is streaming reads by now
    qsd.kill();
    auto o = strata::test::finish(child, 30s);
    fs::remove(image);
    EXPECT_EQ(o.killed_by, 0);
    EXPECT_EQ(o.status, 3) << o.out << o.err; // blk-bench's exit(1) through the debug-exit port
    EXPECT_NE(o.out.find("blk-bench: timed out, bytes done: "), std::string::npos) << o.out;
    const std::string warning = "device failure: vhost-user blk backend at " + qsd.socket() +
                                ": it closed the connection; device needs reset (logged once)\n";
    EXPECT_NE(o.err.find(warning), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

TEST(VhostUserBlk, NoBackendOnTheSocketIsAUsageErrorBeforeAnyVm) {
    const auto sock = temp_path("nobody.sock");
    auto o = run_strata({"run", "--kernel", guest("blk-test"), "--device", "vhost-user,socket=" + sock + ",type=blk"});
    strata::test::expect_usage_error(o, "--device vhost-user,socket=" + sock + ",type=blk: vhost-user blk backend at " +
                                            sock + ": ");
}
