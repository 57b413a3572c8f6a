/* set.h: each allocation's IP set, its entries and maximal entries, as
 * stored (set.c; the layout is in set.c and docs/design.md).
 *
 * The storage of the sets and nothing else: no counts, no change log, no
 * rules (entry.c adds those on top).  Calls down into env.h only.  The
 * writes need a write transaction (callers check); bulk adds in order are
 * held back and appended a page at a time, so set_flush() must run before
 * the commit (write.c) and set_free() after any end.  Errors as spfdb.h;
 * storage failures are sticky in the write transaction.
 */
#ifndef SPFDB_SET_H
#define SPFDB_SET_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

#define SET_MEMBER_MAX 17 /* address | length, IPv6 */

/* The member last put into a set database while it is the last of its
 * key, and the members after it not yet stored: sorted bulk adds append
 * them with one MDB_MULTIPLE put and skip their lookups. */
struct tail {
    int ok;
    uint8_t key[5], m[SET_MEMBER_MAX];
    uint8_t *buf; /* n pending members of msize bytes; cap bytes */
    size_t n, cap;
    unsigned msize;
};

/* Address bytes of FAMILY (4 or 6). */
static inline unsigned set_alen(int family)
{
    return family == 4 ? 4 : 16;
}

/* Add entry P (valid: spfdb_prefix_valid) to ALLOC_ID's set: 0, or
 * SPFDB_EEXIST when present. */
int set_add(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p);
/* Remove exactly P: 0, or SPFDB_ENOTFOUND. */
int set_del(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p);
/* Is P an entry?  1 or 0, or <0. */
int set_has(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p);
/* The maximal entry containing ADDR: 1 with its length in *LEN, 0 when
 * none, <0.  One B-tree descent (the read index's fallback). */
int set_top(spfdb_txn *t, uint32_t alloc_id, int family, const uint8_t *addr, uint8_t *len);
/* FN for each entry in address order; a nonzero return stops the walk
 * and is returned.  SPFDB_EFORMAT on a damaged member. */
int set_foreach(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg);
/* Empty ALLOC_ID's set, telling FN of each entry before it goes.  A
 * nonzero return of FN stops the emptying half done and is returned: the
 * caller then aborts the transaction. */
int set_drop(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg);
/* Apply the N changes of OPS (all of FAMILY, sorted, valid: entry.c
 * checks) to ALLOC_ID's FAMILY set by rewriting it: read its entries
 * once, merge, drop the key from both databases, append the new entries
 * and the maximal ones (one linear pass) with MDB_MULTIPLE puts.  Sets
 * each op's result (spfdb.h spfdb_entry_apply); 0 or <0. */
int set_merge(spfdb_txn *t, uint32_t alloc_id, int family, struct spfdb_entry_op *ops, size_t n);
/* Make ALLOC_ID's FAMILY maximal entries those of the union of its own
 * entries and the maximal entries of the N allocations MEMBERS (which
 * have no members: theirs are their own), rewriting the key whole.  0 or
 * <0. */
int set_union(spfdb_txn *t, uint32_t alloc_id, int family, const uint32_t *members, size_t n);
/* The same one change at a time (members.c): entry P is now in some
 * source of ALLOC_ID's union (ADD: its maximal entries take P unless one
 * covers it), or P is gone from the source that held it (DEL: when P is a
 * maximal entry of the union and no source, ALLOC_ID's own entries nor
 * the N MEMBERS', still holds it exactly, P gives way to the sources'
 * entries inside it, reduced to the maximal ones).  Each call sees the
 * sources as they are, so a transaction's changes may come in any order,
 * each once.  0 or <0. */
int set_union_add(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p);
int set_union_del(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p,
                  const uint32_t *members, size_t n);
/* The format upgrade: append member M under KEY (alloc_id | family) to the
 * prefixes (MAXIMAL 0) or maximal database.  Members must come in order;
 * SPFDB_EEXIST for a repeat. */
int set_load(spfdb_txn *t, int maximal, const uint8_t *key, const uint8_t *m);

/* Store the held-back members (before the commit). */
int set_flush(spfdb_txn *t);
void set_free(spfdb_txn *t);

#endif
