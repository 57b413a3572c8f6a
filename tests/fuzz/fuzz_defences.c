/* fuzz_defences.c: libFuzzer target for the per-query defences (SPEC §4
 * "EDNS" DNS Cookies, "Abuse" rate limiting) through answer_batch().
 *
 * Input: one flags octet (bit 0 TCP, bit 1 an IPv6 client, bit 2 rate
 * limiting dry run), the client's last address octet, a signed clock step
 * in seconds (two octets) and one in milliseconds (one octet), then the
 * message.  The limiter's table and the clock persist across inputs, as a
 * worker's do.  Checked on every reply, by a reader independent of
 * server/wire.c: it parses; a COOKIE in it is 24 octets, carries the
 * query's client cookie, and its server cookie is valid for that client
 * now (every cookie we hand out works when it comes back); a UDP reply is
 * at most 1232 octets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "answer.h"
#include "cookie.h"
#include "rrl.h"
#include "zones.h"

#define FUZZ_NAME "fuzz_defences"
#include "fuzz.h"

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    (void)ctx;
    for (unsigned i = 0; i < n; i++)
        q[i].result = q[i].addr[3] == 7;
}

static struct answer_env env;
static struct cookie_secrets sec = { .n = 2, .key = { { 0xe5, 0xe9, 0x73 }, { 0xdd, 0x3b } } };
static struct rrl *limiter[2];

static void fixture(void)
{
    static struct zonetab *t;
    struct spfdb_zone z;

    if (t)
        return;
    t = zonetab_new();
    memset(&z, 0, sizeof z);
    snprintf(z.name, sizeof z.name, "iphmx.example");
    z.ttl = 300;
    z.neg_ttl = 60;
    z.n_ns = 1;
    snprintf(z.ns[0], sizeof z.ns[0], "ns1.esp.example");
    limiter[0] = rrl_new(3, 2, 0, 0x1234567);
    limiter[1] = rrl_new(3, 2, 1, 0x7654321);
    if (!t || zonetab_add_zone(t, &z) || zonetab_add_alloc(t, "acme", 2) || !limiter[0] ||
        !limiter[1])
        abort();
    env = (struct answer_env){ .zones = t, .serial = 1, .covers_many = covers_many,
                               .cookies = &sec, .now = 1800000000u, .now_ms = 1000,
                               .tcp_idle_100ms = 100 };
}

/* Past a name at *OFF (labels, or a pointer that ends it): 0 or -1. */
static int skip_name(const uint8_t *m, size_t len, size_t *off)
{
    for (unsigned hops = 0; hops < 128; hops++) {
        if (*off >= len)
            return -1;
        uint8_t l = m[*off];
        if ((l & 0xC0) == 0xC0) {
            *off += 2;
            return *off <= len ? 0 : -1;
        }
        if (l > 63)
            return -1;
        *off += 1 + (size_t)l;
        if (l == 0)
            return 0;
    }
    return -1;
}

/* The COOKIE option data of message M (NULL: none), *CLEN its length;
 * -1 when M does not parse. */
static int find_cookie(const uint8_t *m, size_t len, const uint8_t **c, size_t *clen)
{
    size_t off = 12;
    unsigned n;

    *c = NULL;
    *clen = 0;
    if (len < 12)
        return -1;
    for (unsigned i = 0; i < (unsigned)(m[4] << 8 | m[5]); i++)
        if (skip_name(m, len, &off) < 0 || (off += 4) > len)
            return -1;
    n = (unsigned)(m[6] << 8 | m[7]) + (unsigned)(m[8] << 8 | m[9]) +
        (unsigned)(m[10] << 8 | m[11]);
    for (unsigned i = 0; i < n; i++) {
        if (skip_name(m, len, &off) < 0 || len - off < 10)
            return -1;
        unsigned type = (unsigned)(m[off] << 8 | m[off + 1]);
        size_t rdlen = (size_t)(m[off + 8] << 8 | m[off + 9]);
        off += 10;
        if (len - off < rdlen)
            return -1;
        for (size_t o = off; type == 41 && o + 4 <= off + rdlen;) {
            size_t ol = (size_t)(m[o + 2] << 8 | m[o + 3]);
            if (o + 4 + ol > off + rdlen)
                return -1;
            if (m[o] == 0 && m[o + 1] == 10 && *c == NULL) {
                *c = m + o + 4;
                *clen = ol;
            }
            o += 4 + ol;
        }
        off += rdlen;
    }
    return off == len ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[65535];
    struct sockaddr_in v4 = { .sin_family = AF_INET };
    struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

    fixture();
    if (size < 5)
        return 0;
    int tcp = data[0] & 1, six = data[0] >> 1 & 1;
    v4.sin_addr.s_addr = htonl(0xC6336400u | data[1]);
    memcpy(&v6.sin6_addr, (const uint8_t[16]){ 0x20, 1, 0xd, 0xb8, [15] = 1 }, 16);
    v6.sin6_addr.s6_addr[15] = data[1];
    env.now += (uint32_t)(int16_t)(data[2] << 8 | data[3]);
    env.now_ms += data[4];
    env.rrl = tcp ? NULL : limiter[data[0] >> 2 & 1];
    const struct sockaddr *peer = six ? (const struct sockaddr *)&v6 : (const struct sockaddr *)&v4;
    const uint8_t *q = data + 5;
    size_t qlen = size - 5, cap = tcp ? sizeof out : 1232;

    struct answer_msg m = { .q = q, .qlen = qlen, .out = out, .cap = cap, .peer = peer };
    answer_batch(&env, tcp ? ANSWER_TCP : ANSWER_UDP, &m, 1);
    if (m.len == 0)
        return 0;
    CHECK(m.len <= cap);
    CHECK(tcp || m.len <= 1232);
    CHECK(out[0] == q[0] && out[1] == q[1] && (out[2] & 0x80));
    const uint8_t *c, *qc;
    size_t clen, qclen;
    CHECK(find_cookie(out, m.len, &c, &clen) == 0);
    if (c == NULL)
        return 0;
    CHECK(clen == COOKIE_REPLY_LEN);
    CHECK(m.info.cookie != COOKIE_NONE);
    if (find_cookie(q, qlen, &qc, &qclen) == 0 && qc != NULL)
        CHECK(memcmp(qc, c, COOKIE_CLIENT_LEN) == 0);
    uint8_t again[COOKIE_REPLY_LEN];
    const uint8_t *ip = six ? v6.sin6_addr.s6_addr : (const uint8_t *)&v4.sin_addr;
    CHECK(cookie_answer(&sec, c, clen, ip, six ? 16 : 4, env.now, again) == COOKIE_VALID);
    return 0;
}
