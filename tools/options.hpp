// Command-line and config-file options shared by the strata commands, and the
// parsers for their values. Every mistake is a UserError: one sentence, exit 2.
#pragma once

#include "devices/host_console.hpp"
#include "fdt/dtb.hpp"
#include "fdt/layout.hpp"

#include <boost/program_options.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strata::cli {

namespace po = boost::program_options;

// "512M", "2G", "1T", "64K" (binary units, optional "iB"/"B") or plain bytes.
std::uint64_t parse_size(const std::string &text, const std::string &option);
// "stdio", "none" or "file:PATH".
devices::ConsoleSpec parse_console(const std::string &text);
unsigned parse_count(const std::string &text, const std::string &option);
// Decimal or 0x-hex.
std::uint64_t parse_address(const std::string &text, const std::string &option);

// The machine options of run, dtb and plan.
po::options_description machine_options();

// --sandbox on|off (run and device): the seccomp sandbox, on by default.
po::options_description sandbox_options();
// Its value; a UserError for anything but on and off.
bool sandbox_enabled(const po::variables_map &vm);

struct Parsed {
    po::variables_map vm;
    bool help = false;
    bool version = false;
};

// Parses argv (argv[0] is the command name and is skipped) against `desc`, plus --config FILE
// (INI, same names; the command line wins). Throws UserError.
// `hidden` options and `positional` words (strata device's NAME) are parsed too.
Parsed parse(int argc, const char *const *argv, const po::options_description &desc,
             const po::options_description &hidden = {}, const po::positional_options_description &positional = {});

// MachineSpec from the parsed machine options and the virtio slots
// (requested_devices(), device_specs.hpp); host limits are checked later.
fdt::MachineSpec machine_spec(const po::variables_map &vm, std::vector<fdt::VirtioRequest> virtio = {});

// What the guest is told beyond the map: --cmdline, and the rng and KASLR
// seeds from getrandom(2).
fdt::BootConfig boot_config(const po::variables_map &vm);

// The host's limits for `arch`: from KVM when this host runs that architecture,
// else assumed, overridden by --host-ipa-limit / --host-pa-range. `source`
// says which, for the plan report.
fdt::HostCaps planning_caps(const po::variables_map &vm, const fdt::MachineSpec &spec, std::string &source);

} // namespace strata::cli
