/* prefix.c: strict prefix text <-> bytes (prefix.h). */
#include "prefix.h"
#include "bytes.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

/* A dotted quad at S, four decimal octets without leading zeros, before
 * E: returns where it ends, or NULL.  inet_pton alone is not relied on for
 * this: some libcs accept "01" or octal. */
static const char *scan_v4(const char *s, const char *e, uint8_t out[4])
{
    for (int part = 0; part < 4; part++) {
        unsigned v, d;

        if (part > 0 && (s == e || *s++ != '.'))
            return NULL;
        if (s == e || (v = (unsigned)(*s++ - '0')) > 9)
            return NULL;
        /* up to three digits: a fourth is left for the caller to refuse */
        if (s < e && (d = (unsigned)(*s - '0')) <= 9) {
            if (v == 0)
                return NULL;
            v = v * 10 + d;
            if (++s < e && (d = (unsigned)(*s - '0')) <= 9) {
                v = v * 10 + d;
                s++;
                if (v > 255)
                    return NULL;
            }
        }
        out[part] = (uint8_t)v;
    }
    return s;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* RFC 4291 text as glibc's inet_pton(AF_INET6) reads it (the behaviour
 * this replaces, checked against it in test_prefix): groups of one to four
 * hex digits, one "::" for one or more zero groups, a dotted quad as the
 * last 32 bits.  Unlike inet_pton it needs no NUL-terminated copy. */
static int parse_v6(const char *s, size_t n, uint8_t out[16])
{
    uint8_t a[16];
    size_t i = s[0] == ':', tok = 0;
    unsigned o = 0, v = 0, digits = 0;
    int gap = -1;

    if (i && (n < 2 || s[1] != ':'))
        return -1;
    while (i < n) {
        char c = s[i++];
        int d = hex_value(c);

        if (d >= 0) {
            if (digits == 4)
                return -1;
            v = v << 4 | (unsigned)d;
            digits++;
        } else if (c == ':') {
            tok = i;
            if (digits == 0) {
                if (gap >= 0)
                    return -1;
                gap = (int)o;
                continue;
            }
            if (i == n || o > 14)
                return -1;
            a[o++] = (uint8_t)(v >> 8);
            a[o++] = (uint8_t)v;
            v = digits = 0;
        } else if (c == '.' && o <= 12 && scan_v4(s + tok, s + n, a + o) == s + n) {
            o += 4;
            digits = 0;
            break;
        } else {
            return -1;
        }
    }
    if (digits) {
        if (o > 14)
            return -1;
        a[o++] = (uint8_t)(v >> 8);
        a[o++] = (uint8_t)v;
    }
    if (gap >= 0) {
        unsigned tail = o - (unsigned)gap;
        if (o == 16)
            return -1;
        memmove(a + 16 - tail, a + gap, tail);
        memset(a + gap, 0, 16 - tail - (unsigned)gap);
        o = 16;
    }
    if (o != 16)
        return -1;
    memcpy(out, a, 16);
    return 0;
}

int spfdb_prefix_mapped(const struct spfdb_prefix *p)
{
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

    return p->family == 6 && p->len >= 96 && memcmp(p->addr, mapped, 12) == 0;
}

unsigned spfdb_prefix_wide(const struct spfdb_prefix *p)
{
    unsigned min = p->family == 4 ? 8 : 16;

    return p->len < min ? min : 0;
}

/* Zero every bit from LEN on; returns whether any was set. */
static int clear_host(uint8_t *a, unsigned len, unsigned bits)
{
    unsigned b = len / 8;
    uint8_t had = 0;

    if (len % 8) {
        uint8_t host = (uint8_t)(0xffu >> (len % 8));
        had = a[b] & host;
        a[b++] &= (uint8_t)~host;
    }
    for (; b < bits / 8; b++) {
        had |= a[b];
        a[b] = 0;
    }
    return had != 0;
}

int spfdb_prefix_valid(const struct spfdb_prefix *p)
{
    unsigned n = p->family == 4 ? 4 : 16, i;

    if ((p->family != 4 && p->family != 6) || p->len > n * 8)
        return 0;
    i = p->len / 8u;
    if (p->len % 8u && (p->addr[i++] & (0xffu >> (p->len % 8u))))
        return 0;
    for (; i < n; i++)
        if (p->addr[i])
            return 0;
    return 1;
}

