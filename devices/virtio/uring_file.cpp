// UringFile (see uring_file.hpp).
#include "devices/virtio/uring_file.hpp"

#include "vmm/fd.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace strata::virtio {

UringFile::UringFile(boost::asio::io_context &io, int fd, unsigned entries) : io_(io), fd_(fd), completions_(io) {
    if (const int rc = io_uring_queue_init(entries, &ring_, 0); rc < 0)
        throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init for a disk");
    UniqueFd event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!event) {
        io_uring_queue_exit(&ring_);
        throw_errno("eventfd", "a disk's io_uring ring");
    }
    if (const int rc = io_uring_register_eventfd(&ring_, event.get()); rc < 0) {
        io_uring_queue_exit(&ring_);
        throw std::system_error(-rc, std::generic_category(), "io_uring_register_eventfd for a disk");
    }
    completions_.assign(event.release());
}

UringFile::~UringFile() {
    // The owner waited for every operation (Device::busy()); the ring and
    // its eventfd go, and a wait still pending sees `alive_` expire.
    boost::system::error_code ec;
    completions_.close(ec);
    io_uring_queue_exit(&ring_);
}

void UringFile::read(std::uint64_t offset, std::vector<iovec> iov, Done done) {
    prepare(false, offset, std::move(iov), std::move(done));
}

void UringFile::write(std::uint64_t offset, std::vector<iovec> iov, Done done) {
    prepare(true, offset, std::move(iov), std::move(done));
}

void UringFile::prepare(bool write, std::uint64_t offset, std::vector<iovec> iov, Done done) {
    io_uring_sqe *sqe = io_uring_get_sqe(&ring_);
    if (!sqe) { // the submission queue is full: hand it over now, then take a slot
        submit();
        sqe = io_uring_get_sqe(&ring_);
    }
    if (!sqe)
        return done(-EAGAIN);
    auto op = std::make_unique<Op>(Op{std::move(iov), std::move(done)});
    const auto count = static_cast<unsigned>(op->iov.size());
    if (write)
        io_uring_prep_writev(sqe, fd_, op->iov.data(), count, offset);
    else
        io_uring_prep_readv(sqe, fd_, op->iov.data(), count, offset);
    io_uring_sqe_set_data(sqe, op.release());
    ++in_flight_;
    if (!waiting_)
        wait_for_completions(); // only while something is in flight: an idle disk is no work for the io_context
    // One submission for everything prepared before the io_context's next handler.
    if (!submit_posted_) {
        submit_posted_ = true;
        boost::asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
            if (alive.expired())
                return;
            submit_posted_ = false;
            submit();
            reap(); // what completed inline (reads the page cache held) needs no wake-up
        });
    }
}

void UringFile::submit() {
    ++submissions_;
    int rc;
    do
        rc = io_uring_submit(&ring_);
    while (rc == -EINTR);
    if (rc < 0) // the prepared entries stay queued: the next submission takes them
        spdlog::warn("disk I/O: io_uring_submit: {}", std::strerror(-rc));
}

void UringFile::wait_for_completions() {
    waiting_ = true;
    completions_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                            [this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
                                if (ec || alive.expired())
                                    return;
                                waiting_ = false;
                                std::uint64_t count;
                                [[maybe_unused]] auto n = ::read(completions_.native_handle(), &count, sizeof count);
                                reap();
                                if (in_flight_ > 0)
                                    wait_for_completions();
                            });
}

void UringFile::reap() {
    io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
        std::unique_ptr<Op> op(static_cast<Op *>(io_uring_cqe_get_data(cqe)));
        const int result = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        --in_flight_;
        op->done(result);
    }
}

} // namespace strata::virtio
