// What virtio-blk promises about its host file when things go wrong around
// it, on /dev/kvm with blk-test's host-side modes:
//  - FLUSH: once the guest has the completion, every write it was told had
//    completed before is on the disk under the file, not only in the page
//    cache (strata is SIGKILLed right after; the ext4 on a loop device is
//    read past its cache, from the device with O_DIRECT); and strata
//    completes a FLUSH only after fdatasync returned, with those writes
//    already in the file (an LD_PRELOAD shim holds the sync and watches);
//  - a file truncated, or whose filesystem turns read-only, under a running
//    guest: the requests that can no longer work complete with IOERR, strata
//    and its other devices go on, and the guest exits normally.
#include "tests/kvm/flush_shim.h"
#include "tests/kvm/kvm_env.hpp"
#include "tests/support/meson_main.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <regex>
#include <stdexcept>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace kvmtest;
using strata::test::slurp;

namespace {

std::string dynamic_bin, shim_path; // strata linked dynamically, and the shim preloaded into it

constexpr std::size_t disk_bytes = 1 << 20; // 2048 sectors
constexpr std::size_t written = 64 * 512;   // what each mode writes first (sectors=64)

// blk-test's pattern on blk0: disk byte o holds (o * 31 + seed) mod 256.
std::string pattern(std::size_t from, std::size_t bytes, unsigned seed) {
    std::string s(bytes, '\0');
    for (std::size_t i = 0; i < bytes; ++i)
        s[i] = static_cast<char>(((from + i) * 31 + seed) & 0xff);
    return s;
}

// "" when `got` is `want`, else where they first differ: the strings are
// 32 KiB of disk, too long to print whole.
std::string difference(const std::string &got, const std::string &want) {
    if (got == want)
        return "";
    if (got.size() != want.size())
        return std::to_string(got.size()) + " bytes instead of " + std::to_string(want.size());
    const auto at = static_cast<std::size_t>(std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin());
    char line[160];
    std::snprintf(line, sizeof line, "byte %zu is 0x%02x, not 0x%02x (%zd of %zu bytes differ)", at,
                  static_cast<unsigned char>(got[at]), static_cast<unsigned char>(want[at]),
                  std::inner_product(got.begin(), got.end(), want.begin(), std::ptrdiff_t{0}, std::plus<>(),
                                     std::not_equal_to<>()),
                  got.size());
    return line;
}

// A loop device and a mount need root. CI runs as root, and there a test
// that cannot set them up fails; elsewhere it is skipped.
#define SKIP_UNLESS_ROOT()                                                                                             \
    do {                                                                                                               \
        if (::geteuid() != 0 && std::getenv("CI") == nullptr)                                                          \
            GTEST_SKIP() << "needs root for a loop device and a mount (CI runs it as root)";                           \
    } while (0)

// Runs a set-up command; "" when it exits 0, else what it said.
std::string command(const std::vector<std::string> &argv, std::string *out = nullptr) {
    const auto o = strata::test::run(argv, 60s);
    if (out)
        *out = o.out;
    if (o.status == 0)
        return "";
    return argv[0] + " " + argv[1] + " failed (status " + std::to_string(o.status) + "): " + o.err + o.out;
}

// A zero-filled disk file whose blocks are allocated and on the device;
// "" when made, else what went wrong.
std::string make_disk(const std::string &path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return "cannot create " + path + ": " + std::strerror(errno);
    const std::string zeros(disk_bytes, '\0');
    const bool ok = ::write(fd, zeros.data(), zeros.size()) == static_cast<ssize_t>(zeros.size()) && ::fsync(fd) == 0;
    ::close(fd);
    return ok ? "" : "cannot fill " + path;
}

// strata running blk-test on `disk`, with `options` (more devices) and `cmdline`.
strata::test::Child start_blk_test(const std::string &disk, const std::vector<std::string> &options,
                                   const std::string &cmdline) {
    std::vector<std::string> argv{strata_bin, "run", "--kernel", guest("blk-test"), "--blk", disk};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"--cmdline", cmdline});
    return strata::test::spawn(argv);
}

