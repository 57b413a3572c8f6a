/* fuzz_query.c: libFuzzer target for answer_query(), answer_batch() of one
 * query (cf. Knot's tests-fuzz).
 *
 * Every input is answered over UDP and over TCP against a fixed zone table
 * and IP set, and each reply is checked by a reader independent of
 * server/wire.c: it must be well-formed and within SPEC §4's bounds.  Any
 * violation abort()s, which libFuzzer (or main.c under ctest) reports.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "zones.h"

#define FUZZ_NAME "fuzz_query"
#include "fuzz.h"

enum { ACME = 2, CUST = 7, BROKEN = 9 };

/* Listed: a.b.c.7 in acme, 192.0.2.1 in cust, 2001:db8::/32 in acme. */
static int covers(void *ctx, uint32_t alloc, int family, const uint8_t *a)
{
    static const uint8_t v4cust[4] = { 192, 0, 2, 1 };
    (void)ctx;
    if (alloc == BROKEN)
        return -1;
    if (family == 4)
        return alloc == ACME ? a[3] == 7 : alloc == CUST && memcmp(a, v4cust, 4) == 0;
    return alloc == ACME && a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8;
}

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        q[i].result = covers(ctx, q[i].alloc_id, q[i].family, q[i].addr);
}

static void add_zone(struct zonetab *t, const char *name, uint32_t alloc, unsigned n_ns)
{
    struct spfdb_zone z;

    memset(&z, 0, sizeof z);
    snprintf(z.name, sizeof z.name, "%s", name);
    z.alloc_id = alloc;
    z.ttl = 300;
    z.neg_ttl = 60;
    strcpy(z.hostmaster, "dns.admin@esp.example");
    z.n_ns = n_ns;
    for (unsigned i = 0; i < n_ns; i++)
        snprintf(z.ns[i], sizeof z.ns[i], "ns%02u-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.esp.example",
                 i);
    if (zonetab_add_zone(t, &z) != 0)
        abort();
}

