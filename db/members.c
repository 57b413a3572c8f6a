/* members.c: member allocations, and the deletion of an allocation, which
 * spans them (members.h, spfdb.h). */
#include "bytes.h"
#include "changelog.h"
#include "env.h"
#include "members.h"
#include "meta.h"
#include "set.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void touch(spfdb_txn *t, uint32_t id, uint8_t list)
{
    struct memtouch *m = &t->mem;

    if (m->n > 0 && m->id[m->n - 1] == id) {
        m->list[m->n - 1] |= list;
        return;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        uint32_t *id2 = realloc(m->id, cap * sizeof *id2);
        uint8_t *l2 = id2 ? realloc(m->list, cap) : NULL;
        if (id2)
            m->id = id2;
        if (l2 == NULL) {
            t->err = SPFDB_ENOMEM; /* sticky: the commit would miss a union */
            return;
        }
        m->list = l2;
        m->cap = cap;
    }
    m->id[m->n] = id;
    m->list[m->n++] = list;
}

void members_touch(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p, int del)
{
    struct memtouch *m = &t->mem;

    touch(t, alloc_id, 0);
    if (m->many)
        return;
    if (m->nch == MEM_CHANGES_MAX) {
        m->many = 1;
        return;
    }
    if (m->nch == m->capch) {
        size_t cap = m->capch ? 2 * m->capch : 16;
        struct memchange *c = realloc(m->ch, cap * sizeof *c);
        if (c == NULL) {
            m->many = 1; /* recompute whole: nothing is lost */
            return;
        }
        m->ch = c;
        m->capch = cap;
    }
    m->ch[m->nch++] = (struct memchange){alloc_id, del, *p};
}

void members_free(spfdb_txn *t)
{
    free(t->mem.id);
    free(t->mem.list);
    free(t->mem.ch);
    memset(&t->mem, 0, sizeof t->mem);
}

/* The link key of MEMBER in PARENT's list. */
static void link_key(uint8_t *k, uint32_t member, uint32_t parent)
{
    put_be32(k, member);
    put_be32(k + 4, parent);
}

struct parents {
    int (*fn)(uint32_t parent, void *arg);
    void *arg;
};

static int parent_link(const MDB_val *k, const MDB_val *v, void *arg)
{
    struct parents *p = arg;

    if (k->mv_size != 8 || v->mv_size != 0)
        return SPFDB_EFORMAT;
    return p->fn(get_be32((const uint8_t *)k->mv_data + 4), p->arg);
}

/* FN(parent id, ARG) for each allocation with ID as a member, through a
 * cursor of its own (FN may read anything). */
static int parents_walk(spfdb_txn *t, uint32_t id, int (*fn)(uint32_t parent, void *arg),
                        void *arg)
{
    uint8_t kb[8];
    MDB_val from = {8, kb};
    struct parents p = {fn, arg};

    link_key(kb, id, 0); /* past the 4-octet id -> name record */
    return store_walk(t, DB_ALLOCID, &from, 4, parent_link, &p);
}

struct pass {
    spfdb_txn *t;
    spfdb_alloc_fn fn;
    void *arg;
};

static int parent_alloc(uint32_t parent, void *arg)
{
    struct pass *p = arg;
    struct spfdb_alloc a;
    int rc = spfdb_alloc_get_id(p->t, parent, &a);

    return rc ? (rc == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : rc) : p->fn(&a, p->arg);
}

int spfdb_alloc_parents(spfdb_txn *t, uint32_t id, spfdb_alloc_fn fn, void *arg)
{
    struct pass p = {t, fn, arg};
    int rc = t->err ? t->err : counts_flush(t);

    return rc ? rc : parents_walk(t, id, parent_alloc, &p);
}

static int first_parent(const struct spfdb_alloc *a, void *arg)
{
    memcpy(arg, a, sizeof *a);
    return 1;
}

/* Link or unlink (DEL) MEMBER into PARENT's list, logged. */
static int link_set(spfdb_txn *t, const struct spfdb_alloc *parent, uint32_t member,
                    const char *mname, int del)
{
    uint8_t kb[8];
    MDB_val k = {8, kb}, v = {0, NULL};
    int rc;

    link_key(kb, member, parent->id);
    rc = del ? mdb_del(t->mdb, t->env->dbi[DB_ALLOCID], &k, NULL)
             : mdb_put(t->mdb, t->env->dbi[DB_ALLOCID], &k, &v, 0);
    if (rc)
        return rc == MDB_NOTFOUND ? SPFDB_EFORMAT : store_fail(t, rc);
    log_member(t, del ? LOG_DEL : LOG_ADD, parent->name, mname);
    return 0;
}

/* A member named for a change: its record, by name. */
struct named {
    char name[SPFDB_LABEL_MAX + 1];
    uint32_t id;
    int del;
};

