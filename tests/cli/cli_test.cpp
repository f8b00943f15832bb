// `strata plan` and `strata dtb` as a user runs them: no KVM needed. Checks
// the exact report lines, that a DTB file is complete and valid (libfdt), and
// that a failing `dtb` leaves nothing behind and an existing file untouched.
#include "tests/support/expect.hpp"
#include "tests/support/meson_main.hpp"

#include <gtest/gtest.h>

extern "C" {
#include <libfdt.h>
}

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using strata::test::Outcome;
using strata::test::slurp;

namespace {

std::string strata_bin;

Outcome run_strata(std::vector<std::string> args) {
    args.insert(args.begin(), strata_bin);
    return strata::test::run(args);
}

bool has_line(const std::string &text, const std::string &line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

class TempDir {
public:
    TempDir() : path_(fs::temp_directory_path() / ("strata-cli-" + std::to_string(::getpid()))) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string file(const std::string &name) const { return (path_ / name).string(); }
    std::size_t entries() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path_), {})); }

private:
    fs::path path_;
};

// The whole of stderr is the one sentence.
void expect_exact_usage_error(const Outcome &o, const std::string &message) {
    strata::test::expect_usage_error(o, message);
    EXPECT_EQ(o.err, "strata: " + message + "\n");
}

} // namespace

TEST(Plan, ReportsTheWindowTheReasonAndTheHost) {
    auto o =
        run_strata({"plan", "--arch", "aarch64", "--mem", "8G", "--host-ipa-limit", "44", "--host-pa-range", "48"});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_TRUE(has_line(o.out, "  physical address window: 34 bits (smallest window that holds the map)")) << o.out;
    EXPECT_TRUE(has_line(o.out, "  KVM_CREATE_VM type IPA bits: 34")) << o.out;
    EXPECT_TRUE(has_line(o.out, "  host: IPA limit 44 bits, PARange 48 bits")) << o.out;
    EXPECT_TRUE(has_line(o.out, "host limits: given on the command line")) << o.out;
    EXPECT_NE(o.out.find("  ram0         0x000040000000   0x000240000000   8G       ram"), std::string::npos) << o.out;
}

TEST(Plan, MaxTakesTheHostLimit) {
    auto o = run_strata({"plan", "--arch", "aarch64", "--ipa-bits", "max", "--host-ipa-limit", "48"});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_TRUE(has_line(o.out, "  KVM_CREATE_VM type IPA bits: 48")) << o.out;
}

TEST(Plan, LegacyIsVmTypeZero) {
    auto o = run_strata({"plan", "--arch", "aarch64", "--ipa-bits", "0", "--host-ipa-limit", "44"});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_TRUE(has_line(o.out, "  KVM_CREATE_VM type IPA bits: 0 (legacy/none)")) << o.out;
}

TEST(Plan, JsonCarriesTheSameNumbers) {
    auto o = run_strata({"plan", "--json", "--arch", "aarch64", "--mem", "8G", "--host-ipa-limit", "40"});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.out.rfind("{\"arch\": \"aarch64\"", 0), 0u) << o.out;
    EXPECT_NE(o.out.find("\"ipa_bits\": 34, \"vm_type_bits\": 34"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("\"host\": {\"ipa_limit\": 40, \"pa_range\": 40}"), std::string::npos) << o.out;
}

TEST(Plan, MapAboveTheHostLimitIsAUserError) {
    expect_exact_usage_error(run_strata({"plan", "--arch", "aarch64", "--mem", "2T", "--host-ipa-limit", "40"}),
                             "the memory map needs 42 bits (its highest address is 0x2003fffffff) but this host's "
                             "IPA limit is 40 bits: use --mem 1023G or less");
}

TEST(Plan, WindowBelow32IsRefused) {
    auto o = run_strata({"plan", "--arch", "aarch64", "--ipa-bits", "31"});
    EXPECT_EQ(o.status, 2);
    EXPECT_NE(o.err.find("--ipa-bits 31 is below the smallest window of 32 bits"), std::string::npos) << o.err;
}

TEST(Plan, WindowAboveTheLimitIsRefused) {
    auto o = run_strata({"plan", "--arch", "aarch64", "--ipa-bits", "41", "--host-ipa-limit", "40"});
    EXPECT_EQ(o.status, 2);
    EXPECT_NE(o.err.find("41"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("40"), std::string::npos) << o.err;
}

TEST(Plan, ImpossibleHostLimitIsRefused) {
    expect_exact_usage_error(run_strata({"plan", "--host-ipa-limit", "60"}),
                             "a host physical address size of 60 bits is impossible: it lies between 32 and 52");
}

TEST(Plan, Aarch64OptionsOnX86AreRefused) {
    expect_exact_usage_error(run_strata({"plan", "--arch", "x86_64", "--el2"}),
                             "--el2, --gic and --ram-base are aarch64 options; this machine is x86_64");
}

TEST(Dtb, WritesACompleteValidDeviceTree) {
    TempDir dir;
    const auto out = dir.file("virt.dtb");
    auto o = run_strata(
        {"dtb", "--arch", "aarch64", "--mem", "1G", "--cpus", "2", "--rng", "--cmdline", "console=ttyAMA0", "-o", out});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.out, "");
    const auto blob = slurp(out);
    ASSERT_GT(blob.size(), 0u);
    ASSERT_EQ(fdt_check_full(blob.data(), blob.size()), 0);
    int chosen = fdt_path_offset(blob.data(), "/chosen");
    ASSERT_GE(chosen, 0);
    EXPECT_STREQ(static_cast<const char *>(fdt_getprop(blob.data(), chosen, "bootargs", nullptr)), "console=ttyAMA0");
    EXPECT_GE(fdt_path_offset(blob.data(), "/cpus/cpu@1"), 0);
    EXPECT_GE(fdt_path_offset(blob.data(), "/virtio_mmio@a000000"), 0);
    EXPECT_EQ(dir.entries(), 1u); // no temporary left next to it
}

