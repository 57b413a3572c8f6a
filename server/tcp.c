/* tcp.c: the TCP thread: listeners, connections and its loop.  See tcp.h. */
#define _GNU_SOURCE
#include "tcp.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "bytes.h"
#include "log.h"
#include "sockets.h"
#include "tcpframe.h"
#include "view.h"
#include "xfrserve.h"

enum {
    TCP_MSGMAX = 65535,
    TCP_READ = 16384,          /* bytes per read() */
    TCP_UNREAD_MAX = 65536,    /* replies a client may leave unread (SPEC §4) */
    TCP_FLUSH = 16384,         /* write out mid-batch once this much is owed */
    TCP_UNSENT = 16384,        /* TCP_NOTSENT_LOWAT: the kernel's unsent share */
    TCP_PARTIAL_S = 2,         /* a started message must be complete within this */
    TCP_ACCEPTS = 32           /* accept()s per wake-up */
};

struct listener {
    struct tcp_thread *t;
    int fd;                    /* borrowed: main.c closes it */
    struct event ev;
};

struct tcp_conn {
    struct tcp_thread *t;
    int fd;
    unsigned eof : 1;     /* the client sent FIN: close once the replies are out */
    unsigned writing : 1; /* replies wait for the socket: ev_write on, ev_read off */
    struct tcpframe in;   /* queries not answered yet, and the 2 s of the one arriving */
    struct evbuffer *out; /* replies the socket has not taken yet */
    struct sockaddr_storage peer; /* the client (cookies: answer_env.peer) */
    struct event ev_read, ev_write, ev_timer;
    TAILQ_ENTRY(tcp_conn) lru;  /* by last activity */
    TAILQ_ENTRY(tcp_conn) age;  /* by arrival */
};

struct tcp_thread {
    unsigned id;
    struct event_base *base;   /* run only by the thread */
    int stop_fd;               /* eventfd: tcp_stop() writes to it */
    struct event *stop;
    int idle_fd;               /* timerfd: gives the snapshot up once batches stop */
    struct event *idle;
    int idle_armed;            /* idle_fd runs, every VIEW_HOLD_MS */
    int active;                /* a batch began in this period */
    struct view *view;
    struct answer_env env;     /* what the answers see (view_begin), keepalive set */
    struct stats st;
    struct xfr_pool *xfr;      /* transfer threads (xfrserve.h); NULL: none */
    unsigned nsocks, maxsocks;
    struct listener *sock;
    int pause_ready;                       /* accept_pause is assigned */
    TAILQ_HEAD(conn_list, tcp_conn) conns; /* least recently active first */
    struct conn_list by_age;               /* oldest first */
    unsigned tcp_max;                      /* the count is st.tcp_open */
    const struct timeval *idle_tv, *partial_tv; /* libevent common timeouts */
    struct event accept_pause;
    struct sock_backoff backoff;           /* accept failures (sockets.h) */
    char what[32];                         /* "worker N" in the back-off's log line */
    pthread_t thread;
    uint8_t rbuf[TCP_READ];
    uint8_t reply[2 + TCP_MSGMAX];
};

/* ---- the snapshot's idle timer ------------------------------------------ */

/* Start (ON) or stop the idle timer: a periodic timerfd, not a libevent
 * timer, which would cost every loop iteration a clock read and a heap
 * check (about 100 instructions); the timerfd costs one wake-up a period.
 * It ticks every VIEW_HOLD_MS from the batch that made the snapshot live
 * until the snapshot is given up; a batch costs it one flag store, not a
 * timer operation. */
static int set_idle(struct tcp_thread *t, int on)
{
    const struct timespec ts = { 0, on ? VIEW_HOLD_MS * 1000000L : 0 };
    const struct itimerspec its = { ts, ts };

    t->active = 0;
    if (timerfd_settime(t->idle_fd, 0, &its, NULL) != 0)
        return -1;
    t->idle_armed = on;
    return 0;
}

/* A batch began in the last period: the timer fires again one period
 * later.  None did: the thread is idle, and its snapshot goes.  (A timer
 * that cannot be stopped stays armed and is stopped at its next expiry.) */
static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_thread *t = arg;
    uint64_t expired;

    (void)what;
    if (read(fd, &expired, sizeof expired) < 0 && errno != EAGAIN)
        log_err("worker %u: idle timer: %s", t->id, strerror(errno));
    if (t->active && view_live(t->view)) {
        t->active = 0;
        return;
    }
    view_release(t->view);
    (void)set_idle(t, 0);
}

