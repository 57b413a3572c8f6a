/* in.h: a follower's reader of one transfer (SPEC §5; design "Fetch"):
 * it writes the signed SOA, AXFR or IXFR request, then takes the reply's
 * messages as they arrive and turns them into typed events, or a precise
 * error.  No sockets: the caller sends and receives.
 *
 * Each message is checked in turn: its header (our ID, QR, opcode QUERY,
 * no TC, one question in the first message and at most one later), its
 * question (ours), its structure, its TSIG (tsig_verify_reply: the first
 * message and the last signed, up to 99 unsigned in a row between), its
 * RCODE, then each answer record through xfr_parse (layout.h) and the
 * record order (frame.h), which also tells the form from the first SOA.
 * Authority and additional records other than OPT and TSIG are ignored.
 *
 * Events go to the caller's function in the order of the records:
 *
 *   BEGIN(form, soa)                   the form is known
 *   AXFR form:   ADD(obj)...
 *   IXFR form:   per sequence SEQ(from) DEL(obj)... ADDS(from, to)
 *                ADD(obj)... SEQ_END(from, to)
 *   END(form, soa)                     complete: apply now
 *
 * Objects are zones, allocations, members and entries; the SOAs, the
 * apex NS, the layout record and DNSSEC records are consumed here.  A
 * sequence's new serial is known only at its middle SOA, hence ADDS.
 * Events arrive before the stream is known to be whole and authentic
 * (an unsigned message is vouched for by the next signed one): a caller
 * stages them and applies nothing unless END came.  END comes only after
 * the closing SOA, in a signed message with nothing after it, and, in
 * the AXFR form, after the checks that need the whole zone: `_spfdb` and
 * `default` present, members one level deep and at most 32 per
 * allocation (SPEC §2).
 *
 * Memory: the AXFR form's member links are kept for that last check
 * (malloc, about 130 octets each); xfr_in_free releases them.  Nothing
 * else is allocated.  One struct xfr_in per transfer, one thread.
 */
#ifndef SPFDB_XFR_IN_H
#define SPFDB_XFR_IN_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "layout.h"
#include "tsig.h"

#define XFR_MEMBERS_MAX 32 /* members of one allocation (SPEC §2) */

enum {
    XFR_IN_MORE = 0,          /* feed the next message */
    XFR_IN_DONE = 1,          /* complete: END was delivered */
    XFR_IN_ETRUNCATED = -1,   /* the stream ended before the closing SOA */
    XFR_IN_ETSIG = -2,        /* detail: TSIG_E*; TSIG_EPEER: tsig.peer_error (and peer_time) */
    XFR_IN_ERCODE = -3,       /* detail: the RCODE (with OPT's extended bits) */
    XFR_IN_EID = -4,          /* not our request's ID */
    XFR_IN_EHEADER = -5,      /* not a response, another opcode, or a QDCOUNT out of place */
    XFR_IN_ETC = -6,          /* truncated (TC): ask again over TCP */
    XFR_IN_EQUESTION = -7,    /* another question than ours */
    XFR_IN_EWIRE = -8,        /* the message does not parse: cut short, bad names, octets after */
    XFR_IN_ERECORD = -9,      /* a record layout 1 refuses: detail XFR_E* */
    XFR_IN_ECHAIN = -10,      /* records out of a transfer's order: detail XFR_FRAME_E* */
    XFR_IN_EZONE = -11,       /* AXFR form: the whole zone is not one (detail XFR_IN_Z_*) */
    XFR_IN_ECALLBACK = -12,   /* the caller's function returned detail */
    XFR_IN_ENOMEM = -13,
    XFR_IN_EINVAL = -14       /* bad argument, or a call out of order */
};

/* XFR_IN_EZONE's detail. */
enum {
    XFR_IN_Z_LAYOUT = 1, /* no `_spfdb` record */
    XFR_IN_Z_DEFAULT,    /* no `default` allocation */
    XFR_IN_Z_NESTED,     /* a member with members of its own */
    XFR_IN_Z_MEMBERS     /* an allocation with more than 32 members */
};

enum xfr_in_ev {
    XFR_EV_BEGIN,
    XFR_EV_SEQ,     /* from */
    XFR_EV_DEL,     /* obj */
    XFR_EV_ADDS,    /* from, to */
    XFR_EV_ADD,     /* obj */
    XFR_EV_SEQ_END, /* from, to */
    XFR_EV_END
};

struct xfr_in_event {
    enum xfr_in_ev type;
    enum xfr_form form;        /* from BEGIN on */
    const struct xfr_soa *soa; /* the server's SOA (the first record), from BEGIN on */
    uint32_t from, to;         /* the sequence's serials */
    const struct xfr_obj *obj; /* DEL, ADD: valid during the call */
};

/* The caller's function: 0 to go on; anything else stops the transfer
 * with XFR_IN_ECALLBACK. */
typedef int (*xfr_in_fn)(void *arg, const struct xfr_in_event *ev);

struct xfr_in_query {
    const struct xfr_origin *origin; /* the transfer zone */
    const struct tsig_key *key;
    uint16_t qtype;                  /* XFR_T_SOA, XFR_T_AXFR or XFR_T_IXFR */
    uint16_t id;                     /* the caller's random ID */
    uint32_t serial;                 /* IXFR: ours, sent as the authority SOA */
    xfr_in_fn fn;
    void *arg;
};

struct xfr_in_link {
    char alloc[SPFDB_LABEL_MAX + 1], member[SPFDB_LABEL_MAX + 1];
};

struct xfr_in {
    struct xfr_in_query q;
    struct tsig_ctx tsig;   /* the exchange: peer_error and peer_time after TSIG_EPEER */
    struct xfr_frame frame;
    struct xfr_soa soa;     /* the first record's */
    int status;             /* XFR_IN_MORE, XFR_IN_DONE or the error, which sticks */
    int detail;             /* the error's, as listed above */
    unsigned messages;      /* messages fed, the failing one included */
    unsigned record;        /* the failing record's index in its message's answers */
    uint64_t records;       /* answer records read */
    uint8_t seen_layout, seen_default;
    struct xfr_in_link *links;
    size_t nlinks, links_cap;
    struct xfr_obj obj;     /* private: the record being read */
};

/* Start IN for Q and write the signed request into BUF[0..CAP) (*LEN its
 * length): header, question `<origin> QTYPE IN`, for IXFR the authority
 * SOA with our serial, TSIG.  XFR_IN_MORE, or XFR_IN_EINVAL (a bad Q, no
 * room). */
int xfr_in_start(struct xfr_in *in, const struct xfr_in_query *q, uint8_t *buf, size_t cap,
                 size_t *len, uint64_t now);

/* The next message of the reply.  XFR_IN_MORE, XFR_IN_DONE (its last
 * record closed the transfer, and END was delivered), or an error, which
 * every later call returns again: a message after DONE is XFR_IN_ECHAIN
 * (XFR_FRAME_EAFTER).  For a SOA request the one message is the whole
 * reply: without the SOA it is XFR_IN_ECHAIN. */
int xfr_in_feed(struct xfr_in *in, const uint8_t *msg, size_t len, uint64_t now);

/* The connection ended: XFR_IN_DONE after a complete transfer, else
 * XFR_IN_ETRUNCATED (or the error already met). */
int xfr_in_eof(struct xfr_in *in);

/* Release what IN holds.  IN may then be started again. */
void xfr_in_free(struct xfr_in *in);

const char *xfr_in_strerror(int code);

#endif
