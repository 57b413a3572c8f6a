/* apply.h: a transfer's events staged in memory, then applied to the
 * replica in one write transaction (SPEC §5; docs/design.md "The
 * follower").
 *
 * stage_event is the xfr_in_fn of xfr/in.h: it copies each event into
 * compact arrays (an entry is 24 octets; allocation names are interned;
 * a zone is one allocation of its own) and applies nothing.  Only after
 * END does apply_stage open the write transaction: spfdb_write's callback
 * must be restartable (a full map runs it again), which a network stream
 * is not, and the LMDB writer lock is then held for the apply alone,
 * never while a slow or stalled primary sends.
 *
 * Applying:
 * - AXFR form: the whole zone becomes the database's: zones, allocations,
 *   member links and entries not in it are deleted, missing ones added,
 *   each allocation's entries merged in address order with what it holds
 *   (a fresh replica only appends).  Member links go in two steps around
 *   the allocations' changes (SPEC §2 allows no link to a deleted
 *   allocation, nor a member with members): links the zone lacks are
 *   dropped before any allocation is deleted, links it adds are made
 *   after every allocation it holds exists;
 * - IXFR form: each difference sequence in turn, its deletions (zones,
 *   member links, entries, allocations) then its additions (allocations,
 *   member links, zones, entries).  A deletion of something absent, or an
 *   addition of something present (or a link SPEC §2 refuses, or the
 *   deletion of an allocation whose links the sequence keeps), means the
 *   replica is not at the sequence's start: nothing is applied and
 *   APPLY_EDIVERGED asks for an AXFR.
 * Entries are added with SPFDB_ENTRY_WIDE: the primary accepted them.
 * Member links are set with spfdb_alloc_set_members, which logs them in
 * the replica's change log as the primary's did.
 * The same transaction sets the primary's serial (spfdb_txn_set_serial)
 * and stores the follow record the caller passes, so spfdbd sees the old
 * data or the new with its state, never a mix.
 *
 * Memory: what is staged (about 24 octets an entry, plus the entry list
 * an AXFR deletes), freed by stage_free.  One thread.
 */
#ifndef SPFDB_FOLLOW_APPLY_H
#define SPFDB_FOLLOW_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "in.h"
#include "spfdb.h"

enum {
    APPLY_OK = 0,
    APPLY_EDIVERGED = -100, /* IXFR: the replica is not at a sequence's start */
    APPLY_EDATA = -102,     /* the database refused a record (err says which) */
    APPLY_ENOMEM = -103,
    APPLY_EPRIMARY = -104   /* the primary setting changed meanwhile */
};

struct stage_ent {
    uint32_t name;           /* interned allocation name */
    uint8_t op;              /* XFR_OP_DEL or XFR_OP_ADD; AXFR: 1 once found present */
    struct spfdb_prefix p;
};

struct stage_obj {
    uint8_t op;              /* XFR_OP_DEL or XFR_OP_ADD */
    uint8_t kind;            /* XFR_ALLOC, XFR_MEMBER or XFR_ZONE */
    uint32_t name;           /* XFR_ALLOC, XFR_MEMBER: the allocation's interned name */
    uint32_t member;         /* XFR_MEMBER: the member's interned name */
    struct spfdb_zone *zone; /* XFR_ZONE: owned */
};

struct stage_seq {
    uint32_t from, to;
    size_t ent0, ent_add, ent_end; /* deletions [ent0, ent_add), additions to ent_end */
    size_t obj0, obj_add, obj_end;
};

struct stage {
    enum xfr_form form;      /* from BEGIN */
    struct xfr_soa soa;      /* the server's SOA */
    int ended;               /* END came */
    struct stage_ent *ent;
    size_t nent, capent;
    struct stage_obj *obj;
    size_t nobj, capobj;
    struct stage_seq *seq;
    size_t nseq, capseq;
    char (*names)[SPFDB_LABEL_MAX + 1];
    size_t nnames, capnames;
    uint32_t *slots;         /* hash of names: index + 1, 0 free */
    size_t nslots;
    int oom;
};

void stage_init(struct stage *s);
void stage_free(struct stage *s); /* then stage_init again to reuse */
int stage_event(void *arg, const struct xfr_in_event *ev);

struct apply_result {
    uint64_t added, deleted;  /* entries */
    uint64_t objects;         /* zones and allocations added, deleted or (AXFR) stored */
    uint64_t members;         /* member links added or deleted */
    char err[512];            /* why, when not APPLY_OK */
};

/* Apply S (ended) to ENV (a follower env, spfdb_env_set_follower) in one
 * spfdb_write: the data, serial S->soa.serial and *FOLLOW.  ZONE is the
 * transfer zone the primary setting must still name.  APPLY_OK, an
 * APPLY_E* code, or a negative SPFDB_E* code (err says which). */
int apply_stage(spfdb_env *env, struct stage *s, const char *zone,
                const struct spfdb_follow *follow, struct apply_result *res);

#endif
