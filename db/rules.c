/* rules.c: SPEC §2's rules for zones, allocation names and entries
 * (rules.h). */
#include "rules.h"
#include "names.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

#define HEADER 12  /* DNS header octets */
#define OPT_RR 11  /* an OPT record with no options */
#define RR_FIXED 10 /* type, class, TTL, RDLENGTH */
#define POINTER 2  /* a compressed name */

/* Start a report: nothing broke yet. */
static void why_clear(struct spfdb_why *why)
{
    if (why)
        memset(why, 0, sizeof *why);
}

/* Record RULE in WHY (when not NULL) and return ERR. */
static int broke(struct spfdb_why *why, int rule, int err)
{
    if (why)
        why->rule = rule;
    return err;
}

static int measured(struct spfdb_why *why, int rule, int err, size_t value, size_t limit)
{
    if (why) {
        why->value = (uint32_t)value;
        why->limit = (uint32_t)limit;
    }
    return broke(why, rule, err);
}

/* Copy S (perhaps unterminated within CAP) into OUT, cut to fit. */
static void copy_name(char *out, const char *s, size_t cap)
{
    snprintf(out, SPFDB_NAME_MAX + 1, "%.*s", (int)strnlen(s, cap), s);
}

static int named(struct spfdb_why *why, int rule, int err, unsigned index, const char *host,
                 const char *other)
{
    if (why) {
        why->index = index;
        copy_name(why->host, host, SPFDB_NAME_MAX + 1);
        copy_name(why->other, other, SPFDB_NAME_MAX + 1);
    }
    return broke(why, rule, err);
}

/* Is NAME (of CAP bytes at most) a host name as stored: valid, lowercase,
 * no trailing dot?  The reason goes to MSG. */
static int stored_name(const char *name, size_t cap, char *msg, size_t msgcap)
{
    char norm[SPFDB_NAME_MAX + 1];

    if (strnlen(name, cap) == cap)
        return spfdb_text_fail(msg, msgcap, "name longer than %d characters", SPFDB_HOST_MAX);
    if (spfdb_dns_name_norm(name, SPFDB_HOST_MAX, norm, sizeof norm, msg, msgcap) != 0)
        return SPFDB_EINVAL;
    if (strcmp(norm, name) != 0)
        return spfdb_text_fail(msg, msgcap, "not lowercase without a trailing dot");
    return 0;
}

/* A name's wire length (without trailing dot): a length octet per label
 * plus the root octet. */
static size_t wire_len(const char *name)
{
    return strlen(name) + 2;
}

/* Is NAME equal to ZONE or below it? */
static int at_or_below(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);

    if (n < z || strcmp(name + n - z, zone) != 0)
        return 0;
    return n == z || name[n - z - 1] == '.';
}

int spfdb_alloc_name_check(const char *name, struct spfdb_why *why)
{
    char norm[SPFDB_LABEL_MAX + 1], *msg = why ? why->msg : NULL;
    size_t cap = why ? sizeof why->msg : 0;

    why_clear(why);
    if (spfdb_alloc_name_norm(name, norm, sizeof norm, msg, cap) != 0)
        return broke(why, SPFDB_RULE_ALLOC_NAME, SPFDB_EINVAL);
    if (strcmp(norm, name) != 0) {
        spfdb_text_fail(msg, cap, "allocation name not lowercase");
        return broke(why, SPFDB_RULE_ALLOC_NAME, SPFDB_EINVAL);
    }
    return 0;
}

int spfdb_prefix_check(const struct spfdb_prefix *p, unsigned flags, struct spfdb_why *why)
{
    unsigned min;

    why_clear(why);
    if (!spfdb_prefix_valid(p))
        return broke(why, SPFDB_RULE_PREFIX, SPFDB_EINVAL);
    if (spfdb_prefix_mapped(p))
        return broke(why, SPFDB_RULE_MAPPED, SPFDB_EINVAL);
    if (!(flags & SPFDB_ENTRY_WIDE) && (min = spfdb_prefix_wide(p)) != 0)
        return measured(why, SPFDB_RULE_WIDE, SPFDB_ERULE, p->len, min);
    return 0;
}

