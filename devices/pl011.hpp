// Arm PrimeCell UART (PL011), as the console of arm64 guests.
//
// State: the receive FIFO fed by the console, the interrupt mask and raw
//   status, the control registers (kept, not acted on).
// Missing features: baud-rate timing, DMA, modem lines, break and error
//   conditions; transmit is instantaneous (TX FIFO always empty).
// Spec: PrimeCell UART (PL011) Technical Reference Manual r1p5, §3;
//   the ID registers Linux's amba bus probes (periph 0x00041011, cell 0xb105f00d).
#pragma once

#include "devices/uart_rx.hpp"
#include "vmm/bus.hpp"

#include <functional>
#include <mutex>

namespace strata::devices {

class Pl011 final : public BusDevice {
public:
    using Output = std::function<void(std::span<const std::uint8_t>)>;
    Pl011(Output output, IrqLine *irq) : output_(std::move(output)), irq_(irq) {}

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    void receive(std::span<const std::uint8_t> bytes);

private:
    std::uint32_t read_reg(std::uint64_t offset);
    void write_reg(std::uint64_t offset, std::uint32_t value);
    void update_irq(); // with mutex_ held

    Output output_;
    LevelIrq irq_;
    std::mutex mutex_; // vCPU threads and console input
    RxFifo rx_;
    std::uint32_t imsc_ = 0, ris_ = 0;
    std::uint32_t cr_ = 0x300, lcr_h_ = 0, ibrd_ = 0, fbrd_ = 0, ifls_ = 0x12, dmacr_ = 0;
};

} // namespace strata::devices
