/* zones.c: the zone and allocation table.  See zones.h.
 *
 * Two open-addressing hash tables (zones keyed on the apex in wire form,
 * allocations on their label).  A key is read as 64-bit words from its end
 * backwards, the first word reaching up to 7 octets before the key (masked
 * off), so a query name is hashed and compared in place, eight octets at a
 * time, with no per-octet loop.  Case folds by a mask: a stored key keeps
 * every bit of each octet except 0x20 of its (lowercase) letters, which
 * makes the compare exact for everything else (RFC 4343 §3).  The zone
 * search probes only the suffix lengths (in labels) some apex has, from
 * the root down, and a depth with one apex is compared without hashing.
 */
#include "zones.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "wire.h"

struct slot {
    uint32_t hash;
    uint32_t idx; /* item index + 1; 0: empty */
};

struct htab {
    struct slot *slot;
    uint32_t mask; /* slot count - 1; the count is a power of two */
    uint32_t n;
};

/* 12 octets an allocation, its key in one array for all: an ESP's table
 * holds 100,000 of them, one per worker. */
struct alloc {
    uint32_t id;
    uint32_t key;                     /* akey[key]: nw words, then nw masks */
    uint8_t len, nw;                  /* key octets (the wire label), words */
};

struct zonetab {
    uint64_t depth[2];  /* bit d-1: some apex has d labels (d <= 127) */
    uint64_t many[2];   /* bit d-1: more than one has */
    const struct zone *only[127]; /* [d-1]: the one apex of d labels, if one */
    struct zone **zone;
    unsigned nzones, zcap;
    struct alloc *alloc;
    unsigned nallocs, acap;
    unsigned dead;        /* records of dropped allocations (id 0) */
    uint64_t *akey;
    size_t nakey, akcap;  /* words */
    struct htab zh, ah;
};

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* The mask of a key's first word: its 8 - R leading octets are not the
 * key's, the R others fold case.  Read from bytes, so any byte order. */
static uint64_t lead_fold(unsigned r)
{
    static const uint8_t m[16] = { 0, 0, 0, 0, 0, 0, 0, 0,
                                   0xDF, 0xDF, 0xDF, 0xDF, 0xDF, 0xDF, 0xDF, 0xDF };
    return load64(m + r);
}

/* The hash of the LEN (1..255) octets ending at END, letters folded
 * (with a few other octets, which the compare tells apart). */
static uint32_t key_hash(const uint8_t *end, unsigned len)
{
    uint64_t h = len;

    for (; len > 8; len -= 8) {
        end -= 8;
        h = (h ^ (load64(end) & 0xDFDFDFDFDFDFDFDFull)) * 0x9E3779B97F4A7C15ull;
    }
    h = (h ^ (load64(end - 8) & lead_fold(len))) * 0x9E3779B97F4A7C15ull;
    /* A product's high bits miss the multiplier's high octets: names that
     * differ in their last octets only (customer-0001, -0002) would share
     * a chain.  Mix them in (MurmurHash3's finaliser). */
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return (uint32_t)(h >> 32);
}

/* KEY (NW words, then NW masks) equals the NW words ending at END. */
static inline int key_equal(const uint64_t *key, unsigned nw, const uint8_t *end)
{
    uint64_t diff = (load64(end - 8) & key[nw]) ^ key[0];

    for (unsigned k = 1; k < nw; k++)
        diff |= (load64(end - 8 * (k + 1)) & key[nw + k]) ^ key[k];
    return diff == 0;
}

/* The key of the lowercase octets S[0..LEN) into KEY (2 * nw words). */
static void key_make(const uint8_t *s, unsigned len, uint64_t *key)
{
    uint8_t v[8 + DNS_NAME_MAX + 1] = { 0 }, m[8 + DNS_NAME_MAX + 1] = { 0 };
    unsigned nw = (len + 7) / 8;

    memcpy(v + 8, s, len);
    for (unsigned i = 0; i < len; i++)
        m[8 + i] = s[i] >= 'a' && s[i] <= 'z' ? 0xDF : 0xFF;
    for (unsigned k = 0; k < nw; k++) {
        key[nw + k] = load64(m + 8 + len - 8 * (k + 1));
        key[k] = load64(v + 8 + len - 8 * (k + 1)) & key[nw + k];
    }
}

static int htab_grow(struct htab *h)
{
    uint32_t size = h->slot ? (h->mask + 1) * 2 : 16;
    struct slot *s = calloc(size, sizeof *s);

    if (!s)
        return SPFDB_ENOMEM;
    for (uint32_t i = 0; h->slot && i <= h->mask; i++) {
        if (!h->slot[i].idx)
            continue;
        uint32_t j = h->slot[i].hash & (size - 1);
        while (s[j].idx)
            j = (j + 1) & (size - 1);
        s[j] = h->slot[i];
    }
    free(h->slot);
    h->slot = s;
    h->mask = size - 1;
    return 0;
}

