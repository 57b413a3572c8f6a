/* spfeval (import-spf's evaluator) against a fake DNS table, and its set
 * arithmetic against a brute-force oracle. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spfeval.h"

/* ---- the fake DNS ------------------------------------------------------- */

struct rec {
    const char *name;
    int type;
    const char *value; /* TXT text, an address, an MX host; NULL: the name exists, no data */
};

struct fake {
    const struct rec *recs;
    unsigned queries;
    const char *servfail; /* a name whose lookups fail */
};

static int fake_lookup(void *ctx, const char *name, int type, struct spfeval_rrset *out,
                       char *msg, size_t cap)
{
    struct fake *f = ctx;
    int exists = 0;

    f->queries++;
    if (f->servfail && strcmp(name, f->servfail) == 0) {
        snprintf(msg, cap, "SERVFAIL");
        return SPFEVAL_ETEMP;
    }
    for (const struct rec *r = f->recs; r->name; r++) {
        if (strcmp(r->name, name) != 0)
            continue;
        exists = 1;
        if (r->type != type || !r->value)
            continue;
        if (type == SPFEVAL_A || type == SPFEVAL_AAAA) {
            uint8_t a[16];
            assert_int_equal(inet_pton(type == SPFEVAL_A ? AF_INET : AF_INET6, r->value, a), 1);
            assert_int_equal(spfeval_rr_add(out, a, type == SPFEVAL_A ? 4 : 16), 0);
        } else {
            assert_int_equal(spfeval_rr_add(out, r->value, strlen(r->value)), 0);
        }
    }
    return exists ? SPFEVAL_FOUND : SPFEVAL_NXDOMAIN;
}

/* Evaluate DOMAIN in RECS: the result code; *EV filled (free it). */
static int eval(const struct rec *recs, const char *domain, struct spfeval *ev)
{
    static struct fake f;
    f = (struct fake){.recs = recs};
    memset(ev, 0, sizeof *ev);
    ev->lookup = fake_lookup;
    ev->ctx = &f;
    return spfeval_run(ev, domain);
}

/* The prefixes as one string, "a b c". */
static const char *joined(const struct spfeval *ev)
{
    static char s[4096];
    size_t n = 0;
    s[0] = '\0';
    for (size_t k = 0; k < ev->n_prefixes; k++) {
        char p[SPFDB_PREFIX_STRLEN];
        spfdb_prefix_format(&ev->prefixes[k], p, sizeof p);
        n += (size_t)snprintf(s + n, sizeof s - n, "%s%s", k ? " " : "", p);
    }
    return s;
}

static void expect(const struct rec *recs, const char *domain, const char *want)
{
    struct spfeval ev;
    int r = eval(recs, domain, &ev);
    if (r != 0)
        fail_msg("%s: %s", domain, ev.error);
    assert_string_equal(joined(&ev), want);
    spfeval_free(&ev);
}

static void expect_error(const struct rec *recs, const char *domain, int code, const char *part)
{
    struct spfeval ev;
    int r = eval(recs, domain, &ev);
    assert_int_equal(r, code);
    if (!strstr(ev.error, part))
        fail_msg("error '%s' lacks '%s'", ev.error, part);
    spfeval_free(&ev);
}

#define TXT SPFEVAL_TXT
#define A SPFEVAL_A
#define AAAA SPFEVAL_AAAA
#define MX SPFEVAL_MX

static void test_regional_chain(void **state)
{
    (void)state;
    static const struct rec r[] = {
        {"acme.example", TXT, "v=spf1 include:_netblocks.mc.example -all"},
        {"acme.example", TXT, "google-site-verification=xyz"},
        {"_netblocks.mc.example", TXT,
         "v=spf1 include:eu._netblocks.mc.example include:us._netblocks.mc.example ~all"},
        {"eu._netblocks.mc.example", TXT,
         "v=spf1 ip4:198.51.100.0/25 ip4:198.51.100.128/25 ip6:2001:db8:10::/48 ~all"},
        {"us._netblocks.mc.example", TXT, "v=spf1 ip4:203.0.113.0/24 ip6:2001:db8:20::/48 ~all"},
        {NULL, 0, NULL}};
    expect(r, "acme.example", "198.51.100.0/24 203.0.113.0/24 2001:db8:10::/48 2001:db8:20::/48");
    expect(r, "ACME.example.", "198.51.100.0/24 203.0.113.0/24 2001:db8:10::/48 2001:db8:20::/48");
}

