// virtio-blk request handling; its file I/O goes through UringFile.
#include "devices/virtio/blk.hpp"

#include "devices/virtio/le.hpp"
#include "devices/virtio/mmio.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <system_error>

namespace strata::virtio {

namespace {

constexpr std::uint64_t sector = 512;
constexpr std::uint32_t t_in = 0, t_out = 1, t_flush = 4, t_get_id = 8;
constexpr std::uint8_t s_ok = 0, s_ioerr = 1, s_unsupp = 2;
constexpr std::uint64_t f_ro = 1ull << 5, f_flush = 1ull << 9;
constexpr std::size_t id_bytes = 20;
// Submission slots of the disk's ring: more requests in flight than this
// submit as the slots fill (UringFile::prepare), and the kernel keeps
// completions past its twice-as-large completion ring in a backlog.
constexpr unsigned ring_entries = 256;

// struct virtio_blk_req's header (virtio 1.2 §5.2.6).
struct Header {
    le32 type;
    le32 reserved;
    le64 sector;
};

// The guest buffers of a request's data, as iovecs.
std::vector<iovec> data_buffers(const GuestMemory &memory, const Chain &chain, bool writable, std::uint64_t skip,
                                std::uint64_t len) {
    std::vector<iovec> out;
    for_each_piece(memory, chain, writable, skip, len, [&](std::span<std::byte> piece) {
        out.push_back({piece.data(), piece.size()});
    });
    return out;
}

boost::asio::random_access_file open_disk(boost::asio::io_context &io, const BlockSpec &spec) {
    boost::asio::random_access_file file(io);
    boost::system::error_code ec;
    file.open(spec.path, spec.read_only ? boost::asio::file_base::read_only : boost::asio::file_base::read_write, ec);
    if (ec)
        throw std::system_error(ec.value(), std::system_category(),
                                "cannot open disk '" + spec.path + "'" + (spec.read_only ? "" : " for writing"));
    return file;
}

} // namespace

Block::Block(boost::asio::io_context &io, const BlockSpec &spec)
    : spec_(spec), file_(open_disk(io, spec)), uring_(io, file_.native_handle(), ring_entries) {
    boost::system::error_code ec;
    const std::uint64_t bytes = file_.size(ec);
    if (ec)
        throw std::system_error(ec.value(), std::system_category(), "cannot size disk '" + spec.path + "'");
    capacity_ = bytes / sector;
    if (bytes % sector)
        spdlog::warn("disk '{}' is not a whole number of 512-byte sectors; its last {} bytes are not visible",
                     spec.path, bytes % sector);
    const le64 capacity{capacity_};
    std::memcpy(config_.data(), &capacity, sizeof capacity);
}

Block::~Block() {
    flusher_.join();
    // Everything the guest saw completed is in the page cache; make it durable.
    boost::system::error_code ec;
    if (file_.is_open() && !spec_.read_only)
        file_.sync_data(ec);
}

std::uint64_t Block::features() const { return f_flush | (spec_.read_only ? f_ro : 0); }

void Block::notify(Transport &transport, std::size_t queue) {
    while (auto chain = transport.pop(queue))
        start(transport, std::move(*chain));
}

void Block::finish(Transport &transport, std::uint64_t generation, const Chain &chain, std::uint8_t status,
                   std::uint32_t written) {
    --in_flight_;
    if (generation != transport.generation())
        return; // the driver reset the device meanwhile
    // The status byte is the last device-writable byte of the chain.
    write_chain(transport.memory(), chain, chain.writable - 1, std::span(&status, 1));
    transport.complete(0, chain, written + 1);
}

void Block::start(Transport &transport, Chain popped) {
    const auto &memory = transport.memory();
    // Shared by the completion handlers: one copy of the chain per request.
    const auto request = std::make_shared<const Chain>(std::move(popped));
    const Chain &chain = *request;
    const std::uint64_t generation = transport.generation();
    if (chain.writable == 0)
        return transport.needs_reset("a block request without a status byte");
    ++in_flight_;
    Header raw{};
    if (chain.readable < sizeof raw ||
        read_chain(memory, chain, 0, {reinterpret_cast<std::uint8_t *>(&raw), sizeof raw}) != sizeof raw)
        return finish(transport, generation, chain, s_ioerr, 0);
    const struct {
        std::uint32_t type;
        std::uint64_t sector;
    } h{raw.type.get(), raw.sector.get()};

    const std::uint64_t out_len = chain.readable - sizeof raw; // data the guest gives us
    const std::uint64_t in_len = chain.writable - 1;           // room for data back
    auto done = [this, &transport, generation, request](std::uint8_t status, std::uint32_t written) {
        transport.run_locked([&] { finish(transport, generation, *request, status, written); });
    };
    auto in_range = [&](std::uint64_t len) {
        return len % sector == 0 && h.sector <= capacity_ && len / sector <= capacity_ - h.sector;
    };

    switch (h.type) {
    case t_in:
        if (!in_range(in_len))
            return finish(transport, generation, chain, s_ioerr, 0);
        uring_.read(h.sector * sector, data_buffers(memory, chain, true, 0, in_len), [done, in_len](int n) {
            done(n < 0 || static_cast<std::uint64_t>(n) != in_len ? s_ioerr : s_ok,
                 static_cast<std::uint32_t>(std::max(n, 0)));
        });
        return;
    case t_out:
        if (spec_.read_only || !in_range(out_len))
            return finish(transport, generation, chain, s_ioerr, 0);
        uring_.write(
            h.sector * sector, data_buffers(memory, chain, false, sizeof raw, out_len),
            [done, out_len](int n) { done(n < 0 || static_cast<std::uint64_t>(n) != out_len ? s_ioerr : s_ok, 0); });
        return;
    case t_flush:
        if (spec_.read_only)
            return finish(transport, generation, chain, s_ok, 0);
        // fdatasync on the helper thread, completion back on the io_context.
        boost::asio::post(flusher_, [this, done, io = file_.get_executor()] {
            const int rc = ::fdatasync(file_.native_handle());
            boost::asio::post(io, [done, rc] { done(rc == 0 ? s_ok : s_ioerr, 0); });
        });
        return;
    case t_get_id: {
        std::array<std::uint8_t, id_bytes> id{};
        std::memcpy(id.data(), spec_.id.data(), std::min(spec_.id.size(), id_bytes));
        const std::size_t n =
            write_chain(memory, chain, 0, std::span(id).first(std::min<std::uint64_t>(in_len, id_bytes)));
        return finish(transport, generation, chain, s_ok, static_cast<std::uint32_t>(n));
    }
    default: return finish(transport, generation, chain, s_unsupp, 0);
    }
}

} // namespace strata::virtio
