/* apply.h: transfers staged from events and applied to a real database in
 * one transaction each; a transfer that does not apply changes nothing. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apply.h"
#include "net.h"
#include "tmpdb.h"

struct ev {
    struct stage st;
    struct xfr_soa soa;
};

static void ev(struct ev *e, enum xfr_in_ev type, const struct xfr_obj *o, uint32_t from,
               uint32_t to)
{
    struct xfr_in_event x = {.type = type, .soa = &e->soa, .obj = o, .from = from, .to = to};

    x.form = e->st.form;
    assert_int_equal(stage_event(&e->st, &x), 0);
}

static void begin(struct ev *e, enum xfr_form form, uint32_t serial)
{
    struct xfr_in_event x = {.type = XFR_EV_BEGIN, .form = form, .soa = &e->soa};

    stage_init(&e->st);
    memset(&e->soa, 0, sizeof e->soa);
    e->soa.serial = serial;
    assert_int_equal(stage_event(&e->st, &x), 0);
}

static struct xfr_obj alloc_obj(const char *name)
{
    struct xfr_obj o = {.kind = XFR_ALLOC};

    snprintf(o.alloc.alloc, sizeof o.alloc.alloc, "%s", name);
    return o;
}

static struct xfr_obj entry_obj(const char *alloc, const char *text)
{
    struct xfr_obj o = {.kind = XFR_ENTRY};

    snprintf(o.entry.alloc, sizeof o.entry.alloc, "%s", alloc);
    assert_int_equal(spfdb_prefix_parse(text, strlen(text), &o.entry.prefix, NULL, NULL, 0), 0);
    return o;
}

static struct xfr_obj zone_obj(const char *name, const char *alloc, uint32_t ttl)
{
    struct xfr_obj o = {.kind = XFR_ZONE};

    snprintf(o.zone.name, sizeof o.zone.name, "%s", name);
    snprintf(o.zone.alloc, sizeof o.zone.alloc, "%s", alloc);
    o.zone.ttl = ttl;
    o.zone.neg_ttl = 60;
    o.zone.n_ns = 2;
    snprintf(o.zone.ns[0], sizeof o.zone.ns[0], "ns1.dns.example.net");
    snprintf(o.zone.ns[1], sizeof o.zone.ns[1], "ns2.dns.example.net");
    return o;
}

static struct xfr_obj member_obj(const char *alloc, const char *member)
{
    struct xfr_obj o = {.kind = XFR_MEMBER};

    snprintf(o.member.alloc, sizeof o.member.alloc, "%s", alloc);
    snprintf(o.member.member, sizeof o.member.member, "%s", member);
    return o;
}

static void add(struct ev *e, struct xfr_obj o)
{
    ev(e, XFR_EV_ADD, &o, 0, 0);
}

static void del(struct ev *e, struct xfr_obj o)
{
    ev(e, XFR_EV_DEL, &o, 0, 0);
}

static int key_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_key k = {.alg = SPFDB_KEY_HMAC_SHA256, .secret_len = 32};
    struct spfdb_primary p = {.zone = "xfr.test", .key = "k1", .n_addr = 1,
                              .addr = {"192.0.2.1"}};
    int rc;

    (void)arg;
    snprintf(k.name, sizeof k.name, "k1");
    rc = spfdb_key_add(t, &k, NULL);
    return rc ? rc : spfdb_primary_set(t, &p, NULL);
}

static spfdb_env *replica(char *dir)
{
    spfdb_env *env;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, key_fn, NULL), 0);
    spfdb_env_set_follower(env);
    return env;
}

static int apply(spfdb_env *env, struct ev *e, struct apply_result *res)
{
    struct spfdb_follow f = {.synced = 1, .primary_serial = e->soa.serial, .transfers_ok = 7};
    int rc;

    ev(e, XFR_EV_END, NULL, 0, 0);
    rc = apply_stage(env, &e->st, "xfr.test", &f, res);
    stage_free(&e->st);
    return rc;
}

/* The database as text: serial, zones, allocations and their entries. */
struct dump {
    spfdb_txn *t;
    char buf[1 << 16];
    size_t n;
};

