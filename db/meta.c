/* meta.c: the serial record, allocations and zones (spfdb.h). */
#include "store.h"

#include <string.h>
#include <time.h>

#define META_KEY "spfdb"
#define META_SIZE 28
#define ALLOC_SIZE 20 /* id, n4, n6 */
#define ZONE_VERSION 1
#define ZONE_MAX (14 + 256 + 1 + SPFDB_NS_MAX * 256)

static MDB_val sval(const char *s)
{
    MDB_val v = {strlen(s), (void *)s};
    return v;
}

static int need_write(spfdb_txn *t)
{
    if (!t->write)
        return SPFDB_EINVAL;
    return t->err;
}

static void mark(spfdb_txn *t, int meta)
{
    t->changed = 1;
    t->meta_changed |= meta;
}

int store_meta_load(spfdb_txn *t, struct meta *m)
{
    MDB_val k = sval(META_KEY), v;
    const uint8_t *p;
    int rc = mdb_get(t->mdb, t->env->dbi[DB_META], &k, &v);

    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    if (v.mv_size < META_SIZE)
        return SPFDB_EFORMAT;
    p = v.mv_data;
    m->version = get_be32(p);
    m->serial = get_be32(p + 4);
    m->gen = get_be64(p + 8);
    m->changed = (int64_t)get_be64(p + 16);
    m->next_id = get_be32(p + 24);
    return 0;
}

int store_meta_save(spfdb_txn *t, const struct meta *m)
{
    uint8_t b[META_SIZE];
    MDB_val k = sval(META_KEY), v = {sizeof b, b};
    int rc;

    put_be32(b, m->version);
    put_be32(b + 4, m->serial);
    put_be64(b + 8, m->gen);
    put_be64(b + 16, (uint64_t)m->changed);
    put_be32(b + 24, m->next_id);
    rc = mdb_put(t->mdb, t->env->dbi[DB_META], &k, &v, 0);
    return rc ? store_fail(t, rc) : 0;
}

int spfdb_info_get(spfdb_txn *t, struct spfdb_info *out)
{
    struct meta m;
    int rc = 0;

    if (t->write)
        m = t->meta;
    else
        rc = store_meta_load(t, &m);
    if (rc)
        return rc;
    out->serial = m.serial;
    out->meta_gen = m.gen;
    out->changed = m.changed;
    return 0;
}

/* ---- allocations ------------------------------------------------------ */

static int valid_alloc_name(const char *name)
{
    char norm[SPFDB_LABEL_MAX + 1];

    return spfdb_alloc_name_norm(name, norm, sizeof norm, NULL, 0) == 0 &&
           strcmp(norm, name) == 0;
}

