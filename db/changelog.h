/* changelog.h: the change log of write transactions (changelog.c; the
 * reading side and the record format are in spfdb.h and changelog.c).
 *
 * A write transaction collects its changes in t->log as the modules make
 * them; write.c stores the record just before the commit.  Calls down into
 * env.h only.  The log_* recorders never fail: running out of memory is
 * made sticky in t->err, which aborts the transaction at commit.
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
};

enum { LOG_ADD, LOG_DEL };
/* An entry P added to or removed from (OP) allocation ALLOC_ID, named ALLOC. */
void log_entry(spfdb_txn *t, uint32_t alloc_id, const char *alloc, int op,
               const struct spfdb_prefix *p);
void log_alloc(spfdb_txn *t, int op, const char *name);
void log_zone(spfdb_txn *t, int op, const struct spfdb_zone *z); /* op: SPFDB_LOG_ZONE_* */
/* Store the record, stamped t->meta.changed, in the write transaction. */
int log_commit(spfdb_txn *t);
void log_free(spfdb_txn *t);

#endif
