/* notifyin.h: a NOTIFY accepted only signed, for the transfer zone, from a
 * primary's address; every other case gets its reply (or none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "notifyin.h"

#define NOW 1796620000u

struct fx {
    struct xfr_origin origin;
    struct tsig_key key, wrong;
    struct spfdb_addrport prim[2];
    struct notify_cfg cfg;
    struct sockaddr_in from;
};

static void setup_fx(struct fx *f)
{
    static const uint8_t secret[32] = {1, 2, 3};
    static const uint8_t other[32] = {9};

    memset(f, 0, sizeof *f);
    assert_int_equal(xfr_origin_set(&f->origin, "xfr.test"), 0);
    assert_int_equal(tsig_key_set(&f->key, "k1", secret, sizeof secret), 0);
    assert_int_equal(tsig_key_set(&f->wrong, "k1", other, sizeof other), 0);
    assert_int_equal(spfdb_addrport_parse("192.0.2.1:53", &f->prim[0], NULL, 0), 0);
    assert_int_equal(spfdb_addrport_parse("127.0.0.1:5300", &f->prim[1], NULL, 0), 0);
    f->cfg = (struct notify_cfg){&f->origin, &f->key, f->prim, 2};
    f->from.sin_family = AF_INET;
    f->from.sin_port = htons(40000);
    inet_pton(AF_INET, "127.0.0.1", &f->from.sin_addr);
}

/* A NOTIFY for ZONE (OPCODE), with an answer SOA of SERIAL when SERIAL,
 * signed with KEY when not NULL.  Returns its length. */
static size_t make(uint8_t *buf, size_t cap, const char *zone, int opcode, uint32_t serial,
                   const struct tsig_key *key, struct tsig_ctx *ctx)
{
    struct xfr_origin o;
    struct xfr_out out;
    size_t n;

    assert_int_equal(xfr_origin_set(&o, zone), 0);
    memset(buf, 0, 12);
    buf[0] = 0x12;
    buf[1] = 0x34;
    buf[2] = (uint8_t)(opcode << 3 | 0x04);
    buf[5] = 1;
    memcpy(buf + 12, o.name, o.len);
    n = 12 + o.len;
    buf[n++] = 0;
    buf[n++] = XFR_T_SOA;
    buf[n++] = 0;
    buf[n++] = XFR_C_IN;
    if (serial) {
        xfr_out_init(&out, &o, buf, cap, n, 12);
        assert_int_equal(xfr_put_soa(&out, "primary.invalid", serial), 0);
        n = out.len;
        buf[7] = 1;
    }
    if (key)
        assert_int_equal(tsig_sign_request(ctx, key, buf, &n, cap, NOW), 0);
    return n;
}

static int run(struct fx *f, const uint8_t *msg, size_t len, uint8_t *out, size_t *outlen,
               struct notify_verdict *v)
{
    return notify_handle(&f->cfg, (const struct sockaddr *)&f->from, msg, len, out, 4096,
                         outlen, NOW, v);
}

static void test_accepted_signed_reply(void **state)
{
    uint8_t msg[4096], out[4096];
    struct notify_verdict v;
    struct tsig_ctx ctx;
    struct fx f;
    size_t len, outlen;
    (void)state;

    setup_fx(&f);
    len = make(msg, sizeof msg, "XFR.test", 4, 1796620005, &f.key, &ctx);
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_ACCEPT);
    assert_int_equal(v.primary, 1);
    assert_true(v.has_serial);
    assert_int_equal(v.serial, 1796620005);
    assert_int_equal(out[0], 0x12);
    assert_int_equal(out[2] & 0x80, 0x80);      /* QR */
    assert_int_equal((out[2] >> 3) & 0xF, 4);   /* NOTIFY */
    assert_int_equal(out[2] & 0x04, 0x04);      /* AA */
    assert_int_equal(out[3] & 0xF, 0);
    /* the client verifies the signed reply */
    assert_int_equal(tsig_verify_reply(&ctx, out, outlen, NOW), TSIG_OK);
    /* without a serial: accepted, no serial */
    len = make(msg, sizeof msg, "xfr.test", 4, 0, &f.key, &ctx);
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_ACCEPT);
    assert_false(v.has_serial);
}