static void batch_begin(struct tcp_thread *t)
{
    view_begin(t->view, &t->env);
    t->env.now = (uint32_t)time(NULL); /* cookie timestamps */
    t->active = 1;
}

static void batch_end(struct tcp_thread *t)
{
    if (view_live(t->view) && !t->idle_armed && set_idle(t, 1) != 0)
        view_release(t->view); /* no timer, no holding across the wait */
    view_end(t->view);
}

/* ---- connections ----------------------------------------------------------- */

/* Forget C; its socket is closed unless a transfer thread took it. */
static void conn_free(struct tcp_conn *c, int close_fd)
{
    struct tcp_thread *t = c->t;

    event_del(&c->ev_read);
    event_del(&c->ev_write);
    event_del(&c->ev_timer);
    if (close_fd && close(c->fd) != 0)
        stats_add(&t->st.tcp_err, 1);
    tcpframe_free(&c->in);
    evbuffer_free(c->out);
    TAILQ_REMOVE(&t->conns, c, lru);
    TAILQ_REMOVE(&t->by_age, c, age);
    stats_add(&t->st.tcp_open, -1);
    free(c);
}

static void conn_close(struct tcp_conn *c)
{
    conn_free(c, 1);
}

/* A verified AXFR or IXFR is first in C's input and no reply is owed:
 * the connection, with its input, goes to a transfer thread (xfrserve.h)
 * and leaves this thread's cap.  1 (C is gone), or -1 to close it. */
static int conn_handoff(struct tcp_conn *c)
{
    size_t n;
    const uint8_t *in = tcpframe_held(&c->in, &n);

    if (in == NULL || xfr_pool_take(c->t->xfr, c->fd, in, n) != 0) {
        stats_add(&c->t->st.tcp_err, 1);
        return -1;
    }
    conn_free(c, 0);
    return 1;
}

/* Hand the owed replies to the socket.  0, or -1 when C must be closed:
 * the socket failed, or we hold 64 KiB of its replies.
 *
 * Backpressure is on input: while the socket refuses replies (WRITING),
 * C is not read and no more of its queries are answered, so a client that
 * pipelines faster than it reads is slowed by TCP flow control instead of
 * piling replies up here; what we hold stays under TCP_FLUSH plus a reply.
 * The send buffer is left to autotuning (a small fixed one starved clients
 * that read), but TCP_NOTSENT_LOWAT keeps the part the client's window has
 * not taken to about one segment, so a stalled client soon makes the socket
 * refuse.  Its replies stop moving, and the 2 s deadline conn_touch arms
 * while WRITING closes it: that is how a client leaving 64 KiB unread is
 * disconnected (SPEC §4).  Counting the kernel's share instead (SIOCOUTQ,
 * SIOCOUTQNSD) misjudges clients that read: on loopback it reaches 64-80 KB
 * from delayed ACKs, a window still growing, or one 64 KB segment. */
static int conn_flush(struct tcp_conn *c)
{
    size_t left = evbuffer_get_length(c->out);

    if (left > 0) {
        if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR)
            return -1;
        left = evbuffer_get_length(c->out);
    }
    if (left >= TCP_UNREAD_MAX) {
        stats_add(&c->t->st.tcp_overflow, 1);
        return -1;
    }
    if ((left > 0) != c->writing) {
        c->writing = left > 0;
        if (c->writing ? event_add(&c->ev_write, NULL) != 0 || event_del(&c->ev_read) != 0
                       : event_del(&c->ev_write) != 0 ||
                             (!c->eof && event_add(&c->ev_read, NULL) != 0))
            return -1;
    }
    return 0;
}

/* Activity: C becomes the most recently active connection, and its timer
 * is the one its input says (tcpframe_touch): the idle timeout, the 2 s
 * deadline of the message that started to arrive, or while WRITING the
 * 2 s the socket has to take some of the replies. */
static int conn_touch(struct tcp_conn *c)
{
    struct tcp_thread *t = c->t;

    TAILQ_REMOVE(&t->conns, c, lru);
    TAILQ_INSERT_TAIL(&t->conns, c, lru);
    switch (tcpframe_touch(&c->in, c->writing)) {
    case TCPFRAME_KEEP:
        return 0;
    case TCPFRAME_IDLE:
        return evtimer_add(&c->ev_timer, t->idle_tv);
    case TCPFRAME_DEADLINE:
        break;
    }
    return evtimer_add(&c->ev_timer, t->partial_tv);
}

