/* test_xfrzone.c: the transfer zone in the answer core (xfrzone.h, SPEC
 * §5): TSIG is required, its errors are NOTAUTH with the RFC 8945 error,
 * a signed SOA is answered over UDP and TCP, an IXFR over UDP gets the
 * SOA alone, a transfer over TCP is handed on, and names outside the
 * transfer zone are answered as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "answer.h"
#include "dnsq.h"
#include "tsig.h"
#include "xfrzone.h"

static const uint8_t SECRET[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER[32] = "fedcba9876543210fedcba9876543210";

struct fx {
    struct xfrzone *x;
    struct answer_env env;
    struct tsig_key key, wrong;
};

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    (void)ctx;
    for (unsigned i = 0; i < n; i++)
        q[i].result = 0;
}

static int setup(void **state)
{
    static struct fx f;

    memset(&f, 0, sizeof f);
    assert_int_equal(xfrzone_new(&f.x, "xfr.test", "", 1), 0);
    assert_int_equal(xfrzone_add_key(f.x, "k1", SECRET, sizeof SECRET), 0);
    assert_int_equal(tsig_key_set(&f.key, "k1", SECRET, sizeof SECRET), 0);
    assert_int_equal(tsig_key_set(&f.wrong, "k1", OTHER, sizeof OTHER), 0);
    f.env.xfr = f.x;
    f.env.serial = 2024010101;
    f.env.covers_many = covers_many;
    f.env.xfr_room = 1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    xfrzone_free(f->x);
    return 0;
}

/* A query for NAME/QTYPE, signed with KEY (NULL: unsigned) at time T. */
static void query(struct q *q, const char *name, uint16_t qtype, const struct tsig_key *key,
                  uint64_t t, struct tsig_ctx *ctx)
{
    struct qopt o = { .id = 0x4242 };

    q_build(q, name, qtype, &o);
    if (key)
        assert_int_equal(tsig_sign_request(ctx, key, q->b, &q->len, sizeof q->b, t), TSIG_OK);
}

static size_t ask(struct fx *f, const struct q *q, int transport, uint8_t *out, size_t cap,
                  struct answer_info *info, struct reply *r)
{
    size_t n = answer_query(&f->env, q->b, q->len, out, cap, transport, info);

    if (n > 0)
        assert_int_equal(reply_parse(out, n, r), 0);
    return n;
}

static void unsigned_is_refused(void **state)
{
    struct fx *f = *state;
    struct q q;
    uint8_t out[1232];
    struct answer_info info;
    struct reply r;

    for (int t = 0; t < 2; t++) {
        query(&q, "xfr.test", 6, NULL, 0, NULL);
        assert_true(ask(f, &q, t, out, sizeof out, &info, &r) > 0);
        assert_int_equal(r.rcode, 5);
        assert_int_equal(r.flags & 0x0400, 0); /* AA clear */
        assert_int_equal(r.an + r.ns + r.ar, 0);
        query(&q, "a.a.XFR.test", 252, NULL, 0, NULL);
        assert_true(ask(f, &q, t, out, sizeof out, &info, &r) > 0);
        assert_int_equal(r.rcode, 5);
        assert_int_equal(info.transfer, 0);
    }
}

static void signed_soa_udp_tcp(void **state)
{
    struct fx *f = *state;
    struct q q;
    uint8_t out[65535];
    struct answer_info info;
    struct reply r;
    struct tsig_ctx ctx;
    uint64_t now = (uint64_t)time(NULL);

    for (int t = 0; t < 2; t++) {
        for (int qt = 0; qt < 2; qt++) { /* SOA, and IXFR over UDP */
            uint16_t type = qt ? 251 : 6;
            if (qt && t == ANSWER_TCP)
                continue;
            query(&q, "Xfr.Test", type, &f->key, now, &ctx);
            size_t n = ask(f, &q, t, out, t ? sizeof out : 1232, &info, &r);
            assert_true(n > 0);
            assert_int_equal(r.rcode, 0);
            assert_int_equal(r.flags & 0x0400, 0x0400);
            assert_int_equal(r.an, 1);
            assert_int_equal(r.rr[0].type, 6);
            assert_int_equal(r.ar, 1);
            assert_int_equal(r.rr[1].type, 250);
            assert_int_equal(tsig_verify_reply(&ctx, out, n, now), TSIG_OK);
            assert_int_equal(tsig_verify_end(&ctx), TSIG_OK);
            /* the serial is the database's */
            const uint8_t *rd = r.rr[0].rdata + r.rr[0].rdlen - 20;
            assert_int_equal((uint32_t)rd[0] << 24 | rd[1] << 16 | rd[2] << 8 | rd[3],
                             f->env.serial);
        }
    }
}

