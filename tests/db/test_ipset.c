/* The IP set against a brute-force oracle (db/spfdb.h "the IP set"). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spfdb.h"
#include "bytes.h"
#include "store.h" /* the read index's sizes, to know it was used */
#include "tmpdb.h"

#define MAXE 6000
#define NALLOC 2

struct oracle {
    struct spfdb_prefix e[MAXE];
    size_t n;
};

struct ctx {
    char dir[256];
    spfdb_env *env;
    uint64_t rng;
    uint32_t ids[NALLOC];
    struct oracle o[NALLOC];
    int calls; /* callback runs: a rerun would double-apply the oracle */
    int dense; /* all entries in one /24 and one /120: adjacent and nested */
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

static void mask(struct spfdb_prefix *p)
{
    for (unsigned b = p->len; b < bits(p->family); b++)
        p->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
}

/* Addresses from a small space, so that prefixes nest often. */
static void rand_addr(struct ctx *c, int family, uint8_t *a)
{
    static const uint8_t first4[] = {10, 11, 200, 255};

    memset(a, 0, 16);
    if (c->dense) {
        a[0] = family == 4 ? 10 : 0x20;
        a[family == 4 ? 3 : 15] = (uint8_t)rnd(c);
    } else if (family == 4) {
        a[0] = first4[rnd(c) % 4];
        a[1] = (uint8_t)(rnd(c) % 4);
        a[2] = (uint8_t)(rnd(c) % 4 * 64);
        a[3] = (uint8_t)(rnd(c) % 3 ? rnd(c) % 8 : rnd(c));
        if (a[0] == 255 && rnd(c) % 2)
            memset(a, 255, 4);
    } else {
        a[0] = 0x20;
        a[1] = rnd(c) % 2 ? 0x01 : 0xff;
        for (int i = 2; i < 16; i++)
            a[i] = rnd(c) % 4 == 0 ? (uint8_t)(rnd(c) % 3) : 0;
        if (rnd(c) % 8 == 0)
            memset(a, 0xff, 16);
    }
}

static void rand_prefix(struct ctx *c, struct spfdb_prefix *p)
{
    memset(p, 0, sizeof *p);
    p->family = rnd(c) % 3 ? 4 : 6;
    rand_addr(c, p->family, p->addr);
    if (c->dense)
        p->len = (uint8_t)(bits(p->family) - rnd(c) % 9);
    else if (rnd(c) % 30 == 0) /* a wide one that swallows many */
        p->len = (uint8_t)(rnd(c) % (p->family == 4 ? 9 : 17));
    else if (p->family == 4)
        p->len = (uint8_t)(8 + rnd(c) % 25);
    else
        p->len = (uint8_t)(16 + rnd(c) % 113);
    mask(p);
}

static int in(const struct spfdb_prefix *p, int family, const uint8_t *addr)
{
    struct spfdb_prefix q = {.family = (uint8_t)family, .len = (uint8_t)bits(family)};

    memcpy(q.addr, addr, family == 4 ? 4 : 16);
    return spfdb_prefix_contains(p, &q);
}

static int o_covers(const struct oracle *o, int family, const uint8_t *addr)
{
    for (size_t i = 0; i < o->n; i++)
        if (in(&o->e[i], family, addr))
            return 1;
    return 0;
}

static const struct spfdb_prefix *o_covering(const struct oracle *o, const struct spfdb_prefix *p)
{
    const struct spfdb_prefix *best = NULL;

    for (size_t i = 0; i < o->n; i++)
        if (spfdb_prefix_contains(&o->e[i], p) && (!best || o->e[i].len > best->len))
            best = &o->e[i];
    return best;
}

static long o_find(const struct oracle *o, const struct spfdb_prefix *p)
{
    for (size_t i = 0; i < o->n; i++)
        if (spfdb_prefix_cmp(&o->e[i], p) == 0)
            return (long)i;
    return -1;
}

static void check_addr(struct ctx *c, spfdb_txn *t, int k, int family, const uint8_t *addr)
{
    int want = o_covers(&c->o[k], family, addr);
    int got = spfdb_covers(t, c->ids[k], family, addr);

    if (got != want) {
        struct spfdb_prefix q = {.family = (uint8_t)family, .len = (uint8_t)bits(family)};
        char buf[SPFDB_PREFIX_STRLEN];
        memcpy(q.addr, addr, 16);
        spfdb_prefix_format(&q, buf, sizeof buf);
        fail_msg("covers(%u, %s) = %d, oracle %d", c->ids[k], buf, got, want);
    }
}

/* Start, end and the addresses either side of P. */
static void check_edges(struct ctx *c, spfdb_txn *t, int k, const struct spfdb_prefix *p)
{
    uint8_t a[16];
    unsigned n = p->family == 4 ? 4 : 16;

    memcpy(a, p->addr, 16);
    check_addr(c, t, k, p->family, a);
    for (int i = (int)n - 1; i >= 0 && a[i]-- == 0; i--)
        ;
    check_addr(c, t, k, p->family, a);
    memcpy(a, p->addr, 16);
    for (unsigned b = p->len; b < n * 8; b++)
        a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
    check_addr(c, t, k, p->family, a);
    for (int i = (int)n - 1; i >= 0 && ++a[i] == 0; i--)
        ;
    check_addr(c, t, k, p->family, a);
}

static void check_covering(struct ctx *c, spfdb_txn *t, int k, const struct spfdb_prefix *p)
{
    const struct spfdb_prefix *want = o_covering(&c->o[k], p);
    struct spfdb_prefix got;
    int rc = spfdb_entry_covering(t, c->ids[k], p, &got);

    if (!want) {
        assert_int_equal(rc, SPFDB_ENOTFOUND);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(spfdb_prefix_cmp(&got, want), 0);
    }
}

struct walk {
    const struct oracle *o;
    struct spfdb_prefix *sorted;
    size_t i;
};

static int cmp_prefix(const void *a, const void *b)
{
    return spfdb_prefix_cmp(a, b);
}

static int walk_fn(const struct spfdb_prefix *p, void *arg)
{
    struct walk *w = arg;

    assert_true(w->i < w->o->n);
    assert_int_equal(spfdb_prefix_cmp(p, &w->sorted[w->i]), 0);
    w->i++;
    return 0;
}

static void check_all(struct ctx *c, spfdb_txn *t, int full)
{
    struct spfdb_prefix p;
    uint8_t a[16];

    for (int k = 0; k < NALLOC; k++) {
        const struct oracle *o = &c->o[k];

        for (int i = 0; i < 150; i++) {
            int family = i % 3 ? 4 : 6;
            rand_addr(c, family, a);
            check_addr(c, t, k, family, a);
        }
        for (int i = 0; i < 40 && o->n; i++)
            check_edges(c, t, k, &o->e[rnd(c) % o->n]);
        for (int i = 0; i < 60; i++) {
            rand_prefix(c, &p);
            check_covering(c, t, k, &p);
        }
        if (full) {
            struct walk w = {o, malloc(sizeof(struct spfdb_prefix) * (o->n + 1)), 0};
            struct spfdb_alloc al;
            uint64_t n4 = 0;

            assert_non_null(w.sorted);
            memcpy(w.sorted, o->e, sizeof(struct spfdb_prefix) * o->n);
            qsort(w.sorted, o->n, sizeof *w.sorted, cmp_prefix);
            assert_int_equal(spfdb_entry_foreach(t, c->ids[k], walk_fn, &w), 0);
            assert_int_equal(w.i, o->n);
            free(w.sorted);
            for (size_t i = 0; i < o->n; i++)
                n4 += o->e[i].family == 4;
            assert_int_equal(spfdb_alloc_get_id(t, c->ids[k], &al), 0);
            assert_int_equal(al.n4, n4);
            assert_int_equal(al.n6, o->n - n4);
            for (size_t i = 0; i < o->n; i++) {
                assert_int_equal(spfdb_entry_has(t, c->ids[k], &o->e[i]), 1);
                check_covering(c, t, k, &o->e[i]);
            }
        }
    }
}

/* A sorted run of adds with no read between them, as a bulk import makes:
 * members past the last are held and appended together (set.c). */
static void burst(struct ctx *c, spfdb_txn *t)
{
    struct spfdb_prefix run[200];
    int k = rnd(c) % NALLOC, n = 1 + rnd(c) % 200;
    struct oracle *o = &c->o[k];

    for (int i = 0; i < n; i++)
        rand_prefix(c, &run[i]);
    qsort(run, n, sizeof run[0], cmp_prefix);
    for (int i = 0; i < n; i++) {
        /* a repeat is EEXIST, like any present entry */
        long at = o_find(o, &run[i]);

        if (at < 0 && o->n == MAXE)
            break;
        assert_int_equal(spfdb_entry_add_flags(t, c->ids[k], &run[i], SPFDB_ENTRY_WIDE, NULL),
                         at >= 0 ? SPFDB_EEXIST : 0);
        if (at < 0)
            o->e[o->n++] = run[i];
    }
}

static int batch_fn(spfdb_txn *t, void *arg)
{
    struct ctx *c = arg;
    struct spfdb_prefix p;

    c->calls++;
    if (rnd(c) % 2)
        burst(c, t);
    for (int i = 0; i < 60; i++) {
        int k = rnd(c) % NALLOC, op = rnd(c) % 10, rc;
        struct oracle *o = &c->o[k];
        long at;

        if (op < 6 && o->n < MAXE) {
            rand_prefix(c, &p);
            at = o_find(o, &p);
            rc = spfdb_entry_add_flags(t, c->ids[k], &p, SPFDB_ENTRY_WIDE, NULL);
            assert_int_equal(rc, at >= 0 ? SPFDB_EEXIST : 0);
            if (at < 0)
                o->e[o->n++] = p;
        } else {
            if (op < 9 && o->n) {
                p = o->e[rnd(c) % o->n];
                /* Half the time the top above it, with all it holds. */
                for (size_t j = 0, top = rnd(c) % 2; top && j < o->n; j++)
                    if (spfdb_prefix_contains(&o->e[j], &p) && o->e[j].len < p.len)
                        p = o->e[j];
            } else
                rand_prefix(c, &p);
            at = o_find(o, &p);
            rc = spfdb_entry_del(t, c->ids[k], &p);
            assert_int_equal(rc, at >= 0 ? 0 : SPFDB_ENOTFOUND);
            if (at >= 0)
                o->e[at] = o->e[--o->n];
        }
        assert_int_equal(spfdb_entry_has(t, c->ids[k], &p), o_find(o, &p) >= 0);
        /* The write txn reads its own changes: every entry the change
         * could have promoted or swallowed, edges included. */
        check_edges(c, t, k, &p);
        for (size_t j = 0, seen = 0; j < o->n && seen < 64; j++)
            if (spfdb_prefix_contains(&p, &o->e[j]) && ++seen)
                check_edges(c, t, k, &o->e[j]);
    }
    return 0;
}

static int add_alloc_fn(spfdb_txn *t, void *arg)
{
    return spfdb_alloc_add(t, "other", arg);
}

static void run_oracle(uint64_t seed, int batches, int dense)
{
    struct ctx *c = calloc(1, sizeof *c);
    spfdb_txn *t;

    assert_non_null(c);
    c->rng = seed;
    c->dense = dense;
    assert_int_equal(tmpdb_make(c->dir), 0);
    assert_int_equal(spfdb_env_open(c->dir, &c->env), 0);
    c->ids[0] = 1;
    assert_int_equal(spfdb_write(c->env, add_alloc_fn, &c->ids[1]), 0);
    assert_int_equal(c->ids[1], 2);
    assert_int_equal(spfdb_txn_read(c->env, &t), 0);
    spfdb_txn_reset(t);
    for (int b = 0; b < batches; b++) {
        c->calls = 0;
        assert_int_equal(spfdb_write(c->env, batch_fn, c), 0);
        assert_int_equal(c->calls, 1);
        assert_int_equal(spfdb_txn_renew(t), 0);
        check_all(c, t, b % 10 == 9 || b == batches - 1);
        spfdb_txn_reset(t);
    }
    spfdb_txn_close(t);
    spfdb_env_close(c->env);
    tmpdb_remove(c->dir);
    free(c);
}

static void test_oracle_a(void **state)
{
    (void)state;
    run_oracle(0x9e3779b97f4a7c15ull, 60, 0);
}

static void test_oracle_b(void **state)
{
    (void)state;
    run_oracle(0x2545f4914f6cdd1dull, 60, 0);
}

static void test_oracle_dense(void **state)
{
    (void)state;
    run_oracle(0x853c49e6748fea9bull, 40, 1);
}

/* ---- hand-made cases -------------------------------------------------- */

struct ops {
    const char *const *add, *const *del;
};

static struct spfdb_prefix pfx(const char *s)
{
    struct spfdb_prefix p;

