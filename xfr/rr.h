/* rr.h: domain names and resource records in DNS messages, as the
 * transfer code needs them (tsig.c, layout.c; later the producer and the
 * follower's reader).
 *
 * Pure functions over caller buffers: no allocation, no state, safe from
 * any thread.  Every read is bounded by the message length; a malformed
 * name or record returns -1 and never reads past the end.  Names are kept
 * in wire form (length-prefixed labels, root octet included, at most 255
 * octets); letter case is kept as read and compared with ASCII case
 * folded (RFC 4343).
 */
#ifndef SPFDB_XFR_RR_H
#define SPFDB_XFR_RR_H

#include <stddef.h>
#include <stdint.h>

#define XFR_NAME_MAX 255 /* octets of a wire name, root included */
#define XFR_LABEL_MAX 63
#define XFR_HDR_LEN 12   /* the DNS header */
#define XFR_MSG_MAX 65535 /* a message over TCP: its length field */

/* RR types and classes the transfer code names. */
enum {
    XFR_T_NS = 2,
    XFR_T_SOA = 6,
    XFR_T_PTR = 12,
    XFR_T_TXT = 16,
    XFR_T_OPT = 41,
    XFR_T_APL = 42,
    XFR_T_TSIG = 250,
    XFR_T_IXFR = 251,
    XFR_T_AXFR = 252,
    XFR_C_IN = 1,
    XFR_C_ANY = 255
};

/* The text of error ERR (0 or negative) from TABLE, indexed by -ERR, of
 * N entries: each module's strerror. */
static inline const char *xfr_errtext(const char *const *table, size_t n, int err)
{
    return err <= 0 && (size_t)-err < n && table[-err] ? table[-err] : "unknown error";
}

/* Serial number arithmetic (RFC 1982): is A newer than B?  Neither, when
 * they are 2^31 apart. */
static inline int xfr_serial_gt(uint32_t a, uint32_t b)
{
    return a != b && (uint32_t)(a - b) < 0x80000000u;
}

/* ASCII letters to lowercase, every other octet as it is. */
static inline uint8_t xfr_fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
}

/* Read the name at OFF in MSG[0..LEN) into OUT, uncompressed.  A
 * compression pointer must point before the octet that holds it, so every
 * name ends.  Returns the wire length in OUT (1..255) and sets *NEXT to the
 * offset just after the name where it sits (after its first pointer), or
 * -1: a reserved label type, a pointer forward or past LEN, more than 255
 * octets, or the end of the message inside the name. */
int xfr_name_read(const uint8_t *msg, size_t len, size_t off, uint8_t out[XFR_NAME_MAX],
                  size_t *next);

/* Text to a lowercase wire name: "a.b.c", "a.b.c." or "." (the root);
 * labels of 1..63 letters, digits, '-' and '_' (the names spfdb stores;
 * no escapes).  Reads N octets of S.  Returns the wire length, or -1. */
int xfr_name_from_text(const char *s, size_t n, uint8_t out[XFR_NAME_MAX]);

/* Equal wire names, ASCII letters compared case-insensitively.  Both must
 * be well formed (as xfr_name_read or xfr_name_from_text leave them). */
int xfr_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* If NAME is ZONE or lies below it (ignoring case), the number of octets
 * of NAME before ZONE's labels begin (0: equal); otherwise -1. */
int xfr_name_under(const uint8_t *name, size_t nlen, const uint8_t *zone, size_t zlen);

/* Lowercase the ASCII letters of a wire name in place. */
void xfr_name_lower(uint8_t *name, size_t len);

/* One resource record as it sits in a message. */
struct xfr_rr {
    uint8_t owner[XFR_NAME_MAX]; /* uncompressed, letter case as sent */
    size_t owner_len;
    uint16_t type, rclass;
    uint32_t ttl;
    const uint8_t *msg; /* the whole message: names in RDATA may point into it */
    size_t msg_len;
    size_t rdoff;       /* RDATA is msg[rdoff .. rdoff + rdlen) */
    uint16_t rdlen;
};

/* Read the record at *OFF in MSG[0..LEN) into RR (which points into MSG)
 * and advance *OFF past it.  0, or -1 when the record is cut short. */
int xfr_rr_read(const uint8_t *msg, size_t len, size_t *off, struct xfr_rr *rr);

/* Skip the question at *OFF (name, type, class).  0 or -1. */
int xfr_question_skip(const uint8_t *msg, size_t len, size_t *off);

#endif
