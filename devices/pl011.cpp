// PL011 UART register model.
#include "devices/pl011.hpp"

#include "devices/primecell.hpp"

namespace strata::devices {

namespace {

// The register map, in rows as in the TRM:
// clang-format off
enum : std::uint64_t {
    uartdr = 0x000, uartrsr = 0x004, uartfr = 0x018, uartilpr = 0x020, uartibrd = 0x024, uartfbrd = 0x028,
    uartlcr_h = 0x02c, uartcr = 0x030, uartifls = 0x034, uartimsc = 0x038, uartris = 0x03c, uartmis = 0x040,
    uarticr = 0x044, uartdmacr = 0x048,
};
// clang-format on
constexpr std::uint32_t fr_rxfe = 1u << 4, fr_txfe = 1u << 7;
constexpr std::uint32_t int_rx = 1u << 4, int_tx = 1u << 5, int_rt = 1u << 6;

constexpr primecell::PeriphId pl011_id{0x11, 0x10, 0x14, 0x00}; // PL011 r1p5

} // namespace

void Pl011::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    primecell::put32(data, read_reg(offset));
}

void Pl011::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    write_reg(offset, primecell::get32(data));
}

void Pl011::receive(std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    rx_.push(bytes);
    if (!rx_.empty())
        ris_ |= int_rx | int_rt;
    update_irq();
}

std::uint32_t Pl011::read_reg(std::uint64_t offset) {
    if (primecell::is_id(offset))
        return primecell::id(offset, pl011_id);
    switch (offset) {
    case uartdr: {
        const auto b = rx_.pop();
        if (!b)
            return 0;
        if (rx_.empty())
            ris_ &= ~(int_rx | int_rt);
        update_irq();
        return *b;
    }
    case uartrsr: return 0;
    case uartfr: return fr_txfe | (rx_.empty() ? fr_rxfe : 0);
    case uartibrd: return ibrd_;
    case uartfbrd: return fbrd_;
    case uartlcr_h: return lcr_h_;
    case uartcr: return cr_;
    case uartifls: return ifls_;
    case uartimsc: return imsc_;
    case uartris: return ris_;
    case uartmis: return ris_ & imsc_;
    case uartdmacr: return dmacr_;
    default: return 0;
    }
}

void Pl011::write_reg(std::uint64_t offset, std::uint32_t value) {
    switch (offset) {
    case uartdr: {
        const auto byte = static_cast<std::uint8_t>(value);
        output_(std::span<const std::uint8_t>(&byte, 1));
        ris_ |= int_tx; // the (empty) transmit FIFO is below its trigger level again
        break;
    }
    case uartibrd: ibrd_ = value & 0xffff; break;
    case uartfbrd: fbrd_ = value & 0x3f; break;
    case uartlcr_h: lcr_h_ = value & 0xff; break;
    case uartcr: cr_ = value & 0xffff; break;
    case uartifls: ifls_ = value & 0x3f; break;
    case uartimsc: imsc_ = value & 0x7ff; break;
    case uarticr: ris_ &= ~value; break;
    case uartdmacr: dmacr_ = value & 0x7; break;
    default: return; // RSR/ECR clear, FR, RIS, MIS, IDs: nothing to do
    }
    update_irq();
}

void Pl011::update_irq() { irq_.set((ris_ & imsc_) != 0); }

} // namespace strata::devices
