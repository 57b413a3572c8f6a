/* spfchain.c: the `_spf` chain: the fewest CIDRs, the records, the cache.
 * See spfchain.h.
 *
 * The fewest CIDRs covering a set exactly: merge the prefixes into maximal
 * runs of consecutive addresses, then cut each run greedily into the
 * largest aligned blocks.  Any cover of a run by disjoint CIDRs is a
 * partition into aligned blocks, and the greedy cut from the low end takes
 * at each step the largest block that starts there, so no partition has
 * fewer blocks.  Addresses are unsigned 128-bit integers (IPv4 in the low
 * 32 bits).
 */
#include "spfchain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

static unsigned width(int family)
{
    return family == 4 ? 32 : 128;
}

static u128 to_int(const struct spfdb_prefix *p)
{
    u128 v = 0;
    unsigned n = p->family == 4 ? 4 : 16;

    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p->addr[i];
    return v;
}

/* All ones in the low BITS bits (BITS <= 128). */
static u128 ones(unsigned bits)
{
    return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

static unsigned ctz128(u128 v, unsigned w)
{
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);

    if (v == 0)
        return w;
    return lo ? (unsigned)__builtin_ctzll(lo) : 64 + (unsigned)__builtin_ctzll(hi);
}

/* floor(log2(V)), V > 0. */
static unsigned log2_128(u128 v)
{
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);

    return hi ? 127 - (unsigned)__builtin_clzll(hi) : 63 - (unsigned)__builtin_clzll(lo);
}

static void emit(struct spfchain_set *s, u128 start, unsigned len)
{
    struct spfdb_prefix *p;
    unsigned n = s->family == 4 ? 4 : 16;

    if (s->n == SPFCHAIN_CIDR_MAX) {
        s->over = 1;
        return;
    }
    p = &s->cidr[s->n++];
    memset(p, 0, sizeof *p);
    p->family = s->family;
    p->len = (uint8_t)len;
    for (unsigned i = n; i-- > 0; start >>= 8)
        p->addr[i] = (uint8_t)start;
}

/* The pending run, cut into the largest aligned blocks. */
static void close_run(struct spfchain_set *s)
{
    unsigned w = width(s->family);
    u128 lo = s->lo, hi = s->hi;

    if (!s->open)
        return;
    s->open = 0;
    while (!s->over) {
        u128 span = hi - lo; /* the block may hold span + 1 addresses */
        unsigned k = span == ones(w) ? w : log2_128(span + 1), a = ctz128(lo, w);
        if (a < k)
            k = a;
        emit(s, lo, w - k);
        if (span == ones(k))
            break; /* the block ended the run (perhaps at the last address) */
        lo += (u128)1 << k;
    }
}

void spfchain_set_init(struct spfchain_set *s)
{
    s->n = 0;
    s->over = 0;
    s->open = 0;
    s->family = 4;
    s->lo = s->hi = 0;
}

int spfchain_set_add(struct spfchain_set *s, const struct spfdb_prefix *p)
{
    unsigned w;
    u128 start, end;

    if (s->over)
        return 1;
    if (p->family != 4 && p->family != 6)
        return s->over = 1, -1;
    if (p->family != s->family) {
        if (p->family < s->family)
            return s->over = 1, -1;
        close_run(s);
        s->family = p->family;
    }
    w = width(p->family);
    start = to_int(p);
    end = start | ones(w - p->len);
    if (s->open && start < s->lo)
        return s->over = 1, -1;
    if (s->open && (s->hi == ones(w) || start <= s->hi + 1)) {
        if (end > s->hi)
            s->hi = end;
    } else {
        close_run(s);
        s->open = 1;
        s->lo = start;
        s->hi = end;
    }
    return s->over;
}

void spfchain_set_end(struct spfchain_set *s)
{
    close_run(s);
}

/* ---- records -------------------------------------------------------------- */

/* Strings TEXT[0..LEN) is cut into (each at most 255 octets, every cut
 * right after a space), or 0 when it cannot be cut so. */
static unsigned strings(const char *text, size_t len, size_t *cut)
{
    unsigned n = 0;

    for (size_t i = 0; i < len; n++) {
        size_t j = len - i <= SPFCHAIN_STRING_MAX ? len : i + SPFCHAIN_STRING_MAX;
        if (j < len) {
            while (j > i && text[j - 1] != ' ')
                j--;
            if (j == i)
                return 0;
        }
        if (cut)
            cut[n] = j;
        i = j;
    }
    return n ? n : 1; /* an empty text is one empty string */
}

/* Does TEXT[0..LEN) fit a record with RDMAX octets of RDATA? */
static int fits(const char *text, size_t len, size_t rdmax)
{
    unsigned n;

    if (len > SPFCHAIN_TEXT_MAX)
        return 0;
    n = strings(text, len, NULL);
    return n && len + n <= rdmax;
}

