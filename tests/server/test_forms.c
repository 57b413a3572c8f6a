/* test_forms.c: the `_ip` and `_spf` publication forms (SPEC §4 "Names",
 * "Answers", "The `_spf` chain"), byte-level through answer_query(), and
 * the chain builder (server/spfchain.c) against oracles.
 *
 * Fixture: provider zone iphmx.example (allocations acme, big, broken) and
 * delegated zone spf.customer.example (allocation cust).  Listed: acme:
 * 198.51.100.7, 2001:db8::1, 203.0.113.9 (so also ::ffff:203.0.113.9);
 * cust: 192.0.2.1.  Lookups in "broken" fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "answer.h"
#include "dnsq.h"
#include "spfchain.h"
#include "zones.h"

enum { ACME = 2, CUST = 7, BROKEN = 9, BIG = 11, EMPTY = 12 };

static struct zonetab *tab;
static struct answer_env env;
static unsigned lookups, batches, chain_calls;
static struct spfcache *cache;

static int listed(uint32_t alloc, int family, const uint8_t *a)
{
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    if (family == 4 && alloc == ACME)
        return memcmp(a, (uint8_t[]){ 198, 51, 100, 7 }, 4) == 0 ||
               memcmp(a, (uint8_t[]){ 203, 0, 113, 9 }, 4) == 0;
    if (family == 4 && alloc == CUST)
        return memcmp(a, (uint8_t[]){ 192, 0, 2, 1 }, 4) == 0;
    if (family == 6 && alloc == ACME)
        return memcmp(a, v6, 16) == 0 || a[0] == 0x30; /* and 3000::/8 */
    return 0;
}

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    (void)ctx;
    batches++;
    for (unsigned i = 0; i < n; i++) {
        lookups++;
        q[i].result = q[i].alloc_id == BROKEN ? -5 : listed(q[i].alloc_id, q[i].family, q[i].addr);
    }
}

static void pfx(struct spfdb_prefix *p, const char *text)
{
    unsigned notes;
    assert_int_equal(spfdb_prefix_parse(text, strlen(text), p, &notes, NULL, 0), 0);
}

/* The allocation's maximal entries, as the view walks them. */
static void fill_set(uint32_t alloc, struct spfchain_set *s)
{
    static const char *const acme[] = { "192.0.2.0/25", "192.0.2.128/25", "198.51.100.7",
                                        "2001:db8::/48", "2001:db8:1::/48" };
    struct spfdb_prefix p;

    spfchain_set_init(s);
    if (alloc == ACME)
        for (unsigned i = 0; i < 5; i++) {
            pfx(&p, acme[i]);
            spfchain_set_add(s, &p);
        }
    if (alloc == BIG)
        for (unsigned i = 0; i < 200; i++) { /* 200 disjoint /32s: falls back */
            memset(&p, 0, sizeof p);
            p.family = 4;
            p.len = 32;
            p.addr[0] = 10;
            p.addr[3] = (uint8_t)(2 * i);
            if (spfchain_set_add(s, &p))
                break;
        }
    spfchain_set_end(s);
}

/* env.spf_chain, with the server's cache and builder. */
static int spf_chain(void *ctx, const struct zone *z, uint32_t alloc, const uint8_t *parent,
                     unsigned leaf, const uint8_t **rr, uint16_t *len)
{
    (void)ctx;
    chain_calls++;
    if (alloc == BROKEN)
        return -5;
    const struct spfchain *c = spfcache_get(cache, z, alloc);
    if (!c) {
        char text[256], base[260];
        size_t o = 0;
        for (const uint8_t *w = parent; *w; w += 1 + *w) {
            if (o)
                text[o++] = '.';
            for (unsigned i = 1; i <= *w; i++)
                text[o++] = (char)(w[i] | 0x20);
        }
        text[o] = 0;
        snprintf(base, sizeof base, "%s%s", z->alloc_id ? "" : "spf.", text);
        struct spfchain *s = spfcache_slot(cache, z, alloc);
        fill_set(alloc, spfcache_set(cache));
        assert_int_equal(spfchain_render(spfcache_set(cache), text, base, z->neg_ttl, s), 0);
        spfcache_commit(cache, s);
        c = s;
    }
    *rr = c->rr[leaf];
    *len = c->len[leaf];
    return 0;
}