static int dump_entry(const struct spfdb_prefix *p, void *arg)
{
    struct dump *d = arg;
    char b[SPFDB_PREFIX_STRLEN];

    spfdb_prefix_format(p, b, sizeof b);
    d->n += (size_t)snprintf(d->buf + d->n, sizeof d->buf - d->n, " %s", b);
    return 0;
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* "name:" or, with members, "name(m1,m2):" in name order. */
static int dump_alloc(const struct spfdb_alloc *a, void *arg)
{
    struct dump *d = arg;
    char names[SPFDB_MEMBERS_MAX][SPFDB_LABEL_MAX + 1];
    struct spfdb_alloc m;

    assert_true(a->n_members <= SPFDB_MEMBERS_MAX);
    for (unsigned i = 0; i < a->n_members; i++) {
        assert_int_equal(spfdb_alloc_get_id(d->t, a->members[i], &m), 0);
        snprintf(names[i], sizeof names[i], "%s", m.name);
    }
    qsort(names, a->n_members, sizeof names[0], name_cmp);
    d->n += (size_t)snprintf(d->buf + d->n, sizeof d->buf - d->n, "\n%s", a->name);
    for (unsigned i = 0; i < a->n_members; i++)
        d->n += (size_t)snprintf(d->buf + d->n, sizeof d->buf - d->n, "%c%s", i ? ',' : '(',
                                 names[i]);
    d->n += (size_t)snprintf(d->buf + d->n, sizeof d->buf - d->n, "%s:",
                             a->n_members ? ")" : "");
    return spfdb_entry_foreach(d->t, a->id, dump_entry, d);
}

static int dump_zone(const struct spfdb_zone *z, void *arg)
{
    struct dump *d = arg;

    d->n += (size_t)snprintf(d->buf + d->n, sizeof d->buf - d->n, "\nzone %s %s %u", z->name,
                             z->alloc, z->ttl);
    return 0;
}

static const char *dump(spfdb_env *env, struct dump *d)
{
    struct spfdb_info i;

    d->n = 0;
    assert_int_equal(spfdb_txn_read(env, &d->t), 0);
    assert_int_equal(spfdb_info_get(d->t, &i), 0);
    d->n += (size_t)snprintf(d->buf, sizeof d->buf, "serial %u", i.serial);
    assert_int_equal(spfdb_zone_foreach(d->t, dump_zone, d), 0);
    assert_int_equal(spfdb_alloc_foreach(d->t, dump_alloc, d), 0);
    spfdb_txn_close(d->t);
    return d->buf;
}

static void first_axfr(spfdb_env *env)
{
    struct apply_result res;
    struct ev e;

    begin(&e, XFR_FORM_AXFR, 100);
    add(&e, entry_obj("acme", "198.51.100.7/32")); /* before its allocation: any order */
    add(&e, zone_obj("spf.customer.example", "acme", 600));
    add(&e, alloc_obj("acme"));
    add(&e, alloc_obj("default"));
    add(&e, entry_obj("acme", "198.51.100.0/24"));
    add(&e, entry_obj("default", "64.0.0.0/4"));   /* wide: the primary accepted it */
    add(&e, entry_obj("default", "2001:db8::/32"));
    add(&e, entry_obj("default", "2001:db8::/32")); /* sent twice: one entry */
    add(&e, zone_obj("iphmx.example", "", 300));
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.added, 4);
}

