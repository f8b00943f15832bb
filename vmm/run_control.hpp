// The VM's stop protocol. Anyone (a vCPU thread, a device, a signal handler on
// the io_context) may ask the VM to stop with an exit status; the first request
// wins. Stopping kicks every vCPU out of KVM_RUN (immediate_exit, then a signal
// so a vCPU blocked in the kernel returns EINTR) and stops the io_context.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <vector>

struct kvm_run;

namespace strata {

// Documented process exit statuses that are not the guest's own.
namespace exit_status {
inline constexpr int usage = 2;         // bad flags or configuration; no VM was created
inline constexpr int host_error = 3;    // a host call failed (KVM, files, memory)
inline constexpr int guest_fault = 4;   // triple fault, KVM internal error, failed entry
inline constexpr int signal_base = 128; // stopped by signal N: 128 + N
} // namespace exit_status

class RunControl {
public:
    // Called once, on the first stop request (from whichever thread asked).
    void on_stop(std::function<void()> fn) { on_stop_ = std::move(fn); }

    void request_stop(int status);
    bool stopping() const { return stopping_.load(std::memory_order_acquire); }
    int status() const { return status_.load(std::memory_order_acquire); }

    // vCPU threads register themselves so a stop can kick them.
    void add_vcpu(pthread_t thread, kvm_run *run);

    // The signal used to kick vCPU threads; its handler must be installed
    // (without SA_RESTART) before any vCPU runs.
    static int kick_signal();
    static void install_kick_handler();

private:
    std::atomic<bool> stopping_{false};
    std::atomic<int> status_{0};
    std::function<void()> on_stop_;
    std::mutex mutex_; // guards vcpus_
    std::vector<std::pair<pthread_t, kvm_run *>> vcpus_;
};

} // namespace strata
