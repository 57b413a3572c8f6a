/* The follower's reader (xfr/in.h): every error it must name, with its
 * code: a flipped byte anywhere, a stream cut anywhere, broken chains,
 * wrong keys, questions, IDs and clocks, error replies, unsigned runs,
 * records after the end, whole-zone rules, a caller that stops it.
 * Streams the producer cannot make (it keeps the order) are written here
 * record by record and signed as a server would. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "sample.h"
#include "xfrtest.h"

#define STREAM_MAX (1 << 20)
#define ID 0x7e57

static uint8_t stream[STREAM_MAX], copy[STREAM_MAX];
static struct xt_events ev;
static struct xfr_in in;
static uint8_t req[512];
static size_t req_len;

/* Start the reader for QTYPE from SERIAL with KEY (NULL: the shared one). */
static void start(uint16_t qtype, uint32_t serial, const struct tsig_key *key)
{
    struct xfr_in_query q = {xt_origin(), key ? key : xt_key(), qtype, ID, serial, xt_event, &ev};

    xfr_in_free(&in);
    xt_events_reset(&ev);
    xt_zone_at(0, &ev.zone);
    assert_int_equal(xfr_in_start(&in, &q, req, sizeof req, &req_len, XT_T), XFR_IN_MORE);
}

/* The responder's answer to the request (see xfrtest.h). */
static size_t serve(unsigned state, size_t cap, unsigned per_msg, int *messages)
{
    struct xt_serve s = {.state = state, .cap = cap, .per_msg = per_msg};
    size_t len;

    *messages = xt_serve(&s, req, req_len, stream, sizeof stream, &len);
    assert_true(*messages > 0);
    return len;
}

static void expect(int r, int code, int detail)
{
    if (r != code || in.detail != detail)
        fail_msg("got %d (%s) detail %d, want %d (%s) detail %d; message %u record %u", r,
                 xfr_in_strerror(r), in.detail, code, xfr_in_strerror(code), detail, in.messages,
                 in.record);
    assert_int_equal(in.status, code); /* and it sticks */
    assert_int_equal(xfr_in_eof(&in), code);
    assert_int_equal(xfr_in_feed(&in, stream + 2, get_be16(stream), XT_T), code);
}

/* ---- a server that writes any order ---- */

struct raw {
    struct tsig_ctx ctx;
    int signed_ctx;
    uint8_t msg[XFR_MSG_MAX];
    struct xfr_out out;
    unsigned count;
    size_t len; /* of the stream */
};
static struct raw w;

/* Verify the request as the server; messages echo QTYPE (0: as asked). */
static void raw_start(void)
{
    memset(&w, 0, sizeof w);
    assert_int_equal(tsig_verify_request(&w.ctx, xt_key(), 1, req, req_len, XT_T), TSIG_OK);
}

static void raw_begin(uint16_t qtype, uint8_t rcode)
{
    size_t qlen = xt_origin()->len + 4;

    memcpy(w.msg, req, XFR_HDR_LEN + qlen);
    w.msg[2] = 0x84;
    w.msg[3] = rcode;
    memset(w.msg + 6, 0, 6);
    if (qtype)
        put_be16(w.msg + XFR_HDR_LEN + qlen - 4, qtype);
    xfr_out_init(&w.out, xt_origin(), w.msg, sizeof w.msg - 200, XFR_HDR_LEN + qlen,
                 XFR_HDR_LEN);
    w.count = 0;
}

static void raw_obj(const struct xfr_obj *o)
{
    assert_int_equal(xfr_put_obj(&w.out, XFR_NS_DEFAULT, o), 0);
    w.count++;
}

static void raw_soa(uint32_t serial)
{
    struct xfr_obj o;

    o.kind = XFR_SOA;
    o.soa.serial = serial;
    raw_obj(&o);
}

