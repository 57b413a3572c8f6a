/* rules.h: SPEC §2's rules for what the database may hold, checked by the
 * library on every write (spfdb_zone_put, spfdb_entry_add, spfdb_alloc_add
 * refuse what breaks them), so every writer gets the same checks: spfdb-ctl
 * today, a replica applying a zone transfer soon.
 *
 * Pure functions, no allocation, no LMDB.  Each returns 0, or an error code
 * (errors.h) with, when WHY is not NULL, the rule broken and what the
 * caller needs to word its message (struct spfdb_why):
 *   SPFDB_EINVAL  the value is malformed (a name's syntax, a count, a TTL
 *                 out of range, a prefix with host bits set);
 *   SPFDB_ERULE   well formed, refused by a rule (a zone name too long for
 *                 its kind, nesting, NS placement, reply sizes, a wide
 *                 prefix);
 *   SPFDB_EEXIST  SPFDB_ZONE_NEW and the zone is already served.
 * The rules that need the served zones run in a write transaction
 * (spfdb_zone_check, spfdb.h); the rest are here.
 */
#ifndef SPFDB_RULES_H
#define SPFDB_RULES_H

#include <stdint.h>

#include "errors.h"
#include "prefix.h"

#define SPFDB_NAME_MAX 255 /* a zone or host name, no trailing dot; a mailbox */
#define SPFDB_LABEL_MAX 63 /* an allocation name */
#define SPFDB_NS_MAX 16

#define SPFDB_HOST_MAX 253          /* a host or zone name: a 255-octet wire name */
#define SPFDB_PROVIDER_ZONE_MAX 120 /* a full IPv6 %{i}.spf.<alloc>.<zone> fits 253 */
#define SPFDB_DELEGATED_ZONE_MAX 188 /* a full IPv6 %{i}.<zone> fits 253 */
#define SPFDB_SOA_NAMES_MAX 190     /* MNAME + RNAME wire octets: every NODATA fits 512 */
#define SPFDB_NS_ANSWER_MAX 512     /* the apex NS answer, counted as rules.c says */
#define SPFDB_TTL_MAX 604800        /* answer TTL, 1 s .. 7 days */
#define SPFDB_NEG_TTL_MAX 86400     /* negative TTL, 1 s .. 1 day */

struct spfdb_zone {
    char name[SPFDB_NAME_MAX + 1];       /* lowercase, no trailing dot */
    uint32_t alloc_id;                   /* delegated: bound allocation; 0: provider */
    char alloc[SPFDB_LABEL_MAX + 1];     /* its name ("" for provider zones); filled on read */
    uint32_t ttl;                        /* A and NS TTL */
    uint32_t neg_ttl;                    /* SOA TTL and MINIMUM */
    char hostmaster[SPFDB_NAME_MAX + 1]; /* local@domain, or "" for the default (names.h) */
    unsigned n_ns;
    char ns[SPFDB_NS_MAX][SPFDB_NAME_MAX + 1]; /* lowercase, no trailing dot */
};

/* The rule a value broke.  Below, "Z" is the zone checked, "S" a served
 * zone, and the fields of struct spfdb_why each rule sets. */