/* RFC 6890 ranges an SPF entry should not normally hold; SPEC §2 names
 * private, loopback, link-local, shared and unique-local.  The first that
 * overlaps names the reason.  Prefixes nest or are disjoint: P overlaps a
 * range when they agree on the bits of the shorter one, the bits under both
 * masks. */
static const struct {
    uint32_t addr, mask;
    const char *why;
} specials4[] = {
    {0x0a000000, 0xff000000, "private (RFC 1918)"},
    {0xac100000, 0xfff00000, "private (RFC 1918)"},
    {0xc0a80000, 0xffff0000, "private (RFC 1918)"},
    {0x7f000000, 0xff000000, "loopback (RFC 1122)"},
    {0xa9fe0000, 0xffff0000, "link-local (RFC 3927)"},
    {0x64400000, 0xffc00000, "shared address space (RFC 6598)"},
    {0x00000000, 0xff000000, "\"this network\" (RFC 1122)"},
};

static const struct {
    uint64_t hi, lo, mhi, mlo; /* the address and mask as 128-bit numbers */
    const char *why;
} specials6[] = {
    {0, 1, ~0ull, ~0ull, "loopback (RFC 4291)"},
    {0, 0, ~0ull, ~0ull, "unspecified address (RFC 4291)"},
    {0xfe80ull << 48, 0, 0xffc0ull << 48, 0, "link-local (RFC 4291)"},
    {0xfcull << 56, 0, 0xfeull << 56, 0, "unique-local (RFC 4193)"},
};

/* The first N bits of 64 set. */
static uint64_t mask64(unsigned n)
{
    return n == 0 ? 0 : n >= 64 ? ~0ull : ~0ull << (64 - n);
}

const char *spfdb_prefix_special(const struct spfdb_prefix *p)
{
    uint64_t hi = get_be64(p->addr), lo = get_be64(p->addr + 8);
    uint64_t mhi = mask64(p->len), mlo = p->len > 64 ? mask64(p->len - 64u) : 0;

    if (p->family == 4) {
        uint32_t x = (uint32_t)(hi >> 32), m = (uint32_t)(mhi >> 32);
        for (size_t i = 0; i < sizeof specials4 / sizeof specials4[0]; i++)
            if (((x ^ specials4[i].addr) & specials4[i].mask & m) == 0)
                return specials4[i].why;
        return NULL;
    }
    for (size_t i = 0; i < sizeof specials6 / sizeof specials6[0]; i++)
        if (((hi ^ specials6[i].hi) & specials6[i].mhi & mhi) == 0 &&
            ((lo ^ specials6[i].lo) & specials6[i].mlo & mlo) == 0)
            return specials6[i].why;
    return NULL;
}

/* Characters a prefix may hold at all (hex digits, '.', ':', '/'), and
 * the two that shape its parse. */
enum { C_BAD = 0, C_ADDR, C_COLON, C_SLASH };
static const uint8_t char_class[256] = {
    ['0'] = C_ADDR, ['1'] = C_ADDR, ['2'] = C_ADDR, ['3'] = C_ADDR, ['4'] = C_ADDR,
    ['5'] = C_ADDR, ['6'] = C_ADDR, ['7'] = C_ADDR, ['8'] = C_ADDR, ['9'] = C_ADDR,
    ['a'] = C_ADDR, ['b'] = C_ADDR, ['c'] = C_ADDR, ['d'] = C_ADDR, ['e'] = C_ADDR,
    ['f'] = C_ADDR, ['A'] = C_ADDR, ['B'] = C_ADDR, ['C'] = C_ADDR, ['D'] = C_ADDR,
    ['E'] = C_ADDR, ['F'] = C_ADDR, ['.'] = C_ADDR, [':'] = C_COLON, ['/'] = C_SLASH,
};

