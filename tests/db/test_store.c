/* The store: opening, allocations, zones, the serial, map growth and a
 * second process (db/spfdb.h). */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h> /* only to forge foreign and future databases */

#include "spfdb.h"
#include "tmpdb.h"

static struct spfdb_prefix pfx(const char *s)
{
    struct spfdb_prefix p;

    if (spfdb_prefix_parse(s, strlen(s), &p, NULL, NULL, 0) != 0)
        fail_msg("bad test prefix %s", s);
    return p;
}

static int covers(spfdb_env *env, uint32_t id, const char *ip)
{
    struct spfdb_prefix p = pfx(ip);
    spfdb_txn *t;
    int rc;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    rc = spfdb_covers(t, id, p.family, p.addr);
    spfdb_txn_close(t);
    return rc;
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

static uint64_t txn_id(spfdb_env *env)
{
    spfdb_txn *t;
    uint64_t id;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    id = spfdb_txn_id(t);
    spfdb_txn_close(t);
    return id;
}

/* Put KEY=VAL in DIR's LMDB, in named database DB (NULL: the main one). */
static void raw_put(const char *dir, const char *db, const char *key, const void *val, size_t n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key}, v = {n, (void *)val};

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_open(void **state)
{
    char dir[256], path[300];
    spfdb_env *env;
    struct spfdb_alloc a;
    spfdb_txn *t;
    struct stat st;
    FILE *f;
    uint8_t meta[28] = {0, 0, 0, 99};
    (void)state;

    /* A missing directory is never created. */
    assert_int_equal(tmpdb_make(dir), 0);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(spfdb_env_open(path, &env), SPFDB_ENODIR);
    assert_int_equal(stat(path, &st), -1);

    /* A new database holds "default" (id 1); a second open finds it. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(spfdb_env_open(dir, &env), 0);
        assert_int_equal(spfdb_txn_read(env, &t), 0);
        assert_int_equal(spfdb_alloc_get(t, "default", &a), 0);
        assert_int_equal(a.id, 1);
        assert_true(spfdb_txn_id(t) > 0);
        spfdb_txn_close(t);
        assert_int_equal(spfdb_env_reader_check(env), 0);
        spfdb_env_close(env);
    }
    assert_non_null(spfdb_lmdb_version());

    /* A file is not a directory. */
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(spfdb_env_open(path, &env), SPFDB_ENODIR);

    /* A database of a newer format. */
    raw_put(dir, "meta", "spfdb", meta, sizeof meta);
    assert_int_equal(spfdb_env_open(dir, &env), SPFDB_EFORMAT);
    tmpdb_remove(dir);

    /* Some other program's LMDB. */
    assert_int_equal(tmpdb_make(dir), 0);
    raw_put(dir, NULL, "hello", "world", 5);
    assert_int_equal(spfdb_env_open(dir, &env), SPFDB_EFORMAT);
    tmpdb_remove(dir);

    /* Not LMDB at all. */
    assert_int_equal(tmpdb_make(dir), 0);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputc('x', f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(spfdb_env_open(dir, &env), SPFDB_EFORMAT);
    tmpdb_remove(dir);

    /* Permissions (root reads everything, so only as another user). */
    assert_int_equal(tmpdb_make(dir), 0);
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0500), 0);
        assert_int_equal(spfdb_env_open(dir, &env), SPFDB_EACCES);
        assert_int_equal(chmod(dir, 0700), 0);
    } else {
        print_message("note: running as root: SPFDB_EACCES not exercised\n");
    }
    tmpdb_remove(dir);

    for (int e = 0; e >= -11; e--)
        assert_string_not_equal(spfdb_strerror(e), "unknown error");
    assert_string_equal(spfdb_strerror(-99), "unknown error");
}

/* ---- allocations and zones -------------------------------------------- */

struct crud {
    int step;
    uint32_t id;
};

static struct spfdb_zone zone(const char *name, uint32_t alloc_id)
{
    struct spfdb_zone z;

    memset(&z, 0, sizeof z);
    snprintf(z.name, sizeof z.name, "%s", name);
    z.alloc_id = alloc_id;
    z.ttl = 300;
    z.neg_ttl = 60;
    z.n_ns = 2;
    strcpy(z.ns[0], "ns1.example.net");
    strcpy(z.ns[1], "ns2.example.net"); /* outside every zone served (SPEC §2) */
    return z;
}

