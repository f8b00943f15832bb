/*
 * Hostile-guest checks for strata's virtio-mmio devices. Run with
 * `--rng --blk FILE`: the rng device is the victim, abused one rule at a
 * time (ring loops, wild addresses, overflowing lengths, a runaway avail
 * index, bad queue setups, register abuse); the blk device is the
 * bystander, which must still read sector 0 with status OK after each case.
 * The victim is reset and fully re-initialised before every case. Prints
 *   hostile: <case>: ok | FAIL <detail>
 *   hostile: healthy after <case> | hostile: healthy after <case>: FAIL <detail>
 * then "hostile: victim works after reset" and "hostile: done"; powers off
 * with 0 only if every line was good. Every wait is bounded.
 */
#include "rt.h"
#include "virtio.h"

#define QUEUE_SIZE 16u
#define SECTOR 512u
#define NEEDS_RESET_MS 2000u
#define COMPLETION_MS 2000u
#define QUIET_MS 50u
#define FAR_ADDRESS 0x7f00000000ull

#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u

struct blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct virtio_dev blk, rng;
static struct virtq bq, vq;
static struct blk_req_hdr hdr;
static uint8_t blk_status;
static uint8_t sector[SECTOR];
static uint8_t scratch[4096] __attribute__((aligned(4096)));
static int all_ok = 1;

/* ---- reporting ---------------------------------------------------------- */

static void say_ok(const char *name)
{
    rt_puts("hostile: ");
    rt_puts(name);
    rt_puts(": ok\n");
}

static void say_fail(const char *name, const char *detail, unsigned long long v)
{
    rt_puts("hostile: ");
    rt_puts(name);
    rt_puts(": FAIL ");
    rt_puts(detail);
    rt_puts(" ");
    rt_put_hex(v);
    rt_puts("\n");
    all_ok = 0;
}

/* ---- the bystander ------------------------------------------------------ */

static int blk_init(void)
{
    struct virtq *queues[] = {&bq};
    return virtio_init(&blk, VIRTIO_F_VERSION_1, queues, 1, QUEUE_SIZE);
}

/* Reads sector 0; the status byte, or a negative VIRTIO_ERR_*. */
static int blk_read0(void)
{
    struct virtio_buf b[3] = {
        {(uint64_t)(unsigned long)&hdr, sizeof hdr, 0},
        {(uint64_t)(unsigned long)sector, SECTOR, 1},
        {(uint64_t)(unsigned long)&blk_status, 1, 1},
    };
    int err;

    hdr.type = BLK_T_IN;
    hdr.reserved = 0;
    hdr.sector = 0;
    blk_status = 0xff;
    if (virtq_add(&bq, b, 3, 0) < 0)
        return VIRTIO_ERR_QUEUE;
    virtq_kick(&blk, &bq);
    err = virtq_wait_timeout(&blk, &bq, COMPLETION_MS, 0, 0);
    return err ? err : *(volatile uint8_t *)&blk_status;
}

static void check_health(const char *name)
{
    int st = blk_read0();
    rt_puts("hostile: healthy after ");
    rt_puts(name);
    if (st == 0) {
        rt_puts("\n");
        return;
    }
    rt_puts(": FAIL ");
    if (st < 0) {
        rt_puts(virtio_strerror(st));
        blk_init(); /* give the next case a working bystander */
    } else {
        rt_puts("status ");
        rt_put_u64((unsigned)st);
    }
    rt_puts("\n");
    all_ok = 0;
}

/* ---- victim helpers ----------------------------------------------------- */

static int victim_init(const char *name)
{
    struct virtq *queues[] = {&vq};
    int err = virtio_init(&rng, VIRTIO_F_VERSION_1, queues, 1, QUEUE_SIZE);
    if (err)
        say_fail(name, virtio_strerror(err), (unsigned)-err);
    return err == 0;
}

static uint16_t used_idx(void)
{
    return *(volatile uint16_t *)&vq.used.idx;
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    vq.desc[i].addr = addr;
    vq.desc[i].len = len;
    vq.desc[i].flags = flags;
    vq.desc[i].next = next;
}

/* Publishes head in the avail ring behind the driver core's back and notifies. */
static void publish(uint16_t head)
{
    vq.avail.ring[vq.avail_idx & (vq.size - 1)] = head;
    vq.avail_idx++;
    rt_barrier();
    *(volatile uint16_t *)&vq.avail.idx = vq.avail_idx;
    virtq_kick(&rng, &vq);
}

