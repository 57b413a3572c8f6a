/* rr.c: names and records on the wire (rr.h). */
#include "rr.h"

#include <string.h>

#include "bytes.h"

int xfr_name_read(const uint8_t *msg, size_t len, size_t off, uint8_t out[XFR_NAME_MAX],
                  size_t *next)
{
    size_t n = 0, at = off, end = 0;
    int jumped = 0;

    for (;;) {
        if (at >= len)
            return -1;
        uint8_t l = msg[at];
        if ((l & 0xC0) == 0xC0) {
            if (at + 1 >= len)
                return -1;
            size_t to = (size_t)(l & 0x3F) << 8 | msg[at + 1];
            /* Backward only: each jump lowers the offset, so this ends. */
            if (to >= at)
                return -1;
            if (!jumped) {
                end = at + 2;
                jumped = 1;
            }
            at = to;
            continue;
        }
        if (l & 0xC0)
            return -1;
        if (at + 1 + l > len || n + 1 + l > XFR_NAME_MAX)
            return -1;
        memcpy(out + n, msg + at, 1u + l);
        n += 1u + l;
        at += 1u + l;
        if (l == 0)
            break;
    }
    *next = jumped ? end : at;
    return (int)n;
}

int xfr_name_from_text(const char *s, size_t n, uint8_t out[XFR_NAME_MAX])
{
    size_t o = 0, start = 0;

    if (n == 1 && s[0] == '.') {
        out[0] = 0;
        return 1;
    }
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n + 2 > XFR_NAME_MAX)
        return -1;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t l = i - start;
            if (l == 0 || l > XFR_LABEL_MAX)
                return -1;
            out[o] = (uint8_t)l;
            for (size_t k = 0; k < l; k++) {
                uint8_t c = xfr_fold((uint8_t)s[start + k]);
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                    return -1;
                out[o + 1 + k] = c;
            }
            o += 1 + l;
            start = i + 1;
        }
    }
    out[o++] = 0;
    return (int)o;
}

int xfr_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (xfr_fold(a[i]) != xfr_fold(b[i]))
            return 0;
    return 1;
}

int xfr_name_under(const uint8_t *name, size_t nlen, const uint8_t *zone, size_t zlen)
{
    size_t at = 0;

    while (at < nlen && nlen - at >= zlen) {
        if (nlen - at == zlen)
            return xfr_name_eq(name + at, zlen, zone, zlen) ? (int)at : -1;
        if (name[at] == 0)
            break;
        at += 1u + name[at];
    }
    return -1;
}

void xfr_name_lower(uint8_t *name, size_t len)
{
    for (size_t i = 0; i < len; i += 1u + name[i]) {
        for (size_t k = 1; k <= name[i] && i + k < len; k++)
            name[i + k] = xfr_fold(name[i + k]);
        if (name[i] == 0)
            break;
    }
}

int xfr_rr_read(const uint8_t *msg, size_t len, size_t *off, struct xfr_rr *rr)
{
    size_t at;
    int n = xfr_name_read(msg, len, *off, rr->owner, &at);

    if (n < 0 || len - at < 10)
        return -1;
    rr->owner_len = (size_t)n;
    rr->type = get_be16(msg + at);
    rr->rclass = get_be16(msg + at + 2);
    rr->ttl = get_be32(msg + at + 4);
    rr->rdlen = get_be16(msg + at + 8);
    rr->rdoff = at + 10;
    if (len - rr->rdoff < rr->rdlen)
        return -1;
    rr->msg = msg;
    rr->msg_len = len;
    *off = rr->rdoff + rr->rdlen;
    return 0;
}

int xfr_question_skip(const uint8_t *msg, size_t len, size_t *off)
{
    uint8_t name[XFR_NAME_MAX];
    size_t at;

    if (xfr_name_read(msg, len, *off, name, &at) < 0 || len - at < 4)
        return -1;
    *off = at + 4;
    return 0;
}
