// 16550A UART (the PC's COM1 at port 0x3f8 on x86_64).
//
// State: the register file below, a receive FIFO fed by the console, and the
//   interrupt line (level: high while an enabled interrupt is pending).
// Missing features: modem-status changes, the FIFO trigger levels (the receive
//   interrupt fires for any data), line errors, loopback (MCR bit 4). Transmit
//   is instantaneous: THR is always empty and LSR always says so.
// Spec: the PC16550D data sheet (National Semiconductor), registers 0-7.
#pragma once

#include "devices/uart_rx.hpp"
#include "vmm/bus.hpp"

#include <functional>
#include <mutex>
#include <span>

namespace strata::devices {

class Serial16550 final : public BusDevice {
public:
    using Output = std::function<void(std::span<const std::uint8_t>)>;
    Serial16550(Output output, IrqLine *irq) : output_(std::move(output)), irq_(irq) {}

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    // Bytes typed on the console, for the guest to read.
    void receive(std::span<const std::uint8_t> bytes);

private:
    std::uint8_t read_reg(std::uint64_t reg);
    void write_reg(std::uint64_t reg, std::uint8_t value);
    void update_irq(); // with mutex_ held
    bool dlab() const { return lcr_ & 0x80; }

    Output output_;
    LevelIrq irq_;
    std::mutex mutex_; // vCPU threads (register access) and the io_context (receive)
    RxFifo rx_;
    std::uint8_t ier_ = 0, lcr_ = 0x03, mcr_ = 0, scr_ = 0, fcr_ = 0;
    std::uint8_t dll_ = 0x0c, dlm_ = 0; // 9600 baud
    bool thr_interrupt_ = false;        // THR-empty interrupt pending until IIR is read
};

} // namespace strata::devices
