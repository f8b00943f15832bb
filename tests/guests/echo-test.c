/*
 * The tests-only device test-echo (tests/plugin) end to end: sends a message
 * on queue 0, takes it back on queue 1 XORed with the device's pattern,
 * undoes the XOR with `xor=` from the command line and checks it, then reads
 * the device's byte count from its config space:
 *   echo-test: back "<message>" (<n> bytes)
 *   echo-test: count <n>
 */
#include "rt.h"
#include "virtio.h"

#define ECHO_DEVICE_ID 0x7e57u
#define QUEUE_SIZE 8u

static struct virtq inq, outq;
static char message[] = "hello from a plugin";
static char back[64];

int main(const void *dtb)
{
    struct virtio_dev dev;
    struct virtq *queues[] = {&inq, &outq};
    unsigned long long pattern = 0;
    uint32_t len = 0, i, n = sizeof message - 1;
    int err;

    if (rt_bootarg_u64(rt_bootargs(dtb), "xor", &pattern) == -2 || pattern > 255) {
        rt_puts("echo-test: xor= must be a byte\n");
        return 2;
    }
    if (virtio_find(dtb, ECHO_DEVICE_ID, 0, &dev) != 0) {
        rt_puts("echo-test: no test-echo device\n");
        return 1;
    }
    err = virtio_init(&dev, VIRTIO_F_VERSION_1, queues, 2, QUEUE_SIZE);
    if (err) {
        rt_puts("echo-test: init: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        return 1;
    }
    struct virtio_buf out = {(uint64_t)(unsigned long)message, n, 0};
    struct virtio_buf in = {(uint64_t)(unsigned long)back, sizeof back, 1};
    if (virtq_add(&outq, &in, 1, 0) < 0 || virtq_add(&inq, &out, 1, 0) < 0) {
        rt_puts("echo-test: cannot post buffers\n");
        return 1;
    }
    virtq_kick(&dev, &outq);
    virtq_kick(&dev, &inq);
    virtq_wait(&dev, &inq, &len, 0);
    virtq_wait(&dev, &outq, &len, 0);
    if (len != n) {
        rt_puts("echo-test: wrong length back\n");
        return 1;
    }
    for (i = 0; i < len; i++)
        back[i] = (char)(back[i] ^ (char)pattern);
    back[len] = 0;
    rt_puts("echo-test: back \"");
    rt_puts(back);
    rt_puts("\" (");
    rt_put_u64(len);
    rt_puts(" bytes)\n");
    rt_puts("echo-test: count ");
    rt_put_u64(virtio_config32(&dev, 0));
    rt_puts("\n");
    return 0;
}
