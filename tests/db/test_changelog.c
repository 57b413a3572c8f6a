/* The change log, the hot copy and the file modes (db/spfdb.h). */
#include <pwd.h>
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
#include <lmdb.h> /* only to forge a database from before the change log */

#include "spfdb.h"
#include "tmpdb.h"

#define MAX_CHANGES 40000

struct seen {
    int n;                  /* records */
    uint64_t seq[8];
    int64_t time[8];
    char user[8][64], sudo[8][64], command[8][64];
    int nch[8];
    int op[MAX_CHANGES];    /* the last record's changes */
    char alloc[16][64];     /* ... the first 16 allocation names */
    char zone[16][64];
    char detail[16][256];
    char pfx[16][SPFDB_PREFIX_STRLEN];
};

static int collect(struct spfdb_log_rec *r, void *arg)
{
    struct seen *s = arg;
    struct spfdb_log_change ch;
    int k = s->n++, rc, i = 0;

    assert_true(k < 8);
    s->seq[k] = r->seq;
    s->time[k] = r->time;
    snprintf(s->user[k], 64, "%s", r->user);
    snprintf(s->sudo[k], 64, "%s", r->sudo_user);
    snprintf(s->command[k], 64, "%s", r->command);
    while ((rc = spfdb_log_next(r, &ch)) == 1) {
        assert_true(i < MAX_CHANGES);
        s->op[i] = ch.op;
        if (i < 16) {
            snprintf(s->alloc[i], 64, "%s", ch.alloc);
            snprintf(s->zone[i], 64, "%s", ch.zone);
            snprintf(s->detail[i], 256, "%s", ch.detail);
            s->pfx[i][0] = '\0';
            if (ch.op == SPFDB_LOG_ADD || ch.op == SPFDB_LOG_DEL)
                spfdb_prefix_format(&ch.p, s->pfx[i], SPFDB_PREFIX_STRLEN);
        }
        i++;
    }
    assert_int_equal(rc, 0);
    s->nch[k] = i;
    return 0;
}

static struct seen *read_log(spfdb_env *env, uint64_t from, int64_t since)
{
    struct seen *s = calloc(1, sizeof *s);
    spfdb_txn *t;

    assert_non_null(s);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, from, since, collect, s), 0);
    spfdb_txn_close(t);
    return s;
}

static struct spfdb_prefix pfx(const char *s)
{
    struct spfdb_prefix p;

    if (spfdb_prefix_parse(s, strlen(s), &p, NULL, NULL, 0) != 0)
        fail_msg("bad test prefix %s", s);
    return p;
}

/* A write of TEXT: "+P" adds P to allocation 1, "-P" removes it; a
 * trailing "!" aborts after the changes.  EEXIST/ENOTFOUND are ignored. */
static int edit_fn(spfdb_txn *t, void *arg)
{
    char buf[256], *save = NULL;

    snprintf(buf, sizeof buf, "%s", (const char *)arg);
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        struct spfdb_prefix p;
        int rc;

        if (*w == '!')
            return 1;
        p = pfx(w + 1);
        rc = *w == '+' ? spfdb_entry_add(t, 1, &p) : spfdb_entry_del(t, 1, &p);
        if (rc && rc != SPFDB_EEXIST && rc != SPFDB_ENOTFOUND)
            return rc;
    }
    return 0;
}

