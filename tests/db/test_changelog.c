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

#include "changelog.h" /* log_member: members are logged before any call makes them */
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

/* ---- version 2: serials, zones as stored, members ----------------------- */

struct heads {
    int n;
    uint64_t seq[16];
    unsigned version[16];
    uint32_t before[16], after[16], changes[16];
};

static int collect_heads(struct spfdb_log_rec *r, void *arg)
{
    struct heads *h = arg;

    assert_true(h->n < 16);
    h->seq[h->n] = r->seq;
    h->version[h->n] = r->version;
    h->before[h->n] = r->serial_before;
    h->after[h->n] = r->serial_after;
    h->changes[h->n++] = r->n_changes;
    return 0;
}

static struct heads heads(spfdb_env *env)
{
    struct heads h = {0};
    spfdb_txn *t;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 0, INT64_MIN, collect_heads, &h), 0);
    spfdb_txn_close(t);
    return h;
}

static uint32_t serial_now(spfdb_env *env)
{
    struct spfdb_info i;
    spfdb_txn *t;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_info_get(t, &i), 0);
    spfdb_txn_close(t);
    return i.serial;
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

/* Each record holds the serial before and after its commit, chained, and
 * its number of changes; the search finds each record by its first. */
static void test_serials(void **state)
{
    static const char *const edits[] = {"+192.0.2.0/24", "+198.51.100.0/24 +2001:db8::/32",
                                        "-192.0.2.0/24", "+203.0.113.0/24",
                                        "+10.0.0.0/8 +10.1.0.0/16 -10.1.0.0/16"};
    uint32_t serial[6];
    char dir[256];
    spfdb_env *env;
    struct heads h;
    uint64_t seq;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    serial[0] = serial_now(env);
    assert_int_equal(find(env, serial[0], &seq), SPFDB_ENOTFOUND); /* no record yet */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(spfdb_write(env, edit_fn, (void *)edits[i]), 0);
        serial[i + 1] = serial_now(env);
        assert_true(serial[i + 1] > serial[i]);
    }
    h = heads(env);
    assert_int_equal(h.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(h.version[i], 2);
        assert_int_equal(h.before[i], serial[i]);
        assert_int_equal(h.after[i], serial[i + 1]);
        assert_int_equal(find(env, serial[i], &seq), 0);
        assert_int_equal(seq, i + 1);
    }
    assert_int_equal(h.changes[0], 1);
    assert_int_equal(h.changes[1], 2);
    assert_int_equal(h.changes[4], 3);
    assert_int_equal(find(env, serial[5], &seq), SPFDB_ENOTFOUND); /* current */
    assert_int_equal(find(env, serial[2] + 1, &seq),
                     serial[2] + 1 == serial[3] ? 0 : SPFDB_ENOTFOUND);
    assert_int_equal(find(env, serial[0] - 1, &seq), SPFDB_ENOTFOUND);
    assert_int_equal(find(env, UINT32_MAX, &seq), SPFDB_ENOTFOUND);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A log pruned at its start (records 1-3 removed, as a prune would): the
 * search finds only what is left, over many records. */
