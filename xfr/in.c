/* in.c: a follower's reader of one transfer (in.h). */
#include "in.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"

/* Indexed by -code, from XFR_IN_MORE (0) to XFR_IN_EINVAL. */
static const char *const errors[] = {
    "ok",
    "the transfer ended before its closing SOA",
    "TSIG error",
    "the server answered with an error",
    "a message with another ID",
    "not a response to a query",
    "truncated reply",
    "a reply to another question",
    "malformed message",
    "malformed record",
    "records out of a transfer's order",
    "not a whole transfer zone",
    "stopped by the caller",
    "out of memory",
    "invalid argument",
};
_Static_assert(sizeof errors / sizeof errors[0] == 1 - XFR_IN_EINVAL, "one text per code");

const char *xfr_in_strerror(int code)
{
    return code == XFR_IN_DONE ? "complete"
                               : xfr_errtext(errors, sizeof errors / sizeof errors[0], code);
}

static int fail(struct xfr_in *in, int code, int detail)
{
    in->status = code;
    in->detail = detail;
    return code;
}

int xfr_in_start(struct xfr_in *in, const struct xfr_in_query *q, uint8_t *buf, size_t cap,
                 size_t *len, uint64_t now)
{
    struct xfr_out out;
    size_t n;

    memset(in, 0, sizeof *in);
    in->q = *q;
    if (!q->origin || !q->key || !q->fn ||
        (q->qtype != XFR_T_SOA && q->qtype != XFR_T_AXFR && q->qtype != XFR_T_IXFR))
        return fail(in, XFR_IN_EINVAL, 0);
    n = XFR_HDR_LEN + q->origin->len + 4;
    if (cap < n)
        return fail(in, XFR_IN_EINVAL, 0);
    memset(buf, 0, XFR_HDR_LEN);
    put_be16(buf, q->id);
    buf[5] = 1;
    memcpy(buf + XFR_HDR_LEN, q->origin->name, q->origin->len);
    put_be16(buf + n - 4, q->qtype);
    put_be16(buf + n - 2, XFR_C_IN);
    if (q->qtype == XFR_T_IXFR) {
        /* RFC 1995 §3: our version as the authority SOA; only its
         * serial matters to the server. */
        xfr_out_init(&out, q->origin, buf, cap, n, XFR_HDR_LEN);
        if (xfr_put_soa(&out, XFR_NS_DEFAULT, q->serial) != XFR_OK)
            return fail(in, XFR_IN_EINVAL, 0);
        n = out.len;
        buf[9] = 1;
    }
    if (tsig_sign_request(&in->tsig, q->key, buf, &n, cap, now) != TSIG_OK)
        return fail(in, XFR_IN_EINVAL, 0);
    xfr_frame_init(&in->frame, q->qtype, q->serial);
    *len = n;
    return in->status = XFR_IN_MORE;
}

/* Header, question and structure, before the TSIG is checked: *RCODE
 * gets the RCODE with OPT's extended bits. */
static int check_message(struct xfr_in *in, const uint8_t *msg, size_t len, unsigned *rcode)
{
    uint8_t name[XFR_NAME_MAX];
    unsigned qd, an_ns, total;
    size_t at = XFR_HDR_LEN;
    struct xfr_rr rr;
    int n;

    if (len < XFR_HDR_LEN)
        return fail(in, XFR_IN_EWIRE, 0);
    if (get_be16(msg) != in->q.id)
        return fail(in, XFR_IN_EID, 0);
    *rcode = msg[3] & 0xF;
    qd = get_be16(msg + 4);
    /* RFC 5936 §2.2.1: the question in the first message, optional
     * after; an error reply may lack it. */
    if (!(msg[2] & 0x80) || (msg[2] >> 3 & 0xF) != 0 || qd > 1 ||
        (qd == 0 && in->messages == 1 && *rcode == 0))
        return fail(in, XFR_IN_EHEADER, 0);
    if (msg[2] & 0x02)
        return fail(in, XFR_IN_ETC, 0);
    if (qd) {
        n = xfr_name_read(msg, len, at, name, &at);
        if (n < 0 || len - at < 4)
            return fail(in, XFR_IN_EWIRE, 0);
        if (!xfr_name_eq(name, (size_t)n, in->q.origin->name, in->q.origin->len) ||
            get_be16(msg + at) != in->q.qtype || get_be16(msg + at + 2) != XFR_C_IN)
            return fail(in, XFR_IN_EQUESTION, 0);
        at += 4;
    }
    an_ns = (unsigned)get_be16(msg + 6) + get_be16(msg + 8);
    total = an_ns + get_be16(msg + 10);
    for (unsigned i = 0; i < total; i++) {
        if (xfr_rr_read(msg, len, &at, &rr) != 0)
            return fail(in, XFR_IN_EWIRE, 0);
        if (i >= an_ns && rr.type == XFR_T_OPT)
            *rcode |= (rr.ttl >> 24) << 4;
    }
    return at == len ? 0 : fail(in, XFR_IN_EWIRE, 0);
}

