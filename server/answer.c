/* answer.c: the decision table of SPEC §4, and the batch loop around it.
 * See answer.h.
 *
 * Every record an answer can hold is prebuilt in the zone table (zones.h),
 * so deciding only picks one of them: the reply is the question copied
 * once and that record block (wire.c).  A batch is decided up to its
 * lookups, looked up in one call, then written: the only place that loop
 * is written.
 */
#include "answer.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cookie.h"
#include "qname.h"
#include "spfchain.h" /* spfchain_addr_text */
#include "rrl.h"
#include "wire.h"
#include "xfrzone.h"
#include "zones.h"

/* The zone's SOA, in the answer (apex) or authority section, with its
 * owner the name at offset OWNER of the message. */
static void soa(struct wire_reply *r, const struct zone *z, uint16_t owner, int authority)
{
    r->aa = 1;
    r->n_an = (uint8_t)!authority;
    r->n_ns = (uint8_t)authority;
    r->soa = 1;
    r->soa_owner = owner;
    r->rrs = z->soa_rr;
    r->rrs_len = z->soa_rr_len;
}

/* NOERROR with no answer, or NXDOMAIN: the SOA in authority (RFC 2308). */
static void negative(struct wire_reply *r, const struct zone *z, uint16_t apex, uint8_t rcode)
{
    r->rcode = rcode;
    soa(r, z, apex, 1);
}

static void at_apex(struct wire_reply *r, const struct zone *z, uint16_t qtype)
{
    if (qtype == DNS_T_SOA || qtype == DNS_T_ANY) {
        soa(r, z, DNS_HDR, 0);
    } else if (qtype == DNS_T_NS) {
        r->aa = 1;
        r->n_an = (uint8_t)z->ns_count;
        r->rrs = z->ns_rr;
        r->rrs_len = z->ns_rr_len;
    } else {
        negative(r, z, DNS_HDR, DNS_R_NOERROR);
    }
}

/* LABEL is "spf" in any case.  Reads 4 octets, which a label below the
 * apex always has after it. */
static int is_spf(const uint8_t *label)
{
    static const uint8_t spf[4] = { 3, 's', 'p', 'f' }, fold[4] = { 0, 0x20, 0x20, 0x20 };
    uint32_t v, f, want;

    memcpy(&v, label, 4);
    memcpy(&f, fold, 4);
    memcpy(&want, spf, 4);
    return (v | f) == want;
}

/* ---- the `_ip` and `_spf` forms (SPEC §4 "Names") ------------------------ */

enum { FORM_NONE, FORM_IP, FORM_SPF };

/* Is the wire label at LABEL `_ip` or `_spf` (any case)?  FORM_*.  Reads
 * only the label's own octets. */
static int form_label(const uint8_t *label)
{
    if (label[0] == 3 && label[1] == '_' && (label[2] | 0x20) == 'i' && (label[3] | 0x20) == 'p')
        return FORM_IP;
    if (label[0] == 4 && label[1] == '_' && (label[2] | 0x20) == 's' &&
        (label[3] | 0x20) == 'p' && (label[4] | 0x20) == 'f')
        return FORM_SPF;
    return FORM_NONE;
}

static int txt_type(uint16_t qtype)
{
    return qtype == DNS_T_TXT || qtype == DNS_T_ANY;
}

/* One TXT answer: the record block RR[0..LEN). */
static void txt_answer(struct wire_reply *r, const uint8_t *rr, uint16_t len)
{
    r->aa = 1;
    r->n_an = 1;
    r->rrs = rr;
    r->rrs_len = len;
}

/* A name at or below the `_ip` or `_spf` label FORM of allocation ALLOC,
 * whose N labels left of it start the name; PARENT: the label after the
 * form label.  Decides as decide() does: a class, or S->lookup set. */
