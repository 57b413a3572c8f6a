/* set.c: the IP set of each allocation, as stored (set.h; docs/design.md).
 *
 * Both databases are MDB_DUPSORT|MDB_DUPFIXED: under the key
 * alloc_id | family each holds sorted fixed-size members address | length
 * (5 bytes for IPv4, 17 for IPv6), packed in arrays without per-item
 * headers.
 *   prefixes: every entry
 *   maximal:  the maximal entries
 * CIDR prefixes nest or are disjoint, so the maximal entries are disjoint
 * and their union is the allocation's: the maximal entry with the greatest
 * start at or below an address is the only one that can contain it.
 */
#include "bytes.h"
#include "env.h"
#include "set.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

#define PENDING_MAX 65536 /* members held before an MDB_MULTIPLE put */

/* KEY and M (of 5 and SET_MEMBER_MAX bytes) become the pair of ADDR/LEN. */
static void pair(uint8_t *key, uint8_t *m, uint32_t id, int family, const uint8_t *addr,
                 unsigned len)
{
    put_be32(key, id);
    key[4] = (uint8_t)family;
    memcpy(m, addr, set_alen(family));
    m[set_alen(family)] = (uint8_t)len;
}

/* KEY and VAL at the pair K, M (of an N-byte address): LMDB overwrites
 * them with the stored pair's, so each call sets them again. */
static void at(MDB_val *key, uint8_t *k, MDB_val *val, uint8_t *m, unsigned n)
{
    key->mv_data = k;
    key->mv_size = 5;
    val->mv_data = m;
    val->mv_size = n + 1;
}

/* Do A and B agree in their first LEN bits? */
static int match(const uint8_t *a, const uint8_t *b, unsigned len)
{
    unsigned full = len / 8, rest = len % 8;

    if (memcmp(a, b, full) != 0)
        return 0;
    return !rest || ((a[full] ^ b[full]) & (0xffu << (8 - rest)) & 0xff) == 0;
}

static void last_addr(const uint8_t *addr, unsigned len, unsigned n, uint8_t *end)
{
    unsigned full = len / 8;

    memcpy(end, addr, n);
    if (full < n) { /* a byte at a time: the merge's maximal pass calls this per entry */
        end[full] |= (uint8_t)(0xffu >> (len % 8));
        memset(end + full + 1, 0xff, n - full - 1);
    }
}

/* A += 1; returns 0 when it wrapped past the last address. */
static int next_addr(uint8_t *a, unsigned n)
{
    while (n--)
        if (++a[n] != 0)
            return 1;
    return 0;
}

/* Store DB's pending members: one MDB_MULTIPLE put appends them all. */
static int flush(spfdb_txn *t, int db)
{
    struct tail *tl = &t->tail[db - DB_PREFIXES];
    MDB_val key = {5, tl->key}, v[2] = {{tl->msize, tl->buf}, {tl->n, NULL}};
    MDB_cursor *c;
    size_t n = tl->n;
    int rc;

    if (n == 0)
        return 0;
    tl->n = 0;
    rc = store_cursor(t, db, &c);
    if (rc)
        return rc;
    rc = mdb_cursor_put(c, &key, v, MDB_MULTIPLE | MDB_APPENDDUP);
    if (rc == 0 && v[1].mv_size != n)
        rc = MDB_CORRUPTED;
    return rc ? store_fail(t, rc) : 0;
}

/* DB's cursor, its pending members stored first. */
static int set_cursor(spfdb_txn *t, int db, MDB_cursor **c)
{
    int rc = t->tail[db - DB_PREFIXES].n ? flush(t, db) : 0;

    return rc ? rc : store_cursor(t, db, c);
}

/* Before DB changes other than by put_member: no member pending, no tail. */
static int untail(spfdb_txn *t, int db)
{
    t->tail[db - DB_PREFIXES].ok = 0;
    return flush(t, db);
}

int set_flush(spfdb_txn *t)
{
    int rc = flush(t, DB_PREFIXES);

    return rc ? rc : flush(t, DB_MAXIMAL);
}

void set_free(spfdb_txn *t)
{
    for (int i = 0; i < 2; i++) {
        free(t->tail[i].buf);
        memset(&t->tail[i], 0, sizeof t->tail[i]);
    }
}

