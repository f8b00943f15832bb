// The layout planner: where every region of a guest lies and how wide its
// physical address window is. Every guest address and interrupt number comes
// from here (STYLE.md 8), so the DTB, the memslots and the buses agree.
//
// x86_64 (our unikernel ABI: entered in long mode, rdi = DTB address)
//
//   base            name      size / notes
//   0x0000_0000     ram0      the first min(RAM, 3 GiB) of RAM
//     0x0000_1000   boot      GDT + identity page tables, up to 0x8_0000 (in ram0)
//     0x0008_0000   dtb       the device tree, 512 KiB at most (in ram0)
//     (top of ram0) initrd    page aligned, at least 9 MiB up (1 MiB + 8 MiB kernel)
//   0xD000_0000     virtioN   virtio-mmio, 4 KiB each, at most 18:
//                             GSIs 5, 6, 7, 9, ..., 23 (4 is the serial port, 8 the RTC)
//   0xFEC0_0000     ioapic    in-kernel IOAPIC, 4 KiB
//   0xFEE0_0000     lapic     in-kernel local APIC, 4 KiB
//   0xFFFB_D000     tss       the three pages KVM_SET_TSS_ADDR reserves (VMX real mode)
//   0x1_0000_0000   ram1      the RAM beyond 3 GiB, when there is any
//   I/O ports: serial 0x3f8/8 (GSI 4), debug-exit 0xf4/1, power-off 0x604/2, null 0x80/1
//   RAM starts at 0; --ram-base is refused. At most 255 vCPUs (xAPIC IDs).
//
// aarch64 (the Linux arm64 boot protocol: x0 = DTB address)
//
//   0x0800_0000     gic-dist    GICv3 distributor 64 KiB (GICv2: 4 KiB)
//   0x0801_0000     gic-cpu     GICv2 CPU interface, 8 KiB (v2 only)
//   0x080A_0000     gic-redist  GICv3 redistributors, 128 KiB per vCPU; the window
//                               ends at 0x0900_0000: at most 123 vCPUs (GICv2: 8)
//   0x0900_0000     pl011       4 KiB, SPI 1, level high
//   0x0901_0000     pl031       4 KiB, SPI 2, level high
//   0x0A00_0000     virtioN     virtio-mmio, 4 KiB each, at most 32: SPI 16 + N, edge rising
//   0x4000_0000     ram0        all RAM in one bank; nothing lies above 1 GiB but RAM,
//                               so RAM past 4 GiB simply continues there.
//                               --ram-base moves it (2 MiB aligned, at least 1 GiB)
//     initrd: at the top of RAM below 4 GiB (the very top when too little RAM lies
//             below 4 GiB); page aligned
//     dtb:    the 2 MiB-aligned 2 MiB just below the initrd (or the top), at least
//             8 MiB above the RAM base (room for the kernel)
//
// The window N (both architectures): every region ends at or below 2^N.
//   auto  the smallest N >= 32 that holds the map; it must not exceed the host limit
//   max   the host limit
//   N     32 <= N <= host limit, and the map must fit
//   0     legacy: KVM's VM type 0, which means 40 bits; the host must allow 40
// KVM_CREATE_VM gets N on aarch64 (0 for legacy); x86_64 has no IPA type (always 0)
// and the limit there is CPUID 0x80000008's physical address bits.

#include "fdt/plan.hpp"

#include "fdt/parange.hpp"

#include "fdt/text.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <optional>

