/* The transfer zone's layout 1 (xfr/layout.h): the frozen rendering
 * (layout-v1.wire), round trips of every kind, letter case and order
 * that must not matter, and every record the parser must refuse. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "layout.h"
#include "sample.h"

static const char *golden_path; /* argv[1]: layout-v1.wire */
static struct xfr_origin origin;

/* ---- helpers ---- */

/* Every answer record of MSG parsed; the objects into OUT (at most MAX).
 * Returns how many, or fails the test on an error. */
static size_t parse_all(const struct xfr_origin *org, const uint8_t *msg, size_t len,
                        struct xfr_obj *out, size_t max)
{
    size_t at = XFR_HDR_LEN, n = 0;
    struct xfr_rr rr;

    for (unsigned i = get_be16(msg + 4); i > 0; i--)
        assert_int_equal(xfr_question_skip(msg, len, &at), 0);
    for (unsigned i = get_be16(msg + 6); i > 0; i--) {
        int r;
        assert_int_equal(xfr_rr_read(msg, len, &at, &rr), 0);
        assert_true(n < max);
        if ((r = xfr_parse(org, &rr, &out[n])) != 0)
            fail_msg("record %zu: %s", n, xfr_strerror(r));
        n++;
    }
    assert_int_equal(at, len);
    return n;
}

static void assert_obj_equal(const struct xfr_obj *a, const struct xfr_obj *b)
{
    assert_int_equal(a->kind, b->kind);
    switch (a->kind) {
    case XFR_SOA:
        assert_memory_equal(&a->soa, &b->soa, sizeof a->soa);
        break;
    case XFR_LAYOUT:
        assert_int_equal(a->layout, b->layout);
        break;
    case XFR_ZONE:
        assert_string_equal(a->zone.name, b->zone.name);
        assert_string_equal(a->zone.alloc, b->zone.alloc);
        assert_int_equal(a->zone.alloc_id, 0);
        assert_int_equal(a->zone.ttl, b->zone.ttl);
        assert_int_equal(a->zone.neg_ttl, b->zone.neg_ttl);
        assert_string_equal(a->zone.hostmaster, b->zone.hostmaster);
        assert_int_equal(a->zone.n_ns, b->zone.n_ns);
        for (unsigned i = 0; i < a->zone.n_ns; i++)
            assert_string_equal(a->zone.ns[i], b->zone.ns[i]);
        break;
    case XFR_ALLOC:
        assert_string_equal(a->alloc.alloc, b->alloc.alloc);
        break;
    case XFR_MEMBER:
        assert_string_equal(a->member.alloc, b->member.alloc);
        assert_string_equal(a->member.member, b->member.member);
        break;
    case XFR_ENTRY:
        assert_string_equal(a->entry.alloc, b->entry.alloc);
        assert_int_equal(spfdb_prefix_cmp(&a->entry.prefix, &b->entry.prefix), 0);
        break;
    case XFR_IGNORE:
        break;
    }
}

/* A record built by hand: OWNER as text kept exactly (letter case, any
 * octet but '.'), relative to the origin unless it ends with '.'. */
struct rec {
    uint8_t rd[2048];
    struct xfr_rr rr;
};

static void owner(struct xfr_rr *rr, const char *text)
{
    size_t n = 0, len = strlen(text);
    const char *s = text;
    int absolute = len > 0 && text[len - 1] == '.';

    while (*s && !(absolute && s[0] == '.' && s[1] == '\0')) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        assert_true(l > 0 && l < 64 && n + 1 + l < XFR_NAME_MAX);
        rr->owner[n] = (uint8_t)l;
        memcpy(rr->owner + n + 1, s, l);
        n += 1 + l;
        s += l + (dot ? 1 : 0);
    }
    if (absolute) {
        rr->owner[n++] = 0;
    } else {
        assert_true(n + origin.len <= XFR_NAME_MAX);
        memcpy(rr->owner + n, origin.name, origin.len);
        n += origin.len;
    }
    rr->owner_len = n;
}

static struct rec *mk(struct rec *r, const char *own, uint16_t type, const void *rd, size_t n)
{
    memset(&r->rr, 0, sizeof r->rr);
    owner(&r->rr, own);
    r->rr.type = type;
    r->rr.rclass = XFR_C_IN;
    assert_true(n <= sizeof r->rd);
    memcpy(r->rd, rd, n);
    r->rr.msg = r->rd;
    r->rr.msg_len = n;
    r->rr.rdoff = 0;
    r->rr.rdlen = (uint16_t)n;
    return r;
}

/* TXT RDATA from strings separated by '|' ("a|b" is "a" "b"). */
static size_t txt(uint8_t *out, const char *s)
{
    size_t n = 0;

    for (;;) {
        const char *bar = strchr(s, '|');
        size_t l = bar ? (size_t)(bar - s) : strlen(s);
        out[n++] = (uint8_t)l;
        memcpy(out + n, s, l);
        n += l;
        if (!bar)
            return n;
        s = bar + 1;
    }
}

