// Compiling the sandbox's filters and installing the start-up one.
#include "tools/sandboxing.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace strata::cli {

std::optional<sandbox::RunFilters> start_run_sandbox(const po::variables_map &vm,
                                                     const std::vector<RequestedDevice> &devices) {
    if (!sandbox_enabled(vm))
        return std::nullopt;
    // A vhost-user frontend connects again, at run time, after its backend went away.
    const sandbox::Needs needs{.unix_client = std::any_of(devices.begin(), devices.end(),
                                                          [](const auto &d) { return d.name == "vhost-user"; })};
    const auto startup = sandbox::compile(sandbox::Role::startup, needs);
    sandbox::RunFilters filters{sandbox::compile(sandbox::Role::io, needs),
                                sandbox::compile(sandbox::Role::vcpu, needs)};
    startup.install(true);
    spdlog::debug("sandbox: start-up filter installed ({} instructions; io {}, vCPU {})", startup.instructions(),
                  filters.io.instructions(), filters.vcpu.instructions());
    return filters;
}

std::optional<sandbox::Filter> start_device_sandbox(const po::variables_map &vm) {
    if (!sandbox_enabled(vm))
        return std::nullopt;
    const auto startup = sandbox::compile(sandbox::Role::startup);
    auto backend = sandbox::compile(sandbox::Role::backend);
    startup.install(true);
    return backend;
}

} // namespace strata::cli