enum {
    SPFDB_RULE_NONE = 0,
    /* EINVAL */
    SPFDB_RULE_ALLOC_NAME,  /* msg */
    SPFDB_RULE_ZONE_NAME,   /* msg: Z's name is not a DNS name, or not lowercase without dot */
    SPFDB_RULE_NS_COUNT,    /* value: Z's NS host count, not 1..limit (SPFDB_NS_MAX) */
    SPFDB_RULE_NS_NAME,     /* index, host (cut to fit), msg: an NS host's name */
    SPFDB_RULE_NS_TWICE,    /* index, host: Z.ns[index] repeats an earlier NS host */
    SPFDB_RULE_HOSTMASTER,  /* mailbox (cut to fit), msg: Z's hostmaster is not a mailbox */
    SPFDB_RULE_TTL,         /* value, limit: Z's TTL is not 1..limit */
    SPFDB_RULE_NEG_TTL,     /* value, limit: Z's negative TTL is not 1..limit */
    SPFDB_RULE_PREFIX,      /* not a prefix: family, length, or host bits set */
    SPFDB_RULE_MAPPED,      /* an IPv6 prefix in ::ffff:0:0/96: its IPv4 prefix is the entry */
    /* ERULE */
    SPFDB_RULE_ZONE_LONG,   /* value: Z's name length; limit: the most for its kind */
    SPFDB_RULE_NS_IN_ZONE,  /* index, host: Z.ns[index] lies at or below Z */
    SPFDB_RULE_NO_HOSTMASTER, /* host: no default mailbox from Z.ns[0] (names.h) */
    SPFDB_RULE_SOA_NAMES,   /* value, limit; host: MNAME (Z.ns[0]); mailbox: RNAME as served */
    SPFDB_RULE_NS_ANSWER,   /* value, limit: octets of Z's apex NS answer */
    SPFDB_RULE_ZONE_BELOW,  /* other: Z lies below served zone S */
    SPFDB_RULE_ZONE_ABOVE,  /* other: Z lies above served zone S */
    SPFDB_RULE_NS_IN_SERVED, /* index, host, other: Z.ns[index] lies at or below S */
    SPFDB_RULE_SERVED_NS,   /* index, host, other: S.ns[index] would lie at or below Z */
    SPFDB_RULE_WIDE,        /* value: the prefix length; limit: 8 (IPv4) or 16 (IPv6) */
    /* EEXIST */
    SPFDB_RULE_ZONE_SERVED  /* other: SPFDB_ZONE_NEW, and Z is served already */
};

/* What a check reports besides its code.  Fields a rule does not set are
 * zero or "". */
struct spfdb_why {
    int rule;                          /* SPFDB_RULE_* */
    unsigned index;                    /* the NS host concerned, in Z or in S */
    uint32_t value, limit;             /* the measure and its bound */
    char host[SPFDB_NAME_MAX + 1];     /* the NS host concerned */
    char other[SPFDB_NAME_MAX + 1];    /* the served zone S in conflict */
    char mailbox[SPFDB_NAME_MAX + 1];  /* the hostmaster mailbox concerned */
    char msg[200];                     /* syntax rules: the reason, as names.h words it */
};

/* Flags of spfdb_zone_check and spfdb_zone_put_flags. */
#define SPFDB_ZONE_NEW 1u   /* a new zone: one of that name served is SPFDB_EEXIST */
/* Flags of spfdb_prefix_check and spfdb_entry_add_flags. */
#define SPFDB_ENTRY_WIDE 1u /* accept a prefix shorter than /8 or /16 (--force) */

/* NAME is a stored allocation name: valid and lowercase (names.h). */
int spfdb_alloc_name_check(const char *name, struct spfdb_why *why);

/* P may be an entry: a prefix, canonical (no host bits, not IPv4-mapped),
 * and, unless FLAGS holds SPFDB_ENTRY_WIDE, not shorter than /8 or /16. */
int spfdb_prefix_check(const struct spfdb_prefix *p, unsigned flags, struct spfdb_why *why);

/* Z's rules on its own, in this order: its name, NS count, NS names, an NS
 * host twice, hostmaster, TTL, negative TTL (EINVAL); then its name length
 * for its kind (alloc_id 0: provider), an NS host at or below Z, the
 * default hostmaster, the SOA names' size, the apex NS answer's size
 * (ERULE).  One NS host passes (SPEC §2 warns; the warning is the
 * caller's). */
int spfdb_zone_rules(const struct spfdb_zone *z, struct spfdb_why *why);

/* Z against one served zone S, in this order: the same name (0, or EEXIST
 * with SPFDB_ZONE_NEW: S is the zone Z replaces), Z below or above S, an NS
 * host of Z at or below S, an NS host of S at or below Z (ERULE). */
int spfdb_zone_conflict(const struct spfdb_zone *z, const struct spfdb_zone *s, unsigned flags,
                        struct spfdb_why *why);

#endif
