/* notify.c: the NOTIFY request and the check of its reply.  See notify.h. */
#include "notify.h"

#include <string.h>

#include "bytes.h"

enum {
    F_QR = 0x8000,
    F_AA = 0x0400,
    OPCODE_SHIFT = 11
};

int xfr_notify_build(uint8_t *buf, size_t cap, size_t *len, uint16_t id,
                     const struct xfr_origin *origin, const char *ns, uint32_t serial,
                     const struct tsig_key *key, struct tsig_ctx *ctx, uint64_t now)
{
    struct xfr_out out;
    size_t n;
    int r;

    if (cap > XFR_NOTIFY_MAX)
        cap = XFR_NOTIFY_MAX;
    if (cap < XFR_HDR_LEN + origin->len + 4)
        return XFR_ENOSPACE;
    put_be16(buf, id);
    put_be16(buf + 2, (uint16_t)(XFR_OP_NOTIFY << OPCODE_SHIFT | F_AA));
    put_be16(buf + 4, 1); /* QDCOUNT */
    put_be16(buf + 6, 1); /* ANCOUNT: the SOA */
    put_be16(buf + 8, 0);
    put_be16(buf + 10, 0);
    n = XFR_HDR_LEN;
    memcpy(buf + n, origin->name, origin->len);
    n += origin->len;
    put_be16(buf + n, XFR_T_SOA);
    put_be16(buf + n + 2, XFR_C_IN);
    n += 4;
    /* The SOA's owner points at the question's name. */
    xfr_out_init(&out, origin, buf, cap, n, XFR_HDR_LEN);
    r = xfr_put_soa(&out, ns, serial);
    if (r != XFR_OK)
        return r;
    n = out.len;
    r = tsig_sign_request(ctx, key, buf, &n, cap, now);
    if (r != TSIG_OK)
        return r == TSIG_ENOSPACE ? XFR_ENOSPACE : XFR_EINVAL;
    *len = n;
    return 0;
}

/* The question of a reply, when it has one, must be the request's. */
static int question_ok(const struct xfr_origin *origin, const uint8_t *msg, size_t len)
{
    uint8_t name[XFR_NAME_MAX];
    size_t next;
    unsigned qd = get_be16(msg + 4);
    int n;

    if (qd == 0)
        return 1;
    if (qd != 1)
        return 0;
    n = xfr_name_read(msg, len, XFR_HDR_LEN, name, &next);
    if (n < 0 || next + 4 > len)
        return 0;
    return xfr_name_eq(name, (size_t)n, origin->name, origin->len) &&
           get_be16(msg + next) == XFR_T_SOA && get_be16(msg + next + 2) == XFR_C_IN;
}

int xfr_notify_check(const struct tsig_ctx *ctx, uint16_t id, const struct xfr_origin *origin,
                     const uint8_t *msg, size_t len, uint64_t now, struct xfr_notify_reply *out)
{
    struct tsig_ctx c;
    size_t off;
    unsigned flags;
    int r;

    out->rcode = -1;
    out->tsig = TSIG_EUNSIGNED;
    out->peer_error = 0;
    if (len < XFR_HDR_LEN)
        return XFR_NOTIFY_FOREIGN;
    flags = get_be16(msg + 2);
    if (get_be16(msg) != id || !(flags & F_QR) || (flags >> OPCODE_SHIFT & 0xF) != XFR_OP_NOTIFY)
        return XFR_NOTIFY_FOREIGN;
    /* The whole message must parse (tsig_find walks every record), with
     * the TSIG, if any, last. */
    r = tsig_find(msg, len, &off);
    if (r == TSIG_EFORMERR || !question_ok(origin, msg, len))
        return XFR_NOTIFY_FOREIGN;
    out->rcode = (int)(flags & 0xF);
    if (r == TSIG_EUNSIGNED)
        return XFR_NOTIFY_UNVERIFIED;
    c = *ctx;
    out->tsig = tsig_verify_reply(&c, msg, len, now);
    if (out->tsig == TSIG_EPEER)
        out->peer_error = c.peer_error;
    return out->tsig == TSIG_OK ? XFR_NOTIFY_VERIFIED : XFR_NOTIFY_UNVERIFIED;
}
