/* zonerec.h: a zone as the `zones` database stores it, and as the change
 * log carries it (zonerec.c).
 *
 * Pure: no LMDB, no allocation.  The stored value is version 1, alloc_id,
 * ttl, neg_ttl (u32 each), the hostmaster, the NS count (1 octet) and the
 * NS hosts, each string a length octet and its octets; the zone's name is
 * the key and its allocation's name is not stored (zones keep the id).
 * meta.c reads and writes the database with these; changelog.c copies
 * the old and new values into zone changes and decodes them for readers.
 */
#ifndef SPFDB_ZONEREC_H
#define SPFDB_ZONEREC_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define ZONEREC_MAX (14 + 256 + 1 + SPFDB_NS_MAX * 256)

/* Z's value into B (ZONEREC_MAX octets): its length.  Z's strings must fit
 * their length octets (a zone that passed spfdb_zone_rules does). */
size_t zonerec_encode(const struct spfdb_zone *z, uint8_t *b);

/* The zone NAME (NLEN octets) stored as the LEN octets at B, into *Z with
 * alloc "" (the caller names the allocation).  0, or SPFDB_EFORMAT for
 * what zonerec_encode cannot have written (a NUL in a string, too many NS
 * hosts, octets left over).  The _desc form, for the zones database,
 * also checks the zone name, NS hosts and hostmaster against SPEC §2's
 * rules for names (no write stores one that breaks them): SPFDB_EBADNAME,
 * and DESC (CAP bytes; may be NULL) says which, the name escaped
 * (spfdb_escape), e.g. 'NS host "a\x0a" of zone "example.com"'.  The
 * change log's copies are history, decoded as stored and printed escaped. */
int zonerec_decode_desc(const char *name, size_t nlen, const uint8_t *b, size_t len,
                        struct spfdb_zone *z, char *desc, size_t cap);
int zonerec_decode(const char *name, size_t nlen, const uint8_t *b, size_t len,
                   struct spfdb_zone *z);
#define ZONEREC_DESC_MAX (2 * 4 * SPFDB_NAME_MAX + 64)

/* The settings as the change log has always shown them ("ttl=300
 * negative-ttl=60 hostmaster=default ns=a,b") into BUF of CAP octets
 * (ZONEREC_TEXT_MAX is enough for any zone). */
#define ZONEREC_TEXT_MAX (64 + SPFDB_NAME_MAX + SPFDB_NS_MAX * (SPFDB_NAME_MAX + 1) + 64)
void zonerec_text(const struct spfdb_zone *z, char *buf, size_t cap);

#endif