static int emit(struct xfr_in *in, struct xfr_in_event *ev, enum xfr_in_ev type)
{
    int r;

    ev->type = type;
    r = in->q.fn(in->q.arg, ev);
    return r ? fail(in, XFR_IN_ECALLBACK, r) : 0;
}

static int add_link(struct xfr_in *in, const struct xfr_obj *o)
{
    struct xfr_in_link *l;

    if (in->nlinks == in->links_cap) {
        size_t cap = in->links_cap ? 2 * in->links_cap : 64;
        if (!(l = realloc(in->links, cap * sizeof *l)))
            return fail(in, XFR_IN_ENOMEM, 0);
        in->links = l;
        in->links_cap = cap;
    }
    l = &in->links[in->nlinks++];
    memcpy(l->alloc, o->member.alloc, sizeof l->alloc);
    memcpy(l->member, o->member.member, sizeof l->member);
    return 0;
}

/* What the whole-zone checks need from an AXFR's data record. */
static int note(struct xfr_in *in, const struct xfr_obj *o)
{
    if (o->kind == XFR_LAYOUT)
        in->seen_layout = 1;
    if (o->kind == XFR_ALLOC && strcmp(o->alloc.alloc, "default") == 0)
        in->seen_default = 1;
    return o->kind == XFR_MEMBER ? add_link(in, o) : 0;
}

/* One parsed answer record through the frame, and its events. */
static int step(struct xfr_in *in)
{
    const struct xfr_obj *o = &in->obj;
    struct xfr_frame before = in->frame;
    struct xfr_in_event ev;
    int is_soa = o->kind == XFR_SOA, data = 0, bits, r = 0;

    bits = xfr_frame_step(&in->frame, is_soa, is_soa ? o->soa.serial : 0);
    if (bits < 0)
        return fail(in, XFR_IN_ECHAIN, bits);
    if (in->records == 1)
        in->soa = o->soa;
    switch (o->kind) {
    case XFR_ZONE:
    case XFR_ALLOC:
    case XFR_MEMBER:
    case XFR_ENTRY:
        data = 1;
        break;
    default:
        break;
    }
    if (in->frame.form == XFR_FORM_AXFR && !is_soa && (r = note(in, o)) != 0)
        return r;
    ev.form = in->frame.form;
    ev.soa = &in->soa;
    ev.obj = o;
    ev.from = before.from;
    ev.to = before.to;
    if ((bits & XFR_F_BEGIN) && (r = emit(in, &ev, XFR_EV_BEGIN)) != 0)
        return r;
    if ((bits & XFR_F_SEQ_END) && (r = emit(in, &ev, XFR_EV_SEQ_END)) != 0)
        return r;
    ev.from = in->frame.from;
    ev.to = in->frame.to;
    if ((bits & XFR_F_SEQ) && (r = emit(in, &ev, XFR_EV_SEQ)) != 0)
        return r;
    if ((bits & XFR_F_ADDS) && (r = emit(in, &ev, XFR_EV_ADDS)) != 0)
        return r;
    if (data && (bits & XFR_F_DEL))
        r = emit(in, &ev, XFR_EV_DEL);
    else if (data && (bits & XFR_F_ADD))
        r = emit(in, &ev, XFR_EV_ADD);
    return r;
}

