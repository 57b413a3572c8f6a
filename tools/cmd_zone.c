/* Zone commands: zone add, set, del, list (SPEC §2 "zone", §3).
 *
 * The db stores what it is given; the rules live here: name syntax and
 * length, no nesting, NS hosts outside every served zone, and the SOA and
 * apex NS reply size limits.  The checks that need the served zones run in
 * the same write transaction as the change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define PROVIDER_MAX 120  /* a full IPv6 %{i}.spf.<alloc>.<zone> must fit 253 */
#define DELEGATED_MAX 188 /* a full IPv6 %{i}.<zone> must fit 253 */
#define SOA_NAMES_MAX 190 /* MNAME + RNAME wire octets: a NODATA for a 255-octet name fits 512 */
#define TTL_MAX 604800
#define NEG_TTL_MAX 86400
#define HOST_MAX 253

struct zone_job {
    struct ctl *c;
    const struct ctl_args *a;      /* the options to apply */
    int is_add;                    /* zone add: ZONE must not be served yet */
    char name[SPFDB_NAME_MAX + 1]; /* ZONE, normalised */
    struct spfdb_zone z;           /* the zone as it is to be stored */
};

/* Wire length of a name without trailing dot: a length octet per label
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

static ctl_status parse_name(const char *what, const char *s, char *out)
{
    char msg[200], q[CTL_QUOTE_MAX];

    if (spfdb_dns_name_norm(s, HOST_MAX, out, SPFDB_NAME_MAX + 1, msg, sizeof msg) != 0) {
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

/* local@domain: the local part a dot-atom (RFC 5322 §3.2.3) that fits one
 * DNS label; its dots are escaped in the SOA's RNAME by the server. */
