// Option parsing: sizes, counts, console specs, and Program_options glue.
#include "tools/options.hpp"

#include "fdt/plan.hpp"
#include "tools/user_error.hpp"
#include "vmm/arch/arch.hpp"

#include <sys/random.h>
#include <sys/stat.h>

#include <cstring>

#include <cctype>
#include <fstream>
#include <map>

namespace strata::cli {

std::uint64_t parse_size(const std::string &text, const std::string &option) {
    const std::string bad = "--" + option + " wants a size such as 512M, 2G or a number of bytes, not '" + text + "'";
    std::size_t i = 0;
    std::uint64_t value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            throw UserError("--" + option + " " + text + " is too large");
        value = value * 10 + digit;
        ++i;
    }
    if (i == 0)
        throw UserError(bad);
    std::string unit = text.substr(i);
    for (auto &c : unit)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    unsigned shift = 0;
    if (!unit.empty()) {
        const std::string units = "KMGT";
        auto pos = units.find(unit[0]);
        if (pos == std::string::npos || !(unit.size() == 1 || unit.substr(1) == "B" || unit.substr(1) == "IB"))
            throw UserError(bad);
        shift = static_cast<unsigned>(10 * (pos + 1));
    }
    if (shift && value > (UINT64_MAX >> shift))
        throw UserError("--" + option + " " + text + " is too large");
    value <<= shift;
    if (value == 0)
        throw UserError("--" + option + " must be more than 0");
    return value;
}

std::uint64_t parse_address(const std::string &text, const std::string &option) {
    std::size_t used = 0;
    std::uint64_t v = 0;
    try {
        if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])))
            v = std::stoull(text, &used, 0);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used == 0 || used != text.size())
        throw UserError("--" + option + " wants an address such as 0x80000000, not '" + text + "'");
    return v;
}

unsigned parse_count(const std::string &text, const std::string &option) {
    std::size_t used = 0;
    unsigned long v = 0;
    try {
        if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])))
            v = std::stoul(text, &used);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used == 0 || used != text.size() || v > 1'000'000)
        throw UserError("--" + option + " wants a whole number, not '" + text + "'");
    return static_cast<unsigned>(v);
}

devices::ConsoleSpec parse_console(const std::string &text) {
    using Kind = devices::ConsoleSpec::Kind;
    if (text == "stdio")
        return {Kind::stdio, {}};
    if (text == "none")
        return {Kind::none, {}};
    if (text == "virtio")
        return {Kind::virtio, {}};
    if (text.rfind("file:", 0) == 0 && text.size() > 5)
        return {Kind::file, text.substr(5)};
    throw UserError("--console wants stdio, none, file:PATH or virtio, not '" + text + "'");
}

po::options_description machine_options() {
    po::options_description d("Machine (shared by run, dtb and plan)");
    // One option per line:
    // clang-format off
    d.add_options()
        ("arch", po::value<std::string>(), "x86_64 or aarch64 (default: this host's)")
        ("mem", po::value<std::string>()->default_value("128M"), "guest RAM: 512M, 2G or bytes")
        ("ram-base", po::value<std::string>(), "guest-physical RAM base (aarch64; 2 MiB aligned)")
        ("cpus", po::value<std::string>()->default_value("1"), "number of vCPUs")
        ("ipa-bits", po::value<std::string>()->default_value("auto"),
         "physical address window: auto (smallest that fits), max (host limit), 0 (legacy 40) or N")
        ("gic", po::value<std::string>()->default_value("v3"), "aarch64 interrupt controller: v3 or v2")
        ("el2", po::bool_switch(), "aarch64: run a guest hypervisor (vCPUs start at EL2)")
        ("e2h0", po::bool_switch(), "aarch64, with --el2: a guest hypervisor without VHE (HCR_EL2.E2H = 0)")
        ("pa-range", po::value<std::string>(),
         "aarch64: the PARange (bits) the guest reads in ID_AA64MMFR0_EL1; only lowering is possible")
        ("initrd", po::value<std::string>(), "initial ramdisk, placed in RAM and named in /chosen")
        ("device", po::value<std::vector<std::string>>()->composing(),
         "a virtio device NAME[,key=value...] (repeatable; the list is in `strata run --help`)")
        ("blk", po::value<std::vector<std::string>>()->composing(),
         "virtio block device PATH[,ro][,id=NAME] (repeatable; = --device virtio-blk,path=PATH...)")
        ("net", po::value<std::vector<std::string>>()->composing(),
         "virtio net device tap=NAME[,mac=MAC] (repeatable; = --device virtio-net,...)")
        ("rng", po::bool_switch(), "a virtio entropy device (= --device virtio-rng)")
        ("console", po::value<std::string>()->default_value("stdio"),
         "stdio, none or file:PATH (the UART), or virtio (a virtio console)")
        ("host-ipa-limit", po::value<std::string>(), "plan for a host with this IPA limit (bits) instead of this one")
        ("host-pa-range", po::value<std::string>(), "plan for a CPU with this PARange (bits) instead of this one");
    // clang-format on
    return d;
}

