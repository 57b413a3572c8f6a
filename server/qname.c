/* qname.c: address labels -> address, tail or absent.  See qname.h.
 *
 * On the query path: one pass over the labels, with the two common shapes
 * (4 octet labels, 32 nibble labels) decided without any per-label calls.
 */
#include "qname.h"

#include <string.h>

/* The value of a hex digit of either case, or -1. */
static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Octet label of LEN 1..3: "0", or 1-9 then at most two digits, value
 * <= 255.  Returns the value or -1. */
static int octet_label(const uint8_t *s, unsigned len)
{
    unsigned d0 = (unsigned)s[0] - '0', d1, d2;

    if (d0 > 9)
        return -1;
    if (len == 1)
        return (int)d0;
    d1 = (unsigned)s[1] - '0';
    if (d0 == 0 || d1 > 9)
        return -1;
    if (len == 2)
        return (int)(d0 * 10 + d1);
    d2 = (unsigned)s[2] - '0';
    if (len != 3 || d2 > 9 || d0 * 100 + d1 * 10 + d2 > 255)
        return -1;
    return (int)(d0 * 100 + d1 * 10 + d2);
}

/* 32 labels: an IPv6 name when every one is a nibble, else absent (a name
 * this long is no tail).  ::ffff:0:0/96 is read as the IPv4 it maps. */
static void classify6(const uint8_t *p, struct qname_addr *out)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };

    for (unsigned i = 0; i < 16; i++, p += 4) {
        int hi = p[0] == 1 ? hexval(p[1]) : -1;
        int lo = p[2] == 1 ? hexval(p[3]) : -1;
        if (hi < 0 || lo < 0) {
            out->kind = QNAME_ABSENT;
            return;
        }
        out->addr[i] = (uint8_t)(hi << 4 | lo);
    }
    out->kind = QNAME_ADDR;
    out->family = 6;
    if (memcmp(out->addr, mapped, sizeof mapped) == 0) {
        out->family = 4;
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
    }
}

void qname_classify(const uint8_t *labels, unsigned n, struct qname_addr *out)
{
    int all_octet = n <= 4, all_nibble = 1;
    const uint8_t *p = labels;

    out->family = 0;
    out->unlisted_tail = 0;
    if (n == 32) {
        classify6(p, out);
        return;
    }
    if (n > 32) {
        out->kind = QNAME_ABSENT;
        return;
    }
    memset(out->addr, 0, sizeof out->addr);
    for (unsigned i = 0; i < n && (all_octet || all_nibble); i++) {
        unsigned len = p[0];
        if (len != 1 || hexval(p[1]) < 0)
            all_nibble = 0;
        if (all_octet) {
            int o = len - 1u < 3 ? octet_label(p + 1, len) : -1;
            if (o < 0)
                all_octet = 0;
            else
                out->addr[i] = (uint8_t)o;
        }
        p += 1 + len;
    }

    if (all_octet && n == 4) {
        out->kind = QNAME_ADDR;
        out->family = 4;
        out->unlisted_tail = (uint8_t)all_nibble; /* four single digits */
    } else if ((all_octet && n <= 3) || all_nibble) {
        out->kind = QNAME_TAIL; /* n <= 31 here */
    } else {
        out->kind = QNAME_ABSENT;
    }
}
