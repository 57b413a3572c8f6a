/* meta.c: the meta record and serial, allocations and zones (meta.h,
 * spfdb.h). */
#include "bytes.h"
#include "changelog.h"
#include "env.h"
#include "meta.h"
#include "set.h"
#include "store.h"
#include "xfrdb.h"
#include "zonerec.h"

#include <string.h>
#include <time.h>

#define META_KEY "spfdb"
#define META_SIZE_V2 28 /* formats 1 and 2 */

static MDB_val sval(const char *s)
{
    MDB_val v = {strlen(s), (void *)s};
    return v;
}

static void mark(spfdb_txn *t, int meta)
{
    t->changed = 1;
    t->meta_changed |= meta;
}

int meta_decode(const uint8_t *p, size_t n, struct meta *m)
{
    if (n < META_SIZE_V2 || (get_be32(p) >= 3 && n < META_SIZE))
        return SPFDB_EFORMAT;
    m->version = get_be32(p);
    m->serial = get_be32(p + 4);
    m->gen = get_be64(p + 8);
    m->changed = (int64_t)get_be64(p + 16);
    m->next_id = get_be32(p + 24);
    m->ixfr_floor = m->version >= 3 ? get_be64(p + 28) : 0;
    m->xfr_gen = m->version >= 3 ? get_be64(p + 36) : 0;
    return 0;
}

int meta_load(spfdb_txn *t, struct meta *m)
{
    MDB_val k = sval(META_KEY), v;
    int rc = mdb_get(t->mdb, t->env->dbi[DB_META], &k, &v);

    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    return meta_decode(v.mv_data, v.mv_size, m);
}

void meta_encode(const struct meta *m, uint8_t *b)
{
    put_be32(b, m->version);
    put_be32(b + 4, m->serial);
    put_be64(b + 8, m->gen);
    put_be64(b + 16, (uint64_t)m->changed);
    put_be32(b + 24, m->next_id);
    put_be64(b + 28, m->ixfr_floor);
    put_be64(b + 36, m->xfr_gen);
}

int meta_save(spfdb_txn *t, const struct meta *m)
{
    uint8_t b[META_SIZE];
    MDB_val k = sval(META_KEY), v = {sizeof b, b};
    int rc;

    meta_encode(m, b);
    rc = mdb_put(t->mdb, t->env->dbi[DB_META], &k, &v, 0);
    return rc ? store_fail(t, rc) : 0;
}

int meta_version(spfdb_txn *t)
{
    struct meta m;
    int rc = meta_load(t, &m);

    if (rc == SPFDB_ENOTFOUND || (rc == 0 && (m.version == 0 || m.version > SPFDB_FORMAT)))
        return SPFDB_EFORMAT;
    return rc ? rc : (int)m.version;
}

void meta_stamp(struct meta *m, int64_t now, int gen_changed)
{
    uint32_t serial = (uint32_t)now;

    if (serial <= m->serial)
        serial = m->serial + 1;
    m->serial = serial;
    m->changed = now;
    if (gen_changed)
        m->gen++;
}

int meta_current(spfdb_txn *t, struct meta *m)
{
    if (!t->write)
        return meta_load(t, m);
    *m = t->meta;
    return 0;
}

int spfdb_info_get(spfdb_txn *t, struct spfdb_info *out)
{
    struct meta m;
    int rc = meta_current(t, &m);

    if (rc)
        return rc;
    out->serial = m.serial;
    out->meta_gen = m.gen;
    out->changed = m.changed;
    out->xfr_gen = m.xfr_gen;
    out->ixfr_floor = m.ixfr_floor;
    return log_last_seq(t, &out->log_seq);
}

/* ---- allocations ------------------------------------------------------ */

static int valid_alloc_name(const char *name)
{
    return spfdb_alloc_name_check(name, NULL) == 0;
}

size_t alloc_encode(const struct spfdb_alloc *a, uint8_t *b)
{
    put_be32(b, a->id);
    put_be64(b + 4, a->n4);
    put_be64(b + 12, a->n6);
    for (unsigned i = 0; i < a->n_members; i++)
        put_be32(b + ALLOC_SIZE + 4 * i, a->members[i]);
    return ALLOC_SIZE + 4 * (size_t)a->n_members;
}

