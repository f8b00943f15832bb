/*
 * The IPv4 echo responder (see inet.h). Every length comes from the frame
 * and is checked against the frame before use.
 */
#include "inet.h"

#define ETH_P_IP 0x0800u
#define ETH_P_ARP 0x0806u
#define IP_PROTO_ICMP 1u
#define IP_PROTO_UDP 17u
#define ICMP_ECHO_REPLY 0u
#define ICMP_ECHO_REQUEST 8u
#define ARP_REQUEST 1u
#define ARP_REPLY 2u
#define ARP_LEN 28u
#define IP_HDR 20u
#define UDP_HDR 8u
#define ICMP_HDR 8u
#define REPLY_TTL 64u

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void copy(uint8_t *d, const uint8_t *s, unsigned n)
{
    while (n--)
        *d++ = *s++;
}

static int same(const uint8_t *a, const uint8_t *b, unsigned n)
{
    while (n--)
        if (*a++ != *b++)
            return 0;
    return 1;
}

uint32_t inet_sum(const uint8_t *p, unsigned len, uint32_t sum)
{
    unsigned i;
    for (i = 0; i + 1 < len; i += 2) {
        sum += get16(p + i);
        sum = (sum & 0xffffu) + (sum >> 16); /* keep it from overflowing */
    }
    if (len & 1u)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

uint16_t inet_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Sum of the UDP pseudo-header (RFC 768). */
static uint32_t pseudo_sum(const uint8_t *src, const uint8_t *dst, unsigned proto, unsigned len)
{
    uint32_t sum = inet_sum(src, 4, 0);
    sum = inet_sum(dst, 4, sum);
    return sum + proto + len;
}

static unsigned padded(uint8_t *out, unsigned n)
{
    while (n < INET_ETH_MIN)
        out[n++] = 0;
    return n;
}

/* Ethernet header of a reply to `in`, of the given type. */
static void eth_reply(const struct inet_if *nif, const uint8_t *in, uint8_t *out, unsigned type)
{
    copy(out, in + 6, 6);
    copy(out + 6, nif->mac, 6);
    put16(out + 12, type);
}

static unsigned arp_reply(const struct inet_if *nif, const uint8_t *in, unsigned len, uint8_t *out)
{
    const uint8_t *a = in + INET_ETH_HDR;
    uint8_t *r = out + INET_ETH_HDR;

    if (len < INET_ETH_HDR + ARP_LEN || get16(a) != 1 || get16(a + 2) != ETH_P_IP || a[4] != 6 ||
        a[5] != 4 || get16(a + 6) != ARP_REQUEST || !same(a + 24, nif->ip, 4))
        return 0;
    eth_reply(nif, in, out, ETH_P_ARP);
    copy(out, a + 8, 6); /* to the sender's hardware address, not the frame's */
    put16(r, 1);
    put16(r + 2, ETH_P_IP);
    r[4] = 6;
    r[5] = 4;
    put16(r + 6, ARP_REPLY);
    copy(r + 8, nif->mac, 6);
    copy(r + 14, nif->ip, 4);
    copy(r + 18, a + 8, 6);
    copy(r + 24, a + 14, 4);
    return padded(out, INET_ETH_HDR + ARP_LEN);
}

/* IPv4 header (no options) of a reply to ip, carrying plen payload bytes. */
static void ip_reply(const struct inet_if *nif, const uint8_t *ip, uint8_t *r, unsigned plen)
{
    unsigned i;
    r[0] = 0x45;
    r[1] = ip[1];
    put16(r + 2, IP_HDR + plen);
    r[4] = ip[4];
    r[5] = ip[5];
    r[6] = 0;
    r[7] = 0;
    r[8] = REPLY_TTL;
    r[9] = ip[9];
    r[10] = 0;
    r[11] = 0;
    copy(r + 12, nif->ip, 4);
    copy(r + 16, ip + 12, 4);
    i = inet_fold(inet_sum(r, IP_HDR, 0));
    put16(r + 10, i);
}

static unsigned icmp_reply(const uint8_t *p, unsigned plen, uint8_t *r)
{
    if (plen < ICMP_HDR || p[0] != ICMP_ECHO_REQUEST || p[1] != 0 ||
        inet_fold(inet_sum(p, plen, 0)) != 0)
        return 0;
    copy(r, p, plen);
    r[0] = ICMP_ECHO_REPLY;
    r[2] = 0;
    r[3] = 0;
    put16(r + 2, inet_fold(inet_sum(r, plen, 0)));
    return plen;
}

static unsigned udp_reply(const uint8_t *ip, const uint8_t *p, unsigned plen, uint8_t *r,
                          const uint8_t *our_ip)
{
    unsigned ulen, sum;

    if (plen < UDP_HDR)
        return 0;
    ulen = get16(p + 4);
    if (ulen < UDP_HDR || ulen > plen)
        return 0;
    if (get16(p + 6) != 0 &&
        inet_fold(inet_sum(p, ulen, pseudo_sum(ip + 12, ip + 16, IP_PROTO_UDP, ulen))) != 0)
        return 0;
    copy(r, p + 2, 2);
    copy(r + 2, p, 2);
    put16(r + 4, ulen);
    put16(r + 6, 0);
    copy(r + UDP_HDR, p + UDP_HDR, ulen - UDP_HDR);
    sum = inet_fold(inet_sum(r, ulen, pseudo_sum(our_ip, ip + 12, IP_PROTO_UDP, ulen)));
    put16(r + 6, sum ? sum : 0xffffu); /* 0 would mean "no checksum" */
    return ulen;
}

static unsigned ip_reply_frame(const struct inet_if *nif, const uint8_t *in, unsigned len,
                               uint8_t *out)
{
    const uint8_t *ip = in + INET_ETH_HDR;
    uint8_t *r = out + INET_ETH_HDR + IP_HDR;
    unsigned ihl, total, plen, n;

    if (len < INET_ETH_HDR + IP_HDR || (ip[0] >> 4) != 4)
        return 0;
    ihl = (ip[0] & 0xfu) * 4u;
    total = get16(ip + 2);
    if (ihl < IP_HDR || total < ihl || INET_ETH_HDR + total > len)
        return 0;
    if (inet_fold(inet_sum(ip, ihl, 0)) != 0 || !same(ip + 16, nif->ip, 4))
        return 0;
    if ((get16(ip + 6) & 0x3fffu) != 0) /* more fragments, or not the first */
        return 0;
    plen = total - ihl;
    if (ip[9] == IP_PROTO_ICMP)
        n = icmp_reply(ip + ihl, plen, r);
    else if (ip[9] == IP_PROTO_UDP)
        n = udp_reply(ip, ip + ihl, plen, r, nif->ip);
    else
        return 0;
    if (n == 0)
        return 0;
    eth_reply(nif, in, out, ETH_P_IP);
    ip_reply(nif, ip, out + INET_ETH_HDR, n);
    return padded(out, INET_ETH_HDR + IP_HDR + n);
}

unsigned inet_echo_reply(const struct inet_if *nif, const uint8_t *in, unsigned len, uint8_t *out)
{
    if (len < INET_ETH_HDR || len > INET_ETH_MAX)
        return 0;
    switch (get16(in + 12)) {
    case ETH_P_ARP:
        return arp_reply(nif, in, len, out);
    case ETH_P_IP:
        return ip_reply_frame(nif, in, len, out);
    default:
        return 0;
    }
}

int inet_parse_ip4(const char *s, unsigned long len, uint8_t ip[4])
{
    unsigned long i = 0;
    int part;

    for (part = 0; part < 4; part++) {
        unsigned v = 0, digits = 0;
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return -1;
            i++;
        }
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            v = v * 10u + (unsigned)(s[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return -1;
        ip[part] = (uint8_t)v;
    }
    return i == len ? 0 : -1;
}
