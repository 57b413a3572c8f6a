/* xfrtest.c: both ends of a transfer, for the tests (xfrtest.h). */
#include "xfrtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "sample.h"

const uint8_t xt_secret[32] = {
    0x5a, 0x11, 0x0e, 0x3f, 0x9c, 0x72, 0x08, 0xd4, 0x61, 0xbb, 0x2e, 0x47, 0x90, 0x05, 0xc3, 0x7e,
    0x18, 0xa6, 0x54, 0xf1, 0x2d, 0x89, 0x33, 0xe0, 0x7b, 0x0c, 0xd9, 0x46, 0xa2, 0x6f, 0x15, 0xb8,
};

const struct xfr_origin *xt_origin(void)
{
    static struct xfr_origin o;

    if (o.len == 0 && xfr_origin_set(&o, SAMPLE_ORIGIN) != 0)
        abort();
    return &o;
}

const struct tsig_key *xt_key(void)
{
    static struct tsig_key k;

    if (k.name_len == 0 && tsig_key_set(&k, XT_KEY, xt_secret, sizeof xt_secret) != 0)
        abort();
    return &k;
}

uint32_t xt_serial(unsigned state)
{
    return SAMPLE_SERIAL + 7 * state;
}

/* ---- the history ---- */

static void entry(struct xfr_obj *o, const char *alloc, const char *prefix)
{
    memset(o, 0, sizeof *o);
    o->kind = XFR_ENTRY;
    strcpy(o->entry.alloc, alloc);
    if (spfdb_prefix_parse(prefix, strlen(prefix), &o->entry.prefix, NULL, NULL, 0) != 0)
        abort();
}

static void alloc(struct xfr_obj *o, const char *name)
{
    memset(o, 0, sizeof *o);
    o->kind = XFR_ALLOC;
    strcpy(o->alloc.alloc, name);
}

static void member(struct xfr_obj *o, const char *a, const char *m)
{
    memset(o, 0, sizeof *o);
    o->kind = XFR_MEMBER;
    strcpy(o->member.alloc, a);
    strcpy(o->member.member, m);
}

/* The sample's zone NAME, with TTL (0: as it is) and bound to ALLOC (NULL:
 * as it is). */
static void zone(struct xfr_obj *o, const char *name, uint32_t ttl, const char *bound)
{
    const struct xfr_obj *s;
    size_t n = sample_objects(&s);

    for (size_t i = 0; i < n; i++)
        if (s[i].kind == XFR_ZONE && strcmp(s[i].zone.name, "iphmx.example") == 0)
            *o = s[i];
    for (size_t i = 0; i < n; i++)
        if (s[i].kind == XFR_ZONE && strcmp(s[i].zone.name, name) == 0)
            *o = s[i];
    strcpy(o->zone.name, name);
    if (ttl)
        o->zone.ttl = ttl;
    if (bound)
        strcpy(o->zone.alloc, bound);
}

#define DEL(k, ...) (c->c[c->n].op = XFR_OP_DEL, k(&c->c[c->n++].o, __VA_ARGS__))
#define ADD(k, ...) (c->c[c->n].op = XFR_OP_ADD, k(&c->c[c->n++].o, __VA_ARGS__))

const struct xt_commit *xt_commit(unsigned k)
{
    static struct xt_commit commits[XT_STATES];
    struct xt_commit *c;

    if (k == 0 || k >= XT_STATES)
        abort();
    if (commits[1].n == 0) {
        c = &commits[1];
        ADD(entry, "acme", "192.0.2.0/24");
        DEL(entry, "default", "10.0.0.0/8");
        c = &commits[2];
        DEL(zone, "spf.customer.example", 0, NULL); /* zone set --ttl 900 */
        ADD(zone, "spf.customer.example", 900, NULL);
        ADD(alloc, "us");
        ADD(member, "global", "us");
        ADD(entry, "us", "2001:db8:99::/48");
        /* What nets away: an entry deleted and added back, one added and
         * deleted, `allocation del --force eu` then eu again, a zone set
         * to what it was; only the member link and the new zone stay. */
        c = &commits[3];
        DEL(entry, "default", "192.0.2.7/32");
        ADD(entry, "default", "192.0.2.7/32");
        ADD(entry, "default", "198.18.0.0/15");
        DEL(entry, "default", "198.18.0.0/15");
        DEL(member, "global", "eu");
        DEL(entry, "eu", "203.0.113.0/24");
        DEL(alloc, "eu");
        ADD(alloc, "eu");
        ADD(entry, "eu", "203.0.113.0/24");
        DEL(zone, "iphmx.example", 0, NULL);
        ADD(zone, "iphmx.example", 0, NULL);
        ADD(zone, "new.example", 0, "us");
    }
    return &commits[k];
}

