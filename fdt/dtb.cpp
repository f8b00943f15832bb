// The device tree of a Layout, written with libfdt's sequential-write API.
// Writer::node() brackets begin/end, and build_aarch64 / build_x86_64 call one
// writer per child of the root in the tree's order, so the code has the tree's
// shape (STYLE.md 10). aarch64 follows the standard bindings Linux expects (as
// for QEMU's virt machine); x86_64 is our unikernel ABI: memory, chosen, cpus,
// the IOAPIC as interrupt parent and the virtio-mmio nodes with their GSIs,
// written down as a schema in tests/unit/fdt/bindings/. Both trees pass
// Linux's dt-validate (tests/unit/fdt/schema_test.py), apart from the one
// property of ours in /chosen.

#include "fdt/dtb.hpp"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <libfdt.h>
#include <stdexcept>
#include <string_view>

namespace strata::fdt {
namespace {

constexpr std::uint32_t kGicPhandle = 1; // aarch64 GIC / x86_64 IOAPIC
constexpr std::uint32_t kClockPhandle = 2;

// interrupts cells for the GIC binding
constexpr std::uint32_t kSpi = 0;
constexpr std::uint32_t kPpi = 1;
constexpr std::uint32_t kEdgeRising = 1;
constexpr std::uint32_t kLevelHigh = 4;

std::string unit(std::string_view name, std::uint64_t address) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "@%llx", static_cast<unsigned long long>(address));
    return std::string(name) + buf;
}

// The tree is written into a small buffer that doubles when libfdt needs
// more room, up to `limit` (the room the planner reserved for it): a fresh
// buffer is zeroed, and every page of it costs a page fault at start-up.
class Writer {
public:
    explicit Writer(std::size_t limit) : buf_(std::min<std::size_t>(limit, 16 << 10)), limit_(limit) {
        check(fdt_create(buf_.data(), static_cast<int>(buf_.size())));
        apply([](void *fdt) { return fdt_finish_reservemap(fdt); });
    }

    template <typename Fn>
    void node(const std::string &name, Fn &&body) {
        apply([&](void *fdt) { return fdt_begin_node(fdt, name.c_str()); }, name.c_str());
        body();
        apply([](void *fdt) { return fdt_end_node(fdt); });
    }

    void strings(const char *name, std::initializer_list<std::string_view> list) {
        std::string all;
        for (auto s : list)
            (all += s) += '\0';
        bytes(name, all.data(), all.size());
    }
    void str(const char *name, std::string_view s) { strings(name, {s}); }
    void empty(const char *name) { bytes(name, nullptr, 0); }
    void cells(const char *name, std::initializer_list<std::uint32_t> values) {
        std::vector<fdt32_t> be;
        for (auto v : values)
            be.push_back(cpu_to_fdt32(v));
        bytes(name, be.data(), be.size() * sizeof(fdt32_t));
    }
    void cells(const char *name, const std::vector<std::uint32_t> &values) {
        std::vector<fdt32_t> be;
        for (auto v : values)
            be.push_back(cpu_to_fdt32(v));
        bytes(name, be.data(), be.size() * sizeof(fdt32_t));
    }
    void u32(const char *name, std::uint32_t v) { cells(name, {v}); }
    void u64(const char *name, std::uint64_t v) { cells(name, {hi(v), lo(v)}); }
    void bytes(const char *name, const void *data, std::size_t len) {
        apply([&](void *fdt) { return fdt_property(fdt, name, data, static_cast<int>(len)); }, name);
    }
    // reg with #address-cells = #size-cells = 2
    void reg(std::initializer_list<Region> regions) {
        std::vector<std::uint32_t> v;
        for (const auto &r : regions)
            v.insert(v.end(), {hi(r.base), lo(r.base), hi(r.size), lo(r.size)});
        cells("reg", v);
    }

    std::vector<std::uint8_t> finish() {
        apply([](void *fdt) { return fdt_finish(fdt); });
        buf_.resize(fdt_totalsize(buf_.data()));
        return std::move(buf_);
    }

private:
    static std::uint32_t hi(std::uint64_t v) { return static_cast<std::uint32_t>(v >> 32); }
    static std::uint32_t lo(std::uint64_t v) { return static_cast<std::uint32_t>(v); }

    // Runs one libfdt write, growing the buffer while it runs out of room.
    template <typename Op>
    void apply(Op &&op, const char *what = "") {
        int err;
        while ((err = op(buf_.data())) == -FDT_ERR_NOSPACE && buf_.size() < limit_) {
            std::vector<std::uint8_t> bigger(std::min(limit_, 2 * buf_.size()));
            check(fdt_resize(buf_.data(), bigger.data(), static_cast<int>(bigger.size())));
            buf_ = std::move(bigger);
        }
        check(err, what);
    }

