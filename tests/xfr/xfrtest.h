/* xfrtest.h: both ends of a transfer, for test_out, test_in and
 * xfr_pipe: a small database's history (the sample zone, then three
 * commits, the third with changes that net away), a responder built on
 * out.h and net.h the way spfdbd uses them, and a recorder of in.h's
 * events that also applies them to a model of the follower's data. */
#ifndef SPFDB_TEST_XFRTEST_H
#define SPFDB_TEST_XFRTEST_H

#include "in.h"
#include "net.h"
#include "out.h"

#define XT_T 1796620000ull       /* the clock of every exchange */
#define XT_KEY "xfr-key.example" /* the key both ends share */
#define XT_STATES 4              /* the sample, then after commits 1, 2 and 3 */
#define XT_MAX 64                /* data objects of one state */
#define XT_CHANGES 16

extern const uint8_t xt_secret[32];
const struct xfr_origin *xt_origin(void);
const struct tsig_key *xt_key(void);

/* A database's data as the transfer zone's data records (no SOA, NS or
 * layout record). */
struct xt_zone {
    size_t n;
    struct xfr_obj o[XT_MAX];
};
struct xt_commit {
    size_t n;
    struct {
        int op; /* XFR_OP_DEL or XFR_OP_ADD */
        struct xfr_obj o;
    } c[XT_CHANGES];
};

uint32_t xt_serial(unsigned state);
/* Commit K (1..3), the one that leads to state K. */
const struct xt_commit *xt_commit(unsigned k);
/* The data at STATE: the sample's, then the commits applied one change
 * at a time. */
void xt_zone_at(unsigned state, struct xt_zone *z);
/* Delete the exact record O (-1: absent), add O (-1: its identity is
 * present), compare as sets (1: equal). */
int xt_zone_del(struct xt_zone *z, const struct xfr_obj *o);
int xt_zone_add(struct xt_zone *z, const struct xfr_obj *o);
int xt_zone_eq(const struct xt_zone *a, const struct xt_zone *b);

/* What a server reads from a request (the echo, the type, an IXFR's
 * serial).  0 or -1. */
struct xt_req {
    struct xfr_request r;
    uint16_t qtype;
    uint32_t serial;
};
int xt_request_read(const uint8_t *msg, size_t len, struct xt_req *q);

/* The responder's choices. */
struct xt_serve {
    unsigned state;         /* its database is at this state */
    size_t cap;             /* the message buffer */
    unsigned per_msg;       /* finish a message after this many records (0: when full) */
    uint64_t unsigned_mask; /* message i (not the last) is left unsigned when bit i % 64 is set */
};
/* Verify and answer REQ as spfdbd will: the single SOA for a SOA query
 * or a current client, IXFR from a serial of the history, else AXFR.
 * The messages go to OUT[0..CAP) as a TCP stream (a 2-octet length
 * each).  Returns how many, or an XFR_E* code (TSIG_E* - 100 when the
 * request does not verify). */
int xt_serve(const struct xt_serve *s, const uint8_t *req, size_t reqlen, uint8_t *out,
             size_t cap, size_t *len);

/* The recorder: pass it as the xfr_in_query's function and argument.
 * TEXT gets a line per event ("begin ixfr SERIAL", "seq FROM", "del
 * OBJ", "adds FROM TO", "add OBJ", "end-seq FROM TO", "end ixfr SERIAL");
 * ZONE, set by the caller to the follower's data, gets the events
 * applied (AXFR: from empty), each refused change counted in BAD. */
struct xt_events {
    char *text;
    size_t len, cap;
    struct xt_zone zone;
    unsigned bad;
    int stop_at;            /* > 0: return 7 from that event on (1: the first) */
    int seen;
};
int xt_event(void *arg, const struct xfr_in_event *ev);
void xt_events_reset(struct xt_events *e);
void xt_events_free(struct xt_events *e);

/* Read a TCP stream of messages with IN: each fed at NOW, then EOF.
 * Returns the last result (XFR_IN_DONE or an error). */
int xt_read_stream(struct xfr_in *in, const uint8_t *stream, size_t len, uint64_t now);

#endif
