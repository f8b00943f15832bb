/*
 * A driver that never lets its rng device rest (issue 13: one io_context
 * thread, monopolised), in one of two modes.
 *
 * The rng queue is as long as the device allows (QSIZE). Head i is
 * descriptor i, an INDIRECT descriptor to one table of PIECES writable
 * buffers of PIECE_BYTES over one shared pool (the bytes are never looked
 * at; few pages, as a page first touched costs a VM exit): a chain as long
 * as the queue allows, so each one costs the device a long walk and PIECES
 * copies, while giving it back to the device costs the guest two stores.
 *
 *   desc[0..QSIZE-1] --INDIRECT--> table[0] -> table[1] -> ... -> table[PIECES-1]
 *                                   pool + 0    + 16              + 16*(PIECES-1)
 *
 * The guest asks for no interrupts (AVAIL_F_NO_INTERRUPT) and, while the
 * device works, touches no rng register but QueueNotify (an ioeventfd): any
 * other access would wait for the device and give it a rest.
 *
 * Flood (`--rng`, optionally `--console virtio`; no bootargs): every head is
 * in flight all the time; each one the device returns goes straight back,
 * with a kick only when all had come back (the device may have stopped) or
 * none for KICK_MS. A device that loops while its ring is not empty never
 * gets back to anything else, as long as vCPU 0 runs alongside it. Prints on
 * the UART (no io thread involved)
 *   "rng-flood: flooding" once the first head came back,
 * and with a virtio console, FLOOD_MS later and without pausing, sends
 * through it (served on the io thread)
 *   "rng-flood: console heard while flooding".
 * It never powers off: the VMM must still stop it (a signal, Ctrl-A x).
 *
 * Bursts (`--rng --blk FILE`, bootargs bursts=<n>): see bursts(). The same
 * question, answered whatever the scheduling; powers off with 0.
 *
 * A device that stops returning heads for STALL_MS, returns one it was not
 * given or needs a reset ends the guest with 1 and a line that says so.
 */
#include "rt.h"
#include "virtio.h"

#define QSIZE 256u
#define PIECES QSIZE
#define PIECE_BYTES 16u /* PIECES * PIECE_BYTES = 4096, what strata's rng fills per chain */
#define AVAIL_F_NO_INTERRUPT 1u
#define FLOOD_MS 300u
#define KICK_MS 2u
#define STALL_MS 5000u
#define CONSOLE_QUEUE 16u
#define BLK_QUEUE 16u
#define BLK_T_IN 0u
#define BLK_T_GET_ID 8u
#define SECTOR 512u
#define ID_BYTES 20u

/* The split ring of QSIZE entries (the runtime's struct virtq holds at most VIRTQ_MAX). */
static struct virtq_desc desc[QSIZE] __attribute__((aligned(4096)));
static struct {
    uint16_t flags, idx, ring[QSIZE], used_event;
} avail __attribute__((aligned(4096)));
static struct {
    uint16_t flags, idx;
    struct virtq_used_elem ring[QSIZE];
    uint16_t avail_event;
} used __attribute__((aligned(4096)));
static struct virtq_desc table[PIECES] __attribute__((aligned(16)));
static uint8_t pool[PIECES * PIECE_BYTES];

static struct virtio_dev rng, con, blk;
static struct virtq con_rx, con_tx, bq;
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} blk_hdr;
static uint8_t blk_status, blk_id[ID_BYTES], sector0[SECTOR];
static uint16_t avail_idx, last_used;
static const char note[] = "rng-flood: console heard while flooding\n";

static _Noreturn void fatal(const char *what, int err)
{
    virtio_fatal("rng-flood", what, err);
}

static void write_addr(unsigned low, const void *p)
{
    unsigned long long a = (unsigned long long)(unsigned long)p;
    virtio_write(&rng, low, (uint32_t)a);
    virtio_write(&rng, low + 4, (uint32_t)(a >> 32));
}

