/* names.h: allocation, zone and host names (SPEC §2).
 *
 * Pure functions, no allocation, no LMDB: shared by spfdb-ctl, spfdbd and
 * the db.  Each returns 0 or SPFDB_EINVAL (-3) with a one-line reason in
 * MSG (MSG may be NULL).
 */
#ifndef SPFDB_NAMES_H
#define SPFDB_NAMES_H

#include <stddef.h>

/* Normalise (lowercase, no trailing dot) into OUT. */
int spfdb_alloc_name_norm(const char *s, char *out, size_t cap, char *msg, size_t msgcap);
/* A DNS name of letters, digits, '-' and '_', labels 1..63, optional
 * trailing dot; MAXLEN is the limit without the trailing dot. */
int spfdb_dns_name_norm(const char *s, size_t maxlen, char *out, size_t cap, char *msg,
                        size_t msgcap);

/* The zone's hostmaster mailbox: HOSTMASTER when not empty, else
 * "hostmaster@" + NS1 minus its first label. */
int spfdb_hostmaster(const char *hostmaster, const char *ns1, char *out, size_t cap);

#endif
