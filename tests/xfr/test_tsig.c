/* TSIG hmac-sha256 (xfr/tsig.h): RFC 4231's vectors; messages signed by
 * dnspython (tsig_golden.h, from make_golden.py) verified here and
 * reproduced byte for byte; streams with unsigned messages; every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "tsig.h"
#include "tsig_golden.h"

#define T GOLDEN_TIME
#define BUF 4096

struct msg {
    uint8_t b[BUF];
    size_t len;
};

static struct tsig_key keys[2]; /* keys[1] is the golden key */

static struct msg copy(const uint8_t *p, size_t n)
{
    struct msg m;

    assert_true(n <= BUF);
    memcpy(m.b, p, n);
    m.len = n;
    return m;
}
#define COPY(a) copy(a, sizeof a)

/* The message a signer started from: without its TSIG, ARCOUNT one less. */
static struct msg strip(const uint8_t *p, size_t n)
{
    struct msg m = copy(p, n);
    size_t off;

    assert_int_equal(tsig_find(m.b, m.len, &off), TSIG_OK);
    m.len = off;
    put_be16(m.b + 10, (uint16_t)(get_be16(m.b + 10) - 1));
    return m;
}
#define STRIP(a) strip(a, sizeof a)

static void assert_msg(const struct msg *m, const uint8_t *want, size_t n)
{
    assert_int_equal(m->len, n);
    assert_memory_equal(m->b, want, n);
}

/* Offset of the MAC size field of M's TSIG (its algorithm name uncompressed). */
static size_t mac_size_at(const struct msg *m)
{
    uint8_t name[XFR_NAME_MAX], alg[XFR_NAME_MAX];
    size_t off, next, rd;

    assert_int_equal(tsig_find(m->b, m->len, &off), TSIG_OK);
    assert_true(xfr_name_read(m->b, m->len, off, name, &next) > 0);
    rd = next + 10;
    assert_true(xfr_name_read(m->b, m->len, rd, alg, &next) > 0);
    return next + 8;
}

/* M's TSIG MAC cut to its first N octets, or grown with zeros to N
 * (RDLENGTH follows). */
static void set_mac_len(struct msg *m, unsigned n)
{
    size_t at = mac_size_at(m), off, rdlen_at;
    unsigned had = get_be16(m->b + at);
    uint8_t name[XFR_NAME_MAX];

    assert_int_equal(tsig_find(m->b, m->len, &off), TSIG_OK);
    assert_true(xfr_name_read(m->b, m->len, off, name, &rdlen_at) > 0);
    rdlen_at += 8;
    assert_true(m->len - had + n <= BUF);
    memmove(m->b + at + 2 + n, m->b + at + 2 + had, m->len - (at + 2 + had));
    if (n > had)
        memset(m->b + at + 2 + had, 0, n - had);
    m->len = m->len - had + n;
    put_be16(m->b + at, (uint16_t)n);
    put_be16(m->b + rdlen_at, (uint16_t)(get_be16(m->b + rdlen_at) - had + n));
}

static int setup(void **state)
{
    (void)state;
    if (tsig_key_set(&keys[0], "other.example", (const uint8_t *)"another secret", 14) != 0 ||
        tsig_key_set(&keys[1], GOLDEN_KEY_NAME, golden_secret, sizeof golden_secret) != 0)
        return -1;
    return 0;
}

