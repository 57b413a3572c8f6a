/* tsig.c: TSIG hmac-sha256 over caller buffers (tsig.h). */
#include "tsig.h"

#include <string.h>

#include <nettle/memops.h>

#include "bytes.h"

/* "hmac-sha256." in wire form, the one algorithm (RFC 8945 §6). */
static const uint8_t alg_sha256[] = {11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0};
#define ALG_LEN sizeof alg_sha256

/* A TSIG record as read from a message; the pointers point into it. */
struct tsig_rec {
    size_t off; /* where the record starts: the MAC covers msg[0..off) */
    uint8_t name[XFR_NAME_MAX];
    size_t name_len;
    uint8_t alg[XFR_NAME_MAX];
    size_t alg_len;
    uint64_t time;
    uint16_t fudge, mac_len, orig_id, error, other_len;
    const uint8_t *mac, *other;
};

int tsig_key_set(struct tsig_key *key, const char *name, const uint8_t *secret, size_t len)
{
    int n = xfr_name_from_text(name, strlen(name), key->name);

    if (n <= 1 || len == 0)
        return TSIG_EINVAL;
    key->name_len = (uint8_t)n;
    hmac_sha256_set_key(&key->keyed, len, secret);
    return TSIG_OK;
}

int tsig_find(const uint8_t *msg, size_t len, size_t *off)
{
    size_t at = XFR_HDR_LEN, found = 0;
    unsigned qd, total, before_ar;
    struct xfr_rr rr;

    if (len < XFR_HDR_LEN)
        return TSIG_EFORMERR;
    qd = get_be16(msg + 4);
    before_ar = (unsigned)get_be16(msg + 6) + get_be16(msg + 8);
    total = before_ar + get_be16(msg + 10);
    for (unsigned i = 0; i < qd; i++)
        if (xfr_question_skip(msg, len, &at) != 0)
            return TSIG_EFORMERR;
    for (unsigned i = 0; i < total; i++) {
        size_t start = at;
        if (xfr_rr_read(msg, len, &at, &rr) != 0)
            return TSIG_EFORMERR;
        if (rr.type != XFR_T_TSIG)
            continue;
        /* Only the last record, in the additional section, and alone. */
        if (i != total - 1 || i < before_ar)
            return TSIG_EFORMERR;
        found = 1;
        *off = start;
    }
    if (at != len)
        return TSIG_EFORMERR;
    return found ? TSIG_OK : TSIG_EUNSIGNED;
}

/* The TSIG record at OFF, the last one of MSG[0..LEN). */
static int tsig_parse(const uint8_t *msg, size_t len, size_t off, struct tsig_rec *t)
{
    struct xfr_rr rr;
    size_t at = off, next;
    const uint8_t *rd;
    int n;

    if (xfr_rr_read(msg, len, &at, &rr) != 0 || rr.rclass != XFR_C_ANY || rr.ttl != 0)
        return TSIG_EFORMERR;
    t->off = off;
    memcpy(t->name, rr.owner, rr.owner_len);
    t->name_len = rr.owner_len;
    rd = msg + rr.rdoff;
    /* The algorithm name is never compressed: read it from the RDATA
     * alone, and a pointer shows as a name longer than its extent. */
    n = xfr_name_read(rd, rr.rdlen, 0, t->alg, &next);
    if (n < 0 || (size_t)n != next)
        return TSIG_EFORMERR;
    t->alg_len = (size_t)n;
    at = next;
    if (rr.rdlen - at < 10)
        return TSIG_EFORMERR;
    t->time = (uint64_t)get_be16(rd + at) << 32 | get_be32(rd + at + 2);
    t->fudge = get_be16(rd + at + 6);
    t->mac_len = get_be16(rd + at + 8);
    at += 10;
    if (rr.rdlen - at < (size_t)t->mac_len + 6)
        return TSIG_EFORMERR;
    t->mac = rd + at;
    at += t->mac_len;
    t->orig_id = get_be16(rd + at);
    t->error = get_be16(rd + at + 2);
    t->other_len = get_be16(rd + at + 4);
    at += 6;
    if (rr.rdlen - at != t->other_len)
        return TSIG_EFORMERR;
    t->other = rd + at;
    return TSIG_OK;
}