/* Answer the complete messages in C's input, in order, each a batch of
 * one (answer_query) and all under one snapshot, until the socket refuses
 * replies; replies are queued with their length and written together.
 * A transfer waits until the replies before it are out, then is handed
 * off.  0, -1 when C must be closed, 1 when it was handed off. */
static int conn_answer(struct tcp_conn *c)
{
    struct tcp_thread *t = c->t;
    struct answer_info info;
    int began = 0, rc = 0;

    while (rc == 0 && !c->writing) {
        const uint8_t *m;
        size_t mlen;
        int fr = tcpframe_next(&c->in, &m, &mlen);
        if (fr == TCPFRAME_MORE)
            break;
        if (fr != TCPFRAME_MSG) {
            stats_add(&t->st.tcp_badlen, 1);
            rc = -1;
            break;
        }
        if (!began) {
            batch_begin(t);
            began = 1;
        }
        t->env.xfr_room = t->xfr != NULL && xfr_pool_room(t->xfr);
        t->env.peer = (const struct sockaddr *)&c->peer;
        size_t len = answer_query(&t->env, m, mlen, t->reply + 2, TCP_MSGMAX, ANSWER_TCP, &info);
        if (info.transfer) {
            rc = conn_flush(c);
            if (rc == 0 && !c->writing) {
                stats_count(&t->st, ANSWER_TCP, &info);
                batch_end(t);
                return conn_handoff(c);
            }
            break; /* answered again once the replies before it are out */
        }
        stats_count(&t->st, ANSWER_TCP, &info);
        tcpframe_drop(&c->in);
        if (len > 0) {
            put_be16(t->reply, (uint16_t)len);
            if (evbuffer_add(c->out, t->reply, 2 + len) != 0) {
                stats_add(&t->st.tcp_err, 1);
                rc = -1;
            }
        }
        if (rc == 0 && evbuffer_get_length(c->out) >= TCP_FLUSH)
            rc = conn_flush(c);
    }
    if (began)
        batch_end(t);
    return rc == 0 ? conn_flush(c) : rc;
}

static void conn_read(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *c = arg;
    struct tcp_thread *t = c->t;

    (void)what;
    ssize_t n = read(fd, t->rbuf, sizeof t->rbuf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == 0) {
        /* FIN: replies already owed still go out (RFC 7766 §6.2.4). */
        c->eof = 1;
        if (event_del(&c->ev_read) != 0 || !c->writing)
            conn_close(c);
        return;
    }
    /* The frame takes it: reads stop while replies wait, so what it holds
     * is at most a message's start and this read (tcpframe.h). */
    if (n < 0 || tcpframe_feed(&c->in, t->rbuf, (size_t)n) != 0) {
        conn_close(c);
        return;
    }
    int rc = conn_answer(c);
    if (rc == 1)
        return;
    if (rc != 0 || conn_touch(c) != 0)
        conn_close(c);
}

static void conn_write(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *c = arg;

    (void)fd;
    (void)what;
    /* Drained: the queries left waiting are answered before C is read. */
    int rc = conn_flush(c);
    if (rc == 0 && !c->writing)
        rc = conn_answer(c);
    if (rc == 1)
        return;
    if (rc != 0 || (c->eof && !c->writing) || conn_touch(c) != 0)
        conn_close(c);
}

static void conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *c = arg;

    (void)fd;
    (void)what;
    stats_add(c->writing ? &c->t->st.tcp_overflow : &c->t->st.tcp_timeouts, 1);
    conn_close(c);
}

/* At the cap (SPEC §4): close the longest-idle connection (nothing owed
 * either way); when every one has a message in flight or replies pending,
 * the one that has held its slot longest, so that clients which always
 * keep a query in flight cannot lock all others out.  0, or -1 when there
 * is no connection to close. */
static int conn_evict(struct tcp_thread *t)
{
    struct tcp_conn *c;

    TAILQ_FOREACH(c, &t->conns, lru) {
        if (!tcpframe_partial(&c->in) && !c->writing) {
            conn_close(c);
            stats_add(&t->st.tcp_evicted, 1);
            return 0;
        }
    }
    c = TAILQ_FIRST(&t->by_age);
    if (c == NULL)
        return -1;
    conn_close(c);
    stats_add(&t->st.tcp_evicted_busy, 1);
    return 0;
}