static void test_rfc4231(void **state)
{
    static const struct {
        size_t klen;
        uint8_t kbyte; /* 0: the bytes 1..klen */
        const char *data;
        size_t dlen;
        uint8_t dbyte;
        size_t maclen;
        const char *mac;
    } v[] = {
        {20, 0x0b, "Hi There", 8, 0, 32,
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {4, 'J', "Jefe", 0, 0, 32, NULL},
        {20, 0xaa, NULL, 50, 0xdd, 32,
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {25, 0, NULL, 50, 0xcd, 32,
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {20, 0x0c, "Test With Truncation", 20, 0, 16, "a3b6167473100ee06e0c796c2955552b"},
        {131, 0xaa, "Test Using Larger Than Block-Size Key - Hash Key First", 54, 0, 32,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {131, 0xaa,
         "This is a test using a larger than block-size key and a larger than block-size "
         "data. The key needs to be hashed before being used by the HMAC algorithm.",
         152, 0, 32, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t k[131], d[152], mac[TSIG_MAC_LEN], want[TSIG_MAC_LEN];
        const char *data = v[i].data, *hex = v[i].mac;
        size_t dlen = v[i].dlen;
        struct tsig_key key;
        struct hmac_sha256_ctx h;

        for (size_t j = 0; j < v[i].klen; j++)
            k[j] = v[i].kbyte ? v[i].kbyte : (uint8_t)(j + 1);
        if (i == 1) { /* test case 2: key "Jefe" */
            memcpy(k, "Jefe", 4);
            data = "what do ya want for nothing?";
            dlen = 28;
            hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        }
        if (data)
            memcpy(d, data, dlen);
        else
            memset(d, v[i].dbyte, dlen);
        for (size_t j = 0; j < v[i].maclen; j++) {
            unsigned x;
            assert_int_equal(sscanf(hex + 2 * j, "%2x", &x), 1);
            want[j] = (uint8_t)x;
        }
        /* The keyed state tsig_key_set builds, used as every signature
         * and check uses it: copied, fed, digested. */
        assert_int_equal(tsig_key_set(&key, "k", k, v[i].klen), TSIG_OK);
        h = key.keyed;
        hmac_sha256_update(&h, dlen, d);
        hmac_sha256_digest(&h, sizeof mac, mac);
        assert_memory_equal(mac, want, v[i].maclen);
    }
}

/* dnspython's request verifies within the fudge, and we sign the same
 * message to the same bytes. */
static void test_golden_request(void **state)
{
    static const int64_t ok[] = {0, 1, -1, 300, -300}, late[] = {301, -301, 100000};
    struct tsig_ctx ctx;
    struct msg m;
    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(tsig_verify_request(&ctx, keys, 2, golden_req, sizeof golden_req,
                                             (uint64_t)((int64_t)T + ok[i])),
                         TSIG_OK);
        assert_ptr_equal(ctx.key, &keys[1]);
    }
    for (size_t i = 0; i < sizeof late / sizeof late[0]; i++)
        assert_int_equal(tsig_verify_request(&ctx, keys, 2, golden_req, sizeof golden_req,
                                             (uint64_t)((int64_t)T + late[i])),
                         TSIG_EBADTIME);
    m = STRIP(golden_req);
    assert_int_equal(tsig_sign_request(&ctx, &keys[1], m.b, &m.len, sizeof m.b, T), TSIG_OK);
    assert_msg(&m, golden_req, sizeof golden_req);
}

/* One answer: signed over the request's MAC, both ways. */
static void test_golden_reply(void **state)
{
    struct tsig_ctx ctx;
    struct msg m = STRIP(golden_req);
    (void)state;
    assert_int_equal(tsig_sign_request(&ctx, &keys[1], m.b, &m.len, sizeof m.b, T), TSIG_OK);
    assert_int_equal(tsig_verify_end(&ctx), TSIG_EUNSIGNED); /* no reply yet */
    assert_int_equal(tsig_verify_reply(&ctx, golden_resp, sizeof golden_resp, T + 1), TSIG_OK);
    assert_int_equal(tsig_verify_end(&ctx), TSIG_OK);

    assert_int_equal(tsig_verify_request(&ctx, keys, 2, golden_req, sizeof golden_req, T + 1),
                     TSIG_OK);
    m = STRIP(golden_resp);
    assert_int_equal(tsig_sign_reply(&ctx, m.b, &m.len, sizeof m.b, T + 1), TSIG_OK);
    assert_msg(&m, golden_resp, sizeof golden_resp);
}

/* dnspython's three-message AXFR, the middle unsigned: verified, and
 * reproduced by our signer. */
static void test_golden_stream(void **state)
{
    struct tsig_ctx ctx;
    struct msg m = STRIP(golden_axfr_req);
    (void)state;
    assert_int_equal(tsig_sign_request(&ctx, &keys[1], m.b, &m.len, sizeof m.b, T), TSIG_OK);
    assert_msg(&m, golden_axfr_req, sizeof golden_axfr_req);
    assert_int_equal(tsig_verify_reply(&ctx, golden_axfr1, sizeof golden_axfr1, T + 2), TSIG_OK);
    assert_int_equal(tsig_verify_reply(&ctx, golden_axfr2, sizeof golden_axfr2, T + 3), TSIG_OK);
    assert_int_equal(tsig_verify_end(&ctx), TSIG_EUNSIGNED); /* may not end here */
    assert_int_equal(tsig_verify_reply(&ctx, golden_axfr3, sizeof golden_axfr3, T + 4), TSIG_OK);
    assert_int_equal(tsig_verify_end(&ctx), TSIG_OK);

    assert_int_equal(
        tsig_verify_request(&ctx, keys, 2, golden_axfr_req, sizeof golden_axfr_req, T), TSIG_OK);
    m = STRIP(golden_axfr1);
    assert_int_equal(tsig_sign_reply(&ctx, m.b, &m.len, sizeof m.b, T + 2), TSIG_OK);
    assert_msg(&m, golden_axfr1, sizeof golden_axfr1);
    assert_int_equal(tsig_absorb_unsigned(&ctx, golden_axfr2, sizeof golden_axfr2), TSIG_OK);
    m = STRIP(golden_axfr3);
    assert_int_equal(tsig_sign_reply(&ctx, m.b, &m.len, sizeof m.b, T + 4), TSIG_OK);
    assert_msg(&m, golden_axfr3, sizeof golden_axfr3);
}

/* A client's stream: each of the three replies as given, from the start. */
static int run_stream(const struct msg *r1, const struct msg *r2, const struct msg *r3)
{
    struct tsig_ctx ctx;
    struct msg q = STRIP(golden_axfr_req);
    int r;

    assert_int_equal(tsig_sign_request(&ctx, &keys[1], q.b, &q.len, sizeof q.b, T), TSIG_OK);
    if ((r = tsig_verify_reply(&ctx, r1->b, r1->len, T + 2)) != TSIG_OK ||
        (r2 && (r = tsig_verify_reply(&ctx, r2->b, r2->len, T + 3)) != TSIG_OK) ||
        (r = tsig_verify_reply(&ctx, r3->b, r3->len, T + 4)) != TSIG_OK)
        return r;
    return tsig_verify_end(&ctx);
}

/* Changing, dropping or reordering the unsigned middle breaks the chain. */
static void test_stream_breaks(void **state)
{
    struct msg a = COPY(golden_axfr1), b = COPY(golden_axfr2), c = COPY(golden_axfr3);
    struct msg bad = b;
    (void)state;
    assert_int_equal(run_stream(&a, &b, &c), TSIG_OK);
    bad.b[bad.len - 1] ^= 1;
    assert_int_equal(run_stream(&a, &bad, &c), TSIG_EBADSIG);
    assert_int_equal(run_stream(&a, NULL, &c), TSIG_EBADSIG);
    assert_int_equal(run_stream(&c, &b, &a), TSIG_EBADSIG);
    /* The first reply must be signed. */
    assert_int_equal(run_stream(&b, NULL, &c), TSIG_EUNSIGNED);
    /* A stream must end signed. */
    {
        struct tsig_ctx ctx;
        struct msg q = STRIP(golden_axfr_req);
        assert_int_equal(tsig_sign_request(&ctx, &keys[1], q.b, &q.len, sizeof q.b, T), TSIG_OK);
        assert_int_equal(tsig_verify_reply(&ctx, a.b, a.len, T + 2), TSIG_OK);
        assert_int_equal(tsig_verify_reply(&ctx, b.b, b.len, T + 3), TSIG_OK);
        assert_int_equal(tsig_verify_end(&ctx), TSIG_EUNSIGNED);
    }
}

/* 99 unsigned messages in a row pass (both sides); the 100th does not. */
static void test_stream_99(void **state)
{
    struct tsig_ctx srv, cli;
    struct msg q = STRIP(golden_axfr_req), m;
    (void)state;
    for (int run = 99; run <= 100; run++) {
        q = STRIP(golden_axfr_req);
        assert_int_equal(tsig_sign_request(&cli, &keys[1], q.b, &q.len, sizeof q.b, T), TSIG_OK);
        assert_int_equal(tsig_verify_request(&srv, keys, 2, q.b, q.len, T), TSIG_OK);
        m = STRIP(golden_axfr1);
        assert_int_equal(tsig_sign_reply(&srv, m.b, &m.len, sizeof m.b, T), TSIG_OK);
        assert_int_equal(tsig_verify_reply(&cli, m.b, m.len, T), TSIG_OK);
        for (int i = 0; i < run; i++) {
            int want = i < TSIG_UNSIGNED_MAX ? TSIG_OK : TSIG_EUNSIGNED;
            assert_int_equal(tsig_absorb_unsigned(&srv, golden_axfr2, sizeof golden_axfr2), want);
            assert_int_equal(tsig_verify_reply(&cli, golden_axfr2, sizeof golden_axfr2, T), want);
        }
        if (run == 100) {
            assert_int_equal(tsig_verify_end(&cli), TSIG_EUNSIGNED);
            continue;
        }
        m = STRIP(golden_axfr3);
        assert_int_equal(tsig_sign_reply(&srv, m.b, &m.len, sizeof m.b, T), TSIG_OK);
        assert_int_equal(tsig_verify_reply(&cli, m.b, m.len, T), TSIG_OK);
        assert_int_equal(tsig_verify_end(&cli), TSIG_OK);
    }
}

/* Any changed octet of a signed request: BADSIG, or FORMERR when it no
 * longer parses; never accepted. */
static void test_flipped_bytes(void **state)
{
    struct tsig_ctx ctx;
    size_t off, mac = 0;
    struct msg m = COPY(golden_req);
    (void)state;
    assert_int_equal(tsig_find(m.b, m.len, &off), TSIG_OK);
    mac = mac_size_at(&m) + 2;
    for (size_t i = 0; i < m.len; i++) {
        int r;
        /* the header's ID (the MAC covers the Original ID instead), the
         * TSIG's owner, fixed fields and algorithm */
        if (i < 2 || (i >= off && i < off + 17 + 10 + 13))
            continue;
        if (i >= mac - 2 && i < mac) /* MAC size */
            continue;
        m = COPY(golden_req);
        m.b[i] ^= 0x01;
        r = tsig_verify_request(&ctx, keys, 2, m.b, m.len, T);
        if (r != TSIG_EBADSIG && r != TSIG_EFORMERR)
            fail_msg("octet %zu flipped: %s", i, tsig_strerror(r));
    }
    /* the MAC and the Time Signed in particular */
    m = COPY(golden_req);
    m.b[mac + 31] ^= 0x80;
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, m.b, m.len, T), TSIG_EBADSIG);
    m = COPY(golden_req);
    m.b[mac - 3] ^= 0x01; /* the fudge's low octet */
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, m.b, m.len, T), TSIG_EBADSIG);
    /* BADSIG gets an unsigned error TSIG: MAC size 0, error 16. */
    m = STRIP(golden_resp);
    m.b[3] = (uint8_t)((m.b[3] & 0xF0) | 9);
    assert_int_equal(tsig_sign_error(&ctx, TSIG_EBADSIG, m.b, &m.len, sizeof m.b, T), TSIG_OK);
    assert_int_equal(tsig_find(m.b, m.len, &off), TSIG_OK);
    assert_int_equal(get_be16(m.b + 10), 1);
    assert_int_equal(get_be16(m.b + mac_size_at(&m)), 0);
    assert_int_equal(get_be16(m.b + m.len - 4), TSIG_ERR_BADSIG);
    assert_int_equal(get_be16(m.b + m.len - 2), 0);
}

