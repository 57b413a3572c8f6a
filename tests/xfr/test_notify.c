/* NOTIFY (xfr/notify.h): the request as a replica reads it (header, the
 * question, the SOA in the answer section, a TSIG that verifies under
 * the key), and the check of replies: a signed answer is taken, and
 * nothing else is (another ID, a response to something else, unsigned,
 * another key, a changed octet, an unsigned BADKEY); a forged reply does
 * not spoil the exchange for the real one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "notify.h"

#define NOW 1796620000ull
#define SERIAL 1796619999u
#define ID 0xbeef
#define NS "ns0.example.net"

static const uint8_t secret[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                    12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                    23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t other[32] = { 9 };

struct fix {
    struct xfr_origin origin;
    struct tsig_key key, wrong, stranger; /* ours, our name with another secret, another name */
    struct tsig_ctx ctx;                  /* the primary's exchange */
    uint8_t req[XFR_NOTIFY_MAX];
    size_t len;
};

static int setup(void **state)
{
    static struct fix f;

    memset(&f, 0, sizeof f);
    assert_int_equal(xfr_origin_set(&f.origin, "Xfr.Example"), 0);
    assert_int_equal(tsig_key_set(&f.key, "replica1.key", secret, sizeof secret), 0);
    assert_int_equal(tsig_key_set(&f.wrong, "replica1.key", other, sizeof other), 0);
    assert_int_equal(tsig_key_set(&f.stranger, "stranger", secret, sizeof secret), 0);
    assert_int_equal(xfr_notify_build(f.req, sizeof f.req, &f.len, ID, &f.origin, NS, SERIAL,
                                      &f.key, &f.ctx, NOW),
                     0);
    *state = &f;
    return 0;
}

static void test_request_layout(void **state)
{
    struct fix *f = *state;
    const uint8_t *m = f->req;
    uint8_t name[XFR_NAME_MAX], mname[XFR_NAME_MAX], want[XFR_NAME_MAX];
    size_t off = XFR_HDR_LEN, next, tsig_at;
    struct xfr_rr rr;
    int n;

    assert_int_equal(get_be16(m), ID);
    /* QR clear, opcode 4, AA, TC RD RA Z AD CD clear, RCODE 0 */
    assert_int_equal(get_be16(m + 2), 4 << 11 | 0x0400);
    assert_int_equal(get_be16(m + 4), 1);
    assert_int_equal(get_be16(m + 6), 1);
    assert_int_equal(get_be16(m + 8), 0);
    assert_int_equal(get_be16(m + 10), 1); /* the TSIG */
    n = xfr_name_read(m, f->len, off, name, &next);
    assert_int_equal(n, (int)f->origin.len);
    assert_memory_equal(name, f->origin.name, f->origin.len); /* lowercase */
    assert_int_equal(get_be16(m + next), XFR_T_SOA);
    assert_int_equal(get_be16(m + next + 2), XFR_C_IN);
    off = next + 4;
    assert_int_equal(xfr_rr_read(m, f->len, &off, &rr), 0);
    assert_int_equal(rr.type, XFR_T_SOA);
    assert_int_equal(rr.rclass, XFR_C_IN);
    assert_true(xfr_name_eq(rr.owner, rr.owner_len, f->origin.name, f->origin.len));
    n = xfr_name_read(m, f->len, rr.rdoff, mname, &next);
    assert_int_equal(n, xfr_name_from_text(NS, strlen(NS), want));
    assert_memory_equal(mname, want, (size_t)n);
    n = xfr_name_read(m, f->len, next, mname, &next);
    assert_true(n > 0);
    assert_int_equal(get_be32(m + next), SERIAL);
    assert_int_equal(get_be32(m + next + 4), XFR_SOA_REFRESH);
    assert_int_equal(next + 20, rr.rdoff + rr.rdlen);
    assert_int_equal(tsig_find(m, f->len, &tsig_at), TSIG_OK);
    assert_int_equal(tsig_at, off);
    assert_true(f->len <= XFR_NOTIFY_MAX);
}

/* The replica's side: verify the request with its key table and sign the
 * reply it makes of it (the request's header with QR, its question). */
static size_t replica_reply(struct fix *f, const struct tsig_key *keys, size_t nkeys,
                            uint8_t rcode, uint64_t at, uint8_t *out, size_t cap, int sign)
{
    struct tsig_ctx srv;
    size_t q_end, len;
    uint8_t name[XFR_NAME_MAX];

    assert_int_equal(tsig_verify_request(&srv, keys, nkeys, f->req, f->len, NOW), TSIG_OK);
    assert_true(xfr_name_read(f->req, f->len, XFR_HDR_LEN, name, &q_end) > 0);
    q_end += 4;
    assert_true(q_end <= cap);
    memcpy(out, f->req, q_end);
    put_be16(out + 2, (uint16_t)(get_be16(f->req + 2) | 0x8000 | rcode));
    put_be16(out + 6, 0);
    put_be16(out + 10, 0);
    len = q_end;
    if (sign)
        assert_int_equal(tsig_sign_reply(&srv, out, &len, cap, at), TSIG_OK);
    return len;
}

