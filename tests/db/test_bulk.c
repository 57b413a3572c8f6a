/* spfdb_entry_apply (db/spfdb.h): many changes of one allocation at once,
 * against a brute-force oracle, through both of its ways (a change at a
 * time, and the merge that rewrites a family), and against the same
 * changes made one call at a time; its refusals change nothing; its
 * change log record lists exactly the changes made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spfdb.h"
#include "tmpdb.h"

#define MAXE 20000
#define MAXOPS 8000

struct ctx {
    char dir[256];
    spfdb_env *env;
    uint64_t rng;
    struct spfdb_prefix e[MAXE]; /* allocation 2's entries, the oracle */
    size_t n;
    struct spfdb_entry_op ops[MAXOPS];
    int8_t want[MAXOPS];
    size_t nops;
    int calls;
    uint64_t seq; /* the change log record the last commit wrote */
};

static uint32_t rnd(struct ctx *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (uint32_t)(c->rng >> 11);
}

static unsigned bits(int family)
{
    return family == 4 ? 32 : 128;
}

/* From a small space, so that prefixes nest and repeat often. */
static void rand_prefix(struct ctx *c, struct spfdb_prefix *p)
{
    memset(p, 0, sizeof *p);
    p->family = rnd(c) % 4 ? 4 : 6;
    if (p->family == 4) {
        p->addr[0] = (uint8_t)(11 + rnd(c) % 3);
        p->addr[1] = (uint8_t)(rnd(c) % 4);
        p->addr[2] = (uint8_t)rnd(c);
        p->addr[3] = (uint8_t)(rnd(c) % 2 ? rnd(c) % 16 : rnd(c));
        p->len = (uint8_t)(rnd(c) % 20 == 0 ? 8 + rnd(c) % 9 : 16 + rnd(c) % 17);
    } else {
        p->addr[0] = 0x20;
        p->addr[1] = 0x01;
        p->addr[2] = (uint8_t)(rnd(c) % 3);
        p->addr[5] = (uint8_t)rnd(c);
        p->addr[15] = (uint8_t)(rnd(c) % 4);
        p->len = (uint8_t)(rnd(c) % 20 == 0 ? 16 + rnd(c) % 16 : 32 + rnd(c) % 97);
    }
    for (unsigned b = p->len; b < bits(p->family); b++)
        p->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
}

static int cmp_prefix(const void *a, const void *b)
{
    return spfdb_prefix_cmp(a, b);
}

static struct spfdb_prefix *o_find(struct ctx *c, const struct spfdb_prefix *p)
{
    return bsearch(p, c->e, c->n, sizeof *c->e, cmp_prefix); /* c->e kept sorted */
}

/* A sorted batch of about N changes: adds and dels of absent and present
 * prefixes, and the result each must get. */
static void make_ops(struct ctx *c, size_t n)
{
    struct spfdb_prefix *cand = malloc(sizeof *cand * (n + 1));
    size_t m = 0;

    assert_non_null(cand);
    for (size_t i = 0; i < n; i++) {
        if (c->n && rnd(c) % 2)
            cand[i] = c->e[rnd(c) % c->n];
        else
            rand_prefix(c, &cand[i]);
    }
    qsort(cand, n, sizeof *cand, cmp_prefix);
    c->nops = 0;
    for (size_t i = 0; i < n; i++) {
        struct spfdb_entry_op *op = &c->ops[c->nops];
        int present;

        if (i && spfdb_prefix_cmp(&cand[i - 1], &cand[i]) == 0)
            continue;
        present = o_find(c, &cand[i]) != NULL;
        if (!present && c->n + m >= MAXE)
            continue;
        memset(op, 0, sizeof *op);
        op->p = cand[i];
        op->del = (uint8_t)(present ? rnd(c) % 10 < 7 : rnd(c) % 10 < 2);
        op->result = 99;
        c->want[c->nops] = (int8_t)(op->del ? (present ? 0 : SPFDB_ENOTFOUND)
                                            : (present ? SPFDB_EEXIST : 0));
        m += !op->del && !present;
        c->nops++;
    }
    free(cand);
}