/* Negotiation, the QSIZE-entry queue 0 with every chain built, DRIVER_OK. */
static void setup_rng(void)
{
    unsigned i, k;
    int err = virtio_negotiate(&rng, VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC);

    if (err)
        fatal("rng features", err);
    if (!(rng.features & VIRTIO_F_INDIRECT_DESC))
        fatal("the rng device does not offer INDIRECT_DESC", 0);
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_SEL, 0);
    if (virtio_read(&rng, VIRTIO_MMIO_QUEUE_NUM_MAX) < QSIZE)
        fatal("the rng queue is shorter than 256 entries", 0);
    for (k = 0; k < PIECES; k++) {
        table[k].addr = (uint64_t)(unsigned long)&pool[k * PIECE_BYTES];
        table[k].len = PIECE_BYTES;
        table[k].flags = (uint16_t)(VIRTQ_DESC_F_WRITE | (k + 1 < PIECES ? VIRTQ_DESC_F_NEXT : 0));
        table[k].next = (uint16_t)(k + 1 < PIECES ? k + 1 : 0);
    }
    for (i = 0; i < QSIZE; i++) {
        desc[i].addr = (uint64_t)(unsigned long)table;
        desc[i].len = sizeof table;
        desc[i].flags = VIRTQ_DESC_F_INDIRECT;
    }
    avail.flags = AVAIL_F_NO_INTERRUPT;
    rt_barrier();
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    write_addr(VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
    write_addr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, &avail);
    write_addr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, &used);
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_READY, 1);
    if (virtio_read(&rng, VIRTIO_MMIO_QUEUE_READY) != 1)
        fatal("the rng queue was not accepted", 0);
    virtio_driver_ok(&rng);
    if (virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET)
        fatal("rng init", VIRTIO_ERR_NEEDS_RESET);
}