/* The maximal entry that contains ADDR: 1 with *LEN, 0 when none, <0.  One
 * descent (MDB_GET_BOTH_RANGE) and, unless ADDR starts a maximal entry, one
 * step back; a second descent only when ADDR lies past the last one. */
int set_top(spfdb_txn *t, uint32_t id, int family, const uint8_t *addr, uint8_t *len)
{
    unsigned n = set_alen(family);
    uint8_t k[5], m[SET_MEMBER_MAX];
    MDB_val key = {5, k}, val = {n + 1, m};
    MDB_cursor *c;
    const uint8_t *v;
    int rc = set_cursor(t, DB_MAXIMAL, &c);

    if (rc)
        return rc;
    pair(k, m, id, family, addr, 0);
    rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH_RANGE);
    if (rc == 0 && memcmp(val.mv_data, addr, n) != 0) {
        rc = mdb_cursor_get(c, &key, &val, MDB_PREV_DUP);
    } else if (rc == MDB_NOTFOUND) {
        key.mv_data = k;
        key.mv_size = 5;
        rc = mdb_cursor_get(c, &key, &val, MDB_SET);
        if (rc == 0)
            rc = mdb_cursor_get(c, &key, &val, MDB_LAST_DUP);
    }
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store_fail(t, rc);
    v = val.mv_data;
    if (val.mv_size != n + 1 || v[n] > n * 8)
        return SPFDB_EFORMAT;
    if (!match(v, addr, v[n]))
        return 0;
    *len = v[n];
    return 1;
}


/* Put a member: SPFDB_EEXIST when present.  Bulk loads arrive sorted: a
 * member past its key's last is held for an MDB_MULTIPLE append (pages
 * filled, not split in half, and no descent per member); any other is put
 * at once, as an append when LMDB agrees it is last. */
static int put_member(spfdb_txn *t, int db, const uint8_t *k, const uint8_t *m, unsigned n)
{
    struct tail *tl = &t->tail[db - DB_PREFIXES];
    uint8_t kb[5], mb[SET_MEMBER_MAX];
    MDB_cursor *c;
    MDB_val key = {5, kb}, val = {n + 1, mb};
    int rc;

    if (tl->ok && memcmp(k, tl->key, 5) == 0 && memcmp(m, tl->m, n + 1) > 0) {
        if (tl->n == PENDING_MAX && (rc = flush(t, db)) != 0)
            return rc;
        if ((tl->n + 1) * (n + 1) > tl->cap) {
            size_t cap = tl->cap ? 2 * tl->cap : 4096;
            uint8_t *b = realloc(tl->buf, cap);

            if (b == NULL)
                return t->err = SPFDB_ENOMEM; /* sticky: half an add may be made */
            tl->buf = b;
            tl->cap = cap;
        }
        memcpy(tl->buf + tl->n++ * (n + 1), m, n + 1);
        memcpy(tl->m, m, n + 1);
        return 0;
    }
    rc = set_cursor(t, db, &c);
    if (rc)
        return rc;
    memcpy(kb, k, 5);
    memcpy(mb, m, n + 1);
    rc = mdb_cursor_put(c, &key, &val, MDB_APPENDDUP);
    if ((tl->ok = rc == 0)) { /* nothing pending (set_cursor) */
        tl->msize = n + 1;
        memcpy(tl->key, k, 5);
        memcpy(tl->m, m, n + 1);
    }
    if (rc == MDB_KEYEXIST) {
        at(&key, kb, &val, mb, n);
        rc = mdb_cursor_put(c, &key, &val, MDB_NODUPDATA);
    }
    if (rc == MDB_KEYEXIST)
        return SPFDB_EEXIST;
    return rc ? store_fail(t, rc) : 0;
}

/* P is maximal: the maximal entries inside it (starting in [start(P),
 * end(P)]: they are disjoint and none contains P) give way to it.  Each
 * delete re-seeks, which keeps the walk independent of how LMDB positions
 * a cursor after a delete. */
