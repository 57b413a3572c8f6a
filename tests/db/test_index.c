/* The read index across commits (db/index.c, docs/design.md "The read
 * index"): a commit keeps the index of every allocation it did not
 * change, and rebuilds the changed ones; lookups stay right through
 * random commits to random allocations, on handles that follow every
 * commit and on one that lags; a large family is built in slices over
 * several calls, answering by descent meanwhile; a pruned log (no way to
 * tell what changed) drops every index.  Each answer is checked against a
 * brute-force model of the sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "store.h" /* index_stats: what was built */
#include "tmpdb.h"

enum { NA = 48, MAXP = 64, QN = 24 };

/* The sets as the committed data holds them. */
struct model {
    uint32_t id[NA];
    int n[NA];
    struct spfdb_prefix p[NA][MAXP];
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33) % n;
}

static int match(const uint8_t *a, const uint8_t *b, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        if (((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1)
            return 0;
    return 1;
}

static int model_covers(const struct model *m, int a, int family, const uint8_t *addr)
{
    for (int i = 0; i < m->n[a]; i++)
        if (m->p[a][i].family == family && match(m->p[a][i].addr, addr, m->p[a][i].len))
            return 1;
    return 0;
}

/* An address near allocation A's space (or another's): IPv4 in
 * 10.A.0.0/16, IPv6 in 2001:db8:A::/48, so that sets nest and overlap. */
static void addr_near(int a, int family, uint8_t *addr)
{
    memset(addr, 0, 16);
    if (family == 4) {
        addr[0] = 10, addr[1] = (uint8_t)a, addr[2] = (uint8_t)rnd(4), addr[3] = (uint8_t)rnd(256);
    } else {
        addr[0] = 0x20, addr[1] = 0x01, addr[2] = 0x0d, addr[3] = 0xb8, addr[5] = (uint8_t)a;
        addr[6] = (uint8_t)rnd(2);
        addr[15] = (uint8_t)rnd(256);
    }
}

static struct spfdb_prefix random_prefix(int a)
{
    struct spfdb_prefix p = {.family = rnd(5) == 0 ? 6 : 4};
    unsigned bits = p.family == 4 ? 32 : 128;

    addr_near(a, p.family, p.addr);
    p.len = (uint8_t)(p.family == 4 ? 22 + rnd(11) : 55 + rnd(74));
    for (unsigned i = p.len; i < bits; i++)
        p.addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    return p;
}

static int has(const struct model *m, int a, const struct spfdb_prefix *p)
{
    for (int i = 0; i < m->n[a]; i++)
        if (spfdb_prefix_cmp(&m->p[a][i], p) == 0)
            return i;
    return -1;
}

/* A commit: entries added to (and some removed from) a few allocations,
 * or one allocation deleted and made again, empty (a new id). */
struct change {
    struct model *m;
    int a[3], na, remake;
};

static int change_fn(spfdb_txn *t, void *arg)
{
    struct change *c = arg;
    struct model *m = c->m;
    int rc = 0;

    for (int k = 0; k < c->na && rc == 0; k++) {
        int a = c->a[k];
        char name[16];
        snprintf(name, sizeof name, "c%d", a);
        if (c->remake) {
            rc = spfdb_alloc_del(t, name, 1);
            if (rc == 0)
                rc = spfdb_alloc_add(t, name, &m->id[a]);
            m->n[a] = 0;
            continue;
        }
        for (int j = 0; j < 4 && rc == 0; j++) {
            struct spfdb_prefix p = random_prefix(a);
            int i = has(m, a, &p);
            if (i >= 0 && rnd(2)) {
                rc = spfdb_entry_del(t, m->id[a], &p);
                m->p[a][i] = m->p[a][--m->n[a]];
            } else if (i < 0 && m->n[a] < MAXP) {
                rc = spfdb_entry_add(t, m->id[a], &p);
                m->p[a][m->n[a]++] = p;
            }
        }
    }
    return rc;
}

static int make_fn(spfdb_txn *t, void *arg)
{
    struct model *m = arg;
    int rc = 0;

    for (int a = 0; a < NA && rc == 0; a++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", a);
        rc = spfdb_alloc_add(t, name, &m->id[a]);
        for (int j = 0; j < 2 + a % 20 && rc == 0; j++) { /* 2 to 21 entries */
            struct spfdb_prefix p = random_prefix(a);
            if (has(m, a, &p) < 0) {
                rc = spfdb_entry_add(t, m->id[a], &p);
                m->p[a][m->n[a]++] = p;
            }
        }
    }
    return rc;
}

/* Lookups on T, one by one and in a batch, near every allocation's space
 * and its neighbour's, against M. */
static void check_all(spfdb_txn *t, const struct model *m)
{
    struct spfdb_query q[QN];
    int want[QN];

    for (int a = 0; a < NA; a++) {
        for (int k = 0; k < QN; k++) {
            int fam = k % 3 == 2 ? 6 : 4;
            q[k] = (struct spfdb_query){.alloc_id = m->id[a], .family = fam};
            addr_near(k % 5 == 4 ? (a + 1) % NA : a, fam, q[k].addr);
            want[k] = model_covers(m, a, fam, q[k].addr);
            if (k % 2)
                assert_int_equal(spfdb_covers(t, m->id[a], fam, q[k].addr), want[k]);
        }
        spfdb_covers_many(t, q, QN);
        for (int k = 0; k < QN; k++)
            assert_int_equal(q[k].result, want[k]);
    }
}

static uint64_t builds(spfdb_env *env)
{
    struct ixstats st;

    index_stats(env, &st);
    return st.builds;
}

/* Random commits to random allocations; a handle that follows each one,
 * and one that lags three commits behind (its own table, older indexes). */
static void test_oracle_commits(void **state)
{
    static struct model m, lag;
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t, *t2;
    (void)state;

    memset(&m, 0, sizeof m);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, make_fn, &m), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_txn_read(env, &t2), 0);
    lag = m;
    check_all(t, &m);
    check_all(t2, &lag);
    for (int c = 0; c < 120; c++) {
        struct change ch = {.m = &m, .na = 1 + (int)rnd(3), .remake = rnd(15) == 0};
        for (int k = 0; k < ch.na; k++)
            ch.a[k] = (int)rnd(NA);
        assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
        if (c % 7 == 3) { /* a reset and renew, as an idle worker does */
            spfdb_txn_reset(t);
            assert_int_equal(spfdb_txn_renew(t), 0);
        } else {
            assert_int_equal(spfdb_txn_refresh(t), 0);
        }
        check_all(t, &m);
        if (c % 3 == 2) {
            assert_int_equal(spfdb_txn_refresh(t2), 0);
            lag = m;
        }
        check_all(t2, &lag);
    }
    spfdb_txn_close(t2);
    spfdb_txn_close(t);
    struct ixstats st;
    index_stats(env, &st);
    assert_int_equal(st.tables, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.retired, 0);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A commit to one allocation rebuilds its indexes only. */
static void test_untouched_survives(void **state)
{
    static struct model m;
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    (void)state;

    memset(&m, 0, sizeof m);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, make_fn, &m), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    check_all(t, &m);
    uint64_t b0 = builds(env);
    assert_int_equal(b0, 2 * NA); /* every family of every allocation, once */
    check_all(t, &m);
    assert_int_equal(builds(env), b0);

    /* One allocation changes: its two families are built again, no other. */
    struct change ch = {.m = &m, .na = 1, .a = {7}};
    assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    assert_int_equal(spfdb_txn_refresh(t), 0);
    check_all(t, &m);
    assert_int_equal(builds(env), b0 + 2);

    /* Three allocations in one commit, and then in three commits that the
     * handle takes in one step: six builds either way. */
    ch = (struct change){.m = &m, .na = 3, .a = {1, 2, 3}};
    assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    for (int a = 4; a < 7; a++) {
        ch = (struct change){.m = &m, .na = 1, .a = {a}};
        assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    }
    assert_int_equal(spfdb_txn_refresh(t), 0);
    check_all(t, &m);
    assert_int_equal(builds(env), b0 + 2 + 12);

    /* A deleted and remade allocation has a new id: built anew. */
    ch = (struct change){.m = &m, .na = 1, .a = {9}, .remake = 1};
    assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    assert_int_equal(spfdb_txn_refresh(t), 0);
    check_all(t, &m);
    assert_int_equal(builds(env), b0 + 2 + 12 + 2);

    /* A commit that changes nothing is no commit; an idle reset and renew
     * keeps everything. */
    ch = (struct change){.m = &m, .na = 0};
    assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    spfdb_txn_reset(t);
    assert_int_equal(spfdb_txn_renew(t), 0);
    check_all(t, &m);
    assert_int_equal(builds(env), b0 + 16);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

static int prune_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_log_pruned out;
    (void)arg;
    return spfdb_log_prune(t, INT64_MAX, &out);
}

