/* changelog.c: the change log (spfdb.h "change log").
 *
 * log: seq (8 octets, big-endian) -> one record, appended at commit:
 *   version 2: version (1), time (8), serial_before, serial_after,
 *              n_changes (4 each), user, sudo_user, command, the changes;
 *   version 1 (before format 3): version (1), time (8), user, sudo_user,
 *              command, the changes.
 * A string is a 2-octet length, its octets and a NUL (so readers can point
 * into the snapshot); a zone value (zonerec.h) is stored the same way.  A
 * change is one op octet and:
 *   CTX                 the allocation name of the entry changes after it
 *   ADD4 ADD6 DEL4 DEL6 prefix length (1) and address (4 or 16)
 *   ALLOC_ADD ALLOC_DEL the allocation name
 *   MEMBER_ADD/DEL      the allocation name, the member's name
 *   ZONE_ADD2           zone name, then the new side
 *   ZONE_SET2           zone name, the old side, the new side
 *   ZONE_DEL2           zone name, the old side
 *                       (a side: the bound allocation's name or "", the
 *                       zone's stored value), so a transfer can delete
 *                       exactly the record it replaces
 *   ZONE_ADD/SET/DEL    (version 1 only) zone name, bound allocation or "",
 *                       settings text
 * so a bulk add of IPv4 prefixes costs 6 octets an entry, and a commit 12
 * more than version 1.  Retention (spfdb_log_prune) deletes records from
 * the first on, in a quiet commit that moves meta's ixfr_floor past them;
 * later records are numbered above every deleted one.
 */
#include "bytes.h"
#include "changelog.h"
#include "env.h"
#include "store.h"
#include "zonerec.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_VERSION 2
#define HEAD_V1 9  /* version, time */
#define HEAD_V2 21 /* ... serial_before, serial_after, n_changes */
#define COMMAND_MAX 4000

enum {
    EV_CTX = 1,
    EV_ALLOC_ADD = 0x31,
    EV_ALLOC_DEL = 0x32,
    EV_ZONE_ADD = 0x41,
    EV_ZONE_SET = 0x42,
    EV_ZONE_DEL = 0x43,
    EV_ZONE_ADD2 = 0x44,
    EV_ZONE_SET2 = 0x45,
    EV_ZONE_DEL2 = 0x46,
    EV_MEMBER_ADD = 0x51,
    EV_MEMBER_DEL = 0x52,
    EV_ADD4 = 0x14,
    EV_ADD6 = 0x16,
    EV_DEL4 = 0x24,
    EV_DEL6 = 0x26
};

static uint8_t *grow(spfdb_txn *t, size_t need)
{
    struct logbuf *b = &t->log;

    if (b->cap - b->len < need) {
        size_t cap = b->cap ? b->cap : 4096;
        uint8_t *p;

        while (cap - b->len < need)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            if (!t->err)
                t->err = SPFDB_ENOMEM;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    b->len += need;
    return b->p + b->len - need;
}

static size_t str_size(size_t n)
{
    return 2 + n + 1;
}

static uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
    put_be16(p, (uint16_t)n);
    memcpy(p + 2, s, n);
    p[2 + n] = '\0';
    return p + str_size(n);
}

/* A change (not a context event): counted for the record's n_changes. */
static uint8_t *change(spfdb_txn *t, size_t need)
{
    uint8_t *p = grow(t, need);

    if (p)
        t->log.n++;
    return p;
}

static void log_strs(spfdb_txn *t, int op, const char *a, const char *b, int counted)
{
    size_t na = strlen(a), nb = b ? strlen(b) : 0;
    size_t need = 1 + str_size(na) + (b ? str_size(nb) : 0);
    uint8_t *p = counted ? change(t, need) : grow(t, need);

    if (p) {
        p[0] = (uint8_t)op;
        p = put_bytes(p + 1, a, na);
        if (b)
            put_bytes(p, b, nb);
    }
}

