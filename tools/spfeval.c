/* Which addresses an SPF record passes (spfeval.h). */
#define _GNU_SOURCE /* vasprintf */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spfeval.h"

/* Nesting is bounded by the lookup limit: each level costs one lookup. */
#define DEPTH_MAX (SPFEVAL_MAX_LOOKUPS + 2)
#define NAME_MAX_ 254

struct spfeval_state {
    char stack[DEPTH_MAX][NAME_MAX_ + 1]; /* the records being evaluated, outermost first */
    unsigned depth;
    int seen_unimportable; /* a term it cannot import came before, in evaluation order */
};

/* ---- sets ---------------------------------------------------------------- */

static const spfeval_u128 U128_MAX = ~(spfeval_u128)0;

/* The K low bits set (K 0..128). */
static spfeval_u128 low_mask(unsigned k)
{
    return k >= 128 ? U128_MAX : ((spfeval_u128)1 << k) - 1;
}

static int set_room(struct spfeval_set *s, size_t n)
{
    if (n > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct spfeval_iv *v;
        while (cap < n)
            cap *= 2;
        if (!(v = realloc(s->v, cap * sizeof *v)))
            return SPFEVAL_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    return 0;
}

int spfeval_set_add(struct spfeval_set *s, spfeval_u128 lo, spfeval_u128 hi)
{
    size_t i = 0, j;

    /* the first interval that overlaps or touches [lo, hi] or lies after it */
    while (i < s->n && s->v[i].hi != U128_MAX && s->v[i].hi + 1 < lo)
        i++;
    /* the first interval after i that lies wholly after [lo, hi], not touching */
    j = i;
    while (j < s->n && (hi == U128_MAX || s->v[j].lo <= hi + 1))
        j++;
    if (j > i) {
        if (s->v[i].lo < lo)
            lo = s->v[i].lo;
        if (s->v[j - 1].hi > hi)
            hi = s->v[j - 1].hi;
        s->v[i].lo = lo;
        s->v[i].hi = hi;
        memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof *s->v);
        s->n -= j - i - 1;
        return 0;
    }
    if (set_room(s, s->n + 1) != 0)
        return SPFEVAL_ENOMEM;
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *s->v);
    s->v[i].lo = lo;
    s->v[i].hi = hi;
    s->n++;
    return 0;
}

int spfeval_set_union(struct spfeval_set *s, const struct spfeval_set *t)
{
    for (size_t k = 0; k < t->n; k++)
        if (spfeval_set_add(s, t->v[k].lo, t->v[k].hi) != 0)
            return SPFEVAL_ENOMEM;
    return 0;
}

int spfeval_set_minus(struct spfeval_set *out, const struct spfeval_set *s,
                      const struct spfeval_set *t)
{
    size_t j = 0;

    for (size_t k = 0; k < s->n; k++) {
        spfeval_u128 lo = s->v[k].lo, hi = s->v[k].hi;
        int done = 0;
        while (j < t->n && t->v[j].hi < lo)
            j++;
        /* cut every interval of T that overlaps [lo, hi] out of it */
        for (size_t m = j; m < t->n && t->v[m].lo <= hi && !done; m++) {
            if (t->v[m].lo > lo && set_room(out, out->n + 1) == 0)
                out->v[out->n++] = (struct spfeval_iv){lo, t->v[m].lo - 1};
            else if (t->v[m].lo > lo)
                return SPFEVAL_ENOMEM;
            if (t->v[m].hi >= hi)
                done = 1;
            else
                lo = t->v[m].hi + 1;
        }
        if (!done) {
            if (set_room(out, out->n + 1) != 0)
                return SPFEVAL_ENOMEM;
            out->v[out->n++] = (struct spfeval_iv){lo, hi};
        }
    }
    return 0;
}

int spfeval_set_has(const struct spfeval_set *s, spfeval_u128 x)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].hi < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo].lo <= x;
}

