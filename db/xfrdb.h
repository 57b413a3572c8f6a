/* xfrdb.h: the transfer settings (SPEC §5), the `xfr` database (xfrdb.c;
 * the public calls are in spfdb.h "transfers").
 *
 * Keys (values begin with a version octet, 1; strings are a length octet
 * and their octets):
 *   "zone"               the transfer zone: name, NS host
 *   "key" 0 NAME         a TSIG key: algorithm (1), secret length (1), the
 *                        secret, created (i64)
 *   "replica" 0 ADDR     a NOTIFY target and transfer client, ADDR in
 *                        canonical ADDR:PORT text: its key's name
 *   "primary"            what this replica follows: zone, key, address
 *                        count (1), each ADDR:PORT
 *   "follow"             the follower's state: synced (1), the primary's
 *                        serial seen (u32), last contact, last success (i64);
 *                        then (absent in records of the first form, read
 *                        as 0) transfers applied, failures, rollbacks (u64),
 *                        behind since, last failure (i64), EXPIRE (u32),
 *                        AXFR needed (1)
 * Every change is a quiet commit (t->quiet): durable, but no serial, no
 * change log record (the secrets stay out of it), no meta_gen; write.c
 * bumps xfr_gen instead.  Storing a value unchanged changes nothing.
 *
 * Calls down into env.h and the pure rules.h and prefix.h; meta.c asks it
 * for the transfer zone, write.c whether the database is a replica.  The
 * served zones are read by their keys here (zones database: name -> value)
 * so that this module needs nothing of meta.c.  Errors as spfdb.h.
 */
#ifndef SPFDB_XFRDB_H
#define SPFDB_XFRDB_H

#include "spfdb.h"

/* 1 when the database follows a primary (its "primary" record), 0, <0. */
int xfr_primary_present(spfdb_txn *t);
/* The transfer zone's name into NAME (SPFDB_XFR_ZONE_MAX + 1 bytes): 1, 0
 * when none is set, or <0. */
int xfr_zone_name(spfdb_txn *t, char *name);

/* The stored values' decoders (pure): the record of key "key" 0 NAME
 * (NLEN octets), "zone", "replica" 0 ADDR, "primary", "follow", stored as
 * B[0..LEN), into *OUT, checked as the setters check what they store
 * (names, addresses canonical and none twice, lengths): 0, SPFDB_EFORMAT
 * for a record that cannot be read, or SPFDB_EBADNAME for a name or
 * address in it that breaks the setters' rules (*OUT holds it then). */
int xfr_key_decode(const char *name, size_t nlen, const uint8_t *b, size_t len,
                   struct spfdb_key *out);
int xfr_zone_decode(const uint8_t *b, size_t len, struct spfdb_xfr_zone *out);
int xfr_replica_decode(const char *addr, size_t nlen, const uint8_t *b, size_t len,
                       struct spfdb_replica *out);
int xfr_primary_decode(const uint8_t *b, size_t len, struct spfdb_primary *out);
int xfr_follow_decode(const uint8_t *b, size_t len, struct spfdb_follow *out);

#endif
