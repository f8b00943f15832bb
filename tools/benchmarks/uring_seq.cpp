// tools/benchmarks/uring_seq.cpp (bench-uring): the host-side reference for
// strata's virtio-blk figures. Reads or writes FILE sequentially through
// io_uring (liburing, buffered: no O_DIRECT) in SIZE-byte requests with DEPTH
// in flight, wrapping at the file's end, until TOTAL bytes are done: the
// same pattern the blk-bench guest asks of strata. One untimed pass warms
// the page cache, then REPS timed passes; prints the median MiB/s.
//
// A write pass ends with fdatasync, because strata syncs a writable disk
// when it exits, so its timed run pays for the writeback too.
//
// Usage: bench-uring read|write FILE SIZE DEPTH TOTAL [REPS=3]
#include <liburing.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "args.hpp"

namespace {

[[noreturn]] void die(const std::string &what, int err) { bench::die("bench-uring", what, err); }
unsigned long long number(const char *s, const char *what) { return bench::number("bench-uring", s, what); }

struct Job {
    int fd;
    bool write;
    std::size_t size;
    unsigned depth;
    unsigned long long total;
    unsigned long long file_bytes;
};

// One pass: TOTAL bytes in SIZE requests, DEPTH in flight; returns seconds.
double pass(io_uring &ring, const Job &job, std::vector<char> &pool) {
    const auto t0 = std::chrono::steady_clock::now();
    unsigned long long offset = 0, issued = 0, done = 0;
    std::vector<unsigned> free_slots;
    auto submit = [&](unsigned slot) {
        if (offset + job.size > job.file_bytes)
            offset = 0;
        io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        char *buf = pool.data() + std::size_t{slot} * job.size;
        if (job.write)
            io_uring_prep_write(sqe, job.fd, buf, static_cast<unsigned>(job.size), offset);
        else
            io_uring_prep_read(sqe, job.fd, buf, static_cast<unsigned>(job.size), offset);
        io_uring_sqe_set_data64(sqe, slot);
        offset += job.size;
        issued += job.size;
    };
    for (unsigned slot = 0; slot < job.depth && issued < job.total; ++slot)
        submit(slot);
    while (done < job.total) {
        const int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0)
            die("io_uring_submit_and_wait", -rc);
        io_uring_cqe *cqe = nullptr;
        unsigned head = 0, seen = 0;
        free_slots.clear();
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            if (cqe->res < 0)
                die(job.write ? "write" : "read", -cqe->res);
            if (static_cast<std::size_t>(cqe->res) != job.size) {
                std::fprintf(stderr, "bench-uring: short %s (%d of %zu bytes)\n", job.write ? "write" : "read",
                             cqe->res, job.size);
                std::exit(1);
            }
            done += job.size;
            free_slots.push_back(static_cast<unsigned>(io_uring_cqe_get_data64(cqe)));
        }
        io_uring_cq_advance(&ring, seen);
        for (unsigned slot : free_slots)
            if (issued < job.total)
                submit(slot);
    }
    if (job.write && ::fdatasync(job.fd) != 0)
        die("fdatasync", errno);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 6 || argc > 7 || (std::strcmp(argv[1], "read") != 0 && std::strcmp(argv[1], "write") != 0)) {
        std::fprintf(stderr, "usage: bench-uring read|write FILE SIZE DEPTH TOTAL [REPS=3]\n");
        return 2;
    }
    Job job{};
    job.write = std::strcmp(argv[1], "write") == 0;
    job.size = number(argv[3], "SIZE");
    job.depth = static_cast<unsigned>(number(argv[4], "DEPTH"));
    job.total = number(argv[5], "TOTAL");
    const unsigned reps = argc == 7 ? static_cast<unsigned>(number(argv[6], "REPS")) : 3;
    if (job.size == 0 || job.size > (1u << 30) || job.depth == 0 || job.depth > 4096 || job.total == 0 || reps == 0) {
        std::fprintf(stderr, "bench-uring: SIZE, DEPTH, TOTAL and REPS must be positive (and sane)\n");
        return 2;
    }
    job.fd = ::open(argv[2], job.write ? O_RDWR : O_RDONLY);
    if (job.fd < 0)
        die(std::string("open ") + argv[2], errno);
    struct stat st {};
    if (::fstat(job.fd, &st) != 0)
        die("fstat", errno);
    job.file_bytes = static_cast<unsigned long long>(st.st_size);
    if (job.file_bytes < job.size) {
        std::fprintf(stderr, "bench-uring: %s is smaller than one request\n", argv[2]);
        return 2;
    }

    io_uring ring{};
    if (const int rc = io_uring_queue_init(job.depth, &ring, 0); rc < 0)
        die("io_uring_queue_init", -rc);
    std::vector<char> pool(job.size * job.depth, 'x');

    pass(ring, job, pool); // warm-up
    std::vector<double> mibs;
    for (unsigned i = 0; i < reps; ++i)
        mibs.push_back(static_cast<double>(job.total) / (1 << 20) / pass(ring, job, pool));
    std::sort(mibs.begin(), mibs.end());
    std::printf("%.3f\n", mibs[mibs.size() / 2]);
    io_uring_queue_exit(&ring);
    ::close(job.fd);
    return 0;
}