static int same_record(const struct xfr_obj *a, const struct xfr_obj *b)
{
    static char x[8192], y[8192];

    sample_obj_text(a, x, sizeof x);
    sample_obj_text(b, y, sizeof y);
    return strcmp(x, y) == 0;
}

static int same_id(const struct xfr_obj *a, const struct xfr_obj *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case XFR_ZONE:
        return strcmp(a->zone.name, b->zone.name) == 0;
    case XFR_ENTRY:
        return strcmp(a->entry.alloc, b->entry.alloc) == 0 &&
               spfdb_prefix_cmp(&a->entry.prefix, &b->entry.prefix) == 0;
    default:
        return same_record(a, b);
    }
}

int xt_zone_del(struct xt_zone *z, const struct xfr_obj *o)
{
    for (size_t i = 0; i < z->n; i++)
        if (same_record(&z->o[i], o)) {
            z->o[i] = z->o[--z->n];
            return 0;
        }
    return -1;
}

int xt_zone_add(struct xt_zone *z, const struct xfr_obj *o)
{
    for (size_t i = 0; i < z->n; i++)
        if (same_id(&z->o[i], o))
            return -1;
    if (z->n == XT_MAX)
        return -1;
    z->o[z->n++] = *o;
    return 0;
}

int xt_zone_eq(const struct xt_zone *a, const struct xt_zone *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        size_t k = 0;
        while (k < b->n && !same_record(&a->o[i], &b->o[k]))
            k++;
        if (k == b->n)
            return 0;
    }
    return 1;
}

void xt_zone_at(unsigned state, struct xt_zone *z)
{
    const struct xfr_obj *s;
    size_t n = sample_objects(&s);

    z->n = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].kind != XFR_SOA && s[i].kind != XFR_IGNORE && s[i].kind != XFR_LAYOUT)
            z->o[z->n++] = s[i];
    for (unsigned k = 1; k <= state && k < XT_STATES; k++) {
        const struct xt_commit *c = xt_commit(k);
        for (size_t i = 0; i < c->n; i++)
            if ((c->c[i].op == XFR_OP_DEL ? xt_zone_del(z, &c->c[i].o)
                                          : xt_zone_add(z, &c->c[i].o)) != 0)
                abort(); /* the history itself is inconsistent */
    }
}

/* ---- the request ---- */

int xt_request_read(const uint8_t *msg, size_t len, struct xt_req *q)
{
    size_t at = XFR_HDR_LEN;
    unsigned an, ns, ar;
    struct xfr_rr rr;
    static struct xfr_obj o;

    memset(q, 0, sizeof *q);
    if (len < XFR_HDR_LEN || get_be16(msg + 4) != 1 || xfr_question_skip(msg, len, &at) != 0)
        return -1;
    q->r.id = get_be16(msg);
    q->r.flags[0] = msg[2];
    q->r.flags[1] = msg[3];
    q->r.question = msg + XFR_HDR_LEN;
    q->r.question_len = at - XFR_HDR_LEN;
    q->qtype = get_be16(msg + at - 4);
    an = get_be16(msg + 6);
    ns = get_be16(msg + 8);
    ar = get_be16(msg + 10);
    for (unsigned i = 0; i < an + ns + ar; i++) {
        if (xfr_rr_read(msg, len, &at, &rr) != 0)
            return -1;
        if (i >= an && i < an + ns && rr.type == XFR_T_SOA &&
            xfr_parse(xt_origin(), &rr, &o) == 0 && o.kind == XFR_SOA)
            q->serial = o.soa.serial;
        if (i >= an + ns && rr.type == XFR_T_OPT) {
            q->r.edns = 1;
            q->r.edns_do = (rr.ttl >> 15) & 1;
        }
    }
    return 0;
}

/* ---- the responder ---- */

#define ITEMS_MAX 128

