/* test_rrl.c: response rate limiting (rrl.h) with an injected clock, then
 * through answer_batch(): slip and drop in turn, BADCOOKIE in place of the
 * slip, what is exempt, dry run (SPEC §4 "Abuse").
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
#include "dnsq.h"
#include "rrl.h"
#include "zones.h"

static struct sockaddr_in sin4(const char *a)
{
    struct sockaddr_in s = { .sin_family = AF_INET };
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return s;
}

static struct sockaddr_in6 sin6(const char *a)
{
    struct sockaddr_in6 s = { .sin6_family = AF_INET6 };
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return s;
}

#define SA(x) ((const struct sockaddr *)(x))

/* Replies passed to KEY in N tries at one instant NOW; the actions into
 * *SLIPS and *DROPS. */
static unsigned burst(struct rrl *r, uint64_t key, unsigned n, uint32_t now, unsigned *slips,
                      unsigned *drops)
{
    unsigned pass = 0;
    *slips = *drops = 0;
    for (unsigned i = 0; i < n; i++) {
        enum rrl_action a = rrl_check_key(r, key, now);
        pass += a == RRL_PASS;
        *slips += a == RRL_SLIP;
        *drops += a == RRL_DROP;
    }
    return pass;
}

static void test_keys(void **state)
{
    (void)state;
    struct sockaddr_in a = sin4("198.51.100.7"), b = sin4("198.51.100.250"),
                       c = sin4("198.51.101.7");
    struct sockaddr_in6 d = sin6("2001:db8:1:2200::1"), e = sin6("2001:db8:1:22ff:ffff::9"),
                        f = sin6("2001:db8:1:2300::1"), m = sin6("::ffff:198.51.100.9");
    assert_true(rrl_key(SA(&a)) == rrl_key(SA(&b)));  /* one /24 */
    assert_true(rrl_key(SA(&a)) != rrl_key(SA(&c)));
    assert_true(rrl_key(SA(&d)) == rrl_key(SA(&e)));  /* one /56 */
    assert_true(rrl_key(SA(&d)) != rrl_key(SA(&f)));
    assert_true(rrl_key(SA(&m)) == rrl_key(SA(&a)));  /* mapped: the IPv4 /24 */
    assert_true(rrl_key(SA(&a)) != 0 && rrl_key(SA(&d)) != 0 && rrl_key(NULL) != 0);
}

/* One worker of one: N a second, bursts of N, then slip and drop in turn. */
static void test_bucket(void **state)
{
    (void)state;
    struct rrl *r = rrl_new(10, 1, 0, 12345);
    unsigned slips, drops;
    uint64_t k = 0x0A0B0C04;
    uint32_t t = 1000;

    assert_non_null(r);
    assert_int_equal(burst(r, k, 10, t, &slips, &drops), 10); /* the burst */
    assert_int_equal(rrl_check_key(r, k, t), RRL_SLIP);         /* then in turn */
    assert_int_equal(rrl_check_key(r, k, t), RRL_DROP);
    assert_int_equal(rrl_check_key(r, k, t), RRL_SLIP);
    assert_int_equal(rrl_check_key(r, k, t), RRL_DROP);
    /* 100 ms refill one reply (10 a second). */
    assert_int_equal(rrl_check_key(r, k, t + 99), RRL_SLIP);
    assert_int_equal(rrl_check_key(r, k, t + 100 + 99), RRL_PASS); /* 100 ms since the refill above */
    assert_int_equal(rrl_check_key(r, k, t + 199), RRL_DROP);
    /* A steady flood of 1000 a second for 10 s gets N a second through. */
    unsigned pass = 0, s = 0, d = 0;
    for (uint32_t ms = 0; ms < 10000; ms++) {
        enum rrl_action a = rrl_check_key(r, k, t + 1000 + ms);
        pass += a == RRL_PASS;
        s += a == RRL_SLIP;
        d += a == RRL_DROP;
    }
    assert_in_range(pass, 100, 110); /* 100 a second, and what refilled since t + 199 */
    assert_in_range(s, (10000 - pass) / 2, (10000 - pass) / 2 + 1);
    assert_int_equal(pass + s + d, 10000);
    /* Other prefixes are not affected. */
    assert_int_equal(burst(r, 0x0A0B0D04, 10, t + 11000, &slips, &drops), 10);
    /* After a quiet second the burst is back, whole and no more. */
    assert_int_equal(burst(r, k, 20, t + 12000, &slips, &drops), 10);
    assert_int_equal(slips, 5);
    assert_int_equal(drops, 5);
    /* Time that goes back (it must not, but) refills nothing wrong. */
    assert_int_equal(burst(r, k, 20, t + 11000, &slips, &drops), 10);
    rrl_free(r);
}

