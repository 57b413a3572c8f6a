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

/* Options and the one NAME argument of add and del; -1 for --help. */
static int alloc_args(struct ctl *c, int argc, char **argv, struct alloc_job *j, int force_ok)
{
    enum { O_FORCE = CTL_OPT_FIRST };
    static const struct option opts[] = {
        {"force", no_argument, NULL, O_FORCE},
        CTL_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    int o, r;

    while ((o = getopt_long(argc, argv, "h", force_ok ? opts : opts + 1, NULL)) != -1) {
        if (o == O_FORCE)
            j->force = 1;
        else if ((r = ctl_common_opt(c, o)) != CTL_OK)
            return r;
    }
    if (argc - optind != 1)
        return ctl_usage(c);
    return ctl_alloc_arg(argv[optind], j->name);
}

static int add_txn(spfdb_txn *txn, void *arg)
{
    struct alloc_job *j = arg;
    int r;

    ctl_txn_start(j->c);
    r = spfdb_alloc_add(txn, j->name, NULL);
    if (r == SPFDB_EEXIST) {
        buf_printf(&j->c->err, "spfdb-ctl: allocation '%s' already exists\n", j->name);
        return CTL_USAGE;
    }
    return r;
}

int cmd_alloc_add(struct ctl *c, int argc, char **argv)
{
    struct alloc_job j = {.c = c};
    int r = alloc_args(c, argc, argv, &j, 0);

    if (r < 0)
        return ctl_help(c);
    if (r != CTL_OK)
        return r;
    return ctl_write(c, add_txn, &j);
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

static int del_txn(spfdb_txn *txn, void *arg)
{
    struct alloc_job *j = arg;
    struct spfdb_alloc a;
    struct buf names = {0};
    struct bound b = {.names = &names};
    int r;

    ctl_txn_start(j->c);
    if ((r = ctl_alloc_lookup(j->c, txn, j->name, &a)) != 0)
        return r;
    b.id = a.id;
    r = spfdb_zone_foreach(txn, collect_bound, &b);
    if (r == 0 && names.oom)
        r = SPFDB_ENOMEM;
    if (r == 0 && b.n) {
        buf_printf(&j->c->err,
                   "spfdb-ctl: allocation '%s' is bound to zone%s %s; delete %s or bind %s "
                   "elsewhere first\n",
                   j->name, b.n > 1 ? "s" : "", names.p, b.n > 1 ? "them" : "it",
                   b.n > 1 ? "them" : "it");
        r = CTL_USAGE;
    }
    free(names.p);
    if (r != 0)
        return r;
    if (a.n4 + a.n6 && !j->force) {
        buf_printf(&j->c->err,
                   "spfdb-ctl: allocation '%s' holds %llu entries (%llu IPv4, %llu IPv6); use "
                   "--force to delete them with it\n",
                   j->name, (unsigned long long)(a.n4 + a.n6), (unsigned long long)a.n4,
                   (unsigned long long)a.n6);
        return CTL_USAGE;
    }
    r = spfdb_alloc_del(txn, j->name, j->force);
    if (r == SPFDB_EBUSY || r == SPFDB_ENOTEMPTY || r == SPFDB_EINVAL) {
        buf_printf(&j->c->err, "spfdb-ctl: cannot delete allocation '%s': %s\n", j->name,
                   spfdb_strerror(r));
        return CTL_USAGE;
    }
    return r;
}

int cmd_alloc_del(struct ctl *c, int argc, char **argv)
{
    struct alloc_job j = {.c = c};
    int r = alloc_args(c, argc, argv, &j, 1);

    if (r < 0)
        return ctl_help(c);
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

int cmd_alloc_list(struct ctl *c, int argc, char **argv)
{
    return ctl_list_cmd(c, argc, argv, walk_allocs);
}
