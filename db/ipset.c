/* ipset.c: the IP set of each allocation (spfdb.h; docs/design.md).
 *
 * entries: alloc_id | family | address | length -> ""   every entry
 * tops:    alloc_id | family | address -> length          the maximal entries
 *
 * CIDR prefixes nest or are disjoint, so the maximal entries are disjoint
 * and their union is the allocation's: the top with the greatest start at
 * or below an address is the only one that can contain it.
 */
#include "store.h"

#include <string.h>

#define KEY_MAX 22

static unsigned alen(int family)
{
    return family == 4 ? 4 : 16;
}

static int valid(const struct spfdb_prefix *p)
{
    unsigned bits;

    if (p->family != 4 && p->family != 6)
        return 0;
    bits = alen(p->family) * 8;
    if (p->len > bits)
        return 0;
    for (unsigned b = p->len; b < bits; b++)
        if (p->addr[b / 8] & (0x80u >> (b % 8)))
            return 0;
    return 1;
}

static size_t tkey(uint8_t *k, uint32_t id, int family, const uint8_t *addr)
{
    put_be32(k, id);
    k[4] = (uint8_t)family;
    memcpy(k + 5, addr, alen(family));
    return 5 + alen(family);
}

static size_t ekey(uint8_t *k, uint32_t id, int family, const uint8_t *addr, unsigned len)
{
    size_t n = tkey(k, id, family, addr);

    k[n] = (uint8_t)len;
    return n + 1;
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
    memcpy(end, addr, n);
    for (unsigned b = len; b < n * 8; b++)
        end[b / 8] |= (uint8_t)(0x80u >> (b % 8));
}

/* A += 1; returns 0 when it wrapped past the last address. */
static int next_addr(uint8_t *a, unsigned n)
{
    while (n--)
        if (++a[n] != 0)
            return 1;
    return 0;
}

static int need_write(spfdb_txn *t)
{
    if (!t->write)
        return SPFDB_EINVAL;
    return t->err;
}

/* The top that contains ADDR: 1 with *LEN, 0 when none, <0.  One B-tree
 * descent (MDB_SET_RANGE) and, unless ADDR starts a top, one step back. */
static int top_find(spfdb_txn *t, uint32_t id, int family, const uint8_t *addr, uint8_t *len)
{
    uint8_t k[KEY_MAX];
    size_t kl = tkey(k, id, family, addr);
    MDB_val key = {kl, k}, val;
    MDB_cursor *c;
    int rc = store_cursor(t, DB_TOPS, &c);

    if (rc)
        return rc;
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    if (rc == 0 && (key.mv_size != kl || memcmp(key.mv_data, k, kl) != 0))
        rc = mdb_cursor_get(c, &key, &val, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, &key, &val, MDB_LAST);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store_fail(t, rc);
    if (key.mv_size != kl || memcmp(key.mv_data, k, 5) != 0)
        return 0; /* another allocation or family */
    if (val.mv_size != 1 || *(uint8_t *)val.mv_data > alen(family) * 8)
        return SPFDB_EFORMAT;
    if (!match((uint8_t *)key.mv_data + 5, addr, *(uint8_t *)val.mv_data))
        return 0;
    *len = *(uint8_t *)val.mv_data;
    return 1;
}

int spfdb_covers(spfdb_txn *t, uint32_t alloc_id, int family, const uint8_t *addr)
{
    uint8_t len;

    if ((family != 4 && family != 6) || (!t->write && !t->live))
        return SPFDB_EINVAL;
    return top_find(t, alloc_id, family, addr, &len);
}

/* Bulk loads arrive sorted: appending fills pages instead of splitting
 * them in half.  An append refused because the key is not last costs one
 * descent to the last page, which is hot. */
static int put_sorted(spfdb_txn *t, int db, MDB_val *k, MDB_val *v)
{
    MDB_cursor *c;
    MDB_val d = *v;
    int rc = store_cursor(t, db, &c);

    if (rc)
        return rc;
    rc = mdb_cursor_put(c, k, &d, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        d = *v;
        rc = mdb_cursor_put(c, k, &d, MDB_NOOVERWRITE);
    }
    if (rc == MDB_KEYEXIST)
        return SPFDB_EEXIST;
    return rc ? store_fail(t, rc) : 0;
}

/* The common start of an entry change: a write txn, a valid prefix, the
 * allocation's counts loaded; KEY (whose mv_data holds KEY_MAX bytes) gets
 * the entries key. */
static int entry_begin(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p,
                       MDB_val *key)
{
    int rc = need_write(t);

    if (rc)
        return rc;
    if (!valid(p))
        return SPFDB_EINVAL;
    rc = store_counts_bump(t, alloc_id, p->family, 0);
    if (rc)
        return rc;
    key->mv_size = ekey(key->mv_data, alloc_id, p->family, p->addr, p->len);
    return 0;
}

