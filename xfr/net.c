/* net.c: one commit's changes netted (net.h). */
#include "net.h"

#include <string.h>

/* FNV-1a over the fields, then a finalizer (splitmix64's) that spreads
 * them over the low bits that pick a slot. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    return mix(h, s, strlen(s) + 1); /* the NUL ends it: "a"+"bc" is not "ab"+"c" */
}

static uint64_t mix_u32(uint64_t h, uint32_t v)
{
    return mix(h, &v, sizeof v);
}

static uint64_t finish(uint64_t h)
{
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1; /* 0 marks a free slot */
}

/* The hashes of REC's identity and of the whole record: -1 for a kind no
 * change holds. */
static int hash(const struct xfr_obj *rec, uint64_t *id, uint64_t *whole)
{
    uint64_t h = mix_u32(0xcbf29ce484222325ull, (uint32_t)rec->kind);
    const struct spfdb_zone *z = &rec->zone;

    switch (rec->kind) {
    case XFR_ENTRY:
        h = mix_str(h, rec->entry.alloc);
        h = mix(h, &rec->entry.prefix.family, 1);
        h = mix(h, &rec->entry.prefix.len, 1);
        h = mix(h, rec->entry.prefix.addr, sizeof rec->entry.prefix.addr);
        break;
    case XFR_ALLOC:
        h = mix_str(h, rec->alloc.alloc);
        break;
    case XFR_MEMBER:
        h = mix_str(mix_str(h, rec->member.alloc), rec->member.member);
        break;
    case XFR_ZONE:
        h = mix_str(h, z->name);
        break;
    default:
        return -1;
    }
    *id = finish(h);
    if (rec->kind == XFR_ZONE) {
        /* what its record carries (layout.h), alloc_id aside */
        h = mix_u32(mix_u32(mix_str(h, z->alloc), z->ttl), z->neg_ttl);
        h = mix_u32(mix_str(h, z->hostmaster), z->n_ns);
        for (unsigned i = 0; i < z->n_ns && i < SPFDB_NS_MAX; i++)
            h = mix_str(h, z->ns[i]);
    }
    *whole = finish(h);
    return 0;
}

/* The slot of identity ID: its own, or the free one where it goes. */
static struct xfr_net_slot *slot(const struct xfr_net *n, uint64_t id)
{
    size_t mask = n->nslots - 1, i = (size_t)id & mask;

    while (n->slots[i].id != 0 && n->slots[i].id != id)
        i = (i + 1) & mask;
    return &n->slots[i];
}

size_t xfr_net_slots(size_t n)
{
    size_t s = 2;

    while (s < 2 * n)
        s *= 2;
    return s;
}

static int index_one(void *arg, int op, const struct xfr_obj *rec)
{
    struct xfr_net *n = arg;
    struct xfr_net_slot *s;
    uint64_t id, whole;

    if ((op != XFR_OP_DEL && op != XFR_OP_ADD) || hash(rec, &id, &whole) != 0 ||
        n->changes >= n->nslots / 2)
        return XFR_EINVAL;
    s = slot(n, id);
    if (s->id == 0) {
        s->id = id;
        s->first = n->changes;
        s->first_op = (uint8_t)op;
        s->first_rec = whole;
    }
    s->last = n->changes++;
    s->last_op = (uint8_t)op;
    s->last_rec = whole;
    return 0;
}

int xfr_net_index(struct xfr_net *n, struct xfr_net_slot *slots, size_t nslots,
                  xfr_walk_fn walk, void *walk_arg)
{
    n->slots = slots;
    n->nslots = nslots;
    n->changes = 0;
    if (nslots < 2 || (nslots & (nslots - 1)) != 0)
        return XFR_EINVAL;
    memset(slots, 0, nslots * sizeof *slots);
    return walk(walk_arg, index_one, n);
}

struct emit {
    const struct xfr_net *n;
    int op;
    uint32_t at;
    xfr_change_fn fn;
    void *arg;
};

static int emit_one(void *arg, int op, const struct xfr_obj *rec)
{
    struct emit *e = arg;
    const struct xfr_net_slot *s;
    uint32_t at = e->at++;
    uint64_t id, whole;
    int start, end;

    if (at >= e->n->changes || hash(rec, &id, &whole) != 0)
        return XFR_EINVAL;
    s = slot(e->n, id);
    if (s->id != id || at < s->first || at > s->last)
        return XFR_EINVAL;
    if (s->first == s->last)
        return op == e->op ? e->fn(e->arg, op, rec) : 0;
    /* Changed several times: the start record at its first change, the
     * end record at its last, each only when the other differs. */
    start = s->first_op == XFR_OP_DEL;
    end = s->last_op == XFR_OP_ADD;
    if (start && end && s->first_rec == s->last_rec)
        return 0;
    if (e->op == XFR_OP_DEL ? start && at == s->first : end && at == s->last)
        return e->fn(e->arg, e->op, rec);
    return 0;
}

int xfr_net_emit(const struct xfr_net *n, int op, xfr_walk_fn walk, void *walk_arg,
                 xfr_change_fn emit, void *emit_arg)
{
    struct emit e = {n, op, 0, emit, emit_arg};
    int r;

    if (op != XFR_OP_DEL && op != XFR_OP_ADD)
        return XFR_EINVAL;
    r = walk(walk_arg, emit_one, &e);
    if (r == 0 && e.at != n->changes)
        return XFR_EINVAL;
    return r;
}
