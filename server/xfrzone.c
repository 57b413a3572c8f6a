/* xfrzone.c: the transfer zone's keys and decisions.  See xfrzone.h. */
#include "xfrzone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

enum { DNS_R_NOTAUTH = 9 };

int xfrzone_new(struct xfrzone **out, const char *name, const char *ns, size_t nkeys)
{
    struct xfrzone *x = calloc(1, sizeof *x);

    if (x == NULL || (nkeys && (x->keys = calloc(nkeys, sizeof *x->keys)) == NULL)) {
        free(x);
        return SPFDB_ENOMEM;
    }
    x->cap = nkeys;
    if (xfr_origin_set(&x->origin, name) != XFR_OK || strlen(ns) >= sizeof x->ns) {
        xfrzone_free(x);
        return SPFDB_EINVAL;
    }
    strcpy(x->ns, ns[0] ? ns : XFR_NS_DEFAULT);
    snprintf(x->name, sizeof x->name, "%s", name);
    *out = x;
    return 0;
}

int xfrzone_add_key(struct xfrzone *x, const char *name, const uint8_t *secret, size_t len)
{
    if (x->nkeys == x->cap)
        return SPFDB_EINVAL;
    if (tsig_key_set(&x->keys[x->nkeys], name, secret, len) != TSIG_OK)
        return SPFDB_EINVAL;
    x->nkeys++;
    return 0;
}

void xfrzone_free(struct xfrzone *x)
{
    if (x == NULL)
        return;
    free(x->keys);
    free(x);
}

/* The query name: right after the header, plain labels (wire_parse). */
static int under(const struct xfrzone *x, const struct query *q)
{
    const uint8_t *name = q->msg + DNS_HDR;
    size_t nlen = (size_t)q->qend - 4 - DNS_HDR;

    return xfr_name_under(name, nlen, x->origin.name, x->origin.len);
}

int xfrzone_has(const struct xfrzone *x, const struct query *q)
{
    return q->qd_ok && under(x, q) >= 0;
}

enum xfrzone_act xfrzone_decide(const struct xfrzone *x, const struct query *q, int tcp,
                                int room, uint64_t now, struct tsig_ctx *ctx, int *tsig_err)
{
    int e = tsig_verify_request(ctx, x->keys, x->nkeys, q->msg, q->len, now);
    int apex = under(x, q) == 0;

    *tsig_err = e;
    if (e == TSIG_EUNSIGNED)
        return XFRZ_REFUSED;
    if (e == TSIG_EFORMERR)
        return XFRZ_FORMERR;
    if (e != TSIG_OK)
        return tsig_rcode(e) == DNS_R_NOTAUTH ? XFRZ_NOTAUTH : XFRZ_FORMERR;
    if (!apex)
        return XFRZ_REFUSED_SIGNED;
    switch (q->qtype) {
    case DNS_T_SOA:
        return XFRZ_SOA;
    case DNS_T_IXFR:
        if (!tcp)
            return XFRZ_SOA; /* SPEC §5: over UDP the current SOA alone */
        return room ? XFRZ_TRANSFER : XFRZ_REFUSED_SIGNED;
    case DNS_T_AXFR:
        return tcp && room ? XFRZ_TRANSFER : XFRZ_REFUSED_SIGNED;
    default:
        return XFRZ_REFUSED_SIGNED;
    }
}

uint8_t xfrzone_rcode(enum xfrzone_act act, int tsig_err)
{
    switch (act) {
    case XFRZ_SOA:
    case XFRZ_TRANSFER:
        return DNS_R_NOERROR;
    case XFRZ_FORMERR:
        return DNS_R_FORMERR;
    case XFRZ_NOTAUTH:
        return (uint8_t)tsig_rcode(tsig_err);
    default:
        return DNS_R_REFUSED;
    }
}

void xfrzone_request(const struct xfrzone *x, const struct query *q, struct xfr_request *req,
                     uint32_t *client)
{
    const uint8_t *msg = q->msg;
    size_t off = q->qend;
    unsigned an = get_be16(msg + 6), ns = get_be16(msg + 8);
    struct xfr_rr rr;

    req->id = get_be16(msg);
    req->flags[0] = msg[2];
    req->flags[1] = msg[3];
    req->question = msg + DNS_HDR;
    req->question_len = (size_t)q->qend - DNS_HDR;
    req->edns = q->has_opt;
    req->edns_do = q->edns_do;
    *client = 0;
    /* The IXFR's SOA: its owner the zone, MNAME and RNAME, then SERIAL. */
    for (unsigned i = 0; i < an + ns; i++) {
        if (xfr_rr_read(msg, q->len, &off, &rr) != 0)
            return;
        if (i < an || rr.type != DNS_T_SOA ||
            !xfr_name_eq(rr.owner, rr.owner_len, x->origin.name, x->origin.len))
            continue;
        uint8_t name[XFR_NAME_MAX];
        size_t at = rr.rdoff, end = rr.rdoff + rr.rdlen;
        if (xfr_name_read(msg, end, at, name, &at) < 0 ||
            xfr_name_read(msg, end, at, name, &at) < 0 || end - at != 20)
            return;
        *client = get_be32(msg + at);
    }
}

size_t xfrzone_write(const struct xfrzone *x, const struct query *q, enum xfrzone_act act,
                     struct tsig_ctx *ctx, int tsig_err, uint32_t serial, uint64_t now,
                     uint8_t *out, size_t limit)
{
    struct wire_reply r = { .rcode = xfrzone_rcode(act, tsig_err) };
    size_t len;

    if (act == XFRZ_SOA) {
        struct xfr_request req;
        struct xfr_resp resp;
        uint32_t client;
        xfrzone_request(x, q, &req, &client);
        if (xfr_resp_init(&resp, XFR_FORM_SOA, 0, &req, &x->origin, x->ns, ctx) != XFR_OK ||
            xfr_resp_begin(&resp, out, limit) != XFR_OK || xfr_resp_soa(&resp, serial) != 0 ||
            xfr_resp_finish(&resp, now, 1, &len) != XFR_OK)
            return 0;
        return len;
    }
    len = wire_reply(q, &r, out, limit);
    if (len == 0)
        return 0;
    switch (act) {
    case XFRZ_NOTAUTH:
        if (tsig_sign_error(ctx, tsig_err, out, &len, limit, now) != TSIG_OK)
            return 0;
        break;
    case XFRZ_REFUSED_SIGNED:
        if (tsig_sign_reply(ctx, out, &len, limit, now) != TSIG_OK)
            return 0;
        break;
    default:
        break;
    }
    return len;
}