static void zone(const char *name, uint32_t alloc)
{
    struct spfdb_zone z;

    memset(&z, 0, sizeof z);
    snprintf(z.name, sizeof z.name, "%s", name);
    z.alloc_id = alloc;
    z.ttl = 300;
    z.neg_ttl = 60;
    z.n_ns = 2;
    snprintf(z.ns[0], sizeof z.ns[0], "ns1.esp.example");
    snprintf(z.ns[1], sizeof z.ns[1], "ns2.esp.example");
    assert_int_equal(zonetab_add_zone(tab, &z), 0);
}

static int setup(void **state)
{
    (void)state;
    tab = zonetab_new();
    cache = spfcache_new(8);
    if (!tab || !cache)
        return -1;
    zone("iphmx.example", 0);
    zone("spf.customer.example", CUST);
    assert_int_equal(zonetab_add_alloc(tab, "acme", ACME), 0);
    assert_int_equal(zonetab_add_alloc(tab, "cust", CUST), 0);
    assert_int_equal(zonetab_add_alloc(tab, "broken", BROKEN), 0);
    assert_int_equal(zonetab_add_alloc(tab, "big", BIG), 0);
    assert_int_equal(zonetab_add_alloc(tab, "empty", EMPTY), 0);
    env.zones = tab;
    env.serial = 1700000000;
    env.covers_many = covers_many;
    env.spf_chain = spf_chain;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zonetab_free(tab);
    spfcache_free(cache);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static uint8_t out[65535];
static struct answer_info info;
static size_t out_len;

static void ask_q(const struct q *q, struct reply *r)
{
    out_len = answer_query(&env, q->b, q->len, out, 1232, ANSWER_UDP, &info);
    assert_true(out_len > 0);
    assert_int_equal(reply_parse(out, out_len, r), 0);
    assert_int_equal(r->flags & 0x00E0, 0);
    /* the question, byte for byte */
    assert_true(r->qend <= q->len);
    assert_memory_equal(out + 12, q->b + 12, r->qend - 12);
}

static void ask(const char *name, uint16_t qtype, struct reply *r)
{
    struct q q;
    q_build(&q, name, qtype, NULL);
    ask_q(&q, r);
}

/* One TXT record, one string (or STRINGS), whose text is WANT, with TTL. */
static void assert_txt(const struct reply *r, const char *want, uint32_t ttl)
{
    char text[600];
    size_t o = 0;
    assert_int_equal(r->rcode, 0);
    assert_true(r->flags & 0x0400);
    assert_int_equal(r->an, 1);
    assert_int_equal(r->ns, 0);
    assert_int_equal(r->rr[0].type, 16);
    assert_int_equal(r->rr[0].cls, 1);
    assert_int_equal(r->rr[0].ttl, ttl);
    for (size_t p = 0; p < r->rr[0].rdlen; p += 1 + r->rr[0].rdata[p]) {
        assert_true(p + 1 + r->rr[0].rdata[p] <= r->rr[0].rdlen);
        memcpy(text + o, r->rr[0].rdata + p + 1, r->rr[0].rdata[p]);
        o += r->rr[0].rdata[p];
    }
    text[o] = 0;
    assert_string_equal(text, want);
}

static void assert_negative(const struct reply *r, int rcode, const char *apex)
{
    assert_int_equal(r->rcode, rcode);
    assert_true(r->flags & 0x0400);
    assert_int_equal(r->an, 0);
    assert_int_equal(r->ns, 1);
    assert_int_equal(r->rr[0].type, 6);
    assert_int_equal(r->rr[0].ttl, 60);
    assert_string_equal(r->rr[0].owner, apex);
}

#define IP "_ip.acme.iphmx.example"
#define DIP "_ip.spf.customer.example"
#define V6 "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1"
#define V6X "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2"
#define MAPPED "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.f.f.c.b.0.0.7.1.0.9"

/* ---- `_ip` --------------------------------------------------------------- */

static void test_ip_listed_v4_bytes(void **state)
{
    struct reply r;
    struct q q;
    (void)state;
    q_build(&q, "198.51.100.7." IP, 16, NULL);
    ask_q(&q, &r);
    assert_txt(&r, "v=spf1 ip4:198.51.100.7 ~all", 300);
    assert_int_equal(info.cls, ANSWER_LISTED);
    /* Byte-exact: the question, then C00C TXT IN 300, one string. */
    static const char text[] = "v=spf1 ip4:198.51.100.7 ~all";
    uint8_t want[512];
    size_t n = q.len;
    memcpy(want, q.b, q.len);
    want[2] = 0x84;
    want[3] = 0;
    want[7] = 1;
    memcpy(want + n, (uint8_t[]){ 0xC0, 12, 0, 16, 0, 1, 0, 0, 1, 44, 0, sizeof text }, 12);
    n += 12;
    want[n++] = sizeof text - 1;
    memcpy(want + n, text, sizeof text - 1);
    n += sizeof text - 1;
    assert_int_equal(out_len, n);
    assert_memory_equal(out, want, n);
}

static void test_ip_listed_v6_and_mapped(void **state)
{
    struct reply r;
    (void)state;
    ask(V6 "." IP, 16, &r);
    assert_txt(&r, "v=spf1 ip6:2001:db8::1 ~all", 300);
    /* an IPv4-mapped name gets both readings of the sender */
    ask(MAPPED "." IP, 16, &r);
    assert_txt(&r, "v=spf1 ip4:203.0.113.9 ip6:::ffff:cb00:7109 ~all", 300);
    ask("203.0.113.9." IP, 255, &r); /* ANY: the TXT (RFC 8482 §4.1) */
    assert_txt(&r, "v=spf1 ip4:203.0.113.9 ~all", 300);
}

/* Listed IPv6 names of every zero-run shape: the ip6: term is the address
 * in RFC 5952 form, as spfdb_prefix_format writes it. */
static void test_ip_v6_text_oracle(void **state)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    (void)state;
    for (unsigned round = 0; round < 3000; round++) {
        struct spfdb_prefix p = { .family = 6, .len = 128 };
        char name[200], want[100], fmt[SPFDB_PREFIX_STRLEN];
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.addr[0] = 0x30;
        for (unsigned g = 0; g < 8; g++) { /* each group zero, small or full, at random */
            unsigned kind = (unsigned)(x >> (3 * g)) % 4, v = (unsigned)(x >> (5 * g + 20));
            uint16_t val = kind < 2 ? 0 : kind == 2 ? (uint16_t)(v & 0xF) : (uint16_t)v;
            if (g == 0)
                val = (uint16_t)(0x3000 | (val & 0xFF));
            p.addr[2 * g] = (uint8_t)(val >> 8);
            p.addr[2 * g + 1] = (uint8_t)val;
        }
        size_t o = 0;
        for (unsigned i = 0; i < 16; i++)
            o += (size_t)sprintf(name + o, "%x.%x.", p.addr[i] >> 4, p.addr[i] & 0xF);
        strcpy(name + o, IP);
        spfdb_prefix_format(&p, fmt, sizeof fmt);
        fmt[strlen(fmt) - 4] = 0;
        snprintf(want, sizeof want, "v=spf1 ip6:%s ~all", fmt);
        struct reply r;
        ask(name, 16, &r);
        assert_txt(&r, want, 300);
    }
}