/* A prune is a quiet commit: the data and the indexes stay.  A handle
 * whose last version's successors were pruned cannot tell what changed:
 * every index is built again, and the answers are right. */
static void test_pruned_gap(void **state)
{
    static struct model m;
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    (void)state;

    memset(&m, 0, sizeof m);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, make_fn, &m), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    check_all(t, &m);
    uint64_t b0 = builds(env);

    assert_int_equal(spfdb_write(env, prune_fn, NULL), 0);
    assert_int_equal(spfdb_txn_refresh(t), 0);
    check_all(t, &m);
    assert_int_equal(builds(env), b0); /* no data changed */

    /* After a prune of everything, the next record follows on: one
     * allocation rebuilt. */
    struct change ch = {.m = &m, .na = 1, .a = {5}};
    assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    assert_int_equal(spfdb_txn_refresh(t), 0);
    check_all(t, &m);
    assert_int_equal(builds(env), b0 + 2);

    /* Two commits, pruned before the handle looks: everything rebuilt. */
    ch = (struct change){.m = &m, .na = 1, .a = {6}};
    assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    ch = (struct change){.m = &m, .na = 1, .a = {8}};
    assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
    assert_int_equal(spfdb_write(env, prune_fn, NULL), 0);
    assert_int_equal(spfdb_txn_refresh(t), 0);
    check_all(t, &m);
    assert_int_equal(builds(env), b0 + 2 + 2 * NA);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* One large family: built in slices of bounded size over several calls,
 * answering right (by descent) before it is complete. */