/* W workers share the rate: each grants N/W, bursts of N/W (at least one). */
static void test_share(void **state)
{
    (void)state;
    unsigned slips, drops;
    struct rrl *w[4];
    for (int i = 0; i < 4; i++)
        assert_non_null(w[i] = rrl_new(100, 4, 0, 99 + (uint64_t)i));
    unsigned total = 0;
    for (int i = 0; i < 4; i++)
        total += burst(w[i], 42, 1000, 5000, &slips, &drops);
    assert_int_equal(total, 100); /* the burst, over the four */
    total = 0;
    for (uint32_t ms = 1; ms <= 2000; ms++) /* 2 s at 4000 a second, spread */
        total += rrl_check_key(w[ms % 4], 42, 5000 + ms) == RRL_PASS;
    assert_in_range(total, 196, 204);
    for (int i = 0; i < 4; i++)
        rrl_free(w[i]);
    /* N below W: one reply a burst per worker, N a second in all. */
    struct rrl *r = rrl_new(2, 8, 0, 7);
    assert_int_equal(burst(r, 42, 5, 0, &slips, &drops), 1);
    total = 0;
    for (uint32_t ms = 1; ms <= 8000; ms++)
        total += rrl_check_key(r, 42, ms) == RRL_PASS;
    assert_in_range(total, 1, 3); /* 2/8 a second for 8 s */
    rrl_free(r);
    assert_null(rrl_new(0, 1, 0, 1));
    assert_null(rrl_new(RRL_RATE_MAX + 1, 1, 0, 1));
    assert_non_null(r = rrl_new(RRL_RATE_MAX, 512, 0, 1));
    assert_int_equal(burst(r, 42, 5000, 7, &slips, &drops), RRL_RATE_MAX / 512);
    rrl_free(r);
}

/* A flood of many prefixes does not free a limited prefix of its limit:
 * the table keeps the entries whose buckets are drained. */
static void test_table_pressure(void **state)
{
    (void)state;
    unsigned slips, drops;
    struct rrl *r = rrl_new(5, 1, 0, 0x9E3779B97F4A7C15ull);
    uint64_t victim = (uint64_t)0xC63364 << 8 | 4;

    assert_int_equal(burst(r, victim, 50, 0, &slips, &drops), 5);
    for (uint32_t i = 0; i < 200000; i++) { /* 200,000 other /24s, in 100 ms */
        uint64_t k = (uint64_t)(0x010000 + i) << 8 | 4;
        rrl_check_key(r, k, i / 2000);
    }
    /* 100 ms later: half a reply's credit, still limited. */
    assert_int_equal(burst(r, victim, 10, 100, &slips, &drops), 0);
    rrl_free(r);
}

/* ---- through answer_batch ---------------------------------------------- */

enum { ACME = 2, NOW = 1700000000 };
static struct zonetab *tab;
static struct answer_env env;
static struct cookie_secrets sec = { .n = 1 };

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    (void)ctx;
    for (unsigned i = 0; i < n; i++)
        q[i].result = 1;
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
    z.n_ns = 1;
    snprintf(z.ns[0], sizeof z.ns[0], "ns1.esp.example");
    if (zonetab_add_zone(tab, &z) != 0 || zonetab_add_alloc(tab, "acme", ACME) != 0)
        return -1;
    env = (struct answer_env){ .zones = tab, .serial = 1, .covers_many = covers_many,
                               .cookies = &sec, .now = NOW, .now_ms = 777 };
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zonetab_free(tab);
    return 0;
}

static uint8_t out[64][1232];
static size_t lens[64];

/* N copies of Q from PEER over TRANSPORT in one batch; the replies' rcodes
 * (-1: none) into RC and the flags into FLAGS, the infos into INFO. */
static void flood(const struct q *q, const struct sockaddr *peer, int transport, unsigned n,
                  int *rc, uint16_t *flags, struct answer_info *info)
{
    static struct answer_msg m[64];
    assert_true(n <= 64);
    for (unsigned i = 0; i < n; i++)
        m[i] = (struct answer_msg){ .q = q->b, .qlen = q->len, .out = out[i], .cap = 1232,
                                    .peer = peer };
    answer_batch(&env, transport, m, n);
    for (unsigned i = 0; i < n; i++) {
        struct reply r;
        info[i] = m[i].info;
        lens[i] = m[i].len;
        rc[i] = -1;
        if (m[i].len == 0)
            continue;
        assert_int_equal(reply_parse(out[i], m[i].len, &r), 0);
        rc[i] = r.rcode;
        flags[i] = r.flags;
    }
}

