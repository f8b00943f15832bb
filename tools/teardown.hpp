// Teardown after the exit status is out.
//
// KVM frees a VM when the last reference to it goes (kvm_destroy_vm), and
// that waits for several SRCU grace periods: 3-12 ms on this project's
// nested hosts, more than everything else a short VM costs. Whoever drops
// the last reference pays it, and if that is `strata run`, whoever waits
// for strata's exit status pays it too. So strata forks, before it opens
// anything, a holder process that it later hands the VM's fd: strata's own
// close at exit is then not the last one, its status is out at once, and the
// holder, which sees its socket close when strata exits, drops the VM in
// the background. Guest output and disk data are complete before strata
// exits either way; what comes later is only KVM's bookkeeping.
#pragma once

#include "vmm/fd.hpp"

namespace strata::cli {

class DeferredTeardown {
public:
    // Forks the holder. Call it before any other fd is open (the holder
    // closes every fd but its socket, and stdin/out/err become /dev/null,
    // so that a reader of strata's output sees it end when strata exits)
    // and before any thread starts. `sandboxed`: the holder installs the
    // sandbox's teardown filter. If fork fails, strata tears down itself.
    explicit DeferredTeardown(bool sandboxed);

    // Hands the VM's fd to the holder (a copy travels; the caller keeps its
    // own). Without a holder, or if the hand-over fails, nothing happens.
    void hold(int vm_fd);

private:
    UniqueFd socket_;
};

} // namespace strata::cli