/* The record of TEXT[0..LEN) into OUT: owner 0xC00C, TXT, IN, TTL. */
static uint16_t write_rr(uint8_t *out, const char *text, size_t len, uint32_t ttl)
{
    size_t cut[8], pos = 0, rd = 12;
    unsigned n = strings(text, len, cut);

    if (len == 0)
        cut[0] = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t l = cut[i] - pos;
        out[rd++] = (uint8_t)l;
        memcpy(out + rd, text + pos, l);
        rd += l;
        pos = cut[i];
    }
    const uint8_t head[12] = { 0xC0, 12, 0, 16, 0, 1, (uint8_t)(ttl >> 24), (uint8_t)(ttl >> 16),
                               (uint8_t)(ttl >> 8), (uint8_t)ttl, (uint8_t)((rd - 12) >> 8),
                               (uint8_t)(rd - 12) };
    memcpy(out, head, 12);
    return (uint16_t)rd;
}

struct text {
    char b[SPFCHAIN_TEXT_MAX + 512];
    size_t len;
};

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);

    if (t->len + n < sizeof t->b) {
        memcpy(t->b + t->len, s, n);
        t->len += n;
    } else {
        t->len = sizeof t->b; /* too long: fits() says no */
    }
}

/* The owner of record I under PARENT in wire form: "_spf." or "k._spf." */
static size_t rdata_max(const char *parent, unsigned i)
{
    size_t owner = (i == 0 ? 5 : 7) + strlen(parent) + 2;

    return SPFCHAIN_REPLY_MAX - 12 - (owner + 4) - 12 - SPFCHAIN_OPT_COOKIE;
}

/* Place TERMS[*TI..N) into record I after PREFIX, before SUFFIX, as many
 * as fit; the text into T.  0 when not even the empty record fits. */
static int fill(struct text *t, const char *prefix, const char *suffix, char (*terms)[64],
                unsigned n, unsigned *ti, size_t rdmax)
{
    t->len = 0;
    put(t, prefix);
    for (; *ti < n; (*ti)++) {
        size_t keep = t->len; /* try the term with the suffix after it, in place */
        put(t, " ");
        put(t, terms[*ti]);
        size_t with = t->len;
        put(t, suffix);
        int ok = fits(t->b, t->len, rdmax);
        t->len = ok ? with : keep;
        if (!ok)
            break;
    }
    put(t, suffix);
    return fits(t->b, t->len, rdmax);
}

/* Decimal of V at P: the octets written. */
static size_t put_dec(char *p, unsigned v)
{
    size_t n = 0;

    if (v >= 100)
        p[n++] = (char)('0' + v / 100);
    if (v >= 10)
        p[n++] = (char)('0' + v / 10 % 10);
    p[n++] = (char)('0' + v % 10);
    return n;
}

size_t spfchain_addr_text(char *p, int family, const uint8_t *a)
{
    static const char hex[] = "0123456789abcdef";
    unsigned g[8], best = 8, bestlen = 1; /* the first longest run of 2+ zero groups */
    size_t n = 0;

    if (family == 4) {
        for (unsigned i = 0; i < 4; i++) {
            n += put_dec(p + n, a[i]);
            if (i < 3)
                p[n++] = '.';
        }
        return n;
    }
    for (unsigned i = 0; i < 8; i++)
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (unsigned i = 0; i < 8;) {
        unsigned j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        i = j > i ? j : i + 1;
    }
    for (unsigned i = 0; i < 8;) {
        if (i == best) {
            p[n++] = ':';
            p[n++] = ':';
            i += bestlen;
            continue;
        }
        if (n > 0 && p[n - 1] != ':')
            p[n++] = ':';
        for (int shift = 12, lead = 1; shift >= 0; shift -= 4) {
            unsigned d = g[i] >> shift & 0xF;
            if (d || !lead || shift == 0) {
                p[n++] = hex[d];
                lead = 0;
            }
        }
        i++;
    }
    return n;
}

/* The term of P into OUT (64 octets), NUL-terminated: its length. */
static size_t term(const struct spfdb_prefix *p, char *out)
{
    size_t n = 4;

    memcpy(out, p->family == 4 ? "ip4:" : "ip6:", 4);
    n += spfchain_addr_text(out + 4, p->family, p->addr);
    /* A whole address is its own prefix (RFC 7208 §5.6: the length
     * defaults to /32 and /128): shorter terms, more to a record. */
    if (p->len != (p->family == 4 ? 32 : 128)) {
        out[n++] = '/';
        n += put_dec(out + n, p->len);
    }
    out[n] = '\0';
    return n;
}

