/*
 * virtio-net echo host: a minimal IPv4 responder (runtime/inet.c) on the
 * first net device. bootargs: ip=<a.b.c.d> (required). Answers ARP for its
 * address, ICMP echo and every UDP datagram; prints
 * "net-echo: up <ip> <mac>" and serves until the VMM stops it.
 *
 * Queues: rx 0 keeps RX_BUFS device-writable buffers posted, each
 * reposted as soon as its frame is handled; tx 1 sends from a pool of
 * TX_BUFS buffers, reclaimed from the used ring (waited for when all are in
 * flight). Each frame on either queue is preceded by the 12-byte
 * virtio_net_hdr_v1, zero on tx and skipped on rx.
 */
#include "inet.h"
#include "rt.h"
#include "virtio.h"

#define VIRTIO_NET_F_MAC VIRTIO_F_BIT(5)
#define NET_HDR 12u
#define QUEUE_SIZE 32u
#define RX_BUFS QUEUE_SIZE
#define TX_BUFS QUEUE_SIZE
#define RX_BYTES (NET_HDR + 1526u)
#define TX_BYTES (NET_HDR + INET_ETH_MAX)
#define RX_KICK_EVERY 8u
#define RESET_CHECK_MS 100u

static struct virtq rxq, txq;
static uint8_t rx_buf[RX_BUFS][RX_BYTES] __attribute__((aligned(64)));
static uint8_t tx_buf[TX_BUFS][TX_BYTES] __attribute__((aligned(64)));
static unsigned tx_free[TX_BUFS], tx_nfree;
static struct virtio_dev dev;
static struct inet_if nif = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, {0, 0, 0, 0}};

static _Noreturn void fatal(const char *what, int err)
{
    rt_puts("net-echo: ");
    rt_puts(what);
    if (err) {
        rt_puts(": ");
        rt_puts(virtio_strerror(err));
    }
    rt_puts("\n");
    rt_exit(1);
}

static void post_rx(unsigned i)
{
    struct virtio_buf b = {(uint64_t)(unsigned long)rx_buf[i], RX_BYTES, 1};
    if (virtq_add(&rxq, &b, 1, (void *)(unsigned long)i) < 0)
        fatal("rx queue full", 0);
}

/* Takes back every sent buffer; returns how many. */
static unsigned reclaim_tx(void)
{
    unsigned n = 0;
    void *token;
    int got;
    while ((got = virtq_poll(&txq, 0, &token)) == 1) {
        tx_free[tx_nfree++] = (unsigned)(unsigned long)token;
        n++;
    }
    if (got < 0)
        fatal("tx", got);
    return n;
}

/* A free tx buffer, waiting for the device if all are in flight. */
static unsigned get_tx(unsigned *pending)
{
    if (tx_nfree == 0) {
        void *token;
        if (*pending) {
            virtq_kick(&dev, &txq);
            *pending = 0;
        }
        virtq_wait(&dev, &txq, 0, &token);
        tx_free[tx_nfree++] = (unsigned)(unsigned long)token;
        reclaim_tx();
    }
    return tx_free[--tx_nfree];
}

static void put_dec(unsigned v)
{
    rt_put_u64(v);
}

static void print_up(void)
{
    unsigned i;
    rt_puts("net-echo: up ");
    for (i = 0; i < 4; i++) {
        if (i)
            rt_putc('.');
        put_dec(nif.ip[i]);
    }
    rt_putc(' ');
    for (i = 0; i < 6; i++) {
        if (i)
            rt_putc(':');
        rt_put_hexbytes(&nif.mac[i], 1);
    }
    rt_puts("\n");
}

/* Handles up to RX_BUFS received frames; returns how many. */
static unsigned serve_rx(void)
{
    unsigned handled = 0, reposted = 0, pending = 0;
    uint32_t len;
    void *token;
    int got = 0;

    while (handled < RX_BUFS && (got = virtq_poll(&rxq, &len, &token)) == 1) {
        unsigned i = (unsigned)(unsigned long)token;
        handled++;
        if (len > NET_HDR && len <= RX_BYTES) {
            unsigned t = get_tx(&pending);
            unsigned n = inet_echo_reply(&nif, rx_buf[i] + NET_HDR, len - NET_HDR,
                                         tx_buf[t] + NET_HDR);
            if (n) {
                struct virtio_buf b = {(uint64_t)(unsigned long)tx_buf[t], NET_HDR + n, 0};
                for (unsigned k = 0; k < NET_HDR; k++)
                    tx_buf[t][k] = 0;
                if (virtq_add(&txq, &b, 1, (void *)(unsigned long)t) < 0)
                    fatal("tx queue full", 0);
                pending++;
            } else {
                tx_free[tx_nfree++] = t;
            }
        }
        post_rx(i);
        if (++reposted == RX_KICK_EVERY) {
            virtq_kick(&dev, &rxq);
            reposted = 0;
        }
    }
    if (got < 0)
        fatal("rx", got);
    if (pending)
        virtq_kick(&dev, &txq);
    if (reposted)
        virtq_kick(&dev, &rxq);
    return handled;
}

int main(const void *dtb)
{
    struct virtq *queues[] = {&rxq, &txq};
    unsigned long len;
    const char *ip = rt_bootarg(rt_bootargs(dtb), "ip", &len);
    unsigned long long check;
    unsigned i;
    int err;

    if (!ip || inet_parse_ip4(ip, len, nif.ip) != 0)
        fatal("bootargs need ip=<a.b.c.d>", 0);
    if (virtio_find(dtb, VIRTIO_ID_NET, 0, &dev) != 0)
        fatal("no net device", 0);
    err = virtio_init(&dev, VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC, queues, 2, QUEUE_SIZE);
    if (err)
        fatal("init", err);
    if (dev.features & VIRTIO_NET_F_MAC)
        for (i = 0; i < 6; i++)
            nif.mac[i] = virtio_config8(&dev, i);
    for (i = 0; i < TX_BUFS; i++)
        tx_free[tx_nfree++] = i;
    for (i = 0; i < RX_BUFS; i++)
        post_rx(i);
    virtq_kick(&dev, &rxq);
    print_up();

    check = rt_deadline_ms(RESET_CHECK_MS);
    for (;;) {
        unsigned work = reclaim_tx() + serve_rx();
        if (work) {
            virtio_ack_irq(&dev);
            continue;
        }
        if (rt_expired(check)) {
            if (virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET)
                fatal("device", VIRTIO_ERR_NEEDS_RESET);
            check = rt_deadline_ms(RESET_CHECK_MS);
        }
        rt_relax();
    }
}