/* The same key name under another secret. */
static void test_wrong_secret(void **state)
{
    struct tsig_key other;
    struct tsig_ctx ctx;
    struct msg m = STRIP(golden_req);
    uint8_t secret[sizeof golden_secret];
    (void)state;
    memcpy(secret, golden_secret, sizeof secret);
    secret[0] ^= 1;
    assert_int_equal(tsig_key_set(&other, GOLDEN_KEY_NAME, secret, sizeof secret), TSIG_OK);
    assert_int_equal(tsig_sign_request(&ctx, &other, m.b, &m.len, sizeof m.b, T), TSIG_OK);
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, m.b, m.len, T), TSIG_EBADSIG);
    assert_null(ctx.key);
    assert_int_equal(tsig_sign_reply(&ctx, m.b, &m.len, sizeof m.b, T), TSIG_EINVAL);
}

/* BADTIME: signed over the request's MAC, its Time Signed echoed, our
 * clock in Other Data: dnspython's bytes; and the client reads it. */
static void test_badtime(void **state)
{
    struct tsig_ctx ctx;
    struct msg m;
    (void)state;
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, golden_req, sizeof golden_req, T + 400),
                     TSIG_EBADTIME);
    assert_int_equal(tsig_rcode(TSIG_EBADTIME), 9);
    assert_int_equal(tsig_error_code(TSIG_EBADTIME), TSIG_ERR_BADTIME);
    /* no reply but the error */
    m = STRIP(golden_badtime);
    assert_int_equal(tsig_sign_reply(&ctx, m.b, &m.len, sizeof m.b, T + 400), TSIG_EINVAL);
    assert_int_equal(tsig_sign_error(&ctx, TSIG_EBADTIME, m.b, &m.len, sizeof m.b, T + 400),
                     TSIG_OK);
    assert_msg(&m, golden_badtime, sizeof golden_badtime);

    m = STRIP(golden_req);
    assert_int_equal(tsig_sign_request(&ctx, &keys[1], m.b, &m.len, sizeof m.b, T), TSIG_OK);
    assert_int_equal(tsig_verify_reply(&ctx, golden_badtime, sizeof golden_badtime, T),
                     TSIG_EPEER);
    assert_int_equal(ctx.peer_error, TSIG_ERR_BADTIME);
    assert_int_equal(ctx.peer_time, T + 400);
    /* A forged BADTIME (its MAC broken) is not believed. */
    m = STRIP(golden_req);
    assert_int_equal(tsig_sign_request(&ctx, &keys[1], m.b, &m.len, sizeof m.b, T), TSIG_OK);
    m = COPY(golden_badtime);
    m.b[mac_size_at(&m) + 2] ^= 1;
    assert_int_equal(tsig_verify_reply(&ctx, m.b, m.len, T), TSIG_EBADSIG);
}

