/*
 * A minimal IPv4 echo responder for the network test guests: pure functions
 * over byte buffers (no allocation, no device, no libc), so a host program
 * can compile this same file and check it. It answers
 *   - ARP requests for our address (RFC 826),
 *   - ICMP echo requests (RFC 792) with the same id, sequence and payload,
 *   - every UDP datagram (RFC 768), sent back with addresses and ports swapped,
 * and ignores everything else, including fragments and bad checksums.
 * Frames are Ethernet II without FCS; multi-byte fields are big-endian on
 * the wire and are read and written byte by byte.
 */
#ifndef STRATA_GUEST_INET_H
#define STRATA_GUEST_INET_H

#include <stdint.h>

#define INET_ETH_HDR 14u
#define INET_ETH_MIN 60u /* shortest frame without FCS; replies are padded to it */
#define INET_ETH_MAX 1514u /* longest untagged frame without FCS */

struct inet_if {
    uint8_t mac[6];
    uint8_t ip[4];
};

/*
 * The reply to the frame in[0, len) written to out (room for
 * max(len, INET_ETH_MIN) bytes; out must not overlap in), and its length;
 * 0 if the frame needs no reply.
 */
unsigned inet_echo_reply(const struct inet_if *nif, const uint8_t *in, unsigned len, uint8_t *out);

/* The Internet checksum (RFC 1071) of p[0, len), continuing a partial sum. */
uint32_t inet_sum(const uint8_t *p, unsigned len, uint32_t sum);
uint16_t inet_fold(uint32_t sum); /* folded and complemented: the value to store */

/* "a.b.c.d" in s[0, len); 0 or -1. */
int inet_parse_ip4(const char *s, unsigned long len, uint8_t ip[4]);

#endif
