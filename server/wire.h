/* wire.h: DNS messages on the wire (RFC 1035 §4, RFC 6891), for answer.c.
 *
 * wire_parse() reads a query from the caller's bytes without copying or
 * allocating: every read is bounds-checked and an overrun is a verdict
 * (FORMERR), never a crash.  struct query points into those bytes, so it
 * lives no longer than they do.  wire_reply() writes the whole reply into
 * the caller's buffer, never beyond LIMIT.  Both are pure and thread-safe.
 */
#ifndef SPFDB_WIRE_H
#define SPFDB_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum {
    DNS_HDR = 12,
    DNS_NAME_MAX = 255,
    DNS_LABEL_MAX = 63,
    DNS_T_A = 1,
    DNS_T_NS = 2,
    DNS_T_SOA = 6,
    DNS_T_TXT = 16,
    DNS_T_OPT = 41,
    DNS_T_IXFR = 251,
    DNS_T_AXFR = 252,
    DNS_T_ANY = 255,
    DNS_C_IN = 1,
    DNS_R_NOERROR = 0,
    DNS_R_FORMERR = 1,
    DNS_R_SERVFAIL = 2,
    DNS_R_NXDOMAIN = 3,
    DNS_R_NOTIMP = 4,
    DNS_R_REFUSED = 5,
    DNS_R_BADVERS = 16,
    DNS_R_BADCOOKIE = 23,
    EDNS_UDP_SIZE = 1232,       /* what we announce and the most we send */
    EDNS_O_COOKIE = 10,
    EDNS_O_TCP_KEEPALIVE = 11
};

/* The verdict of the malformed-input rules (SPEC §4), first rule first. */
enum wire_verdict {
    WIRE_DROP,    /* rule 1: no reply */
    WIRE_NOTIMP,  /* rule 2 */
    WIRE_FORMERR, /* rules 3 and 4 */
    WIRE_BADVERS, /* rule 5 */
    WIRE_OK
};

struct query {
    const uint8_t *msg;       /* the caller's bytes */
    size_t len;
    uint8_t qd_ok;            /* QDCOUNT 1 and the question parsed: echo it */
    uint8_t nlabels;          /* labels of QNAME, the root not counted */
    uint8_t label[DNS_NAME_MAX / 2]; /* offset of each label in QNAME (msg + 12) */
    uint16_t qtype, qclass;
    uint16_t qend;            /* offset just past the question */
    uint8_t has_opt;          /* the query carried an OPT (reply gets one) */
    uint8_t edns_do;          /* its DO bit */
    uint8_t keepalive;        /* it carried edns-tcp-keepalive */
    uint8_t edns_version;
    uint16_t udp_size;        /* requestor's payload size, 0 without OPT */
    uint8_t cookie_len;       /* its first COOKIE option's length: 0 (none), 8 or 16-40 */
    uint16_t cookie_off;      /* ... and where its data starts in MSG */
};

enum wire_verdict wire_parse(const uint8_t *msg, size_t len, struct query *q);

/* The records of a reply, already in wire form (zones.h): RRS[0..rrs_len)
 * hold n_an answer records, then n_ns authority records. */
struct wire_reply {
    uint16_t rcode;            /* extended rcode: BADVERS is 16 */
    uint8_t aa;
    uint8_t n_an, n_ns;
    uint8_t soa;               /* RRS is one SOA: patch its owner and serial */
    uint16_t soa_owner;        /* ... owner: an offset into the question */
    uint16_t rrs_len;
    const uint8_t *rrs;
    uint32_t serial;           /* ... serial */
    uint8_t keepalive;         /* send edns-tcp-keepalive (RFC 7828) ... */
    uint16_t keepalive_100ms;  /* ... with this TIMEOUT */
    uint8_t tc;                /* send no records, TC set (rate limiting's slip) */
    const uint8_t *cookie;     /* NULL, or the COOKIE option's 24 octets (cookie.h) */
};

/* Write the reply to Q into OUT[0..LIMIT): header (ID, opcode, RD, CD
 * copied), the question as received when Q->qd_ok, the records, and an OPT
 * when the query had one (with R->cookie's COOKIE, then edns-tcp-keepalive).  When the records do not fit, the reply is the
 * header, question and OPT with TC set.  Returns its length, or 0 when
 * even that does not fit LIMIT. */
size_t wire_reply(const struct query *q, const struct wire_reply *r, uint8_t *out, size_t limit);

#endif
