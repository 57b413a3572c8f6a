/* net.h: one commit's changes netted into an IXFR difference sequence
 * (design §2 "Netting").
 *
 * A sequence may delete only records present at its start, and BIND and
 * Knot check it.  A commit's changes come from the change log in commit
 * order, as records deleted (XFR_OP_DEL) and added (XFR_OP_ADD); a zone
 * changed is its old record deleted and its new one added.  Usually each
 * identity (the object's kind and key: allocation, prefix, member, zone
 * name) changes once, and its change is streamed as it is.  When one
 * changes several times in a commit (API use: `allocation del --force`,
 * then the allocation added again), its first change says how it was at
 * the start (deleted: that record was present; added: none was) and its
 * last how it is at the end; the start record is deleted when present
 * and different from the end's, the end record added when present and
 * different from the start's.  So nothing needs asking the database: a
 * log that replays the commit says what existed when it began.
 *
 * The changes are never held: the caller's WALK replays them from the log
 * record, as often as asked (once to index, once per op to emit).  The
 * index lives in the caller's table of xfr_net_slots(n) slots for n
 * changes, 40 octets each, the only memory used.  Identities and records
 * are compared by 64-bit hashes: two distinct identities of one commit
 * sharing one (about 2^-64 per pair) would be netted as one.
 *
 * Pure; errors are layout.h's XFR_E* codes, or what a callback returned.
 */
#ifndef SPFDB_XFR_NET_H
#define SPFDB_XFR_NET_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

enum { XFR_OP_DEL = 1, XFR_OP_ADD = 2 };

/* One change: OP and the record it deletes or adds (XFR_ZONE, XFR_ALLOC,
 * XFR_MEMBER or XFR_ENTRY), valid during the call.  Nonzero stops. */
typedef int (*xfr_change_fn)(void *arg, int op, const struct xfr_obj *rec);
/* Call FN(FNARG, ...) for each change of the commit, in commit order;
 * return FN's nonzero result at once, or 0 (or an error of its own). */
typedef int (*xfr_walk_fn)(void *arg, xfr_change_fn fn, void *fnarg);

struct xfr_net_slot {
    uint64_t id;                /* the identity's hash; 0: a free slot */
    uint64_t first_rec, last_rec; /* the records' hashes at its first and last change */
    uint32_t first, last;       /* their positions in the walk */
    uint8_t first_op, last_op;
};

struct xfr_net {
    struct xfr_net_slot *slots;
    size_t nslots;    /* a power of two */
    uint32_t changes; /* walked by xfr_net_index */
};

/* Slots for N changes: a power of two of at least 2N. */
size_t xfr_net_slots(size_t n);

/* Walk the commit once and index its identities into SLOTS[0..NSLOTS),
 * NSLOTS from xfr_net_slots (any contents).  0; XFR_EINVAL when NSLOTS is
 * not a power of two or the commit has more than NSLOTS / 2 changes, or
 * for a record no change can hold; or WALK's error. */
int xfr_net_index(struct xfr_net *n, struct xfr_net_slot *slots, size_t nslots,
                  xfr_walk_fn walk, void *walk_arg);

/* Walk the commit again and pass EMIT the netted deletions (OP
 * XFR_OP_DEL), or additions (XFR_OP_ADD), in commit order.  0;
 * XFR_EINVAL when the walk differs from the indexed one; or WALK's or
 * EMIT's nonzero result. */
int xfr_net_emit(const struct xfr_net *n, int op, xfr_walk_fn walk, void *walk_arg,
                 xfr_change_fn emit, void *emit_arg);

#endif
