// A file's reads and writes on an io_uring ring of its own (liburing), for
// virtio-blk. Asio's random_access_file takes one submission and one
// completion wake-up per operation; here every operation prepared while the
// io_context runs one handler (all the requests one notification pops) goes
// to the kernel in one io_uring_enter; what completed inline (reads the page
// cache held) is reaped right after it, the rest on one wake-up of the ring's
// eventfd. Completion handlers run from their own io_context handler, never
// from inside read() or write().
//
// State: the ring, its eventfd (waited on through the io_context while
//   operations are in flight, so an idle disk is no work that keeps the
//   io_context running), the operations in flight with their iovecs and
//   completion handlers.
// Threads: the io_context's thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <liburing.h>

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace strata::virtio {

class UringFile {
public:
    // `done` gets the bytes moved, or -errno.
    using Done = std::function<void(int result)>;

    // A ring of `entries` submissions on `fd` (borrowed: the caller keeps it
    // open for the ring's life). Throws std::system_error.
    UringFile(boost::asio::io_context &io, int fd, unsigned entries);
    ~UringFile();
    UringFile(const UringFile &) = delete;
    UringFile &operator=(const UringFile &) = delete;

    void read(std::uint64_t offset, std::vector<iovec> iov, Done done);
    void write(std::uint64_t offset, std::vector<iovec> iov, Done done);
    std::size_t in_flight() const { return in_flight_; }
    std::size_t submissions() const { return submissions_; } // io_uring_submit calls so far

private:
    struct Op {
        std::vector<iovec> iov;
        Done done;
    };
    void prepare(bool write, std::uint64_t offset, std::vector<iovec> iov, Done done);
    void submit();
    void wait_for_completions();
    void reap();

    boost::asio::io_context &io_;
    int fd_;
    io_uring ring_{};
    boost::asio::posix::stream_descriptor completions_; // the ring's eventfd
    bool submit_posted_ = false;
    bool waiting_ = false; // an async_wait on the eventfd is pending (one at most)
    std::size_t in_flight_ = 0;
    std::size_t submissions_ = 0;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0); // for handlers that outlive us
};

} // namespace strata::virtio
