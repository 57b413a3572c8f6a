/* The transfer settings (db/spfdb.h "transfers"): keys, the transfer
 * zone, replicas, the primary, the follower's state; quiet commits, the
 * replica's refusal, the follower's serial, the commit poll. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <lmdb.h> /* only to read the log database's raw bytes */

#include "spfdb.h"
#include "tmpdb.h"

/* ---- helpers ------------------------------------------------------------ */

static spfdb_env *open_db(char *dir)
{
    spfdb_env *env;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    return env;
}

static void close_db(spfdb_env *env, const char *dir)
{
    spfdb_env_close(env);
    tmpdb_remove(dir);
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

static int count_rec(struct spfdb_log_rec *r, void *arg)
{
    (void)r;
    ++*(int *)arg;
    return 0;
}

static int log_records(spfdb_env *env)
{
    spfdb_txn *t;
    int n = 0;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 0, INT64_MIN, count_rec, &n), 0);
    spfdb_txn_close(t);
    return n;
}

static struct spfdb_key mkkey(const char *name, unsigned len, uint8_t fill)
{
    struct spfdb_key k;

    memset(&k, 0, sizeof k);
    memcpy(k.name, name, strnlen(name, sizeof k.name - 1));
    k.alg = SPFDB_KEY_HMAC_SHA256;
    k.secret_len = len;
    for (unsigned i = 0; i < len; i++)
        k.secret[i] = (uint8_t)(fill + i * 7);
    k.created = 1796620000;
    return k;
}

/* One write, its callback a small script (struct op), WHY kept for checks. */
enum { KEY_ADD, KEY_DEL, ZONE_SET, ZONE_DEL, REPLICA_ADD, REPLICA_DEL, PRIMARY_SET,
       PRIMARY_DEL, FOLLOW_PUT, SERVE, UNSERVE, ENTRY_ADD, ENTRY_DEL, ALLOC_ADD, ALLOC_DEL,
       SET_SERIAL };

struct op {
    int kind;
    const char *a, *b;
    uint32_t n;
    struct spfdb_key key;
    struct spfdb_primary primary;
    struct spfdb_follow follow;
    struct spfdb_why why;
};

static struct spfdb_prefix pfx(const char *s)
{
    struct spfdb_prefix p;

    if (spfdb_prefix_parse(s, strlen(s), &p, NULL, NULL, 0) != 0)
        fail_msg("bad test prefix %s", s);
    return p;
}

static int op_fn(spfdb_txn *t, void *arg)
{
    struct op *o = arg;
    struct spfdb_zone z = {.ttl = 300, .neg_ttl = 60, .n_ns = 2,
                           .ns = {"ns1.prov.example", "ns2.prov.example"}};
    struct spfdb_xfr_zone x;
    struct spfdb_prefix p;

    switch (o->kind) {
    case KEY_ADD: return spfdb_key_add(t, &o->key, &o->why);
    case KEY_DEL: return spfdb_key_del(t, o->a);
    case ZONE_SET:
        memset(&x, 0, sizeof x);
        snprintf(x.name, sizeof x.name, "%s", o->a);
        snprintf(x.ns, sizeof x.ns, "%s", o->b ? o->b : "");
        return spfdb_xfr_zone_set(t, &x, &o->why);
    case ZONE_DEL: return spfdb_xfr_zone_del(t);
    case REPLICA_ADD: return spfdb_replica_add(t, o->a, o->b, &o->why);
    case REPLICA_DEL: return spfdb_replica_del(t, o->a);
    case PRIMARY_SET: return spfdb_primary_set(t, &o->primary, &o->why);
    case PRIMARY_DEL: return spfdb_primary_del(t);
    case FOLLOW_PUT: return spfdb_follow_put(t, &o->follow);
    case SERVE:
        snprintf(z.name, sizeof z.name, "%s", o->a);
        return spfdb_zone_put_flags(t, &z, 0, &o->why);
    case UNSERVE: return spfdb_zone_del(t, o->a);
    case ENTRY_ADD: p = pfx(o->a); return spfdb_entry_add(t, 1, &p);
    case ENTRY_DEL: p = pfx(o->a); return spfdb_entry_del(t, 1, &p);
    case ALLOC_ADD: return spfdb_alloc_add(t, o->a, NULL);
    case ALLOC_DEL: return spfdb_alloc_del(t, o->a, 1);
    case SET_SERIAL: {
        int rc = spfdb_txn_set_serial(t, o->n);
        if (rc == 0 && o->a) {
            p = pfx(o->a);
            rc = spfdb_entry_add(t, 1, &p);
        }
        return rc;
    }
    }
    return -100;
}

