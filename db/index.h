/* index.h: the read index: sorted in-memory copies of the maximal entries
 * that spfdb_covers and spfdb_covers_many search instead of descending the
 * B-tree (index.c; docs/design.md "The read index").
 *
 * Read transactions only.  The indexes of a process live in tables, one
 * per data version (reader.c says what a version is: the change log's last
 * seq), shared by every handle on that version and indexed by allocation
 * id, so a lookup finds its index with one load.  A commit makes a new
 * table from the newest one, keeping every index of an allocation the
 * commit did not change (reader.c names the changed ones from the change
 * log); a table goes with the last handle on it, an index with the last
 * table holding it.  Everything here is under env->ix_lock but the
 * lookups, which read a table's slots with acquire loads.  Building is
 * done in slices of bounded size on the query path: an index that needs
 * more waits for the next lookups while they descend.  Calls down into
 * set.h (a lookup not yet indexed descends) and env.h.  Building needs
 * memory; without it a lookup descends, so a lookup fails only when
 * reading fails.
 */
#ifndef SPFDB_INDEX_H
#define SPFDB_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* A run of IX_CHUNK slots: slot[k] is the built index of one family of
 * one allocation (k = id * 2 + (family == 6) modulo IX_CHUNK), NULL until
 * built; written once (under the lock, release store), read by lookups
 * without it.  Tables of versions share a chunk while none of its
 * allocations changed between them: a commit copies only the chunks it
 * changes. */
#define IX_CHUNK_BITS 8
#define IX_CHUNK (1u << IX_CHUNK_BITS)
struct ixchunk {
    const uint8_t *slot[IX_CHUNK];
    uint8_t miss[IX_CHUNK];   /* lookups by descent of a large family */
};

/* The indexes of one data version: its chunks (NULL: nothing built). */
struct ixtab {
    struct ixtab *next;       /* env->ix.live */
    uint64_t ver;             /* the data version */
    uint64_t gen;             /* tables made by this process, counted: unique */
    unsigned refs;            /* handles on it, and a build under way */
    uint32_t nch;
    struct ixchunk **ch;
};

/* An index being built over several lookups (at most one a process). */
struct ixbuild {
    struct ixtab *tab;     /* the table it is for (a reference); NULL: none */
    uint32_t id, fam;      /* its allocation and family */
    uint8_t *mem;          /* the index so far */
    size_t count, done;    /* members, and members copied */
    uint8_t last[17];      /* the last member copied */
};

/* The retired indexes and chunks: out of the newest table, maybe still
 * in older ones. */
struct ixretired {
    void *mem;
    uint64_t hi;           /* no table of gen >= hi holds it */
    int chunk;             /* a struct ixchunk, else an index */
};

/* A process's tables (in struct spfdb_env, under env->ix_lock). */
struct ixenv {
    struct ixtab *live;    /* every table with a handle on it */
    struct ixtab *newest;  /* the newest version's: new tables start from it;
                              held (a reference) while any handle is open */
    unsigned handles;      /* read handles that have adopted a table */
    uint64_t gen;
    struct ixbuild b;
    struct ixretired *ret;
    size_t nret, capret;
    void *slab, *free64;   /* 64-byte indexes: chunks, and the free ones */
    uint64_t builds;       /* indexes built (statistics, tests) */
    uint64_t trim_due;     /* pages read by builds since the last trim, about */
    void *map;             /* the LMDB map, found for trims ... */
    size_t maplen;
    uint64_t map_remaps;   /* ... as of this env->remaps + 1 (0: not yet) */
    size_t bytes;          /* bytes the built indexes hold */
};

/* A read transaction's table. */
struct pageidx {
    uint64_t txnid;        /* the snapshot adopted last */
    uint64_t ver;          /* ... its data version */
    struct ixtab *tab;     /* NULL: every lookup descends */
    long budget;           /* members the current call may still copy */
    int counted;           /* in env->ix.handles */
};

/* The allocations whose sets changed between data versions FROM and TO
 * (FROM < TO): MARK(ARG, id) for each, then 0; <0 when that cannot be
 * known (then every index is dropped). */
typedef int (*index_changed_fn)(spfdb_txn *t, uint64_t from, uint64_t to,
                                void (*mark)(void *arg, uint32_t id), void *arg);

/* 1 when T (a read transaction just started or renewed) is on the
 * snapshot it adopted last, and has that version's table again (a renew
 * after a reset with no commit between): nothing more to do. */
int index_current(spfdb_txn *t);
/* Adopt the table of data version VER (allocation ids below NEXT_ID) for
 * T: the process's when it has one, else one made from the newest with
 * CHANGED's allocations left out.  VER 0: unknown, T descends.  Only the
 * newest version's table gets new indexes: a handle a commit behind
 * descends for what it lacks until its next refresh. */
void index_adopt(spfdb_txn *t, uint64_t ver, uint32_t next_id, index_changed_fn changed);
/* T is reset: it lets go of its table, so that a handle idle for long
 * holds no old version's indexes (the newest stays with the env). */
void index_release(spfdb_txn *t);
/* Drop T's table (T is closing). */
void index_free(spfdb_txn *t);

/* The process's figures, for tests and statistics. */
struct ixstats {
    uint64_t builds;       /* indexes built so far */
    size_t bytes;          /* in the built indexes, now */
    unsigned tables;       /* live tables */
    size_t retired;        /* indexes and chunks retired, not yet freed */
};
void index_stats(spfdb_env *env, struct ixstats *out);

#endif
