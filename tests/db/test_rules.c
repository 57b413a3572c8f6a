/* test_rules: SPEC §2's rules as the library checks them (db/rules.h):
 * each rule alone, at its bound, with the detail a writer words its
 * message from; then the write calls refusing what breaks them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spfdb.h"
#include "tmpdb.h"

/* A zone that breaks no rule. */
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
    strcpy(z.ns[1], "ns2.example.net");
    return z;
}

/* A valid name of LEN characters ending in SUFFIX: labels of 40 or so. */
static void name_of(char *out, size_t len, const char *suffix)
{
    size_t s = strlen(suffix), n = len - s;

    for (size_t i = 0; i + 1 < n; i++)
        out[i] = i % 41 == 40 && i + 2 < n ? '.' : 'a';
    out[n - 1] = '.';
    memcpy(out + n, suffix, s + 1);
}

static struct spfdb_prefix pfx(const char *s)
{
    struct spfdb_prefix p;

    assert_int_equal(spfdb_prefix_parse(s, strlen(s), &p, NULL, NULL, 0), 0);
    return p;
}

/* Z breaks RULE alone: spfdb_zone_rules says CODE and RULE. */
static void broken(const struct spfdb_zone *z, int code, int rule, struct spfdb_why *why)
{
    assert_int_equal(spfdb_zone_rules(z, why), code);
    assert_int_equal(why->rule, rule);
    assert_int_equal(spfdb_zone_rules(z, NULL), code);
}

static void test_zone_form(void **state)
{
    struct spfdb_zone z;
    struct spfdb_why why;
    (void)state;

    z = zone("z.example", 0);
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
    assert_int_equal(why.rule, SPFDB_RULE_NONE);

    z = zone("Z.example", 0); /* stored names are lowercase */
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_ZONE_NAME, &why);
    z = zone("z.example.", 0);
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_ZONE_NAME, &why);
    z = zone("z..example", 0);
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_ZONE_NAME, &why);
    assert_string_equal(why.msg, "empty label in name");
    memset(z.name, 'a', sizeof z.name); /* not terminated */
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_ZONE_NAME, &why);

    z = zone("z.example", 0);
    z.n_ns = 0;
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_NS_COUNT, &why);
    assert_int_equal(why.value, 0);
    z.n_ns = SPFDB_NS_MAX + 1;
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_NS_COUNT, &why);
    assert_int_equal(why.value, SPFDB_NS_MAX + 1);
    assert_int_equal(why.limit, SPFDB_NS_MAX);

    z = zone("z.example", 0);
    strcpy(z.ns[1], "bad host");
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_NS_NAME, &why);
    assert_int_equal(why.index, 1);
    assert_string_equal(why.host, "bad host");
    assert_string_equal(why.msg, "name may hold only letters, digits, '-', '_' and '.'");

    z = zone("z.example", 0);
    z.n_ns = 3;
    strcpy(z.ns[2], "ns1.example.net");
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_NS_TWICE, &why);
    assert_int_equal(why.index, 2);
    assert_string_equal(why.host, "ns1.example.net");

    z = zone("z.example", 0);
    strcpy(z.hostmaster, "nobody");
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_HOSTMASTER, &why);
    assert_string_equal(why.mailbox, "nobody");
    assert_string_equal(why.msg, "expected local@domain");
    strcpy(z.hostmaster, "Some.One@Example.org"); /* the domain is stored lowercase */
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_HOSTMASTER, &why);
    strcpy(z.hostmaster, "Some.One@example.org");
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);

    z = zone("z.example", 0);
    z.ttl = 0;
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_TTL, &why);
    z.ttl = SPFDB_TTL_MAX + 1;
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_TTL, &why);
    assert_int_equal(why.value, SPFDB_TTL_MAX + 1);
    assert_int_equal(why.limit, 604800);
    z.ttl = SPFDB_TTL_MAX;
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
    z.neg_ttl = 0;
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_NEG_TTL, &why);
    z.neg_ttl = SPFDB_NEG_TTL_MAX + 1;
    broken(&z, SPFDB_EINVAL, SPFDB_RULE_NEG_TTL, &why);
    assert_int_equal(why.limit, 86400);
    z.neg_ttl = SPFDB_NEG_TTL_MAX;
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
}

