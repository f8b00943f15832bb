// The sandbox (vmm/sandbox.hpp) for the commands that run guests or serve
// devices: with --sandbox on (the default) every filter is compiled and the
// start-up filter installed right after the command line is read, before
// any file, KVM handle or socket is opened; the later filters are returned
// for the moment their thread class begins.
#pragma once

#include "tools/device_specs.hpp"
#include "tools/options.hpp"
#include "vmm/sandbox.hpp"

#include <optional>
#include <vector>

namespace strata::cli {

// strata run: the io and vCPU filters for Vm::run, or nullopt with --sandbox off.
std::optional<sandbox::RunFilters> start_run_sandbox(const po::variables_map &vm,
                                                     const std::vector<RequestedDevice> &devices);

// strata device: the backend filter, installed once the listening socket exists.
std::optional<sandbox::Filter> start_device_sandbox(const po::variables_map &vm);

} // namespace strata::cli
