// Stop requests and vCPU kicks.
#include "vmm/run_control.hpp"

#include <linux/kvm.h>

#include <csignal>

namespace strata {

int RunControl::kick_signal() { return SIGRTMIN; }

void RunControl::install_kick_handler() {
    struct sigaction sa {};
    sa.sa_handler = [](int) {}; // only interrupts KVM_RUN
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(kick_signal(), &sa, nullptr);
}

void RunControl::add_vcpu(pthread_t thread, kvm_run *run) {
    std::lock_guard lock(mutex_);
    vcpus_.emplace_back(thread, run);
    if (stopping())
        run->immediate_exit = 1;
}

void RunControl::request_stop(int status) {
    if (stopping_.exchange(true, std::memory_order_acq_rel))
        return;
    status_.store(status, std::memory_order_release);
    {
        std::lock_guard lock(mutex_);
        for (auto &[thread, run] : vcpus_) {
            run->immediate_exit = 1;
            if (!pthread_equal(thread, pthread_self()))
                pthread_kill(thread, kick_signal());
        }
    }
    if (on_stop_)
        on_stop_();
}

} // namespace strata
