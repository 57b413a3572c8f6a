/* cookie.h: DNS Cookies (RFC 7873) with the interoperable server cookie of
 * RFC 9018 (SPEC §4 "EDNS").
 *
 * A server cookie is 16 octets: version 1, three reserved octets, a
 * 4-octet timestamp (Unix seconds) and SipHash-2-4 over client cookie |
 * version | reserved | timestamp | client address under a 16-octet server
 * secret.  BIND, Knot and NSD make the same cookie, so servers of one
 * service that share the secret accept each other's cookies.
 *
 * struct cookie_secrets is the explicit context: written once at start
 * (random, or read from a file by cookie_secrets_parse), then read-only and
 * shared by every answering thread without locks.  Its first secret makes
 * new cookies; every secret is accepted (a rollover keeps the old one
 * listed for an hour).  cookie_answer() is pure, never allocates and is
 * safe from any thread.
 */
#ifndef SPFDB_COOKIE_H
#define SPFDB_COOKIE_H

#include <stddef.h>
#include <stdint.h>

enum {
    COOKIE_CLIENT_LEN = 8,
    COOKIE_SERVER_LEN = 16,
    COOKIE_REPLY_LEN = 24,     /* client cookie and server cookie */
    COOKIE_SECRET_LEN = 16,
    COOKIE_SECRETS_MAX = 4,
    COOKIE_VALID_S = 3600,     /* accepted for an hour after its timestamp ... */
    COOKIE_FUTURE_S = 300,     /* ... and up to five minutes before it */
    COOKIE_RENEW_S = 1800      /* replaced in the reply once half an hour old */
};

struct cookie_secrets {
    unsigned n;                /* 1 to COOKIE_SECRETS_MAX */
    uint8_t key[COOKIE_SECRETS_MAX][COOKIE_SECRET_LEN]; /* key[0] makes cookies */
};

/* What the query's COOKIE option held. */
enum cookie_state {
    COOKIE_NONE = 0,    /* no COOKIE option (or cookies off) */
    COOKIE_CLIENT_ONLY, /* a client cookie alone */
    COOKIE_VALID,       /* a server cookie of ours, within its time window */
    COOKIE_BAD          /* a server cookie that is not ours, stale or from the future */
};

/* SipHash-2-4 of M[0..LEN) under KEY; the 8 octets of the digest are the
 * little-endian bytes of the result (the reference implementation's). */
uint64_t cookie_siphash24(const uint8_t key[COOKIE_SECRET_LEN], const uint8_t *m, size_t len);

/* The server cookie for CLIENT (8 octets) from address IP[0..IPLEN) (4 or
 * 16 octets) at NOW, with the reserved octets RESERVED (3, zero in the
 * cookies we make), under KEY, into OUT[0..16). */
void cookie_make(const uint8_t key[COOKIE_SECRET_LEN], const uint8_t *client,
                 const uint8_t *reserved, const uint8_t *ip, size_t iplen, uint32_t now,
                 uint8_t out[COOKIE_SERVER_LEN]);

/* The query's COOKIE option data OPT[0..LEN) (8, or 16 to 40 octets: the
 * parser refused other lengths) from IP[0..IPLEN) at NOW: what it held,
 * and into OUT[0..24) the option data of the reply (the client cookie and
 * the server cookie received, when valid, made with the first secret and
 * younger than half an hour; else a fresh one). */
enum cookie_state cookie_answer(const struct cookie_secrets *s, const uint8_t *opt, size_t len,
                                const uint8_t *ip, size_t iplen, uint32_t now,
                                uint8_t out[COOKIE_REPLY_LEN]);

/* Secrets from TEXT[0..LEN): one secret a line, 32 hex digits (BIND's,
 * Knot's and NSD's form for a SipHash-2-4 secret), blank lines and lines
 * starting with '#' ignored; the first makes cookies.  0, or -1 with the
 * line number of the first bad line in *BADLINE (0: no secret, or more
 * than COOKIE_SECRETS_MAX). */
int cookie_secrets_parse(struct cookie_secrets *s, const char *text, size_t len, unsigned *badline);

#endif