void log_entry(spfdb_txn *t, uint32_t alloc_id, const char *alloc, int op,
               const struct spfdb_prefix *p)
{
    unsigned n = p->family == 4 ? 4 : 16;
    uint8_t *b;

    if (t->log.alloc_id != alloc_id) {
        log_strs(t, EV_CTX, alloc, NULL, 0);
        t->log.alloc_id = alloc_id;
    }
    if (!(b = change(t, 2 + n)))
        return;
    b[0] = (uint8_t)((op == LOG_ADD ? 0x10 : 0x20) | (p->family == 4 ? 4 : 6));
    b[1] = p->len;
    memcpy(b + 2, p->addr, n);
}

void log_alloc(spfdb_txn *t, int op, const char *name)
{
    log_strs(t, op == LOG_ADD ? EV_ALLOC_ADD : EV_ALLOC_DEL, name, NULL, 1);
}

void log_member(spfdb_txn *t, int op, const char *alloc, const char *member)
{
    log_strs(t, op == LOG_ADD ? EV_MEMBER_ADD : EV_MEMBER_DEL, alloc, member, 1);
}

/* One side of a zone change: the bound allocation's name, the value. */
struct side {
    size_t na, nv;
    uint8_t v[ZONEREC_MAX];
};

static size_t side_size(struct side *s, const struct spfdb_zone *z)
{
    if (!z)
        return 0;
    s->na = strlen(z->alloc);
    s->nv = zonerec_encode(z, s->v);
    return str_size(s->na) + str_size(s->nv);
}

static uint8_t *put_side(uint8_t *p, const struct side *s, const struct spfdb_zone *z)
{
    if (!z)
        return p;
    p = put_bytes(p, z->alloc, s->na);
    return put_bytes(p, s->v, s->nv);
}

void log_zone(spfdb_txn *t, const struct spfdb_zone *old, const struct spfdb_zone *new)
{
    const struct spfdb_zone *z = new ? new : old;
    struct side so, sn;
    size_t nz = strlen(z->name);
    size_t need = 1 + str_size(nz) + side_size(&so, old) + side_size(&sn, new);
    uint8_t *p = change(t, need);

    if (!p)
        return;
    *p++ = (uint8_t)(!old ? EV_ZONE_ADD2 : new ? EV_ZONE_SET2 : EV_ZONE_DEL2);
    p = put_bytes(p, z->name, nz);
    p = put_side(p, &so, old);
    put_side(p, &sn, new);
}

void log_free(spfdb_txn *t)
{
    free(t->log.p);
    memset(&t->log, 0, sizeof t->log);
}

static char *dup_user(void)
{
    struct passwd pw, *res = NULL;
    char buf[1024], name[32];
    uid_t uid = getuid();

    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
        return strdup(res->pw_name);
    snprintf(name, sizeof name, "uid:%lu", (unsigned long)uid);
    return strdup(name);
}

int spfdb_env_set_origin(spfdb_env *env, const char *user, const char *command)
{
    char *u = user ? strdup(user) : dup_user();
    char *c = strdup(command ? command : "");

    if (!u || !c) {
        free(u);
        free(c);
        return SPFDB_ENOMEM;
    }
    free(env->user);
    free(env->command);
    env->user = u;
    env->command = c;
    return 0;
}

/* C positioned on the last record: its seq into *LAST (0: none). */
static int last_seq(spfdb_txn *t, MDB_cursor *c, uint64_t *last)
{
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_LAST);

    *last = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store_fail(t, rc);
    if (k.mv_size != 8)
        return SPFDB_EFORMAT;
    *last = get_be64(k.mv_data);
    return 0;
}

int log_last_seq(spfdb_txn *t, uint64_t *last)
{
    MDB_cursor *c;
    int rc = store_cursor(t, DB_LOG, &c);

    return rc ? rc : last_seq(t, c, last);
}

