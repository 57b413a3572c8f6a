/* notifyin.h: a NOTIFY (RFC 1996) received by the follower (SPEC §5):
 * read it, decide, and write the reply.  Pure: no sockets, no state; the
 * caller (main.c) owns the UDP and TCP sockets and acts on the verdict.
 *
 * A NOTIFY is accepted only when all hold, checked in this order:
 * - it is a request (QR clear) with OPCODE NOTIFY; a response, or a
 *   message shorter than a header, gets no reply (NOTIFY_DROP); another
 *   OPCODE gets NOTIMP;
 * - one question, `<transfer zone> SOA IN`, and the message parses
 *   (else FORMERR; another zone: NOTAUTH, RFC 1996 §3.10);
 * - it comes from the address of one of the primaries (any port: a
 *   primary sends from a socket of its own), else REFUSED;
 * - it is signed with the primary's key (tsig.h), else REFUSED when
 *   unsigned, NOTAUTH with the TSIG error when the key, MAC or time is
 *   wrong (RFC 8945 §5.2).
 * The reply copies ID and the question, sets QR and AA, and is signed
 * when the request verified.  An answer-section SOA of the zone gives
 * the primary's new serial (RFC 1996 §3.7, a hint: the SOA check decides).
 */
#ifndef SPFDB_FOLLOW_NOTIFYIN_H
#define SPFDB_FOLLOW_NOTIFYIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "layout.h"
#include "tsig.h"
#include "spfdb.h"

enum { NOTIFY_DROP = -1, NOTIFY_REFUSED = 0, NOTIFY_ACCEPT = 1 };

struct notify_cfg {
    const struct xfr_origin *origin;
    const struct tsig_key *key;
    const struct spfdb_addrport *primaries;
    unsigned n;
};

struct notify_verdict {
    int primary;          /* ACCEPT: the index of the primary it came from */
    int has_serial;
    uint32_t serial;      /* the answer SOA's serial, when has_serial */
    char why[160];        /* REFUSED, DROP: one line for the log */
};

/* Decide on MSG[0..LEN) from FROM and write the reply into OUT[0..CAP)
 * (*OUTLEN 0 for NOTIFY_DROP).  NOW: seconds since 1970, for TSIG. */
int notify_handle(const struct notify_cfg *cfg, const struct sockaddr *from, const uint8_t *msg,
                  size_t len, uint8_t *out, size_t cap, size_t *outlen, uint64_t now,
                  struct notify_verdict *v);

#endif