/* Also checks spfdb_write_ex's word: committed exactly when the last
 * commit's id moved (quiet commits too). */
static int run(spfdb_env *env, struct op *o)
{
    uint64_t id = txn_id(env);
    int committed = -1, rc = spfdb_write_ex(env, op_fn, o, &committed);

    assert_int_equal(committed, txn_id(env) != id);
    return rc;
}

static int run1(spfdb_env *env, int kind, const char *a, const char *b)
{
    struct op o = {.kind = kind, .a = a, .b = b};

    return run(env, &o);
}

static int add_key(spfdb_env *env, const char *name)
{
    struct op o = {.kind = KEY_ADD, .key = mkkey(name, 32, 1)};

    return run(env, &o);
}

static struct spfdb_primary mkprimary(const char *zone, const char *key, const char *a1,
                                      const char *a2)
{
    struct spfdb_primary p;

    memset(&p, 0, sizeof p);
    snprintf(p.zone, sizeof p.zone, "%s", zone);
    snprintf(p.key, sizeof p.key, "%s", key);
    snprintf(p.addr[p.n_addr++], sizeof p.addr[0], "%s", a1);
    if (a2)
        snprintf(p.addr[p.n_addr++], sizeof p.addr[0], "%s", a2);
    return p;
}

/* ---- keys --------------------------------------------------------------- */

struct names {
    int n;
    char name[8][SPFDB_KEY_NAME_MAX + 1];
};

static int collect_key(const struct spfdb_key *k, void *arg)
{
    struct names *s = arg;

    assert_true(s->n < 8);
    snprintf(s->name[s->n++], sizeof s->name[0], "%s", k->name);
    return 0;
}

static void test_keys(void **state)
{
    char dir[256], longname[128];
    spfdb_env *env = open_db(dir);
    struct spfdb_key k, got;
    struct names names = {0};
    spfdb_txn *t;
    struct op o;
    (void)state;

    o = (struct op){.kind = KEY_ADD, .key = mkkey("replica1", 32, 9)};
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(run(env, &o), SPFDB_EEXIST);
    o.key = mkkey("a.example", SPFDB_SECRET_MIN, 3);
    assert_int_equal(run(env, &o), 0);
    o.key = mkkey("z", SPFDB_SECRET_MAX, 5);
    assert_int_equal(run(env, &o), 0);

    /* what is refused, and why */
    o.key = mkkey("short", SPFDB_SECRET_MIN - 1, 1);
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_SECRET);
    assert_int_equal(o.why.value, SPFDB_SECRET_MIN - 1);
    o.key = mkkey("long", SPFDB_SECRET_MAX, 1);
    o.key.secret_len = SPFDB_SECRET_MAX + 1;
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_SECRET);
    o.key = mkkey("alg", 32, 1);
    o.key.alg = 2;
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_KEY_ALG);
    for (int i = 0; i < 4; i++) {
        static const char *const bad[] = {"Upper", "dot.", "a:b", ""};
        o.key = mkkey(bad[i], 32, 1);
        assert_int_equal(run(env, &o), SPFDB_EINVAL);
        assert_int_equal(o.why.rule, SPFDB_RULE_KEY_NAME);
    }
    memset(longname, 'k', sizeof longname);
    longname[50] = '.';
    longname[SPFDB_KEY_NAME_MAX] = '\0'; /* 100: the most */
    o.key = mkkey(longname, 32, 1);
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(spfdb_key_name_check(longname, NULL), 0);
    longname[SPFDB_KEY_NAME_MAX] = 'k';
    longname[SPFDB_KEY_NAME_MAX + 1] = '\0'; /* 101 */
    assert_int_equal(spfdb_key_name_check(longname, &o.why), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_KEY_NAME);

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    k = mkkey("replica1", 32, 9);
    assert_int_equal(spfdb_key_get(t, "replica1", &got), 0);
    assert_string_equal(got.name, "replica1");
    assert_int_equal(got.alg, SPFDB_KEY_HMAC_SHA256);
    assert_int_equal(got.secret_len, 32);
    assert_memory_equal(got.secret, k.secret, 32);
    assert_int_equal(got.created, 1796620000);
    assert_int_equal(spfdb_key_get(t, "a.example", &got), 0);
    assert_int_equal(got.secret_len, SPFDB_SECRET_MIN);
    assert_int_equal(spfdb_key_get(t, "nope", &got), SPFDB_ENOTFOUND);
    assert_int_equal(spfdb_key_get(t, "No", &got), SPFDB_EINVAL);
    assert_int_equal(spfdb_key_foreach(t, collect_key, &names), 0);
    spfdb_txn_close(t);
    assert_int_equal(names.n, 4);
    assert_string_equal(names.name[0], "a.example");
    assert_int_equal(strlen(names.name[1]), SPFDB_KEY_NAME_MAX);
    assert_string_equal(names.name[2], "replica1");
    assert_string_equal(names.name[3], "z");

    assert_int_equal(run1(env, KEY_DEL, "z", NULL), 0);
    assert_int_equal(run1(env, KEY_DEL, "z", NULL), SPFDB_ENOTFOUND);
    assert_int_equal(run1(env, KEY_DEL, "Z", NULL), SPFDB_EINVAL);
    /* a key in use stays */
    assert_int_equal(run1(env, REPLICA_ADD, "192.0.2.1", "replica1"), 0);
    assert_int_equal(run1(env, KEY_DEL, "replica1", NULL), SPFDB_EBUSY);
    assert_int_equal(run1(env, REPLICA_DEL, "192.0.2.1:53", NULL), 0);
    o = (struct op){.kind = PRIMARY_SET,
                    .primary = mkprimary("xfr.example", "a.example", "192.0.2.9", NULL)};
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(run1(env, KEY_DEL, "a.example", NULL), SPFDB_EBUSY);
    assert_int_equal(run1(env, KEY_DEL, "replica1", NULL), 0);
    assert_int_equal(run1(env, PRIMARY_DEL, NULL, NULL), 0);
    assert_int_equal(run1(env, PRIMARY_DEL, NULL, NULL), SPFDB_ENOTFOUND);
    assert_int_equal(run1(env, KEY_DEL, "a.example", NULL), 0);
    close_db(env, dir);
}

