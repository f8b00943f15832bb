// strata::cli: value parsers, the command line + config file, and MachineSpec.
#include "tools/options.hpp"

#include "fdt/plan_error.hpp"
#include "tools/user_error.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <string>
#include <vector>

namespace strata::cli {
namespace {

// The message of the user's mistake `f` throws (a UserError, or a PlanError
// from the planner's value parsers), or "no error".
template <class F>
std::string user_error(F f) {
    try {
        f();
    } catch (const UserError &e) {
        return e.what();
    } catch (const fdt::PlanError &e) {
        return e.what();
    }
    return "no error";
}

::testing::AssertionResult contains(const std::string &text, const std::string &part) {
    if (text.find(part) != std::string::npos)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// argv as the commands get it: the command name first (skipped), then the flags.
Parsed parse_args(std::vector<const char *> args) {
    args.insert(args.begin(), "run");
    return parse(static_cast<int>(args.size()), args.data(), machine_options());
}

std::string parse_error(std::vector<const char *> args) {
    return user_error([&] { parse_args(std::move(args)); });
}

// --- parse_size ---------------------------------------------------------------

TEST(ParseSize, MegabytesAreBinary) { EXPECT_EQ(parse_size("512M", "mem"), 512ull << 20); }
TEST(ParseSize, GigabytesAreBinary) { EXPECT_EQ(parse_size("2G", "mem"), 2ull << 30); }
TEST(ParseSize, TerabytesAreBinary) { EXPECT_EQ(parse_size("1T", "mem"), 1ull << 40); }
TEST(ParseSize, KilobytesAreBinary) { EXPECT_EQ(parse_size("64K", "mem"), 64ull << 10); }
TEST(ParseSize, APlainNumberIsBytes) { EXPECT_EQ(parse_size("4096", "mem"), 4096u); }
TEST(ParseSize, TheIbSuffixIsAccepted) { EXPECT_EQ(parse_size("2GiB", "mem"), 2ull << 30); }
TEST(ParseSize, TheBSuffixIsAccepted) { EXPECT_EQ(parse_size("2GB", "mem"), 2ull << 30); }
TEST(ParseSize, LowercaseUnitsAreAccepted) {
    EXPECT_EQ(parse_size("2gb", "mem"), 2ull << 30);
    EXPECT_EQ(parse_size("512m", "mem"), 512ull << 20);
    EXPECT_EQ(parse_size("64k", "mem"), 64ull << 10);
    EXPECT_EQ(parse_size("1gib", "mem"), 1ull << 30);
}
TEST(ParseSize, TheLargestByteCountIsAccepted) { EXPECT_EQ(parse_size("18446744073709551615", "mem"), UINT64_MAX); }
TEST(ParseSize, TheLargestTerabyteCountIsAccepted) { EXPECT_EQ(parse_size("16777215T", "mem"), 16777215ull << 40); }

TEST(ParseSizeError, EmptyIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not ''");
}
TEST(ParseSizeError, AUnitWithoutANumberIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("M", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not 'M'");
}
TEST(ParseSizeError, AnUnknownUnitIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("12X", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not '12X'");
}
TEST(ParseSizeError, AnUnknownUnitSuffixIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("2Gx", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not '2Gx'");
    EXPECT_EQ(user_error([] { parse_size("2GiBB", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not '2GiBB'");
}
TEST(ParseSizeError, ANegativeNumberIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("-1", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not '-1'");
}
TEST(ParseSizeError, AFractionIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("1.5G", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not '1.5G'");
}
TEST(ParseSizeError, ASpaceBeforeTheUnitIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("2 G", "mem"); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not '2 G'");
}
TEST(ParseSizeError, TheMessageNamesTheOption) {
    EXPECT_EQ(user_error([] { parse_size("big", "initrd-size"); }),
              "--initrd-size wants a size such as 512M, 2G or a number of bytes, not 'big'");
}
TEST(ParseSizeError, ZeroIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("0", "mem"); }), "--mem must be more than 0");
}
TEST(ParseSizeError, ZeroWithAUnitIsRejected) {
    EXPECT_EQ(user_error([] { parse_size("0G", "mem"); }), "--mem must be more than 0");
}
TEST(ParseSizeError, ANumberPastUint64IsTooLarge) {
    EXPECT_EQ(user_error([] { parse_size("99999999999999999999", "mem"); }), "--mem 99999999999999999999 is too large");
}
TEST(ParseSizeError, OnePastUint64IsTooLarge) {
    EXPECT_EQ(user_error([] { parse_size("18446744073709551616", "mem"); }), "--mem 18446744073709551616 is too large");
}
TEST(ParseSizeError, AUnitThatOverflowsIsTooLarge) {
    EXPECT_EQ(user_error([] { parse_size("20000000T", "mem"); }), "--mem 20000000T is too large");
}
TEST(ParseSizeError, OneTerabytePastUint64IsTooLarge) {
    EXPECT_EQ(user_error([] { parse_size("16777216T", "mem"); }), "--mem 16777216T is too large");
}

// --- parse_count --------------------------------------------------------------

TEST(ParseCount, ReadsADecimalNumber) { EXPECT_EQ(parse_count("4", "cpus"), 4u); }
TEST(ParseCount, ReadsZero) { EXPECT_EQ(parse_count("0", "cpus"), 0u); }
TEST(ParseCount, ReadsOneMillion) { EXPECT_EQ(parse_count("1000000", "cpus"), 1'000'000u); }

TEST(ParseCountError, EmptyIsRejected) {
    EXPECT_EQ(user_error([] { parse_count("", "cpus"); }), "--cpus wants a whole number, not ''");
}
TEST(ParseCountError, TrailingCharactersAreRejected) {
    EXPECT_EQ(user_error([] { parse_count("2x", "cpus"); }), "--cpus wants a whole number, not '2x'");
}
TEST(ParseCountError, ANegativeNumberIsRejected) {
    EXPECT_EQ(user_error([] { parse_count("-1", "cpus"); }), "--cpus wants a whole number, not '-1'");
}
TEST(ParseCountError, ALeadingPlusIsRejected) {
    EXPECT_EQ(user_error([] { parse_count("+2", "cpus"); }), "--cpus wants a whole number, not '+2'");
}
TEST(ParseCountError, LeadingSpaceIsRejected) {
    EXPECT_EQ(user_error([] { parse_count(" 2", "cpus"); }), "--cpus wants a whole number, not ' 2'");
}
TEST(ParseCountError, MoreThanOneMillionIsRejected) {
    EXPECT_EQ(user_error([] { parse_count("1000001", "cpus"); }), "--cpus wants a whole number, not '1000001'");
}
TEST(ParseCountError, ANumberPastUnsignedLongIsRejected) {
    EXPECT_EQ(user_error([] { parse_count("99999999999999999999999", "cpus"); }),
              "--cpus wants a whole number, not '99999999999999999999999'");
}

// --- parse_console ------------------------------------------------------------

using Kind = devices::ConsoleSpec::Kind;

TEST(ParseConsole, Stdio) {
    const auto spec = parse_console("stdio");
    EXPECT_EQ(spec.kind, Kind::stdio);
    EXPECT_EQ(spec.path, "");
}
TEST(ParseConsole, None) {
    const auto spec = parse_console("none");
    EXPECT_EQ(spec.kind, Kind::none);
    EXPECT_EQ(spec.path, "");
}
TEST(ParseConsole, FileWithAPath) {
    const auto spec = parse_console("file:/tmp/guest.log");
    EXPECT_EQ(spec.kind, Kind::file);
    EXPECT_EQ(spec.path, "/tmp/guest.log");
}
TEST(ParseConsole, Virtio) {
    const auto spec = parse_console("virtio");
    EXPECT_EQ(spec.kind, Kind::virtio);
    EXPECT_EQ(spec.path, "");
}
TEST(ParseConsole, FileKeepsColonsInThePath) { EXPECT_EQ(parse_console("file:a:b").path, "a:b"); }
// The list of accepted kinds grows with the devices; the sentence's start and
// the echo of what was given are what these tests hold fixed.
TEST(ParseConsoleError, FileWithoutAPathIsRejected) {
    const auto msg = user_error([] { parse_console("file:"); });
    EXPECT_TRUE(contains(msg, "--console wants stdio, none, file:PATH"));
    EXPECT_TRUE(contains(msg, "not 'file:'"));
}
TEST(ParseConsoleError, TtyIsRejected) {
    const auto msg = user_error([] { parse_console("tty"); });
    EXPECT_TRUE(contains(msg, "--console wants stdio, none, file:PATH"));
    EXPECT_TRUE(contains(msg, "not 'tty'"));
}
TEST(ParseConsoleError, EmptyIsRejected) {
    EXPECT_TRUE(contains(user_error([] { parse_console(""); }), "not ''"));
}
TEST(ParseConsoleError, UppercaseIsRejected) {
    EXPECT_TRUE(contains(user_error([] { parse_console("STDIO"); }), "not 'STDIO'"));
}

// --- parse --------------------------------------------------------------------

TEST(Parse, NoFlagsGiveTheDefaults) {
    const auto p = parse_args({});
    EXPECT_EQ(p.vm["mem"].as<std::string>(), "128M");
    EXPECT_EQ(p.vm["cpus"].as<std::string>(), "1");
    EXPECT_FALSE(p.help);
    EXPECT_FALSE(p.version);
}
TEST(Parse, FlagsOverrideTheDefaults) {
    const auto p = parse_args({"--mem", "512M", "--cpus=4"});
    EXPECT_EQ(p.vm["mem"].as<std::string>(), "512M");
    EXPECT_EQ(p.vm["cpus"].as<std::string>(), "4");
}
TEST(Parse, TheFirstArgumentIsTheCommandNameAndIsSkipped) {
    const std::vector<const char *> args = {"--mem=1G", "--cpus=2"};
    const auto p = parse(static_cast<int>(args.size()), args.data(), machine_options());
    EXPECT_EQ(p.vm["mem"].as<std::string>(), "128M");
    EXPECT_EQ(p.vm["cpus"].as<std::string>(), "2");
}
TEST(Parse, HelpIsSeen) {
    EXPECT_TRUE(parse_args({"--help"}).help);
    EXPECT_TRUE(parse_args({"-h"}).help);
}
TEST(Parse, VersionIsSeen) { EXPECT_TRUE(parse_args({"--version"}).version); }

TEST(ParseError, AnUnknownFlagIsAUserErrorNamingIt) { EXPECT_TRUE(contains(parse_error({"--bogus"}), "--bogus")); }
TEST(ParseError, AFlagWithoutItsValueIsAUserErrorNamingIt) { EXPECT_TRUE(contains(parse_error({"--mem"}), "--mem")); }
TEST(ParseError, AFlagGivenTwiceIsAUserError) { EXPECT_TRUE(contains(parse_error({"--mem=1G", "--mem=2G"}), "mem")); }

// Found by the options fuzz target: Boost's message for a bad option replaces
// each %placeholder% by its value until none is left, so a flag or value that
// holds one (--x%canonical_option%) looped forever. Each case gives up after
// 5 s instead of hanging the suite.
std::string parse_error_within_5s(std::vector<const char *> args) {
    auto message = std::async(std::launch::async, [args] { return parse_error(args); });
    if (message.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        ADD_FAILURE() << "parse() did not return within 5 s";
        std::_Exit(1); // the looping thread cannot be stopped
    }
    return message.get();
}
TEST(ParseError, AFlagHoldingAMessagePlaceholderIsAUserErrorNotAHang) {
    EXPECT_TRUE(contains(parse_error_within_5s({"--x%canonical_option%"}), "canonical_option"));
}

// A config file in the test's temporary directory, removed afterwards.
class ParseConfig : public ::testing::Test {
protected:
    void write(const std::string &text) { std::ofstream(path) << text; }
    void TearDown() override { std::remove(path.c_str()); }
    const std::string path = ::testing::TempDir() + "strata-options-test-" + std::to_string(::getpid()) + ".ini";
};

TEST_F(ParseConfig, ValuesComeFromTheFile) {
    write("mem = 256M\ncpus = 2\n");
    const auto p = parse_args({"--config", path.c_str()});
    EXPECT_EQ(p.vm["mem"].as<std::string>(), "256M");
    EXPECT_EQ(p.vm["cpus"].as<std::string>(), "2");
}
TEST_F(ParseConfig, TheCommandLineWinsOverTheFile) {
    write("mem = 256M\ncpus = 2\n");
    const auto p = parse_args({"--mem", "1G", "--config", path.c_str()});
    EXPECT_EQ(p.vm["mem"].as<std::string>(), "1G");
    EXPECT_EQ(p.vm["cpus"].as<std::string>(), "2");
}
TEST_F(ParseConfig, TheCommandLineWinsEvenWhenItComesAfterTheConfigFlag) {
    write("mem = 256M\n");
    const auto p = parse_args({"--config", path.c_str(), "--mem", "1G"});
    EXPECT_EQ(p.vm["mem"].as<std::string>(), "1G");
}
TEST_F(ParseConfig, DefaultsFillWhatTheFileLeavesOut) {
    write("cpus = 3\n");
    const auto p = parse_args({"--config", path.c_str()});
    EXPECT_EQ(p.vm["mem"].as<std::string>(), "128M");
    EXPECT_EQ(p.vm["cpus"].as<std::string>(), "3");
}
TEST_F(ParseConfig, AnUnknownNameInTheFileIsAUserErrorNamingIt) {
    write("mem = 256M\nbogus = 1\n");
    EXPECT_TRUE(contains(parse_error({"--config", path.c_str()}), "bogus"));
}
TEST_F(ParseConfig, AValueHoldingAMessagePlaceholderIsAUserErrorNotAHang) {
    write("el2 = %value%\n");
    EXPECT_TRUE(contains(parse_error_within_5s({"--config", path.c_str()}), "el2"));
}
TEST_F(ParseConfig, AMissingFileIsAUserErrorNamingIt) {
    EXPECT_EQ(parse_error({"--config", "/nonexistent/strata.ini"}),
              "cannot open the config file '/nonexistent/strata.ini'");
}

// --- machine_spec -------------------------------------------------------------

TEST(MachineSpec, DefaultsAre128MiBAndOneCpu) {
    const auto spec = machine_spec(parse_args({}).vm);
    EXPECT_EQ(spec.ram_size, 128ull << 20);
    EXPECT_EQ(spec.cpus, 1u);
}
TEST(MachineSpec, IsForTheHostArchitecture) {
#if defined(__x86_64__)
    EXPECT_EQ(machine_spec(parse_args({}).vm).arch, fdt::Arch::x86_64);
#else
    EXPECT_EQ(machine_spec(parse_args({}).vm).arch, fdt::Arch::aarch64);
#endif
}
TEST(MachineSpec, TakesMemAndCpusFromTheFlags) {
    const auto spec = machine_spec(parse_args({"--mem", "2G", "--cpus", "8"}).vm);
    EXPECT_EQ(spec.ram_size, 2ull << 30);
    EXPECT_EQ(spec.cpus, 8u);
}
TEST_F(ParseConfig, MachineSpecTakesValuesFromTheConfigFile) {
    write("mem = 256M\ncpus = 2\n");
    const auto spec = machine_spec(parse_args({"--config", path.c_str()}).vm);
    EXPECT_EQ(spec.ram_size, 256ull << 20);
    EXPECT_EQ(spec.cpus, 2u);
}
TEST(MachineSpecError, ZeroCpusIsRejected) {
    const auto vm = parse_args({"--cpus", "0"}).vm;
    EXPECT_EQ(user_error([&] { machine_spec(vm); }), "--cpus must be at least 1");
}
TEST(MachineSpecError, ABadMemSizeNamesMem) {
    const auto vm = parse_args({"--mem", "lots"}).vm;
    EXPECT_EQ(user_error([&] { machine_spec(vm); }),
              "--mem wants a size such as 512M, 2G or a number of bytes, not 'lots'");
}
TEST(MachineSpecError, ABadCpuCountNamesCpus) {
    const auto vm = parse_args({"--cpus", "two"}).vm;
    EXPECT_EQ(user_error([&] { machine_spec(vm); }), "--cpus wants a whole number, not 'two'");
}

} // namespace
} // namespace strata::cli