static void test_answered(void **state)
{
    struct fix *f = *state;
    struct xfr_notify_reply r;
    uint8_t rep[1024];
    size_t n = replica_reply(f, &f->key, 1, 0, NOW + 1, rep, sizeof rep, 1);

    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW + 2, &r),
                     XFR_NOTIFY_VERIFIED);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.tsig, TSIG_OK);
    /* The same reply again (a duplicate datagram): still an answer. */
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW + 2, &r),
                     XFR_NOTIFY_VERIFIED);
    /* A refusal, signed: answered, with its RCODE. */
    n = replica_reply(f, &f->key, 1, 5, NOW, rep, sizeof rep, 1);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_VERIFIED);
    assert_int_equal(r.rcode, 5);
}

static void test_question_may_be_left_out(void **state)
{
    struct fix *f = *state;
    struct tsig_ctx srv;
    struct xfr_notify_reply r;
    uint8_t rep[512];
    size_t n = XFR_HDR_LEN;

    assert_int_equal(tsig_verify_request(&srv, &f->key, 1, f->req, f->len, NOW), TSIG_OK);
    memset(rep, 0, sizeof rep);
    put_be16(rep, ID);
    put_be16(rep + 2, 0x8000 | 4 << 11);
    assert_int_equal(tsig_sign_reply(&srv, rep, &n, sizeof rep, NOW), TSIG_OK);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_VERIFIED);
}

static void test_foreign(void **state)
{
    struct fix *f = *state;
    struct xfr_notify_reply r;
    uint8_t rep[1024], bad[1024];
    size_t n = replica_reply(f, &f->key, 1, 0, NOW, rep, sizeof rep, 1);
    struct xfr_origin elsewhere;

    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, 11, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
    assert_int_equal(xfr_notify_check(&f->ctx, ID + 1, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
    /* our own request reflected back: QR clear */
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, f->req, f->len, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
    memcpy(bad, rep, n);
    put_be16(bad + 2, (uint16_t)(get_be16(rep + 2) & ~(0xF << 11))); /* opcode QUERY */
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, bad, n, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
    memcpy(bad, rep, n);
    bad[n] = 0; /* a trailing octet */
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, bad, n + 1, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
    memcpy(bad, rep, n);
    put_be16(bad + 4, 2); /* QDCOUNT 2: the records no longer parse as sent */
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, bad, n, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
    /* a reply about another zone */
    assert_int_equal(xfr_origin_set(&elsewhere, "xfr.example.org"), 0);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &elsewhere, rep, n, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
    /* the question's type changed (SOA -> A): the MAC breaks too, but it
     * is not even a reply to this request */
    memcpy(bad, rep, n);
    put_be16(bad + XFR_HDR_LEN + f->origin.len, 1);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, bad, n, NOW, &r),
                     XFR_NOTIFY_FOREIGN);
}

/* A replica's exchange for our request that signs with KEY instead of
 * the key the request was verified with (tsig.c's prime, by hand). */
static void forge(struct tsig_ctx *srv, struct fix *f, const struct tsig_key *key)
{
    uint8_t l[2];

    assert_int_equal(tsig_verify_request(srv, &f->key, 1, f->req, f->len, NOW), TSIG_OK);
    srv->key = key;
    srv->run = key->keyed;
    put_be16(l, srv->mac_len);
    hmac_sha256_update(&srv->run, 2, l);
    hmac_sha256_update(&srv->run, srv->mac_len, srv->mac);
}

static void test_unverified(void **state)
{
    struct fix *f = *state;
    struct xfr_notify_reply r;
    struct tsig_ctx srv;
    uint8_t rep[1024], real[1024];
    size_t n, real_n = replica_reply(f, &f->key, 1, 0, NOW, real, sizeof real, 1);

    /* unsigned */
    n = replica_reply(f, &f->key, 1, 0, NOW, rep, sizeof rep, 0);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_UNVERIFIED);
    assert_int_equal(r.tsig, TSIG_EUNSIGNED);
    assert_int_equal(r.rcode, 0);
    /* the right name, another secret: a reply signed by someone who does
     * not hold our key */
    n = replica_reply(f, &f->key, 1, 0, NOW, rep, sizeof rep, 0);
    forge(&srv, f, &f->wrong);
    assert_int_equal(tsig_sign_reply(&srv, rep, &n, sizeof rep, NOW), TSIG_OK);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_UNVERIFIED);
    assert_int_equal(r.tsig, TSIG_EBADSIG);
    /* another key name */
    n = replica_reply(f, &f->key, 1, 0, NOW, rep, sizeof rep, 0);
    forge(&srv, f, &f->stranger);
    assert_int_equal(tsig_sign_reply(&srv, rep, &n, sizeof rep, NOW), TSIG_OK);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_UNVERIFIED);
    assert_int_equal(r.tsig, TSIG_EBADKEY);
    /* one octet of the real reply changed (its RCODE) */
    memcpy(rep, real, real_n);
    rep[3] |= 5;
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, real_n, NOW, &r),
                     XFR_NOTIFY_UNVERIFIED);
    assert_int_equal(r.tsig, TSIG_EBADSIG);
    /* out of the time window */
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, real, real_n, NOW + 400, &r),
                     XFR_NOTIFY_UNVERIFIED);
    assert_int_equal(r.tsig, TSIG_EBADTIME);
    /* the replica does not know our key: NOTAUTH, BADKEY, unsigned */
    assert_int_equal(tsig_verify_request(&srv, &f->stranger, 1, f->req, f->len, NOW),
                     TSIG_EBADKEY);
    n = replica_reply(f, &f->key, 1, 9, NOW, rep, sizeof rep, 0);
    assert_int_equal(tsig_sign_error(&srv, TSIG_EBADKEY, rep, &n, sizeof rep, NOW), TSIG_OK);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_UNVERIFIED);
    assert_int_equal(r.tsig, TSIG_EPEER);
    assert_int_equal(r.peer_error, TSIG_ERR_BADKEY);
    assert_int_equal(r.rcode, 9);
    /* after all of these, the real reply still verifies */
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, real, real_n, NOW, &r),
                     XFR_NOTIFY_VERIFIED);
}

