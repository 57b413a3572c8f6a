/* test_cookie.c: DNS Cookies (cookie.h) against the reference vectors of
 * SipHash-2-4 and the worked examples of RFC 9018 Appendix A, then through
 * answer_query(): the COOKIE option parsed, checked and answered (SPEC §4
 * "EDNS").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "answer.h"
#include "cookie.h"
#include "dnsq.h"
#include "zones.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(h), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* The reference implementation's vectors_sip64 (veorq/SipHash vectors.h):
 * key 00 01 .. 0f, message 00 01 .. (i-1) for i = 0..63, digest bytes. */
static const char *const sip64[64] = {
    "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
    "b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
    "6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
    "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
    "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
    "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
    "94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
    "a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
    "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
    "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
    "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
    "f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
    "51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
    "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
    "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
    "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
};

static void test_siphash_vectors(void **state)
{
    uint8_t key[16], msg[64], want[8], got[8];
    (void)state;

    for (unsigned i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (unsigned i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    for (unsigned len = 0; len < 64; len++) {
        uint64_t h = cookie_siphash24(key, msg, len);
        for (unsigned b = 0; b < 8; b++)
            got[b] = (uint8_t)(h >> (8 * b));
        unhex(sip64[len], want, 8);
        if (memcmp(got, want, 8) != 0)
            fail_msg("SipHash-2-4 of %u octets", len);
    }
    /* Unaligned input gives the same digest. */
    uint8_t shifted[65];
    memcpy(shifted + 1, msg, 63);
    assert_true(cookie_siphash24(key, shifted + 1, 63) == cookie_siphash24(key, msg, 63));
}

static const uint8_t *v4(const char *text)
{
    static uint8_t a[4];
    assert_int_equal(inet_pton(AF_INET, text, a), 1);
    return a;
}

static const uint8_t *v6(const char *text)
{
    static uint8_t a[16];
    assert_int_equal(inet_pton(AF_INET6, text, a), 1);
    return a;
}

static struct cookie_secrets secrets(const char *first, const char *second)
{
    struct cookie_secrets s = { .n = second ? 2 : 1 };
    unhex(first, s.key[0], 16);
    if (second)
        unhex(second, s.key[1], 16);
    return s;
}

/* One exchange of RFC 9018 Appendix A: the query's COOKIE option QUERY
 * from IP at NOW gets the reply REPLY, and the query's cookie is WANT. */
static void exchange(const struct cookie_secrets *s, const char *query, const uint8_t *ip,
                     size_t iplen, uint32_t now, enum cookie_state want, const char *reply)
{
    uint8_t q[40], r[24], got[24];
    size_t qlen = strlen(query) / 2;

    unhex(query, q, qlen);
    unhex(reply, r, 24);
    assert_int_equal(cookie_answer(s, q, qlen, ip, iplen, now, got), want);
    assert_memory_equal(got, r, 24);
}

static void test_rfc9018_appendix_a(void **state)
{
    struct cookie_secrets a = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf", NULL);
    (void)state;

    /* A.1: learning a new server cookie. */
    exchange(&a, "2464c4abcf10c957", v4("198.51.100.100"), 4, 1559731985, COOKIE_CLIENT_ONLY,
             "2464c4abcf10c957010000005cf79f111f8130c3eee29480");
    /* A.2: 40 minutes later the same client's cookie is valid but older
     * than half an hour: renewed. */
    exchange(&a, "2464c4abcf10c957010000005cf79f111f8130c3eee29480", v4("198.51.100.100"), 4,
             1559734385, COOKIE_VALID, "2464c4abcf10c957010000005cf7a871d4a564a1442aca77");
    /* A.3: another client, reserved octets set (hashed as received).  Its
     * cookie is 1 h 52 min old at the example's time, past our hour: a
     * fresh cookie with reserved zero, the example's reply. */
    exchange(&a, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", v4("203.0.113.203"), 4,
             1559734700, COOKIE_BAD, "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e");
    /* ... and within the hour the same cookie is valid (its hash is right),
     * young enough to be sent back as it came. */
    exchange(&a, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", v4("203.0.113.203"), 4,
             1559727985 + 60, COOKIE_VALID, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
    /* A.4: IPv6, the secret rolled over: the old secret (listed second)
     * still validates the cookie; the reply's is made with the new one. */
    struct cookie_secrets rolled =
        secrets("445536bcd2513298075a5d379663c962", "dd3bdf9344b678b185a6f5cb60fca715");
    exchange(&rolled, "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
             v6("2001:db8:220:1:59de:d0f4:8769:82b8"), 16, 1559741961, COOKIE_VALID,
             "22681ab97d52c298010000005cf7c609a6bb79d16625507a");
    /* Without the old secret it is not valid: a fresh one all the same. */
    struct cookie_secrets fresh = secrets("445536bcd2513298075a5d379663c962", NULL);
    exchange(&fresh, "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
             v6("2001:db8:220:1:59de:d0f4:8769:82b8"), 16, 1559741961, COOKIE_BAD,
             "22681ab97d52c298010000005cf7c609a6bb79d16625507a");
}

/* The time window of RFC 9018 §4.3 (SPEC: one hour after, five minutes
 * before; renewed after half an hour). */
static void test_time_window(void **state)
{
    struct cookie_secrets s = secrets("000102030405060708090a0b0c0d0e0f", NULL);
    const uint8_t *ip = v4("192.0.2.1");
    const uint32_t t0 = 1700000000;
    uint8_t q[24] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[24];
    (void)state;

    assert_int_equal(cookie_answer(&s, q, 8, ip, 4, t0, out), COOKIE_CLIENT_ONLY);
    memcpy(q, out, 24); /* the cookie made at t0 */
    static const struct {
        int32_t dt;
        enum cookie_state want;
        int same; /* the reply carries the query's server cookie */
    } cases[] = {
        { 0, COOKIE_VALID, 1 },          { 1800, COOKIE_VALID, 1 },
        { 1801, COOKIE_VALID, 0 },       { 3600, COOKIE_VALID, 0 },
        { 3601, COOKIE_BAD, 0 },         { -300, COOKIE_VALID, 1 },
        { -301, COOKIE_BAD, 0 },         { 86400 * 365, COOKIE_BAD, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t now = t0 + (uint32_t)cases[i].dt;
        assert_int_equal(cookie_answer(&s, q, 24, ip, 4, now, out), cases[i].want);
        assert_memory_equal(out, q, 8);
        assert_int_equal(memcmp(out + 8, q + 8, 16) == 0, cases[i].same);
        if (!cases[i].same) { /* fresh: stamped now, and valid now */
            assert_int_equal(out[8], 1);
            assert_int_equal((uint32_t)out[12] << 24 | out[13] << 16 | out[14] << 8 | out[15],
                             now);
            uint8_t again[24];
            assert_int_equal(cookie_answer(&s, out, 24, ip, 4, now, again), COOKIE_VALID);
            assert_memory_equal(again, out, 24);
        }
    }
    /* The clock wraps (RFC 1982 arithmetic): a cookie stamped just before
     * 2^32 is valid just after. */
    assert_int_equal(cookie_answer(&s, (const uint8_t *)"\1\2\3\4\5\6\7\10", 8, ip, 4,
                                   0xFFFFFFF0u, out),
                     COOKIE_CLIENT_ONLY);
    memcpy(q, out, 24);
    assert_int_equal(cookie_answer(&s, q, 24, ip, 4, 0x10, out), COOKIE_VALID);
    /* Another address, client cookie, hash octet or version: not ours. */
    uint8_t bad[24];
    memcpy(bad, q, 24);
    assert_int_equal(cookie_answer(&s, bad, 24, v4("192.0.2.2"), 4, 0x10, out), COOKIE_BAD);
    bad[0] ^= 1;
    assert_int_equal(cookie_answer(&s, bad, 24, ip, 4, 0x10, out), COOKIE_BAD);
    memcpy(bad, q, 24);
    bad[23] ^= 0x80;
    assert_int_equal(cookie_answer(&s, bad, 24, ip, 4, 0x10, out), COOKIE_BAD);
    memcpy(bad, q, 24);
    bad[8] = 2;
    assert_int_equal(cookie_answer(&s, bad, 24, ip, 4, 0x10, out), COOKIE_BAD);
    /* Another server's cookie of 8 or 32 octets: not ours, a fresh one. */
    assert_int_equal(cookie_answer(&s, bad, 16, ip, 4, 0x10, out), COOKIE_BAD);
    assert_int_equal(out[8], 1);
}

static void test_secrets_parse(void **state)
{
    struct cookie_secrets s;
    unsigned line;
    const char *ok = "# rolled 2026-12-01\n"
                     "445536BCD2513298075A5D379663C962\r\n"
                     "\n"
                     "  dd3bdf9344b678b185a6f5cb60fca715  \n";
    (void)state;

    assert_int_equal(cookie_secrets_parse(&s, ok, strlen(ok), &line), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.key[0][0], 0x44);
    assert_int_equal(s.key[1][15], 0x15);
    const char *bad[] = { "", "# none\n", "445536bcd2513298075a5d379663c96\n",
                          "445536bcd2513298075a5d379663c9622\n",
                          "x45536bcd2513298075a5d379663c962\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cookie_secrets_parse(&s, bad[i], strlen(bad[i]), &line), -1);
    assert_int_equal(cookie_secrets_parse(&s, "\n\nzz\n", 5, &line), -1);
    assert_int_equal(line, 3);
    char five[5 * 33 + 1] = "";
    for (int i = 0; i < 5; i++)
        strcat(five, "000102030405060708090a0b0c0d0e0f\n");
    assert_int_equal(cookie_secrets_parse(&s, five, strlen(five), &line), -1);
    assert_int_equal(line, 0);
}

/* ---- through answer_query --------------------------------------------- */

enum { ACME = 2 };
static struct zonetab *tab;
static struct answer_env env;
static struct cookie_secrets sec;
static struct sockaddr_in client4;

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    (void)ctx;
    for (unsigned i = 0; i < n; i++)
        q[i].result = q[i].family == 4 && memcmp(q[i].addr, (uint8_t[]){ 198, 51, 100, 7 }, 4) == 0;
}

static int setup(void **state)
{
    struct spfdb_zone z;
    (void)state;

    tab = zonetab_new();
    if (!tab)
        return -1;
    memset(&z, 0, sizeof z);
    snprintf(z.name, sizeof z.name, "iphmx.example");
    z.ttl = 300;
    z.neg_ttl = 60;
    z.n_ns = 2;
    snprintf(z.ns[0], sizeof z.ns[0], "ns1.esp.example");
    snprintf(z.ns[1], sizeof z.ns[1], "ns2.esp.example");
    if (zonetab_add_zone(tab, &z) != 0 || zonetab_add_alloc(tab, "acme", ACME) != 0)
        return -1;
    sec = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf", NULL);
    client4.sin_family = AF_INET;
    memcpy(&client4.sin_addr, v4("198.51.100.100"), 4);
    env = (struct answer_env){ .zones = tab, .serial = 1, .covers_many = covers_many,
                               .cookies = &sec, .peer = (const struct sockaddr *)&client4,
                               .now = 1559731985, .tcp_idle_100ms = 100 };
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zonetab_free(tab);
    return 0;
}

static uint8_t out[65535];

/* A query for NAME A with OPT options RDATA[0..RDLEN). */
static void query(struct q *q, const char *name, const uint8_t *rdata, uint16_t rdlen)
{
    q_build(q, name, 1, NULL);
    q_opt(q, 1232, 0, 0, rdata, rdlen);
    q_set_count(q, 3, 1);
}

/* The reply's COOKIE option data (24 octets) or NULL. */
static const uint8_t *reply_cookie(const struct reply *r)
{
    if (r->opt < 0)
        return NULL;
    const struct rr *o = &r->rr[r->opt];
    for (size_t off = 0; off + 4 <= o->rdlen;) {
        unsigned code = o->rdata[off] << 8 | o->rdata[off + 1];
        unsigned len = o->rdata[off + 2] << 8 | o->rdata[off + 3];
        if (code == 10) {
            assert_int_equal(len, 24);
            return o->rdata + off + 4;
        }
        off += 4 + len;
    }
    return NULL;
}

static void test_answer_cookies(void **state)
{
    struct answer_info info;
    struct reply r;
    struct q q;
    uint8_t opt[4 + 40] = { 0, 10, 0, 8 };
    (void)state;

    /* A client cookie alone: the A.1 reply, and a normal answer. */
    unhex("2464c4abcf10c957", opt + 4, 8);
    query(&q, "198.51.100.7.spf.acme.iphmx.example", opt, 12);
    for (int t = ANSWER_UDP; t <= ANSWER_TCP; t++) {
        size_t n = answer_query(&env, q.b, q.len, out, t == ANSWER_TCP ? 65535 : 1232, t, &info);
        assert_int_equal(reply_parse(out, n, &r), 0);
        assert_int_equal(r.rcode, 0);
        assert_int_equal(r.an, 1);
        assert_int_equal(info.cookie, COOKIE_CLIENT_ONLY);
        const uint8_t *c = reply_cookie(&r);
        assert_non_null(c);
        uint8_t want[24];
        unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", want, 24);
        assert_memory_equal(c, want, 24);
    }
    /* The learned cookie: valid, sent back as it came. */
    unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", opt + 4, 24);
    opt[3] = 24;
    query(&q, "10.20.30.40.spf.acme.iphmx.example", opt, 28);
    env.now += 600;
    size_t n = answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    assert_int_equal(r.rcode, 3);
    assert_int_equal(info.cookie, COOKIE_VALID);
    assert_memory_equal(reply_cookie(&r), opt + 4, 24);
    /* From another address it is bad: a fresh cookie, a normal answer
     * (BADCOOKIE only under rate limiting). */
    struct sockaddr_in other = client4;
    memcpy(&other.sin_addr, v4("198.51.100.101"), 4);
    env.peer = (const struct sockaddr *)&other;
    n = answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    assert_int_equal(r.rcode, 3);
    assert_int_equal(info.cookie, COOKIE_BAD);
    assert_memory_not_equal(reply_cookie(&r), opt + 4, 24);
    assert_memory_equal(reply_cookie(&r), opt + 4, 8);
    env.peer = (const struct sockaddr *)&client4;
    env.now -= 600;
    /* Beside edns-tcp-keepalive over TCP: both options. */
    uint8_t two[28 + 4] = { 0, 10, 0, 24 };
    memcpy(two + 4, opt + 4, 24);
    memcpy(two + 28, (uint8_t[]){ 0, 11, 0, 0 }, 4);
    query(&q, "iphmx.example", two, sizeof two);
    n = answer_query(&env, q.b, q.len, out, 65535, ANSWER_TCP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    assert_int_equal(r.rr[r.opt].rdlen, 28 + 6);
    /* Without cookies configured: ignored, not echoed. */
    env.cookies = NULL;
    n = answer_query(&env, q.b, q.len, out, 65535, ANSWER_TCP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    assert_null(reply_cookie(&r));
    assert_int_equal(info.cookie, COOKIE_NONE);
    env.cookies = &sec;
}

static void test_answer_cookie_lengths(void **state)
{
    struct answer_info info;
    struct reply r;
    struct q q;
    uint8_t opt[4 + 41] = { 0, 10 };
    (void)state;

    for (unsigned len = 0; len <= 41; len++) {
        opt[3] = (uint8_t)len;
        memset(opt + 4, 0xA5, len);
        query(&q, "198.51.100.7.spf.acme.iphmx.example", opt, (uint16_t)(4 + len));
        size_t n = answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, &info);
        assert_int_equal(reply_parse(out, n, &r), 0);
        int formerr = len < 8 || (len > 8 && len < 16) || len > 40;
        assert_int_equal(r.rcode, formerr ? 1 : 0);
        assert_true(r.opt >= 0); /* FORMERR with OPT */
        if (formerr) {
            assert_null(reply_cookie(&r));
            assert_int_equal(r.flags & 0x0400, 0);
        } else {
            assert_non_null(reply_cookie(&r));
            assert_int_equal(info.cookie, len == 8 ? COOKIE_CLIENT_ONLY : COOKIE_BAD);
        }
    }
    /* Two COOKIE options: the first counts. */
    uint8_t two[12 + 12] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 0, 8 };
    query(&q, "iphmx.example", two, sizeof two);
    size_t n = answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    assert_memory_equal(reply_cookie(&r), two + 4, 8);
    /* Error replies carry the cookie too: BADVERS, REFUSED, NOTIMP. */
    q_build(&q, "example", 1, NULL);
    q_opt(&q, 1232, 1, 0, two, 12);
    q_set_count(&q, 3, 1);
    n = answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    assert_int_equal(r.rcode, 16);
    assert_non_null(reply_cookie(&r));
    query(&q, "example", two, 12);
    n = answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    assert_int_equal(r.rcode, 5);
    assert_non_null(reply_cookie(&r));
    /* IPv6 client. */
    struct sockaddr_in6 c6 = { .sin6_family = AF_INET6 };
    memcpy(&c6.sin6_addr, v6("2001:db8:220:1:59de:d0f4:8769:82b8"), 16);
    env.peer = (const struct sockaddr *)&c6;
    env.now = 1559741961;
    sec = secrets("445536bcd2513298075a5d379663c962", NULL);
    uint8_t a4[4 + 8] = { 0, 10, 0, 8 };
    unhex("22681ab97d52c298", a4 + 4, 8);
    query(&q, "iphmx.example", a4, sizeof a4);
    n = answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, &info);
    assert_int_equal(reply_parse(out, n, &r), 0);
    uint8_t want[24];
    unhex("22681ab97d52c298010000005cf7c609a6bb79d16625507a", want, 24);
    assert_memory_equal(reply_cookie(&r), want, 24);
    sec = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf", NULL);
    env.peer = (const struct sockaddr *)&client4;
    env.now = 1559731985;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_rfc9018_appendix_a),
        cmocka_unit_test(test_time_window),
        cmocka_unit_test(test_secrets_parse),
        cmocka_unit_test(test_answer_cookies),
        cmocka_unit_test(test_answer_cookie_lengths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