/* The rules that make Z a well-formed record (EINVAL). */
static int zone_form(const struct spfdb_zone *z, struct spfdb_why *why)
{
    char *msg = why ? why->msg : NULL;
    size_t cap = why ? sizeof why->msg : 0;

    if (stored_name(z->name, sizeof z->name, msg, cap) != 0)
        return broke(why, SPFDB_RULE_ZONE_NAME, SPFDB_EINVAL);
    if (z->n_ns == 0 || z->n_ns > SPFDB_NS_MAX)
        return measured(why, SPFDB_RULE_NS_COUNT, SPFDB_EINVAL, z->n_ns, SPFDB_NS_MAX);
    for (unsigned k = 0; k < z->n_ns; k++) {
        if (stored_name(z->ns[k], sizeof z->ns[k], msg, cap) != 0)
            return named(why, SPFDB_RULE_NS_NAME, SPFDB_EINVAL, k, z->ns[k], "");
        for (unsigned i = 0; i < k; i++)
            if (strcmp(z->ns[i], z->ns[k]) == 0)
                return named(why, SPFDB_RULE_NS_TWICE, SPFDB_EINVAL, k, z->ns[k], "");
    }
    if (z->hostmaster[0]) {
        char norm[SPFDB_NAME_MAX + 1];
        int bad = strnlen(z->hostmaster, sizeof z->hostmaster) == sizeof z->hostmaster
                      ? spfdb_text_fail(msg, cap, "too long")
                      : spfdb_mailbox_norm(z->hostmaster, norm, sizeof norm, msg, cap);

        if (!bad && strcmp(norm, z->hostmaster) != 0)
            bad = spfdb_text_fail(msg, cap, "domain not lowercase without a trailing dot");
        if (bad) {
            if (why)
                copy_name(why->mailbox, z->hostmaster, sizeof z->hostmaster);
            return broke(why, SPFDB_RULE_HOSTMASTER, SPFDB_EINVAL);
        }
    }
    if (z->ttl < 1 || z->ttl > SPFDB_TTL_MAX)
        return measured(why, SPFDB_RULE_TTL, SPFDB_EINVAL, z->ttl, SPFDB_TTL_MAX);
    if (z->neg_ttl < 1 || z->neg_ttl > SPFDB_NEG_TTL_MAX)
        return measured(why, SPFDB_RULE_NEG_TTL, SPFDB_EINVAL, z->neg_ttl, SPFDB_NEG_TTL_MAX);
    return 0;
}

int spfdb_zone_rules(const struct spfdb_zone *z, struct spfdb_why *why)
{
    char hm[SPFDB_NAME_MAX + 1];
    size_t len, max, size;
    const char *at;
    int rc;

    why_clear(why);
    if ((rc = zone_form(z, why)) != 0)
        return rc;
    len = strlen(z->name);
    max = z->alloc_id ? SPFDB_DELEGATED_ZONE_MAX : SPFDB_PROVIDER_ZONE_MAX;
    if (len > max)
        return measured(why, SPFDB_RULE_ZONE_LONG, SPFDB_ERULE, len, max);
    for (unsigned k = 0; k < z->n_ns; k++)
        if (at_or_below(z->ns[k], z->name))
            return named(why, SPFDB_RULE_NS_IN_ZONE, SPFDB_ERULE, k, z->ns[k], "");
    if (spfdb_hostmaster(z->hostmaster, z->ns[0], hm, sizeof hm) != 0)
        return named(why, SPFDB_RULE_NO_HOSTMASTER, SPFDB_ERULE, 0, z->ns[0], "");
    /* MNAME is the first NS host; RNAME's local part is one label (a valid
     * or default mailbox has its '@'). */
    at = strchr(hm, '@');
    size = wire_len(z->ns[0]) + 1 + (size_t)(at - hm) + wire_len(at + 1);
    if (size > SPFDB_SOA_NAMES_MAX) {
        if (why) {
            copy_name(why->host, z->ns[0], sizeof z->ns[0]);
            memcpy(why->mailbox, hm, sizeof hm);
        }
        return measured(why, SPFDB_RULE_SOA_NAMES, SPFDB_ERULE, size, SPFDB_SOA_NAMES_MAX);
    }
    /* The apex NS reply, counted conservatively: the header, the question
     * (the apex, echoed uncompressed, + type and class), each NS record as
     * a pointer to the question's name + type, class, TTL and RDLENGTH +
     * the host name uncompressed, and an OPT record, which a query with
     * EDNS and a 512-octet buffer also gets. */
    size = HEADER + wire_len(z->name) + 4 + OPT_RR;
    for (unsigned k = 0; k < z->n_ns; k++)
        size += POINTER + RR_FIXED + wire_len(z->ns[k]);
    if (size > SPFDB_NS_ANSWER_MAX)
        return measured(why, SPFDB_RULE_NS_ANSWER, SPFDB_ERULE, size, SPFDB_NS_ANSWER_MAX);
    return 0;
}

