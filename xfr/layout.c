/* layout.c: layout 1 of the transfer zone (layout.h). */
#include "layout.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"

#define TXT_MAX 255 /* octets of one character-string */

static const char *const errors[] = {
    [0] = "ok",
    [-XFR_ENOSPACE] = "no space in the message",
    [-XFR_EINVAL] = "not a valid name or value",
    [-XFR_EOUTSIDE] = "owner outside the transfer zone",
    [-XFR_ECLASS] = "class other than IN",
    [-XFR_EOWNER] = "owner fits no layout-1 name",
    [-XFR_ETYPE] = "type not expected at this owner",
    [-XFR_ERDATA] = "malformed RDATA",
    [-XFR_ELAYOUT] = "unsupported layout version",
    [-XFR_ETXT] = "unexpected TXT strings",
    [-XFR_EALLOC] = "bad allocation name",
    [-XFR_EZONE] = "bad zone name",
    [-XFR_ESET_UNKNOWN] = "unknown zone setting",
    [-XFR_ESET_DUP] = "zone setting given twice",
    [-XFR_ESET_MISSING] = "zone setting missing",
    [-XFR_ESET_VALUE] = "bad zone setting value",
    [-XFR_ENS] = "bad NS host list",
    [-XFR_EMEMBER] = "member PTR does not match its owner",
    [-XFR_EAPL_FAMILY] = "APL address family not 1 or 2",
    [-XFR_EAPL_NEG] = "APL negation bit set",
    [-XFR_EAPL_ITEMS] = "APL with other than one item",
    [-XFR_EAPL_LENGTH] = "APL length out of range",
    [-XFR_EAPL_HOSTBITS] = "APL prefix with host bits set",
    [-XFR_EAPL_MAPPED] = "APL prefix is IPv4-mapped IPv6",
    [-XFR_EAPL_OWNER] = "owner does not match the APL prefix",
    [-XFR_EORDER] = "record out of the transfer's order",
    [-XFR_ETOOBIG] = "record larger than an empty message",
};

const char *xfr_strerror(int err)
{
    return xfr_errtext(errors, sizeof errors / sizeof errors[0], err);
}

int xfr_origin_set(struct xfr_origin *o, const char *text)
{
    size_t n = strlen(text);
    int len;

    if (n > 0 && text[n - 1] == '.')
        n--;
    if (n == 0 || n > XFR_ORIGIN_MAX || (len = xfr_name_from_text(text, n, o->name)) < 0)
        return XFR_EINVAL;
    o->len = (size_t)len;
    return XFR_OK;
}

void xfr_out_init(struct xfr_out *out, const struct xfr_origin *origin, uint8_t *buf, size_t cap,
                  size_t len, size_t origin_ptr)
{
    out->buf = buf;
    out->cap = cap;
    out->len = len;
    out->origin = origin;
    out->origin_ptr = origin_ptr < 0x4000 ? (uint16_t)origin_ptr : 0;
    out->alloc_ptr = 0;
    out->alloc[0] = '\0';
}

size_t xfr_plabel(const struct spfdb_prefix *p, char out[XFR_PLABEL_MAX + 1])
{
    size_t n;

    spfdb_prefix_format(p, out, XFR_PLABEL_MAX + 1);
    for (n = 0; out[n]; n++)
        if (out[n] == '.' || out[n] == ':' || out[n] == '/')
            out[n] = '-';
    return n;
}

/* ---- rendering ------------------------------------------------------- */

/* One record under construction: writes past the end only mark it failed,
 * so the caller checks once and rolls back. */
struct rec {
    struct xfr_out *out;
    size_t at;
    int err;
};

static void put(struct rec *r, const void *p, size_t n)
{
    if (r->err || n == 0) /* n == 0: P may be NULL */
        return;
    if (r->out->cap - r->at < n) {
        r->err = XFR_ENOSPACE;
        return;
    }
    memcpy(r->out->buf + r->at, p, n);
    r->at += n;
}

static void put16(struct rec *r, uint16_t v)
{
    uint8_t b[2];

    put_be16(b, v);
    put(r, b, 2);
}

static void put32(struct rec *r, uint32_t v)
{
    uint8_t b[4];

    put_be32(b, v);
    put(r, b, 4);
}

static void fail(struct rec *r, int err)
{
    if (!r->err)
        r->err = err;
}