static void test_ip_unlisted_is_never_void(void **state)
{
    static const char *const names[] = { "198.51.100.8." IP, V6X "." IP, "8.8.8.8." IP,
                                          "255.255.255.255." IP, "0.0.0.0." IP };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < 5; i++) {
        ask(names[i], 16, &r);
        assert_txt(&r, "v=spf1 ~all", 60); /* the negative TTL */
        assert_int_equal(info.cls, ANSWER_UNLISTED);
    }
}

static void test_ip_tails(void **state)
{
    /* Tails and `_ip` itself: TXT "v=spf1 ~all" (a cut name lands here);
     * NODATA for other types (minimising resolvers ask A or NS); never a
     * lookup: a tail's answer does not depend on the data. */
    static const char *const tails[] = { IP, "198." IP, "198.51.100." IP, "2.0.0." IP,
                                         "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." IP };
    static const uint16_t other[] = { 1, 2, 28, 6, 99 };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < 5; i++) {
        unsigned before = lookups;
        ask(tails[i], 16, &r);
        assert_txt(&r, "v=spf1 ~all", 60);
        for (unsigned t = 0; t < 5; t++) {
            ask(tails[i], other[t], &r);
            assert_negative(&r, 0, "iphmx.example.");
        }
        assert_int_equal(lookups, before);
    }
}

