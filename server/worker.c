/* worker.c: a worker's snapshot and zone table, and its thread.  See worker.h. */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "net.h"
#include "zones.h"

enum { LOG_INTERVAL = 10 }; /* seconds between repeated failure lines */

const uint8_t worker_qt_of[256] = {
    [1] = QT_A ^ QT_OTHER,   [28] = QT_AAAA ^ QT_OTHER, [255] = QT_ANY ^ QT_OTHER,
    [6] = QT_SOA ^ QT_OTHER, [2] = QT_NS ^ QT_OTHER,    [16] = QT_TXT ^ QT_OTHER
};

struct build {
    struct worker *w;
    struct zonetab *t;
};

/* An unservable record must not take the other zones down with it: skip it
 * and say so (worker 0 only, so a change is reported once). */
static int build_zone(const struct spfdb_zone *z, void *arg)
{
    struct build *b = arg;
    int rc = zonetab_add_zone(b->t, z);

    if (rc == SPFDB_EINVAL) {
        if (b->w->id == 0)
            log_warn("zone %s cannot be served, skipped", z->name);
        return 0;
    }
    return rc;
}

static int build_alloc(const struct spfdb_alloc *a, void *arg)
{
    struct build *b = arg;
    int rc = zonetab_add_alloc(b->t, a->name, a->id);

    if (rc == SPFDB_EINVAL) {
        if (b->w->id == 0)
            log_warn("allocation %s cannot be served, skipped", a->name);
        return 0;
    }
    return rc;
}

static int rebuild(struct worker *w)
{
    struct build b = { w, zonetab_new() };
    int rc;

    if (b.t == NULL)
        return SPFDB_ENOMEM;
    rc = spfdb_alloc_foreach(w->txn, build_alloc, &b);
    if (rc == 0)
        rc = spfdb_zone_foreach(w->txn, build_zone, &b);
    if (rc != 0) {
        zonetab_free(b.t);
        return rc;
    }
    zonetab_free(w->zones);
    w->zones = b.t;
    w->aenv.zones = b.t;
    return 0;
}

/* Metadata is re-read only when the snapshot changed, and the zone table
 * rebuilt only when zones or allocations changed: an entry change costs
 * one spfdb_info_get per worker.  The serial and snapshot id are adopted
 * whatever happens to the table, so the SOA serial never freezes or goes
 * back.  A failed rebuild keeps the last good table and is retried when
 * the metadata changes again, else at most once a second: a record the
 * build cannot read would otherwise cost a full scan on every batch. */
static int refresh(struct worker *w)
{
    uint64_t id = spfdb_txn_id(w->txn);
    struct spfdb_info info;
    int first = w->zones == NULL, rc;

    if (id == w->txn_id && !first && !(w->build_failed && time(NULL) != w->failed_at))
        return 0;
    rc = spfdb_info_get(w->txn, &info);
    if (rc != 0)
        return rc;
    w->aenv.serial = info.serial;
    w->txn_id = id;
    if (!first && info.meta_gen == w->meta_gen) {
        w->build_failed = 0;
        return 0;
    }
    if (!first && w->build_failed && info.meta_gen == w->failed_gen &&
        time(NULL) == w->failed_at)
        return 0;
    rc = rebuild(w);
    if (rc != 0) {
        w->build_failed = 1;
        w->failed_gen = info.meta_gen;
        w->failed_at = time(NULL);
        return rc;
    }
    w->build_failed = 0;
    w->meta_gen = info.meta_gen;
    unsigned n = zonetab_zone_count(w->zones);
    if (w->id == 0 && !first)
        log_info("zones or allocations changed: serving %u zone%s", n, n == 1 ? "" : "s");
    return 0;
}

static int renew(struct worker *w)
{
    int rc = spfdb_txn_renew(w->txn);

    w->txn_live = rc == 0;
    return rc;
}

/* env->covers: the query path's only database read.  A failed read is
 * retried once on a fresh snapshot; a second failure becomes SERVFAIL,
 * never a guessed answer (SPEC §4). */
static int covers(void *ctx, uint32_t alloc, int family, const uint8_t *addr)
{
    struct worker *w = ctx;
    int rc;

    if (w->txn_live) {
        rc = spfdb_covers(w->txn, alloc, family, addr);
        if (rc >= 0)
            return rc;
        spfdb_txn_reset(w->txn);
        w->txn_live = 0;
    }
    rc = renew(w);
    if (rc == 0) {
        rc = spfdb_covers(w->txn, alloc, family, addr);
        if (rc >= 0)
            return rc;
    }
    w->last_db_err = rc;
    stat_add(&w->st.db_fail, 1);
    return -1;
}

void worker_covers_many(struct worker *w, struct spfdb_query *q, unsigned n)
{
    int live = w->txn_live;

    if (live)
        spfdb_covers_many(w->txn, q, n);
    for (unsigned i = 0; i < n; i++)
        if (!live || q[i].result < 0)
            q[i].result = covers(w, q[i].alloc_id, q[i].family, q[i].addr);
}

void worker_batch_begin(struct worker *w)
{
    int rc = w->txn_live ? spfdb_txn_refresh(w->txn) : spfdb_txn_renew(w->txn);

    w->txn_live = rc == 0;
    w->active = 1;
    if (rc == 0)
        rc = refresh(w);
    if (rc != 0) {
        w->last_db_err = rc;
        stat_add(&w->st.db_meta_fail, 1);
    }
}

static void release(struct worker *w)
{
    if (w->txn_live) {
        spfdb_txn_reset(w->txn);
        w->txn_live = 0;
    }
}