static void test_a_mx_cidr(void **state)
{
    (void)state;
    static const struct rec r[] = {
        {"uni.example", TXT, "v=spf1 a/28 mx//64 a:relay.uni.example mx:lists.uni.example/30 -all"},
        {"uni.example", A, "192.0.2.77"},
        {"uni.example", AAAA, "2001:db8::77"},
        {"uni.example", MX, "mx1.uni.example"},
        {"uni.example", MX, "mx2.uni.example"},
        {"mx1.uni.example", A, "198.51.100.10"},
        {"mx1.uni.example", AAAA, "2001:db8:1:2::10"},
        {"mx2.uni.example", A, "198.51.100.11"},
        {"relay.uni.example", A, "203.0.113.5"},
        {"lists.uni.example", MX, "mx9.uni.example"},
        {"mx9.uni.example", A, "203.0.113.130"},
        {NULL, 0, NULL}};
    expect(r, "uni.example",
           "192.0.2.64/28 198.51.100.10/31 203.0.113.5/32 203.0.113.128/30 2001:db8::77/128 "
           "2001:db8:1:2::/64");
}

static void test_subtraction(void **state)
{
    (void)state;
    static const struct rec r[] = {
        {"s.example", TXT, "v=spf1 -ip4:192.0.2.5 ip4:192.0.2.0/24 -all"},
        {"t.example", TXT, "v=spf1 ~ip6:2001:db8::/33 ?include:u.example ip6:2001:db8::/32 -all"},
        {"u.example", TXT, "v=spf1 ip4:10.0.0.0/8 -all"},
        {NULL, 0, NULL}};
    expect(r, "s.example",
           "192.0.2.0/30 192.0.2.4/32 192.0.2.6/31 192.0.2.8/29 192.0.2.16/28 192.0.2.32/27 "
           "192.0.2.64/26 192.0.2.128/25");
    expect(r, "t.example", "2001:db8:8000::/33");
}

/* Oops: .4 stays; .5 goes.  (The expected list above must not hold .5.) */
static void test_subtraction_edges(void **state)
{
    struct spfeval ev;
    (void)state;
    static const struct rec r[] = {{"s.example", TXT, "v=spf1 -ip4:192.0.2.5 ip4:192.0.2.0/24"},
                                   {NULL, 0, NULL}};
    assert_int_equal(eval(r, "s.example", &ev), 0);
    for (unsigned x = 0; x < 256; x++) {
        int in = 0;
        for (size_t k = 0; k < ev.n_prefixes; k++) {
            unsigned len = ev.prefixes[k].len, base = ev.prefixes[k].addr[3];
            if (ev.prefixes[k].addr[2] == 2 && x >> (32 - len) == base >> (32 - len))
                in = 1;
        }
        assert_int_equal(in, x != 5);
    }
    spfeval_free(&ev);
}

static void test_redirect(void **state)
{
    (void)state;
    static const struct rec r[] = {
        {"r.example", TXT, "v=spf1 ip4:192.0.2.1 redirect=_spf.r.example"},
        {"_spf.r.example", TXT, "v=spf1 ip4:192.0.2.0/30 ip4:198.51.100.1 -all"},
        {"n.example", TXT, "v=spf1 ip4:192.0.2.1 ~all redirect=_spf.r.example"},
        {"z.example", TXT, "v=spf1 ip4:192.0.2.1 -all ip4:203.0.113.0/24 include:nothere.example"},
        {NULL, 0, NULL}};
    expect(r, "r.example", "192.0.2.0/30 198.51.100.1/32");
    expect(r, "n.example", "192.0.2.1/32");  /* redirect= ignored: all */
    expect(r, "z.example", "192.0.2.1/32");  /* nothing after all */
}

static void test_host_bits_note(void **state)
{
    struct spfeval ev;
    (void)state;
    static const struct rec r[] = {{"h.example", TXT, "v=spf1 ip4:192.0.2.77/24 -all"},
                                   {NULL, 0, NULL}};
    assert_int_equal(eval(r, "h.example", &ev), 0);
    assert_string_equal(joined(&ev), "192.0.2.0/24");
    assert_int_equal(ev.notes.n, 1);
    assert_non_null(strstr(ev.notes.v[0], "host bits masked"));
    spfeval_free(&ev);
}

