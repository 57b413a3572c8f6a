/* tsig.h: TSIG with hmac-sha256 (RFC 8945), for the transfer zone
 * (SPEC §5, docs/transfer-zone.md).
 *
 * Pure functions over caller buffers: no allocation, no sockets, no
 * global state; the HMAC runs on a stack or context copy (nettle).
 *
 * Keys: the caller owns a table of struct tsig_key (built with
 * tsig_key_set) and keeps it alive and unchanged while a context refers
 * to one of its keys.  Key names are wire names, compared ignoring case;
 * the MAC covers the name in lowercase (RFC 8945 §4.3.3).
 *
 * An exchange is one struct tsig_ctx, owned by one thread at a time:
 * - client: tsig_sign_request(), then tsig_verify_reply() for each
 *   reply message and tsig_verify_end() after the last one;
 * - server: tsig_verify_request(), then tsig_sign_reply() for each reply
 *   message (tsig_absorb_unsigned() for one sent without TSIG), or, when
 *   the request failed with BADKEY, BADSIG, BADTIME or BADTRUNC,
 *   tsig_sign_error() on the NOTAUTH reply.
 * Replies after the first form a stream (RFC 8945 §5.3.1): each MAC
 * covers the prior MAC, the unsigned messages since, and the message;
 * a verifier accepts up to 99 unsigned messages in a row, never as the
 * first reply, and tsig_verify_end() refuses a stream that ends unsigned.
 *
 * Messages: MSG[0..*LEN) is a whole DNS message in a buffer of CAP
 * octets.  Signing appends the TSIG record at *LEN, adds one to ARCOUNT
 * and updates *LEN; on TSIG_ENOSPACE the message is left unchanged.
 * Verifying reads only.  Times are seconds since 1970 (48 bits on the
 * wire); NOW is the caller's clock.
 *
 * Errors: functions return TSIG_OK (0) or a negative TSIG_E* code;
 * tsig_rcode() and tsig_error_code() give the RCODE and TSIG error field
 * to answer with, tsig_strerror() a short name.  After a verify, the
 * context keeps what an error reply must echo (the key name, algorithm,
 * Time Signed, Original ID) whatever the outcome.
 */
#ifndef SPFDB_XFR_TSIG_H
#define SPFDB_XFR_TSIG_H

#include <stddef.h>
#include <stdint.h>

#include <nettle/hmac.h>

#include "rr.h"

#define TSIG_MAC_LEN 32     /* hmac-sha256 output */
#define TSIG_MAC_MIN 16     /* shorter MACs are FORMERR (the larger of 10 and half the hash) */
#define TSIG_FUDGE 300      /* seconds, what we sign with */
#define TSIG_UNSIGNED_MAX 99 /* unsigned messages in a row a stream verifier accepts */
/* Octets a signature adds to a message, at most: owner (the key name),
 * type, class, TTL, RDLENGTH, algorithm name, times, MAC, Original ID,
 * Error and 6 octets of Other Data. */
#define TSIG_RR_MAX (XFR_NAME_MAX + 10 + 13 + 10 + TSIG_MAC_LEN + 6 + 6)

enum {
    TSIG_OK = 0,
    TSIG_EUNSIGNED = -1, /* no TSIG record (or a stream ends, or runs 100 messages, unsigned) */
    TSIG_EFORMERR = -2,  /* TSIG not last or not alone, malformed, or a MAC under 16 octets */
    TSIG_EBADKEY = -3,   /* unknown key or algorithm; a reply under another key */
    TSIG_EBADSIG = -4,   /* the MAC does not verify */
    TSIG_EBADTIME = -5,  /* Time Signed further than Fudge from NOW */
    TSIG_EBADTRUNC = -6, /* a valid MAC, but truncated (16..31 octets): refused by policy */
    TSIG_EPEER = -7,     /* the peer's reply carries a TSIG error: ctx->peer_error */
    TSIG_ENOSPACE = -8,  /* the buffer cannot hold the TSIG record */
    TSIG_EINVAL = -9     /* bad argument: key name or secret, call out of order */
};

/* TSIG error field values (RFC 8945 §3). */
enum { TSIG_ERR_BADSIG = 16, TSIG_ERR_BADKEY = 17, TSIG_ERR_BADTIME = 18, TSIG_ERR_BADTRUNC = 22 };

/* The secret itself is not kept: the HMAC state after it is all a MAC
 * needs, copied per message (and as secret as the secret). */
struct tsig_key {
    uint8_t name[XFR_NAME_MAX]; /* wire form, lowercase */
    uint8_t name_len;
    struct hmac_sha256_ctx keyed;
};

