// The one definition of kvm_env.hpp's paths, shared by every KVM test
// binary; each main sets them from its command line.
#include "tests/kvm/kvm_env.hpp"

namespace kvmtest {

std::string strata_bin, guest_dir, plugged_bin;

} // namespace kvmtest
