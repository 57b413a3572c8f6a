/* metrics.h: spfdbd's Prometheus endpoint (--metrics ADDR:PORT).
 *
 * GET /metrics answers the text exposition format (version 0.0.4) through
 * http.h's small server, from the event loop of the thread that calls
 * metrics_new() (the main thread), never from a worker: a scrape sums the
 * counters of every thread that answers (stats_sum, stats.h) and reads the
 * database's serial and zones on its own read handle.  This file only
 * names and formats them.  Other paths get 404, methods other than GET and
 * HEAD 501.  At most METRICS_CONN_MAX connections are open at once (SPEC
 * §4; http.h says what happens to more, and how long each may take); main.c
 * counts them in the open-files budget.  The metric names are listed at
 * the top of metrics.c.
 */
#ifndef SPFDB_METRICS_H
#define SPFDB_METRICS_H

#include <stddef.h>
#include <time.h>

#include "spfdb.h"

enum { METRICS_CONN_MAX = 16 };

struct event_base;
struct sock_addr;
struct stats;
struct metrics;

/* Bind ADDR now (before privileges are dropped) and serve it from BASE's
 * loop.  0 and *OUT, or -1 with a one-line reason in ERR. */
int metrics_new(struct event_base *base, const struct sock_addr *addr, struct metrics **out,
                char *err, size_t errcap);
/* What a scrape reports: the N counter sets EACH[0..N) (the array and the
 * sets must outlive M), the database ENV and the process start time START.
 * Call before BASE's loop runs.  0 or a negative SPFDB_E* code. */
int metrics_start(struct metrics *m, spfdb_env *env, const struct stats *const *each, unsigned n,
                  time_t start);
struct xfr_pool;
/* Report the transfer threads of POOL too (xfrserve.h); before BASE's
 * loop runs. */
void metrics_set_xfr(struct metrics *m, struct xfr_pool *pool);
struct notifier;
/* Report the NOTIFY sender N too (notify.h); before BASE's loop runs. */
void metrics_set_notify(struct metrics *m, struct notifier *n);
/* Report --rate-limit RATE (0: off) and --rate-limit-dry-run; before
 * BASE's loop runs. */
void metrics_set_rate_limit(struct metrics *m, unsigned rate, int dry_run);
/* Close the socket and the read handle; BASE's loop must not be running. */
void metrics_free(struct metrics *m);

#endif