/* ---- quiet commits ------------------------------------------------------ */

/* Every kind of transfer setting commits durably, bumps xfr_gen, and
 * leaves the serial, meta_gen and the change log alone; the same value
 * again commits nothing. */
static void test_quiet(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    struct spfdb_info a, b;
    struct op ops[] = {
        {.kind = KEY_ADD, .key = mkkey("k1", 32, 1)},
        {.kind = ZONE_SET, .a = "xfr.esp.example"},
        {.kind = ZONE_SET, .a = "xfr.esp.example", .b = "ns.esp.example"},
        {.kind = REPLICA_ADD, .a = "[2001:db8::53]:5300", .b = "k1"},
        {.kind = PRIMARY_SET, .primary = mkprimary("xfr.other.example", "k1", "192.0.2.1", NULL)},
        {.kind = FOLLOW_PUT, .follow = {1, 1796620042, 1796620100, 1796620050}},
        {.kind = PRIMARY_DEL},
        {.kind = REPLICA_DEL, .a = "[2001:db8::53]:5300"},
        {.kind = ZONE_DEL},
    };
    spfdb_txn *t;
    uint64_t id;
    (void)state;

    assert_int_equal(run1(env, ENTRY_ADD, "192.0.2.0/24", NULL), 0);
    a = info(env);
    assert_int_equal(log_records(env), 1);
    assert_int_equal(a.xfr_gen, 1);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (i == 7) /* a bare IPv6 address takes no port: this is another one */
            assert_int_equal(run1(env, REPLICA_DEL, "2001:db8::53:5300", NULL), SPFDB_ENOTFOUND);
        id = txn_id(env);
        assert_int_equal(run(env, &ops[i]), 0);
        b = info(env);
        assert_int_equal(b.serial, a.serial);
        assert_int_equal(b.meta_gen, a.meta_gen);
        assert_int_equal(b.changed, a.changed);
        assert_int_equal(b.xfr_gen, a.xfr_gen + i + 1);
        assert_true(txn_id(env) > id);
        assert_int_equal(log_records(env), 1);
    }
    /* unchanged: nothing committed */
    id = txn_id(env);
    assert_int_equal(run(env, &ops[5]), 0);
    assert_int_equal(txn_id(env), id);
    assert_int_equal(run(env, &ops[1]), 0);
    id = txn_id(env);
    assert_int_equal(run(env, &ops[1]), 0);
    assert_int_equal(txn_id(env), id);

    /* durable: another open sees them */
    spfdb_env_close(env);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    {
        struct spfdb_key k;
        struct spfdb_follow f;
        struct spfdb_xfr_zone z;
        assert_int_equal(spfdb_key_get(t, "k1", &k), 0);
        assert_int_equal(spfdb_follow_get(t, &f), 0);
        assert_int_equal(f.synced, 1);
        assert_int_equal(f.primary_serial, 1796620042);
        assert_int_equal(f.last_contact, 1796620100);
        assert_int_equal(f.last_success, 1796620050);
        assert_int_equal(spfdb_xfr_zone_get(t, &z), 0);
        assert_string_equal(z.name, "xfr.esp.example");
        assert_string_equal(z.ns, SPFDB_XFR_NS_DEFAULT);
    }
    spfdb_txn_close(t);
    close_db(env, dir);
}

