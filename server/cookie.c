/* cookie.c: SipHash-2-4 and RFC 9018 server cookies.  See cookie.h. */
#include "cookie.h"

#include <string.h>

#include "bytes.h"

static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v = load64(p);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

/* Aumasson and Bernstein's SipHash-2-4, as their reference implementation
 * computes it (checked against its vectors in tests/server/test_cookie.c). */
uint64_t cookie_siphash24(const uint8_t key[COOKIE_SECRET_LEN], const uint8_t *m, size_t len)
{
    const uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
    const uint8_t *end = m + (len & ~(size_t)7);
    uint64_t b = (uint64_t)len << 56;

    for (; m != end; m += 8) {
        uint64_t w = le64(m);
        v3 ^= w;
        SIPROUND;
        SIPROUND;
        v0 ^= w;
    }
    for (unsigned i = 0; i < (len & 7); i++)
        b |= (uint64_t)m[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The hash input: client cookie | version | reserved | timestamp | IP
 * (RFC 9018 §4.4), at most 8 + 8 + 16 octets. */
static uint64_t cookie_hash(const uint8_t *key, const uint8_t *client, const uint8_t *vrt,
                            const uint8_t *ip, size_t iplen)
{
    uint8_t in[COOKIE_CLIENT_LEN + 8 + 16];

    if (iplen > 16)
        iplen = 16;
    memcpy(in, client, COOKIE_CLIENT_LEN);
    memcpy(in + COOKIE_CLIENT_LEN, vrt, 8);
    if (iplen)
        memcpy(in + 16, ip, iplen);
    return cookie_siphash24(key, in, 16 + iplen);
}

void cookie_make(const uint8_t key[COOKIE_SECRET_LEN], const uint8_t *client,
                 const uint8_t *reserved, const uint8_t *ip, size_t iplen, uint32_t now,
                 uint8_t out[COOKIE_SERVER_LEN])
{
    out[0] = 1;
    memcpy(out + 1, reserved, 3);
    put_be32(out + 4, now);
    put_le64(out + 8, cookie_hash(key, client, out, ip, iplen));
}

enum cookie_state cookie_answer(const struct cookie_secrets *s, const uint8_t *opt, size_t len,
                                const uint8_t *ip, size_t iplen, uint32_t now,
                                uint8_t out[COOKIE_REPLY_LEN])
{
    static const uint8_t zero[3] = { 0 };
    enum cookie_state st = len == COOKIE_CLIENT_LEN ? COOKIE_CLIENT_ONLY : COOKIE_BAD;

    memcpy(out, opt, COOKIE_CLIENT_LEN);
    /* Another server's cookie (not version 1, not 16 octets) is not ours:
     * a fresh one replaces it, as after a change of secret. */
    if (len == COOKIE_REPLY_LEN && opt[8] == 1) {
        int32_t age = (int32_t)(now - get_be32(opt + 12)); /* RFC 1982: the clock may wrap */
        if (age <= COOKIE_VALID_S && age >= -COOKIE_FUTURE_S) {
            uint64_t want = le64(opt + 16);
            for (unsigned i = 0; i < s->n; i++) {
                /* Compared whole (no early exit on the first octet that
                 * differs), so timing says nothing of the right hash. */
                if (cookie_hash(s->key[i], opt, opt + 8, ip, iplen) != want)
                    continue;
                if (i == 0 && age <= COOKIE_RENEW_S) {
                    memcpy(out + 8, opt + 8, COOKIE_SERVER_LEN);
                    return COOKIE_VALID;
                }
                st = COOKIE_VALID; /* old, or an old secret's: renewed below */
                break;
            }
        }
    }
    cookie_make(s->key[0], opt, zero, ip, iplen, now, out + 8);
    return st;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int cookie_secrets_parse(struct cookie_secrets *s, const char *text, size_t len, unsigned *badline)
{
    unsigned line = 0;
    size_t pos = 0;

    s->n = 0;
    *badline = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        if (a == b || text[a] == '#')
            continue;
        if (b - a != 2 * COOKIE_SECRET_LEN || s->n == COOKIE_SECRETS_MAX) {
            *badline = s->n == COOKIE_SECRETS_MAX ? 0 : line;
            return -1;
        }
        for (unsigned i = 0; i < COOKIE_SECRET_LEN; i++) {
            int hi = hexval((unsigned char)text[a + 2 * i]);
            int lo = hexval((unsigned char)text[a + 2 * i + 1]);
            if (hi < 0 || lo < 0) {
                *badline = line;
                return -1;
            }
            s->key[s->n][i] = (uint8_t)(hi << 4 | lo);
        }
        s->n++;
    }
    return s->n == 0 ? -1 : 0;
}
