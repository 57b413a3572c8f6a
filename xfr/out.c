/* out.c: the messages of a transfer response (out.h). */
#include "out.h"

#include <string.h>

#include "bytes.h"

#define OPT_LEN 11          /* root owner, type, class, TTL, RDLENGTH 0 */
#define EDNS_SIZE 1232      /* as spfdbd announces in every OPT (SPEC §4) */

static uint16_t form_qtype(enum xfr_form form)
{
    switch (form) {
    case XFR_FORM_AXFR:
        return XFR_T_AXFR;
    case XFR_FORM_IXFR:
        return XFR_T_IXFR;
    default:
        return XFR_T_SOA;
    }
}

int xfr_resp_init(struct xfr_resp *r, enum xfr_form form, uint32_t client,
                  const struct xfr_request *req, const struct xfr_origin *origin, const char *ns,
                  struct tsig_ctx *tsig)
{
    uint8_t name[XFR_NAME_MAX];
    size_t next;
    int n;

    memset(r, 0, sizeof *r);
    if (form != XFR_FORM_SOA && form != XFR_FORM_AXFR && form != XFR_FORM_IXFR)
        return XFR_EINVAL;
    /* Owners compress against the echoed QNAME: it must be the origin. */
    n = xfr_name_read(req->question, req->question_len, 0, name, &next);
    if (n < 0 || req->question_len - next != 4 ||
        !xfr_name_eq(name, (size_t)n, origin->name, origin->len) ||
        get_be16(req->question + next + 2) != XFR_C_IN)
        return XFR_EINVAL;
    r->req = req;
    r->origin = origin;
    r->ns = ns;
    r->tsig = tsig;
    r->form = form;
    xfr_frame_init(&r->frame, form_qtype(form), client);
    return XFR_OK;
}

int xfr_resp_begin(struct xfr_resp *r, uint8_t *buf, size_t cap)
{
    const struct xfr_request *q = r->req;
    size_t reserve = (q->edns ? OPT_LEN : 0) + (r->tsig ? tsig_reply_space(r->tsig) : 0);
    size_t len = XFR_HDR_LEN + q->question_len;

    if (r->open || xfr_frame_done(&r->frame))
        return XFR_EINVAL;
    if (cap > XFR_MSG_MAX)
        cap = XFR_MSG_MAX;
    if (cap < len + reserve)
        return XFR_ENOSPACE;
    put_be16(buf, q->id);
    buf[2] = (uint8_t)(0x80 | (q->flags[0] & 0x79) | 0x04); /* QR, opcode, AA, RD */
    buf[3] = (uint8_t)(q->flags[1] & 0x10);                 /* CD, RCODE 0 */
    memset(buf + 4, 0, 8);
    buf[5] = 1;
    memcpy(buf + XFR_HDR_LEN, q->question, q->question_len);
    xfr_out_init(&r->out, r->origin, buf, cap - reserve, len, XFR_HDR_LEN);
    r->buf = buf;
    r->cap = cap;
    r->count = 0;
    r->open = 1;
    return XFR_OK;
}

int xfr_resp_add(struct xfr_resp *r, const struct xfr_obj *o)
{
    struct xfr_frame f = r->frame;
    int is_soa = o->kind == XFR_SOA, e;

    if (!r->open)
        return XFR_EINVAL;
    e = xfr_frame_step(&f, is_soa, is_soa ? o->soa.serial : 0);
    if (e < 0 || (f.form != XFR_FORM_NONE && f.form != r->form))
        return XFR_EORDER;
    e = xfr_put_obj(&r->out, r->ns, o);
    if (e == XFR_ENOSPACE)
        return r->count ? XFR_FULL : XFR_ETOOBIG;
    if (e != XFR_OK)
        return e;
    r->frame = f;
    r->count++;
    return XFR_OK;
}

int xfr_resp_soa(struct xfr_resp *r, uint32_t serial)
{
    struct xfr_obj o;

    o.kind = XFR_SOA;
    o.soa = (struct xfr_soa){serial, XFR_SOA_REFRESH, XFR_SOA_RETRY, XFR_SOA_EXPIRE,
                             XFR_SOA_MINIMUM};
    return xfr_resp_add(r, &o);
}

int xfr_resp_finish(struct xfr_resp *r, uint64_t now, int sign, size_t *len)
{
    uint8_t *p;
    size_t n;
    int e = TSIG_OK;

    if (!r->open)
        return XFR_EINVAL;
    r->open = 0;
    n = r->out.len;
    put_be16(r->buf + 6, (uint16_t)r->count);
    if (r->req->edns) {
        /* begin kept the room: out.cap is CAP less OPT and TSIG */
        p = r->buf + n;
        memset(p, 0, OPT_LEN);
        put_be16(p + 1, XFR_T_OPT);
        put_be16(p + 3, EDNS_SIZE);
        p[7] = r->req->edns_do ? 0x80 : 0;
        put_be16(r->buf + 10, 1);
        n += OPT_LEN;
    }
    if (r->tsig)
        e = sign ? tsig_sign_reply(r->tsig, r->buf, &n, r->cap, now)
                 : tsig_absorb_unsigned(r->tsig, r->buf, n);
    if (e != TSIG_OK)
        return XFR_EINVAL;
    r->messages++;
    *len = n;
    return XFR_OK;
}

int xfr_resp_done(const struct xfr_resp *r)
{
    return xfr_frame_done(&r->frame);
}