static void test_axfr(void **state)
{
    char dir[256];
    spfdb_env *env = replica(dir);
    struct apply_result res;
    struct spfdb_follow f;
    struct dump *d = malloc(sizeof *d);
    spfdb_txn *t;
    struct ev e;
    (void)state;

    first_axfr(env);
    assert_string_equal(dump(env, d),
                        "serial 100\nzone iphmx.example  300\nzone spf.customer.example acme 600"
                        "\nacme: 198.51.100.0/24 198.51.100.7/32"
                        "\ndefault: 64.0.0.0/4 2001:db8::/32");
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_follow_get(t, &f), 0);
    spfdb_txn_close(t);
    assert_int_equal(f.synced, 1);
    assert_int_equal(f.transfers_ok, 7);
    /* the next AXFR: a zone, an allocation with entries and an entry gone,
     * a zone changed and rebound, an allocation and entries new */
    begin(&e, XFR_FORM_AXFR, 200);
    add(&e, alloc_obj("default"));
    add(&e, alloc_obj("eu"));
    add(&e, zone_obj("spf.customer.example", "eu", 900));
    add(&e, entry_obj("eu", "203.0.113.0/24"));
    add(&e, entry_obj("default", "2001:db8::/32"));
    add(&e, entry_obj("default", "10.0.0.0/8"));
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_string_equal(dump(env, d), "serial 200\nzone spf.customer.example eu 900"
                                      "\ndefault: 10.0.0.0/8 2001:db8::/32\neu: 203.0.113.0/24");
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(d);
}

static void test_ixfr_and_divergence(void **state)
{
    char dir[256];
    spfdb_env *env = replica(dir);
    struct apply_result res;
    struct dump *d = malloc(sizeof *d);
    char before[1 << 16];
    struct ev e;
    (void)state;

    first_axfr(env);
    /* two sequences: 100 -> 101 -> 102 */
    begin(&e, XFR_FORM_IXFR, 102);
    ev(&e, XFR_EV_SEQ, NULL, 100, 0);
    del(&e, entry_obj("acme", "198.51.100.7/32"));
    del(&e, zone_obj("spf.customer.example", "acme", 600));
    ev(&e, XFR_EV_ADDS, NULL, 100, 101);
    add(&e, zone_obj("spf.customer.example", "acme", 1200));
    add(&e, alloc_obj("eu"));
    add(&e, entry_obj("eu", "203.0.113.0/24"));
    ev(&e, XFR_EV_SEQ_END, NULL, 100, 101);
    ev(&e, XFR_EV_SEQ, NULL, 101, 0);
    del(&e, zone_obj("iphmx.example", "", 300));
    del(&e, entry_obj("eu", "203.0.113.0/24"));
    del(&e, alloc_obj("eu"));
    ev(&e, XFR_EV_ADDS, NULL, 101, 102);
    add(&e, entry_obj("acme", "198.51.100.7/32"));
    ev(&e, XFR_EV_SEQ_END, NULL, 101, 102);
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_string_equal(dump(env, d), "serial 102\nzone spf.customer.example acme 1200"
                                      "\nacme: 198.51.100.0/24 198.51.100.7/32"
                                      "\ndefault: 64.0.0.0/4 2001:db8::/32");
    snprintf(before, sizeof before, "%s", d->buf);
    /* a deletion of something absent: nothing applied, AXFR asked for */
    begin(&e, XFR_FORM_IXFR, 103);
    ev(&e, XFR_EV_SEQ, NULL, 102, 0);
    del(&e, entry_obj("acme", "198.51.100.0/24"));
    del(&e, entry_obj("acme", "192.0.2.1/32"));
    ev(&e, XFR_EV_ADDS, NULL, 102, 103);
    ev(&e, XFR_EV_SEQ_END, NULL, 102, 103);
    assert_int_equal(apply(env, &e, &res), APPLY_EDIVERGED);
    assert_non_null(strstr(res.err, "192.0.2.1/32"));
    assert_string_equal(dump(env, d), before);
    /* an addition of something present: the same */
    begin(&e, XFR_FORM_IXFR, 103);
    ev(&e, XFR_EV_SEQ, NULL, 102, 0);
    ev(&e, XFR_EV_ADDS, NULL, 102, 103);
    add(&e, alloc_obj("acme"));
    ev(&e, XFR_EV_SEQ_END, NULL, 102, 103);
    assert_int_equal(apply(env, &e, &res), APPLY_EDIVERGED);
    assert_string_equal(dump(env, d), before);
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(d);
}

