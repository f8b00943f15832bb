// KVM handles: system, VM, vCPU.
#include "vmm/kvm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <memory>

namespace strata {

int checked_ioctl(int fd, unsigned long req, unsigned long arg, const char *name, const std::string &object) {
    int rc;
    do
        rc = ::ioctl(fd, req, arg);
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        throw_errno(name, object);
    return rc;
}

Kvm::Kvm(const char *path) : fd_(::open(path, O_RDWR | O_CLOEXEC)) {
    if (!fd_)
        throw_errno("open", path);
    int version = STRATA_IOCTL_VAL(fd(), KVM_GET_API_VERSION, 0, path);
    if (version != KVM_API_VERSION)
        throw std::system_error(ENOTSUP, std::generic_category(),
                                std::string("KVM_GET_API_VERSION on ") + path + " returned " + std::to_string(version) +
                                    ", strata needs " + std::to_string(KVM_API_VERSION));
    mmap_size_ = static_cast<std::size_t>(STRATA_IOCTL_VAL(fd(), KVM_GET_VCPU_MMAP_SIZE, 0, path));
}

int Kvm::check_extension(long cap) const {
    int rc = ::ioctl(fd(), KVM_CHECK_EXTENSION, cap);
    return rc < 0 ? 0 : rc;
}

unsigned Kvm::max_vcpus() const {
    int n = check_extension(KVM_CAP_MAX_VCPUS);
    if (n <= 0)
        n = check_extension(KVM_CAP_NR_VCPUS);
    return n > 0 ? static_cast<unsigned>(n) : 4;
}

#if defined(__x86_64__)
const std::vector<kvm_cpuid_entry2> &Kvm::supported_cpuid() const {
    if (!cpuid_.empty())
        return cpuid_;
    auto buf = std::make_unique<CpuidBuffer>();
    buf->header.nent = static_cast<std::uint32_t>(std::size(buf->entries));
    checked_ioctl(fd(), kvm_get_supported_cpuid, reinterpret_cast<unsigned long>(buf.get()), "KVM_GET_SUPPORTED_CPUID",
                  "/dev/kvm");
    cpuid_.assign(buf->entries, buf->entries + buf->header.nent);
    return cpuid_;
}
#endif

VmFd::VmFd(const Kvm &kvm, unsigned long type) : fd_(STRATA_IOCTL_VAL(kvm.fd(), KVM_CREATE_VM, type, "/dev/kvm")) {}

void VmFd::set_memory_region(std::uint32_t slot, std::uint64_t guest_phys, std::uint64_t size, void *host) const {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = guest_phys;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(host);
    STRATA_IOCTL(fd(), KVM_SET_USER_MEMORY_REGION, &region, "the VM (memslot " + std::to_string(slot) + ")");
}

VcpuFd::VcpuFd(const Kvm &kvm, const VmFd &vm, unsigned index)
    : index_(index), name_("vCPU " + std::to_string(index)),
      fd_(STRATA_IOCTL_VAL(vm.fd(), KVM_CREATE_VCPU, index, "the VM")),
      run_(fd_.get(), kvm.vcpu_mmap_size(), "the kvm_run page of " + name_) {}

} // namespace strata
