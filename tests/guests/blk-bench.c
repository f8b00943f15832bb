/*
 * virtio-blk throughput guest for tools/bench: sequential reads or writes on
 * the first blk device with `depth` requests kept in flight, until `total`
 * bytes are done, then power-off. Prints errors, and one line at the end,
 * "blk-bench: done, read|wrote <bytes> bytes", that tools/bench checks: a run
 * that stopped early or never started its loop cannot pass for a fast one.
 *   bootargs: op=read|write size=<bytes> depth=<n> total=<bytes> irq=0|1
 *   defaults: op=read size=65536 depth=16 total=16777216 irq=0
 * total=0 sets the device up and powers off: the baseline that tools/bench
 * subtracts.
 *
 * Built for a slow vCPU (a nested host runs guest code at ~1 MIPS, faults a
 * guest page in at ~2 ms, takes ~10 us per exit): the guest never touches
 * the data buffers (the device DMAs into or out of them; their contents are
 * whatever the .bss held), verifies nothing, and its per-request work is a
 * few stores. Every request has a fixed slot i: descriptor i of the queue is
 * an INDIRECT descriptor to the slot's 3-entry table (header, data buffer i
 * of the pool, status byte), set up once, so resubmitting a slot writes only
 * its sector and an avail ring entry. Indirect tables make 16 three-buffer
 * requests fit in a 16-entry queue (the runtime's queues have at most 32
 * descriptors). Each batch of resubmissions costs one QueueNotify exit.
 * Completions are polled on used->idx, the device told not to interrupt
 * (VIRTQ_AVAIL_F_NO_INTERRUPT); or with irq=1 the device interrupts, through
 * the IOAPIC and the local APIC, and the guest halts between completions
 * (each wake-up reads and acknowledges InterruptStatus: two MMIO exits) and
 * says before the done line how many device interrupts it took:
 * "blk-bench: <n> interrupts". Sectors run sequentially and wrap at the
 * capacity (a request never straddles it).
 */
#include "rt.h"
#include "virtio.h"

#define SECTOR 512u
#define POOL_BYTES (1u << 20)
#define MAX_DEPTH VIRTQ_MAX
#define TIMEOUT_MS 10000u
#define SPINS_PER_CHECK 256u

#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

#define BLK_T_IN 0u
#define BLK_T_OUT 1u

struct blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct virtq bq;
static struct virtq_desc table[MAX_DEPTH][3] __attribute__((aligned(16)));
static struct blk_req_hdr hdr[MAX_DEPTH];
static uint8_t status[MAX_DEPTH];
static uint8_t pool[POOL_BYTES] __attribute__((aligned(4096)));

static _Noreturn void fail(const char *what, unsigned long long v)
{
    rt_puts("blk-bench: ");
    rt_puts(what);
    rt_put_u64(v);
    rt_puts("\n");
    rt_exit(1);
}

static unsigned long long arg(const char *bootargs, const char *key, unsigned long long dflt)
{
    unsigned long long v;
    int err = rt_bootarg_u64(bootargs, key, &v);
    if (err == -2) {
        rt_puts("blk-bench: ");
        rt_puts(key);
        rt_puts("= must be a decimal or 0x-hex number\n");
        rt_exit(2);
    }
    return err == 0 ? v : dflt;
}

static int done_line(int write, unsigned long long bytes)
{
    rt_puts(write ? "blk-bench: done, wrote " : "blk-bench: done, read ");
    rt_put_u64(bytes);
    rt_puts(" bytes\n");
    return 0;
}

/* 1 for op=write, 0 for op=read (or no op). */
static int op_is_write(const char *bootargs)
{
    unsigned long len;
    const char *op = rt_bootarg(bootargs, "op", &len);
    if (!op || (len == 4 && op[0] == 'r' && op[1] == 'e' && op[2] == 'a' && op[3] == 'd'))
        return 0;
    if (len == 5 && op[0] == 'w' && op[1] == 'r' && op[2] == 'i' && op[3] == 't' && op[4] == 'e')
        return 1;
    rt_puts("blk-bench: op= must be read or write\n");
    rt_exit(2);
}

