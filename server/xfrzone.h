/* xfrzone.h: the transfer zone (SPEC §5) as the answer core sees it: its
 * name, its NS host and the TSIG keys that may read it, and the decision
 * for a query in it.
 *
 * A struct xfrzone is built by the read view (view.c) from a snapshot
 * whenever spfdb_info.xfr_gen changes, and read-only afterwards: one per
 * view, owned by its thread, like the zone table.  Building allocates;
 * deciding and writing never do, and never touch LMDB (spfdb_answer stays
 * pure).  TSIG is read here only, so a query outside the transfer zone
 * never pays for it.
 *
 * The decision (xfrzone_decide), for a well-formed class-IN query whose
 * name is in the zone (xfrzone_has):
 *   unsigned                          REFUSED, AA clear, unsigned
 *   a TSIG that does not parse        FORMERR, unsigned
 *   BADKEY, BADSIG, BADTIME, BADTRUNC NOTAUTH with the TSIG error
 *                                     (tsig_sign_error: BADKEY/BADSIG
 *                                     unsigned, BADTIME/BADTRUNC signed)
 *   signed SOA at the apex            the SOA, AA, signed (UDP and TCP)
 *   signed IXFR at the apex over UDP  the current SOA alone, signed
 *   signed AXFR/IXFR at the apex, TCP a transfer (XFRZ_TRANSFER: the caller
 *                                     hands the connection over, xfrserve.h),
 *                                     or REFUSED signed when no transfer
 *                                     slot is free
 *   any other signed query            REFUSED, AA clear, signed: the zone
 *                                     is served as transfers only, so its
 *                                     names are never looked up one by one
 * Errors from the build: SPFDB_ENOMEM, SPFDB_EINVAL (a stored key or name
 * TSIG cannot use).
 */
#ifndef SPFDB_XFRZONE_H
#define SPFDB_XFRZONE_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "out.h"
#include "spfdb.h"
#include "tsig.h"
#include "wire.h"

struct xfrzone {
    char name[XFR_ORIGIN_MAX + 1]; /* as stored: lowercase, no trailing dot */
    struct xfr_origin origin;     /* the same, a wire name */
    char ns[SPFDB_HOST_MAX + 1];  /* the SOA's MNAME and the apex NS */
    size_t nkeys, cap;            /* keys held, and room */
    struct tsig_key *keys;
};

/* A zone named NAME (text, no trailing dot) with NS host NS ("" for the
 * default), with room for NKEYS keys: 0 and *OUT, or an error. */
int xfrzone_new(struct xfrzone **out, const char *name, const char *ns, size_t nkeys);
/* Add a hmac-sha256 key (SPFDB_EINVAL past the room, or a bad key). */
int xfrzone_add_key(struct xfrzone *x, const char *name, const uint8_t *secret, size_t len);
void xfrzone_free(struct xfrzone *x);

/* Is Q's name (parsed by wire_parse) the transfer zone or below it? */
int xfrzone_has(const struct xfrzone *x, const struct query *q);

enum xfrzone_act {
    XFRZ_REFUSED,        /* unsigned */
    XFRZ_FORMERR,        /* the TSIG record is malformed or misplaced */
    XFRZ_NOTAUTH,        /* a TSIG error: *TSIG_ERR */
    XFRZ_SOA,            /* the SOA, signed */
    XFRZ_REFUSED_SIGNED,
    XFRZ_TRANSFER        /* AXFR or IXFR over TCP: the request verified */
};

/* Decide Q (in X's zone) over TCP or not, at NOW (seconds since 1970);
 * ROOM: a transfer may start (TCP).  CTX is the verified exchange;
 * *TSIG_ERR the TSIG_E* code behind XFRZ_NOTAUTH or XFRZ_FORMERR. */
enum xfrzone_act xfrzone_decide(const struct xfrzone *x, const struct query *q, int tcp,
                                int room, uint64_t now, struct tsig_ctx *ctx, int *tsig_err);

/* Write the reply for ACT (anything but XFRZ_TRANSFER) into OUT[0..LIMIT):
 * SERIAL is the zone's.  Its length, or 0 when it does not fit. */
size_t xfrzone_write(const struct xfrzone *x, const struct query *q, enum xfrzone_act act,
                     struct tsig_ctx *ctx, int tsig_err, uint32_t serial, uint64_t now,
                     uint8_t *out, size_t limit);

/* What a transfer response echoes of Q, into REQ (which points into Q's
 * message), and the serial of an IXFR's authority SOA into *CLIENT (0 when
 * there is none). */
void xfrzone_request(const struct xfrzone *x, const struct query *q, struct xfr_request *req,
                     uint32_t *client);

/* The RCODE and answer class of ACT's reply (for the counters). */
uint8_t xfrzone_rcode(enum xfrzone_act act, int tsig_err);

#endif