/* A transaction changing data and a setting: a serial and a log record
 * (without the setting), and xfr_gen. */
static int both_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_key k = mkkey("both", 40, 77);
    struct spfdb_prefix p = pfx("198.51.100.0/24");
    int rc;

    (void)arg;
    rc = spfdb_key_add(t, &k, NULL);
    return rc ? rc : spfdb_entry_add(t, 1, &p);
}

/* The secrets never reach the log database: its records' raw bytes are
 * searched for each secret (and the search finds what is there). */
static int log_holds(const char *dir, const uint8_t *bytes, size_t n)
{
    MDB_env *menv;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    int found = 0, rc;

    assert_int_equal(mdb_env_create(&menv), 0);
    assert_int_equal(mdb_env_set_maxdbs(menv, 16), 0);
    assert_int_equal(mdb_env_open(menv, dir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(menv, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        found |= memmem(v.mv_data, v.mv_size, bytes, n) != NULL;
    assert_int_equal(rc, MDB_NOTFOUND);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(menv);
    return found;
}

static void test_no_secret_in_log(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    struct spfdb_key k1 = mkkey("k1", 32, 1), k2 = mkkey("both", 40, 77);
    struct spfdb_info a, b;
    struct op o = {.kind = KEY_ADD, .key = k1};
    spfdb_txn *t;
    struct spfdb_key got;
    (void)state;

    assert_int_equal(spfdb_env_set_origin(env, "ops", "spfdb-ctl key add k1"), 0);
    assert_int_equal(run(env, &o), 0);
    a = info(env);
    assert_int_equal(spfdb_write(env, both_fn, NULL), 0);
    b = info(env);
    assert_true(b.serial > a.serial);
    assert_int_equal(b.xfr_gen, a.xfr_gen + 1);
    assert_int_equal(log_records(env), 1); /* the entry's, not the key's */
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_key_get(t, "both", &got), 0);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    assert_false(log_holds(dir, k1.secret, k1.secret_len));
    assert_false(log_holds(dir, k2.secret, 16));
    assert_false(log_holds(dir, k2.secret + 24, 16));
    /* the search works: the log holds what was logged */
    assert_true(log_holds(dir, (const uint8_t *)"spfdb-ctl key add k1", 20));
    tmpdb_remove(dir);
}

/* ---- the transfer zone -------------------------------------------------- */

/* A name that fills its field with no NUL is refused, not read past. */
static int unterminated_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_xfr_zone z;
    struct spfdb_primary p = mkprimary("xfr.esp.example", "k1", "192.0.2.1", NULL);

    memset(&z, 0, sizeof z);
    memset(z.name, 'a', sizeof z.name);
    if (*(int *)arg == 0)
        return spfdb_xfr_zone_set(t, &z, NULL);
    memset(p.addr[0], '1', sizeof p.addr[0]);
    return spfdb_primary_set(t, &p, NULL);
}

static void test_transfer_zone(void **state)
{
    char dir[256], name[80];
    spfdb_env *env = open_db(dir);
    struct spfdb_xfr_zone z;
    spfdb_txn *t;
    struct op o;
    (void)state;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_xfr_zone_get(t, &z), SPFDB_ENOTFOUND);
    spfdb_txn_close(t);
    assert_int_equal(run1(env, ZONE_DEL, NULL, NULL), SPFDB_ENOTFOUND);
    assert_int_equal(run1(env, SERVE, "spf.esp.example", NULL), 0);

    /* the names it may have */
    memset(name, 'x', sizeof name);
    memcpy(name + SPFDB_XFR_ZONE_MAX - 8, ".example", 9); /* 62 */
    assert_int_equal(run1(env, ZONE_SET, name, NULL), 0);
    memset(name, 'y', sizeof name);
    memcpy(name + SPFDB_XFR_ZONE_MAX - 7, ".example", 9); /* 63: checked before the copy */
    assert_int_equal(spfdb_xfr_zone_rules(name, NULL, &o.why), SPFDB_ERULE);
    assert_int_equal(o.why.rule, SPFDB_RULE_ZONE_LONG);
    assert_int_equal(o.why.value, SPFDB_XFR_ZONE_MAX + 1);
    assert_int_equal(o.why.limit, SPFDB_XFR_ZONE_MAX);
    for (int i = 0; i < 4; i++) {
        static const char *const bad[] = {"Xfr.example", "xfr.example.", "xfr..example",
                                          "x*.example"};
        o = (struct op){.kind = ZONE_SET, .a = bad[i]};
        assert_int_equal(run(env, &o), SPFDB_EINVAL);
        assert_int_equal(o.why.rule, SPFDB_RULE_ZONE_NAME);
    }
    assert_int_equal(spfdb_write(env, unterminated_fn, &(int){0}), SPFDB_EINVAL);
    assert_int_equal(spfdb_write(env, unterminated_fn, &(int){1}), SPFDB_EINVAL);
    o = (struct op){.kind = ZONE_SET, .a = "xfr.example", .b = "NS.example"};
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_NS_NAME);

    /* no nesting with a served zone, either way */
    for (int i = 0; i < 3; i++) {
        static const char *const nest[] = {"spf.esp.example", "x.spf.esp.example", "esp.example"};
        o = (struct op){.kind = ZONE_SET, .a = nest[i]};
        assert_int_equal(run(env, &o), SPFDB_ERULE);
        assert_int_equal(o.why.rule, SPFDB_RULE_XFR_NEST);
        assert_int_equal(o.why.value, i == 0 ? SPFDB_NEST_SAME : i == 1 ? SPFDB_NEST_BELOW
                                                                        : SPFDB_NEST_ABOVE);
        assert_string_equal(o.why.other, "spf.esp.example");
    }
    o = (struct op){.kind = ZONE_SET, .a = "xfr.corp.example", .b = "hidden.corp.example"};
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_xfr_zone_get(t, &z), 0);
    spfdb_txn_close(t);
    assert_string_equal(z.name, "xfr.corp.example");
    assert_string_equal(z.ns, "hidden.corp.example");
    for (int i = 0; i < 3; i++) {
        static const char *const nest[] = {"xfr.corp.example", "a.xfr.corp.example", "corp.example"};
        o = (struct op){.kind = SERVE, .a = nest[i]};
        assert_int_equal(run(env, &o), SPFDB_ERULE);
        assert_int_equal(o.why.rule, SPFDB_RULE_XFR_NEST);
        assert_int_equal(o.why.value, i == 0 ? SPFDB_NEST_SAME : i == 1 ? SPFDB_NEST_BELOW
                                                                        : SPFDB_NEST_ABOVE);
        assert_string_equal(o.why.other, "xfr.corp.example");
    }
    assert_int_equal(run1(env, SERVE, "xfr2.corp.example", NULL), 0); /* a sibling is fine */
    assert_int_equal(run1(env, ZONE_DEL, NULL, NULL), 0);
    assert_int_equal(run1(env, SERVE, "a.xfr.corp.example", NULL), 0);
    close_db(env, dir);
}