po::options_description sandbox_options() {
    po::options_description d("Sandbox");
    d.add_options()("sandbox", po::value<std::string>()->default_value("on"),
                    "on: each thread may make only the system calls its work needs (seccomp; a forbidden one "
                    "stops strata with exit status 159, naming it); off: no filter, for debugging");
    return d;
}

bool sandbox_enabled(const po::variables_map &vm) {
    const auto &text = vm["sandbox"].as<std::string>();
    if (text == "on")
        return true;
    if (text == "off")
        return false;
    throw UserError("--sandbox wants on or off, not '" + text + "'");
}

namespace {
// Boost's what() for a bad option replaces each %name% placeholder by its
// value until none is left: a value that holds its own placeholder (the user
// typed --x%canonical_option%) never ends. The values are the user's words;
// their '%' become "%25" first, which no placeholder's name starts with.
// (A class of ours derived from Boost's error may name the protected map.)
struct Substitutions : po::error_with_option_name {
    static std::map<std::string, std::string> &of(po::error_with_option_name &e) {
        return e.*(&Substitutions::m_substitutions);
    }
};

po::error_with_option_name &defused(po::error_with_option_name &e) {
    for (auto &[name, value] : Substitutions::of(e))
        for (auto at = value.find('%'); at != std::string::npos; at = value.find('%', at + 3))
            value.replace(at, 1, "%25");
    return e;
}
} // namespace

Parsed parse(int argc, const char *const *argv, const po::options_description &desc,
             const po::options_description &hidden, const po::positional_options_description &positional) {
    po::options_description all = desc;
    // One option per line:
    // clang-format off
    all.add_options()
        ("config", po::value<std::string>(), "read options from an INI file (same names; the command line wins)")
        ("help,h", "show this help")
        ("version", "show the version");
    // clang-format on
    all.add(hidden);
    Parsed p;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), p.vm);
        if (p.vm.count("config")) {
            const std::string path = p.vm["config"].as<std::string>();
            std::ifstream in(path);
            if (!in)
                throw UserError("cannot open the config file '" + path + "'");
            po::store(po::parse_config_file(in, desc), p.vm);
        }
        po::notify(p.vm);
    } catch (po::error_with_option_name &e) {
        throw UserError(defused(e).what());
    } catch (const po::error &e) {
        throw UserError(e.what());
    }
    p.help = p.vm.count("help") > 0;
    p.version = p.vm.count("version") > 0;
    return p;
}

