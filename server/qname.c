/* qname.c: address labels -> address, tail or absent.  See qname.h.
 *
 * On the query path the two common shapes are decided without a loop over
 * the labels: 4 octet labels by table lookups, 32 nibble labels four at a
 * time without a branch per label.  Everything else is a tail or absent.
 */
#include "qname.h"

#include <string.h>

#include "bytes.h"

/* Octet labels by table: each digit's worth at its place, plus DIGIT, and 0
 * for an octet that cannot stand there (no digit; a leading zero).  A
 * label of K digits sums K entries, so it is an octet label exactly when
 * the sum minus K * DIGIT is at most 255: one check for every rule. */
enum { DIGIT = 0x400 };
static const uint16_t ones[256] = {
    ['0'] = DIGIT,     DIGIT + 1, DIGIT + 2, DIGIT + 3, DIGIT + 4,
    DIGIT + 5,         DIGIT + 6, DIGIT + 7, DIGIT + 8, DIGIT + 9,
};
static const uint16_t tens[256] = {
    ['0'] = DIGIT,     DIGIT + 10, DIGIT + 20, DIGIT + 30, DIGIT + 40,
    DIGIT + 50,        DIGIT + 60, DIGIT + 70, DIGIT + 80, DIGIT + 90,
};
static const uint16_t lead_tens[256] = { /* no leading zero */
    ['1'] = DIGIT + 10, DIGIT + 20, DIGIT + 30, DIGIT + 40, DIGIT + 50,
    DIGIT + 60,         DIGIT + 70, DIGIT + 80, DIGIT + 90,
};
static const uint16_t lead_hundreds[256] = {
    ['1'] = DIGIT + 100, DIGIT + 200, DIGIT + 300, DIGIT + 400, DIGIT + 500,
    DIGIT + 600,         DIGIT + 700, DIGIT + 800, DIGIT + 900,
};

/* The octet label at P (length octet first): "0", or 1-9 then at most two
 * digits, value <= 255.  Returns the value or -1. */
static inline int octet_label(const uint8_t *p)
{
    unsigned v;

    switch (p[0]) {
    case 1:
        v = ones[p[1]] - DIGIT;
        break;
    case 2:
        v = lead_tens[p[1]] + ones[p[2]] - 2u * DIGIT;
        break;
    case 3:
        v = lead_hundreds[p[1]] + tens[p[2]] + ones[p[3]] - 3u * DIGIT;
        break;
    default:
        return -1;
    }
    return v <= 255 ? (int)v : -1;
}

/* Each octet's hex value with 0x10 set, or 0 when it is no hex digit: the
 * flags of many digits AND together into one check. */
static const uint8_t hex_flag[256] = {
    ['0'] = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
    ['A'] = 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F,
    ['a'] = 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F,
};

/* 32 labels: an IPv6 name when every one is a nibble, else absent (a name
 * this long is no tail).  ::ffff:0:0/96 is read as the IPv4 it maps.  The
 * 32 labels span at least 64 octets, so P[0..64) may be read whatever
 * their lengths, and one check at the end decides. */
static void classify6(const uint8_t *p, struct qname_addr *out)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
    uint64_t lens = 0;
    unsigned ok = 0x10;

    for (unsigned i = 0; i < 16; i += 2, p += 8) {
        unsigned a = hex_flag[p[1]], b = hex_flag[p[3]], c = hex_flag[p[5]], d = hex_flag[p[7]];
        lens |= one_octet_labels(p);
        ok &= a & b & c & d;
        out->addr[i] = (uint8_t)(a << 4 | (b & 0xF));
        out->addr[i + 1] = (uint8_t)(c << 4 | (d & 0xF));
    }
    if (lens != 0 || ok == 0) {
        out->kind = QNAME_ABSENT;
        return;
    }
    out->kind = QNAME_ADDR;
    out->family = 6;
    if ((load64(out->addr) | (load64(out->addr + 4) ^ load64(mapped + 4))) == 0) {
        out->family = 4;
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
    }
}

/* 4 labels, the common IPv4 name: 1 when all are octet labels.  The four
 * are real labels whatever their lengths, so all are read before one
 * check. */
static int classify4(const uint8_t *labels, struct qname_addr *out)
{
    const uint8_t *p = labels;
    int o0 = octet_label(p);
    p += 1 + p[0];
    int o1 = octet_label(p);
    p += 1 + p[0];
    int o2 = octet_label(p);
    p += 1 + p[0];
    int o3 = octet_label(p);

    if ((o0 | o1 | o2 | o3) < 0)
        return 0;
    out->addr[0] = (uint8_t)o0;
    out->addr[1] = (uint8_t)o1;
    out->addr[2] = (uint8_t)o2;
    out->addr[3] = (uint8_t)o3;
    memset(out->addr + 4, 0, 12);
    out->kind = QNAME_ADDR;
    out->family = 4;
    out->unlisted_tail = p + 1 + p[0] - labels == 8; /* four single digits: 8.8.8.8 */
    return 1;
}

void qname_classify(const uint8_t *labels, unsigned n, struct qname_addr *out)
{
    int all_octet = n <= 3, all_nibble = n < 32;
    const uint8_t *p = labels;

    out->family = 0;
    out->unlisted_tail = 0;
    if (n == 4 && classify4(p, out))
        return;
    if (n == 32) {
        classify6(p, out);
        return;
    }
    /* Whatever is left is a tail or absent. */
    for (unsigned i = 0; i < n && (all_octet || all_nibble); i++) {
        unsigned len = p[0];
        if (len != 1 || !hex_flag[p[1]])
            all_nibble = 0;
        if (all_octet && octet_label(p) < 0)
            all_octet = 0;
        p += 1 + len;
    }
    out->kind = all_octet || all_nibble ? QNAME_TAIL : QNAME_ABSENT;
}
