/* names.h: allocation, zone and host names, and mailboxes (SPEC §2).
 *
 * Pure functions, no allocation, no LMDB: shared by spfdb-ctl, spfdbd and
 * the db.  Each returns 0 or SPFDB_EINVAL with a one-line reason in MSG
 * (MSG may be NULL).
 */
#ifndef SPFDB_NAMES_H
#define SPFDB_NAMES_H

#include <stddef.h>

#include "errors.h"

/* Normalise (lowercase, no trailing dot) into OUT. */
int spfdb_alloc_name_norm(const char *s, char *out, size_t cap, char *msg, size_t msgcap);
/* A DNS name of letters, digits, '-' and '_', labels 1..63, optional
 * trailing dot; MAXLEN is the limit without the trailing dot. */
int spfdb_dns_name_norm(const char *s, size_t maxlen, char *out, size_t cap, char *msg,
                        size_t msgcap);

/* A hostmaster mailbox local@domain: the local part a dot-atom (RFC 5322
 * §3.2.3) of 1 to 63 characters, kept as given (the server escapes its
 * dots in the SOA's RNAME); the domain a DNS name, normalised; 255
 * characters in all at most.  OUT gets local@domain. */
int spfdb_mailbox_norm(const char *s, char *out, size_t cap, char *msg, size_t msgcap);

/* The zone's hostmaster mailbox: HOSTMASTER when not empty, else
 * "hostmaster@" + NS1 minus its first label. */
int spfdb_hostmaster(const char *hostmaster, const char *ns1, char *out, size_t cap);

/* The rules of a name as stored (SPEC §2), for the records read back: a
 * host or zone name of at most MAXLEN characters, already normalised
 * (lowercase, no trailing dot); a mailbox as spfdb_mailbox_norm leaves it.
 * 0 or SPFDB_EINVAL with the reason in MSG. */
int spfdb_stored_name_check(const char *s, size_t maxlen, char *msg, size_t msgcap);
int spfdb_stored_mailbox_check(const char *s, char *msg, size_t msgcap);

/* The N octets at S as text that stays on one line and shows no control
 * character: printable ASCII kept, '\\' and '"' and every other octet as
 * \xHH.  Into DST of CAP bytes (cut there, always terminated); returns
 * the length written.  4 * N + 1 bytes hold it all. */
size_t spfdb_escape(char *dst, size_t cap, const void *s, size_t n);

#endif
