/* xfrserve.c: transfer threads: one connection each, SOA, AXFR and IXFR
 * produced as the socket drains.  See xfrserve.h. */
#define _GNU_SOURCE
#include "xfrserve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "bytes.h"
#include "log.h"
#include "net.h"
#include "out.h"
#include "view.h"
#include "xfrzone.h"

enum {
    XFR_MSG = 16384,        /* octets per transfer message (design §4) */
    XFR_TICK_MS = 100,      /* a blocked write looks at the stop flag this often */
    XFR_STALL_S = 30,       /* a write without progress for this long closes */
    XFR_IDLE_S = 10,        /* no message begun for this long closes */
    XFR_PARTIAL_S = 2,      /* a message begun must be complete within this */
    XFR_INCAP = 2 + 65535   /* one whole message and its length */
};

struct xfr_pool {
    spfdb_env *env;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned active;
    int stopping;
    int fd[XFR_POOL_MAX]; /* the connections served; -1: a free slot */
    struct xfr_counts n;  /* relaxed atomic increments */
};

struct xfr_conn {
    struct xfr_pool *p;
    unsigned slot;
    int fd;
    struct view *view;
    struct stats st;          /* the view's failure counts; not in the metrics */
    struct answer_env env;
    char peer[64];            /* ADDR#PORT, for the log */
    size_t inlen;
    uint8_t in[XFR_INCAP];
    uint8_t out[2 + 65535];   /* one reply, or one transfer message, with its length */
};

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static int stopping(struct xfr_pool *p)
{
    return __atomic_load_n(&p->stopping, __ATOMIC_RELAXED);
}

/* ---- the socket ------------------------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Does a remap of this process wait for our snapshot?  Another process
 * grew the map: every reader here must reset before the workers can renew
 * theirs (spfdb.h), so a transfer that held on would stall them for up to
 * 10 s and then make them answer SERVFAIL.  spfdb_env_last_txnid only
 * tries the remap lock, which prefers a waiting remap: it is busy exactly
 * then.  The transfer gives way; its client retries. */
static int remap_waits(struct xfr_conn *c)
{
    uint64_t id;

    return spfdb_env_last_txnid(c->p->env, &id) == SPFDB_EBUSY;
}

/* Write BUF[0..LEN) whole: the socket is non-blocking, so wait for it in
 * ticks, and give up after XFR_STALL_S without one octet taken, on a stop,
 * or when a remap waits.  0 or -1. */
