/* answer.h: one DNS query in, one reply out (SPEC §4), without sockets.
 *
 * answer_query() parses the query (wire.c), decides the reply (which rcode,
 * which records: this file) and writes it into the caller's buffer.  It
 * never allocates, never blocks and keeps no state between calls; the
 * database is reached only through env->covers.  Safe to call from many
 * threads with distinct envs and buffers.  answer_begin() and answer_end()
 * are its two halves, for a caller that looks up a batch of queries'
 * addresses at once: the state between them is the caller's.
 */
#ifndef SPFDB_ANSWER_H
#define SPFDB_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct zone;
struct zonetab;

struct answer_env {
    const struct zonetab *zones; /* NULL or empty: REFUSED to everything */
    uint32_t serial;             /* the SOA serial of every zone */
    /* Is ADDR (FAMILY 4: 4 bytes, 6: 16 bytes) listed in allocation ALLOC?
     * 1 yes, 0 no, <0 the database could not be read (reply SERVFAIL). */
    int (*covers)(void *ctx, uint32_t alloc, int family, const uint8_t *addr);
    void *covers_ctx;
    uint16_t tcp_idle_100ms;     /* edns-tcp-keepalive TIMEOUT sent over TCP */
};

/* What the reply was, for the metrics (issue 4) and logs. */
enum answer_class {
    ANSWER_DROP,      /* no reply sent (too short, QR set) */
    ANSWER_LISTED,    /* A 127.0.0.2 (or NODATA for another type at a listed name) */
    ANSWER_UNLISTED,  /* NXDOMAIN for a full address name that is not listed */
    ANSWER_TAIL,      /* NODATA for a partial address name (QNAME minimisation) */
    ANSWER_ZONE,      /* apex SOA/NS/NODATA, allocation nodes, other NXDOMAIN */
    ANSWER_REFUSED,   /* not our zone, not class IN, AXFR/IXFR */
    ANSWER_MALFORMED, /* FORMERR, NOTIMP, BADVERS */
    ANSWER_SERVFAIL   /* database read failure */
};

struct answer_info {
    uint16_t qtype;   /* 0 when the question did not parse */
    uint8_t rcode;    /* extended: 16 for BADVERS */
    uint8_t cls;      /* enum answer_class */
};

enum { ANSWER_UDP = 0, ANSWER_TCP = 1 };

/* Reply to the query Q[0..QLEN) into OUT[0..CAP), OUT not overlapping Q.
 * Over UDP the reply is cut to SPEC §4's size rule (TC set); over TCP it
 * may use CAP.  CAP: at least 1232 for UDP, 65535 for TCP.  Returns the
 * reply length, or 0 when nothing is to be sent.  INFO may be NULL. */
size_t answer_query(const struct answer_env *env, const uint8_t *q, size_t qlen, uint8_t *out,
                    size_t cap, int transport, struct answer_info *info);

/* One query between answer_begin() and answer_end().  It points into the
 * query's bytes and ENV's zone table: both must outlive it. */
struct answer_state {
    struct query q;
    struct wire_reply r;
    uint8_t transport;
    uint8_t cls;               /* enum answer_class, once decided */
    uint8_t lookup;            /* answer_end() needs to know whether: */
    uint8_t family;            /* ... ADDR (4 or 16 bytes, FAMILY 4 or 6) ... */
    uint8_t addr[16];
    uint32_t alloc;            /* ... is listed in allocation ALLOC */
    uint8_t unlisted_tail;
    uint16_t apex;
    const struct zone *zone;
};

/* Parse and decide Q[0..QLEN) into S, up to the database lookup: returns 1
 * when answer_end() needs its result (S->lookup), else 0. */
int answer_begin(const struct answer_env *env, const uint8_t *q, size_t qlen, int transport,
                 struct answer_state *s);
/* Write S's reply as answer_query() does.  LISTED (read only when
 * S->lookup): 1 listed, 0 not, <0 the database could not be read. */
size_t answer_end(const struct answer_env *env, struct answer_state *s, int listed, uint8_t *out,
                  size_t cap, struct answer_info *info);

#endif
