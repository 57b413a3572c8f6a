/* env.h: the bottom of libspfdb: the LMDB environment, its named
 * databases, transactions and their failure modes, LMDB errors, cursors.
 *
 * Every other db file builds on this one, and it calls none of them: what
 * needs a module at a transaction's start or end (the serial, the pending
 * sets, the change log, the read index) is done by the top files that own
 * those lifecycles (write.c, reader.c, open.c), around the calls below.
 *
 * Errors: LMDB and errno codes become SPFDB_E* (store_err); on a write
 * transaction the first failure is sticky (t->err, as knot_lmdb's txn->ret)
 * so that a bulk change checks once, at commit.
 */
#ifndef SPFDB_ENV_H
#define SPFDB_ENV_H

#include <lmdb.h>

#include "spfdb.h"

/* Every format has the databases before DB_LOG; an older database gets the
 * rest on its first open (open.c).  DB_XFR: format 3. */
enum {
    DB_META, DB_ALLOCS, DB_ALLOCID, DB_ZONES, DB_LOG, DB_PREFIXES, DB_MAXIMAL, DB_XFR,
    DB_COUNT
};

int store_err(int mdb_rc);                 /* LMDB/errno code -> SPFDB_E* */
int store_fail(spfdb_txn *t, int mdb_rc);  /* the same, and sticky on write txns */
/* SPFDB_EINVAL on a read transaction, else its sticky error (0 if none). */
int store_need_write(spfdb_txn *t);
/* The same for a change of the data (entries, allocations, zones), which
 * a replica refuses from anyone but its follower (t->replica): then
 * SPFDB_EREPLICA. */
int store_need_data(spfdb_txn *t);
/* DB's cursor of T, opened once and renewed with T; lookups share it. */
int store_cursor(spfdb_txn *t, int db, MDB_cursor **out);
/* FN(key, value, ARG) for each record of DB in key order, from FROM on
 * (NULL: the first) while the key begins with FROM's first PREFIX octets,
 * through a cursor of its own (FN may read through T's).  A nonzero return
 * of FN stops the walk and is returned; 0, or a read failure. */
typedef int (*store_walk_fn)(const MDB_val *key, const MDB_val *val, void *arg);
int store_walk(spfdb_txn *t, int db, const MDB_val *from, size_t prefix, store_walk_fn fn,
               void *arg);
/* The ARG of a store_walk_fn that decodes each record for a public walk:
 * the caller's function (called as its own type) and argument. */
struct store_pass {
    void (*fn)(void);
    void *arg;
    spfdb_txn *t;
    int flag;
};
/* A stored record whose name breaks SPEC §2, described by DESC (escaped):
 * recorded for spfdb_env_damage; SPFDB_EBADNAME. */
int store_bad_name(spfdb_txn *t, const char *desc);
/* The same, WHAT and the name N octets at NAME, escaped. */
int store_bad_name_of(spfdb_txn *t, const char *what, const void *name, size_t n);
/* A walk's record that failed with RC: SPFDB_EBADNAME with a damage handler
 * set is handed to it and becomes 0 (skip the record); else RC. */
int store_walk_skip(spfdb_txn *t, int rc);

/* LMDB's default key order, faster: the comparator of the set databases. */
int store_keycmp(const MDB_val *a, const MDB_val *b);

/* An env with its files open and no database opened yet (open.c goes on);
 * the rules of spfdb_env_open (RDONLY: spfdb_env_open_ro). */
int store_env_create(const char *dir, int rdonly, spfdb_env **out);
/* Open the named databases FIRST..LAST-1 in T (MDB_CREATE in FLAGS makes
 * missing ones; else a missing one is SPFDB_ENOTFOUND). */
int store_open_dbis(spfdb_txn *t, unsigned flags, int first, int last);
/* 1 when the main database holds nothing (a new file), 0, or <0. */
int store_main_empty(spfdb_txn *t);
/* 0 when no other process has the database open, else SPFDB_EOLDOPEN. */
int store_alone(spfdb_env *env);

/* Begin (T->mdb NULL) or renew T; FLAGS as mdb_txn_begin.  On success the
 * read side of env->remap is held until store_txn_reset or store_txn_end.
 * Adopts a map another process grew (MDB_MAP_RESIZED) and clears dead
 * readers' slots (MDB_READERS_FULL), then retries. */
int store_txn_start(spfdb_txn *t, unsigned flags);
/* Commit (COMMIT) or abort T and release env->remap: the LMDB code. */
int store_txn_end(spfdb_txn *t, int commit);
/* Drop a live read snapshot, keeping the handle; cursors renew lazily. */
void store_txn_reset(spfdb_txn *t);
/* End a read transaction, live or reset, and close its cursors. */
void store_txn_close(spfdb_txn *t);
/* Grow the map (double it), with no transaction of this process live;
 * SPFDB_EBUSY after waiting 10 s for them. */
int store_grow(spfdb_env *env);

#endif
