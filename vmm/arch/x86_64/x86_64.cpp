// x86_64 boot: strata enters ELF64 kernels directly in 64-bit long mode
// (DESIGN.md, "Guest boot ABI"). The planner reserves `boot` for what is
// written here:
//
//   boot.base + 0x0000  GDT: null, 64-bit code (0x08), flat data (0x10)
//   boot.base + 0x1000  PML4 (one entry per 512 GiB)
//   boot.base + 0x2000  PDPTs, then (without 1 GiB pages) page directories
//
// The identity map covers [0, end of the highest region) with 1 GiB pages
// when KVM offers them (CPUID 0x80000001 EDX.26), else 2 MiB pages.
#include "vmm/arch/arch.hpp"

#include <cpuid.h>
#include <elf.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace strata::arch {

namespace {

constexpr std::uint64_t page = 0x1000;
using fdt::BootTables;

constexpr std::uint64_t pte_present = 1, pte_write = 2, pte_huge = 0x80;
constexpr std::uint64_t cr0_pe = 1, cr0_mp = 2, cr0_et = 0x10, cr0_ne = 0x20, cr0_wp = 0x10000, cr0_pg = 0x8000'0000;
constexpr std::uint64_t cr4_pae = 0x20, cr4_osfxsr = 0x200, cr4_osxmmexcpt = 0x400;
constexpr std::uint64_t efer_lme = 0x100, efer_lma = 0x400;

bool has_1g_pages(const std::vector<kvm_cpuid_entry2> &cpuid) {
    auto it =
        std::find_if(cpuid.begin(), cpuid.end(), [](const kvm_cpuid_entry2 &e) { return e.function == 0x8000'0001; });
    return it != cpuid.end() && (it->edx & (1u << 26));
}

void write_u64(const GuestMemory &memory, std::uint64_t addr, std::uint64_t value) {
    if (!memory.write_obj(GuestAddress{addr}, value))
        throw std::logic_error("boot tables outside guest RAM");
}

kvm_segment segment(std::uint16_t selector, std::uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffff'ffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = code ? 0 : 1;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

} // namespace

std::uint16_t elf_machine() { return EM_X86_64; }

fdt::HostCaps host_caps(const Kvm &kvm, bool) {
    unsigned bits = 36; // the architectural minimum when the leaf is missing
    for (const auto &e : kvm.supported_cpuid())
        if (e.function == 0x8000'0008)
            bits = e.eax & 0xff;
    return {bits, bits, has_1g_pages(kvm.supported_cpuid())};
}

bool gic_v3_available(const Kvm &) { return true; }

std::unique_ptr<VmState> setup_vm(const Kvm &, const VmFd &vm, const fdt::Layout &layout) {
    // The TSS Intel's VMX needs for real mode: the planner reserved its pages.
    STRATA_IOCTL_VAL(vm.fd(), KVM_SET_TSS_ADDR, layout.tss.base, "the VM");
    STRATA_IOCTL_VAL(vm.fd(), KVM_CREATE_IRQCHIP, 0, "the VM");
    return std::make_unique<VmState>();
}

void after_vcpus(VmState &, const fdt::Layout &) {}

std::optional<int> system_event(VcpuFd &vcpu, const kvm_run &run) {
    switch (run.system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN: return 0;
    case KVM_SYSTEM_EVENT_RESET:
        spdlog::info("{}: the guest asked for a reset; strata stops the VM (exit 0)", vcpu.name());
        return 0;
    default: return std::nullopt;
    }
}

void setup_boot_memory(const GuestMemory &memory, const fdt::Layout &layout, const Kvm &) {
    const std::uint64_t base = layout.boot.base;
    write_u64(memory, base + BootTables::gdt_offset + 0x00, 0);
    write_u64(memory, base + BootTables::gdt_offset + 0x08, 0x00af'9b00'0000'ffff); // code: L, P, DPL0, exec/read
    write_u64(memory, base + BootTables::gdt_offset + 0x10, 0x00cf'9300'0000'ffff); // data: G, D/B, P, read/write

    // The planner checked that the tables fit the boot area (fdt::Layout::boot_tables).
    const auto t = layout.boot_tables();
    if (t.bytes > layout.boot.size)
        throw std::logic_error("the planner let through boot tables larger than the boot area");
    const std::uint64_t pdpts = t.pdpts, gibs = t.gibs;
    const bool gig = t.pages_1g;
    const std::uint64_t pdpt_base = base + BootTables::tables_offset;
    const std::uint64_t pd_base = pdpt_base + pdpts * page;
    for (std::uint64_t i = 0; i < pdpts; ++i)
        write_u64(memory, base + BootTables::pml4_offset + i * 8, (pdpt_base + i * page) | pte_present | pte_write);
    for (std::uint64_t g = 0; g < gibs; ++g) {
        const std::uint64_t entry = pdpt_base + g * 8; // PDPTs are contiguous: index g spans them
        if (gig) {
            write_u64(memory, entry, (g << 30) | pte_present | pte_write | pte_huge);
            continue;
        }
        const std::uint64_t pd = pd_base + g * page;
        write_u64(memory, entry, pd | pte_present | pte_write);
        for (std::uint64_t m = 0; m < 512; ++m)
            write_u64(memory, pd + m * 8, ((g << 30) + (m << 21)) | pte_present | pte_write | pte_huge);
    }
}

void setup_vcpu(const Kvm &kvm, const VmFd &, VcpuFd &vcpu, const fdt::Layout &layout, std::uint64_t entry,
                std::uint64_t dtb) {
    const std::string &who = vcpu.name();
    // CPUID: what KVM supports, with this vCPU's APIC ID.
    auto entries = kvm.supported_cpuid();
    for (auto &e : entries) {
        if (e.function == 1)
            e.ebx = (e.ebx & 0x00ff'ffff) | (vcpu.index() << 24);
        if (e.function == 0xb || e.function == 0x1f)
            e.edx = vcpu.index();
    }
    auto cpuid = std::make_unique<CpuidBuffer>();
    cpuid->header.nent = static_cast<std::uint32_t>(std::min(entries.size(), std::size(cpuid->entries)));
    std::copy_n(entries.begin(), cpuid->header.nent, cpuid->entries);
    checked_ioctl(vcpu.fd(), kvm_set_cpuid2, reinterpret_cast<unsigned long>(cpuid.get()), "KVM_SET_CPUID2", who);

    kvm_sregs sregs{};
    STRATA_IOCTL(vcpu.fd(), KVM_GET_SREGS, &sregs, who);
    sregs.gdt.base = layout.boot.base + BootTables::gdt_offset;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.idt = {};
    sregs.cs = segment(0x08, 0xb, true);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = segment(0x10, 0x3, false);
    sregs.cr0 = cr0_pe | cr0_mp | cr0_et | cr0_ne | cr0_wp | cr0_pg;
    sregs.cr3 = layout.boot.base + BootTables::pml4_offset;
    sregs.cr4 = cr4_pae | cr4_osfxsr | cr4_osxmmexcpt;
    sregs.efer = efer_lme | efer_lma;
    STRATA_IOCTL(vcpu.fd(), KVM_SET_SREGS, &sregs, who);

    kvm_regs regs{};
    regs.rip = entry;
    regs.rdi = dtb;
    regs.rsi = vcpu.index();
    regs.rflags = 0x2;
    STRATA_IOCTL(vcpu.fd(), KVM_SET_REGS, &regs, who);

    // Application processors wait for INIT/SIPI by default; ours all start at
    // the entry point and the guest parks them.
    kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
    STRATA_IOCTL(vcpu.fd(), KVM_SET_MP_STATE, &mp, who);
}

std::string describe_registers(VcpuFd &vcpu) {
    kvm_regs r{};
    kvm_sregs s{};
    STRATA_IOCTL(vcpu.fd(), KVM_GET_REGS, &r, vcpu.name());
    STRATA_IOCTL(vcpu.fd(), KVM_GET_SREGS, &s, vcpu.name());
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "rip=%#llx rsp=%#llx rflags=%#llx rax=%#llx rdi=%#llx rsi=%#llx cr0=%#llx cr2=%#llx "
                  "cr3=%#llx cr4=%#llx efer=%#llx cs=%#x",
                  r.rip, r.rsp, r.rflags, r.rax, r.rdi, r.rsi, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector);
    return buf;
}

std::vector<std::pair<std::string, std::string>> describe_host(const Kvm &kvm) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    std::vector<std::pair<std::string, std::string>> facts;
    if (__get_cpuid(0x8000'0008, &a, &b, &c, &d))
        facts.emplace_back("cpu_physical_address_bits", std::to_string(a & 0xff));
    facts.emplace_back("kvm_physical_address_bits", std::to_string(host_caps(kvm).ipa_limit));
    __get_cpuid(1, &a, &b, &c, &d);
    std::string inside = "no";
    if (c & (1u << 31)) { // CPUID.1:ECX.hypervisor, and the vendor at 0x40000000
        char vendor[13] = {};
        __cpuid(0x4000'0000, a, b, c, d);
        std::memcpy(vendor, &b, 4);
        std::memcpy(vendor + 4, &c, 4);
        std::memcpy(vendor + 8, &d, 4);
        inside = std::string("yes (CPUID hypervisor bit, vendor \"") + vendor + "\")";
    }
    facts.emplace_back("inside_vm", inside);
    facts.emplace_back("el2_guests", "no (an arm64 feature)");
    return facts;
}

std::optional<Stage2State> stage2_state(VcpuFd &) { return std::nullopt; }

void set_irq_line(const VmFd &vm, std::uint32_t irq, bool level) {
    kvm_irq_level l{};
    l.irq = irq;
    l.level = level ? 1 : 0;
    STRATA_IOCTL(vm.fd(), KVM_IRQ_LINE, &l, "the VM (IRQ " + std::to_string(irq) + ")");
}

std::vector<unsigned long> vcpu_run_ioctls() { return {KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS, KVM_IRQ_LINE}; }

} // namespace strata::arch