static void kick(void)
{
    rt_barrier(); /* avail.idx before the notification */
    virtio_write(&rng, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/*
 * Puts every head the device returned back into the avail ring; how many.
 * Kicks when the device had returned them all: it may have gone idle.
 */
static unsigned refill(void)
{
    uint16_t end = *(volatile uint16_t *)&used.idx;
    unsigned n = 0;

    if ((uint16_t)(end - last_used) > QSIZE)
        fatal("the rng device moved used.idx past what was in flight", 0);
    rt_barrier(); /* the index before the elements it publishes */
    for (; last_used != end; last_used++, n++) {
        uint32_t id = ((volatile struct virtq_used_elem *)&used.ring[last_used % QSIZE])->id;
        if (id >= QSIZE)
            fatal("the rng device returned a head past the queue", 0);
        avail.ring[avail_idx % QSIZE] = (uint16_t)id;
        avail_idx++;
    }
    if (n == 0)
        return 0;
    rt_barrier(); /* ring entries before the index */
    *(volatile uint16_t *)&avail.idx = avail_idx;
    if ((uint16_t)(avail_idx - last_used) == n)
        kick();
    return n;
}

static uint16_t used_idx(void)
{
    rt_barrier(); /* program order: after whatever was read before */
    return *(volatile uint16_t *)&used.idx;
}

/* Makes all QSIZE heads available again (the avail ring already names them in order) and kicks. */
static void offer_all(void)
{
    avail_idx = (uint16_t)(avail_idx + QSIZE);
    rt_barrier();
    *(volatile uint16_t *)&avail.idx = avail_idx;
    kick();
}

static void wait_used(uint16_t start, unsigned at_least, const char *what)
{
    unsigned long long deadline = rt_deadline_ms(STALL_MS);
    while ((uint16_t)(used_idx() - start) < at_least)
        if (rt_expired(deadline))
            fatal(what, 0);
}

/*
 * bursts=<n>: n times, all QSIZE heads at once and, right after that kick,
 * a blk GET_ID whose data buffer is the first ID_BYTES of the pool every rng
 * chain fills. Whoever writes there last leaves its bytes:
 * the device id if the blk request was served after the burst, random bytes
 * if it was served before the burst was done. A device that drains the ring
 * in one turn always serves the blk request after, however the threads are
 * scheduled (it was kicked second); one that pops a budget per turn lets it
 * in between whenever the second kick arrives before the last turn, which
 * is every time when the vCPU and the io thread run on CPUs of their own.
 * So that the host can arrange that first, it prints
 *   "rng-flood: waiting for the host"
 * and starts only once the first byte of the disk is not 0. Then it prints
 *   "rng-flood: blk served mid-burst in <k> of <n> bursts"
 * and powers off.
 */
static void blk_start(uint32_t type, void *into, uint32_t len)
{
    struct virtio_buf b[3] = {{(uint64_t)(unsigned long)&blk_hdr, sizeof blk_hdr, 0},
                              {(uint64_t)(unsigned long)into, len, 1},
                              {(uint64_t)(unsigned long)&blk_status, 1, 1}};
    blk_hdr.type = type;
    blk_hdr.sector = 0;
    blk_status = 0xff;
    if (virtq_add(&bq, b, 3, 0) < 0)
        fatal("blk queue full", 0);
    virtq_kick(&blk, &bq);
}

static void blk_done(void)
{
    virtq_wait(&blk, &bq, 0, 0);
    if (*(volatile uint8_t *)&blk_status != 0)
        fatal("a blk request failed", 0);
}

static void wait_for_the_host(void)
{
    unsigned long long deadline = rt_deadline_ms(STALL_MS * 2);
    rt_puts("rng-flood: waiting for the host\n");
    for (;;) {
        blk_start(BLK_T_IN, sector0, SECTOR);
        blk_done();
        if (((volatile uint8_t *)sector0)[0] != 0)
            return;
        if (rt_expired(deadline))
            fatal("the host never wrote the first byte of the disk", 0);
        rt_delay_us(1000);
    }
}

static void bursts(unsigned long long n)
{
    unsigned long long round, mid = 0;
    unsigned k;

    blk_start(BLK_T_GET_ID, blk_id, ID_BYTES); /* the reference */
    blk_done();
    wait_for_the_host();
    for (round = 0; round < n; round++) {
        const uint16_t start = last_used;
        offer_all();
        blk_start(BLK_T_GET_ID, pool, ID_BYTES);
        blk_done();
        wait_used(start, QSIZE, "the rng device never finished a burst");
        last_used = (uint16_t)(start + QSIZE);
        for (k = 0; k < ID_BYTES && ((volatile uint8_t *)pool)[k] == blk_id[k]; k++)
            ;
        if (k < ID_BYTES)
            mid++;
    }
    rt_puts("rng-flood: blk served mid-burst in ");
    rt_put_u64(mid);
    rt_puts(" of ");
    rt_put_u64(n);
    rt_puts(" bursts\n");
}

static _Noreturn void flood(int has_console)
{
    unsigned long long stall, nudge, note_at = 0;

    offer_all();
    stall = rt_deadline_ms(STALL_MS);
    while (!refill()) {
        if (rt_expired(stall))
            fatal("the rng device never returned a head", 0);
        rt_relax();
    }
    rt_puts("rng-flood: flooding\n");
    if (has_console)
        note_at = rt_deadline_ms(FLOOD_MS);

    stall = rt_deadline_ms(STALL_MS);
    nudge = rt_deadline_ms(KICK_MS);
    for (;;) {
        if (refill()) {
            stall = rt_deadline_ms(STALL_MS);
            nudge = rt_deadline_ms(KICK_MS);
        } else if (rt_expired(stall)) {
            fatal(virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET ? "the rng device needs a reset"
                                                                   : "the rng device stopped returning heads",
                  0);
        } else if (rt_expired(nudge)) {
            /* it saw an empty ring just before the last refill: wake it */
            kick();
            nudge = rt_deadline_ms(KICK_MS);
        }
        if (note_at && rt_expired(note_at)) {
            struct virtio_buf b = {(uint64_t)(unsigned long)note, sizeof note - 1, 0};
            if (virtq_add(&con_tx, &b, 1, 0) < 0)
                fatal("console queue full", 0);
            virtq_kick(&con, &con_tx);
            note_at = 0; /* once; its completion is never waited for */
        }
    }
}

int main(const void *dtb)
{
    struct virtq *con_queues[] = {&con_rx, &con_tx};
    struct virtq *blk_queues[] = {&bq};
    unsigned long long rounds;
    int has_console, err;
    unsigned i;

    if (virtio_find(dtb, VIRTIO_ID_RNG, 0, &rng) != 0)
        fatal("no rng device", 0);
    has_console = virtio_find(dtb, VIRTIO_ID_CONSOLE, 0, &con) == 0;
    if (has_console) {
        err = virtio_init(&con, VIRTIO_F_VERSION_1, con_queues, 2, CONSOLE_QUEUE);
        if (err)
            fatal("console init", err);
    }
    setup_rng();
    for (i = 0; i < QSIZE; i++)
        avail.ring[i] = (uint16_t)i;

    err = rt_bootarg_u64(rt_bootargs(dtb), "bursts", &rounds);
    if (err == -1)
        flood(has_console);
    if (err != 0 || rounds == 0)
        fatal("bursts wants a count", 0);
    if (virtio_find(dtb, VIRTIO_ID_BLK, 0, &blk) != 0)
        fatal("bursts needs a blk device", 0);
    err = virtio_init(&blk, VIRTIO_F_VERSION_1, blk_queues, 1, BLK_QUEUE);
    if (err)
        fatal("blk init", err);
    bursts(rounds);
    return 0;
}
