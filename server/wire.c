/* wire.c: parse a query, write a reply.  See wire.h. */
#include "wire.h"

#include <string.h>

#include "bytes.h"

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
    *v = get_be16(r->p + r->pos);
    r->pos += 2;
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
 * label type), labels <= 63, name <= 255.  Fills LABEL with the label
 * offsets.  Bounding the label starts to the first 255 octets bounds the
 * name and keeps every label index inside struct query's label[]. */
static int rd_qname(struct rd *r, uint8_t *label, unsigned *nlabels)
{
    /* Eight one-octet labels in a row, as in an IPv6 name, are taken in
     * one step (one_octet_labels, twice), and the eight offsets are stored
     * as one word (no carries: they stay below 255). */
    static const uint8_t ramp[8] = { 0, 2, 4, 6, 8, 10, 12, 14 };
    const uint8_t *p = r->p + r->pos;
    size_t lim = r->len - r->pos < DNS_NAME_MAX ? r->len - r->pos : DNS_NAME_MAX;
    size_t pos = 0, next;
    unsigned n = 0;

    if (lim == 0)
        return -1;
    for (;; pos = next) {
        unsigned l = p[pos];
        next = pos + 1 + l;
        if (l - 1u >= DNS_LABEL_MAX) {
            if (l == 0)
                break;
            return -1; /* 0x40/0x80: extended types; 0xC0: pointer */
        }
        if (l == 1 && pos + 16 < lim &&
            (one_octet_labels(p + pos) | one_octet_labels(p + pos + 8)) == 0) {
            uint64_t offs = pos * 0x0101010101010101ull + load64(ramp);
            memcpy(label + n, &offs, sizeof offs);
            n += 8;
            next = pos + 16;
            continue;
        }
        if (next >= lim)
            return -1; /* the label, or the name, would run past its bound */
        label[n++] = (uint8_t)pos;
    }
    r->pos += pos + 1;
    *nlabels = n;
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

/* OPT RDATA P[0..LEN), at offset OFF of the message: options that exactly
 * fill it (RFC 6891 §6.1.2).  A COOKIE of 8 octets (client cookie) or 16
 * to 40 (and a server cookie of 8 to 32) is kept, the first one only;
 * any other length is malformed (RFC 7873 §5.2.2). */
static int opt_options(const uint8_t *p, size_t len, size_t off, struct query *q)
{
    struct rd r = { p, len, 0 };

    while (r.pos < r.len) {
        uint16_t code, olen;
        if (rd_u16(&r, &code) < 0 || rd_u16(&r, &olen) < 0 || rd_skip(&r, olen) < 0)
            return -1;
        if (code == EDNS_O_TCP_KEEPALIVE) {
            q->keepalive = 1;
        } else if (code == EDNS_O_COOKIE) {
            if (olen < 8 || (olen > 8 && olen < 16) || olen > 40)
                return -1;
            if (q->cookie_len == 0) {
                q->cookie_len = (uint8_t)olen;
                q->cookie_off = (uint16_t)(off + r.pos - olen);
            }
        }
    }
    return 0;
}

/* The answer, authority and additional sections (COUNT[1..3] records):
 * -1 when they do not parse, else 0 with *FORM3 and *FORM4 set when a
 * record breaks rule 3 or 4.  Apart from the common query, so that the
 * common query's path stays small. */
static int rd_records(struct rd *r, const uint16_t *count, struct query *q, int *form3,
                      int *form4)
{
    unsigned nopt = 0;

    for (int s = 1; s < 4; s++) {
        for (unsigned i = 0; i < count[s]; i++) {
            int root;
            if (rd_owner(r, &root) < 0 || r->len - r->pos < 10)
                return -1;
            const uint8_t *f = r->p + r->pos; /* TYPE, CLASS, TTL, RDLENGTH */
            uint16_t t = get_be16(f), c = get_be16(f + 2), rdlen = get_be16(f + 8);
            uint32_t ttl = get_be32(f + 4);
            r->pos += 10;
            if (r->len - r->pos < rdlen)
                return -1;
            const uint8_t *rdata = r->p + r->pos;
            r->pos += rdlen;
            if (s == 2 && t != DNS_T_SOA)
                *form3 = 1; /* the IXFR exception holds an SOA only */
            if (t != DNS_T_OPT)
                continue;
            if (nopt++ == 0) {
                q->has_opt = 1;
                q->udp_size = c;
                q->edns_version = (uint8_t)(ttl >> 16);
                q->edns_do = (ttl & 0x8000) != 0;
            }
            if (nopt > 1 || s != 3 || !root)
                *form4 = 1;
            else if (opt_options(rdata, rdlen, (size_t)(rdata - r->p), q) < 0)
                *form4 = 1;
        }
    }
    return 0;
}

enum wire_verdict wire_parse(const uint8_t *msg, size_t len, struct query *q)
{
    struct rd r = { msg, len, DNS_HDR };
    int form3, form4 = 0, broken = 0;

    q->msg = msg;
    q->len = len;
    q->qd_ok = 0;
    q->has_opt = q->edns_do = q->keepalive = q->edns_version = q->cookie_len = 0;
    q->udp_size = 0;
    if (len < DNS_HDR || (msg[2] & 0x80))
        return WIRE_DROP;
    unsigned qd = get_be16(msg + 4);
    /* -, AN, NS, AR */
    uint16_t count[4] = { 0, get_be16(msg + 6), get_be16(msg + 8), get_be16(msg + 10) };

    /* Walk the whole message, so that even a reply to a bad query can echo
     * its question and carry OPT when it had one. */
    for (unsigned i = 0; i < qd; i++) {
        unsigned n; /* a second question's labels overwrite the first's */
        if (rd_qname(&r, q->label, &n) < 0 || r.len - r.pos < 4) {
            broken = 1;
            break;
        }
        if (qd == 1) {
            q->nlabels = (uint8_t)n;
            q->qtype = get_be16(msg + r.pos);
            q->qclass = get_be16(msg + r.pos + 2);
            q->qend = (uint16_t)(r.pos + 4);
            q->qd_ok = 1;
        }
        r.pos += 4;
    }
    form3 = qd != 1 || count[1] != 0;
    if (count[2] != 0 && !(q->qd_ok && q->qtype == DNS_T_IXFR && count[2] == 1))
        form3 = 1;
    if (!broken && (count[1] | count[2] | count[3]) &&
        rd_records(&r, count, q, &form3, &form4) < 0)
        broken = 1;
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

/* The size is known before the first octet is written, so every write
 * below is within LIMIT without a check of its own. */
size_t wire_reply(const struct query *q, const struct wire_reply *r, uint8_t *out, size_t limit)
{
    size_t olen = q->has_opt ? 11u + (r->keepalive ? 6u : 0u) + (r->cookie ? 28u : 0u) : 0;
    size_t len = q->qd_ok ? q->qend : DNS_HDR;

    if (limit < len + olen)
        return 0;
    memcpy(out, q->msg, len); /* ID, then the question as received */
    out[2] = (uint8_t)(0x80 | (q->msg[2] & 0x79) | (r->aa ? 0x04 : 0));
    out[3] = (uint8_t)((q->msg[3] & 0x10) | (r->rcode & 0xF));
    memset(out + 4, 0, 8); /* the counts: each below 256 */
    out[5] = q->qd_ok;
    out[11] = q->has_opt;
    if (!r->tc && r->rrs_len <= limit - olen - len) {
        if (r->rrs_len)
            memcpy(out + len, r->rrs, r->rrs_len);
        if (r->soa) {
            put_be16(out + len, (uint16_t)(0xC000 | r->soa_owner));
            put_be32(out + len + r->rrs_len - 20, r->serial);
        }
        len += r->rrs_len;
        out[7] = r->n_an;
        out[9] = r->n_ns;
    } else {
        out[2] |= 0x02; /* TC */
    }
    if (q->has_opt) {
        static const uint8_t opt[11] = { 0, 0, DNS_T_OPT, EDNS_UDP_SIZE >> 8,
                                         EDNS_UDP_SIZE & 0xFF };
        uint8_t *p = out + len;
        memcpy(p, opt, sizeof opt); /* owner the root, no flags, no options */
        p[5] = (uint8_t)(r->rcode >> 4);
        p[7] = q->edns_do ? 0x80 : 0;
        uint8_t *o = p + 11;
        if (r->cookie) {
            put_be16(o, EDNS_O_COOKIE);
            put_be16(o + 2, 24);
            memcpy(o + 4, r->cookie, 24);
            o += 28;
        }
        if (r->keepalive) {
            put_be16(o, EDNS_O_TCP_KEEPALIVE);
            put_be16(o + 2, 2);
            put_be16(o + 4, r->keepalive_100ms);
        }
        put_be16(p + 9, (uint16_t)(olen - 11));
        len += olen;
    }
    return len;
}
