/* Prefix parser and formatter (db/prefix.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spfdb.h"

static int parse(const char *s, struct spfdb_prefix *p, unsigned *notes, char *msg)
{
    return spfdb_prefix_parse(s, strlen(s), p, notes, msg, 128);
}

static void expect_bad(const char *s)
{
    struct spfdb_prefix p;
    unsigned notes;
    char msg[128] = "";

    if (parse(s, &p, &notes, msg) != SPFDB_EINVAL)
        fail_msg("accepted bad prefix \"%s\"", s);
    assert_true(msg[0] != '\0');
}

static void expect_ok(const char *s, const char *canon, unsigned want_notes)
{
    struct spfdb_prefix p, q;
    unsigned notes = 99, n2;
    char msg[128] = "", buf[SPFDB_PREFIX_STRLEN];

    if (parse(s, &p, &notes, msg) != 0)
        fail_msg("rejected \"%s\": %s", s, msg);
    spfdb_prefix_format(&p, buf, sizeof buf);
    assert_string_equal(buf, canon);
    assert_int_equal(notes, want_notes);
    /* The canonical form parses to the same prefix. */
    assert_int_equal(parse(buf, &q, &n2, msg), 0);
    assert_int_equal(spfdb_prefix_cmp(&p, &q), 0);
    assert_memory_equal(&p, &q, sizeof p);
}

static void test_bad_forms(void **state)
{
    static const char *const bad[] = {
        "", "1.2.3", "1.2.3.4/33", "::1/129", "01.2.3.4", "1.2.3.4/024", "1.2.3.4/", "/24",
        "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/ 24", "1.2.3.4\t", "1.2.3.4\n", "1.2.3.4/24x",
        "1.2.3.4x", "1.2.3.256", "1.2.3.4.5", "1..3.4", "1.2.3.4//24", "1.2.3.4/-1",
        "1.2.3.4/1234", "1.2.3.04", "0x1.2.3.4", "1.2.3.4/0x8", "2001:db8::/", "2001:db8:::/32",
        "2001:db8::g/32", "fe80::1%eth0", "::ffff:01.2.3.4", "2001:db8::/032", "1.2.3.4/24/24",
        "::1/1280", "12345::/16", "1:2:3:4:5:6:7:8:9", "[::1]", "a.b.c.d", "1.2.3.-4",
        "1.2.3.4/+8", "\xc2\xa0" "1.2.3.4",
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
}

static void test_exact_len(void **state)
{
    struct spfdb_prefix p;
    unsigned notes;
    (void)state;
    /* LEN bytes only: an embedded NUL or what follows LEN is not read. */
    assert_int_equal(spfdb_prefix_parse("1.0.0.0/8xx", 9, &p, &notes, NULL, 0), 0);
    assert_int_equal(p.len, 8);
    assert_int_equal(spfdb_prefix_parse("1.2.3.4\0", 8, &p, &notes, NULL, 0), SPFDB_EINVAL);
}

static void test_host_bits_hint(void **state)
{
    struct spfdb_prefix p;
    unsigned notes;
    char msg[128];
    (void)state;
    assert_int_equal(parse("1.2.3.4/24", &p, &notes, msg), SPFDB_EINVAL);
    assert_non_null(strstr(msg, "did you mean 1.2.3.0/24?"));
    assert_int_equal(parse("198.51.100.7/24", &p, &notes, msg), SPFDB_EINVAL);
    assert_non_null(strstr(msg, "198.51.100.0/24"));
    assert_int_equal(parse("2001:db8::1/32", &p, &notes, msg), SPFDB_EINVAL);
    assert_non_null(strstr(msg, "did you mean 2001:db8::/32?"));
    assert_int_equal(parse("::ffff:192.0.2.1/120", &p, &notes, msg), SPFDB_EINVAL);
    assert_non_null(strstr(msg, "did you mean 192.0.2.0/24?"));
    /* MSG may be NULL. */
    assert_int_equal(spfdb_prefix_parse("1.2.3.4/24", 10, &p, &notes, NULL, 0), SPFDB_EINVAL);
}

static void test_good_forms(void **state)
{
    (void)state;
    expect_ok("198.51.100.0/24", "198.51.100.0/24", 0);
    expect_ok("198.51.100.7", "198.51.100.7/32", 0);
    expect_ok("0.0.0.0/0", "0.0.0.0/0", SPFDB_NOTE_WIDE | SPFDB_NOTE_SPECIAL);
    expect_ok("8.0.0.0/7", "8.0.0.0/7", SPFDB_NOTE_WIDE);
    expect_ok("8.0.0.0/8", "8.0.0.0/8", 0);
    expect_ok("255.255.255.255", "255.255.255.255/32", 0);
    expect_ok("2001:DB8::/32", "2001:db8::/32", 0);
    expect_ok("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128", 0);
    expect_ok("2001:db8:0:1:0:0:0:1/128", "2001:db8:0:1::1/128", 0);
    expect_ok("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128", 0);
    expect_ok("2001:db8:1:1:1:1:0:1", "2001:db8:1:1:1:1:0:1/128", 0);
    expect_ok("::/0", "::/0", SPFDB_NOTE_WIDE | SPFDB_NOTE_SPECIAL);
    expect_ok("2000::/15", "2000::/15", SPFDB_NOTE_WIDE);
    expect_ok("1::", "1::/128", 0);
    expect_ok("::102:304", "::102:304/128", 0);
    expect_ok("2002:c000:200::/40", "2002:c000:200::/40", 0); /* 6to4 is not mapped */
    expect_ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 0);
}

