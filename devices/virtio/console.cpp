// virtio console: transmitq to the console backend, typed input to receiveq.
#include "devices/virtio/console.hpp"

#include "devices/virtio/mmio.hpp"

#include <array>
#include <vector>

namespace strata::virtio {

namespace {
constexpr std::size_t receiveq = 0, transmitq = 1;
constexpr std::size_t pending_limit = 64 * 1024; // input the guest does not read is dropped past this
} // namespace

void Console::notify(Transport &transport, std::size_t queue) {
    if (queue == receiveq)
        return fill(transport);
    // Straight from guest memory, one pass over the chain.
    while (auto chain = transport.pop(transmitq)) {
        for_each_piece(transport.memory(), *chain, false, 0, chain->readable, [&](std::span<std::byte> piece) {
            output_({reinterpret_cast<const std::uint8_t *>(piece.data()), piece.size()});
        });
        transport.complete(transmitq, *chain, 0);
    }
}

void Console::receive(std::span<const std::uint8_t> bytes) {
    if (!transport_)
        return;
    transport_->run_locked([&] {
        for (auto b : bytes)
            if (pending_.size() < pending_limit)
                pending_.push_back(b);
        fill(*transport_);
    });
}

void Console::fill(Transport &transport) {
    while (!pending_.empty()) {
        auto chain = transport.pop(receiveq);
        if (!chain)
            return;
        std::vector<std::uint8_t> chunk(
            pending_.begin(),
            pending_.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(pending_.size(), chain->writable)));
        const std::size_t n = write_chain(transport.memory(), *chain, 0, chunk);
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
        transport.complete(receiveq, *chain, static_cast<std::uint32_t>(n));
    }
}

} // namespace strata::virtio
