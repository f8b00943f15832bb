/*
 * virtio-blk end to end, on every blk device in DTB order (blk0, blk1, ...):
 * capacity, GET_ID, then on a read-only disk a refused write and a read of
 * sector 0, on a writable one a pattern written in 4 KiB requests, FLUSH,
 * and read back; finally a read at the capacity, which must fail.
 *   bootargs: seed=<n> (default 1), sectors=<k> (default 64), rounds=<r>
 *             (default 1: each device is tested r times, reset in between)
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

static struct virtq bq;
static struct blk_req_hdr hdr;
static uint8_t status;
static uint8_t data[CHUNK_SECTORS * SECTOR] __attribute__((aligned(4096)));

static unsigned long long seed = 1, sectors = 64, rounds = 1;
static unsigned cur; /* device index, for messages */

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
    unsigned long long k = sectors < capacity ? sectors : capacity, s;
    unsigned st, i;

    for (s = 0; s < k; s += CHUNK_SECTORS) {
        unsigned n = (unsigned)(k - s < CHUNK_SECTORS ? k - s : CHUNK_SECTORS);
        for (i = 0; i < n * SECTOR; i++)
            data[i] = pattern(s * SECTOR + i);
        st = request(dev, BLK_T_OUT, s, data, n * SECTOR);
        if (st != BLK_S_OK) {
            fail_status("write", s, st);
            return 0;
        }
    }
    if (!(dev->features & VIRTIO_BLK_F_FLUSH)) {
        prefix();
        rt_puts("FAIL flush not offered\n");
        return 0;
    }
    st = request(dev, BLK_T_FLUSH, 0, 0, 0);
    if (st != BLK_S_OK) {
        prefix();
        rt_puts("FAIL flush status ");
        rt_put_u64(st);
        rt_puts("\n");
        return 0;
    }
    for (s = 0; s < k; s += CHUNK_SECTORS) {
        unsigned n = (unsigned)(k - s < CHUNK_SECTORS ? k - s : CHUNK_SECTORS);
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
    prefix();
    rt_puts("wrote ");
    rt_put_u64(k);
    rt_puts(" sectors, flushed, verified\n");
    return 1;
}

static int test_device(struct virtio_dev *dev)
{
    struct virtq *queues[] = {&bq};
    unsigned long long capacity;
    unsigned st, i;
    int ok = 1, err;

    err = virtio_init(dev, VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_FLUSH, queues, 1,
                      QUEUE_SIZE);
    if (err) {
        prefix();
        rt_puts("FAIL init: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        return 0;
    }
    capacity = virtio_config64(dev, 0);
    prefix();
    rt_puts("capacity ");
    rt_put_u64(capacity);
    rt_puts(" sectors\n");

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

int main(const void *dtb)
{
    const char *bootargs = rt_bootargs(dtb);
    struct virtio_dev dev;
    int ok = 1;

    seed = arg(bootargs, "seed", 1);
    sectors = arg(bootargs, "sectors", 64);
    rounds = arg(bootargs, "rounds", 1);
    for (cur = 0; virtio_find(dtb, VIRTIO_ID_BLK, cur, &dev) == 0; cur++)
        for (unsigned long long r = 0; r < rounds; r++)
            ok &= test_device(&dev);
    if (cur == 0) {
        rt_puts("blk-test: no blk device\n");
        rt_exit(1);
    }
    rt_puts("blk-test: done\n");
    if (!ok)
        rt_exit(1);
    return 0;
}
