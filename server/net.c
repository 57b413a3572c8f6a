/* net.c: UDP batches and TCP connections for the workers.  See net.h. */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "worker.h"

enum {
    UDP_BATCH = 64,            /* datagrams per recvmmsg and sendmmsg */
    UDP_WAIT_IDLE_MS = 1000,   /* the stop flag is seen this often at least, idle */
    UDP_RXSIZE = 65535,        /* any datagram: a large query is still a query */
    UDP_RXSTRIDE = 65536 + 64, /* so the slots start in different cache sets */
    UDP_TXSIZE = 1232,         /* SPEC §4: no UDP reply is larger */
    UDP_RCVBUF = 4 << 20,      /* asked for; the kernel caps it at net.core.rmem_max */
    TCP_MSGMAX = 65535,
    TCP_READ = 16384,          /* bytes per read() */
    TCP_UNREAD_MAX = 65536,    /* replies a client may leave unread (SPEC §4) */
    TCP_FLUSH = 16384,         /* write out mid-batch once this much is owed */
    TCP_UNSENT = 16384,        /* TCP_NOTSENT_LOWAT: the kernel's unsent share */
    TCP_PARTIAL_S = 2,         /* a started message must be complete within this */
    TCP_ACCEPTS = 32,          /* accept()s per wake-up */
    TCP_PAUSE_MS = 100         /* accepting stops this long when out of descriptors */
};

union ctlbuf {
    struct cmsghdr align;
    uint8_t buf[2 * CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* A TCP listener of the TCP worker. */
struct listener {
    struct net_tcp *nt;
    int fd;
    struct event ev;
};

struct tcp_conn {
    struct net_tcp *nt;
    int fd;
    unsigned partial : 1; /* part of a message is here: the 2 s deadline runs */
    unsigned eof : 1;     /* the client sent FIN: close once the replies are out */
    unsigned writing : 1; /* replies wait for the socket: ev_write on, ev_read off */
    struct evbuffer *in;  /* queries not answered yet (at most one read's worth) */
    struct evbuffer *out; /* replies the socket has not taken yet */
    struct event ev_read, ev_write, ev_timer;
    TAILQ_ENTRY(tcp_conn) lru;
};

/* A UDP worker's socket.  Slot i holds a datagram, its sender, its control
 * data (wildcard addresses only) and its reply, and tx[i] is armed once to
 * send that reply, so a batch writes only the reply's length and the
 * sender's address length per datagram.  recvmmsg writes msg_namelen and
 * msg_controllen back, so a slot is re-armed as soon as its datagram is
 * answered.  A batch that dropped a query (tx[] then lists the replies to
 * send, in order) or set a reply's source address re-arms the tx slots it
 * used. */
struct net_udp {
    struct worker *w;
    int fd;
    int wildcard; /* the reply needs the query's destination address */
    int wait_ms;  /* SO_RCVTIMEO now; 0: none */
    struct mmsghdr rx[UDP_BATCH], tx[UDP_BATCH];
    struct iovec rxiov[UDP_BATCH], txiov[UDP_BATCH];
    struct sockaddr_storage peer[UDP_BATCH];
    union ctlbuf ctl[UDP_BATCH];
    uint8_t rxbuf[UDP_BATCH][UDP_RXSTRIDE]; /* untouched pages stay unmapped */
    uint8_t txbuf[UDP_BATCH][UDP_TXSIZE];
    struct answer_state as[UDP_BATCH]; /* a batch's queries, decided up to the lookup */
    struct spfdb_query look[UDP_BATCH]; /* ... and their lookups, done together */
};

_Static_assert(UDP_BATCH <= SPFDB_MANY_MAX, "one spfdb_covers_many a batch");

struct net_tcp {
    struct worker *w;
    unsigned nsocks;
    struct listener *sock;
    int pause_ready;                       /* accept_pause is assigned */
    TAILQ_HEAD(conn_list, tcp_conn) conns; /* least recently active first */
    unsigned tcp_max;                      /* the count is w->st.tcp_open */
    const struct timeval *idle_tv, *partial_tv; /* libevent common timeouts */
    struct event accept_pause;
    uint8_t rbuf[TCP_READ];
    uint8_t reply[2 + TCP_MSGMAX];
};

/* ---- addresses and sockets --------------------------------------------- */

int net_addr_parse(const char *s, struct net_addr *out)
{
    struct addrinfo hints, *ai;
    const char *host = s, *port = NULL, *colon = strchr(s, ':');
    char buf[INET6_ADDRSTRLEN + 32], name[INET6_ADDRSTRLEN + 32];
    size_t hlen = strlen(s);
    unsigned long p = 53;

    memset(&hints, 0, sizeof hints);
    memset(out, 0, sizeof *out);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return -1;
        host = s + 1;
        hlen = (size_t)(end - host);
        port = end[1] == ':' ? end + 2 : NULL;
        hints.ai_family = AF_INET6;
    } else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        hlen = (size_t)(colon - s);
        port = colon + 1;
        hints.ai_family = AF_INET;
    }
    if (hlen == 0 || hlen >= sizeof buf)
        return -1;
    memcpy(buf, host, hlen);
    buf[hlen] = '\0';
    if (port != NULL) {
        char *end;
        if (port[0] < '0' || port[0] > '9')
            return -1;
        p = strtoul(port, &end, 10);
        if (*end != '\0' || p == 0 || p > 65535)
            return -1;
    }
    hints.ai_flags = AI_NUMERICHOST;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(buf, NULL, &hints, &ai) != 0)
        return -1;
    if (ai->ai_addrlen > sizeof out->ss) {
        freeaddrinfo(ai);
        return -1;
    }
    memcpy(&out->ss, ai->ai_addr, ai->ai_addrlen);
    out->len = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (out->ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
        sin->sin_port = htons((uint16_t)p);
        out->wildcard = sin->sin_addr.s_addr == htonl(INADDR_ANY);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
        sin6->sin6_port = htons((uint16_t)p);
        out->wildcard = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
    }
    if (getnameinfo((struct sockaddr *)&out->ss, out->len, name, sizeof name, NULL, 0,
                    NI_NUMERICHOST) != 0)
        return -1;
    snprintf(out->text, sizeof out->text, out->ss.ss_family == AF_INET ? "%s:%lu" : "[%s]:%lu",
             name, p);
    return 0;
}

