// `strata device`: one registered device served as a vhost-user backend
// process (devices/vhost_user/backend.hpp) until SIGINT or SIGTERM.
#include "devices/host_console.hpp"
#include "devices/vhost_user/backend.hpp"
#include "tools/commands.hpp"
#include "tools/device_specs.hpp"
#include "tools/options.hpp"
#include "tools/sandboxing.hpp"
#include "tools/user_error.hpp"

#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

namespace strata::cli {

namespace {

const char *usage = R"(Usage: strata device NAME[,key=value...] --socket PATH

Serves one device of strata's registry (the list below: the same names and
options as `strata run --device`) as a vhost-user backend on the Unix socket
PATH, for any vhost-user frontend: QEMU's vhost-user-blk/-rng/... devices or
`strata run --device vhost-user,socket=PATH,type=...`. One frontend at a
time; when it goes, the device is reset and the next may connect. Runs until
SIGINT or SIGTERM (exit 0).

Sandbox: once the socket listens, the process may make only the system calls
serving a frontend needs (--sandbox off for debugging).
)";

} // namespace

int device_command(int argc, const char *const *argv, const virtio::Registry &registry) {
    po::options_description desc("strata device");
    // One option per line:
    // clang-format off
    desc.add_options()
        ("socket", po::value<std::string>(), "the Unix socket to listen on (required)")
        ("log-level", po::value<std::string>()->default_value("info"), "error, warn, info or debug");
    // clang-format on
    desc.add(sandbox_options());
    po::positional_options_description positional;
    positional.add("device-spec", 1);
    po::options_description hidden;
    hidden.add_options()("device-spec", po::value<std::string>());
    const auto opts = parse(argc, argv, desc, hidden, positional);
    if (opts.help) {
        std::cout << usage << '\n' << desc << '\n' << describe_device_types(registry);
        return 0;
    }
    if (!opts.vm.count("device-spec"))
        throw UserError("strata device needs a device NAME[,key=value...]: see `strata device --help`");
    if (!opts.vm.count("socket"))
        throw UserError("strata device needs --socket PATH: where frontends connect");
    spdlog::set_level(spdlog::level::from_str(opts.vm["log-level"].as<std::string>()));
    const auto text = opts.vm["device-spec"].as<std::string>();
    const auto requested = request_device(registry, text, text);
    const auto backend_filter = start_device_sandbox(opts.vm);

    boost::asio::io_context io;
    devices::HostConsole console(devices::ConsoleSpec{});
    virtio::DeviceContext context{io, console, {}};
    auto device = create_device(requested, context);
    const auto &path = opts.vm["socket"].as<std::string>();
    std::optional<vhost_user::Backend> backend;
    try {
        backend.emplace(io, path, std::move(device));
    } catch (const std::system_error &e) {
        throw UserError(e.what());
    }
    spdlog::info("serving {} on {}", text, path);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code &ec, int) {
        if (!ec)
            io.stop();
    });
    // Everything is open: from here on, only what serving frontends needs.
    if (backend_filter)
        backend_filter->install(true);
    io.run();
    return 0;
}

} // namespace strata::cli