static int verify(const struct msg *m, uint64_t now)
{
    struct tsig_ctx ctx;

    return tsig_verify_request(&ctx, keys, 2, m->b, m->len, now);
}

/* TSIG misplaced, several, cut short, or malformed: FORMERR. */
static void test_formerr(void **state)
{
    static const uint8_t opt[] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
    struct msg m = COPY(golden_req), w;
    size_t off;
    (void)state;
    assert_int_equal(tsig_find(m.b, m.len, &off), TSIG_OK);
    assert_int_equal(tsig_rcode(TSIG_EFORMERR), 1);
    /* cut short: every length from inside the header to one octet short */
    for (size_t n = 0; n < m.len; n++)
        if (tsig_verify_request(&(struct tsig_ctx){0}, keys, 2, m.b, n, T) != TSIG_EFORMERR)
            fail_msg("request cut to %zu octets: not FORMERR", n);
    /* a trailing octet */
    w = m;
    w.b[w.len++] = 0;
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* two TSIGs */
    w = m;
    memcpy(w.b + w.len, m.b + off, m.len - off);
    w.len += m.len - off;
    put_be16(w.b + 10, 2);
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* TSIG then OPT: not last */
    w = m;
    memcpy(w.b + w.len, opt, sizeof opt);
    w.len += sizeof opt;
    put_be16(w.b + 10, 2);
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* in the answer section */
    w = m;
    put_be16(w.b + 6, 1);
    put_be16(w.b + 10, 0);
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* ARCOUNT beyond the records */
    w = m;
    put_be16(w.b + 10, 2);
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* class IN, TTL not 0 */
    w = m;
    w.b[off + 17 + 3] = 1;
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    w = m;
    w.b[off + 17 + 7] = 1;
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* a compressed algorithm name */
    w = m;
    w.b[off + 27] = 0xC0;
    w.b[off + 28] = 12;
    memmove(w.b + off + 29, m.b + off + 40, m.len - off - 40);
    w.len -= 11;
    put_be16(w.b + off + 25, (uint16_t)(get_be16(m.b + off + 25) - 11));
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* Other Len past the end */
    w = m;
    w.b[w.len - 1] = 1;
    assert_int_equal(verify(&w, T), TSIG_EFORMERR);
    /* MAC sizes: over 32 and under 16 are FORMERR */
    for (unsigned n = 0; n <= 40; n++) {
        int want = n < TSIG_MAC_MIN || n > TSIG_MAC_LEN ? TSIG_EFORMERR
                   : n < TSIG_MAC_LEN                   ? TSIG_EBADTRUNC
                                                        : TSIG_OK;
        w = m;
        set_mac_len(&w, n);
        if (verify(&w, T) != want)
            fail_msg("MAC of %u octets: %s", n, tsig_strerror(verify(&w, T)));
    }
}