/* Labels from text ("a", "a.b"; validated, lowercased) into W, without the
 * root.  Returns the octets written, or -1. */
static int text_labels(const char *s, uint8_t w[XFR_NAME_MAX])
{
    int n = xfr_name_from_text(s, strlen(s), w);

    return n <= 1 ? -1 : n - 1;
}

/* An allocation name as one label; -1 unless it is one. */
static int alloc_labels(const char *s, uint8_t w[XFR_NAME_MAX])
{
    return strchr(s, '.') ? -1 : text_labels(s, w);
}

/* A name: the labels LAB, then `<alloc>.a` when ALLOC is not NULL, then
 * the origin.  Compressed against the origin and the last `<alloc>.a`
 * when the caller gave the origin's offset. */
static void put_name(struct rec *r, const uint8_t *lab, size_t lab_len, const char *alloc)
{
    struct xfr_out *o = r->out;
    const struct xfr_origin *org = o->origin;
    uint8_t aw[XFR_NAME_MAX];
    int alen = 0;

    if (alloc && (alen = alloc_labels(alloc, aw)) < 0) {
        fail(r, XFR_EINVAL);
        return;
    }
    if (alloc) {
        aw[alen++] = 1;
        aw[alen++] = 'a';
    }
    if (lab_len + (size_t)alen + org->len > XFR_NAME_MAX) {
        fail(r, XFR_EINVAL);
        return;
    }
    put(r, lab, lab_len);
    if (!o->origin_ptr) {
        put(r, aw, (size_t)alen);
        put(r, org->name, org->len);
        return;
    }
    if (alloc && o->alloc_ptr && strcmp(o->alloc, alloc) == 0) {
        put16(r, (uint16_t)(0xC000 | o->alloc_ptr));
        return;
    }
    if (alloc && !r->err && r->at < 0x4000 && strlen(alloc) < sizeof o->alloc) {
        o->alloc_ptr = (uint16_t)r->at;
        strcpy(o->alloc, alloc);
    }
    put(r, aw, (size_t)alen);
    put16(r, (uint16_t)(0xC000 | o->origin_ptr));
}

/* Owner, type, class IN, TTL 0 and a placeholder RDLENGTH; returns where
 * the RDATA begins. */
static size_t put_head(struct rec *r, const uint8_t *lab, size_t lab_len, const char *alloc,
                       uint16_t type)
{
    put_name(r, lab, lab_len, alloc);
    put16(r, type);
    put16(r, XFR_C_IN);
    put32(r, 0);
    put16(r, 0);
    return r->at;
}

static void put_string(struct rec *r, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    uint8_t l;

    if (la + lb > TXT_MAX) {
        fail(r, XFR_EINVAL);
        return;
    }
    l = (uint8_t)(la + lb);
    put(r, &l, 1);
    put(r, a, la);
    put(r, b, lb);
}

/* Set RDLENGTH and commit, or roll the message and the compression state
 * back to START. */
static int finish(struct rec *r, size_t rdata, const struct xfr_out *start)
{
    if (!r->err && r->at - rdata > 0xFFFF)
        r->err = XFR_EINVAL;
    if (r->err) {
        *r->out = *start;
        return r->err;
    }
    put_be16(r->out->buf + rdata - 2, (uint16_t)(r->at - rdata));
    r->out->len = r->at;
    return XFR_OK;
}

/* N octets of labels in LAB (N < 0: none valid), then the one-letter
 * label TAG.  The new length, or -1. */
static int add_tag(int n, uint8_t lab[XFR_NAME_MAX], char tag)
{
    if (n < 0 || n + 2 > XFR_NAME_MAX)
        return -1;
    lab[n] = 1;
    lab[n + 1] = (uint8_t)tag;
    return n + 2;
}

#define BEGIN(o)                                                                                  \
    struct xfr_out start = *(o);                                                                  \
    struct rec r = {(o), (o)->len, (o)->len > (o)->cap ? XFR_ENOSPACE : 0}

static void put_host(struct rec *r, const char *host)
{
    uint8_t w[XFR_NAME_MAX];
    int n = xfr_name_from_text(host, strlen(host), w);

    if (n <= 1)
        fail(r, XFR_EINVAL);
    else
        put(r, w, (size_t)n);
}