int spfdb_prefix_parse(const char *s, size_t len, struct spfdb_prefix *out, unsigned *notes,
                       char *msg, size_t msgcap)
{
    size_t alen;
    unsigned plen, bits, k = C_BAD;
    struct spfdb_prefix p;
    unsigned note = 0;
    int colon = 0;

    memset(&p, 0, sizeof p);
    if (len == 0)
        return spfdb_text_fail(msg, msgcap, "empty prefix");
    /* Most lines: a dotted quad, then '/' or the end; only the rest can
     * hold a bad character. */
    const char *q = scan_v4(s, s + len, p.addr);
    if (q && (q == s + len || *q == '/')) {
        p.family = 4;
        bits = 32;
        alen = (size_t)(q - s);
        for (size_t i = alen; i < len; i++)
            if (char_class[(unsigned char)s[i]] == C_BAD)
                return spfdb_text_fail(msg, msgcap, "invalid character in prefix");
    } else {
        /* Up to the first '/', then the rest: any bad character is the
         * reason, wherever it is. */
        for (alen = 0; alen < len && (k = char_class[(unsigned char)s[alen]]) != C_SLASH;
             alen++) {
            if (k == C_BAD)
                return spfdb_text_fail(msg, msgcap, "invalid character in prefix");
            colon |= k == C_COLON;
        }
        for (size_t i = alen; i < len; i++)
            if (char_class[(unsigned char)s[i]] == C_BAD)
                return spfdb_text_fail(msg, msgcap, "invalid character in prefix");
        if (alen == 0)
            return spfdb_text_fail(msg, msgcap, "missing address");
        if (alen >= 64)
            return spfdb_text_fail(msg, msgcap, "address too long");
        if (colon) {
            p.family = 6;
            if (parse_v6(s, alen, p.addr) != 0)
                return spfdb_text_fail(msg, msgcap, "not an IPv6 address");
            bits = 128;
        } else {
            p.family = 4;
            if (scan_v4(s, s + alen, p.addr) != s + alen)
                return spfdb_text_fail(
                    msg, msgcap, "not an IPv4 address (four decimal octets 0-255, no leading zeros)");
            bits = 32;
        }
    }
    plen = bits;
    if (alen < len) {
        const char *l = s + alen + 1;
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
    if (spfdb_prefix_mapped(&p)) {
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
    if (spfdb_prefix_wide(&p))
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
    uint64_t x, y;

    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    /* IPv4: the bytes past the fourth are zero in both */
    x = get_be64(a->addr);
    y = get_be64(b->addr);
    if (x == y) {
        x = get_be64(a->addr + 8);
        y = get_be64(b->addr + 8);
    }
    if (x != y)
        return x < y ? -1 : 1;
    return (int)a->len - (int)b->len;
}

/* The port after "ADDR:" at S, N octets: 1..65535, decimal, no leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *out)
{
    unsigned v = 0;

    if (n == 0 || n > 5 || s[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int spfdb_addrport_parse(const char *s, struct spfdb_addrport *out, char *msg, size_t msgcap)
{
    struct spfdb_addrport a;
    size_t n = strlen(s), alen;
    const char *addr = s, *port = NULL, *colon = strchr(s, ':');

    memset(&a, 0, sizeof a);
    a.port = SPFDB_ADDRPORT_DEFAULT;
    if (n == 0)
        return spfdb_text_fail(msg, msgcap, "empty address");
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return spfdb_text_fail(msg, msgcap, "'[' without ']'");
        addr = s + 1;
        alen = (size_t)(close - addr);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return spfdb_text_fail(msg, msgcap, "expected ':PORT' after ']'");
        a.family = 6;
    } else if (colon && strchr(colon + 1, ':')) {
        alen = n; /* a bare IPv6 address */
        a.family = 6;
    } else {
        alen = colon ? (size_t)(colon - s) : n;
        port = colon ? colon + 1 : NULL;
        a.family = 4;
    }
    if (a.family == 6 ? alen == 0 || alen >= 64 || parse_v6(addr, alen, a.addr) != 0
                      : scan_v4(addr, addr + alen, a.addr) != addr + alen)
        return spfdb_text_fail(msg, msgcap, a.family == 6 ? "not an IPv6 address"
                               : "not an IPv4 address (four decimal octets 0-255, "
                                 "no leading zeros; IPv6 in [ ])");
    if (port && parse_port(port, strlen(port), &a.port) != 0)
        return spfdb_text_fail(msg, msgcap, "bad port (1-65535, decimal, no leading zeros)");
    if (out)
        *out = a;
    return 0;
}

void spfdb_addrport_format(const struct spfdb_addrport *a, char *buf, size_t cap)
{
    char t[48];

    if (cap == 0)
        return;
    if (a->family == 4) {
        snprintf(buf, cap, "%u.%u.%u.%u:%u", a->addr[0], a->addr[1], a->addr[2], a->addr[3],
                 a->port);
        return;
    }
    format_v6(a->addr, t, sizeof t);
    snprintf(buf, cap, "[%s]:%u", t, a->port);
}
