/* members.h: member allocations (SPEC §2; members.c).  An allocation with
 * members keeps its own entries in `prefixes` like any other, but its
 * `maximal` entries are those of the union with its members' sets, so
 * every lookup (the read index, the descent, the `_spf` chain) sees the
 * union at the cost of one allocation.  A write transaction notes each
 * allocation whose set it changed (members_touch) and each whose member
 * list it changed; members_commit, just before the commit, brings the
 * union of every allocation concerned up to date: change by change for a
 * few changes of members, whole otherwise.  The links live in `allocid` too:
 * key member id · allocation id, empty value, so an allocation's parents
 * are one range.  Calls down into meta.h, set.h, changelog.h and env.h.
 * Errors as spfdb.h; storage failures are sticky in the write transaction.
 */
#ifndef SPFDB_MEMBERS_H
#define SPFDB_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* What a write transaction changed that unions depend on: the
 * allocations whose sets or member lists changed, and, while they are
 * few, the entry changes themselves, which the commit applies to each
 * union one by one; past MEM_CHANGES_MAX it recomputes the unions whole. */
#define MEM_CHANGES_MAX 1024
struct memchange {
    uint32_t id;
    int del;
    struct spfdb_prefix p;
};
struct memtouch {
    uint32_t *id;   /* n of them, in the order touched */
    uint8_t *list;  /* 1: its member list changed (recompute it even with none) */
    size_t n, cap;
    struct memchange *ch;
    size_t nch, capch;
    int many;       /* more than MEM_CHANGES_MAX: ch no longer kept */
};

/* Entry P was added to (DEL 0) or removed from allocation ALLOC_ID in T:
 * the unions it is a member of follow at the commit, and its own union
 * when it has members.  Never fails: out of memory is sticky in T. */
void members_touch(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p, int del);
/* Bring the unions T's changes concern up to date (write.c, before
 * set_flush). */
int members_commit(spfdb_txn *t);
void members_free(spfdb_txn *t);

#endif
