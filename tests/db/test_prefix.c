/* Prefix parser and formatter (db/prefix.h). */
#include <arpa/inet.h>
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
        "1.2.3.4/+8", ("\xc2\xa0" "1.2.3.4"),
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

/* ---- the parser as it was (inet_pton, bit loops), kept as an oracle ---- */

static int ref_fail(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ref_fail(char *msg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, 128, fmt, ap);
    va_end(ap);
    return SPFDB_EINVAL;
}

static int ref_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t start = i;

        if (part > 0) {
            if (i >= n || s[i] != '.')
                return -1;
            start = ++i;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
            return -1;
        out[part] = (uint8_t)v;
    }
    return i == n ? 0 : -1;
}

static const char *ref_special(const struct spfdb_prefix *p)
{
    static const struct {
        uint8_t family, len;
        uint8_t addr[16];
        const char *why;
    } sp[] = {
        {4, 8, {10}, "private (RFC 1918)"},
        {4, 12, {172, 16}, "private (RFC 1918)"},
        {4, 16, {192, 168}, "private (RFC 1918)"},
        {4, 8, {127}, "loopback (RFC 1122)"},
        {4, 16, {169, 254}, "link-local (RFC 3927)"},
        {4, 10, {100, 64}, "shared address space (RFC 6598)"},
        {4, 8, {0}, "\"this network\" (RFC 1122)"},
        {6, 128, {[15] = 1}, "loopback (RFC 4291)"},
        {6, 128, {0}, "unspecified address (RFC 4291)"},
        {6, 10, {0xfe, 0x80}, "link-local (RFC 4291)"},
        {6, 7, {0xfc}, "unique-local (RFC 4193)"},
    };
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        struct spfdb_prefix q = {.family = sp[i].family, .len = sp[i].len};
        memcpy(q.addr, sp[i].addr, 16);
        if (spfdb_prefix_contains(p, &q) || spfdb_prefix_contains(&q, p))
            return sp[i].why;
    }
    return NULL;
}

static int ref_parse(const char *s, size_t len, struct spfdb_prefix *out, unsigned *notes,
                     char *msg)
{
    char buf[64];
    const char *slash;
    size_t alen;
    unsigned plen, bits, note = 0;
    struct spfdb_prefix p;

    memset(&p, 0, sizeof p);
    if (len == 0)
        return ref_fail(msg, "empty prefix");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '.' || c == ':' || c == '/'))
            return ref_fail(msg, "invalid character in prefix");
    }
    slash = memchr(s, '/', len);
    alen = slash ? (size_t)(slash - s) : len;
    if (alen == 0)
        return ref_fail(msg, "missing address");
    if (alen >= sizeof buf)
        return ref_fail(msg, "address too long");
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (memchr(buf, ':', alen)) {
        p.family = 6;
        if (inet_pton(AF_INET6, buf, p.addr) != 1)
            return ref_fail(msg, "not an IPv6 address");
        bits = 128;
    } else {
        p.family = 4;
        if (ref_v4(buf, alen, p.addr) != 0)
            return ref_fail(msg, "not an IPv4 address (four decimal octets 0-255, no leading zeros)");
        bits = 32;
    }
    plen = bits;
    if (slash) {
        const char *l = slash + 1;
        size_t llen = len - alen - 1;

        if (llen == 0)
            return ref_fail(msg, "missing prefix length after '/'");
        if (llen > 3 || (l[0] == '0' && llen > 1))
            return ref_fail(msg, "bad prefix length (decimal, no leading zeros)");
        plen = 0;
        for (size_t i = 0; i < llen; i++) {
            if (l[i] < '0' || l[i] > '9')
                return ref_fail(msg, "bad prefix length");
            plen = plen * 10 + (unsigned)(l[i] - '0');
        }
        if (plen > bits)
            return ref_fail(msg, "prefix length %u exceeds /%u", plen, bits);
    }
    p.len = (uint8_t)plen;
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (p.family == 6 && p.len >= 96 && memcmp(p.addr, mapped, 12) == 0) {
        memmove(p.addr, p.addr + 12, 4);
        memset(p.addr + 4, 0, 12);
        p.family = 4;
        p.len = (uint8_t)(p.len - 96);
        bits = 32;
        note |= SPFDB_NOTE_MAPPED;
    }
    int had = 0;
    for (unsigned b = p.len; b < bits; b++) {
        if ((p.addr[b / 8] >> (7 - b % 8)) & 1) {
            had = 1;
            p.addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
        }
    }
    if (had) {
        char canon[SPFDB_PREFIX_STRLEN];
        spfdb_prefix_format(&p, canon, sizeof canon);
        return ref_fail(msg, "host bits set; did you mean %s?", canon);
    }
    if (p.len < (p.family == 4 ? 8 : 16))
        note |= SPFDB_NOTE_WIDE;
    if (ref_special(&p))
        note |= SPFDB_NOTE_SPECIAL;
    *out = p;
    *notes = note;
    return 0;
}

