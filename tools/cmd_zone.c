/* Zone commands: zone add, set, del, list (SPEC §2 "zone", §3).
 *
 * The rules are the library's (rules.h): name syntax and length, no
 * nesting, NS hosts outside every served zone, the SOA and apex NS reply
 * size limits, checked by spfdb_zone_put_flags in the write transaction of
 * the change.  This file parses the options and words the library's
 * refusals: zone_refused for the stored zone, ns_refused for the --ns
 * hosts as they are given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct zone_job {
    struct ctl *c;
    const struct ctl_args *a;      /* the options to apply */
    int is_add;                    /* zone add: ZONE must not be served yet */
    char name[SPFDB_NAME_MAX + 1]; /* ZONE, normalised */
    struct spfdb_zone z;           /* the zone as it is to be stored */
};

static ctl_status parse_name(const char *what, const char *s, char *out)
{
    char msg[200], q[CTL_QUOTE_MAX];

    if (spfdb_dns_name_norm(s, SPFDB_HOST_MAX, out, SPFDB_NAME_MAX + 1, msg, sizeof msg) != 0) {
        ctl_err("bad %s %s: %s", what, ctl_quote(s, strlen(s), q), msg);
        return CTL_USAGE;
    }
    return CTL_OK;
}

static ctl_status parse_ttl(const char *opt, const char *s, uint32_t max, uint32_t *out)
{
    char q[CTL_QUOTE_MAX];
    unsigned long v = 0;
    const char *p;

    for (p = s; *p >= '0' && *p <= '9' && v <= max; p++)
        v = v * 10 + (unsigned long)(*p - '0');
    if (p == s || *p || v < 1 || v > max) {
        ctl_err("%s %s: expected seconds, 1..%u", opt, ctl_quote(s, strlen(s), q), max);
        return CTL_USAGE;
    }
    *out = (uint32_t)v;
    return CTL_OK;
}