static int names_fn(const struct spfdb_alloc *a, void *arg)
{
    char *s = arg;

    strcat(s, a->name);
    strcat(s, " ");
    return 0;
}

static int stop_fn(const struct spfdb_alloc *a, void *arg)
{
    (void)a;
    (void)arg;
    return 42;
}

static int crud_fn(spfdb_txn *t, void *arg)
{
    struct crud *c = arg;
    struct spfdb_prefix p = pfx("198.51.100.0/24"), q = pfx("2001:db8::/32");
    struct spfdb_zone z;

    switch (c->step) {
    case 0:
        assert_int_equal(spfdb_alloc_add(t, "acme", &c->id), 0);
        assert_int_equal(c->id, 2);
        assert_int_equal(spfdb_alloc_add(t, "zeta", NULL), 0);
        assert_int_equal(spfdb_alloc_add(t, "acme", NULL), SPFDB_EEXIST);
        assert_int_equal(spfdb_alloc_add(t, "Acme", NULL), SPFDB_EINVAL);
        assert_int_equal(spfdb_alloc_add(t, "a_b", NULL), SPFDB_EINVAL);
        assert_int_equal(spfdb_entry_add(t, c->id, &p), 0);
        assert_int_equal(spfdb_entry_add(t, c->id, &q), 0);
        assert_int_equal(spfdb_entry_add(t, 1, &p), 0);
        assert_int_equal(spfdb_entry_add(t, 99, &p), SPFDB_ENOTFOUND);
        p.len = 16; /* host bits set */
        assert_int_equal(spfdb_entry_add(t, 1, &p), SPFDB_EINVAL);
        z = zone("spf.example.com", c->id);
        assert_int_equal(spfdb_zone_put(t, &z), 0);
        z = zone("example.org", 0);
        assert_int_equal(spfdb_zone_put(t, &z), 0);
        z = zone("bad.example", 77);
        assert_int_equal(spfdb_zone_put(t, &z), SPFDB_ENOTFOUND);
        z = zone("Upper.example", 0);
        assert_int_equal(spfdb_zone_put(t, &z), SPFDB_EINVAL);
        z = zone("no-ns.example", 0);
        z.n_ns = 0;
        assert_int_equal(spfdb_zone_put(t, &z), SPFDB_EINVAL);
        return 0;
    case 1:
        assert_int_equal(spfdb_alloc_del(t, "default", 1), SPFDB_EINVAL);
        assert_int_equal(spfdb_alloc_del(t, "nope", 1), SPFDB_ENOTFOUND);
        assert_int_equal(spfdb_alloc_del(t, "acme", 1), SPFDB_EBUSY);
        assert_int_equal(spfdb_zone_del(t, "spf.example.com"), 0);
        assert_int_equal(spfdb_zone_del(t, "spf.example.com"), SPFDB_ENOTFOUND);
        assert_int_equal(spfdb_alloc_del(t, "acme", 0), SPFDB_ENOTEMPTY);
        assert_int_equal(spfdb_alloc_del(t, "acme", 1), 0);
        assert_int_equal(spfdb_alloc_del(t, "zeta", 0), 0);
        return 0;
    default:
        /* Ids are never reused. */
        assert_int_equal(spfdb_alloc_add(t, "acme", &c->id), 0);
        assert_int_equal(c->id, 4);
        return 0;
    }
}

static int zone_names_fn(const struct spfdb_zone *z, void *arg)
{
    char *s = arg;

    strcat(s, z->name);
    strcat(s, "=");
    strcat(s, z->alloc);
    strcat(s, " ");
    return 0;
}

static int count_fn(const struct spfdb_prefix *p, void *arg)
{
    (void)p;
    ++*(int *)arg;
    return 0;
}

