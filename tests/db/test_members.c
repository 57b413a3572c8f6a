/* test_members.c: member allocations (SPEC §2).  A random run of changes
 * (entries of members and of unions, one by one and in bulk, member lists
 * replaced) is checked after every commit against a model: spfdb_covers,
 * spfdb_covers_many and the maximal walk of each allocation must give the
 * union of its own entries and its members', through a long-lived reader
 * that keeps its read index across commits.  Then the refusals, deletion
 * and the change log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmpdb.h"

enum { NA = 5, MAXE = 400, PROBES = 300 };
/* eu, us and apac are members; global and pair are unions; pair's list
 * stays eu and us while global's changes */
static const char *const names[NA] = {"eu", "us", "apac", "global", "pair"};

struct model {
    uint32_t id[NA];
    struct spfdb_prefix e[NA][MAXE];
    unsigned n[NA];
    unsigned members[NA]; /* a bit per allocation */
};

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* A random canonical prefix in a small space, so that entries overlap:
 * IPv4 in 10.0.0.0/20, IPv6 in 2001:db8::/116. */
static struct spfdb_prefix rnd_prefix(void)
{
    struct spfdb_prefix p = {0};

    if (rnd() % 4) {
        uint32_t a = 0x0a000000u | (uint32_t)(rnd() % 4096);
        unsigned len = 20 + (unsigned)(rnd() % 13);
        a &= len == 32 ? ~0u : ~(~0u >> len);
        p.family = 4;
        p.len = (uint8_t)len;
        p.addr[0] = (uint8_t)(a >> 24);
        p.addr[1] = (uint8_t)(a >> 16);
        p.addr[2] = (uint8_t)(a >> 8);
        p.addr[3] = (uint8_t)a;
    } else {
        uint16_t lo = (uint16_t)(rnd() % 4096);
        unsigned len = 116 + (unsigned)(rnd() % 13);
        lo &= (uint16_t)(len == 128 ? 0xffff : ~(0xffffu >> (len - 112)));
        p.family = 6;
        p.len = (uint8_t)len;
        p.addr[0] = 0x20;
        p.addr[1] = 0x01;
        p.addr[2] = 0x0d;
        p.addr[3] = 0xb8;
        p.addr[14] = (uint8_t)(lo >> 8);
        p.addr[15] = (uint8_t)lo;
    }
    return p;
}

static int in(const struct spfdb_prefix *p, int family, const uint8_t *addr)
{
    unsigned n = p->len / 8, r = p->len % 8;

    if (p->family != family || memcmp(p->addr, addr, n) != 0)
        return 0;
    return r == 0 || ((p->addr[n] ^ addr[n]) & (0xff00u >> r)) == 0;
}

