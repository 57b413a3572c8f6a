/* fuzz_spfeval.c: libFuzzer target for import-spf's evaluator
 * (tools/spfeval.h) against a fake DNS table read from the input.
 *
 * Input: text lines `NAME TYPE VALUE`, TYPE one of TXT, A, AAAA, MX (the
 * value as the lookup gives it: TXT text, an address in text, an MX host)
 * or FAIL (every lookup of NAME fails: SERVFAIL).  A name with lines but
 * none of the asked type is NODATA, a name without lines NXDOMAIN (names
 * compare without case).  The first line's NAME is the domain evaluated.
 *
 * Checked: no crash, leak or read out of bounds (ASan); the result is 0,
 * a permerror, or a temperror only when some lookup failed, with a
 * message on error; the same again when run twice (the lookup is pure);
 * on success at most 10 lookups and 2 void ones per family, and the
 * prefixes canonical (host bits clear), IPv4 before IPv6, sorted,
 * disjoint and none mergeable with the next (the fewest), no IPv6 one
 * inside ::ffff:0:0/96.  When the domain's one SPF record has only
 * ip4:, ip6: and all terms, a first-match walk of it (RFC 7208 §4.6.2)
 * is the oracle: each prefix's first, middle and last address pass it by
 * an ip term (`all` passes nothing importable), and the first address of
 * every term's network is imported exactly when the walk so passes it. */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#define FUZZ_NAME "fuzz_spfeval"
#include "fuzz.h"
#include "spfeval.h"

typedef unsigned __int128 u128;

#define MAX_LINES 64

struct line {
    const char *name, *type, *value; /* NUL-terminated, in the copy */
};

struct table {
    struct line v[MAX_LINES];
    size_t n;
    int failed; /* a lookup returned ETEMP */
};

static int lookup(void *ctx, const char *name, int type, struct spfeval_rrset *out, char *msg,
                  size_t cap)
{
    struct table *t = ctx;
    int exists = 0;

    CHECK(out->n == 0);
    for (size_t i = 0; i < t->n; i++) {
        const struct line *l = &t->v[i];
        if (strcasecmp(l->name, name) != 0)
            continue;
        exists = 1;
        if (strcmp(l->type, "FAIL") == 0) {
            snprintf(msg, cap, "SERVFAIL");
            t->failed = 1;
            return SPFEVAL_ETEMP;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct line *l = &t->v[i];
        uint8_t a[16];
        int r = 0;
        if (strcasecmp(l->name, name) != 0)
            continue;
        if (type == SPFEVAL_TXT && strcmp(l->type, "TXT") == 0)
            r = spfeval_rr_add(out, l->value, strlen(l->value));
        else if (type == SPFEVAL_MX && strcmp(l->type, "MX") == 0)
            r = spfeval_rr_add(out, l->value, strlen(l->value));
        else if (type == SPFEVAL_A && strcmp(l->type, "A") == 0 &&
                 inet_pton(AF_INET, l->value, a) == 1)
            r = spfeval_rr_add(out, a, 4);
        else if (type == SPFEVAL_AAAA && strcmp(l->type, "AAAA") == 0 &&
                 inet_pton(AF_INET6, l->value, a) == 1)
            r = spfeval_rr_add(out, a, 16);
        CHECK(r == 0);
    }
    return exists ? SPFEVAL_FOUND : SPFEVAL_NXDOMAIN;
}

static u128 to_u128(const uint8_t *a, int family)
{
    u128 x = 0;
    for (int i = 0; i < (family == 4 ? 4 : 16); i++)
        x = x << 8 | a[i];
    return x;
}

static u128 low_mask(unsigned k) /* the low K bits set */
{
    return k >= 128 ? ~(u128)0 : ((u128)1 << k) - 1;
}

/* ---- the oracle: a record of ip4, ip6 and all terms -------------------- */

struct oterm {
    char q;     /* + - ~ ? */
    int family; /* 4, 6, or 0 for all */
    u128 base;
    unsigned len;
};

/* Parse REC into T (at most 40 terms): 1, or 0 when it has anything else. */
static int oracle_parse(const char *rec, struct oterm *t, size_t *n)
{
    char buf[1024];
    char *save = NULL, *tok;

    if (strlen(rec) >= sizeof buf || strncasecmp(rec, "v=spf1", 6) != 0 ||
        (rec[6] != ' ' && rec[6] != '\0'))
        return 0;
    strcpy(buf, rec + 6);
    *n = 0;
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        struct oterm o = {'+', 0, 0, 0};
        uint8_t a[16];
        if (*n == 40)
            return 0;
        if (strchr("+-~?", *tok))
            o.q = *tok++;
        if (strcasecmp(tok, "all") == 0) {
            t[(*n)++] = o;
            continue;
        }
        if (strncasecmp(tok, "ip4:", 4) == 0)
            o.family = 4;
        else if (strncasecmp(tok, "ip6:", 4) == 0)
            o.family = 6;
        else
            return 0;
        char *v = tok + 4, *slash = strchr(v, '/');
        unsigned bits = o.family == 4 ? 32 : 128, len = bits;
        if (slash) {
            char *e = slash + 1;
            /* digits, no leading zero, at most BITS (else the evaluator's permerror) */
            if (!isdigit((unsigned char)*e) || (e[0] == '0' && e[1]) || strlen(e) > 3)
                return 0;
            len = 0;
            for (; *e; e++) {
                if (!isdigit((unsigned char)*e))
                    return 0;
                len = len * 10 + (unsigned)(*e - '0');
            }
            if (len > bits)
                return 0;
            *slash = '\0';
        }
        if (inet_pton(o.family == 4 ? AF_INET : AF_INET6, v, a) != 1)
            return 0;
        o.len = len;
        o.base = to_u128(a, o.family) & ~low_mask(bits - len) & low_mask(bits);
        t[(*n)++] = o;
    }
    return 1;
}

