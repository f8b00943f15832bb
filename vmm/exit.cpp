// The exit decision and the unclaimed-access reports (see exit.hpp).
#include "vmm/exit.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>

namespace strata {

namespace {

const char *exit_name(std::uint32_t reason) {
    switch (reason) {
    case KVM_EXIT_UNKNOWN: return "unknown exit (KVM_EXIT_UNKNOWN)";
    case KVM_EXIT_EXCEPTION: return "exception (KVM_EXIT_EXCEPTION)";
    case KVM_EXIT_HYPERCALL: return "hypercall (KVM_EXIT_HYPERCALL)";
    case KVM_EXIT_DEBUG: return "debug exit (KVM_EXIT_DEBUG)";
    case KVM_EXIT_HLT: return "halt (KVM_EXIT_HLT)";
    case KVM_EXIT_SHUTDOWN: return "triple fault (KVM_EXIT_SHUTDOWN)";
    case KVM_EXIT_FAIL_ENTRY: return "failed VM entry (KVM_EXIT_FAIL_ENTRY)";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM internal error (KVM_EXIT_INTERNAL_ERROR)";
    case KVM_EXIT_SYSTEM_EVENT: return "system event (KVM_EXIT_SYSTEM_EVENT)";
    default: return "unhandled exit";
    }
}

// The fields KVM fills in for this reason, which say why.
std::string exit_details(const kvm_run &run) {
    switch (run.exit_reason) {
    case KVM_EXIT_FAIL_ENTRY:
        return fmt::format(" hardware_entry_failure_reason={:#x}", run.fail_entry.hardware_entry_failure_reason);
    case KVM_EXIT_INTERNAL_ERROR: return fmt::format(" suberror={}", run.internal.suberror);
    case KVM_EXIT_UNKNOWN: return fmt::format(" hardware_exit_reason={:#x}", run.hw.hardware_exit_reason);
    case KVM_EXIT_SYSTEM_EVENT: return fmt::format(" type={}", run.system_event.type);
    case KVM_EXIT_SHUTDOWN:
    case KVM_EXIT_HLT: return "";
    default: return fmt::format(" exit_reason={}", run.exit_reason);
    }
}

Crash crash(const kvm_run &run) { return {exit_name(run.exit_reason) + exit_details(run)}; }

Direction direction(bool write) { return write ? Direction::write : Direction::read; }

const char *to_string(Direction dir) { return dir == Direction::write ? "write" : "read"; }

} // namespace

ExitAction decide_exit(const kvm_run &run, std::optional<int> system_event_status) {
    switch (run.exit_reason) {
    case KVM_EXIT_IO:
        return PortIo{direction(run.io.direction == KVM_EXIT_IO_OUT), run.io.port, run.io.size, run.io.count,
                      run.io.data_offset};
    case KVM_EXIT_MMIO:
        // kvm_run.mmio.data holds 8 bytes; KVM never asks for more.
        return Mmio{direction(run.mmio.is_write != 0), run.mmio.phys_addr, std::min<std::uint32_t>(run.mmio.len, 8)};
    case KVM_EXIT_INTR: return Resume{};
    case KVM_EXIT_SYSTEM_EVENT:
        if (system_event_status)
            return Stop{*system_event_status};
        return crash(run);
    default: return crash(run);
    }
}

std::string to_string(const ExitAction &action) {
    struct Print {
        std::string operator()(const Resume &) const { return "resume"; }
        std::string operator()(const PortIo &io) const {
            return fmt::format("port {} {:#x} {}x{} data at {:#x}", to_string(io.dir), io.port, io.count, io.size,
                               io.data_offset);
        }
        std::string operator()(const Mmio &m) const {
            return fmt::format("mmio {} {:#x} {} bytes", to_string(m.dir), m.addr, m.len);
        }
        std::string operator()(const Stop &s) const { return fmt::format("stop {}", s.status); }
        std::string operator()(const Crash &c) const { return "crash: " + c.reason; }
    };
    return std::visit(Print{}, action);
}

UnclaimedReports::UnclaimedReports(std::string bus, std::uint64_t granule, std::string range, std::size_t limit)
    : bus_(std::move(bus)), range_(std::move(range)), granule_(granule), limit_(limit) {
    reported_.reserve(limit_);
}

std::optional<std::string> UnclaimedReports::note(Direction dir, std::uint64_t addr, std::size_t size) {
    const std::uint64_t base = addr & ~(granule_ - 1);
    std::lock_guard lock(mutex_);
    if (silenced_ || std::find(reported_.begin(), reported_.end(), base) != reported_.end())
        return std::nullopt;
    if (reported_.size() == limit_) {
        silenced_ = true;
        return fmt::format("{}: unclaimed accesses at {} different {}s reported; further ones are not", bus_, limit_,
                           range_);
    }
    reported_.push_back(base);
    return fmt::format("{}: {}-byte {} at {:#x} claimed by no device: {} (reported once per {})", bus_, size,
                       to_string(dir), addr, dir == Direction::read ? "it reads all ones" : "it is dropped", range_);
}

} // namespace strata
