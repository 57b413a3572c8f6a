/* test_answer.c: answer_batch() against SPEC §4, row by row, byte-level,
 * mostly through answer_query() (a batch of one).
 *
 * Fixture: provider zone iphmx.example (allocations acme, default, broken)
 * and delegated zone spf.customer.example (allocation cust).  Listed:
 * acme: 198.51.100.7, 8.8.8.8, 2001:db8::1; cust: 192.0.2.1.  Every
 * lookup in "broken" fails like an unreadable database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "answer.h"
#include "dnsq.h"
#include "zones.h"

enum { ACME = 2, DEFAULT = 1, CUST = 7, BROKEN = 9, SERIAL = 1700000000 };

static struct zonetab *tab;
static struct answer_env env;
static unsigned covers_calls, many_calls;

static int covers(void *ctx, uint32_t alloc, int family, const uint8_t *a)
{
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    (void)ctx;
    covers_calls++;
    if (alloc == BROKEN)
        return -5;
    if (family == 4 && alloc == ACME)
        return memcmp(a, (uint8_t[]){ 198, 51, 100, 7 }, 4) == 0 ||
               memcmp(a, (uint8_t[]){ 8, 8, 8, 8 }, 4) == 0;
    if (family == 4 && alloc == CUST)
        return memcmp(a, (uint8_t[]){ 192, 0, 2, 1 }, 4) == 0;
    if (family == 6 && alloc == ACME)
        return memcmp(a, v6, 16) == 0;
    return 0;
}

/* env.covers_many: every lookup of a batch, at once. */
static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    many_calls++;
    assert_true(n >= 1 && n <= SPFDB_MANY_MAX);
    for (unsigned i = 0; i < n; i++)
        q[i].result = covers(ctx, q[i].alloc_id, q[i].family, q[i].addr);
}

static void zone(const char *name, uint32_t alloc, const char *hostmaster, unsigned n_ns,
                 const char *const *ns)
{
    struct spfdb_zone z;

    memset(&z, 0, sizeof z);
    snprintf(z.name, sizeof z.name, "%s", name);
    z.alloc_id = alloc;
    z.ttl = 300;
    z.neg_ttl = 60;
    snprintf(z.hostmaster, sizeof z.hostmaster, "%s", hostmaster);
    z.n_ns = n_ns;
    for (unsigned i = 0; i < n_ns; i++)
        snprintf(z.ns[i], sizeof z.ns[i], "%s", ns[i]);
    assert_int_equal(zonetab_add_zone(tab, &z), 0);
}