int alloc_store(spfdb_txn *t, const struct spfdb_alloc *a, unsigned flags)
{
    uint8_t b[ALLOC_SIZE_MAX];
    MDB_val k = sval(a->name), v = {alloc_encode(a, b), b};
    int rc;

    rc = mdb_put(t->mdb, t->env->dbi[DB_ALLOCS], &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return SPFDB_EEXIST;
    return rc ? store_fail(t, rc) : 0;
}

int alloc_decode(const void *name, size_t nlen, const uint8_t *p, size_t len,
                 struct spfdb_alloc *out)
{
    if (len < ALLOC_SIZE || len > ALLOC_SIZE_MAX || (len - ALLOC_SIZE) % 4 != 0)
        return SPFDB_EFORMAT;
    /* the name as spfdb_alloc_add stores it (SPEC §2) */
    if (nlen == 0 || nlen > SPFDB_LABEL_MAX || memchr(name, 0, nlen))
        return SPFDB_EBADNAME;
    memcpy(out->name, name, nlen);
    out->name[nlen] = '\0';
    if (!valid_alloc_name(out->name))
        return SPFDB_EBADNAME;
    out->id = get_be32(p);
    out->n4 = get_be64(p + 4);
    out->n6 = get_be64(p + 12);
    out->n_members = (unsigned)((len - ALLOC_SIZE) / 4);
    for (unsigned i = 0; i < out->n_members; i++) {
        out->members[i] = get_be32(p + ALLOC_SIZE + 4 * i);
        /* ids ascending, none 0 and none the allocation's own */
        if (out->members[i] == 0 || out->members[i] == out->id ||
            (i > 0 && out->members[i] <= out->members[i - 1]))
            return SPFDB_EFORMAT;
    }
    return 0;
}

int alloc_get(spfdb_txn *t, const char *name, struct spfdb_alloc *out)
{
    MDB_val k = sval(name), v;
    int rc = mdb_get(t->mdb, t->env->dbi[DB_ALLOCS], &k, &v);

    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    rc = alloc_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, out);
    return rc == SPFDB_EBADNAME ? store_bad_name_of(t, "allocation name", k.mv_data, k.mv_size)
                                : rc;
}