static void test_ip_other_types_nodata(void **state)
{
    static const uint16_t types[] = { 1, 2, 6, 28, 99, 43 };
    struct reply r;
    (void)state;
    unsigned before = lookups;
    for (unsigned t = 0; t < 6; t++) {
        ask("198.51.100.7." IP, types[t], &r);
        assert_negative(&r, 0, "iphmx.example.");
        ask(V6X "." IP, types[t], &r);
        assert_negative(&r, 0, "iphmx.example.");
    }
    assert_int_equal(lookups, before); /* NODATA either way: no lookup */
}

static void test_ip_absent(void **state)
{
    static const char *const absent[] = { "01.51.100.7." IP,   "256.51.100.7." IP,
                                          "x." IP,             "1.2.3.4.55." IP,
                                          "0a.0.0.1." IP,      "1._ip._ip.acme.iphmx.example",
                                          "1.2.3.4._ip.nope.iphmx.example",
                                          "1.2.3.4._ip.x.acme.iphmx.example" };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        ask(absent[i], 16, &r);
        assert_negative(&r, 3, "iphmx.example.");
    }
}

static void test_ip_delegated_and_case(void **state)
{
    struct reply r;
    (void)state;
    ask("192.0.2.1." DIP, 16, &r);
    assert_txt(&r, "v=spf1 ip4:192.0.2.1 ~all", 300);
    ask("192.0.2.1._IP.SPF.Customer.Example", 16, &r); /* 0x20: echoed, matched */
    assert_txt(&r, "v=spf1 ip4:192.0.2.1 ~all", 300);
    assert_string_equal(r.rr[0].owner, "192.0.2.1._ip.spf.customer.example.");
    ask("192.0.2.2." DIP, 16, &r);
    assert_txt(&r, "v=spf1 ~all", 60);
    ask(DIP, 16, &r);
    assert_txt(&r, "v=spf1 ~all", 60);
    ask("192.0.2.1." DIP, 1, &r);
    assert_negative(&r, 0, "spf.customer.example.");
    /* the exists: form is untouched beside it */
    ask("192.0.2.1.spf.customer.example", 1, &r);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.rr[0].type, 1);
}

static void test_ip_servfail(void **state)
{
    struct reply r;
    (void)state;
    ask("192.0.2.1._ip.broken.iphmx.example", 16, &r);
    assert_int_equal(r.rcode, 2);
    assert_int_equal(info.cls, ANSWER_SERVFAIL);
    /* a tail does not read the database: no SERVFAIL */
    ask("192._ip.broken.iphmx.example", 16, &r);
    assert_txt(&r, "v=spf1 ~all", 60);
}

