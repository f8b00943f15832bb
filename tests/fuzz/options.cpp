// Fuzz target: the command line and the INI config file (tools/options.cpp,
// tools/device_specs.cpp, the registry's device option parsers), on the path
// `strata dtb` takes: parse -> MachineSpec -> plan -> DTB.
//
// Input: text. Lines up to a line "--- config" are the command-line words,
// one per line; what follows that line is the config file, handed over as
// --config /proc/self/fd/N (a memfd). A user's mistake is a UserError or a
// PlanError; any other exception, a crash or a DTB libfdt rejects is a bug.
#include "tools/options.hpp"
#include "devices/vhost_user/device.hpp"
#include "devices/virtio/builtin.hpp"
#include "fdt/dtb.hpp"
#include "fdt/plan.hpp"
#include "tests/fuzz/input.hpp"
#include "tools/device_specs.hpp"
#include "tools/user_error.hpp"
#include "vmm/arch/arch.hpp"

#include <libfdt.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace strata::fuzz {
namespace {

struct Fixture {
    Fixture() : config(::memfd_create("fuzz-config", MFD_CLOEXEC)) {
        if (config < 0)
            std::abort();
        virtio::register_builtin_devices(registry);
        vhost_user::register_vhost_user_devices(registry);
        desc.add_options()("cmdline", cli::po::value<std::string>()->default_value(""), "guest command line");
        desc.add(cli::machine_options());
    }
    int config;
    virtio::Registry registry;
    cli::po::options_description desc{"fuzz"};
};

void run(Fixture &f, const std::string &text) {
    const std::string separator = "--- config\n";
    const auto split = text.find(separator);
    const std::string words_text = text.substr(0, split);
    std::vector<std::string> words{"dtb"};
    for (std::size_t at = 0; at <= words_text.size();) {
        const auto end = std::min(words_text.find('\n', at), words_text.size());
        if (end > at || end < words_text.size())
            words.push_back(words_text.substr(at, end - at));
        at = end + 1;
    }
    if (split != std::string::npos) {
        const std::string ini = text.substr(split + separator.size());
        if (::ftruncate(f.config, 0) != 0 ||
            ::pwrite(f.config, ini.data(), ini.size(), 0) != static_cast<ssize_t>(ini.size()))
            std::abort();
        words.push_back("--config");
        words.push_back("/proc/self/fd/" + std::to_string(f.config));
    }
    std::vector<const char *> argv;
    for (const auto &w : words) {
        // Only the config file the harness made is read: a word naming a
        // device or a kernel file (/dev/zero as --config) would read forever.
        if (&w != &words.back() && (w.find("/dev") != std::string::npos || w.find("/proc") != std::string::npos ||
                                    w.find("/sys") != std::string::npos))
            return;
        argv.push_back(w.c_str());
    }

    const auto parsed = cli::parse(static_cast<int>(argv.size()), argv.data(), f.desc);
    if (parsed.help || parsed.version)
        return;
    const auto &vm = parsed.vm;
    const auto requested = cli::requested_devices(vm, f.registry);
    const auto spec = cli::machine_spec(vm, cli::virtio_requests(requested));
    cli::parse_console(vm["console"].as<std::string>());
    // planning_caps() asks this host's KVM for its own architecture: not here.
    fdt::HostCaps caps = spec.arch == fdt::Arch::aarch64 ? fdt::HostCaps{40, 40} : fdt::HostCaps{48, 48};
    if (spec.arch != arch::host_arch) {
        std::string source;
        caps = cli::planning_caps(vm, spec, source);
    }
    const auto layout = fdt::plan(spec, caps);
    (void)fdt::describe(layout);
    (void)fdt::to_json(layout);
    fdt::BootConfig boot;
    boot.bootargs = vm["cmdline"].as<std::string>();
    auto dtb = fdt::build(layout, boot);
    if (const int rc = fdt_check_full(dtb.data(), dtb.size()); rc != 0) {
        std::fprintf(stderr, "the DTB of a planned machine fails fdt_check_full: %s\n", fdt_strerror(rc));
        std::abort();
    }
}

} // namespace
} // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static strata::fuzz::Fixture fixture;
    try {
        strata::fuzz::run(fixture, strata::fuzz::text({data, size}));
    } catch (const strata::cli::UserError &) {
    } catch (const strata::fdt::PlanError &) {
    }
    return 0;
}