/* Is IPv4 address A (text) listed in allocation ALLOC on the replica? */
static int listed(spfdb_env *env, const char *alloc, const char *a)
{
    struct spfdb_alloc al;
    uint8_t addr[4];
    spfdb_txn *t;
    int r;

    assert_int_equal(inet_pton(AF_INET, a, addr), 1);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_get(t, alloc, &al), 0);
    r = spfdb_covers(t, al.id, 4, addr);
    spfdb_txn_close(t);
    assert_true(r >= 0);
    return r;
}

/* The regional sets eu, us and apac, and global with eu and us. */
static void regions(struct ev *e, uint32_t serial)
{
    begin(e, XFR_FORM_AXFR, serial);
    add(e, member_obj("global", "us")); /* before both allocations: any order */
    add(e, alloc_obj("default"));
    add(e, alloc_obj("eu"));
    add(e, alloc_obj("us"));
    add(e, alloc_obj("apac"));
    add(e, alloc_obj("global"));
    add(e, member_obj("global", "eu"));
    add(e, member_obj("global", "eu")); /* sent twice: one link */
    add(e, entry_obj("eu", "203.0.113.0/24"));
    add(e, entry_obj("us", "198.51.100.0/24"));
    add(e, entry_obj("apac", "192.0.2.0/24"));
    add(e, zone_obj("iphmx.example", "", 300));
}

#define REGIONS "serial %u\nzone iphmx.example  300\napac: 192.0.2.0/24\ndefault:" \
                "\neu: 203.0.113.0/24\nglobal(eu,us):\nus: 198.51.100.0/24"

static void test_axfr_members(void **state)
{
    char dir[256], want[512], before[1 << 16];
    spfdb_env *env = replica(dir);
    struct apply_result res;
    struct dump *d = malloc(sizeof *d);
    struct ev e;
    (void)state;

    regions(&e, 100);
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 2);
    snprintf(want, sizeof want, REGIONS, 100);
    assert_string_equal(dump(env, d), want);
    assert_int_equal(listed(env, "global", "203.0.113.9"), 1); /* eu's, through global */
    assert_int_equal(listed(env, "global", "192.0.2.9"), 0);   /* apac is no member */
    /* the same zone again: no link changes */
    regions(&e, 101);
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 0);
    snprintf(want, sizeof want, REGIONS, 101);
    assert_string_equal(dump(env, d), want);
    /* turned around: eu, a member, now has us; global drops both and gets
     * apac.  Applied in another order, SPEC §2 would refuse a step. */
    begin(&e, XFR_FORM_AXFR, 200);
    add(&e, alloc_obj("default"));
    add(&e, alloc_obj("eu"));
    add(&e, alloc_obj("us"));
    add(&e, alloc_obj("apac"));
    add(&e, alloc_obj("global"));
    add(&e, member_obj("eu", "us"));
    add(&e, member_obj("global", "apac"));
    add(&e, entry_obj("eu", "203.0.113.0/24"));
    add(&e, entry_obj("us", "198.51.100.0/24"));
    add(&e, entry_obj("apac", "192.0.2.0/24"));
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 4);
    assert_string_equal(dump(env, d), "serial 200\napac: 192.0.2.0/24\ndefault:"
                                      "\neu(us): 203.0.113.0/24\nglobal(apac):"
                                      "\nus: 198.51.100.0/24");
    assert_int_equal(listed(env, "global", "203.0.113.9"), 0);
    assert_int_equal(listed(env, "global", "192.0.2.9"), 1);
    assert_int_equal(listed(env, "eu", "198.51.100.9"), 1);
    /* gone: eu with its member, and us, its member; emea new with apac,
     * which stays global's too */
    begin(&e, XFR_FORM_AXFR, 300);
    add(&e, alloc_obj("default"));
    add(&e, alloc_obj("apac"));
    add(&e, alloc_obj("global"));
    add(&e, alloc_obj("emea"));
    add(&e, member_obj("global", "apac"));
    add(&e, member_obj("emea", "apac"));
    add(&e, entry_obj("apac", "192.0.2.0/24"));
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 2);
    assert_string_equal(dump(env, d), "serial 300\napac: 192.0.2.0/24\ndefault:"
                                      "\nemea(apac):\nglobal(apac):");
    /* gone: global, an allocation with a member */
    begin(&e, XFR_FORM_AXFR, 400);
    add(&e, alloc_obj("default"));
    add(&e, alloc_obj("apac"));
    add(&e, alloc_obj("emea"));
    add(&e, member_obj("emea", "apac"));
    add(&e, entry_obj("apac", "192.0.2.0/24"));
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 1);
    assert_string_equal(dump(env, d), "serial 400\napac: 192.0.2.0/24\ndefault:\nemea(apac):");
    snprintf(before, sizeof before, "%s", d->buf);
    /* refused, nothing applied: a link to an allocation the zone lacks ... */
    begin(&e, XFR_FORM_AXFR, 500);
    add(&e, alloc_obj("default"));
    add(&e, alloc_obj("emea"));
    add(&e, member_obj("emea", "apac"));
    assert_int_equal(apply(env, &e, &res), APPLY_EDATA);
    assert_non_null(strstr(res.err, "apac"));
    assert_string_equal(dump(env, d), before);
    /* ... and two levels (in.h refuses it first; the database too) */
    begin(&e, XFR_FORM_AXFR, 500);
    add(&e, alloc_obj("default"));
    add(&e, alloc_obj("apac"));
    add(&e, alloc_obj("emea"));
    add(&e, alloc_obj("world"));
    add(&e, member_obj("world", "emea"));
    add(&e, member_obj("emea", "apac"));
    assert_int_equal(apply(env, &e, &res), APPLY_EDATA);
    assert_non_null(strstr(res.err, "members of allocation"));
    assert_string_equal(dump(env, d), before);
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(d);
}