int log_commit(spfdb_txn *t, uint32_t serial_before, uint64_t *seq_out)
{
    spfdb_env *env = t->env;
    /* Anyone can set SUDO_USER; only sudo, run as root, is believed. */
    const char *sudo = getuid() == 0 ? getenv("SUDO_USER") : NULL;
    size_t nu, ns, nc, size;
    uint8_t key[8], *p;
    uint64_t seq;
    MDB_val k = {8, key}, v;
    MDB_cursor *c;
    int rc;

    if (t->err)
        return t->err;
    if (!env->user && (rc = spfdb_env_set_origin(env, NULL, NULL)) != 0)
        return rc;
    sudo = sudo ? sudo : "";
    nu = strnlen(env->user, 255);
    ns = strnlen(sudo, 255);
    nc = strnlen(env->command, COMMAND_MAX);
    size = HEAD_V2 + str_size(nu) + str_size(ns) + str_size(nc) + t->log.len;
    if ((rc = store_cursor(t, DB_LOG, &c)) != 0 || (rc = last_seq(t, c, &seq)) != 0)
        return rc;
    /* records below the floor may all have been pruned: never reuse a seq */
    if (t->meta.ixfr_floor > seq + 1)
        seq = t->meta.ixfr_floor - 1;
    put_be64(key, ++seq);
    v.mv_size = size;
    rc = mdb_cursor_put(c, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return store_fail(t, rc);
    p = v.mv_data;
    p[0] = LOG_VERSION;
    put_be64(p + 1, (uint64_t)t->meta.changed);
    put_be32(p + 9, serial_before);
    put_be32(p + 13, t->meta.serial);
    put_be32(p + 17, t->log.n);
    p = put_bytes(p + HEAD_V2, env->user, nu);
    p = put_bytes(p, sudo, ns);
    p = put_bytes(p, env->command, nc);
    if (t->log.len)
        memcpy(p, t->log.p, t->log.len);
    if (seq_out)
        *seq_out = seq;
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

static int get_bytes(const uint8_t **pp, const uint8_t *end, const uint8_t **out, size_t *len)
{
    const uint8_t *p = *pp;
    size_t n;

    if (end - p < 3)
        return SPFDB_EFORMAT;
    n = get_be16(p);
    if ((size_t)(end - p) < str_size(n) || p[2 + n] != '\0')
        return SPFDB_EFORMAT;
    *out = p + 2;
    *len = n;
    *pp = p + str_size(n);
    return 0;
}

static int get_str(const uint8_t **pp, const uint8_t *end, const char **out)
{
    const uint8_t *s;
    size_t n;
    int rc = get_bytes(pp, end, &s, &n);

    if (rc == 0)
        *out = (const char *)s;
    return rc;
}

/* A side of a v2 zone change into OUT's slot SIDE (0 old, 1 new), checked
 * by decoding it into *Z; its allocation's name must fit a zone's (or
 * spfdb_log_zone would give another). */
static int get_side(const uint8_t **pp, const uint8_t *end, struct spfdb_log_change *out,
                    int side, struct spfdb_zone *z)
{
    const uint8_t *v;
    size_t n;

    if (get_str(pp, end, &out->zalloc[side]) || get_bytes(pp, end, &v, &n) ||
        strlen(out->zalloc[side]) >= sizeof z->alloc ||
        zonerec_decode(out->zone, strlen(out->zone), v, n, z))
        return SPFDB_EFORMAT;
    out->zrec[side] = v;
    out->zlen[side] = (uint16_t)n;
    return 0;
}

/* A v2 zone change of OP at *PP: the v1 fields (alloc, detail) from its
 * sides. */
static int zone_v2(const uint8_t **pp, const uint8_t *end, int op, struct spfdb_log_change *out)
{
    struct spfdb_zone z;

    out->op = op == EV_ZONE_ADD2 ? SPFDB_LOG_ZONE_ADD
              : op == EV_ZONE_SET2 ? SPFDB_LOG_ZONE_SET : SPFDB_LOG_ZONE_DEL;
    if (get_str(pp, end, &out->zone))
        return SPFDB_EFORMAT;
    if (op != EV_ZONE_ADD2 && get_side(pp, end, out, SPFDB_LOG_OLD, &z))
        return SPFDB_EFORMAT;
    if (op == EV_ZONE_DEL2) {
        out->alloc = out->zalloc[SPFDB_LOG_OLD];
        return 0;
    }
    if (get_side(pp, end, out, SPFDB_LOG_NEW, &z))
        return SPFDB_EFORMAT;
    out->alloc = out->zalloc[SPFDB_LOG_NEW];
    zonerec_text(&z, out->text, sizeof out->text);
    out->detail = out->text;
    return 0;
}

_Static_assert(ZONEREC_TEXT_MAX <= SPFDB_LOG_TEXT_MAX, "a zone's settings fit the change");

int spfdb_log_next(struct spfdb_log_rec *r, struct spfdb_log_change *out)
{
    for (;;) {
        const uint8_t *p = r->pos;
        unsigned n;
        int op;

        if (p == r->end)
            return 0;
        /* field by field: a memset of the text would cost more than the
         * change (a log holds millions of entry changes) */
        out->alloc = out->zone = out->detail = out->member = "";
        out->zalloc[0] = out->zalloc[1] = "";
        out->zrec[0] = out->zrec[1] = NULL;
        out->zlen[0] = out->zlen[1] = 0;
        memset(&out->p, 0, sizeof out->p);
        op = *p++;
        switch (op) {
        case EV_CTX:
            if (get_str(&p, r->end, &r->ctx))
                return SPFDB_EFORMAT;
            r->pos = p;
            continue;
        case EV_ADD4: case EV_ADD6: case EV_DEL4: case EV_DEL6:
            n = (op & 0x0f) == 4 ? 4 : 16;
            if (r->end - p < 1 + (long)n || p[0] > n * 8 || !r->ctx)
                return SPFDB_EFORMAT;
            out->op = op & 0x10 ? SPFDB_LOG_ADD : SPFDB_LOG_DEL;
            out->alloc = r->ctx;
            out->p.family = (uint8_t)(op & 0x0f);
            out->p.len = p[0];
            memcpy(out->p.addr, p + 1, n);
            p += 1 + n;
            break;
        case EV_ALLOC_ADD: case EV_ALLOC_DEL:
            out->op = op == EV_ALLOC_ADD ? SPFDB_LOG_ALLOC_ADD : SPFDB_LOG_ALLOC_DEL;
            if (get_str(&p, r->end, &out->alloc))
                return SPFDB_EFORMAT;
            break;
        case EV_MEMBER_ADD: case EV_MEMBER_DEL:
            out->op = op == EV_MEMBER_ADD ? SPFDB_LOG_MEMBER_ADD : SPFDB_LOG_MEMBER_DEL;
            if (get_str(&p, r->end, &out->alloc) || get_str(&p, r->end, &out->member))
                return SPFDB_EFORMAT;
            break;
        case EV_ZONE_ADD: case EV_ZONE_SET: case EV_ZONE_DEL:
            out->op = op == EV_ZONE_ADD ? SPFDB_LOG_ZONE_ADD
                      : op == EV_ZONE_SET ? SPFDB_LOG_ZONE_SET : SPFDB_LOG_ZONE_DEL;
            if (get_str(&p, r->end, &out->zone) || get_str(&p, r->end, &out->alloc) ||
                get_str(&p, r->end, &out->detail))
                return SPFDB_EFORMAT;
            break;
        case EV_ZONE_ADD2: case EV_ZONE_SET2: case EV_ZONE_DEL2:
            if (zone_v2(&p, r->end, op, out))
                return SPFDB_EFORMAT;
            break;
        default:
            return SPFDB_EFORMAT;
        }
        r->pos = p;
        return 1;
    }
}

int spfdb_log_zone(const struct spfdb_log_change *ch, int side, struct spfdb_zone *out)
{
    int rc;

    if (side != SPFDB_LOG_OLD && side != SPFDB_LOG_NEW)
        return SPFDB_EINVAL;
    if (!ch->zrec[side])
        return SPFDB_ENOTFOUND;
    rc = zonerec_decode(ch->zone, strlen(ch->zone), ch->zrec[side], ch->zlen[side], out);
    if (rc == 0)
        snprintf(out->alloc, sizeof out->alloc, "%s", ch->zalloc[side]);
    return rc;
}

int log_rec_head(const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen,
                 struct spfdb_log_rec *r)
{
    const uint8_t *p = v, *end = p + vlen;

    memset(r, 0, sizeof *r);
    if (klen != 8 || vlen < HEAD_V1 || (p[0] != 1 && p[0] != 2) ||
        (p[0] == 2 && vlen < HEAD_V2))
        return SPFDB_EFORMAT;
    r->seq = get_be64(key);
    r->version = p[0];
    r->time = (int64_t)get_be64(p + 1);
    if (r->version == 2) {
        r->serial_before = get_be32(p + 9);
        r->serial_after = get_be32(p + 13);
        r->n_changes = get_be32(p + 17);
    }
    p += r->version == 2 ? HEAD_V2 : HEAD_V1;
    if (get_str(&p, end, &r->user) || get_str(&p, end, &r->sudo_user) ||
        get_str(&p, end, &r->command))
        return SPFDB_EFORMAT;
    r->pos = p;
    r->end = end;
    return 0;
}

/* The records of spfdb_log_foreach stamped SINCE or later go to FN. */
struct log_walk {
    int64_t since;
    spfdb_log_fn fn;
    void *arg;
};

static int log_each(const MDB_val *k, const MDB_val *v, void *arg)
{
    const struct log_walk *w = arg;
    struct spfdb_log_rec r;

    if (log_rec_head(k->mv_data, k->mv_size, v->mv_data, v->mv_size, &r))
        return SPFDB_EFORMAT;
    return r.time >= w->since ? w->fn(&r, w->arg) : 0;
}

int spfdb_log_foreach(spfdb_txn *t, uint64_t from, int64_t since, spfdb_log_fn fn, void *arg)
{
    struct log_walk w = {since, fn, arg};
    uint8_t key[8];
    MDB_val k = {sizeof key, key};

    put_be64(key, from);
    return store_walk(t, DB_LOG, &k, 0, log_each, &w);
}

/* serial_before strictly increases from FLOOR on (changelog.h), so each
 * probe halves the range: about 20 record heads for a million commits. */
int log_find_serial(spfdb_txn *t, uint64_t floor, uint32_t serial, uint64_t *seq)
{
    uint8_t key[8];
    MDB_val k, v;
    MDB_cursor *c;
    uint64_t lo, hi;
    int rc = t->err;

    if (rc || (rc = store_cursor(t, DB_LOG, &c)) != 0 || (rc = last_seq(t, c, &hi)) != 0)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND)
        return SPFDB_ENOTFOUND;
    if (rc)
        return store_fail(t, rc);
    if (k.mv_size != 8)
        return SPFDB_EFORMAT;
    lo = get_be64(k.mv_data);
    if (lo < floor)
        lo = floor;
    while (lo <= hi && lo != 0) {
        uint64_t mid = lo + (hi - lo) / 2;
        struct spfdb_log_rec r;

        put_be64(key, mid);
        k.mv_size = sizeof key;
        k.mv_data = key;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); /* a gap: the next record */
        if (rc)
            return rc == MDB_NOTFOUND ? SPFDB_EFORMAT : store_fail(t, rc);
        if (log_rec_head(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &r) || r.version != 2 ||
            r.seq > hi)
            return SPFDB_EFORMAT;
        if (r.serial_before == serial) {
            *seq = r.seq;
            return 0;
        }
        if (r.serial_before < serial)
            lo = r.seq + 1;
        else if (mid == 0)
            break;
        else
            hi = mid - 1;
    }
    return SPFDB_ENOTFOUND;
}

