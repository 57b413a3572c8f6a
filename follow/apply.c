/* apply.c: stage a transfer, then apply it in one write transaction
 * (apply.h). */
#include "apply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* ---- staging ---------------------------------------------------------- */

void stage_init(struct stage *s)
{
    memset(s, 0, sizeof *s);
}

void stage_free(struct stage *s)
{
    for (size_t i = 0; i < s->nobj; i++)
        free(s->obj[i].zone);
    free(s->ent);
    free(s->obj);
    free(s->seq);
    free(s->names);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* Grow *P (N used of *CAP elements of SIZE octets) for one more. */
static int grow(void *pp, size_t n, size_t *cap, size_t size)
{
    void **p = pp;
    size_t c;
    void *q;

    if (n < *cap)
        return 0;
    c = *cap ? *cap * 2 : 64;
    if (c > SIZE_MAX / size)
        return -1;
    q = realloc(*p, c * size);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static uint64_t hash_name(const char *n)
{
    uint64_t h = 1469598103934665603ull;

    while (*n)
        h = (h ^ (uint8_t)*n++) * 1099511628211ull;
    return h;
}

static int rehash(struct stage *s, size_t nslots)
{
    uint32_t *sl = calloc(nslots, sizeof *sl);

    if (sl == NULL)
        return -1;
    for (size_t i = 0; i < s->nnames; i++) {
        size_t j = hash_name(s->names[i]) & (nslots - 1);
        while (sl[j])
            j = (j + 1) & (nslots - 1);
        sl[j] = (uint32_t)i + 1;
    }
    free(s->slots);
    s->slots = sl;
    s->nslots = nslots;
    return 0;
}

/* The index of allocation name N, or -1 when it was never interned. */
static long find_name(const struct stage *s, const char *n)
{
    if (s->nslots == 0)
        return -1;
    for (size_t j = hash_name(n) & (s->nslots - 1); s->slots[j]; j = (j + 1) & (s->nslots - 1))
        if (strcmp(s->names[s->slots[j] - 1], n) == 0)
            return (long)s->slots[j] - 1;
    return -1;
}

/* The index of allocation name N, interned on first sight; -1 out of memory. */
static long intern(struct stage *s, const char *n)
{
    long found = find_name(s, n);
    size_t j;

    if (found >= 0)
        return found;
    if (grow(&s->names, s->nnames, &s->capnames, sizeof *s->names) != 0)
        return -1;
    snprintf(s->names[s->nnames], sizeof s->names[0], "%s", n);
    s->nnames++;
    if (s->nnames * 2 > s->nslots) {
        if (rehash(s, s->nslots ? s->nslots * 2 : 64) != 0) {
            s->nnames--;
            return -1;
        }
        return (long)s->nnames - 1;
    }
    for (j = hash_name(n) & (s->nslots - 1); s->slots[j]; j = (j + 1) & (s->nslots - 1))
        ;
    s->slots[j] = (uint32_t)s->nnames;
    return (long)s->nnames - 1;
}

static struct stage_seq *cur_seq(struct stage *s)
{
    return s->nseq ? &s->seq[s->nseq - 1] : NULL;
}

/* One object into the arrays. */
static int stage_obj(struct stage *s, int op, const struct xfr_obj *o)
{
    long name;

    switch (o->kind) {
    case XFR_ENTRY:
        if ((name = intern(s, o->entry.alloc)) < 0 ||
            grow(&s->ent, s->nent, &s->capent, sizeof *s->ent) != 0)
            return -1;
        s->ent[s->nent++] = (struct stage_ent){(uint32_t)name, (uint8_t)op, o->entry.prefix};
        return 0;
    case XFR_ALLOC:
        if ((name = intern(s, o->alloc.alloc)) < 0 ||
            grow(&s->obj, s->nobj, &s->capobj, sizeof *s->obj) != 0)
            return -1;
        s->obj[s->nobj++] = (struct stage_obj){(uint8_t)op, XFR_ALLOC, (uint32_t)name, 0, NULL};
        return 0;
    case XFR_ZONE: {
        struct spfdb_zone *z = malloc(sizeof *z);

        if (z == NULL || grow(&s->obj, s->nobj, &s->capobj, sizeof *s->obj) != 0) {
            free(z);
            return -1;
        }
        *z = o->zone;
        s->obj[s->nobj++] = (struct stage_obj){(uint8_t)op, XFR_ZONE, 0, 0, z};
        return 0;
    }
    case XFR_MEMBER: {
        long member;

        if ((name = intern(s, o->member.alloc)) < 0 || (member = intern(s, o->member.member)) < 0 ||
            grow(&s->obj, s->nobj, &s->capobj, sizeof *s->obj) != 0)
            return -1;
        s->obj[s->nobj++] =
            (struct stage_obj){(uint8_t)op, XFR_MEMBER, (uint32_t)name, (uint32_t)member, NULL};
        return 0;
    }
    default:
        return 0;
    }
}

int stage_event(void *arg, const struct xfr_in_event *ev)
{
    struct stage *s = arg;
    struct stage_seq *q;

    switch (ev->type) {
    case XFR_EV_BEGIN:
        s->form = ev->form;
        s->soa = *ev->soa;
        return 0;
    case XFR_EV_SEQ:
        if (grow(&s->seq, s->nseq, &s->capseq, sizeof *s->seq) != 0)
            break;
        s->seq[s->nseq++] = (struct stage_seq){ev->from, 0, s->nent, s->nent, s->nent,
                                               s->nobj, s->nobj, s->nobj};
        return 0;
    case XFR_EV_ADDS:
        if ((q = cur_seq(s)) == NULL)
            return -1;
        q->to = ev->to;
        q->ent_add = s->nent;
        q->obj_add = s->nobj;
        return 0;
    case XFR_EV_SEQ_END:
        if ((q = cur_seq(s)) == NULL)
            return -1;
        q->ent_end = s->nent;
        q->obj_end = s->nobj;
        return 0;
    case XFR_EV_DEL:
    case XFR_EV_ADD:
        if (stage_obj(s, ev->type == XFR_EV_DEL ? XFR_OP_DEL : XFR_OP_ADD, ev->obj) == 0)
            return 0;
        break;
    case XFR_EV_END:
        s->ended = 1;
        return 0;
    }
    s->oom = 1;
    return -1;
}

/* ---- applying --------------------------------------------------------- */

struct ctx {
    struct stage *s;
    const char *zone;
    const struct spfdb_follow *follow;
    struct apply_result *res;
    uint32_t *ids;          /* allocation id per interned name; 0: not looked up */
    /* an AXFR's per-allocation merge */
    size_t cur, end;
    struct spfdb_prefix *dels;
    size_t ndels, capdels;
    int oom;
};

static int failf(struct ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int failf(struct ctx *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->res->err, sizeof c->res->err, fmt, ap);
    va_end(ap);
    return code;
}

static const char *ptext(const struct spfdb_prefix *p, char *buf, size_t cap)
{
    spfdb_prefix_format(p, buf, cap);
    return buf;
}

/* The id of interned allocation NAME: 0 and *ID, or <0. */
static int alloc_id(spfdb_txn *t, struct ctx *c, uint32_t name, uint32_t *id)
{
    struct spfdb_alloc a;
    int rc;

    if (c->ids[name]) {
        *id = c->ids[name];
        return 0;
    }
    rc = spfdb_alloc_get(t, c->s->names[name], &a);
    if (rc == SPFDB_ENOTFOUND)
        return failf(c, APPLY_EDIVERGED, "entries of allocation %s, which is not held",
                     c->s->names[name]);
    if (rc)
        return failf(c, rc, "allocation %s: %s", c->s->names[name], spfdb_strerror(rc));
    *id = c->ids[name] = a.id;
    return 0;
}

static void forget_ids(struct ctx *c)
{
    memset(c->ids, 0, c->s->nnames * sizeof *c->ids);
}

/* Store zone Z, its allocation looked up by name.  FLAGS as spfdb_zone_put_flags. */
static int zone_put(spfdb_txn *t, struct ctx *c, struct spfdb_zone *z, unsigned flags)
{
    struct spfdb_why why;
    struct spfdb_alloc a;
    int rc;

    z->alloc_id = 0;
    if (z->alloc[0]) {
        rc = spfdb_alloc_get(t, z->alloc, &a);
        if (rc)
            return failf(c, rc == SPFDB_ENOTFOUND ? APPLY_EDIVERGED : rc,
                         "zone %s: allocation %s: %s", z->name, z->alloc, spfdb_strerror(rc));
        z->alloc_id = a.id;
    }
    rc = spfdb_zone_put_flags(t, z, flags, &why);
    if (rc == SPFDB_EEXIST)
        return failf(c, APPLY_EDIVERGED, "zone %s is served already", z->name);
    if (rc)
        return failf(c, rc == SPFDB_ERULE || rc == SPFDB_EINVAL ? APPLY_EDATA : rc,
                     "zone %s refused: %s", z->name, spfdb_strerror(rc));
    c->res->objects++;
    return 0;
}

static int entry_add(spfdb_txn *t, struct ctx *c, uint32_t id, const char *alloc,
                     const struct spfdb_prefix *p)
{
    char b[SPFDB_PREFIX_STRLEN];
    int rc = spfdb_entry_add_flags(t, id, p, SPFDB_ENTRY_WIDE, NULL);

    if (rc == SPFDB_EEXIST)
        return failf(c, APPLY_EDIVERGED, "entry %s of %s is present already", ptext(p, b, sizeof b),
                     alloc);
    if (rc)
        return failf(c, rc == SPFDB_ERULE || rc == SPFDB_EINVAL ? APPLY_EDATA : rc,
                     "entry %s of %s refused: %s", ptext(p, b, sizeof b), alloc,
                     spfdb_strerror(rc));
    c->res->added++;
    return 0;
}

static int entry_del(spfdb_txn *t, struct ctx *c, uint32_t id, const char *alloc,
                     const struct spfdb_prefix *p)
{
    char b[SPFDB_PREFIX_STRLEN];
    int rc = spfdb_entry_del(t, id, p);

    if (rc == SPFDB_ENOTFOUND)
        return failf(c, APPLY_EDIVERGED, "entry %s of %s is not held", ptext(p, b, sizeof b),
                     alloc);
    if (rc)
        return failf(c, rc, "entry %s of %s: %s", ptext(p, b, sizeof b), alloc, spfdb_strerror(rc));
    c->res->deleted++;
    return 0;
}

/* The names of allocation A's members into NAMES (and PTRS pointing at
 * them), in A's (id) order: 0 and *N, or <0. */
static int member_names(spfdb_txn *t, struct ctx *c, const struct spfdb_alloc *a,
                        char (*names)[SPFDB_LABEL_MAX + 1], const char **ptrs, unsigned *n)
{
    struct spfdb_alloc m;
    int rc;

    *n = 0;
    for (unsigned i = 0; i < a->n_members && i < SPFDB_MEMBERS_MAX; i++) {
        if ((rc = spfdb_alloc_get_id(t, a->members[i], &m)) != 0)
            return failf(c, rc, "allocation %s: member %u: %s", a->name, (unsigned)a->members[i],
                         spfdb_strerror(rc));
        snprintf(names[*n], sizeof names[0], "%s", m.name);
        ptrs[*n] = names[*n];
        (*n)++;
    }
    return 0;
}

static const char *why_text(const struct spfdb_why *why, char *buf, size_t cap)
{
    switch (why->rule) {
    case SPFDB_RULE_MEMBER_SELF:
        return "an allocation among its own members";
    case SPFDB_RULE_MEMBER_NESTED:
        snprintf(buf, cap, "%s has members of its own", why->other);
        return buf;
    case SPFDB_RULE_MEMBER_OF:
        snprintf(buf, cap, "it is a member of %s", why->other);
        return buf;
    case SPFDB_RULE_MEMBER_COUNT:
        snprintf(buf, cap, "%u members, more than %u", (unsigned)why->value,
                 (unsigned)why->limit);
        return buf;
    default:
        if (why->other[0]) {
            snprintf(buf, cap, "%s", why->other);
            return buf;
        }
        return why->msg[0] ? why->msg : "";
    }
}

/* Make PARENT's members the N in NAMES; CODE is what a refusal means. */
static int members_set(spfdb_txn *t, struct ctx *c, const char *parent, const char **names,
                       unsigned n, int code)
{
    struct spfdb_why why;
    char b[SPFDB_NAME_MAX + 64];
    int rc;

    memset(&why, 0, sizeof why);
    rc = spfdb_alloc_set_members(t, parent, names, n, &why);
    if (rc == SPFDB_ERULE || rc == SPFDB_EINVAL || rc == SPFDB_ENOTFOUND)
        return failf(c, code, "members of allocation %s refused: %s%s%s", parent,
                     spfdb_strerror(rc), why_text(&why, b, sizeof b)[0] ? ": " : "",
                     why_text(&why, b, sizeof b));
    if (rc)
        return failf(c, rc, "members of allocation %s: %s", parent, spfdb_strerror(rc));
    return 0;
}

/* IXFR: member link (PARENT, MEMBER) deleted (OP XFR_OP_DEL) or added.
 * Its presence must be the opposite of what the sequence makes it. */
static int member_change(spfdb_txn *t, struct ctx *c, const char *parent, const char *member,
                         int op)
{
    char names[SPFDB_MEMBERS_MAX + 1][SPFDB_LABEL_MAX + 1];
    const char *ptrs[SPFDB_MEMBERS_MAX + 1];
    struct spfdb_alloc a;
    unsigned n, at = SPFDB_MEMBERS_MAX + 1;
    int rc;

    rc = spfdb_alloc_get(t, parent, &a);
    if (rc == SPFDB_ENOTFOUND)
        return failf(c, APPLY_EDIVERGED, "member link %s of %s, which is not held", member,
                     parent);
    if (rc)
        return failf(c, rc, "allocation %s: %s", parent, spfdb_strerror(rc));
    if ((rc = member_names(t, c, &a, names, ptrs, &n)) != 0)
        return rc;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(names[i], member) == 0)
            at = i;
    if (op == XFR_OP_DEL) {
        if (at >= n)
            return failf(c, APPLY_EDIVERGED, "member link %s of %s is not held", member, parent);
        ptrs[at] = ptrs[--n];
    } else {
        if (at < n)
            return failf(c, APPLY_EDIVERGED, "member link %s of %s is present already", member,
                         parent);
        ptrs[n++] = member;
    }
    /* the primary's state after the sequence obeys SPEC §2; a refusal here
     * means this replica is not at the sequence's start */
    if ((rc = members_set(t, c, parent, ptrs, n, APPLY_EDIVERGED)) != 0)
        return rc;
    c->res->members++;
    return 0;
}

/* One IXFR difference sequence. */
static int apply_seq(spfdb_txn *t, struct ctx *c, const struct stage_seq *q)
{
    struct stage *s = c->s;
    struct spfdb_zone z;
    uint32_t id;
    int rc;

    /* deletions: zones (they may bind an allocation deleted below), member
     * links (an allocation deleted below may be one, or have some),
     * entries, allocations */
    for (size_t i = q->obj0; i < q->obj_add; i++) {
        if (s->obj[i].kind != XFR_ZONE)
            continue;
        rc = spfdb_zone_del(t, s->obj[i].zone->name);
        if (rc)
            return failf(c, rc == SPFDB_ENOTFOUND ? APPLY_EDIVERGED : rc,
                         "zone %s to delete: %s", s->obj[i].zone->name, spfdb_strerror(rc));
        c->res->objects++;
    }
    for (size_t i = q->obj0; i < q->obj_add; i++)
        if (s->obj[i].kind == XFR_MEMBER &&
            (rc = member_change(t, c, s->names[s->obj[i].name], s->names[s->obj[i].member],
                                XFR_OP_DEL)) != 0)
            return rc;
    for (size_t i = q->ent0; i < q->ent_add; i++) {
        const struct stage_ent *e = &s->ent[i];
        if ((rc = alloc_id(t, c, e->name, &id)) != 0 ||
            (rc = entry_del(t, c, id, s->names[e->name], &e->p)) != 0)
            return rc;
    }
    for (size_t i = q->obj0; i < q->obj_add; i++) {
        struct spfdb_alloc a;

        if (s->obj[i].kind != XFR_ALLOC)
            continue;
        /* spfdb_alloc_del would drop links the sequence did not delete */
        rc = spfdb_alloc_get(t, s->names[s->obj[i].name], &a);
        if (rc == 0 && a.n_members > 0)
            return failf(c, APPLY_EDIVERGED, "allocation %s to delete has %u member(s)",
                         a.name, a.n_members);
        rc = spfdb_alloc_del(t, s->names[s->obj[i].name], 0);
        if (rc)
            return failf(c, rc == SPFDB_ENOTFOUND || rc == SPFDB_ENOTEMPTY || rc == SPFDB_EBUSY
                                ? APPLY_EDIVERGED
                                : rc,
                         "allocation %s to delete: %s", s->names[s->obj[i].name],
                         spfdb_strerror(rc));
        c->res->objects++;
        forget_ids(c);
    }
    /* additions: allocations, member links, zones, entries */
    for (size_t i = q->obj_add; i < q->obj_end; i++) {
        if (s->obj[i].kind != XFR_ALLOC)
            continue;
        rc = spfdb_alloc_add(t, s->names[s->obj[i].name], NULL);
        if (rc)
            return failf(c, rc == SPFDB_EEXIST ? APPLY_EDIVERGED : rc, "allocation %s to add: %s",
                         s->names[s->obj[i].name], spfdb_strerror(rc));
        c->res->objects++;
    }
    for (size_t i = q->obj_add; i < q->obj_end; i++)
        if (s->obj[i].kind == XFR_MEMBER &&
            (rc = member_change(t, c, s->names[s->obj[i].name], s->names[s->obj[i].member],
                                XFR_OP_ADD)) != 0)
            return rc;
    for (size_t i = q->obj_add; i < q->obj_end; i++) {
        if (s->obj[i].kind != XFR_ZONE)
            continue;
        z = *s->obj[i].zone;
        if ((rc = zone_put(t, c, &z, SPFDB_ZONE_NEW)) != 0)
            return rc;
    }
    for (size_t i = q->ent_add; i < q->ent_end; i++) {
        const struct stage_ent *e = &s->ent[i];
        if ((rc = alloc_id(t, c, e->name, &id)) != 0 ||
            (rc = entry_add(t, c, id, s->names[e->name], &e->p)) != 0)
            return rc;
    }
    return 0;
}

/* ---- AXFR ---- */

static int cmp_ent(const void *a, const void *b)
{
    const struct stage_ent *x = a, *y = b;

    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    return spfdb_prefix_cmp(&x->p, &y->p);
}

static int cmp_obj(const void *a, const void *b)
{
    const struct stage_obj *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->kind == XFR_ZONE)
        return strcmp(x->zone->name, y->zone->name);
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    return x->member < y->member ? -1 : x->member > y->member; /* XFR_MEMBER; else both 0 */
}

