/* write.c: spfdb_write, the top of the write side (spfdb.h "Rules").
 *
 * One LMDB write transaction a call: begin (env.h), load the meta record,
 * run the caller's changes (they go through meta.c and entry.c), then, if
 * anything changed, stamp the serial, store the pending set members and
 * entry counts, the change log record (with the serial before and after)
 * and the meta record, and commit.  A full map aborts it all; the map
 * grows and the callback runs again. */
#include "changelog.h"
#include "env.h"
#include "meta.h"
#include "set.h"
#include "store.h"

#include <time.h>

/* Store what the modules hold back until the commit.  0 or <0. */
static int flush_all(spfdb_txn *t)
{
    uint32_t before = t->meta.serial;
    int rc;

    meta_stamp(&t->meta, (int64_t)time(NULL), t->meta_changed);
    rc = set_flush(t);
    if (rc == 0)
        rc = counts_flush(t);
    if (rc == 0)
        rc = log_commit(t, before, NULL);
    if (rc == 0)
        rc = meta_save(t, &t->meta);
    return rc ? rc : t->err;
}

/* Runs FN once; returns its result, or the commit's.  *RETRY is set when
 * the map filled up and the whole transaction must run again. */
static int write_once(spfdb_env *env, spfdb_write_fn fn, void *arg, int *retry)
{
    spfdb_txn t = {.env = env, .write = 1};
    int rc, ret;

    *retry = 0;
    rc = store_txn_start(&t, 0);
    if (rc)
        return rc;
    ret = meta_load(&t, &t.meta);
    if (ret == 0)
        ret = fn(&t, arg);
    if (ret == 0 && !t.err && t.changed && (ret = flush_all(&t)) == 0) {
        log_free(&t);
        set_free(&t);
        rc = store_txn_end(&t, 1);
        *retry = rc == MDB_MAP_FULL;
        return store_err(rc);
    }
    log_free(&t);
    set_free(&t);
    store_txn_end(&t, 0);
    *retry = t.mapfull;
    if (ret == 0 && t.err)
        ret = t.err;
    return ret;
}

int spfdb_write(spfdb_env *env, spfdb_write_fn fn, void *arg)
{
    int retry, rc;

    for (;;) {
        rc = write_once(env, fn, arg, &retry);
        if (!retry)
            return rc;
        rc = store_grow(env);
        if (rc)
            return rc;
    }
}
