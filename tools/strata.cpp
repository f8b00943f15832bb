// The strata CLI: `strata COMMAND [options]`. Errors are reported here, once:
// a user error is one sentence and exit 2, a host failure names the call and
// exits 3. Nothing below this prints an error and goes on.
#include "fdt/user_error.hpp"
#include "tools/commands.hpp"
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
  help    show this help; `strata COMMAND --help` explains a command

Options:
  --version   show the version
)";

} // namespace

int main(int argc, char **argv) {
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
            return strata::cli::run_command(argc - 1, argv + 1);
        if (command == "plan")
            return strata::cli::plan_command(argc - 1, argv + 1);
        if (command == "dtb")
            return strata::cli::dtb_command(argc - 1, argv + 1);
        if (command == "caps")
            return strata::cli::caps_command(argc - 1, argv + 1);
        throw strata::UserError("unknown command '" + command + "': see `strata help`");
    } catch (const strata::UserError &e) {
        std::cerr << "strata: " << e.what() << '\n';
        return strata::exit_status::usage;
    } catch (const std::exception &e) {
        std::cerr << "strata: " << e.what() << '\n';
        return strata::exit_status::host_error;
    }
}
