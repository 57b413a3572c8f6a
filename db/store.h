/* store.h: libspfdb internals shared by env.c, ipset.c, meta.c and
 * changelog.c; the layout of every named database is in docs/design.md. */
#ifndef SPFDB_STORE_H
#define SPFDB_STORE_H

#include <lmdb.h>
#include <pthread.h>

#include "spfdb.h"

/* Format 2 keeps each allocation's prefixes as sorted fixed-size duplicates
 * (ipset.c); store_upgrade() converts format 1 on the first open. */
#define SPFDB_FORMAT 2

/* Every format has the databases before DB_LOG; an older database gets the
 * rest on its first open (env.c). */
enum { DB_META, DB_ALLOCS, DB_ALLOCID, DB_ZONES, DB_LOG, DB_PREFIXES, DB_MAXIMAL, DB_COUNT };

struct spfdb_env {
    MDB_env *mdb;
    MDB_dbi dbi[DB_COUNT];
    /* Read side held by every live transaction of this process, write side
     * only to remap (mdb_env_set_mapsize), which no transaction of the
     * process may see happen. */
    pthread_rwlock_t remap;
    uint64_t remaps;      /* maps made, counted under remap's write side */
    char *user, *command; /* change log origin (spfdb_env_set_origin); NULL: unset */
    /* The read indexes built by this process's handles, one per snapshot,
     * allocation and family, shared by every handle on that snapshot; the
     * lock is taken to build or drop one, and only tried by a lookup that
     * wants one built (ipset.c). */
    pthread_mutex_t ix_lock;
    struct ixshared *ix_list;
};

/* A write transaction's change log record, built as it goes and stored at
 * commit (changelog.c). */
struct logbuf {
    uint8_t *p;
    size_t len, cap;
    uint32_t alloc_id; /* the allocation named by the last context event */
};

/* The member last put into DB_PREFIXES or DB_MAXIMAL while it is the last of
 * its key, and the members after it not yet stored: sorted bulk adds
 * append them with one MDB_MULTIPLE put and skip their lookups (ipset.c). */
struct tail {
    int ok;
    uint8_t key[5], m[17];
    uint8_t *buf; /* n pending members of msize bytes; cap bytes */
    size_t n, cap;
    unsigned msize;
};

/* A read transaction's index of the maximal members (ipset.c):
 * spfdb_covers searches it in place of a B-tree descent.  It holds the
 * snapshot's data, so it lives as long as that snapshot: a renew onto
 * another commit, or a remap, clears it.  The handles of a process on one
 * snapshot share each built index (struct ixshared, counted references). */
struct ixshared {
    struct ixshared *next;  /* env->ix_list; everything here under env->ix_lock */
    uint64_t txnid, remaps; /* the snapshot, as pageidx has it */
    uint32_t id, fam, n;
    unsigned refs;          /* slots using it */
    uint8_t *mem;
    size_t size;
};

struct ixslot {
    uint32_t gen;     /* the slot is in use when this is pageidx.gen */
    uint32_t id;      /* allocation */
    uint32_t fam;     /* 4 or 6 */
    uint32_t misses;  /* lookups by descent in this snapshot, before a build */
    uint32_t n;       /* members, once built (IX_UNBUILT before) */
    uint8_t *mem;     /* their keys (and lengths), size bytes */
    size_t size;
    struct ixshared *sh; /* where mem is shared from; NULL: this slot's own */
};

struct pageidx {
    uint64_t txnid;       /* the snapshot the slots describe */
    uint64_t remaps;      /* ... and env->remaps then: the map's address */
    uint32_t gen;         /* bumped to empty every slot at once */
    uint32_t mask, used;  /* slot count - 1 (a power of two), slots in use */
    struct ixslot *slot;
    size_t len;           /* bytes the built slots hold */
};

/* The single "spfdb" record in the meta database. */
struct meta {
    uint32_t version;
    uint32_t serial;
    uint64_t gen;
    int64_t changed;
    uint32_t next_id;
};

struct spfdb_txn {
    spfdb_env *env;
    MDB_txn *mdb;
    int write;
    int live;            /* read txn: renewed, holds env->remap's read side */
    int err;             /* sticky: first LMDB failure of a write txn */
    int mapfull;         /* ... and it was MDB_MAP_FULL: grow and rerun */
    int changed;         /* a write changed data */
    int meta_changed;    /* ... zones or allocations */
    struct meta meta;    /* write txn: loaded at begin, stored at commit */
    MDB_cursor *cur[DB_COUNT]; /* lazily opened, renewed with the txn */
    unsigned cur_stale;  /* read txn: bit per cursor to renew */
    /* write txn: entry counts of one allocation, flushed to allocs before
     * any read of allocs and at commit (a bulk add touches one). */
    uint32_t cnt_id;
    char cnt_name[SPFDB_LABEL_MAX + 1];
    uint64_t cnt_n4, cnt_n6;
    int cnt_dirty;
    struct logbuf log;   /* write txn: the changes, for the change log */
    struct tail tail[2]; /* write txn: of DB_PREFIXES and DB_MAXIMAL */
    struct pageidx ix;   /* read txn: spfdb_covers' page index */
};

int store_err(int mdb_rc);                 /* LMDB/errno code -> SPFDB_E* */
int store_keycmp(const MDB_val *a, const MDB_val *b); /* = LMDB default order */
int store_fail(spfdb_txn *t, int mdb_rc);  /* same, and sticky on write txns */
int store_cursor(spfdb_txn *t, int db, MDB_cursor **out);
int store_meta_load(spfdb_txn *t, struct meta *m);
int store_meta_save(spfdb_txn *t, const struct meta *m);
int store_counts_flush(spfdb_txn *t);
int store_counts_bump(spfdb_txn *t, uint32_t alloc_id, int family, int delta);
int store_alloc_del_entries(spfdb_txn *t, uint32_t alloc_id, const char *name);
int store_upgrade(spfdb_txn *t, uint32_t from_version); /* ipset.c; write txn */
int store_set_flush(spfdb_txn *t); /* ipset.c: store pending members, before commit */
void store_set_free(spfdb_txn *t);
void store_index_adopt(spfdb_txn *t); /* ipset.c: after a read txn renews */
void store_index_free(spfdb_txn *t);

/* changelog.c.  The log_* calls record a change already made; they never
 * fail but make an allocation failure sticky in t->err. */
enum { LOG_ADD, LOG_DEL };
void log_entry(spfdb_txn *t, uint32_t alloc_id, const char *alloc, int op,
               const struct spfdb_prefix *p);
void log_alloc(spfdb_txn *t, int op, const char *name);
void log_zone(spfdb_txn *t, int op, const struct spfdb_zone *z); /* op: SPFDB_LOG_ZONE_* */
int log_commit(spfdb_txn *t); /* store the record, before the commit */
void log_free(spfdb_txn *t);
int store_init(spfdb_txn *t);

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

#endif
