/* spfeval.h: which addresses an SPF record passes (import-spf, SPEC §3).
 *
 * Pure: parsing of SPF records (RFC 7208) and the set arithmetic, with
 * every DNS lookup behind one callback, so that the tests give a table
 * instead of a resolver.  No globals; one struct spfeval per evaluation,
 * used by one thread.
 *
 * The evaluation walks the record as a verifier does for a sender that no
 * term matches (the costliest walk), so that its lookups are counted as a
 * verifier counts them (RFC 7208 §4.6.4: 10 in all, 2 void per address
 * family), whether or not their addresses can be imported.  The first term
 * matching a sender decides, so a pass term contributes its addresses
 * minus those of every earlier term (of any qualifier); the result is the
 * union, as the fewest CIDR prefixes.
 *
 * Errors: spfeval_run returns 0, or SPFEVAL_EPERM (a permerror: syntax, a
 * loop, a limit, a missing record), SPFEVAL_ETEMP (a lookup failed), or
 * SPFEVAL_ENOMEM; ev->error then names the domain (and the limit).  The
 * result is valid only after 0.  spfeval_free releases it either way.
 */
#ifndef SPFDB_SPFEVAL_H
#define SPFDB_SPFEVAL_H

#include <stddef.h>
#include <stdint.h>

#include "prefix.h"

/* DNS record types the evaluator asks for. */
enum { SPFEVAL_A = 1, SPFEVAL_MX = 15, SPFEVAL_TXT = 16, SPFEVAL_AAAA = 28 };

/* A lookup's answer: the records of the asked type, each as bytes (TXT:
 * its strings joined; A, AAAA: the 4 or 16 address bytes; MX: the host
 * name as text, no trailing dot).  Filled with spfeval_rr_add. */
struct spfeval_rr {
    char *data; /* NUL-terminated copy, len bytes before it */
    size_t len;
};
struct spfeval_rrset {
    struct spfeval_rr *v;
    size_t n, cap;
};
/* Append a record; 0, or SPFEVAL_ENOMEM. */
int spfeval_rr_add(struct spfeval_rrset *s, const void *data, size_t len);

/* The lookup callback's results. */
enum {
    SPFEVAL_FOUND = 0,   /* rrset filled; n == 0 is NODATA (a void lookup) */
    SPFEVAL_NXDOMAIN = 1 /* the name does not exist (a void lookup) */
};
enum { SPFEVAL_EPERM = -1, SPFEVAL_ETEMP = -2, SPFEVAL_ENOMEM = -3 };

/* Look NAME (no trailing dot) up for TYPE into OUT (empty on entry):
 * SPFEVAL_FOUND, SPFEVAL_NXDOMAIN, or SPFEVAL_ETEMP (SERVFAIL, timeout),
 * SPFEVAL_ENOMEM, with a reason in MSG (of MSGCAP bytes) for ETEMP. */
typedef int (*spfeval_lookup_fn)(void *ctx, const char *name, int type,
                                 struct spfeval_rrset *out, char *msg, size_t msgcap);

#define SPFEVAL_MAX_LOOKUPS 10
#define SPFEVAL_MAX_VOID 2
#define SPFEVAL_MAX_MX 10
#define SPFEVAL_ERR_MAX 512

struct spfeval_lines { /* messages, one a line, no newline */
    char **v;
    size_t n, cap;
};

struct spfeval {
    /* in */
    spfeval_lookup_fn lookup;
    void *ctx;
    /* out, after spfeval_run */
    struct spfdb_prefix *prefixes; /* the fewest prefixes, in address order */
    size_t n_prefixes;
    struct spfeval_lines notes;       /* host bits masked, lookups that found nothing */
    struct spfeval_lines unimportable; /* "DOMAIN: TERM (why)" */
    int needs_force;     /* an unimportable term precedes a pass term, or +all is reachable */
    unsigned lookups;    /* DNS-querying terms, as a verifier counts them */
    unsigned voids[2];   /* void lookups, IPv4 and IPv6 senders */
    char error[SPFEVAL_ERR_MAX]; /* why spfeval_run failed */
    /* internal */
    struct spfeval_state *st;
};

/* Evaluate DOMAIN's SPF record (DOMAIN as typed, a trailing dot allowed).
 * EV's lookup and ctx set, the rest zero. */
int spfeval_run(struct spfeval *ev, const char *domain);
void spfeval_free(struct spfeval *ev);

/* ---- set arithmetic, exposed for the tests ------------------------------ */

/* A set of addresses of one family: sorted, disjoint, non-adjacent closed
 * intervals [lo, hi] of 128-bit numbers (IPv4 in the low 32 bits). */
typedef unsigned __int128 spfeval_u128;
struct spfeval_iv {
    spfeval_u128 lo, hi;
};
struct spfeval_set {
    struct spfeval_iv *v;
    size_t n, cap;
};
/* S ∪= [lo, hi]; 0 or SPFEVAL_ENOMEM. */
int spfeval_set_add(struct spfeval_set *s, spfeval_u128 lo, spfeval_u128 hi);
/* S ∪= T. */
int spfeval_set_union(struct spfeval_set *s, const struct spfeval_set *t);
/* OUT = S \ T (OUT empty on entry, not S or T). */
int spfeval_set_minus(struct spfeval_set *out, const struct spfeval_set *s,
                      const struct spfeval_set *t);
/* Is X in S? */
int spfeval_set_has(const struct spfeval_set *s, spfeval_u128 x);
/* S as the fewest prefixes of FAMILY (4 or 6), appended to *V (*N, *CAP). */
int spfeval_set_prefixes(const struct spfeval_set *s, int family, struct spfdb_prefix **v,
                         size_t *n, size_t *cap);
void spfeval_set_free(struct spfeval_set *s);

#endif
