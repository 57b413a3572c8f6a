/* The transfer settings (SPEC §5): transfer set, del, show; replica add,
 * del, list; primary set, del, show.  The formats are in their --help
 * (commands.c).
 *
 * Every write is a quiet commit of the library (no serial, no change log
 * record) and is allowed on a replica.  The rules are the library's
 * (rules.h: the transfer zone's name and nesting, ADDR[:PORT], key names);
 * this file checks what it can before the transaction, so that the bad
 * token is named, and words the library's refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* ---- shared ------------------------------------------------------------- */

/* ZONE (normalised, any length) and NS (or NULL) as a transfer zone, or
 * the zone a primary serves: spfdb_xfr_zone_rules, worded on stderr.
 * CTL_OK or CTL_USAGE. */
static ctl_status xfr_zone_arg(const char *zone, const char *ns)
{
    struct spfdb_why why;

    if (spfdb_xfr_zone_rules(zone, ns, &why) == 0)
        return CTL_OK;
    if (why.rule == SPFDB_RULE_ZONE_LONG)
        ctl_err("transfer zone name %s has %u characters; at most %u, so that its longest "
                "owner name fits 255 octets", zone, why.value, why.limit);
    else if (why.rule == SPFDB_RULE_NS_NAME)
        ctl_err("bad NS host %s: %s", ns, why.msg);
    else
        ctl_err("bad transfer zone name %s: %s", zone, why.msg);
    return CTL_USAGE;
}

/* S as ADDR[:PORT], canonical into OUT (SPFDB_ADDRPORT_STRLEN bytes):
 * CTL_OK, or CTL_USAGE naming it as WHAT. */
static ctl_status addr_arg(const char *what, const char *s, char *out)
{
    char msg[200], q[CTL_QUOTE_MAX];
    struct spfdb_addrport ap;

    if (spfdb_addrport_parse(s, &ap, msg, sizeof msg) != 0) {
        ctl_err("bad %s address %s: %s", what, ctl_quote(s, strlen(s), q), msg);
        return CTL_USAGE;
    }
    spfdb_addrport_format(&ap, out, SPFDB_ADDRPORT_STRLEN);
    return CTL_OK;
}

static int count_key(const struct spfdb_key *k, void *arg)
{
    (void)k;
    ++*(size_t *)arg;
    return 0;
}

/* Delete a one-of-a-kind setting (the transfer zone, the primary) with DEL;
 * none set is bad input, said as NONE. */
struct del_job {
    struct ctl *c;
    int (*del)(spfdb_txn *txn);
    const char *none;
};

static int del_txn(spfdb_txn *txn, void *arg)
{
    struct del_job *j = arg;
    int r;

    ctl_txn_start(j->c);
    r = j->del(txn);
    return r == SPFDB_ENOTFOUND ? ctl_refuse(j->c, "%s", j->none) : r;
}

static ctl_status setting_del(struct ctl *c, int (*del)(spfdb_txn *txn), const char *none)
{
    struct del_job j = {c, del, none};

    return ctl_write(c, del_txn, &j);
}

/* A show command's "field value" line, or its JSON member (l->n counts
 * the members printed). */
static void field_str(struct ctl_list *l, const char *field, const char *v)
{
    if (l->n < 0) {
        fprintf(l->f, "%s %s\n", field, *v ? v : "-");
        return;
    }
    fprintf(l->f, "%s\"", l->n++ ? ", " : "{");
    for (const char *p = field; *p; p++)
        putc(*p == '-' ? '_' : *p, l->f);
    fputs("\": ", l->f);
    ctl_json_str_or_null(l->f, v);
}

static void field_num(struct ctl_list *l, const char *field, unsigned long long v, int known)
{
    char num[24] = "";

    if (l->n < 0 || !known) {
        if (known)
            snprintf(num, sizeof num, "%llu", v);
        field_str(l, field, num);
        return;
    }
    fprintf(l->f, "%s\"", l->n++ ? ", " : "{");
    for (const char *p = field; *p; p++)
        putc(*p == '-' ? '_' : *p, l->f);
    fprintf(l->f, "\": %llu", v);
}

/* ---- transfer ----------------------------------------------------------- */

struct transfer_job {
    struct ctl *c;
    const struct ctl_args *a;
    char zone[SPFDB_NAME_MAX + 1];
};