static void test_answer_limits(void **state)
{
    (void)state;
    struct sockaddr_in a = sin4("203.0.113.9"), b = sin4("203.0.114.9");
    int rc[64];
    uint16_t fl[64];
    struct answer_info info[64];
    struct q q;
    unsigned i;

    env.rrl = rrl_new(4, 1, 0, 5);
    assert_non_null(env.rrl);
    q_build(&q, "198.51.100.7.spf.acme.iphmx.example", 1, NULL);
    flood(&q, SA(&a), ANSWER_UDP, 10, rc, fl, info);
    for (i = 0; i < 4; i++) { /* the burst: whole answers */
        assert_int_equal(rc[i], 0);
        assert_int_equal(fl[i] & 0x0200, 0);
        assert_int_equal(info[i].limited, LIMITED_NOT);
    }
    for (; i < 10; i += 2) { /* then TC, nothing, TC, ... */
        assert_int_equal(rc[i], 0);
        assert_true(fl[i] & 0x0200);
        assert_int_equal(info[i].limited, LIMITED_SLIP);
        assert_int_equal(rc[i + 1], -1);
        assert_int_equal(info[i + 1].limited, LIMITED_DROP);
        assert_int_equal(info[i + 1].cls, ANSWER_DROP);
    }
    /* Another /24 has its own bucket. */
    flood(&q, SA(&b), ANSWER_UDP, 4, rc, fl, info);
    for (i = 0; i < 4; i++)
        assert_int_equal(info[i].limited, LIMITED_NOT);
    /* TCP: never limited. */
    flood(&q, SA(&a), ANSWER_TCP, 10, rc, fl, info);
    for (i = 0; i < 10; i++) {
        assert_int_equal(rc[i], 0);
        assert_int_equal(info[i].limited, LIMITED_NOT);
    }
    /* A client cookie alone: BADCOOKIE with a fresh cookie in place of
     * the slip; a bad server cookie the same. */
    uint8_t opt[4 + 24] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
    q_build(&q, "198.51.100.7.spf.acme.iphmx.example", 1, NULL);
    q_opt(&q, 1232, 0, 0, opt, 12);
    q_set_count(&q, 3, 1);
    flood(&q, SA(&a), ANSWER_UDP, 4, rc, fl, info);
    for (i = 0; i < 4; i += 2) {
        assert_int_equal(rc[i], 23);
        assert_int_equal(fl[i] & 0x0600, 0); /* no TC, no AA */
        assert_int_equal(info[i].limited, LIMITED_BADCOOKIE);
        assert_int_equal(info[i].rcode, 23);
        assert_int_equal(rc[i + 1], -1);
    }
    struct reply r;
    assert_int_equal(reply_parse(out[0], lens[0], &r), 0);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.rr[r.opt].rdlen, 28);
    /* With that fresh cookie (valid): never limited, not counted. */
    memcpy(opt + 4, r.rr[r.opt].rdata + 4, 24);
    opt[3] = 24;
    q_build(&q, "198.51.100.7.spf.acme.iphmx.example", 1, NULL);
    q_opt(&q, 1232, 0, 0, opt, 28);
    q_set_count(&q, 3, 1);
    flood(&q, SA(&a), ANSWER_UDP, 64, rc, fl, info);
    for (i = 0; i < 64; i++) {
        assert_int_equal(rc[i], 0);
        assert_int_equal(info[i].cookie, COOKIE_VALID);
        assert_int_equal(info[i].limited, LIMITED_NOT);
    }
    /* ... from another address it is not valid: limited. */
    flood(&q, SA(&b), ANSWER_UDP, 2, rc, fl, info);
    assert_int_equal(info[0].limited, LIMITED_BADCOOKIE);
    assert_int_equal(info[1].limited, LIMITED_DROP);
    /* Errors count as replies too (REFUSED to a name under no zone). */
    struct sockaddr_in c = sin4("192.0.2.77");
    q_build(&q, "example.org", 1, NULL);
    flood(&q, SA(&c), ANSWER_UDP, 6, rc, fl, info);
    assert_int_equal(rc[3], 5);
    assert_int_equal(info[4].limited, LIMITED_SLIP);
    assert_int_equal(rc[4], 5); /* the truncated reply keeps its rcode */
    assert_true(fl[4] & 0x0200);
    assert_int_equal(info[5].limited, LIMITED_DROP);
    /* No reply at all (QR set): not counted. */
    struct sockaddr_in d = sin4("192.0.5.177");
    q.b[2] |= 0x80;
    flood(&q, SA(&d), ANSWER_UDP, 20, rc, fl, info);
    q.b[2] &= 0x7F;
    flood(&q, SA(&d), ANSWER_UDP, 4, rc, fl, info);
    for (i = 0; i < 4; i++)
        assert_int_equal(info[i].limited, LIMITED_NOT);
    /* Time refills. */
    env.now_ms += 1000;
    flood(&q, SA(&a), ANSWER_UDP, 5, rc, fl, info);
    assert_int_equal(info[3].limited, LIMITED_NOT);
    assert_int_equal(info[4].limited, LIMITED_SLIP);
    rrl_free(env.rrl);

    /* Dry run: every reply whole, the actions counted. */
    env.rrl = rrl_new(4, 1, 1, 5);
    q_build(&q, "198.51.100.7.spf.acme.iphmx.example", 1, NULL);
    flood(&q, SA(&a), ANSWER_UDP, 10, rc, fl, info);
    for (i = 0; i < 10; i++) {
        assert_int_equal(rc[i], 0);
        assert_int_equal(fl[i] & 0x0200, 0);
        assert_int_equal(info[i].cls, ANSWER_LISTED);
        assert_int_equal(info[i].limited,
                         i < 4 ? LIMITED_NOT : (i % 2 == 0) ? LIMITED_SLIP : LIMITED_DROP);
    }
    rrl_free(env.rrl);
    env.rrl = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_table_pressure),
        cmocka_unit_test(test_answer_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
