/* changelog.h: the change log of write transactions (changelog.c; the
 * reading side and the record format are in spfdb.h and changelog.c).
 *
 * A write transaction collects its changes in t->log as the modules make
 * them; write.c stores the record just before the commit.  Calls down into
 * env.h and zonerec.h only.  The log_* recorders never fail: running out of
 * memory is made sticky in t->err, which aborts the transaction at commit.
 */
#ifndef SPFDB_CHANGELOG_H
#define SPFDB_CHANGELOG_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* A write transaction's change log record, built as it goes. */
struct logbuf {
    uint8_t *p;
    size_t len, cap;
    uint32_t alloc_id; /* the allocation named by the last context event */
    uint32_t n;        /* changes recorded (n_changes) */
};

enum { LOG_ADD, LOG_DEL };
/* An entry P added to or removed from (OP) allocation ALLOC_ID, named ALLOC. */
void log_entry(spfdb_txn *t, uint32_t alloc_id, const char *alloc, int op,
               const struct spfdb_prefix *p);
void log_alloc(spfdb_txn *t, int op, const char *name);
/* MEMBER made a member of allocation ALLOC (LOG_ADD), or no longer (LOG_DEL). */
void log_member(spfdb_txn *t, int op, const char *alloc, const char *member);
/* A zone added (OLD NULL), changed, or deleted (NEW NULL): each side as
 * stored, with its allocation's name in ->alloc ("" for a provider zone). */
void log_zone(spfdb_txn *t, const struct spfdb_zone *old, const struct spfdb_zone *new);
/* Store the record, stamped t->meta.changed, from SERIAL_BEFORE to
 * t->meta.serial, in the write transaction; its seq into *SEQ (may be NULL):
 * one above the last record's, and never below t->meta.ixfr_floor (a
 * pruned log may be empty, spfdb_log_prune). */
int log_commit(spfdb_txn *t, uint32_t serial_before, uint64_t *seq);
void log_free(spfdb_txn *t);

/* The last record's seq into *LAST, 0 when the log is empty. */
int log_last_seq(spfdb_txn *t, uint64_t *last);
/* The record of seq >= FLOOR (and still stored) whose serial_before is
 * SERIAL: 0 and *SEQ, or SPFDB_ENOTFOUND.  From FLOOR on every record is
 * version 2 and serial_before strictly increases (write.c keeps FLOOR so),
 * which the search relies on: a version 1 record there is SPFDB_EFORMAT. */
int log_find_serial(spfdb_txn *t, uint64_t floor, uint32_t serial, uint64_t *seq);

/* FN(name, ARG) for each allocation whose IP set the records FROM..TO
 * change (entries added or removed, the allocation deleted, its members
 * changed; a name may come more than once); a nonzero return of FN stops
 * the walk and is returned.  SPFDB_ENOTFOUND when a record of the run is
 * missing (pruned), SPFDB_EFORMAT when one is damaged.  The read index
 * (reader.c) keeps the indexes of every other allocation. */
int log_changed(spfdb_txn *t, uint64_t from, uint64_t to,
                int (*fn)(const char *name, void *arg), void *arg);

/* The record stored as V (VLEN octets) under KEY (KLEN octets) into *R, up
 * to its changes, which spfdb_log_next then walks: 0 or SPFDB_EFORMAT.  R's
 * strings point into V.  Pure. */
int log_rec_head(const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen,
                 struct spfdb_log_rec *r);

#endif
