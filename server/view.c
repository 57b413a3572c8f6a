/* view.c: a thread's snapshot, zone table and lookups.  See view.h. */
#include "view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "spfchain.h"
#include "xfrzone.h"
#include "zones.h"

enum { LOG_INTERVAL = 10 }; /* seconds between repeated failure lines */
/* `_spf` chains kept per view: (zone, allocation) pairs asked in one
 * snapshot; about 1.9 KB each, 240 KB a view. */
enum { CHAIN_SLOTS = 128 };

struct view {
    unsigned id;
    struct stats *st;         /* the owner's counters */
    spfdb_txn *txn;           /* this view's read handle */
    int txn_live;             /* renewed: holds a snapshot */
    uint64_t txn_id;          /* snapshot the zone table and serial come from */
    uint32_t serial;
    uint64_t meta_gen;        /* spfdb_info.meta_gen of the zone table */
    uint64_t log_seq;         /* spfdb_info.log_seq of the zone table */
    struct zonetab *zones;    /* NULL until the first build; the last good one */
    uint64_t xfr_gen;         /* spfdb_info.xfr_gen of XFR */
    struct xfrzone *xfr;      /* the transfer zone and its keys; NULL: none */
    int build_failed;         /* the table is older than failed_gen */
    uint64_t failed_gen;      /* meta_gen whose rebuild failed last */
    time_t failed_at;         /* when: retried once a second, not every batch */
    int last_db_err;          /* for the rate-limited failure line */
    struct log_limit db_log, meta_log;
    struct spfcache *chains;  /* `_spf` chains of snapshot chain_txn */
    uint64_t chain_txn;
};

struct build {
    struct view *v;
    struct zonetab *t;
};

/* An unservable record must not take the other zones down with it: skip it
 * and say so (view 0 only, so a change is reported once). */
static int build_zone(const struct spfdb_zone *z, void *arg)
{
    struct build *b = arg;
    int rc = zonetab_add_zone(b->t, z);

    char esc[4 * SPFDB_NAME_MAX + 1];

    if (rc == SPFDB_EINVAL) {
        if (b->v->id == 0) {
            spfdb_escape(esc, sizeof esc, z->name, strlen(z->name));
            log_warn("zone %s cannot be served, skipped", esc);
        }
        return 0;
    }
    return rc;
}

static int build_alloc(const struct spfdb_alloc *a, void *arg)
{
    struct build *b = arg;
    int rc = zonetab_add_alloc(b->t, a->name, a->id);

    char esc[4 * SPFDB_LABEL_MAX + 1];

    if (rc == SPFDB_EINVAL) {
        if (b->v->id == 0) {
            spfdb_escape(esc, sizeof esc, a->name, strlen(a->name));
            log_warn("allocation %s cannot be served, skipped", esc);
        }
        return 0;
    }
    return rc;
}

void view_on_damage(const char *desc, void *arg)
{
    (void)arg;
    /* DESC comes escaped from the library: no control character reaches the log */
    log_warn("the stored %s breaks the data model's rules: record skipped (the database is "
             "damaged; restore it from a backup)", desc);
}

static int count_key(const struct spfdb_key *k, void *arg)
{
    (void)k;
    (*(size_t *)arg)++;
    return 0;
}

static int load_key(const struct spfdb_key *k, void *arg)
{
    if (k->alg != SPFDB_KEY_HMAC_SHA256)
        return 0; /* no other algorithm exists yet; one would get BADKEY */
    return xfrzone_add_key(arg, k->name, k->secret, k->secret_len);
}

/* The transfer zone with its keys, when one is set: 0 and *OUT (NULL when
 * none), or an error. */