static int top_insert(spfdb_txn *t, const uint8_t *k, const uint8_t *m, unsigned n)
{
    uint8_t end[16], sk[5], sm[SET_MEMBER_MAX];
    MDB_cursor *c;
    MDB_val key, val;
    int rc = untail(t, DB_MAXIMAL);

    if (rc == 0)
        rc = store_cursor(t, DB_MAXIMAL, &c);
    if (rc)
        return rc;
    last_addr(m, m[n], n, end);
    for (;;) {
        memcpy(sk, k, 5);
        memcpy(sm, m, n);
        sm[n] = 0;
        at(&key, sk, &val, sm, n);
        rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH_RANGE);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc)
            return store_fail(t, rc);
        if (val.mv_size != n + 1 || memcmp(val.mv_data, end, n) > 0)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc)
            return store_fail(t, rc);
    }
    memcpy(sk, k, 5);
    memcpy(sm, m, n + 1);
    rc = put_member(t, DB_MAXIMAL, sk, sm, n);
    return rc == SPFDB_EEXIST ? SPFDB_EFORMAT : rc;
}

int set_add(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    uint8_t k[5], m[SET_MEMBER_MAX], len = 0;
    struct tail *tl;
    unsigned n = set_alen(p->family);
    int rc;

    pair(k, m, alloc_id, p->family, p->addr, p->len);
    rc = put_member(t, DB_PREFIXES, k, m, n);
    if (rc)
        return rc;
    tl = &t->tail[DB_MAXIMAL - DB_PREFIXES];
    if (tl->ok && memcmp(k, tl->key, 5) == 0 && memcmp(m, tl->m, n) > 0) {
        /* past the last maximal entry: only it could contain P, and none
         * lies inside P */
        if (!match(tl->m, m, tl->m[n]))
            rc = put_member(t, DB_MAXIMAL, k, m, n);
    } else {
        rc = set_top(t, alloc_id, p->family, p->addr, &len);
        if (rc >= 0)
            rc = rc == 0 || len > p->len ? top_insert(t, k, m, n) : 0;
    }
    return rc;
}

/* After maximal entry P is removed: the entries inside P not inside
 * another become maximal.  Each found entry is maximal (the shortest at
 * its address, past every earlier one); the walk then seeks past its end. */
static int promote(spfdb_txn *t, const uint8_t *k, const struct spfdb_prefix *p)
{
    uint8_t seek[SET_MEMBER_MAX], end[16], sk[5];
    unsigned n = set_alen(p->family);
    MDB_val key, val;
    MDB_cursor *c;
    int rc = set_cursor(t, DB_PREFIXES, &c);

    if (rc)
        return rc;
    memcpy(seek, p->addr, n);
    last_addr(p->addr, p->len, n, end);
    for (;;) {
        uint8_t e[SET_MEMBER_MAX];

        seek[n] = 0;
        memcpy(sk, k, 5);
        at(&key, sk, &val, seek, n);
        rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH_RANGE);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return store_fail(t, rc);
        if (val.mv_size != n + 1)
            return SPFDB_EFORMAT;
        /* copied: a put may spill the page VAL points into */
        memcpy(e, val.mv_data, n + 1);
        if (memcmp(e, end, n) > 0)
            return 0;
        if (e[n] > n * 8)
            return SPFDB_EFORMAT;
        memcpy(sk, k, 5);
        at(&key, sk, &val, e, n);
        rc = mdb_put(t->mdb, t->env->dbi[DB_MAXIMAL], &key, &val, MDB_NODUPDATA);
        if (rc)
            return rc == MDB_KEYEXIST ? SPFDB_EFORMAT : store_fail(t, rc);
        last_addr(e, e[n], n, seek);
        if (!next_addr(seek, n))
            return 0;
    }
}

int set_del(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    uint8_t k[5], m[SET_MEMBER_MAX];
    MDB_val key = {5, k}, val = {set_alen(p->family) + 1, m};
    int rc = untail(t, DB_PREFIXES);

    pair(k, m, alloc_id, p->family, p->addr, p->len);
    if (rc == 0)
        rc = untail(t, DB_MAXIMAL);
    if (rc)
        return rc;
    rc = mdb_del(t->mdb, t->env->dbi[DB_PREFIXES], &key, &val);
    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    at(&key, k, &val, m, set_alen(p->family));
    rc = mdb_del(t->mdb, t->env->dbi[DB_MAXIMAL], &key, &val);
    if (rc == 0)
        rc = promote(t, k, p);
    else if (rc == MDB_NOTFOUND)
        rc = 0; /* not maximal */
    else
        rc = store_fail(t, rc);
    return rc;
}