static int same(const struct spfdb_prefix *a, const struct spfdb_prefix *b)
{
    return a->family == b->family && a->len == b->len &&
           memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

static int model_listed(const struct model *m, unsigned a, int family, const uint8_t *addr)
{
    for (unsigned k = 0; k < NA; k++)
        if (k == a || (m->members[a] >> k & 1))
            for (unsigned i = 0; i < m->n[k]; i++)
                if (in(&m->e[k][i], family, addr))
                    return 1;
    return 0;
}

/* ---- the changes ---------------------------------------------------------- */

struct change {
    struct model *m;
    int kind;          /* 0 add, 1 del, 2 bulk, 3 members of global */
    unsigned a;
    struct spfdb_prefix p;
    struct spfdb_entry_op ops[64];
    size_t nops;
    unsigned members;
};

static int cmp_op(const void *x, const void *y)
{
    return spfdb_prefix_cmp(&((const struct spfdb_entry_op *)x)->p,
                            &((const struct spfdb_entry_op *)y)->p);
}

static int set_list(spfdb_txn *t, unsigned a, unsigned bits, struct spfdb_why *why)
{
    const char *list[NA];
    size_t n = 0;

    for (unsigned k = 0; k < NA; k++)
        if (bits >> k & 1)
            list[n++] = names[k];
    return spfdb_alloc_set_members(t, names[a], list, n, why);
}

static int change_fn(spfdb_txn *t, void *arg)
{
    struct change *c = arg;

    switch (c->kind) {
    case 0: { /* an entry present already is skipped, as spfdb-ctl does */
        int rc = spfdb_entry_add(t, c->m->id[c->a], &c->p);
        return rc == SPFDB_EEXIST ? 0 : rc;
    }
    case 1:
        return spfdb_entry_del(t, c->m->id[c->a], &c->p);
    case 2:
        return spfdb_entry_apply(t, c->m->id[c->a], c->ops, c->nops, 0, NULL, NULL);
    default:
        return set_list(t, 3, c->members, NULL);
    }
}

static void model_add(struct model *m, unsigned a, const struct spfdb_prefix *p)
{
    for (unsigned i = 0; i < m->n[a]; i++)
        if (same(&m->e[a][i], p))
            return;
    assert_true(m->n[a] < MAXE);
    m->e[a][m->n[a]++] = *p;
}

static void model_del(struct model *m, unsigned a, const struct spfdb_prefix *p)
{
    for (unsigned i = 0; i < m->n[a]; i++)
        if (same(&m->e[a][i], p)) {
            m->e[a][i] = m->e[a][--m->n[a]];
            return;
        }
}

static void one_change(spfdb_env *env, struct model *m, unsigned step)
{
    struct change c = {.m = m, .a = (unsigned)(rnd() % NA)};
    unsigned r = (unsigned)(rnd() % 100);

    if (step % 25 == 24 || r < 4) {
        c.kind = 3;
        c.members = (unsigned)(rnd() % 8); /* eu, us, apac in any mix */
    } else if (r < 12) {
        c.kind = 2;
        c.nops = 1 + rnd() % 64;
        for (size_t i = 0; i < c.nops; i++) {
            c.ops[i].p = rnd_prefix();
            c.ops[i].del = m->n[c.a] > 0 && rnd() % 2;
            if (c.ops[i].del && rnd() % 2)
                c.ops[i].p = m->e[c.a][rnd() % m->n[c.a]];
        }
        qsort(c.ops, c.nops, sizeof c.ops[0], cmp_op);
        size_t w = 0; /* no prefix twice */
        for (size_t i = 0; i < c.nops; i++)
            if (w == 0 || !same(&c.ops[w - 1].p, &c.ops[i].p))
                c.ops[w++] = c.ops[i];
        c.nops = w;
    } else if (r < 40 && m->n[c.a] > 0) {
        c.kind = 1;
        c.p = m->e[c.a][rnd() % m->n[c.a]];
    } else {
        c.kind = 0;
        c.p = rnd_prefix();
        if (m->n[c.a] >= MAXE - 64)
            return;
    }
    if (c.kind == 2 && m->n[c.a] >= MAXE - 64)
        return;
    assert_int_equal(spfdb_write(env, change_fn, &c), 0);
    if (c.kind == 0)
        model_add(m, c.a, &c.p);
    else if (c.kind == 1)
        model_del(m, c.a, &c.p);
    else if (c.kind == 2)
        for (size_t i = 0; i < c.nops; i++)
            (c.ops[i].del ? model_del : model_add)(m, c.a, &c.ops[i].p);
    else
        m->members[3] = c.members;
}

/* ---- the checks -------------------------------------------------------- */

struct collect {
    struct spfdb_prefix p[NA * MAXE];
    unsigned n;
};

static int collect_fn(const struct spfdb_prefix *p, void *arg)
{
    struct collect *c = arg;

    assert_true(c->n < NA * MAXE);
    c->p[c->n++] = *p;
    return 0;
}

/* Addresses at and just outside each entry's edges, and random ones. */
static void probe_addr(const struct model *m, unsigned i, int *family, uint8_t *addr)
{
    unsigned a = (unsigned)(rnd() % NA);

    memset(addr, 0, 16);
    if (i % 3 != 0 && m->n[a] > 0) {
        const struct spfdb_prefix *p = &m->e[a][rnd() % m->n[a]];
        unsigned bytes = p->family == 4 ? 4 : 16, host = bytes * 8 - p->len;
        uint64_t v = 0;
        *family = p->family;
        memcpy(addr, p->addr, bytes);
        for (unsigned b = bytes - 2; b < bytes; b++)
            v = v << 8 | addr[b];
        /* the first, the last, one before, one after */
        switch (rnd() % 4) {
        case 0: break;
        case 1: v += host >= 16 ? 0xffff : (1u << host) - 1; break;
        case 2: v -= 1; break;
        default: v += host >= 16 ? 0x10000 : 1u << host; break;
        }
        addr[bytes - 2] = (uint8_t)(v >> 8);
        addr[bytes - 1] = (uint8_t)v;
        return;
    }
    *family = rnd() % 4 ? 4 : 6;
    if (*family == 4) {
        uint32_t x = 0x0a000000u | (uint32_t)(rnd() % 4200);
        addr[0] = 10;
        addr[2] = (uint8_t)(x >> 8);
        addr[3] = (uint8_t)x;
    } else {
        addr[0] = 0x20, addr[1] = 0x01, addr[2] = 0x0d, addr[3] = 0xb8;
        addr[14] = (uint8_t)(rnd() % 17);
        addr[15] = (uint8_t)rnd();
    }
}

static void check_all(spfdb_txn *rd, const struct model *m)
{
    struct spfdb_query q[SPFDB_MANY_MAX];
    int want[SPFDB_MANY_MAX];
    static struct collect c;

    assert_int_equal(spfdb_txn_refresh(rd), 0);
    for (unsigned i = 0, k = 0; i < PROBES; i++) {
        unsigned a = (unsigned)(rnd() % NA);
        int family;
        uint8_t addr[16];
        probe_addr(m, i, &family, addr);
        int w = model_listed(m, a, family, addr);
        assert_int_equal(spfdb_covers(rd, m->id[a], family, addr), w);
        q[k] = (struct spfdb_query){.alloc_id = m->id[a], .family = family};
        memcpy(q[k].addr, addr, 16);
        want[k++] = w;
        if (k == SPFDB_MANY_MAX || i + 1 == PROBES) {
            spfdb_covers_many(rd, q, k);
            for (unsigned j = 0; j < k; j++)
                assert_int_equal(q[j].result, want[j]);
            k = 0;
        }
    }
    /* the maximal walk: disjoint, in order, each inside the union, and
     * every entry of the union inside one of them */
    for (unsigned a = 0; a < NA; a++) {
        c.n = 0;
        assert_int_equal(spfdb_maximal_foreach(rd, m->id[a], collect_fn, &c), 0);
        for (unsigned i = 0; i < c.n; i++) {
            assert_true(model_listed(m, a, c.p[i].family, c.p[i].addr));
            if (i > 0)
                assert_true(spfdb_prefix_cmp(&c.p[i - 1], &c.p[i]) < 0 &&
                            !in(&c.p[i - 1], c.p[i].family, c.p[i].addr));
            unsigned found = 0; /* it is an entry of a source */
            for (unsigned k = 0; k < NA; k++)
                if (k == a || (m->members[a] >> k & 1))
                    for (unsigned j = 0; j < m->n[k]; j++)
                        found |= same(&m->e[k][j], &c.p[i]);
            assert_true(found);
        }
        for (unsigned k = 0; k < NA; k++)
            if (k == a || (m->members[a] >> k & 1))
                for (unsigned j = 0; j < m->n[k]; j++) {
                    unsigned inside = 0;
                    for (unsigned i = 0; i < c.n && !inside; i++)
                        inside = in(&c.p[i], m->e[k][j].family, m->e[k][j].addr) &&
                                 c.p[i].len <= m->e[k][j].len;
                    assert_true(inside);
                }
    }
}

static int setup_fn(spfdb_txn *t, void *arg)
{
    struct model *m = arg;
    int rc = 0;

    for (unsigned a = 0; rc == 0 && a < NA; a++)
        rc = spfdb_alloc_add(t, names[a], &m->id[a]);
    if (rc == 0)
        rc = set_list(t, 3, 7, NULL);
    return rc ? rc : set_list(t, 4, 3, NULL);
}

static void test_union_live(void **state)
{
    char dir[256];
    spfdb_env *env;
    spfdb_txn *rd;
    static struct model m;
    (void)state;

    memset(&m, 0, sizeof m);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, setup_fn, &m), 0);
    m.members[3] = 7;
    m.members[4] = 3;
    assert_int_equal(spfdb_txn_read(env, &rd), 0);
    for (unsigned step = 0; step < 400; step++) {
        one_change(env, &m, step);
        check_all(rd, &m);
        /* now and then a fresh reader too: it builds every index anew */
        if (step % 50 == 49) {
            spfdb_txn *fresh;
            assert_int_equal(spfdb_txn_read(env, &fresh), 0);
            check_all(fresh, &m);
            spfdb_txn_close(fresh);
        }
    }
    spfdb_txn_close(rd);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* ---- refusals, deletion, the log ------------------------------------------ */

