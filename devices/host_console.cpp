// Console output and input with the Ctrl-A escape.
#include "devices/host_console.hpp"

#include <boost/asio/read.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <vector>

namespace strata::devices {

HostConsole::HostConsole(const ConsoleSpec &spec) : spec_(spec) {
    switch (spec.kind) {
    case ConsoleSpec::Kind::stdio:
    case ConsoleSpec::Kind::virtio:
        out_fd_ = STDOUT_FILENO;
        on_terminal_ = ::isatty(STDIN_FILENO);
        break;
    case ConsoleSpec::Kind::file:
        file_ = UniqueFd(::open(spec.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!file_)
            throw_errno("open", "console file '" + spec.path + "'");
        out_fd_ = file_.get();
        break;
    case ConsoleSpec::Kind::none: break;
    }
}

void HostConsole::write(std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(out_mutex_);
    while (out_fd_ >= 0 && !bytes.empty()) {
        ssize_t n = ::write(out_fd_, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            // A closed pipe or a full disk must not stop the guest: drop output.
            spdlog::warn("console output failed ({}); further guest output is discarded", std::strerror(errno));
            out_fd_ = -1;
            return;
        }
        bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
}

void HostConsole::start_input(boost::asio::io_context &io, std::function<void(std::span<const std::uint8_t>)> input,
                              std::function<void()> quit) {
    if (spec_.kind != ConsoleSpec::Kind::stdio && spec_.kind != ConsoleSpec::Kind::virtio)
        return;
    input_ = std::move(input);
    quit_ = std::move(quit);
    int fd = ::dup(STDIN_FILENO);
    if (fd < 0)
        return; // no stdin at all
    in_.emplace(io);
    boost::system::error_code ec;
    in_->assign(fd, ec);
    if (ec) { // a regular file or /dev/null cannot be polled: no console input
        ::close(fd);
        in_.reset();
        return;
    }
    read_more();
}

void HostConsole::read_more() {
    in_->async_read_some(boost::asio::buffer(buf_), [this](boost::system::error_code ec, std::size_t n) {
        if (ec)
            return; // EOF or closed: the guest just gets no more input
        std::vector<std::uint8_t> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            std::uint8_t c = buf_[i];
            if (!on_terminal_) {
                out.push_back(c);
            } else if (escaped_) {
                escaped_ = false;
                if (c == 'x' || c == 'X') {
                    quit_();
                    return;
                }
                out.push_back(c); // Ctrl-A Ctrl-A, or Ctrl-A then anything: pass it on
            } else if (c == escape) {
                escaped_ = true;
            } else {
                out.push_back(c);
            }
        }
        if (!out.empty())
            input_(out);
        read_more();
    });
}

} // namespace strata::devices