struct items {
    size_t n;
    struct xfr_obj o[ITEMS_MAX];
};

static void item(struct items *it, const struct xfr_obj *o)
{
    if (it->n == ITEMS_MAX)
        abort();
    it->o[it->n++] = *o;
}

static void item_soa(struct items *it, uint32_t serial)
{
    struct xfr_obj o;

    memset(&o, 0, sizeof o);
    o.kind = XFR_SOA;
    o.soa = (struct xfr_soa){serial, XFR_SOA_REFRESH, XFR_SOA_RETRY, XFR_SOA_EXPIRE,
                             XFR_SOA_MINIMUM};
    item(it, &o);
}

static int walk(void *arg, xfr_change_fn fn, void *fnarg)
{
    const struct xt_commit *c = arg;

    for (size_t i = 0; i < c->n; i++) {
        int r = fn(fnarg, c->c[i].op, &c->c[i].o);
        if (r)
            return r;
    }
    return 0;
}

static int emit_item(void *arg, int op, const struct xfr_obj *rec)
{
    (void)op;
    item(arg, rec);
    return 0;
}

/* The records of the answer, in order. */
static enum xfr_form plan(const struct xt_serve *s, const struct xt_req *q, uint32_t *client,
                          struct items *it)
{
    static struct xt_zone z;
    static struct xfr_net_slot slots[64];
    uint32_t now = xt_serial(s->state);
    unsigned from = XT_STATES;
    struct xfr_obj o;

    it->n = 0;
    *client = q->serial;
    item_soa(it, now);
    if (q->qtype == XFR_T_SOA || (q->qtype == XFR_T_IXFR && !xfr_serial_gt(now, q->serial)))
        return XFR_FORM_SOA;
    for (unsigned k = 0; k < s->state && q->qtype == XFR_T_IXFR; k++)
        if (xt_serial(k) == q->serial)
            from = k;
    if (from < XT_STATES) {
        for (unsigned k = from + 1; k <= s->state; k++) {
            struct xfr_net net;
            const struct xt_commit *c = xt_commit(k);
            if (xfr_net_index(&net, slots, xfr_net_slots(c->n), walk, (void *)c) != 0)
                abort();
            item_soa(it, xt_serial(k - 1));
            if (xfr_net_emit(&net, XFR_OP_DEL, walk, (void *)c, emit_item, it) != 0)
                abort();
            item_soa(it, xt_serial(k));
            if (xfr_net_emit(&net, XFR_OP_ADD, walk, (void *)c, emit_item, it) != 0)
                abort();
        }
        item_soa(it, now);
        return XFR_FORM_IXFR;
    }
    memset(&o, 0, sizeof o);
    o.kind = XFR_IGNORE; /* the apex NS */
    item(it, &o);
    o.kind = XFR_LAYOUT;
    o.layout = XFR_LAYOUT_VERSION;
    item(it, &o);
    xt_zone_at(s->state, &z);
    for (size_t i = 0; i < z.n; i++)
        item(it, &z.o[i]);
    item_soa(it, now);
    return XFR_FORM_AXFR;
}

struct sink {
    const struct xt_serve *s;
    struct xfr_resp r;
    uint8_t *buf;
    uint8_t *out;
    size_t cap, len;
    int messages;
};

static int flush(struct sink *k)
{
    size_t n;
    /* the last message is signed, as a stream must end */
    int sign = xfr_resp_done(&k->r) || !(k->s->unsigned_mask >> (k->messages % 64) & 1);
    int e = xfr_resp_finish(&k->r, XT_T, sign, &n);

    if (e != 0)
        return e;
    if (k->cap - k->len < n + 2)
        return XFR_ENOSPACE;
    put_be16(k->out + k->len, (uint16_t)n);
    memcpy(k->out + k->len + 2, k->buf, n);
    k->len += n + 2;
    k->messages++;
    return 0;
}

