/* test_zones.c: the zone table (zones.h) and address labels (qname.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "qname.h"
#include "zones.h"

static void mkzone(struct spfdb_zone *z, const char *name, uint32_t alloc)
{
    memset(z, 0, sizeof *z);
    snprintf(z->name, sizeof z->name, "%s", name);
    z->alloc_id = alloc;
    z->ttl = 300;
    z->neg_ttl = 60;
    z->n_ns = 1;
    snprintf(z->ns[0], sizeof z->ns[0], "ns1.example.net");
}

/* Wire form of NAME with label offsets, as struct query holds them.  The
 * table reads up to 7 octets before a name (zones.h): callers leave room. */
static size_t wire(const char *name, uint8_t *w, uint8_t *label, unsigned *n)
{
    size_t len = 0;
    *n = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        label[(*n)++] = (uint8_t)len;
        w[len++] = (uint8_t)l;
        memcpy(w + len, name, l);
        len += l;
        name += l + (dot ? 1 : 0);
    }
    w[len++] = 0;
    return len;
}

static const struct zone *find(const struct zonetab *t, const char *name, unsigned *apex)
{
    uint8_t w[12 + 300], label[128];
    unsigned n;
    wire(name, w + 12, label, &n);
    return zonetab_find(t, w + 12, label, n, apex);
}

static void test_many_zones(void **state)
{
    struct zonetab *t = zonetab_new();
    struct spfdb_zone z;
    char name[300], zname[64];
    unsigned apex;
    (void)state;
    assert_non_null(t);
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(zname, sizeof zname, "z%u.spf.example", i);
        mkzone(&z, zname, i % 2 ? i : 0);
        assert_int_equal(zonetab_add_zone(t, &z), 0);
    }
    assert_int_equal(zonetab_zone_count(t), 5000);
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "1.2.3.4.SPF.acme.Z%u.spf.EXAMPLE", i);
        const struct zone *f = find(t, name, &apex);
        assert_non_null(f);
        assert_int_equal(apex, 6);
        assert_int_equal(f->alloc_id, i % 2 ? i : 0);
        snprintf(name, sizeof name, "z%u.spf.example", i);
        assert_ptr_equal(find(t, name, &apex), f);
        assert_int_equal(apex, 0);
    }
    assert_null(find(t, "spf.example", &apex));
    assert_null(find(t, "z5000.spf.example", &apex));
    assert_null(find(t, "z1.spf.example.org", &apex));
    assert_null(find(t, "", &apex));
    /* The same zone twice, in any case: refused. */
    mkzone(&z, "Z17.spf.example.", 0);
    assert_int_equal(zonetab_add_zone(t, &z), SPFDB_EINVAL);
    assert_int_equal(zonetab_zone_count(t), 5000);
    zonetab_free(t);
    assert_null(find(NULL, "z1.spf.example", &apex));
    zonetab_free(NULL);
}

static void test_bad_zones(void **state)
{
    struct zonetab *t = zonetab_new();
    struct spfdb_zone z;
    (void)state;
    mkzone(&z, "ok.example", 0);
    z.n_ns = 0;
    assert_int_equal(zonetab_add_zone(t, &z), SPFDB_EINVAL);
    mkzone(&z, "a..example", 0);
    assert_int_equal(zonetab_add_zone(t, &z), SPFDB_EINVAL);
    mkzone(&z, "", 0);
    assert_int_equal(zonetab_add_zone(t, &z), SPFDB_EINVAL);
    mkzone(&z, "ok.example", 0);
    memset(z.ns[0], 'x', 64);
    strcpy(z.ns[0] + 64, ".net");
    assert_int_equal(zonetab_add_zone(t, &z), SPFDB_EINVAL);
    mkzone(&z, "ok.example", 0);
    strcpy(z.hostmaster, "no-at-sign.example");
    assert_int_equal(zonetab_add_zone(t, &z), SPFDB_EINVAL);
    memset(z.hostmaster, 'l', 64);
    strcpy(z.hostmaster + 64, "@example.net");
    assert_int_equal(zonetab_add_zone(t, &z), SPFDB_EINVAL);
    assert_int_equal(zonetab_zone_count(t), 0);
    mkzone(&z, "ok.example", 0);
    assert_int_equal(zonetab_add_zone(t, &z), 0);
    zonetab_free(t);
}