static int saw_needs_reset(void)
{
    unsigned long long deadline = rt_deadline_ms(NEEDS_RESET_MS);
    while (!rt_expired(deadline)) {
        if (virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET)
            return 1;
        rt_delay_us(100);
    }
    return 0;
}

static void expect_needs_reset(const char *name)
{
    if (saw_needs_reset())
        say_ok(name);
    else
        say_fail(name, "no NEEDS_RESET, status", virtio_status(&rng));
}

/* Offers queue 0 with num entries and the given descriptor table; QueueReady read back. */
static uint32_t raw_queue(uint32_t num, const void *desc)
{
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_SEL, 0);
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_NUM, num);
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(unsigned long)desc);
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)((unsigned long)desc >> 32));
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(unsigned long)&vq.avail);
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((unsigned long)&vq.avail >> 32));
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(unsigned long)&vq.used);
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((unsigned long)&vq.used >> 32));
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_READY, 1);
    return virtio_read(&rng, VIRTIO_MMIO_QUEUE_READY);
}

/* ---- the cases ---------------------------------------------------------- */

static void loop_chain(const char *name)
{
    uint64_t buf = (uint64_t)(unsigned long)scratch;
    set_desc(0, buf, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(1, buf + 16, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
    publish(0);
    if (!saw_needs_reset())
        say_fail(name, "no NEEDS_RESET, status", virtio_status(&rng));
    else if (used_idx() != 0)
        say_fail(name, "used entry for a looping chain, used idx", used_idx());
    else
        say_ok(name);
}

static void desc_outside_ram(const char *name)
{
    set_desc(0, FAR_ADDRESS, 64, VIRTQ_DESC_F_WRITE, 0);
    publish(0);
    expect_needs_reset(name);
}

static void length_overflow(const char *name)
{
    uint64_t buf = (uint64_t)(unsigned long)scratch;
    set_desc(0, buf, 0xffffffffu, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(1, buf, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
    publish(0);
    expect_needs_reset(name);
}

static void avail_ahead(const char *name)
{
    rt_barrier();
    *(volatile uint16_t *)&vq.avail.idx = (uint16_t)(vq.avail_idx + vq.size + 1);
    virtq_kick(&rng, &vq);
    expect_needs_reset(name);
}

static void queue_size_not_power_of_two(const char *name)
{
    uint32_t ready;
    int err = virtio_negotiate(&rng, VIRTIO_F_VERSION_1);
    if (err) {
        say_fail(name, virtio_strerror(err), (unsigned)-err);
        return;
    }
    ready = raw_queue(7, vq.desc);
    if (ready == 0)
        say_ok(name);
    else
        say_fail(name, "QueueReady reads", ready);
}

static void misaligned_ring(const char *name)
{
    uint32_t ready;
    int err = virtio_negotiate(&rng, VIRTIO_F_VERSION_1);
    if (err) {
        say_fail(name, virtio_strerror(err), (unsigned)-err);
        return;
    }
    ready = raw_queue(QUEUE_SIZE, (const char *)vq.desc + 8);
    if (ready == 0)
        say_ok(name);
    else
        say_fail(name, "QueueReady reads", ready);
}

static void notify_before_driver_ok(const char *name)
{
    struct virtio_buf b = {(uint64_t)(unsigned long)scratch, 32, 1};
    uint32_t len = 0;
    int err = virtio_negotiate(&rng, VIRTIO_F_VERSION_1);
    if (err == 0)
        err = virtq_setup(&rng, &vq, 0, QUEUE_SIZE);
    if (err) {
        say_fail(name, virtio_strerror(err), (unsigned)-err);
        return;
    }
    virtq_add(&vq, &b, 1, 0);
    virtq_kick(&rng, &vq);
    rt_delay_us(QUIET_MS * 1000u);
    if (used_idx() != 0) {
        say_fail(name, "buffer used before DRIVER_OK, used idx", used_idx());
        return;
    }
    virtio_driver_ok(&rng);
    virtq_kick(&rng, &vq);
    err = virtq_wait_timeout(&rng, &vq, COMPLETION_MS, &len, 0);
    if (err)
        say_fail(name, virtio_strerror(err), (unsigned)-err);
    else if (len == 0 || len > 32)
        say_fail(name, "used len", len);
    else
        say_ok(name);
}

static void write_read_only(const char *name)
{
    static const unsigned regs[] = {VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_DEVICE_ID,
                                    VIRTIO_MMIO_QUEUE_NUM_MAX};
    unsigned i;

    virtio_write(&rng, VIRTIO_MMIO_QUEUE_SEL, 0);
    for (i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        uint32_t before = virtio_read(&rng, regs[i]), after;
        virtio_write(&rng, regs[i], 0x12345678u);
        after = virtio_read(&rng, regs[i]);
        if (after != before) {
            say_fail(name, "register changed, offset", regs[i]);
            return;
        }
    }
    say_ok(name);
}

static void narrow_and_wide_access(const char *name)
{
    unsigned long status = rng.base + VIRTIO_MMIO_STATUS, magic = rng.base + VIRTIO_MMIO_MAGIC;
    uint32_t before = virtio_status(&rng), after;

    if (rt_mmio_read8(status) != 0 || rt_mmio_read8(magic) != 0) {
        say_fail(name, "1-byte read not 0, status/magic", rt_mmio_read8(status) << 8 |
                                                             rt_mmio_read8(magic));
        return;
    }
    if (rt_mmio_read16(status) != 0 || rt_mmio_read16(magic) != 0) {
        say_fail(name, "2-byte read not 0, status/magic",
                 (unsigned long long)rt_mmio_read16(status) << 16 | rt_mmio_read16(magic));
        return;
    }
    if (rt_mmio_read64(magic) != 0) {
        say_fail(name, "8-byte read of magic not 0", rt_mmio_read64(magic));
        return;
    }
    rt_mmio_write8(status, 0);
    after = virtio_status(&rng);
    if (after != before)
        say_fail(name, "1-byte write changed Status to", after);
    else
        say_ok(name);
}

static void status_backwards(const char *name)
{
    uint32_t before = virtio_status(&rng), after;

    virtio_write(&rng, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    after = virtio_status(&rng);
    if (after != before || !(after & VIRTIO_STATUS_DRIVER_OK)) {
        say_fail(name, "Status went back to", after);
        return;
    }
    if (virtio_reset(&rng) != 0)
        say_fail(name, "reset did not clear Status", virtio_status(&rng));
    else
        say_ok(name);
}

/* An indirect table one entry longer than the queue: a chain longer than the
 * queue size (virtio 1.2 §2.7.5.3.1), refused however the table is reached. */
static void indirect_too_long(const char *name)
{
    struct virtq *queues[] = {&vq};
    struct virtq_desc *table = (struct virtq_desc *)scratch;
    unsigned i, n = QUEUE_SIZE + 1;
    int err = virtio_init(&rng, VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC, queues, 1, QUEUE_SIZE);

    if (err) {
        say_fail(name, virtio_strerror(err), (unsigned)-err);
        return;
    }
    for (i = 0; i < n; i++) {
        table[i].addr = (uint64_t)(unsigned long)(scratch + 2048 + i);
        table[i].len = 1;
        table[i].flags = VIRTQ_DESC_F_WRITE | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        table[i].next = (uint16_t)(i + 1);
    }
    set_desc(0, (uint64_t)(unsigned long)table, n * sizeof *table, VIRTQ_DESC_F_INDIRECT, 0);
    publish(0);
    if (!saw_needs_reset())
        say_fail(name, "no NEEDS_RESET, status", virtio_status(&rng));
    else if (used_idx() != 0)
        say_fail(name, "used entry for a chain longer than the queue, used idx", used_idx());
    else
        say_ok(name);
}

/* The bystander's queue disabled, then given size 0, while its requests are
 * in flight (a 64 KiB write, then flushes: fdatasync makes them slow): their
 * completions must land nowhere (one once divided by the new size), and the
 * device must come back after a reset. */
static uint8_t big[65536] __attribute__((aligned(4096)));
static struct blk_req_hdr write_hdr = {BLK_T_OUT, 0, 0}, flush_hdr = {BLK_T_FLUSH, 0, 0};
static uint8_t statuses[8];

static void disable_with_io_in_flight(const char *name)
{
    struct virtio_buf w[3] = {
        {(uint64_t)(unsigned long)&write_hdr, sizeof write_hdr, 0},
        {(uint64_t)(unsigned long)big, sizeof big, 0},
        {(uint64_t)(unsigned long)&statuses[0], 1, 1},
    };
    unsigned round, i, late = 0;

    for (round = 0; round < 4; round++) {
        uint16_t at_disable;

        if (blk_init() != 0) {
            say_fail(name, "the blk device did not come back after a reset, round", round);
            return;
        }
        big[round] = (uint8_t)round; /* new data: the pages are dirty again */
        virtq_add(&bq, w, 3, 0);
        for (i = 1; i < 5; i++) {
            struct virtio_buf f[2] = {
                {(uint64_t)(unsigned long)&flush_hdr, sizeof flush_hdr, 0},
                {(uint64_t)(unsigned long)&statuses[i], 1, 1},
            };
            virtq_add(&bq, f, 2, 0);
        }
        virtq_kick(&blk, &bq);
        virtio_write(&blk, VIRTIO_MMIO_QUEUE_SEL, 0);
        virtio_write(&blk, VIRTIO_MMIO_QUEUE_READY, 0);
        at_disable = *(volatile uint16_t *)&bq.used.idx;
        virtio_write(&blk, VIRTIO_MMIO_QUEUE_NUM, 0);
        late += 5u - at_disable;
        rt_delay_us(QUIET_MS * 1000u);
        if (*(volatile uint16_t *)&bq.used.idx != at_disable) {
            say_fail(name, "completions reached the disabled queue, used idx", *(volatile uint16_t *)&bq.used.idx);
            blk_init();
            return;
        }
        if (virtio_read(&blk, VIRTIO_MMIO_QUEUE_READY) != 0) {
            say_fail(name, "QueueReady still reads", 1);
            blk_init();
            return;
        }
    }
    if (late == 0)
        say_fail(name, "every request completed before the disable: nothing was tested", 0);
    else
        say_ok(name);
    if (blk_init() != 0)
        say_fail(name, "the blk device did not come back after a reset", 0);
}

static void victim_works(void)
{
    struct virtio_buf b = {(uint64_t)(unsigned long)scratch, 32, 1};
    uint32_t len = 0;
    int err;
    struct virtq *queues[] = {&vq};

    err = virtio_init(&rng, VIRTIO_F_VERSION_1, queues, 1, QUEUE_SIZE);
    if (err == 0) {
        virtq_add(&vq, &b, 1, 0);
        virtq_kick(&rng, &vq);
        err = virtq_wait_timeout(&rng, &vq, COMPLETION_MS, &len, 0);
    }
    if (err == 0 && len > 0 && len <= 32) {
        rt_puts("hostile: victim works after reset\n");
        return;
    }
    rt_puts("hostile: victim works after reset: FAIL ");
    rt_puts(err ? virtio_strerror(err) : "bad used len");
    rt_puts("\n");
    all_ok = 0;
}

struct hostile_case {
    const char *name;
    void (*run)(const char *name); /* starts from a fully initialised victim */
};

static const struct hostile_case cases[] = {
    {"loop-chain", loop_chain},
    {"desc-outside-ram", desc_outside_ram},
    {"length-overflow", length_overflow},
    {"avail-ahead", avail_ahead},
    {"queue-size-not-power-of-two", queue_size_not_power_of_two},
    {"misaligned-ring", misaligned_ring},
    {"notify-before-driver-ok", notify_before_driver_ok},
    {"write-read-only", write_read_only},
    {"narrow-and-wide-access", narrow_and_wide_access},
    {"status-backwards", status_backwards},
    {"indirect-too-long", indirect_too_long},
    {"disable-with-io-in-flight", disable_with_io_in_flight},
};

int main(const void *dtb)
{
    unsigned i;
    int err;

    if (virtio_find(dtb, VIRTIO_ID_BLK, 0, &blk) != 0 || virtio_find(dtb, VIRTIO_ID_RNG, 0, &rng)) {
        rt_puts("hostile: needs --rng and --blk\n");
        rt_exit(1);
    }
    err = blk_init();
    if (err == 0)
        err = blk_read0() == 0 ? 0 : VIRTIO_ERR_DEVICE;
    if (err) {
        rt_puts("hostile: the blk device does not work to begin with: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        rt_exit(1);
    }
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (victim_init(cases[i].name))
            cases[i].run(cases[i].name);
        check_health(cases[i].name);
    }
    victim_works();
    rt_puts("hostile: done\n");
    if (!all_ok)
        rt_exit(1);
    return 0;
}