static int read_answers(struct xfr_in *in, const uint8_t *msg, size_t len)
{
    size_t at = XFR_HDR_LEN;
    unsigned an = get_be16(msg + 6);
    struct xfr_rr rr;
    int r;

    /* check_message has walked it: these reads succeed */
    if (get_be16(msg + 4) && xfr_question_skip(msg, len, &at) != 0)
        return fail(in, XFR_IN_EWIRE, 0);
    for (unsigned i = 0; i < an; i++) {
        in->record = i;
        if (xfr_frame_done(&in->frame))
            return fail(in, XFR_IN_ECHAIN, XFR_FRAME_EAFTER);
        if (xfr_rr_read(msg, len, &at, &rr) != 0)
            return fail(in, XFR_IN_EWIRE, 0);
        if ((r = xfr_parse(in->q.origin, &rr, &in->obj)) != XFR_OK)
            return fail(in, XFR_IN_ERECORD, r);
        in->records++;
        if ((r = step(in)) != 0)
            return r;
    }
    return 0;
}

static int link_cmp(const void *a, const void *b)
{
    const struct xfr_in_link *x = a, *y = b;
    int c = strcmp(x->alloc, y->alloc);

    return c ? c : strcmp(x->member, y->member);
}

static int parent_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct xfr_in_link *)elem)->alloc);
}

/* SPEC §2's rules that only the whole zone shows: an XFR_IN_Z_* code. */
static int zone_check(struct xfr_in *in)
{
    size_t run = 0;

    if (!in->seen_layout)
        return XFR_IN_Z_LAYOUT;
    if (!in->seen_default)
        return XFR_IN_Z_DEFAULT;
    if (in->nlinks == 0)
        return 0;
    qsort(in->links, in->nlinks, sizeof *in->links, link_cmp);
    for (size_t i = 0; i < in->nlinks; i++) {
        const struct xfr_in_link *l = &in->links[i];
        if (i > 0 && strcmp(l[-1].alloc, l->alloc) != 0)
            run = 0;
        if (i == 0 || link_cmp(&l[-1], l) != 0) /* a repeated record counts once */
            run++;
        if (run > XFR_MEMBERS_MAX)
            return XFR_IN_Z_MEMBERS;
        if (bsearch(l->member, in->links, in->nlinks, sizeof *in->links, parent_cmp))
            return XFR_IN_Z_NESTED;
    }
    return 0;
}

/* After the message holding the closing SOA. */
static int complete(struct xfr_in *in)
{
    struct xfr_in_event ev = {.form = in->frame.form, .soa = &in->soa};
    int r;

    if ((r = tsig_verify_end(&in->tsig)) != TSIG_OK)
        return fail(in, XFR_IN_ETSIG, r);
    if (in->frame.form == XFR_FORM_AXFR && (r = zone_check(in)) != 0)
        return fail(in, XFR_IN_EZONE, r);
    if ((r = emit(in, &ev, XFR_EV_END)) != 0)
        return r;
    return in->status = XFR_IN_DONE;
}

int xfr_in_feed(struct xfr_in *in, const uint8_t *msg, size_t len, uint64_t now)
{
    unsigned rcode = 0;
    int r;

    if (in->status == XFR_IN_DONE)
        return fail(in, XFR_IN_ECHAIN, XFR_FRAME_EAFTER);
    if (in->status != XFR_IN_MORE)
        return in->status;
    in->messages++;
    in->record = 0;
    if ((r = check_message(in, msg, len, &rcode)) != 0)
        return r;
    r = tsig_verify_reply(&in->tsig, msg, len, now);
    /* An unauthenticated error reply (an unsigned REFUSED) says more by
     * its RCODE; a TSIG error the peer signalled says more by itself. */
    if (r == TSIG_EPEER || (r != TSIG_OK && rcode == 0))
        return fail(in, XFR_IN_ETSIG, r);
    if (rcode != 0)
        return fail(in, XFR_IN_ERCODE, (int)rcode);
    if ((r = read_answers(in, msg, len)) != 0)
        return r;
    if (xfr_frame_done(&in->frame))
        return complete(in);
    if (in->q.qtype == XFR_T_SOA)
        return fail(in, XFR_IN_ECHAIN, XFR_FRAME_ENOTSOA);
    return XFR_IN_MORE;
}

int xfr_in_eof(struct xfr_in *in)
{
    if (in->status == XFR_IN_MORE)
        return fail(in, XFR_IN_ETRUNCATED, 0);
    return in->status;
}

void xfr_in_free(struct xfr_in *in)
{
    free(in->links);
    in->links = NULL;
    in->nlinks = in->links_cap = 0;
}