static int parse_txt(const char *own, const char *strings, struct xfr_obj *o)
{
    static struct rec r;
    uint8_t rd[2048];

    return xfr_parse(&origin, &mk(&r, own, XFR_T_TXT, rd, txt(rd, strings))->rr, o);
}

static int parse_raw(const char *own, uint16_t type, const void *rd, size_t n,
                     struct xfr_obj *o)
{
    static struct rec r;

    return xfr_parse(&origin, &mk(&r, own, type, rd, n)->rr, o);
}

/* A name from text into OUT (wire, as given), returns its length. */
static size_t wire(const char *text, uint8_t *out)
{
    struct xfr_rr rr;

    owner(&rr, text);
    memcpy(out, rr.owner, rr.owner_len);
    return rr.owner_len;
}

static int setup(void **state)
{
    (void)state;
    return xfr_origin_set(&origin, SAMPLE_ORIGIN);
}

/* ---- tests ---- */

/* What secondaries hold must never change within layout 1. */
static void test_golden(void **state)
{
    static uint8_t got[16384], want[16384];
    FILE *f = fopen(golden_path, "rb");
    size_t n, m;
    (void)state;
    assert_non_null(f);
    n = fread(want, 1, sizeof want, f);
    fclose(f);
    m = sample_message(got, sizeof got, 0);
    assert_true(m > 0);
    assert_int_equal(m, n);
    assert_memory_equal(got, want, n);
}

/* The sample back to its objects, names in full and compressed; the
 * compressed message is smaller, and a second entry's owner is its label
 * and a pointer to the first's `<alloc>.a`. */
static void test_sample_round_trip(void **state)
{
    static uint8_t buf[16384];
    static struct xfr_obj got[32];
    static const uint8_t apl[] = {0, 1, 24, 3, 0xc6, 0x33, 0x64};
    const struct xfr_obj *want;
    size_t n = sample_objects(&want), full = 0;
    (void)state;
    for (int c = 0; c <= 1; c++) {
        size_t len = sample_message(buf, sizeof buf, c);
        assert_true(len > 0);
        assert_int_equal(parse_all(&origin, buf, len, got, 32), n);
        for (size_t i = 0; i < n; i++)
            assert_obj_equal(&got[i], &want[i]);
        if (c == 0) {
            full = len;
            /* Knot and BIND write this APL from 1:198.51.100.0/24 */
            assert_non_null(memmem(buf, len, apl, sizeof apl));
        } else {
            assert_true(len < full * 3 / 4);
            const uint8_t *o = memmem(buf, len, "\x12" "2001-db8-1234---48", 19);
            assert_non_null(o);
            assert_int_equal(o[19] & 0xC0, 0xC0);
        }
    }
}