    void check(int err, const char *what = "") const {
        if (err == -FDT_ERR_NOSPACE)
            throw PlanError("the device tree needs more than the " + std::to_string(limit_) +
                            " bytes reserved for it: use fewer devices or a shorter command line");
        if (err < 0)
            throw std::logic_error(std::string("libfdt: ") + fdt_strerror(err) + " at " + what);
    }

    std::vector<std::uint8_t> buf_;
    std::size_t limit_;
};

// Node names are the generic names of the Devicetree Specification (2.2.2),
// which Linux's schema requires (tests/unit/fdt/schema_test.py runs it);
// which model a node is, compatible says.
std::string serial_name(const Region &uart) { return unit("serial", uart.base); }
std::string serial_path(const Region &uart) { return "/" + serial_name(uart); }

// What every root carries before its children.
void root_properties(Writer &w, std::string_view compatible, std::string_view model) {
    w.str("compatible", compatible);
    w.str("model", model);
    w.u32("#address-cells", 2);
    w.u32("#size-cells", 2);
    w.u32("interrupt-parent", kGicPhandle);
}

void chosen(Writer &w, const Layout &l, const BootConfig &boot) {
    w.node("chosen", [&] {
        w.str("bootargs", boot.bootargs);
        if (!boot.stdout_path.empty())
            w.str("stdout-path", boot.stdout_path);
        else if (const Region *uart = l.find("pl011"))
            w.str("stdout-path", serial_path(*uart));
        w.u32("strata,ipa-bits", l.ipa_bits);
        // One cell each when the initrd ends below 4 GiB: chosen's schema
        // types them uint32. Linux reads as many cells as there are, so an
        // initrd higher up gets two each.
        if (l.initrd.size != 0) {
            if (l.initrd.end() <= 0xffff'ffff) {
                w.u32("linux,initrd-start", static_cast<std::uint32_t>(l.initrd.base));
                w.u32("linux,initrd-end", static_cast<std::uint32_t>(l.initrd.end()));
            } else {
                w.u64("linux,initrd-start", l.initrd.base);
                w.u64("linux,initrd-end", l.initrd.end());
            }
        }
        if (!boot.rng_seed.empty())
            w.bytes("rng-seed", boot.rng_seed.data(), boot.rng_seed.size());
        if (!boot.kaslr_seed.empty()) {
            if (boot.kaslr_seed.size() != 8)
                throw std::invalid_argument("kaslr-seed must be 8 bytes");
            w.bytes("kaslr-seed", boot.kaslr_seed.data(), boot.kaslr_seed.size());
        }
    });
}

void memory(Writer &w, const Layout &l) {
    for (const auto &bank : l.ram)
        w.node(unit("memory", bank.base), [&] {
            w.str("device_type", "memory");
            w.reg({bank});
        });
}

// KVM's default MPIDR for vCPU i (arch/arm64/kvm/sys_regs.c, reset_mpidr):
// Aff0 = i[3:0] (16 per cluster, the GICv3 target-list limit), Aff1 = i[11:4].
std::uint32_t mpidr(unsigned i) { return ((i >> 4) & 0xff) << 8 | (i & 0xf); }

// A cpu's unit address and reg are the ID its architecture gives it: the
// MPIDR affinity on aarch64, the local APIC ID on x86_64. "arm,armv8" is what
// the arm cpus binding calls a software model, as opposed to a named core.
void cpus(Writer &w, const Layout &l) {
    const bool arm = l.arch == Arch::aarch64;
    w.node("cpus", [&] {
        w.u32("#address-cells", 1);
        w.u32("#size-cells", 0);
        for (unsigned i = 0; i < l.cpus; ++i) {
            const std::uint32_t id = arm ? mpidr(i) : i;
            w.node(unit("cpu", id), [&] {
                w.str("device_type", "cpu");
                if (arm)
                    w.str("compatible", "arm,armv8");
                w.u32("reg", id);
                if (arm)
                    w.str("enable-method", "psci");
            });
        }
    });
}

void virtio(Writer &w, const Layout &l) {
    for (const auto &slot : l.virtio)
        w.node(unit("virtio_mmio", slot.window.base), [&] {
            w.str("compatible", "virtio,mmio");
            w.reg({slot.window});
            if (l.arch == Arch::aarch64) {
                w.cells("interrupts", {kSpi, slot.irq, kEdgeRising});
                w.empty("dma-coherent");
            } else {
                w.u32("interrupts", slot.irq);
            }
        });
}

// ---- aarch64

// The third cell of a PPI: level high, and on GICv2 the CPUs it goes to
// (GIC binding, bits 15:8).
std::uint32_t ppi_flags(const Layout &l) {
    return kLevelHigh | (l.gic == GicVersion::v2 ? ((1u << l.cpus) - 1) << 8 : 0u);
}