int main(const void *dtb)
{
    const char *bootargs = rt_bootargs(dtb);
    const int write = op_is_write(bootargs);
    const unsigned long long size = arg(bootargs, "size", 65536);
    const unsigned long long depth = arg(bootargs, "depth", 16);
    const unsigned long long total = arg(bootargs, "total", 16ull << 20);
    const int irq = arg(bootargs, "irq", 0) != 0;
    struct virtq *queues[] = {&bq};
    struct virtio_dev dev;
    unsigned long long capacity, per_req, sector = 0, issued = 0, done = 0, deadline;
    unsigned qsize = 1, i, spins = 0;
    uint16_t avail_idx = 0, last_used = 0;
    int err;

    if (size == 0 || size % SECTOR || depth == 0 || depth > MAX_DEPTH || size * depth > POOL_BYTES)
        fail("size must be a positive multiple of 512, depth 1..32, size*depth <= ", POOL_BYTES);
    if (virtio_find(dtb, VIRTIO_ID_BLK, 0, &dev) != 0)
        fail("no blk device ", 0);
    while (qsize < depth)
        qsize <<= 1;
    err = virtio_init(&dev, VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC, queues, 1, qsize);
    if (err) {
        rt_puts("blk-bench: init: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        rt_exit(1);
    }
    if (!(dev.features & VIRTIO_F_INDIRECT_DESC))
        fail("indirect descriptors not offered ", 0);
    capacity = virtio_config64(&dev, 0);
    per_req = size / SECTOR;
    if (capacity < per_req)
        fail("disk smaller than one request, sectors: ", capacity);
    if (total == 0)
        return done_line(write, 0); /* the baseline run: boot, set the device up, power off */

    /* Slot i: queue descriptor i -> table[i] = header, data, status. */
    for (i = 0; i < depth; i++) {
        hdr[i].type = write ? BLK_T_OUT : BLK_T_IN;
        table[i][0] = (struct virtq_desc){(uint64_t)(unsigned long)&hdr[i], sizeof hdr[i],
                                          VIRTQ_DESC_F_NEXT, 1};
        table[i][1] = (struct virtq_desc){(uint64_t)(unsigned long)(pool + i * size), (uint32_t)size,
                                          (uint16_t)(VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE)),
                                          2};
        table[i][2] = (struct virtq_desc){(uint64_t)(unsigned long)&status[i], 1, VIRTQ_DESC_F_WRITE, 0};
        bq.desc[i] = (struct virtq_desc){(uint64_t)(unsigned long)table[i], sizeof table[i],
                                         VIRTQ_DESC_F_INDIRECT, 0};
    }
    if (!irq)
        bq.avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    else if (rt_irq_route(dev.irq) != 0)
        fail("cannot route the interrupt of the blk device, line ", dev.irq);

    for (i = 0; i < depth && issued < total; i++) {
        if (sector + per_req > capacity)
            sector = 0;
        hdr[i].sector = sector;
        status[i] = 0xff;
        sector += per_req;
        issued += size;
        bq.avail.ring[avail_idx & (qsize - 1)] = (uint16_t)i;
        avail_idx++;
    }
    rt_barrier();
    *(volatile uint16_t *)&bq.avail.idx = avail_idx;
    virtq_kick(&dev, &bq);
    if (irq) {
        /*
         * The first batch's interrupt, whatever else: later the guest may
         * find completions each time it looks and never need to halt.
         */
        deadline = rt_deadline_ms(TIMEOUT_MS);
        while (rt_irq_count() == 0) {
            if (rt_expired(deadline))
                fail("no interrupt from the blk device, line ", dev.irq);
            rt_irq_wait();
        }
        virtio_ack_irq(&dev);
    }

    deadline = 0; /* set when a wait starts, so progress costs no rdtsc */
    while (done < total) {
        uint16_t used = *(volatile uint16_t *)&bq.used.idx;
        int resubmitted = 0;
        if (used == last_used && irq) {
            if (!deadline)
                deadline = rt_deadline_ms(TIMEOUT_MS);
            else if (rt_expired(deadline))
                fail("timed out, bytes done: ", done);
            rt_irq_wait();
            virtio_ack_irq(&dev);
            continue;
        }
        if (used == last_used) {
            if (++spins == SPINS_PER_CHECK) {
                spins = 0;
                if (!deadline)
                    deadline = rt_deadline_ms(TIMEOUT_MS);
                else if (rt_expired(deadline))
                    fail("timed out, bytes done: ", done);
            }
            rt_relax();
            continue;
        }
        if ((uint16_t)(used - last_used) > qsize)
            fail("bad used index ", used);
        rt_barrier(); /* the index before the elements it publishes */
        while (last_used != used) {
            uint32_t id = *(volatile uint32_t *)&bq.used.ring[last_used & (qsize - 1)].id;
            last_used++;
            if (id >= depth)
                fail("bad used id ", id);
            if (*(volatile uint8_t *)&status[id] != 0)
                fail("request failed, status ", status[id]);
            done += size;
            if (issued < total) {
                if (sector + per_req > capacity)
                    sector = 0;
                hdr[id].sector = sector;
                status[id] = 0xff;
                sector += per_req;
                issued += size;
                bq.avail.ring[avail_idx & (qsize - 1)] = (uint16_t)id;
                avail_idx++;
                resubmitted = 1;
            }
        }
        if (resubmitted) {
            rt_barrier();
            *(volatile uint16_t *)&bq.avail.idx = avail_idx;
            virtq_kick(&dev, &bq);
        }
        deadline = 0;
        spins = 0;
    }
    if (irq) {
        rt_puts("blk-bench: ");
        rt_put_u64(rt_irq_count());
        rt_puts(" interrupts\n");
    }
    return done_line(write, done);
}