/* A valid MAC cut to 16..31 octets: checked as such, then BADTRUNC (after
 * the time check, RFC 8945 §5.2.4); the error reply is signed. */
static void test_badtrunc(void **state)
{
    struct tsig_ctx ctx;
    struct msg m = COPY(golden_req), w, r;
    size_t at;
    (void)state;
    set_mac_len(&m, 20);
    assert_int_equal(verify(&m, T), TSIG_EBADTRUNC);
    assert_int_equal(verify(&m, T + 301), TSIG_EBADTIME);
    w = m;
    at = mac_size_at(&w);
    w.b[at + 2 + 19] ^= 1;
    assert_int_equal(verify(&w, T), TSIG_EBADSIG);
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, m.b, m.len, T), TSIG_EBADTRUNC);
    r = STRIP(golden_resp);
    assert_int_equal(tsig_sign_error(&ctx, TSIG_EBADTRUNC, r.b, &r.len, sizeof r.b, T), TSIG_OK);
    assert_int_equal(get_be16(r.b + mac_size_at(&r)), TSIG_MAC_LEN);
    assert_int_equal(get_be16(r.b + r.len - 4), TSIG_ERR_BADTRUNC);
    assert_int_equal(tsig_error_code(TSIG_EBADTRUNC), TSIG_ERR_BADTRUNC);
}