static void test_crud(void **state)
{
    char dir[256], names[256] = "";
    spfdb_env *env;
    spfdb_txn *t;
    struct crud c = {0, 0};
    struct spfdb_alloc a;
    struct spfdb_zone z;
    struct spfdb_prefix p = pfx("198.51.100.0/24");
    int n = 0;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, crud_fn, &c), 0);

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_foreach(t, names_fn, names), 0);
    assert_string_equal(names, "acme default zeta ");
    assert_int_equal(spfdb_alloc_foreach(t, stop_fn, NULL), 42);
    assert_int_equal(spfdb_alloc_get(t, "acme", &a), 0);
    assert_int_equal(a.id, 2);
    assert_int_equal(a.n4, 1);
    assert_int_equal(a.n6, 1);
    assert_int_equal(spfdb_alloc_get_id(t, 3, &a), 0);
    assert_string_equal(a.name, "zeta");
    assert_int_equal(spfdb_alloc_get(t, "nope", &a), SPFDB_ENOTFOUND);
    assert_int_equal(spfdb_alloc_get(t, "NOPE", &a), SPFDB_EINVAL);
    assert_int_equal(spfdb_zone_get(t, "spf.example.com", &z), 0);
    assert_int_equal(z.alloc_id, 2);
    assert_string_equal(z.alloc, "acme");
    assert_int_equal(z.n_ns, 2);
    assert_string_equal(z.ns[1], "ns2.example.net");
    assert_string_equal(z.hostmaster, "");
    assert_int_equal(z.ttl, 300);
    assert_int_equal(z.neg_ttl, 60);
    assert_int_equal(spfdb_zone_get(t, "nope.example", &z), SPFDB_ENOTFOUND);
    names[0] = '\0';
    assert_int_equal(spfdb_zone_foreach(t, zone_names_fn, names), 0);
    assert_string_equal(names, "example.org= spf.example.com=acme ");
    /* A read transaction writes nothing. */
    assert_int_equal(spfdb_alloc_add(t, "x", NULL), SPFDB_EINVAL);
    assert_int_equal(spfdb_entry_add(t, 1, &p), SPFDB_EINVAL);
    assert_int_equal(spfdb_entry_del(t, 1, &p), SPFDB_EINVAL);
    assert_int_equal(spfdb_zone_put(t, &z), SPFDB_EINVAL);
    assert_int_equal(spfdb_zone_del(t, "example.org"), SPFDB_EINVAL);
    assert_int_equal(spfdb_alloc_del(t, "acme", 1), SPFDB_EINVAL);
    spfdb_txn_close(t);

    c.step = 1;
    assert_int_equal(spfdb_write(env, crud_fn, &c), 0);
    assert_int_equal(covers(env, 2, "198.51.100.1"), 0);
    assert_int_equal(covers(env, 2, "2001:db8::1"), 0);
    assert_int_equal(covers(env, 1, "198.51.100.1"), 1);
    c.step = 2;
    assert_int_equal(spfdb_write(env, crud_fn, &c), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_entry_foreach(t, 4, count_fn, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(spfdb_entry_foreach(t, 1, count_fn, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(spfdb_alloc_get_id(t, 2, &a), SPFDB_ENOTFOUND);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* ---- the serial ------------------------------------------------------- */

struct change {
    const char *add;     /* an entry to add (EEXIST ignored) */
    int zone_ttl;        /* nonzero: put zone example.org with this TTL */
    int ret;             /* what the callback returns */
};

static int change_fn(spfdb_txn *t, void *arg)
{
    const struct change *c = arg;

    if (c->add) {
        struct spfdb_prefix p = pfx(c->add);
        int rc = spfdb_entry_add(t, 1, &p);
        assert_true(rc == 0 || rc == SPFDB_EEXIST);
    }
    if (c->zone_ttl) {
        struct spfdb_zone z = zone("example.org", 0);
        z.ttl = (uint32_t)c->zone_ttl;
        assert_int_equal(spfdb_zone_put(t, &z), 0);
    }
    return c->ret;
}

/* spfdb_write_ex says whether it committed: exactly when the last
 * commit's id moved (a change), never for an abort or no change. */
static void change(spfdb_env *env, const char *add, int ttl, int ret)
{
    struct change c = {add, ttl, ret};
    uint64_t id = txn_id(env);
    int committed = -1;

    assert_int_equal(spfdb_write_ex(env, change_fn, &c, &committed), ret);
    assert_int_equal(committed, txn_id(env) != id);
}

static void test_serial(void **state)
{
    char dir[256];
    spfdb_env *env;
    struct spfdb_info a, b;
    uint64_t id;
    uint8_t meta[28];
    uint32_t future;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    a = info(env);
    assert_true(a.serial >= (uint32_t)time(NULL) - 5);

    /* Each change: larger serial; entry changes keep meta_gen. */
    for (int i = 0; i < 5; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "192.0.2.%d", i);
        change(env, ip, 0, 0);
        b = info(env);
        assert_true(b.serial > a.serial);
        assert_true(b.serial <= (uint32_t)time(NULL) + 5);
        assert_true(b.changed >= (int64_t)time(NULL) - 5);
        assert_int_equal(b.meta_gen, a.meta_gen);
        a = b;
    }

    /* Nothing changed: nothing committed. */
    id = txn_id(env);
    change(env, "192.0.2.0", 0, 0);
    b = info(env);
    assert_int_equal(b.serial, a.serial);
    assert_int_equal(txn_id(env), id);
    /* An aborting callback: its value, nothing committed. */
    change(env, "203.0.113.0/24", 0, 17);
    assert_int_equal(txn_id(env), id);
    assert_int_equal(covers(env, 1, "203.0.113.1"), 0);

    /* Zones bump meta_gen; the same record again changes nothing. */
    change(env, NULL, 300, 0);
    b = info(env);
    assert_int_equal(b.meta_gen, a.meta_gen + 1);
    assert_true(b.serial > a.serial);
    a = b;
    id = txn_id(env);
    change(env, NULL, 300, 0);
    assert_int_equal(txn_id(env), id);
    change(env, NULL, 600, 0);
    b = info(env);
    assert_int_equal(b.meta_gen, a.meta_gen + 1);

    /* A serial ahead of the clock still increases by one. */
    spfdb_env_close(env);
    future = (uint32_t)time(NULL) + 100000;
    meta[0] = 0, meta[1] = 0, meta[2] = 0, meta[3] = 2; /* format */
    meta[4] = (uint8_t)(future >> 24), meta[5] = (uint8_t)(future >> 16);
    meta[6] = (uint8_t)(future >> 8), meta[7] = (uint8_t)future;
    memset(meta + 8, 0, 20);
    meta[15] = 5;  /* gen */
    meta[27] = 2;  /* next id */
    raw_put(dir, "meta", "spfdb", meta, sizeof meta);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    change(env, "192.0.2.200", 0, 0);
    b = info(env);
    assert_int_equal(b.serial, future + 1);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* ---- map growth and a second process ------------------------------------ */

static uint64_t n4(spfdb_env *env)
{
    struct spfdb_alloc a;
    spfdb_txn *t;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_get_id(t, 1, &a), 0);
    spfdb_txn_close(t);
    return a.n4;
}

static void test_map_growth(void **state)
{
    char dir[256], path[300];
    spfdb_env *env;
    struct bulk b = {0x0b000000, 30000, 0, 7};
    struct stat st;
    (void)state;

    assert_int_equal(setenv("SPFDB_MAPSIZE", "131072", 1), 0);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    /* 30,000 entries need well over 1 MiB: the map doubles several times. */
    assert_int_equal(spfdb_write(env, bulk_fn, &b), 0);
    assert_true(b.calls >= 3);
    assert_int_equal(n4(env), 30000);
    for (int i = 1; i <= 4; i++) {
        struct bulk more = {0x0c000000u * (uint32_t)i, 8000, 0, 7};
        assert_int_equal(spfdb_write(env, bulk_fn, &more), 0);
    }
    assert_int_equal(n4(env), 62000);
    spfdb_env_close(env);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 131072 * 8);

    /* Reopened with a map smaller than the data: never smaller than the file. */
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(covers(env, 1, "11.0.0.7"), 1);
    assert_int_equal(covers(env, 1, "11.0.0.8"), 0);
    assert_int_equal(n4(env), 62000);
    spfdb_env_close(env);
    assert_int_equal(unsetenv("SPFDB_MAPSIZE"), 0);
    tmpdb_remove(dir);
}

/* A worker thread, as spfdbd's: per batch of lookups a renew and a reset,
 * or (HOLD) a refresh, the handle held live across the short waits
 * between batches and reset after an idle spell. */
struct reader {
    pthread_t tid;
    spfdb_env *env;
    atomic_int *stop;
    int hold;
    long batches;
    int err;
};

static void *reader_run(void *arg)
{
    struct reader *r = arg;
    spfdb_txn *t;
    uint8_t a[4] = {13, 0, 0, 0};
    const struct timespec gap = {0, 5 * 1000 * 1000}, idle = {0, 60 * 1000 * 1000};

    r->err = spfdb_txn_read(r->env, &t);
    if (r->err)
        return NULL;
    spfdb_txn_reset(t);
    while (!atomic_load(r->stop) && r->err == 0) {
        r->err = r->hold ? spfdb_txn_refresh(t) : spfdb_txn_renew(t);
        for (int i = 0; i < 64 && r->err == 0; i++) {
            a[2] = (uint8_t)(i * 4);
            if (spfdb_covers(t, 1, 4, a) < 0)
                r->err = -100;
        }
        r->batches++;
        if (!r->hold) {
            spfdb_txn_reset(t);
        } else if (r->batches % 8 == 0) {
            spfdb_txn_reset(t);
            nanosleep(&idle, NULL);
        } else {
            nanosleep(&gap, NULL); /* live across the wait: bounded */
        }
    }
    spfdb_txn_close(t);
    return NULL;
}

/* Another process adds entries and grows the map while this one reads with
 * long-lived handles (HOLD: kept live between batches, as spfdbd does). */
static void two_processes(int hold)
{
    struct reader readers[2];
    atomic_int stop = 0;
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    struct spfdb_prefix mark = pfx("14.0.0.0"), first = pfx("13.0.0.0");
    pid_t pid;
    int status = -1, renewals = 0, seen_first = 0;
    time_t until = time(NULL) + 60;

    assert_int_equal(setenv("SPFDB_MAPSIZE", "131072", 1), 0);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_covers(t, 1, 4, mark.addr), 0);
    spfdb_txn_reset(t);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(tmpdb_child_writer(dir));
    /* Two more threads of this process read too: the remap must wait for
     * them. */
    for (int i = 0; i < 2; i++) {
        readers[i] = (struct reader){.env = env, .stop = &stop, .hold = hold};
        assert_int_equal(pthread_create(&readers[i].tid, NULL, reader_run, &readers[i]), 0);
    }
    /* Read while the child writes, until its marker is visible. */
    for (;;) {
        int rc;

        assert_int_equal(hold ? spfdb_txn_refresh(t) : spfdb_txn_renew(t), 0);
        renewals++;
        rc = spfdb_covers(t, 1, 4, first.addr);
        assert_true(rc == 0 || rc == 1);
        assert_true(rc >= seen_first); /* once seen, never lost */
        seen_first = rc;
        rc = spfdb_covers(t, 1, 4, mark.addr);
        if (!hold)
            spfdb_txn_reset(t);
        if (rc == 1)
            break;
        assert_int_equal(rc, 0);
        if (time(NULL) > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the child's commits never became visible");
        }
        usleep(1000);
    }
    spfdb_txn_reset(t);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(readers[i].tid, NULL), 0);
        assert_int_equal(readers[i].err, 0);
        assert_true(readers[i].batches > 0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(seen_first);
    assert_int_equal(n4(env), 40001);
    print_message("renewals while the writer ran: %d, threads %ld and %ld\n", renewals,
                  readers[0].batches, readers[1].batches);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    assert_int_equal(unsetenv("SPFDB_MAPSIZE"), 0);
    tmpdb_remove(dir);
}

static void test_two_processes(void **state)
{
    (void)state;
    two_processes(0);
}

static void test_two_processes_holding(void **state)
{
    (void)state;
    two_processes(1);
}

/* A writer killed at a random moment leaves the last commit: every batch
 * lands whole or not at all, and the next writer is not blocked by the
 * dead one's lock. */
static void test_kill9(void **state)
{
    char dir[256];
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    for (int round = 0; round < 4; round++) {
        spfdb_env *env;
        spfdb_txn *t;
        struct spfdb_alloc a;
        struct bulk b = {0x0f000000u + (uint32_t)round * 0x00100000u, 1, 0, 7};
        uint64_t before, after;
        int n = 0, status;
        pid_t pid;

        assert_int_equal(spfdb_env_open(dir, &env), 0);
        before = n4(env);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            spfdb_env *child;
            int rc = spfdb_env_open(dir, &child);
            for (uint32_t i = 0; rc == 0 && i < 100000; i++) {
                struct bulk c = {0x10000000u + (uint32_t)round * 0x01000000u + i * 7000u,
                                 1000, 0, 7};
                rc = spfdb_write(child, bulk_fn, &c);
            }
            _exit(rc == 0 ? 0 : 1);
        }
        /* Once it has committed, kill it somewhere in a later batch. */
        for (int i = 0; i < 20000 && n4(env) == before; i++)
            usleep(1000);
        usleep(1000 + (useconds_t)round * 7000);
        spfdb_env_close(env);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));

        assert_int_equal(spfdb_env_open(dir, &env), 0);
        assert_true(spfdb_env_reader_check(env) >= 0);
        after = n4(env);
        assert_true(after > before);
        assert_int_equal((after - before) % 1000, 0);
        assert_int_equal(spfdb_txn_read(env, &t), 0);
        assert_int_equal(spfdb_entry_foreach(t, 1, count_fn, &n), 0);
        assert_int_equal((uint64_t)n, after);
        assert_int_equal(spfdb_alloc_get_id(t, 1, &a), 0);
        spfdb_txn_close(t);
        assert_int_equal(spfdb_write(env, bulk_fn, &b), 0); /* the lock is free */
        assert_int_equal(n4(env), after + 1);
        spfdb_env_close(env);
    }
    tmpdb_remove(dir);
}