/* SIGN: 1 signed, 0 folded into the next, -1 no TSIG at all. */
static void raw_end(int sign)
{
    size_t n = w.out.len;

    put_be16(w.msg + 6, (uint16_t)w.count);
    if (sign > 0)
        assert_int_equal(tsig_sign_reply(&w.ctx, w.msg, &n, sizeof w.msg, XT_T), TSIG_OK);
    else if (sign == 0 && tsig_absorb_unsigned(&w.ctx, w.msg, n) != TSIG_OK)
        assert_int_equal(w.ctx.unsigned_run, TSIG_UNSIGNED_MAX); /* past 99: sent all the same */
    put_be16(stream + w.len, (uint16_t)n);
    memcpy(stream + w.len + 2, w.msg, n);
    w.len += 2 + n;
}

static struct xfr_obj obj_alloc(const char *name)
{
    struct xfr_obj o;

    memset(&o, 0, sizeof o);
    o.kind = XFR_ALLOC;
    strcpy(o.alloc.alloc, name);
    return o;
}

static struct xfr_obj obj_member(const char *a, const char *m)
{
    struct xfr_obj o;

    memset(&o, 0, sizeof o);
    o.kind = XFR_MEMBER;
    strcpy(o.member.alloc, a);
    strcpy(o.member.member, m);
    return o;
}

static struct xfr_obj obj_entry(const char *a, const char *p)
{
    struct xfr_obj o;

    memset(&o, 0, sizeof o);
    o.kind = XFR_ENTRY;
    strcpy(o.entry.alloc, a);
    assert_int_equal(spfdb_prefix_parse(p, strlen(p), &o.entry.prefix, NULL, NULL, 0), 0);
    return o;
}

/* An AXFR's head: SOA, NS, layout, `default`; then the caller's records. */
static void raw_axfr_head(uint32_t serial, int layout, int dflt)
{
    struct xfr_obj o;

    raw_soa(serial);
    memset(&o, 0, sizeof o);
    o.kind = XFR_IGNORE;
    raw_obj(&o);
    if (layout) {
        o.kind = XFR_LAYOUT;
        raw_obj(&o);
    }
    if (dflt) {
        o = obj_alloc("default");
        raw_obj(&o);
    }
}

static int read_raw(void)
{
    return xt_read_stream(&in, stream, w.len, XT_T);
}

/* ---- tests ---- */

/* A byte flipped anywhere in a signed stream: never complete, and the
 * header's bytes, the records' and the signature's each say so in their
 * own words. */
static void test_flipped_bytes(void **state)
{
    int n, r;
    size_t len, at, m2;
    (void)state;
    start(XFR_T_AXFR, 0, NULL);
    len = serve(0, XFR_MSG_MAX, 8, &n);
    assert_int_equal(n, 3);
    memcpy(copy, stream, len);
    m2 = 2 + get_be16(stream); /* message 2's length field */
    for (at = 0; at < len; at++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(stream, copy, len);
            stream[at] ^= (uint8_t)(1u << bit);
            start(XFR_T_AXFR, 0, NULL);
            r = xt_read_stream(&in, stream, len, XT_T);
            if (r >= 0)
                fail_msg("byte %zu bit %d: %s", at, bit, xfr_in_strerror(r));
        }
    }
    /* the ID, QR, a record's RDATA, the MAC */
    memcpy(stream, copy, len);
    stream[2 + 1] ^= 1;
    start(XFR_T_AXFR, 0, NULL);
    expect(xt_read_stream(&in, stream, len, XT_T), XFR_IN_EID, 0);
    memcpy(stream, copy, len);
    stream[m2 + 2 + 2] ^= 0x80;
    start(XFR_T_AXFR, 0, NULL);
    expect(xt_read_stream(&in, stream, len, XT_T), XFR_IN_EHEADER, 0);
    assert_int_equal(in.messages, 2);
    memcpy(stream, copy, len);
    {
        /* 198.51.100.0/24's APL, in message 1 */
        uint8_t *apl = memmem(stream, m2, "\x00\x01\x18\x03\xc6\x33\x64", 7);
        assert_non_null(apl);
        apl[6] ^= 1;
    }
    start(XFR_T_AXFR, 0, NULL);
    expect(xt_read_stream(&in, stream, len, XT_T), XFR_IN_ETSIG, TSIG_EBADSIG);
    assert_string_equal(ev.text, "");
    memcpy(stream, copy, len);
    stream[len - 10] ^= 1;  /* the last MAC */
    start(XFR_T_AXFR, 0, NULL);
    expect(xt_read_stream(&in, stream, len, XT_T), XFR_IN_ETSIG, TSIG_EBADSIG);
    assert_int_equal(in.messages, 3);
    assert_null(strstr(ev.text, "end"));
}

