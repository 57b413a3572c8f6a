/* The producer (xfr/out.h) and the netting (xfr/net.h): its messages
 * against the frozen records, read back by in.h in every split (every
 * record count per message, every buffer size, OPT or not, unsigned
 * messages between signed ones); the single SOA; the orders it refuses;
 * netting against a model of random commits, and the member links of
 * the commits spfdb_alloc_set_members and spfdb_alloc_del log. */
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

static uint8_t stream[STREAM_MAX];
static struct xt_events ev;
static struct xfr_in in;

/* Our request (as in.h writes it), with an OPT (DO set) when EDNS: the
 * request re-signed, as the reader's context must hold its MAC. */
static size_t request(uint16_t qtype, uint32_t serial, int edns, uint8_t *buf, size_t cap)
{
    struct xfr_in_query q = {xt_origin(), xt_key(), qtype, 0x5151, serial, xt_event, &ev};
    size_t len, off;

    xfr_in_free(&in);
    assert_int_equal(xfr_in_start(&in, &q, buf, cap, &len, XT_T), XFR_IN_MORE);
    if (edns) {
        static const uint8_t opt[11] = {0, 0, XFR_T_OPT, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0};
        assert_int_equal(tsig_find(buf, len, &off), TSIG_OK);
        memcpy(buf + off, opt, sizeof opt);
        len = off + sizeof opt;
        assert_int_equal(tsig_sign_request(&in.tsig, xt_key(), buf, &len, cap, XT_T), TSIG_OK);
    }
    return len;
}

/* Serve STATE to a request of QTYPE from SERIAL and read it back; the
 * reader's model starts at state FROM.  Returns the reader's result. */
static int round_trip(const struct xt_serve *s, uint16_t qtype, unsigned from, int edns,
                      int *messages)
{
    uint8_t req[512];
    size_t rlen = request(qtype, xt_serial(from), edns, req, sizeof req), len;

    xt_events_reset(&ev);
    xt_zone_at(from, &ev.zone);
    *messages = xt_serve(s, req, rlen, stream, sizeof stream, &len);
    if (*messages < 0)
        fail_msg("serve: %d (%s)", *messages, xfr_strerror(*messages));
    return xt_read_stream(&in, stream, len, XT_T);
}

static void assert_done(int r)
{
    if (r != XFR_IN_DONE)
        fail_msg("reader: %s (detail %d, message %u, record %u)\n%s", xfr_in_strerror(r),
                 in.detail, in.messages, in.record, ev.text ? ev.text : "");
}

/* ---- the messages ---- */

/* One message holds the sample: our header, the question echoed, the
 * records exactly as layout.h compresses them (the frozen rendering's
 * bytes, compressed), the closing SOA, the TSIG that verifies. */
static void test_axfr_message(void **state)
{
    static uint8_t golden[16384];
    struct xt_serve s = {.state = 0, .cap = XFR_MSG_MAX};
    uint8_t req[512];
    size_t rlen, len, glen, qend, off;
    int n;
    (void)state;
    rlen = request(XFR_T_AXFR, 0, 0, req, sizeof req);
    n = xt_serve(&s, req, rlen, stream, sizeof stream, &len);
    assert_int_equal(n, 1);
    const uint8_t *m = stream + 2;
    size_t mlen = get_be16(stream);
    assert_int_equal(len, mlen + 2);
    assert_int_equal(get_be16(m), 0x5151);
    assert_int_equal(m[2], 0x84); /* QR, AA, opcode 0, RD clear as asked */
    assert_int_equal(m[3], 0);
    assert_int_equal(get_be16(m + 4), 1);
    assert_int_equal(get_be16(m + 6), 20); /* the 19 sample records and the SOA */
    assert_int_equal(get_be16(m + 8), 0);
    assert_int_equal(get_be16(m + 10), 1); /* TSIG */
    qend = XFR_HDR_LEN + xt_origin()->len + 4;
    assert_memory_equal(m + XFR_HDR_LEN, req + XFR_HDR_LEN, qend - XFR_HDR_LEN);
    glen = sample_message(golden, sizeof golden, 1);
    assert_true(glen > qend);
    assert_memory_equal(m + qend, golden + qend, glen - qend);
    assert_int_equal(tsig_find(m, mlen, &off), TSIG_OK);
    /* the closing SOA: the first record again, owner compressed to 12 */
    assert_memory_equal(m + glen, golden + qend, off - glen);
    assert_int_equal(get_be16(m + glen), 0xC000 | XFR_HDR_LEN);
    xt_events_reset(&ev);
    assert_done(xt_read_stream(&in, stream, len, XT_T));
}