static void test_loop(void **state)
{
    (void)state;
    static const struct rec r[] = {{"l1.example", TXT, "v=spf1 include:l2.example -all"},
                                   {"l2.example", TXT, "v=spf1 include:l1.example -all"},
                                   {"self.example", TXT, "v=spf1 redirect=self.example"},
                                   {NULL, 0, NULL}};
    expect_error(r, "l1.example", SPFEVAL_EPERM, "loop: l1.example -> l2.example -> l1.example");
    expect_error(r, "self.example", SPFEVAL_EPERM, "loop");
}

static void test_limits(void **state)
{
    struct spfeval ev;
    (void)state;
    static const struct rec r[] = {
        {"ten.example", TXT,
         "v=spf1 a a a a a a a a a a -all"},
        {"eleven.example", TXT,
         "v=spf1 a a a a a a a a a include:ten.example -all"},
        {"ten.example", A, "192.0.2.1"},
        {"ten.example", AAAA, "2001:db8::1"},
        {"eleven.example", A, "192.0.2.2"},
        {"eleven.example", AAAA, "2001:db8::2"},
        {"void.example", TXT, "v=spf1 a:n1.example a:n2.example ip4:192.0.2.9 a:n3.example -all"},
        {"void2.example", TXT, "v=spf1 a:n1.example a:n2.example ip4:192.0.2.9 -all"},
        {"void6.example", TXT, "v=spf1 a:v4only.example a:v4only.example a:v4only.example -all"},
        {"v4only.example", A, "192.0.2.3"},
        {"mx11.example", TXT, "v=spf1 mx -all"},
        {"mx11.example", MX, "m1.example"}, {"mx11.example", MX, "m2.example"},
        {"mx11.example", MX, "m3.example"}, {"mx11.example", MX, "m4.example"},
        {"mx11.example", MX, "m5.example"}, {"mx11.example", MX, "m6.example"},
        {"mx11.example", MX, "m7.example"}, {"mx11.example", MX, "m8.example"},
        {"mx11.example", MX, "m9.example"}, {"mx11.example", MX, "m10.example"},
        {"mx11.example", MX, "m11.example"},
        {"exists.example", TXT, "v=spf1 exists:x.example exists:x.example exists:x.example "
                                "exists:x.example exists:x.example exists:x.example "
                                "exists:x.example exists:x.example exists:x.example "
                                "exists:x.example ip4:192.0.2.1 ptr"},
        {NULL, 0, NULL}};
    assert_int_equal(eval(r, "ten.example", &ev), 0);
    assert_int_equal(ev.lookups, 10);
    spfeval_free(&ev);
    expect_error(r, "eleven.example", SPFEVAL_EPERM, "more than 10 DNS lookups");
    expect_error(r, "void.example", SPFEVAL_EPERM, "more than 2 void DNS lookups");
    expect(r, "void2.example", "192.0.2.9/32");
    expect_error(r, "void6.example", SPFEVAL_EPERM, "no AAAA record");
    expect_error(r, "mx11.example", SPFEVAL_EPERM, "11 MX hosts, more than 10");
    /* exists: and ptr count though they are not imported */
    expect_error(r, "exists.example", SPFEVAL_EPERM, "at ptr in exists.example");
}

static void test_unimportable(void **state)
{
    struct spfeval ev;
    (void)state;
    static const struct rec r[] = {
        {"before.example", TXT, "v=spf1 exists:%{i}.bl.example ip4:192.0.2.0/24 -all"},
        {"after.example", TXT, "v=spf1 ip4:192.0.2.0/24 ptr:%{d} ~all"},
        {"plusall.example", TXT, "v=spf1 ip4:192.0.2.0/24 +all"},
        {"minusall.example", TXT, "v=spf1 ip4:192.0.2.0/24 -all +all"},
        {"inc.example", TXT, "v=spf1 -include:%{l}.x.example include:after.example -all"},
        {NULL, 0, NULL}};
    assert_int_equal(eval(r, "before.example", &ev), 0);
    assert_int_equal(ev.needs_force, 1);
    assert_int_equal(ev.unimportable.n, 1);
    assert_non_null(strstr(ev.unimportable.v[0], "exists:%{i}.bl.example"));
    assert_string_equal(joined(&ev), "192.0.2.0/24");
    spfeval_free(&ev);
    assert_int_equal(eval(r, "after.example", &ev), 0);
    assert_int_equal(ev.needs_force, 0);
    assert_int_equal(ev.unimportable.n, 1);
    spfeval_free(&ev);
    assert_int_equal(eval(r, "plusall.example", &ev), 0);
    assert_int_equal(ev.needs_force, 1);
    spfeval_free(&ev);
    assert_int_equal(eval(r, "minusall.example", &ev), 0);
    assert_int_equal(ev.needs_force, 0);
    assert_int_equal(ev.unimportable.n, 0);
    spfeval_free(&ev);
    assert_int_equal(eval(r, "inc.example", &ev), 0);
    assert_int_equal(ev.needs_force, 1);
    assert_int_equal(ev.unimportable.n, 2);
    spfeval_free(&ev);
}

