/* changelog.c: the change log (spfdb.h "change log").
 *
 * log: seq (8 octets, big-endian) -> one record, appended at commit:
 *   version (1), time (8), user, sudo_user, command, then the changes.
 * A string is a 2-octet length, its octets and a NUL (so readers can point
 * into the snapshot).  A change is one op octet and:
 *   CTX                 the allocation name of the entry changes after it
 *   ADD4 ADD6 DEL4 DEL6 prefix length (1) and address (4 or 16)
 *   ALLOC_ADD ALLOC_DEL the allocation name
 *   ZONE_ADD/SET/DEL    zone name, bound allocation or "", settings
 * so a bulk add of IPv4 prefixes costs 6 octets an entry.
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

#define LOG_VERSION 1
#define COMMAND_MAX 4000

enum {
    EV_CTX = 1,
    EV_ALLOC_ADD = 0x31,
    EV_ALLOC_DEL = 0x32,
    EV_ZONE_ADD = 0x41,
    EV_ZONE_SET = 0x42,
    EV_ZONE_DEL = 0x43,
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

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    p[2 + n] = '\0';
    return p + str_size(n);
}

static void log_str_ev(spfdb_txn *t, int op, const char *s)
{
    size_t n = strlen(s);
    uint8_t *p = grow(t, 1 + str_size(n));

    if (p) {
        p[0] = (uint8_t)op;
        put_str(p + 1, s, n);
    }
}

void log_entry(spfdb_txn *t, uint32_t alloc_id, const char *alloc, int op,
               const struct spfdb_prefix *p)
{
    unsigned n = p->family == 4 ? 4 : 16;
    uint8_t *b;

    if (t->log.alloc_id != alloc_id) {
        log_str_ev(t, EV_CTX, alloc);
        t->log.alloc_id = alloc_id;
    }
    if (!(b = grow(t, 2 + n)))
        return;
    b[0] = (uint8_t)((op == LOG_ADD ? 0x10 : 0x20) | (p->family == 4 ? 4 : 6));
    b[1] = p->len;
    memcpy(b + 2, p->addr, n);
}

void log_alloc(spfdb_txn *t, int op, const char *name)
{
    log_str_ev(t, op == LOG_ADD ? EV_ALLOC_ADD : EV_ALLOC_DEL, name);
}

void log_zone(spfdb_txn *t, int op, const struct spfdb_zone *z)
{
    char d[ZONEREC_TEXT_MAX];
    size_t nz = strlen(z->name), na = strlen(z->alloc), nd;
    uint8_t *p;

    d[0] = '\0';
    if (op != SPFDB_LOG_ZONE_DEL)
        zonerec_text(z, d, sizeof d);
    nd = strlen(d);
    if (!(p = grow(t, 1 + str_size(nz) + str_size(na) + str_size(nd))))
        return;
    *p++ = (uint8_t)(op == SPFDB_LOG_ZONE_ADD ? EV_ZONE_ADD
                     : op == SPFDB_LOG_ZONE_SET ? EV_ZONE_SET : EV_ZONE_DEL);
    p = put_str(p, z->name, nz);
    p = put_str(p, z->alloc, na);
    put_str(p, d, nd);
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

int log_commit(spfdb_txn *t)
{
    spfdb_env *env = t->env;
    /* Anyone can set SUDO_USER; only sudo, run as root, is believed. */
    const char *sudo = getuid() == 0 ? getenv("SUDO_USER") : NULL;
    size_t nu, ns, nc, size;
    uint8_t key[8], *p;
    uint64_t seq = 1;
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
    size = 9 + str_size(nu) + str_size(ns) + str_size(nc) + t->log.len;
    if ((rc = store_cursor(t, DB_LOG, &c)) != 0)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8)
        seq = get_be64(k.mv_data) + 1;
    else if (rc == 0)
        return SPFDB_EFORMAT;
    else if (rc != MDB_NOTFOUND)
        return store_fail(t, rc);
    put_be64(key, seq);
    k.mv_data = key;
    k.mv_size = 8;
    v.mv_size = size;
    rc = mdb_cursor_put(c, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return store_fail(t, rc);
    p = v.mv_data;
    p[0] = LOG_VERSION;
    put_be64(p + 1, (uint64_t)t->meta.changed);
    p = put_str(p + 9, env->user, nu);
    p = put_str(p, sudo, ns);
    p = put_str(p, env->command, nc);
    if (t->log.len)
        memcpy(p, t->log.p, t->log.len);
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

static int get_str(const uint8_t **pp, const uint8_t *end, const char **out)
{
    const uint8_t *p = *pp;
    size_t n;

    if (end - p < 3)
        return SPFDB_EFORMAT;
    n = (size_t)p[0] << 8 | p[1];
    if ((size_t)(end - p) < str_size(n) || p[2 + n] != '\0')
        return SPFDB_EFORMAT;
    *out = (const char *)p + 2;
    *pp = p + str_size(n);
    return 0;
}

int spfdb_log_next(struct spfdb_log_rec *r, struct spfdb_log_change *out)
{
    for (;;) {
        const uint8_t *p = r->pos;
        unsigned n;
        int op;

        if (p == r->end)
            return 0;
        memset(out, 0, sizeof *out);
        out->alloc = out->zone = out->detail = "";
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
        case EV_ZONE_ADD: case EV_ZONE_SET: case EV_ZONE_DEL:
            out->op = op == EV_ZONE_ADD ? SPFDB_LOG_ZONE_ADD
                      : op == EV_ZONE_SET ? SPFDB_LOG_ZONE_SET : SPFDB_LOG_ZONE_DEL;
            if (get_str(&p, r->end, &out->zone) || get_str(&p, r->end, &out->alloc) ||
                get_str(&p, r->end, &out->detail))
                return SPFDB_EFORMAT;
            break;
        default:
            return SPFDB_EFORMAT;
        }
        r->pos = p;
        return 1;
    }
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
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    struct spfdb_log_rec r;

    memset(&r, 0, sizeof r);
    if (k->mv_size != 8 || v->mv_size < 9 || p[0] != LOG_VERSION)
        return SPFDB_EFORMAT;
    r.seq = get_be64(k->mv_data);
    r.time = (int64_t)get_be64(p + 1);
    p += 9;
    if (get_str(&p, end, &r.user) || get_str(&p, end, &r.sudo_user) ||
        get_str(&p, end, &r.command))
        return SPFDB_EFORMAT;
    r.pos = p;
    r.end = end;
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