/* Empty slot I, moving later entries of its probe run back so that every
 * lookup still finds them (linear probing has no tombstones here). */
static void htab_remove(struct htab *h, uint32_t i)
{
    for (uint32_t k = (i + 1) & h->mask; h->slot[k].idx; k = (k + 1) & h->mask) {
        uint32_t home = h->slot[k].hash & h->mask;
        if (((k - home) & h->mask) >= ((k - i) & h->mask)) { /* I is on K's path */
            h->slot[i] = h->slot[k];
            i = k;
        }
    }
    h->slot[i].idx = 0;
    h->slot[i].hash = 0;
    h->n--;
}

static int htab_put(struct htab *h, uint32_t hash, uint32_t idx)
{
    if (!h->slot || (h->n + 1) * 2 > h->mask + 1) {
        int err = htab_grow(h);
        if (err)
            return err;
    }
    uint32_t j = hash & h->mask;
    while (h->slot[j].idx)
        j = (j + 1) & h->mask;
    h->slot[j].hash = hash;
    h->slot[j].idx = idx + 1;
    h->n++;
    return 0;
}

/* The zone whose apex is the LEN octets ending at END. */
static const struct zone *zone_get(const struct zonetab *t, const uint8_t *end, unsigned len)
{
    const struct htab *h = &t->zh;
    uint32_t hash = key_hash(end, len);

    for (uint32_t j = hash & h->mask; h->slot[j].idx; j = (j + 1) & h->mask) {
        const struct zone *z = t->zone[h->slot[j].idx - 1];
        if (h->slot[j].hash == hash && z->apex_len == len && key_equal(z->key, z->nw, end))
            return z;
    }
    return NULL;
}

uint32_t zonetab_alloc_id(const struct zonetab *t, const uint8_t *label)
{
    const struct htab *h = &t->ah;
    unsigned len = 1 + (unsigned)label[0];
    const uint8_t *end = label + len;

    if (!h->slot)
        return 0;
    uint32_t hash = key_hash(end, len);
    for (uint32_t j = hash & h->mask; h->slot[j].idx; j = (j + 1) & h->mask) {
        const struct alloc *a = &t->alloc[h->slot[j].idx - 1];
        if (h->slot[j].hash == hash && a->len == len && key_equal(t->akey + a->key, a->nw, end))
            return a->id;
    }
    return 0;
}

const struct zone *zonetab_find(const struct zonetab *t, const uint8_t *name,
                                const uint8_t *label, unsigned nlabels, unsigned *apex_label)
{
    if (!t || nlabels == 0 || !t->zh.slot)
        return NULL;
    /* Each served depth from the root down: zones never nest (SPEC §2),
     * so the first served suffix is the zone. */
    const uint8_t *end = name + label[nlabels - 1] + 1 + name[label[nlabels - 1]] + 1;
    for (unsigned w = 0; w < 2 && nlabels > 64 * w; w++) {
        uint64_t bits = t->depth[w];
        if (nlabels - 64 * w < 64)
            bits &= (1ull << (nlabels - 64 * w)) - 1;
        for (; bits; bits &= bits - 1) {
            unsigned b = (unsigned)__builtin_ctzll(bits), i = nlabels - 64 * w - 1 - b;
            unsigned len = (unsigned)(end - name - label[i]);
            const struct zone *z = t->only[64 * w + b];
            if (t->many[w] >> b & 1)
                z = zone_get(t, end, len);
            else if (z->apex_len != len || !key_equal(z->key, z->nw, end))
                continue;
            if (z) {
                *apex_label = i;
                return z;
            }
        }
    }
    return NULL;
}

/* "a.b.c" (a trailing dot allowed) into lowercase wire form; -1 when it is
 * empty, has an empty or long label, or is too long. */
static int to_wire(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0, len = strlen(s);

    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && s[j] != '.')
            j++;
        if (j == i || j - i > DNS_LABEL_MAX || n + 1 + (j - i) + 1 > cap)
            return -1;
        out[n++] = (uint8_t)(j - i);
        for (size_t k = i; k < j; k++)
            out[n++] = lower((uint8_t)s[k]);
        i = j + 1;
    }
    out[n++] = 0;
    return (int)n;
}

