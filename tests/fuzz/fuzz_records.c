/* fuzz_records.c: libFuzzer target for the decoders of records read back
 * from LMDB: a zone (zonerec.h), the meta record and an allocation
 * (meta.h), and the transfer settings: a key, the transfer zone, a
 * replica, the primary, the follow state (xfrdb.h).
 *
 * The first input octet picks the record; for a keyed record the next
 * gives the key's length, the key follows and the rest is the value.  A
 * value a decoder accepts must be one its writer could have stored:
 * written again (by zonerec_encode, meta_encode, alloc_encode, or for the
 * transfer settings by the writer below, from xfrdb.h's layout), it is the
 * same octets, and what was decoded passes the rules the setters apply.
 * The same input read as fields must survive encode and decode unchanged.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "meta.h"
#include "xfrdb.h"
#include "zonerec.h"

#define FUZZ_NAME "fuzz_records"
#include "fuzz.h"

/* A copy of P[0..N) of its own, so that ASan sees reads past N. */
static uint8_t *own(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);

    CHECK(c != NULL);
    memcpy(c, p, n);
    return c;
}

/* ---- a writer of the transfer settings, from xfrdb.h ---------------------- */

struct out {
    uint8_t b[2048];
    size_t n;
};

static void wbytes(struct out *o, const void *p, size_t n)
{
    CHECK(o->n + n <= sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

/* V as OCTETS octets, the most significant first. */
static void wint(struct out *o, uint64_t v, unsigned octets)
{
    while (octets-- > 0) {
        uint8_t b = (uint8_t)(v >> 8 * octets);
        wbytes(o, &b, 1);
    }
}

/* A length octet and the string's octets. */
static void wstr(struct out *o, const char *s)
{
    CHECK(strlen(s) < 256);
    wint(o, strlen(s), 1);
    wbytes(o, s, strlen(s));
}

static void same(const struct out *o, const uint8_t *v, size_t n)
{
    CHECK(o->n == n && memcmp(o->b, v, n) == 0);
}

/* ---- the records ---------------------------------------------------------- */

static void zone_fields_equal(const struct spfdb_zone *a, const struct spfdb_zone *b)
{
    CHECK(strcmp(a->name, b->name) == 0 && a->alloc_id == b->alloc_id && a->ttl == b->ttl &&
          a->neg_ttl == b->neg_ttl && strcmp(a->hostmaster, b->hostmaster) == 0 &&
          a->n_ns == b->n_ns);
    for (unsigned i = 0; i < a->n_ns; i++)
        CHECK(strcmp(a->ns[i], b->ns[i]) == 0);
}

static void zone_record(const uint8_t *name, size_t nlen, const uint8_t *v, size_t len,
                        struct input *fields)
{
    static uint8_t b[ZONEREC_MAX], b2[ZONEREC_MAX];
    static struct spfdb_zone z, z2;
    static char text[ZONEREC_TEXT_MAX];

    if (zonerec_decode((const char *)name, nlen, v, len, &z) == 0) {
        CHECK(nlen >= 1 && nlen <= SPFDB_NAME_MAX && memcmp(z.name, name, nlen) == 0);
        CHECK(z.n_ns <= SPFDB_NS_MAX && z.alloc[0] == '\0');
        CHECK(memchr(z.hostmaster, 0, sizeof z.hostmaster) != NULL);
        for (unsigned i = 0; i < z.n_ns; i++)
            CHECK(memchr(z.ns[i], 0, sizeof z.ns[i]) != NULL);
        size_t n = zonerec_encode(&z, b);
        CHECK(n == len && memcmp(b, v, len) == 0);
        zonerec_text(&z, text, sizeof text);
        CHECK(strlen(text) < sizeof text);
        /* a cut buffer: cut, terminated */
        zonerec_text(&z, text, 1 + len % 64);
        CHECK(strlen(text) <= len % 64);
    }
    /* decode(encode(z)) for a zone made of the input */
    memset(&z, 0, sizeof z);
    take_str(fields, z.name, SPFDB_NAME_MAX, 1);
    z.alloc_id = (uint32_t)take64(fields);
    z.ttl = (uint32_t)take64(fields);
    z.neg_ttl = (uint32_t)take64(fields);
    take_str(fields, z.hostmaster, SPFDB_NAME_MAX, 0);
    z.n_ns = take8(fields) % (SPFDB_NS_MAX + 1);
    for (unsigned i = 0; i < z.n_ns; i++)
        take_str(fields, z.ns[i], SPFDB_NAME_MAX, 0);
    size_t n = zonerec_encode(&z, b2);
    CHECK(n <= ZONEREC_MAX);
    CHECK(zonerec_decode(z.name, strlen(z.name), b2, n, &z2) == 0);
    zone_fields_equal(&z, &z2);
}

static void meta_record(const uint8_t *v, size_t len, struct input *fields)
{
    struct meta m, m2;
    uint8_t b[META_SIZE];

    if (meta_decode(v, len, &m) == 0) {
        CHECK(len >= 28 && m.version == get_be32(v));
        meta_encode(&m, b);
        if (m.version >= 3) {
            CHECK(len >= META_SIZE && memcmp(b, v, META_SIZE) == 0);
        } else {
            CHECK(memcmp(b, v, 28) == 0 && m.ixfr_floor == 0 && m.xfr_gen == 0);
        }
    }
    memset(&m, 0, sizeof m);
    m.version = (uint32_t)take64(fields) % 5;
    m.serial = (uint32_t)take64(fields);
    m.gen = take64(fields);
    m.changed = (int64_t)take64(fields);
    m.next_id = (uint32_t)take64(fields);
    if (m.version >= 3) {
        m.ixfr_floor = take64(fields);
        m.xfr_gen = take64(fields);
    }
    meta_encode(&m, b);
    CHECK(meta_decode(b, sizeof b, &m2) == 0);
    CHECK(m.version == m2.version && m.serial == m2.serial && m.gen == m2.gen &&
          m.changed == m2.changed && m.next_id == m2.next_id && m.ixfr_floor == m2.ixfr_floor &&
          m.xfr_gen == m2.xfr_gen);
}

static void alloc_record(const uint8_t *name, size_t nlen, const uint8_t *v, size_t len,
                         struct input *fields)
{
    struct spfdb_alloc a, a2 = {.n_members = 0}, a3;
    uint8_t b[ALLOC_SIZE_MAX];

    if (alloc_decode(name, nlen, v, len, &a) == 0) {
        CHECK(nlen >= 1 && nlen <= SPFDB_LABEL_MAX && memcmp(a.name, name, nlen) == 0);
        CHECK(strlen(a.name) == nlen); /* the name stored, not cut */
        CHECK(a.n_members <= SPFDB_MEMBERS_MAX);
        CHECK(alloc_encode(&a, b) == len && memcmp(b, v, len) == 0);
    }
    a2.id = (uint32_t)take64(fields);
    a2.n4 = take64(fields);
    a2.n6 = take64(fields);
    a2.n_members = (unsigned)(take64(fields) % (SPFDB_MEMBERS_MAX + 1));
    for (unsigned i = 0; i < a2.n_members; i++) /* ascending, never 0 */
        a2.members[i] = (i ? a2.members[i - 1] : 0) + 1 + (uint32_t)(take64(fields) % 1000);
    size_t n = alloc_encode(&a2, b);
    int rc = alloc_decode("a", 1, b, n, &a3);
    /* the one record the decoder refuses: the allocation among its members */
    int self = 0;
    for (unsigned i = 0; i < a2.n_members; i++)
        self |= a2.members[i] == a2.id;
    CHECK(self ? rc == SPFDB_EFORMAT : rc == 0);
    CHECK(self || (a3.id == a2.id && a3.n4 == a2.n4 && a3.n6 == a2.n6 &&
                   a3.n_members == a2.n_members && strcmp(a3.name, "a") == 0 &&
                   memcmp(a3.members, a2.members, a2.n_members * 4) == 0));
}

static void key_record(const uint8_t *name, size_t nlen, const uint8_t *v, size_t len)
{
    struct spfdb_key k;
    struct out o = {.n = 0};

    if (xfr_key_decode((const char *)name, nlen, v, len, &k) != 0)
        return;
    CHECK(strlen(k.name) == nlen && memcmp(k.name, name, nlen) == 0);
    CHECK(spfdb_key_check(&k, NULL) == 0);
    wint(&o, 1, 1);
    wint(&o, (unsigned)k.alg, 1);
    wint(&o, k.secret_len, 1);
    wbytes(&o, k.secret, k.secret_len);
    wint(&o, (uint64_t)k.created, 8);
    same(&o, v, len);
}

static void xfr_zone_record(const uint8_t *v, size_t len)
{
    struct spfdb_xfr_zone z;
    struct out o = {.n = 0};

    if (xfr_zone_decode(v, len, &z) != 0)
        return;
    CHECK(spfdb_xfr_zone_rules(z.name, z.ns, NULL) == 0);
    wint(&o, 1, 1);
    wstr(&o, z.name);
    wstr(&o, z.ns);
    same(&o, v, len);
}

/* ADDR is a peer's canonical ADDR:PORT text. */
static void check_canonical(const char *addr)
{
    struct spfdb_addrport ap;
    char text[SPFDB_ADDRPORT_STRLEN];

    CHECK(spfdb_addrport_parse(addr, &ap, NULL, 0) == 0);
    spfdb_addrport_format(&ap, text, sizeof text);
    CHECK(strcmp(text, addr) == 0);
}

static void replica_record(const uint8_t *addr, size_t nlen, const uint8_t *v, size_t len)
{
    struct spfdb_replica r;
    struct out o = {.n = 0};
    char text[SPFDB_ADDRPORT_STRLEN];

    if (xfr_replica_decode((const char *)addr, nlen, v, len, &r) != 0)
        return;
    CHECK(strlen(r.addr) == nlen && memcmp(r.addr, addr, nlen) == 0);
    check_canonical(r.addr);
    spfdb_addrport_format(&r.ap, text, sizeof text);
    CHECK(strcmp(text, r.addr) == 0);
    CHECK(spfdb_key_name_check(r.key, NULL) == 0);
    wint(&o, 1, 1);
    wstr(&o, r.key);
    same(&o, v, len);
}

static void primary_record(const uint8_t *v, size_t len)
{
    struct spfdb_primary p;
    struct out o = {.n = 0};

    if (xfr_primary_decode(v, len, &p) != 0)
        return;
    CHECK(spfdb_xfr_zone_rules(p.zone, NULL, NULL) == 0);
    CHECK(spfdb_key_name_check(p.key, NULL) == 0);
    CHECK(p.n_addr >= 1 && p.n_addr <= SPFDB_PRIMARY_MAX);
    wint(&o, 1, 1);
    wstr(&o, p.zone);
    wstr(&o, p.key);
    wint(&o, p.n_addr, 1);
    for (unsigned i = 0; i < p.n_addr; i++) {
        /* spfdb.h: "get: canonical", none twice, as spfdb_primary_set stores them */
        check_canonical(p.addr[i]);
        for (unsigned j = 0; j < i; j++)
            CHECK(strcmp(p.addr[i], p.addr[j]) != 0);
        wstr(&o, p.addr[i]);
    }
    same(&o, v, len);
}

static void follow_record(const uint8_t *v, size_t len, struct input *fields)
{
    struct spfdb_follow f, f2;
    struct out o = {.n = 0};

    if (xfr_follow_decode(v, len, &f) == 0) {
        /* any octet but 0 is synced */
        /* the first form, or with the counters (spfdb.h) */
        CHECK((len == 22 || len == 22 + 49) && v[0] == 1 && f.synced == (v[1] != 0));
        CHECK(f.primary_serial == get_be32(v + 2) && (uint64_t)f.last_contact == get_be64(v + 6) &&
              (uint64_t)f.last_success == get_be64(v + 14));
    }
    wint(&o, 1, 1);
    wint(&o, take8(fields) & 1, 1);
    wint(&o, (uint32_t)take64(fields), 4);
    wint(&o, take64(fields), 8);
    wint(&o, take64(fields), 8);
    CHECK(xfr_follow_decode(o.b, o.n, &f2) == 0);
    CHECK(f2.synced == o.b[1] && f2.primary_serial == get_be32(o.b + 2) &&
          (uint64_t)f2.last_contact == get_be64(o.b + 6) &&
          (uint64_t)f2.last_success == get_be64(o.b + 14));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input fields = {data, size};
    size_t klen;
    uint8_t *key, *val;

    if (size < 2)
        return 0;
    klen = data[1] <= size - 2 ? data[1] : size - 2;
    key = own(data + 2, klen);
    val = own(data + 2 + klen, size - 2 - klen);
    size_t vlen = size - 2 - klen, all = size - 1;
    uint8_t *whole = own(data + 1, all); /* an unkeyed record: all after the first octet */
    switch (data[0] % 8) {
    case 0: zone_record(key, klen, val, vlen, &fields); break;
    case 1: meta_record(whole, all, &fields); break;
    case 2: alloc_record(key, klen, val, vlen, &fields); break;
    case 3: key_record(key, klen, val, vlen); break;
    case 4: xfr_zone_record(whole, all); break;
    case 5: replica_record(key, klen, val, vlen); break;
    case 6: primary_record(whole, all); break;
    default: follow_record(whole, all, &fields); break;
    }
    free(whole);
    free(val);
    free(key);
    return 0;
}