/* Names held now, collected before anything is changed (a walk must not
 * change what it walks). */
struct names {
    char (*v)[SPFDB_NAME_MAX + 1];
    size_t n, cap;
};

static int collect_zone(const struct spfdb_zone *z, void *arg)
{
    struct names *l = arg;

    if (grow(&l->v, l->n, &l->cap, sizeof *l->v) != 0)
        return SPFDB_ENOMEM;
    snprintf(l->v[l->n++], sizeof l->v[0], "%s", z->name);
    return 0;
}

/* The allocations held, and apart those with members (few). */
struct held {
    struct names names;
    struct spfdb_alloc *parents;
    size_t nparents, capparents;
};

static int collect_alloc(const struct spfdb_alloc *a, void *arg)
{
    struct held *h = arg;
    struct names *l = &h->names;

    if (grow(&l->v, l->n, &l->cap, sizeof *l->v) != 0)
        return SPFDB_ENOMEM;
    snprintf(l->v[l->n++], sizeof l->v[0], "%s", a->name);
    if (a->n_members == 0)
        return 0;
    if (grow(&h->parents, h->nparents, &h->capparents, sizeof *h->parents) != 0)
        return SPFDB_ENOMEM;
    h->parents[h->nparents++] = *a;
    return 0;
}

/* Is member link (PARENT, MEMBER), interned names, among the staged
 * objects [M0, M1) (member links, sorted by cmp_obj)? */