/* Entries of every length, IPv4 and IPv6, through both renderings. */
static void test_entries(void **state)
{
    static uint8_t buf[65536];
    static struct xfr_obj got[300];
    struct spfdb_prefix p[300];
    struct xfr_out out;
    uint32_t x = 12345;
    size_t n = 0;
    (void)state;
    for (unsigned fam = 4; fam <= 6; fam += 2)
        for (unsigned len = 0; len <= (fam == 4 ? 32u : 128u); len++) {
            struct spfdb_prefix *q = &p[n++];
            memset(q, 0, sizeof *q);
            q->family = (uint8_t)fam;
            q->len = (uint8_t)len;
            for (unsigned b = 0; b < len; b++) {
                x = x * 1103515245u + 12345u;
                if (x >> 31)
                    q->addr[b / 8] |= (uint8_t)(0x80u >> (b % 8));
            }
            /* mapped IPv6 is stored as IPv4: never an IPv6 entry */
            if (fam == 6 && len >= 96)
                q->addr[0] |= 0x20;
        }
    for (int c = 0; c <= 1; c++) {
        memset(buf, 0, XFR_HDR_LEN);
        buf[5] = 1;
        memcpy(buf + XFR_HDR_LEN, origin.name, origin.len);
        xfr_out_init(&out, &origin, buf, sizeof buf, XFR_HDR_LEN + origin.len + 4,
                     c ? XFR_HDR_LEN : 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(xfr_put_entry(&out, i % 3 ? "acme" : "b-2", &p[i]), 0);
        put_be16(buf + 6, (uint16_t)n);
        assert_int_equal(parse_all(&origin, buf, out.len, got, 300), n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(got[i].kind, XFR_ENTRY);
            assert_string_equal(got[i].entry.alloc, i % 3 ? "acme" : "b-2");
            assert_int_equal(spfdb_prefix_cmp(&got[i].entry.prefix, &p[i]), 0);
        }
    }
}

/* The longest names: a 62-character origin, a 188-character delegated
 * zone (its owner 255 octets), 16 NS hosts of 253 characters less the
 * TXT string limit; and one character more is refused. */
static void test_long_names(void **state)
{
    static uint8_t buf[65536];
    static struct xfr_obj got[4];
    static struct spfdb_zone z;
    struct xfr_origin org;
    struct xfr_out out;
    char o62[64], o63[65];
    (void)state;
    /* 62 = "o" x 61 split in labels: 30 + '.' + 31 */
    memset(o62, 'o', 62);
    o62[30] = '.';
    o62[62] = '\0';
    memcpy(o63, o62, 62);
    strcpy(o63 + 62, "o");
    assert_int_equal(xfr_origin_set(&org, o62), 0);
    assert_int_equal(org.len, 64);
    assert_int_equal(xfr_origin_set(&org, o63), XFR_EINVAL);
    assert_int_equal(xfr_origin_set(&org, "a..b"), XFR_EINVAL);
    assert_int_equal(xfr_origin_set(&org, ""), XFR_EINVAL);
    assert_int_equal(xfr_origin_set(&org, o62), 0);

    memset(&z, 0, sizeof z);
    memset(z.name, 'd', 188); /* 63 + 63 + 60 with two dots */
    z.name[63] = z.name[127] = '.';
    strcpy(z.alloc, "acme");
    z.ttl = XFR_TTL_MAX;
    z.neg_ttl = XFR_NEG_TTL_MAX;
    z.n_ns = SPFDB_NS_MAX;
    for (unsigned i = 0; i < SPFDB_NS_MAX; i++) {
        memset(z.ns[i], 'n', 253);
        for (unsigned k = 61; k < 253; k += 62)
            z.ns[i][k] = '.';
        z.ns[i][0] = (char)('a' + i);
    }
    strcpy(z.hostmaster, "a.b@c.example");
    memset(buf, 0, XFR_HDR_LEN);
    xfr_out_init(&out, &org, buf, sizeof buf, XFR_HDR_LEN, 0);
    assert_int_equal(xfr_put_zone(&out, &z), 0);
    assert_int_equal(buf[XFR_HDR_LEN], 63);
    /* owner: 188 + 2 + (1 + 1) + 64 = 255 octets */
    assert_int_equal(get_be16(buf + XFR_HDR_LEN + 255), XFR_T_TXT);
    put_be16(buf + 6, 1);
    assert_int_equal(parse_all(&org, buf, out.len, got, 4), 1);
    assert_obj_equal(&got[0], &(struct xfr_obj){.kind = XFR_ZONE, .zone = z});
    /* 189 characters do not fit under this origin */
    memset(z.name + 188, 'd', 1);
    out.len = XFR_HDR_LEN;
    assert_int_equal(xfr_put_zone(&out, &z), XFR_EINVAL);
    assert_int_equal(out.len, XFR_HDR_LEN);
    /* and a 189-character zone under a short origin is refused on parse */
    {
        char name[200], s[512];
        struct xfr_obj o;
        memcpy(name, z.name, 189);
        strcpy(name + 189, ".z");
        snprintf(s, sizeof s, "allocation=acme|ttl=1|negative-ttl=1|hostmaster=|ns.example.");
        assert_int_equal(parse_txt(name, s, &o), XFR_EZONE);
        name[188] = '\0';
        strcat(name, ".z");
        assert_int_equal(parse_txt(name, s, &o), 0);
        /* a provider zone: 120 characters at most */
        assert_int_equal(parse_txt(name, "allocation=|ttl=1|negative-ttl=1|hostmaster=|ns.x.", &o),
                         XFR_EZONE);
        memcpy(name + 120, ".z", 3);
        name[119] = 'x'; /* not a dot */
        assert_int_equal(parse_txt(name, "allocation=|ttl=1|negative-ttl=1|hostmaster=|ns.x.", &o),
                         0);
        assert_int_equal(strlen(o.zone.name), 120);
    }
}

/* Owners, allocation names, NS hosts and the hostmaster's domain in any
 * letter case come back lowercase; settings in any order, NS hosts in
 * theirs. */
static void test_case_and_order(void **state)
{
    static const char *const orders[] = {
        "allocation=ACME|ttl=600|negative-ttl=60|hostmaster=Dns.Admin@Customer.EXAMPLE|NS1.iphmx."
        "example.|ns2.IPHMX.example.",
        "NS1.iphmx.example.|hostmaster=Dns.Admin@customer.example|ns2.iphmx.example.|ttl=600|"
        "negative-ttl=60|allocation=acme",
        "negative-ttl=60|ns1.iphmx.example.|allocation=acme|ns2.iphmx.example.|ttl=600|"
        "hostmaster=Dns.Admin@customer.example",
    };
    struct xfr_obj o;
    uint8_t rd[300];
    size_t n;
    (void)state;
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        assert_int_equal(parse_txt("SPF.Customer.Example.Z", orders[i], &o), 0);
        assert_int_equal(o.kind, XFR_ZONE);
        assert_string_equal(o.zone.name, "spf.customer.example");
        assert_string_equal(o.zone.alloc, "acme");
        assert_int_equal(o.zone.ttl, 600);
        assert_int_equal(o.zone.neg_ttl, 60);
        assert_string_equal(o.zone.hostmaster, "Dns.Admin@customer.example");
        assert_int_equal(o.zone.n_ns, 2);
        assert_string_equal(o.zone.ns[0], "ns1.iphmx.example");
        assert_string_equal(o.zone.ns[1], "ns2.iphmx.example");
    }
    /* the NS order is kept */
    assert_int_equal(parse_txt("x.z", "ns2.a.|allocation=|ns1.a.|ttl=1|negative-ttl=1|hostmaster=",
                               &o), 0);
    assert_string_equal(o.zone.ns[0], "ns2.a");
    assert_string_equal(o.zone.ns[1], "ns1.a");

    assert_int_equal(parse_txt("ACME.A", "allocation", &o), 0);
    assert_string_equal(o.alloc.alloc, "acme");
    assert_int_equal(parse_txt("_SPFDB", "layout=1", &o), 0);
    assert_int_equal(o.kind, XFR_LAYOUT);
    /* 2001:db8::/32 at an uppercase owner */
    assert_int_equal(parse_raw("2001-DB8---32.Acme.A", XFR_T_APL,
                               "\0\2\x20\4\x20\x01\x0d\xb8", 8, &o), 0);
    assert_int_equal(o.kind, XFR_ENTRY);
    assert_string_equal(o.entry.alloc, "acme");
    /* an uppercase member, its target uppercase too, in another case */
    n = wire("EU.A.XFR.Esp.Example.", rd);
    assert_int_equal(parse_raw("Eu.M.Global.A", XFR_T_PTR, rd, n, &o), 0);
    assert_int_equal(o.kind, XFR_MEMBER);
    assert_string_equal(o.member.alloc, "global");
    assert_string_equal(o.member.member, "eu");
    /* the origin itself in uppercase */
    assert_int_equal(parse_txt("default.a.XFR.ESP.EXAMPLE.", "allocation", &o), 0);
}