static void test_zone_limits(void **state)
{
    struct spfdb_zone z;
    struct spfdb_why why;
    (void)state;

    /* 120 characters for a provider zone, 188 for a delegated one */
    z = zone("", 0);
    name_of(z.name, 120, "example");
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
    name_of(z.name, 121, "example");
    broken(&z, SPFDB_ERULE, SPFDB_RULE_ZONE_LONG, &why);
    assert_int_equal(why.value, 121);
    assert_int_equal(why.limit, 120);
    z.alloc_id = 2;
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
    name_of(z.name, 188, "example");
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
    name_of(z.name, 189, "example");
    broken(&z, SPFDB_ERULE, SPFDB_RULE_ZONE_LONG, &why);
    assert_int_equal(why.value, 189);
    assert_int_equal(why.limit, 188);

    /* no NS host at or below the zone itself */
    z = zone("z.example", 0);
    strcpy(z.ns[1], "ns1.z.example");
    broken(&z, SPFDB_ERULE, SPFDB_RULE_NS_IN_ZONE, &why);
    assert_int_equal(why.index, 1);
    assert_string_equal(why.host, "ns1.z.example");
    strcpy(z.ns[1], "z.example");
    broken(&z, SPFDB_ERULE, SPFDB_RULE_NS_IN_ZONE, &why);
    strcpy(z.ns[1], "ns1.zz.example");
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);

    /* hostmaster@ + the first NS host's domain must fit a mailbox */
    z = zone("z.example", 0);
    strcpy(z.ns[0], "h.");
    name_of(z.ns[0] + 2, 245, "example.net"); /* 11 + 245 = 256 */
    broken(&z, SPFDB_ERULE, SPFDB_RULE_NO_HOSTMASTER, &why);
    assert_string_equal(why.host, z.ns[0]);
    z.ns[0][strlen(z.ns[0]) - 1] = '\0'; /* 255: the mailbox fits, the SOA does not */
    broken(&z, SPFDB_ERULE, SPFDB_RULE_SOA_NAMES, &why);

    /* MNAME + RNAME: 190 wire octets.  MNAME 100 characters (102 octets),
     * RNAME "h" + domain of 84 (1 + 1 + 86) = 190 */
    z = zone("z.example", 0);
    name_of(z.ns[0], 100, "example.net");
    strcpy(z.hostmaster, "h@");
    name_of(z.hostmaster + 2, 84, "example.org");
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
    name_of(z.hostmaster + 2, 85, "example.org");
    broken(&z, SPFDB_ERULE, SPFDB_RULE_SOA_NAMES, &why);
    assert_int_equal(why.value, 191);
    assert_int_equal(why.limit, 190);
    assert_string_equal(why.host, z.ns[0]);
    assert_string_equal(why.mailbox, z.hostmaster);
    /* ... the default mailbox counts too: MNAME h.D is |D| + 4 octets,
     * RNAME hostmaster@D 1 + 10 + |D| + 2: 2 |D| + 17 */
    z.hostmaster[0] = '\0';
    strcpy(z.ns[0], "h.");
    name_of(z.ns[0] + 2, 86, "example.net");
    assert_int_equal(spfdb_zone_rules(&z, &why), 0); /* 189 */
    name_of(z.ns[0] + 2, 87, "example.net");
    broken(&z, SPFDB_ERULE, SPFDB_RULE_SOA_NAMES, &why);
    assert_int_equal(why.value, 191);
    assert_true(strncmp(why.mailbox, "hostmaster@", 11) == 0);
    assert_string_equal(why.mailbox + 11, z.ns[0] + 2);

    /* the apex NS answer: 12 + (zone + 2) + 4 + 11 + each (2 + 10 + host
     * + 2): 38 + 16 x 14 + the 16 hosts' characters, 240 + EXTRA */
    z = zone("z.example", 0);
    z.n_ns = 16;
    for (unsigned extra = 10; extra <= 11; extra++) {
        for (unsigned k = 0; k < 16; k++)
            snprintf(z.ns[k], sizeof z.ns[k], "h%02u%s.example.net", k, k < extra ? "x" : "");
        if (extra == 10) {
            assert_int_equal(spfdb_zone_rules(&z, &why), 0); /* 512 */
            continue;
        }
        broken(&z, SPFDB_ERULE, SPFDB_RULE_NS_ANSWER, &why);
        assert_int_equal(why.value, 513);
        assert_int_equal(why.limit, 512);
    }
    z.n_ns = 1; /* one NS host is allowed (the warning is the writer's) */
    assert_int_equal(spfdb_zone_rules(&z, &why), 0);
}

