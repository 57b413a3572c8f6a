/* qname.h: the address labels of a query name (SPEC §4 "Names").
 *
 * The labels L1..Ln left of the address base, in wire form, most
 * significant first, are read as an IPv4 name (4 octet labels), an IPv6
 * name (32 nibble labels; ::ffff:0:0/96 is read as the IPv4 address it
 * maps), a tail (a proper prefix of such a name, listed or not) or neither.
 * Pure; the database is not consulted: the caller asks whether the address
 * is listed and applies UNLISTED_TAIL.
 */
#ifndef SPFDB_QNAME_H
#define SPFDB_QNAME_H

#include <stddef.h>
#include <stdint.h>

enum qname_kind {
    QNAME_ABSENT, /* nothing can exist here or below: NXDOMAIN */
    QNAME_TAIL,   /* NODATA whatever the data */
    QNAME_ADDR    /* a full address: listed, or see unlisted_tail */
};

struct qname_addr {
    uint8_t kind;          /* enum qname_kind */
    uint8_t family;        /* QNAME_ADDR: 4 or 6 */
    uint8_t unlisted_tail; /* QNAME_ADDR: a tail when not listed (e.g. 8.8.8.8) */
    uint8_t addr[16];      /* QNAME_ADDR: network order */
};

/* LABELS: N wire labels (length octet, then the octets), back to back. */
void qname_classify(const uint8_t *labels, unsigned n, struct qname_addr *out);

#endif