/* With an OPT in the request, every message carries one (DO echoed),
 * before the TSIG. */
static void test_opt(void **state)
{
    struct xt_serve s = {.state = 3, .cap = 300};
    uint8_t req[512];
    size_t rlen = request(XFR_T_AXFR, 0, 1, req, sizeof req), len, at = 0;
    int n;
    (void)state;
    n = xt_serve(&s, req, rlen, stream, sizeof stream, &len);
    if (n <= 5)
        fail_msg("%d messages, %zu octets", n, len);
    for (int i = 0; i < n; i++) {
        const uint8_t *m = stream + at + 2;
        size_t mlen = get_be16(stream + at), p = XFR_HDR_LEN, off;
        struct xfr_rr rr;
        assert_int_equal(get_be16(m + 10), 2);
        assert_int_equal(tsig_find(m, mlen, &off), TSIG_OK);
        assert_int_equal(xfr_question_skip(m, mlen, &p), 0);
        for (unsigned k = get_be16(m + 6); k > 0; k--)
            assert_int_equal(xfr_rr_read(m, mlen, &p, &rr), 0);
        assert_int_equal(xfr_rr_read(m, mlen, &p, &rr), 0);
        assert_int_equal(rr.type, XFR_T_OPT);
        assert_int_equal(rr.rclass, 1232);
        assert_int_equal(rr.ttl, 0x8000);
        assert_int_equal(rr.owner_len, 1);
        assert_int_equal(p, off);
        at += 2 + mlen;
    }
    xt_events_reset(&ev);
    assert_done(xt_read_stream(&in, stream, len, XT_T));
}

/* ---- round trips ---- */

static unsigned lines(const char *text)
{
    unsigned n = 0;

    for (; text && *text; text++)
        n += *text == '\n';
    return n;
}

/* Every records-per-message count, with and without OPT, some messages
 * unsigned; the follower's model ends at the server's state. */
static void sweep(uint16_t qtype, unsigned from, unsigned to, const char *form)
{
    struct xt_serve s = {.state = to, .cap = XFR_MSG_MAX};
    static struct xt_zone want;
    int n, records = 0;

    xt_zone_at(to, &want);
    for (unsigned per = 0; per == 0 || (int)per <= records; per++)
        for (int edns = 0; edns <= 1; edns++) {
            s.per_msg = per;
            s.unsigned_mask = per % 3 == 2 ? 0x2aaaaaaaaaaaaaaaull : 0; /* every other one */
            assert_done(round_trip(&s, qtype, from, edns, &n));
            if (per == 0) {
                assert_int_equal(n, 1);
                records = (int)get_be16(stream + 2 + 6);
            } else {
                assert_int_equal(n, (records + (int)per - 1) / (int)per);
            }
            assert_int_equal(ev.bad, 0);
            assert_true(xt_zone_eq(&ev.zone, &want));
            assert_non_null(strstr(ev.text, form));
        }
}

static void test_axfr_round_trip(void **state)
{
    (void)state;
    sweep(XFR_T_AXFR, 0, 0, "begin axfr 1796620000\n");
    sweep(XFR_T_AXFR, 0, 3, "begin axfr 1796620021\n");
    assert_int_equal(lines(ev.text), 2 + 19);
}