// An ext4 filesystem in a 64 MiB image on a loop device, mounted for one
// test, with a disk file on it (make_disk). A file on it can be read two
// ways: through the filesystem, which shows the page cache, and from the
// loop device with O_DIRECT, which shows only what ext4 has written to the
// device -- what a power cut would leave.
class LoopExt4 {
public:
    LoopExt4(const std::string &name, const std::string &options)
        : image_(temp_path(name + ".ext4")), dir_(temp_path(name + ".mnt")) {
        std::ofstream(image_, std::ios::binary).close();
        fs::resize_file(image_, 64 << 20);
        if (!(error_ = command({"/usr/sbin/mkfs.ext4", "-q", "-F", "-b", "4096", image_})).empty())
            return;
        std::string out;
        if (!(error_ = command({"/usr/sbin/losetup", "--find", "--show", image_}, &out)).empty())
            return;
        device_ = out.substr(0, out.find('\n'));
        fs::create_directory(dir_);
        error_ = command({"/usr/bin/mount", "-t", "ext4", "-o", options, device_, dir_});
        mounted_ = error_.empty();
        if (mounted_)
            error_ = make_disk(disk());
    }
    ~LoopExt4() {
        if (mounted_)
            command({"/usr/bin/umount", dir_});
        if (!device_.empty())
            command({"/usr/sbin/losetup", "-d", device_});
        std::error_code ec; // a destructor must not throw
        fs::remove(dir_, ec);
        fs::remove(image_, ec);
    }
    LoopExt4(const LoopExt4 &) = delete;
    LoopExt4 &operator=(const LoopExt4 &) = delete;

    const std::string &error() const { return error_; }
    const std::string &device() const { return device_; }
    std::string disk() const { return dir_ + "/disk.img"; }
    // ext4's sysfs directory for this filesystem.
    std::string sysfs() const { return "/sys/fs/ext4/" + fs::path(device_).filename().string(); }
    // The options it is mounted with now, from /proc/mounts.
    std::string mount_options() const {
        std::ifstream mounts("/proc/mounts");
        std::string dev, dir, type, options, rest;
        while (mounts >> dev >> dir >> type >> options && std::getline(mounts, rest))
            if (dir == dir_)
                return options;
        return "";
    }

private:
    std::string image_, dir_, device_, error_;
    bool mounted_ = false;
};

// Bytes [offset, offset + len) of `file` as its block device holds them:
// FIEMAP maps each 4 KiB block to the device (without FIEMAP_FLAG_SYNC,
// which would write the file back first), read there with O_DIRECT (past
// the device's own cache). The file's blocks must be allocated and written
// once already (make_disk), so that ext4 overwrites them in place.
std::string on_device(const std::string &file, const std::string &device, std::size_t offset, std::size_t len) {
    constexpr std::size_t block = 4096, max_extents = 32;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error("cannot open " + file);
    std::vector<std::uint8_t> raw(sizeof(fiemap) + max_extents * sizeof(fiemap_extent));
    auto *map = reinterpret_cast<fiemap *>(raw.data());
    map->fm_start = 0;
    map->fm_length = FIEMAP_MAX_OFFSET;
    map->fm_extent_count = max_extents;
    const int rc = ::ioctl(fd, FS_IOC_FIEMAP, map);
    ::close(fd);
    if (rc != 0)
        throw std::runtime_error("FIEMAP of " + file + ": " + std::strerror(errno));
    const int dev = ::open(device.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (dev < 0)
        throw std::runtime_error("cannot open " + device + " with O_DIRECT");
    std::unique_ptr<void, decltype(&std::free)> buf(std::aligned_alloc(block, block), &std::free);
    std::string out;
    for (std::size_t at = offset; at < offset + len; at += block) {
        const fiemap_extent *hit = nullptr;
        for (std::uint32_t i = 0; i < map->fm_mapped_extents && !hit; ++i)
            if (map->fm_extents[i].fe_logical <= at &&
                at < map->fm_extents[i].fe_logical + map->fm_extents[i].fe_length)
                hit = &map->fm_extents[i];
        if (!hit || hit->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNWRITTEN)) {
            ::close(dev);
            throw std::runtime_error("byte " + std::to_string(at) + " of " + file + " has no written block");
        }
        const auto physical = static_cast<off_t>(hit->fe_physical + (at - hit->fe_logical));
        if (::pread(dev, buf.get(), block, physical) != static_cast<ssize_t>(block)) {
            ::close(dev);
            throw std::runtime_error("O_DIRECT read of " + device + " failed: " + std::strerror(errno));
        }
        out.append(static_cast<const char *>(buf.get()), block);
    }
    ::close(dev);
    return out;
}

// The page shared with the shim (flush_shim.h), created with `hold` set so
// that the first sync waits for the test.
class ShimPage {
public:
    ShimPage() : path_(temp_path("flush-shim")) {
        const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ::ftruncate(fd, 4096) != 0)
            throw std::runtime_error("cannot create " + path_);
        void *p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED)
            throw std::runtime_error("cannot map " + path_);
        page_ = static_cast<flush_shim_page *>(p);
        std::atomic_ref(page_->hold).store(1);
    }
    ~ShimPage() {
        ::munmap(page_, 4096);
        std::error_code ec;
        fs::remove(path_, ec);
    }
    ShimPage(const ShimPage &) = delete;
    ShimPage &operator=(const ShimPage &) = delete;

    const std::string &path() const { return path_; }
    std::uint32_t entered() const { return std::atomic_ref(page_->entered).load(); }
    std::uint32_t returned() const { return std::atomic_ref(page_->returned).load(); }
    int last_fd() const { return std::atomic_ref(page_->last_fd).load(); }
    int last_result() const { return std::atomic_ref(page_->last_result).load(); }
    void release() { std::atomic_ref(page_->hold).store(0); }

