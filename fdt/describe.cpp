// Text in and out of the planner: the CLI's --arch and --ipa-bits values, and
// the `strata plan` table and its JSON twin (the same content in both).

#include "fdt/plan.hpp"
#include "fdt/text.hpp"

#include <charconv>
#include <cstdio>

namespace strata::fdt {
namespace {

using text::hex;

std::string_view name(RegionKind kind) {
    switch (kind) {
    case RegionKind::mmio: return "mmio";
    case RegionKind::irqchip: return "irqchip";
    case RegionKind::ram: return "ram";
    case RegionKind::in_ram: return "in-ram";
    case RegionKind::reserved: return "reserved";
    }
    return "?";
}

std::string_view gic_name(const Layout &l) { return l.gic == GicVersion::v3 ? "v3" : "v2"; }

std::string vm_type(const Layout &l) {
    return l.vm_type_bits == 0 ? "0 (legacy/none)" : std::to_string(l.vm_type_bits);
}

} // namespace

std::string_view name(Arch arch) { return arch == Arch::x86_64 ? "x86_64" : "aarch64"; }

IpaRequest parse_ipa_request(std::string_view text) {
    if (text == "auto")
        return {};
    if (text == "max")
        return {IpaRequest::Kind::max, 0};
    unsigned bits = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bits);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || bits > 64)
        throw PlanError("--ipa-bits " + std::string(text) + " is not a window size: use auto, max, 0 or 32..52");
    if (bits == 0)
        return {IpaRequest::Kind::legacy, 0};
    return {IpaRequest::Kind::exact, bits};
}

Arch parse_arch(std::string_view text) {
    if (text == "x86_64" || text == "x86-64" || text == "amd64")
        return Arch::x86_64;
    if (text == "aarch64" || text == "arm64")
        return Arch::aarch64;
    throw PlanError("--arch " + std::string(text) + " is not an architecture strata knows: use x86_64 or aarch64");
}

std::string describe(const Layout &l) {
    std::string out = std::string(name(l.arch)) + ", " + std::to_string(l.cpus) + " vCPU" + (l.cpus == 1 ? "" : "s");
    if (l.arch == Arch::aarch64)
        out += ", GIC" + std::string(gic_name(l)) + (l.el2 ? ", EL2 guest" : "");
    out += "\n\n";
    char line[160];
    std::snprintf(line, sizeof line, "  %-12s %-16s %-16s %-8s %s\n", "region", "base", "end (excl.)", "size", "kind");
    out += line;
    for (const auto &r : l.regions) {
        std::snprintf(line, sizeof line, "  %-12s %-16s %-16s %-8s %s\n", r.name.c_str(), hex(r.base, 12).c_str(),
                      hex(r.end(), 12).c_str(), text::size(r.size).c_str(), std::string(name(r.kind)).c_str());
        out += line;
    }
    if (!l.virtio.empty())
        out += "\n";
    for (const auto &v : l.virtio) {
        std::snprintf(line, sizeof line, "  %-12s %-16s type %-3u %s %u\n", v.window.name.c_str(),
                      v.device.name.c_str(), v.device.type_id, l.arch == Arch::x86_64 ? "GSI" : "SPI", v.irq);
        out += line;
    }
    if (!l.ports.empty())
        out += "\n";
    for (const auto &p : l.ports) {
        std::snprintf(line, sizeof line, "  %-12s port %s, %u byte%s\n", p.name.c_str(), hex(p.base).c_str(),
                      unsigned{p.size}, p.size == 1 ? "" : "s");
        out += line;
    }
    out += "\n  physical address window: " + std::to_string(l.ipa_bits) + " bits (" + l.ipa_reason + ")\n";
    out += "  KVM_CREATE_VM type IPA bits: " + vm_type(l) + "\n";
    if (l.arch == Arch::aarch64)
        out += "  advertised PARange: " + std::to_string(l.pa_range) + " bits (" +
               (l.pa_range_set ? "--pa-range" : "the CPU's") + "; what the guest's own guests may use)\n";
    out += "  host: " + std::string(l.arch == Arch::aarch64 ? "IPA" : "physical address") + " limit " +
           std::to_string(l.host.ipa_limit) + " bits, PARange " + std::to_string(l.host.pa_range) + " bits\n";
    return out;
}

std::string to_json(const Layout &l) {
    auto num = [](std::uint64_t v) { return std::to_string(v); };
    std::string out = "{\"arch\": " + text::json_string(name(l.arch)) + ", \"cpus\": " + num(l.cpus);
    if (l.arch == Arch::aarch64)
        out += ", \"gic\": " + text::json_string(gic_name(l)) + ", \"el2\": " + (l.el2 ? "true" : "false");
    out += ", \"ipa_bits\": " + num(l.ipa_bits) + ", \"vm_type_bits\": " + num(l.vm_type_bits) +
           ", \"ipa_reason\": " + text::json_string(l.ipa_reason) +
           (l.arch == Arch::aarch64
                ? ", \"pa_range\": " + num(l.pa_range) + ", \"pa_range_set\": " + (l.pa_range_set ? "true" : "false")
                : std::string()) +
           ", \"host\": {\"ipa_limit\": " + num(l.host.ipa_limit) + ", \"pa_range\": " + num(l.host.pa_range) + "}";
    out += ", \"regions\": [";
    for (std::size_t i = 0; i < l.regions.size(); ++i) {
        const Region &r = l.regions[i];
        out += std::string(i ? ", " : "") + "{\"name\": " + text::json_string(r.name) +
               ", \"kind\": " + text::json_string(name(r.kind)) + ", \"base\": " + num(r.base) +
               ", \"size\": " + num(r.size) + ", \"end\": " + num(r.end()) + "}";
    }
    out += "], \"virtio\": [";
    for (std::size_t i = 0; i < l.virtio.size(); ++i) {
        const VirtioSlot &v = l.virtio[i];
        out += std::string(i ? ", " : "") + "{\"name\": " + text::json_string(v.window.name) +
               ", \"device\": " + text::json_string(v.device.name) + ", \"type\": " + num(v.device.type_id) +
               ", \"base\": " + num(v.window.base) + ", \"irq\": " + num(v.irq) + "}";
    }
    out += "], \"ports\": [";
    for (std::size_t i = 0; i < l.ports.size(); ++i) {
        const PortRange &p = l.ports[i];
        out += std::string(i ? ", " : "") + "{\"name\": " + text::json_string(p.name) + ", \"base\": " + num(p.base) +
               ", \"size\": " + num(p.size) + "}";
    }
    out += "], \"uart_irq\": " + num(l.uart_irq) + ", \"rtc_irq\": " + num(l.rtc_irq) + "}\n";
    return out;
}

} // namespace strata::fdt
