/* zones.c: the zone and allocation table.  See zones.h.
 *
 * Two open-addressing hash tables (zones keyed on the apex in wire form,
 * allocations on their label), both hashed case-insensitively.  A query
 * name's suffixes are hashed in one backward pass over its octets, so
 * finding the zone costs O(name length) whatever the number of zones; the
 * pass stops at the deepest apex served and probes only the suffix lengths
 * (in labels) that some apex has, so with one zone it hashes the apex only.
 */
#include "zones.h"

#include <stdlib.h>
#include <string.h>

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

struct alloc {
    uint32_t id;
    uint8_t label[1 + DNS_LABEL_MAX]; /* wire label, lowercase */
};

struct zonetab {
    uint64_t depth[2];  /* bit d-1: some apex has d labels (d <= 127) */
    unsigned maxdepth;  /* labels of the deepest apex */
    struct zone **zone;
    unsigned nzones, zcap;
    struct alloc *alloc;
    unsigned nallocs, acap;
    struct htab zh, ah;
};

enum { HASH_INIT = 0x811C9DC5u, HASH_MUL = 0x01000193u };

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* FNV-1a over the octets, last octet first, so that every suffix of a
 * name is hashed on the way to its start.  Setting 0x20 folds the letters'
 * case (and a few other octets together, which the compare sorts out). */
static uint32_t hash_back(uint32_t h, const uint8_t *p, size_t n)
{
    while (n > 0)
        h = (h ^ (p[--n] | 0x20u)) * HASH_MUL;
    return h;
}

static uint32_t slot_of(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x45D9F3Bu;
    return h ^ (h >> 16);
}

/* LOW (stored lowercase) equals B, ASCII letters of B in either case. */
static int same(const uint8_t *low, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (low[i] != lower(b[i]))
            return 0;
    return 1;
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
        uint32_t j = slot_of(h->slot[i].hash) & (size - 1);
        while (s[j].idx)
            j = (j + 1) & (size - 1);
        s[j] = h->slot[i];
    }
    free(h->slot);
    h->slot = s;
    h->mask = size - 1;
    return 0;
}

static int htab_put(struct htab *h, uint32_t hash, uint32_t idx)
{
    if (!h->slot || (h->n + 1) * 2 > h->mask + 1) {
        int err = htab_grow(h);
        if (err)
            return err;
    }
    uint32_t j = slot_of(hash) & h->mask;
    while (h->slot[j].idx)
        j = (j + 1) & h->mask;
    h->slot[j].hash = hash;
    h->slot[j].idx = idx + 1;
    h->n++;
    return 0;
}

static const struct zone *zone_get(const struct zonetab *t, uint32_t hash, const uint8_t *name,
                                   size_t len)
{
    const struct htab *h = &t->zh;

    if (!h->slot)
        return NULL;
    for (uint32_t j = slot_of(hash) & h->mask; h->slot[j].idx; j = (j + 1) & h->mask) {
        const struct zone *z = t->zone[h->slot[j].idx - 1];
        if (h->slot[j].hash == hash && z->apex_len == len && same(z->apex, name, len))
            return z;
    }
    return NULL;
}

uint32_t zonetab_alloc_id(const struct zonetab *t, const uint8_t *label)
{
    const struct htab *h = &t->ah;
    uint32_t hash = hash_back(HASH_INIT, label, 1 + (size_t)label[0]);

    if (!h->slot)
        return 0;
    for (uint32_t j = slot_of(hash) & h->mask; h->slot[j].idx; j = (j + 1) & h->mask) {
        const struct alloc *a = &t->alloc[h->slot[j].idx - 1];
        if (h->slot[j].hash == hash && a->label[0] == label[0] &&
            same(a->label + 1, label + 1, label[0]))
            return a->id;
    }
    return 0;
}

