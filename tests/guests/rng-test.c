/*
 * virtio-rng end to end: four requests of 32 bytes on queue 0, each printed
 * as `rng: <64 hex digits>`. A device may fill less than asked (used len),
 * so each request is topped up until its 32 bytes are in.
 */
#include "rt.h"
#include "virtio.h"

#define REQUESTS 4
#define BYTES 32u
#define QUEUE_SIZE 16u

static struct virtq rq;
static uint8_t pool[BYTES];

static void fill(const struct virtio_dev *dev, uint8_t *buf, uint32_t n)
{
    uint32_t got = 0, len;
    int tries = 0;

    while (got < n) {
        struct virtio_buf b = {(uint64_t)(unsigned long)(buf + got), n - got, 1};
        if (++tries > 64 || virtq_add(&rq, &b, 1, 0) < 0) {
            rt_puts("rng-test: device keeps returning no bytes\n");
            rt_exit(1);
        }
        virtq_kick(dev, &rq);
        virtq_wait(dev, &rq, &len, 0);
        if (len > n - got) {
            rt_puts("rng-test: used len larger than the buffer\n");
            rt_exit(1);
        }
        got += len;
    }
}

int main(const void *dtb)
{
    struct virtio_dev dev;
    struct virtq *queues[] = {&rq};
    int i, err;

    if (virtio_find(dtb, VIRTIO_ID_RNG, 0, &dev) != 0) {
        rt_puts("rng-test: no rng device\n");
        rt_exit(1);
    }
    err = virtio_init(&dev, VIRTIO_F_VERSION_1, queues, 1, QUEUE_SIZE);
    if (err) {
        rt_puts("rng-test: init: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        rt_exit(1);
    }
    for (i = 0; i < REQUESTS; i++) {
        fill(&dev, pool, BYTES);
        rt_puts("rng: ");
        rt_put_hexbytes(pool, BYTES);
        rt_puts("\n");
    }
    rt_puts("rng-test: done\n");
    return 0;
}
