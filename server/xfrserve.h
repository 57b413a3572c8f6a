/* xfrserve.h: the transfer threads (SPEC §5; design §4 "TCP handoff").
 *
 * The TCP thread answers a transfer-zone message itself unless it is a
 * verified AXFR or IXFR (xfrzone.h); then, once the connection's queued
 * replies are out, it hands the socket and its unread input to the pool
 * (xfr_pool_take) and forgets it: the connection leaves --tcp-max, its
 * eviction and the 64 KiB reply rule.  At most XFR_POOL_MAX transfer
 * connections run at once, each on a thread of its own, created on demand
 * and ended with its connection; over the limit the TCP thread answers a
 * signed REFUSED (xfr_pool_room says when).
 *
 * A transfer thread owns the socket and a read view of its own (view.h:
 * one live read transaction per thread), re-verifies every message it
 * reads, and serves SOA, AXFR and IXFR from one snapshot per message.
 * Messages are produced as the socket drains (xfr/out.h, 16 KiB each,
 * every one signed): a blocking write, polled every 100 ms, and 30 s
 * without progress closes the connection.  A transfer also ends (the
 * client retries) as soon as a remap waits for its snapshot, which would
 * otherwise stall the answering threads (spfdb.h).  Between messages a client has
 * 10 s idle and 2 s to complete a message it began.  Anything else than a
 * transfer-zone query gets its reply (REFUSED, FORMERR, NOTAUTH) and the
 * connection is closed.
 *
 * IXFR comes from the change log (design §2): the client's serial current
 * (or newer) gets the single SOA; a serial the log still holds
 * (spfdb_log_find_serial) one difference sequence per commit, netted
 * (xfr/net.h), unless the commits hold more changes than half the zone's
 * records (plus 16, so small zones still get IXFR); anything else the
 * AXFR form.
 *
 * Thread rules: xfr_pool_new, xfr_pool_stop and xfr_pool_free on the main
 * thread; xfr_pool_room and xfr_pool_take on the TCP thread (the only
 * one that starts transfers, so a room seen is still there at the take).
 */
#ifndef SPFDB_XFRSERVE_H
#define SPFDB_XFRSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

enum { XFR_POOL_MAX = 16 };

struct xfr_pool;

/* A pool serving ENV (which outlives it).  0 and *OUT, or SPFDB_ENOMEM. */
int xfr_pool_new(struct xfr_pool **out, spfdb_env *env);
/* 1 when a transfer may start now. */
int xfr_pool_room(struct xfr_pool *p);
/* Serve the connection FD, whose unread input begins with PENDING[0..N)
 * (copied; a whole message first).  0: FD is the pool's; -1: the caller
 * keeps it (no room, no thread). */
int xfr_pool_take(struct xfr_pool *p, int fd, const uint8_t *pending, size_t n);
/* End every transfer (their sockets are shut down) and wait for their
 * threads. */
void xfr_pool_stop(struct xfr_pool *p);
void xfr_pool_free(struct xfr_pool *p);

/* Counters, read by any thread (relaxed). */
struct xfr_counts {
    uint64_t axfr, ixfr, ixfr_as_axfr, soa; /* responses by form */
    uint64_t aborted;                       /* connections cut mid-response */
    uint64_t bytes;                         /* transfer messages sent */
    uint64_t active;                        /* connections open now */
};
void xfr_pool_counts(struct xfr_pool *p, struct xfr_counts *out);

#endif