static void test_ixfr_round_trip(void **state)
{
    (void)state;
    sweep(XFR_T_IXFR, 2, 3, "begin ixfr 1796620021\nseq 1796620014\n"); /* one commit */
    sweep(XFR_T_IXFR, 0, 3, "begin ixfr 1796620021\nseq 1796620000\n"); /* three */
    sweep(XFR_T_IXFR, 0, 1, "begin ixfr 1796620007\nseq 1796620000\n");
    sweep(XFR_T_IXFR, 1, 3, "adds 1796620007 1796620014\n");
}

/* The one commit whose changes net away but for two, exactly. */
static void test_ixfr_events(void **state)
{
    struct xt_serve s = {.state = 3, .cap = 512};
    int n;
    (void)state;
    assert_done(round_trip(&s, XFR_T_IXFR, 2, 0, &n));
    assert_string_equal(ev.text,
                        "begin ixfr 1796620021\n"
                        "seq 1796620014\n"
                        "del member global eu\n"
                        "adds 1796620014 1796620021\n"
                        "add zone new.example alloc=us ttl=300 neg=60 hostmaster= "
                        "ns=ns1.iphmx.example,ns2.iphmx.example\n"
                        "end-seq 1796620014 1796620021\n"
                        "end ixfr 1796620021\n");
}

/* Buffer sizes from the least that holds the largest record up: the
 * producer fills each message and the reader takes every split. */
static void test_buffer_sizes(void **state)
{
    static struct xt_zone want;
    uint8_t req[512];
    size_t rlen, len;
    size_t least[2] = {0, 0};
    int n;
    (void)state;
    for (int ixfr = 0; ixfr <= 1; ixfr++) {
        xt_zone_at(3, &want);
        for (size_t cap = 100; cap <= 1400; cap++) {
            struct xt_serve s = {.state = 3, .cap = cap};
            rlen = request(ixfr ? XFR_T_IXFR : XFR_T_AXFR, 0, cap % 2, req, sizeof req);
            n = xt_serve(&s, req, rlen, stream, sizeof stream, &len);
            if (n == XFR_ETOOBIG || n == XFR_ENOSPACE) {
                assert_int_equal(least[cap % 2], 0); /* only below the least size */
                continue;
            }
            if (least[cap % 2] == 0)
                least[cap % 2] = cap;
            assert_true(n > 0);
            xt_events_reset(&ev);
            xt_zone_at(0, &ev.zone);
            assert_done(xt_read_stream(&in, stream, len, XT_T));
            assert_true(xt_zone_eq(&ev.zone, &want));
            for (size_t at = 0; at < len; at += 2 + get_be16(stream + at))
                assert_true(get_be16(stream + at) <= cap);
        }
        assert_true(least[0] > 0 && least[0] < 400 && least[1] > least[0]);
        least[0] = least[1] = 0;
    }
}

/* The single SOA: a SOA query, an IXFR from the current serial, one from
 * a serial ahead (a restored primary answers with its own, older); and
 * an IXFR from a serial the history does not hold gets the AXFR form. */
static void test_single_soa(void **state)
{
    struct xt_serve s = {.state = 2, .cap = 4096};
    int n;
    (void)state;
    assert_done(round_trip(&s, XFR_T_SOA, 0, 0, &n));
    assert_int_equal(n, 1);
    assert_int_equal(get_be16(stream + 2 + 6), 1);
    assert_string_equal(ev.text, "begin soa 1796620014\nend soa 1796620014\n");
    assert_done(round_trip(&s, XFR_T_IXFR, 2, 1, &n));
    assert_string_equal(ev.text, "begin current 1796620014\nend current 1796620014\n");
    assert_done(round_trip(&s, XFR_T_IXFR, 3, 0, &n));
    assert_string_equal(ev.text, "begin soa 1796620014\nend soa 1796620014\n");
    s.state = 3;
    xfr_in_free(&in);
    {
        struct xfr_in_query q = {xt_origin(), xt_key(), XFR_T_IXFR, 9, 12345, xt_event, &ev};
        uint8_t req[512];
        size_t rlen, len;
        assert_int_equal(xfr_in_start(&in, &q, req, sizeof req, &rlen, XT_T), XFR_IN_MORE);
        assert_true(xt_serve(&s, req, rlen, stream, sizeof stream, &len) > 0);
        xt_events_reset(&ev);
        assert_done(xt_read_stream(&in, stream, len, XT_T));
        assert_non_null(strstr(ev.text, "begin axfr 1796620021\n"));
    }
}