private:
    std::string path_;
    flush_shim_page *page_ = nullptr;
};

// A disk file in the temporary directory, removed when the test ends.
struct TempDisk {
    explicit TempDisk(const std::string &name) : path(temp_path(name)) {
        if (const auto error = make_disk(path); !error.empty())
            throw std::runtime_error(error);
    }
    ~TempDisk() {
        std::error_code ec;
        fs::remove(path, ec);
    }
    std::string path;
};

// A guest that went on after what happened to its disk: `lines`, then
// blk-test's closing lines (the first 64 sectors read back, a random draw,
// done), and a normal exit.
void expect_guest_went_on(const strata::test::Outcome &o, const std::string &lines) {
    const std::regex closing("blk0: sectors 0-63 still read back\nrng: [0-9a-f]{64}\nblk-test: done\n");
    EXPECT_TRUE(o.out.rfind(lines, 0) == 0 && std::regex_match(o.out.substr(lines.size()), closing)) << o.out;
    EXPECT_EQ(o.killed_by, 0);
    EXPECT_EQ(o.status, 0) << o.err;
}

const std::string flushed_then_not =
    "blk0: capacity 2048 sectors\nblk0: wrote 64 sectors, flushed\nblk0: wrote 64 more sectors, not flushed\n";

} // namespace

TEST(FlushDurability, WritesAckedBeforeAFlushAreOnTheDeviceWhenStrataIsKilledRightAfterIt) {
    SKIP_UNLESS_ROOT();
    LoopExt4 ext4("flush", "defaults");
    ASSERT_EQ(ext4.error(), "");
    const auto disk = ext4.disk();
    auto child = start_blk_test(disk, {}, "mode=flush-then-wait seed=5 sectors=64");
    const auto out = strata::test::read_until(child, "not flushed\n", 20s);
    ::kill(child.pid, SIGKILL); // nothing of strata's runs after this: no exit path, no sync at close
    const auto o = strata::test::finish(child, 10s, out);
    EXPECT_EQ(o.killed_by, SIGKILL) << o.err;
    ASSERT_EQ(o.out, flushed_then_not) << o.err;

    // Sectors 0-63, flushed: on the device.
    EXPECT_EQ(difference(on_device(disk, ext4.device(), 0, written), pattern(0, written, 5)), "")
        << "the flushed writes are not on the device";
    // Sectors 64-127, acked but not flushed: in the file (the page cache) and
    // not yet on the device, which shows the device read does not see the
    // cache. (ext4 writes back on its own only after 30 s, or under memory
    // pressure, which this machine would have to be close to.)
    EXPECT_EQ(difference(slurp(disk).substr(written, written), pattern(written, written, 5)), "");
    EXPECT_EQ(difference(on_device(disk, ext4.device(), written, written), std::string(written, '\0')), "")
        << "the unflushed writes are on the device: the check cannot tell flushed from cached";
}