static void test_refused(void **state)
{
    uint8_t msg[4096], out[4096];
    struct notify_verdict v;
    struct tsig_ctx ctx;
    struct fx f;
    size_t len, outlen;
    (void)state;

    setup_fx(&f);
    /* unsigned: REFUSED */
    len = make(msg, sizeof msg, "xfr.test", 4, 5, NULL, NULL);
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_REFUSED);
    assert_int_equal(out[3] & 0xF, 5);
    /* wrong secret: NOTAUTH, TSIG error BADSIG (16) */
    len = make(msg, sizeof msg, "xfr.test", 4, 5, &f.wrong, &ctx);
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_REFUSED);
    assert_int_equal(out[3] & 0xF, 9);
    assert_int_equal(out[11], 1); /* the TSIG of the error */
    /* another zone: NOTAUTH */
    len = make(msg, sizeof msg, "other.test", 4, 5, &f.key, &ctx);
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_REFUSED);
    assert_int_equal(out[3] & 0xF, 9);
    /* another opcode: NOTIMP */
    len = make(msg, sizeof msg, "xfr.test", 0, 5, &f.key, &ctx);
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_REFUSED);
    assert_int_equal(out[3] & 0xF, 4);
    /* another address: REFUSED even when signed */
    inet_pton(AF_INET, "127.0.0.2", &f.from.sin_addr);
    len = make(msg, sizeof msg, "xfr.test", 4, 5, &f.key, &ctx);
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_REFUSED);
    assert_int_equal(out[3] & 0xF, 5);
    /* a response, or a runt: no reply */
    inet_pton(AF_INET, "127.0.0.1", &f.from.sin_addr);
    msg[2] |= 0x80;
    assert_int_equal(run(&f, msg, len, out, &outlen, &v), NOTIFY_DROP);
    assert_int_equal(outlen, 0);
    assert_int_equal(run(&f, msg, 11, out, &outlen, &v), NOTIFY_DROP);
    /* trailing octets: FORMERR */
    len = make(msg, sizeof msg, "xfr.test", 4, 5, NULL, NULL);
    msg[len] = 0;
    assert_int_equal(run(&f, msg, len + 1, out, &outlen, &v), NOTIFY_REFUSED);
    assert_int_equal(out[3] & 0xF, 1);
}

/* Every prefix of a signed NOTIFY is refused or dropped, never accepted,
 * and nothing reads past it (ASan). */
static void test_truncations(void **state)
{
    uint8_t msg[4096], out[4096];
    struct notify_verdict v;
    struct tsig_ctx ctx;
    struct fx f;
    size_t len, outlen;
    (void)state;

    setup_fx(&f);
    len = make(msg, sizeof msg, "xfr.test", 4, 5, &f.key, &ctx);
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, msg, n);
        assert_int_not_equal(run(&f, copy, n, out, &outlen, &v), NOTIFY_ACCEPT);
        free(copy);
    }
}

/* A question name compressed into the header (the only place a pointer in
 * the first name can go): FORMERR, and the reply is the header alone,
 * since the copied pointer would name the reply's changed header octets
 * (found by fuzz_notifyin). */
static void test_compressed_question(void **state)
{
    uint8_t msg[64] = {0x03, 0x42, 4 << 3, 0x04, 0, 1, 0, 0, 0, 0, 0, 0,
                       0xc0, 0x03, 0, 6, 0, 1}, out[4096];
    struct notify_verdict v;
    struct fx f;
    size_t outlen;
    (void)state;

    setup_fx(&f);
    assert_int_equal(run(&f, msg, 18, out, &outlen, &v), NOTIFY_REFUSED);
    assert_int_equal(out[3] & 0xF, 1); /* FORMERR */
    assert_int_equal(outlen, 12);
    assert_int_equal(out[5], 0); /* no question */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_signed_reply),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_compressed_question),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