int spfchain_render(const struct spfchain_set *s, const char *parent, const char *addr_base,
                    uint32_t ttl, struct spfchain *out)
{
    char terms[SPFCHAIN_CIDR_MAX][64], inc[1 + SPFCHAIN_LEAVES][SPFDB_NAME_MAX + 32];
    struct text rec[1 + SPFCHAIN_LEAVES];
    unsigned n = s->over ? 0 : s->n, k;

    if (strlen(parent) > SPFDB_NAME_MAX || strlen(addr_base) > SPFDB_NAME_MAX)
        return SPFDB_EINVAL;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += 1 + term(&s->cidr[i], terms[i]);
    /* Four records cannot hold more than four times 450 octets of terms:
     * such a set falls back without trying. */
    int hopeless = total > (1 + SPFCHAIN_LEAVES) * SPFCHAIN_TEXT_MAX;
    for (k = 0; !s->over && !hopeless && k <= SPFCHAIN_LEAVES; k++) {
        char suffix[4 * (SPFDB_NAME_MAX + 32)] = "";
        unsigned ti = 0, ok = 1;
        for (unsigned i = 1; i <= k; i++) {
            snprintf(inc[i], sizeof inc[i], " include:%u._spf.%s", i, parent);
            strcat(suffix, inc[i]);
        }
        strcat(suffix, " ~all");
        ok = fill(&rec[0], "v=spf1", suffix, terms, n, &ti, rdata_max(parent, 0));
        for (unsigned i = 1; ok && i <= k; i++)
            ok = fill(&rec[i], "v=spf1", " ~all", terms, n, &ti, rdata_max(parent, i));
        if (ok && ti == n)
            break;
    }
    out->fallback = k > SPFCHAIN_LEAVES || s->over || hopeless;
    if (out->fallback) {
        k = 0;
        rec[0].len = 0;
        put(&rec[0], "v=spf1 exists:%{i}.");
        put(&rec[0], addr_base);
        put(&rec[0], " ~all");
        if (!fits(rec[0].b, rec[0].len, rdata_max(parent, 0)))
            return SPFDB_EINVAL;
    }
    out->k = (uint8_t)k;
    for (unsigned i = k + 1; i <= SPFCHAIN_LEAVES; i++) {
        rec[i].len = 0;
        put(&rec[i], "v=spf1 ~all");
    }
    for (unsigned i = 0; i <= SPFCHAIN_LEAVES; i++) {
        out->len[i] = write_rr(out->rr[i], rec[i].b, rec[i].len, ttl);
        out->text_len[i] = (uint16_t)rec[i].len;
    }
    return 0;
}

void spfchain_text(const struct spfchain *c, unsigned i, char *buf, size_t cap)
{
    size_t o = 0;

    for (size_t p = 12; p < c->len[i]; p += 1 + c->rr[i][p]) {
        size_t l = c->rr[i][p];
        if (o + l >= cap)
            break;
        memcpy(buf + o, c->rr[i] + p + 1, l);
        o += l;
    }
    buf[o] = '\0';
}

/* ---- the cache ------------------------------------------------------------ */

enum { WAYS = 4 };

struct slot {
    const void *zone;
    uint32_t alloc;
    uint64_t gen;     /* valid when the cache's gen */
    uint64_t used;    /* last found or filled: the oldest of a set goes */
    struct spfchain chain;
};

struct spfcache {
    unsigned nsets;
    uint64_t gen, clock;
    struct spfchain_set set;
    struct slot slot[];
};

struct spfcache *spfcache_new(unsigned slots)
{
    unsigned nsets = (slots + WAYS - 1) / WAYS;
    struct spfcache *c;

    if (nsets == 0)
        nsets = 1;
    c = calloc(1, sizeof *c + (size_t)nsets * WAYS * sizeof c->slot[0]);
    if (!c)
        return NULL;
    c->nsets = nsets;
    c->gen = 1;
    return c;
}

void spfcache_free(struct spfcache *c)
{
    free(c);
}

void spfcache_reset(struct spfcache *c)
{
    c->gen++;
}

static struct slot *set_of(struct spfcache *c, const void *zone, uint32_t alloc)
{
    uint64_t h = ((uint64_t)(uintptr_t)zone ^ alloc * 0x9E3779B97F4A7C15ull) * 0xff51afd7ed558ccdull;

    return &c->slot[(size_t)((h >> 32) % c->nsets) * WAYS];
}

const struct spfchain *spfcache_get(struct spfcache *c, const void *zone, uint32_t alloc)
{
    struct slot *s = set_of(c, zone, alloc);

    for (unsigned i = 0; i < WAYS; i++)
        if (s[i].gen == c->gen && s[i].zone == zone && s[i].alloc == alloc) {
            s[i].used = ++c->clock;
            return &s[i].chain;
        }
    return NULL;
}

struct spfchain *spfcache_slot(struct spfcache *c, const void *zone, uint32_t alloc)
{
    struct slot *s = set_of(c, zone, alloc), *pick = s;

    for (unsigned i = 0; i < WAYS; i++) {
        if (s[i].gen != c->gen) {
            pick = &s[i];
            break;
        }
        if (s[i].used < pick->used)
            pick = &s[i];
    }
    pick->gen = 0;
    pick->zone = zone;
    pick->alloc = alloc;
    return &pick->chain;
}

void spfcache_commit(struct spfcache *c, struct spfchain *chain)
{
    struct slot *s = (struct slot *)((char *)chain - offsetof(struct slot, chain));

    s->gen = c->gen;
    s->used = ++c->clock;
}

struct spfchain_set *spfcache_set(struct spfcache *c)
{
    return &c->set;
}