/* The oracle after the batch. */
static void o_apply(struct ctx *c)
{
    size_t w = 0;

    for (size_t k = 0; k < c->nops; k++)
        if (c->want[k] == 0 && !c->ops[k].del)
            c->e[c->n++] = c->ops[k].p;
    qsort(c->e, c->n, sizeof *c->e, cmp_prefix);
    for (size_t i = 0; i < c->n; i++) {
        size_t lo = 0, hi = c->nops;
        int gone = 0;
        while (lo < hi) { /* the ops are sorted too */
            size_t mid = (lo + hi) / 2;
            int d = spfdb_prefix_cmp(&c->ops[mid].p, &c->e[i]);
            if (d == 0) {
                gone = c->ops[mid].del && c->want[mid] == 0;
                break;
            }
            if (d < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (!gone)
            c->e[w++] = c->e[i];
    }
    c->n = w;
}

static int o_covers(const struct ctx *c, const struct spfdb_prefix *q)
{
    for (size_t i = 0; i < c->n; i++)
        if (spfdb_prefix_contains(&c->e[i], q))
            return 1;
    return 0;
}

static const struct spfdb_prefix *o_covering(const struct ctx *c, const struct spfdb_prefix *p)
{
    const struct spfdb_prefix *best = NULL;

    for (size_t i = 0; i < c->n; i++)
        if (spfdb_prefix_contains(&c->e[i], p) && (!best || c->e[i].len > best->len))
            best = &c->e[i];
    return best;
}

/* The maximal set, through the write transaction's descent
 * (spfdb_entry_covering) and a reader's index (spfdb_covers). */
static void check_prefix(struct ctx *c, spfdb_txn *t, const struct spfdb_prefix *p, int reader)
{
    const struct spfdb_prefix *want = o_covering(c, p);
    struct spfdb_prefix got, a = *p;
    int rc = spfdb_entry_covering(t, 2, p, &got);

    if (!want) {
        assert_int_equal(rc, SPFDB_ENOTFOUND);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(spfdb_prefix_cmp(&got, want), 0);
    }
    if (!reader)
        return;
    /* its first and last address and the ones either side */
    a.len = (uint8_t)bits(p->family);
    for (int side = 0; side < 2; side++) {
        struct spfdb_prefix b = a;
        unsigned n = bits(p->family) / 8;

        assert_int_equal(spfdb_covers(t, 2, a.family, a.addr), o_covers(c, &a));
        if (side == 0)
            for (int i = (int)n - 1; i >= 0 && b.addr[i]-- == 0; i--)
                ;
        else
            for (int i = (int)n - 1; i >= 0 && ++b.addr[i] == 0; i--)
                ;
        assert_int_equal(spfdb_covers(t, 2, b.family, b.addr), o_covers(c, &b));
        for (unsigned x = p->len; x < bits(p->family); x++)
            a.addr[x / 8] |= (uint8_t)(0x80u >> (x % 8));
    }
}

struct walk {
    struct ctx *c;
    size_t i;
};

static int walk_fn(const struct spfdb_prefix *p, void *arg)
{
    struct walk *w = arg;

    assert_true(w->i < w->c->n);
    assert_int_equal(spfdb_prefix_cmp(p, &w->c->e[w->i]), 0);
    w->i++;
    return 0;
}

static void check_all(struct ctx *c, spfdb_txn *t, int reader)
{
    struct walk w = {c, 0};
    struct spfdb_alloc al;
    struct spfdb_prefix p;
    uint64_t n4 = 0;

    assert_int_equal(spfdb_entry_foreach(t, 2, walk_fn, &w), 0);
    assert_int_equal(w.i, c->n);
    for (size_t i = 0; i < c->n; i++)
        n4 += c->e[i].family == 4;
    assert_int_equal(spfdb_alloc_get_id(t, 2, &al), 0);
    assert_int_equal(al.n4, n4);
    assert_int_equal(al.n6, c->n - n4);
    for (size_t k = 0; k < c->nops; k += c->nops / 300 + 1)
        check_prefix(c, t, &c->ops[k].p, reader);
    for (int i = 0; i < 200; i++) {
        rand_prefix(c, &p);
        check_prefix(c, t, &p, reader);
    }
}

static int apply_fn(spfdb_txn *t, void *arg)
{
    struct ctx *c = arg;
    size_t bad = 12345;
    int rc;

    c->calls++;
    rc = spfdb_entry_apply(t, 2, c->ops, c->nops, SPFDB_ENTRY_WIDE, NULL, &bad);
    assert_int_equal(rc, 0);
    assert_int_equal(bad, 12345);
    for (size_t k = 0; k < c->nops; k++)
        assert_int_equal(c->ops[k].result, c->want[k]);
    return 0;
}

struct logcheck {
    struct ctx *c;
    int found;
};

/* The next op from K on that was made and is a removal (DEL 1) or an
 * addition (DEL 0). */
static size_t next_made(const struct ctx *c, size_t k, int del)
{
    while (k < c->nops && (c->want[k] != 0 || c->ops[k].del != del))
        k++;
    return k;
}

/* The record holds the changes made: the removals, then the additions,
 * each in the order of the ops. */
static int log_fn(struct spfdb_log_rec *r, void *arg)
{
    struct logcheck *l = arg;
    struct spfdb_log_change ch;
    size_t k = 0;
    int rc, del = 1;

    l->found++;
    l->c->seq = r->seq;
    while ((rc = spfdb_log_next(r, &ch)) == 1) {
        k = next_made(l->c, k, del);
        if (k == l->c->nops && del) {
            del = 0;
            k = next_made(l->c, 0, 0);
        }
        assert_true(k < l->c->nops);
        assert_int_equal(ch.op, del ? SPFDB_LOG_DEL : SPFDB_LOG_ADD);
        assert_string_equal(ch.alloc, "other");
        assert_int_equal(spfdb_prefix_cmp(&ch.p, &l->c->ops[k].p), 0);
        k++;
    }
    assert_int_equal(rc, 0);
    if (del)
        k = next_made(l->c, k, 1) == l->c->nops ? next_made(l->c, 0, 0) : k;
    else
        k = next_made(l->c, k, 0);
    assert_int_equal(k, l->c->nops);
    return 0;
}

static int add_alloc_fn(spfdb_txn *t, void *arg)
{
    uint32_t id;

    (void)arg;
    return spfdb_alloc_add(t, "other", &id);
}

static struct ctx *setup(uint64_t seed)
{
    struct ctx *c = calloc(1, sizeof *c);

    assert_non_null(c);
    c->rng = seed;
    assert_int_equal(tmpdb_make(c->dir), 0);
    assert_int_equal(spfdb_env_open(c->dir, &c->env), 0);
    assert_int_equal(spfdb_write(c->env, add_alloc_fn, NULL), 0);
    c->seq = 1; /* the allocation's record */
    return c;
}

static void teardown(struct ctx *c)
{
    spfdb_env_close(c->env);
    tmpdb_remove(c->dir);
    free(c);
}

/* One committed batch of about N changes, checked. */
static void batch(struct ctx *c, size_t n)
{
    struct logcheck l = {c, 0};
    spfdb_txn *t;
    size_t made = 0;

    make_ops(c, n);
    for (size_t k = 0; k < c->nops; k++)
        made += c->want[k] == 0;
    c->calls = 0;
    assert_int_equal(spfdb_write(c->env, apply_fn, c), 0);
    assert_int_equal(c->calls, 1);
    o_apply(c);
    assert_int_equal(spfdb_txn_read(c->env, &t), 0);
    check_all(c, t, 1);
    if (made) {
        uint64_t from = c->seq + 1;
        assert_int_equal(spfdb_log_foreach(t, from, 0, log_fn, &l), 0);
        assert_int_equal(l.found, 1);
    }
    spfdb_txn_close(t);
}

/* Batches small and large next to the allocation: both ways are taken. */
static void test_oracle(void **state)
{
    struct ctx *c = setup(0x9e3779b97f4a7c15u);

    (void)state;
    batch(c, 3000); /* into an empty allocation */
    for (int i = 0; i < 30; i++)
        batch(c, i % 3 == 0 ? 1 + rnd(c) % 20 : i % 3 == 1 ? c->n / 4 + 1 : 1 + rnd(c) % 3000);
    batch(c, 0);
    teardown(c);
}

/* Inside one write transaction: the batch reads as made, and later
 * single calls build on it. */
static int inside_fn(spfdb_txn *t, void *arg)
{
    struct ctx *c = arg;
    struct spfdb_prefix p;

    c->calls++;
    for (int r = 0; r < 6; r++) {
        make_ops(c, r % 2 ? 5 : c->n / 2 + 10);
        assert_int_equal(spfdb_entry_apply(t, 2, c->ops, c->nops, SPFDB_ENTRY_WIDE, NULL, NULL),
                         0);
        for (size_t k = 0; k < c->nops; k++)
            assert_int_equal(c->ops[k].result, c->want[k]);
        o_apply(c);
        check_all(c, t, 0);
        rand_prefix(c, &p);
        assert_int_equal(spfdb_entry_add_flags(t, 2, &p, SPFDB_ENTRY_WIDE, NULL),
                         o_find(c, &p) ? SPFDB_EEXIST : 0);
        if (!o_find(c, &p)) {
            c->e[c->n++] = p;
            qsort(c->e, c->n, sizeof *c->e, cmp_prefix);
        }
    }
    c->nops = 0;
    check_all(c, t, 0);
    return 0;
}

static void test_inside_one_transaction(void **state)
{
    struct ctx *c = setup(12345);
    spfdb_txn *t;

    (void)state;
    batch(c, 2000);
    c->calls = 0;
    assert_int_equal(spfdb_write(c->env, inside_fn, c), 0);
    assert_int_equal(c->calls, 1);
    assert_int_equal(spfdb_txn_read(c->env, &t), 0);
    c->nops = 0;
    check_all(c, t, 1);
    spfdb_txn_close(t);
    teardown(c);
}

/* The same changes made one call at a time give the same entries. */
struct pair {
    struct ctx *c;
    int single;
};

static int same_fn(spfdb_txn *t, void *arg)
{
    struct pair *p = arg;
    struct ctx *c = p->c;

    c->calls++;
    if (!p->single)
        return spfdb_entry_apply(t, 2, c->ops, c->nops, SPFDB_ENTRY_WIDE, NULL, NULL);
    for (size_t k = 0; k < c->nops; k++) {
        int rc = c->ops[k].del ? spfdb_entry_del(t, 2, &c->ops[k].p)
                               : spfdb_entry_add_flags(t, 2, &c->ops[k].p, SPFDB_ENTRY_WIDE, NULL);
        assert_int_equal(rc, c->want[k]);
    }
    return 0;
}

static void test_same_as_single_calls(void **state)
{
    struct ctx *c = setup(777);
    struct ctx *d = setup(777);
    spfdb_txn *t;

    (void)state;
    for (int r = 0; r < 8; r++) {
        struct pair pc = {c, 0}, pd = {d, 1};

        make_ops(c, r == 0 ? 6000 : 200 + rnd(c) % 3000);
        memcpy(d->ops, c->ops, sizeof c->ops);
        memcpy(d->want, c->want, sizeof c->want);
        d->nops = c->nops;
        assert_int_equal(spfdb_write(c->env, same_fn, &pc), 0);
        assert_int_equal(spfdb_write(d->env, same_fn, &pd), 0);
        o_apply(c);
        memcpy(d->e, c->e, sizeof c->e);
        d->n = c->n;
        d->rng = c->rng;
        assert_int_equal(spfdb_txn_read(d->env, &t), 0);
        check_all(d, t, 1);
        spfdb_txn_close(t);
        assert_int_equal(spfdb_txn_read(c->env, &t), 0);
        check_all(c, t, 1);
        spfdb_txn_close(t);
    }
    teardown(c);
    teardown(d);
}

/* Refusals: out of order, repeated, malformed, wide without the flag, no
 * such allocation; each before anything changes. */
struct refusal {
    struct spfdb_entry_op ops[4];
    size_t n;
    unsigned flags;
    uint32_t alloc;
    int want;
    size_t bad;
    int rule;
};

static int refuse_fn(spfdb_txn *t, void *arg)
{
    struct refusal *r = arg;
    struct spfdb_why why;
    size_t bad = 99;
    int rc = spfdb_entry_apply(t, r->alloc, r->ops, r->n, r->flags, &why, &bad);

    assert_int_equal(rc, r->want);
    if (r->bad != 99)
        assert_int_equal(bad, r->bad);
    if (r->rule)
        assert_int_equal(why.rule, r->rule);
    return rc;
}

static struct spfdb_entry_op op4(uint8_t a, uint8_t b, uint8_t len, int del)
{
    struct spfdb_entry_op op = {.p = {.family = 4, .len = len, .addr = {a, b, 0, 0}},
                                .del = (uint8_t)del};
    return op;
}

static void test_refusals(void **state)
{
    struct ctx *c = setup(5);
    spfdb_txn *t;
    struct spfdb_info before, after;
    struct refusal rs[] = {
        {{op4(11, 2, 16, 0), op4(11, 1, 16, 0)}, 2, 0, 2, SPFDB_EINVAL, 1, 0},
        {{op4(11, 1, 16, 0), op4(11, 1, 16, 1)}, 2, 0, 2, SPFDB_EINVAL, 1, 0},
        {{op4(11, 0, 16, 0), op4(11, 1, 8, 0)}, 2, 0, 2, SPFDB_EINVAL, 1, 0},
        {{op4(11, 1, 16, 0), op4(11, 1, 16, 0)}, 2, 0, 2, SPFDB_EINVAL, 1, 0},
        {{op4(11, 0, 16, 0), op4(12, 0, 7, 0)}, 2, 0, 2, SPFDB_ERULE, 1, SPFDB_RULE_WIDE},
        {{op4(11, 0, 16, 0), op4(12, 1, 16, 1)}, 2, 0, 3, SPFDB_ENOTFOUND, 99, 0},
    };

    (void)state;
    batch(c, 500);
    assert_int_equal(spfdb_txn_read(c->env, &t), 0);
    assert_int_equal(spfdb_info_get(t, &before), 0);
    spfdb_txn_close(t);
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        assert_int_equal(spfdb_write(c->env, refuse_fn, &rs[i]), rs[i].want);
    assert_int_equal(spfdb_txn_read(c->env, &t), 0);
    assert_int_equal(spfdb_info_get(t, &after), 0);
    assert_int_equal(after.serial, before.serial);
    c->nops = 0;
    check_all(c, t, 1);
    spfdb_txn_close(t);
    teardown(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_inside_one_transaction),
        cmocka_unit_test(test_same_as_single_calls),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