static void test_zone_conflicts(void **state)
{
    struct spfdb_zone s = zone("spf.example.com", 0), z;
    struct spfdb_why why;
    (void)state;

    z = zone("spf.example.com", 0); /* the zone replaced, or a new one */
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), 0);
    assert_int_equal(spfdb_zone_conflict(&z, &s, SPFDB_ZONE_NEW, &why), SPFDB_EEXIST);
    assert_int_equal(why.rule, SPFDB_RULE_ZONE_SERVED);
    assert_string_equal(why.other, "spf.example.com");

    z = zone("x.spf.example.com", 0);
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_ZONE_BELOW);
    assert_string_equal(why.other, "spf.example.com");
    z = zone("example.com", 0);
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_ZONE_ABOVE);
    assert_string_equal(why.other, "spf.example.com");
    z = zone("com", 0);
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_ZONE_ABOVE);
    z = zone("pf.example.com", 0); /* a sibling, not a parent */
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), 0);
    z = zone("xspf.example.com", 0);
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), 0);

    /* an NS host in the served zone, or at its apex */
    z = zone("z.example", 0);
    strcpy(z.ns[1], "ns.spf.example.com");
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_NS_IN_SERVED);
    assert_int_equal(why.index, 1);
    assert_string_equal(why.host, "ns.spf.example.com");
    assert_string_equal(why.other, "spf.example.com");
    strcpy(z.ns[1], "spf.example.com");
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_NS_IN_SERVED);

    /* a new zone may not swallow a served zone's NS host */
    s = zone("a.example", 0);
    strcpy(s.ns[1], "ns.example.org");
    z = zone("example.org", 0);
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_SERVED_NS);
    assert_int_equal(why.index, 1);
    assert_string_equal(why.host, "ns.example.org");
    assert_string_equal(why.other, "a.example");
    assert_int_equal(spfdb_zone_conflict(&z, &s, 0, NULL), SPFDB_ERULE);
}

static void test_entry_rules(void **state)
{
    struct spfdb_prefix p;
    struct spfdb_why why;
    (void)state;

    p = pfx("198.51.100.0/24");
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), 0);
    p.addr[3] = 7; /* host bits */
    assert_int_equal(spfdb_prefix_check(&p, SPFDB_ENTRY_WIDE, &why), SPFDB_EINVAL);
    assert_int_equal(why.rule, SPFDB_RULE_PREFIX);
    p = pfx("198.51.100.0/24");
    p.len = 33;
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), SPFDB_EINVAL);
    assert_int_equal(why.rule, SPFDB_RULE_PREFIX);
    p.family = 5;
    p.len = 0;
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), SPFDB_EINVAL);

    /* IPv4-mapped IPv6: the IPv4 prefix is the entry */
    memset(&p, 0, sizeof p);
    p.family = 6;
    p.len = 120;
    p.addr[10] = p.addr[11] = 0xff;
    p.addr[12] = 192;
    assert_int_equal(spfdb_prefix_check(&p, SPFDB_ENTRY_WIDE, &why), SPFDB_EINVAL);
    assert_int_equal(why.rule, SPFDB_RULE_MAPPED);
    p.len = 80; /* ::/80 holds more than the mapped range: not mapped */
    memset(p.addr, 0, sizeof p.addr);
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), 0);

    /* shorter than /8 or /16: only with SPFDB_ENTRY_WIDE */
    p = pfx("10.0.0.0/8");
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), 0);
    p = pfx("10.0.0.0/7");
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_WIDE);
    assert_int_equal(why.value, 7);
    assert_int_equal(why.limit, 8);
    assert_int_equal(spfdb_prefix_check(&p, SPFDB_ENTRY_WIDE, &why), 0);
    p = pfx("2001::/16");
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), 0);
    p = pfx("2000::/15");
    assert_int_equal(spfdb_prefix_check(&p, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.limit, 16);
    p = pfx("0.0.0.0/0");
    assert_int_equal(spfdb_prefix_check(&p, 0, NULL), SPFDB_ERULE);
}

