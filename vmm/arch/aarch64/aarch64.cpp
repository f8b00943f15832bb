// aarch64 backend: the VM type carries the planner's IPA size; vCPUs start
// per the Linux arm64 boot protocol (x0 = DTB, MMU off, EL1h or EL2h) with
// PSCI in KVM; the vGIC (v3, or v2) sits at the Layout's addresses and is
// initialised once every vCPU exists.
//
// PSCI exits (KVM_EXIT_SYSTEM_EVENT): SYSTEM_OFF -> exit 0; SYSTEM_RESET ->
// strata stops the VM and exits 0 (it does not reboot guests); SYSTEM_RESET2
// with the vendor reset type 0x80000000 and cookie v -> exit (v << 1) | 1,
// like x86's debug-exit port; CRASH -> exit 4 with the registers.
#include "vmm/arch/arch.hpp"

#include "fdt/parange.hpp"

#include <elf.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cstddef>

namespace strata::arch {

namespace {

constexpr std::uint64_t core_reg(std::size_t offset) {
    return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(std::uint32_t));
}
constexpr std::uint64_t reg_pc = core_reg(offsetof(kvm_regs, regs.pc));
constexpr std::uint64_t reg_sp = core_reg(offsetof(kvm_regs, regs.sp));
constexpr std::uint64_t reg_pstate = core_reg(offsetof(kvm_regs, regs.pstate));
constexpr std::uint64_t reg_x(unsigned n) { return core_reg(offsetof(kvm_regs, regs.regs) + 8 * n); }
constexpr std::uint64_t reg_id_aa64mmfr0 = ARM64_SYS_REG(3, 0, 0, 7, 0);
constexpr std::uint64_t reg_esr_el1 = ARM64_SYS_REG(3, 0, 5, 2, 0);
constexpr std::uint64_t reg_far_el1 = ARM64_SYS_REG(3, 0, 6, 0, 0);

constexpr std::uint32_t psci_reset2_vendor = 0x8000'0000;
constexpr std::uint32_t vgic_nr_irqs = 128;   // SGIs, PPIs and 96 SPIs: the map uses far fewer
constexpr unsigned vcpu_feature_el2 = 7;      // KVM_ARM_VCPU_HAS_EL2 (Linux 6.16 uapi)
constexpr unsigned vcpu_feature_el2_e2h0 = 8; // KVM_ARM_VCPU_HAS_EL2_E2H0
constexpr long cap_arm_el2 = 240, cap_arm_el2_e2h0 = 241;
constexpr std::uint32_t vgic_grp_maint_irq = 9; // KVM_DEV_ARM_VGIC_GRP_MAINT_IRQ (Linux 6.16 uapi)

std::uint64_t get_reg(const VcpuFd &vcpu, std::uint64_t id) {
    std::uint64_t value = 0;
    kvm_one_reg reg{id, reinterpret_cast<std::uint64_t>(&value)};
    STRATA_IOCTL(vcpu.fd(), KVM_GET_ONE_REG, &reg, vcpu.name());
    return value;
}

void set_reg(const VcpuFd &vcpu, std::uint64_t id, std::uint64_t value) {
    kvm_one_reg reg{id, reinterpret_cast<std::uint64_t>(&value)};
    STRATA_IOCTL(vcpu.fd(), KVM_SET_ONE_REG, &reg, vcpu.name());
}

void init_vcpu(const VmFd &vm, const VcpuFd &vcpu, bool powered_off, bool el2, bool e2h0 = false) {
    kvm_vcpu_init init{};
    STRATA_IOCTL(vm.fd(), KVM_ARM_PREFERRED_TARGET, &init, "the VM");
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    if (powered_off)
        init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
    if (el2)
        init.features[0] |= 1u << vcpu_feature_el2;
    if (e2h0)
        init.features[0] |= 1u << vcpu_feature_el2_e2h0;
    STRATA_IOCTL(vcpu.fd(), KVM_ARM_VCPU_INIT, &init, vcpu.name());
}

unsigned parange_of_reg(std::uint64_t mmfr0) { return parange_of(mmfr0).value_or(0); }

// KVM lets userspace lower ID_AA64MMFR0_EL1.PARange (Linux >= 6.7); an
// older kernel refuses the write, and strata reports that rather than run
// the guest with a PARange it did not ask for.
void set_pa_range(const VcpuFd &vcpu, unsigned bits) {
    const std::uint8_t enc = parange_encoding(bits).value(); // the planner checked it
    const std::uint64_t mmfr0 = with_parange(get_reg(vcpu, reg_id_aa64mmfr0), enc).value();
    kvm_one_reg reg{reg_id_aa64mmfr0, reinterpret_cast<std::uint64_t>(&mmfr0)};
    if (::ioctl(vcpu.fd(), KVM_SET_ONE_REG, &reg) < 0)
        throw std::system_error(errno, std::generic_category(),
                                "KVM_SET_ONE_REG (ID_AA64MMFR0_EL1.PARange = " + std::to_string(bits) + " bits) on " +
                                    vcpu.name() + ": this kernel refuses to change the advertised PARange");
    if (parange_field(get_reg(vcpu, reg_id_aa64mmfr0)) != enc)
        throw std::system_error(EINVAL, std::generic_category(),
                                "KVM_SET_ONE_REG on " + vcpu.name() + " did not take the PARange of " +
                                    std::to_string(bits) + " bits");
}

class Gic final : public VmState {
public:
    Gic(const VmFd &vm, const fdt::Layout &layout) {
        const bool v3 = layout.gic == fdt::GicVersion::v3;
        kvm_create_device dev{};
        dev.type = v3 ? KVM_DEV_TYPE_ARM_VGIC_V3 : KVM_DEV_TYPE_ARM_VGIC_V2;
        const std::string what = v3 ? "the vGICv3" : "the vGICv2";
        if (::ioctl(vm.fd(), KVM_CREATE_DEVICE, &dev) < 0)
            throw std::system_error(errno, std::generic_category(),
                                    "KVM_CREATE_DEVICE on the VM: this host's KVM cannot create " + what +
                                        (v3 ? " (try --gic v2)" : ""));
        fd_ = UniqueFd(static_cast<int>(dev.fd));
        set_addr(v3 ? KVM_VGIC_V3_ADDR_TYPE_DIST : KVM_VGIC_V2_ADDR_TYPE_DIST, region(layout, "gic-dist"), what);
        if (v3)
            set_addr(KVM_VGIC_V3_ADDR_TYPE_REDIST, region(layout, "gic-redist"), what);
        else
            set_addr(KVM_VGIC_V2_ADDR_TYPE_CPU, region(layout, "gic-cpu"), what);
        std::uint32_t nr_irqs = vgic_nr_irqs;
        set_attr(KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs, what);
        if (layout.el2) { // the guest hypervisor's own vGIC signals through this PPI
            std::uint32_t intid = 16 + layout.gic_maintenance_ppi; // a PPI's INTID is 16 + its number
            set_attr(vgic_grp_maint_irq, 0, &intid, what);
        }
        what_ = what;
    }
    void init() { set_attr(KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, what_); }

private:
    static std::uint64_t region(const fdt::Layout &layout, const char *name) {
        const auto *r = layout.find(name);
        if (!r)
            throw std::logic_error(std::string("the layout has no ") + name);
        return r->base;
    }
    void set_addr(std::uint64_t type, std::uint64_t addr, const std::string &what) {
        set_attr(KVM_DEV_ARM_VGIC_GRP_ADDR, type, &addr, what);
    }
    void set_attr(std::uint32_t group, std::uint64_t attr, void *value, const std::string &what) {
        kvm_device_attr a{};
        a.group = group;
        a.attr = attr;
        a.addr = reinterpret_cast<std::uint64_t>(value);
        STRATA_IOCTL(fd_.get(), KVM_SET_DEVICE_ATTR, &a, what);
    }
    UniqueFd fd_;
    std::string what_;
};

} // namespace

