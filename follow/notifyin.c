/* notifyin.c: a received NOTIFY, read and answered (notifyin.h). */
#include "notifyin.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

enum { OP_NOTIFY = 4, RC_FORMERR = 1, RC_NOTIMP = 4, RC_REFUSED = 5, RC_NOTAUTH = 9 };

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Which primary FROM's address is, or -1. */
static int from_primary(const struct notify_cfg *cfg, const struct sockaddr *from)
{
    uint8_t addr[16];
    int fam;

    if (from->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)from)->sin_addr, 4);
        fam = 4;
    } else if (from->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)from)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            memcpy(addr, a + 12, 4);
            fam = 4;
        } else {
            memcpy(addr, a, 16);
            fam = 6;
        }
    } else {
        return -1;
    }
    for (unsigned i = 0; i < cfg->n; i++)
        if (cfg->primaries[i].family == fam &&
            memcmp(cfg->primaries[i].addr, addr, fam == 4 ? 4 : 16) == 0)
            return (int)i;
    return -1;
}

/* The reply: header and the question (MSG[12..QEND)), RCODE. */
static int reply(const uint8_t *msg, size_t qend, int rcode, uint8_t *out, size_t cap,
                 size_t *outlen)
{
    if (qend > cap)
        return -1;
    memcpy(out, msg, qend);
    out[2] = (uint8_t)((msg[2] & 0x79) | 0x80 | (rcode == 0 ? 0x04 : 0)); /* QR, opcode, AA, RD */
    out[3] = (uint8_t)(rcode & 0xF);
    out[4] = 0;
    out[5] = qend > 12 ? 1 : 0;
    memset(out + 6, 0, 6);
    *outlen = qend;
    return 0;
}

static int refuse(struct notify_verdict *v, int verdict, const char *why)
{
    snprintf(v->why, sizeof v->why, "%s", why);
    return verdict;
}

int notify_handle(const struct notify_cfg *cfg, const struct sockaddr *from, const uint8_t *msg,
                  size_t len, uint8_t *out, size_t cap, size_t *outlen, uint64_t now,
                  struct notify_verdict *v)
{
    uint8_t name[XFR_NAME_MAX];
    struct tsig_ctx ctx;
    size_t at = XFR_HDR_LEN, qend, end;
    unsigned an, ns, ar;
    struct xfr_rr rr;
    int n, rc, who;

    memset(v, 0, sizeof *v);
    *outlen = 0;
    v->primary = -1;
    if (len < XFR_HDR_LEN || (msg[2] & 0x80))
        return refuse(v, NOTIFY_DROP, len < XFR_HDR_LEN ? "shorter than a header" : "a response");
    if ((msg[2] >> 3 & 0xF) != OP_NOTIFY) {
        reply(msg, XFR_HDR_LEN, RC_NOTIMP, out, cap, outlen);
        return refuse(v, NOTIFY_REFUSED, "not a NOTIFY");
    }
    if (be16(msg + 4) != 1) {
        reply(msg, XFR_HDR_LEN, RC_FORMERR, out, cap, outlen);
        return refuse(v, NOTIFY_REFUSED, "not one question");
    }
    n = xfr_name_read(msg, len, at, name, &at);
    /* a pointer in the first name can only point into the header, which
     * the reply changes: the reply would copy a name that reads otherwise */
    if (n < 0 || at != XFR_HDR_LEN + (size_t)n || len - at < 4) {
        reply(msg, XFR_HDR_LEN, RC_FORMERR, out, cap, outlen);
        return refuse(v, NOTIFY_REFUSED, "malformed question");
    }
    qend = at + 4;
    if (!xfr_name_eq(name, (size_t)n, cfg->origin->name, cfg->origin->len) ||
        be16(msg + at) != XFR_T_SOA || be16(msg + at + 2) != XFR_C_IN) {
        reply(msg, qend, RC_NOTAUTH, out, cap, outlen);
        return refuse(v, NOTIFY_REFUSED, "not for the transfer zone's SOA");
    }
    /* the whole message parses; an answer SOA of the zone carries the serial */
    an = be16(msg + 6);
    ns = be16(msg + 8);
    ar = be16(msg + 10);
    end = qend;
    for (unsigned i = 0; i < an + ns + ar; i++) {
        if (xfr_rr_read(msg, len, &end, &rr) != 0) {
            reply(msg, qend, RC_FORMERR, out, cap, outlen);
            return refuse(v, NOTIFY_REFUSED, "malformed record");
        }
        if (i < an && rr.type == XFR_T_SOA &&
            xfr_name_eq(rr.owner, rr.owner_len, cfg->origin->name, cfg->origin->len)) {
            size_t p = rr.rdoff;
            uint8_t skip[XFR_NAME_MAX];
            if (xfr_name_read(msg, len, p, skip, &p) < 0 ||
                xfr_name_read(msg, len, p, skip, &p) < 0 || p + 20 > rr.rdoff + rr.rdlen) {
                reply(msg, qend, RC_FORMERR, out, cap, outlen);
                return refuse(v, NOTIFY_REFUSED, "malformed SOA");
            }
            v->has_serial = 1;
            v->serial = be32(msg + p);
        }
    }
    if (end != len) {
        reply(msg, qend, RC_FORMERR, out, cap, outlen);
        return refuse(v, NOTIFY_REFUSED, "octets after the last record");
    }
    who = from_primary(cfg, from);
    if (who < 0) {
        reply(msg, qend, RC_REFUSED, out, cap, outlen);
        return refuse(v, NOTIFY_REFUSED, "not from a primary's address");
    }
    rc = tsig_verify_request(&ctx, cfg->key, 1, msg, len, now);
    if (rc == TSIG_EUNSIGNED) {
        reply(msg, qend, RC_REFUSED, out, cap, outlen);
        return refuse(v, NOTIFY_REFUSED, "unsigned");
    }
    if (rc != TSIG_OK) {
        char why[80];
        reply(msg, qend, tsig_rcode(rc) ? tsig_rcode(rc) : RC_NOTAUTH, out, cap, outlen);
        if (tsig_error_code(rc))
            (void)tsig_sign_error(&ctx, rc, out, outlen, cap, now);
        snprintf(why, sizeof why, "TSIG: %s", tsig_strerror(rc));
        return refuse(v, NOTIFY_REFUSED, why);
    }
    reply(msg, qend, 0, out, cap, outlen);
    if (tsig_sign_reply(&ctx, out, outlen, cap, now) != TSIG_OK) {
        *outlen = 0;
        return refuse(v, NOTIFY_DROP, "the reply could not be signed");
    }
    v->primary = who;
    return NOTIFY_ACCEPT;
}