/* Cut after any message, or inside one. */
static void test_truncated(void **state)
{
    int n;
    size_t len, at = 0;
    (void)state;
    start(XFR_T_IXFR, xt_serial(0), NULL);
    len = serve(3, XFR_MSG_MAX, 3, &n);
    assert_true(n > 5);
    for (int k = 0; k < n; k++) {
        start(XFR_T_IXFR, xt_serial(0), NULL);
        expect(xt_read_stream(&in, stream, at, XT_T), XFR_IN_ETRUNCATED, 0);
        assert_null(strstr(ev.text, "\nend "));
        /* and the message itself cut short */
        start(XFR_T_IXFR, xt_serial(0), NULL);
        put_be16(stream + at, (uint16_t)(get_be16(stream + at) - 1));
        expect(xt_read_stream(&in, stream, at + 2 + get_be16(stream + at), XT_T), XFR_IN_EWIRE, 0);
        put_be16(stream + at, (uint16_t)(get_be16(stream + at) + 1));
        at += 2 + get_be16(stream + at);
    }
    assert_int_equal(at, len);
    start(XFR_T_IXFR, xt_serial(0), NULL);
    assert_int_equal(xt_read_stream(&in, stream, len, XT_T), XFR_IN_DONE);
    assert_int_equal(ev.bad, 0);
}