TEST(FlushDurability, AFlushCompletesOnlyAfterFdatasyncReturnedAndEveryAckedWriteWasInTheFile) {
    TempDisk disk("shim-disk.img");
    ShimPage shim;
    auto child = strata::test::spawn({"/usr/bin/env", "LD_PRELOAD=" + shim_path, "STRATA_FLUSH_SHIM=" + shim.path(),
                                      dynamic_bin, "run", "--kernel", guest("blk-test"), "--blk", disk.path,
                                      "--cmdline", "mode=flush-then-wait seed=9 sectors=64"});
    // Until the guest's FLUSH reaches fdatasync, or the guest says it completed.
    std::string out;
    for (const auto end = std::chrono::steady_clock::now() + 20s;
         shim.entered() == 0 && out.find("flushed\n") == std::string::npos && std::chrono::steady_clock::now() < end;)
        out += strata::test::read_until(child, "flushed\n", 10ms);
    if (shim.entered() == 0) {
        ::kill(child.pid, SIGKILL);
        const auto o = strata::test::finish(child, 10s, out);
        FAIL() << "no fdatasync had started when the guest had its FLUSH completed (or after 20 s); the guest "
                  "said:\n"
               << o.out << o.err;
    }
    // The sync is held before it reaches the kernel. By now the eight writes
    // the guest had completed are in the file, so the sync covers them, and
    // it is the disk's fd that is synced.
    EXPECT_EQ(difference(slurp(disk.path).substr(0, written), pattern(0, written, 9)), "");
    EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(child.pid) + "/fd/" + std::to_string(shim.last_fd())),
              fs::path(disk.path));
    // While fdatasync has not returned, the guest has no completion.
    out += strata::test::read_until(child, "flushed\n", 500ms);
    EXPECT_EQ(out, "blk0: capacity 2048 sectors\n");
    EXPECT_EQ(shim.returned(), 0u);

    shim.release();
    if (out.find("not flushed\n") == std::string::npos)
        out += strata::test::read_until(child, "not flushed\n", 20s);
    ::kill(child.pid, SIGKILL);
    const auto o = strata::test::finish(child, 10s, out);
    EXPECT_EQ(o.out, flushed_then_not) << o.err;
    // One sync, returned with success; none for the writes after the FLUSH.
    EXPECT_EQ(shim.entered(), 1u);
    EXPECT_EQ(shim.returned(), 1u);
    EXPECT_EQ(shim.last_result(), 0);
}

TEST(HostDiskChanges, ATruncatedDiskFailsReadsPastItsNewEndWithIoerrAndTheGuestGoesOn) {
    TempDisk disk("shrink.img");
    auto child = start_blk_test(disk.path, {"--rng"}, "mode=shrink seed=3 sectors=64 rng=1");
    const auto out = strata::test::read_until(child, "shrink\n", 20s);
    EXPECT_EQ(out, "blk0: capacity 2048 sectors\nblk0: wrote 64 sectors, flushed, waiting for the disk to shrink\n");
    fs::resize_file(disk.path, disk_bytes / 2); // 1024 of the 2048 sectors the guest was told of
    const auto o = strata::test::finish(child, 30s, out);
    expect_guest_went_on(o, "blk0: capacity 2048 sectors\n"
                            "blk0: wrote 64 sectors, flushed, waiting for the disk to shrink\n"
                            "blk0: read of sector 2047 failed with IOERR after the shrink\n");
    EXPECT_EQ(fs::file_size(disk.path), disk_bytes / 2);
    EXPECT_EQ(difference(slurp(disk.path).substr(0, written), pattern(0, written, 3)), "");
}

TEST(HostDiskChanges, ADiskWhoseFilesystemTurnsReadOnlyFailsWritesAndFlushWithIoerrAndTheGuestGoesOn) {
    SKIP_UNLESS_ROOT();
    // An ext4 error remounts it read-only under the open file (errors=remount-ro).
    // A read-only loop device would not do: `blockdev --setro` under a mounted
    // filesystem only makes the kernel warn, and writes still go through.
    LoopExt4 ext4("ro", "errors=remount-ro");
    ASSERT_EQ(ext4.error(), "");
    auto child = start_blk_test(ext4.disk(), {"--rng"}, "mode=read-only seed=4 sectors=64 rng=1");
    const auto out = strata::test::read_until(child, "read-only\n", 20s);
    EXPECT_EQ(out,
              "blk0: capacity 2048 sectors\nblk0: wrote 64 sectors, flushed, waiting for the disk to turn read-only\n");
    {
        std::ofstream trigger(ext4.sysfs() + "/trigger_fs_error");
        trigger << "strata durability test: turning read-only\n" << std::flush;
        EXPECT_TRUE(trigger.good()) << "cannot write " << ext4.sysfs() << "/trigger_fs_error";
    }
    const auto o = strata::test::finish(child, 30s, out);
    // Linux 6.x marks it emergency_ro; older kernels remount it ro.
    const auto options = ext4.mount_options();
    EXPECT_TRUE(options.find("emergency_ro") != std::string::npos || options.rfind("ro,", 0) == 0)
        << "the filesystem did not turn read-only: " << options;
    expect_guest_went_on(o, "blk0: capacity 2048 sectors\n"
                            "blk0: wrote 64 sectors, flushed, waiting for the disk to turn read-only\n"
                            "blk0: write of sector 0 failed with IOERR after the disk turned read-only\n"
                            "blk0: flush failed with IOERR\n");
}

int main(int argc, char **argv) {
    ::testing::InitGoogleTest(&argc, argv);
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s STRATA GUEST_DIR STRATA_DYNAMIC FLUSH_SHIM\n", argv[0]);
        return 1;
    }
    strata_bin = argv[1];
    guest_dir = argv[2];
    dynamic_bin = argv[3];
    shim_path = argv[4];
    return kvmtest::run_kvm_tests();
}
