// A device registered from tests/ only (test-echo, tests/plugin) runs through
// --device under strata-plugged: the CLI, the planner and the VM code are
// strata's own, unchanged.
#include "tests/kvm/kvm_env.hpp"

#include <gtest/gtest.h>

using namespace kvmtest;

namespace {

strata::test::Outcome run_plugged(std::vector<std::string> args) {
    args.insert(args.begin(), plugged_bin);
    return strata::test::run(args);
}

} // namespace

TEST(Plugin, TestEchoGivesBackWhatTheGuestSentXoredWithItsOption) {
    auto o =
        run_plugged({"run", "--kernel", guest("echo-test"), "--device", "test-echo,xor=0x20", "--cmdline", "xor=32"});
    EXPECT_EQ(o.out, "echo-test: back \"hello from a plugin\" (19 bytes)\necho-test: count 19\n");
    EXPECT_EQ(o.err, "");
    EXPECT_EQ(o.status, 0);
}

// An exception out of a device (a bug, bad_alloc) on the io thread stops the
// vCPUs and strata with exit status 3, instead of hanging in the join of
// vCPU threads nobody told to stop.
TEST(Plugin, ADeviceThatThrowsStopsTheVmWithAHostError) {
    auto o = strata::test::run({plugged_bin, "run", "--kernel", guest("echo-test"), "--device", "test-throw"},
                               std::chrono::seconds(20));
    EXPECT_EQ(o.status, 3) << o.err;
    EXPECT_NE(o.err.find("strata: error: the io thread failed: test-throw: notify failed\n"), std::string::npos)
        << o.err;
}

TEST(Plugin, SitsInTheDeviceTreeLikeAnyVirtioSlot) {
    auto o = run_plugged({"plan", "--device", "test-echo", "--rng"});
    EXPECT_EQ(o.status, 0) << o.err;
    EXPECT_NE(o.out.find("  virtio0      virtio-rng       type 4   GSI 5\n"
                         "  virtio1      test-echo        type 32343 GSI 6\n"),
              std::string::npos)
        << o.out;
}

TEST(Plugin, ItsOptionsAreCheckedBeforeAnyVm) {
    strata::test::expect_usage_error(
        run_plugged({"run", "--kernel", guest("echo-test"), "--device", "test-echo,xor=300"}),
        "--device test-echo,xor=300: xor=300 is not a byte (0 to 255, or 0x00 to 0xff)");
}

TEST(Plugin, StrataWithoutThePluginDoesNotKnowIt) {
    strata::test::expect_usage_error(run_strata({"run", "--device", "test-echo"}),
                                     "--device test-echo: there is no device 'test-echo' (known: vhost-user, "
                                     "virtio-blk, virtio-console, virtio-net, virtio-rng)");
}