struct refusal {
    const char *name;
    const char *list[40];
    size_t n;
    int rc, rule;
    const char *other;
};

static int refusal_fn(spfdb_txn *t, void *arg)
{
    struct refusal *r = arg;
    struct spfdb_why why = {.rule = -1};
    int rc = spfdb_alloc_set_members(t, r->name, r->list, r->n, &why);

    assert_int_equal(rc, r->rc);
    if (rc)
        assert_int_equal(why.rule, r->rule);
    if (r->other)
        assert_string_equal(why.other, r->other);
    return rc;
}

static int names_fn(spfdb_txn *t, void *arg)
{
    static const char *const all[] = {"eu", "us", "apac", "global", "other", "solo"};
    char name[8];
    int rc = 0;
    (void)arg;

    for (unsigned i = 0; rc == 0 && i < 6; i++)
        rc = spfdb_alloc_add(t, all[i], NULL);
    for (unsigned i = 0; rc == 0 && i < 33; i++) {
        snprintf(name, sizeof name, "m%u", i);
        rc = spfdb_alloc_add(t, name, NULL);
    }
    if (rc == 0)
        rc = spfdb_alloc_set_members(t, "global", (const char *[]){"us", "eu"}, 2, NULL);
    return rc;
}

/* eu holds 198.51.100.0/24 and 10.0.0.0/8, global 10.0.0.0/24 */
static int cover_fn(spfdb_txn *t, void *arg)
{
    static const char *const ent[][2] = {
        {"eu", "198.51.100.0/24"}, {"eu", "10.0.0.0/8"}, {"global", "10.0.0.0/24"}};
    struct spfdb_alloc a;
    struct spfdb_prefix p;
    int rc = 0;
    (void)arg;

    for (unsigned i = 0; rc == 0 && i < 3; i++) {
        rc = spfdb_alloc_get(t, ent[i][0], &a);
        if (rc == 0)
            rc = spfdb_prefix_parse(ent[i][1], strlen(ent[i][1]), &p, NULL, NULL, 0);
        if (rc == 0)
            rc = spfdb_entry_add_flags(t, a.id, &p, SPFDB_ENTRY_WIDE, NULL);
    }
    return rc;
}