/* ---- what the producer refuses ---- */

static struct xfr_obj soa(uint32_t serial)
{
    struct xfr_obj o;

    memset(&o, 0, sizeof o);
    o.kind = XFR_SOA;
    o.soa.serial = serial;
    return o;
}

static void test_order(void **state)
{
    static uint8_t buf[4096];
    static struct xfr_obj a;
    uint8_t req[512], q2[512];
    struct xt_req q;
    struct tsig_ctx ctx;
    struct xfr_resp r;
    size_t len, rlen;
    struct xfr_obj s1 = soa(10), s2 = soa(20), s3 = soa(30);
    (void)state;
    memset(&a, 0, sizeof a);
    a.kind = XFR_ALLOC;
    strcpy(a.alloc.alloc, "acme");
    rlen = request(XFR_T_IXFR, 5, 0, req, sizeof req);
    assert_int_equal(xt_request_read(req, rlen, &q), 0);
    assert_int_equal(tsig_verify_request(&ctx, xt_key(), 1, req, rlen, XT_T), TSIG_OK);

    /* AXFR: data first, another serial, anything after the end */
    assert_int_equal(xfr_resp_init(&r, XFR_FORM_AXFR, 0, &q.r, xt_origin(), "ns.x", &ctx), 0);
    assert_int_equal(xfr_resp_add(&r, &a), XFR_EINVAL); /* no message open */
    assert_int_equal(xfr_resp_begin(&r, buf, sizeof buf), 0);
    assert_int_equal(xfr_resp_begin(&r, buf, sizeof buf), XFR_EINVAL);
    assert_int_equal(xfr_resp_add(&r, &a), XFR_EORDER);
    assert_int_equal(xfr_resp_add(&r, &s1), 0);
    assert_int_equal(xfr_resp_add(&r, &a), 0);
    assert_int_equal(xfr_resp_add(&r, &s2), XFR_EORDER);
    assert_false(xfr_resp_done(&r));
    assert_int_equal(xfr_resp_add(&r, &s1), 0);
    assert_true(xfr_resp_done(&r));
    assert_int_equal(xfr_resp_add(&r, &a), XFR_EORDER);
    assert_int_equal(xfr_resp_finish(&r, XT_T, 1, &len), 0);
    assert_int_equal(xfr_resp_finish(&r, XT_T, 1, &len), XFR_EINVAL);
    assert_int_equal(xfr_resp_begin(&r, buf, sizeof buf), XFR_EINVAL);

    /* IXFR from 5: SOA(30) SOA(5) ... SOA(20) ... SOA(20) ... SOA(30) SOA(30) */
    assert_int_equal(tsig_verify_request(&ctx, xt_key(), 1, req, rlen, XT_T), TSIG_OK);
    assert_int_equal(xfr_resp_init(&r, XFR_FORM_IXFR, 5, &q.r, xt_origin(), "ns.x", &ctx), 0);
    assert_int_equal(xfr_resp_begin(&r, buf, sizeof buf), 0);
    assert_int_equal(xfr_resp_add(&r, &s3), 0);
    assert_int_equal(xfr_resp_add(&r, &a), XFR_EORDER); /* would be the AXFR form */
    assert_int_equal(xfr_resp_add(&r, &s1), XFR_EORDER); /* not the client's serial */
    assert_int_equal(xfr_resp_soa(&r, 5), 0);
    assert_int_equal(xfr_resp_add(&r, &a), 0);           /* a deletion */
    assert_int_equal(xfr_resp_soa(&r, 4), XFR_EORDER);   /* not newer than 5 */
    assert_int_equal(xfr_resp_add(&r, &s2), 0);
    assert_int_equal(xfr_resp_add(&r, &s3), XFR_EORDER); /* 30 is not where 20 ended */
    assert_int_equal(xfr_resp_add(&r, &s2), 0);          /* the next sequence */
    assert_int_equal(xfr_resp_add(&r, &s3), 0);
    assert_int_equal(xfr_resp_add(&r, &a), 0);           /* an addition */
    assert_int_equal(xfr_resp_add(&r, &s1), XFR_EORDER); /* the end is 30 */
    assert_int_equal(xfr_resp_add(&r, &s3), 0);
    assert_true(xfr_resp_done(&r));
    /* an unsigned first message cannot be */
    assert_int_equal(xfr_resp_finish(&r, XT_T, 0, &len), XFR_EINVAL);

    /* single SOA */
    assert_int_equal(xfr_resp_init(&r, XFR_FORM_SOA, 0, &q.r, xt_origin(), "ns.x", NULL), 0);
    assert_int_equal(xfr_resp_begin(&r, buf, sizeof buf), 0);
    assert_int_equal(xfr_resp_add(&r, &s1), 0);
    assert_int_equal(xfr_resp_add(&r, &s1), XFR_EORDER);
    assert_int_equal(xfr_resp_finish(&r, XT_T, 1, &len), 0);
    assert_int_equal(get_be16(buf + 10), 0); /* no TSIG without a context */

    /* an IXFR declared but current: the SOA form was due */
    assert_int_equal(xfr_resp_init(&r, XFR_FORM_IXFR, 10, &q.r, xt_origin(), "ns.x", NULL), 0);
    assert_int_equal(xfr_resp_begin(&r, buf, sizeof buf), 0);
    assert_int_equal(xfr_resp_add(&r, &s1), XFR_EORDER);

    /* bad forms, questions, objects, sizes */
    assert_int_equal(xfr_resp_init(&r, XFR_FORM_CURRENT, 0, &q.r, xt_origin(), "ns.x", NULL),
                     XFR_EINVAL);
    memcpy(q2, req, rlen);
    q2[XFR_HDR_LEN + 1] = 'y'; /* "yfr.esp.example" */
    assert_int_equal(xt_request_read(q2, rlen, &q), 0);
    assert_int_equal(xfr_resp_init(&r, XFR_FORM_AXFR, 0, &q.r, xt_origin(), "ns.x", NULL),
                     XFR_EINVAL);
    q2[XFR_HDR_LEN + 1] = 'X'; /* any letter case */
    assert_int_equal(xt_request_read(q2, rlen, &q), 0);
    assert_int_equal(xfr_resp_init(&r, XFR_FORM_AXFR, 0, &q.r, xt_origin(), "ns.x", NULL), 0);
    assert_int_equal(xfr_resp_begin(&r, buf, XFR_HDR_LEN + q.r.question_len - 1), XFR_ENOSPACE);
    assert_int_equal(xfr_resp_begin(&r, buf, XFR_HDR_LEN + q.r.question_len + 20), 0);
    assert_int_equal(xfr_resp_add(&r, &s1), XFR_ETOOBIG);
    r.open = 0;
    assert_int_equal(xfr_resp_begin(&r, buf, sizeof buf), 0);
    assert_int_equal(xfr_resp_add(&r, &s1), 0);
    strcpy(a.alloc.alloc, "Not.One");
    assert_int_equal(xfr_resp_add(&r, &a), XFR_EINVAL);
    a.kind = (enum xfr_kind)99;
    assert_int_equal(xfr_resp_add(&r, &a), XFR_EINVAL);
    assert_int_equal(r.count, 1);
}