static void test_ip_batch_shares_the_lookup(void **state)
{
    /* exists: and _ip names of one batch: one covers_many call for all. */
    struct q q[4];
    struct answer_msg m[4];
    static uint8_t o[4][1232];
    const char *names[4] = { "198.51.100.7.spf.acme.iphmx.example", "198.51.100.7." IP,
                             "198.51.100.8." IP, V6 "." IP };
    (void)state;
    for (unsigned i = 0; i < 4; i++) {
        q_build(&q[i], names[i], i == 0 ? 1 : 16, NULL);
        m[i].q = q[i].b;
        m[i].qlen = q[i].len;
        m[i].out = o[i];
        m[i].cap = sizeof o[i];
    }
    unsigned before = lookups, calls = batches;
    answer_batch(&env, ANSWER_UDP, m, 4);
    assert_int_equal(lookups - before, 4);
    assert_int_equal(batches - calls, 1);
    for (unsigned i = 0; i < 4; i++) {
        struct reply r;
        assert_int_equal(reply_parse(o[i], m[i].len, &r), 0);
        assert_int_equal(r.an, 1);
    }
}

/* ---- `_spf` ---------------------------------------------------------------- */

static void test_spf_top_and_leaves(void **state)
{
    struct reply r;
    (void)state;
    ask("_spf.acme.iphmx.example", 16, &r);
    assert_txt(&r, "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 ip6:2001:db8::/47 ~all", 60);
    for (unsigned k = 1; k <= 3; k++) {
        char n[64];
        snprintf(n, sizeof n, "%u._spf.acme.iphmx.example", k);
        ask(n, 16, &r);
        assert_txt(&r, "v=spf1 ~all", 60); /* unused leaves exist */
        ask(n, 1, &r);
        assert_negative(&r, 0, "iphmx.example.");
    }
    ask("_SPF.Acme.iphmx.example", 255, &r);
    assert_txt(&r, "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.7 ip6:2001:db8::/47 ~all", 60);
    ask("_spf.cust.iphmx.example", 16, &r);
    assert_txt(&r, "v=spf1 ~all", 60); /* empty in this fixture */
    ask("_spf.spf.customer.example", 16, &r);
    assert_txt(&r, "v=spf1 ~all", 60);
}

static void test_spf_fallback(void **state)
{
    struct reply r;
    (void)state;
    ask("_spf.big.iphmx.example", 16, &r);
    assert_txt(&r, "v=spf1 exists:%{i}.spf.big.iphmx.example ~all", 60);
    ask("3._spf.big.iphmx.example", 16, &r);
    assert_txt(&r, "v=spf1 ~all", 60);
}

static void test_spf_names(void **state)
{
    static const char *const absent[] = { "0._spf.acme.iphmx.example", "4._spf.acme.iphmx.example",
                                          "11._spf.acme.iphmx.example",
                                          "x.1._spf.acme.iphmx.example",
                                          "a._spf.acme.iphmx.example", "_spf.nope.iphmx.example",
                                          "9._spf.spf.customer.example" };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        ask(absent[i], 16, &r);
        assert_int_equal(r.rcode, 3);
    }
    unsigned before = chain_calls;
    ask("_spf.acme.iphmx.example", 1, &r);
    assert_negative(&r, 0, "iphmx.example.");
    ask("2._spf.acme.iphmx.example", 28, &r);
    assert_negative(&r, 0, "iphmx.example.");
    assert_int_equal(chain_calls, before);
    ask("_spf.broken.iphmx.example", 16, &r);
    assert_int_equal(r.rcode, 2);
}

/* ---- the chain builder against oracles ---------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* The fewest CIDRs covering the set BITS over [0, 2^BITS_LOG), counted on
 * the binary trie: a full node is one CIDR, an empty one none. */
static unsigned trie_count(const uint8_t *bits, unsigned lo, unsigned size, int *full)
{
    if (size == 1) {
        *full = bits[lo];
        return bits[lo];
    }
    int fl, fr;
    unsigned l = trie_count(bits, lo, size / 2, &fl), r = trie_count(bits, lo + size / 2, size / 2, &fr);
    *full = fl && fr;
    return *full ? 1 : l + r;
}

static int cmp_prefix(const void *a, const void *b)
{
    return spfdb_prefix_cmp(a, b);
}

/* Random IPv4 sets in 10.0.0.0/20 (4096 addresses): every address in and
 * around each CIDR agrees with the set, no two CIDRs overlap, and the count
 * is the trie's minimum. */