static void test_mapped(void **state)
{
    (void)state;
    expect_ok("::ffff:192.0.2.0/120", "192.0.2.0/24", SPFDB_NOTE_MAPPED);
    expect_ok("::ffff:198.51.100.7", "198.51.100.7/32", SPFDB_NOTE_MAPPED);
    expect_ok("::FFFF:c633:6407/128", "198.51.100.7/32", SPFDB_NOTE_MAPPED);
    expect_ok("::ffff:0:0/96", "0.0.0.0/0",
              SPFDB_NOTE_MAPPED | SPFDB_NOTE_WIDE | SPFDB_NOTE_SPECIAL);
    expect_ok("::ffff:10.0.0.0/104", "10.0.0.0/8", SPFDB_NOTE_MAPPED | SPFDB_NOTE_SPECIAL);
    /* Shorter than /96: stays IPv6. */
    expect_ok("::/95", "::/95", SPFDB_NOTE_SPECIAL);
}

static void test_special(void **state)
{
    static const struct {
        const char *s, *why;
    } cases[] = {
        {"10.1.0.0/16", "private"},      {"172.16.0.0/12", "private"},
        {"172.31.255.255", "private"},   {"192.168.1.0/24", "private"},
        {"127.0.0.1", "loopback"},       {"169.254.1.0/24", "link-local"},
        {"100.64.0.0/10", "shared"},     {"100.127.255.0/24", "shared"},
        {"::1", "loopback"},             {"fe80::/10", "link-local"},
        {"febf::/16", "link-local"},     {"fc00::/7", "unique-local"},
        {"fd12:3456::/32", "unique-local"}, {"172.0.0.0/8", "private"},
    };
    static const char *const plain[] = {"172.32.0.0/11", "100.128.0.0/10", "11.0.0.0/8",
                                        "2001:db8::/32", "fec0::/10", "198.51.100.0/24",
                                        "192.0.2.0/24"};
    struct spfdb_prefix p;
    unsigned notes;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(parse(cases[i].s, &p, &notes, NULL), 0);
        if (!(notes & SPFDB_NOTE_SPECIAL) || !spfdb_prefix_special(&p) ||
            !strstr(spfdb_prefix_special(&p), cases[i].why))
            fail_msg("%s: want special \"%s\"", cases[i].s, cases[i].why);
    }
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        assert_int_equal(parse(plain[i], &p, &notes, NULL), 0);
        if ((notes & SPFDB_NOTE_SPECIAL) || spfdb_prefix_special(&p))
            fail_msg("%s: not special", plain[i]);
    }
}

static void test_contains_cmp(void **state)
{
    struct spfdb_prefix a, b, c, d;
    (void)state;
    assert_int_equal(parse("10.0.0.0/8", &a, NULL, NULL), 0);
    assert_int_equal(parse("10.1.0.0/16", &b, NULL, NULL), 0);
    assert_int_equal(parse("11.0.0.0/8", &c, NULL, NULL), 0);
    assert_int_equal(parse("::a00:0/104", &d, NULL, NULL), 0);
    assert_true(spfdb_prefix_contains(&a, &b));
    assert_true(spfdb_prefix_contains(&a, &a));
    assert_false(spfdb_prefix_contains(&b, &a));
    assert_false(spfdb_prefix_contains(&a, &c));
    assert_false(spfdb_prefix_contains(&a, &d));
    assert_true(spfdb_prefix_cmp(&a, &b) < 0);
    assert_true(spfdb_prefix_cmp(&b, &c) < 0);
    assert_true(spfdb_prefix_cmp(&c, &d) < 0);
    b = a;
    b.len = 9;
    assert_true(spfdb_prefix_cmp(&a, &b) < 0);
}

/* Every IPv4 length and a random-ish sweep of IPv6 ones round trip. */
static void test_round_trip(void **state)
{
    char buf[SPFDB_PREFIX_STRLEN];
    uint32_t x = 12345;
    (void)state;
    for (int i = 0; i < 20000; i++) {
        struct spfdb_prefix p = {0}, q;
        unsigned notes;

        x = x * 1103515245u + 12345u;
        p.family = (x >> 16) & 1 ? 6 : 4;
        for (int j = 0; j < 16; j++) {
            x = x * 1103515245u + 12345u;
            /* many zero groups, to exercise "::" placement */
            p.addr[j] = (x >> 24) < 100 ? (uint8_t)(x >> 16) : 0;
        }
        x = x * 1103515245u + 12345u;
        p.len = (uint8_t)((x >> 16) % (p.family == 4 ? 33 : 129));
        if (p.family == 4)
            memset(p.addr + 4, 0, 12);
        for (unsigned b = p.len; b < (p.family == 4 ? 32u : 128u); b++)
            p.addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
        if (p.family == 6 && p.len >= 96 &&
            memcmp(p.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
            continue;
        spfdb_prefix_format(&p, buf, sizeof buf);
        if (parse(buf, &q, &notes, NULL) != 0 || memcmp(&p, &q, sizeof p) != 0)
            fail_msg("round trip of %s", buf);
        assert_null(strstr(buf, ":::"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_forms),    cmocka_unit_test(test_exact_len),
        cmocka_unit_test(test_host_bits_hint), cmocka_unit_test(test_good_forms),
        cmocka_unit_test(test_mapped),       cmocka_unit_test(test_special),
        cmocka_unit_test(test_contains_cmp), cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