static uint8_t decide_form(struct answer_state *s, const struct zone *z, uint16_t apex,
                           uint32_t alloc, int form, unsigned n, unsigned parent)
{
    const struct query *q = &s->q;
    struct wire_reply *r = &s->r;
    const uint8_t *name = q->msg + DNS_HDR;

    if (form == FORM_SPF) {
        /* `_spf…` and its leaves 1-3; nothing else exists below it. */
        unsigned leaf = 0;
        if (n == 1 && name[0] == 1 && name[1] >= '1' && name[1] <= '3')
            leaf = (unsigned)(name[1] - '0');
        else if (n != 0) {
            negative(r, z, apex, DNS_R_NXDOMAIN);
            return ANSWER_ZONE;
        }
        if (!txt_type(q->qtype)) {
            negative(r, z, apex, DNS_R_NOERROR);
            return ANSWER_ZONE;
        }
        s->form = FORM_SPF;
        s->zone = z;
        s->alloc = alloc;
        s->leaf = (uint8_t)leaf;
        s->parent = (uint16_t)(DNS_HDR + q->label[parent]);
        return ANSWER_ZONE; /* or SERVFAIL: form_chain() says */
    }

    /* `_ip`: the address rules, but a full address name always exists. */
    struct qname_addr a;
    qname_classify(name, n, &a);
    if (a.kind == QNAME_ABSENT) {
        negative(r, z, apex, DNS_R_NXDOMAIN);
        return ANSWER_ZONE;
    }
    if (!txt_type(q->qtype)) {
        negative(r, z, apex, DNS_R_NOERROR); /* minimising resolvers ask A or NS */
        return a.kind == QNAME_TAIL ? ANSWER_TAIL : ANSWER_ZONE;
    }
    if (a.kind == QNAME_TAIL) {
        /* A verifier that cut a long name lands here: no match, never
         * the permerror of an include with no record. */
        txt_answer(r, z->none_rr, sizeof z->none_rr);
        return ANSWER_TAIL;
    }
    s->lookup = 1;
    s->form = FORM_IP;
    s->zone = z;
    s->apex = apex;
    s->alloc = alloc;
    s->family = a.family;
    s->mapped = n == 32 && a.family == 4;
    memcpy(s->addr, a.addr, sizeof s->addr);
    return ANSWER_LISTED; /* or not: form_looked_up() says */
}

/* S's `_ip` reply, once the database said whether the address is LISTED
 * (<0: it could not be read).  A listed address gets its own term, so
 * the include matches exactly that sender. */
static uint8_t form_looked_up(struct answer_state *s, int listed)
{
    const struct zone *z = s->zone;
    char *t = (char *)s->txt + 13, *p = t;

    if (listed < 0) {
        s->r.rcode = DNS_R_SERVFAIL;
        return ANSWER_SERVFAIL;
    }
    if (!listed) {
        txt_answer(&s->r, z->none_rr, sizeof z->none_rr);
        return ANSWER_UNLISTED;
    }
    memcpy(p, "v=spf1 ", 7);
    p += 7;
    if (s->family == 4) {
        memcpy(p, "ip4:", 4);
        p += 4;
        p += spfchain_addr_text(p, 4, s->addr);
        *p++ = ' ';
    }
    if (s->family == 6 || s->mapped) {
        /* RFC 5952 form; an IPv4-mapped name also gets its ip6: reading. */
        uint8_t a6[16] = { [10] = 0xFF, [11] = 0xFF };
        if (s->mapped)
            memcpy(a6 + 12, s->addr, 4);
        else
            memcpy(a6, s->addr, 16);
        memcpy(p, "ip6:", 4);
        p += 4;
        p += spfchain_addr_text(p, 6, s->mapped ? a6 : s->addr);
        *p++ = ' ';
    }
    memcpy(p, "~all", 4);
    p += 4;
    size_t tlen = (size_t)(p - t);
    uint32_t ttl = z->ttl;
    const uint8_t head[13] = { 0xC0, DNS_HDR, 0, DNS_T_TXT, 0, DNS_C_IN, (uint8_t)(ttl >> 24),
                               (uint8_t)(ttl >> 16), (uint8_t)(ttl >> 8), (uint8_t)ttl, 0,
                               (uint8_t)(tlen + 1), (uint8_t)tlen };
    memcpy(s->txt, head, sizeof head);
    txt_answer(&s->r, s->txt, (uint16_t)(13 + tlen));
    return ANSWER_LISTED;
}

/* S's `_spf` TXT reply: the chain's record from the env's cache. */
static uint8_t form_chain(const struct answer_env *env, struct answer_state *s)
{
    const uint8_t *rr;
    uint16_t len;

    if (!env->spf_chain || env->spf_chain(env->spf_ctx, s->zone, s->alloc, s->q.msg + s->parent,
                                          s->leaf, &rr, &len) < 0) {
        s->r.rcode = DNS_R_SERVFAIL;
        return ANSWER_SERVFAIL;
    }
    txt_answer(&s->r, rr, len);
    return ANSWER_ZONE;
}