/* ---- replicas ----------------------------------------------------------- */

struct reps {
    int n;
    struct spfdb_replica r[8];
};

static int collect_rep(const struct spfdb_replica *r, void *arg)
{
    struct reps *s = arg;

    assert_true(s->n < 8);
    s->r[s->n++] = *r;
    return 0;
}

static void test_replicas(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    struct reps reps = {0};
    spfdb_txn *t;
    struct op o;
    (void)state;

    assert_int_equal(add_key(env, "k1"), 0);
    assert_int_equal(add_key(env, "k2"), 0);
    assert_int_equal(run1(env, REPLICA_ADD, "192.0.2.1", "k1"), 0);
    assert_int_equal(run1(env, REPLICA_ADD, "192.0.2.1:53", "k2"), SPFDB_EEXIST);
    assert_int_equal(run1(env, REPLICA_ADD, "192.0.2.1:5300", "k2"), 0);
    assert_int_equal(run1(env, REPLICA_ADD, "2001:DB8:0::1", "k2"), 0);
    assert_int_equal(run1(env, REPLICA_ADD, "[2001:db8::1]:53", "k1"), SPFDB_EEXIST);
    assert_int_equal(run1(env, REPLICA_ADD, "198.51.100.7", "k3"), SPFDB_ENOTFOUND);
    assert_int_equal(run1(env, REPLICA_ADD, "198.51.100.7", "K1"), SPFDB_ENOTFOUND);
    for (int i = 0; i < 6; i++) {
        static const char *const bad[] = {"192.0.2.1:0", "192.0.2.1:65536", "192.0.2.01",
                                          "[2001:db8::1", "host.example", "192.0.2.1:053"};
        o = (struct op){.kind = REPLICA_ADD, .a = bad[i], .b = "k1"};
        assert_int_equal(run(env, &o), SPFDB_EINVAL);
        assert_int_equal(o.why.rule, SPFDB_RULE_ADDR);
        assert_string_equal(o.why.host, bad[i]);
        assert_true(o.why.msg[0] != '\0');
    }
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_replica_foreach(t, collect_rep, &reps), 0);
    spfdb_txn_close(t);
    assert_int_equal(reps.n, 3);
    assert_string_equal(reps.r[0].addr, "192.0.2.1:53");
    assert_string_equal(reps.r[0].key, "k1");
    assert_int_equal(reps.r[0].ap.family, 4);
    assert_int_equal(reps.r[0].ap.port, 53);
    assert_string_equal(reps.r[1].addr, "192.0.2.1:5300");
    assert_string_equal(reps.r[1].key, "k2");
    assert_int_equal(reps.r[1].ap.port, 5300);
    assert_string_equal(reps.r[2].addr, "[2001:db8::1]:53");
    assert_int_equal(reps.r[2].ap.family, 6);
    assert_int_equal(reps.r[2].ap.addr[15], 1);

    assert_int_equal(run1(env, REPLICA_DEL, "[2001:db8:0:0::1]", NULL), 0);
    assert_int_equal(run1(env, REPLICA_DEL, "2001:db8::1", NULL), SPFDB_ENOTFOUND);
    assert_int_equal(run1(env, REPLICA_DEL, "nonsense", NULL), SPFDB_EINVAL);
    close_db(env, dir);
}