static void test_records(void **state)
{
    char dir[256];
    spfdb_env *env;
    struct seen *s;
    time_t before = time(NULL), after;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_env_set_origin(env, "alice", "spfdb-ctl add x"), 0);
    assert_int_equal(unsetenv("SUDO_USER"), 0);
    assert_int_equal(
        spfdb_write(env, edit_fn, "+198.51.100.0/24 +2001:db8::/32 -198.51.100.0/24"), 0);
    /* changing nothing, or aborting, writes no record */
    assert_int_equal(spfdb_write(env, edit_fn, "+2001:db8::/32 -192.0.2.0/24"), 0);
    assert_int_equal(spfdb_write(env, edit_fn, "+192.0.2.0/24 !"), 1);
    assert_int_equal(setenv("SUDO_USER", "bob", 1), 0);
    assert_int_equal(spfdb_env_set_origin(env, NULL, NULL), 0);
    assert_int_equal(spfdb_write(env, edit_fn, "+::ffff:192.0.2.0/120"), 0);
    assert_int_equal(unsetenv("SUDO_USER"), 0);
    after = time(NULL);

    s = read_log(env, 0, 0);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->seq[0], 1);
    assert_int_equal(s->seq[1], 2);
    assert_true(s->time[0] >= before && s->time[1] <= after);
    assert_string_equal(s->user[0], "alice");
    assert_string_equal(s->sudo[0], "");
    assert_string_equal(s->command[0], "spfdb-ctl add x");
    assert_int_equal(s->nch[0], 3);
    assert_string_equal(s->user[1], getpwuid(getuid())->pw_name);
    assert_string_equal(s->sudo[1], "bob");
    assert_string_equal(s->command[1], "");
    assert_int_equal(s->nch[1], 1);
    assert_int_equal(s->op[0], SPFDB_LOG_ADD);
    assert_string_equal(s->alloc[0], "default");
    assert_string_equal(s->pfx[0], "192.0.2.0/24");
    free(s);

    s = read_log(env, 0, (int64_t)after + 1);
    assert_int_equal(s->n, 0);
    free(s);
    /* resuming a chunked walk: from a seq on, and past the last */
    s = read_log(env, 2, 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->seq[0], 2);
    assert_string_equal(s->sudo[0], "bob");
    free(s);
    s = read_log(env, 3, 0);
    assert_int_equal(s->n, 0);
    free(s);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

static int meta_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_zone z = {.name = "spf.cust.example", .ttl = 300, .neg_ttl = 60, .n_ns = 2,
                           .ns = {"ns1.p.example", "ns2.p.example"}};
    struct spfdb_prefix a = pfx("203.0.113.0/24"), b = pfx("2001:db8::/48");
    uint32_t id;
    int rc;

    (void)arg;
    if ((rc = spfdb_alloc_add(t, "acme", &id)) != 0 || (rc = spfdb_entry_add(t, id, &a)) != 0 ||
        (rc = spfdb_entry_add(t, id, &b)) != 0)
        return rc;
    z.alloc_id = id;
    if ((rc = spfdb_zone_put(t, &z)) != 0 || (rc = spfdb_zone_put(t, &z)) != 0)
        return rc; /* the second put changes nothing: not logged */
    z.ttl = 600;
    if ((rc = spfdb_zone_put(t, &z)) != 0 || (rc = spfdb_zone_del(t, z.name)) != 0)
        return rc;
    return spfdb_alloc_del(t, "acme", 1);
}

static void test_allocations_and_zones(void **state)
{
    static const int ops[] = {SPFDB_LOG_ALLOC_ADD, SPFDB_LOG_ADD, SPFDB_LOG_ADD,
                              SPFDB_LOG_ZONE_ADD, SPFDB_LOG_ZONE_SET, SPFDB_LOG_ZONE_DEL,
                              SPFDB_LOG_DEL, SPFDB_LOG_DEL, SPFDB_LOG_ALLOC_DEL};
    char dir[256];
    spfdb_env *env;
    struct seen *s;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, meta_fn, NULL), 0);
    s = read_log(env, 0, 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->nch[0], 9);
    for (int i = 0; i < 9; i++)
        assert_int_equal(s->op[i], ops[i]);
    assert_string_equal(s->alloc[0], "acme");
    assert_string_equal(s->pfx[2], "2001:db8::/48");
    assert_string_equal(s->zone[3], "spf.cust.example");
    assert_string_equal(s->alloc[3], "acme");
    assert_non_null(strstr(s->detail[3], "ttl=300 "));
    assert_non_null(strstr(s->detail[4], "ttl=600 "));
    assert_non_null(strstr(s->detail[4], "ns=ns1.p.example,ns2.p.example"));
    assert_string_equal(s->detail[5], "");
    assert_string_equal(s->alloc[6], "acme"); /* alloc_del --force's entries */
    assert_string_equal(s->pfx[6], "203.0.113.0/24");
    assert_string_equal(s->pfx[7], "2001:db8::/48");
    assert_string_equal(s->alloc[8], "acme");
    free(s);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A write rerun after the map grew logs its changes once. */