int view_load_xfr(spfdb_txn *txn, struct xfrzone **out)
{
    struct spfdb_xfr_zone z;
    struct xfrzone *x;
    int rc = spfdb_xfr_zone_get(txn, &z);

    *out = NULL;
    if (rc == SPFDB_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    size_t n = 0;
    rc = spfdb_key_foreach(txn, count_key, &n); /* the table is sized once */
    if (rc != 0)
        return rc;
    rc = xfrzone_new(&x, z.name, z.ns, n);
    if (rc == 0)
        rc = spfdb_key_foreach(txn, load_key, x);
    if (rc != 0) {
        xfrzone_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

/* Keys and the transfer zone change in quiet commits, which leave
 * meta_gen alone: xfr_gen says when.  A failed load keeps the last one. */
static int refresh_xfr(struct view *v, uint64_t gen, int first)
{
    struct xfrzone *x;
    int rc;

    if (!first && gen == v->xfr_gen)
        return 0;
    rc = view_load_xfr(v->txn, &x);
    if (rc != 0)
        return rc;
    xfrzone_free(v->xfr);
    v->xfr = x;
    v->xfr_gen = gen;
    if (v->id == 0 && !first)
        log_info("transfer settings changed: %s%s", x ? "transfer zone " : "no transfer zone",
                 x ? x->name : "");
    return 0;
}

static int rebuild(struct view *v)
{
    struct build b = { v, zonetab_new() };
    int rc;

    if (b.t == NULL)
        return SPFDB_ENOMEM;
    rc = spfdb_alloc_foreach(v->txn, build_alloc, &b);
    if (rc == 0)
        rc = spfdb_zone_foreach(v->txn, build_zone, &b);
    if (rc != 0) {
        zonetab_free(b.t);
        return rc;
    }
    zonetab_free(v->zones);
    v->zones = b.t;
    spfcache_reset(v->chains); /* keyed by zone: the old zones are gone */
    return 0;
}

/* The allocations added or deleted by the change log's records FROM on,
 * at most FOLLOW_MAX names, or STOP (a zone changed, too many, a record
 * too large to walk for it, a version 1 record, a gap). */
enum { FOLLOW_MAX = 256, FOLLOW_CHANGES_MAX = 4096, FOLLOW_STOP = 1 };
struct follow {
    uint64_t next;            /* the seq the next record must have */
    unsigned n;
    char name[FOLLOW_MAX][SPFDB_LABEL_MAX + 1];
};

static int follow_rec(struct spfdb_log_rec *r, void *arg)
{
    struct follow *f = arg;
    struct spfdb_log_change ch;
    int rc;

    if (r->seq != f->next++ || r->version < 2 || r->n_changes > FOLLOW_CHANGES_MAX)
        return FOLLOW_STOP;
    while ((rc = spfdb_log_next(r, &ch)) == 1) {
        if (ch.op == SPFDB_LOG_ZONE_ADD || ch.op == SPFDB_LOG_ZONE_SET ||
            ch.op == SPFDB_LOG_ZONE_DEL)
            return FOLLOW_STOP;
        if (ch.op != SPFDB_LOG_ALLOC_ADD && ch.op != SPFDB_LOG_ALLOC_DEL)
            continue;
        if (f->n == FOLLOW_MAX)
            return FOLLOW_STOP;
        snprintf(f->name[f->n++], sizeof f->name[0], "%s", ch.alloc);
    }
    return rc;
}

/* Commits since the table that only added or deleted allocations (an ESP
 * onboarding customers) change the table in place: at 100,000
 * allocations a rebuild stops the worker for about 30 ms.  Each name gets
 * what the snapshot holds, so the order of the changes does not matter.
 * 0 when done; else the table needs a rebuild (the table may then hold
 * some of the changes: it is rebuilt or, failing that, kept as before). */
static int follow_allocs(struct view *v, uint64_t last)
{
    struct follow *f = malloc(sizeof *f);
    int rc;

    if (f == NULL)
        return SPFDB_ENOMEM;
    f->next = v->log_seq + 1;
    f->n = 0;
    rc = v->log_seq == 0 ? FOLLOW_STOP : spfdb_log_foreach(v->txn, f->next, 0, follow_rec, f);
    if (rc == 0 && f->next != last + 1)
        rc = FOLLOW_STOP; /* pruned past the table's record */
    for (unsigned i = 0; rc == 0 && i < f->n; i++) {
        struct spfdb_alloc a;
        rc = spfdb_alloc_get(v->txn, f->name[i], &a);
        if (rc == 0 || rc == SPFDB_ENOTFOUND) {
            int gone = rc == SPFDB_ENOTFOUND;
            rc = zonetab_del_alloc(v->zones, f->name[i]);
            if (rc == 0 || rc == SPFDB_ENOTFOUND)
                rc = gone ? 0 : zonetab_add_alloc(v->zones, a.name, a.id);
        }
    }
    /* dropped records take room until the next rebuild */
    if (rc == 0 && zonetab_alloc_dead(v->zones) > zonetab_alloc_count(v->zones) + 1024)
        rc = FOLLOW_STOP;
    free(f);
    return rc;
}

/* Metadata is re-read only when the snapshot changed, and the zone table
 * rebuilt only when zones or allocations changed: an entry change costs
 * one spfdb_info_get per view.  The serial and snapshot id are adopted
 * whatever happens to the table, so the SOA serial never freezes or goes
 * back.  A failed rebuild keeps the last good table and is retried when
 * the metadata changes again, else at most once a second: a record the
 * build cannot read would otherwise cost a full scan on every batch. */
static int refresh(struct view *v)
{
    uint64_t id = spfdb_txn_id(v->txn);
    struct spfdb_info info;
    int first = v->zones == NULL, rc;

    if (id == v->txn_id && !first && !(v->build_failed && time(NULL) != v->failed_at))
        return 0;
    rc = spfdb_info_get(v->txn, &info);
    if (rc != 0)
        return rc;
    v->serial = info.serial;
    v->txn_id = id;
    rc = refresh_xfr(v, info.xfr_gen, first);
    if (rc != 0)
        return rc;
    if (!first && info.meta_gen == v->meta_gen) {
        v->build_failed = 0;
        v->log_seq = info.log_seq;
        return 0;
    }
    if (!first && v->build_failed && info.meta_gen == v->failed_gen &&
        time(NULL) == v->failed_at)
        return 0;
    if (!first && !v->build_failed && follow_allocs(v, info.log_seq) == 0) {
        v->meta_gen = info.meta_gen;
        v->log_seq = info.log_seq;
        return 0;
    }
    rc = rebuild(v);
    if (rc != 0) {
        v->build_failed = 1;
        v->failed_gen = info.meta_gen;
        v->failed_at = time(NULL);
        return rc;
    }
    v->build_failed = 0;
    v->meta_gen = info.meta_gen;
    v->log_seq = info.log_seq;
    unsigned n = zonetab_zone_count(v->zones);
    if (v->id == 0 && !first)
        log_info("zones or allocations changed: serving %u zone%s", n, n == 1 ? "" : "s");
    return 0;
}

void view_release(struct view *v)
{
    if (v->txn_live) {
        spfdb_txn_reset(v->txn);
        v->txn_live = 0;
    }
}

/* answer_env.covers_many: the query path's only database read.  The
 * batch's lookups are made together on its snapshot; those that failed
 * (all of them when the batch has no snapshot) are made again, one by one,
 * on one fresh snapshot, and what fails there too is -1 (SPEC §4:
 * SERVFAIL, never a guessed answer) and counted. */
static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    struct view *v = ctx;
    int live = v->txn_live, renewed = 0, rc = 0;

    if (live && n == 1) /* the same answer; for one, without the batch's set-up */
        q->result = spfdb_covers(v->txn, q->alloc_id, q->family, q->addr);
    else if (live)
        spfdb_covers_many(v->txn, q, n);
    for (unsigned i = 0; i < n; i++) {
        if (live && q[i].result >= 0)
            continue;
        if (!renewed) {
            view_release(v);
            rc = spfdb_txn_renew(v->txn);
            v->txn_live = rc == 0;
            renewed = 1;
        }
        if (rc == 0) {
            q[i].result = spfdb_covers(v->txn, q[i].alloc_id, q[i].family, q[i].addr);
            if (q[i].result >= 0)
                continue;
            v->last_db_err = q[i].result;
        } else {
            v->last_db_err = rc;
        }
        q[i].result = -1;
        stats_add(&v->st->db_fail, 1);
    }
}

/* ---- the `_spf` chain ----------------------------------------------------- */

static int chain_add(const struct spfdb_prefix *p, void *arg)
{
    return spfchain_set_add(arg, p) != 0; /* 1: the set falls back, stop */
}

/* The wire name at W as lowercase text into OUT (SPFDB_NAME_MAX + 1). */
static void name_text(const uint8_t *w, char *out)
{
    size_t o = 0;

    for (; *w && o + *w + 1 <= SPFDB_NAME_MAX; w += 1 + *w) {
        if (o)
            out[o++] = '.';
        for (unsigned i = 1; i <= *w; i++)
            out[o++] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    }
    out[o] = '\0';
}

/* Build the chain of (Z, ALLOC) into V's cache from its snapshot: a walk
 * of the allocation's maximal entries that stops once the set has more
 * CIDRs than a chain can hold, then the four records.  Paid once per
 * snapshot by the first query that needs it, into memory allocated when
 * the view opened.  NULL and V->last_db_err when the walk failed. */
static const struct spfchain *chain_build(struct view *v, const struct zone *z, uint32_t alloc,
                                          const uint8_t *parent)
{
    struct spfchain_set *set = spfcache_set(v->chains);
    char ptext[SPFDB_NAME_MAX + 1], base[SPFDB_NAME_MAX + 5];
    struct spfchain *slot;
    int rc;

    spfchain_set_init(set);
    rc = spfdb_maximal_foreach(v->txn, alloc, chain_add, set);
    if (rc < 0) {
        v->last_db_err = rc;
        return NULL;
    }
    spfchain_set_end(set);
    name_text(parent, ptext);
    snprintf(base, sizeof base, "%s%s", z->alloc_id ? "" : "spf.", ptext);
    slot = spfcache_slot(v->chains, z, alloc);
    rc = spfchain_render(set, ptext, base, z->neg_ttl, slot);
    if (rc < 0) {
        v->last_db_err = rc;
        return NULL;
    }
    spfcache_commit(v->chains, slot);
    return slot;
}

/* answer_env.spf_chain: from the cache of this snapshot, built on first
 * use; a failed build is retried once on a fresh snapshot, then -1
 * (SERVFAIL), as covers_many does. */
static int spf_chain(void *ctx, const struct zone *z, uint32_t alloc, const uint8_t *parent,
                     unsigned leaf, const uint8_t **rr, uint16_t *len)
{
    struct view *v = ctx;
    const struct spfchain *c = NULL;

    for (int attempt = 0; attempt < 2 && !c; attempt++) {
        if (attempt || !v->txn_live) {
            view_release(v);
            int rc = spfdb_txn_renew(v->txn);
            v->txn_live = rc == 0;
            if (rc != 0) {
                v->last_db_err = rc;
                continue;
            }
        }
        uint64_t id = spfdb_txn_id(v->txn);
        if (id != v->chain_txn) {
            spfcache_reset(v->chains);
            v->chain_txn = id;
        }
        c = spfcache_get(v->chains, z, alloc);
        if (!c)
            c = chain_build(v, z, alloc, parent);
    }
    if (!c) {
        stats_add(&v->st->db_fail, 1);
        return -1;
    }
    *rr = c->rr[leaf];
    *len = c->len[leaf];
    return 0;
}

void view_begin(struct view *v, struct answer_env *env)
{
    int rc = v->txn_live ? spfdb_txn_refresh(v->txn) : spfdb_txn_renew(v->txn);

    v->txn_live = rc == 0;
    if (rc == 0)
        rc = refresh(v);
    if (rc != 0) {
        v->last_db_err = rc;
        stats_add(&v->st->db_meta_fail, 1);
    }
    env->zones = v->zones;
    env->xfr = v->xfr;
    env->serial = v->serial;
    env->covers_many = covers_many;
    env->covers_ctx = v;
    env->spf_chain = spf_chain;
    env->spf_ctx = v;
}

void view_end(struct view *v)
{
    const struct stats *st = v->st;

    if (st->db_fail != v->db_log.logged &&
        log_limit_ok(&v->db_log, time(NULL), LOG_INTERVAL, st->db_fail))
        log_err("worker %u: %" PRIu64 " database read failures so far, answered SERVFAIL: %s",
                v->id, st->db_fail, spfdb_strerror(v->last_db_err));
    if (st->db_meta_fail != v->meta_log.logged &&
        log_limit_ok(&v->meta_log, time(NULL), LOG_INTERVAL, st->db_meta_fail))
        log_err("worker %u: cannot read the zones (%" PRIu64 " times so far), serving the last "
                "ones read: %s", v->id, st->db_meta_fail, spfdb_strerror(v->last_db_err));
}

spfdb_txn *view_txn(struct view *v)
{
    return v->txn_live ? v->txn : NULL;
}

int view_live(const struct view *v)
{
    return v->txn_live;
}

unsigned view_zone_count(const struct view *v)
{
    return zonetab_zone_count(v->zones);
}

int view_open(struct view **out, spfdb_env *env, unsigned id, struct stats *st)
{
    struct view *v = calloc(1, sizeof *v);
    int rc;

    if (v == NULL)
        return SPFDB_ENOMEM;
    v->id = id;
    v->st = st;
    v->chains = spfcache_new(CHAIN_SLOTS);
    if (v->chains == NULL) {
        free(v);
        return SPFDB_ENOMEM;
    }
    rc = spfdb_txn_read(env, &v->txn);
    if (rc == 0) {
        v->txn_live = 1;
        rc = refresh(v);
        view_release(v);
    }
    if (rc != 0) {
        view_close(v);
        return rc;
    }
    *out = v;
    return 0;
}

void view_close(struct view *v)
{
    if (v == NULL)
        return;
    if (v->txn != NULL)
        spfdb_txn_close(v->txn);
    zonetab_free(v->zones);
    xfrzone_free(v->xfr);
    spfcache_free(v->chains);
    free(v);
}