/* ---- the primary, the replica's refusal, the follower ------------------ */

static void test_primary(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    struct spfdb_primary p;
    spfdb_txn *t;
    struct op o;
    (void)state;

    assert_int_equal(add_key(env, "k1"), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_primary_get(t, &p), SPFDB_ENOTFOUND);
    spfdb_txn_close(t);

    o = (struct op){.kind = PRIMARY_SET,
                    .primary = mkprimary("xfr.esp.example", "k2", "192.0.2.1", NULL)};
    assert_int_equal(run(env, &o), SPFDB_ENOTFOUND);
    o.primary = mkprimary("Xfr.esp.example", "k1", "192.0.2.1", NULL);
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_ZONE_NAME);
    o.primary = mkprimary("xfr.esp.example", "k1", "192.0.2.1", "192.0.2.1:53");
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_ADDR_TWICE);
    assert_int_equal(o.why.index, 1);
    o.primary = mkprimary("xfr.esp.example", "k1", "192.0.2.1", "bad");
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_ADDR);
    assert_int_equal(o.why.index, 1);
    o.primary = mkprimary("xfr.esp.example", "k1", "192.0.2.1", NULL);
    o.primary.n_addr = 0;
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_ADDR_COUNT);
    o.primary.n_addr = SPFDB_PRIMARY_MAX + 1;
    assert_int_equal(run(env, &o), SPFDB_EINVAL);
    assert_int_equal(o.why.rule, SPFDB_RULE_ADDR_COUNT);
    assert_int_equal(o.why.value, SPFDB_PRIMARY_MAX + 1);

    o.primary = mkprimary("xfr.esp.example", "k1", "192.0.2.1", "[2001:db8::2]:5300");
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_primary_get(t, &p), 0);
    spfdb_txn_close(t);
    assert_string_equal(p.zone, "xfr.esp.example");
    assert_string_equal(p.key, "k1");
    assert_int_equal(p.n_addr, 2);
    assert_string_equal(p.addr[0], "192.0.2.1:53");
    assert_string_equal(p.addr[1], "[2001:db8::2]:5300");
    close_db(env, dir);
}

/* In one transaction: following starts (or stops) at once. */
static int set_then_add_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_primary p = mkprimary("xfr.esp.example", "k1", "192.0.2.1", NULL);
    struct spfdb_prefix e = pfx("203.0.113.0/24");
    int rc = *(int *)arg ? spfdb_primary_set(t, &p, NULL) : spfdb_primary_del(t);

    return rc ? rc : spfdb_entry_add(t, 1, &e);
}

