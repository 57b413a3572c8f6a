/* xfrdb.c: the transfer settings, the `xfr` database (xfrdb.h, spfdb.h
 * "transfers"). */
#include "bytes.h"
#include "env.h"
#include "store.h"
#include "xfrdb.h"

#include <stdio.h>
#include <string.h>

#define VERSION 1
#define VAL_MAX 1024 /* the largest value: a primary's (8 addresses) */
#define KEY_MAX (16 + SPFDB_KEY_NAME_MAX) /* "key" 0 NAME, the longest */

/* ---- values ----------------------------------------------------------- */

/* A value being built or read: octets and a position.  A read past the end
 * sets bad, so a decoder checks once. */
struct val {
    uint8_t *b;
    size_t n, cap;
    int bad;
};

static void put8(struct val *v, unsigned x)
{
    if (v->n < v->cap)
        v->b[v->n] = (uint8_t)x;
    v->n++;
}

static void put_bytes(struct val *v, const void *p, size_t n)
{
    if (v->n + n <= v->cap)
        memcpy(v->b + v->n, p, n);
    v->n += n;
}

static void put_str(struct val *v, const char *s)
{
    size_t n = strlen(s);

    put8(v, (unsigned)n);
    put_bytes(v, s, n);
}

static void put_u32(struct val *v, uint32_t x)
{
    uint8_t b[4];

    put_be32(b, x);
    put_bytes(v, b, 4);
}

static void put_u64(struct val *v, uint64_t x)
{
    uint8_t b[8];

    put_be64(b, x);
    put_bytes(v, b, 8);
}

static const uint8_t *get(struct val *v, size_t n)
{
    const uint8_t *p = v->b + v->n;

    if (v->bad || v->cap - v->n < n) {
        v->bad = 1;
        return NULL;
    }
    v->n += n;
    return p;
}

static unsigned get8(struct val *v)
{
    const uint8_t *p = get(v, 1);

    return p ? *p : 0;
}

/* A string into OUT of CAP bytes, NUL-terminated.  One holding a NUL is
 * bad: it would be read, and checked, cut short of what is stored. */
