/* notify.h: NOTIFY (RFC 1996) for the transfer zone, the primary's side
 * (SPEC §5): build the signed request, and check a reply to it.
 *
 * The request: opcode NOTIFY, AA set, RD clear, the question `<xfr> SOA
 * IN`, the zone's SOA in the answer section (RFC 1996 §3.7: the serial
 * lets a secondary skip a transfer it does not need), signed with the
 * replica's TSIG key (hmac-sha256, tsig.h).  It fits one UDP datagram of
 * XFR_NOTIFY_MAX octets.  Every retransmission sends the same octets (same
 * ID, same MAC), so a reply to any copy verifies.
 *
 * A reply is taken as an answer only when it is one to this request (QR,
 * opcode NOTIFY, the request's ID, the question echoed or left out) and
 * its TSIG verifies under the request's key: anyone can send a datagram,
 * and an unverified "answer" would silence the retransmissions.  Unsigned
 * error replies (BADKEY, BADSIG) can only be reported, never trusted
 * (RFC 8945 §5.3.2).
 *
 * Pure: caller buffers, no allocation, no sockets, no global state; any
 * thread.  The TSIG exchange (struct tsig_ctx) is the caller's, started
 * by the build and only read by the check (which verifies on a copy, so
 * a forged reply leaves it ready for the real one).
 */
#ifndef SPFDB_XFR_NOTIFY_H
#define SPFDB_XFR_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "tsig.h"

#define XFR_OP_NOTIFY 4    /* the header's OPCODE */
#define XFR_NOTIFY_MAX 512 /* a request's octets: a UDP message without EDNS */

/* Write the NOTIFY for ORIGIN at SERIAL (the SOA's MNAME: NS, as the
 * transfer zone's SOA carries it) with header ID, into BUF[0..CAP), signed
 * with KEY at NOW; CTX is started for the reply.  0 and *LEN, or
 * XFR_ENOSPACE (CAP too small, or names too long for XFR_NOTIFY_MAX when
 * CAP is larger), or XFR_EINVAL (NS not a host name, KEY unusable). */
int xfr_notify_build(uint8_t *buf, size_t cap, size_t *len, uint16_t id,
                     const struct xfr_origin *origin, const char *ns, uint32_t serial,
                     const struct tsig_key *key, struct tsig_ctx *ctx, uint64_t now);

enum {
    XFR_NOTIFY_VERIFIED = 0,    /* a reply to the request, its TSIG verified */
    XFR_NOTIFY_FOREIGN = -1,    /* no reply to this request: short, QR clear, another
                                   ID or opcode, another question, trailing octets */
    XFR_NOTIFY_UNVERIFIED = -2  /* a reply whose TSIG did not verify */
};

struct xfr_notify_reply {
    int rcode;           /* the header's RCODE (VERIFIED, UNVERIFIED) */
    int tsig;            /* TSIG_OK, or why it did not verify (tsig.h) */
    uint16_t peer_error; /* TSIG_EPEER: the TSIG error field the peer sent */
};

/* Is MSG[0..LEN), received at NOW, the reply to the request CTX signed
 * with header ID, for ORIGIN?  XFR_NOTIFY_VERIFIED (OUT->rcode: 0, the
 * replica took it; anything else, it refused it), XFR_NOTIFY_FOREIGN or
 * XFR_NOTIFY_UNVERIFIED, with OUT filled in as far as known. */
int xfr_notify_check(const struct tsig_ctx *ctx, uint16_t id, const struct xfr_origin *origin,
                     const uint8_t *msg, size_t len, uint64_t now, struct xfr_notify_reply *out);

#endif