static void test_chain_oracle_v4(void **state)
{
    static uint8_t bits[4096], got[4096];
    (void)state;
    for (unsigned round = 0; round < 300; round++) {
        struct spfdb_prefix in[40];
        unsigned n = rnd() % 40;
        memset(bits, 0, sizeof bits);
        for (unsigned i = 0; i < n; i++) {
            unsigned len = 20 + rnd() % 13, a = rnd() % 4096;
            a &= ~((1u << (32 - len)) - 1) & 4095;
            memset(&in[i], 0, sizeof in[i]);
            in[i].family = 4;
            in[i].len = (uint8_t)len;
            in[i].addr[0] = 10;
            in[i].addr[2] = (uint8_t)(a >> 8);
            in[i].addr[3] = (uint8_t)a;
            for (unsigned k = 0; k < 1u << (32 - len); k++)
                bits[a + k] = 1;
        }
        qsort(in, n, sizeof in[0], cmp_prefix); /* as a walk gives them */
        struct spfchain_set s;
        spfchain_set_init(&s);
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(spfchain_set_add(&s, &in[i]), 0);
        spfchain_set_end(&s);
        int full;
        unsigned want = trie_count(bits, 0, 4096, &full);
        assert_int_equal(s.n, want);
        memset(got, 0, sizeof got);
        for (unsigned i = 0; i < s.n; i++) {
            const struct spfdb_prefix *c = &s.cidr[i];
            assert_int_equal(c->family, 4);
            assert_true(spfdb_prefix_valid(c));
            unsigned a = (unsigned)(c->addr[2] << 8 | c->addr[3]), size = 1u << (32 - c->len);
            assert_true(i == 0 || spfdb_prefix_cmp(&s.cidr[i - 1], c) < 0);
            /* at and just outside each edge */
            assert_true(bits[a] && bits[a + size - 1]);
            /* just below: outside the set, or in an earlier CIDR */
            if (a > 0)
                assert_true(!bits[a - 1] || got[a - 1]);
            /* just above: outside the set, or where the next CIDR starts */
            if (a + size < 4096 && bits[a + size])
                assert_true(i + 1 < s.n &&
                            (unsigned)(s.cidr[i + 1].addr[2] << 8 | s.cidr[i + 1].addr[3]) == a + size);
            for (unsigned k = 0; k < size; k++) {
                assert_false(got[a + k]); /* disjoint */
                got[a + k] = 1;
            }
        }
        assert_memory_equal(got, bits, sizeof bits);
    }
}

static int v6_in(const struct spfdb_prefix *p, const uint8_t *a)
{
    struct spfdb_prefix q = { .family = 6, .len = 128 };
    memcpy(q.addr, a, 16);
    return spfdb_prefix_contains(p, &q);
}

static void add128(uint8_t *a, int d)
{
    for (int i = 15; i >= 0; i--) {
        int v = a[i] + d;
        a[i] = (uint8_t)v;
        if (v >= 0 && v <= 255)
            break;
    }
}

/* Random IPv6 sets (nested, touching, apart): each CIDR's first and last
 * address are in the set, the addresses just outside are not unless
 * another CIDR holds them, and every input edge is covered. */