static int conn_open(struct tcp_thread *t, int fd)
{
    struct event_base *base = t->base;
    struct tcp_conn *c = calloc(1, sizeof *c);
    int unsent = TCP_UNSENT, on = 1;
    socklen_t plen = sizeof c->peer;

    if (c == NULL)
        return -1;
    c->t = t;
    c->fd = fd;
    if (getpeername(fd, (struct sockaddr *)&c->peer, &plen) != 0)
        c->peer.ss_family = AF_UNSPEC; /* a cookie then hashes no address */
    tcpframe_init(&c->in, TCP_MSGMAX, TCP_READ);
    c->out = evbuffer_new();
    /* Replies are whole messages written at once: no reason to wait for
     * the previous one's ACK (Nagle) before sending the next. */
    if (c->out == NULL ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent, sizeof unsent) != 0 ||
        event_assign(&c->ev_read, base, fd, EV_READ | EV_PERSIST, conn_read, c) != 0 ||
        event_assign(&c->ev_write, base, fd, EV_WRITE | EV_PERSIST, conn_write, c) != 0 ||
        evtimer_assign(&c->ev_timer, base, conn_timeout, c) != 0)
        goto fail;
    if (event_add(&c->ev_read, NULL) != 0)
        goto fail;
    if (evtimer_add(&c->ev_timer, t->idle_tv) != 0) {
        event_del(&c->ev_read);
        goto fail;
    }
    TAILQ_INSERT_TAIL(&t->conns, c, lru);
    TAILQ_INSERT_TAIL(&t->by_age, c, age);
    stats_add(&t->st.tcp_open, 1);
    stats_add(&t->st.tcp_conns, 1);
    return 0;
fail:
    if (c->out != NULL)
        evbuffer_free(c->out);
    free(c);
    return -1;
}

static void listeners_on(struct tcp_thread *t, int on)
{
    for (unsigned i = 0; i < t->nsocks; i++) {
        struct listener *l = &t->sock[i];
        if ((on ? event_add(&l->ev, NULL) : event_del(&l->ev)) != 0)
            stats_add(&t->st.tcp_err, 1);
    }
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    listeners_on(arg, 1);
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
    struct listener *l = arg;
    struct tcp_thread *t = l->t;
    struct stats *st = &t->st;
    struct timeval pause;

    (void)what;
    for (unsigned k = 0; k < TCP_ACCEPTS; k++) {
        int cfd = sock_accept(fd, &t->backoff, t->what, &pause);
        if (cfd == SOCK_ACCEPT_EMPTY)
            return;
        if (cfd < 0) {
            /* The connection waits in the listen queue meanwhile. */
            stats_add(cfd == SOCK_ACCEPT_SHORT ? &st->tcp_refused : &st->tcp_err, 1);
            listeners_on(t, 0);
            if (evtimer_add(&t->accept_pause, &pause) != 0)
                listeners_on(t, 1);
            return;
        }
        /* At the cap a connection is always closed to make room (conn_evict). */
        if (st->tcp_open >= t->tcp_max && conn_evict(t) != 0) {
            stats_add(&st->tcp_err, 1);
        } else if (conn_open(t, cfd) == 0) {
            continue;
        } else {
            stats_add(&st->tcp_err, 1);
        }
        if (close(cfd) != 0)
            stats_add(&st->tcp_err, 1);
    }
}

/* ---- the thread ------------------------------------------------------------ */

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_thread *t = arg;

    (void)fd;
    (void)what;
    if (event_base_loopbreak(t->base) != 0)
        log_err("worker %u: cannot stop its event loop", t->id);
}

/* An eventfd, not event_active(), stops the loop from another thread: the
 * base then needs no libevent locking, which costs every loop iteration
 * several mutex operations.  A write before the loop starts stays readable
 * until it runs.  Without a time cache, an iteration with no timer pending
 * reads no clock; only timers (connections) read it. */