int alloc_name(spfdb_txn *t, uint32_t id, char *name)
{
    uint8_t kb[4];
    MDB_val k = {4, kb}, v;
    int rc;

    put_be32(kb, id);
    rc = mdb_get(t->mdb, t->env->dbi[DB_ALLOCID], &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_ENOTFOUND : store_fail(t, rc);
    if (v.mv_size == 0 || v.mv_size > SPFDB_LABEL_MAX || memchr(v.mv_data, 0, v.mv_size))
        return store_bad_name_of(t, "allocation name", v.mv_data, v.mv_size);
    memcpy(name, v.mv_data, v.mv_size);
    name[v.mv_size] = '\0';
    if (!valid_alloc_name(name))
        return store_bad_name_of(t, "allocation name", v.mv_data, v.mv_size);
    return 0;
}

int counts_flush(spfdb_txn *t)
{
    struct counts *c = &t->cnt;
    int rc;

    if (!c->dirty)
        return 0;
    rc = alloc_store(t, &c->a, 0);
    if (rc == 0)
        c->dirty = 0;
    return rc;
}

int counts_bump(spfdb_txn *t, uint32_t alloc_id, int family, int delta)
{
    struct counts *c = &t->cnt;
    int rc;

    if (c->a.id != alloc_id || alloc_id == 0) {
        char name[SPFDB_LABEL_MAX + 1];
        rc = counts_flush(t);
        if (rc == 0)
            rc = alloc_name(t, alloc_id, name);
        if (rc == 0)
            rc = alloc_get(t, name, &c->a);
        if (rc) {
            c->a.id = 0;
            return rc;
        }
    }
    if (delta) {
        uint64_t *n = family == 4 ? &c->a.n4 : &c->a.n6;
        *n += (uint64_t)(int64_t)delta;
        c->dirty = 1;
    }
    return 0;
}

int spfdb_alloc_get(spfdb_txn *t, const char *name, struct spfdb_alloc *out)
{
    int rc;

    if (!valid_alloc_name(name))
        return SPFDB_EINVAL;
    rc = t->err ? t->err : counts_flush(t);
    return rc ? rc : alloc_get(t, name, out);
}

int spfdb_alloc_get_id(spfdb_txn *t, uint32_t id, struct spfdb_alloc *out)
{
    char name[SPFDB_LABEL_MAX + 1];
    int rc = t->err ? t->err : counts_flush(t);

    if (rc == 0)
        rc = alloc_name(t, id, name);
    return rc ? rc : alloc_get(t, name, out);
}

int meta_init(spfdb_txn *t)
{
    uint8_t kb[4];
    MDB_val k = {4, kb}, v = sval("default");
    struct meta m = {.version = SPFDB_FORMAT, .gen = 1, .next_id = 2, .ixfr_floor = 1,
                     .xfr_gen = 1};
    int rc;

    m.changed = (int64_t)time(NULL);
    m.serial = (uint32_t)m.changed;
    put_be32(kb, 1);
    rc = alloc_store(t, &(struct spfdb_alloc){.name = "default", .id = 1}, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = store_err(mdb_put(t->mdb, t->env->dbi[DB_ALLOCID], &k, &v, 0));
    return rc ? rc : meta_save(t, &m);
}

int spfdb_alloc_add(spfdb_txn *t, const char *name, uint32_t *id_out)
{
    uint8_t kb[4];
    MDB_val k = {4, kb}, v = sval(name);
    struct spfdb_alloc a = {.n4 = 0};
    uint32_t id;
    int rc = store_need_data(t);

    if (rc)
        return rc;
    if (!valid_alloc_name(name))
        return SPFDB_EINVAL;
    id = t->meta.next_id;
    if (id == 0)
        return SPFDB_ENOSPC; /* 2^32 allocations made: ids are never reused */
    a.id = id;
    memcpy(a.name, name, strlen(name) + 1);
    rc = alloc_store(t, &a, MDB_NOOVERWRITE);
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

static int zones_walk(spfdb_txn *t, int fill, spfdb_zone_fn fn, void *arg);

static int alloc_each(const MDB_val *k, const MDB_val *v, void *arg)
{
    const struct store_pass *w = arg;
    struct spfdb_alloc a;
    int rc = alloc_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, &a);

    if (rc == SPFDB_EBADNAME)
        return store_walk_skip(w->t, store_bad_name_of(w->t, "allocation name", k->mv_data,
                                                       k->mv_size));
    return rc ? rc : ((spfdb_alloc_fn)w->fn)(&a, w->arg);
}

int spfdb_alloc_foreach(spfdb_txn *t, spfdb_alloc_fn fn, void *arg)
{
    struct store_pass w = {(void (*)(void))fn, arg, t, 0};
    int rc = t->err ? t->err : counts_flush(t);

    return rc ? rc : store_walk(t, DB_ALLOCS, NULL, 0, alloc_each, &w);
}

/* ---- zones -------------------------------------------------------------- */

/* A stored zone; a name in it that breaks SPEC §2 is recorded (env.h). */
static int zone_decode(spfdb_txn *t, const MDB_val *k, const MDB_val *v, struct spfdb_zone *z)
{
    char desc[ZONEREC_DESC_MAX];
    int rc = zonerec_decode_desc(k->mv_data, k->mv_size, v->mv_data, v->mv_size, z, desc,
                                 sizeof desc);

    if (rc == SPFDB_EFORMAT && k->mv_size > 0 && k->mv_size <= SPFDB_NAME_MAX &&
        memchr(k->mv_data, 0, k->mv_size))
        return store_bad_name_of(t, "zone name", k->mv_data, k->mv_size);
    return rc == SPFDB_EBADNAME ? store_bad_name(t, desc) : rc;
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
    rc = zone_decode(t, &k, &v, out);
    return rc ? rc : zone_fill_alloc(t, out);
}

struct zone_check {
    const struct spfdb_zone *z;
    unsigned flags;
    struct spfdb_why *why;
};

static int check_served(const struct spfdb_zone *s, void *arg)
{
    struct zone_check *c = arg;

    return spfdb_zone_conflict(c->z, s, c->flags, c->why);
}

/* spfdb_zone_check, and the name of the allocation Z is bound to into
 * ALLOC ("" for a provider zone). */
static int zone_check(spfdb_txn *t, const struct spfdb_zone *z, unsigned flags,
                      struct spfdb_why *why, char *alloc)
{
    struct zone_check c = {z, flags, why};
    char xfr[SPFDB_XFR_ZONE_MAX + 1];
    int rc = spfdb_zone_rules(z, why);

    alloc[0] = '\0';
    if (rc == 0 && z->alloc_id)
        rc = alloc_name(t, z->alloc_id, alloc);
    if (rc == 0)
        rc = zones_walk(t, 0, check_served, &c);
    if (rc == 0 && (rc = xfr_zone_name(t, xfr)) > 0)
        rc = spfdb_xfr_zone_nest(z->name, xfr, why);
    return rc;
}

int spfdb_zone_check(spfdb_txn *t, const struct spfdb_zone *z, unsigned flags,
                     struct spfdb_why *why)
{
    char alloc[SPFDB_LABEL_MAX + 1];

    return zone_check(t, z, flags, why, alloc);
}

int spfdb_zone_put(spfdb_txn *t, const struct spfdb_zone *z)
{
    return spfdb_zone_put_flags(t, z, 0, NULL);
}

int spfdb_zone_put_flags(spfdb_txn *t, const struct spfdb_zone *z, unsigned flags,
                         struct spfdb_why *why)
{
    uint8_t b[ZONEREC_MAX];
    struct spfdb_zone logged, prev;
    MDB_val k, v, old;
    int rc = store_need_data(t), found;

    if (rc)
        return rc;
    logged = *z; /* for the change log, with its allocation's name */
    rc = zone_check(t, z, flags, why, logged.alloc);
    if (rc)
        return rc;
    k = sval(z->name);
    v.mv_data = b;
    v.mv_size = zonerec_encode(z, b);
    rc = mdb_get(t->mdb, t->env->dbi[DB_ZONES], &k, &old);
    if (rc == 0 && old.mv_size == v.mv_size && memcmp(old.mv_data, b, v.mv_size) == 0)
        return 0; /* unchanged: nothing to commit */
    if (rc && rc != MDB_NOTFOUND)
        return store_fail(t, rc);
    /* the change log keeps the record replaced, to be deleted exactly */
    found = rc == 0;
    if (found && ((rc = zone_decode(t, &k, &old, &prev)) != 0 ||
                  (rc = zone_fill_alloc(t, &prev)) != 0))
        return rc;
    log_zone(t, found ? &prev : NULL, &logged);
    rc = mdb_put(t->mdb, t->env->dbi[DB_ZONES], &k, &v, 0);
    if (rc)
        return store_fail(t, rc);
    mark(t, 1);
    return 0;
}

int spfdb_zone_del(spfdb_txn *t, const char *name)
{
    struct spfdb_zone z;
    MDB_val k = sval(name);
    int rc = store_need_data(t);

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
    log_zone(t, &z, NULL);
    mark(t, 1);
    return 0;
}

/* A zone for zones_walk: decoded, its allocation named when w->flag. */
static int zone_each(const MDB_val *k, const MDB_val *v, void *arg)
{
    const struct store_pass *w = arg;
    struct spfdb_zone z;
    int rc = zone_decode(w->t, k, v, &z);

    if (rc == 0 && w->flag)
        rc = zone_fill_alloc(w->t, &z);
    if (rc)
        return store_walk_skip(w->t, rc); /* a damaged name: a server skips the zone */
    return ((spfdb_zone_fn)w->fn)(&z, w->arg);
}

/* FN for each zone in name order, FILL: with its allocation's name; a
 * nonzero return stops the walk and is returned.  FN may read. */
static int zones_walk(spfdb_txn *t, int fill, spfdb_zone_fn fn, void *arg)
{
    struct store_pass w = {(void (*)(void))fn, arg, t, fill};

    return store_walk(t, DB_ZONES, NULL, 0, zone_each, &w);
}

int spfdb_zone_foreach(spfdb_txn *t, spfdb_zone_fn fn, void *arg)
{
    return zones_walk(t, 1, fn, arg);
}