TEST(Dtb, FailureLeavesNoFileBehind) {
    TempDir dir;
    const auto out = dir.file("big.dtb");
    auto o = run_strata({"dtb", "--arch", "aarch64", "--mem", "2T", "--host-ipa-limit", "40", "-o", out});
    EXPECT_EQ(o.status, 2);
    EXPECT_EQ(dir.entries(), 0u);
}

TEST(Dtb, FailureLeavesAnExistingFileAsItWas) {
    TempDir dir;
    const auto out = dir.file("keep.dtb");
    std::ofstream(out) << "previous contents";
    auto o = run_strata({"dtb", "--arch", "aarch64", "--cpus", "500", "-o", out});
    EXPECT_EQ(o.status, 2);
    EXPECT_EQ(slurp(out), "previous contents");
    EXPECT_EQ(dir.entries(), 1u);
}

// Fails at the last step, after the temporary file was written: the target
// is a directory, so rename(2) refuses (EISDIR) and the temporary must go.
TEST(Dtb, FailureAfterTheTemporaryWasWrittenRemovesIt) {
    TempDir dir;
    const auto out = dir.file("taken.dtb");
    fs::create_directory(out);
    auto o = run_strata({"dtb", "--arch", "aarch64", "-o", out});
    EXPECT_EQ(o.status, 2) << o.err;
    EXPECT_NE(o.err.find("cannot write '" + out + "' (rename): Is a directory"), std::string::npos) << o.err;
    EXPECT_EQ(dir.entries(), 1u); // only the directory: no temporary left beside it
    EXPECT_TRUE(fs::is_empty(out));
}

TEST(Dtb, NeedsAnOutputFile) {
    expect_exact_usage_error(run_strata({"dtb", "--arch", "aarch64"}),
                             "strata dtb needs -o FILE: where to write the device tree");
}

TEST(Dtb, UnwritableDirectoryIsAUserError) {
    auto o = run_strata({"dtb", "--arch", "aarch64", "-o", "/nonexistent-dir/x.dtb"});
    EXPECT_EQ(o.status, 2);
    EXPECT_EQ(o.err, "strata: cannot write '/nonexistent-dir/x.dtb': No such file or directory\n");
}

TEST(Dtb, DeviceOptionsPlaceSlotsWithoutOpeningPaths) {
    TempDir dir;
    const auto out = dir.file("blk.dtb");
    auto o =
        run_strata({"dtb", "--arch", "x86_64", "--blk", "/does/not/exist.img", "--blk", "/also/missing,ro", "-o", out});
    ASSERT_EQ(o.status, 0) << o.err;
    const auto blob = slurp(out);
    ASSERT_EQ(fdt_check_full(blob.data(), blob.size()), 0);
    EXPECT_GE(fdt_path_offset(blob.data(), "/virtio_mmio@d0000000"), 0);
    EXPECT_GE(fdt_path_offset(blob.data(), "/virtio_mmio@d0001000"), 0);
    EXPECT_LT(fdt_path_offset(blob.data(), "/virtio_mmio@d0002000"), 0);
}

// Input files are hostile too: a config file of random bytes (terminal escape
// sequences among them) gives one short line with every such byte escaped; a
// kernel larger than the guest's RAM is refused before it is read.
TEST(HostileInput, ConfigFileOfRandomBytesGivesOneShortPrintableLine) {
    TempDir dir;
    std::string bytes;
    std::uint32_t x = 12345;
    for (int i = 0; i < 4096; ++i) {
        x = x * 1103515245 + 12345;
        bytes += static_cast<char>(x >> 24);
    }
    bytes = "\x1b]0;owned\x07\x1b[2J" + bytes; // set the title, clear the screen
    std::ofstream(dir.file("random.ini"), std::ios::binary) << bytes;

    auto o = run_strata({"plan", "--config", dir.file("random.ini")});

    EXPECT_EQ(o.status, 2) << o.err;
    EXPECT_EQ(o.err.rfind("strata: ", 0), 0u) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_LT(o.err.size(), 600u) << o.err;
    for (char c : o.err)
        EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f) || (c & 0x80))
            << "raw control byte " << int(c) << " in " << o.err;
    EXPECT_EQ(o.err.find('\x1b'), std::string::npos);
    EXPECT_EQ(o.err.find('\x07'), std::string::npos);
}

TEST(HostileInput, KernelLargerThanRamIsRefusedBeforeItIsRead) {
    TempDir dir;
    const auto kernel = dir.file("huge-kernel");
    std::ofstream{kernel}.close();
    fs::resize_file(kernel, 64ull << 20); // sparse: nothing to read
    auto o = run_strata({"run", "--mem", "32M", "--kernel", kernel});

    expect_exact_usage_error(o, "kernel '" + kernel +
                                    "' is 67108864 bytes, more than the guest's RAM (33554432 bytes) "
                                    "can hold");
}

int main(int argc, char **argv) {
    ::testing::InitGoogleTest(&argc, argv);
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s STRATA\n", argv[0]);
        return 1;
    }
    strata_bin = argv[1];
    return strata::test::run_tests_for_meson();
}