int set_has(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    uint8_t k[5], m[SET_MEMBER_MAX];
    MDB_val key = {5, k}, val = {set_alen(p->family) + 1, m};
    MDB_cursor *c;
    int rc = set_cursor(t, DB_PREFIXES, &c);

    if (rc)
        return rc;
    pair(k, m, alloc_id, p->family, p->addr, p->len);
    rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? store_fail(t, rc) : 1;
}

/* P from a member of FAMILY's key; SPFDB_EFORMAT when it is not one. */
static int member_prefix(int family, const MDB_val *val, struct spfdb_prefix *p)
{
    unsigned n = set_alen(family);

    memset(p, 0, sizeof *p);
    if ((family != 4 && family != 6) || val->mv_size != n + 1)
        return SPFDB_EFORMAT;
    p->family = (uint8_t)family;
    memcpy(p->addr, val->mv_data, n);
    p->len = ((const uint8_t *)val->mv_data)[n];
    return spfdb_prefix_valid(p) ? 0 : SPFDB_EFORMAT;
}

static int entry_each(const MDB_val *k, const MDB_val *v, void *arg)
{
    const struct store_pass *w = arg;
    struct spfdb_prefix p;
    int rc = k->mv_size == 5 ? member_prefix(((const uint8_t *)k->mv_data)[4], v, &p)
                             : SPFDB_EFORMAT;

    return rc ? rc : ((spfdb_entry_fn)w->fn)(&p, w->arg);
}

int set_foreach(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg)
{
    struct store_pass w = {(void (*)(void))fn, arg, t, 0};
    uint8_t k[4];
    MDB_val key = {4, k};
    int rc = flush(t, DB_PREFIXES);

    put_be32(k, alloc_id);
    return rc ? rc : store_walk(t, DB_PREFIXES, &key, 4, entry_each, &w);
}

int set_drop(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg)
{
    static const int families[] = {4, 6};
    uint8_t k[5];
    int rc = untail(t, DB_PREFIXES);

    if (rc == 0)
        rc = untail(t, DB_MAXIMAL);
    if (rc)
        return rc;
    put_be32(k, alloc_id);
    for (size_t i = 0; i < 2; i++) {
        MDB_cursor *c;
        MDB_val key = {5, k}, val;
        struct spfdb_prefix p;

        rc = store_cursor(t, DB_PREFIXES, &c);
        if (rc)
            return rc;
        k[4] = (uint8_t)families[i];
        for (rc = mdb_cursor_get(c, &key, &val, MDB_SET); rc == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT_DUP)) {
            rc = member_prefix(k[4], &val, &p);
            if (rc == 0)
                rc = fn(&p, arg);
            if (rc)
                return rc;
        }
        if (rc != MDB_NOTFOUND)
            return store_fail(t, rc);
        for (int db = DB_PREFIXES; db <= DB_MAXIMAL; db++) {
            key.mv_data = k;
            key.mv_size = 5;
            rc = mdb_del(t->mdb, t->env->dbi[db], &key, NULL);
            if (rc && rc != MDB_NOTFOUND)
                return store_fail(t, rc);
        }
    }
    return 0;
}

int set_load(spfdb_txn *t, int maximal, const uint8_t *key, const uint8_t *m)
{
    return put_member(t, maximal ? DB_MAXIMAL : DB_PREFIXES, key, m, set_alen(key[4]));
}

/* ---- bulk changes ------------------------------------------------------- */

/* Append COUNT members of MS bytes at BUF under KEY to DB, whose KEY holds
 * none: one MDB_MULTIPLE put fills pages in order, no descent a member. */
static int put_run(spfdb_txn *t, int db, uint8_t *k, uint8_t *buf, size_t count, unsigned ms)
{
    MDB_val key = {5, k}, v[2] = {{ms, buf}, {count, NULL}};
    MDB_cursor *c;
    int rc;

    if (count == 0)
        return 0;
    rc = store_cursor(t, db, &c);
    if (rc)
        return rc;
    rc = mdb_cursor_put(c, &key, v, MDB_MULTIPLE | MDB_APPENDDUP);
    if (rc == 0 && v[1].mv_size != count)
        rc = MDB_CORRUPTED;
    return rc ? store_fail(t, rc) : 0;
}

/* The member bytes of OP's prefix (address | length). */
static void op_member(const struct spfdb_entry_op *op, uint8_t *m, unsigned a)
{
    memcpy(m, op->p.addr, a);
    m[a] = op->p.len;
}

