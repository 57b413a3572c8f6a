/* fetch.c: one exchange with a primary over TCP (fetch.h). */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int failf(struct fetch *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int failf(struct fetch *f, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    return code;
}

struct conn {
    struct fetch *f;
    int fd;
    int64_t end;   /* the whole exchange's deadline */
};

/* Wait until FD is ready for EVENTS: 0, or a FETCH_E* code. */
static int wait_fd(struct conn *c, short events)
{
    for (;;) {
        int64_t left = c->end - now_ms();
        int ms = c->f->timeout_ms;
        struct pollfd p = {c->fd, events, 0};
        int n;

        if (c->f->stop && *c->f->stop)
            return failf(c->f, FETCH_ESTOP, "stopped");
        if (left <= 0)
            return failf(c->f, FETCH_ETIMEOUT, "the exchange took over %d s",
                         c->f->total_ms / 1000);
        if (left < ms)
            ms = (int)left;
        n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n == 0)
            return failf(c->f, FETCH_ETIMEOUT, "no progress for %d ms", c->f->timeout_ms);
        if (errno != EINTR)
            return failf(c->f, FETCH_EIO, "poll: %s", strerror(errno));
    }
}

static int send_all(struct conn *c, const uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t k = send(c->fd, b, n, MSG_NOSIGNAL);
        int rc;

        if (k > 0) {
            b += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return failf(c->f, FETCH_EIO, "send: %s", strerror(errno));
        if ((rc = wait_fd(c, POLLOUT)) != 0)
            return rc;
    }
    return 0;
}

/* Read N octets into B: 0, 1 on a clean end before the first octet, or a
 * FETCH_E* code. */
static int recv_all(struct conn *c, uint8_t *b, size_t n, int eof_ok)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = recv(c->fd, b + got, n - got, 0);
        int rc;

        if (k > 0) {
            got += (size_t)k;
            c->f->bytes += (uint64_t)k;
            continue;
        }
        if (k == 0) {
            if (got == 0 && eof_ok)
                return 1;
            return failf(c->f, FETCH_EIO, "the primary closed the connection mid-message");
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return failf(c->f, FETCH_EIO, "recv: %s", strerror(errno));
        if ((rc = wait_fd(c, POLLIN)) != 0)
            return rc;
    }
    return 0;
}

static int do_connect(struct conn *c)
{
    const struct spfdb_addrport *a = c->f->to;
    struct sockaddr_storage ss;
    socklen_t sl;
    int err = 0, rc, one = 1;
    socklen_t el = sizeof err;

    memset(&ss, 0, sizeof ss);
    if (a->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->addr, 4);
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        memcpy(&s6->sin6_addr, a->addr, 16);
        sl = sizeof *s6;
    }
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return failf(c->f, FETCH_ECONNECT, "socket: %s", strerror(errno));
    /* the request goes out in one segment */
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&ss, sl) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return failf(c->f, FETCH_ECONNECT, "connect: %s", strerror(errno));
    if ((rc = wait_fd(c, POLLOUT)) != 0)
        return rc == FETCH_ETIMEOUT ? failf(c->f, FETCH_ECONNECT, "connect: timed out") : rc;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
        err = errno;
    if (err)
        return failf(c->f, FETCH_ECONNECT, "connect: %s", strerror(err));
    return 0;
}

/* xfr/in.c's events: note the form and SOA, pass the rest on. */
static int on_event(void *arg, const struct xfr_in_event *ev)
{
    struct fetch *f = arg;

    if (ev->type == XFR_EV_BEGIN) {
        f->form = ev->form;
        f->soa = *ev->soa;
    }
    return f->fn ? f->fn(f->arg, ev) : 0;
}

