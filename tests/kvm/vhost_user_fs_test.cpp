// virtio-fs through the vhost-user frontend, against a backend no one here
// wrote: Debian's C virtiofsd sharing a fresh temporary directory. The
// fs-test guest speaks FUSE to it over the request queue: it reads a file the
// host put in the share and creates one that the host then reads back.
#include "tests/kvm/backend.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace kvmtest;
using strata::test::slurp;

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
// disconnects, and leaves a lock behind: /run/virtiofsd/ and the socket path
// with '/' turned into '.'.
class Virtiofsd : public BackendProcess {
public:
    explicit Virtiofsd(const std::string &dir)
        : BackendProcess("virtiofsd", {virtiofsd, "--socket-path={socket}", "-o", "source=" + dir, "-o", "cache=none"},
                         {lock_file(temp_path("virtiofsd.sock"))}) {}

private:
    static std::string lock_file(std::string socket) {
        std::replace(socket.begin(), socket.end(), '/', '.');
        return "/run/virtiofsd/" + socket + ".pid";
    }
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
