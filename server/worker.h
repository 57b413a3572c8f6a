/* worker.h: one spfdbd worker thread and its explicit context.
 *
 * Two kinds, by the path a query takes (net.h):
 * - a UDP worker owns one UDP socket and blocks in recvmmsg on it, as the
 *   kernel's fastest responder does: no event loop, one system call in
 *   and one out per batch;
 * - the TCP worker (one) owns an event_base with every TCP listener and
 *   connection on it, and the idle timer below.
 * Each owns a read handle on the database, the zone table built from it
 * and its socket buffers; nothing is shared between workers but the
 * spfdb_env, so the query path takes no locks.  Only the worker's thread
 * touches its event_base (libevent runs without its locks: spfdbd never
 * calls evthread_use_pthreads).  worker_stop() (any thread) writes the TCP
 * worker's eventfd, or sets a UDP worker's flag and wakes its socket.
 * Each batch of queries (one recvmmsg, or what one TCP read completed) runs
 * between worker_batch_begin() and worker_batch_end(): begin refreshes the
 * snapshot (a commit is answered by the next batch; a snapshot that is
 * still the last commit is kept, cursors, page index and all) and rebuilds
 * the zone table when the metadata changed.  The snapshot stays live
 * between batches, for a bounded time (spfdb.h): a UDP worker waits for
 * its next batch with a WORKER_IDLE_MS receive timeout while it holds one
 * and resets it when that expires; the TCP worker's idle timer resets it
 * WORKER_IDLE_MS to twice that after its last batch.  Either way an idle
 * worker pins no database pages and never holds off a remap for longer.
 * The timer ticks every WORKER_IDLE_MS from the batch that made the
 * snapshot live until the reset; a batch costs it one flag store, not a
 * timer operation.
 *
 * Counters (struct worker_stats) are uint64_t written only by the worker's
 * thread, through stat_add(): a relaxed atomic store of the incremented
 * value, which compiles to the plain load, add and store (no lock prefix,
 * no fence) yet is not a data race with the metrics scraper (main thread),
 * which reads them with relaxed __atomic loads.  A count one query behind
 * is fine for a scrape.  Nothing else of a running worker is read by
 * another thread but its stop flag.
 */
#ifndef SPFDB_WORKER_H
#define SPFDB_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "answer.h"
#include "log.h"
#include "spfdb.h"

struct event;
struct event_base;
struct net_udp;
struct net_tcp;

enum { WORKER_IDLE_MS = 50 };

/* Query types counted apart (metrics.c names them in this order). */
enum { QT_A, QT_AAAA, QT_ANY, QT_SOA, QT_NS, QT_TXT, QT_OTHER, QT_COUNT };

/* Every member is a uint64_t (metrics.c sums them word by word). */
struct worker_stats {
    uint64_t queries[2][QT_COUNT];         /* by ANSWER_UDP/TCP, then QT_* */
    uint64_t answers[ANSWER_SERVFAIL + 1]; /* by enum answer_class, drops included */
    uint64_t rcodes[32];       /* replies by (extended) RCODE */
    uint64_t udp_tx;           /* replies sent */
    uint64_t udp_rxerr;        /* recvmmsg failures */
    uint64_t udp_txerr;        /* sendmmsg failures */
    uint64_t udp_txdrop;       /* replies dropped: socket send buffer full */
    uint64_t tcp_conns;        /* connections accepted */
    uint64_t tcp_open;         /* connections open now (the --tcp-max count) */
    uint64_t tcp_refused;      /* closed at the cap: no idle connection to close */
    uint64_t tcp_evicted;      /* idle connections closed to admit a new one */
    uint64_t tcp_timeouts;     /* idle, or a message not complete within 2 s */
    uint64_t tcp_overflow;     /* 64 KiB of replies unread */
    uint64_t tcp_badlen;       /* length 0 */
    uint64_t tcp_err;          /* accept, read, write, memory failures */
    uint64_t db_fail;          /* database read failures answered SERVFAIL */
    uint64_t db_meta_fail;     /* zone table not rebuilt (kept the old one) */
};