static void test_alloc_name_rules(void **state)
{
    struct spfdb_why why;
    (void)state;

    assert_int_equal(spfdb_alloc_name_check("acme-2", &why), 0);
    assert_int_equal(spfdb_alloc_name_check("Acme", &why), SPFDB_EINVAL);
    assert_int_equal(why.rule, SPFDB_RULE_ALLOC_NAME);
    assert_int_equal(spfdb_alloc_name_check("a_b", &why), SPFDB_EINVAL);
    assert_string_equal(why.msg, "allocation name may hold only letters, digits and '-'");
    assert_int_equal(spfdb_alloc_name_check("", NULL), SPFDB_EINVAL);
}

/* ---- the write calls enforce them ---------------------------------------- */

struct job {
    uint32_t acme;
};

/* A zone breaking each kind of rule: spfdb_zone_put refuses it. */
static void put_refused(spfdb_txn *t, const struct spfdb_zone *z, int code, int rule)
{
    struct spfdb_why why;

    assert_int_equal(spfdb_zone_put(t, z), code);
    assert_int_equal(spfdb_zone_put_flags(t, z, 0, &why), code);
    assert_int_equal(why.rule, rule);
    assert_int_equal(spfdb_zone_get(t, z->name, &(struct spfdb_zone){0}), SPFDB_ENOTFOUND);
}

