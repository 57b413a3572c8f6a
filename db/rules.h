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
#define SPFDB_XFR_ZONE_MAX 62       /* the transfer zone: its longest owner fits 255 */
#define SPFDB_KEY_NAME_MAX 100      /* a TSIG key's name */
#define SPFDB_SECRET_MIN 16         /* a TSIG secret's octets (RFC 8945 §6: half a */
#define SPFDB_SECRET_MAX 64         /* SHA-256 output at least; a block at most) */

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

/* A TSIG key (SPEC §5): its secret never enters the change log. */
enum { SPFDB_KEY_HMAC_SHA256 = 1 };
struct spfdb_key {
    char name[SPFDB_KEY_NAME_MAX + 1]; /* a DNS name, lowercase, no trailing dot */
    int alg;                           /* SPFDB_KEY_HMAC_SHA256 */
    unsigned secret_len;               /* SPFDB_SECRET_MIN .. SPFDB_SECRET_MAX */
    uint8_t secret[SPFDB_SECRET_MAX];
    int64_t created;                   /* seconds since 1970 */
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
    SPFDB_RULE_KEY_NAME,    /* msg: a key's name is not a DNS name of 1..100, lowercase */
    SPFDB_RULE_KEY_ALG,     /* value: a key's algorithm is not SPFDB_KEY_HMAC_SHA256 */
    SPFDB_RULE_SECRET,      /* value, limit: a secret's length is not 16..limit octets */
    SPFDB_RULE_ADDR,        /* index, host (the text), msg: not ADDR[:PORT] (prefix.h) */
    SPFDB_RULE_ADDR_COUNT,  /* value, limit: primary addresses not 1..limit */
    SPFDB_RULE_ADDR_TWICE,  /* index, host: an address repeats an earlier one */
    SPFDB_RULE_MEMBER_COUNT, /* value, limit: more members than SPFDB_MEMBERS_MAX */
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
    SPFDB_RULE_XFR_NEST,    /* other, value: Z, a served zone or the transfer zone, is
                               (SPFDB_NEST_SAME), lies below or above the other kind */
    SPFDB_RULE_MEMBER_SELF,   /* an allocation among its own members */
    SPFDB_RULE_MEMBER_NESTED, /* other: a member that has members of its own */
    SPFDB_RULE_MEMBER_OF,     /* other: the allocation is a member of it, so has none */
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

/* SPFDB_RULE_XFR_NEST's value: how Z lies to the zone named in other. */
enum { SPFDB_NEST_SAME, SPFDB_NEST_BELOW, SPFDB_NEST_ABOVE };

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

/* The transfer zone's own rules (SPEC §5; "Z" above is the transfer zone):
 * its name a zone name as stored (SPFDB_RULE_ZONE_NAME), NS (unless NULL)
 * a host name as stored (SPFDB_RULE_NS_NAME, index 0) (EINVAL); then its
 * name at most SPFDB_XFR_ZONE_MAX long (SPFDB_RULE_ZONE_LONG, ERULE).  A
 * primary's zone, the transfer zone it serves, obeys the same rules. */
int spfdb_xfr_zone_rules(const char *zone, const char *ns, struct spfdb_why *why);

/* The transfer zone and the served zones never nest (SPEC §5): NAME, the
 * zone being stored, against OTHER, one of the other kind (a served zone
 * when NAME is the transfer zone, and the reverse).  0, or SPFDB_ERULE
 * with SPFDB_RULE_XFR_NEST, WHY's other OTHER and value SPFDB_NEST_*. */
int spfdb_xfr_zone_nest(const char *name, const char *other, struct spfdb_why *why);

/* K may be stored: its name (SPFDB_RULE_KEY_NAME), its algorithm
 * (SPFDB_RULE_KEY_ALG), its secret's length (SPFDB_RULE_SECRET), all EINVAL. */
int spfdb_key_check(const struct spfdb_key *k, struct spfdb_why *why);
/* NAME is a key's name as stored (spfdb_key_check's first rule). */
int spfdb_key_name_check(const char *name, struct spfdb_why *why);

#endif
