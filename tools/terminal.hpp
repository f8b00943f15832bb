// Raw mode for an interactive console, restored by the destructor on every
// exit path that unwinds (normal return, exceptions, orderly signal stops),
// and by the sandbox's SIGSYS handler on the one that does not.
#pragma once

#include "vmm/sandbox.hpp"

#include <termios.h>
#include <unistd.h>

namespace strata::cli {

class RawTerminal {
public:
    RawTerminal() {
        if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0)
            return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        raw.c_oflag = saved_.c_oflag; // keep output processing: "\n" still starts a line
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        if (active_)
            sandbox::restore_terminal_on_violation(STDIN_FILENO, saved_);
    }
    ~RawTerminal() {
        if (!active_)
            return;
        sandbox::forget_terminal();
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    RawTerminal(const RawTerminal &) = delete;
    RawTerminal &operator=(const RawTerminal &) = delete;

private:
    termios saved_{};
    bool active_ = false;
};

} // namespace strata::cli