static void u128_bytes(spfeval_u128 x, int family, uint8_t *addr)
{
    unsigned n = family == 4 ? 4 : 16;
    memset(addr, 0, 16);
    for (unsigned k = 0; k < n; k++)
        addr[n - 1 - k] = (uint8_t)(x >> (8 * k));
}

static spfeval_u128 bytes_u128(const uint8_t *addr, int family)
{
    spfeval_u128 x = 0;
    unsigned n = family == 4 ? 4 : 16;
    for (unsigned k = 0; k < n; k++)
        x = x << 8 | addr[k];
    return x;
}

int spfeval_set_prefixes(const struct spfeval_set *s, int family, struct spfdb_prefix **v,
                         size_t *n, size_t *cap)
{
    unsigned bits = family == 4 ? 32 : 128;

    for (size_t k = 0; k < s->n; k++) {
        spfeval_u128 lo = s->v[k].lo, hi = s->v[k].hi;
        for (;;) {
            /* the largest aligned block at LO that fits in [lo, hi] */
            unsigned b = bits;
            while (b > 0 && ((lo & low_mask(b)) != 0 || low_mask(b) > hi - lo))
                b--;
            if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 16;
                struct spfdb_prefix *p = realloc(*v, c * sizeof *p);
                if (!p)
                    return SPFEVAL_ENOMEM;
                *v = p;
                *cap = c;
            }
            (*v)[*n].family = (uint8_t)family;
            (*v)[*n].len = (uint8_t)(bits - b);
            u128_bytes(lo, family, (*v)[*n].addr);
            (*n)++;
            if (hi - lo == low_mask(b))
                break;
            lo += low_mask(b) + 1;
        }
    }
    return 0;
}