/* The parser and the oracle agree on S: result, reason, prefix, notes and
 * the special-use reason. */
static void same_as_ref(const char *s, size_t len)
{
    struct spfdb_prefix p, q;
    unsigned n1 = 77, n2 = 77;
    char m1[128] = "", m2[128] = "";
    int r1 = spfdb_prefix_parse(s, len, &p, &n1, m1, sizeof m1);
    int r2 = ref_parse(s, len, &q, &n2, m2);

    if (r1 != r2 || strcmp(m1, m2) != 0)
        fail_msg("\"%.*s\": %d \"%s\", oracle %d \"%s\"", (int)len, s, r1, m1, r2, m2);
    if (r1 != 0)
        return;
    if (memcmp(&p, &q, sizeof p) != 0 || n1 != n2)
        fail_msg("\"%.*s\": prefix or notes differ from the oracle", (int)len, s);
    const char *w1 = spfdb_prefix_special(&p), *w2 = ref_special(&q);
    if ((w1 == NULL) != (w2 == NULL) || (w1 && strcmp(w1, w2) != 0))
        fail_msg("\"%.*s\": special \"%s\", oracle \"%s\"", (int)len, s, w1 ? w1 : "-",
                 w2 ? w2 : "-");
}

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static const char *pick(uint32_t *x, const char *const *v, size_t n)
{
    return v[rnd(x) % n];
}

/* A plausible address text: mostly valid, often off by a little. */
static size_t gen_addr(uint32_t *x, char *b, size_t cap)
{
    static const char *const octet[] = {"0",   "1",   "9",  "10", "99", "100", "127", "169",
                                        "172", "192", "255", "256", "01", "00", "010", "1000",
                                        "254", "64",  "168", "16", "31", ""};
    static const char *const group[] = {"0",    "1",    "ffff", "FFFF", "fe80", "fc00", "fd12",
                                        "2001", "db8",  "0db8", "00000", "12345", "g", "a",
                                        "fe", "febf", "10", "0000", ""};
    size_t n = 0;

    if (rnd(x) % 2) {
        int parts = 3 + (int)(rnd(x) % 3);
        for (int i = 0; i < parts; i++)
            n += (size_t)snprintf(b + n, cap - n, "%s%s", i ? "." : "",
                                  pick(x, octet, sizeof octet / sizeof octet[0]));
        return n;
    }
    int groups = (int)(rnd(x) % 10), gap = (int)(rnd(x) % 12), quad = rnd(x) % 4 == 0;
    if (rnd(x) % 3 == 0) {
        n += (size_t)snprintf(b + n, cap - n, "::%s", rnd(x) % 2 ? "ffff:" : "");
        groups = 0;
    }
    for (int i = 0; i < groups; i++) {
        if (i == gap)
            n += (size_t)snprintf(b + n, cap - n, "::");
        else if (i)
            n += (size_t)snprintf(b + n, cap - n, ":");
        n += (size_t)snprintf(b + n, cap - n, "%s", pick(x, group, sizeof group / sizeof group[0]));
    }
    if (gap == groups && groups)
        n += (size_t)snprintf(b + n, cap - n, "::");
    if (quad) {
        n += (size_t)snprintf(b + n, cap - n, "%s", n && b[n - 1] != ':' ? ":" : "");
        for (int i = 0; i < 4; i++)
            n += (size_t)snprintf(b + n, cap - n, "%s%s", i ? "." : "",
                                  pick(x, octet, sizeof octet / sizeof octet[0]));
    }
    return n;
}

