/* reader.c: read handles, their snapshots and the read index kept with
 * them (spfdb.h "Rules"); the reads that join two modules.
 *
 * The top of the read side: a snapshot starts, renews and ends in the
 * bottom layer (env.h); the read index (index.h) is adopted or dropped
 * here, around it, so the bottom never calls up.  The index needs the
 * snapshot's data version and the allocations a run of commits changed,
 * which the meta record (meta.h) and the change log (changelog.h) give.
 * Finding a serial in the change log needs the floor from the meta record
 * and the search of the log. */
#include "changelog.h"
#include "env.h"
#include "index.h"
#include "meta.h"
#include "store.h"

#include <stdlib.h>

/* The allocations changed between two data versions, by name from the
 * change log, to ids in the newer snapshot (a deleted one has none, and
 * no lookup reaches it). */
struct changed {
    spfdb_txn *t;
    void (*mark)(void *arg, uint32_t id);
    void *arg;
};

static int mark_parent(const struct spfdb_alloc *a, void *arg)
{
    struct changed *c = arg;

    c->mark(c->arg, a->id);
    return 0;
}

/* NAME's set changed, and with it the union of each allocation it is a
 * member of (members.h). */
static int changed_name(const char *name, void *arg)
{
    struct changed *c = arg;
    struct spfdb_alloc a;
    int rc = spfdb_alloc_get(c->t, name, &a);

    if (rc == SPFDB_ENOTFOUND)
        return 0;
    if (rc == 0)
        c->mark(c->arg, a.id);
    return rc ? rc : spfdb_alloc_parents(c->t, a.id, mark_parent, c);
}

static int changed(spfdb_txn *t, uint64_t from, uint64_t to,
                   void (*mark)(void *arg, uint32_t id), void *arg)
{
    struct changed c = {t, mark, arg};

    return log_changed(t, from, to - 1, changed_name, &c); /* as adopt() counts */
}

/* T's index, after a start or renew.  The data version is the change
 * log's last seq: every commit that changes data appends one record, and
 * nothing else does.  A prune may drop every record, but the next seq is
 * never below ixfr_floor, which it leaves past the last one: hence the
 * larger of the two; plus one, so that an empty log is a version too (the
 * records after version V are seq V on).  Unreadable, the version is 0
 * and T descends. */
static void adopt(spfdb_txn *t)
{
    struct meta m = {0};
    uint64_t last = 0, ver = 0;

    if (index_current(t))
        return;
    if (meta_load(t, &m) == 0 && log_last_seq(t, &last) == 0)
        ver = (m.ixfr_floor > last + 1 ? m.ixfr_floor - 1 : last) + 1;
    index_adopt(t, ver, m.next_id, changed);
}

int spfdb_txn_read(spfdb_env *env, spfdb_txn **out)
{
    spfdb_txn *t = calloc(1, sizeof *t);
    int rc;

    if (!t)
        return SPFDB_ENOMEM;
    t->env = env;
    rc = store_txn_start(t, MDB_RDONLY);
    if (rc) {
        free(t);
        return rc;
    }
    t->live = 1;
    adopt(t);
    *out = t;
    return 0;
}

void spfdb_txn_reset(spfdb_txn *t)
{
    if (t->write || !t->live)
        return;
    index_release(t); /* before the reset: the map must stay where it is */
    store_txn_reset(t);
}

int spfdb_txn_renew(spfdb_txn *t)
{
    int rc;

    if (t->write)
        return SPFDB_EINVAL;
    spfdb_txn_reset(t);
    rc = store_txn_start(t, MDB_RDONLY);
    if (rc)
        return rc;
    t->live = 1;
    adopt(t);
    return 0;
}

/* The meta page LMDB commits last is read through our own map: no lock,
 * no reader table.  A live T keeps env->remap read-locked, so the map
 * cannot move under the read. */
int spfdb_txn_refresh(spfdb_txn *t)
{
    MDB_envinfo info;

    if (t->live && !t->write && mdb_env_info(t->env->mdb, &info) == 0 &&
        (uint64_t)info.me_last_txnid == (uint64_t)mdb_txn_id(t->mdb))
        return 0;
    return spfdb_txn_renew(t);
}

void spfdb_txn_close(spfdb_txn *t)
{
    if (!t || t->write)
        return;
    store_txn_close(t);
    index_free(t);
    free(t);
}

uint64_t spfdb_txn_id(const spfdb_txn *t)
{
    return t->live || t->write ? (uint64_t)mdb_txn_id(t->mdb) : 0;
}

int spfdb_log_find_serial(spfdb_txn *t, uint32_t serial, uint64_t *seq)
{
    struct meta m;
    int rc = meta_current(t, &m);

    return rc ? rc : log_find_serial(t, m.ixfr_floor, serial, seq);
}