int spfdb_entry_add(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    uint8_t k[KEY_MAX], tk[KEY_MAX], end[16], len = 0;
    size_t tkl;
    unsigned n;
    MDB_val key = {0, k}, val = {0, NULL};
    MDB_cursor *c;
    int rc = entry_begin(t, alloc_id, p, &key);

    if (rc)
        return rc;
    rc = put_sorted(t, DB_ENTRIES, &key, &val);
    if (rc)
        return rc;
    rc = top_find(t, alloc_id, p->family, p->addr, &len);
    if (rc < 0)
        return rc;
    if (rc == 0 || len > p->len) {
        /* P is maximal: it replaces the tops inside it. */
        n = alen(p->family);
        last_addr(p->addr, p->len, n, end);
        tkl = tkey(tk, alloc_id, p->family, p->addr);
        rc = store_cursor(t, DB_TOPS, &c);
        if (rc)
            return rc;
        for (;;) {
            key.mv_data = tk;
            key.mv_size = tkl;
            rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
            if (rc == MDB_NOTFOUND)
                break;
            if (rc)
                return store_fail(t, rc);
            if (key.mv_size != tkl || memcmp(key.mv_data, tk, 5) != 0 ||
                memcmp((uint8_t *)key.mv_data + 5, end, n) > 0)
                break;
            rc = mdb_cursor_del(c, 0);
            if (rc)
                return store_fail(t, rc);
        }
        key.mv_data = tk;
        key.mv_size = tkl;
        len = p->len;
        val.mv_data = &len;
        val.mv_size = 1;
        rc = put_sorted(t, DB_TOPS, &key, &val);
        if (rc)
            return rc == SPFDB_EEXIST ? SPFDB_EFORMAT : rc;
    }
    rc = store_counts_bump(t, alloc_id, p->family, 1);
    if (rc == 0) {
        t->changed = 1;
        log_entry(t, alloc_id, t->cnt_name, LOG_ADD, p);
    }
    return rc;
}

/* After top P is removed: the entries inside P not inside another become
 * tops.  Each found entry is maximal (the shortest at its address, past
 * every earlier one); the walk then seeks past its end. */
static int promote(spfdb_txn *t, uint32_t id, const struct spfdb_prefix *p)
{
    uint8_t seek[16], end[16], eend[16], k[KEY_MAX];
    unsigned n = alen(p->family);
    size_t kl;
    MDB_val key, val, tv;
    MDB_cursor *c;
    int rc = store_cursor(t, DB_ENTRIES, &c);

    if (rc)
        return rc;
    memcpy(seek, p->addr, n);
    last_addr(p->addr, p->len, n, end);
    for (;;) {
        const uint8_t *e;
        uint8_t elen;

        kl = ekey(k, id, p->family, seek, 0);
        key.mv_data = k;
        key.mv_size = kl;
        rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return store_fail(t, rc);
        e = key.mv_data;
        if (key.mv_size != kl || memcmp(e, k, 5) != 0 || memcmp(e + 5, end, n) > 0)
            return 0;
        elen = e[5 + n];
        if (elen > n * 8)
            return SPFDB_EFORMAT;
        memcpy(eend, e + 5, n);
        tv.mv_data = &elen;
        tv.mv_size = 1;
        /* The tops key of the entry, copied: a put may spill the page E
         * points into. */
        memcpy(k, e, kl - 1);
        key.mv_data = k;
        key.mv_size = kl - 1;
        rc = mdb_put(t->mdb, t->env->dbi[DB_TOPS], &key, &tv, MDB_NOOVERWRITE);
        if (rc)
            return rc == MDB_KEYEXIST ? SPFDB_EFORMAT : store_fail(t, rc);
        last_addr(eend, elen, n, eend);
        if (!next_addr(eend, n))
            return 0;
        memcpy(seek, eend, n);
    }
}

int spfdb_entry_del(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    uint8_t k[KEY_MAX];
    MDB_val key = {0, k}, val;
    int rc = entry_begin(t, alloc_id, p, &key);

    if (rc)
        return rc;
    rc = mdb_del(t->mdb, t->env->dbi[DB_ENTRIES], &key, NULL);
    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    key.mv_size--; /* the tops key */
    rc = mdb_get(t->mdb, t->env->dbi[DB_TOPS], &key, &val);
    if (rc == 0 && val.mv_size == 1 && *(uint8_t *)val.mv_data == p->len) {
        rc = mdb_del(t->mdb, t->env->dbi[DB_TOPS], &key, NULL);
        if (rc)
            return store_fail(t, rc);
        rc = promote(t, alloc_id, p);
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    } else if (rc) {
        rc = store_fail(t, rc);
    }
    if (rc == 0)
        rc = store_counts_bump(t, alloc_id, p->family, -1);
    if (rc == 0) {
        t->changed = 1;
        log_entry(t, alloc_id, t->cnt_name, LOG_DEL, p);
    }
    return rc;
}