static void test_oracle_edges(void **state)
{
    static const char *const edge[] = {
        "0.0.0.0/0", "0.0.0.0/32", "255.255.255.255/32", "1.2.3.4/32", "1.2.3.0/0", "1.2.3.4/0",
        "00.1.2.3", "1.2.3.4/00", "1.2.3.4/01", "1.2.3.4/09", "256.1.1.1", "1.2.3.4.",
        ".1.2.3.4", "1.2.3.4/33", "1.2.3.4/32/", "1.2.3.4/3a", "1.2.3.4/3g", "1.2.3.4/:",
        "1.2.3.4/.", "1.2.3.4/3 ", "::", "::/0", "::/128", "::1", "::1/127", ":::", "::::",
        ":", ":1", "1:", "1::", "1::2:", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::8", "1:2:3:4:5:6:7:8::", "1:2:3:4:5:6::7:8", "::ffff:1.2.3.4",
        "::ffff:1.2.3.4/96", "::ffff:1.2.3.4/95", "::ffff:1.2.3.4/128", "::ffff:0.0.0.0/96",
        "::ffff:1.2.3.4/104", "::FFFF:1.2.3.4", "::ffff:1.2.3", "::ffff:1.2.3.4.5",
        "::ffff:1.2.3.04", "::ffff:1.2.3.256", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
        "1:2:3:4:5::1.2.3.4", "::1.2.3.4", "1.2.3.4::", "::1.2.3.4:1", "::a1.2.3.4",
        "::12345", "::1234", "::01234", "fe80::/10", "fe80::/9", "fc00::/6", "fe00::/7",
        "::1/128", "::/127", "::2/127", "::ffff:7f00:1", "::ffff:a00:0/104", "2001:db8::/33",
        "2001:DB8::/32", "1::/0", "1.2.3.4/", "/", "//", "/0", "1.2.3.4//", ".", "..", "...",
        "....", "0.0.0.0", "1.1.1.1/8", "10.0.0.0/7", "11.0.0.0/7", "100.64.0.0/9",
        "100.0.0.0/9", "128.0.0.0/1", "0.0.0.0/1", "172.0.0.0/11", "172.16.0.0/11",
        "172.32.0.0/12", "192.168.0.0/15", "192.0.0.0/8", "169.0.0.0/8", "127.255.255.255",
        "fe80::1%1", "1.2.3.4%", "1.2.3.4 ", "\x80", "1.2.3.4/24\xff",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff:0000",
    };
    (void)state;
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        same_as_ref(edge[i], strlen(edge[i]));
    /* every IPv4 length on a few addresses, and every IPv6 length */
    for (unsigned l = 0; l <= 130; l++) {
        char b[80];
        static const char *const a[] = {"0.0.0.0", "10.0.0.0", "100.64.0.0", "255.255.255.255",
                                        "172.16.0.0", "::", "fe80::", "fc00::", "::1",
                                        "::ffff:0.0.0.0", "::ffff:10.0.0.0", "2001:db8::",
                                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
        for (size_t k = 0; k < sizeof a / sizeof a[0]; k++)
            same_as_ref(b, (size_t)snprintf(b, sizeof b, "%s/%u", a[k], l));
    }
}

/* Random texts: generated addresses with random lengths and damage, and
 * strings over the prefix alphabet. */
static void test_oracle_random(void **state)
{
    static const char alphabet[] = "0123456789abcdefABCDEF.:/::..//x 0000ffff";
    char b[200];
    uint32_t x = 2463534242u;
    (void)state;
    for (int t = 0; t < 300000; t++) {
        size_t n = gen_addr(&x, b, 120);
        uint32_t r = rnd(&x);

        if (r % 4 != 0)
            n += (size_t)snprintf(b + n, sizeof b - n, "/%u", rnd(&x) % 140);
        if (r % 7 == 0)
            n += (size_t)snprintf(b + n, sizeof b - n, "/0%u", rnd(&x) % 10);
        if (r % 11 == 0 && n > 0)
            b[rnd(&x) % n] = alphabet[rnd(&x) % (sizeof alphabet - 1)];
        if (r % 13 == 0 && n > 0)
            n = rnd(&x) % n;
        same_as_ref(b, n);
        n = rnd(&x) % 24;
        for (size_t i = 0; i < n; i++)
            b[i] = alphabet[rnd(&x) % (sizeof alphabet - 1)];
        same_as_ref(b, n);
    }
}

/* Transfer peers: ADDR[:PORT] in its forms, to one canonical text. */
static void test_addrport(void **state)
{
    static const char *const good[][2] = {
        {"192.0.2.1", "192.0.2.1:53"},
        {"192.0.2.1:53", "192.0.2.1:53"},
        {"192.0.2.1:5300", "192.0.2.1:5300"},
        {"0.0.0.0:65535", "0.0.0.0:65535"},
        {"2001:DB8:0:0::1", "[2001:db8::1]:53"},
        {"[2001:db8::1]", "[2001:db8::1]:53"},
        {"[2001:db8::1]:1", "[2001:db8::1]:1"},
        {"::1", "[::1]:53"},
        {"[::ffff:192.0.2.1]:53", "[::ffff:c000:201]:53"},
    };
    static const char *const bad[] = {
        "", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:053", "192.0.2.1:5x",
        "192.0.2.256", "192.0.2.01", "192.0.2", "192.0.2.1.5", "host.example",
        "host.example:53", "[2001:db8::1", "[2001:db8::1]53", "[2001:db8::1]:",
        "[192.0.2.1]:53", "2001:db8::1::2", "[]:53", " 192.0.2.1", "192.0.2.1 ",
    };
    struct spfdb_addrport a, b;
    char buf[SPFDB_ADDRPORT_STRLEN], msg[128];
    (void)state;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (spfdb_addrport_parse(good[i][0], &a, msg, sizeof msg) != 0)
            fail_msg("rejected \"%s\": %s", good[i][0], msg);
        spfdb_addrport_format(&a, buf, sizeof buf);
        assert_string_equal(buf, good[i][1]);
        assert_int_equal(spfdb_addrport_parse(buf, &b, NULL, 0), 0);
        assert_memory_equal(&a, &b, sizeof a);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        if (spfdb_addrport_parse(bad[i], &a, msg, sizeof msg) != SPFDB_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(msg[0] != '\0');
    }
    assert_int_equal(spfdb_addrport_parse("192.0.2.7:853", &a, NULL, 0), 0);
    assert_int_equal(a.family, 4);
    assert_int_equal(a.port, 853);
    assert_int_equal(a.addr[3], 7);
    /* the longest text fits */
    assert_int_equal(spfdb_addrport_parse("[1111:2222:3333:4444:5555:6666:7777:8888]:65535", &a,
                                          NULL, 0), 0);
    spfdb_addrport_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "[1111:2222:3333:4444:5555:6666:7777:8888]:65535");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_forms),    cmocka_unit_test(test_exact_len),
        cmocka_unit_test(test_host_bits_hint), cmocka_unit_test(test_good_forms),
        cmocka_unit_test(test_mapped),       cmocka_unit_test(test_special),
        cmocka_unit_test(test_contains_cmp), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_oracle_edges), cmocka_unit_test(test_oracle_random),
        cmocka_unit_test(test_addrport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