/* What an error reply echoes, kept in CTX from the record just read. */
static void keep_rec(struct tsig_ctx *ctx, const struct tsig_rec *t)
{
    memcpy(ctx->name, t->name, t->name_len);
    ctx->name_len = (uint8_t)t->name_len;
    memcpy(ctx->alg, t->alg, t->alg_len);
    ctx->alg_len = (uint8_t)t->alg_len;
    ctx->time_signed = t->time;
    ctx->fudge = t->fudge;
    ctx->orig_id = t->orig_id;
}

static void put_time(uint8_t *p, uint64_t t)
{
    put_be16(p, (uint16_t)(t >> 32));
    put_be32(p + 2, (uint32_t)t);
}

/* The message part of a MAC: MSG[0..END) with ORIG_ID as its ID and, when
 * STRIP, one fewer additional record (the TSIG itself, RFC 8945 §4.3.2). */
static void mac_message(struct hmac_sha256_ctx *h, const uint8_t *msg, size_t end,
                        uint16_t orig_id, int strip)
{
    uint8_t hdr[XFR_HDR_LEN];

    memcpy(hdr, msg, sizeof hdr);
    put_be16(hdr, orig_id);
    if (strip)
        put_be16(hdr + 10, (uint16_t)(get_be16(msg + 10) - 1));
    hmac_sha256_update(h, sizeof hdr, hdr);
    hmac_sha256_update(h, end - XFR_HDR_LEN, msg + XFR_HDR_LEN);
}

/* The TSIG variables (RFC 8945 §4.3.3) when FULL, else the timers of a
 * stream message (§4.3.1). */
static void mac_vars(struct hmac_sha256_ctx *h, const struct tsig_key *key, uint64_t time,
                     uint16_t fudge, uint16_t error, const uint8_t *other, uint16_t other_len,
                     int full)
{
    uint8_t b[16];

    if (full) {
        static const uint8_t class_ttl[6] = {0, XFR_C_ANY, 0, 0, 0, 0};
        hmac_sha256_update(h, key->name_len, key->name);
        hmac_sha256_update(h, sizeof class_ttl, class_ttl);
        hmac_sha256_update(h, ALG_LEN, alg_sha256);
    }
    put_time(b, time);
    put_be16(b + 6, fudge);
    if (!full) {
        hmac_sha256_update(h, 8, b);
        return;
    }
    put_be16(b + 8, error);
    put_be16(b + 10, other_len);
    hmac_sha256_update(h, 12, b);
    if (other_len)
        hmac_sha256_update(h, other_len, other);
}

/* CTX->run: the keyed HMAC over the MAC the next message must cover. */
static void prime(struct tsig_ctx *ctx, const uint8_t *mac, size_t mac_len)
{
    uint8_t l[2];

    memmove(ctx->mac, mac, mac_len);
    ctx->mac_len = (uint8_t)mac_len;
    ctx->unsigned_run = 0;
    ctx->run = ctx->key->keyed;
    put_be16(l, (uint16_t)mac_len);
    hmac_sha256_update(&ctx->run, 2, l);
    hmac_sha256_update(&ctx->run, mac_len, mac);
}