/* ---- netting ---- */

/* A universe of identities, each with a few possible records: entries
 * and allocations (the record is the identity) and zones (the TTL
 * varies). */
#define IDS 12

static void universe(unsigned id, unsigned variant, struct xfr_obj *o)
{
    char p[32];

    memset(o, 0, sizeof *o);
    if (id < 6) {
        o->kind = XFR_ENTRY;
        strcpy(o->entry.alloc, id % 2 ? "acme" : "eu");
        snprintf(p, sizeof p, "10.%u.0.0/16", id);
        assert_int_equal(spfdb_prefix_parse(p, strlen(p), &o->entry.prefix, NULL, NULL, 0), 0);
    } else if (id < 8) {
        o->kind = XFR_ALLOC;
        strcpy(o->alloc.alloc, id == 6 ? "acme" : "eu");
    } else if (id < 9) {
        o->kind = XFR_MEMBER;
        strcpy(o->member.alloc, "global");
        strcpy(o->member.member, "eu");
    } else {
        o->kind = XFR_ZONE;
        snprintf(o->zone.name, sizeof o->zone.name, "z%u.example", id);
        o->zone.ttl = 300 + variant;
        o->zone.neg_ttl = 60;
        o->zone.n_ns = 1;
        strcpy(o->zone.ns[0], "ns.example");
    }
}