/* local@domain (names.h). */
static ctl_status parse_mailbox(const char *s, char *out)
{
    char q[CTL_QUOTE_MAX], msg[200];

    if (spfdb_mailbox_norm(s, out, SPFDB_NAME_MAX + 1, msg, sizeof msg) != 0) {
        ctl_err("bad --hostmaster %s: %s", ctl_quote(s, strlen(s), q), msg);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* The rule of SPEC §2 that the first N hosts of NS break, as the library
 * checks a zone's NS hosts: spfdb_zone_rules on a zone of those hosts
 * whose name and TTLs pass.  It checks the count first (N may pass
 * SPFDB_NS_MAX; no host is read then), then each host and a host given
 * twice (rules.h); what it finds later concerns the stand-in zone and
 * counts for nothing.  SPFDB_RULE_NONE, or the rule with WHY filled. */
static int ns_rule(const struct ctl_ns *ns, unsigned n, struct spfdb_why *why)
{
    struct spfdb_zone z;

    memset(&z, 0, sizeof z);
    strcpy(z.name, "invalid"); /* RFC 2606: valid, and no one's */
    z.ttl = z.neg_ttl = 1;
    z.n_ns = n;
    _Static_assert(sizeof z.ns == sizeof ns->host, "a zone holds every --ns host");
    memcpy(z.ns, ns->host, sizeof z.ns);
    return spfdb_zone_rules(&z, why) == SPFDB_EINVAL ? why->rule : SPFDB_RULE_NONE;
}

/* Do the first N hosts of NS break RULE (SPFDB_RULE_NS_COUNT or
 * SPFDB_RULE_NS_TWICE)?  Then its words on stderr, and CTL_USAGE. */
static ctl_status ns_refused(const struct ctl_ns *ns, unsigned n, int rule)
{
    struct spfdb_why why;

    if (ns_rule(ns, n, &why) != rule)
        return CTL_OK;
    if (rule == SPFDB_RULE_NS_TWICE)
        ctl_err("NS host %s given twice", why.host);
    else if (why.value == 0)
        ctl_err("zone add needs at least one --ns HOST (two recommended)");
    else
        ctl_err("at most %u NS hosts", why.limit);
    return CTL_USAGE;
}

/* --ns HOST, repeated. */
ctl_status opt_ns(void *field, const char *arg)
{
    struct ctl_ns *ns = field;

    if (ns_refused(ns, ns->n + 1, SPFDB_RULE_NS_COUNT) != CTL_OK ||
        parse_name("NS host", arg, ns->host[ns->n]) != CTL_OK ||
        ns_refused(ns, ns->n + 1, SPFDB_RULE_NS_TWICE) != CTL_OK)
        return CTL_USAGE;
    ns->n++;
    return CTL_OK;
}

/* --hostmaster MAILBOX; '' asks for the default (the field's start). */
ctl_status opt_hostmaster(void *field, const char *arg)
{
    return *arg ? parse_mailbox(arg, field) : CTL_OK;
}

ctl_status opt_ttl(void *field, const char *arg)
{
    return parse_ttl("--ttl", arg, SPFDB_TTL_MAX, field);
}

ctl_status opt_neg_ttl(void *field, const char *arg)
{
    return parse_ttl("--negative-ttl", arg, SPFDB_NEG_TTL_MAX, field);
}

/* The library refused to store j->z with R and WHY: its words for the
 * rule broken, in c->err, and CTL_REFUSED; R itself for anything else. */
static int zone_refused(struct zone_job *j, int r, const struct spfdb_why *w)
{
    const struct spfdb_zone *z = &j->z;
    struct ctl *c = j->c;
    char bound[48] = "";

    if (r != SPFDB_EINVAL && r != SPFDB_ERULE && r != SPFDB_EEXIST)
        return r;
    switch (w->rule) {
    case SPFDB_RULE_ZONE_LONG:
        if (!z->alloc_id)
            snprintf(bound, sizeof bound, " (%d when bound to an allocation)",
                     SPFDB_DELEGATED_ZONE_MAX);
        return ctl_refuse(c, "zone name %s has %u characters; a %s zone may have at most %u%s, "
                          "or verifiers cut its IPv6 names",
                          z->name, w->value, z->alloc_id ? "delegated" : "provider", w->limit,
                          bound);
    case SPFDB_RULE_NS_IN_ZONE:
        return ctl_refuse(c, "NS host %s lies in zone %s: spfdbd serves no address records, "
                          "so it could never be resolved", w->host, z->name);
    case SPFDB_RULE_NO_HOSTMASTER:
        return ctl_refuse(c, "no default hostmaster from NS host %s; give --hostmaster", w->host);
    case SPFDB_RULE_HOSTMASTER: /* --hostmaster is checked as it is parsed */
        return ctl_damaged(c, z->name, "hostmaster", w->mailbox);
    case SPFDB_RULE_SOA_NAMES:
        return ctl_refuse(c, "SOA MNAME (%s) and RNAME (%s) take %u octets; at most %u, so that "
                          "every negative answer fits 512 octets",
                          w->host, w->mailbox, w->value, w->limit);
    case SPFDB_RULE_NS_ANSWER:
        return ctl_refuse(c, "the apex NS answer would take %u octets; at most %u", w->value,
                          w->limit);
    case SPFDB_RULE_ZONE_SERVED:
        return ctl_refuse(c, "zone %s is already served (see 'spfdb-ctl zone set')", z->name);
    case SPFDB_RULE_ZONE_BELOW:
    case SPFDB_RULE_ZONE_ABOVE:
        return ctl_refuse(c, "zone %s lies %s served zone %s: zones never nest", z->name,
                          w->rule == SPFDB_RULE_ZONE_BELOW ? "below" : "above", w->other);
    case SPFDB_RULE_NS_IN_SERVED:
        return ctl_refuse(c, "NS host %s lies in served zone %s: spfdbd serves no address "
                          "records, so it could never be resolved", w->host, w->other);
    case SPFDB_RULE_XFR_NEST:
        return ctl_refuse(c, "zone %s %s the transfer zone %s: served zones and the transfer zone "
                          "never nest (see 'spfdb-ctl transfer show')", z->name,
                          ctl_nest_words(w->value), w->other);
    case SPFDB_RULE_SERVED_NS:
        return ctl_refuse(c, "served zone %s has NS host %s, which would lie in zone %s and "
                          "could never be resolved", w->other, w->host, z->name);
    default:
        return r; /* a rule the options cannot break: the stored zone is damaged */
    }
}

/* Store j->z, which the library checks against SPEC §2's rules and the
 * served zones; one NS host passes them, with a warning (SPEC §2). */
static int zone_store(spfdb_txn *txn, struct zone_job *j)
{
    struct spfdb_why why;
    int r = spfdb_zone_put_flags(txn, &j->z, j->is_add ? SPFDB_ZONE_NEW : 0, &why);

    if (r != 0)
        return zone_refused(j, r, &why);
    if (j->z.n_ns == 1)
        buf_printf(&j->c->err,
                   "spfdb-ctl: warning: zone %s has one NS host; RFC 1034 §4.1 recommends at "
                   "least two\n",
                   j->z.name);
    /* `_ip.` adds 4 characters to the 188 a delegated zone may have: past
     * 185 a full IPv6 include name exceeds RFC 7208 §7.3's 253 (SPEC §4). */
    if (j->z.alloc_id && strlen(j->z.name) > 185)
        buf_printf(&j->c->err,
                   "spfdb-ctl: warning: zone %s is longer than 185 characters: IPv6 senders "
                   "cannot match include:%%{i}._ip.%s (the names exceed 253 characters)\n",
                   j->z.name, j->z.name);
    return 0;
}

/* Apply the options to j->z (the stored zone for set, defaults for add)
 * and store it. */
static int zone_apply(spfdb_txn *txn, struct zone_job *j)
{
    const struct ctl_args *o = j->a;
    struct spfdb_alloc a;
    int r;

    if (ctl_given(o, OPT_ALLOC)) {
        if ((r = ctl_alloc_lookup(j->c, txn, o->alloc, &a)) != 0)
            return r;
        j->z.alloc_id = a.id;
        strcpy(j->z.alloc, a.name);
    }
    if (o->provider) {
        j->z.alloc_id = 0;
        j->z.alloc[0] = '\0';
    }
    if (o->ns.n) {
        j->z.n_ns = o->ns.n;
        memcpy(j->z.ns, o->ns.host, sizeof o->ns.host);
    }
    if (ctl_given(o, OPT_HOSTMASTER))
        strcpy(j->z.hostmaster, o->hostmaster);
    if (ctl_given(o, OPT_TTL))
        j->z.ttl = o->ttl;
    if (ctl_given(o, OPT_NEG_TTL))
        j->z.neg_ttl = o->neg_ttl;
    return zone_store(txn, j);
}

/* The job of a zone command: ZONE, the operand, normalised into j->name. */
static ctl_status zone_job(struct ctl *c, const struct ctl_args *a, struct zone_job **out)
{
    struct zone_job *j = calloc(1, sizeof *j);

    if (!j) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    j->c = c;
    j->a = a;
    *out = j;
    return parse_name("zone name", a->argv[0], j->name);
}

/* Unless R says the input is bad, run FN on J in one write transaction;
 * J is freed. */
static ctl_status zone_write(struct zone_job *j, ctl_status r, spfdb_write_fn fn)
{
    if (r == CTL_OK)
        r = ctl_write(j->c, fn, j);
    free(j);
    return r;
}

static int add_txn(spfdb_txn *txn, void *arg)
{
    struct zone_job *j = arg;

    ctl_txn_start(j->c);
    memset(&j->z, 0, sizeof j->z);
    strcpy(j->z.name, j->name);
    j->z.ttl = 300;
    j->z.neg_ttl = 60;
    return zone_apply(txn, j);
}

ctl_status cmd_zone_add(struct ctl *c, const struct ctl_args *a)
{
    struct zone_job *j = NULL;
    ctl_status r = zone_job(c, a, &j);

    if (r == CTL_OK && ns_refused(&a->ns, a->ns.n, SPFDB_RULE_NS_COUNT) != CTL_OK)
        r = ctl_usage(c);
    if (r == CTL_OK)
        j->is_add = 1;
    return zone_write(j, r, add_txn);
}

static int set_txn(spfdb_txn *txn, void *arg)
{
    struct zone_job *j = arg;
    int r;

    ctl_txn_start(j->c);
    r = ctl_zone_found(j->c, spfdb_zone_get(txn, j->name, &j->z), j->name);
    if (r == 0)
        r = zone_apply(txn, j);
    return r;
}

ctl_status cmd_zone_set(struct ctl *c, const struct ctl_args *a)
{
    const uint32_t settings = 1u << OPT_ALLOC | 1u << OPT_PROVIDER | 1u << OPT_NS |
                              1u << OPT_HOSTMASTER | 1u << OPT_TTL | 1u << OPT_NEG_TTL;
    struct zone_job *j = NULL;
    ctl_status r;

    if (ctl_given(a, OPT_ALLOC) && a->provider) {
        ctl_err("--allocation and --provider exclude each other");
        return CTL_USAGE;
    }
    r = zone_job(c, a, &j);
    if (r == CTL_OK && !(a->given & settings)) {
        ctl_err("zone set: nothing to change");
        r = ctl_usage(c);
    }
    return zone_write(j, r, set_txn);
}

static int del_txn(spfdb_txn *txn, void *arg)
{
    struct zone_job *j = arg;

    ctl_txn_start(j->c);
    return ctl_zone_found(j->c, spfdb_zone_del(txn, j->name), j->name);
}

ctl_status cmd_zone_del(struct ctl *c, const struct ctl_args *a)
{
    struct zone_job *j = NULL;
    ctl_status r = zone_job(c, a, &j);

    return zone_write(j, r, del_txn);
}

static int print_zone(const struct spfdb_zone *z, void *arg)
{
    char hm[SPFDB_NAME_MAX + 1];
    struct ctl_list *l = arg;
    FILE *f = l->f;

    if (spfdb_hostmaster(z->hostmaster, z->n_ns ? z->ns[0] : "", hm, sizeof hm) != 0)
        strcpy(hm, "-");
    if (l->n < 0) {
        fprintf(f, "%s %s%s %u %u %s ", z->name, z->alloc_id ? "delegated:" : "provider",
                z->alloc, z->ttl, z->neg_ttl, hm);
        for (unsigned k = 0; k < z->n_ns; k++)
            fprintf(f, "%s%s", k ? "," : "", z->ns[k]);
        return putc('\n', f) == EOF ? SPFDB_ENOMEM : 0;
    }
    fputs(l->n++ ? ",\n{\"zone\": " : "\n{\"zone\": ", f);
    ctl_json_str(f, z->name);
    fprintf(f, ", \"type\": \"%s\", \"allocation\": ", z->alloc_id ? "delegated" : "provider");
    ctl_json_str_or_null(f, z->alloc);
    fprintf(f, ", \"ttl\": %u, \"negative_ttl\": %u, \"hostmaster\": ", z->ttl, z->neg_ttl);
    ctl_json_str(f, hm);
    fputs(", \"ns\": [", f);
    for (unsigned k = 0; k < z->n_ns; k++) {
        fputs(k ? ", " : "", f);
        ctl_json_str(f, z->ns[k]);
    }
    return fputs("]}", f) == EOF ? SPFDB_ENOMEM : 0;
}

static int walk_zones(spfdb_txn *txn, struct ctl_list *l)
{
    return spfdb_zone_foreach(txn, print_zone, l);
}

ctl_status cmd_zone_list(struct ctl *c, const struct ctl_args *a)
{
    return ctl_list(c, a, walk_zones);
}