/* A PTR target compressed against the message (as dnspython, Knot and
 * BIND may send it); an SOA's names too. */
static void test_compressed_rdata(void **state)
{
    static uint8_t msg[512];
    struct xfr_rr rr;
    struct xfr_obj o;
    size_t at = XFR_HDR_LEN, n;
    (void)state;
    memset(msg, 0, XFR_HDR_LEN);
    n = XFR_HDR_LEN;
    memcpy(msg + n, origin.name, origin.len); /* the question's name at 12 */
    n += origin.len;
    put_be16(msg + n, XFR_T_AXFR);
    put_be16(msg + n + 2, XFR_C_IN);
    n += 4;
    /* eu.m.global.a.<ptr 12> PTR eu.a.<ptr 12> */
    memcpy(msg + n, "\2eu\1m\6global\1a\xc0\x0c\0\x0c\0\1\0\0\0\0\0\7\2eu\1a\xc0\x0c", 33);
    n += 33;
    /* <ptr 12> SOA <ptr 12> <ptr 12> 1 2 3 4 5 */
    memcpy(msg + n,
           "\xc0\x0c\0\6\0\1\0\0\0\0\0\x18\xc0\x0c\xc0\x0c"
           "\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5",
           36);
    n += 36;
    put_be16(msg + 4, 1);
    put_be16(msg + 6, 2);
    assert_int_equal(xfr_question_skip(msg, n, &at), 0);
    assert_int_equal(xfr_rr_read(msg, n, &at, &rr), 0);
    assert_int_equal(xfr_parse(&origin, &rr, &o), 0);
    assert_int_equal(o.kind, XFR_MEMBER);
    assert_int_equal(xfr_rr_read(msg, n, &at, &rr), 0);
    assert_int_equal(xfr_parse(&origin, &rr, &o), 0);
    assert_int_equal(o.kind, XFR_SOA);
    assert_int_equal(o.soa.serial, 1);
    assert_int_equal(o.soa.minimum, 5);
    assert_int_equal(at, n);
    /* a pointer to itself (or forward) is refused */
    at = XFR_HDR_LEN + origin.len + 4;
    msg[at + 31] = 0xc0;
    msg[at + 32] = (uint8_t)(at + 31);
    assert_int_equal(xfr_rr_read(msg, n, &at, &rr), 0);
    assert_int_equal(xfr_parse(&origin, &rr, &o), XFR_ERDATA);
}

struct reject {
    const char *owner;
    uint16_t type;
    const char *rdata; /* TXT strings "a|b", or raw octets when RAW */
    size_t raw;
    int want;
};

#define R(s) s, sizeof(s) - 1 /* raw RDATA octets */
#define ZS "allocation=|ttl=300|negative-ttl=60|hostmaster=|"
#define NS16 "a.x.|b.x.|c.x.|d.x.|e.x.|f.x.|g.x.|h.x.|i.x.|j.x.|k.x.|l.x.|m.x.|n.x.|o.x.|p.x."

