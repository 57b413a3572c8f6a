/* stats.h: spfdbd's counters, one set per thread that answers queries.
 *
 * Each UDP worker and the TCP thread own one struct stats (their read view
 * counts its database failures into it too).  Every member is a uint64_t
 * written only by the owning thread, through stats_add(): a relaxed atomic
 * store of the incremented value, which compiles to the plain load, add
 * and store (no lock prefix, no fence) yet is not a data race with the
 * main thread, which reads them only through stats_sum() with relaxed
 * loads.  A count one query behind is fine for a scrape or the last log
 * line.  metrics.c names the counters; main.c's stop line uses a few.
 */
#ifndef SPFDB_STATS_H
#define SPFDB_STATS_H

#include <stdint.h>

#include "answer.h"

/* Query types counted apart (metrics.c names them in this order). */
enum { QT_A, QT_AAAA, QT_ANY, QT_SOA, QT_NS, QT_TXT, QT_OTHER, QT_COUNT };

/* Every member is a uint64_t (stats_sum adds them word by word). */
struct stats {
    uint64_t queries[2][QT_COUNT];         /* by ANSWER_UDP/TCP, then QT_* */
    uint64_t answers[ANSWER_SERVFAIL + 1]; /* by enum answer_class, drops included */
    uint64_t rcodes[32];       /* replies by (extended) RCODE */
    uint64_t udp_tx;           /* replies sent */
    uint64_t udp_rxerr;        /* recvmmsg failures */
    uint64_t udp_txerr;        /* sendmmsg failures */
    uint64_t udp_txdrop;       /* replies dropped: socket send buffer full */
    uint64_t tcp_conns;        /* connections accepted */
    uint64_t tcp_open;         /* connections open now (the --tcp-max count) */
    uint64_t tcp_refused;      /* accept() failures: out of descriptors or memory */
    uint64_t tcp_evicted;      /* idle connections closed to admit a new one */
    uint64_t tcp_evicted_busy; /* none idle: the longest-held closed instead */
    uint64_t tcp_timeouts;     /* idle, or a message not complete within 2 s */
    uint64_t tcp_overflow;     /* 64 KiB of replies unread */
    uint64_t tcp_badlen;       /* length 0 */
    uint64_t tcp_err;          /* accept, read, write, memory failures */
    uint64_t db_fail;          /* database read failures answered SERVFAIL */
    uint64_t db_meta_fail;     /* zone table not rebuilt (kept the old one) */
    uint64_t cookies[COOKIE_BAD];  /* queries with a COOKIE, by enum cookie_state - 1 */
    uint64_t limited[LIMITED_DROP]; /* rate-limited replies, by enum answer_limited - 1 */
};

/* Add N (negative to subtract) to one counter; its owner's thread only. */
static inline void stats_add(uint64_t *counter, int64_t n)
{
    __atomic_store_n(counter, *counter + (uint64_t)n, __ATOMIC_RELAXED);
}

/* QT_* ^ QT_OTHER by query type below 256: the types not listed read as 0,
 * hence QT_OTHER (stats.c). */
extern const uint8_t stats_qt_of[256];

/* One answered query (INFO, from answer.h) over TRANSPORT: the query
 * path's whole metrics cost, a table look-up, three increments and a
 * branch (about 20 instructions), and two more for a cookie or a limited
 * reply. */
static inline void stats_count(struct stats *st, int transport, const struct answer_info *info)
{
    unsigned qt = info->qtype < 256 ? stats_qt_of[info->qtype] ^ QT_OTHER : QT_OTHER;

    stats_add(&st->queries[transport][qt], 1);
    stats_add(&st->answers[info->cls], 1);
    if (info->cls != ANSWER_DROP)
        stats_add(&st->rcodes[info->rcode & 31], 1);
    /* One branch for both: most queries carry neither. */
    if ((info->cookie | info->limited) != 0) {
        if (info->cookie != COOKIE_NONE)
            stats_add(&st->cookies[info->cookie - 1], 1);
        if (info->limited != LIMITED_NOT)
            stats_add(&st->limited[info->limited - 1], 1);
    }
}

/* The sum of the N sets EACH[0..N) into TOTAL, while their owners keep
 * counting; any thread. */
void stats_sum(const struct stats *const *each, unsigned n, struct stats *total);

#endif
