/* prefix.c: strict prefix text <-> bytes (prefix.h). */
#include "prefix.h"
#include "text.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Dotted quad, four decimal octets without leading zeros.  inet_pton alone
 * is not relied on for this: some libcs accept "01" or octal. */
static int parse_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t start = i;

        if (part > 0) {
            if (i >= n || s[i] != '.')
                return -1;
            start = ++i;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
            return -1;
        out[part] = (uint8_t)v;
    }
    return i == n ? 0 : -1;
}

static int bit_set(const uint8_t *a, unsigned bit)
{
    return (a[bit / 8] >> (7 - bit % 8)) & 1;
}

/* Zero every bit from LEN on; returns whether any was set. */
static int clear_host(uint8_t *a, unsigned len, unsigned bits)
{
    int had = 0;

    for (unsigned b = len; b < bits; b++) {
        if (bit_set(a, b)) {
            had = 1;
            a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
        }
    }
    return had;
}

struct special {
    uint8_t family, len;
    uint8_t addr[16];
    const char *why;
};

/* RFC 6890 ranges an SPF entry should not normally hold; SPEC §2 names
 * private, loopback, link-local, shared and unique-local. */
static const struct special specials[] = {
    {4, 8, {10}, "private (RFC 1918)"},
    {4, 12, {172, 16}, "private (RFC 1918)"},
    {4, 16, {192, 168}, "private (RFC 1918)"},
    {4, 8, {127}, "loopback (RFC 1122)"},
    {4, 16, {169, 254}, "link-local (RFC 3927)"},
    {4, 10, {100, 64}, "shared address space (RFC 6598)"},
    {4, 8, {0}, "\"this network\" (RFC 1122)"},
    {6, 128, {[15] = 1}, "loopback (RFC 4291)"},
    {6, 128, {0}, "unspecified address (RFC 4291)"},
    {6, 10, {0xfe, 0x80}, "link-local (RFC 4291)"},
    {6, 7, {0xfc}, "unique-local (RFC 4193)"},
};

/* Prefixes nest or are disjoint: they overlap when the shorter contains
 * the longer. */
static int overlaps(const struct spfdb_prefix *p, uint8_t family, uint8_t len,
                    const uint8_t *addr)
{
    struct spfdb_prefix q = {.family = family, .len = len};

    memcpy(q.addr, addr, 16);
    return spfdb_prefix_contains(p, &q) || spfdb_prefix_contains(&q, p);
}

const char *spfdb_prefix_special(const struct spfdb_prefix *p)
{
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        const struct special *s = &specials[i];
        if (overlaps(p, s->family, s->len, s->addr))
            return s->why;
    }
    return NULL;
}

