/* tcp.h: the TCP thread (SPEC §4 "Transport", RFC 7766).
 *
 * One thread accepts and serves every TCP connection on its own libevent
 * loop, so the --tcp-max cap and its rule (close the longest-idle
 * connection, or when none is idle the one open longest) are exact without
 * locks or cross-thread messages; TCP is the
 * fallback path here (every answer fits 512 octets), and one thread serves
 * far more of it than resolvers send.  It listens on sockets it borrows
 * (sockets.h; main.c owns them), and has its own read view (view.h) and
 * counters (stats.h).  A connection's input is a tcpframe (tcpframe.h:
 * the framing, the bound on what is held, which timer runs; pure, so it is
 * unit-tested and fuzzed).  Each message is answered as a batch of one; what
 * one read completed is answered under one snapshot.  A connection whose
 * replies wait is not read (backpressure through TCP flow control, the
 * kernel holding at most 16 KiB unsent); one whose replies stop moving
 * for 2 s, or that leaves 64 KiB with us, is closed.  The snapshot is
 * given up VIEW_HOLD_MS to twice that after the last batch, by a timer.
 * When accept() fails (out of descriptors), accepting pauses on every
 * listener (sock_accept, sockets.h).
 *
 * Only the thread touches its event loop (libevent runs without its locks:
 * spfdbd never calls evthread_use_pthreads).  tcp_new, tcp_listen,
 * tcp_open, tcp_start, tcp_join and tcp_free run on the main thread;
 * tcp_stop on any.  The counters are read only through stats_sum.
 */
#ifndef SPFDB_TCP_H
#define SPFDB_TCP_H

#include <stddef.h>

#include "spfdb.h"
#include "stats.h"

struct tcp_thread;

/* The TCP thread, ID in log lines, for at most NLISTEN listeners, with
 * TCP_MAX connections open at once and IDLE_S seconds before an idle one
 * is closed.  0 and *OUT, or SPFDB_ENOMEM / SPFDB_EIO. */
int tcp_new(struct tcp_thread **out, unsigned id, unsigned nlisten, unsigned tcp_max,
            unsigned idle_s);
/* Accept connections on FD (from sock_tcp; NAME for the error).  0, or -1
 * with a one-line reason in ERR. */
int tcp_listen(struct tcp_thread *t, int fd, const char *name, char *err, size_t errcap);
struct xfr_pool;
/* Hand verified transfers to POOL (xfrserve.h; NULL: none), before
 * tcp_start. */
void tcp_set_xfr(struct tcp_thread *t, struct xfr_pool *pool);
/* Its read view on ENV (view_open).  0 or a negative SPFDB_E* code. */
int tcp_open(struct tcp_thread *t, spfdb_env *env);
struct cookie_secrets;
/* Answer COOKIE options with COOKIES (shared, must outlive T); NULL:
 * ignore them.  Before tcp_start. */
void tcp_set_cookies(struct tcp_thread *t, const struct cookie_secrets *cookies);
/* Run its loop in a new thread; 0 or an errno value. */
int tcp_start(struct tcp_thread *t);
/* Ask the loop to stop (any thread), then wait for it. */
void tcp_stop(struct tcp_thread *t);
void tcp_join(struct tcp_thread *t);
/* Close every connection and free T (not the listening sockets); its
 * thread must have ended, if it ran. */
void tcp_free(struct tcp_thread *t);

const struct stats *tcp_stats(const struct tcp_thread *t);

#endif