static void seq(struct ev *e, uint32_t from)
{
    ev(e, XFR_EV_SEQ, NULL, from, 0);
}

static void adds(struct ev *e, uint32_t from, uint32_t to)
{
    ev(e, XFR_EV_ADDS, NULL, from, to);
}

static void seq_end(struct ev *e, uint32_t from, uint32_t to)
{
    ev(e, XFR_EV_SEQ_END, NULL, from, to);
}

static void test_ixfr_members(void **state)
{
    char dir[256], before[1 << 16];
    spfdb_env *env = replica(dir);
    struct apply_result res;
    struct dump *d = malloc(sizeof *d);
    struct ev e;
    (void)state;

    regions(&e, 100);
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    begin(&e, XFR_FORM_IXFR, 102);
    /* a link added */
    seq(&e, 100);
    adds(&e, 100, 101);
    add(&e, member_obj("global", "apac"));
    seq_end(&e, 100, 101);
    /* changed: us out; asia new, and in */
    seq(&e, 101);
    del(&e, member_obj("global", "us"));
    adds(&e, 101, 102);
    add(&e, member_obj("global", "asia"));
    add(&e, entry_obj("asia", "198.18.0.0/15"));
    add(&e, alloc_obj("asia"));
    seq_end(&e, 101, 102);
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 3);
    assert_string_equal(dump(env, d), "serial 102\nzone iphmx.example  300\napac: 192.0.2.0/24"
                                      "\nasia: 198.18.0.0/15\ndefault:\neu: 203.0.113.0/24"
                                      "\nglobal(apac,asia,eu):\nus: 198.51.100.0/24");
    assert_int_equal(listed(env, "global", "198.18.3.4"), 1);
    assert_int_equal(listed(env, "global", "198.51.100.9"), 0);
    /* global deleted with its members (the primary logs the links' deletion
     * first), and asia, one of them, with its entry */
    begin(&e, XFR_FORM_IXFR, 103);
    seq(&e, 102);
    del(&e, member_obj("global", "apac"));
    del(&e, member_obj("global", "asia"));
    del(&e, member_obj("global", "eu"));
    del(&e, alloc_obj("global"));
    del(&e, entry_obj("asia", "198.18.0.0/15"));
    del(&e, alloc_obj("asia"));
    adds(&e, 102, 103);
    seq_end(&e, 102, 103);
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 3);
    assert_string_equal(dump(env, d), "serial 103\nzone iphmx.example  300\napac: 192.0.2.0/24"
                                      "\ndefault:\neu: 203.0.113.0/24\nus: 198.51.100.0/24");
    /* an allocation and its links in one sequence */
    begin(&e, XFR_FORM_IXFR, 104);
    seq(&e, 103);
    adds(&e, 103, 104);
    add(&e, member_obj("world", "eu"));
    add(&e, member_obj("world", "us"));
    add(&e, alloc_obj("world"));
    seq_end(&e, 103, 104);
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.members, 2);
    assert_non_null(strstr(dump(env, d), "\nworld(eu,us):"));
    snprintf(before, sizeof before, "%s", d->buf);
    /* not at the sequence's start: nothing applied, AXFR asked for */
    static const struct {
        int op; /* XFR_OP_DEL or XFR_OP_ADD */
        int kind;
        const char *a, *m, *err;
    } bad[] = {
        {XFR_OP_DEL, XFR_MEMBER, "world", "apac", "not held"},    /* a link absent */
        {XFR_OP_DEL, XFR_MEMBER, "global", "eu", "not held"},     /* its allocation absent */
        {XFR_OP_ADD, XFR_MEMBER, "world", "eu", "present"},       /* a link present */
        {XFR_OP_DEL, XFR_ALLOC, "world", NULL, "member"},         /* its links kept */
        {XFR_OP_ADD, XFR_MEMBER, "eu", "apac", "members of"},     /* eu is world's member */
        {XFR_OP_ADD, XFR_MEMBER, "apac", "world", "members of"},  /* world has members */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct xfr_obj o = bad[i].kind == XFR_MEMBER ? member_obj(bad[i].a, bad[i].m)
                                                     : alloc_obj(bad[i].a);
        begin(&e, XFR_FORM_IXFR, 105);
        seq(&e, 104);
        if (bad[i].op == XFR_OP_DEL)
            del(&e, o);
        adds(&e, 104, 105);
        if (bad[i].op == XFR_OP_ADD)
            add(&e, o);
        seq_end(&e, 104, 105);
        assert_int_equal(apply(env, &e, &res), APPLY_EDIVERGED);
        if (strstr(res.err, bad[i].err) == NULL)
            fail_msg("case %zu: %s", i, res.err);
        assert_string_equal(dump(env, d), before);
    }
    spfdb_env_close(env);
    tmpdb_remove(dir);
    free(d);
}

