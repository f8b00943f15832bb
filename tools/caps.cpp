// `strata caps`: what this host offers strata, and strata's own physical
// window when it runs inside a VM (the highest RAM and MMIO addresses it was
// given, from the device tree and /proc/iomem). The window is reported next
// to the CPU's PARange and never merged with it: a guest hypervisor's PARange
// says what its CPU could address, the window what its host really backs.
#include "fdt/text.hpp"
#include "tools/commands.hpp"
#include "tools/options.hpp"
#include "tools/user_error.hpp"
#include "vmm/arch/arch.hpp"
#include "vmm/kvm.hpp"

#include <algorithm>
#include <bit>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace strata::cli {

namespace {

using Facts = std::vector<std::pair<std::string, std::string>>;

using fdt::text::hex;

// Bits needed to address [0, end): the smallest N with end <= 2^N.

// Top-level /proc/iomem ranges: the end of the highest "System RAM" and of
// the highest anything (MMIO included). Reading real addresses needs root.
struct Iomem {
    std::uint64_t ram_end = 0, any_end = 0;
    bool readable = false;
};

Iomem read_iomem() {
    Iomem io;
    std::ifstream in("/proc/iomem");
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == ' ')
            continue; // nested entries lie inside top-level ones
        std::uint64_t first = 0, last = 0;
        char dash = 0;
        std::istringstream s(line);
        s >> std::hex >> first >> dash >> last;
        if (!s || dash != '-' || last == 0)
            continue;
        io.readable = true;
        io.any_end = std::max(io.any_end, last + 1);
        if (line.find(": System RAM") != std::string::npos)
            io.ram_end = std::max(io.ram_end, last + 1);
    }
    return io;
}

// The end of the highest /memory bank in the firmware device tree (arm64
// guests have one; x86 machines usually do not).
std::optional<std::uint64_t> devicetree_ram_end() {
    namespace fs = std::filesystem;
    const fs::path base = "/sys/firmware/devicetree/base";
    std::error_code ec;
    if (!fs::exists(base, ec))
        return std::nullopt;
    auto read_be = [](std::istream &in, unsigned cells) {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < cells; ++i) {
            unsigned char b[4] = {};
            in.read(reinterpret_cast<char *>(b), 4);
            v = (v << 32) | (std::uint64_t{b[0]} << 24 | std::uint64_t{b[1]} << 16 | std::uint64_t{b[2]} << 8 | b[3]);
        }
        return v;
    };
    auto cells = [&](const char *name, unsigned fallback) {
        std::ifstream in(base / name, std::ios::binary);
        return in ? static_cast<unsigned>(read_be(in, 1)) : fallback;
    };
    const unsigned ac = cells("#address-cells", 2), sc = cells("#size-cells", 1);
    std::optional<std::uint64_t> end;
    for (const auto &node : fs::directory_iterator(base, ec)) {
        const auto name = node.path().filename().string();
        if (name != "memory" && name.rfind("memory@", 0) != 0)
            continue;
        std::ifstream reg(node.path() / "reg", std::ios::binary);
        while (reg) {
            const std::uint64_t b = read_be(reg, ac), size = read_be(reg, sc);
            if (reg && size)
                end = std::max(end.value_or(0), b + size);
        }
    }
    return end;
}

std::string devicetree_compatible() {
    std::ifstream in("/sys/firmware/devicetree/base/compatible", std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), {});
    std::replace(s.begin(), s.end(), '\0', ' ');
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    return s;
}

Facts gather() {
    Facts facts;
    facts.emplace_back("arch", arch::host_arch == fdt::Arch::x86_64 ? "x86_64" : "aarch64");
    try {
        Kvm kvm;
        facts.emplace_back("kvm_api_version", std::to_string(KVM_API_VERSION));
        for (auto &f : arch::describe_host(kvm))
            facts.push_back(std::move(f));
    } catch (const std::system_error &e) {
        facts.emplace_back("kvm", std::string("unavailable (") + e.what() + ")");
    }
    const auto compatible = devicetree_compatible();
    if (!compatible.empty()) {
        const bool vm = compatible.find("linux,dummy-virt") != std::string::npos ||
                        std::filesystem::exists("/sys/firmware/devicetree/base/hypervisor");
        facts.emplace_back("inside_vm", vm ? "yes (device tree: " + compatible + ")"
                                           : "cannot tell (device tree: " + compatible + ")");
    }
    const Iomem io = read_iomem();
    if (io.readable && io.any_end) {
        facts.emplace_back("own_ram_end", hex(io.ram_end) + " (/proc/iomem)");
        facts.emplace_back("own_highest_address_end", hex(io.any_end) + " (/proc/iomem, RAM and MMIO)");
        facts.emplace_back("own_window_bits", std::to_string(fdt::address_bits(io.any_end)) +
                                                  " (needed for what this machine was given; "
                                                  "not the CPU's PARange)");
    } else {
        facts.emplace_back("own_window_bits", "unknown (/proc/iomem shows no addresses: run as root)");
    }
    if (auto dt = devicetree_ram_end())
        facts.emplace_back("own_ram_end_devicetree", hex(*dt) + " (/sys/firmware/devicetree)");
    return facts;
}

const char *usage = R"(Usage: strata caps [--json]

Reports what this host offers strata: the architecture, KVM's API version,
the physical address sizes (arm64: the IPA limit and the CPU's PARange as a
guest reads it; x86_64: CPUID 0x80000008), support for guest hypervisors
(arm64 EL2) and for lowering the advertised PARange, whether strata itself
runs in a VM, and the physical window this machine was given (the highest
RAM and MMIO addresses), reported next to the PARange, never merged with it.
)";

} // namespace

int caps_command(int argc, const char *const *argv) {
    po::options_description desc("strata caps");
    desc.add_options()("json", po::bool_switch(), "print JSON instead of a table");
    const auto opts = parse(argc, argv, desc);
    if (opts.help) {
        std::cout << usage << '\n' << desc << '\n';
        return 0;
    }
    const auto facts = gather();
    if (opts.vm["json"].as<bool>()) {
        std::cout << "{";
        for (std::size_t i = 0; i < facts.size(); ++i) {
            std::cout << (i ? ", " : "") << fdt::text::json_string(facts[i].first) << ": "
                      << fdt::text::json_string(facts[i].second);
        }
        std::cout << "}\n";
    } else {
        for (const auto &[name, value] : facts)
            std::cout << name << std::string(name.size() < 26 ? 26 - name.size() : 1, ' ') << value << '\n';
    }
    return 0;
}

} // namespace strata::cli