const struct zone *zonetab_find(const struct zonetab *t, const uint8_t *name,
                                const uint8_t *label, unsigned nlabels, unsigned *apex_label)
{
    if (!t || nlabels == 0 || t->maxdepth == 0)
        return NULL;
    /* The root octet, then each label from the right: zones never nest
     * (SPEC §2), so the first served suffix is the zone. */
    size_t root = label[nlabels - 1] + 1 + (size_t)name[label[nlabels - 1]];
    size_t end = root;
    uint32_t h = hash_back(HASH_INIT, name + root, 1);
    unsigned stop = nlabels > t->maxdepth ? nlabels - t->maxdepth : 0;
    for (unsigned i = nlabels; i-- > stop;) {
        unsigned d = nlabels - i - 1;
        h = hash_back(h, name + label[i], end - label[i]);
        end = label[i];
        if (!(t->depth[d >> 6] >> (d & 63) & 1))
            continue;
        const struct zone *z = zone_get(t, h, name + end, root + 1 - end);
        if (z) {
            *apex_label = i;
            return z;
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

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int zonetab_add_zone(struct zonetab *t, const struct spfdb_zone *z)
{
    uint8_t apex[DNS_NAME_MAX], soa[2 * DNS_NAME_MAX + 20], ns[SPFDB_NS_MAX][DNS_NAME_MAX];
    char mbox[2 * SPFDB_NAME_MAX + 2];
    int alen, mlen, rlen, nslen[SPFDB_NS_MAX];
    size_t total = 0;

    if (z->n_ns < 1 || z->n_ns > SPFDB_NS_MAX)
        return SPFDB_EINVAL;
    alen = to_wire(z->name, apex, sizeof apex);
    for (unsigned i = 0; i < z->n_ns; i++) {
        nslen[i] = to_wire(z->ns[i], ns[i], sizeof ns[i]);
        if (nslen[i] < 0)
            return SPFDB_EINVAL;
        total += (size_t)nslen[i];
    }
    if (alen < 0 || spfdb_hostmaster(z->hostmaster, z->ns[0], mbox, sizeof mbox) != 0)
        return SPFDB_EINVAL;
    mlen = nslen[0];
    memcpy(soa, ns[0], (size_t)mlen);
    rlen = mailbox_to_wire(mbox, soa + mlen, DNS_NAME_MAX);
    if (rlen < 0)
        return SPFDB_EINVAL;
    uint8_t *num = soa + mlen + rlen;
    put32(num, 0); /* serial: per answer */
    put32(num + 4, 14400);
    put32(num + 8, 3600);
    put32(num + 12, 1209600);
    put32(num + 16, z->neg_ttl);
    size_t soa_len = (size_t)(mlen + rlen + 20);

    uint32_t h = hash_back(HASH_INIT, apex, (size_t)alen);
    if (zone_get(t, h, apex, (size_t)alen))
        return SPFDB_EINVAL;
    if (t->nzones == t->zcap) {
        unsigned cap = t->zcap ? t->zcap * 2 : 16;
        struct zone **nz = realloc(t->zone, cap * sizeof *nz);
        if (!nz)
            return SPFDB_ENOMEM;
        t->zone = nz;
        t->zcap = cap;
    }
    struct zone *e = malloc(sizeof *e + (size_t)alen + soa_len + total);
    if (!e)
        return SPFDB_ENOMEM;
    e->alloc_id = z->alloc_id;
    e->ttl = z->ttl;
    e->neg_ttl = z->neg_ttl;
    e->apex_len = (uint8_t)alen;
    memcpy(e->apex, apex, (size_t)alen);
    uint8_t *p = e->apex + alen;
    memcpy(p, soa, soa_len);
    e->soa = p;
    e->soa_len = (uint16_t)soa_len;
    p += soa_len;
    e->ns_count = (uint16_t)z->n_ns;
    for (unsigned i = 0; i < z->n_ns; i++) {
        memcpy(p, ns[i], (size_t)nslen[i]);
        e->ns[i] = p;
        e->ns_len[i] = (uint8_t)nslen[i];
        p += nslen[i];
    }
    int err = htab_put(&t->zh, h, t->nzones);
    if (err) {
        free(e);
        return err;
    }
    t->zone[t->nzones++] = e;
    unsigned d = 0; /* labels of the apex */
    for (int i = 0; apex[i] != 0; i += 1 + apex[i])
        d++;
    t->depth[(d - 1) >> 6] |= 1ull << ((d - 1) & 63);
    if (d > t->maxdepth)
        t->maxdepth = d;
    return 0;
}

int zonetab_add_alloc(struct zonetab *t, const char *name, uint32_t id)
{
    size_t len = strlen(name);
    uint8_t label[1 + DNS_LABEL_MAX];

    if (id == 0 || len == 0 || len > DNS_LABEL_MAX || strchr(name, '.'))
        return SPFDB_EINVAL;
    label[0] = (uint8_t)len;
    for (size_t i = 0; i < len; i++)
        label[1 + i] = lower((uint8_t)name[i]);
    if (zonetab_alloc_id(t, label))
        return SPFDB_EINVAL;
    if (t->nallocs == t->acap) {
        unsigned cap = t->acap ? t->acap * 2 : 16;
        struct alloc *na = realloc(t->alloc, cap * sizeof *na);
        if (!na)
            return SPFDB_ENOMEM;
        t->alloc = na;
        t->acap = cap;
    }
    int err = htab_put(&t->ah, hash_back(HASH_INIT, label, 1 + len), t->nallocs);
    if (err)
        return err;
    struct alloc *a = &t->alloc[t->nallocs++];
    a->id = id;
    memcpy(a->label, label, 1 + len);
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
    free(t->zh.slot);
    free(t->ah.slot);
    free(t);
}

unsigned zonetab_zone_count(const struct zonetab *t)
{
    return t ? t->nzones : 0;
}
