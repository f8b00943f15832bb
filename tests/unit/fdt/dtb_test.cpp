// The device tree of a Layout: what each node carries (read back with libfdt)
// and three representative machines compared byte for byte with golden DTS.
// STRATA_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing.

#include "support.hpp"

#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <libfdt.h>

namespace strata::fdt::test {
namespace {

using Cells = std::vector<std::uint32_t>;

std::vector<std::uint8_t> dtb_of(const MachineSpec &spec, unsigned limit = 48, const BootConfig &boot = boot_config()) {
    return build(plan(spec, host(limit)), boot);
}

// ---- the three golden machines

MachineSpec golden_x86() {
    MachineSpec s = machine(Arch::x86_64, 5 * GiB, 2, 2);
    s.virtio[1] = VirtioRequest{1, "virtio-net"};
    s.initrd_size = 1 * MiB;
    return s;
}

MachineSpec golden_arm_v3_el2() {
    MachineSpec s = machine(Arch::aarch64, 1 * GiB, 2, 2);
    s.virtio[0] = VirtioRequest{3, "virtio-console"};
    s.el2 = true;
    s.initrd_size = 4 * MiB;
    return s;
}

MachineSpec golden_arm_v2() {
    MachineSpec s = machine(Arch::aarch64, 256 * MiB, 4, 1);
    s.gic = GicVersion::v2;
    s.ram_base = 8 * GiB;
    return s;
}

void expect_golden(const MachineSpec &spec, const std::string &file) {
    const std::string path = std::string(FDT_TEST_DIR) + "/golden/" + file;
    const Dtc out = decompile(dtb_of(spec));
    ASSERT_EQ(out.status, 0) << out.warnings;
    EXPECT_EQ(out.warnings, "");
    if (std::getenv("STRATA_UPDATE_GOLDEN") != nullptr) {
        std::ofstream(path) << out.dts;
        GTEST_SKIP() << "rewrote " << path;
    }
    EXPECT_EQ(out.dts, read_file(path)) << "golden file " << path;
}

TEST(DtbGolden, X86TwoBanksTwoCpusInitrdAndVirtio) { expect_golden(golden_x86(), "x86_64.dts"); }
TEST(DtbGolden, Aarch64GicV3El2GuestWithInitrd) { expect_golden(golden_arm_v3_el2(), "aarch64-gicv3-el2.dts"); }
TEST(DtbGolden, Aarch64GicV2AtAnExplicitRamBase) { expect_golden(golden_arm_v2(), "aarch64-gicv2.dts"); }

// ---- both architectures

TEST(Dtb, PassesFdtCheckFullAndFitsItsRegion) {
    for (const auto &spec : {golden_x86(), golden_arm_v3_el2(), golden_arm_v2()}) {
        const Layout l = plan(spec, host(48));
        const auto dtb = build(l, boot_config());
        EXPECT_EQ(fdt_check_full(dtb.data(), dtb.size()), 0);
        EXPECT_LE(dtb.size(), l.dtb.size);
    }
}

TEST(Dtb, ChosenCarriesBootargsIpaBitsSeedsAndInitrd) {
    const Layout l = plan(golden_arm_v3_el2(), host(48));
    const auto dtb = build(l, boot_config());
    EXPECT_EQ(string_prop(dtb, "/chosen", "bootargs"), "console=ttyAMA0 quiet");
    EXPECT_EQ(cells(dtb, "/chosen", "strata,ipa-bits"), Cells{32});
    EXPECT_EQ(bytes_prop(dtb, "/chosen", "rng-seed"), boot_config().rng_seed);
    EXPECT_EQ(bytes_prop(dtb, "/chosen", "kaslr-seed"), boot_config().kaslr_seed);
    EXPECT_EQ(cells(dtb, "/chosen", "linux,initrd-start"), Cells{0x7fc0'0000});
    EXPECT_EQ(cells(dtb, "/chosen", "linux,initrd-end"), Cells{0x8000'0000});
}

TEST(Dtb, AnInitrdEndingAt4GiBOrAboveTakesTwoCellsEach) {
    MachineSpec at_4g = machine(Arch::aarch64, 3 * GiB); // RAM 0x4000'0000..0x1'0000'0000
    at_4g.initrd_size = 1 * MiB;
    const auto dtb = dtb_of(at_4g);
    EXPECT_EQ(cells(dtb, "/chosen", "linux,initrd-start"), (Cells{0, 0xfff0'0000}));
    EXPECT_EQ(cells(dtb, "/chosen", "linux,initrd-end"), (Cells{1, 0}));

    MachineSpec high = golden_arm_v2(); // RAM at 8 GiB
    high.initrd_size = 1 * MiB;
    EXPECT_EQ(cells(dtb_of(high), "/chosen", "linux,initrd-end"), (Cells{2, 0x1000'0000}));
}

TEST(Dtb, TheRootNamesTheMachineInModel) {
    EXPECT_EQ(string_prop(dtb_of(golden_x86()), "/", "model"), "strata x86_64 virtual machine");
    EXPECT_EQ(string_prop(dtb_of(golden_arm_v2()), "/", "model"), "strata aarch64 virtual machine");
}

TEST(Dtb, EmptySeedsAndNoInitrdAreLeftOut) {
    BootConfig boot;
    const auto dtb = dtb_of(machine(Arch::aarch64, 1 * GiB), 48, boot);
    EXPECT_TRUE(node_exists(dtb, "/chosen"));
    EXPECT_TRUE(bytes_prop(dtb, "/chosen", "rng-seed").empty());
    EXPECT_TRUE(bytes_prop(dtb, "/chosen", "kaslr-seed").empty());
    EXPECT_TRUE(bytes_prop(dtb, "/chosen", "linux,initrd-start").empty());
}

TEST(Dtb, AMapLargerThanTheDtbRegionIsAPlanError) {
    Layout l = plan(machine(Arch::x86_64, 128 * MiB), host(48));
    l.dtb.size = 256;
    EXPECT_THROW(build(l, boot_config()), PlanError);
}

// The writer starts small and grows: a tree many times its first buffer
// (a 100 KiB command line) comes out whole, and one past the region the
// planner reserved is still refused.
TEST(Dtb, ATreeLargerThanTheFirstBufferGrowsUpToItsRegion) {
    const Layout l = plan(machine(Arch::x86_64, 128 * MiB), host(48));
    BootConfig boot = boot_config();
    boot.bootargs = std::string(100 << 10, 'x');
    const auto dtb = build(l, boot);
    EXPECT_EQ(fdt_check_full(dtb.data(), dtb.size()), 0);
    EXPECT_EQ(string_prop(dtb, "/chosen", "bootargs"), boot.bootargs);

    boot.bootargs = std::string(l.dtb.size, 'x');
    EXPECT_THROW(build(l, boot), PlanError);
}

// ---- x86_64

TEST(DtbX86, OneMemoryNodePerBank) {
    const auto dtb = dtb_of(golden_x86());
    EXPECT_EQ(string_prop(dtb, "/memory@0", "device_type"), "memory");
    EXPECT_EQ(cells(dtb, "/memory@0", "reg"), (Cells{0, 0, 0, 0xC000'0000}));
    EXPECT_EQ(cells(dtb, "/memory@100000000", "reg"), (Cells{1, 0, 0, 0x8000'0000}));
}

TEST(DtbX86, CpusAreNumberedByApicId) {
    const auto dtb = dtb_of(golden_x86());
    EXPECT_EQ(cells(dtb, "/cpus", "#address-cells"), Cells{1});
    EXPECT_EQ(cells(dtb, "/cpus/cpu@1", "reg"), Cells{1});
    EXPECT_EQ(string_prop(dtb, "/cpus/cpu@1", "device_type"), "cpu");
}

TEST(DtbX86, VirtioNodesCarryTheirGsiUnderTheIoapic) {
    const auto dtb = dtb_of(golden_x86());
    EXPECT_EQ(string_prop(dtb, "/", "compatible"), "strata,x86_64");
    EXPECT_EQ(string_prop(dtb, "/virtio_mmio@d0001000", "compatible"), "virtio,mmio");
    EXPECT_EQ(cells(dtb, "/virtio_mmio@d0001000", "reg"), (Cells{0, 0xD000'1000, 0, 0x1000}));
    EXPECT_EQ(cells(dtb, "/virtio_mmio@d0001000", "interrupts"), Cells{6});
    EXPECT_EQ(cells(dtb, "/interrupt-controller@fec00000", "#interrupt-cells"), Cells{1});
    EXPECT_EQ(cells(dtb, "/", "interrupt-parent"), cells(dtb, "/interrupt-controller@fec00000", "phandle"));
}

// ---- aarch64

TEST(DtbArm, RootIsDummyVirtWithASerialAliasAndStdoutPath) {
    const auto dtb = dtb_of(machine(Arch::aarch64, 1 * GiB));
    EXPECT_EQ(string_prop(dtb, "/", "compatible"), "linux,dummy-virt");
    EXPECT_EQ(string_prop(dtb, "/aliases", "serial0"), "/serial@9000000");
    EXPECT_EQ(string_prop(dtb, "/chosen", "stdout-path"), "/serial@9000000");
}

TEST(DtbArm, AnExplicitStdoutPathWins) {
    BootConfig boot = boot_config();
    boot.stdout_path = "serial0:115200n8";
    const auto dtb = dtb_of(machine(Arch::aarch64, 1 * GiB), 48, boot);
    EXPECT_EQ(string_prop(dtb, "/chosen", "stdout-path"), "serial0:115200n8");
}

TEST(DtbArm, CpuRegIsKvmsDefaultMpidr) {
    const auto dtb = dtb_of(machine(Arch::aarch64, 1 * GiB, 18));
    EXPECT_EQ(cells(dtb, "/cpus/cpu@f", "reg"), Cells{0x0f});
    EXPECT_EQ(cells(dtb, "/cpus/cpu@101", "reg"), Cells{0x101});
    EXPECT_EQ(string_prop(dtb, "/cpus/cpu@101", "enable-method"), "psci");
    EXPECT_EQ(string_prop(dtb, "/cpus/cpu@101", "compatible"), "arm,armv8");
}

TEST(DtbArm, PsciUsesHvcAndSmcForEl2Guests) {
    EXPECT_EQ(string_prop(dtb_of(machine(Arch::aarch64, 1 * GiB)), "/psci", "method"), "hvc");
    EXPECT_EQ(string_prop(dtb_of(golden_arm_v3_el2()), "/psci", "method"), "smc");
    EXPECT_EQ(string_prop(dtb_of(golden_arm_v3_el2()), "/psci", "compatible"),
              std::string("arm,psci-1.0\0arm,psci-0.2", 25));
}

TEST(DtbArm, TimerHasFourPpisAndTheEl2VirtualTimerForEl2Guests) {
    EXPECT_EQ(cells(dtb_of(machine(Arch::aarch64, 1 * GiB)), "/timer", "interrupts"),
              (Cells{1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4}));
    EXPECT_EQ(cells(dtb_of(golden_arm_v3_el2()), "/timer", "interrupts"),
              (Cells{1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4, 1, 12, 4}));
}

TEST(DtbArm, GicV3HasDistributorAndRedistributorsAndTheMaintenancePpiAtEl2) {
    const auto plain = dtb_of(machine(Arch::aarch64, 1 * GiB, 3));
    EXPECT_EQ(string_prop(plain, "/interrupt-controller@8000000", "compatible"), "arm,gic-v3");
    EXPECT_EQ(cells(plain, "/interrupt-controller@8000000", "reg"),
              (Cells{0, 0x0800'0000, 0, 0x1'0000, 0, 0x080A'0000, 0, 3 * 0x2'0000}));
    EXPECT_TRUE(cells(plain, "/interrupt-controller@8000000", "interrupts").empty());
    EXPECT_EQ(cells(dtb_of(golden_arm_v3_el2()), "/interrupt-controller@8000000", "interrupts"), (Cells{1, 9, 4}));
}

TEST(DtbArm, GicV2HasACpuInterfaceAndPpisNameTheCpus) {
    const auto dtb = dtb_of(golden_arm_v2());
    EXPECT_EQ(string_prop(dtb, "/interrupt-controller@8000000", "compatible"), "arm,cortex-a15-gic");
    EXPECT_EQ(cells(dtb, "/interrupt-controller@8000000", "reg"),
              (Cells{0, 0x0800'0000, 0, 0x1000, 0, 0x0801'0000, 0, 0x2000}));
    EXPECT_EQ(cells(dtb, "/timer", "interrupts")[2], 0xf04u); // 4 CPUs, level high
}

TEST(DtbArm, Pl011HasItsClockAndSpi) {
    const auto dtb = dtb_of(machine(Arch::aarch64, 1 * GiB));
    EXPECT_EQ(string_prop(dtb, "/serial@9000000", "compatible"), std::string("arm,pl011\0arm,primecell", 23));
    EXPECT_EQ(cells(dtb, "/serial@9000000", "interrupts"), (Cells{0, 1, 4}));
    const auto clock = cells(dtb, "/apb-pclk", "phandle");
    ASSERT_EQ(clock.size(), 1u);
    EXPECT_EQ(cells(dtb, "/serial@9000000", "clocks"), (Cells{clock[0], clock[0]}));
    EXPECT_EQ(string_prop(dtb, "/serial@9000000", "clock-names"), std::string("uartclk\0apb_pclk", 16));
    EXPECT_EQ(string_prop(dtb, "/rtc@9010000", "compatible"), std::string("arm,pl031\0arm,primecell", 23));
    EXPECT_EQ(cells(dtb, "/rtc@9010000", "interrupts"), (Cells{0, 2, 4}));
}

TEST(DtbArm, VirtioIsAnEdgeRisingSpiAndDmaCoherent) {
    const auto dtb = dtb_of(machine(Arch::aarch64, 1 * GiB, 1, 2));
    EXPECT_EQ(cells(dtb, "/virtio_mmio@a001000", "interrupts"), (Cells{0, 17, 1}));
    const int node = fdt_path_offset(dtb.data(), "/virtio_mmio@a001000");
    EXPECT_NE(fdt_getprop(dtb.data(), node, "dma-coherent", nullptr), nullptr);
}

} // namespace
} // namespace strata::fdt::test