int xfr_put_soa(struct xfr_out *out, const char *ns, uint32_t serial)
{
    BEGIN(out);
    size_t rd = put_head(&r, NULL, 0, NULL, XFR_T_SOA);

    put_host(&r, ns);
    put_host(&r, XFR_SOA_RNAME);
    put32(&r, serial);
    put32(&r, XFR_SOA_REFRESH);
    put32(&r, XFR_SOA_RETRY);
    put32(&r, XFR_SOA_EXPIRE);
    put32(&r, XFR_SOA_MINIMUM);
    return finish(&r, rd, &start);
}

int xfr_put_ns(struct xfr_out *out, const char *ns)
{
    BEGIN(out);
    size_t rd = put_head(&r, NULL, 0, NULL, XFR_T_NS);

    put_host(&r, ns);
    return finish(&r, rd, &start);
}

int xfr_put_layout(struct xfr_out *out)
{
    static const uint8_t lab[] = {6, '_', 's', 'p', 'f', 'd', 'b'};
    char v[16];
    BEGIN(out);
    size_t rd = put_head(&r, lab, sizeof lab, NULL, XFR_T_TXT);

    snprintf(v, sizeof v, "%d", XFR_LAYOUT_VERSION);
    put_string(&r, "layout=", v);
    return finish(&r, rd, &start);
}

int xfr_put_zone(struct xfr_out *out, const struct spfdb_zone *z)
{
    uint8_t lab[XFR_NAME_MAX];
    char num[16];
    int n = add_tag(text_labels(z->name, lab), lab, 'z');
    BEGIN(out);

    if (n < 0 || z->n_ns < 1 || z->n_ns > SPFDB_NS_MAX) {
        fail(&r, XFR_EINVAL);
        n = 0;
    }
    size_t rd = put_head(&r, lab, (size_t)n, NULL, XFR_T_TXT);
    put_string(&r, "allocation=", z->alloc);
    snprintf(num, sizeof num, "%u", (unsigned)z->ttl);
    put_string(&r, "ttl=", num);
    snprintf(num, sizeof num, "%u", (unsigned)z->neg_ttl);
    put_string(&r, "negative-ttl=", num);
    put_string(&r, "hostmaster=", z->hostmaster);
    for (unsigned i = 0; i < z->n_ns && i < SPFDB_NS_MAX; i++)
        put_string(&r, z->ns[i], ".");
    return finish(&r, rd, &start);
}

int xfr_put_alloc(struct xfr_out *out, const char *alloc)
{
    BEGIN(out);
    size_t rd = put_head(&r, NULL, 0, alloc, XFR_T_TXT);

    put_string(&r, "allocation", "");
    return finish(&r, rd, &start);
}

int xfr_put_member(struct xfr_out *out, const char *alloc, const char *member)
{
    uint8_t lab[XFR_NAME_MAX];
    int n = add_tag(alloc_labels(member, lab), lab, 'm');
    BEGIN(out);

    if (n < 0) {
        fail(&r, XFR_EINVAL);
        n = 0;
    }
    size_t rd = put_head(&r, lab, (size_t)n, alloc, XFR_T_PTR);
    put_name(&r, NULL, 0, member);
    return finish(&r, rd, &start);
}

int xfr_put_entry(struct xfr_out *out, const char *alloc, const struct spfdb_prefix *p)
{
    uint8_t lab[2 + XFR_PLABEL_MAX], head[4];
    unsigned bytes = p->family == 4 ? 4 : 16, afd = bytes;
    BEGIN(out);

    if ((p->family != 4 && p->family != 6) || p->len > bytes * 8) {
        fail(&r, XFR_EINVAL);
        afd = 0;
    }
    lab[0] = (uint8_t)xfr_plabel(p, (char *)lab + 1);
    size_t rd = put_head(&r, lab, 1u + lab[0], alloc, XFR_T_APL);
    /* RFC 3123 §4: the address with trailing zero octets left out, as
     * Knot and BIND write it from text. */
    while (afd > 0 && p->addr[afd - 1] == 0)
        afd--;
    put_be16(head, p->family == 4 ? 1 : 2);
    head[2] = p->len;
    head[3] = (uint8_t)afd;
    put(&r, head, 4);
    put(&r, p->addr, afd);
    return finish(&r, rd, &start);
}

