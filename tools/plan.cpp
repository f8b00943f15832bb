// `strata plan` and `strata dtb`: the layout planner and the device tree, with
// no VM (and no KVM needed). The DTB is written atomically: a temporary file in
// the target's directory, flushed, then renamed over the target; on any error
// the temporary is removed and the target is left as it was.
#include "fdt/plan.hpp"
#include "fdt/dtb.hpp"
#include "tools/commands.hpp"
#include "tools/device_specs.hpp"
#include "tools/options.hpp"
#include "tools/user_error.hpp"
#include "vmm/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>

namespace strata::cli {

namespace {

const char *plan_usage = R"(Usage: strata plan [machine options] [--json]

Prints the guest-physical memory map strata would build: every region (name,
base, size, end), the physical address window (on arm64 the IPA size) with the
reason it was chosen, the host's limit and the CPU's PARange.
)";

const char *dtb_usage = R"(Usage: strata dtb [machine options] -o FILE

Writes the flattened device tree strata would give the guest. Needs no KVM;
device paths (--blk, --initrd sizes aside) are not opened.
)";

struct Planned {
    Parsed opts;
    fdt::Layout layout;
    std::string caps_source;
};

Planned plan_from(int argc, const char *const *argv, const po::options_description &desc,
                  const virtio::Registry &registry) {
    Planned p{parse(argc, argv, desc), {}, {}};
    if (p.opts.help || p.opts.version)
        return p;
    const auto spec = machine_spec(p.opts.vm, virtio_requests(requested_devices(p.opts.vm, registry)));
    parse_console(p.opts.vm["console"].as<std::string>());
    p.layout = fdt::plan(spec, planning_caps(p.opts.vm, spec, p.caps_source));
    return p;
}

void write_atomically(const std::string &path, std::span<const std::uint8_t> bytes) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
    UniqueFd fd(::mkstemp(tmp.data()));
    if (!fd)
        throw UserError("cannot write '" + path + "': " + std::strerror(errno));
    auto fail = [&](const char *what) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw UserError("cannot write '" + path + "' (" + what + "): " + std::strerror(err));
    };
    for (std::size_t done = 0; done < bytes.size();) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail("write");
        done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0)
        fail("fsync");
    if (::close(fd.release()) != 0)
        fail("close");
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        fail("rename");
}

} // namespace

int plan_command(int argc, const char *const *argv, const virtio::Registry &registry) {
    po::options_description desc("strata plan");
    desc.add_options()("json", po::bool_switch(), "print JSON instead of a table");
    desc.add(machine_options());
    const auto p = plan_from(argc, argv, desc, registry);
    if (p.opts.help) {
        std::cout << plan_usage << '\n' << desc << '\n';
        return 0;
    }
    if (p.opts.vm["json"].as<bool>()) {
        std::cout << fdt::to_json(p.layout);
    } else {
        std::cout << fdt::describe(p.layout) << "host limits: " << p.caps_source << '\n';
    }
    return 0;
}

int dtb_command(int argc, const char *const *argv, const virtio::Registry &registry) {
    po::options_description desc("strata dtb");
    // One option per line:
    // clang-format off
    desc.add_options()
        ("output,o", po::value<std::string>(), "where to write the DTB (required)")
        ("cmdline", po::value<std::string>()->default_value(""), "guest command line (/chosen/bootargs)");
    // clang-format on
    desc.add(machine_options());
    const auto p = plan_from(argc, argv, desc, registry);
    if (p.opts.help) {
        std::cout << dtb_usage << '\n' << desc << '\n';
        return 0;
    }
    if (!p.opts.vm.count("output"))
        throw UserError("strata dtb needs -o FILE: where to write the device tree");
    write_atomically(p.opts.vm["output"].as<std::string>(), fdt::build(p.layout, boot_config(p.opts.vm)));
    return 0;
}

} // namespace strata::cli
