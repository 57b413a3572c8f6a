/* http.c: the metrics endpoint's HTTP/1.1 server.  See http.h.
 *
 * libevent's evhttp served this before; it has no connection cap (2.1),
 * restarts its timeout on every octet, and spins logging when accept()
 * fails for want of descriptors (issue 15).  A connection goes READ (its
 * request head into in[]) -> WRITE (the reply, from out) -> LINGER (its
 * write side shut, reading and dropping until the client closes, so that
 * a close with unread input does not reset the reply away) -> closed.
 */
#define _GNU_SOURCE
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sockets.h"

enum { HTTP_ACCEPTS = 32 }; /* accept()s per wake-up */

enum conn_state { C_FREE, C_READ, C_WRITE, C_LINGER };

struct http_conn {
    struct http *h;
    int fd;
    enum conn_state state;
    size_t len;                /* octets in in[] */
    size_t scanned;            /* of them, searched for the head's end */
    struct evbuffer *out;      /* the reply not sent yet (WRITE) */
    struct event rd, wr;       /* assigned per connection */
    struct event timer;        /* the deadline of the current state */
    char in[HTTP_HEAD_MAX];
};

struct http {
    struct event_base *base;
    int fd;                    /* the listening socket, owned */
    struct event accept_ev, pause_ev;
    struct sock_backoff backoff;
    const char *path, *type;
    http_body_fn body;
    void *arg;
    uint64_t refused;
    struct http_conn conn[HTTP_CONN_MAX];
};

/* ---- parsing (pure) -------------------------------------------------------- */

size_t http_head_len(const char *buf, size_t len, size_t from)
{
    /* The head ends with an empty line: "\n\n" or "\n\r\n". */
    for (size_t i = from > 2 ? from - 2 : 1; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i - 1] == '\n' || (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n'))
            return i + 1;
    }
    return 0;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The next field of LINE[*pos..end) up to a single space (or the end when
 * LAST); its length, or 0 when empty or followed by more than one space. */
static size_t field(const char *line, size_t end, size_t *pos, int last)
{
    size_t start = *pos, i = start;

    while (i < end && line[i] != ' ')
        i++;
    if (i == start || (last ? i != end : i == end))
        return 0;
    *pos = last ? i : i + 1;
    return i - start;
}

int http_parse(const char *head, size_t len, const char *path, int *is_head)
{
    size_t p = 0, end, pos, mlen, tlen, vlen, plen;
    const char *m, *target, *v;

    *is_head = 0;
    while (p < len && (head[p] == '\r' || head[p] == '\n')) /* RFC 9112 §2.2 */
        p++;
    const char *nl = memchr(head + p, '\n', len - p);
    if (nl == NULL)
        return 400;
    end = (size_t)(nl - head);
    if (end > p && head[end - 1] == '\r')
        end--;
    pos = p;
    m = head + pos;
    mlen = field(head, end, &pos, 0);
    target = head + pos;
    tlen = mlen ? field(head, end, &pos, 0) : 0;
    v = head + pos;
    vlen = tlen ? field(head, end, &pos, 1) : 0;
    if (vlen == 0)
        return 400;
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar((unsigned char)m[i]))
            return 400;
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
            return 400;
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    if (!(mlen == 3 && memcmp(m, "GET", 3) == 0) && !(mlen == 4 && memcmp(m, "HEAD", 4) == 0))
        return 501;
    *is_head = mlen == 4;
    /* absolute-form (RFC 9112 §3.2.2): the path after the authority */
    size_t scheme = tlen > 7 && strncasecmp(target, "http://", 7) == 0    ? 7
                    : tlen > 8 && strncasecmp(target, "https://", 8) == 0 ? 8
                                                                          : 0;
    if (scheme > 0) {
        const char *slash = memchr(target + scheme, '/', tlen - scheme);
        if (slash == NULL)
            return 404;
        tlen -= (size_t)(slash - target);
        target = slash;
    }
    if (target[0] != '/')
        return 400;
    for (plen = 0; plen < tlen && target[plen] != '?'; plen++)
        ;
    return plen == strlen(path) && memcmp(target, path, plen) == 0 ? 200 : 404;
}

/* ---- connections ----------------------------------------------------------- */

static void conn_close(struct http_conn *c)
{
    if (c->state != C_FREE) {
        event_del(&c->rd);
        event_del(&c->wr);
    }
    event_del(&c->timer);
    (void)close(c->fd);
    if (c->out != NULL)
        evbuffer_free(c->out);
    c->out = NULL;
    c->fd = -1;
    c->state = C_FREE;
}

static void conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_close(arg);
}

static int conn_deadline(struct http_conn *c, time_t s)
{
    const struct timeval tv = { s, 0 };

    return evtimer_add(&c->timer, &tv);
}

/* Send what the socket takes; once all is sent, shut the write side and
 * linger: the client closes first (it has read the reply), or the linger
 * time runs out.  0, or -1 to close. */
static int conn_send(struct http_conn *c)
{
    if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
        errno != EINTR)
        return -1;
    if (evbuffer_get_length(c->out) > 0)
        return event_add(&c->wr, NULL);
    c->state = C_LINGER;
    return event_del(&c->wr) != 0 || shutdown(c->fd, SHUT_WR) != 0 ||
                   event_add(&c->rd, NULL) != 0 || conn_deadline(c, HTTP_LINGER_S) != 0
               ? -1
               : 0;
}

