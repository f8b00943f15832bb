/*
 * Architecture-neutral part of the guest runtime. Also provides the four
 * memory functions GCC may emit calls to even in freestanding code (struct
 * copies, loop idioms), since guests link without a libc.
 */
#include "rt.h"

#include "arch.h"
#include "fdt_reader.h"

#include <stddef.h>

#define DTB_MAX_ROOM (2ul << 20)

void rt_putc(char c) { arch_console_putc(c); }

void rt_puts(const char *s) {
    while (*s)
        rt_putc(*s++);
}

void rt_put_u64(unsigned long long v) {
    char buf[20];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    while (n > 0)
        rt_putc(buf[--n]);
}

void rt_put_hex(unsigned long long v) {
    int shift = 60;
    rt_puts("0x");
    while (shift > 0 && ((v >> shift) & 0xfu) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        rt_putc("0123456789abcdef"[(v >> shift) & 0xfu]);
}

void rt_put_hexbytes(const void *p, unsigned long n) {
    const unsigned char *b = p;
    for (; n; n--, b++) {
        rt_putc("0123456789abcdef"[*b >> 4]);
        rt_putc("0123456789abcdef"[*b & 0xfu]);
    }
}

_Noreturn void rt_exit(int v) { arch_exit(v); }

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses [s, end) in its entirety as decimal or 0x-hex. */
int rt_parse_u64(const char *s, const char *end, unsigned long long *out) {
    unsigned long long v = 0, base = 10;
    if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (s == end)
        return -2;
    for (; s < end; s++) {
        int d = hex_digit(*s);
        if (d < 0 || (unsigned long long)d >= base)
            return -2;
        if (v > (~0ull - (unsigned long long)d) / base)
            return -2;
        v = v * base + (unsigned long long)d;
    }
    *out = v;
    return 0;
}

const char *rt_bootarg(const char *bootargs, const char *key, unsigned long *len) {
    const char *p = bootargs;
    if (!p || !key || !*key)
        return NULL;
    while (*p) {
        const char *tok, *k = key, *end;
        while (is_space(*p))
            p++;
        tok = p;
        while (*p && !is_space(*p))
            p++;
        end = p;
        while (*k && tok < end && *tok == *k) {
            tok++;
            k++;
        }
        if (*k == 0 && tok < end && *tok == '=') {
            *len = (unsigned long)(end - tok - 1);
            return tok + 1;
        }
    }
    return NULL;
}

int rt_bootarg_u64(const char *bootargs, const char *key, unsigned long long *out) {
    unsigned long len;
    const char *v = rt_bootarg(bootargs, key, &len);
    if (!v)
        return -1;
    return rt_parse_u64(v, v + len, out);
}

unsigned long long rt_ticks_per_ms(void) {
    static unsigned long long rate;
    if (!rate)
        rate = arch_ticks_per_ms();
    return rate;
}

unsigned long long rt_deadline_ms(unsigned long long ms) { return rt_ticks() + ms * rt_ticks_per_ms(); }

int rt_expired(unsigned long long deadline) { return (long long)(rt_ticks() - deadline) >= 0; }

void rt_delay_us(unsigned long long us) {
    unsigned long long end = rt_ticks() + us * rt_ticks_per_ms() / 1000u;
    while ((long long)(rt_ticks() - end) < 0)
        rt_relax();
}

int rt_map_mmio(unsigned long long base, unsigned long long size) { return arch_map_mmio(base, size); }

int rt_irq_route(unsigned irq) { return arch_irq_route(irq); }

void rt_irq_wait(void) { arch_irq_wait(); }

unsigned long rt_irq_count(void) { return arch_irq_count(); }

unsigned long rt_dtb_room(const void *dtb) {
    unsigned long at = (unsigned long)dtb, image = (unsigned long)__image_start;
    return at < image && image - at < DTB_MAX_ROOM ? image - at : DTB_MAX_ROOM;
}

const char *rt_bootargs(const void *dtb) {
    if (!dtb)
        return arch_boot_cmdline();
    if (fdtr_check(dtb, rt_dtb_room(dtb)) != 0)
        return NULL;
    return fdtr_bootargs(dtb);
}

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void *memset(void *dst, int c, size_t n) {
    volatile unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) { return memmove(dst, src, n); }

void *memmove(void *dst, const void *src, size_t n) {
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const volatile unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}