int xfr_put_obj(struct xfr_out *out, const char *ns, const struct xfr_obj *o)
{
    switch (o->kind) {
    case XFR_SOA:
        return xfr_put_soa(out, ns, o->soa.serial);
    case XFR_IGNORE:
        return xfr_put_ns(out, ns);
    case XFR_LAYOUT:
        return xfr_put_layout(out);
    case XFR_ZONE:
        return xfr_put_zone(out, &o->zone);
    case XFR_ALLOC:
        return xfr_put_alloc(out, o->alloc.alloc);
    case XFR_MEMBER:
        return xfr_put_member(out, o->member.alloc, o->member.member);
    case XFR_ENTRY:
        return xfr_put_entry(out, o->entry.alloc, &o->entry.prefix);
    }
    return XFR_EINVAL;
}

/* ---- parsing --------------------------------------------------------- */

/* The labels of a name before the origin: offsets of their length octets. */
struct labels {
    const uint8_t *name;
    unsigned n;
    uint8_t at[XFR_NAME_MAX / 2 + 1];
};

static int label_is(const struct labels *l, unsigned i, const char *s)
{
    const uint8_t *p = l->name + l->at[i];
    size_t n = strlen(s);

    if (p[0] != n)
        return 0;
    for (size_t k = 0; k < n; k++) {
        if (xfr_fold(p[1 + k]) != (uint8_t)s[k])
            return 0;
    }
    return 1;
}

/* Label I as lowercase text in OUT (64 octets), or -1 for a byte outside
 * letters, digits, '-' and '_' (a '.' or NUL could never round-trip). */
static int label_text(const struct labels *l, unsigned i, char *out)
{
    const uint8_t *p = l->name + l->at[i];

    for (unsigned k = 0; k < p[0]; k++) {
        uint8_t c = xfr_fold(p[1 + k]);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return -1;
        out[k] = (char)c;
    }
    out[p[0]] = '\0';
    return p[0];
}

static int alloc_label(const struct labels *l, unsigned i, char out[SPFDB_LABEL_MAX + 1])
{
    char t[XFR_LABEL_MAX + 1];

    if (label_text(l, i, t) < 0 ||
        spfdb_alloc_name_norm(t, out, SPFDB_LABEL_MAX + 1, NULL, 0) != 0)
        return XFR_EALLOC;
    return XFR_OK;
}

/* Character-strings of a TXT RDATA, one at a time. */
struct txt {
    const uint8_t *p, *end;
    const uint8_t *s; /* the current string */
    size_t n;
};

/* 1 with the next string in T->s, 0 at the end, XFR_ERDATA when cut short. */
static int txt_next(struct txt *t)
{
    if (t->p == t->end)
        return 0;
    t->n = t->p[0];
    if ((size_t)(t->end - t->p) < 1 + t->n)
        return XFR_ERDATA;
    t->s = t->p + 1;
    t->p += 1 + t->n;
    return 1;
}

static void txt_init(struct txt *t, const struct xfr_rr *rr)
{
    t->p = rr->msg + rr->rdoff;
    t->end = t->p + rr->rdlen;
}

/* A TXT of exactly the one string S. */
static int txt_single(const struct xfr_rr *rr, const char *s)
{
    struct txt t;
    int r;

    txt_init(&t, rr);
    if ((r = txt_next(&t)) < 0)
        return r;
    if (r == 0 || t.n != strlen(s) || memcmp(t.s, s, t.n) != 0)
        return XFR_ETXT;
    if ((r = txt_next(&t)) < 0)
        return r;
    return r ? XFR_ETXT : XFR_OK;
}

static int parse_layout(const struct xfr_rr *rr, struct xfr_obj *out)
{
    static const char key[] = "layout=";
    struct txt t;
    unsigned v = 0;
    size_t k;
    int r;

    txt_init(&t, rr);
    if ((r = txt_next(&t)) < 0)
        return r;
    if (r == 0 || t.n <= sizeof key - 1 || memcmp(t.s, key, sizeof key - 1) != 0)
        return XFR_ETXT;
    for (k = sizeof key - 1; k < t.n && t.s[k] >= '0' && t.s[k] <= '9' && v < 100000; k++)
        v = v * 10 + (unsigned)(t.s[k] - '0');
    if (k < t.n || t.s[sizeof key - 1] == '0')
        return XFR_ETXT;
    if ((r = txt_next(&t)) != 0)
        return r < 0 ? r : XFR_ETXT;
    if (v != XFR_LAYOUT_VERSION)
        return XFR_ELAYOUT;
    out->kind = XFR_LAYOUT;
    out->layout = v;
    return XFR_OK;
}