static int staged_link(const struct stage *s, size_t m0, size_t m1, long parent, long member)
{
    struct stage_obj key = {.kind = XFR_MEMBER};

    if (parent < 0 || member < 0 || m1 == m0)
        return 0;
    key.name = (uint32_t)parent;
    key.member = (uint32_t)member;
    return bsearch(&key, s->obj + m0, m1 - m0, sizeof *s->obj, cmp_obj) != NULL;
}

/* AXFR, before any allocation is deleted: each held allocation keeps only
 * the member links the zone holds, so no allocation about to be deleted
 * is still a member, and what remains is a subset of the zone's links. */
static int axfr_members_shrink(spfdb_txn *t, struct ctx *c, const struct held *h, size_t m0,
                               size_t m1)
{
    char names[SPFDB_MEMBERS_MAX][SPFDB_LABEL_MAX + 1];
    const char *ptrs[SPFDB_MEMBERS_MAX], *keep[SPFDB_MEMBERS_MAX];
    unsigned n, nk;
    int rc;

    for (size_t i = 0; i < h->nparents; i++) {
        const struct spfdb_alloc *p = &h->parents[i];
        long pi = find_name(c->s, p->name);

        if ((rc = member_names(t, c, p, names, ptrs, &n)) != 0)
            return rc;
        nk = 0;
        for (unsigned j = 0; j < n; j++)
            if (staged_link(c->s, m0, m1, pi, find_name(c->s, names[j])))
                keep[nk++] = names[j];
        if (nk == n)
            continue;
        if ((rc = members_set(t, c, p->name, keep, nk, APPLY_EDATA)) != 0)
            return rc;
        c->res->members += n - nk;
    }
    return 0;
}