static int by_name(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = x->del != y->del ? y->del - x->del : 0; /* removals first */

    return c ? c : strcmp(x->name, y->name);
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static int why_other(struct spfdb_why *why, int rule, const char *other, int rc)
{
    if (why) {
        memset(why, 0, sizeof *why);
        why->rule = rule;
        snprintf(why->other, sizeof why->other, "%s", other);
    }
    return rc;
}

/* A's record, with the transaction's counts stored first (they may be A's)
 * and let go of (A's record changes under them). */
static int load_fresh(spfdb_txn *t, const char *name, struct spfdb_alloc *a)
{
    int rc = counts_flush(t);

    t->cnt.a.id = 0;
    return rc ? rc : alloc_get(t, name, a);
}

int spfdb_alloc_set_members(spfdb_txn *t, const char *name, const char *const *members,
                            size_t n, struct spfdb_why *why)
{
    struct spfdb_alloc a, m, parent;
    struct named ch[2 * SPFDB_MEMBERS_MAX];
    uint32_t ids[SPFDB_MEMBERS_MAX];
    size_t nids = 0, nch = 0;
    int rc = store_need_data(t);

    if (rc)
        return rc;
    if (spfdb_alloc_name_check(name, NULL) != 0)
        return why_other(why, SPFDB_RULE_ALLOC_NAME, name, SPFDB_EINVAL);
    for (size_t i = 0; i < n; i++)
        if (spfdb_alloc_name_check(members[i], NULL) != 0)
            return why_other(why, SPFDB_RULE_ALLOC_NAME, members[i], SPFDB_EINVAL);
    rc = load_fresh(t, name, &a);
    if (rc)
        return rc == SPFDB_ENOTFOUND ? why_other(why, SPFDB_RULE_NONE, name, rc) : rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(members[i], name) == 0)
            return why_other(why, SPFDB_RULE_MEMBER_SELF, name, SPFDB_ERULE);
        rc = alloc_get(t, members[i], &m);
        if (rc)
            return rc == SPFDB_ENOTFOUND ? why_other(why, SPFDB_RULE_NONE, members[i], rc) : rc;
        if (m.n_members > 0)
            return why_other(why, SPFDB_RULE_MEMBER_NESTED, m.name, SPFDB_ERULE);
        size_t j = 0;
        while (j < nids && ids[j] != m.id)
            j++;
        if (j < nids)
            continue; /* named twice */
        if (nids == SPFDB_MEMBERS_MAX) {
            if (why) {
                memset(why, 0, sizeof *why);
                why->rule = SPFDB_RULE_MEMBER_COUNT;
                why->value = (uint32_t)(nids + 1);
                why->limit = SPFDB_MEMBERS_MAX;
            }
            return SPFDB_EINVAL;
        }
        ids[nids++] = m.id;
    }
    if (nids > 0) {
        rc = spfdb_alloc_parents(t, a.id, first_parent, &parent);
        if (rc == 1)
            return why_other(why, SPFDB_RULE_MEMBER_OF, parent.name, SPFDB_ERULE);
        if (rc)
            return rc;
    }
    qsort(ids, nids, sizeof *ids, by_id);
    /* the changes: each old member not kept, each new one */
    for (unsigned i = 0; i < a.n_members; i++)
        if (!bsearch(&a.members[i], ids, nids, sizeof *ids, by_id))
            ch[nch++] = (struct named){.id = a.members[i], .del = 1};
    for (size_t i = 0; i < nids; i++)
        if (!bsearch(&ids[i], a.members, a.n_members, sizeof *ids, by_id))
            ch[nch++] = (struct named){.id = ids[i], .del = 0};
    if (nch == 0)
        return 0;
    for (size_t i = 0; i < nch; i++)
        if ((rc = alloc_name(t, ch[i].id, ch[i].name)) != 0)
            return rc == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : rc;
    qsort(ch, nch, sizeof *ch, by_name);
    for (size_t i = 0; i < nch; i++)
        if ((rc = link_set(t, &a, ch[i].id, ch[i].name, ch[i].del)) != 0)
            return rc;
    memcpy(a.members, ids, nids * sizeof *ids);
    a.n_members = (unsigned)nids;
    rc = alloc_store(t, &a, 0);
    if (rc)
        return rc;
    touch(t, a.id, 1);
    t->changed = 1; /* not meta_gen: no zone or allocation name changed */
    return 0;
}

/* ---- deletion --------------------------------------------------------- */

static int is_bound(const struct spfdb_zone *z, void *arg)
{
    return z->alloc_id == *(const uint32_t *)arg;
}

static int any_parent(uint32_t parent, void *arg)
{
    (void)parent;
    (void)arg;
    return 1;
}

struct dropped {
    spfdb_txn *t;
    const struct spfdb_alloc *a;
};

static int log_dropped(const struct spfdb_prefix *p, void *arg)
{
    struct dropped *d = arg;

    log_entry(d->t, d->a->id, d->a->name, LOG_DEL, p);
    return 0;
}