    if (spfdb_prefix_parse(s, strlen(s), &p, NULL, NULL, 0) != 0)
        fail_msg("bad test prefix %s", s);
    return p;
}

static int ops_fn(spfdb_txn *t, void *arg)
{
    const struct ops *o = arg;

    for (size_t i = 0; o->add && o->add[i]; i++) {
        struct spfdb_prefix p = pfx(o->add[i]);
        assert_int_equal(spfdb_entry_add_flags(t, 1, &p, SPFDB_ENTRY_WIDE, NULL), 0);
    }
    for (size_t i = 0; o->del && o->del[i]; i++) {
        struct spfdb_prefix p = pfx(o->del[i]);
        assert_int_equal(spfdb_entry_del(t, 1, &p), 0);
    }
    return 0;
}

static int listed(spfdb_env *env, const char *ip)
{
    struct spfdb_prefix p = pfx(ip);
    spfdb_txn *t;
    int rc;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    rc = spfdb_covers(t, 1, p.family, p.addr);
    spfdb_txn_close(t);
    return rc;
}

static void apply(spfdb_env *env, const char *const *add, const char *const *del)
{
    struct ops o = {add, del};

    assert_int_equal(spfdb_write(env, ops_fn, &o), 0);
}

/* Prefixes with host bits set, or too long, are refused; each bit counts. */
static int invalid_fn(spfdb_txn *t, void *arg)
{
    static const char *const ok[] = {"198.51.100.0/23", "2001:db8::/47", "0.0.0.0/0", "::/0",
                                     "203.0.113.7/32", "2001:db8::1/128"};
    (void)arg;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct spfdb_prefix p = pfx(ok[i]);
        unsigned n = p.family == 4 ? 4 : 16;

        for (unsigned b = p.len; b < n * 8; b++) {
            struct spfdb_prefix q = p;
            q.addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
            assert_int_equal(spfdb_entry_add(t, 1, &q), SPFDB_EINVAL);
            assert_int_equal(spfdb_entry_del(t, 1, &q), SPFDB_EINVAL);
        }
        p.len = (uint8_t)(n * 8 + 1);
        assert_int_equal(spfdb_entry_add(t, 1, &p), SPFDB_EINVAL);
        p = pfx(ok[i]);
        assert_int_equal(spfdb_entry_add_flags(t, 1, &p, SPFDB_ENTRY_WIDE, NULL), 0);
    }
    return 0;
}