/* From the first record, delete while stamped before BEFORE: MDB_NEXT after
 * mdb_cursor_del reads the record that took the deleted one's place (LMDB
 * marks the cursor C_DEL), so each record costs one step, not a descent. */
int spfdb_log_prune(spfdb_txn *t, int64_t before, struct spfdb_log_pruned *out)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t last;
    int rc = store_need_write(t);

    memset(out, 0, sizeof *out);
    if (rc || (rc = store_cursor(t, DB_LOG, &c)) != 0 || (rc = last_seq(t, c, &last)) != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct spfdb_log_rec r;

        if (log_rec_head(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &r))
            return SPFDB_EFORMAT;
        if (r.time >= before) {
            out->kept_seq = r.seq;
            out->kept_time = r.time;
            break;
        }
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            return store_fail(t, rc);
        out->dropped++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_fail(t, rc);
    if (out->dropped) {
        /* an empty log's next record is last + 1 (log_commit keeps above
         * the floor), so the floor is where the kept run starts */
        uint64_t floor = out->kept_seq ? out->kept_seq : last + 1;

        if (t->meta.ixfr_floor < floor)
            t->meta.ixfr_floor = floor;
        t->quiet = 1;
    }
    return 0;
}

/* ---- the allocations a run of commits changed (the read index) ---------- */