static void get_str(struct val *v, char *out, size_t cap)
{
    size_t n = get8(v);
    const uint8_t *p = get(v, n);

    out[0] = '\0';
    if (!p || n >= cap || memchr(p, 0, n)) {
        v->bad = 1;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

static uint32_t get_u32(struct val *v)
{
    const uint8_t *p = get(v, 4);

    return p ? get_be32(p) : 0;
}

static uint64_t get_u64(struct val *v)
{
    const uint8_t *p = get(v, 8);

    return p ? get_be64(p) : 0;
}

/* A stored value, B[0..LEN), to read: past its version octet.
 * SPFDB_EFORMAT on another version. */
static int reading(struct val *v, const uint8_t *b, size_t len)
{
    v->b = (uint8_t *)b; /* only read */
    v->n = 0;
    v->cap = len;
    v->bad = 0;
    return get8(v) == VERSION && !v->bad ? 0 : SPFDB_EFORMAT;
}

/* Read to the end, nothing left over, and no string cut. */
static int read_end(const struct val *v)
{
    return v->bad || v->n != v->cap ? SPFDB_EFORMAT : 0;
}

static void writing(struct val *v, uint8_t *buf, size_t cap)
{
    v->b = buf;
    v->n = 0;
    v->cap = cap;
    v->bad = 0;
    put8(v, VERSION);
}

/* ---- records ---------------------------------------------------------- */

/* The record key: NAME, or KIND 0 NAME for the kinds with many. */
static MDB_val key_of(uint8_t *buf, const char *kind, const char *name)
{
    size_t k = strlen(kind), n = name ? strlen(name) : 0;
    MDB_val m = {k, buf};

    memcpy(buf, kind, k);
    if (name) {
        buf[k] = 0;
        memcpy(buf + k + 1, name, n);
        m.mv_size = k + 1 + n;
    }
    return m;
}

static int rec_get(spfdb_txn *t, MDB_val *k, MDB_val *v)
{
    int rc = t->err ? t->err : mdb_get(t->mdb, t->env->dbi[DB_XFR], k, v);

    if (rc == MDB_NOTFOUND)
        return SPFDB_ENOTFOUND;
    return rc > 0 ? store_fail(t, rc) : rc;
}

/* Store V under K, a quiet change unless it is stored so already; FLAGS
 * MDB_NOOVERWRITE: SPFDB_EEXIST when K is there. */
static int rec_put(spfdb_txn *t, MDB_val *k, const struct val *v, unsigned flags)
{
    MDB_val old, m = {v->n, v->b};
    int rc = store_need_write(t);

    if (rc)
        return rc;
    if (v->n > v->cap)
        return SPFDB_EINVAL; /* cannot happen: VAL_MAX holds the largest */
    rc = mdb_get(t->mdb, t->env->dbi[DB_XFR], k, &old);
    if (rc == 0 && (flags & MDB_NOOVERWRITE))
        return SPFDB_EEXIST;
    if (rc == 0 && old.mv_size == m.mv_size && memcmp(old.mv_data, m.mv_data, m.mv_size) == 0)
        return 0;
    if (rc && rc != MDB_NOTFOUND)
        return store_fail(t, rc);
    rc = mdb_put(t->mdb, t->env->dbi[DB_XFR], k, &m, 0);
    if (rc)
        return store_fail(t, rc);
    t->quiet = 1;
    return 0;
}

static int rec_del(spfdb_txn *t, MDB_val *k)
{
    int rc = store_need_write(t);

    if (rc)
        return rc;
    rc = mdb_del(t->mdb, t->env->dbi[DB_XFR], k, NULL);
    if (rc == MDB_NOTFOUND)
        return SPFDB_ENOTFOUND;
    if (rc)
        return store_fail(t, rc);
    t->quiet = 1;
    return 0;
}

/* FN(name, value) for each record of KIND 0 NAME, in name order. */
struct kind_walk {
    size_t skip; /* the kind and its 0 */
    int (*fn)(const char *name, size_t n, const MDB_val *v, void *arg);
    void *arg;
};

static int kind_each(const MDB_val *k, const MDB_val *v, void *arg)
{
    const struct kind_walk *w = arg;

    return w->fn((const char *)k->mv_data + w->skip, k->mv_size - w->skip, v, w->arg);
}

static int kind_walk(spfdb_txn *t, const char *kind,
                     int (*fn)(const char *name, size_t n, const MDB_val *v, void *arg),
                     void *arg)
{
    uint8_t buf[KEY_MAX];
    MDB_val from = key_of(buf, kind, "");
    struct kind_walk w = {from.mv_size, fn, arg};

    return t->err ? t->err : store_walk(t, DB_XFR, &from, from.mv_size, kind_each, &w);
}

/* A name from a key into OUT of CAP bytes: SPFDB_EFORMAT when it cannot be one. */
static int key_name(const char *name, size_t n, char *out, size_t cap)
{
    if (n == 0 || n >= cap || memchr(name, 0, n))
        return SPFDB_EFORMAT;
    memcpy(out, name, n);
    out[n] = '\0';
    return 0;
}

/* ---- keys ------------------------------------------------------------- */

int xfr_key_decode(const char *name, size_t n, const uint8_t *b, size_t len, struct spfdb_key *k)
{
    struct val v;
    const uint8_t *p;

    memset(k, 0, sizeof *k);
    if (key_name(name, n, k->name, sizeof k->name) || reading(&v, b, len))
        return SPFDB_EFORMAT;
    k->alg = (int)get8(&v);
    k->secret_len = get8(&v);
    if (k->secret_len > SPFDB_SECRET_MAX)
        return SPFDB_EFORMAT;
    p = get(&v, k->secret_len);
    if (p)
        memcpy(k->secret, p, k->secret_len);
    k->created = (int64_t)get_u64(&v);
    if (read_end(&v))
        return SPFDB_EFORMAT;
    if (spfdb_key_name_check(k->name, NULL))
        return SPFDB_EBADNAME;
    return spfdb_key_check(k, NULL) ? SPFDB_EFORMAT : 0;
}

/* RC of a decoder: SPFDB_EBADNAME recorded as WHAT NAME (env.h). */
static int named_fail(spfdb_txn *t, int rc, const char *what, const char *name, size_t n)
{
    return rc == SPFDB_EBADNAME ? store_bad_name_of(t, what, name, n) : rc;
}

int spfdb_key_add(spfdb_txn *t, const struct spfdb_key *k, struct spfdb_why *why)
{
    uint8_t kb[KEY_MAX], b[VAL_MAX];
    struct val v;
    MDB_val key;
    int rc = spfdb_key_check(k, why);

    if (rc)
        return rc;
    key = key_of(kb, "key", k->name);
    writing(&v, b, sizeof b);
    put8(&v, (unsigned)k->alg);
    put8(&v, k->secret_len);
    put_bytes(&v, k->secret, k->secret_len);
    put_u64(&v, (uint64_t)k->created);
    rc = rec_put(t, &key, &v, MDB_NOOVERWRITE);
    explicit_bzero(b, sizeof b);
    return rc;
}

int spfdb_key_get(spfdb_txn *t, const char *name, struct spfdb_key *out)
{
    uint8_t kb[KEY_MAX];
    MDB_val k, v;
    int rc;

    if (spfdb_key_name_check(name, NULL))
        return SPFDB_EINVAL;
    k = key_of(kb, "key", name);
    rc = rec_get(t, &k, &v);
    return rc ? rc
              : named_fail(t, xfr_key_decode(name, strlen(name), v.mv_data, v.mv_size, out),
                           "key name", name, strlen(name));
}

/* 0 when a key is named NAME, else SPFDB_ENOTFOUND (an invalid name too). */
static int key_exists(spfdb_txn *t, const char *name)
{
    struct spfdb_key k;
    int rc = spfdb_key_get(t, name, &k);

    explicit_bzero(k.secret, sizeof k.secret);
    return rc == SPFDB_EINVAL ? SPFDB_ENOTFOUND : rc;
}

struct key_user {
    const char *name;
};

static int replica_uses(const struct spfdb_replica *r, void *arg)
{
    return strcmp(r->key, ((const struct key_user *)arg)->name) == 0;
}

int spfdb_key_del(spfdb_txn *t, const char *name)
{
    struct key_user u = {name};
    struct spfdb_primary p;
    uint8_t kb[KEY_MAX];
    MDB_val k;
    int rc = store_need_write(t);

    if (rc)
        return rc;
    if (spfdb_key_name_check(name, NULL))
        return SPFDB_EINVAL;
    rc = spfdb_replica_foreach(t, replica_uses, &u);
    if (rc == 0) {
        rc = spfdb_primary_get(t, &p);
        rc = rc == 0 && strcmp(p.key, name) == 0 ? 1 : rc == SPFDB_ENOTFOUND ? 0 : rc;
    }
    if (rc)
        return rc > 0 ? SPFDB_EBUSY : rc;
    k = key_of(kb, "key", name);
    return rec_del(t, &k);
}

static int key_each(const char *name, size_t n, const MDB_val *v, void *arg)
{
    const struct store_pass *w = arg;
    struct spfdb_key k;
    int rc = named_fail(w->t, xfr_key_decode(name, n, v->mv_data, v->mv_size, &k), "key name",
                        name, n);

    if (rc == SPFDB_EBADNAME)
        return store_walk_skip(w->t, rc); /* a server goes on without that key */

    if (rc == 0)
        rc = ((spfdb_key_fn)w->fn)(&k, w->arg);
    explicit_bzero(k.secret, sizeof k.secret);
    return rc;
}

int spfdb_key_foreach(spfdb_txn *t, spfdb_key_fn fn, void *arg)
{
    struct store_pass w = {(void (*)(void))fn, arg, t, 0};

    return kind_walk(t, "key", key_each, &w);
}

/* ---- the transfer zone ------------------------------------------------ */

int xfr_zone_decode(const uint8_t *b, size_t len, struct spfdb_xfr_zone *z)
{
    struct val v;

    memset(z, 0, sizeof *z);
    if (reading(&v, b, len))
        return SPFDB_EFORMAT;
    get_str(&v, z->name, sizeof z->name);
    get_str(&v, z->ns, sizeof z->ns);
    if (read_end(&v))
        return SPFDB_EFORMAT;
    return spfdb_xfr_zone_rules(z->name, z->ns, NULL) ? SPFDB_EBADNAME : 0;
}

int spfdb_xfr_zone_get(spfdb_txn *t, struct spfdb_xfr_zone *out)
{
    uint8_t kb[KEY_MAX];
    MDB_val k = key_of(kb, "zone", NULL), v;
    int rc = rec_get(t, &k, &v);

    if (rc == 0 && (rc = xfr_zone_decode(v.mv_data, v.mv_size, out)) == SPFDB_EBADNAME)
        rc = spfdb_xfr_zone_rules(out->name, NULL, NULL)
                 ? store_bad_name_of(t, "transfer zone", out->name, strlen(out->name))
                 : store_bad_name_of(t, "transfer zone NS host", out->ns, strlen(out->ns));
    /* a server with a damage handler goes on as if none were set */
    if (rc == SPFDB_EBADNAME && store_walk_skip(t, rc) == 0)
        rc = SPFDB_ENOTFOUND;
    return rc;
}

int xfr_zone_name(spfdb_txn *t, char *name)
{
    struct spfdb_xfr_zone z;
    int rc = spfdb_xfr_zone_get(t, &z);

    if (rc == SPFDB_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    memcpy(name, z.name, sizeof z.name);
    return 1;
}

struct nest {
    const char *name;
    struct spfdb_why *why;
};

/* A served zone, by its key in the zones database (its name). */
static int nest_each(const MDB_val *k, const MDB_val *v, void *arg)
{
    const struct nest *c = arg;
    char name[SPFDB_NAME_MAX + 1];

    (void)v;
    if (key_name(k->mv_data, k->mv_size, name, sizeof name))
        return SPFDB_EFORMAT;
    return spfdb_xfr_zone_nest(c->name, name, c->why);
}

/* A string field of a caller's struct: NUL-terminated within it? */
#define TERMINATED(f) (memchr((f), 0, sizeof(f)) != NULL)

int spfdb_xfr_zone_set(spfdb_txn *t, const struct spfdb_xfr_zone *z, struct spfdb_why *why)
{
    const char *ns = z->ns[0] ? z->ns : SPFDB_XFR_NS_DEFAULT;
    struct nest c = {z->name, why};
    uint8_t kb[KEY_MAX], b[VAL_MAX];
    MDB_val k;
    struct val v;
    int rc = store_need_write(t);

    if (rc == 0 && (!TERMINATED(z->name) || !TERMINATED(z->ns)))
        rc = SPFDB_EINVAL;
    if (rc == 0)
        rc = spfdb_xfr_zone_rules(z->name, ns, why);
    if (rc == 0)
        rc = store_walk(t, DB_ZONES, NULL, 0, nest_each, &c);
    if (rc)
        return rc;
    k = key_of(kb, "zone", NULL);
    writing(&v, b, sizeof b);
    put_str(&v, z->name);
    put_str(&v, ns);
    return rec_put(t, &k, &v, 0);
}

int spfdb_xfr_zone_del(spfdb_txn *t)
{
    uint8_t kb[KEY_MAX];
    MDB_val k = key_of(kb, "zone", NULL);

    return rec_del(t, &k);
}

/* ---- replicas --------------------------------------------------------- */

/* ADDR's canonical text into OUT, or SPFDB_EINVAL with WHY. */
static int canonical(const char *addr, unsigned index, struct spfdb_addrport *ap, char *out,
                     struct spfdb_why *why)
{
    char *msg = why ? why->msg : NULL;
    size_t cap = why ? sizeof why->msg : 0;

    if (why)
        memset(why, 0, sizeof *why);
    if (spfdb_addrport_parse(addr, ap, msg, cap) != 0) {
        if (why) {
            why->rule = SPFDB_RULE_ADDR;
            why->index = index;
            snprintf(why->host, sizeof why->host, "%s", addr);
        }
        return SPFDB_EINVAL;
    }
    spfdb_addrport_format(ap, out, SPFDB_ADDRPORT_STRLEN);
    return 0;
}

int spfdb_replica_add(spfdb_txn *t, const char *addr, const char *key, struct spfdb_why *why)
{
    struct spfdb_replica r;
    uint8_t kb[KEY_MAX], b[VAL_MAX];
    MDB_val mk;
    struct val v;
    int rc = store_need_write(t);

    if (rc == 0)
        rc = canonical(addr, 0, &r.ap, r.addr, why);
    if (rc == 0)
        rc = key_exists(t, key);
    if (rc)
        return rc;
    mk = key_of(kb, "replica", r.addr);
    writing(&v, b, sizeof b);
    put_str(&v, key);
    return rec_put(t, &mk, &v, MDB_NOOVERWRITE);
}

int spfdb_replica_del(spfdb_txn *t, const char *addr)
{
    struct spfdb_addrport ap;
    char text[SPFDB_ADDRPORT_STRLEN];
    uint8_t kb[KEY_MAX];
    MDB_val k;
    int rc = canonical(addr, 0, &ap, text, NULL);

    if (rc)
        return rc;
    k = key_of(kb, "replica", text);
    return rec_del(t, &k);
}

int xfr_replica_decode(const char *addr, size_t n, const uint8_t *b, size_t len,
                       struct spfdb_replica *r)
{
    char check[SPFDB_ADDRPORT_STRLEN];
    struct val v;

    memset(r, 0, sizeof *r);
    if (key_name(addr, n, r->addr, sizeof r->addr) ||
        canonical(r->addr, 0, &r->ap, check, NULL) || strcmp(check, r->addr) != 0)
        return SPFDB_EBADNAME; /* the address, as spfdb_replica_add stores it */
    if (reading(&v, b, len))
        return SPFDB_EFORMAT;
    get_str(&v, r->key, sizeof r->key);
    if (read_end(&v))
        return SPFDB_EFORMAT;
    return spfdb_key_name_check(r->key, NULL) ? SPFDB_EBADNAME : 0;
}

static int replica_each(const char *name, size_t n, const MDB_val *m, void *arg)
{
    const struct store_pass *w = arg;
    struct spfdb_replica r;
    int rc = xfr_replica_decode(name, n, m->mv_data, m->mv_size, &r);

    if (rc == SPFDB_EBADNAME) {
        struct spfdb_addrport ap;
        char c[SPFDB_ADDRPORT_STRLEN];
        int addr_ok = r.addr[0] && canonical(r.addr, 0, &ap, c, NULL) == 0 &&
                      strcmp(c, r.addr) == 0;
        return store_walk_skip(w->t, addr_ok ? store_bad_name_of(w->t, "key name of a replica",
                                                                 r.key, strlen(r.key))
                                             : store_bad_name_of(w->t, "replica address", name,
                                                                 n));
    }
    return rc ? rc : ((spfdb_replica_fn)w->fn)(&r, w->arg);
}

int spfdb_replica_foreach(spfdb_txn *t, spfdb_replica_fn fn, void *arg)
{
    struct store_pass w = {(void (*)(void))fn, arg, t, 0};

    return kind_walk(t, "replica", replica_each, &w);
}

/* ---- the primary ------------------------------------------------------ */

int xfr_primary_present(spfdb_txn *t)
{
    uint8_t kb[KEY_MAX];
    MDB_val k = key_of(kb, "primary", NULL), v;
    int rc = rec_get(t, &k, &v);

    return rc == SPFDB_ENOTFOUND ? 0 : rc ? rc : 1;
}

static int primary_addrs(const struct spfdb_primary *p, char (*out)[SPFDB_ADDRPORT_STRLEN],
                         struct spfdb_why *why);

int xfr_primary_decode(const uint8_t *b, size_t len, struct spfdb_primary *out)
{
    char canon[SPFDB_PRIMARY_MAX][SPFDB_ADDRPORT_STRLEN];
    struct val v;

    memset(out, 0, sizeof *out);
    if (reading(&v, b, len))
        return SPFDB_EFORMAT;
    get_str(&v, out->zone, sizeof out->zone);
    get_str(&v, out->key, sizeof out->key);
    out->n_addr = get8(&v);
    if (out->n_addr == 0 || out->n_addr > SPFDB_PRIMARY_MAX)
        return SPFDB_EFORMAT;
    for (unsigned i = 0; i < out->n_addr; i++)
        get_str(&v, out->addr[i], sizeof out->addr[i]);
    if (read_end(&v))
        return SPFDB_EFORMAT;
    if (spfdb_xfr_zone_rules(out->zone, NULL, NULL) || spfdb_key_name_check(out->key, NULL))
        return SPFDB_EBADNAME;
    /* as spfdb_primary_set stores them: valid, canonical, none twice */
    if (primary_addrs(out, canon, NULL))
        return SPFDB_EBADNAME;
    for (unsigned i = 0; i < out->n_addr; i++)
        if (strcmp(canon[i], out->addr[i]) != 0)
            return SPFDB_EBADNAME;
    return 0;
}

int spfdb_primary_get(spfdb_txn *t, struct spfdb_primary *out)
{
    uint8_t kb[KEY_MAX];
    MDB_val k = key_of(kb, "primary", NULL), m;
    int rc = rec_get(t, &k, &m);

    if (rc == 0 && (rc = xfr_primary_decode(m.mv_data, m.mv_size, out)) == SPFDB_EBADNAME) {
        const char *what = "primary's address", *bad = out->addr[0];
        if (spfdb_xfr_zone_rules(out->zone, NULL, NULL))
            what = "primary's transfer zone", bad = out->zone;
        else if (spfdb_key_name_check(out->key, NULL))
            what = "primary's key name", bad = out->key;
        for (unsigned i = 0; bad == out->addr[0] && i < out->n_addr; i++) {
            struct spfdb_addrport ap;
            char c[SPFDB_ADDRPORT_STRLEN];
            if (canonical(out->addr[i], 0, &ap, c, NULL) || strcmp(c, out->addr[i]) != 0) {
                bad = out->addr[i];
                break;
            }
        }
        rc = store_bad_name_of(t, what, bad, strlen(bad));
    }
    return rc;
}

/* P's addresses checked and made canonical into OUT. */
static int primary_addrs(const struct spfdb_primary *p, char (*out)[SPFDB_ADDRPORT_STRLEN],
                         struct spfdb_why *why)
{
    struct spfdb_addrport ap;
    int rc;

    if (p->n_addr == 0 || p->n_addr > SPFDB_PRIMARY_MAX) {
        if (why) {
            memset(why, 0, sizeof *why);
            why->rule = SPFDB_RULE_ADDR_COUNT;
            why->value = p->n_addr;
            why->limit = SPFDB_PRIMARY_MAX;
        }
        return SPFDB_EINVAL;
    }
    for (unsigned i = 0; i < p->n_addr; i++) {
        if ((rc = canonical(p->addr[i], i, &ap, out[i], why)) != 0)
            return rc;
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(out[j], out[i]) != 0)
                continue;
            if (why) {
                why->rule = SPFDB_RULE_ADDR_TWICE;
                why->index = i;
                snprintf(why->host, sizeof why->host, "%s", out[i]);
            }
            return SPFDB_EINVAL;
        }
    }
    return 0;
}

int spfdb_primary_set(spfdb_txn *t, const struct spfdb_primary *p, struct spfdb_why *why)
{
    char addr[SPFDB_PRIMARY_MAX][SPFDB_ADDRPORT_STRLEN];
    struct spfdb_primary old;
    uint8_t kb[KEY_MAX], b[VAL_MAX];
    MDB_val mk;
    struct val v;
    int rc = store_need_write(t);

    if (rc == 0 && (!TERMINATED(p->zone) || !TERMINATED(p->key)))
        rc = SPFDB_EINVAL;
    for (unsigned i = 0; rc == 0 && i < p->n_addr && i < SPFDB_PRIMARY_MAX; i++)
        if (!TERMINATED(p->addr[i]))
            rc = SPFDB_EINVAL;
    if (rc == 0)
        rc = spfdb_xfr_zone_rules(p->zone, NULL, why);
    if (rc == 0)
        rc = primary_addrs(p, addr, why);
    if (rc == 0)
        rc = key_exists(t, p->key);
    if (rc == 0) {
        rc = spfdb_primary_get(t, &old);
        /* another zone is another history: the follower starts afresh */
        if (rc == SPFDB_ENOTFOUND || (rc == 0 && strcmp(old.zone, p->zone) != 0))
            rc = spfdb_follow_put(t, &(struct spfdb_follow){0});
    }
    if (rc)
        return rc;
    mk = key_of(kb, "primary", NULL);
    writing(&v, b, sizeof b);
    put_str(&v, p->zone);
    put_str(&v, p->key);
    put8(&v, p->n_addr);
    for (unsigned i = 0; i < p->n_addr; i++)
        put_str(&v, addr[i]);
    rc = rec_put(t, &mk, &v, 0);
    if (rc == 0 && !t->env->follower)
        t->replica = 1;
    return rc;
}

int spfdb_primary_del(spfdb_txn *t)
{
    uint8_t kb[KEY_MAX];
    MDB_val k = key_of(kb, "primary", NULL);
    int rc = rec_del(t, &k);

    if (rc == 0)
        t->replica = 0;
    return rc;
}

/* ---- the follower's state --------------------------------------------- */

int xfr_follow_decode(const uint8_t *b, size_t len, struct spfdb_follow *out)
{
    struct val v;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = reading(&v, b, len)) != 0)
        return rc;
    out->synced = get8(&v) != 0;
    out->primary_serial = get_u32(&v);
    out->last_contact = (int64_t)get_u64(&v);
    out->last_success = (int64_t)get_u64(&v);
    if (v.bad || v.n == v.cap)
        return read_end(&v); /* the first form: no counters */
    out->transfers_ok = get_u64(&v);
    out->failures = get_u64(&v);
    out->rollbacks = get_u64(&v);
    out->behind_since = (int64_t)get_u64(&v);
    out->last_failure = (int64_t)get_u64(&v);
    out->expire = get_u32(&v);
    out->axfr_needed = get8(&v) != 0;
    return read_end(&v);
}

