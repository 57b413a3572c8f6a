/* answer.c: the decision table of SPEC §4.  See answer.h. */
#include "answer.h"

#include <string.h>

#include "qname.h"
#include "wire.h"
#include "zones.h"

static const uint8_t localhost2[4] = { 127, 0, 0, 2 };

struct plan {
    struct wire_reply r;
    struct wire_rr rr[SPFDB_NS_MAX];
};

static void soa_rr(struct wire_rr *rr, const struct zone *z, uint16_t owner)
{
    rr->owner = owner;
    rr->type = DNS_T_SOA;
    rr->ttl = z->neg_ttl;
    rr->rdata = z->soa;
    rr->rdlen = z->soa_len;
}

/* NOERROR with no answer, or NXDOMAIN: the SOA in authority (RFC 2308). */
static void negative(struct plan *p, const struct zone *z, uint16_t apex, uint8_t rcode)
{
    p->r.rcode = rcode;
    p->r.aa = 1;
    p->r.n_ns = 1;
    soa_rr(&p->rr[0], z, apex);
}

static void at_apex(struct plan *p, const struct zone *z, uint16_t qtype)
{
    p->r.aa = 1;
    if (qtype == DNS_T_SOA || qtype == DNS_T_ANY) {
        p->r.n_an = 1;
        soa_rr(&p->rr[0], z, DNS_HDR);
    } else if (qtype == DNS_T_NS) {
        p->r.n_an = (uint8_t)z->ns_count;
        for (unsigned i = 0; i < z->ns_count; i++) {
            p->rr[i].owner = DNS_HDR;
            p->rr[i].type = DNS_T_NS;
            p->rr[i].ttl = z->ttl;
            p->rr[i].rdata = z->ns[i];
            p->rr[i].rdlen = z->ns_len[i];
        }
    } else {
        negative(p, z, DNS_HDR, DNS_R_NOERROR);
    }
}

static int is_spf(const uint8_t *label)
{
    return label[0] == 3 && (label[1] | 0x20) == 's' && (label[2] | 0x20) == 'p' &&
           (label[3] | 0x20) == 'f';
}

/* Rules 6 and 7 for a well-formed query: which rcode, which records. */
static uint8_t decide(const struct answer_env *env, const struct query *q, struct plan *p)
{
    const uint8_t *name = q->msg + DNS_HDR;
    unsigned m = 0;
    const struct zone *z = NULL;

    if (q->qclass == DNS_C_IN)
        z = zonetab_find(env->zones, name, q->label, q->nlabels, &m);
    if (!z || q->qtype == DNS_T_AXFR || q->qtype == DNS_T_IXFR) {
        p->r.rcode = DNS_R_REFUSED; /* not ours; or a transfer, which we never do */
        return ANSWER_REFUSED;
    }
    uint16_t apex = (uint16_t)(DNS_HDR + q->label[m]); /* the SOA owner: a pointer */
    if (m == 0) {
        at_apex(p, z, q->qtype);
        return ANSWER_ZONE;
    }

    /* Provider zone: <alloc>.<zone>, then spf.<alloc>.<zone>, the base. */
    uint32_t alloc = z->alloc_id;
    unsigned n = m;
    if (!alloc) {
        alloc = zonetab_alloc_id(env->zones, name + q->label[m - 1]);
        if (!alloc || (m >= 2 && !is_spf(name + q->label[m - 2]))) {
            negative(p, z, apex, DNS_R_NXDOMAIN);
            return ANSWER_ZONE;
        }
        if (m <= 2) {
            negative(p, z, apex, DNS_R_NOERROR);
            return ANSWER_ZONE;
        }
        n = m - 2;
    }

    struct qname_addr a;
    qname_classify(name, n, &a);
    if (a.kind == QNAME_ABSENT) {
        negative(p, z, apex, DNS_R_NXDOMAIN);
        return ANSWER_ZONE;
    }
    if (a.kind == QNAME_TAIL) {
        negative(p, z, apex, DNS_R_NOERROR);
        return ANSWER_TAIL;
    }
    int listed = env->covers ? env->covers(env->covers_ctx, alloc, a.family, a.addr) : -1;
    if (listed < 0) {
        p->r.rcode = DNS_R_SERVFAIL;
        return ANSWER_SERVFAIL;
    }
    if (!listed) {
        negative(p, z, apex, a.unlisted_tail ? DNS_R_NOERROR : DNS_R_NXDOMAIN);
        return a.unlisted_tail ? ANSWER_TAIL : ANSWER_UNLISTED;
    }
    if (q->qtype != DNS_T_A && q->qtype != DNS_T_ANY) {
        negative(p, z, apex, DNS_R_NOERROR);
        return ANSWER_LISTED;
    }
    p->r.aa = 1;
    p->r.n_an = 1;
    p->rr[0].owner = DNS_HDR;
    p->rr[0].type = DNS_T_A;
    p->rr[0].ttl = z->ttl;
    p->rr[0].rdata = localhost2;
    p->rr[0].rdlen = sizeof localhost2;
    return ANSWER_LISTED;
}

size_t answer_query(const struct answer_env *env, const uint8_t *q, size_t qlen, uint8_t *out,
                    size_t cap, int transport, struct answer_info *info)
{
    struct answer_info scratch;
    struct query query;
    struct plan p;
    size_t limit;

    if (!info)
        info = &scratch;
    memset(info, 0, sizeof *info);
    memset(&p.r, 0, sizeof p.r);
    p.r.rr = p.rr;
    p.r.serial = env->serial;

    switch (wire_parse(q, qlen, &query)) {
    case WIRE_DROP:
        info->cls = ANSWER_DROP;
        return 0;
    case WIRE_NOTIMP:
        p.r.rcode = DNS_R_NOTIMP;
        info->cls = ANSWER_MALFORMED;
        break;
    case WIRE_FORMERR:
        p.r.rcode = DNS_R_FORMERR;
        info->cls = ANSWER_MALFORMED;
        break;
    case WIRE_BADVERS:
        p.r.rcode = DNS_R_BADVERS;
        info->cls = ANSWER_MALFORMED;
        break;
    case WIRE_OK:
        info->cls = decide(env, &query, &p);
        break;
    }
    info->qtype = query.qd_ok ? query.qtype : 0;
    info->rcode = (uint8_t)p.r.rcode;

    if (transport == ANSWER_TCP) {
        limit = cap < 65535 ? cap : 65535;
        p.r.keepalive = query.keepalive;
        p.r.keepalive_100ms = env->tcp_idle_100ms;
    } else {
        limit = 512;
        if (query.has_opt && query.udp_size > limit)
            limit = query.udp_size < EDNS_UDP_SIZE ? query.udp_size : EDNS_UDP_SIZE;
        if (cap < limit)
            limit = cap;
    }
    return wire_reply(&query, &p.r, out, limit);
}