struct tsig_ctx {
    const struct tsig_key *key; /* the exchange's key; NULL before, or on BADKEY */
    int status;                 /* the last verify's result */
    /* The MAC that the next message's MAC covers: the request's, then the
     * last signed message's.  RUN holds the HMAC over it and over the
     * unsigned messages since (UNSIGNED_RUN of them). */
    uint8_t mac[TSIG_MAC_LEN];
    uint8_t mac_len;
    unsigned replies;      /* signed replies made or verified so far */
    unsigned unsigned_run;
    struct hmac_sha256_ctx run;
    /* From the last TSIG read: what an error reply echoes. */
    uint8_t name[XFR_NAME_MAX];    /* key name, as sent */
    uint8_t name_len;
    uint8_t alg[XFR_NAME_MAX];     /* algorithm name, as sent */
    uint8_t alg_len;
    uint64_t time_signed;
    uint16_t fudge;
    uint16_t orig_id;
    /* A reply's TSIG error (TSIG_EPEER) and, for BADTIME, the peer's clock. */
    uint16_t peer_error;
    uint64_t peer_time; /* 0 when the reply had no 6-octet Other Data */
};

/* Fill KEY: NAME as text (a domain name: letters, digits, '-', '_'), and
 * a SECRET of LEN > 0 octets (the database stores 16..64).  0 or
 * TSIG_EINVAL. */
int tsig_key_set(struct tsig_key *key, const char *name, const uint8_t *secret, size_t len);

/* Where the TSIG record starts: 0 and *OFF, TSIG_EUNSIGNED when there is
 * none, TSIG_EFORMERR when one is not the last additional record, or
 * there are several, or the message does not parse up to it. */
int tsig_find(const uint8_t *msg, size_t len, size_t *off);

/* ---- client ---- */

/* Start CTX for KEY and sign the request (Original ID = the header's ID). */
int tsig_sign_request(struct tsig_ctx *ctx, const struct tsig_key *key, uint8_t *msg,
                      size_t *len, size_t cap, uint64_t now);
/* Check one reply: TSIG_OK for a verified message, and also for an
 * unsigned one inside a stream (absorbed into the next MAC); else the
 * error.  TSIG_EPEER: the peer answered with a TSIG error (a signed
 * BADTIME or BADTRUNC must verify to be reported so; an unsigned
 * BADSIG or BADKEY cannot be authenticated and is reported as sent). */
int tsig_verify_reply(struct tsig_ctx *ctx, const uint8_t *msg, size_t len, uint64_t now);
/* After the last reply: TSIG_OK when it was signed and verified. */
int tsig_verify_end(const struct tsig_ctx *ctx);

/* ---- server ---- */

/* Verify a request against KEYS[0..NKEYS) and start CTX, in RFC 8945
 * §5.2's order: placement and form (FORMERR), key and algorithm (BADKEY),
 * MAC length (FORMERR), MAC (BADSIG), time (BADTIME), truncation
 * (BADTRUNC).  TSIG_EUNSIGNED for a message without TSIG. */
int tsig_verify_request(struct tsig_ctx *ctx, const struct tsig_key *keys, size_t nkeys,
                        const uint8_t *msg, size_t len, uint64_t now);
/* Sign a reply to a verified request: the first with the request's MAC
 * and all TSIG variables, later ones as a stream.  Original ID = the
 * header's ID. */
int tsig_sign_reply(struct tsig_ctx *ctx, uint8_t *msg, size_t *len, size_t cap, uint64_t now);
/* Octets the next signed reply's TSIG record takes (the key name, the
 * algorithm, a full MAC, no Other Data): what a producer keeps free in
 * each message.  0 without a key. */
size_t tsig_reply_space(const struct tsig_ctx *ctx);
/* A reply sent without TSIG inside a stream (not the first; up to 99 in
 * a row): fold it into the next signature. */
int tsig_absorb_unsigned(struct tsig_ctx *ctx, const uint8_t *msg, size_t len);
/* Append the TSIG of an error reply after tsig_verify_request() failed
 * with ERR (the caller sets RCODE NOTAUTH): BADKEY and BADSIG unsigned
 * (MAC size 0) under the request's key and algorithm names; BADTIME and
 * BADTRUNC signed with the request's MAC, BADTIME echoing its Time Signed
 * with NOW in 6 octets of Other Data.  TSIG_EINVAL for another ERR. */
int tsig_sign_error(const struct tsig_ctx *ctx, int err, uint8_t *msg, size_t *len, size_t cap,
                    uint64_t now);

/* ---- errors ---- */

int tsig_rcode(int err);      /* 0, 1 (FORMERR) or 9 (NOTAUTH) */
int tsig_error_code(int err); /* 0 or TSIG_ERR_* */
const char *tsig_strerror(int err);

#endif
