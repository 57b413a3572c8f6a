/* notifier.h: the NOTIFY sender (SPEC §5; RFC 1996): on every commit, and
 * at start-up, each replica of the transfer zone is told the new serial.
 *
 * One thread of its own, with a UDP socket per address family, bound
 * before privileges are dropped to the operator's source address
 * (--notify-source: secondaries accept NOTIFY only from their primary's
 * address) or to the wildcard, on an ephemeral port unless one is given.
 * It watches the database with spfdb_env_last_txnid every NOTIFY_POLL_MS
 * (one read of LMDB's meta page; NOTIFY_IDLE_MS while there is no
 * replica to tell): a changed id is read in a read transaction of its
 * own, closed at once (so the thread holds no reader slot between
 * commits), for the serial and, when spfdb_info.xfr_gen changed, the
 * transfer zone, the replicas and their keys.  No transfer zone, no
 * NOTIFY.
 *
 * Each replica (a target) has at most one NOTIFY outstanding, signed with
 * its own key (xfr/notify.h).  A new serial goes out at once when none is
 * outstanding, or when the outstanding one was last sent a second or more
 * ago (it replaces it, with a new round); otherwise it waits, and the
 * next retransmission, or the answer, sends a NOTIFY for the newest
 * serial (coalescing: a burst of commits costs one message per target,
 * never a queue, and an unanswering target gets at most one a second).
 * Unanswered, a NOTIFY is sent again after 1, 2, 4 and 8 s, and after a
 * last 16 s wait (31 s in all, NOTIFY_TRIES transmissions) the round is
 * given up until the next commit; the replica's own SOA checks (REFRESH,
 * RETRY) then find the change.  A reply is an answer only when it comes from the
 * target's address and port, is a reply to the outstanding request and
 * its TSIG verifies; anything else is counted and, at most every
 * NOTIFY_LOG_S per target, logged.  A replica whose settings change
 * (added, another key) is told the current serial at once.
 *
 * Thread rules: notify_new, notify_open, notify_start, notify_stop and
 * notify_free on the main thread, in that order; notify_counts from any
 * thread (relaxed loads of counters only the notifier writes).
 */
#ifndef SPFDB_NOTIFIER_H
#define SPFDB_NOTIFIER_H

#include <stdint.h>
#include <sys/socket.h>

#include "spfdb.h"

enum {
    NOTIFY_POLL_MS = 10,
    NOTIFY_IDLE_MS = 100,
    NOTIFY_FIRST_WAIT_MS = 1000, /* then doubled after each transmission */
    NOTIFY_TRIES = 5,
    NOTIFY_LOG_S = 60
};

/* A --notify-source: ADDR or ADDR:PORT ([V6] or [V6]:PORT); no port: an
 * ephemeral one. */
struct notify_source {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[80];
};
/* 0 and *OUT, or -1. */
int notify_source_parse(const char *s, struct notify_source *out);

struct notifier;

/* Make the sockets, from SRC[0..NSRC) (at most one per family; NULL, 0:
 * the wildcards).  A family this host lacks is left out unless a source
 * names it.  0 and *OUT, or -1 with a one-line reason in ERR. */
int notify_new(struct notifier **out, const struct notify_source *src, unsigned nsrc, char *err,
               size_t errcap);
/* Read from ENV (which outlives N); a first read transaction checks it.
 * 0 or a negative SPFDB_E*. */
int notify_open(struct notifier *n, spfdb_env *env);
/* Start the thread: 0 or an errno value. */
int notify_start(struct notifier *n);
/* Stop the thread (within NOTIFY_IDLE_MS) and wait for it; outstanding
 * NOTIFYs are dropped. */
void notify_stop(struct notifier *n);
void notify_free(struct notifier *n);

struct notify_counts {
    uint64_t sent;          /* NOTIFY messages sent, retransmissions included */
    uint64_t retransmitted; /* ... of which retransmissions */
    uint64_t answered;      /* answered NOERROR, verified */
    uint64_t refused;       /* answered with another RCODE, verified */
    uint64_t failed;        /* rounds given up, never answered */
    uint64_t bad_replies;   /* replies to the outstanding request whose TSIG does not verify */
    uint64_t stray;         /* other datagrams: late, duplicate, malformed, from elsewhere */
    uint64_t send_errors;   /* sendto failures (no socket for the family included) */
    uint64_t targets;       /* gauge: replicas told of commits */
    uint64_t outstanding;   /* gauge: NOTIFYs waiting for an answer */
};
void notify_counts(struct notifier *n, struct notify_counts *out);

#endif