static void test_map_growth_rerun(void **state)
{
    char dir[256];
    spfdb_env *env;
    struct bulk b = {0x0b000000, 30000, 0, 1};
    struct seen *s;
    (void)state;

    assert_int_equal(setenv("SPFDB_MAPSIZE", "131072", 1), 0);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, bulk_fn, &b), 0);
    assert_true(b.calls >= 3);
    s = read_log(env, 0, 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->nch[0], 30000);
    assert_string_equal(s->pfx[0], "11.0.0.0/32");
    free(s);
    spfdb_env_close(env);
    assert_int_equal(unsetenv("SPFDB_MAPSIZE"), 0);
    tmpdb_remove(dir);
}

/* A database made before the change log gets one on its next open. */
static void test_upgrade(void **state)
{
    char dir[256];
    spfdb_env *env;
    MDB_env *mdb;
    MDB_txn *txn;
    MDB_dbi dbi;
    struct seen *s;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, edit_fn, "+192.0.2.0/24"), 0);
    spfdb_env_close(env);
    assert_int_equal(mdb_env_create(&mdb), 0);
    assert_int_equal(mdb_env_set_maxdbs(mdb, 16), 0);
    assert_int_equal(mdb_env_open(mdb, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(mdb, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(mdb);

    assert_int_equal(spfdb_env_open(dir, &env), 0);
    s = read_log(env, 0, 0);
    assert_int_equal(s->n, 0);
    free(s);
    assert_int_equal(spfdb_write(env, edit_fn, "-192.0.2.0/24"), 0);
    s = read_log(env, 0, 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->seq[0], 1);
    assert_int_equal(s->op[0], SPFDB_LOG_DEL);
    free(s);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

static int count_fn(const struct spfdb_prefix *p, void *arg)
{
    (void)p;
    ++*(int *)arg;
    return 0;
}

static void test_copy(void **state)
{
    char dir[256], out[256];
    spfdb_env *env, *copy;
    struct bulk b = {0x0b000000, 5000, 0, 1};
    struct seen *s;
    spfdb_txn *t;
    int n = 0;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(tmpdb_make(out), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, bulk_fn, &b), 0);
    assert_int_equal(spfdb_env_copy(env, out), 0);
    assert_int_equal(spfdb_env_copy(env, out), SPFDB_EEXIST);
    assert_int_equal(spfdb_write(env, edit_fn, "+192.0.2.0/24"), 0); /* after the copy */
    spfdb_env_close(env);

    assert_int_equal(spfdb_env_open(out, &copy), 0);
    assert_int_equal(spfdb_txn_read(copy, &t), 0);
    assert_int_equal(spfdb_entry_foreach(t, 1, count_fn, &n), 0);
    spfdb_txn_close(t);
    assert_int_equal(n, 5000);
    s = read_log(copy, 0, 0);
    assert_int_equal(s->n, 1);
    free(s);
    spfdb_env_close(copy);
    tmpdb_remove(out);
    tmpdb_remove(dir);
}

static void test_modes(void **state)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char dir[256], path[300];
    struct stat st;
    spfdb_env *env;
    mode_t old = umask(077);
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    spfdb_env_close(env);
    umask(old);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0660);
    }
    /* existing files keep their mode */
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    spfdb_env_close(env);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    tmpdb_remove(dir);
}

/* A planted symlink (or fifo) for a file is refused, its target unchanged. */
static void test_planted_files(void **state)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char dir[256], path[300], victim[300], buf[16];
    struct stat st;
    spfdb_env *env = NULL;
    FILE *f;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    for (int i = 0; i < 4; i++) {
        f = fopen(victim, "w");
        assert_non_null(f);
        assert_int_equal(fputs("secret", f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        snprintf(path, sizeof path, "%s/%s", dir, files[i & 1]);
        if (i < 2)
            assert_int_equal(symlink(victim, path), 0);
        else
            assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(spfdb_env_open(dir, &env), SPFDB_ENOTREG);
        assert_int_equal(stat(victim, &st), 0);
        assert_int_equal(st.st_size, 6);
        f = fopen(victim, "r");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof buf, f));
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf, "secret");
        assert_int_equal(unlink(path), 0);
        snprintf(path, sizeof path, "%s/%s", dir, files[(i & 1) ^ 1]);
        assert_int_equal(lstat(path, &st), -1); /* nothing created */
    }
    assert_int_equal(unlink(victim), 0);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_allocations_and_zones),
        cmocka_unit_test(test_map_growth_rerun),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_planted_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
