/* prefix.h: IP prefixes as text and as bytes (SPEC §2 "entry").
 *
 * Pure functions, no allocation, no LMDB: shared by spfdb-ctl, the db and
 * the tests.  A prefix is canonical: host bits zero, IPv4-mapped IPv6
 * (::ffff:0:0/96 and longer) stored as the IPv4 prefix it maps.
 */
#ifndef SPFDB_PREFIX_H
#define SPFDB_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct spfdb_prefix {
    uint8_t family;   /* 4 or 6 */
    uint8_t len;      /* 0..32 or 0..128 */
    uint8_t addr[16]; /* network order; IPv4 in addr[0..3], the rest zero */
};

/* Notes a successful parse can carry (bit set in *notes). */
enum {
    SPFDB_NOTE_MAPPED = 1,  /* IPv4-mapped IPv6 text, stored as IPv4 */
    SPFDB_NOTE_SPECIAL = 2, /* private, loopback, link-local, shared or ULA */
    SPFDB_NOTE_WIDE = 4     /* shorter than /8 (IPv4) or /16 (IPv6): needs --force */
};

/* Parse exactly LEN bytes of S ("198.51.100.0/24", "2001:db8::/32", a bare
 * address = /32 or /128).  No whitespace, no leading zeros in IPv4 octets
 * or in the length.  Returns 0 with *out and *notes set, or SPFDB_EINVAL
 * with a one-line reason in MSG, e.g. "host bits set; did you mean
 * 198.51.100.0/24?".  MSG may be NULL. */
int spfdb_prefix_parse(const char *s, size_t len, struct spfdb_prefix *out, unsigned *notes,
                       char *msg, size_t msgcap);

/* Is P a prefix at all: family 4 or 6, a length that fits, no host bits
 * set?  1 or 0.  (Canonical also needs !spfdb_prefix_mapped.) */
int spfdb_prefix_valid(const struct spfdb_prefix *p);

/* Is P an IPv6 prefix inside ::ffff:0:0/96 (length 96 or more), which
 * canonically is the IPv4 prefix it maps?  1 or 0. */
int spfdb_prefix_mapped(const struct spfdb_prefix *p);

/* The shortest length an entry of P's family has without --force (8 for
 * IPv4, 16 for IPv6) when P is shorter, else 0 (SPFDB_NOTE_WIDE). */
unsigned spfdb_prefix_wide(const struct spfdb_prefix *p);

/* Why P is special (e.g. "private (RFC 1918)"), or NULL. */
const char *spfdb_prefix_special(const struct spfdb_prefix *p);

/* Canonical text, always with "/len" (RFC 5952 for IPv6).  BUF of at least
 * SPFDB_PREFIX_STRLEN bytes. */
#define SPFDB_PREFIX_STRLEN 64
void spfdb_prefix_format(const struct spfdb_prefix *p, char *buf, size_t cap);

/* Does P contain Q (same family, P.len <= Q.len, Q inside P)? */
int spfdb_prefix_contains(const struct spfdb_prefix *p, const struct spfdb_prefix *q);

/* Order: family, address, length.  <0, 0, >0. */
int spfdb_prefix_cmp(const struct spfdb_prefix *a, const struct spfdb_prefix *b);

/* A transfer peer's address and port (SPEC §5: replicas, primaries). */
struct spfdb_addrport {
    uint8_t family;   /* 4 or 6 */
    uint16_t port;    /* 1..65535 */
    uint8_t addr[16]; /* network order; IPv4 in addr[0..3], the rest zero */
};
#define SPFDB_ADDRPORT_DEFAULT 53
/* "[ffff:...:ffff]:65535" and its NUL fit */
#define SPFDB_ADDRPORT_STRLEN 48

/* Parse S: "192.0.2.1", "192.0.2.1:5300", "2001:db8::1", "[2001:db8::1]"
 * or "[2001:db8::1]:5300" (no port: 53); addresses as spfdb_prefix_parse
 * reads them, the port decimal without leading zeros.  0 and *OUT, or
 * SPFDB_EINVAL with a one-line reason in MSG (may be NULL). */
int spfdb_addrport_parse(const char *s, struct spfdb_addrport *out, char *msg, size_t msgcap);
/* The canonical text, "192.0.2.1:53" or "[2001:db8::1]:53" (RFC 5952),
 * into BUF of at least SPFDB_ADDRPORT_STRLEN bytes. */
void spfdb_addrport_format(const struct spfdb_addrport *a, char *buf, size_t cap);

#endif
