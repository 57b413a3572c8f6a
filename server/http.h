/* http.h: the HTTP/1.1 server under the metrics endpoint (SPEC §4).
 *
 * Just enough HTTP for a Prometheus scraper or curl, and bounded in every
 * way: one resource, PATH (a query string is ignored), answered by the
 * caller's function; GET and HEAD; 404 for another path, 501 for another
 * method, 400 for a request head that does not parse, 431 for one over
 * HTTP_HEAD_MAX octets, 505 for a version other than 1.x.  One request a
 * connection: every reply says "Connection: close"; any request body is
 * not read.
 *
 * At most HTTP_CONN_MAX connections are open at once; one more is
 * accepted and closed at once, and counted as refused.  A connection must
 * send its whole request head within HTTP_REQUEST_S seconds of being
 * accepted, whatever it sends meanwhile (a timeout that restarted on every
 * octet would let slow clients keep every slot), then take its reply
 * within HTTP_REPLY_S; so any slot is free again within HTTP_REQUEST_S +
 * HTTP_REPLY_S + HTTP_LINGER_S seconds, and within HTTP_REQUEST_S of
 * being taken by a client that sends nothing.  When accept() fails (out of
 * descriptors), accepting pauses (sock_accept, sockets.h).  Connections
 * live in a fixed array: nothing is allocated per connection but its
 * reply.  Runs on the loop of the thread that calls http_new, and only
 * there.
 */
#ifndef SPFDB_HTTP_H
#define SPFDB_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct http;

enum {
    HTTP_CONN_MAX = 16,   /* SPEC §4: metrics connections open at once */
    HTTP_HEAD_MAX = 8192, /* octets of a request head */
    HTTP_REQUEST_S = 5,   /* from accept to the end of the request head */
    HTTP_REPLY_S = 5,     /* then, to the last octet of the reply sent */
    HTTP_LINGER_S = 1     /* then, for the client to close first */
};

/* Appends the body of a 200 reply to OUT; 0, or -1 for a 500. */
typedef int (*http_body_fn)(struct evbuffer *out, void *arg);

/* Serve PATH (e.g. "/metrics", kept, not copied) on the listening,
 * non-blocking socket FD, which it owns from now on (also on failure),
 * from BASE's loop: BODY(out, ARG) makes each 200 reply, sent as
 * CONTENT_TYPE (kept).  0 and *OUT, or -1. */
int http_new(struct http **out, struct event_base *base, int fd, const char *path,
             const char *content_type, http_body_fn body, void *arg);

/* Connections refused (the cap, or accept() out of descriptors or memory). */
uint64_t http_refused(const struct http *h);

/* Close every connection and the socket; BASE's loop must not be running
 * a callback of H. */
void http_free(struct http *h);

/* The status for the complete request head HEAD[0..LEN) (through its empty
 * line) for a server of PATH: 200, 400, 404, 501 or 505, and *IS_HEAD for a
 * HEAD request.  Pure. */
int http_parse(const char *head, size_t len, const char *path, int *is_head);

/* The length of the request head in BUF[0..LEN) (through its empty line),
 * or 0 while it is incomplete; the search starts near FROM, the length
 * already searched.  Pure. */
size_t http_head_len(const char *buf, size_t len, size_t from);

#endif