static int zones_fn(spfdb_txn *t, void *arg)
{
    struct job *j = arg;
    struct spfdb_zone z, s;
    struct spfdb_why why;

    assert_int_equal(spfdb_alloc_add(t, "acme", &j->acme), 0);
    s = zone("spf.example.com", 0);
    assert_int_equal(spfdb_zone_put_flags(t, &s, SPFDB_ZONE_NEW, &why), 0);
    s = zone("a.example", j->acme);
    strcpy(s.ns[1], "ns.example.org");
    assert_int_equal(spfdb_zone_put(t, &s), 0);

    z = zone("Z.example", 0);
    put_refused(t, &z, SPFDB_EINVAL, SPFDB_RULE_ZONE_NAME);
    z = zone("z.example", 0);
    z.neg_ttl = 0;
    put_refused(t, &z, SPFDB_EINVAL, SPFDB_RULE_NEG_TTL);
    z = zone("z.example", 0);
    strcpy(z.ns[0], "ns.z.example");
    put_refused(t, &z, SPFDB_ERULE, SPFDB_RULE_NS_IN_ZONE);
    z = zone("x.spf.example.com", 0);
    put_refused(t, &z, SPFDB_ERULE, SPFDB_RULE_ZONE_BELOW);
    z = zone("example.com", 0);
    put_refused(t, &z, SPFDB_ERULE, SPFDB_RULE_ZONE_ABOVE);
    z = zone("z.example", 0);
    strcpy(z.ns[1], "ns1.spf.example.com");
    put_refused(t, &z, SPFDB_ERULE, SPFDB_RULE_NS_IN_SERVED);
    z = zone("example.org", 0);
    put_refused(t, &z, SPFDB_ERULE, SPFDB_RULE_SERVED_NS);
    z = zone("z.example", 99); /* no allocation 99 */
    assert_int_equal(spfdb_zone_put(t, &z), SPFDB_ENOTFOUND);

    /* served zones in name order: the first conflict is named */
    z = zone("example", 0);
    assert_int_equal(spfdb_zone_check(t, &z, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_ZONE_ABOVE);
    assert_string_equal(why.other, "a.example");

    /* add versus replace */
    s = zone("spf.example.com", 0);
    s.ttl = 900;
    assert_int_equal(spfdb_zone_put_flags(t, &s, SPFDB_ZONE_NEW, &why), SPFDB_EEXIST);
    assert_int_equal(why.rule, SPFDB_RULE_ZONE_SERVED);
    assert_string_equal(why.other, "spf.example.com");
    assert_int_equal(spfdb_zone_put_flags(t, &s, 0, &why), 0);
    assert_int_equal(spfdb_zone_get(t, "spf.example.com", &z), 0);
    assert_int_equal(z.ttl, 900);
    /* a delegated zone of 189 characters, or one too long once provider */
    z = zone("", j->acme);
    name_of(z.name, 188, "d.example");
    assert_int_equal(spfdb_zone_put(t, &z), 0);
    z.alloc_id = 0;
    assert_int_equal(spfdb_zone_put_flags(t, &z, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_ZONE_LONG);
    return 0;
}

static int entries_fn(spfdb_txn *t, void *arg)
{
    struct spfdb_prefix p = pfx("10.0.0.0/7"), q;
    struct spfdb_why why;
    (void)arg;

    /* a wide prefix only with SPFDB_ENTRY_WIDE, asked for explicitly: the
     * plain call is strict, so no writer skips the rule by default */
    assert_int_equal(spfdb_entry_add_flags(t, 1, &p, 0, &why), SPFDB_ERULE);
    assert_int_equal(why.rule, SPFDB_RULE_WIDE);
    assert_int_equal(spfdb_entry_add(t, 1, &p), SPFDB_ERULE);
    assert_int_equal(spfdb_entry_add(t, 1, &(struct spfdb_prefix){.family = 6, .len = 8}),
                     SPFDB_ERULE);
    assert_int_equal(spfdb_entry_has(t, 1, &p), 0);
    assert_int_equal(spfdb_entry_add_flags(t, 1, &p, SPFDB_ENTRY_WIDE, &why), 0);
    assert_int_equal(spfdb_entry_add_flags(t, 1, &(struct spfdb_prefix){.family = 6, .len = 8},
                                           SPFDB_ENTRY_WIDE, NULL), 0);
    q = p;
    q.addr[3] = 1;
    q.len = 24; /* host bits */
    assert_int_equal(spfdb_entry_add(t, 1, &q), SPFDB_EINVAL);
    assert_int_equal(spfdb_entry_add_flags(t, 1, &q, SPFDB_ENTRY_WIDE, &why), SPFDB_EINVAL);
    assert_int_equal(why.rule, SPFDB_RULE_PREFIX);
    memset(&q, 0, sizeof q);
    q.family = 6;
    q.len = 128;
    q.addr[10] = q.addr[11] = 0xff;
    q.addr[15] = 1;
    assert_int_equal(spfdb_entry_add(t, 1, &q), SPFDB_EINVAL);
    assert_int_equal(spfdb_entry_has(t, 1, &q), 0);
    assert_int_equal(spfdb_alloc_add(t, "Acme", NULL), SPFDB_EINVAL);
    assert_int_equal(spfdb_alloc_add(t, "a.b", NULL), SPFDB_EINVAL);
    return 0;
}

static void test_writes_enforce(void **state)
{
    char dir[256];
    spfdb_env *env;
    struct job j = {0};
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, zones_fn, &j), 0);
    assert_int_equal(spfdb_write(env, entries_fn, &j), 0);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone_form),
        cmocka_unit_test(test_zone_limits),
        cmocka_unit_test(test_zone_conflicts),
        cmocka_unit_test(test_entry_rules),
        cmocka_unit_test(test_alloc_name_rules),
        cmocka_unit_test(test_writes_enforce),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