static ctl_status parse_mailbox(const char *s, char *out)
{
    static const char atext[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789!#$%&'*+/=?^_`{|}~-.";
    char q[CTL_QUOTE_MAX], domain[SPFDB_NAME_MAX + 1], msg[200];
    const char *at = strchr(s, '@');
    size_t l = at ? (size_t)(at - s) : 0;
    const char *why = NULL;

    if (!at || strchr(at + 1, '@'))
        why = "expected local@domain";
    else if (l == 0 || l > 63)
        why = "the local part must hold 1 to 63 characters";
    else if (strspn(s, atext) < l || s[0] == '.' || s[l - 1] == '.' ||
             (strstr(s, "..") && strstr(s, "..") < at))
        why = "the local part must be letters, digits and !#$%&'*+/=?^_`{|}~- separated by "
              "single dots";
    else if (spfdb_dns_name_norm(at + 1, HOST_MAX, domain, sizeof domain, msg, sizeof msg) != 0)
        why = msg;
    else if (l + 1 + strlen(domain) > SPFDB_NAME_MAX)
        why = "too long";
    if (why) {
        ctl_err("bad --hostmaster %s: %s", ctl_quote(s, strlen(s), q), why);
        return CTL_USAGE;
    }
    memcpy(out, s, l + 1);
    strcpy(out + l + 1, domain);
    return CTL_OK;
}

/* --ns HOST, repeated. */
ctl_status opt_ns(void *field, const char *arg)
{
    struct ctl_ns *ns = field;

    if (ns->n == SPFDB_NS_MAX) {
        ctl_err("at most %d NS hosts", SPFDB_NS_MAX);
        return CTL_USAGE;
    }
    if (parse_name("NS host", arg, ns->host[ns->n]) != CTL_OK)
        return CTL_USAGE;
    for (unsigned k = 0; k < ns->n; k++)
        if (strcmp(ns->host[k], ns->host[ns->n]) == 0) {
            ctl_err("NS host %s given twice", ns->host[k]);
            return CTL_USAGE;
        }
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
    return parse_ttl("--ttl", arg, TTL_MAX, field);
}

ctl_status opt_neg_ttl(void *field, const char *arg)
{
    return parse_ttl("--negative-ttl", arg, NEG_TTL_MAX, field);
}

/* The first conflict between the zone being stored and a served zone. */
static int check_served(const struct spfdb_zone *s, void *arg)
{
    struct zone_job *j = arg;
    const struct spfdb_zone *z = &j->z;
    struct buf *e = &j->c->err;

    if (strcmp(s->name, z->name) == 0) {
        if (!j->is_add)
            return 0;
        buf_printf(e, "spfdb-ctl: zone %s is already served (see 'spfdb-ctl zone set')\n",
                   z->name);
        return CTL_REFUSED;
    }
    if (at_or_below(z->name, s->name) || at_or_below(s->name, z->name)) {
        buf_printf(e, "spfdb-ctl: zone %s lies %s served zone %s: zones never nest\n", z->name,
                   at_or_below(z->name, s->name) ? "below" : "above", s->name);
        return CTL_REFUSED;
    }
    for (unsigned k = 0; k < z->n_ns; k++)
        if (at_or_below(z->ns[k], s->name)) {
            buf_printf(e,
                       "spfdb-ctl: NS host %s lies in served zone %s: spfdbd serves no "
                       "address records, so it could never be resolved\n",
                       z->ns[k], s->name);
            return CTL_REFUSED;
        }
    for (unsigned k = 0; k < s->n_ns; k++)
        if (at_or_below(s->ns[k], z->name)) {
            buf_printf(e,
                       "spfdb-ctl: served zone %s has NS host %s, which would lie in zone %s "
                       "and could never be resolved\n",
                       s->name, s->ns[k], z->name);
            return CTL_REFUSED;
        }
    return 0;
}

/* SPEC §2's rules for the zone in j->z, checked against the served zones. */
static int zone_check(spfdb_txn *txn, struct zone_job *j)
{
    const struct spfdb_zone *z = &j->z;
    struct buf *e = &j->c->err;
    char hm[SPFDB_NAME_MAX + 1];
    size_t len = strlen(z->name), max = z->alloc_id ? DELEGATED_MAX : PROVIDER_MAX, size;

    if (len > max) {
        buf_printf(e,
                   "spfdb-ctl: zone name %s has %zu characters; a %s zone may have at most %zu%s, "
                   "or verifiers cut its IPv6 names\n",
                   z->name, len, z->alloc_id ? "delegated" : "provider", max,
                   z->alloc_id ? "" : " (188 when bound to an allocation)");
        return CTL_REFUSED;
    }
    for (unsigned k = 0; k < z->n_ns; k++)
        if (at_or_below(z->ns[k], z->name)) {
            buf_printf(e,
                       "spfdb-ctl: NS host %s lies in zone %s: spfdbd serves no address "
                       "records, so it could never be resolved\n",
                       z->ns[k], z->name);
            return CTL_REFUSED;
        }
    if (spfdb_hostmaster(z->hostmaster, z->ns[0], hm, sizeof hm) != 0) {
        buf_printf(e, "spfdb-ctl: no default hostmaster from NS host %s; give --hostmaster\n",
                   z->ns[0]);
        return CTL_REFUSED;
    }
    /* MNAME is the first NS host; RNAME's local part is one label. */
    const char *at = strchr(hm, '@');
    if (!at) {
        buf_printf(e, "spfdb-ctl: bad hostmaster %s\n", hm);
        return CTL_REFUSED;
    }
    size = wire_len(z->ns[0]) + 1 + (size_t)(at - hm) + wire_len(at + 1);
    if (size > SOA_NAMES_MAX) {
        buf_printf(e,
                   "spfdb-ctl: SOA MNAME (%s) and RNAME (%s) take %zu octets; at most %d, so "
                   "that every negative answer fits 512 octets\n",
                   z->ns[0], hm, size, SOA_NAMES_MAX);
        return CTL_REFUSED;
    }
    /* The apex NS reply, counted conservatively: 12 header octets, the
     * question (the apex, echoed uncompressed, + type and class), each NS
     * record as a 2-octet pointer to the question's name + type, class,
     * TTL and RDLENGTH (10) + the host name uncompressed, and an 11-octet
     * OPT, which a query with EDNS and a 512-octet buffer also gets. */
    size = 12 + wire_len(z->name) + 4 + 11;
    for (unsigned k = 0; k < z->n_ns; k++)
        size += 2 + 10 + wire_len(z->ns[k]);
    if (size > 512) {
        buf_printf(e, "spfdb-ctl: the apex NS answer would take %zu octets; at most 512\n", size);
        return CTL_REFUSED;
    }
    int r = spfdb_zone_foreach(txn, check_served, j);
    if (r != 0)
        return r;
    if (z->n_ns == 1)
        buf_printf(e,
                   "spfdb-ctl: warning: zone %s has one NS host; RFC 1034 §4.1 recommends at "
                   "least two\n",
                   z->name);
    return 0;
}

/* Apply the options to j->z (the stored zone for set, defaults for add). */
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
    return zone_check(txn, j);
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
    int r;

    ctl_txn_start(j->c);
    memset(&j->z, 0, sizeof j->z);
    strcpy(j->z.name, j->name);
    j->z.ttl = 300;
    j->z.neg_ttl = 60;
    if ((r = zone_apply(txn, j)) != 0)
        return r;
    return spfdb_zone_put(txn, &j->z);
}

ctl_status cmd_zone_add(struct ctl *c, const struct ctl_args *a)
{
    struct zone_job *j = NULL;
    ctl_status r = zone_job(c, a, &j);

    if (r == CTL_OK && a->ns.n == 0) {
        ctl_err("zone add needs at least one --ns HOST (two recommended)");
        r = ctl_usage(c);
    }
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
    if (r == 0)
        r = spfdb_zone_put(txn, &j->z);
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
