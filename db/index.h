/* index.h: the read index: sorted in-memory copies of the maximal entries
 * that spfdb_covers and spfdb_covers_many search instead of descending the
 * B-tree (index.c; docs/design.md "The read index").
 *
 * Read transactions only.  An index holds its snapshot's data, so it lives
 * as long as that snapshot: reader.c calls index_adopt after every start or
 * renew (a renew onto another commit, or a remap, clears it) and
 * index_free when the handle closes.  The handles of a process on one
 * snapshot share each built index (struct ixshared, counted references,
 * under env->ix_lock).  Calls down into set.h (a lookup not yet indexed
 * descends) and env.h.  Building needs memory; without it a lookup
 * descends, so a lookup fails only when reading fails.
 */
#ifndef SPFDB_INDEX_H
#define SPFDB_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* One built index, shared by the process's handles on its snapshot. */
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

/* A read transaction's indexes, one slot per allocation and family. */
struct pageidx {
    uint64_t txnid;       /* the snapshot the slots describe */
    uint64_t remaps;      /* ... and env->remaps then: the map's address */
    uint32_t gen;         /* bumped to empty every slot at once */
    uint32_t mask, used;  /* slot count - 1 (a power of two), slots in use */
    struct ixslot *slot;
    size_t len;           /* bytes the built slots hold */
};

/* After T (a read transaction) starts or renews, with env->remap's read
 * side held: keep the index if it describes this snapshot, else drop it. */
void index_adopt(spfdb_txn *t);
/* Drop T's index and its slots (T is closing). */
void index_free(spfdb_txn *t);

#endif