/* Everything design §1 and SPEC §2 refuse, each with its own code. */
static void test_rejects(void **state)
{
    static const struct reject r[] = {
        /* owners */
        {"other.example.", XFR_T_TXT, "allocation", 0, XFR_EOUTSIDE},
        {"esp.example.", XFR_T_SOA, "", 0, XFR_EOUTSIDE},
        {"a.xfr.esp.example.com.", XFR_T_TXT, "allocation", 0, XFR_EOUTSIDE},
        {"foo", XFR_T_TXT, "allocation", 0, XFR_EOWNER},
        {"b.foo", XFR_T_TXT, "allocation", 0, XFR_EOWNER},
        {"z", XFR_T_TXT, ZS "ns.x.", 0, XFR_EOWNER},
        {"a", XFR_T_TXT, "allocation", 0, XFR_EOWNER},
        {"x._spfdb", XFR_T_TXT, "layout=1", 0, XFR_EOWNER},
        {"eu.x.global.a", XFR_T_PTR, "", 0, XFR_EOWNER},
        {"5.eu.m.global.a", XFR_T_PTR, "", 0, XFR_EOWNER},
        /* types */
        {"", XFR_T_TXT, "layout=1", 0, XFR_ETYPE},
        {"", 1, R("\1\2\3\4"), XFR_ETYPE},
        {"_spfdb", 1, R("\1\2\3\4"), XFR_ETYPE},
        {"example.z", XFR_T_APL, "", 0, XFR_ETYPE},
        {"acme.a", XFR_T_APL, "", 0, XFR_ETYPE},
        {"198-51-100-0-24.acme.a", XFR_T_TXT, "allocation", 0, XFR_ETYPE},
        {"eu.m.global.a", XFR_T_TXT, "allocation", 0, XFR_ETYPE},
        {"_spfdb", XFR_T_SOA, "", 0, XFR_ETYPE},
        /* _spfdb */
        {"_spfdb", XFR_T_TXT, "layout=2", 0, XFR_ELAYOUT},
        {"_spfdb", XFR_T_TXT, "layout=10", 0, XFR_ELAYOUT},
        {"_spfdb", XFR_T_TXT, "layout=01", 0, XFR_ETXT},
        {"_spfdb", XFR_T_TXT, "layout=", 0, XFR_ETXT},
        {"_spfdb", XFR_T_TXT, "layout=1x", 0, XFR_ETXT},
        {"_spfdb", XFR_T_TXT, "Layout=1", 0, XFR_ETXT},
        {"_spfdb", XFR_T_TXT, "layout=1|x", 0, XFR_ETXT},
        {"_spfdb", XFR_T_TXT, R("\0"), XFR_ETXT},
        {"_spfdb", XFR_T_TXT, R("\x09layout=1"), XFR_ERDATA},
        /* allocations */
        {"acme.a", XFR_T_TXT, "allocations", 0, XFR_ETXT},
        {"acme.a", XFR_T_TXT, "Allocation", 0, XFR_ETXT},
        {"acme.a", XFR_T_TXT, "allocation|allocation", 0, XFR_ETXT},
        {"acme.a", XFR_T_TXT, R("\0"), XFR_ETXT},
        {"ac_me.a", XFR_T_TXT, "allocation", 0, XFR_EALLOC},
        {"-acme.a", XFR_T_TXT, "allocation", 0, XFR_EALLOC},
        {"ac~me.a", XFR_T_TXT, "allocation", 0, XFR_EALLOC},
        {"ac\x80me.a", XFR_T_TXT, "allocation", 0, XFR_EALLOC},
        {"acme-.a", XFR_T_TXT, "allocation", 0, XFR_EALLOC},
        /* zones */
        {"ex*mple.z", XFR_T_TXT, ZS "ns.x.", 0, XFR_EZONE},
        {"ex ample.z", XFR_T_TXT, ZS "ns.x.", 0, XFR_EZONE},
        {"example.z", XFR_T_TXT, ZS "ns.x.|color=red", 0, XFR_ESET_UNKNOWN},
        {"example.z", XFR_T_TXT, ZS "ns.x.|=1", 0, XFR_ESET_UNKNOWN},
        {"example.z", XFR_T_TXT, ZS "ns.x.|TTL=1", 0, XFR_ESET_UNKNOWN},
        {"example.z", XFR_T_TXT, ZS "ns.x.|ttl=300", 0, XFR_ESET_DUP},
        {"example.z", XFR_T_TXT, ZS "ns.x.|allocation=", 0, XFR_ESET_DUP},
        {"example.z", XFR_T_TXT, "allocation=|ttl=300|negative-ttl=60|ns.x.", 0, XFR_ESET_MISSING},
        {"example.z", XFR_T_TXT, "ttl=300|negative-ttl=60|hostmaster=|ns.x.", 0, XFR_ESET_MISSING},
        {"example.z", XFR_T_TXT, "allocation=|ttl=0|negative-ttl=60|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=604801|negative-ttl=60|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=0300|negative-ttl=60|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=|negative-ttl=60|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=-1|negative-ttl=60|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=99999999999|negative-ttl=60|hostmaster=|ns.x.",
         0, XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=86401|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=ac_me|ttl=1|negative-ttl=1|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=-a|ttl=1|negative-ttl=1|hostmaster=|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=nobody|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=a..b@x.y|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=.a@x.y|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=@x.y|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=a@b@x.y|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=a@x..y|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=a\"b@x.y|ns.x.", 0,
         XFR_ESET_VALUE},
        {"example.z", XFR_T_TXT, ZS, 0, XFR_ENS},           /* an empty string */
        {"example.z", XFR_T_TXT, "allocation=|ttl=1|negative-ttl=1|hostmaster=", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, ZS "ns.x", 0, XFR_ENS},    /* no trailing dot */
        {"example.z", XFR_T_TXT, ZS "ns.x.|ns.x.", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, ZS "ns.x.|NS.x.", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, ZS "ns x.", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, ZS "ns..x.", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, ZS ".", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, ZS NS16 "|q.x.", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, ZS "\x80.x.", 0, XFR_ENS},
        {"example.z", XFR_T_TXT, R("\x09" "ttl=1"), XFR_ERDATA},
        /* entries */
        {"198-51-100-0-24.acme.a", XFR_T_APL, "", 0, XFR_EAPL_ITEMS},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\1\x18\3\xc6\x33\x64\0\1\x18\3\xc6\x33\x64"),
         XFR_EAPL_ITEMS},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\1\x18\3\xc6\x33\x64\0"), XFR_EAPL_ITEMS},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\3\x18\3\xc6\x33\x64"), XFR_EAPL_FAMILY},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\0\x18\3\xc6\x33\x64"), XFR_EAPL_FAMILY},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\1\1\x18\3\xc6\x33\x64"), XFR_EAPL_FAMILY},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\1\x18\x83\xc6\x33\x64"), XFR_EAPL_NEG},
        {"198-51-100-0-33.acme.a", XFR_T_APL, R("\0\1\x21\4\xc6\x33\x64\0"), XFR_EAPL_LENGTH},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\1\x18\5\xc6\x33\x64\0\0"), XFR_EAPL_LENGTH},
        {"--129.acme.a", XFR_T_APL, R("\0\2\x81\0"), XFR_EAPL_LENGTH},
        {"--0.acme.a", XFR_T_APL, R("\0\2\0\x11" "0123456789abcdefg"), XFR_EAPL_LENGTH},
        {"198-51-100-1-24.acme.a", XFR_T_APL, R("\0\1\x18\4\xc6\x33\x64\1"), XFR_EAPL_HOSTBITS},
        {"198-51-101-0-23.acme.a", XFR_T_APL, R("\0\1\x17\3\xc6\x33\x65"), XFR_EAPL_HOSTBITS},
        {"0-0-0-0-0.acme.a", XFR_T_APL, R("\0\1\0\1\x80"), XFR_EAPL_HOSTBITS},
        {"--ffff-c633-6400-120.acme.a", XFR_T_APL,
         R("\0\2\x78\x0f\0\0\0\0\0\0\0\0\0\0\xff\xff\xc6\x33\x64"), XFR_EAPL_MAPPED},
        {"198-51-100-0-25.acme.a", XFR_T_APL, R("\0\1\x18\3\xc6\x33\x64"), XFR_EAPL_OWNER},
        {"198-51-100-00-24.acme.a", XFR_T_APL, R("\0\1\x18\3\xc6\x33\x64"), XFR_EAPL_OWNER},
        {"198:51:100:0/24.acme.a", XFR_T_APL, R("\0\1\x18\3\xc6\x33\x64"), XFR_EAPL_OWNER},
        {"2001-0db8---32.acme.a", XFR_T_APL, R("\0\2\x20\4\x20\1\x0d\xb8"), XFR_EAPL_OWNER},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\1\x18\3\xc6\x33"), XFR_ERDATA},
        {"198-51-100-0-24.acme.a", XFR_T_APL, R("\0\1"), XFR_ERDATA},
        {"198-51-100-0-24.ac_me.a", XFR_T_APL, R("\0\1\x18\3\xc6\x33\x64"), XFR_EALLOC},
        /* members */
        {"eu.m.global.a", XFR_T_PTR, R("\2us\1a\3xfr\3esp\7example\0"), XFR_EMEMBER},
        {"eu.m.global.a", XFR_T_PTR, R("\2eu\1a\5other\7example\0"), XFR_EMEMBER},
        {"eu.m.global.a", XFR_T_PTR, R("\2eu\1m\3xfr\3esp\7example\0"), XFR_EMEMBER},
        {"global.m.global.a", XFR_T_PTR, R("\6global\1a\3xfr\3esp\7example\0"), XFR_EMEMBER},
        {"eu.m.global.a", XFR_T_PTR, R("\2eu\1a\3xfr\3esp\7example\0\0"), XFR_ERDATA},
        {"eu.m.global.a", XFR_T_PTR, R("\2eu\1a\3xfr\3esp\7exam"), XFR_ERDATA},
        {"e_u.m.global.a", XFR_T_PTR, R("\3e_u\1a\3xfr\3esp\7example\0"), XFR_EALLOC},
        {"eu.m.glo_bal.a", XFR_T_PTR, R("\2eu\1a\3xfr\3esp\7example\0"), XFR_EALLOC},
        /* the SOA */
        {"", XFR_T_SOA, R("\0\0\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0"), XFR_ERDATA},
        {"", XFR_T_SOA, R("\0\0\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5\0"), XFR_ERDATA},
        {"", XFR_T_SOA, R("\0"), XFR_ERDATA},
    };
    struct xfr_obj o;
    uint8_t rd[1024];
    (void)state;
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        int got;
        if (r[i].raw || r[i].type != XFR_T_TXT)
            got = parse_raw(r[i].owner, r[i].type, r[i].rdata, r[i].raw, &o);
        else
            got = parse_raw(r[i].owner, r[i].type, rd, txt(rd, r[i].rdata), &o);
        if (got != r[i].want)
            fail_msg("%s type %u: %s (%d), want %s", r[i].owner, r[i].type, xfr_strerror(got),
                     got, xfr_strerror(r[i].want));
    }
    /* class */
    {
        static struct rec rc;
        mk(&rc, "acme.a", XFR_T_TXT, "\12allocation", 11);
        assert_int_equal(xfr_parse(&origin, &rc.rr, &o), 0);
        rc.rr.rclass = 3;
        assert_int_equal(xfr_parse(&origin, &rc.rr, &o), XFR_ECLASS);
    }
    /* an untrimmed AFDPART is accepted */
    assert_int_equal(parse_raw("198-51-100-0-24.acme.a", XFR_T_APL, "\0\1\x18\4\xc6\x33\x64\0", 8,
                               &o), 0);
    assert_int_equal(o.entry.prefix.len, 24);
    for (int e = 0; e >= XFR_EAPL_OWNER - 1; e--)
        assert_non_null(xfr_strerror(e));
}