/* Unknown key or algorithm: BADKEY, and an unsigned error TSIG under the
 * request's names; a client reports it. */
static void test_badkey(void **state)
{
    struct tsig_ctx ctx;
    struct msg m = COPY(golden_req), r;
    size_t off;
    (void)state;
    assert_int_equal(tsig_verify_request(&ctx, keys, 1, m.b, m.len, T), TSIG_EBADKEY);
    assert_int_equal(tsig_rcode(TSIG_EBADKEY), 9);
    assert_null(ctx.key);
    r = STRIP(golden_resp);
    assert_int_equal(tsig_sign_error(&ctx, TSIG_EBADKEY, r.b, &r.len, sizeof r.b, T), TSIG_OK);
    assert_int_equal(tsig_find(r.b, r.len, &off), TSIG_OK);
    assert_memory_equal(r.b + off, "\7xfr-key\7example\0\0\xfa\0\xff", 21);
    assert_int_equal(get_be16(r.b + mac_size_at(&r)), 0);
    assert_int_equal(get_be16(r.b + r.len - 4), TSIG_ERR_BADKEY);
    {
        struct tsig_ctx cli;
        struct msg q = STRIP(golden_req);
        assert_int_equal(tsig_sign_request(&cli, &keys[1], q.b, &q.len, sizeof q.b, T), TSIG_OK);
        assert_int_equal(tsig_verify_reply(&cli, r.b, r.len, T), TSIG_EPEER);
        assert_int_equal(cli.peer_error, TSIG_ERR_BADKEY);
    }
    /* hmac-sha255: an unknown algorithm */
    assert_int_equal(tsig_find(m.b, m.len, &off), TSIG_OK);
    m.b[off + 27 + 11] = '5';
    assert_int_equal(verify(&m, T), TSIG_EBADKEY);
    /* a reply under another key */
    {
        struct tsig_ctx cli, srv;
        struct msg q = STRIP(golden_req), a = STRIP(golden_resp);
        assert_int_equal(tsig_sign_request(&cli, &keys[1], q.b, &q.len, sizeof q.b, T), TSIG_OK);
        assert_int_equal(tsig_sign_request(&srv, &keys[0], a.b, &a.len, sizeof a.b, T), TSIG_OK);
        assert_int_equal(tsig_verify_reply(&cli, a.b, a.len, T), TSIG_EBADKEY);
    }
}