void psci(Writer &w, const Layout &l) {
    w.node("psci", [&] {
        w.strings("compatible", {"arm,psci-1.0", "arm,psci-0.2"});
        // A guest hypervisor owns HVC itself; its PSCI calls go to us by SMC.
        w.str("method", l.el2 ? "smc" : "hvc");
    });
}

void timer(Writer &w, const Layout &l) {
    w.node("timer", [&] {
        w.str("compatible", "arm,armv8-timer");
        // secure phys, non-secure phys, virtual, hyp phys (+ hyp virtual at EL2)
        std::vector<std::uint32_t> ppis{13, 14, 11, 10};
        if (l.el2)
            ppis.push_back(12);
        std::vector<std::uint32_t> irqs;
        for (auto ppi : ppis)
            irqs.insert(irqs.end(), {kPpi, ppi, ppi_flags(l)});
        w.cells("interrupts", irqs);
    });
}

void gic(Writer &w, const Layout &l) {
    const Region &dist = *l.find("gic-dist");
    w.node(unit("interrupt-controller", dist.base), [&] {
        if (l.gic == GicVersion::v3) {
            w.str("compatible", "arm,gic-v3");
            w.reg({dist, *l.find("gic-redist")});
        } else {
            w.str("compatible", "arm,cortex-a15-gic");
            w.reg({dist, *l.find("gic-cpu")});
        }
        w.u32("#interrupt-cells", 3);
        w.u32("#address-cells", 0);
        w.empty("interrupt-controller");
        if (l.el2)
            w.cells("interrupts", {kPpi, l.gic_maintenance_ppi, ppi_flags(l)}); // maintenance interrupt
        w.u32("phandle", kGicPhandle);
    });
}

void apb_clock(Writer &w) {
    w.node("apb-pclk", [&] {
        w.str("compatible", "fixed-clock");
        w.u32("#clock-cells", 0);
        w.u32("clock-frequency", 24'000'000);
        w.str("clock-output-names", "clk24mhz");
        w.u32("phandle", kClockPhandle);
    });
}

void pl011(Writer &w, const Layout &l) {
    const Region &uart = *l.find("pl011");
    w.node(serial_name(uart), [&] {
        w.strings("compatible", {"arm,pl011", "arm,primecell"});
        w.reg({uart});
        w.cells("interrupts", {kSpi, l.uart_irq, kLevelHigh});
        w.cells("clocks", {kClockPhandle, kClockPhandle});
        w.strings("clock-names", {"uartclk", "apb_pclk"});
    });
}

void pl031(Writer &w, const Layout &l) {
    const Region &rtc = *l.find("pl031");
    w.node(unit("rtc", rtc.base), [&] {
        w.strings("compatible", {"arm,pl031", "arm,primecell"});
        w.reg({rtc});
        w.cells("interrupts", {kSpi, l.rtc_irq, kLevelHigh});
        w.u32("clocks", kClockPhandle);
        w.str("clock-names", "apb_pclk");
    });
}

void build_aarch64(Writer &w, const Layout &l, const BootConfig &boot) {
    w.node("", [&] {
        root_properties(w, "linux,dummy-virt", "strata aarch64 virtual machine");
        w.node("aliases", [&] { w.str("serial0", serial_path(*l.find("pl011"))); });
        chosen(w, l, boot);
        memory(w, l);
        cpus(w, l);
        psci(w, l);
        timer(w, l);
        gic(w, l);
        apb_clock(w);
        pl011(w, l);
        pl031(w, l);
        virtio(w, l);
    });
}

// ---- x86_64

// interrupts = <GSI>: one cell, our own binding
// (tests/unit/fdt/bindings/strata,x86_64.yaml).
void ioapic(Writer &w, const Layout &l) {
    const Region &r = *l.find("ioapic");
    w.node(unit("interrupt-controller", r.base), [&] {
        w.str("compatible", "strata,ioapic");
        w.reg({r});
        w.u32("#interrupt-cells", 1);
        w.u32("#address-cells", 0);
        w.empty("interrupt-controller");
        w.u32("phandle", kGicPhandle);
    });
}

void build_x86_64(Writer &w, const Layout &l, const BootConfig &boot) {
    w.node("", [&] {
        root_properties(w, "strata,x86_64", "strata x86_64 virtual machine");
        chosen(w, l, boot);
        memory(w, l);
        cpus(w, l);
        ioapic(w, l);
        virtio(w, l);
    });
}

} // namespace

std::vector<std::uint8_t> build(const Layout &layout, const BootConfig &boot) {
    Writer w(layout.dtb.size);
    if (layout.arch == Arch::aarch64)
        build_aarch64(w, layout, boot);
    else
        build_x86_64(w, layout, boot);
    return w.finish();
}

} // namespace strata::fdt
