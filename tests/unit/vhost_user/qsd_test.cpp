// The Frontend against a real backend: QEMU's qemu-storage-daemon exporting
// an image as vhost-user-blk (Debian's qemu-system-common, installed by
// tools/setup). No KVM and no guest: the handshake, the config space (the
// capacity must be the image's size in 512-byte sectors) and a ring set up and
// stopped again with every request acknowledged under REPLY_ACK.
//
// The daemon is killed and reaped, and its socket and image removed, however
// the test ends: RAII here, and PR_SET_PDEATHSIG should the test process die.
#include "devices/vhost_user/frontend.hpp"

#include "tests/unit/vhost_user/fake_backend.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace strata::vhost_user {
namespace {

using namespace test;
using Clock = std::chrono::steady_clock;

const std::string qsd_binary = "/usr/bin/qemu-storage-daemon";

// A child process with stdout and stderr in `log`; SIGTERM, then SIGKILL
// after a second, and reaped, when this goes.
class Daemon {
public:
    Daemon(const std::vector<std::string> &argv, const std::string &log) : log_(log) {
        std::vector<char *> args;
        for (const auto &a : argv)
            args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0)
            throw_errno("fork", argv[0]);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127);
            const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out >= 0) {
                ::dup2(out, STDOUT_FILENO);
                ::dup2(out, STDERR_FILENO);
            }
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~Daemon() {
        if (!running())
            return;
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 100 && running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (running()) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Daemon(const Daemon &) = delete;
    Daemon &operator=(const Daemon &) = delete;

    bool running() {
        if (reaped_)
            return false;
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_)
            reaped_ = true;
        return !reaped_;
    }
    std::string log() const {
        std::ifstream in(log_);
        return {std::istreambuf_iterator<char>(in), {}};
    }

private:
    std::string log_;
    pid_t pid_ = -1;
    bool reaped_ = false;
};

// Connects once the daemon has its socket up (10 s at most).
std::optional<Frontend> connect_when_ready(Daemon &daemon, const std::string &socket) {
    const auto give_up = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < give_up && daemon.running()) {
        if (std::filesystem::exists(socket)) {
            try {
                return Frontend::connect(socket, std::chrono::seconds(5));
            } catch (const Error &) {
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
}

constexpr std::uint64_t image_size = 4 * 1024 * 1024 + 7 * 512; // 8199 sectors: not a round number
constexpr std::uint64_t virtio_f_version_1 = 1ull << 32;
constexpr std::size_t ram_size = 1 << 20;

TEST(VhostUserQemuStorageDaemon, HandshakeConfigAndOneRingWithAcks) {
    ASSERT_EQ(::access(qsd_binary.c_str(), X_OK), 0)
        << qsd_binary << " is missing: tools/setup installs it (Debian package qemu-system-common)";
    TempDir dir;
    const auto image = dir.file("disk.img"), socket = dir.file("vhost-user-blk.sock");
    std::ofstream(image).close();
    std::filesystem::resize_file(image, image_size);

    Daemon daemon({qsd_binary, "--blockdev", "driver=file,node-name=file0,filename=" + image, "--export",
                   "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=" + socket + ",writable=on"},
                  dir.file("qsd.log"));
    auto connected = connect_when_ready(daemon, socket);
    ASSERT_TRUE(connected.has_value()) << "qemu-storage-daemon never listened at " << socket << ":\n" << daemon.log();
    auto &fe = *connected;

    fe.set_owner();
    const auto features = fe.get_features();
    ASSERT_NE(features & f_protocol_features, 0u);
    const auto offered = fe.get_protocol_features();
    const auto wanted = protocol_feature::config | protocol_feature::reply_ack | protocol_feature::mq;
    EXPECT_EQ(offered & wanted, wanted) << std::hex << offered;
    fe.set_protocol_features(offered & wanted);
    const auto queues = fe.get_queue_num();
    EXPECT_GE(queues, 1u);

    // struct virtio_blk_config up to and including num_queues (virtio 1.2 §5.2.4).
    const auto config = fe.get_config(0, 40);
    ASSERT_EQ(config.size(), 40u);
    EXPECT_EQ(u64_at(config, 0), image_size / 512) << "capacity";
    EXPECT_EQ(u32_at(config, 20), 512u) << "blk_size";

    std::printf("qemu-storage-daemon: features %#llx, protocol features %#llx, queues %llu\nconfig:",
                static_cast<unsigned long long>(features), static_cast<unsigned long long>(offered),
                static_cast<unsigned long long>(queues));
    for (auto b : config)
        std::printf(" %02x", b);
    std::printf("\n");

    // One ring in a memfd "guest RAM", set up and stopped; each request acked.
    fe.set_features(features & (virtio_f_version_1 | f_protocol_features));
    UniqueFd ram(::memfd_create("qsd-test-ram", MFD_CLOEXEC));
    ASSERT_TRUE(ram);
    ASSERT_EQ(::ftruncate(ram.get(), ram_size), 0);
    Mapping map(ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, ram.get(), 0, "test RAM");
    const auto user = reinterpret_cast<std::uint64_t>(map.get());
    const std::array regions{MemRegion{0, ram_size, user, 0, ram.get()}};
    fe.set_mem_table(regions);
    fe.set_vring_num(0, 128);
    fe.set_vring_addr({0, 0, user + 0x1000, user + 0x3000, user + 0x2000, 0});
    fe.set_vring_base(0, 0);
    UniqueFd kick(::eventfd(0, EFD_CLOEXEC)), call(::eventfd(0, EFD_CLOEXEC));
    fe.set_vring_call(0, call.get());
    fe.set_vring_kick(0, kick.get());
    fe.set_vring_enable(0, true);
    EXPECT_EQ(fe.get_vring_base(0), 0u) << "nothing was made available, nothing consumed";
    EXPECT_TRUE(daemon.running()) << daemon.log();
}

} // namespace
} // namespace strata::vhost_user
