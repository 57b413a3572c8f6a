/* fuzz_xfr_in.c: libFuzzer target for the follower's reader (xfr/in.h):
 * a whole reply, message by message.
 *
 * Input: one octet of mode (bits 0-1: the request, SOA, AXFR or IXFR;
 * bit 2: keep each message's ID as given), four of our serial, then
 * frames of a 2-octet length, one octet of flags and a message body.
 * The harness plays the server's TSIG, so that the reader gets past it:
 * a body is signed (flags bit 0), or folded into the next signature
 * (else), or sent as it is (bit 1).
 *
 * Checked: the events form a transfer (BEGIN first, sequences nested,
 * serials chained as frame.h says, END last and only on XFR_IN_DONE), an
 * error sticks, and nothing leaks or reads out of bounds (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "in.h"

#define ID 0x1234

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "fuzz_xfr_in: check failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

struct seen {
    int begun, ended, in_seq, adds;
    enum xfr_form form;
    uint32_t serial, ours, from, to, last_to;
};

static int on_event(void *arg, const struct xfr_in_event *ev)
{
    struct seen *s = arg;

    CHECK(!s->ended);
    CHECK(s->begun == (ev->type != XFR_EV_BEGIN));
    if (ev->type != XFR_EV_BEGIN)
        CHECK(ev->form == s->form && ev->soa->serial == s->serial);
    switch (ev->type) {
    case XFR_EV_BEGIN:
        CHECK(ev->form != XFR_FORM_NONE);
        s->begun = 1;
        s->form = ev->form;
        s->serial = ev->soa->serial;
        s->last_to = s->ours;
        if (ev->form == XFR_FORM_CURRENT)
            CHECK(s->serial == s->ours);
        break;
    case XFR_EV_SEQ:
        CHECK(s->form == XFR_FORM_IXFR && !s->in_seq && ev->from == s->last_to);
        s->in_seq = 1;
        s->adds = 0;
        s->from = ev->from;
        break;
    case XFR_EV_DEL:
        CHECK(s->in_seq && !s->adds && ev->obj);
        break;
    case XFR_EV_ADDS:
        CHECK(s->in_seq && !s->adds && ev->from == s->from);
        CHECK(xfr_serial_gt(ev->to, ev->from));
        s->adds = 1;
        s->to = ev->to;
        break;
    case XFR_EV_ADD:
        CHECK(ev->obj && (s->form == XFR_FORM_AXFR || (s->in_seq && s->adds)));
        CHECK(ev->obj->kind >= XFR_ZONE && ev->obj->kind <= XFR_ENTRY);
        break;
    case XFR_EV_SEQ_END:
        CHECK(s->in_seq && s->adds && ev->from == s->from && ev->to == s->to);
        s->in_seq = 0;
        s->last_to = ev->to;
        break;
    case XFR_EV_END:
        CHECK(!s->in_seq);
        if (s->form == XFR_FORM_IXFR)
            CHECK(s->last_to == s->serial);
        s->ended = 1;
        break;
    }
    return 0;
}

static const struct tsig_key *key(void)
{
    static struct tsig_key k;
    static const uint8_t secret[32] = "fuzz_xfr_in's key: 32 octets!!!";

    if (k.name_len == 0 && tsig_key_set(&k, "fuzz.key", secret, sizeof secret) != 0)
        abort();
    return &k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t qtypes[4] = {XFR_T_SOA, XFR_T_AXFR, XFR_T_IXFR, XFR_T_IXFR};
    static uint8_t msg[XFR_MSG_MAX + TSIG_RR_MAX];
    static struct xfr_in in;
    struct xfr_origin origin;
    struct tsig_ctx server;
    struct seen s;
    struct xfr_in_query q;
    uint8_t req[512];
    size_t at = 5, len;
    uint64_t now = 1796620000;
    int r = XFR_IN_MORE;

    if (size < 5 || xfr_origin_set(&origin, "xfr.esp.example") != 0)
        return 0;
    memset(&s, 0, sizeof s);
    s.ours = get_be32(data + 1);
    q = (struct xfr_in_query){&origin, key(), qtypes[data[0] & 3], ID, s.ours, on_event, &s};
    CHECK(xfr_in_start(&in, &q, req, sizeof req, &len, now) == XFR_IN_MORE);
    CHECK(tsig_verify_request(&server, key(), 1, req, len, now) == TSIG_OK);
    while (r == XFR_IN_MORE && size - at >= 3) {
        size_t n = get_be16(data + at);
        uint8_t flags = data[at + 2];
        at += 3;
        if (n > size - at)
            n = size - at;
        if (n > XFR_MSG_MAX)
            n = XFR_MSG_MAX;
        memcpy(msg, data + at, n);
        at += n;
        if (n >= 2 && !(data[0] & 4))
            put_be16(msg, ID);
        if (n >= XFR_HDR_LEN && !(flags & 2)) {
            if (flags & 1)
                (void)tsig_sign_reply(&server, msg, &n, sizeof msg, now);
            else
                (void)tsig_absorb_unsigned(&server, msg, n);
        }
        r = xfr_in_feed(&in, msg, n, now);
        CHECK(r == XFR_IN_MORE || r == XFR_IN_DONE || r < 0);
    }
    if (r == XFR_IN_MORE)
        r = xfr_in_eof(&in);
    CHECK(r == XFR_IN_DONE || r < 0);
    CHECK((r == XFR_IN_DONE) == s.ended);
    if (r < 0) {
        CHECK(xfr_in_eof(&in) == r && xfr_in_feed(&in, msg, 0, now) == r);
        CHECK(xfr_in_strerror(r)[0] != '\0');
    } else {
        CHECK(xfr_in_eof(&in) == XFR_IN_DONE);
        CHECK(s.form != XFR_FORM_NONE);
    }
    xfr_in_free(&in);
    return 0;
}