/* A map that fills mid-apply: spfdb_write grows it and runs the apply
 * again from the start, which must give the same result. */
static void test_map_growth(void **state)
{
    char dir[256];
    spfdb_env *env;
    struct apply_result res;
    struct ev e;
    spfdb_txn *t;
    struct spfdb_alloc a;
    (void)state;

    setenv("SPFDB_MAPSIZE", "1048576", 1);
    env = replica(dir);
    unsetenv("SPFDB_MAPSIZE");
    begin(&e, XFR_FORM_AXFR, 300);
    add(&e, alloc_obj("default"));
    for (uint32_t i = 0; i < 200000; i++) {
        char b[32];
        snprintf(b, sizeof b, "%u.%u.%u.%u/32", 11 + (i >> 24), (i >> 16) & 255, (i >> 8) & 255,
                 i & 255);
        add(&e, entry_obj("default", b));
    }
    assert_int_equal(apply(env, &e, &res), APPLY_OK);
    assert_int_equal(res.added, 200000);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    assert_int_equal(spfdb_alloc_get(t, "default", &a), 0);
    spfdb_txn_close(t);
    assert_int_equal(a.n4, 200000);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_axfr),
        cmocka_unit_test(test_ixfr_and_divergence),
        cmocka_unit_test(test_axfr_members),
        cmocka_unit_test(test_ixfr_members),
        cmocka_unit_test(test_map_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