static int write_all(struct xfr_conn *c, const uint8_t *buf, size_t len)
{
    int64_t last = mono_ms();

    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            last = mono_ms();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        struct pollfd pf = { c->fd, POLLOUT, 0 };
        if (stopping(c->p) || mono_ms() - last > XFR_STALL_S * 1000 || remap_waits(c))
            return -1;
        if (poll(&pf, 1, XFR_TICK_MS) < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

/* Read until C->in holds a whole message: 1 and *LEN (its length, after
 * the two octets), 0 at the end (EOF, a timeout, a stop), -1 on an
 * error or a zero length. */
static int read_msg(struct xfr_conn *c, size_t *len)
{
    int64_t start = mono_ms();
    int begun = c->inlen > 0;

    for (;;) {
        if (c->inlen >= 2) {
            size_t m = get_be16(c->in);
            if (m == 0)
                return -1;
            if (c->inlen >= 2 + m) {
                *len = m;
                return 1;
            }
        }
        if (stopping(c->p))
            return 0;
        int64_t limit = (begun ? XFR_PARTIAL_S : XFR_IDLE_S) * 1000 - (mono_ms() - start);
        if (limit <= 0)
            return 0;
        struct pollfd pf = { c->fd, POLLIN, 0 };
        int r = poll(&pf, 1, limit < XFR_TICK_MS ? (int)limit : XFR_TICK_MS);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -1;
        }
        if (!begun) {
            begun = 1;
            start = mono_ms(); /* the message's 2 s run from its first octet */
        }
        c->inlen += (size_t)n;
    }
}

/* ---- producing a response ---------------------------------------------- */

struct sender {
    struct xfr_conn *c;
    struct xfr_resp r;
    uint64_t bytes;
};

static int snd_flush(struct sender *s)
{
    size_t n;

    if (remap_waits(s->c) || xfr_resp_finish(&s->r, (uint64_t)time(NULL), 1, &n) != XFR_OK)
        return -1;
    put_be16(s->c->out, (uint16_t)n);
    if (write_all(s->c, s->c->out, n + 2) != 0)
        return -1;
    s->bytes += n + 2;
    return 0;
}

static int snd_begin(struct sender *s)
{
    return xfr_resp_begin(&s->r, s->c->out + 2, XFR_MSG) == XFR_OK ? 0 : -1;
}

/* Append O; a full message is signed and sent first. */
static int snd_add(struct sender *s, const struct xfr_obj *o)
{
    int e;

    while ((e = xfr_resp_add(&s->r, o)) == XFR_FULL)
        if (snd_flush(s) != 0 || snd_begin(s) != 0)
            return -1;
    return e == XFR_OK ? 0 : -1;
}

static int snd_soa(struct sender *s, uint32_t serial)
{
    struct xfr_obj o;

    o.kind = XFR_SOA;
    o.soa = (struct xfr_soa){ serial, XFR_SOA_REFRESH, XFR_SOA_RETRY, XFR_SOA_EXPIRE,
                              XFR_SOA_MINIMUM };
    return snd_add(s, &o);
}

/* ---- AXFR: the snapshot, walked ------------------------------------------ */

struct axfr {
    struct sender *s;
    struct xfr_obj o; /* the record being added (large: a zone's NS hosts) */
    size_t nalloc, cap;
    struct spfdb_alloc *alloc;
};

static int ax_zone(const struct spfdb_zone *z, void *arg)
{
    struct axfr *a = arg;

    a->o.kind = XFR_ZONE;
    a->o.zone = *z;
    a->o.zone.alloc_id = 0;
    return snd_add(a->s, &a->o);
}

static int ax_alloc(const struct spfdb_alloc *al, void *arg)
{
    struct axfr *a = arg;

    if (a->nalloc == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        struct spfdb_alloc *n = realloc(a->alloc, cap * sizeof *n);
        if (n == NULL)
            return SPFDB_ENOMEM;
        a->alloc = n;
        a->cap = cap;
    }
    a->alloc[a->nalloc++] = *al;
    return 0;
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* AL's member links, `<member>.m.<alloc>.a` PTR records, in member name
 * order (the follower needs no order; people reading an AXFR do). */
static int ax_members(struct axfr *a, spfdb_txn *txn, const struct spfdb_alloc *al)
{
    char names[SPFDB_MEMBERS_MAX][SPFDB_LABEL_MAX + 1];
    struct spfdb_alloc m;
    unsigned n = al->n_members < SPFDB_MEMBERS_MAX ? al->n_members : SPFDB_MEMBERS_MAX;
    int rc;

    for (unsigned i = 0; i < n; i++) {
        if ((rc = spfdb_alloc_get_id(txn, al->members[i], &m)) != 0)
            return rc;
        snprintf(names[i], sizeof names[i], "%s", m.name);
    }
    qsort(names, n, sizeof names[0], name_cmp);
    _Static_assert(sizeof names[0] == sizeof a->o.member.member, "a label each");
    a->o.kind = XFR_MEMBER;
    snprintf(a->o.member.alloc, sizeof a->o.member.alloc, "%s", al->name);
    for (unsigned i = 0; i < n; i++) {
        memcpy(a->o.member.member, names[i], sizeof names[i]);
        if ((rc = snd_add(a->s, &a->o)) != 0)
            return rc;
    }
    return 0;
}

static int ax_entry(const struct spfdb_prefix *p, void *arg)
{
    struct axfr *a = arg;

    a->o.entry.prefix = *p;
    return snd_add(a->s, &a->o);
}

/* The AXFR form after its first SOA: the apex NS, the layout, the zones,
 * each allocation with its member links and its entries, the SOA again. */
static int axfr_body(struct sender *s, spfdb_txn *txn, uint32_t serial)
{
    struct axfr *a = calloc(1, sizeof *a);
    int rc;

    if (a == NULL)
        return -1;
    a->s = s;
    a->o.kind = XFR_IGNORE; /* the apex NS */
    rc = snd_add(s, &a->o);
    if (rc == 0) {
        a->o.kind = XFR_LAYOUT;
        a->o.layout = XFR_LAYOUT_VERSION;
        rc = snd_add(s, &a->o);
    }
    if (rc == 0)
        rc = spfdb_zone_foreach(txn, ax_zone, a);
    if (rc == 0)
        rc = spfdb_alloc_foreach(txn, ax_alloc, a);
    for (size_t i = 0; rc == 0 && i < a->nalloc; i++) {
        a->o.kind = XFR_ALLOC;
        snprintf(a->o.alloc.alloc, sizeof a->o.alloc.alloc, "%s", a->alloc[i].name);
        rc = snd_add(s, &a->o);
        if (rc == 0)
            rc = ax_members(a, txn, &a->alloc[i]);
        if (rc != 0)
            break;
        a->o.kind = XFR_ENTRY;
        snprintf(a->o.entry.alloc, sizeof a->o.entry.alloc, "%s", a->alloc[i].name);
        rc = spfdb_entry_foreach(txn, a->alloc[i].id, ax_entry, a);
    }
    if (rc == 0)
        rc = snd_soa(s, serial);
    free(a->alloc);
    free(a);
    return rc == 0 ? 0 : -1;
}

/* ---- IXFR: the change log, netted ------------------------------------------ */

struct ixfr {
    struct sender *s;
    uint32_t client, serial;   /* from, to */
    uint32_t at;               /* check: the serial reached so far */
    uint64_t changes;          /* check: the changes from the client's serial on */
    int broken;
    struct xfr_net_slot *slots;
    size_t nslots;
    struct spfdb_log_change ch;
    struct xfr_obj o;
};

/* Is the log from the client's serial one unbroken chain of version 2
 * records to the current serial?  Checked before the first octet goes,
 * since a response cannot turn into AXFR once begun. */
static int ix_check(struct spfdb_log_rec *r, void *arg)
{
    struct ixfr *x = arg;

    if (r->version != 2 || r->serial_before != x->at) {
        x->broken = 1;
        return 1;
    }
    x->at = r->serial_after;
    x->changes += r->n_changes;
    return 0;
}

static int count_objects(const struct spfdb_alloc *a, void *arg)
{
    *(uint64_t *)arg += 1 + a->n_members + a->n4 + a->n6;
    return 0;
}

struct walk {
    struct ixfr *x;
    const struct spfdb_log_rec *rec;
};

static int copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        return SPFDB_EFORMAT;
    memcpy(dst, src, n + 1);
    return 0;
}

/* xfr_walk_fn: replay one record's changes as the records they delete
 * and add. */
static int ix_walk(void *arg, xfr_change_fn fn, void *fnarg)
{
    struct walk *w = arg;
    struct ixfr *x = w->x;
    struct spfdb_log_rec r = *w->rec;
    struct spfdb_log_change *ch = &x->ch;
    struct xfr_obj *o = &x->o;
    int k, rc;

    while ((k = spfdb_log_next(&r, ch)) == 1) {
        switch (ch->op) {
        case SPFDB_LOG_ADD:
        case SPFDB_LOG_DEL:
            o->kind = XFR_ENTRY;
            if ((rc = copy_name(o->entry.alloc, sizeof o->entry.alloc, ch->alloc)) != 0)
                return rc;
            o->entry.prefix = ch->p;
            rc = fn(fnarg, ch->op == SPFDB_LOG_ADD ? XFR_OP_ADD : XFR_OP_DEL, o);
            break;
        case SPFDB_LOG_ALLOC_ADD:
        case SPFDB_LOG_ALLOC_DEL:
            o->kind = XFR_ALLOC;
            if ((rc = copy_name(o->alloc.alloc, sizeof o->alloc.alloc, ch->alloc)) != 0)
                return rc;
            rc = fn(fnarg, ch->op == SPFDB_LOG_ALLOC_ADD ? XFR_OP_ADD : XFR_OP_DEL, o);
            break;
        case SPFDB_LOG_MEMBER_ADD:
        case SPFDB_LOG_MEMBER_DEL:
            o->kind = XFR_MEMBER;
            if ((rc = copy_name(o->member.alloc, sizeof o->member.alloc, ch->alloc)) != 0 ||
                (rc = copy_name(o->member.member, sizeof o->member.member, ch->member)) != 0)
                return rc;
            rc = fn(fnarg, ch->op == SPFDB_LOG_MEMBER_ADD ? XFR_OP_ADD : XFR_OP_DEL, o);
            break;
        case SPFDB_LOG_ZONE_ADD:
        case SPFDB_LOG_ZONE_SET:
        case SPFDB_LOG_ZONE_DEL:
            /* a set is its old record out and its new one in */
            o->kind = XFR_ZONE;
            rc = 0;
            for (int side = SPFDB_LOG_OLD; rc == 0 && side <= SPFDB_LOG_NEW; side++) {
                int z = spfdb_log_zone(ch, side, &o->zone);
                if (z == SPFDB_ENOTFOUND)
                    continue;
                if (z != 0)
                    return z;
                o->zone.alloc_id = 0;
                rc = fn(fnarg, side == SPFDB_LOG_OLD ? XFR_OP_DEL : XFR_OP_ADD, o);
            }
            break;
        default:
            return SPFDB_EFORMAT;
        }
        if (rc != 0)
            return rc;
    }
    return k < 0 ? k : 0;
}

static int ix_emit(void *arg, int op, const struct xfr_obj *rec)
{
    (void)op;
    return snd_add(arg, rec);
}

/* One commit, one sequence: SOA(before), deletions, SOA(after), additions. */
static int ix_record(struct spfdb_log_rec *r, void *arg)
{
    struct ixfr *x = arg;
    struct walk w = { x, r };
    struct xfr_net net;
    /* a zone changed is two walked changes: its old record and its new */
    size_t need = xfr_net_slots(2 * (size_t)r->n_changes + 1);
    int rc;

    if (need > x->nslots) {
        struct xfr_net_slot *s = realloc(x->slots, need * sizeof *s);
        if (s == NULL)
            return SPFDB_ENOMEM;
        x->slots = s;
        x->nslots = need;
    }
    if ((rc = xfr_net_index(&net, x->slots, need, ix_walk, &w)) != 0 ||
        (rc = snd_soa(x->s, r->serial_before)) != 0 ||
        (rc = xfr_net_emit(&net, XFR_OP_DEL, ix_walk, &w, ix_emit, x->s)) != 0 ||
        (rc = snd_soa(x->s, r->serial_after)) != 0 ||
        (rc = xfr_net_emit(&net, XFR_OP_ADD, ix_walk, &w, ix_emit, x->s)) != 0)
        return rc;
    return 0;
}

/* ---- one request ------------------------------------------------------------- */

/* The form of the response to a verified request of QTYPE from CLIENT,
 * and for an IXFR from the log, *SEQ. */
static enum xfr_form plan(spfdb_txn *txn, uint16_t qtype, uint32_t client, uint32_t serial,
                          struct ixfr *x, uint64_t *seq)
{
    if (qtype == DNS_T_AXFR)
        return XFR_FORM_AXFR;
    if (!xfr_serial_gt(serial, client))
        return XFR_FORM_SOA; /* current, or newer (a restored primary): the SOA alone */
    if (spfdb_log_find_serial(txn, client, seq) != 0)
        return XFR_FORM_AXFR;
    x->at = client;
    x->broken = 0;
    x->changes = 0;
    if (spfdb_log_foreach(txn, *seq, 0, ix_check, x) != 0 || x->broken || x->at != serial)
        return XFR_FORM_AXFR;
    /* More changes than half the zone: the whole zone is smaller, and a
     * follower stages less (design §2). */
    uint64_t objects = 0;
    if (spfdb_alloc_foreach(txn, count_objects, &objects) != 0 || x->changes > objects / 2 + 16)
        return XFR_FORM_AXFR;
    return XFR_FORM_IXFR;
}

static int transfer(struct xfr_conn *c, const struct query *q, struct tsig_ctx *ctx)
{
    const struct xfrzone *z = c->env.xfr;
    spfdb_txn *txn = view_txn(c->view);
    struct xfr_request req;
    struct sender s = { .c = c };
    struct ixfr *x = NULL;
    uint32_t client, serial = c->env.serial;
    uint64_t seq = 0;
    int64_t t0 = mono_ms();
    int rc = -1;

    if (txn == NULL)
        return -1; /* no snapshot: the client retries */
    xfrzone_request(z, q, &req, &client);
    x = calloc(1, sizeof *x);
    if (x == NULL)
        return -1;
    x->s = &s;
    enum xfr_form form = plan(txn, q->qtype, client, serial, x, &seq);
    if (xfr_resp_init(&s.r, form, client, &req, &z->origin, z->ns, ctx) != XFR_OK ||
        snd_begin(&s) != 0 || snd_soa(&s, serial) != 0)
        goto out;
    if (form == XFR_FORM_AXFR)
        rc = axfr_body(&s, txn, serial);
    else if (form == XFR_FORM_IXFR)
        rc = spfdb_log_foreach(txn, seq, 0, ix_record, x) == 0 ? snd_soa(&s, serial) : -1;
    else
        rc = 0;
    if (rc == 0)
        rc = xfr_resp_done(&s.r) ? snd_flush(&s) : -1;
out:
    count(&c->p->n.bytes, s.bytes);
    if (rc != 0 || form != XFR_FORM_SOA)
        log_info("transfer: %s of serial %u%s to %s: %u messages, %llu octets, %lld ms%s",
                 q->qtype == DNS_T_AXFR ? "AXFR" : "IXFR", serial,
                 form == XFR_FORM_IXFR ? " from the log"
                 : q->qtype == DNS_T_IXFR && form == XFR_FORM_AXFR ? " in AXFR form" : "",
                 c->peer, s.r.messages, (unsigned long long)s.bytes,
                 (long long)(mono_ms() - t0), rc != 0 ? ", aborted" : "");
    if (rc != 0) {
        count(&c->p->n.aborted, 1);
    } else {
        uint64_t *by = form == XFR_FORM_AXFR ? (q->qtype == DNS_T_IXFR ? &c->p->n.ixfr_as_axfr
                                                                        : &c->p->n.axfr)
                       : form == XFR_FORM_IXFR ? &c->p->n.ixfr
                                               : &c->p->n.soa;
        count(by, 1);
    }
    free(x->slots);
    free(x);
    return rc;
}

/* Answer MSG[0..LEN): 0 to read on, -1 to close. */
static int handle(struct xfr_conn *c, const uint8_t *msg, size_t len)
{
    struct answer_info info;
    struct query q;
    struct tsig_ctx ctx;
    int err, rc;

    view_begin(c->view, &c->env);
    c->env.xfr_room = 1;
    size_t n = answer_query(&c->env, msg, len, c->out + 2, sizeof c->out - 2, ANSWER_TCP, &info);
    if (info.transfer) {
        /* verified again, for the context the signatures chain from */
        if (wire_parse(msg, len, &q) != WIRE_OK ||
            xfrzone_decide(c->env.xfr, &q, 1, 1, (uint64_t)time(NULL), &ctx, &err) !=
                XFRZ_TRANSFER)
            rc = -1;
        else
            rc = transfer(c, &q, &ctx);
    } else if (n > 0) {
        put_be16(c->out, (uint16_t)n);
        rc = write_all(c, c->out, n + 2) == 0 && info.rcode == 0 ? 0 : -1;
    } else {
        rc = -1;
    }
    view_end(c->view);
    view_release(c->view);
    return rc;
}

static void peer_name(struct xfr_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s#%u", host, port);
}

static void *run(void *arg)
{
    struct xfr_conn *c = arg;
    struct xfr_pool *p = c->p;
    size_t len;
    int rc = view_open(&c->view, p->env, 100 + c->slot, &c->st);

    peer_name(c);
    if (rc != 0)
        log_err("transfer: cannot read the database: %s", spfdb_strerror(rc));
    while (rc == 0 && read_msg(c, &len) == 1) {
        if (handle(c, c->in + 2, len) != 0)
            break;
        c->inlen -= 2 + len;
        memmove(c->in, c->in + 2 + len, c->inlen);
    }
    view_close(c->view);
    if (close(c->fd) != 0)
        log_warn("transfer: close: %s", strerror(errno));
    pthread_mutex_lock(&p->mu);
    p->fd[c->slot] = -1;
    __atomic_store_n(&p->active, p->active - 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    free(c);
    return NULL;
}

/* ---- the pool ------------------------------------------------------------------ */

int xfr_pool_new(struct xfr_pool **out, spfdb_env *env)
{
    struct xfr_pool *p = calloc(1, sizeof *p);

    if (p == NULL)
        return SPFDB_ENOMEM;
    p->env = env;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return SPFDB_ENOMEM;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return SPFDB_ENOMEM;
    }
    for (unsigned i = 0; i < XFR_POOL_MAX; i++)
        p->fd[i] = -1;
    *out = p;
    return 0;
}

/* Lock-free: the TCP thread asks before each message it answers. */
int xfr_pool_room(struct xfr_pool *p)
{
    return !stopping(p) && __atomic_load_n(&p->active, __ATOMIC_RELAXED) < XFR_POOL_MAX;
}

int xfr_pool_take(struct xfr_pool *p, int fd, const uint8_t *pending, size_t n)
{
    struct xfr_conn *c;
    pthread_attr_t attr;
    pthread_t th;
    unsigned slot = 0;
    int rc;

    if (n > XFR_INCAP || (c = calloc(1, sizeof *c)) == NULL)
        return -1;
    pthread_mutex_lock(&p->mu);
    while (slot < XFR_POOL_MAX && p->fd[slot] >= 0)
        slot++;
    if (p->stopping || slot == XFR_POOL_MAX) {
        pthread_mutex_unlock(&p->mu);
        free(c);
        return -1;
    }
    p->fd[slot] = fd;
    __atomic_store_n(&p->active, p->active + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->mu);
    c->p = p;
    c->slot = slot;
    c->fd = fd;
    c->inlen = n;
    memcpy(c->in, pending, n);
    rc = pthread_attr_init(&attr);
    if (rc == 0) {
        rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (rc == 0)
            rc = pthread_create(&th, &attr, run, c);
        pthread_attr_destroy(&attr);
    }
    if (rc == 0)
        return 0;
    log_err("transfer: cannot start a thread: %s", strerror(rc));
    pthread_mutex_lock(&p->mu);
    p->fd[slot] = -1;
    __atomic_store_n(&p->active, p->active - 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->mu);
    free(c);
    return -1;
}

void xfr_pool_stop(struct xfr_pool *p)
{
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stopping, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < XFR_POOL_MAX; i++)
        if (p->fd[i] >= 0)
            (void)shutdown(p->fd[i], SHUT_RDWR); /* wakes its poll; its thread closes it */
    while (p->active > 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void xfr_pool_free(struct xfr_pool *p)
{
    if (p == NULL)
        return;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void xfr_pool_counts(struct xfr_pool *p, struct xfr_counts *out)
{
    const uint64_t *from = (const uint64_t *)&p->n;
    uint64_t *to = (uint64_t *)out;

    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
    out->active = __atomic_load_n(&p->active, __ATOMIC_RELAXED);
}
