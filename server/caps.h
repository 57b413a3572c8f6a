/* caps.h: giving up capabilities once spfdbd needs none (SPEC §4).
 *
 * Under systemd spfdbd runs as its own user with CAP_NET_BIND_SERVICE as
 * an ambient capability, only to bind port 53.  Once every socket is bound
 * and the database is open, caps_drop() empties the effective, permitted,
 * inheritable and ambient sets, so a compromised server cannot bind
 * another privileged port (or, started as root without --user, use any
 * root capability).  Direct system calls (capset, prctl): no libcap.
 * Call it before any thread starts: capabilities are per thread.
 */
#ifndef SPFDB_CAPS_H
#define SPFDB_CAPS_H

#include <stddef.h>

/* 0, or -1 with the reason in ERR (CAP bytes). */
int caps_drop(char *err, size_t cap);

#endif
