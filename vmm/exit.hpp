// What a vCPU does when KVM_RUN returns (STYLE.md 5). decide_exit() reads the
// exit record in kvm_run and returns an action without touching anything else,
// so every exit reason is specified by a test that needs no KVM
// (tests/unit/vmm/exit_test.cpp). Vm::run_vcpu only loops: KVM_RUN,
// decide_exit, carry the action out.
//
//   exit reason             action
//   KVM_EXIT_IO             PortIo: `count` accesses of `size` bytes on the port bus
//   KVM_EXIT_MMIO           Mmio: one access of `len` bytes (at most 8) on the MMIO bus
//   KVM_EXIT_INTR           Resume: a kick; the loop then sees the stop request
//   KVM_EXIT_SYSTEM_EVENT   Stop with the architecture's status, Crash when it has none
//   anything else           Crash: the reason in words and the fields KVM filled in
//                           (HLT, SHUTDOWN, FAIL_ENTRY, INTERNAL_ERROR, UNKNOWN, ...)
//
// The architecture's verdict on a system event is an input, not a call: on
// aarch64 it reads PSCI SYSTEM_RESET2's arguments from registers (vmm/arch).
//
// UnclaimedReports decides which accesses that no device claimed get a
// warning; it is the only state the acting side keeps.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace strata {

enum class Direction : std::uint8_t { read, write };

struct Resume {
    bool operator==(const Resume &) const = default;
};

// Port I/O: `count` accesses (more than one for rep ins/outs) of `size` bytes
// each, their data one after another at `data_offset` in the kvm_run mapping.
struct PortIo {
    Direction dir = Direction::read;
    std::uint16_t port = 0;
    std::uint8_t size = 0;
    std::uint32_t count = 0;
    std::uint64_t data_offset = 0;
    bool operator==(const PortIo &) const = default;
};

// MMIO: one access, its data in kvm_run.mmio.data.
struct Mmio {
    Direction dir = Direction::read;
    std::uint64_t addr = 0;
    std::uint32_t len = 0;
    bool operator==(const Mmio &) const = default;
};

struct Stop {
    int status = 0;
    bool operator==(const Stop &) const = default;
};

// The guest cannot go on: the run loop prints `reason` with the registers and
// stops the VM with exit_status::guest_fault.
struct Crash {
    std::string reason;
    bool operator==(const Crash &) const = default;
};

using ExitAction = std::variant<Resume, PortIo, Mmio, Stop, Crash>;

// `system_event_status`: arch::system_event's verdict for this exit; only read
// for KVM_EXIT_SYSTEM_EVENT (pass nullopt otherwise).
ExitAction decide_exit(const kvm_run &run, std::optional<int> system_event_status);

// One line for logs and test failures: "stop 11", "port write 0xf4 4x1", ...
std::string to_string(const ExitAction &action);

// Which accesses that no device claimed are reported, so a guest's mistake is
// never dropped without a word yet cannot flood the log or grow strata's
// memory: the first access to each range of `granule` bytes (a port, a 4 KiB
// page) is reported, for at most `limit` distinct ranges; the next new range
// gets one last line saying that the rest go unreported, then nothing. What
// is kept: at most `limit` range bases, whatever the guest does.
//
// Reads of unclaimed space see all ones (the bus fills them in): what a read
// that no device answers returns on real hardware (a PCI master abort, an
// undecoded ISA port), and what QEMU gives for unassigned x86 ports.
//
// Called from every vCPU thread, on the slow path only (an unclaimed access).
class UnclaimedReports {
public:
    // `bus` and `range` name the address space and its granule in the warning
    // ("port I/O", "port"; "MMIO", "4 KiB page"). `granule` is a power of two.
    UnclaimedReports(std::string bus, std::uint64_t granule, std::string range, std::size_t limit = 32);

    // The warning for an access of `size` bytes at `addr` that no device
    // claimed, or nullopt when it is not to be reported.
    std::optional<std::string> note(Direction dir, std::uint64_t addr, std::size_t size);

private:
    const std::string bus_, range_;
    const std::uint64_t granule_;
    const std::size_t limit_;
    std::mutex mutex_;                    // guards reported_ and silenced_
    std::vector<std::uint64_t> reported_; // range bases, at most limit_
    bool silenced_ = false;
};

} // namespace strata