int spfdb_alloc_del(spfdb_txn *t, const char *name, int force)
{
    struct spfdb_alloc a;
    uint8_t kb[4];
    MDB_val k = {4, kb}, kn = {strlen(name), (void *)name};
    int rc = store_need_data(t);

    if (rc)
        return rc;
    if (spfdb_alloc_name_check(name, NULL) != 0 || strcmp(name, "default") == 0)
        return SPFDB_EINVAL;
    rc = load_fresh(t, name, &a);
    if (rc)
        return rc;
    rc = spfdb_zone_foreach(t, is_bound, &a.id);
    if (rc == 0)
        rc = parents_walk(t, a.id, any_parent, NULL);
    if (rc)
        return rc < 0 ? rc : SPFDB_EBUSY;
    if ((a.n4 || a.n6) && !force)
        return SPFDB_ENOTEMPTY;
    /* its members go first, each logged, as --force's entries are */
    for (unsigned i = 0; i < a.n_members; i++) {
        char mname[SPFDB_LABEL_MAX + 1];
        rc = alloc_name(t, a.members[i], mname);
        if (rc == 0)
            rc = link_set(t, &a, a.members[i], mname, 1);
        if (rc)
            return rc == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : rc;
    }
    rc = set_drop(t, a.id, log_dropped, &(struct dropped){t, &a});
    if (rc)
        return rc;
    put_be32(kb, a.id);
    rc = mdb_del(t->mdb, t->env->dbi[DB_ALLOCS], &kn, NULL);
    if (rc == 0)
        rc = mdb_del(t->mdb, t->env->dbi[DB_ALLOCID], &k, NULL);
    if (rc)
        return store_fail(t, rc);
    log_alloc(t, LOG_DEL, a.name);
    t->changed = 1;
    t->meta_changed = 1;
    return 0;
}

/* ---- the commit --------------------------------------------------------- */

struct targets {
    uint32_t *id;
    size_t n, cap;
};

static int target_add(uint32_t id, void *arg)
{
    struct targets *g = arg;

    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        uint32_t *p = realloc(g->id, cap * sizeof *p);
        if (p == NULL)
            return SPFDB_ENOMEM;
        g->id = p;
        g->cap = cap;
    }
    g->id[g->n++] = id;
    return 0;
}

static int in_targets(const struct targets *g, uint32_t id)
{
    return g->n > 0 && bsearch(&id, g->id, g->n, sizeof *g->id, by_id) != NULL;
}

/* One entry change C of a member, into the union of each allocation it is
 * a member of that is not recomputed whole (FULL). */
struct one {
    spfdb_txn *t;
    const struct memchange *c;
    const struct targets *full;
};

static int change_parent(uint32_t parent, void *arg)
{
    struct one *o = arg;
    struct spfdb_alloc u;
    char name[SPFDB_LABEL_MAX + 1];
    int rc;

    if (in_targets(o->full, parent))
        return 0;
    rc = alloc_name(o->t, parent, name);
    if (rc == 0)
        rc = alloc_get(o->t, name, &u);
    if (rc)
        return rc == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : rc;
    return o->c->del ? set_union_del(o->t, parent, &o->c->p, u.members, u.n_members)
                     : set_union_add(o->t, parent, &o->c->p);
}

int members_commit(spfdb_txn *t)
{
    struct memtouch *m = &t->mem;
    struct targets g = {NULL, 0, 0};
    struct spfdb_alloc a;
    char name[SPFDB_LABEL_MAX + 1];
    size_t k = 0;
    int rc = counts_flush(t);

    /* recomputed whole: each touched allocation with members (or whose
     * list changed) and, past MEM_CHANGES_MAX changes, each allocation a
     * touched one is a member of */
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        rc = alloc_name(t, m->id[i], name);
        if (rc == SPFDB_ENOTFOUND) { /* deleted since */
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = alloc_get(t, name, &a);
        if (rc == 0 && (a.n_members > 0 || m->list[i]))
            rc = target_add(a.id, &g);
        if (rc == 0 && m->many)
            rc = parents_walk(t, a.id, target_add, &g);
    }
    if (rc == 0 && g.n > 1)
        qsort(g.id, g.n, sizeof *g.id, by_id);
    for (size_t i = 0; rc == 0 && i < g.n; i++) {
        if (i > 0 && g.id[i] == g.id[i - 1])
            continue;
        g.id[k++] = g.id[i];
        rc = alloc_name(t, g.id[i], name);
        if (rc == 0)
            rc = alloc_get(t, name, &a);
        for (int f = 4; rc == 0 && f <= 6; f += 2)
            rc = set_union(t, a.id, f, a.members, a.n_members);
    }
    g.n = k;
    /* the rest change by change, each as the sources now hold it: an
     * entry added and removed again in one transaction is neither */
    for (size_t i = 0; rc == 0 && !m->many && i < m->nch; i++) {
        const struct memchange *c = &m->ch[i];
        struct one o = {t, c, &g};
        rc = set_has(t, c->id, &c->p);
        if (rc >= 0 && rc == !c->del)
            rc = parents_walk(t, c->id, change_parent, &o);
        else if (rc >= 0)
            rc = 0;
    }
    free(g.id);
    return rc == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : rc;
}