static int transfer_set_txn(spfdb_txn *txn, void *arg)
{
    struct transfer_job *j = arg;
    struct spfdb_xfr_zone z, old;
    struct spfdb_why why;
    size_t keys = 0;
    int r;

    ctl_txn_start(j->c);
    memset(&z, 0, sizeof z);
    /* xfr_zone_arg checked the lengths: nothing is cut */
    snprintf(z.name, sizeof z.name, "%.*s", (int)sizeof z.name - 1, j->zone);
    if (j->a->ns.n)
        snprintf(z.ns, sizeof z.ns, "%.*s", (int)sizeof z.ns - 1, j->a->ns.host[0]);
    else if ((r = spfdb_xfr_zone_get(txn, &old)) == 0)
        memcpy(z.ns, old.ns, sizeof z.ns); /* --ns not given: the NS host stays */
    else if (r != SPFDB_ENOTFOUND)
        return r;
    r = spfdb_xfr_zone_set(txn, &z, &why);
    if (r == SPFDB_ERULE && why.rule == SPFDB_RULE_XFR_NEST)
        return ctl_refuse(j->c, "transfer zone %s %s served zone %s: served zones and the "
                          "transfer zone never nest", z.name, ctl_nest_words(why.value),
                          why.other);
    if (r == 0 && (r = spfdb_key_foreach(txn, count_key, &keys)) == 0 && keys == 0)
        buf_printf(&j->c->err, "spfdb-ctl: note: no key may transfer it yet; create one "
                   "with 'spfdb-ctl key add NAME'\n");
    return r;
}

ctl_status cmd_transfer_set(struct ctl *c, const struct ctl_args *a)
{
    struct transfer_job j = {.c = c, .a = a};
    char msg[200], q[CTL_QUOTE_MAX];
    const char *zone = a->argv[0];

    if (spfdb_dns_name_norm(zone, SPFDB_HOST_MAX, j.zone, sizeof j.zone, msg, sizeof msg) != 0) {
        ctl_err("bad transfer zone name %s: %s", ctl_quote(zone, strlen(zone), q), msg);
        return CTL_USAGE;
    }
    if (a->ns.n > 1) {
        ctl_err("the transfer zone has one NS host: give --ns once");
        return ctl_usage(c);
    }
    if (xfr_zone_arg(j.zone, a->ns.n ? a->ns.host[0] : NULL) != CTL_OK)
        return CTL_USAGE;
    return ctl_write(c, transfer_set_txn, &j);
}

ctl_status cmd_transfer_del(struct ctl *c, const struct ctl_args *a)
{
    (void)a;
    return setting_del(c, spfdb_xfr_zone_del, "no transfer zone is set");
}

static int first_serial(struct spfdb_log_rec *r, void *arg)
{
    *(uint32_t *)arg = r->serial_before;
    return 1;
}

struct show_replicas {
    struct ctl_list *l;
    int n;
};

static int show_replica(const struct spfdb_replica *r, void *arg)
{
    struct show_replicas *s = arg;
    FILE *f = s->l->f;

    if (s->l->n < 0)
        return fprintf(f, "replica %s %s\n", r->addr, r->key) < 0 ? SPFDB_ENOMEM : 0;
    fputs(s->n++ ? ", {\"address\": " : "{\"address\": ", f);
    ctl_json_str(f, r->addr);
    fputs(", \"key\": ", f);
    ctl_json_str(f, r->key);
    return fputs("}", f) == EOF ? SPFDB_ENOMEM : 0;
}

static int walk_transfer(spfdb_txn *txn, struct ctl_list *l, struct ctl *c)
{
    struct show_replicas s = {.l = l};
    struct spfdb_xfr_zone z;
    struct spfdb_info info;
    uint32_t oldest;
    int r = spfdb_xfr_zone_get(txn, &z);

    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(c, "no transfer zone is set (see 'spfdb-ctl transfer set')");
    if (r != 0 || (r = spfdb_info_get(txn, &info)) != 0)
        return r;
    /* IXFR reaches back to the first record from the floor on; with none,
     * a client is current or gets the whole zone */
    oldest = info.serial;
    r = spfdb_log_foreach(txn, info.ixfr_floor, INT64_MIN, first_serial, &oldest);
    if (r < 0)
        return r;
    field_str(l, "zone", z.name);
    field_str(l, "ns", z.ns);
    field_num(l, "serial", info.serial, 1);
    field_num(l, "oldest-ixfr-serial", oldest, 1);
    if (l->n >= 0)
        fputs(", \"replicas\": [", l->f);
    r = spfdb_replica_foreach(txn, show_replica, &s);
    if (l->n >= 0)
        fputs("]}\n", l->f);
    return r;
}