static void test_permerrors(void **state)
{
    (void)state;
    static const struct rec r[] = {
        {"two.example", TXT, "v=spf1 -all"},
        {"two.example", TXT, "v=spf1 ip4:192.0.2.1 -all"},
        {"bad.example", TXT, "v=spf1 ip4:192.0.2.1/33 -all"},
        {"bad2.example", TXT, "v=spf1 foo:bar -all"},
        {"bad3.example", TXT, "v=spf1 -all ip4:192.0.2.300"}, /* syntax counts after all too */
        {"none.example", TXT, "hello"},
        {"inc.example", TXT, "v=spf1 include:none.example -all"},
        {"dup.example", TXT, "v=spf1 redirect=a.example redirect=b.example"},
        {"tmp.example", TXT, "v=spf1 include:fail.example -all"},
        {NULL, 0, NULL}};
    expect_error(r, "two.example", SPFEVAL_EPERM, "publishes 2 SPF records");
    expect_error(r, "bad.example", SPFEVAL_EPERM, "bad term 'ip4:192.0.2.1/33'");
    expect_error(r, "bad2.example", SPFEVAL_EPERM, "bad term");
    expect_error(r, "bad3.example", SPFEVAL_EPERM, "bad term");
    expect_error(r, "none.example", SPFEVAL_EPERM, "no SPF record");
    expect_error(r, "nx.example", SPFEVAL_EPERM, "no SPF record");
    expect_error(r, "inc.example", SPFEVAL_EPERM, "none.example publishes no SPF record");
    expect_error(r, "dup.example", SPFEVAL_EPERM, "repeated");
    {
        struct spfeval ev = {0};
        struct fake f = {.recs = r, .servfail = "fail.example"};
        ev.lookup = fake_lookup;
        ev.ctx = &f;
        assert_int_equal(spfeval_run(&ev, "tmp.example"), SPFEVAL_ETEMP);
        assert_non_null(strstr(ev.error, "fail.example"));
        spfeval_free(&ev);
    }
}

/* ---- set arithmetic against an oracle ----------------------------------- */

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

/* Random prefixes inside 10.0.0.0/22 (1024 addresses, a brute-force
 * universe), as intervals; BITS[] the oracle. */
static void random_set(struct spfeval_set *s, uint8_t *bits, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        unsigned len = 22 + rnd() % 11, size = 1u << (32 - len);
        unsigned off = (rnd() % 1024) & ~(size - 1);
        spfeval_u128 lo = 0x0a000000u + off;
        assert_int_equal(spfeval_set_add(s, lo, lo + size - 1), 0);
        for (unsigned x = off; x < off + size; x++)
            bits[x] = 1;
    }
}