fdt::MachineSpec machine_spec(const po::variables_map &vm, std::vector<fdt::VirtioRequest> virtio) {
    fdt::MachineSpec spec;
    spec.arch = vm.count("arch") ? fdt::parse_arch(vm["arch"].as<std::string>()) : arch::host_arch;
    spec.ram_size = parse_size(vm["mem"].as<std::string>(), "mem");
    if (vm.count("ram-base"))
        spec.ram_base = parse_address(vm["ram-base"].as<std::string>(), "ram-base");
    spec.cpus = parse_count(vm["cpus"].as<std::string>(), "cpus");
    if (spec.cpus == 0)
        throw UserError("--cpus must be at least 1");
    spec.ipa = fdt::parse_ipa_request(vm["ipa-bits"].as<std::string>());
    const auto &gic = vm["gic"].as<std::string>();
    if (gic != "v3" && gic != "v2")
        throw UserError("--gic wants v3 or v2, not '" + gic + "'");
    spec.gic = gic == "v3" ? fdt::GicVersion::v3 : fdt::GicVersion::v2;
    spec.el2 = vm["el2"].as<bool>();
    spec.e2h0 = vm["e2h0"].as<bool>();
    if (spec.e2h0 && !spec.el2)
        throw UserError("--e2h0 only makes sense with --el2");
    if (vm.count("pa-range"))
        spec.pa_range = parse_count(vm["pa-range"].as<std::string>(), "pa-range");
    if (spec.arch != fdt::Arch::aarch64 && (spec.el2 || vm.count("ram-base") || !vm["gic"].defaulted()))
        throw UserError("--el2, --gic and --ram-base are aarch64 options; this machine is x86_64");
    if (vm.count("initrd")) {
        const auto &path = vm["initrd"].as<std::string>();
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0)
            throw UserError("cannot use initrd '" + path + "': " + std::strerror(errno));
        if (!S_ISREG(st.st_mode))
            throw UserError("cannot use initrd '" + path + "': it is not a regular file");
        if (st.st_size == 0)
            throw UserError("initrd '" + path + "' is empty");
        spec.initrd_size = static_cast<std::uint64_t>(st.st_size);
    }
    spec.virtio = std::move(virtio);
    return spec;
}

namespace {
std::vector<std::uint8_t> random_bytes(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::getrandom(v.data() + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            throw_errno("getrandom", "the device-tree seeds");
        got += static_cast<std::size_t>(r);
    }
    return v;
}
} // namespace

fdt::BootConfig boot_config(const po::variables_map &vm) {
    fdt::BootConfig boot;
    boot.bootargs = vm["cmdline"].as<std::string>();
    boot.rng_seed = random_bytes(32);
    boot.kaslr_seed = random_bytes(8);
    return boot;
}

fdt::HostCaps planning_caps(const po::variables_map &vm, const fdt::MachineSpec &spec, std::string &source) {
    const fdt::Arch arch = spec.arch;
    fdt::HostCaps caps;
    source = "this host's KVM";
    bool from_kvm = false;
    std::string why = "no KVM for " + std::string(fdt::name(arch)) + " here";
    if (arch == arch::host_arch) {
        try {
            Kvm kvm;
            caps = arch::host_caps(kvm, spec.el2);
            from_kvm = true;
        } catch (const std::system_error &e) {
            // Planning needs no KVM: without a /dev/kvm we may open, plan for an
            // assumed host and say why. Any other failure is a host error.
            if (e.code() != std::errc::no_such_file_or_directory && e.code() != std::errc::permission_denied &&
                e.code() != std::errc::operation_not_permitted && e.code() != std::errc::no_such_device)
                throw;
            why = e.what();
        }
    }
    if (!from_kvm) {
        // Without KVM: an arm64 host without the IPA capability is a 40-bit host;
        // x86_64 machines commonly have 48 physical address bits.
        caps = arch == fdt::Arch::aarch64 ? fdt::HostCaps{40, 40} : fdt::HostCaps{48, 48};
        source = "assumed (" + why + "; see --host-ipa-limit)";
    }
    if (vm.count("host-ipa-limit")) {
        caps.ipa_limit = parse_count(vm["host-ipa-limit"].as<std::string>(), "host-ipa-limit");
        source = "given on the command line";
    }
    if (vm.count("host-pa-range"))
        caps.pa_range = parse_count(vm["host-pa-range"].as<std::string>(), "host-pa-range");
    for (unsigned bits : {caps.ipa_limit, caps.pa_range})
        if (bits < 32 || bits > 52)
            throw UserError("a host physical address size of " + std::to_string(bits) +
                            " bits is impossible: it lies between 32 and 52");
    return caps;
}

} // namespace strata::cli
