/* Allocation commands: allocation add, del, list (SPEC §3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct alloc_job {
    struct ctl *c;
    char name[SPFDB_LABEL_MAX + 1];
    int force;
};

static int add_txn(spfdb_txn *txn, void *arg)
{
    struct alloc_job *j = arg;
    int r;

    ctl_txn_start(j->c);
    r = spfdb_alloc_add(txn, j->name, NULL);
    if (r == SPFDB_EEXIST)
        return ctl_refuse(j->c, "allocation '%s' already exists", j->name);
    return r;
}

ctl_status cmd_alloc_add(struct ctl *c, const struct ctl_args *a)
{
    struct alloc_job j = {.c = c};
    ctl_status r = ctl_alloc_arg(a->argv[0], j.name);

    return r == CTL_OK ? ctl_write(c, add_txn, &j) : r;
}

struct bound {
    struct buf *names;
    uint32_t id;
    int n;
};

static int collect_bound(const struct spfdb_zone *z, void *arg)
{
    struct bound *b = arg;

    if (z->alloc_id == b->id)
        buf_printf(b->names, "%s%s", b->n++ ? ", " : "", z->name);
    return 0;
}

/* The library refused with R to delete allocation A (spfdb_alloc_del):
 * its words for the rule in c->err, and CTL_REFUSED; R itself when it is
 * no refusal. */
static int del_refused(struct alloc_job *j, spfdb_txn *txn, const struct spfdb_alloc *a, int r)
{
    struct buf names = {0};
    struct bound b = {.names = &names, .id = a->id};

    if (r == SPFDB_EBUSY) { /* bound to zones: name them */
        r = spfdb_zone_foreach(txn, collect_bound, &b);
        if (r == 0 && names.oom)
            r = SPFDB_ENOMEM;
        if (r == 0 && b.n)
            r = ctl_refuse(j->c, "allocation '%s' is bound to zone%s %s; delete %s or bind %s "
                           "elsewhere first", j->name, b.n > 1 ? "s" : "", names.p,
                           b.n > 1 ? "them" : "it", b.n > 1 ? "them" : "it");
        free(names.p);
        if (r != 0)
            return r;
        r = SPFDB_EBUSY;
    }
    if (r == SPFDB_ENOTEMPTY)
        return ctl_refuse(j->c, "allocation '%s' holds %llu entries (%llu IPv4, %llu IPv6); "
                          "use --force to delete them with it", j->name,
                          (unsigned long long)(a->n4 + a->n6), (unsigned long long)a->n4,
                          (unsigned long long)a->n6);
    if (r == SPFDB_EBUSY || r == SPFDB_ENOTEMPTY || r == SPFDB_EINVAL)
        return ctl_refuse(j->c, "cannot delete allocation '%s': %s", j->name,
                          spfdb_strerror(r));
    return r;
}

static int del_txn(spfdb_txn *txn, void *arg)
{
    struct alloc_job *j = arg;
    struct spfdb_alloc a;
    int r;

    ctl_txn_start(j->c);
    if ((r = ctl_alloc_lookup(j->c, txn, j->name, &a)) != 0)
        return r;
    r = spfdb_alloc_del(txn, j->name, j->force);
    return r == 0 ? 0 : del_refused(j, txn, &a, r);
}

ctl_status cmd_alloc_del(struct ctl *c, const struct ctl_args *a)
{
    struct alloc_job j = {.c = c, .force = a->force};
    ctl_status r = ctl_alloc_arg(a->argv[0], j.name);

    if (r != CTL_OK)
        return r;
    if (strcmp(j.name, "default") == 0) {
        ctl_err("allocation 'default' cannot be deleted");
        return CTL_USAGE;
    }
    return ctl_write(c, del_txn, &j);
}

static int print_alloc(const struct spfdb_alloc *a, void *arg)
{
    struct ctl_list *l = arg;

    if (l->n < 0)
        return fprintf(l->f, "%s %llu %llu\n", a->name, (unsigned long long)a->n4,
                       (unsigned long long)a->n6) < 0 ? SPFDB_ENOMEM : 0;
    fputs(l->n++ ? ",\n{\"name\": " : "\n{\"name\": ", l->f);
    ctl_json_str(l->f, a->name);
    return fprintf(l->f, ", \"ipv4_entries\": %llu, \"ipv6_entries\": %llu}",
                   (unsigned long long)a->n4, (unsigned long long)a->n6) < 0 ? SPFDB_ENOMEM : 0;
}

static int walk_allocs(spfdb_txn *txn, struct ctl_list *l)
{
    return spfdb_alloc_foreach(txn, print_alloc, l);
}

ctl_status cmd_alloc_list(struct ctl *c, const struct ctl_args *a)
{
    return ctl_list(c, a, walk_allocs);
}
