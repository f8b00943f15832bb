// The host side of the console, shared by the UARTs and the virtio console: where
// guest output goes (stdout, a file, nowhere) and where guest input comes from
// (stdin, read on the io_context). On a terminal, Ctrl-A x stops the VM and
// Ctrl-A Ctrl-A sends a literal Ctrl-A; everything else goes to the guest.
#pragma once

#include "vmm/fd.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace strata::devices {

// virtio: stdio, through a virtio console (the UART's output goes there too).
struct ConsoleSpec {
    enum class Kind : std::uint8_t { stdio, none, file, virtio };
    Kind kind = Kind::stdio;
    std::string path; // for file
};

class HostConsole {
public:
    // Opens the output (a file is created or truncated); throws system_error.
    explicit HostConsole(const ConsoleSpec &spec);

    // Called from vCPU threads (the UARTs) and the io_context (virtio console).
    void write(std::span<const std::uint8_t> bytes);

    // Reads stdin (stdio consoles only) until EOF, passing bytes to `input`;
    // `quit` is called for the escape sequence.
    void start_input(boost::asio::io_context &io, std::function<void(std::span<const std::uint8_t>)> input,
                     std::function<void()> quit);

    static constexpr std::uint8_t escape = 0x01; // Ctrl-A

private:
    void read_more();

    ConsoleSpec spec_;
    UniqueFd file_;
    std::mutex out_mutex_; // guards out_fd_ and keeps writers' bytes apart
    int out_fd_ = -1;
    bool on_terminal_ = false;
    bool escaped_ = false;
    std::optional<boost::asio::posix::stream_descriptor> in_;
    std::array<std::uint8_t, 256> buf_{};
    std::function<void(std::span<const std::uint8_t>)> input_;
    std::function<void()> quit_;
};

} // namespace strata::devices