/* Append a TSIG record to MSG and count it in ARCOUNT. */
static int put_tsig(uint8_t *msg, size_t *len, size_t cap, const uint8_t *owner,
                    size_t owner_len, const uint8_t *alg, size_t alg_len, uint64_t time,
                    uint16_t fudge, const uint8_t *mac, uint16_t mac_len, uint16_t error,
                    const uint8_t *other, uint16_t other_len)
{
    size_t rdlen = alg_len + 16 + (size_t)mac_len + other_len, at = *len;
    uint8_t *p;

    if (at < XFR_HDR_LEN || get_be16(msg + 10) == 0xFFFF)
        return TSIG_EINVAL;
    if (cap < at || cap - at < owner_len + 10 + rdlen)
        return TSIG_ENOSPACE;
    p = msg + at;
    memcpy(p, owner, owner_len);
    p += owner_len;
    put_be16(p, XFR_T_TSIG);
    put_be16(p + 2, XFR_C_ANY);
    put_be32(p + 4, 0);
    put_be16(p + 8, (uint16_t)rdlen);
    p += 10;
    memcpy(p, alg, alg_len);
    p += alg_len;
    put_time(p, time);
    put_be16(p + 6, fudge);
    put_be16(p + 8, mac_len);
    p += 10;
    if (mac_len) /* error replies carry none: MAC may be NULL */
        memcpy(p, mac, mac_len);
    p += mac_len;
    memcpy(p, msg, 2); /* Original ID: this message's own */
    put_be16(p + 2, error);
    put_be16(p + 4, other_len);
    if (other_len)
        memcpy(p + 6, other, other_len);
    put_be16(msg + 10, (uint16_t)(get_be16(msg + 10) + 1));
    *len = at + owner_len + 10 + rdlen;
    return TSIG_OK;
}

/* Sign MSG[0..*len) with H, which already covers the prefix (nothing, or
 * the prior MAC and unsigned messages), and append the record.  The MAC
 * goes to MAC_OUT. */
static int sign_with(struct hmac_sha256_ctx *h, const struct tsig_key *key, uint8_t *msg,
                     size_t *len, size_t cap, uint64_t time, uint16_t fudge, uint16_t error,
                     const uint8_t *other, uint16_t other_len, int full,
                     uint8_t mac_out[TSIG_MAC_LEN])
{
    if (*len < XFR_HDR_LEN)
        return TSIG_EINVAL;
    mac_message(h, msg, *len, get_be16(msg), 0);
    mac_vars(h, key, time, fudge, error, other, other_len, full);
    hmac_sha256_digest(h, TSIG_MAC_LEN, mac_out);
    return put_tsig(msg, len, cap, key->name, key->name_len, alg_sha256, ALG_LEN, time, fudge,
                    mac_out, TSIG_MAC_LEN, error, other, other_len);
}

static int diff_over(uint64_t now, uint64_t t, uint16_t fudge)
{
    return (now > t ? now - t : t - now) > fudge;
}

/* Does T's MAC verify under H (the prefix already fed)?  FULL: the TSIG
 * variables, else the stream timers. */
static int mac_ok(struct hmac_sha256_ctx *h, const struct tsig_key *key, const uint8_t *msg,
                  const struct tsig_rec *t, int full)
{
    uint8_t mac[TSIG_MAC_LEN];

    mac_message(h, msg, t->off, t->orig_id, 1);
    mac_vars(h, key, t->time, t->fudge, t->error, t->other, t->other_len, full);
    hmac_sha256_digest(h, TSIG_MAC_LEN, mac);
    return memeql_sec(mac, t->mac, t->mac_len);
}

static int mac_len_ok(uint16_t n)
{
    return n >= TSIG_MAC_MIN && n <= TSIG_MAC_LEN;
}

int tsig_sign_request(struct tsig_ctx *ctx, const struct tsig_key *key, uint8_t *msg,
                      size_t *len, size_t cap, uint64_t now)
{
    struct hmac_sha256_ctx h = key->keyed;
    uint8_t mac[TSIG_MAC_LEN];
    int r;

    memset(ctx, 0, sizeof *ctx);
    ctx->key = key;
    r = sign_with(&h, key, msg, len, cap, now, TSIG_FUDGE, 0, NULL, 0, 1, mac);
    if (r == TSIG_OK)
        prime(ctx, mac, sizeof mac);
    else
        ctx->key = NULL;
    return ctx->status = r;
}