static void test_oracle(void **state)
{
    (void)state;
    for (unsigned round = 0; round < 300; round++) {
        struct spfeval_set a = {0}, b = {0}, d = {0};
        uint8_t ab[1024] = {0}, bb[1024] = {0}, cov[1024] = {0};
        struct spfdb_prefix *v = NULL;
        size_t n = 0, cap = 0;

        random_set(&a, ab, 1 + rnd() % 12);
        random_set(&b, bb, rnd() % 12);
        assert_int_equal(spfeval_set_minus(&d, &a, &b), 0);
        assert_int_equal(spfeval_set_prefixes(&d, 4, &v, &n, &cap), 0);
        /* every address, at and around each prefix's edges and everywhere */
        for (size_t k = 0; k < n; k++) {
            uint32_t base = (uint32_t)v[k].addr[0] << 24 | (uint32_t)v[k].addr[1] << 16 |
                            (uint32_t)v[k].addr[2] << 8 | v[k].addr[3];
            uint32_t size = 1u << (32 - v[k].len);
            assert_true(base >= 0x0a000000u && base + size <= 0x0a000400u);
            assert_int_equal(base & (size - 1), 0);
            for (uint32_t x = base; x < base + size; x++) {
                assert_int_equal(cov[x - 0x0a000000u], 0); /* disjoint */
                cov[x - 0x0a000000u] = 1;
            }
            if (base > 0x0a000000u)
                assert_int_equal(spfeval_set_has(&d, base - 1), !!(ab[base - 1 - 0x0a000000u] &&
                                                                   !bb[base - 1 - 0x0a000000u]));
            if (base + size < 0x0a000400u)
                assert_int_equal(spfeval_set_has(&d, base + size),
                                 !!(ab[base + size - 0x0a000000u] && !bb[base + size - 0x0a000000u]));
        }
        for (unsigned x = 0; x < 1024; x++) {
            int want = ab[x] && !bb[x];
            assert_int_equal(cov[x], want);
            assert_int_equal(spfeval_set_has(&d, 0x0a000000u + x), want);
        }
        /* fewest: no two prefixes merge into their parent (siblings) */
        for (size_t k = 0; k + 1 < n; k++) {
            uint32_t b0 = (uint32_t)v[k].addr[2] << 8 | v[k].addr[3];
            uint32_t b1 = (uint32_t)v[k + 1].addr[2] << 8 | v[k + 1].addr[3];
            unsigned len = v[k].len;
            if (len == v[k + 1].len && len > 0 && (b0 >> (32 - len) & 1) == 0 &&
                b1 == b0 + (1u << (32 - len)))
                fail_msg("round %u: %zu and %zu are siblings", round, k, k + 1);
        }
        /* and the count is the minimum: each maximal run decomposes greedily */
        {
            size_t want = 0;
            for (unsigned x = 0; x < 1024;) {
                if (!(ab[x] && !bb[x])) {
                    x++;
                    continue;
                }
                unsigned y = x;
                while (y < 1024 && ab[y] && !bb[y])
                    y++;
                for (unsigned lo = x; lo < y;) {
                    unsigned size = 1024;
                    while ((lo & (size - 1)) || lo + size > y)
                        size /= 2;
                    lo += size;
                    want++;
                }
                x = y;
            }
            assert_int_equal(n, want);
        }
        free(v);
        spfeval_set_free(&a);
        spfeval_set_free(&b);
        spfeval_set_free(&d);
    }
}

/* ---- the evaluator against a brute-force verifier ------------------------ */

struct oterm {
    char q;
    int include; /* include:sub.example, else ip4:10.0.OFF/LEN */
    unsigned off, len;
};

/* What a verifier decides for 10.0.0.0 + X: the first matching term's
 * qualifier; an include matches when the sub-record passes; '\0': none. */
static char brute(const struct oterm *t, size_t n, const struct oterm *sub, size_t nsub,
                  unsigned x)
{
    for (size_t k = 0; k < n; k++) {
        int match;
        if (t[k].include)
            match = brute(sub, nsub, NULL, 0, x) == '+';
        else
            match = x >> (32 - t[k].len) == t[k].off >> (32 - t[k].len);
        if (match)
            return t[k].q;
    }
    return '\0';
}

static size_t random_terms(struct oterm *t, size_t max, int may_include, char *text, size_t cap)
{
    size_t n = 1 + rnd() % max, len = (size_t)snprintf(text, cap, "v=spf1");
    for (size_t k = 0; k < n; k++) {
        t[k].q = "+-~?++"[rnd() % 6];
        t[k].include = may_include && rnd() % 4 == 0;
        t[k].len = 22 + rnd() % 11;
        t[k].off = (rnd() % 1024) & ~((1u << (32 - t[k].len)) - 1);
        if (t[k].include)
            len += (size_t)snprintf(text + len, cap - len, " %cinclude:sub.example", t[k].q);
        else
            len += (size_t)snprintf(text + len, cap - len, " %cip4:10.0.%u.%u/%u", t[k].q,
                                    t[k].off >> 8, t[k].off & 255, t[k].len);
    }
    snprintf(text + len, cap - len, " %s", rnd() % 2 ? "-all" : "~all");
    return n;
}