/* AXFR, after every allocation of the zone exists and the others are
 * gone: each allocation with links in the zone gets exactly those.  Held
 * ones are a subset (axfr_members_shrink), so equal counts are equal
 * lists; and any subset of the zone's links obeys SPEC §2 (one level),
 * so the order of the allocations does not matter. */
static int axfr_members_grow(spfdb_txn *t, struct ctx *c, size_t m0, size_t m1)
{
    const char *want[SPFDB_MEMBERS_MAX + 1];
    struct stage *s = c->s;
    struct spfdb_alloc a;
    size_t i = m0;
    unsigned n;
    int rc;

    while (i < m1) {
        uint32_t parent = s->obj[i].name;

        n = 0;
        for (; i < m1 && s->obj[i].name == parent; i++) {
            if (i > m0 && s->obj[i - 1].name == parent && s->obj[i - 1].member == s->obj[i].member)
                continue; /* a record sent twice is one link */
            if (n == SPFDB_MEMBERS_MAX)
                return failf(c, APPLY_EDATA, "allocation %s has more than %u members",
                             s->names[parent], SPFDB_MEMBERS_MAX);
            want[n++] = s->names[s->obj[i].member];
        }
        if ((rc = spfdb_alloc_get(t, s->names[parent], &a)) != 0)
            return failf(c, rc, "allocation %s: %s", s->names[parent], spfdb_strerror(rc));
        if (a.n_members == n)
            continue;
        if ((rc = members_set(t, c, s->names[parent], want, n, APPLY_EDATA)) != 0)
            return rc;
        c->res->members += n > a.n_members ? n - a.n_members : a.n_members - n;
    }
    return 0;
}

