// The strata CLI: `strata COMMAND [options]`. Errors are reported here, once:
// the user's mistakes (cli::UserError, and the planner's and loaders' errors,
// which only the user's input causes) are one sentence and exit 2; a host
// failure (std::system_error, naming the call) exits 3. Nothing below this
// prints an error and goes on.
#include "fdt/plan_error.hpp"
#include "tools/commands.hpp"
#include "tools/user_error.hpp"
#include "vmm/load_error.hpp"
#include "vmm/run_control.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>
#include <system_error>

#ifndef STRATA_VERSION
#define STRATA_VERSION "unknown"
#endif

namespace {

const char *usage = R"(Usage: strata COMMAND [options]

strata is a small event-driven virtual machine monitor for Linux KVM.

Commands:
  run     boot a guest kernel (or the built-in demo guest) and run it
  plan    print the memory map and physical address window for a machine
  dtb     write the device tree for a machine (no KVM needed)
  caps    report what this host offers: address sizes, EL2 guests, own window
  device  serve one device as a vhost-user backend for any frontend
  help    show this help; `strata COMMAND --help` explains a command

Options:
  --version   show the version
)";

// What the user asked for cannot be done: one sentence, exit 2.
int usage_error(const std::exception &e) {
    std::cerr << "strata: " << strata::cli::printable(e.what()) << '\n';
    return strata::exit_status::usage;
}

} // namespace

namespace strata::cli {

int strata_main(int argc, char **argv, const virtio::Registry &registry) {
    auto logger = spdlog::stderr_color_st("strata");
    logger->set_pattern("strata: %^%l%$: %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::warn);

    const std::string command = argc > 1 ? argv[1] : "help";
    try {
        if (command == "--version" || command == "version") {
            std::cout << "strata " STRATA_VERSION "\n";
            return 0;
        }
        if (command == "help" || command == "--help" || command == "-h") {
            std::cout << usage;
            return 0;
        }
        if (command == "run")
            return run_command(argc - 1, argv + 1, registry);
        if (command == "plan")
            return plan_command(argc - 1, argv + 1, registry);
        if (command == "dtb")
            return dtb_command(argc - 1, argv + 1, registry);
        if (command == "device")
            return device_command(argc - 1, argv + 1, registry);
        if (command == "caps")
            return caps_command(argc - 1, argv + 1);
        throw strata::cli::UserError("unknown command " + strata::cli::quote_value(command) + ": see `strata help`");
    } catch (const strata::cli::UserError &e) {
        return usage_error(e);
    } catch (const strata::fdt::PlanError &e) { // a machine that cannot be laid out as asked
        return usage_error(e);
    } catch (const strata::LoadError &e) { // a kernel or initrd that cannot be booted
        return usage_error(e);
    } catch (const std::exception &e) {
        std::cerr << "strata: " << strata::cli::printable(e.what()) << '\n';
        return strata::exit_status::host_error;
    }
}

} // namespace strata::cli