/* Merge state: the new members so far, the next op. */
struct merge {
    struct spfdb_entry_op *ops;
    size_t n, k;      /* ops, the next one */
    uint8_t *out;     /* o members of ms bytes */
    size_t o, made;   /* members out, ops made */
    unsigned a, ms;   /* address bytes, member bytes */
};

/* The ops before stored member S (NULL: all that are left), then S. */
static void merge_one(struct merge *g, const uint8_t *s)
{
    uint8_t om[SET_MEMBER_MAX];
    int c = 1;

    for (; g->k < g->n; g->k++) {
        struct spfdb_entry_op *op = &g->ops[g->k];

        op_member(op, om, g->a);
        if (s && (c = memcmp(om, s, g->ms)) >= 0)
            break;
        op->result = op->del ? SPFDB_ENOTFOUND : 0;
        if (!op->del) {
            memcpy(g->out + g->o++ * g->ms, om, g->ms);
            g->made++;
        }
    }
    if (!s)
        return;
    if (g->k < g->n && c == 0) {
        struct spfdb_entry_op *op = &g->ops[g->k++];
        op->result = op->del ? 0 : SPFDB_EEXIST;
        if (op->del) {
            g->made++;
            return;
        }
    }
    memcpy(g->out + g->o++ * g->ms, s, g->ms);
}

/* Read KEY's members from the prefixes database into the merge. */
static int merge_stored(spfdb_txn *t, uint8_t *k, struct merge *g, size_t count)
{
    MDB_val key = {5, k}, val;
    MDB_cursor *c;
    int rc = store_cursor(t, DB_PREFIXES, &c);

    if (rc)
        return rc;
    rc = mdb_cursor_get(c, &key, &val, MDB_SET);
    /* one member is a plain value, with no duplicate page to list */
    if (rc == 0 && count > 1)
        rc = mdb_cursor_get(c, &key, &val, MDB_GET_MULTIPLE);
    while (rc == 0) {
        if (val.mv_size == 0 || val.mv_size % g->ms != 0)
            return SPFDB_EFORMAT;
        for (const uint8_t *s = val.mv_data, *e = s + val.mv_size; s < e; s += g->ms) {
            if (s[g->a] > g->a * 8)
                return SPFDB_EFORMAT;
            merge_one(g, s);
        }
        rc = count > 1 ? mdb_cursor_get(c, &key, &val, MDB_NEXT_MULTIPLE) : MDB_NOTFOUND;
    }
    return rc == MDB_NOTFOUND ? 0 : store_fail(t, rc);
}

/* Keep the maximal members of the sorted G->out, in place: a member is
 * maximal unless it starts inside the last maximal one (prefixes nest or
 * are disjoint, and the shortest at an address comes first).  Returns
 * how many. */
static size_t keep_maximal(struct merge *g)
{
    uint8_t end[16];
    size_t m = 0;

    for (size_t i = 0; i < g->o; i++) {
        uint8_t *s = g->out + i * g->ms, *d = g->out + m * g->ms;

        if (m && memcmp(s, end, g->a) <= 0)
            continue;
        memmove(d, s, g->ms);
        last_addr(d, d[g->a], g->a, end);
        m++;
    }
    return m;
}

int set_merge(spfdb_txn *t, uint32_t alloc_id, int family, struct spfdb_entry_op *ops, size_t n)
{
    struct merge g = {.ops = ops, .n = n, .a = set_alen(family), .ms = set_alen(family) + 1};
    uint8_t k[5];
    MDB_val key = {5, k}, val;
    MDB_cursor *c;
    size_t count = 0;
    int rc = untail(t, DB_PREFIXES);

    if (rc == 0)
        rc = untail(t, DB_MAXIMAL);
    if (rc == 0)
        rc = store_cursor(t, DB_PREFIXES, &c);
    if (rc)
        return rc;
    put_be32(k, alloc_id);
    k[4] = (uint8_t)family;
    rc = mdb_cursor_get(c, &key, &val, MDB_SET);
    if (rc == 0)
        rc = mdb_cursor_count(c, &count);
    if (rc && rc != MDB_NOTFOUND)
        return store_fail(t, rc);
    if (count > SIZE_MAX / g.ms - n)
        return SPFDB_ENOMEM;
    if (!(g.out = malloc(((size_t)count + n) * g.ms + 1)))
        return SPFDB_ENOMEM;
    rc = count ? merge_stored(t, k, &g, (size_t)count) : 0;
    if (rc == 0)
        merge_one(&g, NULL);
    if (rc == 0 && g.made) {
        for (int db = DB_PREFIXES; db <= DB_MAXIMAL && rc == 0; db++) {
            key.mv_data = k;
            key.mv_size = 5;
            rc = mdb_del(t->mdb, t->env->dbi[db], &key, NULL);
            rc = rc == MDB_NOTFOUND ? 0 : rc ? store_fail(t, rc) : 0;
        }
        if (rc == 0)
            rc = put_run(t, DB_PREFIXES, k, g.out, g.o, g.ms);
        if (rc == 0)
            rc = put_run(t, DB_MAXIMAL, k, g.out, keep_maximal(&g), g.ms);
    }
    free(g.out);
    return rc;
}

