/*
 * virtio-blk end to end, on every blk device in DTB order (blk0, blk1, ...):
 * capacity, GET_ID, then on a read-only disk a refused write and a read of
 * sector 0, on a writable one a pattern written in 4 KiB requests, FLUSH,
 * and read back; finally a read at the capacity, which must fail.
 *   bootargs: seed=<n> (default 1), sectors=<k> (default 64), rounds=<r>
 *             (default 1: each device is tested r times, reset in between),
 *             rng=<n> (default 0: at the end, n draws of 32 bytes from the
 *             rng device, each printed as `rng: <64 hex digits>`),
 *             mode=<m>: check (the default, the above) or one of the modes
 *             below, for tests that act on blk0's host file while the guest
 *             runs (blk0 alone; the pattern is written in 4 KiB requests,
 *             each waited for, and k is at most half the capacity):
 *     flush-then-wait  the pattern on sectors [0, k), FLUSH, then
 *                      "blk0: wrote k sectors, flushed"; the pattern on
 *                      [k, 2k) with no FLUSH, "blk0: wrote k more sectors,
 *                      not flushed"; then spins for the host to kill the VM
 *                      (fails after 60 s)
 *     shrink           the pattern on [0, k), FLUSH, "blk0: wrote k sectors,
 *                      flushed, waiting for the disk to shrink"; reads the
 *                      last sector until that fails (the host truncated the
 *                      file, to at least 2k sectors), which must be with
 *                      IOERR; then [0, k) must read back and the last sector
 *                      fail again
 *     read-only        the pattern on [0, k), FLUSH, "blk0: wrote k sectors,
 *                      flushed, waiting for the disk to turn read-only";
 *                      rewrites sector 0 until that fails, which must be with
 *                      IOERR; then FLUSH must fail with IOERR and [0, k) read
 *                      back
 *             A wait for the host gives up after 10 s.
 *   pattern:  disk byte o of device i holds (o * 31 + seed + i) & 0xff
 */
#include "rt.h"
#include "virtio.h"

#define QUEUE_SIZE 16u
#define SECTOR 512u
#define CHUNK_SECTORS 8u
#define ID_BYTES 20u

#define VIRTIO_BLK_F_RO VIRTIO_F_BIT(5)
#define VIRTIO_BLK_F_FLUSH VIRTIO_F_BIT(9)

#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u
#define BLK_T_GET_ID 8u

#define BLK_S_OK 0u
#define BLK_S_IOERR 1u

struct blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct virtq bq, rq;
static struct blk_req_hdr hdr;
static uint8_t status;
static uint8_t data[CHUNK_SECTORS * SECTOR] __attribute__((aligned(4096)));

static unsigned long long seed = 1, sectors = 64, rounds = 1, rng_draws = 0;
static unsigned cur; /* device index, for messages */

enum mode { MODE_CHECK, MODE_FLUSH_THEN_WAIT, MODE_SHRINK, MODE_READ_ONLY };

static void prefix(void)
{
    rt_puts("blk");
    rt_put_u64(cur);
    rt_puts(": ");
}

/*
 * One request: header, optional data (device-writable for IN and GET_ID),
 * status byte. Returns the status the device wrote (0xff if it wrote none).
 */
static unsigned request(const struct virtio_dev *dev, uint32_t type, uint64_t sector, void *buf,
                        uint32_t len)
{
    struct virtio_buf b[3];
    unsigned n = 0;
    int to_guest = type == BLK_T_IN || type == BLK_T_GET_ID;

    hdr.type = type;
    hdr.reserved = 0;
    hdr.sector = sector;
    status = 0xff;
    b[n++] = (struct virtio_buf){(uint64_t)(unsigned long)&hdr, sizeof hdr, 0};
    if (len)
        b[n++] = (struct virtio_buf){(uint64_t)(unsigned long)buf, len, to_guest};
    b[n++] = (struct virtio_buf){(uint64_t)(unsigned long)&status, 1, 1};
    if (virtq_add(&bq, b, n, 0) < 0) {
        prefix();
        rt_puts("FAIL no free descriptors\n");
        rt_exit(1);
    }
    virtq_kick(dev, &bq);
    virtq_wait(dev, &bq, 0, 0);
    return *(volatile uint8_t *)&status;
}

static uint8_t pattern(unsigned long long off)
{
    return (uint8_t)((off * 31u + seed + cur) & 0xffu);
}

static void fail_status(const char *what, unsigned long long sector, unsigned st)
{
    prefix();
    rt_puts("FAIL ");
    rt_puts(what);
    rt_puts(" at sector ");
    rt_put_u64(sector);
    rt_puts(" status ");
    rt_put_u64(st);
    rt_puts("\n");
}