/* A show command: WALK prints its fields into a listing (JSON: one
 * object), which is written once the transaction has ended. */
typedef int (*show_fn)(spfdb_txn *txn, struct ctl_list *l, struct ctl *c);

static ctl_status show(struct ctl *c, const struct ctl_args *a, show_fn walk)
{
    struct ctl_list l;
    ctl_status s = ctl_list_begin(c, &l, a->json);

    if (s != CTL_OK)
        return s;
    return ctl_list_end(c, &l, walk(l.txn, &l, c));
}

ctl_status cmd_transfer_show(struct ctl *c, const struct ctl_args *a)
{
    return show(c, a, walk_transfer);
}

/* ---- replica ------------------------------------------------------------ */

struct replica_job {
    struct ctl *c;
    char addr[SPFDB_ADDRPORT_STRLEN]; /* canonical */
    const char *key;
};

static int replica_add_txn(spfdb_txn *txn, void *arg)
{
    struct replica_job *j = arg;
    struct spfdb_xfr_zone z;
    int r;

    ctl_txn_start(j->c);
    r = spfdb_replica_add(txn, j->addr, j->key, NULL);
    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(j->c, "no key '%s': create it first (spfdb-ctl key add %s) and give "
                          "the replica its secret", j->key, j->key);
    if (r == SPFDB_EEXIST)
        return ctl_refuse(j->c, "replica %s is already there (see 'spfdb-ctl replica list'); "
                          "to change its key, delete it and add it again", j->addr);
    if (r == 0 && (r = spfdb_xfr_zone_get(txn, &z)) == SPFDB_ENOTFOUND) {
        buf_printf(&j->c->err, "spfdb-ctl: note: no transfer zone is set: the replica gets "
                   "nothing until one is (spfdb-ctl transfer set ZONE)\n");
        r = 0;
    }
    return r;
}

ctl_status cmd_replica_add(struct ctl *c, const struct ctl_args *a)
{
    struct replica_job j = {.c = c, .key = a->key};
    ctl_status s = addr_arg("replica", a->argv[0], j.addr);

    return s == CTL_OK ? ctl_write(c, replica_add_txn, &j) : s;
}

static int replica_del_txn(spfdb_txn *txn, void *arg)
{
    struct replica_job *j = arg;
    int r;

    ctl_txn_start(j->c);
    r = spfdb_replica_del(txn, j->addr);
    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(j->c, "no replica %s (see 'spfdb-ctl replica list')", j->addr);
    return r;
}

ctl_status cmd_replica_del(struct ctl *c, const struct ctl_args *a)
{
    struct replica_job j = {.c = c};
    ctl_status s = addr_arg("replica", a->argv[0], j.addr);

    return s == CTL_OK ? ctl_write(c, replica_del_txn, &j) : s;
}

static int list_replica(const struct spfdb_replica *r, void *arg)
{
    struct ctl_list *l = arg;

    if (l->n < 0)
        return fprintf(l->f, "%s %s\n", r->addr, r->key) < 0 ? SPFDB_ENOMEM : 0;
    fputs(l->n++ ? ",\n{\"address\": " : "\n{\"address\": ", l->f);
    ctl_json_str(l->f, r->addr);
    fputs(", \"key\": ", l->f);
    ctl_json_str(l->f, r->key);
    return fputs("}", l->f) == EOF ? SPFDB_ENOMEM : 0;
}

static int walk_replicas(spfdb_txn *txn, struct ctl_list *l)
{
    return spfdb_replica_foreach(txn, list_replica, l);
}

ctl_status cmd_replica_list(struct ctl *c, const struct ctl_args *a)
{
    return ctl_list(c, a, walk_replicas);
}

/* ---- primary ------------------------------------------------------------ */

struct primary_job {
    struct ctl *c;
    int force;
    struct spfdb_primary p;
};

static int count_zone(const struct spfdb_zone *z, void *arg)
{
    (void)z;
    ++*(unsigned long long *)arg;
    return 0;
}

static int count_entries(const struct spfdb_alloc *a, void *arg)
{
    *(unsigned long long *)arg += a->n4 + a->n6;
    return 0;
}

/* A database that is no replica yet becomes one only empty, or with
 * --force: the first transfer replaces what it holds, and a mistyped --db
 * must not turn a primary into a replica. */