std::uint16_t elf_machine() { return EM_AARCH64; }

fdt::HostCaps host_caps(const Kvm &kvm, bool el2) {
    fdt::HostCaps caps;
    const int limit = kvm.check_extension(KVM_CAP_ARM_VM_IPA_SIZE);
    caps.ipa_limit = limit > 0 ? static_cast<unsigned>(limit) : 40; // no capability: a 40-bit host
    // The PARange a guest reads, from a scratch vCPU of the same kind (KVM
    // gives guest hypervisors less than the CPU has).
    VmFd scratch(kvm, 0);
    VcpuFd vcpu(kvm, scratch, 0);
    init_vcpu(scratch, vcpu, false, el2 && kvm.check_extension(cap_arm_el2) > 0);
    caps.pa_range = parange_of_reg(get_reg(vcpu, reg_id_aa64mmfr0));
    caps.el2 = kvm.check_extension(cap_arm_el2) > 0;
    caps.el2_e2h0 = kvm.check_extension(cap_arm_el2_e2h0) > 0;
    return caps;
}

bool gic_v3_available(const Kvm &kvm) {
    VmFd scratch(kvm, 0);
    kvm_create_device dev{};
    dev.type = KVM_DEV_TYPE_ARM_VGIC_V3;
    dev.flags = KVM_CREATE_DEVICE_TEST;
    return ::ioctl(scratch.fd(), KVM_CREATE_DEVICE, &dev) == 0;
}

std::unique_ptr<VmState> setup_vm(const Kvm &, const VmFd &vm, const fdt::Layout &layout) {
    // The composition root refused --el2/--e2h0 already where HostCaps lacks them.
    return std::make_unique<Gic>(vm, layout);
}

void setup_boot_memory(const GuestMemory &, const fdt::Layout &, const Kvm &) {}