static void test_soa_rdata(void **state)
{
    struct zonetab *t = zonetab_new();
    struct spfdb_zone z;
    unsigned apex;
    (void)state;
    mkzone(&z, "d.example", 0);
    z.neg_ttl = 77;
    strcpy(z.hostmaster, "first.last@Mail.Example.");
    assert_int_equal(zonetab_add_zone(t, &z), 0);
    const struct zone *f = find(t, "d.example", &apex);
    assert_non_null(f);
    /* Owner 0 (patched per answer), SOA IN, TTL 77, RDLENGTH 62, then
     * MNAME, RNAME (the local part one label) and serial 0. */
    static const uint8_t want[] = "\0\0\0\6\0\1\0\0\0\x4d\0\x3e"
                                  "\3ns1\7example\3net\0"
                                  "\12first.last\4mail\7example\0"
                                  "\0\0\0\0" "\0\0\x38\x40" "\0\0\x0e\x10" "\0\x12\x75\0" "\0\0\0\x4d";
    assert_int_equal(f->soa_rr_len, sizeof want - 1);
    assert_memory_equal(f->soa_rr, want, sizeof want - 1);
    static const uint8_t ns[] = "\xc0\x0c\0\2\0\1\0\0\1\x2c\0\x11\3ns1\7example\3net\0";
    assert_int_equal(f->ns_count, 1);
    assert_int_equal(f->ns_rr_len, sizeof ns - 1);
    assert_memory_equal(f->ns_rr, ns, sizeof ns - 1);
    static const uint8_t a[] = "\xc0\x0c\0\1\0\1\0\0\1\x2c\0\4\x7f\0\0\2";
    assert_memory_equal(f->a_rr, a, sizeof a - 1);
    assert_memory_equal(f->apex, "\1d\7example\0", 11);
    zonetab_free(t);
}

/* Zones of different depths side by side: the search probes only the
 * depths some apex has, up to the deepest (70 labels: the second word of
 * the depth bitmap). */
static void test_depths(void **state)
{
    struct zonetab *t = zonetab_new();
    struct spfdb_zone z;
    char deep[200] = "", name[300];
    unsigned apex;
    (void)state;
    assert_non_null(t);
    for (int i = 0; i < 70; i++)
        strcat(deep, i ? ".d" : "d");
    mkzone(&z, "tld", 1);
    assert_int_equal(zonetab_add_zone(t, &z), 0);
    mkzone(&z, "five.four.three.two.one", 2);
    assert_int_equal(zonetab_add_zone(t, &z), 0);
    mkzone(&z, deep, 3);
    assert_int_equal(zonetab_add_zone(t, &z), 0);

    assert_int_equal(find(t, "1.2.3.4.TLD", &apex)->alloc_id, 1);
    assert_int_equal(apex, 4);
    assert_int_equal(find(t, "x.Five.four.three.two.one", &apex)->alloc_id, 2);
    assert_int_equal(apex, 1);
    snprintf(name, sizeof name, "a.b.%s", deep);
    assert_int_equal(find(t, name, &apex)->alloc_id, 3);
    assert_int_equal(apex, 2);
    assert_int_equal(find(t, deep, &apex)->alloc_id, 3);
    assert_int_equal(apex, 0);
    /* Suffixes of served apexes, and names as deep as an apex but elsewhere. */
    assert_null(find(t, "four.three.two.one", &apex));
    assert_null(find(t, "five.four.three.two.ONE.x", &apex));
    assert_null(find(t, "d.d.d", &apex));
    assert_null(find(t, deep + 2, &apex));
    /* Letters fold, nothing else does: '@' (0x40) is not '`' (0x60). */
    mkzone(&z, "x-y`z.example", 4);
    assert_int_equal(zonetab_add_zone(t, &z), 0);
    assert_int_equal(find(t, "1.X-Y`Z.Example", &apex)->alloc_id, 4);
    assert_null(find(t, "1.x-y@z.example", &apex));
    assert_null(find(t, "1.x\x0dy`z.example", &apex));
    zonetab_free(t);
}

static void test_allocs(void **state)
{
    struct zonetab *t = zonetab_new();
    char name[64];
    uint8_t buf[8 + 64], *label = buf + 8;
    (void)state;
    for (uint32_t i = 1; i <= 3000; i++) {
        snprintf(name, sizeof name, "alloc-%u", i);
        assert_int_equal(zonetab_add_alloc(t, name, i), 0);
    }
    for (uint32_t i = 1; i <= 3000; i++) {
        int n = snprintf((char *)label + 1, 63, "ALLOC-%u", i);
        label[0] = (uint8_t)n;
        assert_int_equal(zonetab_alloc_id(t, label), i);
    }
    memcpy(label, "\7alloc-0", 8);
    assert_int_equal(zonetab_alloc_id(t, label), 0);
    memcpy(label, "\6alloc-1", 8); /* a prefix is not a match */
    assert_int_equal(zonetab_alloc_id(t, label), 0);
    /* Case folds for letters only: '-' (0x2D) is not 0x0D, '{' not '['. */
    assert_int_equal(zonetab_add_alloc(t, "a-b{", 7000), 0);
    memcpy(label, "\4A-B{", 5);
    assert_int_equal(zonetab_alloc_id(t, label), 7000);
    memcpy(label, "\4a\x0d" "b{", 5);
    assert_int_equal(zonetab_alloc_id(t, label), 0);
    memcpy(label, "\4a-b[", 5);
    assert_int_equal(zonetab_alloc_id(t, label), 0);
    assert_int_equal(zonetab_add_alloc(t, "Alloc-5", 9999), SPFDB_EINVAL);
    assert_int_equal(zonetab_add_alloc(t, "zero", 0), SPFDB_EINVAL);
    assert_int_equal(zonetab_add_alloc(t, "", 5000), SPFDB_EINVAL);
    assert_int_equal(zonetab_add_alloc(t, "a.b", 5001), SPFDB_EINVAL);
    zonetab_free(t);
}