/* RFC 1035 §8: the mailbox's local part is one label, dots and all. */
static int mailbox_to_wire(const char *mbox, uint8_t *out, size_t cap)
{
    const char *at = strrchr(mbox, '@');

    if (!at || at == mbox || at - mbox > DNS_LABEL_MAX || (size_t)(at - mbox) + 1 > cap)
        return -1;
    out[0] = (uint8_t)(at - mbox);
    memcpy(out + 1, mbox, (size_t)(at - mbox));
    int n = to_wire(at + 1, out + 1 + out[0], cap - 1 - out[0]);
    return n < 0 ? -1 : 1 + out[0] + n;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    put_be16(p, v);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    put_be32(p, v);
    return p + 4;
}

/* A record's fixed part: owner OWNER (a pointer, or 0 to patch), type,
 * class IN, TTL, RDLENGTH. */
static uint8_t *rr_head(uint8_t *p, uint16_t owner, uint16_t type, uint32_t ttl, size_t rdlen)
{
    p = put16(p, owner);
    p = put16(p, type);
    p = put16(p, DNS_C_IN);
    p = put32(p, ttl);
    return put16(p, (uint16_t)rdlen);
}

int zonetab_add_zone(struct zonetab *t, const struct spfdb_zone *z)
{
    uint8_t abuf[8 + DNS_NAME_MAX], *apex = abuf + 8; /* 8: key_hash reads before */
    uint8_t soa[2 * DNS_NAME_MAX + 20], ns[SPFDB_NS_MAX][DNS_NAME_MAX];
    char mbox[2 * SPFDB_NAME_MAX + 2];
    int alen, mlen, rlen, nslen[SPFDB_NS_MAX];
    size_t total = 0;

    if (z->n_ns < 1 || z->n_ns > SPFDB_NS_MAX)
        return SPFDB_EINVAL;
    alen = to_wire(z->name, apex, DNS_NAME_MAX);
    for (unsigned i = 0; i < z->n_ns; i++) {
        nslen[i] = to_wire(z->ns[i], ns[i], sizeof ns[i]);
        if (nslen[i] < 0)
            return SPFDB_EINVAL;
        total += 12 + (size_t)nslen[i];
    }
    if (alen < 0 || spfdb_hostmaster(z->hostmaster, z->ns[0], mbox, sizeof mbox) != 0)
        return SPFDB_EINVAL;
    mlen = nslen[0];
    memcpy(soa, ns[0], (size_t)mlen);
    rlen = mailbox_to_wire(mbox, soa + mlen, DNS_NAME_MAX);
    if (rlen < 0)
        return SPFDB_EINVAL;
    uint8_t *num = soa + mlen + rlen;
    num = put32(num, 0); /* serial: per answer */
    num = put32(num, 14400);
    num = put32(num, 3600);
    num = put32(num, 1209600);
    put32(num, z->neg_ttl);
    size_t soa_len = (size_t)(mlen + rlen + 20);

    unsigned nw = ((unsigned)alen + 7) / 8;
    if (t->zh.slot && zone_get(t, apex + alen, (unsigned)alen))
        return SPFDB_EINVAL;
    if (t->nzones == t->zcap) {
        unsigned cap = t->zcap ? t->zcap * 2 : 16;
        struct zone **nz = realloc(t->zone, cap * sizeof *nz);
        if (!nz)
            return SPFDB_ENOMEM;
        t->zone = nz;
        t->zcap = cap;
    }
    size_t keylen = 2 * nw * sizeof(uint64_t);
    struct zone *e = malloc(sizeof *e + keylen + (size_t)alen + 12 + soa_len + total);
    if (!e)
        return SPFDB_ENOMEM;
    e->alloc_id = z->alloc_id;
    e->ttl = z->ttl;
    e->neg_ttl = z->neg_ttl;
    e->nw = (uint8_t)nw;
    key_make(apex, (unsigned)alen, e->key);
    uint8_t *p = (uint8_t *)e->key + keylen;
    e->apex_len = (uint8_t)alen;
    e->apex = p;
    memcpy(p, apex, (size_t)alen);
    p += alen;
    e->soa_rr = p;
    e->soa_rr_len = (uint16_t)(12 + soa_len);
    p = rr_head(p, 0, DNS_T_SOA, z->neg_ttl, soa_len);
    memcpy(p, soa, soa_len);
    p += soa_len;
    e->ns_rr = p;
    e->ns_count = (uint16_t)z->n_ns;
    e->ns_rr_len = (uint16_t)total;
    for (unsigned i = 0; i < z->n_ns; i++) {
        p = rr_head(p, 0xC000 | DNS_HDR, DNS_T_NS, z->ttl, (size_t)nslen[i]);
        memcpy(p, ns[i], (size_t)nslen[i]);
        p += nslen[i];
    }
    p = rr_head(e->a_rr, 0xC000 | DNS_HDR, DNS_T_A, z->ttl, 4);
    memcpy(p, (const uint8_t[]){ 127, 0, 0, 2 }, 4);
    p = rr_head(e->none_rr, 0xC000 | DNS_HDR, DNS_T_TXT, z->neg_ttl, 12);
    memcpy(p, "\013v=spf1 ~all", 12);

    int err = htab_put(&t->zh, key_hash(apex + alen, (unsigned)alen), t->nzones);
    if (err) {
        free(e);
        return err;
    }
    t->zone[t->nzones++] = e;
    unsigned d = 0; /* labels of the apex */
    for (int i = 0; apex[i] != 0; i += 1 + apex[i])
        d++;
    uint64_t bit = 1ull << ((d - 1) & 63);
    if (t->depth[(d - 1) >> 6] & bit)
        t->many[(d - 1) >> 6] |= bit;
    t->depth[(d - 1) >> 6] |= bit;
    t->only[d - 1] = e;
    return 0;
}

