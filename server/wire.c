/* wire.c: parse a query, write a reply.  See wire.h. */
#include "wire.h"

#include <string.h>

/* A read cursor over the caller's bytes (NSD buffer.h style): every read
 * checks what remains and fails without moving on overrun. */
struct rd {
    const uint8_t *p;
    size_t len, pos;
};

static int rd_u16(struct rd *r, uint16_t *v)
{
    if (r->len - r->pos < 2)
        return -1;
    *v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
    r->pos += 2;
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
    if (r->len - r->pos < 4)
        return -1;
    *v = (uint32_t)r->p[r->pos] << 24 | (uint32_t)r->p[r->pos + 1] << 16 |
         (uint32_t)r->p[r->pos + 2] << 8 | r->p[r->pos + 3];
    r->pos += 4;
    return 0;
}

static int rd_skip(struct rd *r, size_t n)
{
    if (r->len - r->pos < n)
        return -1;
    r->pos += n;
    return 0;
}

/* A question name: plain labels only (no compression pointer, no extended
 * label type), labels <= 63, name <= 255.  Fills Q's label offsets when Q
 * is not NULL.  Bounding the label starts to the first 255 octets bounds
 * the name and keeps every label index inside Q->label. */
static int rd_qname(struct rd *r, struct query *q)
{
    const uint8_t *p = r->p;
    size_t start = r->pos, pos = start;
    size_t lim = r->len - start < DNS_NAME_MAX ? r->len : start + DNS_NAME_MAX;
    unsigned n = 0;

    for (;;) {
        if (pos >= lim)
            return -1;
        uint8_t l = p[pos];
        if (l == 0)
            break;
        if (l > DNS_LABEL_MAX)
            return -1; /* 0x40/0x80: extended types; 0xC0: pointer */
        if (pos + 1 + l >= lim)
            return -1; /* the label, or the name, would run past its bound */
        if (q)
            q->label[n] = (uint8_t)(pos - start);
        n++;
        pos += 1 + (size_t)l;
    }
    r->pos = pos + 1;
    if (q)
        q->nlabels = (uint8_t)n;
    return 0;
}

/* A record's owner name: its content is ignored, so a compression pointer
 * ends it; the pointer must point backwards and is not followed. */
static int rd_owner(struct rd *r, int *root)
{
    size_t start = r->pos;

    *root = r->pos < r->len && r->p[r->pos] == 0;
    for (;;) {
        if (r->pos >= r->len)
            return -1;
        uint8_t l = r->p[r->pos];
        if ((l & 0xC0) == 0xC0) {
            if (r->len - r->pos < 2)
                return -1;
            size_t target = (size_t)(l & 0x3F) << 8 | r->p[r->pos + 1];
            if (target < DNS_HDR || target >= start)
                return -1;
            r->pos += 2;
            return 0;
        }
        if (l > DNS_LABEL_MAX)
            return -1;
        if (l == 0) {
            r->pos++;
            return 0;
        }
        if (r->pos - start + 1 + l + 1 > DNS_NAME_MAX)
            return -1;
        if (rd_skip(r, 1 + (size_t)l) < 0)
            return -1;
    }
}

/* OPT RDATA: options that exactly fill it (RFC 6891 §6.1.2). */
static int opt_options(const uint8_t *p, size_t len, uint8_t *keepalive)
{
    struct rd r = { p, len, 0 };

    while (r.pos < r.len) {
        uint16_t code, olen;
        if (rd_u16(&r, &code) < 0 || rd_u16(&r, &olen) < 0 || rd_skip(&r, olen) < 0)
            return -1;
        if (code == EDNS_O_TCP_KEEPALIVE)
            *keepalive = 1;
    }
    return 0;
}

enum wire_verdict wire_parse(const uint8_t *msg, size_t len, struct query *q)
{
    struct rd r = { msg, len, DNS_HDR };
    uint16_t count[4]; /* QD, AN, NS, AR */
    int form3 = 0, form4 = 0, broken = 0;
    unsigned nopt = 0;

    memset(q, 0, sizeof *q);
    q->msg = msg;
    q->len = len;
    if (len < DNS_HDR || (msg[2] & 0x80))
        return WIRE_DROP;
    for (int i = 0; i < 4; i++)
        count[i] = (uint16_t)(msg[4 + 2 * i] << 8 | msg[5 + 2 * i]);