static int opt_on(int fd, int level, int name)
{
    int on = 1;

    return setsockopt(fd, level, name, &on, sizeof on);
}

/* SHARED: one of spfdbd's own sockets (SO_REUSEPORT, listening, options for
 * replies); else the probe of net_addr_check, or the metrics listener. */
static int sock_open(const struct net_addr *a, int type, int shared, char *err, size_t errcap)
{
    int v6 = a->ss.ss_family == AF_INET6, udp = type == SOCK_DGRAM, rcvbuf = UDP_RCVBUF;
    int pmtu4 = IP_PMTUDISC_PROBE, pmtu6 = IPV6_PMTUDISC_PROBE;
    /* A UDP worker blocks in recvmmsg: its socket alone is blocking. */
    int fd = socket(a->ss.ss_family, type | (shared && udp ? 0 : SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
    const char *step = "socket: ";

    if (fd < 0)
        goto fail;
    step = "setsockopt: ";
    if ((shared && opt_on(fd, SOL_SOCKET, SO_REUSEPORT) != 0) ||
        (!udp && opt_on(fd, SOL_SOCKET, SO_REUSEADDR) != 0) ||
        (v6 && opt_on(fd, IPPROTO_IPV6, IPV6_V6ONLY) != 0))
        goto fail;
    if (shared && udp && a->wildcard &&
        opt_on(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO) != 0)
        goto fail;
    if (shared && udp && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0)
        goto fail;
    /* Replies leave unfragmented (RFC 9715: DF set on IPv4, which also
     * spares the kernel an IP ID per datagram) at up to the interface's
     * MTU, whatever path MTU an ICMP message, forged or not, claims. */
    if (shared && udp &&
        setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER,
                   v6 ? &pmtu6 : &pmtu4, sizeof pmtu4) != 0)
        goto fail;
    step = "";
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
        goto fail;
    step = "listen: ";
    if (shared && !udp && listen(fd, SOMAXCONN) != 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errcap, "cannot listen on %s (%s): %s%s", a->text, udp ? "udp" : "tcp", step,
             strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int net_listen(const struct net_addr *a, char *err, size_t errcap)
{
    int fd = sock_open(a, SOCK_STREAM, 0, err, errcap);

    if (fd >= 0 && listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errcap, "cannot listen on %s (tcp): listen: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int net_addr_check(const struct net_addr *a, char *err, size_t errcap)
{
    static const int types[] = { SOCK_DGRAM, SOCK_STREAM };

    for (unsigned i = 0; i < 2; i++) {
        int fd = sock_open(a, types[i], 0, err, errcap);
        if (fd < 0 || close(fd) != 0)
            return -1;
    }
    return 0;
}

/* ---- UDP --------------------------------------------------------------- */

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

static void udp_send(struct net_udp *u, unsigned n)
{
    struct worker_stats *st = &u->w->st;

    for (unsigned off = 0; off < n;) {
        int sent = udp_sendmmsg(u->fd, u->tx + off, n - off);
        if (sent > 0) {
            off += (unsigned)sent;
            stat_add(&st->udp_tx, (unsigned)sent);
        } else if (sent < 0 && errno == EINTR) {
            continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            stat_add(&st->udp_txdrop, n - off); /* never block the worker on a full buffer */
            return;
        } else {
            stat_add(&st->udp_txerr, 1); /* this reply cannot go: skip it */
            off++;
        }
    }
}

/* Arm tx slots FROM..TO-1 to send their own slot's reply to its sender. */
static void udp_arm_tx(struct net_udp *u, unsigned from, unsigned to)
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

/* How long the next receive may wait: WORKER_IDLE_MS while the worker
 * holds a snapshot (spfdb.h's bounded hold), else long, only so that the
 * stop flag is looked at even if net_udp_wake could not wake it.  One
 * setsockopt when the worker goes from busy to idle or back, none per
 * batch. */
static int udp_wait(struct net_udp *u, int ms)
{
    const struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    if (u->wait_ms == ms)
        return 0;
    if (setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return -1;
    u->wait_ms = ms;
    return 0;
}

/* Answer one batch of N datagrams under one snapshot.  The lookups are
 * made together, between deciding and writing the replies, so that their
 * memory reads overlap (spfdb_covers_many). */
static void udp_batch(struct net_udp *u, unsigned n)
{
    struct worker *w = u->w;
    struct answer_info info;
    unsigned nout = 0, nlook = 0;

    worker_batch_begin(w);
    for (unsigned i = 0; i < n; i++) {
        struct answer_state *s = &u->as[i];
        if (answer_begin(&w->aenv, u->rxbuf[i], u->rx[i].msg_len, ANSWER_UDP, s)) {
            struct spfdb_query *l = &u->look[nlook++];
            l->alloc_id = s->alloc;
            l->family = s->family;
            memcpy(l->addr, s->addr, sizeof l->addr);
        }
    }
    worker_covers_many(w, u->look, nlook);
    nlook = 0;
    for (unsigned i = 0; i < n; i++) {
        struct msghdr *h = &u->rx[i].msg_hdr, *o = &u->tx[i].msg_hdr;
        int listed = u->as[i].lookup ? u->look[nlook++].result : 0;
        size_t len = answer_end(&w->aenv, &u->as[i], listed, u->txbuf[i], UDP_TXSIZE, &info);
        worker_count(w, ANSWER_UDP, &info);
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
    worker_batch_end(w);
    udp_send(u, nout);
    if (nout != n || u->wildcard)
        udp_arm_tx(u, 0, n);
}

void net_udp_run(struct worker *w)
{
    struct net_udp *u = w->udp;

    if (udp_wait(u, UDP_WAIT_IDLE_MS) != 0)
        log_warn("worker %u: cannot set a receive timeout: %s", w->id, strerror(errno));
    while (!worker_stopping(w)) {
        int n = udp_recvmmsg(u->fd, u->rx, UDP_BATCH);
        if (worker_stopping(w))
            break;
        if (n > 0) {
            udp_batch(u, (unsigned)n);
            /* A wait without its bound would hold the snapshot across it. */
            if (w->txn_live && udp_wait(u, WORKER_IDLE_MS) != 0)
                worker_idle(w);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            worker_idle(w); /* WORKER_IDLE_MS without a query */
            (void)udp_wait(u, UDP_WAIT_IDLE_MS); /* else the short wait stays: harmless */
        } else if (n < 0 && errno != EINTR) {
            stat_add(&w->st.udp_rxerr, 1);
        }
    }
}

/* shutdown() of an unconnected UDP socket fails with ENOTCONN, but marks
 * it shut for reading first and wakes its waiting receiver, which then
 * sees the stop flag; at worst the receive timeout does. */
void net_udp_wake(struct worker *w)
{
    if (w->udp != NULL && shutdown(w->udp->fd, SHUT_RD) != 0 && errno != ENOTCONN)
        log_warn("worker %u: cannot wake it: %s", w->id, strerror(errno));
}

int net_udp_new(struct worker *w, const struct net_addr *a, char *err, size_t errcap)
{
    struct net_udp *u = calloc(1, sizeof *u);

    if (u == NULL) {
        snprintf(err, errcap, "worker %u: out of memory", w->id);
        return -1;
    }
    w->udp = u;
    u->w = w;
    u->wildcard = a->wildcard;
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
    }
    udp_arm_tx(u, 0, UDP_BATCH);
    u->fd = sock_open(a, SOCK_DGRAM, 1, err, errcap);
    return u->fd < 0 ? -1 : 0;
}

void net_udp_free(struct worker *w)
{
    if (w->udp == NULL)
        return;
    if (w->udp->fd >= 0)
        close(w->udp->fd);
    free(w->udp);
    w->udp = NULL;
}

/* ---- TCP --------------------------------------------------------------- */

static void tcp_close(struct tcp_conn *c)
{
    struct net_tcp *nt = c->nt;

    event_del(&c->ev_read);
    event_del(&c->ev_write);
    event_del(&c->ev_timer);
    if (close(c->fd) != 0)
        stat_add(&nt->w->st.tcp_err, 1);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    TAILQ_REMOVE(&nt->conns, c, lru);
    stat_add(&nt->w->st.tcp_open, -1);
    free(c);
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
 * refuse.  Its replies stop moving, and the 2 s deadline tcp_touch arms
 * while WRITING closes it: that is how a client leaving 64 KiB unread is
 * disconnected (SPEC §4).  Counting the kernel's share instead (SIOCOUTQ,
 * SIOCOUTQNSD) misjudges clients that read: on loopback it reaches 64-80 KB
 * from delayed ACKs, a window still growing, or one 64 KB segment. */
static int tcp_flush(struct tcp_conn *c)
{
    size_t left = evbuffer_get_length(c->out);

    if (left > 0) {
        if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR)
            return -1;
        left = evbuffer_get_length(c->out);
    }
    if (left >= TCP_UNREAD_MAX) {
        stat_add(&c->nt->w->st.tcp_overflow, 1);
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
 * is the idle timeout, the 2 s deadline of the message that started to
 * arrive (STARTED: a message completed, so what is left began just now),
 * or while WRITING the 2 s the socket has to take some of the replies. */
static int tcp_touch(struct tcp_conn *c, int started)
{
    struct net_tcp *nt = c->nt;

    TAILQ_REMOVE(&nt->conns, c, lru);
    TAILQ_INSERT_TAIL(&nt->conns, c, lru);
    if (c->writing) {
        c->partial = 0;
        return evtimer_add(&c->ev_timer, nt->partial_tv);
    }
    if (evbuffer_get_length(c->in) == 0) {
        c->partial = 0;
        return evtimer_add(&c->ev_timer, nt->idle_tv);
    }
    if (c->partial && !started)
        return 0;
    c->partial = 1;
    return evtimer_add(&c->ev_timer, nt->partial_tv);
}

/* Answer the complete messages in C's input, in order, under one
 * snapshot, until the socket refuses replies; replies are queued with
 * their length and written together.  0, or -1 when C must be closed. */
static int tcp_answer(struct tcp_conn *c, int *done)
{
    struct net_tcp *nt = c->nt;
    struct worker *w = nt->w;
    struct answer_info info;
    uint8_t hdr[2];
    int began = 0, rc = 0;

    while (rc == 0 && !c->writing && evbuffer_copyout(c->in, hdr, 2) == 2) {
        size_t mlen = (size_t)hdr[0] << 8 | hdr[1];
        if (mlen == 0) {
            stat_add(&w->st.tcp_badlen, 1);
            rc = -1;
            break;
        }
        if (evbuffer_get_length(c->in) < 2 + mlen)
            break;
        if (!began) {
            worker_batch_begin(w);
            began = 1;
        }
        const uint8_t *m = evbuffer_pullup(c->in, (ev_ssize_t)(2 + mlen));
        if (m == NULL) {
            stat_add(&w->st.tcp_err, 1);
            rc = -1;
            break;
        }
        size_t len = answer_query(&w->aenv, m + 2, mlen, nt->reply + 2, TCP_MSGMAX, ANSWER_TCP,
                                  &info);
        worker_count(w, ANSWER_TCP, &info);
        *done = 1;
        if (evbuffer_drain(c->in, 2 + mlen) != 0)
            rc = -1;
        if (rc == 0 && len > 0) {
            nt->reply[0] = (uint8_t)(len >> 8);
            nt->reply[1] = (uint8_t)len;
            if (evbuffer_add(c->out, nt->reply, 2 + len) != 0) {
                stat_add(&w->st.tcp_err, 1);
                rc = -1;
            }
        }
        if (rc == 0 && evbuffer_get_length(c->out) >= TCP_FLUSH)
            rc = tcp_flush(c);
    }
    if (began)
        worker_batch_end(w);
    return rc == 0 ? tcp_flush(c) : rc;
}

static void tcp_read(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *c = arg;
    struct net_tcp *nt = c->nt;
    int done = 0;

    (void)what;
    ssize_t n = read(fd, nt->rbuf, sizeof nt->rbuf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == 0) {
        /* FIN: replies already owed still go out (RFC 7766 §6.2.4). */
        c->eof = 1;
        if (event_del(&c->ev_read) != 0 || !c->writing)
            tcp_close(c);
        return;
    }
    if (n < 0 || evbuffer_add(c->in, nt->rbuf, (size_t)n) != 0 || tcp_answer(c, &done) != 0 ||
        tcp_touch(c, done) != 0)
        tcp_close(c);
}

static void tcp_write(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *c = arg;
    int done = 0;

    (void)fd;
    (void)what;
    /* Drained: the queries left waiting are answered before C is read. */
    if (tcp_flush(c) != 0 || (!c->writing && tcp_answer(c, &done) != 0) ||
        (c->eof && !c->writing) || tcp_touch(c, done) != 0)
        tcp_close(c);
}

static void tcp_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *c = arg;

    (void)fd;
    (void)what;
    stat_add(c->writing ? &c->nt->w->st.tcp_overflow : &c->nt->w->st.tcp_timeouts, 1);
    tcp_close(c);
}

/* At the cap: close the longest-idle connection (nothing owed either way),
 * or say there is none. */
static int tcp_evict(struct net_tcp *nt)
{
    struct tcp_conn *c;

    TAILQ_FOREACH(c, &nt->conns, lru) {
        if (!c->partial && !c->writing) {
            tcp_close(c);
            stat_add(&nt->w->st.tcp_evicted, 1);
            return 1;
        }
    }
    return 0;
}

static int tcp_open(struct net_tcp *nt, int fd)
{
    struct event_base *base = nt->w->base;
    struct tcp_conn *c = calloc(1, sizeof *c);
    int unsent = TCP_UNSENT;

    if (c == NULL)
        return -1;
    c->nt = nt;
    c->fd = fd;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    /* Replies are whole messages written at once: no reason to wait for
     * the previous one's ACK (Nagle) before sending the next. */
    if (c->in == NULL || c->out == NULL || opt_on(fd, IPPROTO_TCP, TCP_NODELAY) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent, sizeof unsent) != 0 ||
        event_assign(&c->ev_read, base, fd, EV_READ | EV_PERSIST, tcp_read, c) != 0 ||
        event_assign(&c->ev_write, base, fd, EV_WRITE | EV_PERSIST, tcp_write, c) != 0 ||
        evtimer_assign(&c->ev_timer, base, tcp_timeout, c) != 0)
        goto fail;
    if (event_add(&c->ev_read, NULL) != 0)
        goto fail;
    if (evtimer_add(&c->ev_timer, nt->idle_tv) != 0) {
        event_del(&c->ev_read);
        goto fail;
    }
    TAILQ_INSERT_TAIL(&nt->conns, c, lru);
    stat_add(&nt->w->st.tcp_open, 1);
    stat_add(&nt->w->st.tcp_conns, 1);
    return 0;
fail:
    if (c->in != NULL)
        evbuffer_free(c->in);
    if (c->out != NULL)
        evbuffer_free(c->out);
    free(c);
    return -1;
}

static void tcp_listeners(struct net_tcp *nt, int on)
{
    for (unsigned i = 0; i < nt->nsocks; i++) {
        struct listener *l = &nt->sock[i];
        if ((on ? event_add(&l->ev, NULL) : event_del(&l->ev)) != 0)
            stat_add(&nt->w->st.tcp_err, 1);
    }
}

static void tcp_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tcp_listeners(arg, 1);
}

static void tcp_accept(evutil_socket_t fd, short what, void *arg)
{
    static const struct timeval pause = { 0, TCP_PAUSE_MS * 1000 };
    struct listener *l = arg;
    struct net_tcp *nt = l->nt;
    struct worker_stats *st = &nt->w->st;

    (void)what;
    for (unsigned k = 0; k < TCP_ACCEPTS; k++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* Out of descriptors or memory: the listener would stay
             * readable and spin the loop, so stop accepting a moment. */
            stat_add(&st->tcp_err, 1);
            tcp_listeners(nt, 0);
            if (evtimer_add(&nt->accept_pause, &pause) != 0)
                tcp_listeners(nt, 1);
            return;
        }
        if (st->tcp_open >= nt->tcp_max && !tcp_evict(nt)) {
            stat_add(&st->tcp_refused, 1);
        } else if (tcp_open(nt, cfd) == 0) {
            continue;
        } else {
            stat_add(&st->tcp_err, 1);
        }
        if (close(cfd) != 0)
            stat_add(&st->tcp_err, 1);
    }
}

/* ---- the TCP worker's listeners ------------------------------------------ */

static int add_listener(struct net_tcp *nt, const struct net_addr *a, char *err, size_t errcap)
{
    struct listener *l = &nt->sock[nt->nsocks];
    int fd = sock_open(a, SOCK_STREAM, 1, err, errcap);

    if (fd < 0)
        return -1;
    l->nt = nt;
    l->fd = fd;
    if (event_assign(&l->ev, nt->w->base, fd, EV_READ | EV_PERSIST, tcp_accept, l) != 0) {
        close(fd);
        snprintf(err, errcap, "cannot listen on %s: libevent failed", a->text);
        return -1;
    }
    nt->nsocks++;
    if (event_add(&l->ev, NULL) != 0) {
        snprintf(err, errcap, "cannot listen on %s: libevent failed", a->text);
        return -1;
    }
    return 0;
}

int net_tcp_new(struct worker *w, const struct net_config *cfg, char *err, size_t errcap)
{
    struct timeval idle = { (time_t)cfg->tcp_idle_s, 0 }, partial = { TCP_PARTIAL_S, 0 };
    struct net_tcp *nt = calloc(1, sizeof *nt);

    if (nt == NULL)
        goto nomem;
    w->tcp = nt;
    nt->w = w;
    TAILQ_INIT(&nt->conns);
    nt->sock = calloc(cfg->naddrs, sizeof *nt->sock);
    if (nt->sock == NULL)
        goto nomem;
    nt->tcp_max = cfg->tcp_max;
    nt->idle_tv = event_base_init_common_timeout(w->base, &idle);
    nt->partial_tv = event_base_init_common_timeout(w->base, &partial);
    if (nt->idle_tv == NULL || nt->partial_tv == NULL ||
        evtimer_assign(&nt->accept_pause, w->base, tcp_resume, nt) != 0)
        goto nomem;
    nt->pause_ready = 1;
    for (unsigned i = 0; i < cfg->naddrs; i++)
        if (add_listener(nt, &cfg->addrs[i], err, errcap) != 0)
            return -1;
    return 0;
nomem:
    snprintf(err, errcap, "worker %u: out of memory", w->id);
    return -1;
}

void net_tcp_free(struct worker *w)
{
    struct net_tcp *nt = w->tcp;

    if (nt == NULL)
        return;
    while (!TAILQ_EMPTY(&nt->conns))
        tcp_close(TAILQ_FIRST(&nt->conns));
    if (nt->pause_ready)
        event_del(&nt->accept_pause);
    for (unsigned i = 0; i < nt->nsocks; i++) {
        event_del(&nt->sock[i].ev);
        close(nt->sock[i].fd);
    }
    free(nt->sock);
    free(nt);
    w->tcp = NULL;
}
