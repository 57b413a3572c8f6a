/* view.h: one thread's read view of the database, for its answers.
 *
 * A view is a read handle on the database (spfdb.h), the snapshot it
 * holds and the zone table built from that snapshot.  Each UDP worker and
 * the TCP thread own one; nothing in it is shared, so the query path takes
 * no locks.  Every call is made on the owner's thread (view_open before
 * that thread starts, view_close after it ended).
 *
 * Each batch of queries runs between view_begin() and view_end().  Begin
 * refreshes the snapshot (a commit is answered by the next batch; a
 * snapshot that is still the last commit is kept, cursors, page index and
 * all), rebuilds the zone table when the zones changed (allocations added
 * or deleted, as the change log names them, are changed in place), and
 * fills in the answer_env's database half: the zones, the serial and the
 * lookup.  The lookup is SPEC §4's rule for a failed read, in one place:
 * the batch's lookups are made together (spfdb_covers_many), a failed one
 * is retried once on a fresh snapshot, and a second failure is SERVFAIL,
 * never a guessed answer.  Failures are counted into the owner's struct
 * stats (db_fail, db_meta_fail) and logged by view_end(), a line per kind
 * at most every ten seconds.
 *
 * The snapshot stays live after view_end(), for a bounded time (spfdb.h):
 * an owner whose batches stop calls view_release() within VIEW_HOLD_MS to
 * twice that (a UDP worker by its receive timeout, the TCP thread by its
 * idle timer), so an idle thread pins no database pages and never holds
 * off a remap for longer.
 */
#ifndef SPFDB_VIEW_H
#define SPFDB_VIEW_H

#include "answer.h"
#include "spfdb.h"
#include "stats.h"

enum { VIEW_HOLD_MS = 50 };

struct view;

/* A view on ENV for thread ID (in its log lines; view 0 also reports zone
 * changes), counting into ST: takes a read handle and builds the zone
 * table once, so start-up reports database errors.  0 and *OUT, or a
 * negative SPFDB_E* code. */
int view_open(struct view **out, spfdb_env *env, unsigned id, struct stats *st);
void view_close(struct view *v);

/* Start a batch: refresh, and set ENV's zones, serial and covers_many. */
void view_begin(struct view *v, struct answer_env *env);
/* End it: log the failures it counted (rate-limited). */
void view_end(struct view *v);
/* Give the snapshot up (the thread is idle, or ends). */
void view_release(struct view *v);
/* 1 when V holds a snapshot. */
int view_live(const struct view *v);

/* V's snapshot, between view_begin and view_release (NULL when it has
 * none): for a transfer thread's walks (xfrserve.h). */
spfdb_txn *view_txn(struct view *v);

struct xfrzone;
/* The transfer zone and its keys read from TXN (xfrzone.h): 0 and *OUT,
 * NULL when no transfer zone is set; or a negative SPFDB_E* code. */
int view_load_xfr(spfdb_txn *txn, struct xfrzone **out);

/* The env's damage handler (spfdb_env_on_damage): a stored name that
 * breaks SPEC §2 is logged, escaped, and its record skipped, so the rest
 * is served.  Any thread; once per reader that meets it. */
void view_on_damage(const char *desc, void *arg);

/* Zones in V's table (unservable ones skipped). */
unsigned view_zone_count(const struct view *v);

#endif
