// What the two UARTs (16550, PL011) share: a bounded receive FIFO fed by the
// console, and an interrupt line driven only when its level changes. Neither
// locks: each UART guards them with its own mutex.
#pragma once

#include "vmm/irq.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <span>

namespace strata::devices {

class RxFifo {
public:
    static constexpr std::size_t limit = 4096; // input the guest does not read is dropped past this

    void push(std::span<const std::uint8_t> bytes) {
        for (auto b : bytes)
            if (bytes_.size() < limit)
                bytes_.push_back(b);
    }
    std::optional<std::uint8_t> pop() {
        if (bytes_.empty())
            return std::nullopt;
        const std::uint8_t b = bytes_.front();
        bytes_.pop_front();
        return b;
    }
    bool empty() const { return bytes_.empty(); }
    void clear() { bytes_.clear(); }

private:
    std::deque<std::uint8_t> bytes_;
};

class LevelIrq {
public:
    explicit LevelIrq(IrqLine *line) : line_(line) {}
    void set(bool level) {
        if (line_ && level != level_)
            line_->set_level(level);
        level_ = level;
    }

private:
    IrqLine *line_;
    bool level_ = false;
};

} // namespace strata::devices
