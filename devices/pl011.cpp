// PL011 UART and PL031 RTC register models.
#include "devices/pl011.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>

namespace strata::devices {

namespace {

enum : std::uint64_t {
    uartdr = 0x000, uartrsr = 0x004, uartfr = 0x018, uartilpr = 0x020, uartibrd = 0x024, uartfbrd = 0x028,
    uartlcr_h = 0x02c, uartcr = 0x030, uartifls = 0x034, uartimsc = 0x038, uartris = 0x03c, uartmis = 0x040,
    uarticr = 0x044, uartdmacr = 0x048,
};
constexpr std::uint32_t fr_rxfe = 1u << 4, fr_txfe = 1u << 7;
constexpr std::uint32_t int_rx = 1u << 4, int_tx = 1u << 5, int_rt = 1u << 6;
constexpr std::size_t rx_limit = 4096;

// PrimeCell identification registers at 0xfe0..0xffc: four peripheral ID
// bytes (part number, designer Arm, revision) and the "PrimeCell" cell ID the
// amba bus checks.
using PeriphId = std::array<std::uint8_t, 4>;
constexpr PeriphId pl011_id{0x11, 0x10, 0x14, 0x00}; // PL011 r1p5
constexpr PeriphId pl031_id{0x31, 0x10, 0x04, 0x00}; // PL031 r0

std::uint32_t primecell_id(std::uint64_t offset, const PeriphId &periph) {
    constexpr std::uint8_t cell[4] = {0x0d, 0xf0, 0x05, 0xb1};
    const std::size_t i = (offset - 0xfe0) / 4;
    return i < 4 ? periph[i] : cell[i - 4];
}

// Accesses are 32-bit registers; narrower reads see the low bytes.
void put32(std::span<std::uint8_t> data, std::uint32_t v) {
    std::fill(data.begin(), data.end(), 0);
    std::memcpy(data.data(), &v, std::min<std::size_t>(data.size(), 4));
}

std::uint32_t get32(std::span<const std::uint8_t> data) {
    std::uint32_t v = 0;
    std::memcpy(&v, data.data(), std::min<std::size_t>(data.size(), 4));
    return v;
}

} // namespace

void Pl011::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    put32(data, read_reg(offset));
}

void Pl011::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    write_reg(offset, get32(data));
}

void Pl011::receive(std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    for (auto b : bytes)
        if (rx_.size() < rx_limit)
            rx_.push_back(b);
    if (!rx_.empty())
        ris_ |= int_rx | int_rt;
    update_irq();
}

std::uint32_t Pl011::read_reg(std::uint64_t offset) {
    if (offset >= 0xfe0 && offset < 0x1000)
        return primecell_id(offset, pl011_id);
    switch (offset) {
    case uartdr: {
        if (rx_.empty())
            return 0;
        const std::uint8_t b = rx_.front();
        rx_.pop_front();
        if (rx_.empty())
            ris_ &= ~(int_rx | int_rt);
        update_irq();
        return b;
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

void Pl011::update_irq() {
    const bool level = (ris_ & imsc_) != 0;
    if (irq_ && level != irq_level_)
        irq_->set_level(level);
    irq_level_ = level;
}

void Pl031::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    std::uint32_t v = 0;
    if (offset >= 0xfe0 && offset < 0x1000)
        v = primecell_id(offset, pl031_id);
    else if (offset == 0x000) // RTCDR
        v = static_cast<std::uint32_t>(std::time(nullptr) + offset_);
    else if (offset == 0x004) // RTCMR
        v = match_;
    else if (offset == 0x00c) // RTCCR: always enabled
        v = 1;
    else if (offset == 0x010) // RTCIMSC
        v = imsc_;
    put32(data, v);
}

void Pl031::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    const std::uint32_t v = get32(data);
    if (offset == 0x004)
        match_ = v;
    else if (offset == 0x008) // RTCLR: set the clock
        offset_ = static_cast<std::int64_t>(v) - static_cast<std::int64_t>(std::time(nullptr));
    else if (offset == 0x010)
        imsc_ = v & 1;
}

} // namespace strata::devices