int spfdb_zone_conflict(const struct spfdb_zone *z, const struct spfdb_zone *s, unsigned flags,
                        struct spfdb_why *why)
{
    why_clear(why);
    if (strcmp(s->name, z->name) == 0)
        return flags & SPFDB_ZONE_NEW
                   ? named(why, SPFDB_RULE_ZONE_SERVED, SPFDB_EEXIST, 0, "", s->name)
                   : 0;
    if (at_or_below(z->name, s->name))
        return named(why, SPFDB_RULE_ZONE_BELOW, SPFDB_ERULE, 0, "", s->name);
    if (at_or_below(s->name, z->name))
        return named(why, SPFDB_RULE_ZONE_ABOVE, SPFDB_ERULE, 0, "", s->name);
    for (unsigned k = 0; k < z->n_ns; k++)
        if (at_or_below(z->ns[k], s->name))
            return named(why, SPFDB_RULE_NS_IN_SERVED, SPFDB_ERULE, k, z->ns[k], s->name);
    for (unsigned k = 0; k < s->n_ns && k < SPFDB_NS_MAX; k++)
        if (at_or_below(s->ns[k], z->name))
            return named(why, SPFDB_RULE_SERVED_NS, SPFDB_ERULE, k, s->ns[k], s->name);
    return 0;
}

int spfdb_xfr_zone_rules(const char *zone, const char *ns, struct spfdb_why *why)
{
    char *msg = why ? why->msg : NULL;
    size_t cap = why ? sizeof why->msg : 0, len;

    why_clear(why);
    if (stored_name(zone, SPFDB_NAME_MAX + 1, msg, cap) != 0)
        return broke(why, SPFDB_RULE_ZONE_NAME, SPFDB_EINVAL);
    if (ns && stored_name(ns, SPFDB_NAME_MAX + 1, msg, cap) != 0)
        return named(why, SPFDB_RULE_NS_NAME, SPFDB_EINVAL, 0, ns, "");
    len = strlen(zone);
    if (len > SPFDB_XFR_ZONE_MAX)
        return measured(why, SPFDB_RULE_ZONE_LONG, SPFDB_ERULE, len, SPFDB_XFR_ZONE_MAX);
    return 0;
}

int spfdb_xfr_zone_nest(const char *name, const char *other, struct spfdb_why *why)
{
    int how = strcmp(name, other) == 0      ? SPFDB_NEST_SAME
              : at_or_below(name, other) ? SPFDB_NEST_BELOW
              : at_or_below(other, name) ? SPFDB_NEST_ABOVE
                                         : -1;

    why_clear(why);
    if (how < 0)
        return 0;
    if (why)
        why->value = (uint32_t)how;
    return named(why, SPFDB_RULE_XFR_NEST, SPFDB_ERULE, 0, "", other);
}

int spfdb_key_name_check(const char *name, struct spfdb_why *why)
{
    char norm[SPFDB_KEY_NAME_MAX + 1], *msg = why ? why->msg : NULL;
    size_t cap = why ? sizeof why->msg : 0;

    why_clear(why);
    if (strnlen(name, SPFDB_KEY_NAME_MAX + 1) > SPFDB_KEY_NAME_MAX) {
        spfdb_text_fail(msg, cap, "key name longer than %d characters", SPFDB_KEY_NAME_MAX);
        return broke(why, SPFDB_RULE_KEY_NAME, SPFDB_EINVAL);
    }
    if (spfdb_dns_name_norm(name, SPFDB_KEY_NAME_MAX, norm, sizeof norm, msg, cap) != 0)
        return broke(why, SPFDB_RULE_KEY_NAME, SPFDB_EINVAL);
    if (strcmp(norm, name) != 0) {
        spfdb_text_fail(msg, cap, "not lowercase without a trailing dot");
        return broke(why, SPFDB_RULE_KEY_NAME, SPFDB_EINVAL);
    }
    return 0;
}

int spfdb_key_check(const struct spfdb_key *k, struct spfdb_why *why)
{
    int rc = spfdb_key_name_check(k->name, why);

    if (rc)
        return rc;
    if (k->alg != SPFDB_KEY_HMAC_SHA256)
        return measured(why, SPFDB_RULE_KEY_ALG, SPFDB_EINVAL, (size_t)k->alg,
                        SPFDB_KEY_HMAC_SHA256);
    if (k->secret_len < SPFDB_SECRET_MIN || k->secret_len > SPFDB_SECRET_MAX)
        return measured(why, SPFDB_RULE_SECRET, SPFDB_EINVAL, k->secret_len, SPFDB_SECRET_MAX);
    return 0;
}