void setup_vcpu(const Kvm &, const VmFd &vm, VcpuFd &vcpu, const fdt::Layout &layout, std::uint64_t entry,
                std::uint64_t dtb) {
    // Secondaries wait, powered off, for the guest's PSCI CPU_ON.
    init_vcpu(vm, vcpu, vcpu.index() != 0, layout.el2, layout.e2h0);
    if (layout.pa_range_set)
        set_pa_range(vcpu, layout.pa_range);
    if (vcpu.index() != 0)
        return;
    set_reg(vcpu, reg_pc, entry);
    set_reg(vcpu, reg_x(0), dtb);
    for (unsigned n = 1; n < 4; ++n) // x1..x3 are reserved as zero by the boot protocol
        set_reg(vcpu, reg_x(n), 0);
}

void after_vcpus(VmState &state, const fdt::Layout &) { static_cast<Gic &>(state).init(); }

std::optional<int> system_event(VcpuFd &vcpu, const kvm_run &run) {
    switch (run.system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN: return 0;
    case KVM_SYSTEM_EVENT_RESET: {
        // SYSTEM_RESET2 leaves its arguments in x1 (reset type) and x2 (cookie).
        if (run.system_event.ndata > 0 && (run.system_event.data[0] & KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2) &&
            get_reg(vcpu, reg_x(1)) == psci_reset2_vendor)
            return static_cast<int>(((get_reg(vcpu, reg_x(2)) & 0x7f) << 1) | 1);
        spdlog::info("{}: the guest asked for a reset; strata stops the VM (exit 0)", vcpu.name());
        return 0;
    }
    default: return std::nullopt; // KVM_SYSTEM_EVENT_CRASH and anything newer
    }
}

std::string describe_registers(VcpuFd &vcpu) {
    char buf[320];
    std::snprintf(buf, sizeof buf, "pc=%#llx pstate=%#llx sp=%#llx x0=%#llx x1=%#llx esr_el1=%#llx far_el1=%#llx",
                  static_cast<unsigned long long>(get_reg(vcpu, reg_pc)),
                  static_cast<unsigned long long>(get_reg(vcpu, reg_pstate)),
                  static_cast<unsigned long long>(get_reg(vcpu, reg_sp)),
                  static_cast<unsigned long long>(get_reg(vcpu, reg_x(0))),
                  static_cast<unsigned long long>(get_reg(vcpu, reg_x(1))),
                  static_cast<unsigned long long>(get_reg(vcpu, reg_esr_el1)),
                  static_cast<unsigned long long>(get_reg(vcpu, reg_far_el1)));
    return buf;
}

std::vector<std::pair<std::string, std::string>> describe_host(const Kvm &kvm) {
    std::vector<std::pair<std::string, std::string>> facts;
    const fdt::HostCaps caps = host_caps(kvm);
    facts.emplace_back("ipa_limit_bits",
                       std::to_string(caps.ipa_limit) +
                           (kvm.check_extension(KVM_CAP_ARM_VM_IPA_SIZE) > 0 ? "" : " (no capability)"));
    facts.emplace_back("cpu_pa_range_bits", std::to_string(caps.pa_range));
    facts.emplace_back("el2_guests", kvm.check_extension(cap_arm_el2) > 0 ? "yes" : "no");
    facts.emplace_back("el2_e2h0_guests", kvm.check_extension(cap_arm_el2_e2h0) > 0 ? "yes" : "no");
    // Whether --pa-range can work: lower PARange on a scratch vCPU and read it back.
    std::string writable = "no";
    try {
        VmFd scratch(kvm, 0);
        VcpuFd vcpu(kvm, scratch, 0);
        init_vcpu(scratch, vcpu, false, false);
        set_pa_range(vcpu, 32);
        writable = "yes";
    } catch (const std::system_error &e) {
        writable = std::string("no (") + e.code().message() + ")";
    }
    facts.emplace_back("pa_range_writable", writable);
    return facts;
}

std::optional<Stage2State> stage2_state(VcpuFd &vcpu) {
    constexpr std::uint64_t reg_vttbr_el2 = ARM64_SYS_REG(3, 4, 2, 1, 0);
    constexpr std::uint64_t reg_vtcr_el2 = ARM64_SYS_REG(3, 4, 2, 1, 2);
    Stage2State s;
    try {
        s.vtcr = get_reg(vcpu, reg_vtcr_el2);
        s.vttbr = get_reg(vcpu, reg_vttbr_el2);
    } catch (const std::system_error &) {
        return std::nullopt; // not an EL2 vCPU
    }
    s.pa_range = parange_of_reg(get_reg(vcpu, reg_id_aa64mmfr0));
    return s;
}

void set_irq_line(const VmFd &vm, std::uint32_t spi, bool level) {
    kvm_irq_level l{};
    l.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32 + spi);
    l.level = level ? 1 : 0;
    STRATA_IOCTL(vm.fd(), KVM_IRQ_LINE, &l, "the VM (SPI " + std::to_string(spi) + ")");
}

std::vector<unsigned long> vcpu_run_ioctls() { return {KVM_RUN, KVM_GET_ONE_REG, KVM_IRQ_LINE}; }

} // namespace strata::arch