struct del {
    const char *name;
    int force;
};

static int del_fn(spfdb_txn *t, void *arg)
{
    struct del *d = arg;

    return spfdb_alloc_del(t, d->name, d->force);
}

static int parent_name(const struct spfdb_alloc *a, void *arg)
{
    strcat(arg, a->name);
    strcat(arg, " ");
    return 0;
}

struct logged {
    char text[512];
};

static int log_fn(struct spfdb_log_rec *r, void *arg)
{
    struct logged *l = arg;
    struct spfdb_log_change ch;
    char line[200];

    l->text[0] = '\0';
    while (spfdb_log_next(r, &ch) == 1) {
        snprintf(line, sizeof line, "%d:%s:%s ", ch.op, ch.alloc, ch.member);
        strcat(l->text, line);
    }
    return 0;
}

static void last_log(spfdb_env *env, struct logged *l)
{
    spfdb_txn *t;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 1, 0, log_fn, l), 0);
    spfdb_txn_close(t);
}

static void test_rules(void **state)
{
    char dir[256], buf[256];
    spfdb_env *env;
    spfdb_txn *t;
    struct spfdb_info before, after;
    struct spfdb_alloc a;
    struct logged l;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, names_fn, NULL), 0);
    last_log(env, &l); /* added in name order: eu, us */
    assert_non_null(strstr(l.text, "8:global:eu 8:global:us "));

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_info_get(t, &before), 0);
    spfdb_txn_close(t);
    struct refusal r[] = {
        {"global", {"global"}, 1, SPFDB_ERULE, SPFDB_RULE_MEMBER_SELF, "global"},
        {"other", {"eu", "global"}, 2, SPFDB_ERULE, SPFDB_RULE_MEMBER_NESTED, "global"},
        {"eu", {"us"}, 1, SPFDB_ERULE, SPFDB_RULE_MEMBER_OF, "global"},
        {"other", {"eu", "nosuch"}, 2, SPFDB_ENOTFOUND, SPFDB_RULE_NONE, "nosuch"},
        {"nosuch", {"eu"}, 1, SPFDB_ENOTFOUND, SPFDB_RULE_NONE, "nosuch"},
        {"other", {"Bad_Name"}, 1, SPFDB_EINVAL, SPFDB_RULE_ALLOC_NAME, "Bad_Name"},
        {"other", {0}, 33, SPFDB_EINVAL, SPFDB_RULE_MEMBER_COUNT, NULL},
    };
    static char m33[33][8];
    for (unsigned i = 0; i < 33; i++) {
        snprintf(m33[i], sizeof m33[i], "m%u", i);
        r[6].list[i] = m33[i];
    }
    for (unsigned i = 0; i < sizeof r / sizeof r[0]; i++)
        assert_int_equal(spfdb_write(env, refusal_fn, &r[i]), r[i].rc);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_info_get(t, &after), 0);
    assert_int_equal(after.serial, before.serial); /* nothing changed */
    spfdb_txn_close(t);
    /* 32 are allowed, and a name twice counts once */
    r[6].list[32] = "m0";
    r[6].rc = 0;
    r[6].rule = SPFDB_RULE_NONE;
    assert_int_equal(spfdb_write(env, refusal_fn, &r[6]), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_get(t, "other", &a), 0);
    assert_int_equal(a.n_members, 32);
    spfdb_txn_close(t);

    /* entry calls are about an allocation's own entries: a union's
     * covering entry is its own, or none when only a member's covers */
    struct spfdb_prefix p, cover, want;
    assert_int_equal(spfdb_write(env, cover_fn, NULL), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_get(t, "global", &a), 0);
    assert_int_equal(spfdb_prefix_parse("198.51.100.7", 12, &p, NULL, NULL, 0), 0);
    assert_int_equal(spfdb_entry_covering(t, a.id, &p, &cover), SPFDB_ENOTFOUND);
    assert_int_equal(spfdb_prefix_parse("10.0.0.7", 8, &p, NULL, NULL, 0), 0);
    assert_int_equal(spfdb_prefix_parse("10.0.0.0/24", 11, &want, NULL, NULL, 0), 0);
    assert_int_equal(spfdb_entry_covering(t, a.id, &p, &cover), 0);
    assert_int_equal(spfdb_prefix_cmp(&cover, &want), 0);
    spfdb_txn_close(t);

    /* a member of another is not deleted; the parents name it */
    assert_int_equal(spfdb_write(env, del_fn, &(struct del){"eu", 1}), SPFDB_EBUSY);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_get(t, "eu", &a), 0);
    buf[0] = '\0';
    assert_int_equal(spfdb_alloc_parents(t, a.id, parent_name, buf), 0);
    assert_string_equal(buf, "global ");
    assert_int_equal(spfdb_alloc_get(t, "global", &a), 0);
    assert_int_equal(a.n_members, 2);
    spfdb_txn_close(t);

    /* a union goes, its memberships logged first; then its members may */
    assert_int_equal(spfdb_write(env, del_fn, &(struct del){"global", 0}), SPFDB_ENOTEMPTY);
    assert_int_equal(spfdb_write(env, del_fn, &(struct del){"global", 1}), 0);
    last_log(env, &l);
    assert_non_null(strstr(l.text, "9:global:eu 9:global:us 2:global: 4:global: "));
    assert_int_equal(spfdb_write(env, del_fn, &(struct del){"eu", 1}), 0);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* More changes than a commit applies one by one: the union recomputed
 * whole, both ways. */