static void test_find_after_prune(void **state)
{
    enum { N = 300 };
    uint32_t *serial = calloc(N + 1, sizeof *serial);
    char dir[256], edit[64];
    spfdb_env *env;
    MDB_env *mdb;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint64_t seq;
    (void)state;

    assert_non_null(serial);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    serial[0] = serial_now(env);
    for (int i = 0; i < N; i++) {
        snprintf(edit, sizeof edit, "+10.%d.%d.0/24", i / 256, i % 256);
        assert_int_equal(spfdb_write(env, edit_fn, edit), 0);
        serial[i + 1] = serial_now(env);
    }
    spfdb_env_close(env);
    assert_int_equal(mdb_env_create(&mdb), 0);
    assert_int_equal(mdb_env_set_maxdbs(mdb, 16), 0);
    assert_int_equal(mdb_env_open(mdb, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(mdb, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    for (uint64_t s = 1; s <= 3; s++) {
        uint8_t k[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)s};
        MDB_val key = {8, k};
        assert_int_equal(mdb_del(txn, dbi, &key, NULL), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(mdb);

    assert_int_equal(spfdb_env_open(dir, &env), 0);
    for (int i = 0; i <= N; i++) {
        int rc = find(env, serial[i], &seq);
        if (i < 3 || i == N) {
            assert_int_equal(rc, SPFDB_ENOTFOUND);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(seq, (uint64_t)i + 1);
        }
    }
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(serial);
}

struct zone_changes {
    int n;
    int op[8];
    int old_rc[8], new_rc[8];
    struct spfdb_zone old[8], new[8];
    char alloc[8][64], detail[8][SPFDB_LOG_TEXT_MAX];
};

static int collect_zones(struct spfdb_log_rec *r, void *arg)
{
    struct zone_changes *z = arg;
    struct spfdb_log_change ch;
    int rc;

    while ((rc = spfdb_log_next(r, &ch)) == 1) {
        if (ch.op != SPFDB_LOG_ZONE_ADD && ch.op != SPFDB_LOG_ZONE_SET &&
            ch.op != SPFDB_LOG_ZONE_DEL)
            continue;
        assert_true(z->n < 8);
        z->op[z->n] = ch.op;
        z->old_rc[z->n] = spfdb_log_zone(&ch, SPFDB_LOG_OLD, &z->old[z->n]);
        z->new_rc[z->n] = spfdb_log_zone(&ch, SPFDB_LOG_NEW, &z->new[z->n]);
        snprintf(z->alloc[z->n], 64, "%s", ch.alloc);
        snprintf(z->detail[z->n], SPFDB_LOG_TEXT_MAX, "%s", ch.detail);
        z->n++;
    }
    assert_int_equal(rc, 0);
    return 0;
}

static struct zone_changes *zone_changes(spfdb_env *env, uint64_t from)
{
    struct zone_changes *z = calloc(1, sizeof *z);
    spfdb_txn *t;

    assert_non_null(z);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, from, INT64_MIN, collect_zones, z), 0);
    spfdb_txn_close(t);
    return z;
}

static void zone_equal(const struct spfdb_zone *a, const struct spfdb_zone *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->alloc_id, b->alloc_id);
    assert_string_equal(a->alloc, b->alloc);
    assert_int_equal(a->ttl, b->ttl);
    assert_int_equal(a->neg_ttl, b->neg_ttl);
    assert_string_equal(a->hostmaster, b->hostmaster);
    assert_int_equal(a->n_ns, b->n_ns);
    for (unsigned i = 0; i < a->n_ns; i++)
        assert_string_equal(a->ns[i], b->ns[i]);
}

static struct spfdb_zone zone_a, zone_b;

static int zones_fn(spfdb_txn *t, void *arg)
{
    uint32_t id;
    int rc;

    (void)arg;
    if ((rc = spfdb_alloc_add(t, "acme", &id)) != 0)
        return rc;
    zone_a = (struct spfdb_zone){.name = "spf.cust.example", .ttl = 300, .neg_ttl = 60,
                                 .n_ns = 2, .ns = {"ns1.p.example", "ns2.p.example"}};
    zone_b = zone_a;
    zone_b.alloc_id = id;
    snprintf(zone_b.alloc, sizeof zone_b.alloc, "acme");
    zone_b.ttl = 600;
    snprintf(zone_b.hostmaster, sizeof zone_b.hostmaster, "dns@cust.example");
    zone_b.n_ns = 3;
    snprintf(zone_b.ns[2], sizeof zone_b.ns[2], "ns3.p.example");
    if ((rc = spfdb_zone_put(t, &zone_a)) != 0 || (rc = spfdb_zone_put(t, &zone_b)) != 0)
        return rc;
    return spfdb_zone_del(t, zone_b.name);
}

/* Zone changes carry the zone as stored before and after: an add its new
 * one, a set both (a provider zone becoming acme's), a delete its old. */
static void test_zone_sides(void **state)
{
    char dir[256];
    spfdb_env *env;
    struct zone_changes *z;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, zones_fn, NULL), 0);
    z = zone_changes(env, 0);
    assert_int_equal(z->n, 3);
    assert_int_equal(z->op[0], SPFDB_LOG_ZONE_ADD);
    assert_int_equal(z->old_rc[0], SPFDB_ENOTFOUND);
    assert_int_equal(z->new_rc[0], 0);
    zone_equal(&z->new[0], &zone_a);
    assert_string_equal(z->alloc[0], "");
    assert_string_equal(z->detail[0],
                        "ttl=300 negative-ttl=60 hostmaster=default ns=ns1.p.example,ns2.p.example");
    assert_int_equal(z->op[1], SPFDB_LOG_ZONE_SET);
    assert_int_equal(z->old_rc[1], 0);
    assert_int_equal(z->new_rc[1], 0);
    zone_equal(&z->old[1], &zone_a);
    zone_equal(&z->new[1], &zone_b);
    assert_string_equal(z->alloc[1], "acme");
    assert_string_equal(z->detail[1], "ttl=600 negative-ttl=60 hostmaster=dns@cust.example "
                                      "ns=ns1.p.example,ns2.p.example,ns3.p.example");
    assert_int_equal(z->op[2], SPFDB_LOG_ZONE_DEL);
    assert_int_equal(z->old_rc[2], 0);
    assert_int_equal(z->new_rc[2], SPFDB_ENOTFOUND);
    zone_equal(&z->old[2], &zone_b);
    assert_string_equal(z->alloc[2], "acme");
    assert_string_equal(z->detail[2], "");
    free(z);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* Member links are logged (issue 12 emits them; here the internal call). */
