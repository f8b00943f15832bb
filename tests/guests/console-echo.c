/*
 * virtio-console line echo: all I/O goes through the virtio console (rx
 * queue 0, tx queue 1), none through the UART except a fatal error.
 * Writes "console-echo: ready\n", then sends every complete input line back
 * byte for byte (a line too long for the buffer goes back in pieces); after
 * echoing the line "quit" (a trailing '\r' allowed) it writes
 * "console-echo: bye\n" and powers off with 0.
 */
#include "rt.h"
#include "virtio.h"

#define QUEUE_SIZE 16u
#define RX_BUFS 8u
#define RX_BYTES 128u
#define LINE_MAX 256u
#define RESET_CHECK_MS 100u

static struct virtq rxq, txq;
static uint8_t rx_buf[RX_BUFS][RX_BYTES];
static uint8_t line[LINE_MAX];
static struct virtio_dev dev;

static _Noreturn void fatal(const char *what, int err)
{
    virtio_fatal("console-echo", what, err);
}

static void send(const void *p, uint32_t n)
{
    struct virtio_buf b = {(uint64_t)(unsigned long)p, n, 0};
    if (n == 0)
        return;
    if (virtq_add(&txq, &b, 1, 0) < 0)
        fatal("tx queue full", 0);
    virtq_kick(&dev, &txq);
    virtq_wait(&dev, &txq, 0, 0);
}

static void send_str(const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    send(s, n);
}

static void post_rx(unsigned i)
{
    struct virtio_buf b = {(uint64_t)(unsigned long)rx_buf[i], RX_BYTES, 1};
    if (virtq_add(&rxq, &b, 1, (void *)(unsigned long)i) < 0)
        fatal("rx queue full", 0);
}

static int is_quit(const uint8_t *s, unsigned n)
{
    if (n > 0 && s[n - 1] == '\n')
        n--;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return n == 4 && s[0] == 'q' && s[1] == 'u' && s[2] == 'i' && s[3] == 't';
}

int main(const void *dtb)
{
    struct virtq *queues[] = {&rxq, &txq};
    unsigned long long check = rt_deadline_ms(RESET_CHECK_MS);
    unsigned i, n = 0;
    int err;

    if (virtio_find(dtb, VIRTIO_ID_CONSOLE, 0, &dev) != 0)
        fatal("no console device", 0);
    err = virtio_init(&dev, VIRTIO_F_VERSION_1, queues, 2, QUEUE_SIZE);
    if (err)
        fatal("init", err);
    for (i = 0; i < RX_BUFS; i++)
        post_rx(i);
    virtq_kick(&dev, &rxq);
    send_str("console-echo: ready\n");

    for (;;) {
        uint32_t len;
        void *token;
        int got = virtq_poll(&rxq, &len, &token);

        if (got < 0)
            fatal("rx", got);
        if (got == 0) {
            if (rt_expired(check)) { /* input may take forever; a broken device must not */
                if (virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET)
                    fatal("rx", VIRTIO_ERR_NEEDS_RESET);
                check = rt_deadline_ms(RESET_CHECK_MS);
            }
            rt_relax();
            continue;
        }
        virtio_ack_irq(&dev);
        i = (unsigned)(unsigned long)token;
        if (len > RX_BYTES)
            fatal("rx used len larger than the buffer", 0);
        for (uint32_t k = 0; k < len; k++) {
            line[n++] = rx_buf[i][k];
            if (rx_buf[i][k] != '\n' && n < LINE_MAX)
                continue;
            send(line, n);
            if (is_quit(line, n)) {
                send_str("console-echo: bye\n");
                rt_exit(0);
            }
            n = 0;
        }
        post_rx(i);
        virtq_kick(&dev, &rxq);
    }
}