static int data_refused(struct primary_job *j, spfdb_txn *txn)
{
    unsigned long long zones = 0, entries = 0;
    struct spfdb_primary old;
    int r = spfdb_primary_get(txn, &old);

    if (r != SPFDB_ENOTFOUND || j->force)
        return r == SPFDB_ENOTFOUND ? 0 : r;
    if ((r = spfdb_zone_foreach(txn, count_zone, &zones)) != 0 ||
        (r = spfdb_alloc_foreach(txn, count_entries, &entries)) != 0)
        return r;
    if (zones == 0 && entries == 0)
        return 0;
    return ctl_refuse(j->c, "this database serves %llu zone%s and holds %llu entr%s, which the "
                      "first transfer from the primary replaces; check --db, and use --force "
                      "if this database is to become a replica", zones, zones == 1 ? "" : "s",
                      entries, entries == 1 ? "y" : "ies");
}

static int primary_set_txn(spfdb_txn *txn, void *arg)
{
    struct primary_job *j = arg;
    struct spfdb_why why;
    int r;

    ctl_txn_start(j->c);
    if ((r = data_refused(j, txn)) != 0)
        return r;
    r = spfdb_primary_set(txn, &j->p, &why);
    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(j->c, "no key '%s': store the primary's key first (spfdb-ctl key add "
                          "%s --secret -, given the line the primary printed)", j->p.key,
                          j->p.key);
    if (r == SPFDB_EINVAL && why.rule == SPFDB_RULE_ADDR_TWICE)
        return ctl_refuse(j->c, "primary address %s given twice", why.host);
    return r;
}

ctl_status cmd_primary_set(struct ctl *c, const struct ctl_args *a)
{
    struct primary_job j = {.c = c, .force = a->force};

    if (a->argc > SPFDB_PRIMARY_MAX) {
        ctl_err("at most %d primary addresses", SPFDB_PRIMARY_MAX);
        return CTL_USAGE;
    }
    if (xfr_zone_arg(a->zone, NULL) != CTL_OK)
        return CTL_USAGE;
    snprintf(j.p.zone, sizeof j.p.zone, "%.*s", (int)sizeof j.p.zone - 1, a->zone);
    snprintf(j.p.key, sizeof j.p.key, "%s", a->key);
    for (int i = 0; i < a->argc; i++)
        if (addr_arg("primary", a->argv[i], j.p.addr[j.p.n_addr++]) != CTL_OK)
            return CTL_USAGE;
    return ctl_write(c, primary_set_txn, &j);
}

ctl_status cmd_primary_del(struct ctl *c, const struct ctl_args *a)
{
    (void)a;
    return setting_del(c, spfdb_primary_del, "this database follows no primary");
}

static int walk_primary(spfdb_txn *txn, struct ctl_list *l, struct ctl *c)
{
    char contact[CTL_UTC_MAX] = "", success[CTL_UTC_MAX] = "";
    struct spfdb_primary p;
    struct spfdb_follow f;
    struct spfdb_info info;
    int r = spfdb_primary_get(txn, &p);

    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(c, "this database follows no primary (see 'spfdb-ctl primary set')");
    if (r != 0 || (r = spfdb_info_get(txn, &info)) != 0 || (r = spfdb_follow_get(txn, &f)) != 0)
        return r;
    if (f.last_contact)
        ctl_utc(f.last_contact, contact);
    if (f.last_success)
        ctl_utc(f.last_success, success);
    field_str(l, "zone", p.zone);
    field_str(l, "key", p.key);
    if (l->n < 0) {
        for (unsigned i = 0; i < p.n_addr; i++)
            fprintf(l->f, "primary %s\n", p.addr[i]);
        fprintf(l->f, "synced %s\n", f.synced ? "yes" : "no");
    } else {
        fputs(", \"primaries\": [", l->f);
        for (unsigned i = 0; i < p.n_addr; i++) {
            fputs(i ? ", " : "", l->f);
            ctl_json_str(l->f, p.addr[i]);
        }
        fprintf(l->f, "], \"synced\": %s", f.synced ? "true" : "false");
    }
    field_num(l, "serial", info.serial, 1);
    field_num(l, "primary-serial", f.primary_serial, f.last_contact != 0);
    field_str(l, "last-contact", contact);
    field_str(l, "last-success", success);
    if (l->n >= 0)
        fputs("}\n", l->f);
    return ferror(l->f) ? SPFDB_ENOMEM : 0;
}

ctl_status cmd_primary_show(struct ctl *c, const struct ctl_args *a)
{
    return show(c, a, walk_primary);
}