int spfdb_entry_has(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    uint8_t k[KEY_MAX];
    MDB_val key = {0, k}, val;
    int rc;

    if (!valid(p))
        return SPFDB_EINVAL;
    if (t->err)
        return t->err;
    key.mv_size = ekey(k, alloc_id, p->family, p->addr, p->len);
    rc = mdb_get(t->mdb, t->env->dbi[DB_ENTRIES], &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? store_fail(t, rc) : 1;
}

int spfdb_entry_covering(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p,
                         struct spfdb_prefix *out)
{
    struct spfdb_prefix q;
    uint8_t top;
    int rc;

    if (!valid(p))
        return SPFDB_EINVAL;
    /* Every entry containing P lies in the one top containing P's first
     * address: one descent settles the common "nothing covers it", and the
     * walk below stops at the top's length (del reports on each removed
     * prefix: 129 probes each would hold the write lock for seconds). */
    rc = top_find(t, alloc_id, p->family, p->addr, &top);
    if (rc < 0)
        return rc;
    if (rc == 0 || top > p->len)
        return SPFDB_ENOTFOUND;
    q = *p;
    for (unsigned len = p->len; len >= top; len--) {
        q.len = (uint8_t)len;
        rc = spfdb_entry_has(t, alloc_id, &q);
        if (rc < 0)
            return rc;
        if (rc) {
            *out = q;
            return 0;
        }
        if (len == 0)
            break;
        q.addr[(len - 1) / 8] &= (uint8_t)~(0x80u >> ((len - 1) % 8));
    }
    return SPFDB_EFORMAT; /* the top itself is an entry */
}

int spfdb_entry_foreach(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg)
{
    uint8_t k[4];
    MDB_val key = {4, k}, val;
    MDB_cursor *c;
    struct spfdb_prefix p;
    int rc = t->err, ret = 0;

    if (rc)
        return rc;
    put_be32(k, alloc_id);
    /* Its own cursor: FN may look things up through the cached ones. */
    rc = mdb_cursor_open(t->mdb, t->env->dbi[DB_ENTRIES], &c);
    if (rc)
        return store_fail(t, rc);
    for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); rc == 0 && ret == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
        const uint8_t *e = key.mv_data;

        if (key.mv_size < 5 || get_be32(e) != alloc_id)
            break;
        memset(&p, 0, sizeof p);
        p.family = e[4];
        if ((p.family != 4 && p.family != 6) || key.mv_size != 6 + alen(p.family)) {
            ret = SPFDB_EFORMAT;
            break;
        }
        memcpy(p.addr, e + 5, alen(p.family));
        p.len = e[5 + alen(p.family)];
        ret = valid(&p) ? fn(&p, arg) : SPFDB_EFORMAT;
    }
    mdb_cursor_close(c);
    if (ret)
        return ret;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_fail(t, rc);
}

/* alloc_del --force: every key of the allocation in both databases, each
 * entry logged as removed.  Each delete re-seeks, which keeps the walk
 * independent of how LMDB positions a cursor after a delete. */
int store_alloc_del_entries(spfdb_txn *t, uint32_t alloc_id, const char *name)
{
    static const int dbs[] = {DB_ENTRIES, DB_TOPS};
    uint8_t k[4];

    put_be32(k, alloc_id);
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        MDB_cursor *c;
        MDB_val key, val;
        int rc = store_cursor(t, dbs[i], &c);

        if (rc)
            return rc;
        for (;;) {
            key.mv_data = k;
            key.mv_size = 4;
            rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
            if (rc == MDB_NOTFOUND)
                break;
            if (rc == 0 && (key.mv_size < 4 || memcmp(key.mv_data, k, 4) != 0))
                break;
            if (rc == 0 && dbs[i] == DB_ENTRIES) {
                const uint8_t *e = key.mv_data;
                struct spfdb_prefix p = {.family = key.mv_size > 4 ? e[4] : 0};

                if ((p.family != 4 && p.family != 6) || key.mv_size != 6 + alen(p.family))
                    return SPFDB_EFORMAT;
                memcpy(p.addr, e + 5, alen(p.family));
                p.len = e[5 + alen(p.family)];
                log_entry(t, alloc_id, name, LOG_DEL, &p);
            }
            if (rc == 0)
                rc = mdb_cursor_del(c, 0);
            if (rc)
                return store_fail(t, rc);
        }
    }
    return 0;
}