int tcp_new(struct tcp_thread **out, unsigned id, unsigned nlisten, unsigned tcp_max,
            unsigned idle_s)
{
    struct timeval idle = { (time_t)idle_s, 0 }, partial = { TCP_PARTIAL_S, 0 };
    struct tcp_thread *t = calloc(1, sizeof *t);
    struct event_config *cfg;
    int rc = SPFDB_ENOMEM;

    if (t == NULL)
        return SPFDB_ENOMEM;
    t->id = id;
    snprintf(t->what, sizeof t->what, "worker %u (TCP)", id);
    t->stop_fd = t->idle_fd = -1;
    TAILQ_INIT(&t->conns);
    TAILQ_INIT(&t->by_age);
    t->tcp_max = tcp_max;
    t->env.tcp_idle_100ms = (uint16_t)(idle_s * 10);
    cfg = event_config_new();
    if (cfg == NULL)
        goto fail;
    if (event_config_set_flag(cfg, EVENT_BASE_FLAG_NO_CACHE_TIME) == 0)
        t->base = event_base_new_with_config(cfg);
    t->maxsocks = nlisten;
    t->sock = calloc(nlisten, sizeof *t->sock);
    if (t->base == NULL || t->sock == NULL)
        goto fail;
    t->idle_tv = event_base_init_common_timeout(t->base, &idle);
    t->partial_tv = event_base_init_common_timeout(t->base, &partial);
    if (t->idle_tv == NULL || t->partial_tv == NULL ||
        evtimer_assign(&t->accept_pause, t->base, accept_resume, t) != 0)
        goto fail;
    t->pause_ready = 1;
    rc = SPFDB_EIO;
    t->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t->idle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->stop_fd < 0 || t->idle_fd < 0)
        goto fail;
    rc = SPFDB_ENOMEM;
    t->stop = event_new(t->base, t->stop_fd, EV_READ, stop_cb, t);
    t->idle = event_new(t->base, t->idle_fd, EV_READ | EV_PERSIST, idle_cb, t);
    if (t->stop == NULL || t->idle == NULL || event_add(t->stop, NULL) != 0 ||
        event_add(t->idle, NULL) != 0)
        goto fail;
    event_config_free(cfg);
    *out = t;
    return 0;
fail:
    if (cfg != NULL)
        event_config_free(cfg);
    tcp_free(t);
    return rc;
}

int tcp_listen(struct tcp_thread *t, int fd, const char *name, char *err, size_t errcap)
{
    struct listener *l = &t->sock[t->nsocks];

    if (t->nsocks == t->maxsocks ||
        event_assign(&l->ev, t->base, fd, EV_READ | EV_PERSIST, accept_cb, l) != 0) {
        snprintf(err, errcap, "cannot listen on %s: libevent failed", name);
        return -1;
    }
    l->t = t;
    l->fd = fd;
    t->nsocks++;
    if (event_add(&l->ev, NULL) != 0) {
        snprintf(err, errcap, "cannot listen on %s: libevent failed", name);
        return -1;
    }
    return 0;
}

void tcp_set_cookies(struct tcp_thread *t, const struct cookie_secrets *cookies)
{
    t->env.cookies = cookies;
}

void tcp_set_xfr(struct tcp_thread *t, struct xfr_pool *pool)
{
    t->xfr = pool;
}

int tcp_open(struct tcp_thread *t, spfdb_env *env)
{
    return view_open(&t->view, env, t->id, &t->st);
}

static void *run(void *arg)
{
    struct tcp_thread *t = arg;

    if (event_base_dispatch(t->base) < 0)
        log_err("worker %u: event loop failed", t->id);
    view_release(t->view); /* on this thread: it holds the env's remap lock */
    return NULL;
}

int tcp_start(struct tcp_thread *t)
{
    return pthread_create(&t->thread, NULL, run, t);
}

void tcp_stop(struct tcp_thread *t)
{
    uint64_t one = 1;

    if (write(t->stop_fd, &one, sizeof one) != sizeof one)
        log_err("worker %u: cannot stop it: %s", t->id, strerror(errno));
}

void tcp_join(struct tcp_thread *t)
{
    int rc = pthread_join(t->thread, NULL);

    if (rc != 0)
        log_err("worker %u: pthread_join: %s", t->id, strerror(rc));
}

void tcp_free(struct tcp_thread *t)
{
    if (t == NULL)
        return;
    while (!TAILQ_EMPTY(&t->conns))
        conn_close(TAILQ_FIRST(&t->conns));
    if (t->pause_ready)
        event_del(&t->accept_pause);
    for (unsigned i = 0; i < t->nsocks; i++)
        event_del(&t->sock[i].ev);
    free(t->sock);
    view_close(t->view);
    if (t->stop != NULL)
        event_free(t->stop);
    if (t->idle != NULL)
        event_free(t->idle);
    if (t->stop_fd >= 0)
        close(t->stop_fd);
    if (t->idle_fd >= 0)
        close(t->idle_fd);
    if (t->base != NULL)
        event_base_free(t->base);
    free(t);
}

const struct stats *tcp_stats(const struct tcp_thread *t)
{
    return &t->st;
}