namespace strata::fdt {
namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;

constexpr unsigned kMinBits = 32;
constexpr unsigned kLegacyBits = 40;
constexpr unsigned kMaxBits = 52;
constexpr std::uint64_t kMinRam = 16 * MiB;
constexpr std::uint64_t kPage = 4 * KiB;
constexpr std::uint64_t kKernelRoom = 8 * MiB;
constexpr std::uint64_t kVirtioSlot = 0x1000;

namespace x86 {
constexpr std::uint64_t kLowRamEnd = 3 * GiB;
constexpr std::uint64_t kHighRamBase = 4 * GiB;
constexpr std::uint64_t kBootBase = 0x1000;
constexpr std::uint64_t kDtbBase = 0x8'0000;
constexpr std::uint64_t kDtbEnd = 0x10'0000;
constexpr std::uint64_t kVirtioBase = 0xD000'0000;
constexpr std::uint64_t kIoapic = 0xFEC0'0000;
constexpr std::uint64_t kLapic = 0xFEE0'0000;
constexpr std::uint64_t kTss = 0xFFFB'D000;
constexpr std::uint64_t kTssSize = 3 * kPage;
constexpr std::uint32_t kSerialGsi = 4;
constexpr std::array<std::uint32_t, 18> kVirtioGsis{5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};
constexpr unsigned kMaxCpus = 255;
} // namespace x86

namespace arm {
constexpr std::uint64_t kGicDist = 0x0800'0000;
constexpr std::uint64_t kGicCpu = 0x0801'0000;
constexpr std::uint64_t kGicRedist = 0x080A'0000;
constexpr std::uint64_t kGicRedistEnd = 0x0900'0000;
constexpr std::uint64_t kRedistPerCpu = 128 * KiB;
constexpr unsigned kGicV2MaxCpus = 8;
constexpr std::uint64_t kPl011 = 0x0900'0000;
constexpr std::uint64_t kPl031 = 0x0901'0000;
constexpr std::uint32_t kPl011Spi = 1;
constexpr std::uint32_t kPl031Spi = 2;
constexpr std::uint32_t kMaintenancePpi = 9; // INTID 25, the vGIC maintenance interrupt of EL2 guests
constexpr std::uint64_t kVirtioBase = 0x0A00'0000;
constexpr std::uint32_t kVirtioSpi = 16;
constexpr unsigned kMaxVirtio = 32;
constexpr std::uint64_t kRamBase = 0x4000'0000;
constexpr std::uint64_t kRamAlign = 2 * MiB;
constexpr std::uint64_t kDtbSize = 2 * MiB;
} // namespace arm

std::uint64_t align_down(std::uint64_t v, std::uint64_t a) { return v & ~(a - 1); }

using text::hex;

// The smallest window N >= 32 that holds [0, end).
unsigned bits_for(std::uint64_t end) { return std::max(kMinBits, address_bits(end)); }

Region add(Layout &l, std::string name, std::uint64_t base, std::uint64_t size, RegionKind kind) {
    l.regions.push_back(Region{std::move(name), base, size, kind});
    if (kind == RegionKind::ram)
        l.ram.push_back(l.regions.back());
    return l.regions.back();
}

void add_virtio(Layout &l, const MachineSpec &spec, std::uint64_t base, auto irq_of) {
    for (unsigned i = 0; i < spec.virtio.size(); ++i) {
        auto w = add(l, "virtio" + std::to_string(i), base + i * kVirtioSlot, kVirtioSlot, RegionKind::mmio);
        l.virtio.push_back(VirtioSlot{spec.virtio[i], w, irq_of(i)});
    }
}

void check_spec(const MachineSpec &spec, const HostCaps &host) {
    if (host.ipa_limit < kMinBits || host.ipa_limit > kMaxBits)
        throw PlanError("a host IPA limit of " + std::to_string(host.ipa_limit) +
                        " bits is not a physical address size: use --host-ipa-limit between 32 and 52");
    const unsigned cpus = max_cpus(spec.arch, spec.gic);
    if (spec.cpus == 0 || spec.cpus > cpus) {
        std::string holder = spec.arch == Arch::x86_64    ? "x86_64 (xAPIC IDs)"
                             : spec.gic == GicVersion::v3 ? "the GICv3 redistributor window"
                                                          : "GICv2";
        throw PlanError(std::to_string(spec.cpus) + " vCPUs were asked for but " + holder + " holds 1 to " +
                        std::to_string(cpus) + ": use --cpus " + std::to_string(cpus) + " or fewer" +
                        (spec.arch == Arch::aarch64 && spec.gic == GicVersion::v2 ? ", or --gic v3" : ""));
    }
    const unsigned slots = max_virtio(spec.arch);
    if (spec.virtio.size() > slots)
        throw PlanError(std::to_string(spec.virtio.size()) + " virtio devices were asked for but " +
                        std::string(name(spec.arch)) + " has interrupt lines for " + std::to_string(slots) +
                        ": use at most " + std::to_string(slots) +
                        " (--device, --blk, --net, --rng and --console virtio together)");
    if (spec.el2 && spec.arch != Arch::aarch64)
        throw PlanError("--el2 (a guest hypervisor) is an aarch64 feature: drop --el2 on x86_64");
    if (spec.el2 && spec.gic != GicVersion::v3)
        throw PlanError("--el2 guests need KVM's GICv3 but --gic v2 was asked for: use --gic v3");
    if (spec.ram_size < kMinRam)
        throw PlanError("--mem " + text::size(spec.ram_size) +
                        " is below the smallest RAM of 16M: use --mem 16M or more");
    if (spec.ram_size % kPage != 0)
        throw PlanError("--mem " + std::to_string(spec.ram_size) + " is not a whole number of 4K pages: round it");
    if (spec.ram_size > (std::uint64_t{1} << kMaxBits))
        throw PlanError("--mem " + text::size(spec.ram_size) +
                        " is larger than any physical address space (52 bits): use less");
    if (spec.initrd_size > spec.ram_size)
        throw PlanError("the initrd (" + std::to_string(spec.initrd_size) + " bytes) is larger than RAM (" +
                        text::size(spec.ram_size) + "): use a larger --mem");
}

Layout place_x86(const MachineSpec &spec) {
    using namespace x86;
    if (spec.ram_base)
        throw PlanError("--ram-base " + hex(*spec.ram_base) +
                        " was given but x86_64 RAM always starts at 0: drop --ram-base");
    Layout l;
    const std::uint64_t low = std::min(spec.ram_size, kLowRamEnd);
    add(l, "ram0", 0, low, RegionKind::ram);
    if (spec.ram_size > low)
        add(l, "ram1", kHighRamBase, spec.ram_size - low, RegionKind::ram);
    l.boot = add(l, "boot", kBootBase, kDtbBase - kBootBase, RegionKind::in_ram);
    l.dtb = add(l, "dtb", kDtbBase, kDtbEnd - kDtbBase, RegionKind::in_ram);
    if (spec.initrd_size != 0) {
        const std::uint64_t floor = kDtbEnd + kKernelRoom;
        if (spec.initrd_size > low - floor)
            throw PlanError("the initrd (" + std::to_string(spec.initrd_size) + " bytes) does not fit between " +
                            hex(floor) + " and the top of low RAM at " + hex(low) +
                            ": use a larger --mem or a smaller initrd");
        const std::uint64_t base = align_down(low - spec.initrd_size, kPage);
        l.initrd = add(l, "initrd", base, spec.initrd_size, RegionKind::in_ram);
    }
    add_virtio(l, spec, kVirtioBase, [](unsigned i) { return kVirtioGsis[i]; });
    add(l, "ioapic", kIoapic, 0x1000, RegionKind::irqchip);
    add(l, "lapic", kLapic, 0x1000, RegionKind::irqchip);
    l.tss = add(l, "tss", kTss, kTssSize, RegionKind::reserved);
    l.ports = {{"serial", 0x3f8, 8}, {"debug-exit", 0xf4, 1}, {"power-off", 0x604, 2}, {"null", 0x80, 1}};
    l.uart_irq = kSerialGsi;
    return l;
}

Layout place_arm(const MachineSpec &spec) {
    using namespace arm;
    Layout l;
    l.gic = spec.gic;
    l.el2 = spec.el2;
    l.e2h0 = spec.e2h0;
    if (spec.el2)
        l.gic_maintenance_ppi = kMaintenancePpi;
    if (spec.gic == GicVersion::v3) {
        add(l, "gic-dist", kGicDist, 64 * KiB, RegionKind::irqchip);
        add(l, "gic-redist", kGicRedist, spec.cpus * kRedistPerCpu, RegionKind::irqchip);
    } else {
        add(l, "gic-dist", kGicDist, 4 * KiB, RegionKind::irqchip);
        add(l, "gic-cpu", kGicCpu, 8 * KiB, RegionKind::irqchip);
    }
    add(l, "pl011", kPl011, 0x1000, RegionKind::mmio);
    add(l, "pl031", kPl031, 0x1000, RegionKind::mmio);
    l.uart_irq = kPl011Spi;
    l.rtc_irq = kPl031Spi;
    add_virtio(l, spec, kVirtioBase, [](unsigned i) { return kVirtioSpi + i; });

    const std::uint64_t base = spec.ram_base.value_or(kRamBase);
    if (base % kRamAlign != 0)
        throw PlanError("--ram-base " + hex(base) + " is not 2M aligned: use --ram-base " +
                        hex(align_down(base, kRamAlign)));
    if (base < kRamBase)
        throw PlanError("--ram-base " + hex(base) + " lies in the device window below " + hex(kRamBase) +
                        ": use --ram-base " + hex(kRamBase) + " or above");
    if (base > (std::uint64_t{1} << kMaxBits))
        throw PlanError("--ram-base " + hex(base) +
                        " is above any physical address space (52 bits): use a lower --ram-base");
    const Region ram = add(l, "ram0", base, spec.ram_size, RegionKind::ram);

    // The initrd and the DTB at the top of RAM below 4 GiB, so guests that map
    // only low memory find them; at the very top when too little lies below 4 GiB.
    const std::uint64_t room = kKernelRoom + kDtbSize + spec.initrd_size;
    std::uint64_t top = std::min(ram.end(), 4 * GiB);
    if (top < base || top - base < room)
        top = ram.end();
    if (top - base < room)
        throw PlanError("the initrd (" + std::to_string(spec.initrd_size) + " bytes) does not fit in " +
                        text::size(spec.ram_size) +
                        " of RAM with the 2M DTB and 8M for the kernel: "
                        "use a larger --mem or a smaller initrd");
    if (spec.initrd_size != 0) {
        l.initrd = add(l, "initrd", align_down(top - spec.initrd_size, kPage), spec.initrd_size, RegionKind::in_ram);
        top = l.initrd.base;
    }
    l.dtb = add(l, "dtb", align_down(top - kDtbSize, kDtbSize), kDtbSize, RegionKind::in_ram);
    if (l.dtb.base < base + kKernelRoom)
        throw PlanError("the initrd (" + std::to_string(spec.initrd_size) +
                        " bytes) leaves no 2M-aligned room for the DTB above 8M for the kernel: "
                        "use a larger --mem or a smaller initrd");
    return l;
}

// The map without the window; throws PlanError for requests that cannot be placed.
Layout place(const MachineSpec &spec, const HostCaps &host) {
    check_spec(spec, host);
    Layout l = spec.arch == Arch::x86_64 ? place_x86(spec) : place_arm(spec);
    l.arch = spec.arch;
    l.cpus = spec.cpus;
    l.host = host;
    std::stable_sort(l.regions.begin(), l.regions.end(), [](const Region &a, const Region &b) {
        return a.base != b.base ? a.base < b.base : a.size > b.size; // a bank before what lies in it
    });
    return l;
}

// x86_64: the identity map's tables must fit the boot area (without 1 GiB
// pages that caps the map near 124 GiB).
void check_boot_tables(const Layout &l, const MachineSpec &spec, const HostCaps &host) {
    if (spec.arch != Arch::x86_64)
        return;
    const auto tables = l.boot_tables();
    if (tables.bytes > l.boot.size)
        throw PlanError("--mem " + text::size(spec.ram_size) + " needs more boot page tables than the " +
                        hex(l.boot.size) + "-byte boot area holds" +
                        (host.pages_1g ? "" : " (this host has no 1 GiB pages)") + ": use a smaller --mem");
}

// The largest --mem (whole MiB) whose map fits 2^bits, all else equal. Fitting
// is an interval in the RAM size (too small to place .. too big for the window),
// so bisect on "too big" and check the answer places.
std::optional<std::uint64_t> largest_ram(MachineSpec spec, const HostCaps &host, unsigned bits) {
    const std::uint64_t window = std::uint64_t{1} << bits;
    auto too_big = [&](std::uint64_t mib) {
        spec.ram_size = mib * MiB;
        try {
            return place(spec, host).map_end() > window;
        } catch (const PlanError &) {
            return false;
        }
    };
    std::uint64_t lo = kMinRam / MiB, hi = window / MiB; // RAM as large as the window never fits
    if (too_big(lo))
        return std::nullopt;
    while (hi - lo > 1) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        (too_big(mid) ? hi : lo) = mid;
    }
    spec.ram_size = lo * MiB;
    try {
        place(spec, host);
    } catch (const PlanError &) {
        return std::nullopt;
    }
    return spec.ram_size;
}