/* One record's changes, R: FN(name, ARG) for each allocation whose set
 * they change.  Entry changes (nearly all of a large record) are stepped
 * over by their fixed sizes; the rest go through spfdb_log_next. */
static int rec_changed(struct spfdb_log_rec *r, int (*fn)(const char *name, void *arg),
                       void *arg, struct spfdb_log_change *ch)
{
    const uint8_t *p = r->pos;
    int rc;

    while (p != r->end) {
        unsigned op = *p;
        if (op == EV_ADD4 || op == EV_DEL4 || op == EV_ADD6 || op == EV_DEL6) {
            size_t n = 2 + ((op & 0x0f) == 4 ? 4 : 16);
            if ((size_t)(r->end - p) < n)
                return SPFDB_EFORMAT;
            p += n;
            continue;
        }
        if (op == EV_CTX) {
            const char *name;
            p++;
            if (get_str(&p, r->end, &name))
                return SPFDB_EFORMAT;
            if ((rc = fn(name, arg)) != 0)
                return rc;
            continue;
        }
        r->pos = p;
        rc = spfdb_log_next(r, ch);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        p = r->pos;
        if ((ch->op == SPFDB_LOG_ALLOC_DEL || ch->op == SPFDB_LOG_MEMBER_ADD ||
             ch->op == SPFDB_LOG_MEMBER_DEL) && (rc = fn(ch->alloc, arg)) != 0)
            return rc;
    }
    return 0;
}

int log_changed(spfdb_txn *t, uint64_t from, uint64_t to,
                int (*fn)(const char *name, void *arg), void *arg)
{
    struct spfdb_log_change *ch = malloc(sizeof *ch);
    uint8_t key[8];
    MDB_val k = {sizeof key, key}, v;
    MDB_cursor *c;
    int rc = ch ? store_cursor(t, DB_LOG, &c) : SPFDB_ENOMEM;

    put_be64(key, from);
    if (rc == 0)
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
    for (uint64_t seq = from; rc == 0; seq++) {
        struct spfdb_log_rec r;
        if (k.mv_size != 8 || get_be64(k.mv_data) != seq) {
            rc = SPFDB_ENOTFOUND; /* a gap: pruned, or never there */
            break;
        }
        rc = log_rec_head(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &r);
        if (rc == 0)
            rc = rec_changed(&r, fn, arg, ch);
        if (rc != 0 || seq == to)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    free(ch);
    if (rc == MDB_NOTFOUND)
        return SPFDB_ENOTFOUND;
    return rc > 0 ? store_err(rc) : rc;
}