int spfdb_prefix_parse(const char *s, size_t len, struct spfdb_prefix *out, unsigned *notes,
                       char *msg, size_t msgcap)
{
    char buf[64];
    const char *slash;
    size_t alen;
    unsigned plen, bits;
    struct spfdb_prefix p;
    unsigned note = 0;

    memset(&p, 0, sizeof p);
    if (len == 0)
        return spfdb_text_fail(msg, msgcap, "empty prefix");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '.' || c == ':' || c == '/'))
            return spfdb_text_fail(msg, msgcap, "invalid character in prefix");
    }
    slash = memchr(s, '/', len);
    alen = slash ? (size_t)(slash - s) : len;
    if (alen == 0)
        return spfdb_text_fail(msg, msgcap, "missing address");
    if (alen >= sizeof buf)
        return spfdb_text_fail(msg, msgcap, "address too long");
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (memchr(buf, ':', alen)) {
        p.family = 6;
        if (inet_pton(AF_INET6, buf, p.addr) != 1)
            return spfdb_text_fail(msg, msgcap, "not an IPv6 address");
        bits = 128;
    } else {
        p.family = 4;
        if (parse_v4(buf, alen, p.addr) != 0)
            return spfdb_text_fail(msg, msgcap,
                                   "not an IPv4 address (four decimal octets 0-255, no leading zeros)");
        bits = 32;
    }
    plen = bits;
    if (slash) {
        const char *l = slash + 1;
        size_t llen = len - alen - 1;

        if (llen == 0)
            return spfdb_text_fail(msg, msgcap, "missing prefix length after '/'");
        if (llen > 3 || (l[0] == '0' && llen > 1))
            return spfdb_text_fail(msg, msgcap, "bad prefix length (decimal, no leading zeros)");
        plen = 0;
        for (size_t i = 0; i < llen; i++) {
            if (l[i] < '0' || l[i] > '9')
                return spfdb_text_fail(msg, msgcap, "bad prefix length");
            plen = plen * 10 + (unsigned)(l[i] - '0');
        }
        if (plen > bits)
            return spfdb_text_fail(msg, msgcap, "prefix length %u exceeds /%u", plen, bits);
    }
    p.len = (uint8_t)plen;

    /* ::ffff:0:0/96 and longer: verifiers treat the sender as IPv4. */
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (p.family == 6 && p.len >= 96 && memcmp(p.addr, mapped, 12) == 0) {
        memmove(p.addr, p.addr + 12, 4);
        memset(p.addr + 4, 0, 12);
        p.family = 4;
        p.len = (uint8_t)(p.len - 96);
        bits = 32;
        note |= SPFDB_NOTE_MAPPED;
    }
    if (clear_host(p.addr, p.len, bits)) {
        char canon[SPFDB_PREFIX_STRLEN];
        spfdb_prefix_format(&p, canon, sizeof canon);
        return spfdb_text_fail(msg, msgcap, "host bits set; did you mean %s?", canon);
    }
    if (p.len < (p.family == 4 ? 8 : 16))
        note |= SPFDB_NOTE_WIDE;
    if (spfdb_prefix_special(&p))
        note |= SPFDB_NOTE_SPECIAL;
    if (out)
        *out = p;
    if (notes)
        *notes = note;
    return 0;
}

/* RFC 5952: lowercase, no leading zeros, the longest run (first on a tie)
 * of two or more zero groups as "::".  Written out rather than inet_ntop,
 * which prints dotted quads for some ::/96 addresses. */
static void format_v6(const uint8_t *a, char *buf, size_t cap)
{
    unsigned g[8];
    int best = -1, bestlen = 0;
    size_t n = 0;

    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > bestlen && j - i >= 2) {
            best = i;
            bestlen = j - i;
        }
        i = j > i ? j : i + 1;
    }
    buf[0] = '\0';
    for (int i = 0; i < 8 && n < cap; i++) {
        int w;
        if (i == best) {
            w = snprintf(buf + n, cap - n, "::");
            i += bestlen - 1;
        } else {
            int sep = i > 0 && i != best + bestlen;
            w = snprintf(buf + n, cap - n, "%s%x", sep ? ":" : "", g[i]);
        }
        if (w < 0)
            return;
        n += (size_t)w;
    }
}

void spfdb_prefix_format(const struct spfdb_prefix *p, char *buf, size_t cap)
{
    char a[48];

    if (cap == 0)
        return;
    if (p->family == 4)
        snprintf(a, sizeof a, "%u.%u.%u.%u", p->addr[0], p->addr[1], p->addr[2], p->addr[3]);
    else
        format_v6(p->addr, a, sizeof a);
    snprintf(buf, cap, "%s/%u", a, p->len);
}

int spfdb_prefix_contains(const struct spfdb_prefix *p, const struct spfdb_prefix *q)
{
    unsigned full, rest;

    if (p->family != q->family || p->len > q->len)
        return 0;
    full = p->len / 8u;
    rest = p->len % 8u;
    if (memcmp(p->addr, q->addr, full) != 0)
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xffu << (8 - rest));
        if ((p->addr[full] & mask) != (q->addr[full] & mask))
            return 0;
    }
    return 1;
}

int spfdb_prefix_cmp(const struct spfdb_prefix *a, const struct spfdb_prefix *b)
{
    int c;

    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    c = memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
    if (c)
        return c;
    return (int)a->len - (int)b->len;
}
