/* write.c: spfdb_write, the top of the write side (spfdb.h "Rules").
 *
 * One LMDB write transaction a call: begin (env.h), load the meta record,
 * note whether the database is a replica this writer may not change
 * (xfrdb.h), run the caller's changes (they go through meta.c, entry.c and
 * xfrdb.c), then, if the data changed, stamp the serial, store the pending
 * set members and entry counts and the change log record; if the transfer
 * settings changed (a quiet commit), bump xfr_gen; store the meta record
 * and commit.  A full map aborts it all; the map grows and the callback
 * runs again. */
#include "changelog.h"
#include "env.h"
#include "members.h"
#include "meta.h"
#include "set.h"
#include "store.h"
#include "xfrdb.h"

#include <time.h>

/* Store what the modules hold back until the commit.  0 or <0. */
static int flush_all(spfdb_txn *t)
{
    uint32_t before = t->meta.serial;
    uint64_t seq = 0;
    int rc = 0;

    if (t->changed) {
        meta_stamp(&t->meta, (int64_t)time(NULL), t->meta_changed);
        if (t->serial_set)
            t->meta.serial = t->serial;
        rc = members_commit(t);
        if (rc == 0)
            rc = set_flush(t);
        if (rc == 0)
            rc = counts_flush(t);
        if (rc == 0)
            rc = log_commit(t, before, &seq);
        /* serial_before increases strictly from the floor on (changelog.h):
         * a primary's serial that did not grow starts the search anew */
        if (rc == 0 && t->serial_set && t->serial <= before)
            t->meta.ixfr_floor = seq + 1;
    }
    if (t->quiet)
        t->meta.xfr_gen++;
    if (rc == 0)
        rc = meta_save(t, &t->meta);
    return rc ? rc : t->err;
}

int spfdb_txn_set_serial(spfdb_txn *t, uint32_t serial)
{
    int rc = store_need_write(t);

    if (rc)
        return rc;
    if (!t->env->follower)
        return SPFDB_EINVAL;
    t->serial_set = 1;
    t->serial = serial;
    t->changed = 1;
    return 0;
}

/* Runs FN once; returns its result, or the commit's.  *RETRY is set when
 * the map filled up and the whole transaction must run again; *COMMITTED
 * when a change was committed. */
static int write_once(spfdb_env *env, spfdb_write_fn fn, void *arg, int *retry, int *committed)
{
    spfdb_txn t = {.env = env, .write = 1};
    int rc, ret;

    *retry = *committed = 0;
    rc = store_txn_start(&t, 0);
    if (rc)
        return rc;
    ret = meta_load(&t, &t.meta);
    if (ret == 0 && !env->follower) {
        ret = xfr_primary_present(&t);
        t.replica = ret > 0;
        ret = ret > 0 ? 0 : ret;
    }
    if (ret == 0)
        ret = fn(&t, arg);
    if (ret == 0 && !t.err && (t.changed || t.quiet) && (ret = flush_all(&t)) == 0) {
        log_free(&t);
        set_free(&t);
        members_free(&t);
        rc = store_txn_end(&t, 1);
        *retry = rc == MDB_MAP_FULL;
        *committed = rc == 0;
        return store_err(rc);
    }
    log_free(&t);
    set_free(&t);
    members_free(&t);
    store_txn_end(&t, 0);
    *retry = t.mapfull;
    if (ret == 0 && t.err)
        ret = t.err;
    return ret;
}

int spfdb_write_ex(spfdb_env *env, spfdb_write_fn fn, void *arg, int *committed)
{
    int retry, rc, done;

    for (;;) {
        rc = write_once(env, fn, arg, &retry, &done);
        if (!retry)
            break;
        rc = store_grow(env);
        if (rc)
            break;
    }
    if (committed)
        *committed = done && rc == 0;
    return rc;
}

int spfdb_write(spfdb_env *env, spfdb_write_fn fn, void *arg)
{
    return spfdb_write_ex(env, fn, arg, NULL);
}
