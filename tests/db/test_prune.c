/* Change-log retention: spfdb_log_prune (db/spfdb.h).
 *
 * The records' stamps are set with LMDB itself after the commits (the
 * library stamps the clock's time), so every boundary is exact.
 * SPFDB_PRUNE_COMMITS and SPFDB_PRUNE_ADDS scale test_large (default 100
 * commits of 1000 adds: a 100,000-entry history) for a measurement by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h> /* only to stamp records with chosen times */

#include "spfdb.h"
#include "tmpdb.h"

/* N commits of ADDS new /32s each (allocation default), FIRST on. */
static void commits(spfdb_env *env, uint32_t first, unsigned n, uint32_t adds)
{
    for (unsigned i = 0; i < n; i++) {
        struct bulk b = {first + i * adds, adds, 0, 1};
        assert_int_equal(spfdb_write(env, bulk_fn, &b), 0);
    }
}

/* Stamp record seq FIRST+i with TIMES[i], for i < N, in the closed
 * database DIR. */
static void stamp(const char *dir, uint64_t first, const int64_t *times, unsigned n)
{
    MDB_env *mdb;
    MDB_txn *txn;
    MDB_dbi dbi;

    assert_int_equal(mdb_env_create(&mdb), 0);
    assert_int_equal(mdb_env_set_maxdbs(mdb, 16), 0);
    assert_int_equal(mdb_env_open(mdb, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(mdb, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    for (unsigned i = 0; i < n; i++) {
        uint8_t k[8];
        uint64_t seq = first + i, t = (uint64_t)times[i];
        MDB_val key = {8, k}, v, nv;
        uint8_t *copy;

        for (int b = 0; b < 8; b++)
            k[b] = (uint8_t)(seq >> (56 - 8 * b));
        assert_int_equal(mdb_get(txn, dbi, &key, &v), 0);
        assert_non_null(copy = malloc(v.mv_size));
        memcpy(copy, v.mv_data, v.mv_size);
        for (int b = 0; b < 8; b++)
            copy[1 + b] = (uint8_t)(t >> (56 - 8 * b));
        nv = (MDB_val){v.mv_size, copy};
        assert_int_equal(mdb_put(txn, dbi, &key, &nv, 0), 0);
        free(copy);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(mdb);
}

struct prune_job {
    int64_t before;
    struct spfdb_log_pruned out;
    int calls;
};

static int prune_fn(spfdb_txn *t, void *arg)
{
    struct prune_job *j = arg;

    j->calls++;
    return spfdb_log_prune(t, j->before, &j->out);
}

static struct spfdb_log_pruned prune(spfdb_env *env, int64_t before)
{
    struct prune_job j = {.before = before};

    assert_int_equal(spfdb_write(env, prune_fn, &j), 0);
    return j.out;
}

static struct spfdb_info info(spfdb_env *env)
{
    struct spfdb_info i;
    spfdb_txn *t;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_info_get(t, &i), 0);
    spfdb_txn_close(t);
    return i;
}

struct seqs {
    unsigned n;
    uint64_t seq[16];
    int64_t time[16];
    uint32_t before[16];
};

static int collect(struct spfdb_log_rec *r, void *arg)
{
    struct seqs *s = arg;

    if (s->n < 16) {
        s->seq[s->n] = r->seq;
        s->time[s->n] = r->time;
        s->before[s->n] = r->serial_before;
    }
    s->n++;
    return 0;
}

static struct seqs log_seqs(spfdb_env *env)
{
    struct seqs s = {0};
    spfdb_txn *t;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 0, INT64_MIN, collect, &s), 0);
    spfdb_txn_close(t);
    return s;
}

static int find(spfdb_env *env, uint32_t serial, uint64_t *seq)
{
    spfdb_txn *t;
    int rc;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    rc = spfdb_log_find_serial(t, serial, seq);
    spfdb_txn_close(t);
    return rc;
}

static uint64_t last_txnid(spfdb_env *env)
{
    uint64_t id;

    assert_int_equal(spfdb_env_last_txnid(env, &id), 0);
    return id;
}

/* A database of N one-add commits stamped 100, 200, ...: *ENV open on it,
 * the serials before each record and the current one in SERIAL[0..N]. */
static void five(char *dir, spfdb_env **env, unsigned n, uint32_t *serial)
{
    int64_t times[16];
    struct seqs s;

    assert_true(n <= 16);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, env), 0);
    commits(*env, 0x0b000000u, n, 1);
    serial[n] = info(*env).serial;
    spfdb_env_close(*env);
    for (unsigned i = 0; i < n; i++)
        times[i] = 100 * (int64_t)(i + 1);
    stamp(dir, 1, times, n);
    assert_int_equal(spfdb_env_open(dir, env), 0);
    s = log_seqs(*env);
    assert_int_equal(s.n, n);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(s.seq[i], i + 1);
        assert_int_equal(s.time[i], 100 * (int64_t)(i + 1));
        serial[i] = s.before[i];
    }
}