int tsig_verify_request(struct tsig_ctx *ctx, const struct tsig_key *keys, size_t nkeys,
                        const uint8_t *msg, size_t len, uint64_t now)
{
    struct hmac_sha256_ctx h;
    struct tsig_rec t;
    const struct tsig_key *key = NULL;
    size_t off;
    int r;

    memset(ctx, 0, sizeof *ctx);
    if ((r = tsig_find(msg, len, &off)) != TSIG_OK || (r = tsig_parse(msg, len, off, &t)) != 0)
        return ctx->status = r;
    keep_rec(ctx, &t);
    if (xfr_name_eq(t.alg, t.alg_len, alg_sha256, ALG_LEN))
        for (size_t i = 0; i < nkeys && !key; i++)
            if (xfr_name_eq(t.name, t.name_len, keys[i].name, keys[i].name_len))
                key = &keys[i];
    if (!key)
        return ctx->status = TSIG_EBADKEY;
    if (!mac_len_ok(t.mac_len))
        return ctx->status = TSIG_EFORMERR;
    h = key->keyed;
    if (!mac_ok(&h, key, msg, &t, 1))
        return ctx->status = TSIG_EBADSIG;
    /* Authentic from here on: replies, errors included, are signed with
     * the request's MAC as received (truncated or not, RFC 8945 §5.2.2.1). */
    ctx->key = key;
    prime(ctx, t.mac, t.mac_len);
    if (diff_over(now, t.time, t.fudge))
        return ctx->status = TSIG_EBADTIME;
    if (t.mac_len < TSIG_MAC_LEN)
        return ctx->status = TSIG_EBADTRUNC;
    return ctx->status = TSIG_OK;
}

int tsig_sign_reply(struct tsig_ctx *ctx, uint8_t *msg, size_t *len, size_t cap, uint64_t now)
{
    struct hmac_sha256_ctx h;
    uint8_t mac[TSIG_MAC_LEN];
    int r;

    if (!ctx->key || ctx->status != TSIG_OK)
        return TSIG_EINVAL;
    h = ctx->run;
    r = sign_with(&h, ctx->key, msg, len, cap, now, TSIG_FUDGE, 0, NULL, 0, ctx->replies == 0,
                  mac);
    if (r != TSIG_OK)
        return r;
    prime(ctx, mac, sizeof mac);
    ctx->replies++;
    return TSIG_OK;
}

size_t tsig_reply_space(const struct tsig_ctx *ctx)
{
    /* owner, type class TTL RDLENGTH, algorithm, times, MAC size, MAC,
     * Original ID, Error, Other Len: as put_tsig writes it */
    return ctx->key ? ctx->key->name_len + 10u + ALG_LEN + 10u + TSIG_MAC_LEN + 6u : 0;
}

int tsig_absorb_unsigned(struct tsig_ctx *ctx, const uint8_t *msg, size_t len)
{
    if (!ctx->key || ctx->status != TSIG_OK)
        return TSIG_EINVAL;
    if (ctx->replies == 0 || ctx->unsigned_run >= TSIG_UNSIGNED_MAX)
        return TSIG_EUNSIGNED;
    hmac_sha256_update(&ctx->run, len, msg);
    ctx->unsigned_run++;
    return TSIG_OK;
}

int tsig_sign_error(const struct tsig_ctx *ctx, int err, uint8_t *msg, size_t *len, size_t cap,
                    uint64_t now)
{
    struct hmac_sha256_ctx h;
    uint8_t mac[TSIG_MAC_LEN], other[6];

    switch (err) {
    case TSIG_EBADKEY:
    case TSIG_EBADSIG:
        /* Unsigned (RFC 8945 §5.3.2): the key failed, so nothing it
         * signed could be trusted. */
        if (ctx->name_len == 0 || ctx->alg_len == 0)
            return TSIG_EINVAL;
        return put_tsig(msg, len, cap, ctx->name, ctx->name_len, ctx->alg, ctx->alg_len, now,
                        TSIG_FUDGE, NULL, 0, (uint16_t)tsig_error_code(err), NULL, 0);
    case TSIG_EBADTIME:
        if (!ctx->key)
            return TSIG_EINVAL;
        h = ctx->run;
        put_time(other, now);
        return sign_with(&h, ctx->key, msg, len, cap, ctx->time_signed, ctx->fudge,
                         TSIG_ERR_BADTIME, other, sizeof other, 1, mac);
    case TSIG_EBADTRUNC:
        if (!ctx->key)
            return TSIG_EINVAL;
        h = ctx->run;
        return sign_with(&h, ctx->key, msg, len, cap, now, TSIG_FUDGE, TSIG_ERR_BADTRUNC, NULL,
                         0, 1, mac);
    default:
        return TSIG_EINVAL;
    }
}