static int xfr_fail(struct fetch *f, struct xfr_in *in, int rc)
{
    f->xfr_rc = rc;
    f->xfr_detail = in->detail;
    if (rc == XFR_IN_ETSIG && in->detail == TSIG_EPEER) {
        f->peer_error = in->tsig.peer_error;
        f->peer_time = in->tsig.peer_time;
        return failf(f, FETCH_EXFR, "the primary refused our signature (TSIG error %u%s)",
                     in->tsig.peer_error,
                     in->tsig.peer_error == TSIG_ERR_BADTIME ? ": BADTIME, are the clocks apart?"
                     : in->tsig.peer_error == TSIG_ERR_BADKEY ? ": BADKEY, unknown key"
                     : in->tsig.peer_error == TSIG_ERR_BADSIG ? ": BADSIG, wrong secret"
                                                             : "");
    }
    if (rc == XFR_IN_ETSIG)
        return failf(f, FETCH_EXFR, "reply %u: TSIG: %s", in->messages, tsig_strerror(in->detail));
    if (rc == XFR_IN_ERCODE)
        return failf(f, FETCH_EXFR, "the primary answered RCODE %d", in->detail);
    if (rc == XFR_IN_ERECORD)
        return failf(f, FETCH_EXFR, "reply %u, record %u: %s: %s", in->messages, in->record,
                     xfr_in_strerror(rc), xfr_strerror(in->detail));
    if (rc == XFR_IN_ECHAIN)
        return failf(f, FETCH_EXFR, "reply %u, record %u: %s: %s", in->messages, in->record,
                     xfr_in_strerror(rc), xfr_frame_strerror(in->detail));
    if (rc == XFR_IN_ECALLBACK)
        return failf(f, FETCH_EXFR, "out of memory while staging");
    return failf(f, FETCH_EXFR, "reply %u: %s (detail %d)", in->messages, xfr_in_strerror(rc),
                 in->detail);
}

int fetch_run(struct fetch *f)
{
    struct conn c = {f, -1, now_ms() + f->total_ms};
    struct xfr_in *in = calloc(1, sizeof *in);
    uint8_t *buf = malloc(2 + XFR_MSG_MAX);
    struct xfr_in_query q;
    uint16_t id;
    size_t len = 0;
    int rc;

    f->xfr_rc = f->xfr_detail = 0;
    f->peer_error = 0;
    f->peer_time = 0;
    f->form = XFR_FORM_NONE;
    memset(&f->soa, 0, sizeof f->soa);
    f->bytes = f->messages = 0;
    f->err[0] = '\0';
    if (in == NULL || buf == NULL) {
        rc = failf(f, FETCH_EIO, "out of memory");
        goto out;
    }
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = (uint16_t)(now_ms() ^ getpid());
    q = (struct xfr_in_query){f->origin, f->key, f->qtype, id, f->serial, on_event, f};
    rc = xfr_in_start(in, &q, buf + 2, XFR_MSG_MAX, &len, (uint64_t)time(NULL));
    if (rc != XFR_IN_MORE) {
        rc = failf(f, FETCH_EIO, "cannot build the request: %s", xfr_in_strerror(rc));
        goto out;
    }
    buf[0] = (uint8_t)(len >> 8);
    buf[1] = (uint8_t)len;
    if ((rc = do_connect(&c)) != 0 || (rc = send_all(&c, buf, len + 2)) != 0)
        goto out;
    for (;;) {
        size_t n;

        rc = recv_all(&c, buf, 2, 1);
        if (rc == 1) {
            rc = xfr_in_eof(in);
            rc = rc == XFR_IN_DONE ? FETCH_OK : xfr_fail(f, in, rc);
            goto out;
        }
        if (rc)
            goto out;
        n = (size_t)buf[0] << 8 | buf[1];
        if (n == 0) {
            rc = failf(f, FETCH_EFRAME, "a message of length 0");
            goto out;
        }
        if ((rc = recv_all(&c, buf, n, 0)) != 0)
            goto out;
        f->messages++;
        rc = xfr_in_feed(in, buf, n, (uint64_t)time(NULL));
        if (rc == XFR_IN_DONE) {
            /* a reply is whole at its closing SOA: the server may keep the
             * connection for more queries */
            rc = FETCH_OK;
            goto out;
        }
        if (rc != XFR_IN_MORE) {
            rc = xfr_fail(f, in, rc);
            goto out;
        }
    }
out:
    if (c.fd >= 0)
        close(c.fd);
    if (in)
        xfr_in_free(in);
    free(in);
    free(buf);
    return rc;
}
