/* udp.c: a UDP worker's batches and thread.  See udp.h. */
#define _GNU_SOURCE
#include "udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "log.h"
#include "rrl.h"
#include "view.h"

enum {
    UDP_BATCH = 64,            /* datagrams per recvmmsg and sendmmsg */
    UDP_WAIT_IDLE_MS = 1000,   /* the stop flag is seen this often at least, idle */
    UDP_RXSIZE = 65535,        /* any datagram: a large query is still a query */
    UDP_RXSTRIDE = 65536 + 64, /* so the slots start in different cache sets */
    UDP_TXSIZE = 1232          /* SPEC §4: no UDP reply is larger */
};

union ctlbuf {
    struct cmsghdr align;
    uint8_t buf[2 * CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* Slot i holds a datagram, its sender, its control data (wildcard
 * addresses only), its query's answer_msg and its reply, and tx[i] is
 * armed once to send that reply, so a batch writes only the query's and
 * the reply's length and the sender's address length per datagram.
 * recvmmsg writes msg_namelen and msg_controllen back, so a slot is
 * re-armed as soon as its datagram is answered.  A batch that dropped a
 * query (tx[] then lists the replies to send, in order) or set a reply's
 * source address re-arms the tx slots it used. */
struct udp_worker {
    unsigned id;
    int fd;                    /* borrowed: main.c closes it */
    int wildcard;              /* the reply needs the query's destination address */
    int wait_ms;               /* SO_RCVTIMEO now; 0: none */
    int stopping;              /* set by udp_stop() (atomic access) */
    struct view *view;
    struct answer_env env;     /* what this worker's answers see (view_begin) */
    struct stats st;
    pthread_t thread;
    struct mmsghdr rx[UDP_BATCH], tx[UDP_BATCH];
    struct iovec rxiov[UDP_BATCH], txiov[UDP_BATCH];
    struct sockaddr_storage peer[UDP_BATCH];
    union ctlbuf ctl[UDP_BATCH];
    struct answer_msg msg[UDP_BATCH];
    uint8_t rxbuf[UDP_BATCH][UDP_RXSTRIDE]; /* untouched pages stay unmapped */
    uint8_t txbuf[UDP_BATCH][UDP_TXSIZE];
};

_Static_assert(UDP_BATCH <= SPFDB_MANY_MAX, "one spfdb_covers_many a batch");

/* Make the reply leave from the address the query was sent to.  The
 * ifindex is cleared so the routing table, not the arrival interface,
 * picks the way out, except for link-local addresses, which need it. */
static void reply_from(struct msghdr *rx, struct msghdr *tx)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(rx); cm != NULL; cm = CMSG_NXTHDR(rx, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            pi.ipi_spec_dst = pi.ipi_addr;
            pi.ipi_ifindex = 0;
            memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
                pi.ipi6_ifindex = 0;
            memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        } else {
            continue;
        }
        tx->msg_control = cm;
        tx->msg_controllen = cm->cmsg_len;
        return;
    }
}

/* glibc's recvmmsg and sendmmsg are cancellation points: in a threaded
 * process each call is bracketed by two atomic updates of the thread's
 * cancellation state.  No worker is ever cancelled, so call the kernel
 * directly.  The receive blocks for the first datagram only (at most the
 * socket's SO_RCVTIMEO), then takes what else is queued; the send never
 * blocks. */
static int udp_recvmmsg(int fd, struct mmsghdr *m, unsigned n)
{
    return (int)syscall(SYS_recvmmsg, fd, m, n, MSG_WAITFORONE, NULL);
}

static int udp_sendmmsg(int fd, struct mmsghdr *m, unsigned n)
{
    return (int)syscall(SYS_sendmmsg, fd, m, n, MSG_DONTWAIT);
}

static void udp_send(struct udp_worker *u, unsigned n)
{
    struct stats *st = &u->st;

    for (unsigned off = 0; off < n;) {
        int sent = udp_sendmmsg(u->fd, u->tx + off, n - off);
        if (sent > 0) {
            off += (unsigned)sent;
            stats_add(&st->udp_tx, (unsigned)sent);
        } else if (sent < 0 && errno == EINTR) {
            continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            stats_add(&st->udp_txdrop, n - off); /* never block the worker on a full buffer */
            return;
        } else {
            stats_add(&st->udp_txerr, 1); /* this reply cannot go: skip it */
            off++;
        }
    }
}

/* Arm tx slots FROM..TO-1 to send their own slot's reply to its sender. */
static void udp_arm_tx(struct udp_worker *u, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        struct msghdr *o = &u->tx[i].msg_hdr;
        o->msg_name = &u->peer[i];
        o->msg_iov = &u->txiov[i];
        o->msg_iovlen = 1;
        o->msg_control = NULL;
        o->msg_controllen = 0;
        o->msg_flags = 0;
    }
}

/* How long the next receive may wait: VIEW_HOLD_MS while the worker holds
 * a snapshot (view.h), else long, only so that the stop flag is looked at
 * even if udp_stop could not wake it.  One
 * setsockopt when the worker goes from busy to idle or back, none per
 * batch. */