/* Rules 6 and 7 for a well-formed query, up to the lookup: which rcode,
 * which records; or, with S->lookup set, the address to look up. */
static uint8_t decide(const struct answer_env *env, struct answer_state *s)
{
    const struct query *q = &s->q;
    struct wire_reply *r = &s->r;
    const uint8_t *name = q->msg + DNS_HDR;
    unsigned m = 0;
    const struct zone *z = NULL;

    if (q->qclass == DNS_C_IN)
        z = zonetab_find(env->zones, name, q->label, q->nlabels, &m);
    /* The transfer zone nests with no served zone (SPEC §2), so only a
     * name under none can be in it. */
    if (!z && env->xfr && q->qclass == DNS_C_IN && xfrzone_has(env->xfr, q)) {
        s->xfr = 1;
        return ANSWER_REFUSED; /* or not: xfr_reply() says */
    }
    if (!z || q->qtype == DNS_T_AXFR || q->qtype == DNS_T_IXFR) {
        r->rcode = DNS_R_REFUSED; /* not ours; or a transfer, which we never do */
        return ANSWER_REFUSED;
    }
    uint16_t apex = (uint16_t)(DNS_HDR + q->label[m]); /* the SOA owner: a pointer */
    if (m == 0) {
        at_apex(r, z, q->qtype);
        return ANSWER_ZONE;
    }

    /* Provider zone: <alloc>.<zone>, then spf.<alloc>.<zone>, the base. */
    uint32_t alloc = z->alloc_id;
    unsigned n = m;
    int form;
    if (alloc && (form = form_label(name + q->label[m - 1])) != FORM_NONE)
        return decide_form(s, z, apex, alloc, form, m - 1, m);
    if (!alloc) {
        alloc = zonetab_alloc_id(env->zones, name + q->label[m - 1]);
        if (alloc && m >= 2 && (form = form_label(name + q->label[m - 2])) != FORM_NONE)
            return decide_form(s, z, apex, alloc, form, m - 2, m - 1);
        if (!alloc || (m >= 2 && !is_spf(name + q->label[m - 2]))) {
            negative(r, z, apex, DNS_R_NXDOMAIN);
            return ANSWER_ZONE;
        }
        if (m <= 2) {
            negative(r, z, apex, DNS_R_NOERROR);
            return ANSWER_ZONE;
        }
        n = m - 2;
    }

    struct qname_addr a;
    qname_classify(name, n, &a);
    if (a.kind == QNAME_ABSENT) {
        negative(r, z, apex, DNS_R_NXDOMAIN);
        return ANSWER_ZONE;
    }
    if (a.kind == QNAME_TAIL) {
        negative(r, z, apex, DNS_R_NOERROR);
        return ANSWER_TAIL;
    }
    s->lookup = 1;
    s->zone = z;
    s->apex = apex;
    s->alloc = alloc;
    s->family = a.family;
    s->unlisted_tail = a.unlisted_tail;
    memcpy(s->addr, a.addr, sizeof s->addr);
    return ANSWER_LISTED; /* or not: looked_up() says */
}

/* The rest of rule 7, once the database said whether the address is
 * LISTED (<0: it could not be read). */
static uint8_t looked_up(struct answer_state *s, int listed)
{
    struct wire_reply *r = &s->r;
    const struct zone *z = s->zone;

    if (listed < 0) {
        r->rcode = DNS_R_SERVFAIL;
        return ANSWER_SERVFAIL;
    }
    if (!listed) {
        negative(r, z, s->apex, s->unlisted_tail ? DNS_R_NOERROR : DNS_R_NXDOMAIN);
        return s->unlisted_tail ? ANSWER_TAIL : ANSWER_UNLISTED;
    }
    if (s->q.qtype != DNS_T_A && s->q.qtype != DNS_T_ANY) {
        negative(r, z, s->apex, DNS_R_NOERROR);
        return ANSWER_LISTED;
    }
    r->aa = 1;
    r->n_an = 1;
    r->rrs = z->a_rr;
    r->rrs_len = sizeof z->a_rr;
    return ANSWER_LISTED;
}

/* The client's address octets (4 or 16; none when unknown), the cookie
 * hash's last input. */