static const struct answer_env *fixture(void)
{
    static struct answer_env env;
    static struct zonetab *t;

    if (t)
        return &env;
    t = zonetab_new();
    if (!t)
        abort();
    add_zone(t, "iphmx.example", 0, 2);
    add_zone(t, "spf.customer.example", CUST, 1);
    add_zone(t, "big.example", ACME, 16); /* an NS answer of over 1 KiB */
    if (zonetab_add_alloc(t, "acme", ACME) || zonetab_add_alloc(t, "cust", CUST) ||
        zonetab_add_alloc(t, "broken", BROKEN) || zonetab_add_alloc(t, "default", 1))
        abort();
    env.zones = t;
    env.serial = 1700000000;
    env.covers_many = covers_many;
    env.tcp_idle_100ms = 100;
    return &env;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* A name at *OFF in M[0..LEN): plain labels, or a pointer that ends it and
 * points into the question [12, QEND).  Returns its wire length expanded
 * from *OFF (pointers not followed), or -1. */
static int check_name(const uint8_t *m, size_t len, size_t *off, size_t qend, int allow_ptr)
{
    size_t start = *off;

    for (;;) {
        if (*off >= len)
            return -1;
        uint8_t l = m[*off];
        if ((l & 0xC0) == 0xC0) {
            if (!allow_ptr || *off + 2 > len)
                return -1;
            size_t t = (size_t)(l & 0x3F) << 8 | m[*off + 1];
            if (t < 12 || t >= qend)
                return -1;
            *off += 2;
            return 0;
        }
        if (l > 63 || *off + 1 + l > len || *off - start + 1 + l > 255)
            return -1;
        *off += 1 + (size_t)l;
        if (l == 0)
            return 0;
    }
}

static void check_reply(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen, int tcp)
{
    CHECK(rlen >= 12);
    CHECK(qlen >= 12 && !(q[2] & 0x80));
    CHECK(memcmp(r, q, 2) == 0);                    /* ID */
    CHECK(r[2] & 0x80);                             /* QR */
    CHECK((r[2] & 0x79) == (q[2] & 0x79));          /* opcode, RD */
    CHECK((r[3] & 0x10) == (q[3] & 0x10));          /* CD */
    CHECK((r[3] & 0xE0) == 0);                      /* RA, Z, AD */
    unsigned qd = get16(r + 4), an = get16(r + 6), ns = get16(r + 8), ar = get16(r + 10);
    unsigned rcode = r[3] & 0xF, aa = (r[2] & 0x04) != 0, tc = (r[2] & 0x02) != 0;
    CHECK(qd <= 1 && ar <= 1 && an <= 16 && ns <= 1);
    CHECK(!(an && ns));                             /* one RRset at most */
    CHECK(!tc || an + ns == 0);
    CHECK((q[2] >> 3 & 0xF) == 0 || rcode == 4);    /* NOTIMP for any other opcode */

    size_t off = 12;
    if (qd) {
        CHECK(check_name(r, rlen, &off, 0, 0) == 0);
        off += 4;
        CHECK(off <= rlen && off <= qlen);
        CHECK(memcmp(r + 12, q + 12, off - 12) == 0); /* echoed byte for byte */
    }
    size_t qend = off;
    uint16_t type0 = 0;
    for (unsigned i = 0; i < an + ns + ar; i++) {
        CHECK(check_name(r, rlen, &off, qend, i < an + ns) == 0);
        CHECK(off + 10 <= rlen);
        uint16_t type = get16(r + off), cls = get16(r + off + 2), rdlen = get16(r + off + 8);
        off += 10;
        CHECK(off + rdlen <= rlen);
        size_t rd = off, end = off + rdlen;
        off = end;
        if (i >= an + ns) {                         /* OPT */
            CHECK(type == 41 && r[rd - 11] == 0 && cls == 1232);
            CHECK(r[rd - 6] <= 1 && r[rd - 5] == 0 && (r[rd - 4] & 0x7F) == 0 && r[rd - 3] == 0);
            CHECK(rdlen == 0 || (tcp && rdlen == 6 && get16(r + rd) == 11 && get16(r + rd + 2) == 2));
            rcode |= (unsigned)r[rd - 6] << 4;
            continue;
        }
        CHECK(cls == 1);
        CHECK(i == 0 || type == type0);
        type0 = type;
        if (type == 1) {
            CHECK(an == 1 && rdlen == 4 && memcmp(r + rd, "\x7f\0\0\x02", 4) == 0);
        } else if (type == 2) {
            CHECK(check_name(r, end, &rd, 0, 0) == 0 && rd == end);
        } else {
            CHECK(type == 6 && (an + ns) == 1);
            CHECK(check_name(r, end, &rd, 0, 0) == 0 && check_name(r, end, &rd, 0, 0) == 0);
            CHECK(rd + 20 == end);
        }
    }
    CHECK(off == rlen);                             /* nothing after the last record */
    /* AA exactly on answers from a zone; a negative answer has the SOA. */
    CHECK(aa == (rcode == 0 || rcode == 3));
    CHECK(aa || an + ns == 0);
    CHECK(!aa || tc || an || ns == 1);
    /* SPEC §4 bounds: UDP within 1232, and 512 without OPT; never more
     * than the query's header and question, the largest RRset and OPT. */
    CHECK(tcp || rlen <= 1232);
    CHECK(tcp || ar == 1 || rlen <= 512);
    CHECK(rlen <= qend + 16 * (12 + 61) + 17); /* 16 NS of 61 octets */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[65535], again[65535];
    const struct answer_env *env = fixture();

    for (int tcp = 0; tcp <= 1; tcp++) {
        size_t cap = tcp ? sizeof out : 1232;
        struct answer_info info;
        size_t n = answer_query(env, data, size, out, cap, tcp, &info);
        if (n == 0) {
            CHECK(info.cls == ANSWER_DROP);
            CHECK(size < 12 || (data[2] & 0x80));
            continue;
        }
        CHECK(n <= cap);
        check_reply(data, size, out, n, tcp);
        /* Pure: the same query, the same reply; and a reply is never
         * answered (it has QR set). */
        CHECK(answer_query(env, data, size, again, cap, tcp, NULL) == n);
        CHECK(memcmp(out, again, n) == 0);
        CHECK(answer_query(env, out, n, again, cap, tcp, NULL) == 0);
    }
    return 0;
}