enum { BIG = 100000 };

static int big_fn(spfdb_txn *t, void *arg)
{
    uint32_t *id = arg;
    int rc = spfdb_alloc_add(t, "big", id);

    for (uint32_t i = 0; i < BIG && rc == 0; i++) { /* 11.0.0.0 on, every other /32 */
        struct spfdb_prefix p = {.family = 4, .len = 32};
        put_be32(p.addr, 0x0b000000u + 2 * i);
        rc = spfdb_entry_add(t, *id, &p);
    }
    return rc;
}

static void test_sliced_build(void **state)
{
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    uint32_t id;
    int calls = 0;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, big_fn, &id), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    uint64_t b0 = builds(env);
    while (builds(env) == b0) {
        uint8_t a[4];
        uint32_t x = 0x0b000000u + rnd(2 * BIG + 10);
        put_be32(a, x);
        assert_int_equal(spfdb_covers(t, id, 4, a), x % 2 == 0 && x < 0x0b000000u + 2 * BIG);
        assert_true(++calls < 100);
    }
    /* 31 lookups by descent, then 100,000 members in slices of 32,768. */
    assert_true(calls >= 32 + 3);
    assert_int_equal(builds(env), b0 + 1);
    for (int i = 0; i < 1000; i++) {
        uint8_t a[4];
        uint32_t x = 0x0b000000u + rnd(2 * BIG + 10);
        put_be32(a, x);
        assert_int_equal(spfdb_covers(t, id, 4, a), x % 2 == 0 && x < 0x0b000000u + 2 * BIG);
    }
    assert_int_equal(builds(env), b0 + 1);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A handle reset (idle) holds no version's table: commits that the
 * others follow free the indexes they replace, however long it sleeps;
 * renewed, it takes the newest table. */
static void test_idle_holds_nothing(void **state)
{
    static struct model m;
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t, *idle;
    struct ixstats st;
    (void)state;

    memset(&m, 0, sizeof m);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, make_fn, &m), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_txn_read(env, &idle), 0);
    check_all(idle, &m);
    spfdb_txn_reset(idle);
    for (int c = 0; c < 40; c++) {
        struct change ch = {.m = &m, .na = 1, .a = {(int)rnd(NA)}};
        assert_int_equal(spfdb_write(env, change_fn, &ch), 0);
        assert_int_equal(spfdb_txn_refresh(t), 0);
        check_all(t, &m);
    }
    index_stats(env, &st);
    assert_int_equal(st.tables, 1);
    assert_int_equal(st.retired, 0);
    uint64_t b0 = st.builds;
    assert_int_equal(spfdb_txn_renew(idle), 0);
    check_all(idle, &m);
    assert_int_equal(builds(env), b0);
    spfdb_txn_close(idle);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untouched_survives),
        cmocka_unit_test(test_oracle_commits),
        cmocka_unit_test(test_pruned_gap),
        cmocka_unit_test(test_sliced_build),
        cmocka_unit_test(test_idle_holds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