/* Decimal seconds, 1..MAX, no sign or leading zero. */
static int parse_secs(const uint8_t *s, size_t n, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;

    if (n == 0 || n > 7 || s[0] == '0')
        return XFR_ESET_VALUE;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return XFR_ESET_VALUE;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > max)
        return XFR_ESET_VALUE;
    *out = v;
    return XFR_OK;
}

/* local@domain as spfdb-ctl stores it: a dot-atom local part of 1..63
 * characters (RFC 5322 §3.2.3, kept as given) and a domain name
 * (lowercased). */
static int parse_mailbox(const char *s, char out[SPFDB_NAME_MAX + 1])
{
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
    const char *at = strchr(s, '@');
    size_t l = at ? (size_t)(at - s) : 0;
    char dom[SPFDB_NAME_MAX + 1];

    if (l == 0 || l > XFR_LABEL_MAX || strchr(at + 1, '@'))
        return XFR_ESET_VALUE;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   strchr(atext, c);
        if (c == '.' ? i == 0 || i == l - 1 || s[i - 1] == '.' : !word)
            return XFR_ESET_VALUE;
    }
    if (spfdb_dns_name_norm(at + 1, 253, dom, sizeof dom, NULL, 0) != 0 ||
        l + 1 + strlen(dom) > SPFDB_NAME_MAX)
        return XFR_ESET_VALUE;
    memcpy(out, s, l + 1);
    strcpy(out + l + 1, dom);
    return XFR_OK;
}

enum { SET_ALLOC, SET_TTL, SET_NEG_TTL, SET_HOSTMASTER, N_SET };
static const char *const set_names[N_SET] = {"allocation", "ttl", "negative-ttl", "hostmaster"};

/* One "key=value" string of a zone TXT. */
static int zone_setting(struct spfdb_zone *z, const char *s, unsigned *seen)
{
    const char *eq = strchr(s, '=');
    const char *v = eq + 1;
    size_t klen = (size_t)(eq - s);
    unsigned k;

    for (k = 0; k < N_SET; k++)
        if (strlen(set_names[k]) == klen && memcmp(s, set_names[k], klen) == 0)
            break;
    if (k == N_SET)
        return XFR_ESET_UNKNOWN;
    if (*seen & 1u << k)
        return XFR_ESET_DUP;
    *seen |= 1u << k;
    switch (k) {
    case SET_ALLOC:
        if (*v && spfdb_alloc_name_norm(v, z->alloc, sizeof z->alloc, NULL, 0) != 0)
            return XFR_ESET_VALUE;
        if (!*v)
            z->alloc[0] = '\0';
        return XFR_OK;
    case SET_TTL:
        return parse_secs((const uint8_t *)v, strlen(v), XFR_TTL_MAX, &z->ttl);
    case SET_NEG_TTL:
        return parse_secs((const uint8_t *)v, strlen(v), XFR_NEG_TTL_MAX, &z->neg_ttl);
    default:
        if (!*v) {
            z->hostmaster[0] = '\0';
            return XFR_OK;
        }
        return parse_mailbox(v, z->hostmaster);
    }
}

/* "host." as the next NS host of Z. */
static int zone_ns(struct spfdb_zone *z, const char *s, size_t n)
{
    if (z->n_ns == SPFDB_NS_MAX || n < 2 || s[n - 1] != '.' ||
        spfdb_dns_name_norm(s, 253, z->ns[z->n_ns], sizeof z->ns[0], NULL, 0) != 0)
        return XFR_ENS;
    for (unsigned i = 0; i < z->n_ns; i++)
        if (strcmp(z->ns[i], z->ns[z->n_ns]) == 0)
            return XFR_ENS;
    z->n_ns++;
    return XFR_OK;
}