static void test_chain_oracle_v6(void **state)
{
    (void)state;
    for (unsigned round = 0; round < 300; round++) {
        struct spfdb_prefix in[24];
        unsigned n = 1 + rnd() % 24;
        for (unsigned i = 0; i < n; i++) {
            memset(&in[i], 0, sizeof in[i]);
            in[i].family = 6;
            in[i].len = (uint8_t)(120 + rnd() % 9);
            in[i].addr[0] = 0x20;
            in[i].addr[1] = 0x01;
            in[i].addr[2] = 0x0d;
            in[i].addr[3] = 0xb8;
            in[i].addr[15] = (uint8_t)rnd();
            in[i].addr[14] = (uint8_t)(rnd() % 2);
            unsigned host = 128 - in[i].len;
            in[i].addr[15] &= (uint8_t)(0xFF << host);
        }
        qsort(in, n, sizeof in[0], cmp_prefix);
        struct spfchain_set s;
        spfchain_set_init(&s);
        for (unsigned i = 0; i < n; i++)
            spfchain_set_add(&s, &in[i]);
        spfchain_set_end(&s);
        assert_false(s.over);
        for (unsigned i = 0; i < s.n; i++) {
            uint8_t e[4][16];
            const struct spfdb_prefix *c = &s.cidr[i];
            assert_true(spfdb_prefix_valid(c));
            memcpy(e[0], c->addr, 16);
            memcpy(e[1], c->addr, 16);
            for (unsigned b = c->len; b < 128; b++)
                e[1][b / 8] |= (uint8_t)(0x80 >> (b % 8));
            memcpy(e[2], e[0], 16);
            add128(e[2], -1);
            memcpy(e[3], e[1], 16);
            add128(e[3], 1);
            for (unsigned k = 0; k < 4; k++) {
                int in_set = 0, in_cover = 0;
                for (unsigned j = 0; j < n; j++)
                    in_set |= v6_in(&in[j], e[k]);
                for (unsigned j = 0; j < s.n; j++)
                    in_cover |= v6_in(&s.cidr[j], e[k]);
                assert_int_equal(in_set, in_cover);
                if (k < 2)
                    assert_true(in_set);
            }
        }
        for (unsigned j = 0; j < n; j++) { /* every input is covered */
            int c = 0;
            for (unsigned i = 0; i < s.n; i++)
                c |= spfdb_prefix_contains(&s.cidr[i], &in[j]);
            assert_true(c);
        }
    }
}

static void test_chain_edges(void **state)
{
    struct spfchain_set s;
    struct spfdb_prefix p;
    (void)state;
    /* the whole space, in both families, and the last address */
    spfchain_set_init(&s);
    pfx(&p, "0.0.0.0/1");
    spfchain_set_add(&s, &p);
    pfx(&p, "128.0.0.0/1");
    spfchain_set_add(&s, &p);
    pfx(&p, "::/1");
    spfchain_set_add(&s, &p);
    pfx(&p, "8000::/1");
    spfchain_set_add(&s, &p);
    spfchain_set_end(&s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.cidr[0].len, 0);
    assert_int_equal(s.cidr[1].len, 0);
    spfchain_set_init(&s);
    pfx(&p, "255.255.255.254");
    spfchain_set_add(&s, &p);
    pfx(&p, "255.255.255.255");
    spfchain_set_add(&s, &p);
    spfchain_set_end(&s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.cidr[0].len, 31);
    /* out of order is refused */
    spfchain_set_init(&s);
    pfx(&p, "2001:db8::/32");
    spfchain_set_add(&s, &p);
    pfx(&p, "192.0.2.0/24");
    assert_int_equal(spfchain_set_add(&s, &p), -1);
    assert_true(s.over);
}

/* N disjoint /32s from 10.0.0.0 (never adjacent), rendered. */
static void chain_of(unsigned n, const char *parent, const char *base, struct spfchain *c)
{
    struct spfchain_set s;
    spfchain_set_init(&s);
    for (unsigned i = 0; i < n; i++) {
        struct spfdb_prefix p = { .family = 4, .len = 32, .addr = { 10, (uint8_t)(i >> 7), 0,
                                                                     (uint8_t)(2 * (i & 127)) } };
        spfchain_set_add(&s, &p);
    }
    spfchain_set_end(&s);
    assert_int_equal(spfchain_render(&s, parent, base, 60, c), 0);
}

/* Every record: text <= 450, strings <= 255 each ending in a space but
 * the last, and the reply with the question and an OPT with a COOKIE
 * within 512 octets.  Returns how many terms the chain holds. */
