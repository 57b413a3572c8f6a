/* sockets.h: spfdbd's listen addresses and sockets (SPEC §4 "Transport").
 *
 * Every socket spfdbd listens on is made here, with its options, before
 * privileges are dropped; whoever asks for one owns the descriptor and
 * closes it (main.c the DNS sockets, which the UDP workers and the TCP
 * thread only borrow; metrics.c its own).  DNS sockets share their port
 * with each other (SO_REUSEPORT): --workers UDP sockets on each address,
 * each a worker's own, and one TCP listener for the TCP thread.  A UDP
 * socket is blocking (its worker waits in recvmmsg); the others are not.
 * Replies leave unfragmented (DF on IPv4, RFC 9715).  Main thread only.
 * Errors: -1 with a one-line reason in ERR[0..ERRCAP), naming the address.
 */
#ifndef SPFDB_SOCKETS_H
#define SPFDB_SOCKETS_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

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

#endif
