// The test guests' FDT reader (tests/guests/runtime/fdt_reader.c, compiled
// here for the host) must read the same values as libfdt from our DTBs: every
// property of every node, bootargs, the memory banks and the CPU count.

#include "fdt_reader.h"
#include "support.hpp"

#include <cstring>
#include <gtest/gtest.h>
#include <libfdt.h>

namespace strata::fdt::test {
namespace {

std::vector<MachineSpec> representative() {
    MachineSpec x86 = machine(Arch::x86_64, 5 * GiB, 2, 2);
    x86.initrd_size = 1 * MiB;
    MachineSpec el2 = machine(Arch::aarch64, 1 * GiB, 2, 2);
    el2.el2 = true;
    el2.initrd_size = 4 * MiB;
    MachineSpec v2 = machine(Arch::aarch64, 256 * MiB, 4, 1);
    v2.gic = GicVersion::v2;
    v2.ram_base = 8 * GiB;
    return {x86, el2, v2, machine(Arch::aarch64, 1 * TiB, 123, 32), machine(Arch::x86_64, 1 * TiB, 64, 18)};
}

class ReaderAgrees : public ::testing::TestWithParam<MachineSpec> {
protected:
    void SetUp() override {
        layout = plan(GetParam(), host(52));
        dtb = build(layout, boot_config());
        fdt = dtb.data();
        ASSERT_EQ(fdtr_check(fdt, dtb.size()), 0);
    }
    Layout layout;
    std::vector<std::uint8_t> dtb;
    const void *fdt = nullptr;
};

TEST_P(ReaderAgrees, OnEveryPropertyOfEveryNode) {
    unsigned compared = 0;
    for (int node = 0; node >= 0; node = fdt_next_node(fdt, node, nullptr)) {
        char path[256];
        ASSERT_EQ(fdt_get_path(fdt, node, path, sizeof path), 0);
        int prop = 0;
        fdt_for_each_property_offset(prop, fdt, node) {
            const char *name = nullptr;
            int len = 0;
            const void *value = fdt_getprop_by_offset(fdt, prop, &name, &len);
            int their_len = -1;
            const void *theirs = fdtr_getprop(fdt, path, name, &their_len);
            ASSERT_NE(theirs, nullptr) << path << " " << name;
            ASSERT_EQ(their_len, len) << path << " " << name;
            EXPECT_EQ(std::memcmp(theirs, value, static_cast<std::size_t>(len)), 0) << path << " " << name;
            ++compared;
        }
    }
    EXPECT_GT(compared, 10u);
}

TEST_P(ReaderAgrees, OnBootargs) {
    ASSERT_NE(fdtr_bootargs(fdt), nullptr);
    EXPECT_EQ(std::string(fdtr_bootargs(fdt)), string_prop(dtb, "/chosen", "bootargs"));
}

TEST_P(ReaderAgrees, OnTheMemoryBanks) {
    std::vector<unsigned long long> bases(8), sizes(8);
    const int n = fdtr_memory_banks(fdt, bases.data(), sizes.data(), 8);
    ASSERT_EQ(n, static_cast<int>(layout.ram.size()));
    std::uint64_t total = 0;
    for (int i = 0; i < n; ++i) {
        const auto &bank = layout.ram[static_cast<std::size_t>(i)];
        const std::string path = "/memory@" + [&] {
            char buf[20];
            std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(bank.base));
            return std::string(buf);
        }();
        const auto reg = cells(dtb, path.c_str(), "reg"); // libfdt's view
        ASSERT_EQ(reg.size(), 4u) << path;
        EXPECT_EQ(bases[static_cast<std::size_t>(i)], std::uint64_t{reg[0]} << 32 | reg[1]);
        EXPECT_EQ(sizes[static_cast<std::size_t>(i)], std::uint64_t{reg[2]} << 32 | reg[3]);
        total += sizes[static_cast<std::size_t>(i)];
    }
    EXPECT_EQ(fdtr_memory_total(fdt), total);
    EXPECT_EQ(total, GetParam().ram_size);
}

TEST_P(ReaderAgrees, OnTheCpuCount) {
    int cpus = 0, node = 0;
    fdt_for_each_subnode(node, fdt, fdt_path_offset(fdt, "/cpus"))++ cpus;
    EXPECT_EQ(fdtr_cpu_count(fdt), cpus);
    EXPECT_EQ(cpus, static_cast<int>(GetParam().cpus));
}

INSTANTIATE_TEST_SUITE_P(Machines, ReaderAgrees, ::testing::ValuesIn(representative()));

} // namespace
} // namespace strata::fdt::test
