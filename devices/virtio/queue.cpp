// Split virtqueue: popping chains and pushing used elements.
#include "devices/virtio/queue.hpp"

#include "devices/virtio/le.hpp"

#include <atomic>
#include <bit>
#include <cstring>

namespace strata::virtio {

namespace {

constexpr std::uint16_t desc_f_next = 1, desc_f_write = 2, desc_f_indirect = 4;
constexpr std::uint16_t avail_f_no_interrupt = 1;

// The guest's layout (virtio 1.2 §2.7.5, §2.7.8).
struct RawDescriptor {
    le64 addr;
    le32 len;
    le16 flags;
    le16 next;
};
static_assert(sizeof(RawDescriptor) == 16);
struct UsedElem {
    le32 id;
    le32 len;
};
static_assert(sizeof(UsedElem) == 8);

// A descriptor in host byte order.
struct Descriptor {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};

std::uint64_t desc_bytes(std::uint16_t n) { return 16ull * n; }
std::uint64_t avail_bytes(std::uint16_t n) { return 6 + 2ull * n; }
std::uint64_t used_bytes(std::uint16_t n) { return 6 + 8ull * n; }

// Ring indices and flags: the driver writes them while we read, so they are
// accessed atomically (every ring address is checked to be aligned, so each
// 16-bit field is too). `order` orders the guest memory accesses around it.
std::optional<std::uint16_t> load16(const GuestMemory &m, std::uint64_t addr,
                                    std::memory_order order = std::memory_order_relaxed) {
    auto s = m.span(GuestAddress{addr}, 2);
    if (!s)
        return std::nullopt;
    const std::uint16_t raw = std::atomic_ref(*reinterpret_cast<std::uint16_t *>(s->data())).load(order);
    return std::bit_cast<le16>(raw).get();
}

void store16(const GuestMemory &m, std::uint64_t addr, std::uint16_t v,
             std::memory_order order = std::memory_order_relaxed) {
    if (auto s = m.span(GuestAddress{addr}, 2))
        std::atomic_ref(*reinterpret_cast<std::uint16_t *>(s->data()))
            .store(std::bit_cast<std::uint16_t>(le16{v}), order);
}

std::optional<Descriptor> load_descriptor(const GuestMemory &m, std::uint64_t addr) {
    auto d = m.read_obj<RawDescriptor>(GuestAddress{addr}); // one copy; only the copy is used
    if (!d)
        return std::nullopt;
    return Descriptor{d->addr.get(), d->len.get(), d->flags.get(), d->next.get()};
}

} // namespace

std::optional<std::string> Queue::check(const GuestMemory &memory) const {
    if (size == 0 || size > max_size || (size & (size - 1)) != 0)
        return "queue size " + std::to_string(size) + " is not a power of two up to " + std::to_string(max_size);
    if (desc % 16 || avail % 2 || used % 4)
        return "misaligned ring (descriptors need 16, avail 2, used 4-byte alignment)";
    if (!memory.span(GuestAddress{desc}, desc_bytes(size)) || !memory.span(GuestAddress{avail}, avail_bytes(size)) ||
        !memory.span(GuestAddress{used}, used_bytes(size)))
        return "a ring lies outside guest RAM";
    return std::nullopt;
}

void Queue::reset() {
    const std::uint32_t next_epoch = epoch_ + 1;
    *this = Queue{};
    epoch_ = next_epoch;
}

std::optional<std::string> Queue::walk(const GuestMemory &memory, std::uint16_t head, Chain &chain) const {
    if (head >= size)
        return "avail ring names descriptor " + std::to_string(head) + " of a " + std::to_string(size) + "-entry table";
    std::uint64_t table = desc;
    std::uint32_t count = size;  // entries in the current table
    std::uint32_t budget = size; // descriptors the chain may still hold (it also ends any loop)
    bool in_indirect = false;
    std::uint16_t index = head;
    bool seen_writable = false;
    for (;;) {
        if (budget-- == 0)
            return "a descriptor chain longer than the queue size " + std::to_string(size) +
                   (in_indirect ? " (through its indirect table)" : " (or a loop)");
        auto d = load_descriptor(memory, table + 16ull * index);
        if (!d)
            return "a descriptor table lies outside guest RAM";
        if (d->flags & desc_f_indirect) {
            if (!indirect)
                return "an indirect descriptor without VIRTIO_F_INDIRECT_DESC";
            if (in_indirect)
                return "an indirect table inside an indirect table";
            if (d->flags & desc_f_next)
                return "a descriptor with both INDIRECT and NEXT";
            if (d->len == 0 || d->len % 16 != 0)
                return "an indirect table length " + std::to_string(d->len) + " that is not a multiple of 16";
            ++budget; // the indirect descriptor itself holds no buffer
            if (d->len / 16 > budget)
                return "an indirect table of " + std::to_string(d->len / 16) +
                       " descriptors makes a chain longer than the queue size " + std::to_string(size);
            if (!memory.span(GuestAddress{d->addr}, d->len))
                return "an indirect table outside guest RAM";
            table = d->addr;
            count = d->len / 16;
            in_indirect = true;
            index = 0;
            continue;
        }
        const bool writable = d->flags & desc_f_write;
        if (!writable && seen_writable)
            return "a device-readable descriptor after a device-writable one";
        seen_writable |= writable;
        if (!memory.span(GuestAddress{d->addr}, d->len))
            return "a buffer outside guest RAM (or whose length wraps)";
        (writable ? chain.writable : chain.readable) += d->len;
        if (chain.readable + chain.writable > UINT32_MAX)
            return "buffer lengths that add up past 4 GiB";
        if (d->len != 0)
            chain.buffers.push_back({GuestAddress{d->addr}, d->len, writable});
        if (!(d->flags & desc_f_next))
            return std::nullopt;
        if (d->next >= count)
            return "a descriptor whose next index " + std::to_string(d->next) + " is outside its table";
        index = d->next;
    }
}

Popped Queue::pop(const GuestMemory &memory) {
    Popped p;
    auto fault = [&](std::string why) {
        p.kind = Popped::Kind::fault;
        p.fault = std::move(why);
        return std::move(p);
    };
    // The ring entries must be read after the index that published them.
    auto idx = load16(memory, avail + 2, std::memory_order_acquire);
    if (!idx)
        return fault("the avail ring lies outside guest RAM");
    const std::uint16_t pending = static_cast<std::uint16_t>(*idx - last_avail_);
    if (pending == 0)
        return p;
    if (pending > size)
        return fault("the avail index is " + std::to_string(pending) + " entries ahead of a " + std::to_string(size) +
                     "-entry queue");
    auto head = load16(memory, avail + 4 + 2ull * (last_avail_ % size));
    if (!head)
        return fault("the avail ring lies outside guest RAM");
    p.chain.head = *head;
    if (auto why = walk(memory, *head, p.chain))
        return fault(*why);
    if (in_flight_.size() != size)
        in_flight_.assign(size, 0);
    if (in_flight_[*head])
        return fault("descriptor " + std::to_string(*head) + " is made available while it is still in flight");
    if (buffers_held_ + p.chain.buffers.size() > held_buffers_per_entry * size) {
        p.kind = Popped::Kind::full;
        p.chain = {};
        return p;
    }
    in_flight_[*head] = static_cast<std::uint16_t>(1 + p.chain.buffers.size());
    ++chains_held_;
    buffers_held_ += static_cast<std::uint32_t>(p.chain.buffers.size());
    p.chain.epoch = epoch_;
    ++last_avail_;
    if (event_idx) { // tell the driver how far we have read: avail_event
        store16(memory, used + 4 + 8ull * size, last_avail_);
        // The driver stores idx then loads avail_event; we store avail_event
        // then load idx (next pop). Without a full fence both may skip the kick.
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    p.kind = Popped::Kind::chain;
    return p;
}

bool Queue::release(const Chain &chain) {
    if (chain.epoch != epoch_ || chain.head >= in_flight_.size() || in_flight_[chain.head] == 0)
        return false;
    buffers_held_ -= in_flight_[chain.head] - 1u;
    --chains_held_;
    in_flight_[chain.head] = 0;
    return true;
}

Queue::Pushed Queue::push(const GuestMemory &memory, std::uint16_t head, std::uint32_t len) {
    Pushed r;
    if (size == 0) {
        r.fault = "a completion for a queue of size 0";
        return r;
    }
    const std::uint64_t elem = used + 4 + 8ull * (next_used_ % size);
    if (!memory.write_obj(GuestAddress{elem}, UsedElem{le32{head}, le32{len}})) {
        r.fault = "the used ring lies outside guest RAM";
        return r;
    }
    const std::uint16_t old = next_used_++;
    // The element must be visible before the index that publishes it.
    store16(memory, used + 2, next_used_, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (event_idx) {
        const auto used_event = load16(memory, avail + 4 + 2ull * size).value_or(old);
        // virtio 1.2 §2.7.10: interrupt when used_event lies in [old, new).
        r.notify =
            static_cast<std::uint16_t>(next_used_ - used_event - 1) < static_cast<std::uint16_t>(next_used_ - old);
    } else {
        const auto flags = load16(memory, avail).value_or(0);
        r.notify = !(flags & avail_f_no_interrupt);
    }
    return r;
}

std::size_t read_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                       std::span<std::uint8_t> out) {
    std::size_t at = 0;
    return for_each_piece(memory, chain, false, offset, out.size(), [&](std::span<std::byte> piece) {
        std::memcpy(out.data() + at, piece.data(), piece.size());
        at += piece.size();
    });
}

std::size_t write_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                        std::span<const std::uint8_t> in) {
    std::size_t at = 0;
    return for_each_piece(memory, chain, true, offset, in.size(), [&](std::span<std::byte> piece) {
        std::memcpy(piece.data(), in.data() + at, piece.size());
        at += piece.size();
    });
}

} // namespace strata::virtio