/* One OUT request of the pattern on sectors [s, s + n), n <= CHUNK_SECTORS; its status. */
static unsigned write_sectors(const struct virtio_dev *dev, unsigned long long s, unsigned n)
{
    unsigned i;

    for (i = 0; i < n * SECTOR; i++)
        data[i] = pattern(s * SECTOR + i);
    return request(dev, BLK_T_OUT, s, data, n * SECTOR);
}

static unsigned chunk(unsigned long long s, unsigned long long end)
{
    return (unsigned)(end - s < CHUNK_SECTORS ? end - s : CHUNK_SECTORS);
}

/* The pattern on sectors [first, first + k), one request at a time. */
static int write_pattern(const struct virtio_dev *dev, unsigned long long first, unsigned long long k)
{
    unsigned long long s;
    unsigned st;

    for (s = first; s < first + k; s += CHUNK_SECTORS) {
        st = write_sectors(dev, s, chunk(s, first + k));
        if (st != BLK_S_OK) {
            fail_status("write", s, st);
            return 0;
        }
    }
    return 1;
}

/* FLUSH's status, or 0xff (with a message) when the device does not offer it. */
static unsigned flush(const struct virtio_dev *dev)
{
    if (!(dev->features & VIRTIO_BLK_F_FLUSH)) {
        prefix();
        rt_puts("FAIL flush not offered\n");
        return 0xff;
    }
    return request(dev, BLK_T_FLUSH, 0, 0, 0);
}

static int flush_ok(const struct virtio_dev *dev)
{
    unsigned st = flush(dev);
    if (st == BLK_S_OK)
        return 1;
    if (dev->features & VIRTIO_BLK_F_FLUSH) { /* else flush() said so */
        prefix();
        rt_puts("FAIL flush status ");
        rt_put_u64(st);
        rt_puts("\n");
    }
    return 0;
}

/* Sectors [first, first + k) read back as the pattern. */
static int verify(const struct virtio_dev *dev, unsigned long long first, unsigned long long k)
{
    unsigned long long s;
    unsigned st, i, n;

    for (s = first; s < first + k; s += CHUNK_SECTORS) {
        n = chunk(s, first + k);
        for (i = 0; i < n * SECTOR; i++)
            data[i] = (uint8_t)~pattern(s * SECTOR + i); /* stale data must not pass */
        st = request(dev, BLK_T_IN, s, data, n * SECTOR);
        if (st != BLK_S_OK) {
            fail_status("read", s, st);
            return 0;
        }
        for (i = 0; i < n * SECTOR; i++) {
            if (data[i] != pattern(s * SECTOR + i)) {
                prefix();
                rt_puts("FAIL verify at offset ");
                rt_put_u64(s * SECTOR + i);
                rt_puts("\n");
                return 0;
            }
        }
    }
    return 1;
}

static int read_only(const struct virtio_dev *dev)
{
    unsigned st;
    int ok = 1;
    unsigned i;

    for (i = 0; i < SECTOR; i++)
        data[i] = 0xa5;
    st = request(dev, BLK_T_OUT, 0, data, SECTOR);
    prefix();
    if (st == BLK_S_IOERR) {
        rt_puts("read-only, write refused\n");
    } else {
        rt_puts("FAIL read-only write got status ");
        rt_put_u64(st);
        rt_puts("\n");
        ok = 0;
    }
    st = request(dev, BLK_T_IN, 0, data, SECTOR);
    if (st != BLK_S_OK) {
        fail_status("read", 0, st);
        return 0;
    }
    prefix();
    rt_puts("sector0 ");
    rt_put_hexbytes(data, 8);
    rt_puts("\n");
    return ok;
}

static int read_write(const struct virtio_dev *dev, unsigned long long capacity)
{
    unsigned long long k = sectors < capacity ? sectors : capacity;

    if (!write_pattern(dev, 0, k) || !flush_ok(dev) || !verify(dev, 0, k))
        return 0;
    prefix();
    rt_puts("wrote ");
    rt_put_u64(k);
    rt_puts(" sectors, flushed, verified\n");
    return 1;
}