/* Does the first-match walk pass X (of FAMILY) by an ip4 or ip6 term?  No
 * match: neutral; `all` matches every address, but what it passes is
 * unimportable (it passes every sender), so is not imported either. */
static int oracle_pass(const struct oterm *t, size_t n, int family, u128 x)
{
    unsigned bits = family == 4 ? 32 : 128;

    if (family == 6 && x >> 32 == 0xffff)
        return 0; /* a mapped sender is an IPv4 one; no ip6 term matches */
    for (size_t i = 0; i < n; i++) {
        if (t[i].family == 0)
            return 0;
        if (t[i].family != family)
            continue;
        if (t[i].len == 0 || ((x ^ t[i].base) >> (bits - t[i].len)) == 0)
            return t[i].q == '+';
    }
    return 0;
}

static int imported(const struct spfeval *ev, int family, u128 x)
{
    unsigned bits = family == 4 ? 32 : 128;

    for (size_t k = 0; k < ev->n_prefixes; k++) {
        const struct spfdb_prefix *p = &ev->prefixes[k];
        if (p->family != family)
            continue;
        u128 base = to_u128(p->addr, family);
        if (p->len == 0 || ((x ^ base) >> (bits - p->len)) == 0)
            return 1;
    }
    return 0;
}

static void check_oracle(const struct table *t, const char *domain, const struct spfeval *ev)
{
    struct oterm o[40];
    const char *rec = NULL;
    size_t n;

    for (size_t i = 0; i < t->n; i++)
        if (strcasecmp(t->v[i].name, domain) == 0 && strcmp(t->v[i].type, "TXT") == 0 &&
            strncasecmp(t->v[i].value, "v=spf1", 6) == 0 &&
            (t->v[i].value[6] == ' ' || t->v[i].value[6] == '\0')) {
            if (rec)
                return; /* several: the evaluator's permerror, not ours to judge */
            rec = t->v[i].value;
        }
    if (!rec || !oracle_parse(rec, o, &n))
        return;
    for (size_t k = 0; k < ev->n_prefixes; k++) {
        const struct spfdb_prefix *p = &ev->prefixes[k];
        unsigned bits = p->family == 4 ? 32 : 128;
        u128 lo = to_u128(p->addr, p->family), span = low_mask(bits - p->len);
        CHECK(oracle_pass(o, n, p->family, lo));
        CHECK(oracle_pass(o, n, p->family, lo + span / 2));
        CHECK(oracle_pass(o, n, p->family, lo + span));
    }
    for (size_t i = 0; i < n; i++)
        if (o[i].family)
            CHECK(imported(ev, o[i].family, o[i].base) ==
                  oracle_pass(o, n, o[i].family, o[i].base));
}

