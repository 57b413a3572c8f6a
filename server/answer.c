/* answer.c: the decision table of SPEC §4.  See answer.h.
 *
 * Every record an answer can hold is prebuilt in the zone table (zones.h),
 * so deciding only picks one of them: the reply is the question copied
 * once and that record block (wire.c).
 */
#include "answer.h"

#include <string.h>

#include "qname.h"
#include "wire.h"
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

/* Rules 6 and 7 for a well-formed query: which rcode, which records. */
static uint8_t decide(const struct answer_env *env, const struct query *q, struct wire_reply *r)
{
    const uint8_t *name = q->msg + DNS_HDR;
    unsigned m = 0;
    const struct zone *z = NULL;

    if (q->qclass == DNS_C_IN)
        z = zonetab_find(env->zones, name, q->label, q->nlabels, &m);
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
    if (!alloc) {
        alloc = zonetab_alloc_id(env->zones, name + q->label[m - 1]);
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
    int listed = env->covers ? env->covers(env->covers_ctx, alloc, a.family, a.addr) : -1;
    if (listed < 0) {
        r->rcode = DNS_R_SERVFAIL;
        return ANSWER_SERVFAIL;
    }
    if (!listed) {
        negative(r, z, apex, a.unlisted_tail ? DNS_R_NOERROR : DNS_R_NXDOMAIN);
        return a.unlisted_tail ? ANSWER_TAIL : ANSWER_UNLISTED;
    }
    if (q->qtype != DNS_T_A && q->qtype != DNS_T_ANY) {
        negative(r, z, apex, DNS_R_NOERROR);
        return ANSWER_LISTED;
    }
    r->aa = 1;
    r->n_an = 1;
    r->rrs = z->a_rr;
    r->rrs_len = sizeof z->a_rr;
    return ANSWER_LISTED;
}

size_t answer_query(const struct answer_env *env, const uint8_t *q, size_t qlen, uint8_t *out,
                    size_t cap, int transport, struct answer_info *info)
{
    struct answer_info scratch;
    struct query query;
    struct wire_reply r = { .serial = env->serial };
    size_t limit;

    if (!info)
        info = &scratch;
    switch (wire_parse(q, qlen, &query)) {
    case WIRE_DROP:
        info->qtype = 0;
        info->rcode = 0;
        info->cls = ANSWER_DROP;
        return 0;
    case WIRE_NOTIMP:
        r.rcode = DNS_R_NOTIMP;
        info->cls = ANSWER_MALFORMED;
        break;
    case WIRE_FORMERR:
        r.rcode = DNS_R_FORMERR;
        info->cls = ANSWER_MALFORMED;
        break;
    case WIRE_BADVERS:
        r.rcode = DNS_R_BADVERS;
        info->cls = ANSWER_MALFORMED;
        break;
    case WIRE_OK:
        info->cls = decide(env, &query, &r);
        break;
    }
    info->qtype = query.qd_ok ? query.qtype : 0;
    info->rcode = (uint8_t)r.rcode;

    if (transport == ANSWER_TCP) {
        limit = cap < 65535 ? cap : 65535;
        r.keepalive = query.keepalive;
        r.keepalive_100ms = env->tcp_idle_100ms;
    } else {
        limit = 512;
        if (query.has_opt && query.udp_size > limit)
            limit = query.udp_size < EDNS_UDP_SIZE ? query.udp_size : EDNS_UDP_SIZE;
        if (cap < limit)
            limit = cap;
    }
    return wire_reply(&query, &r, out, limit);
}