    /* Walk the whole message, so that even a reply to a bad query can echo
     * its question and carry OPT when it had one. */
    for (unsigned i = 0; i < count[0] && !broken; i++) {
        struct query *qq = i == 0 && count[0] == 1 ? q : NULL;
        uint16_t t, c;
        if (rd_qname(&r, qq) < 0 || rd_u16(&r, &t) < 0 || rd_u16(&r, &c) < 0) {
            broken = 1;
            break;
        }
        if (qq) {
            q->qtype = t;
            q->qclass = c;
            q->qend = (uint16_t)r.pos;
            q->qd_ok = 1;
        }
    }
    if (count[0] != 1 || count[1] != 0)
        form3 = 1;
    if (count[2] != 0 && !(q->qd_ok && q->qtype == DNS_T_IXFR && count[2] == 1))
        form3 = 1;
    for (int s = 1; s < 4 && !broken; s++) {
        for (unsigned i = 0; i < count[s] && !broken; i++) {
            uint16_t t, c, rdlen;
            uint32_t ttl;
            int root;
            if (rd_owner(&r, &root) < 0 || rd_u16(&r, &t) < 0 || rd_u16(&r, &c) < 0 ||
                rd_u32(&r, &ttl) < 0 || rd_u16(&r, &rdlen) < 0 || r.len - r.pos < rdlen) {
                broken = 1;
                break;
            }
            const uint8_t *rdata = r.p + r.pos;
            r.pos += rdlen;
            if (s == 2 && t != DNS_T_SOA)
                form3 = 1; /* the IXFR exception holds an SOA only */
            if (t != DNS_T_OPT)
                continue;
            if (nopt++ == 0) {
                q->has_opt = 1;
                q->udp_size = c;
                q->edns_version = (uint8_t)(ttl >> 16);
                q->edns_do = (ttl & 0x8000) != 0;
            }
            if (nopt > 1 || s != 3 || !root)
                form4 = 1;
            else if (opt_options(rdata, rdlen, &q->keepalive) < 0)
                form4 = 1;
        }
    }
    if (broken || r.pos != r.len)
        form3 = 1; /* truncated, or octets after the last record */

    if ((msg[2] >> 3 & 0xF) != 0)
        return WIRE_NOTIMP;
    if (form3 || form4)
        return WIRE_FORMERR;
    if (q->edns_version > 0)
        return WIRE_BADVERS;
    return WIRE_OK;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, (uint16_t)(v >> 16));
    put_u16(p + 2, (uint16_t)v);
}

/* One record at P; returns its length. */
static size_t put_rr(uint8_t *p, const struct wire_rr *rr, uint32_t serial)
{
    put_u16(p, (uint16_t)(0xC000 | rr->owner));
    put_u16(p + 2, rr->type);
    put_u16(p + 4, DNS_C_IN);
    put_u32(p + 6, rr->ttl);
    put_u16(p + 10, rr->rdlen);
    memcpy(p + 12, rr->rdata, rr->rdlen);
    /* The SOA serial is the only part of a record that is not precomputed:
     * it is the fifth-last 32-bit field of the RDATA. */
    if (rr->type == DNS_T_SOA && rr->rdlen >= 20)
        put_u32(p + 12 + rr->rdlen - 20, serial);
    return 12 + (size_t)rr->rdlen;
}

static size_t opt_len(const struct query *q, const struct wire_reply *r)
{
    if (!q->has_opt)
        return 0;
    return 11 + (r->keepalive ? 6u : 0u);
}

static void put_opt(uint8_t *p, const struct query *q, const struct wire_reply *r)
{
    p[0] = 0; /* owner: the root */
    put_u16(p + 1, DNS_T_OPT);
    put_u16(p + 3, EDNS_UDP_SIZE);
    put_u32(p + 5, (uint32_t)(r->rcode >> 4) << 24 | (q->edns_do ? 0x8000u : 0));
    if (r->keepalive) {
        put_u16(p + 9, 6);
        put_u16(p + 11, EDNS_O_TCP_KEEPALIVE);
        put_u16(p + 13, 2);
        put_u16(p + 15, r->keepalive_100ms);
    } else {
        put_u16(p + 9, 0);
    }
}

/* The size is known before the first octet is written, so every write
 * below is within LIMIT without a check of its own. */
size_t wire_reply(const struct query *q, const struct wire_reply *r, uint8_t *out, size_t limit)
{
    size_t olen = opt_len(q, r);
    size_t qlen = q->qd_ok ? q->qend - DNS_HDR : 0;
    size_t len = DNS_HDR + qlen, body = 0;
    unsigned nrr = (unsigned)r->n_an + r->n_ns;

    if (limit < len + olen)
        return 0;
    for (unsigned i = 0; i < nrr; i++)
        body += 12 + (size_t)r->rr[i].rdlen;
    memcpy(out, q->msg, 2); /* ID */
    out[2] = (uint8_t)(0x80 | (q->msg[2] & 0x79) | (r->aa ? 0x04 : 0));
    out[3] = (uint8_t)((q->msg[3] & 0x10) | (r->rcode & 0xF));
    put_u16(out + 4, q->qd_ok);
    memset(out + 6, 0, 6);
    memcpy(out + DNS_HDR, q->msg + DNS_HDR, qlen);
    if (body <= limit - olen - len) {
        for (unsigned i = 0; i < nrr; i++)
            len += put_rr(out + len, &r->rr[i], r->serial);
        put_u16(out + 6, r->n_an);
        put_u16(out + 8, r->n_ns);
    } else {
        out[2] |= 0x02; /* TC */
    }
    if (q->has_opt) {
        put_u16(out + 10, 1);
        put_opt(out + len, q, r);
        len += olen;
    }
    return len;
}