/* ---- the run ------------------------------------------------------------ */

static void check_prefixes(const struct spfeval *ev)
{
    for (size_t k = 0; k < ev->n_prefixes; k++) {
        const struct spfdb_prefix *p = &ev->prefixes[k];
        unsigned bits = p->family == 4 ? 32 : 128;
        CHECK(p->family == 4 || p->family == 6);
        CHECK(p->len <= bits);
        if (p->family == 4)
            for (int i = 4; i < 16; i++)
                CHECK(p->addr[i] == 0);
        u128 lo = to_u128(p->addr, p->family), span = low_mask(bits - p->len);
        CHECK((lo & span) == 0); /* canonical */
        if (p->family == 6) { /* nothing inside ::ffff:0:0/96 */
            u128 m = (u128)0xffff << 32;
            CHECK((lo | span) < m || lo > (m | 0xffffffffu));
        }
        if (k == 0)
            continue;
        const struct spfdb_prefix *q = &ev->prefixes[k - 1];
        CHECK(q->family <= p->family);
        if (q->family != p->family)
            continue;
        u128 qlo = to_u128(q->addr, q->family), qhi = qlo | low_mask(bits - q->len);
        CHECK(qhi < lo); /* sorted and disjoint */
        /* the fewest: not two halves of one prefix */
        CHECK(!(q->len == p->len && p->len > 0 && qhi + 1 == lo &&
                ((qlo >> (bits - p->len)) & 1) == 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct table t = {0};
    struct spfeval ev, ev2;
    char *copy, *p, *save = NULL;
    int r, r2;

    if (size > 4096)
        return 0;
    copy = malloc(size + 1);
    CHECK(copy);
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (char *l = strtok_r(copy, "\n", &save); l && t.n < MAX_LINES;
         l = strtok_r(NULL, "\n", &save)) {
        char *sp1 = strchr(l, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp2)
            continue;
        *sp1 = *sp2 = '\0';
        t.v[t.n++] = (struct line){l, sp1 + 1, sp2 + 1};
    }
    if (t.n == 0 || memchr(data, '\0', size)) {
        free(copy);
        return 0;
    }
    p = (char *)t.v[0].name;

    memset(&ev, 0, sizeof ev);
    ev.lookup = lookup;
    ev.ctx = &t;
    r = spfeval_run(&ev, p);
    CHECK(r == 0 || r == SPFEVAL_EPERM || r == SPFEVAL_ETEMP);
    CHECK(memchr(ev.error, '\0', sizeof ev.error) != NULL);
    if (r != 0)
        CHECK(ev.error[0] != '\0');
    if (r == SPFEVAL_ETEMP)
        CHECK(t.failed);
    for (size_t i = 0; i < ev.notes.n; i++)
        CHECK(ev.notes.v[i] != NULL);
    if (r == 0) {
        CHECK(ev.lookups <= SPFEVAL_MAX_LOOKUPS);
        CHECK(ev.voids[0] <= SPFEVAL_MAX_VOID && ev.voids[1] <= SPFEVAL_MAX_VOID);
        check_prefixes(&ev);
        check_oracle(&t, p, &ev);
    }

    /* pure: the same again */
    memset(&ev2, 0, sizeof ev2);
    ev2.lookup = lookup;
    ev2.ctx = &t;
    r2 = spfeval_run(&ev2, p);
    CHECK(r2 == r);
    if (r == 0) {
        CHECK(ev2.n_prefixes == ev.n_prefixes && ev2.lookups == ev.lookups);
        CHECK(ev.n_prefixes == 0 ||
              memcmp(ev.prefixes, ev2.prefixes, ev.n_prefixes * sizeof *ev.prefixes) == 0);
    }
    spfeval_free(&ev2);
    spfeval_free(&ev);
    free(copy);
    return 0;
}
