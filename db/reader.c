/* reader.c: read handles, their snapshots and the read index kept with
 * them (spfdb.h "Rules"); the reads that join two modules.
 *
 * The top of the read side: a snapshot starts, renews and ends in the
 * bottom layer (env.h); the read index (index.h) is adopted or dropped
 * here, around it, so the bottom never calls up.  Finding a serial in
 * the change log needs the floor from the meta record (meta.h) and the
 * search of the log (changelog.h). */
#include "changelog.h"
#include "env.h"
#include "index.h"
#include "meta.h"
#include "store.h"

#include <stdlib.h>

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
    index_adopt(t);
    *out = t;
    return 0;
}

void spfdb_txn_reset(spfdb_txn *t)
{
    if (t->write || !t->live)
        return;
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
    index_adopt(t);
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
