/* tmpdb.h: a throw-away database directory, and a bulk writer, for the db tests. */
#ifndef TMPDB_H
#define TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spfdb.h"

/* mkdtemp under $TMPDIR (or /tmp) into DIR (at least 256 bytes). */
static inline int tmpdb_make(char *dir)
{
    const char *base = getenv("TMPDIR");

    snprintf(dir, 256, "%s/spfdb-test-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static inline void tmpdb_remove(const char *dir)
{
    char path[300];

    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

/* A restartable spfdb_write callback: adds N IPv4 /32s to allocation 1,
 * FIRST, FIRST+STEP, ..., counting its runs in CALLS. */
struct bulk {
    uint32_t first, n;
    int calls;
    uint32_t step;
};

static inline int bulk_fn(spfdb_txn *t, void *arg)
{
    struct bulk *b = arg;

    b->calls++;
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t a = b->first + i * b->step;
        struct spfdb_prefix p = {.family = 4, .len = 32,
                                 .addr = {(uint8_t)(a >> 24), (uint8_t)(a >> 16),
                                          (uint8_t)(a >> 8), (uint8_t)a}};
        int rc = spfdb_entry_add(t, 1, &p);
        if (rc)
            return rc;
    }
    return 0;
}

/* A second process's writer: grows the map (from a small SPFDB_MAPSIZE) by
 * adding 40,000 /32s from 13.0.0.0 in ten commits, then the marker
 * 14.0.0.0 last.  Returns an exit status. */
static inline int tmpdb_child_writer(const char *dir)
{
    spfdb_env *env;
    int rc = spfdb_env_open(dir, &env);

    for (uint32_t i = 0; rc == 0 && i < 10; i++) {
        struct bulk b = {0x0d000000u + i * 40000u * 7u, 4000, 0, 7};
        rc = spfdb_write(env, bulk_fn, &b);
    }
    if (rc == 0) {
        struct bulk b = {0x0e000000u, 1, 0, 7};
        rc = spfdb_write(env, bulk_fn, &b);
    }
    spfdb_env_close(env);
    return rc == 0 ? 0 : 1;
}

#endif