/* Ignored: the apex NS and DNSSEC records, wherever they are. */
static void test_ignored(void **state)
{
    static const uint16_t types[] = {46, 47, 48, 50, 51, 59, 60, 63};
    struct xfr_obj o;
    uint8_t rd[64];
    (void)state;
    assert_int_equal(parse_raw("", XFR_T_NS, rd, wire("ns.example.", rd), &o), 0);
    assert_int_equal(o.kind, XFR_IGNORE);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        o.kind = XFR_ALLOC;
        assert_int_equal(parse_raw("", types[i], "\1\2", 2, &o), 0);
        assert_int_equal(o.kind, XFR_IGNORE);
        o.kind = XFR_ALLOC;
        assert_int_equal(parse_raw("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", types[i], "\1", 1, &o), 0);
        assert_int_equal(o.kind, XFR_IGNORE);
        assert_int_equal(parse_raw("x.other.", types[i], "\1", 1, &o), XFR_EOUTSIDE);
    }
    /* NS below the apex is no part of layout 1 */
    assert_int_equal(parse_raw("acme.a", XFR_T_NS, rd, wire("ns.example.", rd), &o), XFR_ETYPE);
}

/* Rendering: no room leaves the message and the compression state as
 * they were; names no database holds are refused. */
static void test_render_errors(void **state)
{
    static uint8_t buf[4096], ref[4096];
    static struct spfdb_zone z;
    struct xfr_out out, before;
    struct spfdb_prefix p;
    const struct xfr_obj *objs;
    size_t n = sample_objects(&objs), full;
    (void)state;
    assert_int_equal(spfdb_prefix_parse("2001:db8::/32", 13, &p, NULL, NULL, 0), 0);
    z = objs[4].zone;
    for (int c = 0; c <= 1; c++) {
        memset(buf, 0, sizeof buf);
        memcpy(buf + XFR_HDR_LEN, origin.name, origin.len);
        xfr_out_init(&out, &origin, buf, sizeof buf, XFR_HDR_LEN + origin.len + 4,
                     c ? XFR_HDR_LEN : 0);
        assert_int_equal(xfr_put_entry(&out, "acme", &p), 0);
        full = out.len;
        memcpy(ref, buf, sizeof ref);
        /* every capacity short of the record: nothing written */
        for (int kind = 0; kind < 7; kind++) {
            size_t need;
            before = out;
            before.cap = sizeof buf;
            for (size_t cap = full; ; cap++) {
                int r;
                out = before;
                out.cap = cap;
                switch (kind) {
                case 0: r = xfr_put_soa(&out, XFR_NS_DEFAULT, 1); break;
                case 1: r = xfr_put_ns(&out, XFR_NS_DEFAULT); break;
                case 2: r = xfr_put_layout(&out); break;
                case 3: r = xfr_put_zone(&out, &z); break;
                case 4: r = xfr_put_alloc(&out, "other"); break;
                case 5: r = xfr_put_member(&out, "acme", "eu"); break;
                default: r = xfr_put_entry(&out, "other", &p); break;
                }
                if (r == 0) {
                    need = cap;
                    break;
                }
                assert_int_equal(r, XFR_ENOSPACE);
                assert_int_equal(out.len, full);
                assert_int_equal(out.alloc_ptr, before.alloc_ptr);
                assert_string_equal(out.alloc, before.alloc);
                assert_memory_equal(buf, ref, full);
            }
            assert_int_equal(out.len, need);
            out = before;
        }
    }
    (void)n;
    /* bad input */
    xfr_out_init(&out, &origin, buf, sizeof buf, XFR_HDR_LEN, 0);
    assert_int_equal(xfr_put_alloc(&out, "a.b"), XFR_EINVAL);
    assert_int_equal(xfr_put_alloc(&out, ""), XFR_EINVAL);
    assert_int_equal(xfr_put_alloc(&out, "a b"), XFR_EINVAL);
    assert_int_equal(xfr_put_member(&out, "acme", "e.u"), XFR_EINVAL);
    assert_int_equal(xfr_put_soa(&out, "", 1), XFR_EINVAL);
    assert_int_equal(xfr_put_ns(&out, "a..b"), XFR_EINVAL);
    z.n_ns = 0;
    assert_int_equal(xfr_put_zone(&out, &z), XFR_EINVAL);
    z.n_ns = SPFDB_NS_MAX + 1;
    assert_int_equal(xfr_put_zone(&out, &z), XFR_EINVAL);
    z.n_ns = 1;
    memset(z.hostmaster, 'h', 250); /* "hostmaster=" + 250 > 255 */
    z.hostmaster[250] = '\0';
    assert_int_equal(xfr_put_zone(&out, &z), XFR_EINVAL);
    p.family = 5;
    assert_int_equal(xfr_put_entry(&out, "acme", &p), XFR_EINVAL);
    p.family = 4;
    p.len = 33;
    assert_int_equal(xfr_put_entry(&out, "acme", &p), XFR_EINVAL);
    assert_int_equal(out.len, XFR_HDR_LEN);
}