int spfdb_follow_get(spfdb_txn *t, struct spfdb_follow *out)
{
    uint8_t kb[KEY_MAX];
    MDB_val k = key_of(kb, "follow", NULL), m;
    int rc = rec_get(t, &k, &m);

    memset(out, 0, sizeof *out);
    if (rc == SPFDB_ENOTFOUND)
        return 0;
    return rc ? rc : xfr_follow_decode(m.mv_data, m.mv_size, out);
}

int spfdb_follow_put(spfdb_txn *t, const struct spfdb_follow *f)
{
    uint8_t kb[KEY_MAX], b[VAL_MAX];
    MDB_val k = key_of(kb, "follow", NULL);
    struct val v;

    writing(&v, b, sizeof b);
    put8(&v, f->synced ? 1 : 0);
    put_u32(&v, f->primary_serial);
    put_u64(&v, (uint64_t)f->last_contact);
    put_u64(&v, (uint64_t)f->last_success);
    put_u64(&v, f->transfers_ok);
    put_u64(&v, f->failures);
    put_u64(&v, f->rollbacks);
    put_u64(&v, (uint64_t)f->behind_since);
    put_u64(&v, (uint64_t)f->last_failure);
    put_u32(&v, f->expire);
    put8(&v, f->axfr_needed ? 1 : 0);
    return rec_put(t, &k, &v, 0);
}