static int variants(unsigned id)
{
    return id >= 9 ? 3 : 1;
}

struct net_case {
    int start[IDS], end[IDS]; /* -1: absent, else the variant */
    size_t n;
    int op[64];
    unsigned id[64], variant[64];
    struct xfr_obj rec[64];
    /* the netted output */
    int state[IDS];
    unsigned dels, adds;
    int bad;
    int phase;
};

static int case_walk(void *arg, xfr_change_fn fn, void *fnarg)
{
    struct net_case *c = arg;

    for (size_t i = 0; i < c->n; i++) {
        int r = fn(fnarg, c->op[i], &c->rec[i]);
        if (r)
            return r;
    }
    return 0;
}

static unsigned find_id(const struct net_case *c, const struct xfr_obj *o, unsigned *variant)
{
    for (size_t i = 0; i < c->n; i++)
        if (memcmp(&c->rec[i], o, sizeof *o) == 0) {
            *variant = c->variant[i];
            return c->id[i];
        }
    fail_msg("netting passed a record no change holds");
    return 0;
}

/* Apply the netted output to the start state: a deletion must name the
 * record present, an addition an absent identity. */
static int case_apply(void *arg, int op, const struct xfr_obj *o)
{
    struct net_case *c = arg;
    unsigned v = 0, id = find_id(c, o, &v);

    if (op != c->phase)
        c->bad++;
    if (op == XFR_OP_DEL) {
        if (c->state[id] != (int)v)
            c->bad++;
        c->state[id] = -1;
        c->dels++;
    } else {
        if (c->state[id] != -1)
            c->bad++;
        c->state[id] = (int)v;
        c->adds++;
    }
    return 0;
}

static void test_netting_random(void **state)
{
    static struct net_case c;
    static struct xfr_net_slot slots[256];
    struct xfr_net net;
    unsigned seed = 1;
    (void)state;
    for (int trial = 0; trial < 3000; trial++) {
        int cur[IDS];
        unsigned changed = 0, distinct = 0;
        memset(&c, 0, sizeof c);
        for (unsigned i = 0; i < IDS; i++) {
            seed = seed * 1103515245u + 12345u;
            c.start[i] = (seed >> 16) % 2 ? (int)((seed >> 8) % (unsigned)variants(i)) : -1;
            cur[i] = c.start[i];
        }
        c.n = (size_t)(trial % 40);
        for (size_t k = 0; k < c.n; k++) {
            seed = seed * 1103515245u + 12345u;
            unsigned id = (seed >> 16) % (trial % 3 ? IDS : 3); /* some: many repeats */
            c.id[k] = id;
            if (cur[id] >= 0) {
                c.op[k] = XFR_OP_DEL;
                c.variant[k] = (unsigned)cur[id];
                cur[id] = -1;
            } else {
                c.op[k] = XFR_OP_ADD;
                c.variant[k] = (seed >> 8) % (unsigned)variants(id);
                cur[id] = (int)c.variant[k];
            }
            universe(id, c.variant[k], &c.rec[k]);
        }
        memcpy(c.end, cur, sizeof cur);
        assert_int_equal(xfr_net_index(&net, slots, xfr_net_slots(c.n), case_walk, &c), 0);
        memcpy(c.state, c.start, sizeof c.state);
        c.phase = XFR_OP_DEL;
        assert_int_equal(xfr_net_emit(&net, XFR_OP_DEL, case_walk, &c, case_apply, &c), 0);
        c.phase = XFR_OP_ADD;
        assert_int_equal(xfr_net_emit(&net, XFR_OP_ADD, case_walk, &c, case_apply, &c), 0);
        assert_int_equal(c.bad, 0);
        assert_memory_equal(c.state, c.end, sizeof c.end);
        /* minimal: one deletion and one addition at most per identity
         * that differs, none for one that came back as it was */
        for (unsigned i = 0; i < IDS; i++) {
            changed += c.start[i] != c.end[i];
            distinct += (c.start[i] >= 0 && c.start[i] != c.end[i]) +
                        (c.end[i] >= 0 && c.start[i] != c.end[i]);
        }
        assert_int_equal(c.dels + c.adds, distinct);
        assert_true(changed <= distinct);
    }
}