static int alloc_put(spfdb_txn *t, const char *name, uint32_t id, uint64_t n4, uint64_t n6,
                     unsigned flags)
{
    uint8_t b[ALLOC_SIZE];
    MDB_val k = sval(name), v = {sizeof b, b};
    int rc;

    put_be32(b, id);
    put_be64(b + 4, n4);
    put_be64(b + 12, n6);
    rc = mdb_put(t->mdb, t->env->dbi[DB_ALLOCS], &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return SPFDB_EEXIST;
    return rc ? store_fail(t, rc) : 0;
}

static int alloc_decode(const MDB_val *k, const MDB_val *v, struct spfdb_alloc *out)
{
    const uint8_t *p = v->mv_data;

    if (v->mv_size != ALLOC_SIZE || k->mv_size == 0 || k->mv_size > SPFDB_LABEL_MAX)
        return SPFDB_EFORMAT;
    memcpy(out->name, k->mv_data, k->mv_size);
    out->name[k->mv_size] = '\0';
    out->id = get_be32(p);
    out->n4 = get_be64(p + 4);
    out->n6 = get_be64(p + 12);
    return 0;
}

static int alloc_get(spfdb_txn *t, const char *name, struct spfdb_alloc *out)
{
    MDB_val k = sval(name), v;
    int rc = mdb_get(t->mdb, t->env->dbi[DB_ALLOCS], &k, &v);

    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    return alloc_decode(&k, &v, out);
}

static int alloc_name(spfdb_txn *t, uint32_t id, char *name)
{
    uint8_t kb[4];
    MDB_val k = {4, kb}, v;
    int rc;

    put_be32(kb, id);
    rc = mdb_get(t->mdb, t->env->dbi[DB_ALLOCID], &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    if (v.mv_size == 0 || v.mv_size > SPFDB_LABEL_MAX)
        return SPFDB_EFORMAT;
    memcpy(name, v.mv_data, v.mv_size);
    name[v.mv_size] = '\0';
    return 0;
}

int store_counts_flush(spfdb_txn *t)
{
    int rc;

    if (!t->cnt_dirty)
        return 0;
    rc = alloc_put(t, t->cnt_name, t->cnt_id, t->cnt_n4, t->cnt_n6, 0);
    if (rc == 0)
        t->cnt_dirty = 0;
    return rc;
}

/* Load ALLOC_ID's counts into the cache (SPFDB_ENOTFOUND: no such
 * allocation) and change them by DELTA. */
int store_counts_bump(spfdb_txn *t, uint32_t alloc_id, int family, int delta)
{
    struct spfdb_alloc a;
    int rc;

    if (t->cnt_id != alloc_id || alloc_id == 0) {
        rc = store_counts_flush(t);
        if (rc == 0)
            rc = alloc_name(t, alloc_id, a.name);
        if (rc == 0)
            rc = alloc_get(t, a.name, &a);
        if (rc)
            return rc;
        t->cnt_id = alloc_id;
        memcpy(t->cnt_name, a.name, sizeof a.name);
        t->cnt_n4 = a.n4;
        t->cnt_n6 = a.n6;
    }
    if (delta) {
        uint64_t *n = family == 4 ? &t->cnt_n4 : &t->cnt_n6;
        *n += (uint64_t)(int64_t)delta;
        t->cnt_dirty = 1;
    }
    return 0;
}

int spfdb_alloc_get(spfdb_txn *t, const char *name, struct spfdb_alloc *out)
{
    int rc;

    if (!valid_alloc_name(name))
        return SPFDB_EINVAL;
    rc = t->err ? t->err : store_counts_flush(t);
    return rc ? rc : alloc_get(t, name, out);
}

int spfdb_alloc_get_id(spfdb_txn *t, uint32_t id, struct spfdb_alloc *out)
{
    char name[SPFDB_LABEL_MAX + 1];
    int rc = t->err ? t->err : store_counts_flush(t);

    if (rc == 0)
        rc = alloc_name(t, id, name);
    return rc ? rc : alloc_get(t, name, out);
}

int store_init(spfdb_txn *t)
{
    uint8_t kb[4];
    MDB_val k = {4, kb}, v = sval("default");
    struct meta m = {.version = SPFDB_FORMAT, .gen = 1, .next_id = 2};
    int rc;

    m.changed = (int64_t)time(NULL);
    m.serial = (uint32_t)m.changed;
    put_be32(kb, 1);
    rc = alloc_put(t, "default", 1, 0, 0, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = store_err(mdb_put(t->mdb, t->env->dbi[DB_ALLOCID], &k, &v, 0));
    return rc ? rc : store_meta_save(t, &m);
}

int spfdb_alloc_add(spfdb_txn *t, const char *name, uint32_t *id_out)
{
    uint8_t kb[4];
    MDB_val k = {4, kb}, v = sval(name);
    uint32_t id;
    int rc = need_write(t);

    if (rc)
        return rc;
    if (!valid_alloc_name(name))
        return SPFDB_EINVAL;
    id = t->meta.next_id;
    if (id == 0)
        return SPFDB_ENOSPC; /* 2^32 allocations made: ids are never reused */
    rc = alloc_put(t, name, id, 0, 0, MDB_NOOVERWRITE);
    if (rc)
        return rc;
    put_be32(kb, id);
    rc = mdb_put(t->mdb, t->env->dbi[DB_ALLOCID], &k, &v, 0);
    if (rc)
        return store_fail(t, rc);
    t->meta.next_id = id + 1;
    log_alloc(t, LOG_ADD, name);
    mark(t, 1);
    if (id_out)
        *id_out = id;
    return 0;
}

static int zone_decode(const MDB_val *k, const MDB_val *v, struct spfdb_zone *z);

/* Names of the zones bound to ID, for alloc_del's refusal. */
static int alloc_bound(spfdb_txn *t, uint32_t id)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct spfdb_zone z;
    int rc = mdb_cursor_open(t->mdb, t->env->dbi[DB_ZONES], &c), bound = 0;

    if (rc)
        return store_fail(t, rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !bound;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        int e = zone_decode(&k, &v, &z);
        if (e) {
            mdb_cursor_close(c);
            return e;
        }
        bound = z.alloc_id == id;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return store_fail(t, rc);
    return bound;
}

int spfdb_alloc_del(spfdb_txn *t, const char *name, int force)
{
    struct spfdb_alloc a;
    uint8_t kb[4];
    MDB_val k = {4, kb}, kn = sval(name);
    int rc = need_write(t);

    if (rc)
        return rc;
    if (!valid_alloc_name(name) || strcmp(name, "default") == 0)
        return SPFDB_EINVAL;
    rc = spfdb_alloc_get(t, name, &a);
    if (rc)
        return rc;
    rc = alloc_bound(t, a.id);
    if (rc)
        return rc < 0 ? rc : SPFDB_EBUSY;
    if ((a.n4 || a.n6) && !force)
        return SPFDB_ENOTEMPTY;
    rc = store_alloc_del_entries(t, a.id, a.name);
    if (rc)
        return rc;
    put_be32(kb, a.id);
    rc = mdb_del(t->mdb, t->env->dbi[DB_ALLOCS], &kn, NULL);
    if (rc == 0)
        rc = mdb_del(t->mdb, t->env->dbi[DB_ALLOCID], &k, NULL);
    if (rc)
        return store_fail(t, rc);
    if (t->cnt_id == a.id) {
        t->cnt_id = 0;
        t->cnt_dirty = 0;
    }
    log_alloc(t, LOG_DEL, a.name);
    mark(t, 1);
    return 0;
}

int spfdb_alloc_foreach(spfdb_txn *t, spfdb_alloc_fn fn, void *arg)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct spfdb_alloc a;
    int rc = t->err ? t->err : store_counts_flush(t), ret = 0;

    if (rc)
        return rc;
    rc = mdb_cursor_open(t->mdb, t->env->dbi[DB_ALLOCS], &c);
    if (rc)
        return store_fail(t, rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        ret = alloc_decode(&k, &v, &a);
        if (ret == 0)
            ret = fn(&a, arg);
    }
    mdb_cursor_close(c);
    if (ret)
        return ret;
    return rc == MDB_NOTFOUND ? 0 : store_fail(t, rc);
}

/* ---- zones -------------------------------------------------------------- */

static size_t put_str(uint8_t *p, const char *s)
{
    size_t n = strlen(s);

    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return n + 1;
}

/* version, alloc_id, ttl, neg_ttl, hostmaster, n_ns, ns...: each string a
 * length byte and its octets. */
static size_t zone_encode(const struct spfdb_zone *z, uint8_t *b)
{
    size_t n = 13;

    b[0] = ZONE_VERSION;
    put_be32(b + 1, z->alloc_id);
    put_be32(b + 5, z->ttl);
    put_be32(b + 9, z->neg_ttl);
    n += put_str(b + n, z->hostmaster);
    b[n++] = (uint8_t)z->n_ns;
    for (unsigned i = 0; i < z->n_ns; i++)
        n += put_str(b + n, z->ns[i]);
    return n;
}

static int get_str(const uint8_t *b, size_t len, size_t *off, char *out, size_t cap)
{
    size_t n;

    if (*off >= len)
        return SPFDB_EFORMAT;
    n = b[*off];
    if (n >= cap || *off + 1 + n > len)
        return SPFDB_EFORMAT;
    memcpy(out, b + *off + 1, n);
    out[n] = '\0';
    *off += 1 + n;
    return 0;
}

static int zone_decode(const MDB_val *k, const MDB_val *v, struct spfdb_zone *z)
{
    const uint8_t *b = v->mv_data;
    size_t off = 13;
    int rc;

    memset(z, 0, sizeof *z);
    if (k->mv_size == 0 || k->mv_size > SPFDB_NAME_MAX || v->mv_size < 15 || b[0] != ZONE_VERSION)
        return SPFDB_EFORMAT;
    memcpy(z->name, k->mv_data, k->mv_size);
    z->alloc_id = get_be32(b + 1);
    z->ttl = get_be32(b + 5);
    z->neg_ttl = get_be32(b + 9);
    rc = get_str(b, v->mv_size, &off, z->hostmaster, sizeof z->hostmaster);
    if (rc || off >= v->mv_size)
        return SPFDB_EFORMAT;
    z->n_ns = b[off++];
    if (z->n_ns > SPFDB_NS_MAX)
        return SPFDB_EFORMAT;
    for (unsigned i = 0; i < z->n_ns; i++)
        if (get_str(b, v->mv_size, &off, z->ns[i], sizeof z->ns[i]))
            return SPFDB_EFORMAT;
    return off == v->mv_size ? 0 : SPFDB_EFORMAT;
}

static int zone_fill_alloc(spfdb_txn *t, struct spfdb_zone *z)
{
    int rc;

    if (z->alloc_id == 0)
        return 0;
    rc = alloc_name(t, z->alloc_id, z->alloc);
    return rc == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : rc; /* a dangling binding */
}

int spfdb_zone_get(spfdb_txn *t, const char *name, struct spfdb_zone *out)
{
    MDB_val k = sval(name), v;
    int rc;

    if (k.mv_size == 0 || k.mv_size > SPFDB_NAME_MAX)
        return SPFDB_EINVAL;
    rc = mdb_get(t->mdb, t->env->dbi[DB_ZONES], &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    rc = zone_decode(&k, &v, out);
    return rc ? rc : zone_fill_alloc(t, out);
}

static int valid_name(const char *s, size_t cap)
{
    char norm[SPFDB_NAME_MAX + 1];

    return strnlen(s, cap) < cap &&
           spfdb_dns_name_norm(s, SPFDB_NAME_MAX, norm, sizeof norm, NULL, 0) == 0 &&
           strcmp(norm, s) == 0;
}

int spfdb_zone_put(spfdb_txn *t, const struct spfdb_zone *z)
{
    uint8_t b[ZONE_MAX];
    char name[SPFDB_LABEL_MAX + 1] = "";
    struct spfdb_zone logged;
    MDB_val k, v, old;
    int rc = need_write(t), op;

    if (rc)
        return rc;
    if (!valid_name(z->name, sizeof z->name) || z->n_ns == 0 || z->n_ns > SPFDB_NS_MAX ||
        strnlen(z->hostmaster, sizeof z->hostmaster) >= sizeof z->hostmaster)
        return SPFDB_EINVAL;
    for (unsigned i = 0; i < z->n_ns; i++)
        if (!valid_name(z->ns[i], sizeof z->ns[i]))
            return SPFDB_EINVAL;
    if (z->alloc_id) {
        rc = alloc_name(t, z->alloc_id, name);
        if (rc)
            return rc;
    }
    k = sval(z->name);
    v.mv_data = b;
    v.mv_size = zone_encode(z, b);
    rc = mdb_get(t->mdb, t->env->dbi[DB_ZONES], &k, &old);
    if (rc == 0 && old.mv_size == v.mv_size && memcmp(old.mv_data, b, v.mv_size) == 0)
        return 0; /* unchanged: nothing to commit */
    if (rc && rc != MDB_NOTFOUND)
        return store_fail(t, rc);
    op = rc == 0 ? SPFDB_LOG_ZONE_SET : SPFDB_LOG_ZONE_ADD;
    rc = mdb_put(t->mdb, t->env->dbi[DB_ZONES], &k, &v, 0);
    if (rc)
        return store_fail(t, rc);
    logged = *z;
    strcpy(logged.alloc, name);
    log_zone(t, op, &logged);
    mark(t, 1);
    return 0;
}

int spfdb_zone_del(spfdb_txn *t, const char *name)
{
    struct spfdb_zone z;
    MDB_val k = sval(name);
    int rc = need_write(t);

    if (rc)
        return rc;
    if (k.mv_size == 0 || k.mv_size > SPFDB_NAME_MAX)
        return SPFDB_EINVAL;
    rc = spfdb_zone_get(t, name, &z);
    if (rc)
        return rc;
    rc = mdb_del(t->mdb, t->env->dbi[DB_ZONES], &k, NULL);
    if (rc)
        return store_fail(t, rc);
    log_zone(t, SPFDB_LOG_ZONE_DEL, &z);
    mark(t, 1);
    return 0;
}

int spfdb_zone_foreach(spfdb_txn *t, spfdb_zone_fn fn, void *arg)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct spfdb_zone z;
    int rc = t->err, ret = 0;

    if (rc)
        return rc;
    rc = mdb_cursor_open(t->mdb, t->env->dbi[DB_ZONES], &c);
    if (rc)
        return store_fail(t, rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        ret = zone_decode(&k, &v, &z);
        if (ret == 0)
            ret = zone_fill_alloc(t, &z);
        if (ret == 0)
            ret = fn(&z, arg);
    }
    mdb_cursor_close(c);
    if (ret)
        return ret;
    return rc == MDB_NOTFOUND ? 0 : store_fail(t, rc);
}
