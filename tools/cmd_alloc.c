/* Allocation commands: allocation add, set, del, list (SPEC §3), and
 * their --member option.  The rules for members (SPEC §2: one level, at
 * most 32, no self) are the library's (spfdb_alloc_set_members); here
 * they are put in words (ctl_members_refused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

ctl_status opt_member(void *field, const char *arg)
{
    struct ctl_members *m = field;
    char name[SPFDB_LABEL_MAX + 1];

    if (*arg == '\0') {
        m->none = 1;
    } else {
        if (ctl_alloc_arg(arg, name) != CTL_OK)
            return CTL_USAGE;
        for (unsigned i = 0; i < m->n; i++)
            if (strcmp(m->name[i], name) == 0)
                return CTL_OK; /* given twice: counts once */
        if (m->n == SPFDB_MEMBERS_MAX) {
            ctl_err("--member %s: more than %u members; an allocation has at most %u", name,
                    SPFDB_MEMBERS_MAX, SPFDB_MEMBERS_MAX);
            return CTL_USAGE;
        }
        strcpy(m->name[m->n++], name);
    }
    if (m->none && m->n) {
        ctl_err("--member '' (no members) goes alone, not with other --member options");
        return CTL_USAGE;
    }
    return CTL_OK;
}

struct alloc_job {
    struct ctl *c;
    char name[SPFDB_LABEL_MAX + 1];
    int force;
    const struct ctl_members *members;
};

/* Make J's allocation's members exactly j->members, in TXN. */
static int set_members(spfdb_txn *txn, struct alloc_job *j)
{
    const char *names[SPFDB_MEMBERS_MAX];
    struct spfdb_why why;
    int r;

    for (unsigned i = 0; i < j->members->n; i++)
        names[i] = j->members->name[i];
    memset(&why, 0, sizeof why);
    r = spfdb_alloc_set_members(txn, j->name, names, j->members->n, &why);
    return r == 0 ? 0 : ctl_members_refused(j->c, "", j->name, r, &why);
}

static int add_txn(spfdb_txn *txn, void *arg)
{
    struct alloc_job *j = arg;
    int r;

    ctl_txn_start(j->c);
    r = spfdb_alloc_add(txn, j->name, NULL);
    if (r == SPFDB_EEXIST)
        return ctl_refuse(j->c, "allocation '%s' already exists", j->name);
    if (r == 0 && j->members->n)
        r = set_members(txn, j);
    return r;
}

ctl_status cmd_alloc_add(struct ctl *c, const struct ctl_args *a)
{
    struct alloc_job j = {.c = c, .members = &a->members};
    ctl_status r = ctl_alloc_arg(a->argv[0], j.name);

    return r == CTL_OK ? ctl_write(c, add_txn, &j) : r;
}

static int set_txn(spfdb_txn *txn, void *arg)
{
    struct alloc_job *j = arg;
    struct spfdb_alloc a;
    int r;

    ctl_txn_start(j->c);
    if ((r = ctl_alloc_lookup(j->c, txn, j->name, &a)) != 0)
        return r;
    return set_members(txn, j);
}

