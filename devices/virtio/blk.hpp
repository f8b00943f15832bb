// virtio block device backed by a host file, I/O on an io_uring ring of its
// own (UringFile: one submission for all the requests of a notification),
// straight between the file and the guest's buffers (scatter/gather), with
// as many requests in flight as the driver makes available.
//
// State: the open file and its ring, the requests in flight (so shutdown can
//   wait for them), the flushes running on a helper thread.
// Missing features: discard, write-zeroes, multiqueue, topology, geometry.
// Spec: virtio 1.2 §5.2 (IN, OUT, FLUSH, GET_ID; status OK/IOERR/UNSUPP).
#pragma once

#include "devices/virtio/device.hpp"
#include "devices/virtio/uring_file.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/random_access_file.hpp>
#include <boost/asio/thread_pool.hpp>

#include <array>
#include <string>

namespace strata::virtio {

struct BlockSpec {
    std::string path;
    bool read_only = false;
    std::string id; // GET_ID answer (20 bytes at most)
};

class Block final : public Device {
public:
    // Opens the file (std::system_error if it cannot be opened as asked).
    Block(boost::asio::io_context &io, const BlockSpec &spec);
    ~Block() override;

    DeviceId id() const override { return DeviceId::block; }
    std::uint64_t features() const override;
    std::size_t queues() const override { return 1; }
    std::span<const std::uint8_t> config() const override { return config_; }
    void notify(Transport &transport, std::size_t queue) override;
    bool busy() const override { return in_flight_ > 0; }

    std::uint64_t capacity() const { return capacity_; } // in 512-byte sectors
    std::size_t in_flight() const { return in_flight_; }

private:
    void start(Transport &transport, Chain chain);
    void finish(Transport &transport, std::uint64_t generation, const Chain &chain, std::uint8_t status,
                std::uint32_t written);

    BlockSpec spec_;
    boost::asio::random_access_file file_; // opening, sizing, the final sync
    UringFile uring_;                      // reads and writes
    boost::asio::thread_pool flusher_{1};  // fdatasync (FLUSH), off the io thread
    std::uint64_t capacity_ = 0;
    std::array<std::uint8_t, 8> config_{}; // le64 capacity
    std::size_t in_flight_ = 0;            // guarded by the transport's lock
};

} // namespace strata::virtio