static void test_replica_refuses(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    struct spfdb_info a;
    struct op o;
    (void)state;

    assert_int_equal(add_key(env, "k1"), 0);
    assert_int_equal(run1(env, ALLOC_ADD, "acme", NULL), 0);
    assert_int_equal(run1(env, SERVE, "spf.esp.example", NULL), 0);
    assert_int_equal(run1(env, ENTRY_ADD, "192.0.2.0/24", NULL), 0);
    o = (struct op){.kind = PRIMARY_SET,
                    .primary = mkprimary("xfr.esp.example", "k1", "192.0.2.1", NULL)};
    assert_int_equal(run(env, &o), 0);
    a = info(env);

    /* every data write, refused; the settings still change */
    assert_int_equal(run1(env, ENTRY_ADD, "198.51.100.0/24", NULL), SPFDB_EREPLICA);
    assert_int_equal(run1(env, ENTRY_DEL, "192.0.2.0/24", NULL), SPFDB_EREPLICA);
    assert_int_equal(run1(env, ALLOC_ADD, "beta", NULL), SPFDB_EREPLICA);
    assert_int_equal(run1(env, ALLOC_DEL, "acme", NULL), SPFDB_EREPLICA);
    assert_int_equal(run1(env, SERVE, "spf2.esp.example", NULL), SPFDB_EREPLICA);
    assert_int_equal(run1(env, UNSERVE, "spf.esp.example", NULL), SPFDB_EREPLICA);
    assert_int_equal(info(env).serial, a.serial);
    assert_int_equal(add_key(env, "k2"), 0);
    assert_int_equal(run1(env, SET_SERIAL, NULL, NULL), SPFDB_EINVAL); /* not the follower */

    /* the follower writes */
    spfdb_env_close(env);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    spfdb_env_set_follower(env);
    assert_int_equal(run1(env, ENTRY_ADD, "198.51.100.0/24", NULL), 0);
    assert_int_equal(run1(env, UNSERVE, "spf.esp.example", NULL), 0);
    spfdb_env_close(env);

    /* promoted: anyone writes again */
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(run1(env, ALLOC_ADD, "beta", NULL), SPFDB_EREPLICA);
    assert_int_equal(spfdb_write(env, set_then_add_fn, &(int){0}), 0);
    assert_int_equal(run1(env, ALLOC_ADD, "beta", NULL), 0);
    assert_int_equal(spfdb_write(env, set_then_add_fn, &(int){1}), SPFDB_EREPLICA);
    assert_int_equal(run1(env, PRIMARY_DEL, NULL, NULL), SPFDB_ENOTFOUND); /* rolled back */
    close_db(env, dir);
}

struct serials {
    int n;
    uint64_t seq[8];
    uint32_t before[8], after[8], changes[8];
};