/* Every single-bit change and every truncation of a real answer is
 * refused: no octet of a reply is outside the checks or the MAC.  But
 * the letter case of the TSIG's key and algorithm names, which the MAC
 * covers in lowercase (RFC 8945 §4.3.3). */
static void test_every_change_refused(void **state)
{
    struct fix *f = *state;
    struct xfr_notify_reply r;
    uint8_t rep[1024], bad[1024];
    size_t n = replica_reply(f, &f->key, 1, 0, NOW, rep, sizeof rep, 1), tsig_at;
    unsigned case_ok = 0;

    assert_int_equal(tsig_find(rep, n, &tsig_at), TSIG_OK);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_VERIFIED);
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            int letter = (rep[i] | 0x20) >= 'a' && (rep[i] | 0x20) <= 'z';
            int got;
            memcpy(bad, rep, n);
            bad[i] ^= (uint8_t)(1u << bit);
            got = xfr_notify_check(&f->ctx, ID, &f->origin, bad, n, NOW, &r);
            if (i >= tsig_at && bit == 5 && letter && got == XFR_NOTIFY_VERIFIED)
                case_ok++;
            else
                assert_int_not_equal(got, XFR_NOTIFY_VERIFIED);
        }
    }
    /* the letters of "replica1.key" and of "hmac-sha256" */
    assert_int_equal(case_ok, strlen("replicakey") + strlen("hmacsha"));
    for (size_t len = 0; len < n; len++)
        assert_int_not_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, len, NOW, &r),
                             XFR_NOTIFY_VERIFIED);
    assert_int_equal(xfr_notify_check(&f->ctx, ID, &f->origin, rep, n, NOW, &r),
                     XFR_NOTIFY_VERIFIED);
}

static void test_space(void **state)
{
    struct fix *f = *state;
    struct tsig_ctx ctx;
    uint8_t buf[XFR_NOTIFY_MAX + 100];
    size_t len = 0;

    for (size_t cap = 0; cap < f->len; cap++)
        assert_int_equal(xfr_notify_build(buf, cap, &len, ID, &f->origin, NS, SERIAL, &f->key,
                                          &ctx, NOW),
                         XFR_ENOSPACE);
    assert_int_equal(xfr_notify_build(buf, f->len, &len, ID, &f->origin, NS, SERIAL, &f->key,
                                      &ctx, NOW),
                     0);
    assert_int_equal(len, f->len);
    assert_memory_equal(buf, f->req, len);
    /* a 253-character MNAME cannot fit 512 octets with a long key name */
    {
        char host[254], keyname[200];
        struct tsig_key k;
        memset(host, 'a', sizeof host);
        for (size_t i = 63; i < 253; i += 64)
            host[i] = '.';
        host[253] = '\0';
        memset(keyname, 'k', sizeof keyname);
        for (size_t i = 63; i < 199; i += 64)
            keyname[i] = '.';
        keyname[199] = '\0';
        assert_int_equal(tsig_key_set(&k, keyname, secret, sizeof secret), 0);
        assert_int_equal(xfr_notify_build(buf, sizeof buf, &len, ID, &f->origin, host, SERIAL,
                                          &k, &ctx, NOW),
                         XFR_ENOSPACE);
    }
    assert_int_equal(xfr_notify_build(buf, sizeof buf, &len, ID, &f->origin, "bad..host",
                                      SERIAL, &f->key, &ctx, NOW),
                     XFR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_request_layout, setup),
        cmocka_unit_test_setup(test_answered, setup),
        cmocka_unit_test_setup(test_question_may_be_left_out, setup),
        cmocka_unit_test_setup(test_foreign, setup),
        cmocka_unit_test_setup(test_unverified, setup),
        cmocka_unit_test_setup(test_every_change_refused, setup),
        cmocka_unit_test_setup(test_space, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