/* ---- unions (member allocations) ---------------------------------------- */

/* Room in G->out for WANT members (doubling): 0 or SPFDB_ENOMEM. */
static int out_room(struct merge *g, size_t *cap, size_t want)
{
    size_t ncap = *cap ? *cap : 64;
    uint8_t *p;

    if (want <= *cap)
        return 0;
    while (ncap < want)
        ncap *= 2;
    if (ncap > SIZE_MAX / g->ms || !(p = realloc(g->out, ncap * g->ms)))
        return SPFDB_ENOMEM;
    g->out = p;
    *cap = ncap;
    return 0;
}

/* Append every member of DB's KEY to G->out (growing it): 0 or <0. */
static int read_all(spfdb_txn *t, int db, const uint8_t *k, struct merge *g, size_t *cap)
{
    uint8_t kb[5];
    MDB_val key = {5, kb}, val;
    MDB_cursor *c;
    size_t count = 0;
    int rc = store_cursor(t, db, &c);

    if (rc)
        return rc;
    memcpy(kb, k, 5);
    rc = mdb_cursor_get(c, &key, &val, MDB_SET);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0)
        rc = mdb_cursor_count(c, &count);
    if (rc)
        return store_fail(t, rc);
    if (out_room(g, cap, g->o + count) != 0)
        return SPFDB_ENOMEM;
    /* one member is a plain value, with no duplicate page to list */
    if (count > 1)
        rc = mdb_cursor_get(c, &key, &val, MDB_GET_MULTIPLE);
    for (size_t got = 0; rc == 0;) {
        size_t pg = val.mv_size / g->ms;
        if (val.mv_size == 0 || val.mv_size % g->ms != 0 || pg > count - got)
            return SPFDB_EFORMAT;
        for (const uint8_t *s = val.mv_data, *e = s + val.mv_size; s < e; s += g->ms)
            if (s[g->a] > g->a * 8)
                return SPFDB_EFORMAT;
        memcpy(g->out + g->o * g->ms, val.mv_data, val.mv_size);
        g->o += pg;
        got += pg;
        if (got == count)
            return 0;
        rc = mdb_cursor_get(c, &key, &val, MDB_NEXT_MULTIPLE);
    }
    return rc == MDB_NOTFOUND ? SPFDB_EFORMAT : store_fail(t, rc);
}

static int cmp4(const void *a, const void *b)
{
    return memcmp(a, b, 5);
}

static int cmp6(const void *a, const void *b)
{
    return memcmp(a, b, SET_MEMBER_MAX);
}

/* Append DB's members of KEY that lie inside P to G->out (growing it). */
static int read_range(spfdb_txn *t, int db, const uint8_t *k, const struct spfdb_prefix *p,
                      struct merge *g, size_t *cap)
{
    uint8_t kb[5], seek[SET_MEMBER_MAX], end[16];
    MDB_val key, val;
    MDB_cursor *c;
    int rc = store_cursor(t, db, &c);

    if (rc)
        return rc;
    memcpy(kb, k, 5);
    memcpy(seek, p->addr, g->a);
    seek[g->a] = 0;
    last_addr(p->addr, p->len, g->a, end);
    at(&key, kb, &val, seek, g->a);
    for (rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT_DUP)) {
        const uint8_t *e = val.mv_data;
        if (val.mv_size != g->ms || e[g->a] > g->a * 8)
            return SPFDB_EFORMAT;
        if (memcmp(e, end, g->a) > 0)
            return 0;
        if (out_room(g, cap, g->o + 1) != 0)
            return SPFDB_ENOMEM;
        memcpy(g->out + g->o++ * g->ms, e, g->ms);
    }
    return rc == MDB_NOTFOUND ? 0 : store_fail(t, rc);
}