/* Start (ON) or stop the idle timer: a periodic timerfd, not a libevent
 * timer, which would cost every loop iteration a clock read and a heap
 * check (about 100 instructions); the timerfd costs one wake-up a period. */
static int set_idle(struct worker *w, int on)
{
    const struct timespec ts = { 0, on ? WORKER_IDLE_MS * 1000000L : 0 };
    const struct itimerspec its = { ts, ts };

    w->active = 0;
    if (timerfd_settime(w->idle_fd, 0, &its, NULL) != 0)
        return -1;
    w->idle_armed = on;
    return 0;
}

/* A batch began in the last period: the timer fires again one period
 * later.  None did: the worker is idle, and its snapshot goes.  (A timer
 * that cannot be stopped stays armed and is stopped at its next expiry.) */
static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t expired;

    (void)what;
    if (read(fd, &expired, sizeof expired) < 0 && errno != EAGAIN)
        log_err("worker %u: idle timer: %s", w->id, strerror(errno));
    if (w->active && w->txn_live) {
        w->active = 0;
        return;
    }
    release(w);
    (void)set_idle(w, 0);
}

void worker_idle(struct worker *w)
{
    release(w);
}

void worker_batch_end(struct worker *w)
{
    /* (A UDP worker bounds its hold with its receive timeout.) */
    if (w->base != NULL && w->txn_live && !w->idle_armed && set_idle(w, 1) != 0)
        release(w); /* no timer, no holding across the wait */
    if (w->st.db_fail != w->db_log.logged &&
        log_limit_ok(&w->db_log, time(NULL), LOG_INTERVAL, w->st.db_fail))
        log_err("worker %u: %" PRIu64 " database read failures so far, answered SERVFAIL: %s",
                w->id, w->st.db_fail, spfdb_strerror(w->last_db_err));
    if (w->st.db_meta_fail != w->meta_log.logged &&
        log_limit_ok(&w->meta_log, time(NULL), LOG_INTERVAL, w->st.db_meta_fail))
        log_err("worker %u: cannot read the zones (%" PRIu64 " times so far), serving the last "
                "ones read: %s", w->id, w->st.db_meta_fail, spfdb_strerror(w->last_db_err));
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    if (event_base_loopbreak(w->base) != 0)
        log_err("worker %u: cannot stop its event loop", w->id);
}

/* An eventfd, not event_active(), stops the loop from another thread: the
 * bases then need no libevent locking, which costs every loop iteration
 * several mutex operations.  A write before the loop starts stays
 * readable until it runs. */
int worker_init(struct worker *w, unsigned id, unsigned tcp_idle_s, int with_base)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->stop_fd = w->idle_fd = -1;
    w->aenv.covers = covers;
    w->aenv.covers_ctx = w;
    w->aenv.tcp_idle_100ms = (uint16_t)(tcp_idle_s * 10);
    if (!with_base)
        return 0;
    /* Without a time cache, an iteration with no timer pending reads no
     * clock; only timers (TCP connections) read it. */
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        return SPFDB_ENOMEM;
    if (event_config_set_flag(cfg, EVENT_BASE_FLAG_NO_CACHE_TIME) == 0)
        w->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (w->base == NULL)
        return SPFDB_ENOMEM;
    w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->idle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w->stop_fd < 0 || w->idle_fd < 0)
        return SPFDB_EIO;
    w->stop = event_new(w->base, w->stop_fd, EV_READ, stop_cb, w);
    w->idle = event_new(w->base, w->idle_fd, EV_READ | EV_PERSIST, idle_cb, w);
    if (w->stop == NULL || w->idle == NULL || event_add(w->stop, NULL) != 0 ||
        event_add(w->idle, NULL) != 0)
        return SPFDB_ENOMEM;
    return 0;
}

int worker_open(struct worker *w, spfdb_env *env)
{
    int rc;

    w->env = env;
    rc = spfdb_txn_read(env, &w->txn);
    if (rc != 0)
        return rc;
    w->txn_live = 1;
    rc = refresh(w);
    spfdb_txn_reset(w->txn);
    w->txn_live = 0;
    return rc;
}

static void *run(void *arg)
{
    struct worker *w = arg;

    if (w->base == NULL)
        net_udp_run(w);
    else if (event_base_dispatch(w->base) < 0)
        log_err("worker %u: event loop failed", w->id);
    release(w); /* on this thread: it holds the env's remap lock */
    return NULL;
}

int worker_start(struct worker *w)
{
    return pthread_create(&w->thread, NULL, run, w);
}

void worker_stop(struct worker *w)
{
    uint64_t one = 1;

    if (w->base == NULL) {
        __atomic_store_n(&w->stopping, 1, __ATOMIC_RELAXED);
        net_udp_wake(w);
    } else if (write(w->stop_fd, &one, sizeof one) != sizeof one)
        log_err("worker %u: cannot stop it: %s", w->id, strerror(errno));
}

void worker_join(struct worker *w)
{
    int rc = pthread_join(w->thread, NULL);

    if (rc != 0)
        log_err("worker %u: pthread_join: %s", w->id, strerror(rc));
}

void worker_fini(struct worker *w)
{
    net_udp_free(w);
    net_tcp_free(w);
    if (w->txn != NULL)
        spfdb_txn_close(w->txn);
    zonetab_free(w->zones);
    if (w->stop != NULL)
        event_free(w->stop);
    if (w->idle != NULL)
        event_free(w->idle);
    if (w->base != NULL) { /* else W was never initialised: all zero */
        if (w->stop_fd >= 0)
            close(w->stop_fd);
        if (w->idle_fd >= 0)
            close(w->idle_fd);
        event_base_free(w->base);
    }
    memset(w, 0, sizeof *w);
}