static void test_evaluator_oracle(void **state)
{
    (void)state;
    for (unsigned round = 0; round < 200; round++) {
        struct oterm top[16], sub[8];
        char ttext[1024], stext[512];
        size_t n = random_terms(top, 16, 1, ttext, sizeof ttext);
        size_t nsub = random_terms(sub, 8, 0, stext, sizeof stext);
        struct rec r[] = {{"top.example", TXT, ttext}, {"sub.example", TXT, stext},
                          {NULL, 0, NULL}};
        struct spfeval ev;
        int includes = 0;
        for (size_t k = 0; k < n; k++)
            includes += top[k].include;
        if (includes > 9)
            continue;
        if (eval(r, "top.example", &ev) != 0)
            fail_msg("%s: %s", ttext, ev.error);
        /* every address of the universe and one on each side of it */
        for (int x = -1; x <= 1024; x++) {
            uint32_t a = 0x0a000000u + (uint32_t)x;
            int got = 0;
            for (size_t k = 0; k < ev.n_prefixes; k++) {
                const uint8_t *p = ev.prefixes[k].addr;
                uint32_t base = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                (uint32_t)p[2] << 8 | p[3];
                unsigned len = ev.prefixes[k].len;
                if (ev.prefixes[k].family == 4 && (len == 0 || a >> (32 - len) == base >> (32 - len)))
                    got = 1;
            }
            int want = x >= 0 && x < 1024 && brute(top, n, sub, nsub, (unsigned)x) == '+';
            if (got != want)
                fail_msg("round %u: 10.0.%u.%u: got %d, want %d\ntop: %s\nsub: %s", round,
                         (unsigned)(x + 0x0a000000) >> 8 & 255, (unsigned)x & 255, got, want,
                         ttext, stext);
        }
        spfeval_free(&ev);
    }
}

/* Records are the publisher's: random junk built from the syntax's pieces
 * gives a result or a permerror, never a crash (ASan builds check reads). */
static void test_junk_records(void **state)
{
    static const char *piece[] = {"v=spf1", " ", "  ", "ip4:", "ip6:", "a", "mx", "ptr", "all",
                                  "include:", "exists:", "redirect=", "exp=", "x=", ":", "/",
                                  "//", "0", "1", "24", "128", "33", "192.0.2.1", "::", "2001:db8::",
                                  "%{i}", "%{", "%", "}", "%%", "-", "+", "~", "?", ".", "..",
                                  "a.example", "j.example", "\xff", "=", "\t", "0x1"};
    (void)state;
    for (unsigned round = 0; round < 5000; round++) {
        char text[512];
        size_t len = (size_t)snprintf(text, sizeof text, "v=spf1 ");
        unsigned n = rnd() % 24;
        for (unsigned k = 0; k < n; k++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s",
                                    piece[rnd() % (sizeof piece / sizeof piece[0])]);
        struct rec r[] = {{"j.example", TXT, text}, {"a.example", A, "192.0.2.9"},
                          {"a.example", TXT, "v=spf1 ip4:198.51.100.0/24 -all"},
                          {NULL, 0, NULL}};
        struct spfeval ev;
        int got = eval(r, "j.example", &ev);
        if (got != 0 && got != SPFEVAL_EPERM)
            fail_msg("%s: %d %s", text, got, ev.error);
        if (got != 0)
            assert_true(ev.error[0] != '\0');
        spfeval_free(&ev);
    }
}

static void test_set_extremes(void **state)
{
    struct spfeval_set s = {0}, t = {0}, d = {0};
    struct spfdb_prefix *v = NULL;
    size_t n = 0, cap = 0;
    spfeval_u128 max = ~(spfeval_u128)0;
    (void)state;
    assert_int_equal(spfeval_set_add(&s, 0, max), 0);
    assert_int_equal(spfeval_set_prefixes(&s, 6, &v, &n, &cap), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].len, 0);
    assert_int_equal(spfeval_set_add(&t, max, max), 0);
    assert_int_equal(spfeval_set_add(&t, 0, 0), 0);
    assert_int_equal(spfeval_set_minus(&d, &s, &t), 0);
    n = 0;
    assert_int_equal(spfeval_set_prefixes(&d, 6, &v, &n, &cap), 0);
    assert_int_equal(n, 254); /* [1, max-1]: 127 on each side */
    assert_false(spfeval_set_has(&d, max));
    assert_true(spfeval_set_has(&d, max - 1));
    free(v);
    spfeval_set_free(&s);
    spfeval_set_free(&t);
    spfeval_set_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regional_chain), cmocka_unit_test(test_a_mx_cidr),
        cmocka_unit_test(test_subtraction),    cmocka_unit_test(test_subtraction_edges),
        cmocka_unit_test(test_redirect),       cmocka_unit_test(test_host_bits_note),
        cmocka_unit_test(test_loop),           cmocka_unit_test(test_limits),
        cmocka_unit_test(test_unimportable),   cmocka_unit_test(test_permerrors),
        cmocka_unit_test(test_oracle),         cmocka_unit_test(test_set_extremes),
        cmocka_unit_test(test_evaluator_oracle), cmocka_unit_test(test_junk_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
