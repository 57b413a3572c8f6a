/* store.h: the layout of libspfdb's two handles, shared by the db files.
 *
 * struct spfdb_env and struct spfdb_txn are data that every layer reads:
 * the bottom (env.h) fills the LMDB part, and each module keeps its own
 * part of a transaction, typed in its header (meta.h, set.h, changelog.h,
 * index.h).  Including this header calls nothing; which file may call
 * which is stated in each module's header (docs/design.md has the map).
 * The layout of every named database is in docs/design.md.
 */
#ifndef SPFDB_STORE_H
#define SPFDB_STORE_H

#include <lmdb.h>
#include <pthread.h>

#include "changelog.h"
#include "env.h"
#include "index.h"
#include "members.h"
#include "meta.h"
#include "set.h"
#include "spfdb.h"

struct spfdb_env {
    MDB_env *mdb;
    MDB_dbi dbi[DB_COUNT];
    /* Read side held by every live transaction of this process, write side
     * only to remap (mdb_env_set_mapsize), which no transaction of the
     * process may see happen. */
    pthread_rwlock_t remap;
    uint64_t remaps;      /* maps made, counted under remap's write side */
    char *user, *command; /* change log origin (spfdb_env_set_origin); NULL: unset */
    int follower;         /* spfdb_env_set_follower: may write a replica's data */
    int rdonly;           /* spfdb_env_open_ro: MDB_RDONLY, data.mdb never written */
    /* The last stored name found breaking SPEC §2 (store_bad_name), for
     * spfdb_env_damage; the handler of spfdb_env_on_damage. */
    pthread_mutex_t damage_lock;
    char damage[2 * 4 * 255 + 64];
    spfdb_damage_fn on_damage;
    void *damage_arg;
    /* The read indexes of this process's handles, in a table per data
     * version shared by every handle on it (index.h); the lock is taken to
     * adopt a new version or drop one, and only tried by a lookup that
     * wants an index built (index.c). */
    pthread_mutex_t ix_lock;
    struct ixenv ix;
};

struct spfdb_txn {
    spfdb_env *env;
    MDB_txn *mdb;
    int write;
    int live;            /* read txn: renewed, holds env->remap's read side */
    int err;             /* sticky: first failure of a write txn */
    int mapfull;         /* ... and it was MDB_MAP_FULL: grow and rerun */
    int changed;         /* a write changed data */
    int meta_changed;    /* ... zones or allocations */
    int quiet;           /* a write changed the transfer settings (xfrdb.c) */
    int replica;         /* write txn: data changes refused (SPFDB_EREPLICA) */
    int serial_set;      /* write txn: spfdb_txn_set_serial was called ... */
    uint32_t serial;     /* ... with this serial, committed instead of the clock's */
    struct meta meta;    /* write txn: loaded at begin, stored at commit (write.c) */
    MDB_cursor *cur[DB_COUNT]; /* lazily opened, renewed with the txn */
    unsigned cur_stale;  /* read txn: bit per cursor to renew */
    struct counts cnt;   /* write txn: entry counts of one allocation (meta.c) */
    struct memtouch mem; /* write txn: the unions to recompute (members.c) */
    struct logbuf log;   /* write txn: the changes, for the change log (changelog.c) */
    struct tail tail[2]; /* write txn: of DB_PREFIXES and DB_MAXIMAL (set.c) */
    struct pageidx ix;   /* read txn: spfdb_covers' index (index.c) */
};

#endif