/* IXFR chains that do not hold, and AXFRs with an SOA out of place. */
static void test_chains(void **state)
{
    struct xfr_obj a = obj_alloc("eu");
    (void)state;
    /* SOA(30) SOA(s0) ... where s0 is not ours */
    start(XFR_T_IXFR, 10, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_soa(30);
    raw_soa(11);
    raw_end(1);
    expect(read_raw(), XFR_IN_ECHAIN, XFR_FRAME_ECHAIN);
    assert_int_equal(in.record, 1);
    /* the second sequence does not start where the first ended */
    start(XFR_T_IXFR, 10, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_soa(30);
    raw_soa(10);
    raw_soa(20);
    raw_obj(&a);
    raw_end(1);
    raw_begin(0, 0);
    raw_soa(21);
    raw_soa(30);
    raw_soa(30);
    raw_end(1);
    expect(read_raw(), XFR_IN_ECHAIN, XFR_FRAME_ECHAIN);
    assert_int_equal(in.messages, 2);
    assert_int_equal(in.record, 0);
    assert_string_equal(ev.text, "begin ixfr 30\nseq 10\nadds 10 20\nadd alloc eu\n");
    /* the last new serial is not the first SOA's */
    start(XFR_T_IXFR, 10, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_soa(30);
    raw_soa(10);
    raw_soa(20);
    raw_soa(30);
    raw_end(1);
    expect(read_raw(), XFR_IN_ECHAIN, XFR_FRAME_ECHAIN);
    assert_int_equal(in.record, 3);
    /* a new serial not newer than its old one */
    start(XFR_T_IXFR, 10, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_soa(30);
    raw_soa(10);
    raw_soa(9);
    raw_end(1);
    expect(read_raw(), XFR_IN_ECHAIN, XFR_FRAME_ECHAIN);
    /* an AXFR with another serial inside */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_axfr_head(30, 1, 1);
    raw_soa(31);
    raw_end(1);
    expect(read_raw(), XFR_IN_ECHAIN, XFR_FRAME_ECHAIN);
    /* data first */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_obj(&a);
    raw_end(1);
    expect(read_raw(), XFR_IN_ECHAIN, XFR_FRAME_ENOTSOA);
    /* a record after the closing SOA, in its message or in another */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_axfr_head(30, 1, 1);
    raw_soa(30);
    raw_obj(&a);
    raw_end(1);
    expect(read_raw(), XFR_IN_ECHAIN, XFR_FRAME_EAFTER);
    assert_null(strstr(ev.text, "end"));
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_axfr_head(30, 1, 1);
    raw_soa(30);
    raw_end(1);
    raw_begin(0, 0);
    raw_obj(&a);
    raw_end(1);
    assert_int_equal(xfr_in_feed(&in, stream + 2, get_be16(stream), XT_T), XFR_IN_DONE);
    assert_int_equal(xfr_in_eof(&in), XFR_IN_DONE);
    assert_int_equal(xfr_in_feed(&in, stream + 2, get_be16(stream), XT_T), XFR_IN_ECHAIN);
    assert_int_equal(in.detail, XFR_FRAME_EAFTER);
    /* an IXFR answered in AXFR form, empty: the layout is missing */
    start(XFR_T_IXFR, 10, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_soa(30);
    raw_soa(30);
    raw_end(1);
    expect(read_raw(), XFR_IN_EZONE, XFR_IN_Z_LAYOUT);
    assert_string_equal(ev.text, "begin axfr 30\n");
}

/* A key of another secret, or another name. */
static void test_wrong_key(void **state)
{
    struct tsig_key other;
    int n;
    (void)state;
    assert_int_equal(tsig_key_set(&other, XT_KEY, (const uint8_t *)"another secret", 14), 0);
    start(XFR_T_AXFR, 0, NULL);
    serve(0, 4096, 0, &n);
    start(XFR_T_AXFR, 0, &other);
    expect(xt_read_stream(&in, stream, 2u + get_be16(stream), XT_T), XFR_IN_ETSIG, TSIG_EBADSIG);
    assert_int_equal(in.messages, 1);
    assert_string_equal(ev.text, "");
    assert_int_equal(tsig_key_set(&other, "other.key", xt_secret, sizeof xt_secret), 0);
    start(XFR_T_AXFR, 0, &other);
    expect(xt_read_stream(&in, stream, 2u + get_be16(stream), XT_T), XFR_IN_ETSIG, TSIG_EBADKEY);
}

/* A reply to another question: name or type. */
static void test_wrong_question(void **state)
{
    int n;
    size_t len;
    (void)state;
    start(XFR_T_AXFR, 0, NULL);
    len = serve(0, XFR_MSG_MAX, 0, &n);
    stream[2 + XFR_HDR_LEN + 1] = 'y';
    start(XFR_T_AXFR, 0, NULL);
    expect(xt_read_stream(&in, stream, len, XT_T), XFR_IN_EQUESTION, 0);
    stream[2 + XFR_HDR_LEN + 1] = 'X'; /* letter case is no other name */
    start(XFR_T_AXFR, 0, NULL);
    assert_int_equal(xt_read_stream(&in, stream, len, XT_T), XFR_IN_ETSIG);
    assert_int_equal(in.detail, TSIG_EBADSIG); /* ... but it is another message */
    start(XFR_T_IXFR, 0, NULL);
    raw_start();
    raw_begin(XFR_T_AXFR, 0);
    raw_soa(5);
    raw_end(1);
    expect(read_raw(), XFR_IN_EQUESTION, 0);
    /* the class */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    w.msg[XFR_HDR_LEN + xt_origin()->len + 3] = 3;
    raw_soa(5);
    raw_end(1);
    expect(read_raw(), XFR_IN_EQUESTION, 0);
}

/* Our clock 301 s off; the server's BADTIME answer, which says its time. */
static void test_badtime(void **state)
{
    int n;
    size_t len, mlen;
    (void)state;
    start(XFR_T_AXFR, 0, NULL);
    len = serve(0, XFR_MSG_MAX, 0, &n);
    start(XFR_T_AXFR, 0, NULL);
    expect(xt_read_stream(&in, stream, len, XT_T + 301), XFR_IN_ETSIG, TSIG_EBADTIME);
    start(XFR_T_AXFR, 0, NULL);
    assert_int_equal(xt_read_stream(&in, stream, len, XT_T - 300), XFR_IN_DONE);

    start(XFR_T_AXFR, 0, NULL);
    memset(&w, 0, sizeof w);
    assert_int_equal(tsig_verify_request(&w.ctx, xt_key(), 1, req, req_len, XT_T + 400),
                     TSIG_EBADTIME);
    raw_begin(0, 9);
    mlen = w.out.len;
    assert_int_equal(tsig_sign_error(&w.ctx, TSIG_EBADTIME, w.msg, &mlen, sizeof w.msg,
                                     XT_T + 400), TSIG_OK);
    expect(xfr_in_feed(&in, w.msg, mlen, XT_T), XFR_IN_ETSIG, TSIG_EPEER);
    assert_int_equal(in.tsig.peer_error, TSIG_ERR_BADTIME);
    assert_int_equal(in.tsig.peer_time, XT_T + 400);
}

/* Error replies: signed, unsigned, and NOTAUTH with an unsigned BADSIG. */
static void test_rcodes(void **state)
{
    size_t mlen;
    (void)state;
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 5);
    raw_end(1);
    expect(read_raw(), XFR_IN_ERCODE, 5);
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 5);
    raw_end(-1);
    expect(read_raw(), XFR_IN_ERCODE, 5);
    /* an error reply need not echo the question */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 5);
    w.msg[5] = 0;
    w.out.len = XFR_HDR_LEN;
    raw_end(1);
    expect(read_raw(), XFR_IN_ERCODE, 5);

    start(XFR_T_AXFR, 0, NULL);
    memset(&w, 0, sizeof w);
    req[req_len - 20] ^= 1; /* in the request's MAC */
    assert_int_equal(tsig_verify_request(&w.ctx, xt_key(), 1, req, req_len, XT_T),
                     TSIG_EBADSIG);
    raw_begin(0, 9);
    mlen = w.out.len;
    assert_int_equal(tsig_sign_error(&w.ctx, TSIG_EBADSIG, w.msg, &mlen, sizeof w.msg, XT_T),
                     TSIG_OK);
    expect(xfr_in_feed(&in, w.msg, mlen, XT_T), XFR_IN_ETSIG, TSIG_EPEER);
    assert_int_equal(in.tsig.peer_error, TSIG_ERR_BADSIG);
}

/* A stream of N+2 messages, the N between unsigned (and, when LAST, the
 * last too), each holding one entry. */
static int unsigned_run(int n, int last)
{
    char p[32];
    struct xfr_obj o;

    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_axfr_head(40, 1, 1);
    raw_end(1);
    for (int i = 0; i <= n; i++) {
        raw_begin(0, 0);
        snprintf(p, sizeof p, "10.%d.%d.0/24", i / 256, i % 256);
        o = obj_entry("default", p);
        raw_obj(&o);
        if (i == n)
            raw_soa(40);
        raw_end(i < n || last ? 0 : 1);
    }
    return read_raw();
}

static void test_unsigned_messages(void **state)
{
    (void)state;
    assert_int_equal(unsigned_run(99, 0), XFR_IN_DONE);
    assert_int_equal(in.messages, 101);
    expect(unsigned_run(100, 0), XFR_IN_ETSIG, TSIG_EUNSIGNED);
    assert_int_equal(in.messages, 101);
    expect(unsigned_run(3, 1), XFR_IN_ETSIG, TSIG_EUNSIGNED);
    assert_null(strstr(ev.text, "end"));
    /* the first unsigned */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_axfr_head(40, 1, 1);
    raw_soa(40);
    raw_end(-1);
    expect(read_raw(), XFR_IN_ETSIG, TSIG_EUNSIGNED);
}

/* What only the whole zone shows. */
static void test_zone_rules(void **state)
{
    struct xfr_obj o;
    char name[16];
    (void)state;
    for (int c = 0; c < 6; c++) {
        start(XFR_T_AXFR, 0, NULL);
        raw_start();
        raw_begin(0, 0);
        raw_axfr_head(50, c != 0, c != 1);
        o = obj_member("global", "eu");
        raw_obj(&o);
        if (c == 2) {
            o = obj_member("eu", "us"); /* eu is a member and has one */
            raw_obj(&o);
        }
        for (int i = 0; c >= 3 && i < 32 + (c == 4); i++) {
            snprintf(name, sizeof name, "m%d", i);
            o = obj_member("big", name);
            raw_obj(&o);
            if (c == 5) /* repeated: counts once */
                raw_obj(&o);
        }
        raw_soa(50);
        raw_end(1);
        switch (c) {
        case 0:
            expect(read_raw(), XFR_IN_EZONE, XFR_IN_Z_LAYOUT);
            break;
        case 1:
            expect(read_raw(), XFR_IN_EZONE, XFR_IN_Z_DEFAULT);
            break;
        case 2:
            expect(read_raw(), XFR_IN_EZONE, XFR_IN_Z_NESTED);
            break;
        case 4:
            expect(read_raw(), XFR_IN_EZONE, XFR_IN_Z_MEMBERS);
            break;
        default:
            assert_int_equal(read_raw(), XFR_IN_DONE);
            break;
        }
    }
    /* no such rules for an IXFR's difference */
    start(XFR_T_IXFR, 10, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_soa(20);
    raw_soa(10);
    raw_soa(20);
    o = obj_member("eu", "us");
    raw_obj(&o);
    raw_soa(20);
    raw_end(1);
    assert_int_equal(read_raw(), XFR_IN_DONE);
}

/* A record layout 1 refuses, with its code and place. */
static void test_bad_record(void **state)
{
    (void)state;
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_axfr_head(50, 1, 1);
    /* the TXT of `default` says something else */
    w.msg[w.out.len - 1] = 'X';
    raw_end(1);
    expect(read_raw(), XFR_IN_ERECORD, XFR_ETXT);
    assert_int_equal(in.record, 3);
    /* an owner outside the zone */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    w.out.origin_ptr = 0; /* names in full */
    {
        size_t at = w.out.len;
        raw_soa(50);
        w.msg[at + 1] = 'q'; /* qfr.esp.example */
    }
    raw_end(1);
    expect(read_raw(), XFR_IN_ERECORD, XFR_EOUTSIDE);
    assert_int_equal(in.record, 0);
}

/* Header rules: QR, opcode, TC, QDCOUNT, a later message without the
 * question. */
static void test_header(void **state)
{
    static const struct {
        int at;
        uint8_t set;
        int code;
    } cases[] = {
        {2, 0x04, XFR_IN_EHEADER}, /* QR clear (AA kept) */
        {2, 0x84 | 0x08, XFR_IN_EHEADER}, /* opcode 1 */
        {2, 0x84 | 0x02, XFR_IN_ETC},
        {5, 2, XFR_IN_EHEADER},    /* two questions */
        {5, 0, XFR_IN_EHEADER},    /* none, in the first message */
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        start(XFR_T_AXFR, 0, NULL);
        raw_start();
        raw_begin(0, 0);
        w.msg[cases[i].at] = cases[i].set;
        raw_soa(5);
        raw_end(-1);
        expect(read_raw(), cases[i].code, 0);
    }
    /* message 2 without its question */
    start(XFR_T_AXFR, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_axfr_head(50, 1, 1);
    raw_end(1);
    memcpy(w.msg, req, XFR_HDR_LEN);
    w.msg[2] = 0x84;
    memset(w.msg + 4, 0, 8);
    xfr_out_init(&w.out, xt_origin(), w.msg, sizeof w.msg - 200, XFR_HDR_LEN, 0);
    w.count = 0;
    raw_soa(50);
    raw_end(1);
    assert_int_equal(read_raw(), XFR_IN_DONE);
    assert_int_equal(in.messages, 2);
    /* shorter than a header; another ID */
    start(XFR_T_AXFR, 0, NULL);
    expect(xfr_in_feed(&in, req, 11, XT_T), XFR_IN_EWIRE, 0);
    start(XFR_T_AXFR, 0, NULL);
    req[0] ^= 1;
    expect(xfr_in_feed(&in, req, req_len, XT_T), XFR_IN_EID, 0);
}

/* The caller stops it at any event; nothing comes after. */
static void test_callback_stop(void **state)
{
    int n, events;
    size_t len;
    (void)state;
    start(XFR_T_IXFR, xt_serial(0), NULL);
    len = serve(3, 700, 0, &n);
    start(XFR_T_IXFR, xt_serial(0), NULL);
    assert_int_equal(xt_read_stream(&in, stream, len, XT_T), XFR_IN_DONE);
    events = (int)strlen(ev.text); /* as a bound below */
    for (int k = 1; k < 40; k++) {
        start(XFR_T_IXFR, xt_serial(0), NULL);
        ev.stop_at = k;
        if (xt_read_stream(&in, stream, len, XT_T) == XFR_IN_DONE)
            break;
        expect(in.status, XFR_IN_ECALLBACK, 7);
        assert_int_equal(ev.seen, k);
        assert_true((int)strlen(ev.text) <= events); /* END itself can be refused */
    }
}

/* A SOA query's reply; bad starts. */
static void test_soa_query(void **state)
{
    struct xfr_in_query q = {xt_origin(), xt_key(), XFR_T_SOA, ID, 0, xt_event, &ev};
    size_t len;
    int n;
    (void)state;
    start(XFR_T_SOA, 0, NULL);
    serve(1, 512, 0, &n);
    assert_int_equal(xt_read_stream(&in, stream, 2u + get_be16(stream), XT_T), XFR_IN_DONE);
    assert_string_equal(ev.text, "begin soa 1796620007\nend soa 1796620007\n");
    start(XFR_T_SOA, 0, NULL);
    raw_start();
    raw_begin(0, 0);
    raw_end(1);
    assert_int_equal(xfr_in_feed(&in, stream + 2, w.len - 2, XT_T), XFR_IN_ECHAIN);
    assert_int_equal(in.detail, XFR_FRAME_ENOTSOA);

    xfr_in_free(&in);
    q.qtype = XFR_T_OPT;
    assert_int_equal(xfr_in_start(&in, &q, req, sizeof req, &len, XT_T), XFR_IN_EINVAL);
    q.qtype = XFR_T_IXFR;
    assert_int_equal(xfr_in_start(&in, &q, req, 20, &len, XT_T), XFR_IN_EINVAL);
    assert_int_equal(xfr_in_start(&in, &q, req, 40, &len, XT_T), XFR_IN_EINVAL);
    q.key = NULL;
    assert_int_equal(xfr_in_start(&in, &q, req, sizeof req, &len, XT_T), XFR_IN_EINVAL);
    assert_string_equal(xfr_in_strerror(XFR_IN_ETRUNCATED),
                        "the transfer ended before its closing SOA");
    assert_string_equal(xfr_in_strerror(-99), "unknown error");
    assert_string_equal(xfr_in_strerror(XFR_IN_DONE), "complete");
}

static int teardown(void **state)
{
    (void)state;
    xfr_in_free(&in);
    xt_events_free(&ev);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_chains),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_wrong_question),
        cmocka_unit_test(test_badtime),
        cmocka_unit_test(test_rcodes),
        cmocka_unit_test(test_unsigned_messages),
        cmocka_unit_test(test_zone_rules),
        cmocka_unit_test(test_bad_record),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_soa_query),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