static int setup(void **state)
{
    static const char *const ns[] = { "ns1.esp.example", "ns2.esp.example" };
    static char big[SPFDB_NS_MAX][64];
    const char *bigp[SPFDB_NS_MAX];
    (void)state;

    tab = zonetab_new();
    if (!tab)
        return -1;
    zone("iphmx.example", 0, "dns.admin@esp.example", 2, ns);
    zone("spf.customer.example", CUST, "", 2, ns);
    /* 16 NS hosts of 50 octets: an NS answer of about 1 KiB, for TC. */
    for (unsigned i = 0; i < SPFDB_NS_MAX; i++) {
        snprintf(big[i], sizeof big[i], "ns%02u-%s.hosts.example", i,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        bigp[i] = big[i];
    }
    zone("big.example", ACME, "", SPFDB_NS_MAX, bigp);
    assert_int_equal(zonetab_add_alloc(tab, "acme", ACME), 0);
    assert_int_equal(zonetab_add_alloc(tab, "default", DEFAULT), 0);
    assert_int_equal(zonetab_add_alloc(tab, "cust", CUST), 0);
    assert_int_equal(zonetab_add_alloc(tab, "broken", BROKEN), 0);
    env.zones = tab;
    env.serial = SERIAL;
    env.covers_many = covers_many;
    env.tcp_idle_100ms = 100;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zonetab_free(tab);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static uint8_t out[65535];
static struct answer_info info;

static size_t ask_raw(const struct q *q, int transport, struct reply *r)
{
    size_t n = answer_query(&env, q->b, q->len, out, transport == ANSWER_TCP ? 65535 : 1232,
                            transport, &info);
    if (n > 0) {
        assert_int_equal(reply_parse(out, n, r), 0);
        assert_int_equal(r->id, q->b[0] << 8 | q->b[1]);
        assert_true(r->flags & 0x8000);          /* QR */
        assert_int_equal(r->flags & 0x00E0, 0);  /* RA, Z, AD clear */
    }
    return n;
}

static size_t ask(const char *name, uint16_t qtype, const struct qopt *o, struct reply *r)
{
    struct q q;
    q_build(&q, name, qtype, o);
    return ask_raw(&q, ANSWER_UDP, r);
}

static int aa(const struct reply *r)
{
    return (r->flags & 0x0400) != 0;
}

/* The reply echoes the question of Q byte for byte. */
static void assert_echo(const struct q *q, const struct reply *r)
{
    char name[300];
    size_t off = 12;
    assert_int_equal(r->qd, 1);
    assert_int_equal(read_name(q->b, q->len, &off, name), 0);
    assert_int_equal(r->qend, off + 4);
    assert_memory_equal(out + 12, q->b + 12, r->qend - 12);
}

/* NODATA or NXDOMAIN: AA, empty answer, the apex SOA in authority with
 * the negative TTL. */
static void assert_negative(const struct reply *r, int rcode, const char *apex)
{
    assert_int_equal(r->rcode, rcode);
    assert_true(aa(r));
    assert_int_equal(r->an, 0);
    assert_int_equal(r->ns, 1);
    assert_int_equal(r->rr[0].type, 6);
    assert_int_equal(r->rr[0].cls, 1);
    assert_int_equal(r->rr[0].ttl, 60);
    assert_string_equal(r->rr[0].owner, apex);
}

static void assert_listed(const struct reply *r)
{
    assert_int_equal(r->rcode, 0);
    assert_true(aa(r));
    assert_int_equal(r->an, 1);
    assert_int_equal(r->ns, 0);
    assert_int_equal(r->rr[0].type, 1);
    assert_int_equal(r->rr[0].ttl, 300);
    assert_int_equal(r->rr[0].rdlen, 4);
    assert_memory_equal(r->rr[0].rdata, ((uint8_t[]){ 127, 0, 0, 2 }), 4);
    assert_int_equal(info.cls, ANSWER_LISTED);
}

#define PZ "spf.acme.iphmx.example"
#define NXD 3
#define V6 "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1"

/* ---- the Answers table -------------------------------------------------- */

static void test_listed_v4_a_bytes(void **state)
{
    struct reply r;
    struct q q;
    (void)state;
    q_build(&q, "198.51.100.7." PZ, 1, NULL);
    size_t n = ask_raw(&q, ANSWER_UDP, &r);
    assert_listed(&r);
    assert_int_equal(r.ar, 0);
    /* Byte-exact: header, question copy, C00C A IN 300 127.0.0.2. */
    uint8_t want[512];
    memcpy(want, q.b, q.len);
    want[2] = 0x84;
    want[3] = 0x00;
    want[7] = 1;
    memcpy(want + q.len, (uint8_t[]){ 0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 127, 0, 0, 2 }, 16);
    assert_int_equal(n, q.len + 16);
    assert_memory_equal(out, want, n);
    assert_int_equal(info.qtype, 1);
    assert_int_equal(info.rcode, 0);
}

static void test_listed_any_is_a(void **state)
{
    struct reply r;
    (void)state;
    ask("198.51.100.7." PZ, 255, NULL, &r);
    assert_listed(&r);
}

static void test_listed_other_type_nodata(void **state)
{
    struct reply r;
    (void)state;
    ask("198.51.100.7." PZ, 16, NULL, &r);
    assert_negative(&r, 0, "iphmx.example.");
    assert_int_equal(info.cls, ANSWER_LISTED);
    ask("198.51.100.7." PZ, 28, NULL, &r);
    assert_negative(&r, 0, "iphmx.example.");
}

static void test_listed_v6(void **state)
{
    struct reply r;
    (void)state;
    ask(V6 "." PZ, 1, NULL, &r);
    assert_listed(&r);
}

static void test_listed_v6_uppercase_nibbles(void **state)
{
    struct reply r;
    struct q q;
    (void)state;
    q_build(&q, "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1." PZ, 1, NULL);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_listed(&r);
    assert_echo(&q, &r);
}

static void test_v4_mapped_nibbles(void **state)
{
    struct reply r;
    (void)state;
    /* ::ffff:198.51.100.7 = ::ffff:c633:6407 */
    ask("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.f.f.c.6.3.3.6.4.0.7." PZ, 1, NULL, &r);
    assert_listed(&r);
    /* ::ffff:198.51.100.8 is not listed: an unlisted 32-nibble name. */
    ask("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.F.F.F.F.c.6.3.3.6.4.0.8." PZ, 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    assert_int_equal(info.cls, ANSWER_UNLISTED);
}

static void test_unlisted_v4_nxdomain(void **state)
{
    struct reply r;
    (void)state;
    ask("198.51.100.8." PZ, 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    assert_int_equal(info.cls, ANSWER_UNLISTED);
    /* Single digits but the last: no IPv6 name lies below it. */
    ask("1.2.3.40." PZ, 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    assert_int_equal(info.cls, ANSWER_UNLISTED);
}

static void test_unlisted_v6_nxdomain(void **state)
{
    struct reply r;
    (void)state;
    ask("2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2." PZ, 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    assert_int_equal(info.cls, ANSWER_UNLISTED);
}

static void test_tail_octets(void **state)
{
    static const char *const tails[] = { "198", "198.51", "198.51.100", "0.255.1", "255" };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char name[300];
        snprintf(name, sizeof name, "%s." PZ, tails[i]);
        covers_calls = 0;
        ask(name, 1, NULL, &r);
        assert_negative(&r, 0, "iphmx.example.");
        assert_int_equal(info.cls, ANSWER_TAIL);
        assert_int_equal(covers_calls, 0); /* never depends on the data */
    }
}

static void test_tail_nibbles(void **state)
{
    struct reply r;
    (void)state;
    /* 1..31 nibble labels (hex letters too), and 5..31 single digits. */
    for (unsigned n = 1; n <= 31; n++) {
        char name[300] = "";
        for (unsigned i = 0; i < n; i++)
            strcat(name, i % 3 == 2 ? "e." : "8.");
        strcat(name, PZ);
        ask(name, 1, NULL, &r);
        assert_negative(&r, 0, "iphmx.example.");
        assert_int_equal(info.cls, ANSWER_TAIL);
        name[0] = '\0';
        for (unsigned i = 0; i < n; i++)
            strcat(name, "7.");
        strcat(name, PZ);
        ask(name, 28, NULL, &r);
        assert_negative(&r, 0, "iphmx.example.");
    }
}

static void test_eight_both_ways(void **state)
{
    struct reply r;
    (void)state;
    /* Listed in acme: the A record. */
    ask("8.8.8.8." PZ, 1, NULL, &r);
    assert_listed(&r);
    /* Not listed in cust: the tail of IPv6 names ending 8.8.8.8. */
    ask("8.8.8.8.spf.customer.example", 1, NULL, &r);
    assert_negative(&r, 0, "spf.customer.example.");
    assert_int_equal(info.cls, ANSWER_TAIL);
    /* 1.2.3.4 unlisted in acme: a tail too; 10.2.3.4 is not. */
    ask("1.2.3.4." PZ, 1, NULL, &r);
    assert_negative(&r, 0, "iphmx.example.");
    ask("10.2.3.4." PZ, 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    assert_int_equal(info.cls, ANSWER_UNLISTED);
}

static void test_absent_names(void **state)
{
    static const char *const absent[] = {
        "01", "256", "0a", "x", "_", "_spf", "1.2.3.256", "1.2.3.04", "1a.2", "198.51.100.7.1",
        "1.2.3.4.5.6.7.8.9.10", "ab.1", "g", "-1", "12.a", "a.12", "198.51.100.07",
        "1.2.3.4.5.6.7.8.9.a.b.c.d.e.f.0.1.2.3.4.5.6.7.8.9.a.b.c.d.e.f.0.1", /* 33 nibbles */
    };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        char name[300];
        snprintf(name, sizeof name, "%s." PZ, absent[i]);
        covers_calls = 0;
        ask(name, 1, NULL, &r);
        assert_negative(&r, NXD, "iphmx.example.");
        assert_int_equal(info.cls, ANSWER_ZONE);
        assert_int_equal(covers_calls, 0);
    }
}

static void test_odd_octets_absent(void **state)
{
    /* An escaped dot ("1\.2"), a colon and a byte above 0x7F in a label. */
    static const uint8_t labels[][4] = { { 3, '1', '.', '2' }, { 3, '1', ':', '2' },
                                         { 1, 0xB7, 0, 0 } };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < 3; i++) {
        struct q q;
        uint8_t w[300];
        q_build(&q, "", 1, NULL);
        q.len = 12;
        q_bytes(&q, labels[i], 1 + labels[i][0]);
        q_bytes(&q, w, name_wire(PZ, w));
        q_u16(&q, 1);
        q_u16(&q, 1);
        ask_raw(&q, ANSWER_UDP, &r);
        assert_negative(&r, NXD, "iphmx.example.");
        assert_echo(&q, &r);
    }
}

static void test_underscore_probes(void **state)
{
    static const char *const probes[] = { "_dmarc.iphmx.example", "_domainkey.acme.iphmx.example",
                                          "_spf._spf.acme.iphmx.example", "_.spf.acme.iphmx.example",
                                          "_25._tcp.spf.customer.example" };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        ask(probes[i], 16, NULL, &r);
        assert_int_equal(r.rcode, NXD);
        assert_true(aa(&r));
        assert_int_equal(r.ns, 1);
    }
}

static void test_alloc_nodes(void **state)
{
    struct reply r;
    (void)state;
    ask("spf.acme.iphmx.example", 1, NULL, &r);
    assert_negative(&r, 0, "iphmx.example.");
    ask("acme.iphmx.example", 16, NULL, &r);
    assert_negative(&r, 0, "iphmx.example.");
    ask("SPF.Default.iphmx.example", 1, NULL, &r);
    assert_negative(&r, 0, "iphmx.example.");
    /* Unknown allocation: NXDOMAIN for it and all below. */
    ask("nope.iphmx.example", 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    ask("spf.nope.iphmx.example", 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    ask("198.51.100.7.spf.nope.iphmx.example", 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    /* Under an allocation, only spf exists. */
    ask("www.acme.iphmx.example", 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    ask("198.51.100.7.acme.iphmx.example", 1, NULL, &r);
    assert_negative(&r, NXD, "iphmx.example.");
}

static void test_apex_soa(void **state)
{
    struct reply r;
    char name[300];
    (void)state;
    ask("iphmx.example", 6, NULL, &r);
    assert_int_equal(r.rcode, 0);
    assert_true(aa(&r));
    assert_int_equal(r.an, 1);
    assert_int_equal(r.ns, 0);
    const struct rr *soa = &r.rr[0];
    assert_int_equal(soa->type, 6);
    assert_int_equal(soa->ttl, 60);
    assert_string_equal(soa->owner, "iphmx.example.");
    size_t off = soa->rdata_off;
    assert_int_equal(read_name(out, sizeof out, &off, name), 0);
    assert_string_equal(name, "ns1.esp.example.");
    /* The local part "dns.admin" is one label: dns\.admin.esp.example. */
    assert_int_equal(out[off], 9);
    assert_memory_equal(out + off + 1, "dns.admin", 9);
    off += 10;
    assert_int_equal(read_name(out, sizeof out, &off, name), 0);
    assert_string_equal(name, "esp.example.");
    assert_int_equal(off + 20, soa->rdata_off + soa->rdlen);
    static const uint8_t nums[20] = { 0x65, 0x53, 0xF1, 0x00, 0, 0, 0x38, 0x40, 0, 0, 0x0E, 0x10,
                                      0, 0x12, 0x75, 0x00, 0, 0, 0, 60 };
    assert_memory_equal(out + off, nums, 20);
    assert_int_equal(info.cls, ANSWER_ZONE);
}

static void test_default_hostmaster(void **state)
{
    struct reply r;
    char name[300];
    (void)state;
    ask("spf.customer.example", 6, NULL, &r);
    size_t off = r.rr[0].rdata_off;
    assert_int_equal(read_name(out, sizeof out, &off, name), 0);
    assert_string_equal(name, "ns1.esp.example.");
    assert_int_equal(read_name(out, sizeof out, &off, name), 0);
    assert_string_equal(name, "hostmaster.esp.example.");
}

static void test_serial_follows_env(void **state)
{
    struct reply r;
    (void)state;
    env.serial = 0xDEADBEEF;
    ask("x." PZ, 1, NULL, &r);
    const struct rr *soa = &r.rr[0];
    assert_memory_equal(soa->rdata + soa->rdlen - 20, ((uint8_t[]){ 0xDE, 0xAD, 0xBE, 0xEF }), 4);
    env.serial = SERIAL;
}

static void test_apex_ns(void **state)
{
    struct reply r;
    char name[300];
    (void)state;
    ask("iphmx.example", 2, NULL, &r);
    assert_int_equal(r.rcode, 0);
    assert_true(aa(&r));
    assert_int_equal(r.an, 2);
    assert_int_equal(r.ns, 0);
    assert_int_equal(r.ar, 0);
    for (int i = 0; i < 2; i++) {
        size_t off = r.rr[i].rdata_off;
        assert_int_equal(r.rr[i].type, 2);
        assert_int_equal(r.rr[i].ttl, 300);
        assert_string_equal(r.rr[i].owner, "iphmx.example.");
        assert_int_equal(read_name(out, sizeof out, &off, name), 0);
        assert_string_equal(name, i == 0 ? "ns1.esp.example." : "ns2.esp.example.");
    }
}

static void test_apex_any_is_soa(void **state)
{
    struct reply r;
    (void)state;
    ask("iphmx.example", 255, NULL, &r);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.ns, 0);
    assert_int_equal(r.rr[0].type, 6);
}

static void test_apex_other_nodata(void **state)
{
    static const uint16_t types[] = { 1, 16, 28, 43 /* DS */, 48, 65 };
    struct reply r;
    (void)state;
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++) {
        ask("IPHMX.example", types[i], NULL, &r);
        assert_negative(&r, 0, "iphmx.example.");
    }
}

static void test_transfer_refused(void **state)
{
    struct reply r;
    struct q q;
    (void)state;
    ask("iphmx.example", 252, NULL, &r);
    assert_int_equal(r.rcode, 5);
    assert_false(aa(&r));
    assert_int_equal(r.an + r.ns, 0);
    assert_int_equal(info.cls, ANSWER_REFUSED);
    /* IXFR carries an SOA in authority: not FORMERR, REFUSED. */
    q_build(&q, "iphmx.example", 251, NULL);
    q_bytes(&q, (uint8_t[]){ 0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22 }, 12);
    q_bytes(&q, (uint8_t[22]){ 0 }, 22);
    q_set_count(&q, 2, 1);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 5);
    assert_false(aa(&r));
    assert_echo(&q, &r);
}

static void test_outside_refused(void **state)
{
    struct reply r;
    struct qopt o = { .qclass = 3 };
    (void)state;
    ask("example", 1, NULL, &r);
    assert_int_equal(r.rcode, 5);
    assert_false(aa(&r));
    assert_int_equal(info.cls, ANSWER_REFUSED);
    ask("ample.example", 1, NULL, &r); /* a suffix match is not a label match */
    assert_int_equal(r.rcode, 5);
    ask("xiphmx.example", 1, NULL, &r);
    assert_int_equal(r.rcode, 5);
    ask("", 2, NULL, &r);
    assert_int_equal(r.rcode, 5);
    ask("198.51.100.7." PZ, 1, &o, &r); /* class CH */
    assert_int_equal(r.rcode, 5);
    assert_false(aa(&r));
    assert_int_equal(r.an, 0);
    o.qclass = 255;
    ask("iphmx.example", 6, &o, &r);
    assert_int_equal(r.rcode, 5);
    env.zones = NULL;
    ask("iphmx.example", 6, NULL, &r);
    assert_int_equal(r.rcode, 5);
    env.zones = tab;
}

static void test_delegated_zone(void **state)
{
    struct reply r;
    (void)state;
    ask("192.0.2.1.spf.customer.example", 1, NULL, &r);
    assert_listed(&r);
    ask("192.0.2.2.spf.customer.example", 1, NULL, &r);
    assert_negative(&r, 0 + NXD, "spf.customer.example.");
    ask("192.0.2.spf.customer.example", 1, NULL, &r);
    assert_negative(&r, 0, "spf.customer.example.");
    /* acme's addresses are not cust's. */
    ask("198.51.100.7.spf.customer.example", 1, NULL, &r);
    assert_negative(&r, NXD, "spf.customer.example.");
    /* No spf/alloc structure below a delegated apex. */
    ask("spf.acme.spf.customer.example", 1, NULL, &r);
    assert_negative(&r, NXD, "spf.customer.example.");
    ask("spf.customer.example", 2, NULL, &r);
    assert_int_equal(r.an, 2);
}

static void test_servfail(void **state)
{
    struct reply r;
    struct qopt o = { .edns = 1 };
    (void)state;
    ask("198.51.100.7.spf.broken.iphmx.example", 1, &o, &r);
    assert_int_equal(r.rcode, 2);
    assert_false(aa(&r));
    assert_int_equal(r.an + r.ns, 0);
    assert_int_equal(r.ar, 1);
    assert_int_equal(info.cls, ANSWER_SERVFAIL);
    /* A tail never reads the database, so it cannot fail. */
    ask("198.51.spf.broken.iphmx.example", 1, &o, &r);
    assert_int_equal(r.rcode, 0);
}

/* A batch, as a UDP worker answers one: its lookups are made in one
 * covers_many call; each reply must be answer_query's (a batch of one),
 * byte for byte, whatever its place in the batch, and a lookup must be
 * asked for exactly when answer_query reads the database. */
static void test_halves(void **state)
{
    static const struct { const char *name; uint16_t qtype; } qs[] = {
        { "198.51.100.7.spf.acme.iphmx.example", 1 },
        { "198.51.100.8.spf.acme.iphmx.example", 1 },
        { "198.51.100.7.spf.acme.iphmx.example", 16 },
        { "8.8.8.8.spf.acme.iphmx.example", 1 },
        { "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.spf.acme.iphmx.example", 255 },
        { "198.51.spf.acme.iphmx.example", 1 },
        { "198.51.100.7.spf.broken.iphmx.example", 1 },
        { "iphmx.example", 6 },
        { "example.org", 1 },
        { "192.0.2.1.spf.customer.example", 1 },
    };
    enum { N = sizeof qs / sizeof qs[0] };
    static struct answer_msg m[N];
    static struct q q[N];
    static uint8_t got[N][1232];
    unsigned looked[N], lookups = 0;
    struct qopt o = { .edns = 1 };
    (void)state;

    for (unsigned i = 0; i < N; i++) {
        q_build(&q[i], qs[i].name, qs[i].qtype, i % 2 ? &o : NULL);
        covers_calls = 0;
        size_t want = answer_query(&env, q[i].b, q[i].len, out, 1232, ANSWER_UDP, &info);
        assert_true(want > 0);
        looked[i] = covers_calls;
        lookups += covers_calls;
        /* The batch holds the queries in the other order. */
        m[N - 1 - i] = (struct answer_msg){ .q = q[i].b, .qlen = q[i].len, .out = got[N - 1 - i],
                                            .cap = sizeof got[0] };
    }
    covers_calls = many_calls = 0;
    answer_batch(&env, ANSWER_UDP, m, N);
    assert_int_equal(many_calls, 1);
    assert_int_equal(covers_calls, lookups);
    for (unsigned i = N; i-- > 0;) {
        const struct answer_msg *b = &m[N - 1 - i];
        assert_int_equal(b->st.lookup, looked[i]);
        size_t want = answer_query(&env, q[i].b, q[i].len, out, 1232, ANSWER_UDP, &info);
        assert_int_equal(b->len, want);
        assert_memory_equal(b->out, out, want);
        assert_int_equal(b->info.cls, info.cls);
        assert_int_equal(b->info.rcode, info.rcode);
        assert_int_equal(b->info.qtype, info.qtype);
    }
}

/* A batch longer than SPFDB_MANY_MAX: its lookups go SPFDB_MANY_MAX at a
 * time, and every reply is still its own, over TCP too. */
static void test_long_batch(void **state)
{
    enum { N = 2 * SPFDB_MANY_MAX + 7 };
    static struct answer_msg m[N];
    static struct q q[N];
    static uint8_t got[N][512];
    (void)state;

    for (unsigned i = 0; i < N; i++) {
        char name[64];
        snprintf(name, sizeof name, "%u.%u.%u.%u.spf.acme.iphmx.example", i % 3 ? 198 : 8,
                 i % 3 ? 51 : 8, i % 3 ? 100 : 8, i % 3 == 1 ? 7 : 8);
        q_build(&q[i], name, i % 5 ? 1 : 16, NULL);
        m[i] = (struct answer_msg){ .q = q[i].b, .qlen = q[i].len, .out = got[i],
                                    .cap = sizeof got[i] };
    }
    for (int transport = ANSWER_UDP; transport <= ANSWER_TCP; transport++) {
        covers_calls = many_calls = 0;
        answer_batch(&env, transport, m, N);
        assert_int_equal(many_calls, 3);
        assert_int_equal(covers_calls, N);
        for (unsigned i = 0; i < N; i++) {
            size_t want = answer_query(&env, q[i].b, q[i].len, out, sizeof got[i], transport,
                                       &info);
            assert_int_equal(m[i].len, want);
            assert_memory_equal(m[i].out, out, want);
            assert_int_equal(m[i].info.cls, info.cls);
        }
    }
}

static void test_0x20_echo(void **state)
{
    struct reply r;
    struct q q;
    (void)state;
    q_build(&q, "198.51.100.7.sPf.AcMe.IphMX.ExAmple", 1, NULL);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_listed(&r);
    assert_echo(&q, &r);
    q_build(&q, "x.sPf.AcMe.IphMX.ExAmple", 1, NULL);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_echo(&q, &r);
    assert_negative(&r, NXD, "iphmx.example.");
    /* The SOA's owner points into the echoed question at the apex. */
    assert_int_equal(out[r.qend], 0xC0);
    assert_int_equal(out[r.qend + 1], 12 + 2 + 4 + 5);
}

static void test_rd_ignored_cd_copied(void **state)
{
    struct reply r0, r1;
    uint8_t a[1232];
    struct qopt o = { .rd = 1 };
    (void)state;
    size_t n0 = ask("198.51.100.7." PZ, 1, NULL, &r0);
    memcpy(a, out, n0);
    size_t n1 = ask("198.51.100.7." PZ, 1, &o, &r1);
    assert_int_equal(n0, n1);
    assert_int_equal(r1.flags & 0x0100, 0x0100);
    assert_int_equal(r1.flags & 0x0080, 0); /* no RA */
    out[2] &= (uint8_t)~1;
    assert_memory_equal(a, out, n0);
    o.rd = 0;
    o.cd = 1;
    ask("198.51.100.7." PZ, 1, &o, &r1);
    assert_int_equal(r1.flags & 0x0010, 0x0010);
    assert_int_equal(r1.flags & 0x0020, 0);
}

static void test_no_opt_without_edns(void **state)
{
    struct reply r;
    (void)state;
    ask("x." PZ, 1, NULL, &r);
    assert_int_equal(r.ar, 0);
    assert_int_equal(r.opt, -1);
}

static void test_opt_reply(void **state)
{
    struct reply r;
    struct qopt o = { .edns = 1, .udp = 4096, .dobit = 1 };
    (void)state;
    ask("198.51.100.7." PZ, 1, &o, &r);
    assert_listed(&r);
    assert_int_equal(r.ar, 1);
    assert_int_equal(r.opt, 1);
    const struct rr *opt = &r.rr[1];
    assert_string_equal(opt->owner, ".");
    assert_int_equal(opt->cls, 1232);
    assert_int_equal(opt->ttl, 0x8000); /* DO copied, version 0, rest zero */
    assert_int_equal(opt->rdlen, 0);
    o.dobit = 0;
    o.keepalive = 1; /* ignored over UDP */
    ask("x." PZ, 1, &o, &r);
    assert_int_equal(r.opt, 1);
    assert_int_equal(r.rr[1].ttl, 0);
    assert_int_equal(r.rr[1].rdlen, 0);
}

static void test_tcp_keepalive(void **state)
{
    struct reply r;
    struct q q;
    struct qopt o = { .edns = 1, .keepalive = 1 };
    (void)state;
    q_build(&q, "198.51.100.7." PZ, 1, &o);
    ask_raw(&q, ANSWER_TCP, &r);
    assert_listed(&r);
    const struct rr *opt = &r.rr[r.opt];
    assert_int_equal(opt->rdlen, 6);
    assert_memory_equal(opt->rdata, ((uint8_t[]){ 0, 11, 0, 2, 0, 100 }), 6);
    /* Without the option in the query: none in the reply. */
    o.keepalive = 0;
    q_build(&q, "198.51.100.7." PZ, 1, &o);
    ask_raw(&q, ANSWER_TCP, &r);
    assert_int_equal(r.rr[r.opt].rdlen, 0);
}

static void test_tc(void **state)
{
    struct reply r;
    struct q q;
    struct qopt o = { .edns = 1, .udp = 100 };
    (void)state;
    /* Without OPT the limit is 512: header and question, TC. */
    size_t n = ask("big.example", 2, NULL, &r);
    assert_int_equal(r.flags & 0x0200, 0x0200);
    assert_int_equal(r.an + r.ns + r.ar, 0);
    assert_int_equal(n, 12 + 13 + 4);
    assert_int_equal(r.rcode, 0);
    assert_true(aa(&r));
    /* A tiny requestor size means 512. */
    n = ask("big.example", 2, &o, &r);
    assert_int_equal(r.flags & 0x0200, 0x0200);
    assert_int_equal(r.an, 0);
    assert_int_equal(r.ar, 1);
    assert_int_equal(n, 12 + 13 + 4 + 11);
    /* 1232 fits it; so does TCP. */
    o.udp = 1232;
    n = ask("big.example", 2, &o, &r);
    assert_int_equal(r.flags & 0x0200, 0);
    assert_int_equal(r.an, 16);
    assert_true(n > 512 && n <= 1232);
    o.udp = 800; /* between 512 and the reply */
    n = ask("big.example", 2, &o, &r);
    assert_int_equal(r.flags & 0x0200, 0x0200);
    q_build(&q, "big.example", 2, NULL);
    n = ask_raw(&q, ANSWER_TCP, &r);
    assert_int_equal(r.flags & 0x0200, 0);
    assert_int_equal(r.an, 16);
    /* Small answers are never cut. */
    o.udp = 100;
    ask("1.2.3.4.big.example", 1, &o, &r);
    assert_int_equal(r.flags & 0x0200, 0);
}

/* ---- malformed input, in SPEC §4's rule order --------------------------- */

static void test_rule1_drop(void **state)
{
    struct reply r;
    struct q q;
    (void)state;
    q_build(&q, "iphmx.example", 6, NULL);
    for (size_t len = 0; len < 12; len++)
        assert_int_equal(answer_query(&env, q.b, len, out, 1232, ANSWER_UDP, &info), 0);
    assert_int_equal(info.cls, ANSWER_DROP);
    q.b[2] |= 0x80; /* QR: a response */
    assert_int_equal(ask_raw(&q, ANSWER_UDP, &r), 0);
    assert_int_equal(ask_raw(&q, ANSWER_TCP, &r), 0);
    /* A bare 12-octet header with QR clear gets FORMERR (no question). */
    q.b[2] &= 0x7F;
    assert_int_not_equal(answer_query(&env, q.b, 12, out, 1232, ANSWER_UDP, &info), 0);
}

static void test_rule2_notimp(void **state)
{
    struct reply r;
    struct q q;
    struct qopt o = { .opcode = 4, .rd = 1, .edns = 1 }; /* NOTIFY */
    (void)state;
    q_build(&q, "iphmx.example", 6, &o);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 4);
    assert_false(aa(&r));
    assert_int_equal((r.flags >> 11) & 0xF, 4);
    assert_int_equal(r.flags & 0x0100, 0x0100);
    assert_echo(&q, &r);
    assert_int_equal(r.ar, 1);
    assert_int_equal(info.cls, ANSWER_MALFORMED);
    /* Rule 2 comes before rule 3: QDCOUNT 0 is still NOTIMP. */
    q_set_count(&q, 0, 0);
    q.len = 12;
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 4);
    assert_int_equal(r.qd, 0);
    /* UPDATE (5) too. */
    o.opcode = 5;
    q_build(&q, "iphmx.example", 6, &o);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 4);
}

static void assert_formerr(const struct q *q, int echo, int opt)
{
    struct reply r;
    assert_int_not_equal(ask_raw(q, ANSWER_UDP, &r), 0);
    assert_int_equal(r.rcode, 1);
    assert_false(aa(&r));
    assert_int_equal(r.an + r.ns, 0);
    assert_int_equal(r.qd, echo);
    if (echo)
        assert_echo(q, &r);
    assert_int_equal(r.ar, opt);
    assert_int_equal(info.cls, ANSWER_MALFORMED);
    assert_int_equal(info.rcode, 1);
}

static void test_rule3_qdcount(void **state)
{
    struct q q;
    uint8_t w[300];
    (void)state;
    q_build(&q, "iphmx.example", 6, NULL);
    q_set_count(&q, 0, 0);
    q.len = 12;
    assert_formerr(&q, 0, 0);
    q_build(&q, "iphmx.example", 6, NULL);
    q_bytes(&q, w, name_wire("iphmx.example", w));
    q_u16(&q, 1);
    q_u16(&q, 1);
    q_set_count(&q, 0, 2);
    assert_formerr(&q, 0, 0);
}

static void test_rule3_ancount_nscount(void **state)
{
    struct q q;
    static const uint8_t a_rr[] = { 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4 };
    (void)state;
    q_build(&q, "iphmx.example", 1, NULL);
    q_bytes(&q, a_rr, sizeof a_rr);
    q_set_count(&q, 1, 1);
    assert_formerr(&q, 1, 0);
    q_set_count(&q, 1, 0);
    q_set_count(&q, 2, 1);
    assert_formerr(&q, 1, 0);
    /* Only IXFR may carry authority, and only an SOA there. */
    q_build(&q, "iphmx.example", 251, NULL);
    q_bytes(&q, a_rr, sizeof a_rr);
    q_set_count(&q, 2, 1);
    assert_formerr(&q, 1, 0);
}

static void test_rule3_bad_question(void **state)
{
    struct q q;
    uint8_t long_label[70];
    (void)state;
    /* A label over 63 octets. */
    q_build(&q, "", 1, NULL);
    q.len = 12;
    long_label[0] = 64;
    memset(long_label + 1, 'a', 64);
    q_bytes(&q, long_label, 65);
    q_bytes(&q, (uint8_t[]){ 0, 0, 1, 0, 1 }, 5);
    assert_formerr(&q, 0, 0);
    /* A name over 255 octets (and one of exactly 255 that is fine). */
    q_build(&q, "", 1, NULL);
    q.len = 12;
    for (int i = 0; i < 4; i++) {
        long_label[0] = 63;
        memset(long_label + 1, 'b', 63);
        q_bytes(&q, long_label, 64);
    }
    q_bytes(&q, (uint8_t[]){ 0, 0, 1, 0, 1 }, 5);
    assert_formerr(&q, 0, 0); /* 257 */
    q_build(&q, "", 1, NULL);
    q.len = 12;
    for (int i = 0; i < 3; i++)
        q_bytes(&q, long_label, 64);
    q_bytes(&q, (uint8_t[]){ 61 }, 1);
    q_bytes(&q, long_label + 1, 61);
    q_bytes(&q, (uint8_t[]){ 0, 0, 1, 0, 1 }, 5); /* 255 */
    struct reply r;
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 5);
    /* One-octet labels up to the bound, as nibble names are read eight
     * labels at a time: 127 fit in 255 octets, 128 do not; under a zone,
     * 120 of them and the apex make 255 octets (NXDOMAIN: no such
     * allocation), 121 do not.  The same in a second question. */
    for (int k = 127; k <= 128; k++) {
        for (int qd = 1; qd <= 2; qd++) {
            q_build(&q, "", 1, NULL);
            q.len = 12;
            if (qd == 2)
                q_bytes(&q, (uint8_t[]){ 1, 'a', 0, 0, 1, 0, 1 }, 7);
            for (int i = 0; i < k; i++)
                q_bytes(&q, (uint8_t[]){ 1, i % 2 ? 'a' : '0' }, 2);
            q_bytes(&q, (uint8_t[]){ 0, 0, 1, 0, 1 }, 5);
            q_set_count(&q, 0, (uint16_t)qd);
            if (k == 128 || qd == 2) {
                assert_formerr(&q, 0, 0);
            } else {
                ask_raw(&q, ANSWER_UDP, &r);
                assert_int_equal(r.rcode, 5);
            }
        }
    }
    /* A 14-octet label first: a run of eight one-octet labels then ends
     * exactly at octet 255, where the root no longer fits. */
    for (int k = 119; k <= 120; k++) {
        q_build(&q, "", 1, NULL);
        q.len = 12;
        q_bytes(&q, "\16fourteen-octet", 15);
        for (int i = 0; i < k; i++)
            q_bytes(&q, (uint8_t[]){ 1, 'f' }, 2);
        q_bytes(&q, (uint8_t[]){ 0, 0, 1, 0, 1 }, 5);
        if (k == 120) {
            assert_formerr(&q, 0, 0);
        } else {
            ask_raw(&q, ANSWER_UDP, &r);
            assert_int_equal(r.rcode, 5);
        }
    }
    for (int k = 120; k <= 121; k++) {
        q_build(&q, "", 1, NULL);
        q.len = 12;
        for (int i = 0; i < k; i++)
            q_bytes(&q, (uint8_t[]){ 1, '1' }, 2);
        q_bytes(&q, (uint8_t[]){ 5, 'i', 'p', 'h', 'm', 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e' },
                14);
        q_bytes(&q, (uint8_t[]){ 0, 0, 1, 0, 1 }, 5);
        if (k == 121) {
            assert_formerr(&q, 0, 0);
        } else {
            ask_raw(&q, ANSWER_UDP, &r);
            assert_int_equal(r.rcode, 3);
            assert_int_equal(r.qend, 12 + 255 + 4);
        }
    }
    /* A compression pointer, and extended label types 0x40 and 0x80. */
    static const uint8_t bad[][8] = { { 1, 'a', 0xC0, 12 }, { 0x41, 0 }, { 0x80, 0 },
                                      { 1, 'a', 0x40 } };
    for (unsigned i = 0; i < 4; i++) {
        q_build(&q, "", 1, NULL);
        q.len = 12;
        q_bytes(&q, bad[i], 4);
        q_bytes(&q, (uint8_t[]){ 0, 0, 1, 0, 1 }, 5);
        assert_formerr(&q, 0, 0);
    }
    /* Truncated anywhere in the question. */
    q_build(&q, "iphmx.example", 1, NULL);
    for (size_t len = 13; len < q.len; len++) {
        struct q t = q;
        t.len = len;
        assert_formerr(&t, 0, 0);
    }
}

static void test_rule3_trailing(void **state)
{
    struct q q;
    struct qopt o = { .edns = 1 };
    (void)state;
    q_build(&q, "iphmx.example", 6, NULL);
    q_bytes(&q, "x", 1);
    assert_formerr(&q, 1, 0);
    q_build(&q, "iphmx.example", 6, &o);
    q_bytes(&q, "\0\0", 2);
    assert_formerr(&q, 1, 1);
    /* ARCOUNT claims a record that is not there. */
    q_build(&q, "iphmx.example", 6, NULL);
    q_set_count(&q, 3, 1);
    assert_formerr(&q, 1, 0);
}

static void test_rule3_bad_records(void **state)
{
    struct reply r;
    struct q q;
    uint8_t label[64];
    (void)state;
    /* A plain owner name in an additional record is fine (and ignored). */
    q_build(&q, "iphmx.example", 6, NULL);
    q_bytes(&q, (uint8_t[]){ 1, 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 16, 0, 1,
                             0, 0, 0, 0, 0, 2, 1, 'a' }, 23);
    q_set_count(&q, 3, 1);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.an, 1);
    /* Owner pointers that point forward, at themselves or into the header. */
    static const uint8_t ptrs[][2] = { { 0xC0, 0xFF }, { 0xC0, 31 }, { 0xC0, 2 } };
    for (unsigned i = 0; i < 3; i++) {
        q_build(&q, "iphmx.example", 6, NULL); /* 31 octets: the record starts at 31 */
        q_bytes(&q, ptrs[i], 2);
        q_bytes(&q, (uint8_t[]){ 0, 16, 0, 1, 0, 0, 0, 0, 0, 0 }, 10);
        q_set_count(&q, 3, 1);
        assert_formerr(&q, 1, 0);
    }
    /* An owner name over 255 octets; a record cut in its TTL; a pointer
     * cut after its first octet. */
    q_build(&q, "iphmx.example", 6, NULL);
    label[0] = 63;
    memset(label + 1, 'c', 63);
    for (int i = 0; i < 4; i++)
        q_bytes(&q, label, 64);
    q_bytes(&q, (uint8_t[]){ 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0 }, 11);
    q_set_count(&q, 3, 1);
    assert_formerr(&q, 1, 0);
    q_build(&q, "iphmx.example", 6, NULL);
    q_bytes(&q, (uint8_t[]){ 0, 0, 16, 0, 1, 0, 0 }, 7);
    q_set_count(&q, 3, 1);
    assert_formerr(&q, 1, 0);
    q_build(&q, "iphmx.example", 6, NULL);
    q_bytes(&q, (uint8_t[]){ 0xC0 }, 1);
    q_set_count(&q, 3, 1);
    assert_formerr(&q, 1, 0);
}

