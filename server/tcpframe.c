/* tcpframe.c: a TCP connection's input as DNS messages.  See tcpframe.h. */
#include "tcpframe.h"

#include <stdlib.h>
#include <string.h>

enum { FRAME_MINBUF = 1024 }; /* a first allocation's floor: one or two queries */

void tcpframe_init(struct tcpframe *f, size_t max, size_t read)
{
    memset(f, 0, sizeof *f);
    f->max = max;
    f->hold = max + 1 + read;
}

void tcpframe_free(struct tcpframe *f)
{
    free(f->buf);
    f->buf = NULL;
    f->cap = f->off = f->len = 0;
    f->partial = f->took = 0;
}

int tcpframe_feed(struct tcpframe *f, const uint8_t *p, size_t n)
{
    if (n > f->hold - f->len)
        return TCPFRAME_EFULL;
    if (n == 0)
        return 0;
    if (f->cap - f->off - f->len < n) {
        if (f->cap - f->len >= n) {
            /* Room once the taken octets go: slide the rest to the front. */
            memmove(f->buf, f->buf + f->off, f->len);
        } else {
            size_t cap = f->cap ? f->cap * 2 : FRAME_MINBUF;
            if (cap < f->len + n)
                cap = f->len + n;
            if (cap > f->hold)
                cap = f->hold;
            uint8_t *b = malloc(cap);
            if (b == NULL)
                return TCPFRAME_ENOMEM;
            if (f->len > 0)
                memcpy(b, f->buf + f->off, f->len);
            free(f->buf);
            f->buf = b;
            f->cap = cap;
        }
        f->off = 0;
    }
    memcpy(f->buf + f->off + f->len, p, n);
    f->len += n;
    return 0;
}

int tcpframe_next(const struct tcpframe *f, const uint8_t **msg, size_t *len)
{
    if (f->len < 2)
        return TCPFRAME_MORE;
    const uint8_t *h = f->buf + f->off;
    size_t mlen = (size_t)h[0] << 8 | h[1];
    if (mlen == 0 || mlen > f->max)
        return TCPFRAME_EBADLEN;
    if (f->len - 2 < mlen)
        return TCPFRAME_MORE;
    *msg = h + 2;
    *len = mlen;
    return TCPFRAME_MSG;
}

void tcpframe_drop(struct tcpframe *f)
{
    const uint8_t *m;
    size_t mlen;

    if (tcpframe_next(f, &m, &mlen) != TCPFRAME_MSG)
        return; /* nothing complete: a caller's mistake, and harmless */
    f->took = 1;
    f->off += 2 + mlen;
    f->len -= 2 + mlen;
    if (f->len == 0) {
        /* Every octet taken: an idle connection keeps no buffer. */
        free(f->buf);
        f->buf = NULL;
        f->cap = f->off = 0;
    }
}

const uint8_t *tcpframe_held(const struct tcpframe *f, size_t *n)
{
    *n = f->len;
    return f->len > 0 ? f->buf + f->off : NULL;
}

enum tcpframe_timer tcpframe_touch(struct tcpframe *f, int writing)
{
    int took = f->took;

    f->took = 0;
    if (writing) {
        f->partial = 0;
        return TCPFRAME_DEADLINE;
    }
    if (f->len == 0) {
        f->partial = 0;
        return TCPFRAME_IDLE;
    }
    if (f->partial && !took)
        return TCPFRAME_KEEP;
    f->partial = 1;
    return TCPFRAME_DEADLINE;
}
