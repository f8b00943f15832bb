// RAII handles for /dev/kvm, a VM and a vCPU with its kvm_run mapping. Every
// failing ioctl throws std::system_error naming the ioctl and the object.
#pragma once

#include "vmm/fd.hpp"

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

namespace strata {

// ioctl(fd, req, arg) that throws "<name> on <object>: <error>" on failure.
int checked_ioctl(int fd, unsigned long req, unsigned long arg, const char *name, const std::string &object);
#define STRATA_IOCTL(fd, req, arg, object)                                                                             \
    ::strata::checked_ioctl((fd), (req), reinterpret_cast<unsigned long>(arg), #req, (object))
#define STRATA_IOCTL_VAL(fd, req, val, object)                                                                         \
    ::strata::checked_ioctl((fd), (req), static_cast<unsigned long>(val), #req, (object))

#if defined(__x86_64__)
// linux/kvm.h declares its variable-length structs with __DECLARE_FLEX_ARRAY,
// which in C++ adds a byte-sized empty struct: sizeof and the offset of the
// array come out wrong, and with them the ioctl numbers that encode the size.
// strata uses these definitions with the C layout instead.
struct CpuidHeader { // struct kvm_cpuid2 without its entries
    std::uint32_t nent;
    std::uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);
inline constexpr unsigned long kvm_get_supported_cpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kvm_set_cpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

// A kvm_cpuid2 laid out as the kernel expects: header then entries.
struct CpuidBuffer {
    CpuidHeader header{};
    kvm_cpuid_entry2 entries[256];
};
#endif

class Kvm {
public:
    explicit Kvm(const char *path = "/dev/kvm");
    int fd() const { return fd_.get(); }
    int check_extension(long cap) const; // 0 when absent
    unsigned max_vcpus() const;
    std::size_t vcpu_mmap_size() const { return mmap_size_; }
#if defined(__x86_64__)
    // KVM_GET_SUPPORTED_CPUID, asked once (every vCPU and the planner need it).
    const std::vector<kvm_cpuid_entry2> &supported_cpuid() const;
#endif

private:
    UniqueFd fd_;
    std::size_t mmap_size_ = 0;
#if defined(__x86_64__)
    mutable std::vector<kvm_cpuid_entry2> cpuid_; // filled on first use
#endif
};

class VmFd {
public:
    VmFd(const Kvm &kvm, unsigned long type);
    int fd() const { return fd_.get(); }
    void set_memory_region(std::uint32_t slot, std::uint64_t guest_phys, std::uint64_t size, void *host) const;

private:
    UniqueFd fd_;
};

// The shared kvm_run page of a vCPU.
class KvmRun {
public:
    KvmRun(int vcpu_fd, std::size_t size, const std::string &what)
        : map_(size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0, what) {}
    kvm_run *operator->() const { return static_cast<kvm_run *>(map_.get()); }
    kvm_run *get() const { return static_cast<kvm_run *>(map_.get()); }
    std::uint8_t *bytes() const { return reinterpret_cast<std::uint8_t *>(map_.bytes()); }

private:
    Mapping map_;
};

class VcpuFd {
public:
    VcpuFd(const Kvm &kvm, const VmFd &vm, unsigned index);
    int fd() const { return fd_.get(); }
    unsigned index() const { return index_; }
    const std::string &name() const { return name_; }
    KvmRun &run() { return run_; }

private:
    unsigned index_;
    std::string name_;
    UniqueFd fd_;
    KvmRun run_;
};

} // namespace strata