static int udp_wait(struct udp_worker *u, int ms)
{
    const struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    if (u->wait_ms == ms)
        return 0;
    if (setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return -1;
    u->wait_ms = ms;
    return 0;
}

/* Answer one batch of N datagrams under one snapshot: answer_batch makes
 * their lookups together, so that their memory reads overlap. */
static void udp_batch(struct udp_worker *u, unsigned n)
{
    unsigned nout = 0;
    struct timespec ts;

    view_begin(u->view, &u->env);
    /* Coarse clocks (the last tick, no hardware read): seconds for cookie
     * timestamps; milliseconds, only when limiting, for the buckets. */
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0)
        u->env.now = (uint32_t)ts.tv_sec;
    if (u->env.rrl != NULL && clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0)
        u->env.now_ms = (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
    for (unsigned i = 0; i < n; i++)
        u->msg[i].qlen = u->rx[i].msg_len;
    answer_batch(&u->env, ANSWER_UDP, u->msg, n);
    for (unsigned i = 0; i < n; i++) {
        struct msghdr *h = &u->rx[i].msg_hdr, *o = &u->tx[i].msg_hdr;
        size_t len = u->msg[i].len;
        stats_count(&u->st, ANSWER_UDP, &u->msg[i].info);
        u->txiov[i].iov_len = len;
        o->msg_namelen = h->msg_namelen;
        h->msg_namelen = sizeof u->peer[i];
        if (u->wildcard) {
            reply_from(h, o);
            h->msg_controllen = sizeof u->ctl[i].buf;
        }
        if (len == 0)
            continue;
        if (nout != i)
            u->tx[nout].msg_hdr = *o;
        nout++;
    }
    view_end(u->view);
    udp_send(u, nout);
    if (nout != n || u->wildcard)
        udp_arm_tx(u, 0, n);
}

static int stopping(const struct udp_worker *u)
{
    return __atomic_load_n(&u->stopping, __ATOMIC_RELAXED);
}

static void *run(void *arg)
{
    struct udp_worker *u = arg;

    if (udp_wait(u, UDP_WAIT_IDLE_MS) != 0)
        log_warn("worker %u: cannot set a receive timeout: %s", u->id, strerror(errno));
    while (!stopping(u)) {
        int n = udp_recvmmsg(u->fd, u->rx, UDP_BATCH);
        if (stopping(u))
            break;
        if (n > 0) {
            udp_batch(u, (unsigned)n);
            /* A wait without its bound would hold the snapshot across it. */
            if (view_live(u->view) && udp_wait(u, VIEW_HOLD_MS) != 0)
                view_release(u->view);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            view_release(u->view); /* VIEW_HOLD_MS without a query */
            (void)udp_wait(u, UDP_WAIT_IDLE_MS); /* else the short wait stays: harmless */
        } else if (n < 0 && errno != EINTR) {
            stats_add(&u->st.udp_rxerr, 1);
        }
    }
    view_release(u->view); /* on this thread: it holds the env's remap lock */
    return NULL;
}

int udp_new(struct udp_worker **out, unsigned id, int fd, int wildcard)
{
    struct udp_worker *u = calloc(1, sizeof *u);

    if (u == NULL)
        return SPFDB_ENOMEM;
    u->id = id;
    u->fd = fd;
    u->wildcard = wildcard;
    for (unsigned i = 0; i < UDP_BATCH; i++) {
        struct msghdr *h = &u->rx[i].msg_hdr;
        u->rxiov[i].iov_base = u->rxbuf[i];
        u->rxiov[i].iov_len = UDP_RXSIZE;
        h->msg_name = &u->peer[i];
        h->msg_namelen = sizeof u->peer[i];
        h->msg_iov = &u->rxiov[i];
        h->msg_iovlen = 1;
        if (u->wildcard) {
            h->msg_control = u->ctl[i].buf;
            h->msg_controllen = sizeof u->ctl[i].buf;
        }
        u->txiov[i].iov_base = u->txbuf[i];
        u->msg[i].q = u->rxbuf[i];
        u->msg[i].out = u->txbuf[i];
        u->msg[i].cap = UDP_TXSIZE;
        u->msg[i].peer = (const struct sockaddr *)&u->peer[i];
    }
    udp_arm_tx(u, 0, UDP_BATCH);
    *out = u;
    return 0;
}

int udp_open(struct udp_worker *u, spfdb_env *env)
{
    return view_open(&u->view, env, u->id, &u->st);
}

int udp_start(struct udp_worker *u)
{
    return pthread_create(&u->thread, NULL, run, u);
}

/* shutdown() of an unconnected UDP socket fails with ENOTCONN, but marks
 * it shut for reading first and wakes its waiting receiver, which then
 * sees the stop flag; at worst the receive timeout does. */
void udp_stop(struct udp_worker *u)
{
    __atomic_store_n(&u->stopping, 1, __ATOMIC_RELAXED);
    if (shutdown(u->fd, SHUT_RD) != 0 && errno != ENOTCONN)
        log_warn("worker %u: cannot wake it: %s", u->id, strerror(errno));
}

void udp_join(struct udp_worker *u)
{
    int rc = pthread_join(u->thread, NULL);

    if (rc != 0)
        log_err("worker %u: pthread_join: %s", u->id, strerror(rc));
}

void udp_set_defences(struct udp_worker *u, const struct cookie_secrets *cookies,
                      struct rrl *rrl)
{
    u->env.cookies = cookies;
    u->env.rrl = rrl;
}

void udp_free(struct udp_worker *u)
{
    if (u == NULL)
        return;
    view_close(u->view);
    rrl_free(u->env.rrl);
    free(u);
}

const struct stats *udp_stats(const struct udp_worker *u)
{
    return &u->st;
}

unsigned udp_zone_count(const struct udp_worker *u)
{
    return view_zone_count(u->view);
}
