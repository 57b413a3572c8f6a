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
 * inside ::ffff:0:0/96.  When the domain's record and those it reaches
 * have only ip4, ip6, all, include and redirect terms (one SPF record
 * each), a first-match walk (RFC 7208 §4.6.2, §5.2) is the oracle: the
 * first address of every ip term's network is imported when the walk
 * passes it by an ip term (`all` passes nothing importable); and unless
 * needs_force is set (an unimportable term first: the evaluator then
 * imports more, and says so), each prefix's first, middle and last
 * address so passes, and no other of those first addresses is imported.
 */
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

/* ---- the oracle: records of ip4, ip6, all, include and redirect ---------- */

#define ORECS 12

struct oterm {
    char q;     /* + - ~ ? */
    int family; /* 4, 6; 0 for all; -1 for include */
    u128 base;
    unsigned len;
    int target; /* include: the index of its record */
};

struct orec {
    char name[256]; /* a copy: include targets lie in a parse's buffer */
    struct oterm t[40];
    size_t n;
    int redirect; /* the index of its record, or -1 */
};

struct oracle {
    const struct table *tab;
    struct orec r[ORECS];
    size_t n;
};

static int oracle_add(struct oracle *o, const char *name);

/* Parse REC into R: 1, or 0 when it has anything else. */
static int oracle_parse(struct oracle *o, const char *rec, struct orec *r)
{
    char buf[1024];
    char *save = NULL, *tok;

    if (strlen(rec) >= sizeof buf)
        return 0;
    strcpy(buf, rec + 6);
    r->n = 0;
    r->redirect = -1;
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        struct oterm t = {'+', 0, 0, 0, -1};
        uint8_t a[16];
        if (r->n == 40)
            return 0;
        if (strncasecmp(tok, "redirect=", 9) == 0) {
            if (r->redirect >= 0 || (r->redirect = oracle_add(o, tok + 9)) < 0)
                return 0;
            continue;
        }
        if (strchr("+-~?", *tok))
            t.q = *tok++;
        if (strcasecmp(tok, "all") == 0) {
            r->t[r->n++] = t;
            continue;
        }
        if (strncasecmp(tok, "include:", 8) == 0) {
            t.family = -1;
            if ((t.target = oracle_add(o, tok + 8)) < 0)
                return 0;
            r->t[r->n++] = t;
            continue;
        }
        if (strncasecmp(tok, "ip4:", 4) == 0)
            t.family = 4;
        else if (strncasecmp(tok, "ip6:", 4) == 0)
            t.family = 6;
        else
            return 0;
        char *v = tok + 4, *slash = strchr(v, '/');
        unsigned bits = t.family == 4 ? 32 : 128, len = bits;
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
        if (inet_pton(t.family == 4 ? AF_INET : AF_INET6, v, a) != 1)
            return 0;
        t.len = len;
        t.base = to_u128(a, t.family) & ~low_mask(bits - len) & low_mask(bits);
        r->t[r->n++] = t;
    }
    return 1;
}

/* NAME's record, parsed (with all it reaches): its index, or -1 when it or
 * one it reaches is not one SPF record of the oracle's terms. */
static int oracle_add(struct oracle *o, const char *name)
{
    const char *rec = NULL;
    size_t k;

    for (k = 0; k < o->n; k++)
        if (strcasecmp(o->r[k].name, name) == 0)
            return (int)k;
    if (o->n == ORECS || strlen(name) >= sizeof o->r[0].name)
        return -1;
    for (size_t i = 0; i < o->tab->n; i++) {
        const struct line *l = &o->tab->v[i];
        if (strcasecmp(l->name, name) == 0 && strcmp(l->type, "TXT") == 0 &&
            strncasecmp(l->value, "v=spf1", 6) == 0 &&
            (l->value[6] == ' ' || l->value[6] == '\0')) {
            if (rec)
                return -1; /* several: the evaluator's permerror, not ours to judge */
            rec = l->value;
        }
    }
    if (!rec)
        return -1;
    k = o->n++;
    strcpy(o->r[k].name, name);
    if (!oracle_parse(o, rec, &o->r[k]))
        return -1;
    return (int)k;
}

enum { O_OTHER, O_PASS, O_PASS_ALL };

/* The first-match walk of record R for X (of FAMILY), RFC 7208 §4.6.2 and
 * §5.2: O_PASS when an ip4 or ip6 term passes it, O_PASS_ALL when `all`
 * does (a pass the evaluator cannot import: it passes every sender), else
 * O_OTHER (fail, softfail, neutral, no match). */
static int oracle_walk(const struct oracle *o, int r, int family, u128 x, int depth)
{
    const struct orec *rec = &o->r[r];
    unsigned bits = family == 4 ? 32 : 128;

    if (depth > 12)
        return O_OTHER; /* a loop: the evaluator's permerror */
    if (family == 6 && x >> 32 == 0xffff)
        return O_OTHER; /* a mapped sender is an IPv4 one; no ip6 term matches */
    for (size_t i = 0; i < rec->n; i++) {
        const struct oterm *t = &rec->t[i];
        if (t->family == 0)
            return t->q == '+' ? O_PASS_ALL : O_OTHER;
        if (t->family == -1) {
            int v = oracle_walk(o, t->target, family, x, depth + 1);
            if (v == O_OTHER)
                continue;
            return t->q == '+' ? v : O_OTHER;
        }
        if (t->family != family)
            continue;
        if (t->len == 0 || ((x ^ t->base) >> (bits - t->len)) == 0)
            return t->q == '+' ? O_PASS : O_OTHER;
    }
    if (rec->redirect >= 0)
        return oracle_walk(o, rec->redirect, family, x, depth + 1);
    return O_OTHER;
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

/* Every address the walk passes by an ip term is imported; and, unless
 * needs_force says an unimportable term came first (then the evaluator
 * imports more than the walk passes, and says so), nothing else is. */
static void check_oracle(const struct table *t, const char *domain, const struct spfeval *ev)
{
    struct oracle o = {.tab = t};
    int top = oracle_add(&o, domain);

    if (top < 0)
        return;
    if (!ev->needs_force)
        for (size_t k = 0; k < ev->n_prefixes; k++) {
            const struct spfdb_prefix *p = &ev->prefixes[k];
            unsigned bits = p->family == 4 ? 32 : 128;
            u128 lo = to_u128(p->addr, p->family), span = low_mask(bits - p->len);
            CHECK(oracle_walk(&o, top, p->family, lo, 0) == O_PASS);
            CHECK(oracle_walk(&o, top, p->family, lo + span / 2, 0) == O_PASS);
            CHECK(oracle_walk(&o, top, p->family, lo + span, 0) == O_PASS);
        }
    for (size_t r = 0; r < o.n; r++)
        for (size_t i = 0; i < o.r[r].n; i++) {
            const struct oterm *u = &o.r[r].t[i];
            if (u->family <= 0)
                continue;
            int v = oracle_walk(&o, top, u->family, u->base, 0);
            if (v == O_PASS)
                CHECK(imported(ev, u->family, u->base));
            else if (!ev->needs_force)
                CHECK(!imported(ev, u->family, u->base));
        }
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