// What to change so that the map fits 2^bits.
std::string fit_advice(const MachineSpec &spec, const HostCaps &host, unsigned bits) {
    const std::uint64_t window = std::uint64_t{1} << bits;
    if (spec.ram_base) {
        if (spec.ram_size + arm::kRamBase <= window)
            return "use --ram-base " + hex(align_down(window - spec.ram_size, arm::kRamAlign)) + " or lower";
        MachineSpec low = spec;
        low.ram_base.reset();
        if (auto m = largest_ram(low, host, bits))
            return "use --ram-base " + hex(arm::kRamBase) + " and --mem " + text::size(*m) + " or less";
    } else if (auto m = largest_ram(spec, host, bits)) {
        return "use --mem " + text::size(*m) + " or less";
    }
    return "use a smaller --mem";
}

void choose_window(Layout &l, const MachineSpec &spec, const HostCaps &host) {
    const std::uint64_t end = l.map_end();
    const unsigned need = bits_for(end);
    const unsigned limit = host.ipa_limit;
    const std::string lim = std::string(spec.arch == Arch::aarch64 ? "IPA" : "physical address") + " limit";
    const std::string needs =
        "the memory map needs " + std::to_string(need) + " bits (its highest address is " + hex(end - 1) + ")";
    auto over_host = [&] {
        if (spec.ram_base) {
            const Region &ram = l.ram.back();
            return PlanError("RAM of " + text::size(ram.size) + " at --ram-base " + hex(ram.base) + " ends at " +
                             hex(ram.end() - 1) + ", which needs " + std::to_string(need) + " bits, but this host's " +
                             lim + " is " + std::to_string(limit) + " bits: " + fit_advice(spec, host, limit));
        }
        return PlanError(needs + " but this host's " + lim + " is " + std::to_string(limit) +
                         " bits: " + fit_advice(spec, host, limit));
    };
    // The window is too small for the map, though the host may allow a larger one.
    auto over_window = [&](const std::string &asked, unsigned bits) {
        std::string out = needs + " but " + asked + ": ";
        if (need <= limit)
            out += "use --ipa-bits auto, or ";
        return PlanError(out + fit_advice(spec, host, std::min(bits, limit)));
    };

    unsigned bits = 0;
    switch (spec.ipa.kind) {
    case IpaRequest::Kind::automatic:
        if (need > limit)
            throw over_host();
        bits = need;
        l.ipa_reason = "smallest window that holds the map";
        break;
    case IpaRequest::Kind::max:
        if (need > limit)
            throw over_host();
        bits = limit;
        l.ipa_reason = "host limit (--ipa-bits max)";
        break;
    case IpaRequest::Kind::exact: {
        const unsigned n = spec.ipa.bits;
        const std::string asked = "--ipa-bits " + std::to_string(n);
        if (n < kMinBits)
            throw PlanError(asked + " is below the smallest window of 32 bits: use --ipa-bits 32 or more, "
                                    "or --ipa-bits auto");
        if (n > limit)
            throw PlanError(asked + " is above this host's " + lim + " of " + std::to_string(limit) +
                            " bits: use --ipa-bits " + std::to_string(limit) + " or less, or --ipa-bits auto");
        if (need > n)
            throw over_window(asked + " was asked", n);
        bits = n;
        l.ipa_reason = "asked for (" + asked + ")";
        break;
    }
    case IpaRequest::Kind::legacy:
        if (limit < kLegacyBits)
            throw PlanError("--ipa-bits 0 (legacy) means 40 bits but this host's " + lim + " is " +
                            std::to_string(limit) + " bits: use --ipa-bits auto");
        if (need > kLegacyBits)
            throw over_window("--ipa-bits 0 (legacy) gives 40 bits", kLegacyBits);
        bits = kLegacyBits;
        l.ipa_reason = "legacy VM type 0 (--ipa-bits 0)";
        break;
    }
    l.ipa_bits = bits;
    const bool typed = spec.arch == Arch::aarch64 && spec.ipa.kind != IpaRequest::Kind::legacy;
    l.vm_type_bits = typed ? bits : 0;
}

} // namespace

