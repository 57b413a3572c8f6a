/* net.h: spfdbd's sockets (SPEC §4 "Transport").
 *
 * UDP: every UDP worker has its own SO_REUSEPORT socket on one listen
 * address (--workers of them on each), blocks in recvmmsg for a batch and
 * answers it with one sendmmsg under one snapshot, with no event loop in
 * between: every query of the batch is decided up to its lookup, the
 * lookups are made together (spfdb_covers_many), then the replies are
 * written.  Replies leave from the address the query came to
 * (IP_PKTINFO/IPV6_PKTINFO on wildcard addresses), unfragmented (DF on
 * IPv4, RFC 9715).  Send and receive errors are counted, not logged.
 *
 * TCP (RFC 7766): the TCP worker alone accepts and serves every connection
 * on its libevent loop, so the --tcp-max cap and its "close the
 * longest-idle connection" rule are exact without locks or cross-thread
 * messages; TCP is the fallback path here (every answer fits 512 octets),
 * and one thread serves far more of it than resolvers send.  A connection
 * whose replies wait is not read (backpressure through TCP flow control,
 * the kernel holding at most 16 KiB unsent); one whose replies stop moving
 * for 2 s, or that leaves 64 KiB with us, is closed.
 *
 * Everything here runs on the owning worker's thread, except
 * net_addr_parse, net_addr_check, net_listen, net_udp_new and net_tcp_new,
 * which run in main before the workers start, and net_udp_wake (any
 * thread).
 */
#ifndef SPFDB_NET_H
#define SPFDB_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

struct worker;

struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int wildcard;  /* 0.0.0.0 or [::]: replies need the query's destination */
    char text[80]; /* "127.0.0.1:53", "[::1]:53" */
};

struct net_config {
    const struct net_addr *addrs;
    unsigned naddrs;
    unsigned tcp_max;    /* connections open at once, all of them */
    unsigned tcp_idle_s; /* idle connections are closed after this */
};

/* "ADDR:PORT", "[V6]:PORT", or a bare address (port 53).  0 or -1. */
int net_addr_parse(const char *s, struct net_addr *out);

/* Is A free for UDP and TCP?  The sockets spfdbd binds share the port with
 * each other (SO_REUSEPORT), so this probe without it is what makes a port
 * taken by another program, or by another spfdbd, an error.  0, or -1 with
 * a one-line reason in ERR. */
int net_addr_check(const struct net_addr *a, char *err, size_t errcap);

/* A listening TCP socket on A for another service (the metrics), not
 * shared with other sockets (no SO_REUSEPORT), nonblocking.  The socket, or
 * -1 with a one-line reason in ERR. */
int net_listen(const struct net_addr *a, char *err, size_t errcap);

/* A UDP worker's socket on A, and its buffers.  0, or -1 with a one-line
 * reason in ERR; what was opened is released by net_udp_free. */
int net_udp_new(struct worker *w, const struct net_addr *a, char *err, size_t errcap);
/* A UDP worker's loop; returns once worker_stop() has set its flag. */
void net_udp_run(struct worker *w);
/* Wake W's thread from its receive (any thread, after setting the flag). */
void net_udp_wake(struct worker *w);
void net_udp_free(struct worker *w);

/* The TCP worker's listeners on every address, on W's base.  0, or -1 with
 * a one-line reason in ERR; released by net_tcp_free.  Connections are
 * closed there too; W's loop must not be running. */
int net_tcp_new(struct worker *w, const struct net_config *cfg, char *err, size_t errcap);
void net_tcp_free(struct worker *w);

#endif