/* Every octet of the sample changed, every length cut: the reader and
 * the parser stay in bounds (ASan build) and never crash. */
static void test_mutations(void **state)
{
    static uint8_t msg[16384], m[16384];
    struct xfr_obj o;
    struct xfr_rr rr;
    size_t len = sample_message(msg, sizeof msg, 1), ok = 0;
    (void)state;
    assert_true(len > 0);
    for (size_t i = 0; i < len; i++)
        for (unsigned bit = 0; bit < 8; bit += 3) {
            size_t at = XFR_HDR_LEN;
            memcpy(m, msg, len);
            m[i] ^= (uint8_t)(1u << bit);
            if (xfr_question_skip(m, len, &at) != 0)
                continue;
            while (xfr_rr_read(m, len, &at, &rr) == 0)
                ok += xfr_parse(&origin, &rr, &o) == 0;
        }
    for (size_t n = 0; n < len; n++) {
        size_t at = XFR_HDR_LEN;
        if (xfr_question_skip(msg, n, &at) != 0)
            continue;
        while (xfr_rr_read(msg, n, &at, &rr) == 0)
            ok += xfr_parse(&origin, &rr, &o) == 0;
    }
    assert_true(ok > 0);
}

static void test_plabel(void **state)
{
    static const struct {
        const char *prefix, *label;
    } v[] = {
        {"198.51.100.0/24", "198-51-100-0-24"},
        {"2001:db8::/32", "2001-db8---32"},
        {"::/0", "---0"},
        {"::1/128", "--1-128"},
        {"1::/16", "1---16"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
         "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff-128"},
    };
    char out[XFR_PLABEL_MAX + 1];
    struct spfdb_prefix p;
    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_int_equal(spfdb_prefix_parse(v[i].prefix, strlen(v[i].prefix), &p, NULL, NULL, 0),
                         0);
        assert_int_equal(xfr_plabel(&p, out), strlen(v[i].label));
        assert_string_equal(out, v[i].label);
    }
    assert_int_equal(strlen(out), XFR_PLABEL_MAX);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),         cmocka_unit_test(test_sample_round_trip),
        cmocka_unit_test(test_entries),        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_case_and_order), cmocka_unit_test(test_compressed_rdata),
        cmocka_unit_test(test_rejects),        cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_render_errors),  cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_plabel),
    };
    if (argc != 2) {
        fprintf(stderr, "usage: test_layout PATH/TO/layout-v1.wire\n");
        return 2;
    }
    golden_path = argv[1];
    return cmocka_run_group_tests(tests, setup, NULL);
}