/* Key and algorithm names match in any letter case; the MAC covers them
 * in lowercase.  The key name may be compressed. */
static void test_names(void **state)
{
    struct tsig_key k[1];
    struct tsig_ctx ctx;
    struct msg m = COPY(golden_req), q;
    size_t off;
    (void)state;
    assert_int_equal(tsig_find(m.b, m.len, &off), TSIG_OK);
    for (size_t i = off; i < off + 17; i++)
        if (m.b[i] >= 'a' && m.b[i] <= 'z')
            m.b[i] ^= 0x20;
    m.b[off + 27 + 1] = 'H'; /* HMAC-sha256 */
    assert_int_equal(verify(&m, T), TSIG_OK);
    assert_int_equal(tsig_key_set(k, "XFR-Key.Example.", golden_secret, sizeof golden_secret), 0);
    assert_memory_equal(k->name, keys[1].name, keys[1].name_len);
    assert_int_equal(tsig_verify_request(&ctx, k, 1, golden_req, sizeof golden_req, T), TSIG_OK);
    /* key.xfr.test. as "key" + a pointer to the question's xfr.test. */
    assert_int_equal(tsig_key_set(k, "key.xfr.test", golden_secret, sizeof golden_secret), 0);
    q = STRIP(golden_req);
    assert_int_equal(tsig_sign_request(&ctx, k, q.b, &q.len, sizeof q.b, T), TSIG_OK);
    assert_int_equal(tsig_verify_request(&ctx, k, 1, q.b, q.len, T), TSIG_OK);
    assert_int_equal(tsig_find(q.b, q.len, &off), TSIG_OK);
    q.b[off + 4] = 0xC0;
    q.b[off + 5] = 12;
    memmove(q.b + off + 6, q.b + off + 14, q.len - off - 14);
    q.len -= 8;
    assert_int_equal(tsig_verify_request(&ctx, k, 1, q.b, q.len, T), TSIG_OK);
    /* bad key names */
    assert_int_equal(tsig_key_set(k, "", golden_secret, 1), TSIG_EINVAL);
    assert_int_equal(tsig_key_set(k, ".", golden_secret, 1), TSIG_EINVAL);
    assert_int_equal(tsig_key_set(k, "a b", golden_secret, 1), TSIG_EINVAL);
    assert_int_equal(tsig_key_set(k, "k", golden_secret, 0), TSIG_EINVAL);
}

