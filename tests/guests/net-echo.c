/*
 * virtio-net echo host: a minimal IPv4 responder (runtime/inet.c) on the
 * first net device. bootargs: ip=<a.b.c.d> (required). Answers ARP for its
 * address, ICMP echo and every UDP datagram; prints
 * "net-echo: up <ip> <mac>" and serves until the VMM stops it.
 *
 * Two optional bootargs make it a hostile driver (issue 13's catalogue):
 *   rx-buffer=<n>   posts receive buffers of n bytes (header included,
 *                   RX_MIN..RX_BYTES) instead of whole frames. An IPv4 UDP
 *                   frame that fills its buffer is reported, not echoed, as
 *                   "net-echo: rx used len <used> of <n> posted": a device
 *                   must never claim more than the buffer holds.
 *   tx-header=hostile  every frame sent asks for offloads that were never
 *                   negotiated: NEEDS_CSUM with csum_start/csum_offset far
 *                   past the frame, and TCPv4 GSO. The device must not hand
 *                   them to its backend.
 * Each prints its own line before the "up" line.
 *
 * Queues: rx 0 keeps RX_BUFS device-writable buffers posted, each
 * reposted as soon as its frame is handled; tx 1 sends from a pool of
 * TX_BUFS buffers, reclaimed from the used ring (waited for when all are in
 * flight). Each frame on either queue is preceded by the 12-byte
 * virtio_net_hdr_v1, zero on tx (unless hostile) and skipped on rx.
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
#define RX_MIN (NET_HDR + 42u) /* an ARP request, and the headers of a UDP frame */
#define TX_BYTES (NET_HDR + INET_ETH_MAX)
#define RX_KICK_EVERY 8u
#define RESET_CHECK_MS 100u

static struct virtq rxq, txq;
static uint8_t rx_buf[RX_BUFS][RX_BYTES] __attribute__((aligned(64)));
static uint8_t tx_buf[TX_BUFS][TX_BYTES] __attribute__((aligned(64)));
static unsigned tx_free[TX_BUFS], tx_nfree;
static unsigned rx_bytes = RX_BYTES; /* posted per receive buffer */
static int hostile_tx;
static struct virtio_dev dev;
static struct inet_if nif = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, {0, 0, 0, 0}};

static _Noreturn void fatal(const char *what, int err)
{
    virtio_fatal("net-echo", what, err);
}

static void post_rx(unsigned i)
{
    struct virtio_buf b = {(uint64_t)(unsigned long)rx_buf[i], rx_bytes, 1};
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

/* The virtio_net_hdr_v1 of a frame sent: all zero, or the hostile one. */
static void tx_header(uint8_t *h)
{
    unsigned k;
    for (k = 0; k < NET_HDR; k++)
        h[k] = 0;
    if (!hostile_tx)
        return;
    h[0] = 1;    /* flags: VIRTIO_NET_HDR_F_NEEDS_CSUM */
    h[1] = 1;    /* gso_type: VIRTIO_NET_HDR_GSO_TCPV4 */
    h[4] = 0x40; /* gso_size 64 */
    h[6] = 0x00; /* csum_start 0xff00, far past any frame */
    h[7] = 0xff;
    h[8] = 0xf0; /* csum_offset 0xf0 */
}

static int is_udp4(const uint8_t *frame)
{
    return frame[12] == 0x08 && frame[13] == 0x00 && frame[INET_ETH_HDR + 9] == 17;
}

/* A frame that filled a small receive buffer: reported instead of echoed. */
static int report_full(const uint8_t *buf, uint32_t len)
{
    if (rx_bytes == RX_BYTES || len < rx_bytes || !is_udp4(buf + NET_HDR))
        return 0;
    rt_puts("net-echo: rx used len ");
    put_dec(len);
    rt_puts(" of ");
    put_dec(rx_bytes);
    rt_puts(" posted\n");
    return 1;
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
        if (report_full(rx_buf[i], len)) {
            /* not echoed: the frame was cut, or the device lied */
        } else if (len > NET_HDR && len <= rx_bytes) {
            unsigned t = get_tx(&pending);
            unsigned n = inet_echo_reply(&nif, rx_buf[i] + NET_HDR, len - NET_HDR,
                                         tx_buf[t] + NET_HDR);
            if (n) {
                struct virtio_buf b = {(uint64_t)(unsigned long)tx_buf[t], NET_HDR + n, 0};
                tx_header(tx_buf[t]);
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
    const char *args = rt_bootargs(dtb);
    const char *ip = rt_bootarg(args, "ip", &len);
    const char *tx_mode;
    unsigned long long check, rx_arg;
    unsigned i;
    int err;

    if (!ip || inet_parse_ip4(ip, len, nif.ip) != 0)
        fatal("bootargs need ip=<a.b.c.d>", 0);
    err = rt_bootarg_u64(args, "rx-buffer", &rx_arg);
    if (err != -1) {
        if (err != 0 || rx_arg < RX_MIN || rx_arg > RX_BYTES)
            fatal("rx-buffer wants a size from 54 to 1538 bytes", 0);
        rx_bytes = (unsigned)rx_arg;
        rt_puts("net-echo: rx buffers of ");
        put_dec(rx_bytes);
        rt_puts(" bytes\n");
    }
    tx_mode = rt_bootarg(args, "tx-header", &len);
    if (tx_mode) {
        for (i = 0; i < len && i < 7 && tx_mode[i] == "hostile"[i]; i++)
            ;
        if (len != 7 || i != 7)
            fatal("tx-header wants 'hostile'", 0);
        hostile_tx = 1;
        rt_puts("net-echo: tx headers ask for a checksum past the frame and TCPv4 GSO\n");
    }
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