/* A record stamped exactly BEFORE is kept, with everything after it; the
 * records before it are dropped. */
static void test_boundaries(void **state)
{
    char dir[256];
    spfdb_env *env;
    uint32_t serial[6];
    struct spfdb_log_pruned p;
    struct seqs s;
    (void)state;

    five(dir, &env, 5, serial);
    p = prune(env, 300);
    assert_int_equal(p.dropped, 2);
    assert_int_equal(p.kept_seq, 3);
    assert_int_equal(p.kept_time, 300);
    s = log_seqs(env);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seq[0], 3);
    assert_int_equal(s.seq[2], 5);
    /* one past a stamp drops that record too */
    p = prune(env, 301);
    assert_int_equal(p.dropped, 1);
    assert_int_equal(p.kept_seq, 4);
    assert_int_equal(p.kept_time, 400);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* Dropping nothing commits nothing: no transaction, no xfr_gen. */
static void test_nothing_dropped(void **state)
{
    char dir[256];
    spfdb_env *env;
    uint32_t serial[4];
    struct spfdb_log_pruned p;
    struct spfdb_info i0, i1;
    uint64_t id;
    (void)state;

    five(dir, &env, 3, serial);
    i0 = info(env);
    id = last_txnid(env);
    p = prune(env, 100);
    assert_int_equal(p.dropped, 0);
    assert_int_equal(p.kept_seq, 1);
    assert_int_equal(p.kept_time, 100);
    p = prune(env, INT64_MIN);
    assert_int_equal(p.dropped, 0);
    i1 = info(env);
    assert_int_equal(last_txnid(env), id);
    assert_int_equal(i1.serial, i0.serial);
    assert_int_equal(i1.meta_gen, i0.meta_gen);
    assert_int_equal(i1.xfr_gen, i0.xfr_gen);
    assert_int_equal(i1.ixfr_floor, i0.ixfr_floor);
    assert_int_equal(log_seqs(env).n, 3);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A new database has an empty log: nothing to drop, nothing kept. */
static void test_empty_log(void **state)
{
    char dir[256];
    spfdb_env *env;
    struct spfdb_log_pruned p;
    uint64_t id;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(log_seqs(env).n, 0);
    id = last_txnid(env);
    p = prune(env, INT64_MAX);
    assert_int_equal(p.dropped, 0);
    assert_int_equal(p.kept_seq, 0);
    assert_int_equal(last_txnid(env), id);
    assert_int_equal(info(env).ixfr_floor, 1);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* Everything dropped: the log is empty, the floor is past its last
 * record, and the next commit's record comes after every dropped one (an
 * IXFR can start from it: the seqs never go back below the floor). */
static void test_everything(void **state)
{
    char dir[256];
    spfdb_env *env;
    uint32_t serial[5], now;
    struct spfdb_log_pruned p;
    struct seqs s;
    uint64_t seq;
    (void)state;

    five(dir, &env, 4, serial);
    p = prune(env, INT64_MAX);
    assert_int_equal(p.dropped, 4);
    assert_int_equal(p.kept_seq, 0);
    assert_int_equal(log_seqs(env).n, 0);
    assert_int_equal(info(env).ixfr_floor, 5);
    for (int i = 0; i <= 4; i++)
        assert_int_equal(find(env, serial[i], &seq), SPFDB_ENOTFOUND);
    now = info(env).serial;
    assert_int_equal(now, serial[4]);
    commits(env, 0x0c000000u, 1, 1);
    s = log_seqs(env);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.seq[0], 5);
    assert_int_equal(s.before[0], now);
    assert_int_equal(find(env, now, &seq), 0);
    assert_int_equal(seq, 5);
    assert_int_equal(find(env, serial[3], &seq), SPFDB_ENOTFOUND);
    /* and again, once more after a second prune of everything */
    p = prune(env, INT64_MAX);
    assert_int_equal(p.dropped, 1);
    commits(env, 0x0d000000u, 1, 1);
    assert_int_equal(log_seqs(env).seq[0], 6);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* The floor moves past the dropped records: the serials they started from
 * are not found (an IXFR falls back to AXFR), every kept one still is. */
static void test_floor_and_find(void **state)
{
    char dir[256];
    spfdb_env *env;
    uint32_t serial[7];
    uint64_t seq;
    (void)state;

    five(dir, &env, 6, serial);
    assert_int_equal(info(env).ixfr_floor, 1);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(find(env, serial[i], &seq), 0);
        assert_int_equal(seq, (uint64_t)i + 1);
    }
    assert_int_equal(prune(env, 250).dropped, 2);
    assert_int_equal(info(env).ixfr_floor, 3);
    assert_int_equal(find(env, serial[0], &seq), SPFDB_ENOTFOUND);
    assert_int_equal(find(env, serial[1], &seq), SPFDB_ENOTFOUND);
    assert_int_equal(find(env, serial[0] - 1, &seq), SPFDB_ENOTFOUND);
    for (int i = 2; i < 6; i++) {
        assert_int_equal(find(env, serial[i], &seq), 0);
        assert_int_equal(seq, (uint64_t)i + 1);
    }
    assert_int_equal(find(env, serial[6], &seq), SPFDB_ENOTFOUND); /* current */
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A prune is quiet: serial, meta_gen and the last change's time stay, no
 * record is written; xfr_gen and ixfr_floor change. */
static void test_quiet(void **state)
{
    char dir[256];
    spfdb_env *env;
    uint32_t serial[5];
    struct spfdb_info i0, i1;
    uint64_t id;
    (void)state;

    five(dir, &env, 4, serial);
    i0 = info(env);
    id = last_txnid(env);
    assert_int_equal(prune(env, 200).dropped, 1);
    i1 = info(env);
    assert_int_not_equal(last_txnid(env), id);
    assert_int_equal(i1.serial, i0.serial);
    assert_int_equal(i1.meta_gen, i0.meta_gen);
    assert_int_equal(i1.changed, i0.changed);
    assert_int_equal(i1.xfr_gen, i0.xfr_gen + 1);
    assert_int_equal(i1.ixfr_floor, 2);
    assert_int_equal(log_seqs(env).n, 3);
    assert_int_equal(log_seqs(env).seq[2], 4);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* Records stay one run: one stamped earlier after a kept one (the clock
 * stepped back) is kept. */
static void test_clock_back(void **state)
{
    static const int64_t times[] = {100, 300, 200, 400};
    char dir[256];
    spfdb_env *env;
    struct spfdb_log_pruned p;
    struct seqs s;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    commits(env, 0x0b000000u, 4, 1);
    spfdb_env_close(env);
    stamp(dir, 1, times, 4);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    p = prune(env, 250);
    assert_int_equal(p.dropped, 1);
    assert_int_equal(p.kept_seq, 2);
    assert_int_equal(p.kept_time, 300);
    s = log_seqs(env);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.time[1], 200);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* Not a data change: a replica prunes its log. */
static int replica_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_key k = {.name = "k1", .alg = SPFDB_KEY_HMAC_SHA256, .secret_len = 32,
                          .created = 1796620000};
    struct spfdb_primary p = {.zone = "xfr.esp.example", .key = "k1", .n_addr = 1,
                              .addr = {"192.0.2.1"}};
    int rc;

    (void)arg;
    memset(k.secret, 7, k.secret_len);
    rc = spfdb_key_add(t, &k, NULL);
    return rc ? rc : spfdb_primary_set(t, &p, NULL);
}

static void test_replica(void **state)
{
    char dir[256];
    spfdb_env *env;
    uint32_t serial[4];
    struct bulk b = {0x0c000000u, 1, 0, 1};
    struct spfdb_info i0;
    (void)state;

    five(dir, &env, 3, serial);
    assert_int_equal(spfdb_write(env, replica_fn, NULL), 0);
    assert_int_equal(spfdb_write(env, bulk_fn, &b), SPFDB_EREPLICA);
    i0 = info(env);
    assert_int_equal(prune(env, 300).dropped, 2);
    assert_int_equal(info(env).serial, i0.serial);
    assert_int_equal(info(env).ixfr_floor, 3);
    assert_int_equal(log_seqs(env).n, 1);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A read transaction cannot prune; a damaged record stops the prune and
 * nothing is dropped. */
static void test_refusals(void **state)
{
    char dir[256];
    spfdb_env *env;
    uint32_t serial[4];
    struct spfdb_log_pruned p;
    struct prune_job j = {.before = INT64_MAX};
    spfdb_txn *t;
    MDB_env *mdb;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t k[8] = {0, 0, 0, 0, 0, 0, 0, 2}, bad[4] = {9, 9, 9, 9};
    MDB_val key = {8, k}, v = {sizeof bad, bad};
    (void)state;

    five(dir, &env, 3, serial);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_prune(t, INT64_MAX, &p), SPFDB_EINVAL);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    assert_int_equal(mdb_env_create(&mdb), 0);
    assert_int_equal(mdb_env_set_maxdbs(mdb, 16), 0);
    assert_int_equal(mdb_env_open(mdb, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(mdb, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &key, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(mdb);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, prune_fn, &j), SPFDB_EFORMAT);
    assert_int_equal(info(env).ixfr_floor, 1);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned env_num(const char *name, unsigned dflt)
{
    const char *s = getenv(name);

    return s && *s ? (unsigned)strtoul(s, NULL, 10) : dflt;
}

/* A long history: COMMITS x ADDS entry changes; all but the last record
 * dropped in one transaction, timed (and bounded far above the measured
 * time, so a slow machine or ASan passes and a quadratic walk does not). */
static void test_large(void **state)
{
    unsigned n = env_num("SPFDB_PRUNE_COMMITS", 100), adds = env_num("SPFDB_PRUNE_ADDS", 1000);
    char dir[256], path[300];
    spfdb_env *env;
    int64_t *times = calloc(n, sizeof *times);
    struct spfdb_log_pruned p;
    struct stat st0, st1;
    uint32_t serial;
    uint64_t seq;
    double t0, t1, t2;
    (void)state;

    assert_non_null(times);
    assert_true(n >= 2);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    t0 = now_s();
    commits(env, 0x0b000000u, n, adds);
    t1 = now_s();
    spfdb_env_close(env);
    for (unsigned i = 0; i < n; i++)
        times[i] = 1000 + i;
    stamp(dir, 1, times, n);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(stat(path, &st0), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    t2 = now_s();
    p = prune(env, 1000 + (int64_t)n - 1);
    t2 = now_s() - t2;
    assert_int_equal(stat(path, &st1), 0);
    printf("# %u commits of %u adds (%llu entry changes) written in %.2f s, "
           "data.mdb %lld bytes; prune of %llu records: %.3f s; data.mdb then %lld bytes\n",
           n, adds, (unsigned long long)n * adds, t1 - t0, (long long)st0.st_size,
           (unsigned long long)p.dropped, t2, (long long)st1.st_size);
    assert_int_equal(p.dropped, n - 1);
    assert_int_equal(p.kept_seq, n);
    assert_int_equal(log_seqs(env).n, 1);
    serial = log_seqs(env).before[0];
    assert_int_equal(find(env, serial, &seq), 0);
    assert_int_equal(seq, n);
    assert_int_equal(find(env, serial - 1, &seq), SPFDB_ENOTFOUND);
    assert_true(t2 < 30.0);
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(times);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_nothing_dropped),
        cmocka_unit_test(test_empty_log),
        cmocka_unit_test(test_everything),
        cmocka_unit_test(test_floor_and_find),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_clock_back),
        cmocka_unit_test(test_replica),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_large),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