struct many {
    uint32_t eu;
    int del;
};

static int many_fn(spfdb_txn *t, void *arg)
{
    struct many *mn = arg;
    static struct spfdb_entry_op ops[1500];

    for (unsigned i = 0; i < 1500; i++) {
        ops[i] = (struct spfdb_entry_op){.del = (uint8_t)mn->del};
        ops[i].p.family = 4;
        ops[i].p.len = 32;
        ops[i].p.addr[0] = 10, ops[i].p.addr[1] = 9;
        ops[i].p.addr[2] = (uint8_t)(i >> 8), ops[i].p.addr[3] = (uint8_t)i;
    }
    return spfdb_entry_apply(t, mn->eu, ops, 1500, 0, NULL, NULL);
}

static void test_many_changes(void **state)
{
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    struct spfdb_alloc eu, global;
    static struct model m;
    (void)state;

    memset(&m, 0, sizeof m);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, setup_fn, &m), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_get(t, "eu", &eu), 0);
    assert_int_equal(spfdb_alloc_get(t, "global", &global), 0);
    for (int del = 0; del <= 1; del++) {
        assert_int_equal(spfdb_write(env, many_fn, &(struct many){eu.id, del}), 0);
        assert_int_equal(spfdb_txn_refresh(t), 0);
        for (unsigned i = 0; i < 1500; i += 7) {
            uint8_t a[4] = {10, 9, (uint8_t)(i >> 8), (uint8_t)i};
            assert_int_equal(spfdb_covers(t, global.id, 4, a), !del);
            assert_int_equal(spfdb_covers(t, eu.id, 4, a), !del);
        }
    }
    spfdb_txn_close(t);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_union_live),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_many_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
