/* sockets.h: spfdbd's listen addresses and sockets (SPEC §4 "Transport").
 *
 * Every socket spfdbd listens on is made here, with its options, before
 * privileges are dropped; whoever asks for one owns the descriptor and
 * closes it (main.c the DNS sockets, which the UDP workers and the TCP
 * thread only borrow; metrics.c its own).  DNS sockets share their port
 * with each other (SO_REUSEPORT): --workers UDP sockets on each address,
 * each a worker's own, and one TCP listener for the TCP thread.  A UDP
 * socket is blocking (its worker waits in recvmmsg); the others are not.
 * Replies leave unfragmented (DF on IPv4, RFC 9715).  Main thread only,
 * but for the accept back-off, which each listener's thread calls on its
 * own struct sock_backoff.
 * Errors: -1 with a one-line reason in ERR[0..ERRCAP), naming the address.
 */
#ifndef SPFDB_SOCKETS_H
#define SPFDB_SOCKETS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"

struct sock_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int wildcard;  /* 0.0.0.0 or [::]: replies need the query's destination */
    char text[80]; /* "127.0.0.1:53", "[::1]:53" */
};

/* "ADDR:PORT", "[V6]:PORT", or a bare address (port 53).  0 or -1. */
int sock_addr_parse(const char *s, struct sock_addr *out);

/* Is A free for UDP and TCP?  The sockets spfdbd binds share the port with
 * each other, so this probe without SO_REUSEPORT is what makes a port taken
 * by another program, or by another spfdbd, an error.  0 or -1. */
int sock_addr_check(const struct sock_addr *a, char *err, size_t errcap);

/* A UDP worker's socket on A: blocking, with the query's destination
 * delivered when A is a wildcard (IP_PKTINFO, IPV6_RECVPKTINFO).  The
 * descriptor, or -1. */
int sock_udp(const struct sock_addr *a, char *err, size_t errcap);

/* A listening TCP socket on A for DNS, shared with other spfdbd sockets.
 * The descriptor, or -1. */
int sock_tcp(const struct sock_addr *a, char *err, size_t errcap);

/* A listening TCP socket on A for another service (the metrics), not
 * shared.  The descriptor, or -1. */
int sock_listen(const struct sock_addr *a, char *err, size_t errcap);

/* A listener whose accept() fails (out of descriptors or memory) stays
 * readable: accepting again at once would spin the loop and log each
 * time.  Instead it stops accepting for a pause, 100 ms, doubling up to
 * 1 s while the failures go on, and back to 100 ms once an accept works;
 * the failure is logged at most once every 10 s, with the count.  Each
 * listener's thread owns its struct sock_backoff (zeroed to start). */
enum { SOCK_PAUSE_MIN_MS = 100, SOCK_PAUSE_MAX_MS = 1000, SOCK_LOG_S = 10 };

struct sock_backoff {
    unsigned ms;           /* the last pause; 0 after an accept worked */
    uint64_t fails;        /* accept() failures that paused it */
    struct log_limit log;
};

enum { SOCK_ACCEPT_EMPTY = -1, SOCK_ACCEPT_SHORT = -2, SOCK_ACCEPT_FAILED = -3 };

/* The next connection on the non-blocking listener LFD (WHAT names it in
 * the log line): its descriptor, non-blocking and close-on-exec; or
 * SOCK_ACCEPT_EMPTY when none waits; or, when accept() failed for the
 * listener, SOCK_ACCEPT_SHORT (out of descriptors or memory) or
 * SOCK_ACCEPT_FAILED (another reason), with *PAUSE how long to stop
 * accepting.  A failure that concerns one connection only (ECONNABORTED,
 * a network error accept(2) passes on) skips it. */
int sock_accept(int lfd, struct sock_backoff *b, const char *what, struct timeval *pause);

#endif