static void test_small_cap(void **state)
{
    struct q q;
    (void)state;
    /* The caller's buffer bounds the reply: TC when the answer does not
     * fit, nothing when even the question does not. */
    q_build(&q, "198.51.100.7." PZ, 1, NULL);
    size_t n = answer_query(&env, q.b, q.len, out, q.len + 15, ANSWER_UDP, &info);
    assert_int_equal(n, q.len);
    assert_int_equal(out[2] & 0x02, 0x02);
    assert_int_equal(answer_query(&env, q.b, q.len, out, q.len - 1, ANSWER_UDP, &info), 0);
    assert_int_equal(answer_query(&env, q.b, q.len, out, q.len + 16, ANSWER_TCP, &info),
                     q.len + 16);
}

static void test_rule4_opt(void **state)
{
    struct q q;
    struct qopt o = { .edns = 1 };
    (void)state;
    /* Two OPTs. */
    q_build(&q, "iphmx.example", 6, &o);
    q_opt(&q, 1232, 0, 0, NULL, 0);
    q_set_count(&q, 3, 2);
    assert_formerr(&q, 1, 1);
    /* OPT in the answer section (ANCOUNT != 0 decides first: FORMERR). */
    q_build(&q, "iphmx.example", 6, NULL);
    q_opt(&q, 1232, 0, 0, NULL, 0);
    q_set_count(&q, 1, 1);
    assert_formerr(&q, 1, 1);
    /* OPT owner not the root. */
    q_build(&q, "iphmx.example", 6, NULL);
    q_bytes(&q, (uint8_t[]){ 0xC0, 12, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0 }, 12);
    q_set_count(&q, 3, 1);
    assert_formerr(&q, 1, 1);
    /* Malformed option data: an option longer than the RDATA, and a stray
     * octet after the last option. */
    q_build(&q, "iphmx.example", 6, NULL);
    q_opt(&q, 1232, 0, 0, (uint8_t[]){ 0, 10, 0, 8, 1, 2, 3, 4 }, 8);
    q_set_count(&q, 3, 1);
    assert_formerr(&q, 1, 1);
    q_build(&q, "iphmx.example", 6, NULL);
    q_opt(&q, 1232, 0, 0, (uint8_t[]){ 0, 10, 0, 0, 1 }, 5);
    q_set_count(&q, 3, 1);
    assert_formerr(&q, 1, 1);
    /* Rule 4 before rule 5: two OPTs of version 1 are FORMERR. */
    q_build(&q, "iphmx.example", 6, NULL);
    q_opt(&q, 1232, 1, 0, NULL, 0);
    q_opt(&q, 1232, 1, 0, NULL, 0);
    q_set_count(&q, 3, 2);
    assert_formerr(&q, 1, 1);
    /* Well-formed options of any kind are ignored, not echoed. */
    struct reply r;
    q_build(&q, "iphmx.example", 6, NULL);
    q_opt(&q, 1232, 0, 0, (uint8_t[]){ 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 12, 0, 0 }, 16);
    q_set_count(&q, 3, 1);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.rr[r.opt].rdlen, 0);
    /* Additional records other than OPT are ignored. */
    q_build(&q, "iphmx.example", 6, &o);
    q_bytes(&q, (uint8_t[]){ 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4 }, 16);
    q_set_count(&q, 3, 2);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 0);
    assert_int_equal(r.an, 1);
    assert_int_equal(r.ar, 1);
}