/* Negotiates (with RO and FLUSH offered) and prints the capacity; 0 on failure. */
static int open_device(struct virtio_dev *dev, unsigned long long *capacity)
{
    struct virtq *queues[] = {&bq};
    int err = virtio_init(dev, VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_FLUSH, queues, 1,
                          QUEUE_SIZE);
    if (err) {
        prefix();
        rt_puts("FAIL init: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        return 0;
    }
    *capacity = virtio_config64(dev, 0);
    prefix();
    rt_puts("capacity ");
    rt_put_u64(*capacity);
    rt_puts(" sectors\n");
    return 1;
}

static int test_device(struct virtio_dev *dev)
{
    unsigned long long capacity;
    unsigned st, i;
    int ok = 1;

    if (!open_device(dev, &capacity))
        return 0;
    for (i = 0; i < ID_BYTES; i++)
        data[i] = 0;
    st = request(dev, BLK_T_GET_ID, 0, data, ID_BYTES);
    prefix();
    if (st == BLK_S_OK) {
        rt_puts("id ");
        for (i = 0; i < ID_BYTES && data[i]; i++)
            rt_putc(data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?');
        rt_puts("\n");
    } else {
        rt_puts("FAIL get-id status ");
        rt_put_u64(st);
        rt_puts("\n");
        ok = 0;
    }

    if (dev->offered & VIRTIO_BLK_F_RO)
        ok &= read_only(dev);
    else
        ok &= read_write(dev, capacity);

    st = request(dev, BLK_T_IN, capacity, data, SECTOR);
    prefix();
    if (st == BLK_S_IOERR) {
        rt_puts("read past end refused\n");
    } else {
        rt_puts("FAIL read past end got status ");
        rt_put_u64(st);
        rt_puts("\n");
        ok = 0;
    }
    virtio_reset(dev);
    return ok;
}

/* The modes' first step: the pattern on [0, k), flushed, and the line saying so. */
static int write_and_flush(const struct virtio_dev *dev, unsigned long long capacity, const char *then)
{
    if (sectors == 0 || sectors > capacity / 2) {
        prefix();
        rt_puts("FAIL sectors= must be between 1 and half the capacity\n");
        return 0;
    }
    if (!write_pattern(dev, 0, sectors) || !flush_ok(dev))
        return 0;
    prefix();
    rt_puts("wrote ");
    rt_put_u64(sectors);
    rt_puts(" sectors, flushed");
    rt_puts(then);
    rt_puts("\n");
    return 1;
}

static void say_sectors_read_back(void)
{
    prefix();
    rt_puts("sectors 0-");
    rt_put_u64(sectors - 1);
    rt_puts(" still read back\n");
}

/*
 * The host acts on the disk at a moment the guest cannot see: repeat a
 * request (read the last sector, or rewrite sector 0) until it stops
 * succeeding. Returns the first other status, or OK after 10 s.
 */
static unsigned until_failure(const struct virtio_dev *dev, int write, unsigned long long sector)
{
    unsigned long long deadline = rt_deadline_ms(10000);
    unsigned st;

    do {
        st = write ? write_sectors(dev, sector, 1) : request(dev, BLK_T_IN, sector, data, SECTOR);
        if (st != BLK_S_OK)
            return st;
        rt_delay_us(1000);
    } while (!rt_expired(deadline));
    return BLK_S_OK;
}

static int expect_ioerr(const char *what, unsigned long long sector, unsigned st, const char *after)
{
    prefix();
    if (st == BLK_S_OK) {
        rt_puts("FAIL ");
        rt_puts(what);
        rt_puts(" kept succeeding for 10 s: the host did not act\n");
        return 0;
    }
    if (st != BLK_S_IOERR) {
        rt_puts("FAIL ");
        rt_puts(what);
        rt_puts(" got status ");
        rt_put_u64(st);
        rt_puts(" instead of IOERR\n");
        return 0;
    }
    rt_puts(what);
    rt_puts(" of sector ");
    rt_put_u64(sector);
    rt_puts(" failed with IOERR ");
    rt_puts(after);
    rt_puts("\n");
    return 1;
}

static int flush_then_wait(const struct virtio_dev *dev, unsigned long long capacity)
{
    unsigned long long deadline;

    if (!write_and_flush(dev, capacity, "") || !write_pattern(dev, sectors, sectors))
        return 0;
    prefix();
    rt_puts("wrote ");
    rt_put_u64(sectors);
    rt_puts(" more sectors, not flushed\n");
    deadline = rt_deadline_ms(60000);
    while (!rt_expired(deadline))
        rt_relax();
    prefix();
    rt_puts("FAIL the host did not stop the VM within 60 s\n");
    return 0;
}

static int shrink(const struct virtio_dev *dev, unsigned long long capacity)
{
    const unsigned long long last = capacity - 1;
    unsigned st;

    if (!write_and_flush(dev, capacity, ", waiting for the disk to shrink"))
        return 0;
    st = until_failure(dev, 0, last);
    if (!expect_ioerr("read", last, st, "after the shrink") || !verify(dev, 0, sectors))
        return 0;
    st = request(dev, BLK_T_IN, last, data, SECTOR);
    if (st != BLK_S_IOERR) {
        fail_status("read past the shrunk end", last, st);
        return 0;
    }
    say_sectors_read_back();
    return 1;
}

static int turns_read_only(const struct virtio_dev *dev, unsigned long long capacity)
{
    unsigned st;

    if (!write_and_flush(dev, capacity, ", waiting for the disk to turn read-only"))
        return 0;
    st = until_failure(dev, 1, 0);
    if (!expect_ioerr("write", 0, st, "after the disk turned read-only"))
        return 0;
    st = flush(dev);
    prefix();
    if (st != BLK_S_IOERR) {
        rt_puts("FAIL flush on the read-only disk got status ");
        rt_put_u64(st);
        rt_puts("\n");
        return 0;
    }
    rt_puts("flush failed with IOERR\n");
    if (!verify(dev, 0, sectors))
        return 0;
    say_sectors_read_back();
    return 1;
}

static int run_mode(struct virtio_dev *dev, enum mode mode)
{
    unsigned long long capacity;

    if (!open_device(dev, &capacity))
        return 0;
    switch (mode) {
    case MODE_FLUSH_THEN_WAIT: return flush_then_wait(dev, capacity);
    case MODE_SHRINK: return shrink(dev, capacity);
    case MODE_READ_ONLY: return turns_read_only(dev, capacity);
    default: return 0;
    }
}

/* n draws of 32 bytes from the first rng device, each topped up until full. */
static int draw_rng(const void *dtb, unsigned long long n)
{
    struct virtq *queues[] = {&rq};
    struct virtio_dev dev;
    uint8_t pool[32];
    uint32_t got, len;
    int err, tries;

    if (virtio_find(dtb, VIRTIO_ID_RNG, 0, &dev) != 0) {
        rt_puts("rng: FAIL no rng device\n");
        return 0;
    }
    err = virtio_init(&dev, VIRTIO_F_VERSION_1, queues, 1, QUEUE_SIZE);
    if (err) {
        rt_puts("rng: FAIL init: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        return 0;
    }
    while (n--) {
        for (got = 0, tries = 0; got < sizeof pool; got += len) {
            struct virtio_buf b = {(uint64_t)(unsigned long)(pool + got), (uint32_t)sizeof pool - got, 1};
            if (++tries > 64 || virtq_add(&rq, &b, 1, 0) < 0) {
                rt_puts("rng: FAIL the device keeps returning no bytes\n");
                return 0;
            }
            virtq_kick(&dev, &rq);
            virtq_wait(&dev, &rq, &len, 0);
            if (len > sizeof pool - got) {
                rt_puts("rng: FAIL used len larger than the buffer\n");
                return 0;
            }
        }
        rt_puts("rng: ");
        rt_put_hexbytes(pool, sizeof pool);
        rt_puts("\n");
    }
    virtio_reset(&dev);
    return 1;
}

static unsigned long long arg(const char *bootargs, const char *key, unsigned long long dflt)
{
    unsigned long long v;
    int err = rt_bootarg_u64(bootargs, key, &v);
    if (err == -2) {
        rt_puts("blk-test: ");
        rt_puts(key);
        rt_puts("= must be a decimal or 0x-hex number\n");
        rt_exit(2);
    }
    return err == 0 ? v : dflt;
}

static int is(const char *value, unsigned long len, const char *word)
{
    unsigned long i;

    for (i = 0; i < len && word[i] && value[i] == word[i]; i++)
        ;
    return i == len && word[i] == 0;
}

static enum mode parse_mode(const char *bootargs)
{
    unsigned long len;
    const char *m = rt_bootarg(bootargs, "mode", &len);

    if (!m || is(m, len, "check"))
        return MODE_CHECK;
    if (is(m, len, "flush-then-wait"))
        return MODE_FLUSH_THEN_WAIT;
    if (is(m, len, "shrink"))
        return MODE_SHRINK;
    if (is(m, len, "read-only"))
        return MODE_READ_ONLY;
    rt_puts("blk-test: mode= must be check, flush-then-wait, shrink or read-only\n");
    rt_exit(2);
}

int main(const void *dtb)
{
    const char *bootargs = rt_bootargs(dtb);
    const enum mode mode = parse_mode(bootargs);
    struct virtio_dev dev;
    int ok = 1;

    seed = arg(bootargs, "seed", 1);
    sectors = arg(bootargs, "sectors", 64);
    rounds = arg(bootargs, "rounds", 1);
    rng_draws = arg(bootargs, "rng", 0);
    if (mode != MODE_CHECK) {
        if (virtio_find(dtb, VIRTIO_ID_BLK, 0, &dev) != 0) {
            rt_puts("blk-test: no blk device\n");
            rt_exit(1);
        }
        ok = run_mode(&dev, mode);
    } else {
        for (cur = 0; virtio_find(dtb, VIRTIO_ID_BLK, cur, &dev) == 0; cur++)
            for (unsigned long long r = 0; r < rounds; r++)
                ok &= test_device(&dev);
        if (cur == 0) {
            rt_puts("blk-test: no blk device\n");
            rt_exit(1);
        }
    }
    if (rng_draws)
        ok &= draw_rng(dtb, rng_draws);
    rt_puts("blk-test: done\n");
    if (!ok)
        rt_exit(1);
    return 0;
}
