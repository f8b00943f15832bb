// virtio-fs through the vhost-user frontend, against a backend no one here
// wrote: Debian's C virtiofsd sharing a fresh temporary directory. The
// fs-test guest speaks FUSE to it over the request queue: it reads a file the
// host put in the share and creates one that the host then reads back.
#include "tests/kvm/kvm_env.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace kvmtest;
using strata::test::slurp;

extern char **environ;

namespace {

constexpr const char *virtiofsd = "/usr/lib/qemu/virtiofsd";

// A directory of its own for one test, removed with everything in it.
class TempDir {
public:
    explicit TempDir(const std::string &name) : path_(temp_path(name)) {
        fs::remove_all(path_);
        fs::create_directory(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

// virtiofsd sharing `dir` on a Unix socket. It exits by itself when strata
// disconnects; whatever is left of it is killed at the end. Its messages go
// to a log that a failing test prints.
class Virtiofsd {
public:
    explicit Virtiofsd(const std::string &dir)
        : socket_(temp_path("virtiofsd.sock")), log_(temp_path("virtiofsd.log")) {
        fs::remove(socket_);
        const std::vector<std::string> args{virtiofsd,   "--socket-path=" + socket_, "-o", "source=" + dir, "-o",
                                            "cache=none"};
        std::vector<char *> argv;
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        posix_spawn_file_actions_t io;
        ::posix_spawn_file_actions_init(&io);
        ::posix_spawn_file_actions_addopen(&io, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::posix_spawn_file_actions_adddup2(&io, 1, 2);
        if (::posix_spawn(&pid_, virtiofsd, &io, nullptr, argv.data(), environ) != 0)
            pid_ = -1;
        ::posix_spawn_file_actions_destroy(&io);
        for (int i = 0; i < 500 && pid_ > 0 && !fs::exists(socket_); ++i)
            std::this_thread::sleep_for(10ms);
    }
    ~Virtiofsd() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
        std::error_code ec; // a destructor must not throw
        fs::remove(socket_, ec);
        fs::remove(log_, ec);
        fs::remove(pid_file(), ec);
    }
    Virtiofsd(const Virtiofsd &) = delete;
    Virtiofsd &operator=(const Virtiofsd &) = delete;

    bool ready() const { return pid_ > 0 && fs::exists(socket_); }
    const std::string &socket() const { return socket_; }
    std::string log() const { return "virtiofsd said:\n" + slurp(log_); }

private:
    // The lock virtiofsd takes on its socket path and leaves behind:
    // /run/virtiofsd/ and the path with '/' turned into '.'.
    std::string pid_file() const {
        auto name = socket_;
        std::replace(name.begin(), name.end(), '/', '.');
        return "/run/virtiofsd/" + name + ".pid";
    }

    std::string socket_, log_;
    pid_t pid_ = -1;
};

} // namespace

TEST(VhostUserFs, GuestReadsAHostFileAndCreatesOneTheHostReads) {
    ASSERT_TRUE(fs::exists(virtiofsd)) << "tools/setup installs qemu-system-common, which holds virtiofsd";
    TempDir share("share");
    std::ofstream(share.path() + "/hello.txt") << "from the host\n";
    Virtiofsd daemon(share.path());
    ASSERT_TRUE(daemon.ready()) << "virtiofsd did not start\n" << daemon.log();

    auto o = run_strata({"run", "--kernel", guest("fs-test"), "--device",
                         "vhost-user,socket=" + daemon.socket() + ",type=fs,tag=share"},
                        30s);
    EXPECT_EQ(o.status, 0) << o.err << daemon.log();
    EXPECT_EQ(o.out, "fs-test: read \"from the host\"\n"
                     "fs-test: wrote 21 bytes\n"
                     "fs-test: tag share\n"
                     "fs-test: done\n")
        << o.err << daemon.log();

    const auto created = share.path() + "/from-guest.txt";
    ASSERT_TRUE(fs::exists(created)) << daemon.log();
    EXPECT_EQ(slurp(created), "written by the guest\n");
    EXPECT_EQ(fs::status(created).permissions() & fs::perms::all, fs::perms(0644));
}

TEST(VhostUserFs, NoTagIsAUsageErrorBeforeAnyVm) {
    const auto sock = temp_path("nobody.sock"); // nothing listens: the options are refused first
    auto o = run_strata({"run", "--kernel", guest("fs-test"), "--device", "vhost-user,socket=" + sock + ",type=fs"});
    strata::test::expect_usage_error(o, "--device vhost-user,socket=" + sock +
                                            ",type=fs: a virtio-fs device needs tag=NAME");
}
