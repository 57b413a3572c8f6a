/* out.h: the messages of a transfer response, produced record by record
 * over the caller's buffers (SPEC §5; design "Production follows the
 * drain").  For a signed AXFR, IXFR or SOA request the caller has
 * verified (tsig_verify_request), it builds each message: the header (the
 * request's ID and opcode, QR and AA, RD and CD echoed), the question as
 * received, the records (layout.h renders them, owners compressed against
 * the question), an OPT when the request had one, and the TSIG: the first
 * message signed over the request's MAC, the later ones chained.
 *
 * The caller drives it so:
 *
 *     xfr_resp_init(&r, form, client, &req, origin, ns, tsig);
 *     xfr_resp_begin(&r, buf, cap);
 *     for each record:
 *         while ((e = xfr_resp_add(&r, &obj)) == XFR_FULL) {
 *             xfr_resp_finish(&r, now, 1, &len);   send buf[0..len)
 *             xfr_resp_begin(&r, buf, cap);        and add it again
 *         }
 *     xfr_resp_finish(&r, now, 1, &len);           send the last message
 *
 * and adds the records in the order of FORM (frame.h): for XFR_FORM_SOA
 * the SOA alone; for XFR_FORM_AXFR the SOA, the apex NS (an object of
 * kind XFR_IGNORE), the layout, every object, the SOA again; for
 * XFR_FORM_IXFR the SOA, then per commit SOA(before), its deletions,
 * SOA(after), its additions (net.h nets them), then the SOA again.
 * Anything else is XFR_EORDER, and nothing is written: a producer cannot
 * send a stream that breaks a secondary's chain.
 *
 * Errors are layout.h's XFR_E* codes.  One struct xfr_resp per response,
 * used by one thread; it refers to the request, origin, NS name and TSIG
 * context, which the caller keeps alive and unchanged meanwhile.
 */
#ifndef SPFDB_XFR_OUT_H
#define SPFDB_XFR_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "layout.h"
#include "tsig.h"

#define XFR_FULL XFR_ENOSPACE /* xfr_resp_add: finish this message, begin another, add again */

/* What a response echoes from its request, as the caller read it. */
struct xfr_request {
    uint16_t id;
    uint8_t flags[2];        /* octets 2 and 3 of its header: opcode, RD and CD are echoed */
    const uint8_t *question; /* its question as received: QNAME (uncompressed), QTYPE, QCLASS */
    size_t question_len;
    uint8_t edns;            /* it had an OPT: every message carries one ... */
    uint8_t edns_do;         /* ... echoing its DO bit */
};

struct xfr_resp {
    const struct xfr_request *req;
    const struct xfr_origin *origin;
    const char *ns;          /* the SOA's MNAME and the apex NS */
    struct tsig_ctx *tsig;   /* NULL: no TSIG (tests) */
    enum xfr_form form;
    struct xfr_frame frame;  /* the records so far */
    /* the message being built */
    uint8_t *buf;
    size_t cap;
    struct xfr_out out;
    unsigned count;          /* its answer records */
    int open;
    unsigned messages;       /* finished so far */
};

/* Start a response in FORM (XFR_FORM_SOA, _AXFR or _IXFR; CLIENT: the
 * serial an IXFR asked from) to REQ, whose QNAME must be ORIGIN (any
 * letter case) and QCLASS IN.  TSIG: the context that verified the
 * request.  0 or XFR_EINVAL. */
int xfr_resp_init(struct xfr_resp *r, enum xfr_form form, uint32_t client,
                  const struct xfr_request *req, const struct xfr_origin *origin, const char *ns,
                  struct tsig_ctx *tsig);

/* Begin a message in BUF[0..CAP) (at most XFR_MSG_MAX octets are used):
 * header and question, with room kept for OPT and TSIG.  0, or
 * XFR_ENOSPACE when CAP cannot hold even those, XFR_EINVAL when a message
 * is open or the response is complete. */
int xfr_resp_begin(struct xfr_resp *r, uint8_t *buf, size_t cap);

/* Append O's record to the open message.  0; XFR_FULL when it does not
 * fit (nothing written); XFR_ETOOBIG when it would not fit an empty
 * message either; XFR_EORDER (above); XFR_EINVAL for an object no
 * database holds, or no open message. */
int xfr_resp_add(struct xfr_resp *r, const struct xfr_obj *o);
/* The same for the SOA with SERIAL. */
int xfr_resp_soa(struct xfr_resp *r, uint32_t serial);

/* Close the open message: the answer count, OPT, and TSIG when SIGN (a
 * message left unsigned is folded into the next signature, RFC 8945
 * §5.3.1: never the first, at most 99 in a row; the server signs every
 * one).  *LEN: the message's length in the buffer.  0, or XFR_EINVAL (no
 * open message; TSIG refused: not the first, 100 unsigned). */
int xfr_resp_finish(struct xfr_resp *r, uint64_t now, int sign, size_t *len);

/* The closing record is in: after xfr_resp_finish, the response is sent. */
int xfr_resp_done(const struct xfr_resp *r);

#endif