static int stop_at_second(void *arg, int op, const struct xfr_obj *o)
{
    int *n = arg;
    (void)op;
    (void)o;
    return ++*n == 2 ? 42 : 0;
}

/* A walk that replays a different commit the second time. */
static int shrinking_walk(void *arg, xfr_change_fn fn, void *fnarg)
{
    struct net_case *c = arg;
    int r = case_walk(c, fn, fnarg);

    c->n--;
    return r;
}

static void test_netting_errors(void **state)
{
    static struct net_case c;
    static struct xfr_net_slot slots[8];
    struct xfr_net net;
    int n = 0;
    (void)state;
    memset(&c, 0, sizeof c);
    c.n = 4;
    for (unsigned k = 0; k < 4; k++) {
        c.op[k] = XFR_OP_ADD;
        c.id[k] = k;
        universe(k, 0, &c.rec[k]);
    }
    assert_int_equal(xfr_net_slots(0), 2);
    assert_int_equal(xfr_net_slots(4), 8);
    assert_int_equal(xfr_net_slots(5), 16);
    /* too small a table, or not a power of two */
    assert_int_equal(xfr_net_index(&net, slots, 4, case_walk, &c), XFR_EINVAL);
    assert_int_equal(xfr_net_index(&net, slots, 6, case_walk, &c), XFR_EINVAL);
    assert_int_equal(xfr_net_index(&net, slots, 8, case_walk, &c), 0);
    /* a callback's result stops the walk and comes back */
    assert_int_equal(xfr_net_emit(&net, XFR_OP_ADD, case_walk, &c, stop_at_second, &n), 42);
    assert_int_equal(xfr_net_emit(&net, 3, case_walk, &c, stop_at_second, &n), XFR_EINVAL);
    /* a walk that does not replay the commit */
    n = -100;
    assert_int_equal(xfr_net_emit(&net, XFR_OP_ADD, shrinking_walk, &c, stop_at_second, &n), 0);
    assert_int_equal(xfr_net_emit(&net, XFR_OP_ADD, shrinking_walk, &c, stop_at_second, &n),
                     XFR_EINVAL);
    /* changes no log holds: an SOA, a bad op */
    c.n = 1;
    c.rec[0] = soa(1);
    assert_int_equal(xfr_net_index(&net, slots, 8, case_walk, &c), XFR_EINVAL);
    universe(0, 0, &c.rec[0]);
    c.op[0] = 0;
    assert_int_equal(xfr_net_index(&net, slots, 8, case_walk, &c), XFR_EINVAL);
}

/* ---- member links as the change log holds them ---- */

struct log_case {
    size_t n;
    int op[16];
    struct xfr_obj rec[16];
    char out[2048];
    size_t len;
};

static void log_change(struct log_case *c, int op, enum xfr_kind kind, const char *a,
                       const char *x)
{
    struct xfr_obj *o = &c->rec[c->n];

    memset(o, 0, sizeof *o);
    o->kind = kind;
    if (kind == XFR_MEMBER) {
        strcpy(o->member.alloc, a);
        strcpy(o->member.member, x);
    } else if (kind == XFR_ALLOC) {
        strcpy(o->alloc.alloc, a);
    } else {
        strcpy(o->entry.alloc, a);
        assert_int_equal(spfdb_prefix_parse(x, strlen(x), &o->entry.prefix, NULL, NULL, 0), 0);
    }
    c->op[c->n++] = op;
}