/* Allocations added and deleted in place (spfdbd's table follows the
 * commits that add or delete allocations without a rebuild): a random
 * run against a model, lookups of every name after each step, in a table
 * small enough that deletions shift probe chains around. */
static uint32_t model_id[400];

static uint32_t lookup(const struct zonetab *t, unsigned i)
{
    uint8_t buf[8 + 64], *label = buf + 8;
    int n = snprintf((char *)label + 1, 63, "t%u", i);
    label[0] = (uint8_t)n;
    return zonetab_alloc_id(t, label);
}

static void test_alloc_del(void **state)
{
    struct zonetab *t = zonetab_new();
    uint64_t r = 88172645463325252ull;
    char name[64];
    uint32_t next = 1;
    unsigned live = 0;
    (void)state;

    memset(model_id, 0, sizeof model_id);
    assert_int_equal(zonetab_del_alloc(t, "none"), SPFDB_ENOTFOUND);
    for (unsigned step = 0; step < 20000; step++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        unsigned i = (unsigned)(r % 400);
        snprintf(name, sizeof name, "t%u", i);
        if (model_id[i]) {
            assert_int_equal(zonetab_del_alloc(t, name), 0);
            assert_int_equal(zonetab_del_alloc(t, name), SPFDB_ENOTFOUND);
            model_id[i] = 0;
            live--;
        } else {
            assert_int_equal(zonetab_add_alloc(t, name, next), 0);
            model_id[i] = next++;
            live++;
        }
        assert_int_equal(zonetab_alloc_count(t), live);
        for (unsigned k = 0; k < 400; k += step % 16 == 0 ? 1 : 37)
            assert_int_equal(lookup(t, k), model_id[k]);
    }
    for (unsigned k = 0; k < 400; k++)
        assert_int_equal(lookup(t, k), model_id[k]);
    assert_true(zonetab_alloc_dead(t) > 0);
    zonetab_free(t);
}

static void classify(const char *labels, struct qname_addr *a)
{
    uint8_t w[300], off[128];
    unsigned n;
    wire(labels, w, off, &n);
    qname_classify(w, n, a);
}

static void test_qname(void **state)
{
    struct qname_addr a;
    (void)state;
    classify("0.255.9.10", &a);
    assert_int_equal(a.kind, QNAME_ADDR);
    assert_int_equal(a.family, 4);
    assert_false(a.unlisted_tail);
    assert_memory_equal(a.addr, ((uint8_t[]){ 0, 255, 9, 10 }), 4);
    classify("0.1.2.3", &a);
    assert_int_equal(a.kind, QNAME_ADDR);
    assert_true(a.unlisted_tail);
    /* Single digits but for one label, wherever it is: not a tail. */
    static const char *const one_wide[] = { "10.1.2.3", "0.10.2.3", "0.1.20.3", "0.1.2.30",
                                            "0.1.2.255" };
    for (unsigned i = 0; i < sizeof one_wide / sizeof one_wide[0]; i++) {
        classify(one_wide[i], &a);
        assert_int_equal(a.kind, QNAME_ADDR);
        assert_false(a.unlisted_tail);
    }
    classify("F.e.D.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.a.B", &a);
    assert_int_equal(a.kind, QNAME_ADDR);
    assert_int_equal(a.family, 6);
    assert_memory_equal(a.addr, ((uint8_t[]){ 0xfe, 0xdc, [15] = 0xab }), 16);
    classify("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.f.f.0.a.0.0.0.0.0.1", &a);
    assert_int_equal(a.family, 4);
    assert_memory_equal(a.addr, ((uint8_t[]){ 10, 0, 0, 1, [15] = 0 }), 16);
    /* ::fffe:... and 6to4 are not mapped. */
    classify("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.f.e.0.a.0.0.0.0.0.1", &a);
    assert_int_equal(a.family, 6);
    classify("2.0.0.2.0.a.0.0.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1", &a);
    assert_int_equal(a.family, 6);
    static const char *const tails[] = { "1", "255.255.255", "a", "8.8.8.8.8", "0.a.f.0",
                                         "a.b.c.d", "1.2.3.F" };
    for (unsigned i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        classify(tails[i], &a);
        assert_int_equal(a.kind, QNAME_TAIL);
    }
    static const char *const absent[] = {
        "01", "256", "0a", "1.2.3.4.5.6.7.88", "999", "1.2.3.40.0", "g", "1.-",
        "1.2.3.256", "1.2.3.01", "1.2.03.4", "10.2.3.a", "1.2.3.4a", "1.2.3.:",
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.g",
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0a.0",
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
    };
    for (unsigned i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        classify(absent[i], &a);
        assert_int_equal(a.kind, QNAME_ABSENT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_zones), cmocka_unit_test(test_bad_zones),
        cmocka_unit_test(test_soa_rdata),  cmocka_unit_test(test_allocs),
        cmocka_unit_test(test_alloc_del),
        cmocka_unit_test(test_depths),
        cmocka_unit_test(test_qname),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