static int parse_zone(const struct labels *l, const struct xfr_rr *rr, struct xfr_obj *out)
{
    struct spfdb_zone *z = &out->zone;
    char text[SPFDB_NAME_MAX + 1], s[TXT_MAX + 1];
    size_t n = 0;
    unsigned seen = 0;
    struct txt t;
    int r;

    /* The labels before `z`, as text. */
    for (unsigned i = 0; i + 1 < l->n; i++) {
        if (label_text(l, i, text + n) < 0)
            return XFR_EZONE;
        n += l->name[l->at[i]];
        text[n++] = '.';
    }
    text[n - 1] = '\0';
    if (spfdb_dns_name_norm(text, XFR_DELEGATED_MAX, z->name, sizeof z->name, NULL, 0) != 0)
        return XFR_EZONE;
    z->alloc_id = 0;
    z->n_ns = 0;
    txt_init(&t, rr);
    while ((r = txt_next(&t)) == 1) {
        /* Printable ASCII without space or quote: every value spfdb
         * stores, and no NUL to cut a string short. */
        for (size_t i = 0; i < t.n; i++)
            if (t.s[i] <= ' ' || t.s[i] > '~' || t.s[i] == '"' || t.s[i] == '\\')
                return memchr(t.s, '=', t.n) ? XFR_ESET_VALUE : XFR_ENS;
        memcpy(s, t.s, t.n);
        s[t.n] = '\0';
        r = strchr(s, '=') ? zone_setting(z, s, &seen) : zone_ns(z, s, t.n);
        if (r != XFR_OK)
            return r;
    }
    if (r < 0)
        return r;
    if (seen != (1u << N_SET) - 1)
        return XFR_ESET_MISSING;
    if (z->n_ns == 0)
        return XFR_ENS;
    if (!z->alloc[0] && strlen(z->name) > XFR_PROVIDER_MAX)
        return XFR_EZONE;
    out->kind = XFR_ZONE;
    return XFR_OK;
}

static int parse_member(const struct labels *l, const struct xfr_origin *origin,
                        const struct xfr_rr *rr, struct xfr_obj *out)
{
    uint8_t want[XFR_NAME_MAX], got[XFR_NAME_MAX];
    const uint8_t *m = l->name + l->at[0];
    size_t next;
    int n;

    if (alloc_label(l, 0, out->member.member) != 0 || alloc_label(l, 2, out->member.alloc) != 0)
        return XFR_EALLOC;
    n = xfr_name_read(rr->msg, rr->msg_len, rr->rdoff, got, &next);
    if (n < 0 || next != rr->rdoff + rr->rdlen)
        return XFR_ERDATA;
    /* <member>.a.<origin> */
    memcpy(want, m, 1u + m[0]);
    want[1 + m[0]] = 1;
    want[2 + m[0]] = 'a';
    if (3u + m[0] + origin->len > XFR_NAME_MAX)
        return XFR_EMEMBER;
    memcpy(want + 3 + m[0], origin->name, origin->len);
    if (!xfr_name_eq(got, (size_t)n, want, 3u + m[0] + origin->len) ||
        strcmp(out->member.member, out->member.alloc) == 0)
        return XFR_EMEMBER;
    out->kind = XFR_MEMBER;
    return XFR_OK;
}

static int parse_apl(const struct xfr_rr *rr, struct spfdb_prefix *p)
{
    static const uint8_t mapped[12] = {[10] = 0xFF, [11] = 0xFF};
    const uint8_t *rd = rr->msg + rr->rdoff;
    unsigned afi, bytes, afd;

    if (rr->rdlen == 0)
        return XFR_EAPL_ITEMS;
    if (rr->rdlen < 4)
        return XFR_ERDATA;
    afi = get_be16(rd);
    if (afi != 1 && afi != 2)
        return XFR_EAPL_FAMILY;
    if (rd[3] & 0x80)
        return XFR_EAPL_NEG;
    bytes = afi == 1 ? 4 : 16;
    afd = rd[3] & 0x7F;
    if (rd[2] > bytes * 8 || afd > bytes)
        return XFR_EAPL_LENGTH;
    if (rr->rdlen < 4 + afd)
        return XFR_ERDATA;
    if (rr->rdlen > 4 + afd)
        return XFR_EAPL_ITEMS;
    memset(p, 0, sizeof *p);
    p->family = afi == 1 ? 4 : 6;
    p->len = rd[2];
    memcpy(p->addr, rd + 4, afd);
    /* Untrimmed AFDPARTs pass; bits past the length do not. */
    for (unsigned i = p->len / 8u; i < afd; i++) {
        uint8_t host = i == p->len / 8u ? (uint8_t)(0xFFu >> (p->len % 8u)) : 0xFF;
        if (p->addr[i] & host)
            return XFR_EAPL_HOSTBITS;
    }
    if (p->family == 6 && p->len >= 96 && memcmp(p->addr, mapped, sizeof mapped) == 0)
        return XFR_EAPL_MAPPED;
    return XFR_OK;
}