struct worker {
    unsigned id;
    struct event_base *base;  /* TCP worker: run only by its thread; UDP: NULL */
    int stop_fd;              /* TCP worker: eventfd, worker_stop() writes to it */
    struct event *stop;
    int stopping;             /* UDP worker: set by worker_stop() (atomic access) */
    spfdb_env *env;           /* shared; LMDB makes readers thread-safe */
    spfdb_txn *txn;           /* this worker's read handle */
    int txn_live;             /* renewed: holds a snapshot */
    int idle_fd;              /* TCP worker: timerfd, resets the snapshot once batches stop */
    struct event *idle;
    int idle_armed;           /* idle_fd runs, every WORKER_IDLE_MS */
    int active;               /* a batch began in this period */
    uint64_t txn_id;          /* snapshot the zone table and serial come from */
    uint64_t meta_gen;        /* spfdb_info.meta_gen of the zone table */
    struct zonetab *zones;    /* NULL until the first build; the last good one */
    int build_failed;         /* the table is older than failed_gen */
    uint64_t failed_gen;      /* meta_gen whose rebuild failed last */
    time_t failed_at;         /* when: retried once a second, not every batch */
    struct answer_env aenv;   /* what answer_query() sees */
    struct net_udp *udp;      /* UDP worker: its socket and buffers, net.c */
    struct net_tcp *tcp;      /* TCP worker: listeners and connections, net.c */
    struct worker_stats st;
    int last_db_err;          /* for the rate-limited failure line */
    struct log_limit db_log, meta_log;
    pthread_t thread;
};

/* Set up W: WITH_BASE for the TCP worker (its event base, stop eventfd and
 * idle timer), so its sockets can be bound (net.h) before the database is
 * opened.  0 or SPFDB_ENOMEM / SPFDB_EIO. */
int worker_init(struct worker *w, unsigned id, unsigned tcp_idle_s, int with_base);
/* Take W's read handle on ENV and build its zone table once, so start-up
 * reports database errors.  0 or a negative SPFDB_E* code. */
int worker_open(struct worker *w, spfdb_env *env);
/* Run W's loop in a new thread; 0 or an errno value. */
int worker_start(struct worker *w);
/* Ask the loop to stop (any thread), then wait for it. */
void worker_stop(struct worker *w);
void worker_join(struct worker *w);
/* Free everything W owns, sockets included; W's thread must have ended. */
void worker_fini(struct worker *w);

void worker_batch_begin(struct worker *w);
void worker_batch_end(struct worker *w);
/* Inside a batch: env->covers for each of N (at most SPFDB_MANY_MAX)
 * lookups at once, into Q[i].result, failures retried and counted alike. */
void worker_covers_many(struct worker *w, struct spfdb_query *q, unsigned n);
/* A UDP worker's wait timed out: no batch for WORKER_IDLE_MS, so the
 * snapshot goes. */
void worker_idle(struct worker *w);

static inline int worker_stopping(const struct worker *w)
{
    return __atomic_load_n(&w->stopping, __ATOMIC_RELAXED);
}

/* Add N (negative to subtract) to one of W's counters; W's thread only. */
static inline void stat_add(uint64_t *counter, int64_t n)
{
    __atomic_store_n(counter, *counter + (uint64_t)n, __ATOMIC_RELAXED);
}

/* QT_* ^ QT_OTHER by query type below 256: the types not listed read as 0,
 * hence QT_OTHER (worker.c). */
extern const uint8_t worker_qt_of[256];

/* The query path's whole metrics cost: a table look-up, three increments
 * and a branch (about 20 instructions a query). */
static inline void worker_count(struct worker *w, int transport, const struct answer_info *info)
{
    unsigned qt = info->qtype < 256 ? worker_qt_of[info->qtype] ^ QT_OTHER : QT_OTHER;

    stat_add(&w->st.queries[transport][qt], 1);
    stat_add(&w->st.answers[info->cls], 1);
    if (info->cls != ANSWER_DROP)
        stat_add(&w->st.rcodes[info->rcode & 31], 1);
}

#endif
