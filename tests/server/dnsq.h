/* dnsq.h: hand-built DNS queries and an independent reply reader for the
 * server tests (it does not use server/wire.c, so it can catch its bugs). */
#ifndef SPFDB_TEST_DNSQ_H
#define SPFDB_TEST_DNSQ_H

#include <stddef.h>
#include <stdint.h>

/* A query under construction: append sections by hand, then fix counts. */
struct q {
    uint8_t b[1024];
    size_t len;
};

struct qopt {
    uint16_t id;
    uint8_t rd, cd, opcode;
    uint16_t qclass;       /* 0: IN */
    int edns;              /* add an OPT */
    uint16_t udp;          /* its size (0: 1232) */
    uint8_t version, dobit, keepalive;
};

/* "a.b.c" -> wire; returns its length.  No escapes: tests that need odd
 * bytes build them by hand. */
size_t name_wire(const char *name, uint8_t *out);
/* Header + question (+ OPT), counts set. */
void q_build(struct q *q, const char *name, uint16_t qtype, const struct qopt *o);
void q_u16(struct q *q, uint16_t v);
void q_u32(struct q *q, uint32_t v);
void q_bytes(struct q *q, const void *p, size_t n);
void q_set_count(struct q *q, int section, uint16_t n); /* 0 QD .. 3 AR */
/* An OPT record: owner root, SIZE, TTL fields, RDATA. */
void q_opt(struct q *q, uint16_t size, uint8_t version, int dobit, const uint8_t *rdata,
           uint16_t rdlen);

/* A parsed reply. */
struct rr {
    char owner[300]; /* dotted, lowercase, "." for the root */
    uint16_t type, cls;
    uint32_t ttl;
    const uint8_t *rdata;
    uint16_t rdlen;
    size_t rdata_off;
};

struct reply {
    uint16_t id, flags, qd, an, ns, ar;
    uint16_t rcode; /* extended when OPT present */
    size_t qend;
    struct rr rr[40]; /* an, then ns, then ar */
    int opt;          /* index of OPT in rr, or -1 */
};

/* Parse MSG strictly (pointers followed with a hop limit, every count and
 * length checked, no trailing octets); 0 or -1. */
int reply_parse(const uint8_t *msg, size_t len, struct reply *r);
/* A wire name in MSG at *OFF (pointers allowed) into dotted text. */
int read_name(const uint8_t *msg, size_t len, size_t *off, char *out);

#endif