int set_union_add(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    uint8_t k[5], m[SET_MEMBER_MAX], len = 0;
    int rc = set_top(t, alloc_id, p->family, p->addr, &len);

    if (rc < 0 || (rc == 1 && len <= p->len))
        return rc < 0 ? rc : 0; /* covered already */
    pair(k, m, alloc_id, p->family, p->addr, p->len);
    return top_insert(t, k, m, set_alen(p->family));
}

int set_union_del(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p,
                  const uint32_t *members, size_t n)
{
    struct merge g = {.a = set_alen(p->family), .ms = set_alen(p->family) + 1};
    uint8_t k[5], m[SET_MEMBER_MAX], mk[5];
    MDB_val key, val;
    MDB_cursor *c;
    size_t cap = 0, kept;
    int rc = untail(t, DB_MAXIMAL);

    if (rc == 0)
        rc = store_cursor(t, DB_MAXIMAL, &c);
    if (rc)
        return rc;
    pair(k, m, alloc_id, p->family, p->addr, p->len);
    at(&key, k, &val, m, g.a);
    rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH);
    if (rc == MDB_NOTFOUND)
        return 0; /* inside a maximal entry of the union that stays */
    if (rc)
        return store_fail(t, rc);
    rc = set_has(t, alloc_id, p);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = set_has(t, members[i], p);
    if (rc != 0)
        return rc < 0 ? rc : 0; /* still an entry of a source */
    at(&key, k, &val, m, g.a);
    rc = mdb_del(t->mdb, t->env->dbi[DB_MAXIMAL], &key, &val);
    if (rc)
        return store_fail(t, rc);
    /* what P covered: the sources' entries inside it, reduced */
    rc = read_range(t, DB_PREFIXES, k, p, &g, &cap);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        put_be32(mk, members[i]);
        mk[4] = (uint8_t)p->family;
        rc = read_range(t, DB_MAXIMAL, mk, p, &g, &cap);
    }
    if (rc == 0 && g.o > 1)
        qsort(g.out, g.o, g.ms, p->family == 4 ? cmp4 : cmp6);
    kept = rc == 0 ? keep_maximal(&g) : 0;
    for (size_t i = 0; rc == 0 && i < kept; i++) {
        memcpy(m, g.out + i * g.ms, g.ms);
        at(&key, k, &val, m, g.a);
        rc = mdb_put(t->mdb, t->env->dbi[DB_MAXIMAL], &key, &val, MDB_NODUPDATA);
        rc = rc == MDB_KEYEXIST ? SPFDB_EFORMAT : rc ? store_fail(t, rc) : 0;
    }
    free(g.out);
    return rc;
}

int set_union(spfdb_txn *t, uint32_t alloc_id, int family, const uint32_t *members, size_t n)
{
    struct merge g = {.a = set_alen(family), .ms = set_alen(family) + 1};
    uint8_t k[5], mk[5];
    MDB_val key = {5, k};
    size_t cap = 0, kept;
    int rc = untail(t, DB_PREFIXES);

    if (rc == 0)
        rc = untail(t, DB_MAXIMAL);
    put_be32(k, alloc_id);
    k[4] = (uint8_t)family;
    if (rc == 0)
        rc = read_all(t, DB_PREFIXES, k, &g, &cap);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        put_be32(mk, members[i]);
        mk[4] = (uint8_t)family;
        rc = read_all(t, DB_MAXIMAL, mk, &g, &cap);
    }
    if (rc == 0 && g.o > 1)
        qsort(g.out, g.o, g.ms, family == 4 ? cmp4 : cmp6);
    kept = rc == 0 ? keep_maximal(&g) : 0;
    if (rc == 0) {
        rc = mdb_del(t->mdb, t->env->dbi[DB_MAXIMAL], &key, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc ? store_fail(t, rc) : 0;
    }
    if (rc == 0)
        rc = put_run(t, DB_MAXIMAL, k, g.out, kept, g.ms);
    free(g.out);
    return rc;
}