static const uint8_t *client_ip(const struct sockaddr *peer, size_t *len)
{
    if (peer != NULL && peer->sa_family == AF_INET) {
        *len = 4;
        return (const uint8_t *)&((const struct sockaddr_in *)(const void *)peer)->sin_addr;
    }
    if (peer != NULL && peer->sa_family == AF_INET6) {
        *len = 16;
        return ((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr.s6_addr;
    }
    *len = 0;
    return NULL;
}

/* The query's COOKIE (RFC 7873): checked, and the reply's made. */
static void cookie(const struct answer_env *env, struct answer_state *s,
                   const struct sockaddr *peer)
{
    size_t iplen;
    const uint8_t *ip = client_ip(peer, &iplen);

    s->cookie = (uint8_t)cookie_answer(env->cookies, s->q.msg + s->q.cookie_off, s->q.cookie_len,
                                       ip, iplen, env->now, s->cookie_out);
    s->r.cookie = s->cookie_out;
}

/* Parse and decide MSG[0..LEN) from PEER into S, up to the database
 * lookup: returns 1 when the reply needs its result (S->lookup), else 0. */
static int parse_and_decide(const struct answer_env *env, const uint8_t *msg, size_t len,
                            const struct sockaddr *peer, int transport, struct answer_state *s)
{
    s->r = (struct wire_reply){ .serial = env->serial };
    s->transport = (uint8_t)transport;
    s->lookup = 0;
    s->xfr = 0;
    s->form = FORM_NONE;
    switch (wire_parse(msg, len, &s->q)) {
    case WIRE_DROP:
        s->cls = ANSWER_DROP;
        break;
    case WIRE_NOTIMP:
        s->r.rcode = DNS_R_NOTIMP;
        s->cls = ANSWER_MALFORMED;
        break;
    case WIRE_FORMERR:
        s->r.rcode = DNS_R_FORMERR;
        s->cls = ANSWER_MALFORMED;
        break;
    case WIRE_BADVERS:
        s->r.rcode = DNS_R_BADVERS;
        s->cls = ANSWER_MALFORMED;
        break;
    case WIRE_OK:
        s->cls = decide(env, s);
        break;
    }
    s->cookie = COOKIE_NONE;
    if (s->q.cookie_len != 0 && env->cookies != NULL)
        cookie(env, s, peer);
    return s->lookup;
}

/* SPEC §4's UDP size rule for Q's reply, in a buffer of CAP. */
static size_t udp_limit(const struct query *q, size_t cap)
{
    size_t limit = 512;

    if (q->has_opt && q->udp_size > limit)
        limit = q->udp_size < EDNS_UDP_SIZE ? q->udp_size : EDNS_UDP_SIZE;
    return cap < limit ? cap : limit;
}

/* Rate limiting (SPEC §4 "Abuse") of S's reply to PEER, already written
 * into OUT[0..LEN): the length of what goes instead (LEN: the reply as it
 * is; 0: nothing).  A pass over a UDP batch's replies, made only when
 * limiting is on, so that without it the query path holds no trace of it. */
static size_t limit_reply(const struct answer_env *env, struct answer_state *s,
                          const struct sockaddr *peer, uint8_t *out, size_t cap, size_t len,
                          struct answer_info *info)
{
    enum rrl_action a = rrl_check(env->rrl, peer, env->now_ms);

    if (a == RRL_PASS)
        return len;
    info->limited = a == RRL_DROP                ? LIMITED_DROP
                    : s->cookie != COOKIE_NONE ? LIMITED_BADCOOKIE
                                               : LIMITED_SLIP;
    if (env->rrl->dry_run)
        return len;
    if (a == RRL_DROP) {
        info->cls = ANSWER_DROP;
        info->rcode = 0;
        return 0;
    }
    struct wire_reply r = { .rcode = info->rcode, .aa = (out[2] & 0x04) != 0, .tc = 1 };
    if (info->limited == LIMITED_BADCOOKIE) /* a client cookie, and no valid server cookie */
        r = (struct wire_reply){ .rcode = DNS_R_BADCOOKIE, .cookie = s->cookie_out };
    info->rcode = (uint8_t)r.rcode;
    return wire_reply(&s->q, &r, out, udp_limit(&s->q, cap));
}

/* A query in the transfer zone: TSIG checked, then xfrzone.h's table.
 * Off the common path: only names under no served zone get here.  A
 * verified query is never rate limited; the others are. */
static size_t xfr_reply(const struct answer_env *env, struct answer_state *s, uint8_t *out,
                        size_t limit, struct answer_info *info)
{
    struct tsig_ctx ctx;
    uint64_t now = (uint64_t)time(NULL);
    int err;
    enum xfrzone_act act = xfrzone_decide(env->xfr, &s->q, s->transport == ANSWER_TCP,
                                          env->xfr_room, now, &ctx, &err);

    info->rcode = xfrzone_rcode(act, err);
    info->cls = act == XFRZ_SOA || act == XFRZ_TRANSFER ? ANSWER_ZONE
                : act == XFRZ_FORMERR || act == XFRZ_NOTAUTH ? ANSWER_MALFORMED
                                                             : ANSWER_REFUSED;
    if (act == XFRZ_TRANSFER) {
        info->transfer = 1;
        return 0;
    }
    s->exempt = act == XFRZ_SOA || act == XFRZ_REFUSED_SIGNED; /* signed, verified */
    return xfrzone_write(env->xfr, &s->q, act, &ctx, err, env->serial, now, out, limit);
}

/* Write S's reply into OUT[0..CAP).  LISTED (read only when S->lookup): 1
 * listed, 0 not, <0 the database could not be read. */
static size_t write_reply(const struct answer_env *env, struct answer_state *s, int listed,
                          uint8_t *out, size_t cap, struct answer_info *info)
{
    size_t limit;

    if (s->lookup)
        s->cls = s->form ? form_looked_up(s, listed) : looked_up(s, listed);
    else if (s->form == FORM_SPF)
        s->cls = form_chain(env, s);
    info->cls = s->cls;
    info->transfer = 0;
    info->cookie = s->cookie;
    info->limited = LIMITED_NOT;
    if (s->cls == ANSWER_DROP) {
        info->qtype = 0;
        info->rcode = 0;
        return 0;
    }
    info->qtype = s->q.qd_ok ? s->q.qtype : 0;
    info->rcode = (uint8_t)s->r.rcode;

    if (s->transport == ANSWER_TCP) {
        limit = cap < 65535 ? cap : 65535;
        s->r.keepalive = s->q.keepalive;
        s->r.keepalive_100ms = env->tcp_idle_100ms;
    } else {
        limit = udp_limit(&s->q, cap);
    }
    if (s->xfr)
        return xfr_reply(env, s, out, limit, info);
    return wire_reply(&s->q, &s->r, out, limit);
}

/* At most SPFDB_MANY_MAX messages M[0..N): decided, looked up together,
 * written. */
static void batch(const struct answer_env *env, int transport, struct answer_msg *m, unsigned n)
{
    struct spfdb_query look[SPFDB_MANY_MAX], *l = look;
    struct answer_msg *end = m + n;

    for (struct answer_msg *p = m; p < end; p++) {
        if (parse_and_decide(env, p->q, p->qlen, p->peer, transport, &p->st)) {
            l->alloc_id = p->st.alloc;
            l->family = p->st.family;
            memcpy(l->addr, p->st.addr, sizeof l->addr);
            l++;
        }
    }
    if (l > look)
        env->covers_many(env->covers_ctx, look, (unsigned)(l - look));
    l = look;
    for (struct answer_msg *p = m; p < end; p++)
        p->len = write_reply(env, &p->st, p->st.lookup ? (l++)->result : 0, p->out, p->cap,
                             &p->info);
    /* Exempt, neither limited nor counted: TCP, a valid server cookie, a
     * verified transfer-zone query; and no reply is no reply. */
    if (env->rrl != NULL && transport == ANSWER_UDP)
        for (struct answer_msg *p = m; p < end; p++)
            if (p->len != 0 && p->st.cookie != COOKIE_VALID && !(p->st.xfr && p->st.exempt))
                p->len = limit_reply(env, &p->st, p->peer, p->out, p->cap, p->len, &p->info);
}

void answer_batch(const struct answer_env *env, int transport, struct answer_msg *m, unsigned n)
{
    for (; n > SPFDB_MANY_MAX; m += SPFDB_MANY_MAX, n -= SPFDB_MANY_MAX)
        batch(env, transport, m, SPFDB_MANY_MAX);
    batch(env, transport, m, n);
}

size_t answer_query(const struct answer_env *env, const uint8_t *q, size_t qlen, uint8_t *out,
                    size_t cap, int transport, struct answer_info *info)
{
    struct answer_msg m;

    m.q = q;
    m.qlen = qlen;
    m.out = out;
    m.cap = cap;
    m.peer = env->peer;
    answer_batch(env, transport, &m, 1);
    if (info)
        *info = m.info;
    return m.len;
}
