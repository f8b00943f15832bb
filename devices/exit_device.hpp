// The x86 ways for a guest to end the VM, both as QEMU has them so one test
// guest runs on either VMM:
//  - debug-exit (QEMU isa-debug-exit, registered one port wide at 0xf4):
//    writing v stops the VM with exit status (v << 1) | 1. An outw or outl
//    reaches it as its low byte: the port bus hands a device the part of a
//    wider access inside its range, as QEMU does (vmm/bus.hpp). QEMU's device
//    uses the whole value, but a process exit status keeps the low 8 bits,
//    which depend on v's low 7 bits only: the status is QEMU's for any width;
//  - power-off (QEMU's ACPI PM1a control block at 0x604): writing 0x2000
//    (SLP_EN with sleep type S5) powers off, exit status 0.
// A third device discards writes and reads as zero: the benchmark's null port.
#pragma once

#include "vmm/bus.hpp"

#include <functional>

namespace strata::devices {

using StopFn = std::function<void(int status)>;

class DebugExit final : public BusDevice {
public:
    explicit DebugExit(StopFn stop) : stop_(std::move(stop)) {}
    void read(std::uint64_t, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

private:
    StopFn stop_;
};

class PowerOff final : public BusDevice {
public:
    explicit PowerOff(StopFn stop) : stop_(std::move(stop)) {}
    void read(std::uint64_t, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

private:
    StopFn stop_;
};

class NullDevice final : public BusDevice {
public:
    void read(std::uint64_t, std::span<std::uint8_t> data) override;
    void write(std::uint64_t, std::span<const std::uint8_t>) override {}
};

} // namespace strata::devices