/* No room: TSIG_ENOSPACE and the message as it was. */
static void test_nospace(void **state)
{
    struct tsig_ctx ctx;
    struct msg m = STRIP(golden_req), before = m;
    size_t need = sizeof golden_req - m.len;
    (void)state;
    assert_int_equal(tsig_sign_request(&ctx, &keys[1], m.b, &m.len, m.len + need - 1, T),
                     TSIG_ENOSPACE);
    assert_msg(&m, before.b, before.len);
    assert_true(need <= TSIG_RR_MAX);
    assert_int_equal(tsig_sign_request(&ctx, &keys[1], m.b, &m.len, m.len + need, T), TSIG_OK);
    assert_msg(&m, golden_req, sizeof golden_req);
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, golden_req, sizeof golden_req, T), 0);
    m = STRIP(golden_resp);
    before = m;
    assert_int_equal(tsig_sign_reply(&ctx, m.b, &m.len, m.len + 10, T), TSIG_ENOSPACE);
    assert_msg(&m, before.b, before.len);
    assert_int_equal(tsig_sign_error(&ctx, TSIG_EBADSIG, m.b, &m.len, m.len + 10, T),
                     TSIG_ENOSPACE);
    assert_msg(&m, before.b, before.len);
}

/* No TSIG at all; calls out of order. */
static void test_unsigned(void **state)
{
    struct tsig_ctx ctx;
    struct msg m = STRIP(golden_req);
    size_t off;
    (void)state;
    assert_int_equal(tsig_find(m.b, m.len, &off), TSIG_EUNSIGNED);
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, m.b, m.len, T), TSIG_EUNSIGNED);
    assert_int_equal(tsig_rcode(TSIG_EUNSIGNED), 0);
    assert_int_equal(tsig_sign_reply(&ctx, m.b, &m.len, sizeof m.b, T), TSIG_EINVAL);
    assert_int_equal(tsig_absorb_unsigned(&ctx, m.b, m.len), TSIG_EINVAL);
    assert_int_equal(tsig_verify_reply(&ctx, m.b, m.len, T), TSIG_EINVAL);
    assert_int_equal(tsig_sign_error(&ctx, TSIG_EFORMERR, m.b, &m.len, sizeof m.b, T),
                     TSIG_EINVAL);
    assert_int_equal(tsig_sign_error(&ctx, TSIG_EBADTIME, m.b, &m.len, sizeof m.b, T),
                     TSIG_EINVAL);
    /* a verified request: its first reply is never unsigned */
    assert_int_equal(tsig_verify_request(&ctx, keys, 2, golden_req, sizeof golden_req, T), 0);
    assert_int_equal(tsig_absorb_unsigned(&ctx, m.b, m.len), TSIG_EUNSIGNED);
    for (int e = TSIG_OK; e >= TSIG_EINVAL - 1; e--)
        assert_non_null(tsig_strerror(e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),       cmocka_unit_test(test_golden_request),
        cmocka_unit_test(test_golden_reply),  cmocka_unit_test(test_golden_stream),
        cmocka_unit_test(test_stream_breaks), cmocka_unit_test(test_stream_99),
        cmocka_unit_test(test_flipped_bytes), cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_badtime),       cmocka_unit_test(test_formerr),
        cmocka_unit_test(test_badtrunc),      cmocka_unit_test(test_badkey),
        cmocka_unit_test(test_names),         cmocka_unit_test(test_nospace),
        cmocka_unit_test(test_unsigned),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