static void test_rule5_badvers(void **state)
{
    struct reply r;
    struct q q;
    struct qopt o = { .edns = 1, .version = 1, .dobit = 1 };
    (void)state;
    q_build(&q, "198.51.100.7." PZ, 1, &o);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.flags & 0xF, 0);   /* header RCODE 0 */
    assert_int_equal(r.rcode, 16);        /* extended: BADVERS */
    assert_false(aa(&r));
    assert_int_equal(r.an + r.ns, 0);
    assert_echo(&q, &r);
    const struct rr *opt = &r.rr[r.opt];
    assert_int_equal(opt->ttl, 0x01008000u); /* EXT-RCODE 1, VERSION 0, DO */
    assert_int_equal(opt->cls, 1232);
    assert_int_equal(info.rcode, 16);
    assert_int_equal(info.cls, ANSWER_MALFORMED);
    /* BADVERS beats REFUSED (rule 5 before 6). */
    q_build(&q, "outside.test", 1, &o);
    ask_raw(&q, ANSWER_UDP, &r);
    assert_int_equal(r.rcode, 16);
}

static void test_rule_order_formerr_before_refused(void **state)
{
    struct q q;
    (void)state;
    q_build(&q, "outside.test", 1, NULL);
    q_bytes(&q, "zz", 2);
    assert_formerr(&q, 1, 0);
}