static unsigned check_chain(const struct spfchain *c, const char *parent)
{
    unsigned terms = 0;
    for (unsigned i = 0; i <= 3; i++) {
        char text[600];
        size_t owner = (i ? 7 : 5) + strlen(parent) + 2;
        assert_true(c->len[i] >= 13);
        assert_true(12 + owner + 4 + c->len[i] + 39 <= 512);
        size_t rdlen = (size_t)(c->rr[i][10] << 8 | c->rr[i][11]), sum = 0;
        assert_int_equal(rdlen + 12, c->len[i]);
        for (size_t p = 12; p < c->len[i]; p += 1 + c->rr[i][p]) {
            size_t l = c->rr[i][p];
            sum += l;
            if (p + 1 + l < c->len[i])
                assert_int_equal(c->rr[i][p + l], ' ');
        }
        assert_true(sum <= 450);
        spfchain_text(c, i, text, sizeof text);
        assert_int_equal(strlen(text), sum);
        assert_int_equal(c->text_len[i], sum);
        assert_memory_equal(text, "v=spf1 ", 7);
        assert_string_equal(text + strlen(text) - 5, " ~all");
        for (char *t = strstr(text, "ip4:"); t; t = strstr(t + 1, "ip4:"))
            terms++;
    }
    return terms;
}

static void test_chain_sizes(void **state)
{
    static struct spfchain c;
    const char *parent = "acme.iphmx.example", *base = "spf.acme.iphmx.example";
    unsigned k_seen[5] = { 0 };
    (void)state;
    for (unsigned n = 0; n <= 160; n++) {
        chain_of(n, parent, base, &c);
        unsigned terms = check_chain(&c, parent);
        if (c.fallback) {
            char text[600];
            spfchain_text(&c, 0, text, sizeof text);
            assert_string_equal(text, "v=spf1 exists:%{i}.spf.acme.iphmx.example ~all");
            k_seen[4]++;
            continue;
        }
        assert_int_equal(terms, n);
        k_seen[c.k]++;
        /* K is the least that works: one leaf fewer would not hold them */
        if (c.k > 0) {
            char top[600], inc[64];
            spfchain_text(&c, 0, top, sizeof top);
            snprintf(inc, sizeof inc, "include:%u._spf.%s", c.k, parent);
            assert_non_null(strstr(top, inc));
        }
    }
    for (unsigned k = 0; k < 5; k++)
        assert_true(k_seen[k] > 0); /* 0, 1, 2, 3 leaves and the fallback all occur */
    /* the fallback once the set is over the cap, whatever its size */
    chain_of(1000, parent, base, &c);
    assert_true(c.fallback);
}

static void test_chain_long_names(void **state)
{
    /* A 120-character provider zone and a 63-character allocation: the
     * 512-octet rule binds before 450. */
    static struct spfchain c;
    char zone[200], parent[300], base[310];
    (void)state;
    memset(zone, 'z', 120);
    for (unsigned i = 60; i < 120; i += 61)
        zone[i] = '.';
    zone[120] = 0;
    snprintf(parent, sizeof parent, "%.63s.%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             zone);
    snprintf(base, sizeof base, "spf.%s", parent);
    for (unsigned n = 0; n <= 60; n += 3) {
        chain_of(n, parent, base, &c);
        check_chain(&c, parent);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_listed_v4_bytes),
        cmocka_unit_test(test_ip_listed_v6_and_mapped),
        cmocka_unit_test(test_ip_v6_text_oracle),
        cmocka_unit_test(test_ip_unlisted_is_never_void),
        cmocka_unit_test(test_ip_tails),
        cmocka_unit_test(test_ip_other_types_nodata),
        cmocka_unit_test(test_ip_absent),
        cmocka_unit_test(test_ip_delegated_and_case),
        cmocka_unit_test(test_ip_servfail),
        cmocka_unit_test(test_ip_batch_shares_the_lookup),
        cmocka_unit_test(test_spf_top_and_leaves),
        cmocka_unit_test(test_spf_fallback),
        cmocka_unit_test(test_spf_names),
        cmocka_unit_test(test_chain_oracle_v4),
        cmocka_unit_test(test_chain_oracle_v6),
        cmocka_unit_test(test_chain_edges),
        cmocka_unit_test(test_chain_sizes),
        cmocka_unit_test(test_chain_long_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