unsigned max_cpus(Arch arch, GicVersion gic) {
    if (arch == Arch::x86_64)
        return x86::kMaxCpus;
    if (gic == GicVersion::v2)
        return arm::kGicV2MaxCpus;
    return static_cast<unsigned>((arm::kGicRedistEnd - arm::kGicRedist) / arm::kRedistPerCpu);
}

unsigned max_virtio(Arch arch) {
    return arch == Arch::x86_64 ? static_cast<unsigned>(x86::kVirtioGsis.size()) : arm::kMaxVirtio;
}

namespace {

// The PARange the guest reads: the CPU's, or a lower one asked for.
void choose_pa_range(Layout &l, const MachineSpec &spec, const HostCaps &host) {
    l.pa_range = host.pa_range;
    if (spec.pa_range) {
        if (spec.arch != Arch::aarch64)
            throw PlanError("--pa-range sets the PARange an arm64 guest reads; x86_64 has no such register");
        if (!parange_encoding(*spec.pa_range))
            throw PlanError("--pa-range " + std::to_string(*spec.pa_range) +
                            " is not a PARange size: use 32, 36, 40, 42, 44, 48, 52 or 56");
        if (*spec.pa_range > host.pa_range)
            throw PlanError("--pa-range " + std::to_string(*spec.pa_range) + " is above this CPU's PARange of " +
                            std::to_string(host.pa_range) + " bits and KVM only lets it be lowered: use --pa-range " +
                            std::to_string(host.pa_range) + " or less");
        l.pa_range = *spec.pa_range;
        l.pa_range_set = true;
    }
}

} // namespace

Layout plan(const MachineSpec &spec, const HostCaps &host) {
    Layout l = place(spec, host);
    choose_window(l, spec, host);
    choose_pa_range(l, spec, host);
    check_boot_tables(l, spec, host);
    return l;
}

} // namespace strata::fdt
