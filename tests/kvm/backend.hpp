// A vhost-user backend process for one test (qemu-storage-daemon, virtiofsd):
// started with its output in a log, ready once its socket exists, killed and
// its socket, log and any other `leftovers` removed when the test ends, even
// when it fails.
#pragma once

#include "tests/kvm/kvm_env.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

namespace kvmtest {

class BackendProcess {
public:
    // `args` may name "{socket}", replaced by the socket path.
    BackendProcess(const std::string &name, std::vector<std::string> args, std::vector<std::string> leftovers = {})
        : socket_(temp_path(name + ".sock")), log_(temp_path(name + ".log")), leftovers_(std::move(leftovers)) {
        std::filesystem::remove(socket_);
        for (auto &a : args)
            if (auto at = a.find("{socket}"); at != std::string::npos)
                a.replace(at, 8, socket_);
        if (const int log = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); log >= 0) {
            try {
                pid_ = strata::test::start_tied(args, {-1, log, log});
            } catch (const std::exception &e) {
                start_error_ = std::string(e.what()) + "\n";
            }
            ::close(log);
        } else {
            start_error_ = "cannot create " + log_ + "\n";
        }
        for (int i = 0; i < 500 && pid_ > 0 && !std::filesystem::exists(socket_); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ~BackendProcess() {
        kill();
        std::error_code ec; // a destructor must not throw
        for (const auto &path : leftovers_)
            std::filesystem::remove(path, ec);
        std::filesystem::remove(socket_, ec);
        std::filesystem::remove(log_, ec);
    }
    BackendProcess(const BackendProcess &) = delete;
    BackendProcess &operator=(const BackendProcess &) = delete;

    bool ready() const { return pid_ > 0 && std::filesystem::exists(socket_); }
    const std::string &socket() const { return socket_; }
    pid_t pid() const { return pid_; }
    std::string log() const { return start_error_ + "the backend said:\n" + strata::test::slurp(log_); }
    void kill() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

private:
    std::string socket_, log_, start_error_;
    std::vector<std::string> leftovers_;
    pid_t pid_ = -1;
};

} // namespace kvmtest
