// Option parsing: sizes, counts, console specs, and Program_options glue.
#include "tools/options.hpp"

#include "fdt/user_error.hpp"
#include "vmm/arch/arch.hpp"

#include <cctype>
#include <fstream>

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
    if (text.rfind("file:", 0) == 0 && text.size() > 5)
        return {Kind::file, text.substr(5)};
    throw UserError("--console wants stdio, none or file:PATH, not '" + text + "'");
}

po::options_description machine_options() {
    po::options_description d("Machine");
    d.add_options()
        ("mem", po::value<std::string>()->default_value("128M"), "guest RAM: 512M, 2G or bytes")
        ("cpus", po::value<std::string>()->default_value("1"), "number of vCPUs");
    return d;
}

Parsed parse(int argc, const char *const *argv, const po::options_description &desc) {
    po::options_description all = desc;
    all.add_options()
        ("config", po::value<std::string>(), "read options from an INI file (same names; the command line wins)")
        ("help,h", "show this help")
        ("version", "show the version");
    Parsed p;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).run(), p.vm);
        if (p.vm.count("config")) {
            const std::string path = p.vm["config"].as<std::string>();
            std::ifstream in(path);
            if (!in)
                throw UserError("cannot open the config file '" + path + "'");
            po::store(po::parse_config_file(in, desc), p.vm);
        }
        po::notify(p.vm);
    } catch (const po::error &e) {
        throw UserError(e.what());
    }
    p.help = p.vm.count("help") > 0;
    p.version = p.vm.count("version") > 0;
    return p;
}

fdt::MachineSpec machine_spec(const po::variables_map &vm) {
    fdt::MachineSpec spec;
    spec.arch = arch::host_arch;
    spec.ram_size = parse_size(vm["mem"].as<std::string>(), "mem");
    spec.cpus = parse_count(vm["cpus"].as<std::string>(), "cpus");
    if (spec.cpus == 0)
        throw UserError("--cpus must be at least 1");
    return spec;
}

} // namespace strata::cli
