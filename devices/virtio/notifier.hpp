// Asio glue: reads a queue's ioeventfd on the io_context and hands each
// notification to the transport (STYLE.md 9: the logic stays in mmio.cpp).
#pragma once

#include "vmm/fd.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <functional>
#include <memory>

namespace strata::virtio {

class QueueNotifier {
public:
    QueueNotifier(boost::asio::io_context &io, UniqueFd eventfd, std::function<void()> notified)
        : fd_(io, eventfd.release()), notified_(std::move(notified)) {
        arm();
    }
    QueueNotifier(const QueueNotifier &) = delete;
    QueueNotifier &operator=(const QueueNotifier &) = delete;

private:
    void arm() {
        // A read that completed just before the notifier was destroyed still
        // runs its handler (not as cancelled): `alive` tells it to stop.
        fd_.async_read_some(boost::asio::buffer(&count_, sizeof count_),
                            [this, alive = std::weak_ptr<int>(alive_)](auto ec, std::size_t) {
                                if (ec || alive.expired())
                                    return; // cancelled or destroyed: the queue is gone
                                notified_();
                                arm();
                            });
    }

    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
    boost::asio::posix::stream_descriptor fd_;
    std::function<void()> notified_;
    std::uint64_t count_ = 0;
};

} // namespace strata::virtio