int tsig_verify_reply(struct tsig_ctx *ctx, const uint8_t *msg, size_t len, uint64_t now)
{
    struct hmac_sha256_ctx h;
    struct tsig_rec t;
    const struct tsig_key *key = ctx->key;
    size_t off;
    int r;

    if (!key || ctx->status != TSIG_OK)
        return TSIG_EINVAL;
    r = tsig_find(msg, len, &off);
    if (r == TSIG_EUNSIGNED) {
        r = tsig_absorb_unsigned(ctx, msg, len);
        return r == TSIG_OK ? r : (ctx->status = r);
    }
    if (r != TSIG_OK || (r = tsig_parse(msg, len, off, &t)) != TSIG_OK)
        return ctx->status = r;
    keep_rec(ctx, &t);
    if (!xfr_name_eq(t.name, t.name_len, key->name, key->name_len) ||
        !xfr_name_eq(t.alg, t.alg_len, alg_sha256, ALG_LEN))
        return ctx->status = TSIG_EBADKEY;
    if (t.error) {
        ctx->peer_error = t.error;
        ctx->peer_time = 0;
        if (t.other_len == 6)
            ctx->peer_time = (uint64_t)get_be16(t.other) << 32 | get_be32(t.other + 2);
        /* BADKEY and BADSIG come unsigned; so may anything from a peer
         * that could not sign.  Reported, never trusted. */
        if (t.mac_len == 0 || (t.error != TSIG_ERR_BADTIME && t.error != TSIG_ERR_BADTRUNC))
            return ctx->status = TSIG_EPEER;
    }
    if (!mac_len_ok(t.mac_len))
        return ctx->status = TSIG_EFORMERR;
    h = ctx->run;
    if (!mac_ok(&h, key, msg, &t, ctx->replies == 0))
        return ctx->status = TSIG_EBADSIG;
    if (t.error)
        return ctx->status = TSIG_EPEER;
    if (diff_over(now, t.time, t.fudge))
        return ctx->status = TSIG_EBADTIME;
    if (t.mac_len < TSIG_MAC_LEN)
        return ctx->status = TSIG_EBADTRUNC;
    prime(ctx, t.mac, t.mac_len);
    ctx->replies++;
    return TSIG_OK;
}

int tsig_verify_end(const struct tsig_ctx *ctx)
{
    if (ctx->status != TSIG_OK)
        return ctx->status;
    if (!ctx->key)
        return TSIG_EINVAL;
    return ctx->replies == 0 || ctx->unsigned_run ? TSIG_EUNSIGNED : TSIG_OK;
}

int tsig_rcode(int err)
{
    switch (err) {
    case TSIG_EFORMERR:
        return 1;
    case TSIG_EBADKEY:
    case TSIG_EBADSIG:
    case TSIG_EBADTIME:
    case TSIG_EBADTRUNC:
        return 9;
    default:
        return 0;
    }
}

int tsig_error_code(int err)
{
    switch (err) {
    case TSIG_EBADSIG:
        return TSIG_ERR_BADSIG;
    case TSIG_EBADKEY:
        return TSIG_ERR_BADKEY;
    case TSIG_EBADTIME:
        return TSIG_ERR_BADTIME;
    case TSIG_EBADTRUNC:
        return TSIG_ERR_BADTRUNC;
    default:
        return 0;
    }
}

const char *tsig_strerror(int err)
{
    switch (err) {
    case TSIG_OK:
        return "ok";
    case TSIG_EUNSIGNED:
        return "unsigned";
    case TSIG_EFORMERR:
        return "formerr";
    case TSIG_EBADKEY:
        return "badkey";
    case TSIG_EBADSIG:
        return "badsig";
    case TSIG_EBADTIME:
        return "badtime";
    case TSIG_EBADTRUNC:
        return "badtrunc";
    case TSIG_EPEER:
        return "peer error";
    case TSIG_ENOSPACE:
        return "no space";
    case TSIG_EINVAL:
        return "invalid argument";
    default:
        return "unknown error";
    }
}
