// The machine description (MachineSpec), what the host allows (HostCaps) and
// the planner's answer (Layout). One Layout feeds the device tree, the memslots
// and the bus registrations, so they cannot disagree (DESIGN.md, "Data flow").
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::fdt {

enum class Arch : std::uint8_t { x86_64, aarch64 };
enum class GicVersion : std::uint8_t { v2, v3 };

// --ipa-bits auto|max|0|N
struct IpaRequest {
    enum class Kind : std::uint8_t { automatic, max, legacy, exact };
    Kind kind = Kind::automatic;
    unsigned bits = 0; // only for exact
};

// A virtio-mmio slot as the machine asks for it. The planner and the device
// tree know a slot and its interrupt, never the device model: the virtio
// type ID (§5) and the device's name only label the slot in reports.
struct VirtioRequest {
    std::uint32_t type_id = 0;
    std::string name; // e.g. "virtio-blk"
};

struct MachineSpec {
    Arch arch = Arch::x86_64;
    std::uint64_t ram_size = 128ull << 20;
    std::optional<std::uint64_t> ram_base;
    unsigned cpus = 1;
    std::vector<VirtioRequest> virtio; // in slot order
    GicVersion gic = GicVersion::v3;
    bool el2 = false;
    bool e2h0 = false; // with el2: no VHE in the guest hypervisor
    std::uint64_t initrd_size = 0;
    IpaRequest ipa;
    // aarch64: the PARange the guest reads in ID_AA64MMFR0_EL1 (--pa-range);
    // unset: the CPU's, which KVM leaves as it is.
    std::optional<unsigned> pa_range;
};

// Physical address sizes in bits. arm64: the KVM IPA limit and the CPU's
// PARange; x86_64: both are CPUID 0x80000008's physical address bits.
struct HostCaps {
    unsigned ipa_limit = 40;
    unsigned pa_range = 40;
    // x86_64: the CPU maps 1 GiB pages (CPUID 0x80000001 EDX.26). Without
    // them the boot identity map needs a page directory per GiB, which sets
    // how much address space the boot area can map.
    bool pages_1g = true;
    // aarch64: KVM runs guest hypervisors (KVM_CAP_ARM_EL2), also without VHE
    // (KVM_CAP_ARM_EL2_E2H0). `strata run` refuses --el2/--e2h0 without them;
    // the planner does not look (dtb and plan describe any host).
    bool el2 = false;
    bool el2_e2h0 = false;
};

// What a region is, so consumers need not guess from its name.
enum class RegionKind : std::uint8_t {
    mmio,     // a device of ours on the MMIO bus (virtio, PL011, PL031)
    irqchip,  // handled by KVM's in-kernel irqchip (GIC, IOAPIC, LAPIC): no bus entry
    ram,      // a RAM bank: one memslot each
    in_ram,   // a use of RAM (boot tables, DTB, initrd): lies inside one bank
    reserved, // KVM's own (the x86_64 TSS pages): no memslot, no bus entry, nothing else
};

// A window of guest-physical address space (MMIO or RAM).
struct Region {
    std::string name;
    std::uint64_t base = 0;
    std::uint64_t size = 0;
    std::uint64_t end() const { return base + size; } // exclusive
    RegionKind kind = RegionKind::mmio;
};

// An x86 I/O-port range (not part of the physical map).
struct PortRange {
    std::string name;
    std::uint16_t base = 0;
    std::uint16_t size = 0;
};

struct VirtioSlot {
    VirtioRequest device;
    Region window;
    std::uint32_t irq = 0; // GSI on x86_64; SPI number on aarch64 (the DT cell, INTID = 32 + irq)
};

// x86_64's boot area: the GDT page, the PML4 page, then the identity map's
// tables over [0, end): a PDPT page per 512 GiB and, without 1 GiB pages, a
// page directory per GiB (2 MiB pages). `bytes` is what the area must hold.
// The bits an address space needs to hold [0, end): 0 for end <= 1.
inline unsigned address_bits(std::uint64_t end) {
    return end <= 1 ? 0 : static_cast<unsigned>(std::bit_width(end - 1));
}

struct BootTables {
    static constexpr std::uint64_t gdt_offset = 0x0000, pml4_offset = 0x1000, tables_offset = 0x2000;
    std::uint64_t end = 0;   // the identity map covers [0, end): RAM and every window
    std::uint64_t pdpts = 0; // PDPT pages, from tables_offset on
    std::uint64_t gibs = 0;  // GiB entries (and page directories without 1 GiB pages)
    bool pages_1g = true;
    std::uint64_t bytes = 0; // UINT64_MAX when even one PML4 cannot map it
};

struct Layout {
    Arch arch = Arch::x86_64;
    unsigned cpus = 1;
    std::vector<Region> ram;      // RAM banks, ascending
    std::vector<Region> regions;  // the whole physical map (RAM, MMIO, dtb...), ascending
    std::vector<PortRange> ports; // x86_64 only: serial, debug-exit, power-off, null
    std::vector<VirtioSlot> virtio;
    Region boot;               // x86_64: GDT and identity page tables (inside RAM); see boot_tables
    Region tss;                // x86_64: the three pages KVM_SET_TSS_ADDR reserves (not guest RAM)
    Region dtb;                // where the DTB goes and the most it may take (inside RAM)
    Region initrd;             // size 0 when there is none
    unsigned ipa_bits = 0;     // the window N: every region lies below 2^N
    unsigned vm_type_bits = 0; // what KVM_CREATE_VM gets: 0 = legacy
    std::string ipa_reason;
    HostCaps host;
    // aarch64: the PARange advertised to the guest, in bits: a number apart
    // from ipa_bits (the window KVM backs), never merged with it.
    unsigned pa_range = 0;
    bool pa_range_set = false;             // from --pa-range (else the CPU's)
    GicVersion gic = GicVersion::v3;       // aarch64
    bool el2 = false;                      // aarch64: vCPUs start at EL2 (guest hypervisor)
    bool e2h0 = false;                     // aarch64, el2: KVM_ARM_VCPU_HAS_EL2_E2H0
    std::uint32_t uart_irq = 0;            // x86_64: GSI of the 8250 at "serial"; aarch64: SPI of the PL011
    std::uint32_t rtc_irq = 0;             // aarch64: SPI of the PL031 (x86_64 has no RTC: 0)
    std::uint32_t gic_maintenance_ppi = 0; // aarch64, el2: the guest hypervisor's vGIC maintenance PPI

    const Region *find(std::string_view name) const;
    const PortRange *find_port(std::string_view name) const;
    std::uint64_t map_end() const;  // the end of the highest region
    BootTables boot_tables() const; // x86_64 (fdt/layout.cpp)
};

} // namespace strata::fdt