ctl_status cmd_alloc_set(struct ctl *c, const struct ctl_args *a)
{
    struct alloc_job j = {.c = c, .members = &a->members};
    ctl_status r = ctl_alloc_arg(a->argv[0], j.name);

    return r == CTL_OK ? ctl_write(c, set_txn, &j) : r;
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

/* SPFDB_EBUSY for allocation A: the zones bound to it, or the
 * allocations it is a member of, named in c->err (CTL_REFUSED); 0 when
 * neither holds it. */
static int busy_refused(struct alloc_job *j, spfdb_txn *txn, const struct spfdb_alloc *a)
{
    struct buf names = {0};
    struct bound b = {.names = &names, .id = a->id};
    unsigned n = 0;
    int r;

    r = spfdb_zone_foreach(txn, collect_bound, &b);
    if (r == 0 && names.oom)
        r = SPFDB_ENOMEM;
    if (r == 0 && b.n)
        r = ctl_refuse(j->c, "allocation '%s' is bound to zone%s %s; delete %s or bind %s "
                       "elsewhere first", j->name, b.n > 1 ? "s" : "", names.p,
                       b.n > 1 ? "them" : "it", b.n > 1 ? "them" : "it");
    if (r == 0 && (r = ctl_parents(txn, a->id, &names, &n)) == 0 && n)
        r = ctl_refuse(j->c, "allocation '%s' is a member of %s; set %s members without it "
                       "first (spfdb-ctl allocation set)", j->name, names.p,
                       n > 1 ? "their" : "its");
    free(names.p);
    return r;
}

/* The library refused with R to delete allocation A (spfdb_alloc_del):
 * its words for the rule in c->err, and CTL_REFUSED; R itself when it is
 * no refusal. */
static int del_refused(struct alloc_job *j, spfdb_txn *txn, const struct spfdb_alloc *a, int r)
{
    if (r == SPFDB_EBUSY) {
        if ((r = busy_refused(j, txn, a)) != 0)
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

struct alloc_walk {
    struct ctl_list *l;
    spfdb_txn *txn;
};

static int cmp_name(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* The names of A's members, in name order, into NAMES. */
static int member_names(spfdb_txn *txn, const struct spfdb_alloc *a,
                        char names[][SPFDB_LABEL_MAX + 1])
{
    struct spfdb_alloc m;
    unsigned n = a->n_members < SPFDB_MEMBERS_MAX ? a->n_members : SPFDB_MEMBERS_MAX;
    int r;

    for (unsigned i = 0; i < n; i++) {
        /* a member id without its allocation: the database is damaged */
        if ((r = spfdb_alloc_get_id(txn, a->members[i], &m)) != 0)
            return r == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : r;
        memcpy(names[i], m.name, sizeof names[i]);
    }
    qsort(names, n, sizeof names[0], cmp_name);
    return 0;
}

static int print_alloc(const struct spfdb_alloc *a, void *arg)
{
    struct alloc_walk *w = arg;
    struct ctl_list *l = w->l;
    char names[SPFDB_MEMBERS_MAX][SPFDB_LABEL_MAX + 1];
    unsigned n = a->n_members < SPFDB_MEMBERS_MAX ? a->n_members : SPFDB_MEMBERS_MAX;
    int r = member_names(w->txn, a, names);

    if (r != 0)
        return r;
    if (l->n < 0) {
        fprintf(l->f, "%s %llu %llu", a->name, (unsigned long long)a->n4,
                (unsigned long long)a->n6);
        for (unsigned i = 0; i < n; i++)
            fprintf(l->f, "%c%s", i ? ',' : ' ', names[i]);
        return fputc('\n', l->f) == EOF ? SPFDB_ENOMEM : 0;
    }
    fputs(l->n++ ? ",\n{\"name\": " : "\n{\"name\": ", l->f);
    ctl_json_str(l->f, a->name);
    fprintf(l->f, ", \"ipv4_entries\": %llu, \"ipv6_entries\": %llu, \"members\": [",
            (unsigned long long)a->n4, (unsigned long long)a->n6);
    for (unsigned i = 0; i < n; i++) {
        fputs(i ? ", " : "", l->f);
        ctl_json_str(l->f, names[i]);
    }
    return fputs("]}", l->f) == EOF ? SPFDB_ENOMEM : 0;
}

static int walk_allocs(spfdb_txn *txn, struct ctl_list *l)
{
    struct alloc_walk w = {l, txn};

    return spfdb_alloc_foreach(txn, print_alloc, &w);
}

ctl_status cmd_alloc_list(struct ctl *c, const struct ctl_args *a)
{
    return ctl_list(c, a, walk_allocs);
}