static int collect_serials(struct spfdb_log_rec *r, void *arg)
{
    struct serials *s = arg;

    assert_true(s->n < 8);
    assert_int_equal(r->version, 2);
    s->seq[s->n] = r->seq;
    s->before[s->n] = r->serial_before;
    s->after[s->n] = r->serial_after;
    s->changes[s->n++] = r->n_changes;
    return 0;
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

/* The follower's serial: the primary's, even when nothing else changes;
 * one not above the last moves the IXFR floor past its record. */
static void test_set_serial(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    struct serials s = {0};
    struct spfdb_info a, b;
    struct op o = {.kind = SET_SERIAL};
    spfdb_txn *t;
    uint64_t seq;
    (void)state;

    spfdb_env_set_follower(env);
    a = info(env);
    o.n = a.serial + 1000;
    assert_int_equal(run(env, &o), 0); /* nothing else */
    b = info(env);
    assert_int_equal(b.serial, a.serial + 1000);
    o.n = b.serial + 5;
    o.a = "192.0.2.0/24";
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(info(env).serial, b.serial + 5);
    assert_int_equal(info(env).ixfr_floor, 1);
    assert_int_equal(find(env, a.serial, &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(find(env, b.serial, &seq), 0);
    assert_int_equal(seq, 2);

    /* a restored primary: lower */
    o.n = a.serial + 10;
    o.a = "198.51.100.0/24";
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(info(env).serial, a.serial + 10);
    assert_int_equal(info(env).ixfr_floor, 4);
    assert_int_equal(find(env, a.serial, &seq), SPFDB_ENOTFOUND);
    assert_int_equal(find(env, b.serial + 5, &seq), SPFDB_ENOTFOUND);
    o.n = a.serial + 11;
    o.a = NULL;
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(find(env, a.serial + 10, &seq), 0);
    assert_int_equal(seq, 4);
    /* equal is not above either */
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(info(env).ixfr_floor, 6);
    assert_int_equal(find(env, a.serial + 11, &seq), SPFDB_ENOTFOUND);

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_log_foreach(t, 0, INT64_MIN, collect_serials, &s), 0);
    spfdb_txn_close(t);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.before[0], a.serial);
    assert_int_equal(s.after[0], a.serial + 1000);
    assert_int_equal(s.changes[0], 0);
    assert_int_equal(s.before[1], a.serial + 1000);
    assert_int_equal(s.after[1], a.serial + 1005);
    assert_int_equal(s.changes[1], 1);
    assert_int_equal(s.before[2], a.serial + 1005);
    assert_int_equal(s.after[2], a.serial + 10);
    assert_int_equal(s.before[4], a.serial + 11);
    assert_int_equal(s.after[4], a.serial + 11);
    close_db(env, dir);
}

/* A new primary zone starts the follower afresh; the same keeps its state. */
static void test_follow_state(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    struct spfdb_follow f;
    spfdb_txn *t;
    struct op o;
    (void)state;

    assert_int_equal(spfdb_txn_read(env, &t), 0);
    memset(&f, 0xff, sizeof f);
    assert_int_equal(spfdb_follow_get(t, &f), 0);
    spfdb_txn_close(t);
    assert_int_equal(f.synced, 0);
    assert_int_equal(f.primary_serial, 0);
    assert_int_equal(f.last_contact, 0);
    assert_int_equal(f.last_success, 0);

    assert_int_equal(add_key(env, "k1"), 0);
    o = (struct op){.kind = PRIMARY_SET,
                    .primary = mkprimary("xfr.esp.example", "k1", "192.0.2.1", NULL)};
    assert_int_equal(run(env, &o), 0);
    o = (struct op){.kind = FOLLOW_PUT, .follow = {1, 42, 100, 90}};
    assert_int_equal(run(env, &o), 0);
    o = (struct op){.kind = PRIMARY_SET,
                    .primary = mkprimary("xfr.esp.example", "k1", "192.0.2.2", NULL)};
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_follow_get(t, &f), 0);
    spfdb_txn_close(t);
    assert_int_equal(f.synced, 1);
    assert_int_equal(f.primary_serial, 42);
    assert_int_equal(f.transfers_ok, 0);
    /* the counters spfdb-follow keeps round-trip */
    o.kind = FOLLOW_PUT;
    o.follow = (struct spfdb_follow){1, 43, 101, 91, 7, 3, 2, 95, 99, 1209600, 1};
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_follow_get(t, &f), 0);
    spfdb_txn_close(t);
    assert_int_equal(memcmp(&f, &o.follow, sizeof f), 0);
    o.kind = PRIMARY_SET;
    o.primary = mkprimary("xfr.other.example", "k1", "192.0.2.2", NULL);
    assert_int_equal(run(env, &o), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_follow_get(t, &f), 0);
    spfdb_txn_close(t);
    assert_int_equal(f.synced, 0);
    assert_int_equal(f.primary_serial, 0);
    close_db(env, dir);
}

/* The poller's commit id: the last commit's, quiet ones too. */
static void test_last_txnid(void **state)
{
    char dir[256];
    spfdb_env *env = open_db(dir);
    uint64_t id, id2;
    (void)state;

    assert_int_equal(spfdb_env_last_txnid(env, &id), 0);
    assert_int_equal(id, txn_id(env));
    assert_int_equal(run1(env, ENTRY_ADD, "192.0.2.0/24", NULL), 0);
    assert_int_equal(spfdb_env_last_txnid(env, &id2), 0);
    assert_int_equal(id2, id + 1);
    assert_int_equal(add_key(env, "k1"), 0);
    assert_int_equal(spfdb_env_last_txnid(env, &id), 0);
    assert_int_equal(id, id2 + 1);
    assert_int_equal(run1(env, ENTRY_ADD, "192.0.2.0/24", NULL), SPFDB_EEXIST);
    assert_int_equal(spfdb_env_last_txnid(env, &id2), 0);
    assert_int_equal(id2, id);
    assert_int_equal(id2, txn_id(env));
    close_db(env, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_no_secret_in_log),
        cmocka_unit_test(test_transfer_zone),
        cmocka_unit_test(test_replicas),
        cmocka_unit_test(test_primary),
        cmocka_unit_test(test_replica_refuses),
        cmocka_unit_test(test_set_serial),
        cmocka_unit_test(test_follow_state),
        cmocka_unit_test(test_last_txnid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