/* Is zone NAME in the staged AXFR (objects sorted by cmp_obj)? */
static int staged_zone(const struct stage *s, const char *name)
{
    size_t lo = 0, hi = s->nobj;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct stage_obj *o = &s->obj[mid];
        /* zones sort before allocations (cmp_obj) */
        int d = o->kind != XFR_ZONE ? (o->kind > XFR_ZONE ? -1 : 1) : strcmp(name, o->zone->name);
        if (d == 0)
            return 1;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

/* The merge of one allocation's entries (spfdb_entry_fn): each held entry
 * is found among the staged ones (marked present) or queued for deletion. */
static int merge_fn(const struct spfdb_prefix *p, void *arg)
{
    struct ctx *c = arg;
    struct stage_ent *e = c->s->ent;
    int d = 1;

    while (c->cur < c->end && (d = spfdb_prefix_cmp(&e[c->cur].p, p)) < 0)
        c->cur++;
    if (c->cur < c->end && d == 0) {
        e[c->cur++].op = 1;
        return 0;
    }
    if (grow(&c->dels, c->ndels, &c->capdels, sizeof *c->dels) != 0) {
        c->oom = 1;
        return SPFDB_ENOMEM;
    }
    c->dels[c->ndels++] = *p;
    return 0;
}

static int axfr_entries(spfdb_txn *t, struct ctx *c, uint32_t name, size_t lo, size_t hi)
{
    struct stage *s = c->s;
    uint32_t id;
    int rc;

    if ((rc = alloc_id(t, c, name, &id)) != 0)
        return rc;
    /* a record sent twice is one entry */
    for (size_t i = lo + 1; i < hi; i++)
        if (spfdb_prefix_cmp(&s->ent[i].p, &s->ent[i - 1].p) == 0)
            s->ent[i].op = 1;
    c->cur = lo;
    c->end = hi;
    c->ndels = 0;
    rc = spfdb_entry_foreach(t, id, merge_fn, c);
    if (rc)
        return failf(c, c->oom ? APPLY_ENOMEM : rc, "allocation %s: %s", s->names[name],
                     spfdb_strerror(rc));
    for (size_t i = 0; i < c->ndels; i++)
        if ((rc = entry_del(t, c, id, s->names[name], &c->dels[i])) != 0)
            return rc;
    for (size_t i = lo; i < hi; i++)
        if (s->ent[i].op == 0 && (rc = entry_add(t, c, id, s->names[name], &s->ent[i].p)) != 0)
            return rc;
    return 0;
}

static int apply_axfr(spfdb_txn *t, struct ctx *c)
{
    struct stage *s = c->s;
    struct names zones = {0};
    struct held held = {0};
    struct names *allocs = &held.names;
    uint8_t *staged_alloc = NULL;
    struct spfdb_zone z;
    long name;
    size_t i, j, m0, m1;
    int rc;

    if ((rc = spfdb_zone_foreach(t, collect_zone, &zones)) != 0 ||
        (rc = spfdb_alloc_foreach(t, collect_alloc, &held)) != 0) {
        rc = failf(c, rc, "reading the database: %s", spfdb_strerror(rc));
        goto out;
    }
    staged_alloc = calloc(s->nnames + 1, 1);
    if (staged_alloc == NULL) {
        rc = failf(c, APPLY_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < s->nobj; i++)
        if (s->obj[i].kind == XFR_ALLOC)
            staged_alloc[s->obj[i].name] = 1;
    /* the member links, together after sorting; both ends in the zone */
    for (m0 = 0; m0 < s->nobj && s->obj[m0].kind != XFR_MEMBER; m0++)
        ;
    for (m1 = m0; m1 < s->nobj && s->obj[m1].kind == XFR_MEMBER; m1++)
        if (!staged_alloc[s->obj[m1].name] || !staged_alloc[s->obj[m1].member]) {
            rc = failf(c, APPLY_EDATA, "member link %s of %s: an allocation the zone does not hold",
                       s->names[s->obj[m1].member], s->names[s->obj[m1].name]);
            goto out;
        }
    /* zones the primary no longer serves */
    for (i = 0; i < zones.n; i++) {
        if (staged_zone(s, zones.v[i]))
            continue;
        if ((rc = spfdb_zone_del(t, zones.v[i])) != 0) {
            rc = failf(c, rc, "zone %s to delete: %s", zones.v[i], spfdb_strerror(rc));
            goto out;
        }
        c->res->objects++;
    }
    /* member links it dropped: before allocations are deleted */
    if ((rc = axfr_members_shrink(t, c, &held, m0, m1)) != 0)
        goto out;
    /* allocations it added */
    for (i = 0; i < allocs->n; i++) {
        name = find_name(s, allocs->v[i]);
        if (name >= 0 && staged_alloc[name])
            staged_alloc[name] = 2; /* held already */
    }
    for (j = 0; j < s->nnames; j++) {
        if (staged_alloc[j] != 1)
            continue;
        if ((rc = spfdb_alloc_add(t, s->names[j], NULL)) != 0) {
            rc = failf(c, rc == SPFDB_EINVAL ? APPLY_EDATA : rc, "allocation %s to add: %s",
                       s->names[j], spfdb_strerror(rc));
            goto out;
        }
        c->res->objects++;
    }
    /* every zone as the primary has it (storing one unchanged changes nothing) */
    for (i = 0; i < s->nobj; i++) {
        if (s->obj[i].kind != XFR_ZONE)
            continue;
        z = *s->obj[i].zone;
        if ((rc = zone_put(t, c, &z, 0)) != 0)
            goto out;
    }
    /* each allocation's entries, in address order */
    for (i = 0; i < s->nent; i++) {
        if (!staged_alloc[s->ent[i].name]) {
            rc = failf(c, APPLY_EDATA, "an entry of allocation %s, which the zone does not hold",
                       s->names[s->ent[i].name]);
            goto out;
        }
        s->ent[i].op = 0;
    }
    for (i = 0, j = 0; j < s->nnames; j++) {
        size_t lo = i;
        if (!staged_alloc[j])
            continue; /* a name only a zone or an entry used: checked above */
        while (i < s->nent && s->ent[i].name == j)
            i++;
        if ((rc = axfr_entries(t, c, (uint32_t)j, lo, i)) != 0)
            goto out;
    }
    /* allocations the primary no longer has (zones bound to them are gone) */
    for (i = 0; i < allocs->n; i++) {
        name = find_name(s, allocs->v[i]);
        if (name >= 0 && staged_alloc[name])
            continue;
        if ((rc = spfdb_alloc_del(t, allocs->v[i], 1)) != 0) {
            rc = failf(c, rc, "allocation %s to delete: %s", allocs->v[i], spfdb_strerror(rc));
            goto out;
        }
        c->res->objects++;
    }
    /* member links it added, once every allocation is as the zone has it */
    rc = axfr_members_grow(t, c, m0, m1);
out:
    free(zones.v);
    free(allocs->v);
    free(held.parents);
    free(staged_alloc);
    return rc;
}

static int apply_fn(spfdb_txn *t, void *arg)
{
    struct ctx *c = arg;
    struct spfdb_primary p;
    struct stage *s = c->s;
    int rc;

    /* a rerun after the map grew starts afresh */
    c->res->added = c->res->deleted = c->res->objects = c->res->members = 0;
    c->res->err[0] = '\0';
    forget_ids(c);
    rc = spfdb_primary_get(t, &p);
    if (rc == SPFDB_ENOTFOUND || (rc == 0 && strcmp(p.zone, c->zone) != 0))
        return failf(c, APPLY_EPRIMARY, "the primary setting changed during the transfer");
    if (rc)
        return failf(c, rc, "reading the primary setting: %s", spfdb_strerror(rc));
    if (s->form == XFR_FORM_AXFR) {
        rc = apply_axfr(t, c);
    } else {
        for (size_t i = 0; i < s->nseq && rc == 0; i++)
            rc = apply_seq(t, c, &s->seq[i]);
    }
    if (rc == 0 && (rc = spfdb_txn_set_serial(t, s->soa.serial)) != 0)
        rc = failf(c, rc, "setting the serial: %s", spfdb_strerror(rc));
    if (rc == 0 && (rc = spfdb_follow_put(t, c->follow)) != 0)
        rc = failf(c, rc, "storing the follow state: %s", spfdb_strerror(rc));
    return rc;
}

int apply_stage(spfdb_env *env, struct stage *s, const char *zone,
                const struct spfdb_follow *follow, struct apply_result *res)
{
    struct ctx c = {.s = s, .zone = zone, .follow = follow, .res = res};
    int rc;

    memset(res, 0, sizeof *res);
    if (!s->ended || (s->form != XFR_FORM_AXFR && s->form != XFR_FORM_IXFR)) {
        snprintf(res->err, sizeof res->err, "nothing to apply");
        return APPLY_EDATA;
    }
    if (s->oom) {
        snprintf(res->err, sizeof res->err, "out of memory while staging");
        return APPLY_ENOMEM;
    }
    if (s->form == XFR_FORM_AXFR) {
        /* address order per allocation: merges, and appends on a fresh replica */
        if (s->nent) /* an empty array may be NULL, which qsort must not get */
            qsort(s->ent, s->nent, sizeof *s->ent, cmp_ent);
        if (s->nobj)
            qsort(s->obj, s->nobj, sizeof *s->obj, cmp_obj);
    }
    c.ids = calloc(s->nnames + 1, sizeof *c.ids);
    if (c.ids == NULL) {
        snprintf(res->err, sizeof res->err, "out of memory");
        return APPLY_ENOMEM;
    }
    rc = spfdb_write(env, apply_fn, &c);
    if (rc && !res->err[0])
        snprintf(res->err, sizeof res->err, "%s", spfdb_strerror(rc));
    free(c.ids);
    free(c.dels);
    return rc;
}