static int parse_entry(const struct labels *l, const struct xfr_rr *rr, struct xfr_obj *out)
{
    char want[XFR_PLABEL_MAX + 1];
    const uint8_t *own = l->name + l->at[0];
    size_t n;
    int r;

    if (alloc_label(l, 1, out->entry.alloc) != 0)
        return XFR_EALLOC;
    if ((r = parse_apl(rr, &out->entry.prefix)) != XFR_OK)
        return r;
    n = xfr_plabel(&out->entry.prefix, want);
    if (own[0] != n)
        return XFR_EAPL_OWNER;
    for (size_t i = 0; i < n; i++)
        if (xfr_fold(own[1 + i]) != (uint8_t)want[i])
            return XFR_EAPL_OWNER;
    out->kind = XFR_ENTRY;
    return XFR_OK;
}

static int parse_soa(const struct xfr_rr *rr, struct xfr_obj *out)
{
    uint8_t name[XFR_NAME_MAX];
    size_t at = rr->rdoff, end = rr->rdoff + rr->rdlen;
    const uint8_t *p;

    for (int i = 0; i < 2; i++)
        if (xfr_name_read(rr->msg, rr->msg_len, at, name, &at) < 0 || at > end)
            return XFR_ERDATA;
    if (end - at != 20)
        return XFR_ERDATA;
    p = rr->msg + at;
    out->soa.serial = get_be32(p);
    out->soa.refresh = get_be32(p + 4);
    out->soa.retry = get_be32(p + 8);
    out->soa.expire = get_be32(p + 12);
    out->soa.minimum = get_be32(p + 16);
    out->kind = XFR_SOA;
    return XFR_OK;
}

static int dnssec_type(uint16_t t)
{
    switch (t) {
    case 46: /* RRSIG */
    case 47: /* NSEC */
    case 48: /* DNSKEY */
    case 50: /* NSEC3 */
    case 51: /* NSEC3PARAM */
    case 59: /* CDS */
    case 60: /* CDNSKEY */
    case 63: /* ZONEMD */
        return 1;
    default:
        return 0;
    }
}

int xfr_parse(const struct xfr_origin *origin, const struct xfr_rr *rr, struct xfr_obj *out)
{
    struct labels l;
    int rel = xfr_name_under(rr->owner, rr->owner_len, origin->name, origin->len);
    unsigned last;
    int r;

    if (rel < 0)
        return XFR_EOUTSIDE;
    if (rr->rclass != XFR_C_IN)
        return XFR_ECLASS;
    if (dnssec_type(rr->type)) {
        out->kind = XFR_IGNORE;
        return XFR_OK;
    }
    l.name = rr->owner;
    l.n = 0;
    for (size_t at = 0; at < (size_t)rel; at += 1u + rr->owner[at])
        l.at[l.n++] = (uint8_t)at;
    if (l.n == 0) {
        if (rr->type == XFR_T_SOA)
            return parse_soa(rr, out);
        if (rr->type != XFR_T_NS)
            return XFR_ETYPE;
        out->kind = XFR_IGNORE;
        return XFR_OK;
    }
    last = l.n - 1;
    if (label_is(&l, last, "_spfdb")) {
        if (l.n != 1)
            return XFR_EOWNER;
        return rr->type == XFR_T_TXT ? parse_layout(rr, out) : XFR_ETYPE;
    }
    if (label_is(&l, last, "z")) {
        if (l.n < 2)
            return XFR_EOWNER;
        return rr->type == XFR_T_TXT ? parse_zone(&l, rr, out) : XFR_ETYPE;
    }
    if (!label_is(&l, last, "a"))
        return XFR_EOWNER;
    switch (l.n) {
    case 2:
        if (rr->type != XFR_T_TXT)
            return XFR_ETYPE;
        if (alloc_label(&l, 0, out->alloc.alloc) != 0)
            return XFR_EALLOC;
        if ((r = txt_single(rr, "allocation")) == XFR_OK)
            out->kind = XFR_ALLOC;
        return r;
    case 3:
        return rr->type == XFR_T_APL ? parse_entry(&l, rr, out) : XFR_ETYPE;
    case 4:
        if (!label_is(&l, 1, "m"))
            return XFR_EOWNER;
        return rr->type == XFR_T_PTR ? parse_member(&l, origin, rr, out) : XFR_ETYPE;
    default:
        return XFR_EOWNER;
    }
}
