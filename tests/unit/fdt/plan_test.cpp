// The planner, one behaviour per test: the two maps, the window choice and
// every user error with its message.

#include "support.hpp"

#include <gtest/gtest.h>

namespace strata::fdt::test {
namespace {

std::string error_of(const MachineSpec &spec, const HostCaps &caps) {
    try {
        plan(spec, caps);
    } catch (const PlanError &e) {
        return e.what();
    }
    return "(no error)";
}

MachineSpec x86(std::uint64_t ram, unsigned cpus = 1, unsigned virtio = 0) {
    return machine(Arch::x86_64, ram, cpus, virtio);
}
MachineSpec arm(std::uint64_t ram, unsigned cpus = 1, unsigned virtio = 0) {
    return machine(Arch::aarch64, ram, cpus, virtio);
}
MachineSpec with_ipa(MachineSpec s, std::string_view request) {
    s.ipa = parse_ipa_request(request);
    return s;
}

// ---- x86_64 map

TEST(PlanX86, RamUpTo3GiBIsOneBankAtZero) {
    const Layout l = plan(x86(128 * MiB), host(48));
    ASSERT_EQ(l.ram.size(), 1u);
    EXPECT_EQ(l.ram[0].name, "ram0");
    EXPECT_EQ(l.ram[0].base, 0u);
    EXPECT_EQ(l.ram[0].size, 128 * MiB);
}

TEST(PlanX86, RamBeyond3GiBContinuesAt4GiB) {
    const Layout l = plan(x86(5 * GiB), host(48));
    ASSERT_EQ(l.ram.size(), 2u);
    EXPECT_EQ(l.ram[0].size, 3 * GiB);
    EXPECT_EQ(l.ram[1].name, "ram1");
    EXPECT_EQ(l.ram[1].base, 4 * GiB);
    EXPECT_EQ(l.ram[1].size, 2 * GiB);
    EXPECT_EQ(l.ipa_bits, 33u);
}

TEST(PlanX86, BootTablesAndDtbLieInLowRam) {
    const Layout l = plan(x86(16 * MiB), host(48));
    EXPECT_EQ(l.boot.base, 0x1000u);
    EXPECT_EQ(l.boot.end(), 0x80000u);
    EXPECT_EQ(l.dtb.base, 0x80000u);
    EXPECT_EQ(l.dtb.end(), 0x100000u);
    EXPECT_EQ(l.find("dtb")->kind, RegionKind::in_ram);
}

TEST(PlanX86, InitrdSitsAtTheTopOfLowRam) {
    MachineSpec s = x86(8 * GiB);
    s.initrd_size = 5 * MiB + 1;
    const Layout l = plan(s, host(48));
    EXPECT_EQ(l.initrd.size, 5 * MiB + 1);
    EXPECT_EQ(l.initrd.base, 3 * GiB - 5 * MiB - 4096); // page aligned
}

TEST(PlanX86, VirtioSlotsAre4KiBFromD0000000WithGsisSkipping8) {
    const Layout l = plan(x86(128 * MiB, 1, 5), host(48));
    ASSERT_EQ(l.virtio.size(), 5u);
    EXPECT_EQ(l.virtio[0].window.name, "virtio0");
    EXPECT_EQ(l.virtio[0].window.base, 0xD000'0000u);
    EXPECT_EQ(l.virtio[4].window.base, 0xD000'4000u);
    EXPECT_EQ(l.virtio[4].window.size, 0x1000u);
    std::vector<std::uint32_t> gsis;
    for (const auto &v : l.virtio)
        gsis.push_back(v.irq);
    EXPECT_EQ(gsis, (std::vector<std::uint32_t>{5, 6, 7, 9, 10}));
    EXPECT_EQ(l.uart_irq, 4u);
}

TEST(PlanX86, IrqchipWindowsAreReserved) {
    const Layout l = plan(x86(128 * MiB), host(48));
    ASSERT_NE(l.find("ioapic"), nullptr);
    EXPECT_EQ(l.find("ioapic")->base, 0xFEC0'0000u);
    EXPECT_EQ(l.find("lapic")->base, 0xFEE0'0000u);
    EXPECT_EQ(l.find("lapic")->kind, RegionKind::irqchip);
}

TEST(PlanX86, KvmsTssPagesAreReservedBelow4GiB) {
    const Layout l = plan(x86(128 * MiB), host(48));
    ASSERT_NE(l.find("tss"), nullptr);
    EXPECT_EQ(l.tss.base, 0xfffb'd000u);
    EXPECT_EQ(l.tss.size, 3 * 4096u);
    EXPECT_EQ(l.find("tss")->kind, RegionKind::reserved);
}

// Without 1 GiB pages the boot area's 125 table pages map 124 GiB: --mem 123G
// ends the map at 124 GiB (RAM above 3 GiB continues at 4 GiB); 124G does not fit.
TEST(PlanX86, WithoutGibPagesTheBootTablesCapTheMapAt124GiB) {
    HostCaps no_gib = host(48);
    no_gib.pages_1g = false;
    const Layout l = plan(x86(123 * GiB), no_gib);
    EXPECT_EQ(l.boot_tables().gibs, 124u);
    EXPECT_EQ(l.boot_tables().bytes, 0x2000u + (1 + 124) * 0x1000u);
    EXPECT_EQ(error_of(x86(124 * GiB), no_gib),
              "--mem 124G needs more boot page tables than the 0x7f000-byte boot area holds "
              "(this host has no 1 GiB pages): use a smaller --mem");
    EXPECT_EQ(error_of(x86(124 * GiB), host(48)), "(no error)"); // with 1 GiB pages: one PDPT page
}

TEST(PlanX86, PortsAreTheFixedFour) {
    const Layout l = plan(x86(128 * MiB), host(48));
    ASSERT_NE(l.find_port("serial"), nullptr);
    EXPECT_EQ(l.find_port("serial")->base, 0x3f8);
    EXPECT_EQ(l.find_port("serial")->size, 8);
    EXPECT_EQ(l.find_port("debug-exit")->base, 0xf4);
    EXPECT_EQ(l.find_port("power-off")->base, 0x604);
    EXPECT_EQ(l.find_port("power-off")->size, 2);
    EXPECT_EQ(l.find_port("null")->base, 0x80);
    EXPECT_EQ(l.find_port("nothing"), nullptr);
}

TEST(PlanX86, RegionsAreAscending) {
    const Layout l = plan(x86(6 * GiB, 1, 2), host(48));
    for (std::size_t i = 1; i < l.regions.size(); ++i)
        EXPECT_LE(l.regions[i - 1].base, l.regions[i].base);
}

TEST(PlanX86, AutoWindowIs32BitsForSmallRamAndTheVmTypeIsAlways0) {
    const Layout l = plan(x86(128 * MiB), host(48));
    EXPECT_EQ(l.ipa_bits, 32u);
    EXPECT_EQ(l.vm_type_bits, 0u);
    EXPECT_EQ(l.ipa_reason, "smallest window that holds the map");
    EXPECT_EQ(l.host.ipa_limit, 48u);
}

TEST(PlanX86, RamBaseIsRefused) {
    MachineSpec s = x86(128 * MiB);
    s.ram_base = 1 * GiB;
    EXPECT_EQ(error_of(s, host(48)),
              "--ram-base 0x40000000 was given but x86_64 RAM always starts at 0: drop --ram-base");
}

TEST(PlanX86, LessThan16MiBOfRamIsRefused) {
    EXPECT_EQ(error_of(x86(15 * MiB), host(48)), "--mem 15M is below the smallest RAM of 16M: use --mem 16M or more");
}

TEST(PlanX86, MoreVirtioDevicesThanGsisIsRefused) {
    EXPECT_EQ(error_of(x86(128 * MiB, 1, 19), host(48)),
              "19 virtio devices were asked for but x86_64 has interrupt lines for 18: use at most "
              "18 (--device, --blk, --net, --rng and --console virtio together)");
    EXPECT_NO_THROW(plan(x86(128 * MiB, 1, 18), host(48)));
}

TEST(PlanX86, MapAboveTheHostLimitNamesBothNumbersAndTheLargestRamThatFits) {
    EXPECT_EQ(error_of(x86(64 * GiB), host(36)),
              "the memory map needs 37 bits (its highest address is 0x103fffffff) but this host's "
              "physical address limit is 36 bits: use --mem 63G or less");
    EXPECT_NO_THROW(plan(x86(63 * GiB), host(36)));
}

TEST(PlanX86, El2IsRefused) {
    MachineSpec s = x86(128 * MiB);
    s.el2 = true;
    EXPECT_EQ(error_of(s, host(48)), "--el2 (a guest hypervisor) is an aarch64 feature: drop --el2 on x86_64");
}

// ---- aarch64 map

TEST(PlanArm, DefaultMapHasGicUartRtcLowAndRamAt1GiB) {
    const Layout l = plan(arm(1 * GiB, 2), host(40));
    EXPECT_EQ(l.find("gic-dist")->base, 0x0800'0000u);
    EXPECT_EQ(l.find("gic-dist")->size, 0x1'0000u);
    EXPECT_EQ(l.find("gic-redist")->base, 0x080A'0000u);
    EXPECT_EQ(l.find("gic-redist")->size, 2 * 0x2'0000u);
    EXPECT_EQ(l.find("pl011")->base, 0x0900'0000u);
    EXPECT_EQ(l.find("pl031")->base, 0x0901'0000u);
    EXPECT_EQ(l.uart_irq, 1u);
    EXPECT_EQ(l.rtc_irq, 2u);
    ASSERT_EQ(l.ram.size(), 1u);
    EXPECT_EQ(l.ram[0].base, 1 * GiB);
    EXPECT_EQ(l.ram[0].size, 1 * GiB);
    EXPECT_TRUE(l.ports.empty());
}

TEST(PlanArm, DtbIsThe2MiBAtTheTopOfRam) {
    const Layout l = plan(arm(1 * GiB), host(40));
    EXPECT_EQ(l.dtb.base, 2 * GiB - 2 * MiB);
    EXPECT_EQ(l.dtb.size, 2 * MiB);
}

TEST(PlanArm, InitrdIsAtTheTopAndTheDtbJustBelowIt2MiBAligned) {
    MachineSpec s = arm(1 * GiB);
    s.initrd_size = 3 * MiB;
    const Layout l = plan(s, host(40));
    EXPECT_EQ(l.initrd.base, 2 * GiB - 3 * MiB);
    EXPECT_EQ(l.initrd.end(), 2 * GiB);
    EXPECT_EQ(l.dtb.base, 2 * GiB - 6 * MiB);
}

TEST(PlanArm, RamPast4GiBIsOneBankAndTheDtbStaysBelow4GiB) {
    const Layout l = plan(arm(8 * GiB), host(40));
    ASSERT_EQ(l.ram.size(), 1u);
    EXPECT_EQ(l.ram[0].end(), 9 * GiB);
    EXPECT_EQ(l.dtb.end(), 4 * GiB);
    EXPECT_EQ(l.ipa_bits, 34u);
    EXPECT_EQ(l.vm_type_bits, 34u);
}

TEST(PlanArm, VirtioSlotsUseSpis16AndUp) {
    const Layout l = plan(arm(1 * GiB, 1, 32), host(40));
    EXPECT_EQ(l.virtio[0].window.base, 0x0A00'0000u);
    EXPECT_EQ(l.virtio[0].irq, 16u);
    EXPECT_EQ(l.virtio[31].window.base, 0x0A01'F000u);
    EXPECT_EQ(l.virtio[31].irq, 47u);
    EXPECT_EQ(error_of(arm(1 * GiB, 1, 33), host(40)),
              "33 virtio devices were asked for but aarch64 has interrupt lines for 32: use at "
              "most 32 (--device, --blk, --net, --rng and --console virtio together)");
}

TEST(PlanArm, GicV3HoldsAsManyVcpusAsItsRedistributorWindow) {
    EXPECT_EQ(max_cpus(Arch::aarch64, GicVersion::v3), 123u);
    const Layout l = plan(arm(1 * GiB, 123), host(40));
    EXPECT_EQ(l.find("gic-redist")->end(), 0x0900'0000u);
    EXPECT_EQ(error_of(arm(1 * GiB, 124), host(40)),
              "124 vCPUs were asked for but the GICv3 redistributor window holds 1 to 123: use "
              "--cpus 123 or fewer");
}

TEST(PlanArm, GicV2HasACpuInterfaceAndAtMost8Vcpus) {
    MachineSpec s = arm(1 * GiB, 8);
    s.gic = GicVersion::v2;
    const Layout l = plan(s, host(40));
    EXPECT_EQ(l.find("gic-cpu")->base, 0x0801'0000u);
    EXPECT_EQ(l.find("gic-redist"), nullptr);
    s.cpus = 9;
    EXPECT_EQ(error_of(s, host(40)),
              "9 vCPUs were asked for but GICv2 holds 1 to 8: use --cpus 8 or fewer, or --gic v3");
}

TEST(PlanArm, ZeroVcpusIsRefused) {
    EXPECT_EQ(error_of(arm(1 * GiB, 0), host(40)),
              "0 vCPUs were asked for but the GICv3 redistributor window holds 1 to 123: use "
              "--cpus 123 or fewer");
}

TEST(PlanArm, El2NeedsGicV3) {
    MachineSpec s = arm(1 * GiB);
    s.el2 = true;
    s.gic = GicVersion::v2;
    EXPECT_EQ(error_of(s, host(40)), "--el2 guests need KVM's GICv3 but --gic v2 was asked for: use --gic v3");
}

TEST(PlanArm, ExplicitRamBaseAbove4GiBIsOneContiguousBank) {
    MachineSpec s = arm(2 * GiB);
    s.ram_base = 8 * GiB;
    const Layout l = plan(s, host(40));
    ASSERT_EQ(l.ram.size(), 1u);
    EXPECT_EQ(l.ram[0].base, 8 * GiB);
    EXPECT_EQ(l.dtb.end(), 10 * GiB);
    EXPECT_EQ(l.ipa_bits, 34u);
}

TEST(PlanArm, MisalignedRamBaseIsRefused) {
    MachineSpec s = arm(1 * GiB);
    s.ram_base = 0x4010'0000;
    EXPECT_EQ(error_of(s, host(40)), "--ram-base 0x40100000 is not 2M aligned: use --ram-base 0x40000000");
}

TEST(PlanArm, RamBaseInTheDeviceWindowIsRefused) {
    MachineSpec s = arm(1 * GiB);
    s.ram_base = 0x2000'0000;
    EXPECT_EQ(error_of(s, host(40)), "--ram-base 0x20000000 lies in the device window below "
                                     "0x40000000: use --ram-base 0x40000000 or above");
}

TEST(PlanArm, RamNotFittingAtAnExplicitBaseSuggestsALowerBase) {
    MachineSpec s = arm(4 * GiB);
    s.ram_base = 1ull << 40;
    EXPECT_EQ(error_of(s, host(40)),
              "RAM of 4G at --ram-base 0x10000000000 ends at 0x100ffffffff, which needs 41 bits, "
              "but this "
              "host's IPA limit is 40 bits: use --ram-base 0xff00000000 or lower");
}

TEST(PlanArm, RamTooLargeForTheHostSuggestsTheLargestThatFits) {
    EXPECT_EQ(error_of(arm(1 * TiB), host(40)), "the memory map needs 41 bits (its highest address "
                                                "is 0x1003fffffff) but this host's IPA limit "
                                                "is 40 bits: use --mem 1023G or less");
}

TEST(PlanArm, InitrdTooLargeForRamIsRefused) {
    MachineSpec s = arm(16 * MiB);
    s.initrd_size = 8 * MiB;
    EXPECT_EQ(error_of(s, host(40)), "the initrd (8388608 bytes) does not fit in 16M of RAM with "
                                     "the 2M DTB and 8M for the kernel: "
                                     "use a larger --mem or a smaller initrd");
}

// ---- the window

TEST(PlanIpa, MaxTakesTheHostLimit) {
    const Layout l = plan(with_ipa(arm(1 * GiB), "max"), host(44));
    EXPECT_EQ(l.ipa_bits, 44u);
    EXPECT_EQ(l.vm_type_bits, 44u);
    EXPECT_EQ(l.ipa_reason, "host limit (--ipa-bits max)");
}

TEST(PlanIpa, ExactBitsAreTaken) {
    const Layout l = plan(with_ipa(arm(1 * GiB), "36"), host(44));
    EXPECT_EQ(l.ipa_bits, 36u);
    EXPECT_EQ(l.vm_type_bits, 36u);
    EXPECT_EQ(l.ipa_reason, "asked for (--ipa-bits 36)");
}

TEST(PlanIpa, ExactBitsBelow32AreRefused) {
    EXPECT_EQ(error_of(with_ipa(arm(1 * GiB), "31"), host(44)),
              "--ipa-bits 31 is below the smallest window of 32 bits: use --ipa-bits 32 or more, "
              "or --ipa-bits auto");
}

TEST(PlanIpa, ExactBitsAboveTheHostLimitAreRefused) {
    EXPECT_EQ(error_of(with_ipa(arm(1 * GiB), "45"), host(44)),
              "--ipa-bits 45 is above this host's IPA limit of 44 bits: use --ipa-bits 44 or less, "
              "or --ipa-bits auto");
}

TEST(PlanIpa, ExactBitsTooSmallForTheMapAreRefused) {
    EXPECT_EQ(error_of(with_ipa(arm(8 * GiB), "33"), host(44)),
              "the memory map needs 34 bits (its highest address is 0x23fffffff) but --ipa-bits 33 "
              "was asked: "
              "use --ipa-bits auto, or use --mem 7G or less");
}

TEST(PlanIpa, LegacyIs40BitsWithVmType0) {
    const Layout l = plan(with_ipa(arm(1 * GiB), "0"), host(48));
    EXPECT_EQ(l.ipa_bits, 40u);
    EXPECT_EQ(l.vm_type_bits, 0u);
}

TEST(PlanIpa, LegacyNeedsAHostThatAllows40Bits) {
    EXPECT_EQ(error_of(with_ipa(arm(1 * GiB), "0"), host(36)),
              "--ipa-bits 0 (legacy) means 40 bits but this host's IPA limit is 36 bits: use "
              "--ipa-bits auto");
}

TEST(PlanIpa, LegacyRefusesAMapAbove40Bits) {
    EXPECT_EQ(error_of(with_ipa(arm(1 * TiB), "0"), host(48)),
              "the memory map needs 41 bits (its highest address is 0x1003fffffff) but --ipa-bits "
              "0 (legacy) "
              "gives 40 bits: use --ipa-bits auto, or use --mem 1023G or less");
}

TEST(PlanIpa, HostLimitOutside32To52IsRefused) {
    EXPECT_EQ(error_of(arm(1 * GiB), host(31)),
              "a host IPA limit of 31 bits is not a physical address size: use --host-ipa-limit "
              "between 32 and 52");
}

TEST(PlanIpa, ParseRequest) {
    EXPECT_EQ(parse_ipa_request("auto").kind, IpaRequest::Kind::automatic);
    EXPECT_EQ(parse_ipa_request("max").kind, IpaRequest::Kind::max);
    EXPECT_EQ(parse_ipa_request("0").kind, IpaRequest::Kind::legacy);
    EXPECT_EQ(parse_ipa_request("44").kind, IpaRequest::Kind::exact);
    EXPECT_EQ(parse_ipa_request("44").bits, 44u);
    for (const char *bad : {"", "4x", "-1", "65", "Auto", "0x28"})
        EXPECT_THROW(parse_ipa_request(bad), PlanError) << bad;
}

TEST(PlanText, ParseArch) {
    EXPECT_EQ(parse_arch("x86_64"), Arch::x86_64);
    EXPECT_EQ(parse_arch("arm64"), Arch::aarch64);
    EXPECT_EQ(parse_arch("aarch64"), Arch::aarch64);
    EXPECT_THROW(parse_arch("riscv64"), PlanError);
}

TEST(PlanText, DescribeListsEveryRegionAndTheWindow) {
    const Layout l = plan(x86(5 * GiB, 1, 1), host(39));
    const std::string text = describe(l);
    for (const auto &r : l.regions)
        EXPECT_NE(text.find(r.name), std::string::npos) << r.name;
    EXPECT_NE(text.find("0x000100000000"), std::string::npos);
    EXPECT_NE(text.find("33 bits (smallest window that holds the map)"), std::string::npos);
    EXPECT_NE(text.find("limit 39 bits, PARange 39 bits"), std::string::npos);
    EXPECT_NE(text.find("serial"), std::string::npos);
}

TEST(PlanText, JsonCarriesTheSameContent) {
    const Layout l = plan(arm(1 * GiB, 1, 1), host(40));
    const std::string json = to_json(l);
    EXPECT_EQ(json.rfind("{\"arch\": \"aarch64\", \"cpus\": 1, \"gic\": \"v3\", \"el2\": false, "
                         "\"ipa_bits\": 32, "
                         "\"vm_type_bits\": 32, \"ipa_reason\": \"smallest window that holds the map\", "
                         "\"pa_range\": 40, \"pa_range_set\": false, "
                         "\"host\": {\"ipa_limit\": 40, \"pa_range\": 40}, \"regions\": [",
                         0),
              0u);
    EXPECT_NE(json.find("{\"name\": \"ram0\", \"kind\": \"ram\", \"base\": 1073741824, \"size\": 1073741824, "
                        "\"end\": 2147483648}"),
              std::string::npos);
    EXPECT_NE(
        json.find("{\"name\": \"virtio0\", \"device\": \"virtio-blk\", \"type\": 2, \"base\": 167772160, \"irq\": 16}"),
        std::string::npos);
}

// --pa-range: the PARange the guest reads is a number apart from the window.
TEST(PlanPaRange, DefaultsToTheCpusPaRange) {
    HostCaps caps{48, 52};
    const Layout l = plan(arm(1 * GiB, 1, 1), caps);
    EXPECT_EQ(l.pa_range, 52u);
    EXPECT_FALSE(l.pa_range_set);
    EXPECT_EQ(l.ipa_bits, 32u);
}

TEST(PlanPaRange, LowerValueIsKeptApartFromTheWindow) {
    MachineSpec spec = arm(1 * GiB, 1, 1);
    spec.pa_range = 48;
    spec.ipa = {IpaRequest::Kind::exact, 36};
    const Layout l = plan(spec, HostCaps{48, 52});
    EXPECT_EQ(l.pa_range, 48u);
    EXPECT_TRUE(l.pa_range_set);
    EXPECT_EQ(l.ipa_bits, 36u);
    const std::string text = describe(l);
    EXPECT_NE(text.find("  physical address window: 36 bits (asked for (--ipa-bits 36))\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  advertised PARange: 48 bits (--pa-range; what the guest's own guests may use)\n"),
              std::string::npos)
        << text;
}

TEST(PlanPaRange, RaisingAboveTheCpuIsRefused) {
    MachineSpec spec = arm(1 * GiB, 1, 1);
    spec.pa_range = 52;
    try {
        plan(spec, HostCaps{48, 48});
        FAIL();
    } catch (const PlanError &e) {
        EXPECT_STREQ(e.what(), "--pa-range 52 is above this CPU's PARange of 48 bits and KVM only lets it be "
                               "lowered: use --pa-range 48 or less");
    }
}

TEST(PlanPaRange, ValueThatIsNoPaRangeSizeIsRefused) {
    MachineSpec spec = arm(1 * GiB, 1, 1);
    spec.pa_range = 41;
    try {
        plan(spec, HostCaps{48, 48});
        FAIL();
    } catch (const PlanError &e) {
        EXPECT_STREQ(e.what(), "--pa-range 41 is not a PARange size: use 32, 36, 40, 42, 44, 48, 52 or 56");
    }
}

TEST(PlanPaRange, X86HasNoPaRangeToSet) {
    MachineSpec spec = x86(64 * 1024 * 1024, 1, 0);
    spec.pa_range = 40;
    EXPECT_THROW(plan(spec, host(48)), PlanError);
}

} // namespace
} // namespace strata::fdt::test