int xt_serve(const struct xt_serve *s, const uint8_t *req, size_t reqlen, uint8_t *out,
             size_t cap, size_t *len)
{
    static struct items it;
    static uint8_t buf[XFR_MSG_MAX];
    struct sink k = {.s = s, .buf = buf, .out = out, .cap = cap};
    struct tsig_ctx ctx;
    struct xt_req q;
    enum xfr_form form;
    uint32_t client;
    int e;

    *len = 0;
    if ((e = tsig_verify_request(&ctx, xt_key(), 1, req, reqlen, XT_T)) != TSIG_OK)
        return e - 100;
    if (xt_request_read(req, reqlen, &q) != 0)
        return XFR_EINVAL;
    form = plan(s, &q, &client, &it);
    if ((e = xfr_resp_init(&k.r, form, client, &q.r, xt_origin(), XFR_NS_DEFAULT, &ctx)) != 0 ||
        (e = xfr_resp_begin(&k.r, buf, s->cap)) != 0)
        return e;
    for (size_t i = 0; i < it.n; i++) {
        while ((e = s->per_msg && k.r.count == s->per_msg ? XFR_FULL
                                                          : xfr_resp_add(&k.r, &it.o[i])) ==
               XFR_FULL)
            if ((e = flush(&k)) != 0 || (e = xfr_resp_begin(&k.r, buf, s->cap)) != 0)
                return e;
        if (e != 0)
            return e;
    }
    if (!xfr_resp_done(&k.r))
        return XFR_EORDER;
    if ((e = flush(&k)) != 0)
        return e;
    *len = k.len;
    return k.messages;
}

/* ---- the recorder ---- */

static const char *form_name(enum xfr_form f)
{
    static const char *const names[] = {"none", "current", "soa", "axfr", "ixfr"};

    return (unsigned)f < 5 ? names[f] : "?";
}

static void line(struct xt_events *e, const char *s)
{
    size_t n = strlen(s);

    if (e->cap - e->len < n + 2) {
        size_t cap = (e->cap + n + 2) * 2;
        char *t = realloc(e->text, cap);
        if (!t)
            abort();
        e->text = t;
        e->cap = cap;
    }
    memcpy(e->text + e->len, s, n);
    e->text[e->len + n] = '\n';
    e->text[e->len + n + 1] = '\0';
    e->len += n + 1;
}

int xt_event(void *arg, const struct xfr_in_event *ev)
{
    static char obj[8192], s[8300];
    struct xt_events *e = arg;

    if (ev->obj)
        sample_obj_text(ev->obj, obj, sizeof obj);
    switch (ev->type) {
    case XFR_EV_BEGIN:
        snprintf(s, sizeof s, "begin %s %u", form_name(ev->form), ev->soa->serial);
        if (ev->form == XFR_FORM_AXFR)
            e->zone.n = 0;
        break;
    case XFR_EV_SEQ:
        snprintf(s, sizeof s, "seq %u", ev->from);
        break;
    case XFR_EV_DEL:
        snprintf(s, sizeof s, "del %s", obj);
        e->bad += xt_zone_del(&e->zone, ev->obj) != 0;
        break;
    case XFR_EV_ADDS:
        snprintf(s, sizeof s, "adds %u %u", ev->from, ev->to);
        break;
    case XFR_EV_ADD:
        snprintf(s, sizeof s, "add %s", obj);
        e->bad += xt_zone_add(&e->zone, ev->obj) != 0;
        break;
    case XFR_EV_SEQ_END:
        snprintf(s, sizeof s, "end-seq %u %u", ev->from, ev->to);
        break;
    case XFR_EV_END:
        snprintf(s, sizeof s, "end %s %u", form_name(ev->form), ev->soa->serial);
        break;
    }
    line(e, s);
    return e->stop_at > 0 && ++e->seen >= e->stop_at ? 7 : 0;
}

void xt_events_reset(struct xt_events *e)
{
    e->len = 0;
    line(e, ""); /* the text exists, and is empty */
    e->len = 0;
    e->text[0] = '\0';
    e->bad = 0;
    e->seen = 0;
    e->stop_at = 0;
}

void xt_events_free(struct xt_events *e)
{
    free(e->text);
    e->text = NULL;
    e->len = e->cap = 0;
}

int xt_read_stream(struct xfr_in *in, const uint8_t *stream, size_t len, uint64_t now)
{
    size_t at = 0;
    int r = XFR_IN_MORE;

    while (r == XFR_IN_MORE && len - at >= 2) {
        size_t n = get_be16(stream + at);
        if (len - at - 2 < n)
            break;
        r = xfr_in_feed(in, stream + at + 2, n, now);
        at += 2 + n;
    }
    return r == XFR_IN_MORE ? xfr_in_eof(in) : r;
}
