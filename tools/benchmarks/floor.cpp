// tools/benchmarks/floor.cpp (bench-floor): the floor under strata's
// port-I/O round trip. A bare KVM loader that boots the same guest ELF
// strata boots (tests/guests/pio-bench), in the same mode and the same VM
// shape, and answers its exits with a bare switch instead of a bus and
// devices. tools/bench times it with bench-driver exactly as it times
// `strata run`, so the two walls differ only by what strata does per exit
// and per boot.
//
// Usage: bench-floor KERNEL BOOTARGS, e.g. bench-floor pio-bench n=200000.
// Exits 0 when the guest powers off cleanly, (status << 1) | 1 when it
// writes a failure status to the debug-exit port, 1 on anything else.
//
// The VM is strata's for one vCPU and --mem 128M (vmm/vm.cpp,
// vmm/arch/x86_64/x86_64.cpp, `strata plan`), written out again here on
// purpose: the floor must not share code with what it measures.
//
//   0x0000'1000  GDT: null, 64-bit code (0x08), flat data (0x10)
//   0x0000'2000  PML4 -> 0x3000 PDPT -> 0x4000 PD: 2 MiB pages over 1 GiB
//   0x0008'0000  DTB: /chosen/bootargs only (all the guest runtime reads)
//   0x0010'0000  the ELF's PT_LOAD segments (tests/guests/runtime/x86_64/link.ld)
//   0x0800'0000  end of RAM: one memslot of memfd memory at 0
//   TSS at 0xfffb'd000, KVM's in-kernel irqchip, CPUID = KVM's supported set.
//
// One difference: strata maps the first 4 GiB (RAM and the irqchip windows)
// with 1 GiB pages where KVM offers them; this guest touches only RAM, and
// the page size plays no part in a port-I/O exit.
//
// Every fd and mapping lives until the process exits, which releases them.
#include "args.hpp"

#include <linux/kvm.h>

#include <elf.h>
#include <fcntl.h>
#include <libfdt.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr const char *program = "bench-floor";

constexpr std::uint64_t ram_size = 128ull << 20;
constexpr std::uint64_t gdt = 0x1000, pml4 = 0x2000, pdpt = 0x3000, pd = 0x4000;
constexpr std::uint64_t dtb = 0x8'0000, dtb_size = 0x8'0000;
constexpr unsigned long tss = 0xfffb'd000;

constexpr std::uint16_t null_port = 0x80, com1_thr = 0x3f8, com1_lsr = 0x3fd, debug_exit = 0xf4, power_off = 0x604;
constexpr std::uint8_t lsr_thr_empty = 0x20;

// linux/kvm.h's kvm_cpuid2 ends in a flexible array that C++ sizes wrongly,
// and the ioctl numbers encode that size: so a header of its own.
struct CpuidHeader {
    std::uint32_t nent;
    std::uint32_t padding;
};
struct Cpuid {
    CpuidHeader header{};
    kvm_cpuid_entry2 entries[256];
};
constexpr unsigned long get_supported_cpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long set_cpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

template <class Arg>
int kvm_ioctl(int fd, unsigned long request, Arg arg, const char *what) {
    const int r = ::ioctl(fd, request, arg);
    if (r < 0)
        bench::die(program, what, errno);
    return r;
}

[[noreturn]] void fail(const std::string &what) {
    std::fprintf(stderr, "%s: %s\n", program, what.c_str());
    std::exit(1);
}

std::vector<std::uint8_t> read_file(const char *path) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        bench::die(program, path, errno);
    std::vector<std::uint8_t> bytes;
    std::uint8_t chunk[65536];
    ssize_t n;
    while ((n = ::read(fd, chunk, sizeof chunk)) > 0)
        bytes.insert(bytes.end(), chunk, chunk + n);
    if (n < 0)
        bench::die(program, path, errno);
    ::close(fd);
    return bytes;
}

// Copies the PT_LOAD segments to their physical addresses; the rest of each
// segment (.bss) is already zero in fresh memory. Returns the entry point.
std::uint64_t load_elf(const std::vector<std::uint8_t> &file, std::uint8_t *ram) {
    Elf64_Ehdr eh;
    if (file.size() < sizeof eh || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0)
        fail("the kernel is not an ELF file");
    std::memcpy(&eh, file.data(), sizeof eh);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phoff > file.size() || std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > file.size() - eh.e_phoff)
        fail("the kernel is not an x86_64 ELF64 with a whole program header table");
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > file.size() || ph.p_filesz > file.size() - ph.p_offset ||
            ph.p_paddr < dtb + dtb_size || ph.p_paddr > ram_size || ph.p_memsz > ram_size - ph.p_paddr)
            fail("segment " + std::to_string(i) + " does not fit between the DTB and the end of RAM");
        std::memcpy(ram + ph.p_paddr, file.data() + ph.p_offset, ph.p_filesz);
    }
    return eh.e_entry;
}

