// virtio-rng: every device-writable buffer is filled from getrandom(2).
#include "devices/virtio/rng.hpp"

#include "devices/virtio/mmio.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>

namespace strata::virtio {

void Rng::notify(Transport &transport, std::size_t queue) {
    // getrandom never blocks once the pool is initialised; a chain gets at
    // most this much, which the driver sees in the used length.
    constexpr std::size_t chunk = 4096;
    std::array<std::uint8_t, chunk> bytes;
    while (auto chain = transport.pop(queue)) {
        const std::size_t want = std::min<std::uint64_t>(chain->writable, chunk);
        ssize_t got;
        do
            got = ::getrandom(bytes.data(), want, 0);
        while (got < 0 && errno == EINTR);
        const std::size_t n = got > 0 ? static_cast<std::size_t>(got) : 0;
        const std::size_t written = write_chain(transport.memory(), *chain, 0, std::span(bytes).first(n));
        transport.complete(queue, *chain, static_cast<std::uint32_t>(written));
    }
}

} // namespace strata::virtio