static void tsig_errors(void **state)
{
    struct fx *f = *state;
    struct q q;
    uint8_t out[1232];
    struct answer_info info;
    struct reply r;
    struct tsig_ctx ctx;
    struct tsig_key unknown;
    uint64_t now = (uint64_t)time(NULL);

    query(&q, "xfr.test", 6, &f->wrong, now, &ctx);
    size_t n = ask(f, &q, ANSWER_UDP, out, sizeof out, &info, &r);
    assert_int_equal(r.rcode, 9);
    assert_int_equal(tsig_verify_reply(&ctx, out, n, now), TSIG_EPEER);
    assert_int_equal(ctx.peer_error, TSIG_ERR_BADSIG); /* unsigned */

    assert_int_equal(tsig_key_set(&unknown, "nokey", SECRET, sizeof SECRET), 0);
    query(&q, "xfr.test", 6, &unknown, now, &ctx);
    n = ask(f, &q, ANSWER_UDP, out, sizeof out, &info, &r);
    assert_int_equal(r.rcode, 9);
    assert_int_equal(tsig_verify_reply(&ctx, out, n, now), TSIG_EPEER);
    assert_int_equal(ctx.peer_error, TSIG_ERR_BADKEY);

    query(&q, "xfr.test", 6, &f->key, now - 1000, &ctx);
    n = ask(f, &q, ANSWER_UDP, out, sizeof out, &info, &r);
    assert_int_equal(r.rcode, 9);
    assert_int_equal(tsig_verify_reply(&ctx, out, n, now - 1000), TSIG_EPEER);
    assert_int_equal(ctx.peer_error, TSIG_ERR_BADTIME); /* signed: it verified */
}

static void transfers(void **state)
{
    struct fx *f = *state;
    struct q q;
    uint8_t out[65535];
    struct answer_info info;
    struct reply r;
    struct tsig_ctx ctx;
    uint64_t now = (uint64_t)time(NULL);

    /* over TCP: handed on, nothing written */
    query(&q, "xfr.test", 252, &f->key, now, &ctx);
    assert_int_equal(ask(f, &q, ANSWER_TCP, out, sizeof out, &info, &r), 0);
    assert_int_equal(info.transfer, 1);
    /* no room: REFUSED, signed */
    f->env.xfr_room = 0;
    size_t n = ask(f, &q, ANSWER_TCP, out, sizeof out, &info, &r);
    f->env.xfr_room = 1;
    assert_int_equal(info.transfer, 0);
    assert_int_equal(r.rcode, 5);
    assert_int_equal(tsig_verify_reply(&ctx, out, n, now), TSIG_OK);
    /* AXFR over UDP, and other signed queries: REFUSED, signed */
    const char *names[] = { "xfr.test", "a.xfr.test", "xfr.test" };
    uint16_t types[] = { 252, 6, 16 };
    for (int i = 0; i < 3; i++) {
        query(&q, names[i], types[i], &f->key, now, &ctx);
        n = ask(f, &q, ANSWER_UDP, out, 1232, &info, &r);
        assert_int_equal(r.rcode, 5);
        assert_int_equal(r.flags & 0x0400, 0);
        assert_int_equal(tsig_verify_reply(&ctx, out, n, now), TSIG_OK);
    }
    /* outside the transfer zone a signed AXFR is an ordinary REFUSED */
    query(&q, "example.test", 252, &f->key, now, &ctx);
    n = ask(f, &q, ANSWER_TCP, out, sizeof out, &info, &r);
    assert_int_equal(info.transfer, 0);
    assert_int_equal(r.rcode, 5);
    assert_int_equal(r.ar, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unsigned_is_refused),
        cmocka_unit_test(signed_soa_udp_tcp),
        cmocka_unit_test(tsig_errors),
        cmocka_unit_test(transfers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