static int swallow_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_prefix p = pfx("10.0.0.0/24");
    (void)arg;
    for (int i = 0; i < 256; i++) {
        p.addr[2] = (uint8_t)i;
        assert_int_equal(spfdb_entry_add(t, 1, &p), 0);
    }
    return 0;
}

static void test_nesting(void **state)
{
    char dir[256];
    spfdb_env *env;
    (void)state;
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);

    assert_int_equal(spfdb_write(env, invalid_fn, NULL), 0);
    apply(env, NULL, (const char *[]){"198.51.100.0/23", "2001:db8::/47", "0.0.0.0/0", "::/0",
                                       "203.0.113.7/32", "2001:db8::1/128", NULL});

    /* 256 /24s swallowed by a /16, promoted again when it goes. */
    assert_int_equal(spfdb_write(env, swallow_fn, NULL), 0);
    assert_int_equal(listed(env, "10.0.5.1"), 1);
    assert_int_equal(listed(env, "10.1.0.0"), 0);
    apply(env, (const char *[]){"10.0.0.0/16", NULL}, NULL);
    assert_int_equal(listed(env, "10.0.255.255"), 1);
    apply(env, NULL, (const char *[]){"10.0.0.0/16", NULL});
    assert_int_equal(listed(env, "10.0.5.1"), 1);
    apply(env, NULL, (const char *[]){"10.0.5.0/24", NULL});
    assert_int_equal(listed(env, "10.0.5.1"), 0);
    assert_int_equal(listed(env, "10.0.6.1"), 1);

    apply(env, (const char *[]){"10.9.0.0/30", "10.9.0.2/32", "10.9.0.3/32", NULL}, NULL);
    apply(env, NULL, (const char *[]){"10.9.0.0/30", NULL});
    assert_int_equal(listed(env, "10.9.0.3"), 1);

    /* A chain: deleting the outer promotes the middle only. */
    apply(env, (const char *[]){"20.0.0.0/8", "20.1.0.0/16", "20.1.2.0/24", "20.1.2.3", NULL},
          NULL);
    apply(env, NULL, (const char *[]){"20.0.0.0/8", NULL});
    assert_int_equal(listed(env, "20.2.0.0"), 0);
    assert_int_equal(listed(env, "20.1.255.0"), 1);
    apply(env, NULL, (const char *[]){"20.1.0.0/16", NULL});
    assert_int_equal(listed(env, "20.1.255.0"), 0);
    assert_int_equal(listed(env, "20.1.2.9"), 1);
    apply(env, NULL, (const char *[]){"20.1.2.0/24", NULL});
    assert_int_equal(listed(env, "20.1.2.9"), 0);
    assert_int_equal(listed(env, "20.1.2.3"), 1);

    /* The ends of the address space. */
    apply(env, (const char *[]){"255.255.255.255", "0.0.0.0/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                                "::/0", "::", NULL},
          NULL);
    assert_int_equal(listed(env, "99.0.0.1"), 1);
    assert_int_equal(listed(env, "2001:db8::1"), 1);
    apply(env, NULL, (const char *[]){"0.0.0.0/0", "::/0", NULL});
    assert_int_equal(listed(env, "99.0.0.1"), 0);
    assert_int_equal(listed(env, "255.255.255.255"), 1);
    assert_int_equal(listed(env, "255.255.255.254"), 0);
    assert_int_equal(listed(env, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 1);
    assert_int_equal(listed(env, "::"), 1);
    assert_int_equal(listed(env, "::1"), 0);
    /* IPv4 entries say nothing about IPv6 addresses with the same bytes. */
    assert_int_equal(listed(env, "a00:600::"), 0);

    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* ---- the read index (index.c) --------------------------------------------
 *
 * Block i of each family holds one prefix at its start, of a random
 * length, so the set is known without an oracle: enough of them to fill
 * many pages, looked up at every edge in a read transaction until the
 * index serves them, and again after a commit. */

enum { PI_V4 = 20000, PI_V6 = 6000, PI_STEP4 = 4096 };
#define PI_BASE4 0x0b000000u
#define PI_BASE6 0x2a00000000000000ull

struct pidata {
    uint8_t len4[PI_V4], len6[PI_V6];
    int extra; /* the second commit's prefix, 10.0.0.0/8, is in */
};

static void v6_addr(uint64_t hi, uint64_t lo, uint8_t *a)
{
    for (int i = 0; i < 8; i++) {
        a[i] = (uint8_t)(hi >> (56 - 8 * i));
        a[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
}

static int pi_fill(spfdb_txn *t, void *arg)
{
    struct pidata *d = arg;
    struct spfdb_prefix p = {.family = 4};

    for (uint32_t i = 0; i < PI_V4; i++) {
        uint32_t a = PI_BASE4 + i * PI_STEP4;
        p.len = d->len4[i];
        put_be32(p.addr, a);
        assert_int_equal(spfdb_entry_add(t, 1, &p), 0);
    }
    p.family = 6;
    for (uint64_t i = 0; i < PI_V6; i++) {
        p.len = d->len6[i];
        v6_addr(PI_BASE6 + (i << 16), 0, p.addr);
        assert_int_equal(spfdb_entry_add(t, 1, &p), 0);
    }
    return 0;
}

static int pi_extra(spfdb_txn *t, void *arg)
{
    struct spfdb_prefix p = pfx("10.0.0.0/8");

    ((struct pidata *)arg)->extra = 1;
    return spfdb_entry_add(t, 1, &p);
}

static int pi_want4(const struct pidata *d, uint32_t a)
{
    if (d->extra && a >> 24 == 10)
        return 1;
    if (a < PI_BASE4 || a - PI_BASE4 >= (uint32_t)PI_V4 * PI_STEP4)
        return 0;
    uint32_t i = (a - PI_BASE4) / PI_STEP4, off = (a - PI_BASE4) % PI_STEP4;
    return off < (1u << (32 - d->len4[i]));
}

static int pi_want6(const struct pidata *d, uint64_t hi, uint64_t lo)
{
    if (hi < PI_BASE6 || hi - PI_BASE6 >= (uint64_t)PI_V6 << 16)
        return 0;
    uint64_t i = (hi - PI_BASE6) >> 16, off = (hi - PI_BASE6) & 0xffff;
    if (d->len6[i] == 128)
        return off == 0 && lo == 0;
    return off < (1ull << (64 - d->len6[i]));
}

/* Lookups put to spfdb_covers_many in batches of up to SPFDB_MANY_MAX,
 * and to spfdb_covers one by one: both must give WANT. */
struct many {
    spfdb_txn *t;
    struct spfdb_query q[SPFDB_MANY_MAX];
    int want[SPFDB_MANY_MAX];
    unsigned n, size; /* size: this batch's, cycling 1..SPFDB_MANY_MAX */
};

static void many_flush(struct many *m)
{
    spfdb_covers_many(m->t, m->q, m->n);
    for (unsigned i = 0; i < m->n; i++)
        if (m->q[i].result != m->want[i])
            fail_msg("covers_many: query %u of %u (IPv%d, alloc %u): %d, want %d", i, m->n,
                     m->q[i].family, m->q[i].alloc_id, m->q[i].result, m->want[i]);
    m->n = 0;
    m->size = m->size % SPFDB_MANY_MAX + 1;
}

static void many_check(struct many *m, uint32_t id, int family, const uint8_t *a, int want)
{
    assert_int_equal(spfdb_covers(m->t, id, family, a), want);
    m->q[m->n] = (struct spfdb_query){.alloc_id = id, .family = family};
    memcpy(m->q[m->n].addr, a, family == 4 ? 4 : 16);
    m->want[m->n++] = want;
    if (m->n >= m->size)
        many_flush(m);
}

/* Every block's first and last address and those either side of them. */
static void pi_check(const struct pidata *d, spfdb_txn *t)
{
    struct many m = {.t = t, .size = 1};
    uint8_t a[16];

    for (uint32_t i = 0; i < PI_V4; i++) {
        uint32_t first = PI_BASE4 + i * PI_STEP4, last = first + (1u << (32 - d->len4[i])) - 1;
        const uint32_t probe[4] = {first - 1, first, last, last + 1};
        for (int k = 0; k < 4; k++) {
            put_be32(a, probe[k]);
            if (spfdb_covers(t, 1, 4, a) != pi_want4(d, probe[k]))
                fail_msg("IPv4 %08x: covers %d", probe[k], spfdb_covers(t, 1, 4, a));
            many_check(&m, 1, 4, a, pi_want4(d, probe[k]));
            many_check(&m, 2, 4, a, 0); /* interleaved with an empty allocation */
        }
    }
    put_be32(a, 0x0a000001);
    assert_int_equal(spfdb_covers(t, 1, 4, a), d->extra);
    for (uint64_t i = 0; i < PI_V6; i++) {
        uint64_t first = PI_BASE6 + (i << 16);
        uint64_t last = d->len6[i] == 128 ? first : first + (1ull << (64 - d->len6[i])) - 1;
        uint64_t lo_last = d->len6[i] == 128 ? 0 : ~0ull;
        const uint64_t hi[5] = {first - 1, first, first, last, last + (lo_last == ~0ull)};
        const uint64_t lo[5] = {~0ull, 0, 1, lo_last, lo_last + 1};
        for (int k = 0; k < 5; k++) {
            v6_addr(hi[k], lo[k], a);
            if (spfdb_covers(t, 1, 6, a) != pi_want6(d, hi[k], lo[k]))
                fail_msg("IPv6 %016llx %016llx: covers %d", (unsigned long long)hi[k],
                         (unsigned long long)lo[k], spfdb_covers(t, 1, 6, a));
            many_check(&m, 1, 6, a, pi_want6(d, hi[k], lo[k]));
            uint32_t a4 = (uint32_t)(hi[k] >> 32) ^ (uint32_t)lo[k];
            uint8_t b4[4];
            put_be32(b4, a4); /* and with IPv4 lookups between */
            many_check(&m, 1, 4, b4, pi_want4(d, a4));
        }
    }
    /* The other allocation has no entries; its index is empty. */
    for (int k = 0; k < 40; k++)
        assert_int_equal(spfdb_covers(t, 2, k % 2 ? 4 : 6, a), 0);
    many_flush(&m);
    spfdb_covers_many(t, m.q, 0); /* nothing to do */
    m.q[0] = (struct spfdb_query){.alloc_id = 1, .family = 5};
    spfdb_covers_many(t, m.q, 1);
    assert_int_equal(m.q[0].result, SPFDB_EINVAL);
}

static void test_page_index(void **state)
{
    struct pidata *d = calloc(1, sizeof *d);
    uint64_t rng = 0x6a09e667f3bcc908ull;
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    uint32_t other;
    (void)state;

    assert_non_null(d);
    for (int i = 0; i < PI_V4; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        d->len4[i] = (uint8_t)(20 + (rng >> 33) % 13);
    }
    for (int i = 0; i < PI_V6; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        d->len6[i] = (uint8_t)((rng >> 33) % 5 == 0 ? 128 : 48 + (rng >> 40) % 17);
    }
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, add_alloc_fn, &other), 0);
    assert_int_equal(spfdb_write(env, pi_fill, d), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    pi_check(d, t);
    /* Built: both families' keys and lengths are in the index. */
    struct ixstats st;
    index_stats(env, &st);
    uint64_t builds = st.builds;
    size_t built = st.bytes;
    assert_true(built >= PI_V4 * 5 + PI_V6 * 17);
    assert_int_equal(st.tables, 1);

    /* No commit between: the index is kept across a reset and renew. */
    spfdb_txn_reset(t);
    assert_int_equal(spfdb_txn_renew(t), 0);
    pi_check(d, t);
    index_stats(env, &st);
    assert_int_equal(st.builds, builds);
    assert_int_equal(st.bytes, built);

    /* A second handle on the same snapshot shares the built index. */
    spfdb_txn *t2;
    assert_int_equal(spfdb_txn_read(env, &t2), 0);
    pi_check(d, t2);
    index_stats(env, &st);
    assert_int_equal(st.builds, builds);
    assert_int_equal(st.tables, 1);

    /* A commit to the allocation: the renewed snapshot gets a new table
     * without its indexes, and sees the change; the other handle keeps
     * the old table, and the old indexes, until it moves too. */
    assert_int_equal(spfdb_write(env, pi_extra, d), 0);
    assert_int_equal(spfdb_txn_refresh(t), 0);
    pi_check(d, t);
    index_stats(env, &st);
    assert_true(st.builds > builds);
    assert_true(st.bytes >= 2 * built);
    assert_int_equal(st.tables, 2);
    spfdb_txn_close(t2);
    index_stats(env, &st);
    assert_int_equal(st.tables, 1);
    assert_int_equal(st.retired, 0); /* the old indexes went with t2's table */
    assert_true(st.bytes < 2 * built);

    spfdb_txn_close(t);
    index_stats(env, &st);
    assert_int_equal(st.tables, 0);
    assert_int_equal(st.bytes, 0);
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(d);
}

/* Read handles on other threads share and drop built indexes while
 * commits come: every answer stays right, and (under ASan, TSan) no index
 * is freed under a reader or touched without the env's lock. */
enum { SH_READERS = 4, SH_ROUNDS = 100, SH_ROUNDS_MAX = 100000, SH_COMMITS = 40 };

struct share_run {
    spfdb_env *env;
    const struct pidata *d;
    unsigned seed;
    const int *stop;   /* set (atomic) once the commits are done */
    int wrong, errors; /* read by the main thread after the join */
};

static void *share_reader(void *arg)
{
    struct share_run *r = arg;
    struct spfdb_query q[32];
    uint32_t want[32];
    uint64_t rng = r->seed;
    spfdb_txn *t;

    if (spfdb_txn_read(r->env, &t) != 0) {
        r->errors++;
        return NULL;
    }
    /* Until the commits are over (at least SH_ROUNDS, at most the max). */
    for (int round = 0; round < SH_ROUNDS_MAX &&
                        (round < SH_ROUNDS || !__atomic_load_n(r->stop, __ATOMIC_ACQUIRE));
         round++) {
        if ((round % 8 == 7 && (spfdb_txn_reset(t), spfdb_txn_renew(t) != 0)) ||
            (round % 8 != 7 && spfdb_txn_refresh(t) != 0)) {
            r->errors++;
            break;
        }
        for (int k = 0; k < 32; k++) { /* addresses 10.0.0.0/8, which commits toggle, never */
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t i = (uint32_t)(rng >> 33) % PI_V4, a = PI_BASE4 + i * PI_STEP4;
            a += (uint32_t)(rng >> 20) % (2u << (32 - r->d->len4[i]));
            q[k] = (struct spfdb_query){.alloc_id = 1, .family = 4};
            if (k % 4 == 3) {
                q[k].family = 6;
                uint64_t hi = PI_BASE6 + ((uint64_t)(i % PI_V6) << 16) + (rng >> 60);
                v6_addr(hi, 0, q[k].addr);
                want[k] = (uint32_t)pi_want6(r->d, hi, 0);
            } else {
                put_be32(q[k].addr, a);
                want[k] = (uint32_t)pi_want4(r->d, a);
            }
        }
        spfdb_covers_many(t, q, 32);
        for (int k = 0; k < 32; k++) {
            r->wrong += q[k].result != (int)want[k];
            r->wrong += spfdb_covers(t, 1, q[k].family, q[k].addr) != (int)want[k];
        }
    }
    spfdb_txn_close(t);
    return NULL;
}

static int sh_del(spfdb_txn *t, void *arg)
{
    struct spfdb_prefix p = pfx("10.0.0.0/8");

    ((struct pidata *)arg)->extra = 0;
    return spfdb_entry_del(t, 1, &p);
}

static void test_shared_index_threads(void **state)
{
    struct pidata *d = calloc(1, sizeof *d);
    struct share_run run[SH_READERS];
    pthread_t th[SH_READERS];
    char dir[256];
    spfdb_env *env;
    uint32_t other;
    int stop = 0;
    (void)state;

    assert_non_null(d);
    for (int i = 0; i < PI_V4; i++)
        d->len4[i] = (uint8_t)(20 + i % 13);
    for (int i = 0; i < PI_V6; i++)
        d->len6[i] = (uint8_t)(i % 5 == 0 ? 128 : 48 + i % 17);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, add_alloc_fn, &other), 0);
    assert_int_equal(spfdb_write(env, pi_fill, d), 0);
    for (int i = 0; i < SH_READERS; i++) {
        run[i] = (struct share_run){.env = env, .d = d, .seed = 17u + (unsigned)i, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, share_reader, &run[i]), 0);
    }
    struct pidata scratch = *d; /* pi_extra and sh_del write the flag: not d's */
    for (int c = 0; c < SH_COMMITS; c++)
        assert_int_equal(spfdb_write(env, c % 2 ? sh_del : pi_extra, &scratch), 0);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < SH_READERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(run[i].errors, 0);
        assert_int_equal(run[i].wrong, 0);
    }
    struct ixstats st;
    index_stats(env, &st); /* every handle closed: every index freed */
    assert_int_equal(st.tables, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.retired, 0);
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(d);
}