static int log_walk(void *arg, xfr_change_fn fn, void *fnarg)
{
    struct log_case *c = arg;

    for (size_t i = 0; i < c->n; i++) {
        int r = fn(fnarg, c->op[i], &c->rec[i]);
        if (r)
            return r;
    }
    return 0;
}

static int log_out(void *arg, int op, const struct xfr_obj *o)
{
    struct log_case *c = arg;
    char t[256];

    sample_obj_text(o, t, sizeof t);
    c->len += (size_t)snprintf(c->out + c->len, sizeof c->out - c->len, "%s %s\n",
                               op == XFR_OP_DEL ? "del" : "add", t);
    return 0;
}

/* The sequence (deletions, then additions) of the commit in C. */
static const char *log_net(struct log_case *c)
{
    static struct xfr_net_slot slots[64];
    struct xfr_net net;

    c->len = 0;
    c->out[0] = '\0';
    assert_int_equal(xfr_net_index(&net, slots, xfr_net_slots(c->n), log_walk, c), 0);
    assert_int_equal(xfr_net_emit(&net, XFR_OP_DEL, log_walk, c, log_out, c), 0);
    assert_int_equal(xfr_net_emit(&net, XFR_OP_ADD, log_walk, c, log_out, c), 0);
    return c->out;
}

static void test_netting_members(void **state)
{
    static struct log_case c;
    (void)state;
    /* set_members global us apac (it held eu, us): eu's link out, apac's in */
    memset(&c, 0, sizeof c);
    log_change(&c, XFR_OP_DEL, XFR_MEMBER, "global", "eu");
    log_change(&c, XFR_OP_ADD, XFR_MEMBER, "global", "apac");
    assert_string_equal(log_net(&c), "del member global eu\nadd member global apac\n");
    /* allocation del --force global, with members and an entry: the links'
     * deletions stream before the allocation's, as logged, so a follower
     * reading in order never holds a link to a deleted allocation */
    memset(&c, 0, sizeof c);
    log_change(&c, XFR_OP_DEL, XFR_MEMBER, "global", "apac");
    log_change(&c, XFR_OP_DEL, XFR_MEMBER, "global", "us");
    log_change(&c, XFR_OP_DEL, XFR_ENTRY, "global", "192.0.2.0/24");
    log_change(&c, XFR_OP_DEL, XFR_ALLOC, "global", NULL);
    assert_string_equal(log_net(&c), "del member global apac\ndel member global us\n"
                                     "del entry global 192.0.2.0/24\ndel alloc global\n");
    /* a link dropped and made again in one commit: nothing; one made and
     * dropped: nothing; an allocation made with a member */
    memset(&c, 0, sizeof c);
    log_change(&c, XFR_OP_DEL, XFR_MEMBER, "global", "eu");
    log_change(&c, XFR_OP_ADD, XFR_MEMBER, "global", "eu");
    log_change(&c, XFR_OP_ADD, XFR_MEMBER, "global", "us");
    log_change(&c, XFR_OP_DEL, XFR_MEMBER, "global", "us");
    log_change(&c, XFR_OP_ADD, XFR_ALLOC, "world", NULL);
    log_change(&c, XFR_OP_ADD, XFR_MEMBER, "world", "eu");
    assert_string_equal(log_net(&c), "add alloc world\nadd member world eu\n");
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
        cmocka_unit_test(test_axfr_message),
        cmocka_unit_test(test_opt),
        cmocka_unit_test(test_axfr_round_trip),
        cmocka_unit_test(test_ixfr_round_trip),
        cmocka_unit_test(test_ixfr_events),
        cmocka_unit_test(test_buffer_sizes),
        cmocka_unit_test(test_single_soa),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_netting_random),
        cmocka_unit_test(test_netting_errors),
        cmocka_unit_test(test_netting_members),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
