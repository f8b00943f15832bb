// Split virtqueue: popping chains and pushing used elements.
#include "devices/virtio/queue.hpp"

#include "devices/virtio/le.hpp"

#include <atomic>
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

std::optional<std::uint16_t> load16(const GuestMemory &m, std::uint64_t addr) {
    auto v = m.read_obj<le16>(GuestAddress{addr});
    if (!v)
        return std::nullopt;
    return v->get();
}

std::optional<Descriptor> load_descriptor(const GuestMemory &m, std::uint64_t addr) {
    auto d = m.read_obj<RawDescriptor>(GuestAddress{addr});
    if (!d)
        return std::nullopt;
    return Descriptor{d->addr.get(), d->len.get(), d->flags.get(), d->next.get()};
}

void store16(const GuestMemory &m, std::uint64_t addr, std::uint16_t v) {
    (void)m.write_obj(GuestAddress{addr}, le16{v});
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

void Queue::reset() { *this = Queue{}; }

std::optional<std::string> Queue::walk(const GuestMemory &memory, std::uint16_t head, Chain &chain) const {
    if (head >= size)
        return "avail ring names descriptor " + std::to_string(head) + " of a " + std::to_string(size) + "-entry table";
    std::uint64_t table = desc;
    std::uint32_t count = size;  // entries in the current table
    std::uint32_t budget = size; // links left before we call it a loop
    bool in_indirect = false;
    std::uint16_t index = head;
    bool seen_writable = false;
    for (;;) {
        if (budget-- == 0)
            return in_indirect ? "an indirect descriptor table loops"
                               : "a descriptor chain loops or is longer than the queue";
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
            if (!memory.span(GuestAddress{d->addr}, d->len))
                return "an indirect table outside guest RAM";
            table = d->addr;
            count = d->len / 16;
            budget = count;
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
    auto idx = load16(memory, avail + 2);
    if (!idx) {
        p.kind = Popped::Kind::fault;
        p.fault = "the avail ring lies outside guest RAM";
        return p;
    }
    const std::uint16_t pending = static_cast<std::uint16_t>(*idx - last_avail_);
    if (pending == 0)
        return p;
    if (pending > size) {
        p.kind = Popped::Kind::fault;
        p.fault = "the avail index is " + std::to_string(pending) + " entries ahead of a " + std::to_string(size) +
                  "-entry queue";
        return p;
    }
    // The ring entry must be read after the index that published it.
    std::atomic_thread_fence(std::memory_order_acquire);
    auto head = load16(memory, avail + 4 + 2ull * (last_avail_ % size));
    if (!head) {
        p.kind = Popped::Kind::fault;
        p.fault = "the avail ring lies outside guest RAM";
        return p;
    }
    p.chain.head = *head;
    if (auto fault = walk(memory, *head, p.chain)) {
        p.kind = Popped::Kind::fault;
        p.fault = *fault;
        return p;
    }
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

Queue::Pushed Queue::push(const GuestMemory &memory, std::uint16_t head, std::uint32_t len) {
    Pushed r;
    const std::uint64_t elem = used + 4 + 8ull * (next_used_ % size);
    if (!memory.write_obj(GuestAddress{elem}, UsedElem{le32{head}, le32{len}})) {
        r.fault = "the used ring lies outside guest RAM";
        return r;
    }
    const std::uint16_t old = next_used_++;
    // The element must be visible before the index that publishes it.
    std::atomic_thread_fence(std::memory_order_release);
    store16(memory, used + 2, next_used_);
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

namespace {
template <class Copy>
std::size_t copy_chain(const Chain &chain, bool writable, std::uint64_t offset, std::size_t want, Copy copy) {
    std::size_t done = 0;
    for (const auto &b : chain.buffers) {
        if (b.writable != writable || done == want)
            continue;
        if (offset >= b.len) {
            offset -= b.len;
            continue;
        }
        const std::size_t n = std::min<std::uint64_t>(b.len - offset, want - done);
        copy(GuestAddress{b.addr.value + offset}, done, n);
        done += n;
        offset = 0;
    }
    return done;
}
} // namespace

std::size_t read_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                       std::span<std::uint8_t> out) {
    return copy_chain(chain, false, offset, out.size(), [&](GuestAddress a, std::size_t at, std::size_t n) {
        std::memcpy(out.data() + at, memory.span(a, n).value().data(), n);
    });
}

std::size_t write_chain(const GuestMemory &memory, const Chain &chain, std::uint64_t offset,
                        std::span<const std::uint8_t> in) {
    return copy_chain(chain, true, offset, in.size(), [&](GuestAddress a, std::size_t at, std::size_t n) {
        std::memcpy(memory.span(a, n).value().data(), in.data() + at, n);
    });
}

} // namespace strata::virtio
