/* apply.h: transfers staged from events and applied to a real database in
 * one transaction each; a transfer that does not apply changes nothing. */
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

static int dump_alloc(const struct spfdb_alloc *a, void *arg)
{
    struct dump *d = arg;

    d->n += (size_t)snprintf(d->buf + d->n, sizeof d->buf - d->n, "\n%s:", a->name);
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
    /* a member link: refused whole */
    begin(&e, XFR_FORM_AXFR, 104);
    add(&e, alloc_obj("default"));
    {
        struct xfr_obj m = {.kind = XFR_MEMBER};
        snprintf(m.member.alloc, sizeof m.member.alloc, "default");
        snprintf(m.member.member, sizeof m.member.member, "acme");
        add(&e, m);
    }
    assert_int_equal(apply(env, &e, &res), APPLY_EMEMBER);
    assert_non_null(strstr(res.err, "member"));
    assert_string_equal(dump(env, d), before);
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
        cmocka_unit_test(test_map_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
