// 16550A register model.
#include "devices/serial.hpp"

namespace strata::devices {

namespace {
enum : std::uint64_t { rbr_thr = 0, ier = 1, iir_fcr = 2, lcr = 3, mcr = 4, lsr = 5, msr = 6, scr = 7 };
constexpr std::uint8_t ier_rx = 0x01, ier_thr = 0x02;
constexpr std::uint8_t lsr_dr = 0x01, lsr_thre = 0x20, lsr_temt = 0x40;
constexpr std::uint8_t iir_none = 0x01, iir_thr = 0x02, iir_rx = 0x04, iir_fifo = 0xc0;
} // namespace

void Serial16550::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = read_reg(offset + i);
}

void Serial16550::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < data.size(); ++i)
        write_reg(offset + i, data[i]);
}

void Serial16550::receive(std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    rx_.push(bytes);
    update_irq();
}

std::uint8_t Serial16550::read_reg(std::uint64_t reg) {
    switch (reg) {
    case rbr_thr: {
        if (dlab())
            return dll_;
        const auto b = rx_.pop();
        update_irq();
        return b.value_or(0);
    }
    case ier: return dlab() ? dlm_ : ier_;
    case iir_fcr: {
        std::uint8_t fifo = (fcr_ & 1) ? iir_fifo : 0;
        if ((ier_ & ier_rx) && !rx_.empty())
            return fifo | iir_rx;
        if ((ier_ & ier_thr) && thr_interrupt_) {
            thr_interrupt_ = false; // reading IIR clears the THR-empty source
            update_irq();
            return fifo | iir_thr;
        }
        return fifo | iir_none;
    }
    case lcr: return lcr_;
    case mcr: return mcr_;
    case lsr: return static_cast<std::uint8_t>(lsr_thre | lsr_temt | (rx_.empty() ? 0 : lsr_dr));
    case msr: return 0xb0; // DCD, DSR, CTS: a cable is attached
    case scr: return scr_;
    default: return 0xff;
    }
}

void Serial16550::write_reg(std::uint64_t reg, std::uint8_t value) {
    switch (reg) {
    case rbr_thr:
        if (dlab()) {
            dll_ = value;
            return;
        }
        output_(std::span<const std::uint8_t>(&value, 1));
        thr_interrupt_ = true;
        update_irq();
        return;
    case ier:
        if (dlab()) {
            dlm_ = value;
            return;
        }
        // Enabling the THR-empty interrupt raises it at once: THR is empty.
        if ((value & ier_thr) && !(ier_ & ier_thr))
            thr_interrupt_ = true;
        ier_ = value & 0x0f;
        update_irq();
        return;
    case iir_fcr:
        fcr_ = value;
        if (value & 0x02)
            rx_.clear();
        update_irq();
        return;
    case lcr: lcr_ = value; return;
    case mcr: mcr_ = value & 0x1f; return;
    case scr: scr_ = value; return;
    default: return; // LSR and MSR are read-only
    }
}

void Serial16550::update_irq() { irq_.set(((ier_ & ier_rx) && !rx_.empty()) || ((ier_ & ier_thr) && thr_interrupt_)); }

} // namespace strata::devices