// The guest runtime reads /chosen/bootargs and nothing else (rt_bootargs).
void write_dtb(std::uint8_t *ram, const char *bootargs) {
    void *fdt = ram + dtb;
    auto check = [](int err) {
        if (err)
            fail(std::string("device tree: ") + fdt_strerror(err));
    };
    check(fdt_create(fdt, static_cast<int>(dtb_size)));
    check(fdt_finish_reservemap(fdt));
    check(fdt_begin_node(fdt, ""));
    {
        check(fdt_begin_node(fdt, "chosen"));
        check(fdt_property(fdt, "bootargs", bootargs, static_cast<int>(std::strlen(bootargs) + 1)));
        check(fdt_end_node(fdt));
    }
    check(fdt_end_node(fdt));
    check(fdt_finish(fdt));
}

void write_u64(std::uint8_t *ram, std::uint64_t addr, std::uint64_t value) { std::memcpy(ram + addr, &value, 8); }

// GDT and identity page tables:
//
//   CR3 -> PML4[0] -> PDPT[0] -> PD[0..511] -> 2 MiB pages, va == pa, 0..1 GiB
void write_boot_tables(std::uint8_t *ram) {
    constexpr std::uint64_t present = 1, writable = 2, huge = 0x80;
    write_u64(ram, gdt + 0x08, 0x00af'9b00'0000'ffff); // code: L, P, DPL 0, execute/read
    write_u64(ram, gdt + 0x10, 0x00cf'9300'0000'ffff); // data: G, D/B, P, read/write
    write_u64(ram, pml4, pdpt | present | writable);
    write_u64(ram, pdpt, pd | present | writable);
    for (std::uint64_t i = 0; i < 512; ++i)
        write_u64(ram, pd + i * 8, (i << 21) | present | writable | huge);
}

kvm_segment flat_segment(std::uint16_t selector, std::uint8_t type, bool code) {
    kvm_segment s{};
    s.limit = 0xffff'ffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.s = 1;
    s.db = code ? 0 : 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

// Long mode at `entry`, rdi = the DTB, rsi = 0 (the vCPU index).
void enter_long_mode(int kvm, int vcpu, std::uint64_t entry) {
    auto cpuid = std::make_unique<Cpuid>();
    cpuid->header.nent = static_cast<std::uint32_t>(std::size(cpuid->entries));
    kvm_ioctl(kvm, get_supported_cpuid, cpuid.get(), "KVM_GET_SUPPORTED_CPUID");
    kvm_ioctl(vcpu, set_cpuid2, cpuid.get(), "KVM_SET_CPUID2");

    kvm_sregs sregs{};
    kvm_ioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    sregs.gdt.base = gdt;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.idt = {};
    sregs.cs = flat_segment(0x08, 0xb, true);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(0x10, 0x3, false);
    sregs.cr0 = 0x8001'0033; // PG, WP, NE, ET, MP, PE
    sregs.cr3 = pml4;
    sregs.cr4 = 0x620;  // OSXMMEXCPT, OSFXSR, PAE
    sregs.efer = 0x500; // LMA, LME
    kvm_ioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

    kvm_regs regs{};
    regs.rip = entry;
    regs.rdi = dtb;
    regs.rflags = 2; // bit 1 is reserved and must be set
    kvm_ioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: bench-floor KERNEL BOOTARGS\n");
        return 2;
    }
    const auto kernel = read_file(argv[1]);

    const int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        bench::die(program, "/dev/kvm", errno);
    const int vm = kvm_ioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
    kvm_ioctl(vm, KVM_SET_TSS_ADDR, tss, "KVM_SET_TSS_ADDR");
    kvm_ioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");

    const int memfd = ::memfd_create("bench-floor-ram", MFD_CLOEXEC);
    if (memfd < 0 || ::ftruncate(memfd, ram_size) < 0)
        bench::die(program, "guest RAM memfd", errno);
    void *mapped = ::mmap(nullptr, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mapped == MAP_FAILED)
        bench::die(program, "mmap guest RAM", errno);
    auto *ram = static_cast<std::uint8_t *>(mapped);
    kvm_userspace_memory_region slot{};
    slot.memory_size = ram_size;
    slot.userspace_addr = reinterpret_cast<std::uintptr_t>(ram);
    kvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot, "KVM_SET_USER_MEMORY_REGION");

    const std::uint64_t entry = load_elf(kernel, ram);
    write_dtb(ram, argv[2]);
    write_boot_tables(ram);

    const int vcpu = kvm_ioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
    const int run_size = kvm_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    void *run_page = ::mmap(nullptr, static_cast<std::size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run_page == MAP_FAILED)
        bench::die(program, "mmap kvm_run", errno);
    auto *run = static_cast<kvm_run *>(run_page);
    enter_long_mode(kvm, vcpu, entry);

    for (;;) {
        if (::ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            bench::die(program, "KVM_RUN", errno);
        }
        if (run->exit_reason != KVM_EXIT_IO)
            fail("unexpected exit " + std::to_string(run->exit_reason));
        auto *data = reinterpret_cast<std::uint8_t *>(run) + run->io.data_offset;
        switch (run->io.port) {
        case null_port: continue;
        case com1_thr: continue;                        // console output: dropped, like --console none
        case com1_lsr: *data = lsr_thr_empty; continue; // the transmitter is always ready
        case power_off: return 0;
        case debug_exit: return (*data << 1) | 1;
        default: fail("unexpected access to port " + std::to_string(run->io.port));
        }
    }
}