static void test_info_qtype(void **state)
{
    struct reply r;
    (void)state;
    ask("iphmx.example", 99, NULL, &r);
    assert_int_equal(info.qtype, 99);
    assert_int_equal(answer_query(&env, (const uint8_t *)"\x12\x34\0\0\0\0\0\0\0\0\0\0", 12, out,
                                  1232, ANSWER_UDP, &info), 12);
    assert_int_equal(info.qtype, 0);
    assert_int_equal(info.rcode, 1);
    /* INFO may be NULL. */
    struct q q;
    q_build(&q, "iphmx.example", 6, NULL);
    assert_int_not_equal(answer_query(&env, q.b, q.len, out, 1232, ANSWER_UDP, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listed_v4_a_bytes),
        cmocka_unit_test(test_listed_any_is_a),
        cmocka_unit_test(test_listed_other_type_nodata),
        cmocka_unit_test(test_listed_v6),
        cmocka_unit_test(test_listed_v6_uppercase_nibbles),
        cmocka_unit_test(test_v4_mapped_nibbles),
        cmocka_unit_test(test_unlisted_v4_nxdomain),
        cmocka_unit_test(test_unlisted_v6_nxdomain),
        cmocka_unit_test(test_tail_octets),
        cmocka_unit_test(test_tail_nibbles),
        cmocka_unit_test(test_eight_both_ways),
        cmocka_unit_test(test_absent_names),
        cmocka_unit_test(test_odd_octets_absent),
        cmocka_unit_test(test_underscore_probes),
        cmocka_unit_test(test_alloc_nodes),
        cmocka_unit_test(test_apex_soa),
        cmocka_unit_test(test_default_hostmaster),
        cmocka_unit_test(test_serial_follows_env),
        cmocka_unit_test(test_apex_ns),
        cmocka_unit_test(test_apex_any_is_soa),
        cmocka_unit_test(test_apex_other_nodata),
        cmocka_unit_test(test_transfer_refused),
        cmocka_unit_test(test_outside_refused),
        cmocka_unit_test(test_delegated_zone),
        cmocka_unit_test(test_servfail),
        cmocka_unit_test(test_halves),
        cmocka_unit_test(test_long_batch),
        cmocka_unit_test(test_0x20_echo),
        cmocka_unit_test(test_rd_ignored_cd_copied),
        cmocka_unit_test(test_no_opt_without_edns),
        cmocka_unit_test(test_opt_reply),
        cmocka_unit_test(test_tcp_keepalive),
        cmocka_unit_test(test_tc),
        cmocka_unit_test(test_rule1_drop),
        cmocka_unit_test(test_rule2_notimp),
        cmocka_unit_test(test_rule3_qdcount),
        cmocka_unit_test(test_rule3_ancount_nscount),
        cmocka_unit_test(test_rule3_bad_question),
        cmocka_unit_test(test_rule3_trailing),
        cmocka_unit_test(test_rule3_bad_records),
        cmocka_unit_test(test_small_cap),
        cmocka_unit_test(test_rule4_opt),
        cmocka_unit_test(test_rule5_badvers),
        cmocka_unit_test(test_rule_order_formerr_before_refused),
        cmocka_unit_test(test_info_qtype),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
