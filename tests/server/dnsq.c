/* dnsq.c: see dnsq.h. */
#include "dnsq.h"

#include <stdio.h>
#include <string.h>

size_t name_wire(const char *name, uint8_t *out)
{
    size_t n = 0;
    const char *p = name;

    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        out[n++] = (uint8_t)l;
        memcpy(out + n, p, l);
        n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    out[n++] = 0;
    return n;
}

void q_bytes(struct q *q, const void *p, size_t n)
{
    if (q->len + n > sizeof q->b)
        n = sizeof q->b - q->len;
    if (n == 0)
        return;
    memcpy(q->b + q->len, p, n);
    q->len += n;
}

void q_u16(struct q *q, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    q_bytes(q, b, 2);
}

void q_u32(struct q *q, uint32_t v)
{
    q_u16(q, (uint16_t)(v >> 16));
    q_u16(q, (uint16_t)v);
}

void q_set_count(struct q *q, int section, uint16_t n)
{
    q->b[4 + 2 * section] = (uint8_t)(n >> 8);
    q->b[5 + 2 * section] = (uint8_t)n;
}

void q_opt(struct q *q, uint16_t size, uint8_t version, int dobit, const uint8_t *rdata,
           uint16_t rdlen)
{
    q_bytes(q, "", 1);
    q_u16(q, 41);
    q_u16(q, size);
    q_u32(q, (uint32_t)version << 16 | (dobit ? 0x8000u : 0));
    q_u16(q, rdlen);
    q_bytes(q, rdata, rdlen);
}

void q_build(struct q *q, const char *name, uint16_t qtype, const struct qopt *o)
{
    static const struct qopt none;
    uint8_t w[300];

    if (!o)
        o = &none;
    memset(q, 0, sizeof *q);
    q_u16(q, o->id ? o->id : 0x1234);
    q_bytes(q, (uint8_t[]){ (uint8_t)(o->opcode << 3 | (o->rd ? 1 : 0)), o->cd ? 0x10 : 0 }, 2);
    q_u16(q, 1);
    q_u16(q, 0);
    q_u16(q, 0);
    q_u16(q, 0);
    q_bytes(q, w, name_wire(name, w));
    q_u16(q, qtype);
    q_u16(q, o->qclass ? o->qclass : 1);
    if (o->edns) {
        static const uint8_t ka[4] = { 0, 11, 0, 0 };
        q_opt(q, o->udp ? o->udp : 1232, o->version, o->dobit, ka, o->keepalive ? 4 : 0);
        q_set_count(q, 3, 1);
    }
}

int read_name(const uint8_t *msg, size_t len, size_t *off, char *out)
{
    size_t pos = *off, o = 0;
    int hops = 0, jumped = 0;

    out[0] = '\0';
    for (;;) {
        if (pos >= len)
            return -1;
        uint8_t l = msg[pos];
        if ((l & 0xC0) == 0xC0) {
            if (pos + 1 >= len || ++hops > 20)
                return -1;
            size_t t = (size_t)(l & 0x3F) << 8 | msg[pos + 1];
            if (!jumped)
                *off = pos + 2;
            jumped = 1;
            if (t >= pos)
                return -1;
            pos = t;
            continue;
        }
        if (l > 63 || pos + 1 + l > len || o + l + 2 > 290)
            return -1;
        if (l == 0) {
            if (!jumped)
                *off = pos + 1;
            if (o == 0)
                strcpy(out, ".");
            return 0;
        }
        for (unsigned i = 0; i < l; i++) {
            uint8_t c = msg[pos + 1 + i];
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        out[o++] = '.';
        out[o] = '\0';
        pos += 1 + l;
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

int reply_parse(const uint8_t *msg, size_t len, struct reply *r)
{
    size_t off = 12;
    char name[300];

    memset(r, 0, sizeof *r);
    r->opt = -1;
    if (len < 12)
        return -1;
    r->id = get16(msg);
    r->flags = get16(msg + 2);
    r->qd = get16(msg + 4);
    r->an = get16(msg + 6);
    r->ns = get16(msg + 8);
    r->ar = get16(msg + 10);
    r->rcode = r->flags & 0xF;
    if (r->qd > 1 || (unsigned)r->an + r->ns + r->ar > 40)
        return -1;
    if (r->qd == 1) {
        if (read_name(msg, len, &off, name) < 0 || off + 4 > len)
            return -1;
        off += 4;
    }
    r->qend = off;
    for (unsigned i = 0; i < (unsigned)r->an + r->ns + r->ar; i++) {
        struct rr *rr = &r->rr[i];
        if (read_name(msg, len, &off, rr->owner) < 0 || off + 10 > len)
            return -1;
        rr->type = get16(msg + off);
        rr->cls = get16(msg + off + 2);
        rr->ttl = (uint32_t)get16(msg + off + 4) << 16 | get16(msg + off + 6);
        rr->rdlen = get16(msg + off + 8);
        off += 10;
        if (off + rr->rdlen > len)
            return -1;
        rr->rdata = msg + off;
        rr->rdata_off = off;
        off += rr->rdlen;
        if (rr->type == 41) {
            if (r->opt >= 0 || i < (unsigned)r->an + r->ns)
                return -1;
            r->opt = (int)i;
            r->rcode |= (uint16_t)((rr->ttl >> 24) << 4);
        }
    }
    return off == len ? 0 : -1;
}