static int add_one(spfdb_txn *t, void *arg)
{
    struct spfdb_prefix p = pfx(arg);

    return spfdb_entry_add(t, 1, &p);
}

/* spfdb_env_open_ro (SPEC §4: spfdbd never writes) and the directory
 * rules every open applies (spfdb.h). */
static void test_open_ro(void **state)
{
    char dir[256], path[300], link_to[300];
    spfdb_env *env, *w;
    spfdb_txn *t;
    struct stat before, after;
    (void)state;

    /* No database yet: never made by a reader. */
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open_ro(dir, &env), SPFDB_ENODB);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(stat(path, &before), -1);
    /* ... nor from an empty data.mdb (a layout's placeholder) */
    fclose(fopen(path, "w"));
    assert_int_equal(spfdb_env_open_ro(dir, &env), SPFDB_ENODB);
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(before.st_size, 0);

    /* A database: read, never written, while a writer commits. */
    assert_int_equal(spfdb_env_open(dir, &w), 0);
    assert_int_equal(spfdb_env_open_ro(dir, &env), 0);
    assert_int_equal(spfdb_write(env, add_one, "192.0.2.1"), SPFDB_EACCES);
    assert_int_equal(spfdb_write(w, add_one, "192.0.2.2"), 0);
    assert_int_equal(covers(env, 1, "192.0.2.2"), 1);
    assert_int_equal(covers(env, 1, "192.0.2.1"), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    spfdb_env_close(w);

    /* A directory its group or others may write: refused, read-only too,
     * and nothing created. */
    for (unsigned i = 0; i < 3; i++) {
        static const mode_t modes[] = {0770, 0707, 01777};
        assert_int_equal(chmod(dir, modes[i]), 0);
        assert_int_equal(spfdb_env_open(dir, &env), SPFDB_EUNSAFE);
        assert_int_equal(spfdb_env_open_ro(dir, &env), SPFDB_EUNSAFE);
    }
    assert_int_equal(chmod(dir, 0700), 0);

    /* A symlink or a second name: refused before LMDB sees it. */
    snprintf(link_to, sizeof link_to, "%s.victim", dir);
    fclose(fopen(link_to, "w"));
    assert_int_equal(stat(link_to, &before), 0);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(link_to, path), 0);
    assert_int_equal(spfdb_env_open(dir, &env), SPFDB_ENOTREG);
    assert_int_equal(spfdb_env_open_ro(dir, &env), SPFDB_ENOTREG);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(link(link_to, path), 0);
    assert_int_equal(spfdb_env_open(dir, &env), SPFDB_ENOTREG);
    assert_int_equal(stat(link_to, &after), 0);
    assert_int_equal(after.st_size, 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(link_to), 0);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_open_ro),
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_serial),
        cmocka_unit_test(test_map_growth),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_two_processes_holding),
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