static int members_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_prefix p = pfx("192.0.2.0/24");

    (void)arg;
    log_member(t, LOG_ADD, "global", "eu");
    log_member(t, LOG_DEL, "global", "apac");
    return spfdb_entry_add(t, 1, &p);
}

struct member_changes {
    int n, op[4];
    char alloc[4][64], member[4][64];
};

static int collect_members(struct spfdb_log_rec *r, void *arg)
{
    struct member_changes *m = arg;
    struct spfdb_log_change ch;
    int rc;

    assert_int_equal(r->n_changes, 3);
    while ((rc = spfdb_log_next(r, &ch)) == 1) {
        assert_true(m->n < 4);
        m->op[m->n] = ch.op;
        snprintf(m->alloc[m->n], 64, "%s", ch.alloc);
        snprintf(m->member[m->n++], 64, "%s", ch.member);
    }
    return rc;
}

static void test_members(void **state)
{
    struct member_changes m = {0};
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, members_fn, NULL), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 0, INT64_MIN, collect_members, &m), 0);
    spfdb_txn_close(t);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.op[0], SPFDB_LOG_MEMBER_ADD);
    assert_string_equal(m.alloc[0], "global");
    assert_string_equal(m.member[0], "eu");
    assert_int_equal(m.op[1], SPFDB_LOG_MEMBER_DEL);
    assert_string_equal(m.alloc[1], "global");
    assert_string_equal(m.member[1], "apac");
    assert_int_equal(m.op[2], SPFDB_LOG_ADD);
    assert_string_equal(m.member[2], "");
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A version 1 record (a zone add, from the first release's format1.dump). */
static const char v1_zone_add[] =
    "01000000006b0486f10004726f6f7400000000005973706664622d63746c202d2d6462202f746d70"
    "2f6678207a6f6e6520616464206970686d782e6578616d706c65202d2d6e73206e73312e70726f76"
    "2e6578616d706c65202d2d6e73206e73322e70726f762e6578616d706c650041000d6970686d782e"
    "6578616d706c6500000000004f74746c3d333030206e656761746976652d74746c3d363020686f73"
    "746d61737465723d64656661756c74206e733d6e73312e70726f762e6578616d706c652c6e73322e"
    "70726f762e6578616d706c6500";

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void put_be32_at(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int iphmx_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_zone z = {.name = "iphmx.example", .ttl = 300, .neg_ttl = 60, .n_ns = 2,
                           .ns = {"ns1.prov.example", "ns2.prov.example"}};

    (void)arg;
    return spfdb_zone_put(t, &z);
}

/* A format 2 database (version 1 records, a 28-octet meta record, no xfr
 * database) becomes format 3 on its first open: its records read as before,
 * without serials or stored zones, and IXFR reaches back to the first
 * record written after.  The same zone added again reads the same. */
static void test_upgrade_v1_records(void **state)
{
    uint8_t rec[512], meta[28] = {0}, key[8] = {0};
    size_t n = unhex(v1_zone_add, rec);
    char dir[256];
    spfdb_env *env;
    struct spfdb_info info;
    struct zone_changes *z;
    struct heads h;
    uint32_t serial;
    uint64_t seq;
    spfdb_txn *t;
    MDB_env *mdb;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {8, key}, v = {n, rec}, mk = {5, "spfdb"}, mv = {sizeof meta, meta};
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    serial = serial_now(env);
    spfdb_env_close(env);
    assert_int_equal(mdb_env_create(&mdb), 0);
    assert_int_equal(mdb_env_set_maxdbs(mdb, 16), 0);
    assert_int_equal(mdb_env_open(mdb, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(mdb, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    for (int i = 1; i <= 2; i++) { /* seq 1 and 2 */
        key[7] = (uint8_t)i;
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_dbi_open(txn, "xfr", 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    put_be32_at(meta, 2);       /* format */
    put_be32_at(meta + 4, serial);
    meta[15] = 1;               /* meta_gen */
    put_be32_at(meta + 24, 2);  /* next allocation id */
    assert_int_equal(mdb_put(txn, dbi, &mk, &mv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(mdb);

    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_info_get(t, &info), 0);
    spfdb_txn_close(t);
    assert_int_equal(info.serial, serial);
    assert_int_equal(info.ixfr_floor, 3);
    assert_int_equal(info.xfr_gen, 1);
    assert_int_equal(find(env, serial, &seq), SPFDB_ENOTFOUND);
    assert_int_equal(spfdb_write(env, iphmx_fn, NULL), 0);
    assert_int_equal(find(env, serial, &seq), 0);
    assert_int_equal(seq, 3);

    h = heads(env);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.version[0], 1);
    assert_int_equal(h.before[0], 0);
    assert_int_equal(h.after[0], 0);
    assert_int_equal(h.changes[0], 0);
    assert_int_equal(h.version[2], 2);
    assert_int_equal(h.before[2], serial);
    z = zone_changes(env, 0);
    assert_int_equal(z->n, 3);
    assert_int_equal(z->op[0], SPFDB_LOG_ZONE_ADD);
    assert_int_equal(z->old_rc[0], SPFDB_ENOTFOUND); /* no stored zone in version 1 */
    assert_int_equal(z->new_rc[0], SPFDB_ENOTFOUND);
    assert_int_equal(z->new_rc[2], 0);
    assert_string_equal(z->detail[0],
                        "ttl=300 negative-ttl=60 hostmaster=default "
                        "ns=ns1.prov.example,ns2.prov.example");
    assert_string_equal(z->detail[2], z->detail[0]);
    assert_string_equal(z->alloc[2], z->alloc[0]);
    free(z);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

/* A damaged stored zone in a record is a damaged record. */
static int walk_changes(struct spfdb_log_rec *r, void *arg)
{
    struct spfdb_log_change ch;
    int rc;

    (void)arg;
    while ((rc = spfdb_log_next(r, &ch)) == 1)
        ;
    return rc;
}

static void test_damaged_zone_side(void **state)
{
    char dir[256];
    spfdb_env *env;
    MDB_env *mdb;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    uint8_t buf[4096];
    spfdb_txn *t;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, iphmx_fn, NULL), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 0, INT64_MIN, walk_changes, NULL), 0);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    assert_int_equal(mdb_env_create(&mdb), 0);
    assert_int_equal(mdb_env_set_maxdbs(mdb, 16), 0);
    assert_int_equal(mdb_env_open(mdb, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(mdb, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
    assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
    assert_true(v.mv_size <= sizeof buf);
    memcpy(buf, v.mv_data, v.mv_size);
    /* the record ends: ... 16 "ns2.prov.example" 0: that length, past the end */
    assert_int_equal(buf[v.mv_size - 18], 16);
    buf[v.mv_size - 18] = 17;
    v.mv_data = buf;
    assert_int_equal(mdb_cursor_put(c, &k, &v, MDB_CURRENT), 0);
    mdb_cursor_close(c);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(mdb);

    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 0, INT64_MIN, walk_changes, NULL), SPFDB_EFORMAT);
    spfdb_txn_close(t);
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
        cmocka_unit_test(test_serials),
        cmocka_unit_test(test_find_after_prune),
        cmocka_unit_test(test_zone_sides),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_upgrade_v1_records),
        cmocka_unit_test(test_damaged_zone_side),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_planted_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