/* NAME as a wire label, lowercase, after 8 octets of zeros (lookups read
 * before a label) in LABEL: its length, or 0 when it cannot be one. */
static size_t alloc_label(const char *name, uint8_t *label)
{
    size_t len = strlen(name);

    if (len == 0 || len > DNS_LABEL_MAX || strchr(name, '.'))
        return 0;
    memset(label, 0, 8);
    label[8] = (uint8_t)len;
    for (size_t i = 0; i < len; i++)
        label[9 + i] = lower((uint8_t)name[i]);
    return len;
}

int zonetab_del_alloc(struct zonetab *t, const char *name)
{
    uint8_t label[8 + 1 + DNS_LABEL_MAX];
    size_t len = alloc_label(name, label);
    struct htab *h = &t->ah;

    if (len == 0 || !h->slot)
        return SPFDB_ENOTFOUND;
    const uint8_t *end = label + 9 + len;
    uint32_t hash = key_hash(end, 1 + (unsigned)len);
    for (uint32_t j = hash & h->mask; h->slot[j].idx; j = (j + 1) & h->mask) {
        struct alloc *a = &t->alloc[h->slot[j].idx - 1];
        if (h->slot[j].hash == hash && a->len == 1 + len && key_equal(t->akey + a->key, a->nw, end)) {
            a->id = 0;
            t->dead++;
            htab_remove(h, j);
            return 0;
        }
    }
    return SPFDB_ENOTFOUND;
}

unsigned zonetab_alloc_count(const struct zonetab *t)
{
    return t ? t->nallocs - t->dead : 0;
}

unsigned zonetab_alloc_dead(const struct zonetab *t)
{
    return t ? t->dead : 0;
}

int zonetab_add_alloc(struct zonetab *t, const char *name, uint32_t id)
{
    uint8_t label[8 + 1 + DNS_LABEL_MAX];
    size_t len = alloc_label(name, label);

    if (id == 0 || len == 0)
        return SPFDB_EINVAL;
    if (zonetab_alloc_id(t, label + 8))
        return SPFDB_EINVAL;
    if (t->nallocs == t->acap) {
        unsigned cap = t->acap ? t->acap * 2 : 16;
        struct alloc *na = realloc(t->alloc, cap * sizeof *na);
        if (!na)
            return SPFDB_ENOMEM;
        t->alloc = na;
        t->acap = cap;
    }
    unsigned nw = (unsigned)(1 + len + 7) / 8;
    if (t->nakey + 2 * nw > t->akcap) {
        size_t cap = t->akcap ? t->akcap * 2 : 64;
        uint64_t *nk = cap > UINT32_MAX ? NULL : realloc(t->akey, cap * sizeof *nk);
        if (!nk)
            return SPFDB_ENOMEM;
        t->akey = nk;
        t->akcap = cap;
    }
    int err = htab_put(&t->ah, key_hash(label + 9 + len, 1 + (unsigned)len), t->nallocs);
    if (err)
        return err;
    struct alloc *a = &t->alloc[t->nallocs++];
    a->id = id;
    a->len = (uint8_t)(1 + len);
    a->nw = (uint8_t)nw;
    a->key = (uint32_t)t->nakey;
    key_make(label + 8, 1 + (unsigned)len, t->akey + t->nakey);
    t->nakey += 2 * nw;
    return 0;
}

struct zonetab *zonetab_new(void)
{
    return calloc(1, sizeof(struct zonetab));
}

void zonetab_free(struct zonetab *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < t->nzones; i++)
        free(t->zone[i]);
    free(t->zone);
    free(t->alloc);
    free(t->akey);
    free(t->zh.slot);
    free(t->ah.slot);
    free(t);
}

unsigned zonetab_zone_count(const struct zonetab *t)
{
    return t ? t->nzones : 0;
}