static void conn_writable(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;

    (void)fd;
    (void)what;
    if (conn_send(c) != 0)
        conn_close(c);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

/* The reply for STATUS into c->out, then send it.  0, or -1 to close. */
static int conn_reply(struct http_conn *c, int status, int is_head)
{
    struct http *h = c->h;
    struct evbuffer *body = evbuffer_new();
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    int rc = -1;

    c->out = evbuffer_new();
    if (body == NULL || c->out == NULL)
        goto done;
    if (status == 200 && h->body(body, h->arg) != 0) {
        status = 500;
        if (evbuffer_drain(body, evbuffer_get_length(body)) != 0)
            goto done;
    }
    if (status != 200 && evbuffer_add_printf(body, "%d %s\n", status, reason(status)) < 0)
        goto done;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        goto done;
    if (evbuffer_add_printf(c->out,
                            "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                            status, reason(status), date,
                            status == 200 ? h->type : "text/plain; charset=utf-8",
                            evbuffer_get_length(body)) < 0 ||
        (!is_head && evbuffer_add_buffer(c->out, body) != 0))
        goto done;
    c->state = C_WRITE;
    if (event_del(&c->rd) == 0 && conn_deadline(c, HTTP_REPLY_S) == 0)
        rc = conn_send(c); /* most replies go out at once */
done:
    if (body != NULL)
        evbuffer_free(body);
    return rc;
}

/* READ: more of the request head; LINGER: whatever the client still sends,
 * dropped, until it closes. */
static void conn_readable(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    int linger = c->state == C_LINGER;
    ssize_t n = linger ? read(fd, c->in, sizeof c->in)
                       : read(fd, c->in + c->len, sizeof c->in - c->len);
    size_t head;
    int status, is_head = 0;

    (void)what;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    if (linger)
        return;
    c->len += (size_t)n;
    head = http_head_len(c->in, c->len, c->scanned);
    c->scanned = c->len;
    if (head > 0)
        status = http_parse(c->in, head, c->h->path, &is_head);
    else if (c->len == sizeof c->in)
        status = 431;
    else
        return;
    if (conn_reply(c, status, is_head) != 0)
        conn_close(c);
}

/* Take FD into the free slot C.  0, or -1 (FD closed). */
static int conn_start(struct http_conn *c, int fd)
{
    struct event_base *base = c->h->base;

    c->fd = fd;
    c->len = c->scanned = 0;
    if (event_assign(&c->rd, base, fd, EV_READ | EV_PERSIST, conn_readable, c) != 0 ||
        event_assign(&c->wr, base, fd, EV_WRITE | EV_PERSIST, conn_writable, c) != 0) {
        conn_close(c);
        return -1;
    }
    c->state = C_READ;
    if (event_add(&c->rd, NULL) != 0 || conn_deadline(c, HTTP_REQUEST_S) != 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

/* ---- the listener ---------------------------------------------------------- */

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct http *h = arg;

    (void)fd;
    (void)what;
    if (event_add(&h->accept_ev, NULL) != 0)
        log_err("metrics: cannot accept connections again: libevent failed");
}

static struct http_conn *free_slot(struct http *h)
{
    for (unsigned i = 0; i < HTTP_CONN_MAX; i++)
        if (h->conn[i].state == C_FREE)
            return &h->conn[i];
    return NULL;
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http *h = arg;
    struct timeval pause;

    (void)what;
    for (unsigned k = 0; k < HTTP_ACCEPTS; k++) {
        int cfd = sock_accept(fd, &h->backoff, "metrics", &pause);
        if (cfd == SOCK_ACCEPT_EMPTY)
            return;
        if (cfd < 0) {
            h->refused++;
            if (event_del(&h->accept_ev) != 0 || evtimer_add(&h->pause_ev, &pause) != 0)
                (void)event_add(&h->accept_ev, NULL);
            return;
        }
        struct http_conn *c = free_slot(h);
        if (c == NULL) { /* at the cap: closed at once */
            h->refused++;
            (void)close(cfd);
        } else if (conn_start(c, cfd) != 0) {
            h->refused++;
        }
    }
}

int http_new(struct http **out, struct event_base *base, int fd, const char *path,
             const char *content_type, http_body_fn body, void *arg)
{
    struct http *h = calloc(1, sizeof *h);

    if (h == NULL) {
        close(fd);
        return -1;
    }
    h->base = base;
    h->fd = fd;
    h->path = path;
    h->type = content_type;
    h->body = body;
    h->arg = arg;
    for (unsigned i = 0; i < HTTP_CONN_MAX; i++) {
        h->conn[i].h = h;
        h->conn[i].fd = -1;
        if (evtimer_assign(&h->conn[i].timer, base, conn_timeout, &h->conn[i]) != 0) {
            close(fd);
            free(h);
            return -1;
        }
    }
    if (event_assign(&h->accept_ev, base, fd, EV_READ | EV_PERSIST, accept_cb, h) != 0 ||
        evtimer_assign(&h->pause_ev, base, accept_resume, h) != 0 ||
        event_add(&h->accept_ev, NULL) != 0) {
        close(fd);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

uint64_t http_refused(const struct http *h)
{
    return h->refused;
}

void http_free(struct http *h)
{
    if (h == NULL)
        return;
    for (unsigned i = 0; i < HTTP_CONN_MAX; i++)
        if (h->conn[i].state != C_FREE)
            conn_close(&h->conn[i]);
    event_del(&h->accept_ev);
    event_del(&h->pause_ev);
    (void)close(h->fd);
    free(h);
}
