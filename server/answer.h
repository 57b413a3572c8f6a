/* answer.h: DNS queries in, replies out (SPEC §4), without sockets or LMDB.
 *
 * answer_batch() is the one way a query is answered.  For each query of a
 * batch it parses the query (wire.c) and decides the reply up to the
 * database lookup (which rcode, which records: this file); then it makes
 * every lookup of the batch in one env->covers_many call, whose memory
 * reads overlap; then it writes each reply into its own buffer.  A UDP
 * worker passes one recvmmsg batch, the TCP thread one message
 * (answer_query: a batch of one), the bench and the tests what they test.
 * It never allocates, never blocks and keeps no state between calls but
 * the rate limiter's table its caller passes (env->rrl); the database is
 * reached only through env->covers_many, which decides what a failed read
 * becomes (the server's read view, view.h: retried once, then SERVFAIL).
 * The per-query defences decide here too: a COOKIE option is checked and
 * answered (cookie.h, with env->cookies, the client's address and
 * env->now), and a UDP reply is rate limited (rrl.h) after it is decided,
 * unless exempt.  With env->cookies and env->rrl NULL they cost nothing
 * but a test each.  Safe to call from many threads with distinct envs,
 * rate limiters and messages.
 */
#ifndef SPFDB_ANSWER_H
#define SPFDB_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "cookie.h"
#include "spfdb.h"
#include "wire.h"

struct rrl;
struct sockaddr;
struct zone;
struct zonetab;
struct xfrzone;

/* What the answers of one batch see.  The read view (view.h) fills in the
 * database half for the server; the TCP thread sets the rest. */
struct answer_env {
    const struct zonetab *zones; /* NULL or empty: REFUSED to everything */
    uint32_t serial;             /* the SOA serial of every zone */
    /* For each of N (1 to SPFDB_MANY_MAX) lookups: is Q[i].addr (family 4:
     * 4 bytes, 6: 16 bytes) listed in allocation Q[i].alloc_id?  Into
     * Q[i].result: 1 yes, 0 no, <0 the database could not be read (the
     * reply is SERVFAIL).  Required: answer_batch calls it whenever a
     * query needs a lookup. */
    void (*covers_many)(void *ctx, struct spfdb_query *q, unsigned n);
    void *covers_ctx;
    /* The `_spf` chain (SPEC §4): record LEAF (0: `_spf…` itself, 1-3 the
     * leaves) of allocation ALLOC served in zone Z, whose `_spf` node hangs
     * under the wire name PARENT (the query's bytes, any letter case):
     * 0 with *RR (a whole TXT record, owner 0xC00C) and *LEN, valid until
     * the batch ends; <0 the database could not be read (SERVFAIL).  NULL:
     * every `_spf` TXT query is SERVFAIL. */
    int (*spf_chain)(void *ctx, const struct zone *z, uint32_t alloc, const uint8_t *parent,
                     unsigned leaf, const uint8_t **rr, uint16_t *len);
    void *spf_ctx;
    const struct xfrzone *xfr;   /* the transfer zone (SPEC §5), or NULL: none */
    uint16_t tcp_idle_100ms;     /* edns-tcp-keepalive TIMEOUT sent over TCP */
    uint8_t xfr_room;            /* TCP: a transfer may start (xfrserve.h) */
    /* The per-query defences (SPEC §4 "EDNS", "Abuse"); the caller's. */
    const struct cookie_secrets *cookies; /* NULL: COOKIE options ignored */
    struct rrl *rrl;             /* UDP: this thread's rate limiter (rrl.h), NULL: off */
    const struct sockaddr *peer; /* answer_query's client (TCP: the connection's) */
    uint32_t now;                /* Unix time in seconds: cookie timestamps */
    uint32_t now_ms;             /* a monotonic clock in ms: the rate limiter's */
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

/* What rate limiting did to a reply (answer_info.limited). */
enum answer_limited {
    LIMITED_NOT = 0,
    LIMITED_SLIP,      /* sent truncated (TC) */
    LIMITED_BADCOOKIE, /* sent BADCOOKIE with a fresh cookie, in place of the slip */
    LIMITED_DROP       /* not sent */
};

struct answer_info {
    uint16_t qtype;   /* 0 when the question did not parse */
    uint8_t rcode;    /* extended: 16 for BADVERS */
    uint8_t cls;      /* enum answer_class */
    uint8_t transfer; /* TCP: no reply written; the query is a verified AXFR or
                       * IXFR, for a transfer thread to answer (xfrserve.h) */
    uint8_t cookie;   /* enum cookie_state of the query's COOKIE */
    uint8_t limited;  /* enum answer_limited; with --rate-limit-dry-run what
                       * would have been done (the reply went out whole) */
};

enum { ANSWER_UDP = 0, ANSWER_TCP = 1 };

/* Between deciding a query and writing its reply: answer.c's own.  It
 * points into the query's bytes and the env's zone table. */
struct answer_state {
    struct query q;
    struct wire_reply r;
    uint8_t transport;
    uint8_t cls;               /* enum answer_class, once decided */
    uint8_t lookup;            /* the reply needs to know whether: */
    uint8_t family;            /* ... ADDR (4 or 16 bytes, FAMILY 4 or 6) ... */
    uint8_t addr[16];
    uint32_t alloc;            /* ... is listed in allocation ALLOC */
    uint8_t unlisted_tail;
    uint8_t xfr;               /* the name is in the transfer zone (xfrzone.h) */
    uint16_t apex;
    const struct zone *zone;
    /* The `_ip` and `_spf` forms (answer.c's form_*): */
    uint8_t form;              /* FORM_* of answer.c; 0: an address name */
    uint8_t mapped;            /* `_ip`: a 32-nibble name of an IPv4-mapped address */
    uint8_t leaf;              /* `_spf`: the record, 0 (the top) to 3 */
    uint16_t parent;           /* `_spf`: offset of its parent name in the message */
    uint8_t txt[112];          /* `_ip`: the listed address's TXT record */
    uint8_t exempt;            /* (xfr) signed and verified: never rate limited */
    uint8_t cookie;            /* enum cookie_state */
    uint8_t cookie_out[COOKIE_REPLY_LEN]; /* the reply's COOKIE, when COOKIE */
};

/* One query of a batch and its reply.  The caller sets the first five
 * (and may keep them from batch to batch), answer_batch() the rest. */
struct answer_msg {
    const uint8_t *q;          /* the query Q[0..QLEN) */
    size_t qlen;
    uint8_t *out;              /* its reply goes to OUT[0..CAP), not overlapping Q; */
    size_t cap;                /* ... at least 1232 for UDP, 65535 for TCP */
    const struct sockaddr *peer; /* its client (AF_INET, AF_INET6), NULL: unknown */
    size_t len;                /* the reply's length; 0: nothing to send */
    struct answer_info info;   /* what the reply was */
    struct answer_state st;
};

/* Answer the N messages M[0..N) (any N; the lookups are made
 * SPFDB_MANY_MAX at a time), each into its OUT.  Over UDP a reply is cut
 * to SPEC §4's size rule (TC set); over TCP it may use CAP.  ENV, the
 * queries and the zone table must not change during the call. */
void answer_batch(const struct answer_env *env, int transport, struct answer_msg *m, unsigned n);

/* A batch of one: the reply to Q[0..QLEN) from ENV->peer in OUT[0..CAP),
 * its length returned (0: nothing to send).  INFO may be NULL. */
size_t answer_query(const struct answer_env *env, const uint8_t *q, size_t qlen, uint8_t *out,
                    size_t cap, int transport, struct answer_info *info);

#endif