/* Sets of every size around the block sizes (16 IPv4 keys, 4 IPv6), at
 * the top of the address space, where the index's pads (all ones) sit
 * beside real keys. */
struct top_set {
    int m;       /* /32s (and /128s) at all-ones minus 0, 2, 4, ... */
    uint32_t id; /* of the allocation made afresh for them */
};

static int top_fill(spfdb_txn *t, void *arg)
{
    struct top_set *ts = arg;
    struct spfdb_prefix p;
    int rc = spfdb_alloc_del(t, "other", 1);

    if (rc == 0)
        rc = spfdb_alloc_add(t, "other", &ts->id);
    for (int i = 0; rc == 0 && i < ts->m; i++) {
        p.family = 4;
        p.len = 32;
        put_be32(p.addr, 0xffffffffu - 2u * (uint32_t)i);
        rc = spfdb_entry_add(t, ts->id, &p);
        p.family = 6;
        p.len = 128;
        v6_addr(~0ull, ~0ull - 2u * (uint64_t)i, p.addr);
        if (rc == 0)
            rc = spfdb_entry_add(t, ts->id, &p);
    }
    return rc;
}

static void test_index_sizes(void **state)
{
    static const int sizes[] = {1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 255, 256, 257, 300};
    char dir[256];
    spfdb_env *env;
    uint32_t other;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, add_alloc_fn, &other), 0);
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        struct top_set ts = {sizes[z], 0};
        spfdb_txn *t;
        uint8_t a[16];

        assert_int_equal(spfdb_write(env, top_fill, &ts), 0);
        uint32_t id = ts.id;
        assert_int_equal(spfdb_txn_read(env, &t), 0);
        for (int pass = 0; pass < 2; pass++) { /* IX_AFTER descents, then the index */
            for (int i = 0; i < ts.m + 20; i++) {
                uint32_t x = 0xffffffffu - (uint32_t)i;
                put_be32(a, x);
                assert_int_equal(spfdb_covers(t, id, 4, a), i % 2 == 0 && i / 2 < ts.m);
                v6_addr(~0ull, ~0ull - (uint64_t)i, a);
                assert_int_equal(spfdb_covers(t, id, 6, a), i % 2 == 0 && i / 2 < ts.m);
            }
            memset(a, 0, sizeof a);
            for (int i = 0; i < 40; i++) {
                assert_int_equal(spfdb_covers(t, id, 4, a), 0);
                assert_int_equal(spfdb_covers(t, id, 6, a), 0);
            }
        }
        struct ixstats st;
        index_stats(env, &st);
        assert_true(st.bytes > 0);
        spfdb_txn_close(t);
    }
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_oracle_a),
        cmocka_unit_test(test_oracle_b),
        cmocka_unit_test(test_oracle_dense),
        cmocka_unit_test(test_page_index),
        cmocka_unit_test(test_index_sizes),
        cmocka_unit_test(test_shared_index_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
