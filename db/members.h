/* members.h: member allocations (SPEC §2; members.c).  An allocation with
 * members keeps its own entries in `prefixes` like any other, but its
 * `maximal` entries are those of the union with its members' sets, so
 * every lookup (the read index, the descent, the `_spf` chain) sees the
 * union at the cost of one allocation.  A write transaction notes each
 * allocation whose set it changed (members_touch) and each whose member
 * list it changed; members_commit, just before the commit, recomputes the
 * union of every allocation concerned.  The links live in `allocid` too:
 * key member id · allocation id, empty value, so an allocation's parents
 * are one range.  Calls down into meta.h, set.h, changelog.h and env.h.
 * Errors as spfdb.h; storage failures are sticky in the write transaction.
 */
#ifndef SPFDB_MEMBERS_H
#define SPFDB_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* The allocations a write transaction must recompute at its commit. */
struct memtouch {
    uint32_t *id;   /* n of them, in the order touched */
    uint8_t *list;  /* 1: its member list changed (recompute it even with none) */
    size_t n, cap;
};

/* ALLOC_ID's set changed in T: it and the allocations it is a member of
 * are recomputed at the commit.  Cheap when called again for the same. */
void members_touch(spfdb_txn *t, uint32_t alloc_id);
/* Recompute the unions T's changes concern (write.c, before set_flush). */
int members_commit(spfdb_txn *t);
void members_free(spfdb_txn *t);

#endif