void spfeval_set_free(struct spfeval_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* ---- records ------------------------------------------------------------- */

int spfeval_rr_add(struct spfeval_rrset *s, const void *data, size_t len)
{
    char *p;

    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct spfeval_rr *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return SPFEVAL_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    if (!(p = malloc(len + 1)))
        return SPFEVAL_ENOMEM;
    memcpy(p, data, len);
    p[len] = '\0';
    s->v[s->n].data = p;
    s->v[s->n].len = len;
    s->n++;
    return 0;
}

static void rrset_free(struct spfeval_rrset *s)
{
    for (size_t k = 0; k < s->n; k++)
        free(s->v[k].data);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int line_add(struct spfeval_lines *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int line_add(struct spfeval_lines *l, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return SPFEVAL_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SPFEVAL_ENOMEM;
    l->v[l->n++] = s;
    return 0;
}

static void lines_free(struct spfeval_lines *l)
{
    for (size_t k = 0; k < l->n; k++)
        free(l->v[k]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int fail(struct spfeval *ev, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct spfeval *ev, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ev->error, sizeof ev->error, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- terms --------------------------------------------------------------- */

enum kind { K_ALL, K_INCLUDE, K_A, K_MX, K_PTR, K_IP4, K_IP6, K_EXISTS, K_REDIRECT, K_EXP,
            K_UNKNOWN_MOD };

struct term {
    char q;             /* '+', '-', '~', '?' */
    enum kind kind;
    const char *text;   /* the term as written, for messages */
    const char *domain; /* domain-spec, or NULL: the current domain */
    unsigned cidr4, cidr6;
    uint8_t addr[16];   /* ip4:, ip6: */
    unsigned len;
    int masked;         /* ip4:, ip6: host bits were set */
};

/* A decimal without leading zeros, at most MAX, all of S..E; -1 if not. */
static int parse_len(const char *s, const char *e, unsigned max)
{
    unsigned v = 0;

    if (s == e || e - s > 3 || (*s == '0' && e - s > 1))
        return -1;
    for (; s < e; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    return v <= max ? (int)v : -1;
}

static int has_macro(const char *s)
{
    return strchr(s, '%') != NULL;
}

/* A macro-string's syntax (RFC 7208 §7.1), loosely: every % starts %%, %_,
 * %- or %{letter ...}. */
static int macro_ok(const char *s)
{
    for (; *s; s++) {
        if (*s != '%')
            continue;
        s++;
        if (*s == '%' || *s == '_' || *s == '-')
            continue;
        if (*s != '{' || !strchr("slodiphcrtvSLODIPHCRTV", s[1]) || !s[1])
            return 0;
        if (!(s = strchr(s, '}')))
            return 0;
    }
    return 1;
}

/* A domain-spec without macros: labels of 1..63, at most 253 in all, the
 * last one not all digits (RFC 7208 §7.1 toplabel). */
static int domain_ok(const char *s)
{
    size_t n = strlen(s), lab = 0;
    int alpha = 0;

    if (n && s[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    for (size_t k = 0; k <= n; k++) {
        if (k == n || s[k] == '.') {
            if (lab == 0 || lab > 63)
                return 0;
            if (k < n)
                alpha = 0;
            lab = 0;
            continue;
        }
        if ((unsigned char)s[k] <= ' ' || (unsigned char)s[k] >= 127)
            return 0;
        if (!isdigit((unsigned char)s[k]))
            alpha = 1;
        lab++;
    }
    return alpha;
}

static int spec_ok(const char *s)
{
    return has_macro(s) ? macro_ok(s) : domain_ok(s);
}

/* Split a trailing dual-cidr-length ("/24", "//64", "/24//64") off the
 * argument of a or mx at S (modified in place). */
static int dual_cidr(char *s, struct term *t)
{
    char *dd = strstr(s, "//"), *d;
    int v;

    t->cidr4 = 32;
    t->cidr6 = 128;
    if (dd) {
        if ((v = parse_len(dd + 2, dd + strlen(dd), 128)) < 0)
            return -1;
        t->cidr6 = (unsigned)v;
        *dd = '\0';
    }
    if ((d = strrchr(s, '/'))) {
        if ((v = parse_len(d + 1, d + strlen(d), 32)) < 0)
            return -1;
        t->cidr4 = (unsigned)v;
        *d = '\0';
    }
    return 0;
}

/* Parse ip4:/ip6: value S into T. */
static int ip_value(char *s, struct term *t, int family)
{
    char *slash = strchr(s, '/');
    unsigned bits = family == 4 ? 32 : 128;
    int v = (int)bits;
    uint8_t a[16] = {0};

    if (slash) {
        if ((v = parse_len(slash + 1, slash + strlen(slash), bits)) < 0)
            return -1;
        *slash = '\0';
    }
    if (inet_pton(family == 4 ? AF_INET : AF_INET6, s, a) != 1)
        return -1;
    if (slash)
        *slash = '/';
    memcpy(t->addr, a, 16);
    t->len = (unsigned)v;
    for (unsigned k = t->len; k < bits; k++)
        if (t->addr[k / 8] & (0x80 >> (k % 8))) {
            t->masked = 1;
            t->addr[k / 8] &= (uint8_t)~(0x80 >> (k % 8));
        }
    return 0;
}

static int name_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* Parse one term TOK (a copy, modified; TEXT the original) into T: 0, or -1
 * for a syntax error. */
static int parse_term(char *tok, const char *text, struct term *t)
{
    size_t n = strcspn(tok, ":/=");
    char *arg = tok[n] ? tok + n + 1 : NULL;

    memset(t, 0, sizeof *t);
    t->text = text;
    t->q = '+';
    if (tok[n] == '=') { /* a modifier: name = ALPHA *(ALPHA / DIGIT / - _ .) */
        if (!isalpha((unsigned char)tok[0]))
            return -1;
        for (size_t k = 1; k < n; k++)
            if (!isalnum((unsigned char)tok[k]) && !strchr("-_.", tok[k]))
                return -1;
        t->domain = arg;
        if (name_is(tok, n, "redirect")) {
            t->kind = K_REDIRECT;
            return spec_ok(arg) ? 0 : -1;
        }
        if (name_is(tok, n, "exp")) {
            t->kind = K_EXP;
            return spec_ok(arg) ? 0 : -1;
        }
        t->kind = K_UNKNOWN_MOD;
        return macro_ok(arg) ? 0 : -1;
    }
    if (strchr("+-~?", tok[0])) {
        t->q = tok[0];
        tok++;
        n--;
    }
    if (name_is(tok, n, "all")) {
        t->kind = K_ALL;
        return tok[n] ? -1 : 0;
    }
    if (name_is(tok, n, "include") || name_is(tok, n, "exists")) {
        t->kind = tolower((unsigned char)tok[0]) == 'i' ? K_INCLUDE : K_EXISTS;
        if (tok[n] != ':')
            return -1;
        t->domain = arg;
        return spec_ok(arg) ? 0 : -1;
    }
    if (name_is(tok, n, "a") || name_is(tok, n, "mx")) {
        char *rest = tok + n;
        t->kind = n == 1 ? K_A : K_MX;
        if (dual_cidr(rest, t) != 0)
            return -1;
        if (*rest == '\0')
            return 0;
        if (*rest != ':')
            return -1;
        t->domain = rest + 1;
        return spec_ok(t->domain) ? 0 : -1;
    }
    if (name_is(tok, n, "ptr")) {
        t->kind = K_PTR;
        if (!tok[n])
            return 0;
        if (tok[n] != ':')
            return -1;
        t->domain = arg;
        return spec_ok(arg) ? 0 : -1;
    }
    if (name_is(tok, n, "ip4") || name_is(tok, n, "ip6")) {
        int family = tok[2] == '4' ? 4 : 6;
        t->kind = family == 4 ? K_IP4 : K_IP6;
        if (tok[n] != ':')
            return -1;
        return ip_value(arg, t, family);
    }
    return -1;
}

/* ---- evaluation ---------------------------------------------------------- */

/* The addresses a term (or a record) matches, per family: 0 IPv4, 1 IPv6. */
struct fam {
    struct spfeval_set s[2];
};

static void fam_free(struct fam *f)
{
    spfeval_set_free(&f->s[0]);
    spfeval_set_free(&f->s[1]);
}

static void lower(char *dst, const char *s)
{
    size_t n = strlen(s);
    if (n && s[n - 1] == '.')
        n--;
    for (size_t k = 0; k < n; k++)
        dst[k] = (char)tolower((unsigned char)s[k]);
    dst[n] = '\0';
}

/* Count a DNS-querying term of record DOMAIN. */
static int count_lookup(struct spfeval *ev, const char *domain, const struct term *t)
{
    if (++ev->lookups > SPFEVAL_MAX_LOOKUPS)
        return fail(ev, SPFEVAL_EPERM,
                    "%s: more than %d DNS lookups (RFC 7208 section 4.6.4 limit), at %s in %s",
                    ev->st->stack[0], SPFEVAL_MAX_LOOKUPS, t->text, domain);
    return 0;
}

/* Count a void lookup for the senders of family index F. */
static int count_void(struct spfeval *ev, const char *domain, const struct term *t,
                      const char *name, int f)
{
    if (++ev->voids[f] > SPFEVAL_MAX_VOID)
        return fail(ev, SPFEVAL_EPERM,
                    "%s: more than %d void DNS lookups (RFC 7208 section 4.6.4 limit), at %s "
                    "in %s (%s has no %s record)",
                    ev->st->stack[0], SPFEVAL_MAX_VOID, t->text, domain, name,
                    f == 0 ? "A" : "AAAA");
    return 0;
}

static int lookup(struct spfeval *ev, const char *name, int type, struct spfeval_rrset *out)
{
    char msg[256] = "lookup failed";
    int r = ev->lookup(ev->ctx, name, type, out, msg, sizeof msg);

    if (r == SPFEVAL_ETEMP)
        return fail(ev, SPFEVAL_ETEMP, "%s: temporary DNS failure looking up %s %s: %s",
                    ev->st->stack[0], name,
                    type == SPFEVAL_TXT ? "TXT" : type == SPFEVAL_MX ? "MX"
                                                : type == SPFEVAL_A ? "A" : "AAAA",
                    msg);
    if (r < 0)
        return r == SPFEVAL_ENOMEM ? SPFEVAL_ENOMEM : fail(ev, r, "%s: %s", name, msg);
    return r;
}

/* The addresses of NAME, widened to T's lengths, into M; void lookups
 * counted when COUNT. */
static int host_addrs(struct spfeval *ev, const char *domain, const struct term *t,
                      const char *name, struct fam *m, int count)
{
    static const int types[2] = {SPFEVAL_A, SPFEVAL_AAAA};

    for (int f = 0; f < 2; f++) {
        struct spfeval_rrset rr = {0};
        unsigned bits = f == 0 ? 32 : 128, len = f == 0 ? t->cidr4 : t->cidr6;
        size_t want = f == 0 ? 4 : 16, got = 0;
        int r = lookup(ev, name, types[f], &rr);

        for (size_t k = 0; r == SPFEVAL_FOUND && k < rr.n; k++) {
            spfeval_u128 x;
            if (rr.v[k].len != want)
                continue;
            x = bytes_u128((const uint8_t *)rr.v[k].data, f == 0 ? 4 : 6) &
                ~low_mask(bits - len);
            r = spfeval_set_add(&m->s[f], x, x | low_mask(bits - len));
            got++;
        }
        rrset_free(&rr);
        if (r < 0)
            return r;
        if (got == 0 && count && (r = count_void(ev, domain, t, name, f)) != 0)
            return r;
    }
    return 0;
}

static int eval_record(struct spfeval *ev, const char *domain, struct fam *pass);

/* Is NAME on the stack of records being evaluated? */
static int on_stack(const struct spfeval *ev, const char *name)
{
    for (unsigned k = 0; k < ev->st->depth; k++)
        if (strcmp(ev->st->stack[k], name) == 0)
            return 1;
    return 0;
}

/* The pass set of the record of SPEC (include: or redirect= of DOMAIN). */
static int eval_target(struct spfeval *ev, const char *domain, const struct term *t,
                       struct fam *m)
{
    char name[NAME_MAX_ + 1];

    lower(name, t->domain);
    if (on_stack(ev, name)) {
        char chain[1024];
        size_t n = 0;
        for (unsigned k = 0; k < ev->st->depth && n < sizeof chain; k++)
            n += (size_t)snprintf(chain + n, sizeof chain - n, "%s -> ", ev->st->stack[k]);
        if (n < sizeof chain)
            snprintf(chain + n, sizeof chain - n, "%s", name);
        return fail(ev, SPFEVAL_EPERM, "%s: loop: %s (%s in %s)", ev->st->stack[0], chain,
                    t->text, domain);
    }
    return eval_record(ev, name, m);
}

static const char *why_unimportable(const struct term *t)
{
    if (t->kind == K_ALL)
        return "passes every address";
    if (t->domain && has_macro(t->domain))
        return "a macro depends on the sender";
    if (t->kind == K_PTR)
        return "depends on the sender's reverse DNS";
    return "depends on a lookup for each sender";
}

/* What term T of record DOMAIN matches, into M; *UNIMP set when it
 * cannot be known. */
static int term_set(struct spfeval *ev, const char *domain, const struct term *t, struct fam *m,
                    int *unimp)
{
    int r;

    *unimp = 0;
    switch (t->kind) {
    case K_IP4:
    case K_IP6: {
        int f = t->kind == K_IP4 ? 0 : 1;
        unsigned bits = f == 0 ? 32 : 128;
        spfeval_u128 x = bytes_u128(t->addr, f == 0 ? 4 : 6);
        if (t->masked) {
            struct spfdb_prefix p = {.family = (uint8_t)(f == 0 ? 4 : 6), .len = (uint8_t)t->len};
            char buf[SPFDB_PREFIX_STRLEN];
            memcpy(p.addr, t->addr, 16);
            spfdb_prefix_format(&p, buf, sizeof buf);
            if ((r = line_add(&ev->notes, "%s: %s: host bits masked: %s", domain, t->text,
                              buf)) != 0)
                return r;
        }
        return spfeval_set_add(&m->s[f], x, x | low_mask(bits - t->len));
    }
    case K_ALL:
        *unimp = t->q == '+';
        return 0;
    case K_PTR:
    case K_EXISTS:
        if ((r = count_lookup(ev, domain, t)) != 0)
            return r;
        *unimp = 1;
        return 0;
    case K_INCLUDE:
    case K_A:
    case K_MX:
        if ((r = count_lookup(ev, domain, t)) != 0)
            return r;
        if (t->domain && has_macro(t->domain)) {
            *unimp = 1;
            return 0;
        }
        break;
    default:
        return 0;
    }
    if (t->kind == K_INCLUDE)
        return eval_target(ev, domain, t, m);
    {
        char name[NAME_MAX_ + 1];
        struct spfeval_rrset mx = {0};
        lower(name, t->domain ? t->domain : domain);
        if (t->kind == K_A)
            return host_addrs(ev, domain, t, name, m, 1);
        r = lookup(ev, name, SPFEVAL_MX, &mx);
        if (r == SPFEVAL_NXDOMAIN || (r == SPFEVAL_FOUND && mx.n == 0)) {
            rrset_free(&mx);
            if ((r = count_void(ev, domain, t, name, 0)) != 0 ||
                (r = count_void(ev, domain, t, name, 1)) != 0)
                return r;
            return line_add(&ev->notes, "%s: %s: %s has no MX record", domain, t->text, name);
        }
        if (r == SPFEVAL_FOUND && mx.n > SPFEVAL_MAX_MX) {
            size_t n = mx.n;
            rrset_free(&mx);
            return fail(ev, SPFEVAL_EPERM,
                        "%s: %s in %s: %s has %zu MX hosts, more than %d (RFC 7208 section "
                        "4.6.4 limit)",
                        ev->st->stack[0], t->text, domain, name, n, SPFEVAL_MAX_MX);
        }
        for (size_t k = 0; r == SPFEVAL_FOUND && k < mx.n; k++) {
            char host[NAME_MAX_ + 1];
            if (mx.v[k].len == 0 || mx.v[k].len > NAME_MAX_ - 1 ||
                strcmp(mx.v[k].data, ".") == 0)
                continue; /* a null MX (RFC 7505) names no host */
            lower(host, mx.v[k].data);
            r = host_addrs(ev, domain, t, host, m, 0);
        }
        rrset_free(&mx);
        return r;
    }
}

/* Is F non-empty? */
static int fam_any(const struct fam *f)
{
    return f->s[0].n || f->s[1].n;
}

/* PASS ∪= M \ C (per family). */
static int add_pass(struct fam *pass, const struct fam *m, const struct fam *c)
{
    for (int f = 0; f < 2; f++) {
        struct spfeval_set d = {0};
        int r = spfeval_set_minus(&d, &m->s[f], &c->s[f]);
        if (r == 0)
            r = spfeval_set_union(&pass->s[f], &d);
        spfeval_set_free(&d);
        if (r != 0)
            return r;
    }
    return 0;
}

/* DOMAIN's one SPF record, into *REC (malloc'd). */
static int fetch_record(struct spfeval *ev, const char *domain, char **rec)
{
    struct spfeval_rrset rr = {0};
    size_t found = 0;
    int r = lookup(ev, domain, SPFEVAL_TXT, &rr);

    *rec = NULL;
    for (size_t k = 0; r == SPFEVAL_FOUND && k < rr.n; k++) {
        const char *s = rr.v[k].data;
        if (strncasecmp(s, "v=spf1", 6) != 0 || (s[6] != ' ' && s[6] != '\0'))
            continue;
        if (strlen(s) != rr.v[k].len) {
            rrset_free(&rr);
            free(*rec);
            return fail(ev, SPFEVAL_EPERM, "%s: the SPF record of %s holds a NUL byte",
                        ev->st->stack[0], domain);
        }
        if (found++ == 0 && !(*rec = strdup(s)))
            r = SPFEVAL_ENOMEM;
    }
    rrset_free(&rr);
    if (r < 0) {
        free(*rec);
        *rec = NULL;
        return r;
    }
    if (found != 1) {
        free(*rec);
        *rec = NULL;
        if (found)
            return fail(ev, SPFEVAL_EPERM, "%s: %s publishes %zu SPF records", ev->st->stack[0],
                        domain, found);
        return fail(ev, SPFEVAL_EPERM, "%s: %s publishes no SPF record", ev->st->stack[0],
                    domain);
    }
    return 0;
}

#define TERMS_MAX 512 /* a TXT record of 64 KiB has fewer than 32 Ki terms */

static int eval_record(struct spfeval *ev, const char *domain, struct fam *pass)
{
    struct spfeval_state *st = ev->st;
    char *rec, *copy = NULL, *text = NULL;
    struct term *terms = NULL;
    const struct term *redirect = NULL;
    size_t n = 0;
    int r, has_all = 0, has_exp = 0;
    struct fam c = {0};

    if (st->depth >= DEPTH_MAX)
        return fail(ev, SPFEVAL_EPERM, "%s: includes nested too deep at %s", st->stack[0],
                    domain);
    snprintf(st->stack[st->depth++], sizeof st->stack[0], "%s", domain);
    if ((r = fetch_record(ev, domain, &rec)) != 0)
        goto out;
    /* two copies: one cut into terms, one kept whole for messages */
    if (!(copy = strdup(rec + 6)) || !(text = strdup(rec + 6)) ||
        !(terms = calloc(TERMS_MAX, sizeof *terms))) {
        r = SPFEVAL_ENOMEM;
        goto out;
    }
    /* every term's syntax first, as a verifier checks the whole record */
    for (size_t i = 0, len, all = strlen(copy); i < all; i += len + 1) {
        len = strcspn(copy + i, " ");
        if (len == 0)
            continue;
        if (n == TERMS_MAX) {
            r = fail(ev, SPFEVAL_EPERM, "%s: the SPF record of %s has more than %d terms",
                     st->stack[0], domain, TERMS_MAX);
            goto out;
        }
        copy[i + len] = text[i + len] = '\0';
        if (parse_term(copy + i, text + i, &terms[n]) != 0) {
            r = fail(ev, SPFEVAL_EPERM, "%s: the SPF record of %s: bad term '%s'", st->stack[0],
                     domain, text + i);
            goto out;
        }
        has_all |= terms[n].kind == K_ALL;
        if ((terms[n].kind == K_REDIRECT && redirect) || (terms[n].kind == K_EXP && has_exp)) {
            r = fail(ev, SPFEVAL_EPERM, "%s: the SPF record of %s: '%s' repeated", st->stack[0],
                     domain, terms[n].kind == K_EXP ? "exp=" : "redirect=");
            goto out;
        }
        has_exp |= terms[n].kind == K_EXP;
        if (terms[n].kind == K_REDIRECT)
            redirect = &terms[n];
        n++;
    }
    /* then the walk, up to `all` (nothing after it is ever reached) */
    for (size_t k = 0; k < n; k++) {
        const struct term *t = &terms[k];
        struct fam m = {0};
        int unimp;
        if (t->kind == K_REDIRECT || t->kind == K_EXP || t->kind == K_UNKNOWN_MOD)
            continue;
        r = term_set(ev, domain, t, &m, &unimp);
        if (r == 0 && unimp) {
            st->seen_unimportable = 1;
            if (t->kind == K_ALL)
                ev->needs_force = 1;
            r = line_add(&ev->unimportable, "%s: %s (%s)", domain, t->text, why_unimportable(t));
        } else if (r == 0 && t->q == '+' && fam_any(&m)) {
            ev->needs_force |= st->seen_unimportable;
            r = add_pass(pass, &m, &c);
        }
        for (int f = 0; r == 0 && f < 2; f++)
            r = spfeval_set_union(&c.s[f], &m.s[f]);
        fam_free(&m);
        if (r != 0 || t->kind == K_ALL)
            goto out;
    }
    /* redirect=: only without `all`; its record decides what no term matched */
    if (redirect && !has_all) {
        struct fam m = {0};
        if ((r = count_lookup(ev, domain, redirect)) != 0)
            goto out;
        if (has_macro(redirect->domain)) {
            st->seen_unimportable = 1;
            r = line_add(&ev->unimportable, "%s: %s (%s)", domain, redirect->text,
                         why_unimportable(redirect));
            goto out;
        }
        r = eval_target(ev, domain, redirect, &m);
        if (r == 0)
            r = add_pass(pass, &m, &c);
        fam_free(&m);
    }
out:
    fam_free(&c);
    free(terms);
    free(text);
    free(copy);
    free(rec);
    st->depth--;
    return r;
}

int spfeval_run(struct spfeval *ev, const char *domain)
{
    struct fam pass = {0};
    char name[NAME_MAX_ + 1];
    size_t cap = 0;
    int r;

    if (strlen(domain) > NAME_MAX_ - 1 || !domain_ok(domain))
        return fail(ev, SPFEVAL_EPERM, "not a domain name: %s", domain);
    if (!(ev->st = calloc(1, sizeof *ev->st)))
        return SPFEVAL_ENOMEM;
    lower(name, domain);
    r = eval_record(ev, name, &pass);
    if (r == 0 && pass.s[1].n) {
        /* a verifier treats an IPv4-mapped sender as IPv4 (RFC 7208 §5):
         * an ip6 term never matches inside ::ffff:0:0/96 */
        struct spfeval_set mapped = {0}, d = {0};
        spfeval_u128 lo = (spfeval_u128)0xffff << 32;
        r = spfeval_set_add(&mapped, lo, lo | 0xffffffffu);
        if (r == 0)
            r = spfeval_set_minus(&d, &pass.s[1], &mapped);
        if (r == 0 && d.n != pass.s[1].n)
            r = line_add(&ev->notes, "%s: IPv4-mapped IPv6 addresses never match; not imported",
                         name);
        if (r == 0) {
            spfeval_set_free(&pass.s[1]);
            pass.s[1] = d;
        } else {
            spfeval_set_free(&d);
        }
        spfeval_set_free(&mapped);
    }
    if (r == 0)
        r = spfeval_set_prefixes(&pass.s[0], 4, &ev->prefixes, &ev->n_prefixes, &cap);
    if (r == 0)
        r = spfeval_set_prefixes(&pass.s[1], 6, &ev->prefixes, &ev->n_prefixes, &cap);
    if (r == SPFEVAL_ENOMEM)
        snprintf(ev->error, sizeof ev->error, "out of memory");
    fam_free(&pass);
    return r;
}

void spfeval_free(struct spfeval *ev)
{
    free(ev->prefixes);
    ev->prefixes = NULL;
    ev->n_prefixes = 0;
    lines_free(&ev->notes);
    lines_free(&ev->unimportable);
    free(ev->st);
    ev->st = NULL;
}
