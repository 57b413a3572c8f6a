/* sockets.c: addresses, and sockets with their options.  See sockets.h. */
#define _GNU_SOURCE
#include "sockets.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    UDP_RCVBUF = 4 << 20 /* asked for; the kernel caps it at net.core.rmem_max */
};

int sock_addr_parse(const char *s, struct sock_addr *out)
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

/* SHARED: one of spfdbd's own DNS sockets (SO_REUSEPORT, listening, options
 * for replies); else the probe of sock_addr_check, or the metrics listener. */
static int sock_open(const struct sock_addr *a, int type, int shared, char *err, size_t errcap)
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

int sock_listen(const struct sock_addr *a, char *err, size_t errcap)
{
    int fd = sock_open(a, SOCK_STREAM, 0, err, errcap);

    if (fd >= 0 && listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errcap, "cannot listen on %s (tcp): listen: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sock_addr_check(const struct sock_addr *a, char *err, size_t errcap)
{
    static const int types[] = { SOCK_DGRAM, SOCK_STREAM };

    for (unsigned i = 0; i < 2; i++) {
        int fd = sock_open(a, types[i], 0, err, errcap);
        if (fd < 0)
            return -1;
        if (close(fd) != 0) {
            snprintf(err, errcap, "%s: close: %s", a->text, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int sock_udp(const struct sock_addr *a, char *err, size_t errcap)
{
    return sock_open(a, SOCK_DGRAM, 1, err, errcap);
}

int sock_tcp(const struct sock_addr *a, char *err, size_t errcap)
{
    return sock_open(a, SOCK_STREAM, 1, err, errcap);
}

/* ERR from accept concerns that one connection, not the listener. */
static int accept_skip(int err)
{
    switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM: /* a firewall rule refused that connection */
        return 1;
    default:
        return 0;
    }
}

int sock_accept(int lfd, struct sock_backoff *b, const char *what, struct timeval *pause)
{
    enum { SKIPS = 32 }; /* bounds the loop however many connections fail */
    int fd = -1, err = 0;

    for (unsigned k = 0; k < SKIPS && fd < 0; k++) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        err = errno;
        if (fd < 0 && !accept_skip(err))
            break;
    }
    if (fd >= 0) {
        b->ms = 0;
        return fd;
    }
    if (err == EAGAIN || err == EWOULDBLOCK || accept_skip(err))
        return SOCK_ACCEPT_EMPTY;
    unsigned ms = b->ms == 0 ? SOCK_PAUSE_MIN_MS : b->ms * 2;
    b->ms = ms < SOCK_PAUSE_MAX_MS ? ms : SOCK_PAUSE_MAX_MS;
    b->fails++;
    if (log_limit_ok(&b->log, time(NULL), SOCK_LOG_S, b->fails))
        log_warn("%s: cannot accept connections: %s; accepting pauses up to %u ms "
                 "(%" PRIu64 " failure%s so far)",
                 what, strerror(err), (unsigned)SOCK_PAUSE_MAX_MS, b->fails,
                 b->fails == 1 ? "" : "s");
    *pause = (struct timeval){ 0, (suseconds_t)b->ms * 1000 };
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ? SOCK_ACCEPT_SHORT
                                                                             : SOCK_ACCEPT_FAILED;
}
