/* notifier.c: the NOTIFY sender's thread.  See notifier.h. */
#define _GNU_SOURCE
#include "notifier.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "notify.h" /* xfr/: the pure request and check */
#include "log.h"
#include "sockets.h"

enum { FAM_4, FAM_6, FAMS };

/* One replica: where, with which key, and its NOTIFY round. */
struct target {
    struct sockaddr_storage ss;
    socklen_t sslen;
    int fam;                          /* FAM_4 or FAM_6 */
    char addr[SPFDB_ADDRPORT_STRLEN]; /* canonical ADDR:PORT, as stored */
    char keyname[SPFDB_KEY_NAME_MAX + 1];
    uint8_t secret[SPFDB_SECRET_MAX];
    size_t secret_len;
    struct tsig_key key;      /* the request's TSIG context points here: a target never moves */
    int seen;                 /* still listed, at a reload */
    /* The round: one NOTIFY outstanding at most. */
    int outstanding;
    unsigned tries;           /* transmissions of the outstanding request */
    int64_t deadline;         /* ms (monotonic): the next retransmission, or giving up */
    int64_t last_sent;        /* ms (monotonic): the last transmission */
    uint32_t want;            /* the newest serial to tell */
    uint32_t sent;            /* the outstanding request's serial */
    uint16_t id;
    struct tsig_ctx ctx;
    uint8_t msg[XFR_NOTIFY_MAX];
    size_t len;
    /* The log, at most a line per NOTIFY_LOG_S for each kind. */
    uint64_t failed, bad, send_err;
    struct log_limit log_failed, log_bad, log_send;
    int down;                 /* the last round was given up: say when it answers again */
};

struct notifier {
    int fd[FAMS];              /* -1: none */
    char src[FAMS][80];        /* the source, for the log; "" for the wildcard */
    spfdb_env *env;
    pthread_t thread;
    int started;
    int stopping;              /* set by notify_stop, read by the thread (relaxed) */
    /* What the thread knows of the database. */
    int loaded;
    uint64_t txnid, xfr_gen;
    uint32_t serial;
    int has_zone;
    struct xfr_origin origin;
    char zone[SPFDB_XFR_ZONE_MAX + 1];
    char ns[SPFDB_HOST_MAX + 1];
    struct target **t;
    size_t nt;
    struct log_limit log_db;
    uint64_t db_errors;
    struct notify_counts c;    /* written by the thread alone, relaxed */
    uint8_t rx[4096];
};

static void bump(uint64_t *c, int64_t n)
{
    __atomic_store_n(c, *c + (uint64_t)n, __ATOMIC_RELAXED);
}

static void set_gauge(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options and sockets --------------------------------------------------- */

int notify_source_parse(const char *s, struct notify_source *out)
{
    struct sock_addr a;
    const char *close = strchr(s, ']'), *colon = strchr(s, ':');
    /* A port is there after "]:" or after the single colon of IPv4. */
    int has_port = s[0] == '[' ? close != NULL && close[1] == ':'
                               : colon != NULL && strchr(colon + 1, ':') == NULL;

    memset(out, 0, sizeof *out);
    if (sock_addr_parse(s, &a) != 0)
        return -1;
    memcpy(&out->ss, &a.ss, a.len);
    out->len = a.len;
    if (has_port) {
        snprintf(out->text, sizeof out->text, "%s", a.text);
        return 0;
    }
    /* sock_addr_parse gave port 53: a source takes any free port instead. */
    if (a.ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&out->ss)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&out->ss)->sin6_port = 0;
    snprintf(out->text, sizeof out->text, "%.*s", (int)(strrchr(a.text, ':') - a.text), a.text);
    return 0;
}

static int open_socket(struct notifier *n, int fam, const struct notify_source *src, char *err,
                       size_t errcap)
{
    int af = fam == FAM_4 ? AF_INET : AF_INET6, one = 1;
    int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_storage any;
    socklen_t len;

    if (fd < 0) {
        if (src == NULL && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT))
            return 0; /* no IPv6 here: replicas over it count send errors */
        snprintf(err, errcap, "cannot make the NOTIFY socket (%s): %s",
                 fam == FAM_4 ? "IPv4" : "IPv6", strerror(errno));
        return -1;
    }
    if (af == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
        snprintf(err, errcap, "cannot set IPV6_V6ONLY on the NOTIFY socket: %s", strerror(errno));
        close(fd);
        return -1;
    }
    memset(&any, 0, sizeof any);
    any.ss_family = (sa_family_t)af;
    len = af == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, src ? (const struct sockaddr *)&src->ss : (const struct sockaddr *)&any,
             src ? src->len : len) != 0) {
        if (src == NULL && errno == EADDRNOTAVAIL) {
            close(fd); /* IPv6 disabled on every interface */
            return 0;
        }
        snprintf(err, errcap, "cannot bind the NOTIFY source %s: %s",
                 src ? src->text : fam == FAM_4 ? "0.0.0.0" : "[::]", strerror(errno));
        close(fd);
        return -1;
    }
    n->fd[fam] = fd;
    if (src != NULL)
        snprintf(n->src[fam], sizeof n->src[fam], "%s", src->text);
    return 0;
}

int notify_new(struct notifier **out, const struct notify_source *src, unsigned nsrc, char *err,
               size_t errcap)
{
    struct notifier *n = calloc(1, sizeof *n);
    const struct notify_source *by[FAMS] = { NULL, NULL };

    if (n == NULL) {
        snprintf(err, errcap, "NOTIFY: out of memory");
        return -1;
    }
    n->fd[FAM_4] = n->fd[FAM_6] = -1;
    for (unsigned i = 0; i < nsrc; i++) {
        int fam = src[i].ss.ss_family == AF_INET ? FAM_4 : FAM_6;
        if (by[fam] != NULL) {
            snprintf(err, errcap, "--notify-source %s and %s: one address per family",
                     by[fam]->text, src[i].text);
            free(n);
            return -1;
        }
        by[fam] = &src[i];
    }
    for (int fam = 0; fam < FAMS; fam++) {
        if (open_socket(n, fam, by[fam], err, errcap) != 0) {
            notify_free(n);
            return -1;
        }
    }
    *out = n;
    return 0;
}

int notify_open(struct notifier *n, spfdb_env *env)
{
    spfdb_txn *txn;
    int rc = spfdb_txn_read(env, &txn);

    if (rc != 0)
        return rc;
    spfdb_txn_close(txn);
    n->env = env;
    return 0;
}

/* ---- sending --------------------------------------------------------------- */

static void send_msg(struct notifier *n, struct target *t, int64_t now)
{
    int fd = n->fd[t->fam];
    ssize_t r = -1;

    t->last_sent = now;
    if (fd >= 0) {
        do
            r = sendto(fd, t->msg, t->len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       (const struct sockaddr *)&t->ss, t->sslen);
        while (r < 0 && errno == EINTR);
    }
    if (r == (ssize_t)t->len) {
        bump(&n->c.sent, 1);
        return;
    }
    /* Counted as a transmission all the same: the round's timers go on,
     * and a lasting failure ends in "not answered". */
    bump(&n->c.send_errors, 1);
    t->send_err++;
    if (log_limit_ok(&t->log_send, time(NULL), NOTIFY_LOG_S, t->send_err))
        log_warn("NOTIFY to %s: %s (%" PRIu64 " send failure%s)", t->addr,
                 fd < 0 ? "no socket for its address family" : strerror(errno), t->send_err,
                 t->send_err == 1 ? "" : "s");
}

static uint16_t new_id(void)
{
    uint16_t id;

    /* getrandom of two octets does not fail once the pool is ready
     * (GRND_NONBLOCK: never wait at boot; then the clock will do). */
    if (getrandom(&id, sizeof id, GRND_NONBLOCK) != (ssize_t)sizeof id)
        id = (uint16_t)(mono_ms() * 2654435761u >> 7);
    return id;
}

/* Build the request for T->want: 0, or -1 (logged; the round is dropped). */
static int build(struct notifier *n, struct target *t)
{
    int r;

    t->id = new_id();
    r = xfr_notify_build(t->msg, sizeof t->msg, &t->len, t->id, &n->origin, n->ns, t->want,
                         &t->key, &t->ctx, (uint64_t)time(NULL));
    if (r == 0) {
        t->sent = t->want;
        return 0;
    }
    t->failed++;
    if (log_limit_ok(&t->log_failed, time(NULL), NOTIFY_LOG_S, t->failed))
        log_err("cannot build the NOTIFY for %s: %s", t->addr,
                r == XFR_ENOSPACE ? "the zone, NS host and key names exceed 512 octets"
                                  : "bad key or NS host");
    return -1;
}

static void start_round(struct notifier *n, struct target *t, int64_t now)
{
    if (build(n, t) != 0) {
        if (t->outstanding)
            bump(&n->c.outstanding, -1);
        t->outstanding = 0;
        return;
    }
    if (!t->outstanding)
        bump(&n->c.outstanding, 1);
    t->outstanding = 1;
    t->tries = 1;
    t->deadline = now + NOTIFY_FIRST_WAIT_MS;
    send_msg(n, t, now);
}

/* Tell T the serial N holds now (a commit, start-up, a new target).
 * With a request outstanding for under a second, the serial waits for
 * its answer or its retransmission (coalescing a burst); one waiting
 * longer is replaced at once by a new round for this serial, so a
 * replica back from a pause is not left until a late retransmission (up
 * to 16 s away).  Either way a target gets at most one NOTIFY a second
 * while it does not answer. */
static void tell(struct notifier *n, struct target *t, int64_t now)
{
    t->want = n->serial;
    if (!t->outstanding || now - t->last_sent >= NOTIFY_FIRST_WAIT_MS)
        start_round(n, t, now);
}

static void end_round(struct notifier *n, struct target *t)
{
    t->outstanding = 0;
    bump(&n->c.outstanding, -1);
}

/* A round's timer: retransmit (with the newest serial), or give up. */
static void on_deadline(struct notifier *n, struct target *t, int64_t now)
{
    if (t->tries >= NOTIFY_TRIES) {
        end_round(n, t);
        bump(&n->c.failed, 1);
        t->failed++;
        t->down = 1;
        if (log_limit_ok(&t->log_failed, time(NULL), NOTIFY_LOG_S, t->failed))
            log_warn("replica %s did not answer NOTIFY for serial %" PRIu32
                     " (%u tries in %d s; %" PRIu64 " round%s given up)",
                     t->addr, t->sent, t->tries,
                     (NOTIFY_FIRST_WAIT_MS << NOTIFY_TRIES) / 1000 - 1, t->failed,
                     t->failed == 1 ? "" : "s");
        /* A commit during the last wait was never sent: a new round. */
        if (t->want != t->sent)
            start_round(n, t, now);
        return;
    }
    if (t->want != t->sent && build(n, t) != 0) {
        end_round(n, t);
        return;
    }
    t->deadline = now + ((int64_t)NOTIFY_FIRST_WAIT_MS << t->tries);
    t->tries++;
    bump(&n->c.retransmitted, 1);
    send_msg(n, t, now);
}

/* ---- replies --------------------------------------------------------------- */

static int same_peer(const struct target *t, const struct sockaddr_storage *ss)
{
    if (ss->ss_family != t->ss.ss_family)
        return 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss, *b = (const void *)&t->ss;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *a = (const void *)ss, *b = (const void *)&t->ss;
    return a->sin6_port == b->sin6_port &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
}

static const char *rcode_name(int rcode)
{
    static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                         "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                         "NXRRSET", "NOTAUTH", "NOTZONE" };

    return rcode >= 0 && rcode < (int)(sizeof names / sizeof names[0]) ? names[rcode] : "RCODE";
}

static void unverified(struct notifier *n, struct target *t, const struct xfr_notify_reply *r)
{
    char why[96];

    bump(&n->c.bad_replies, 1);
    t->bad++;
    if (!log_limit_ok(&t->log_bad, time(NULL), NOTIFY_LOG_S, t->bad))
        return;
    if (r->tsig == TSIG_EPEER)
        snprintf(why, sizeof why, "%s with TSIG error %s", rcode_name(r->rcode),
                 r->peer_error == TSIG_ERR_BADKEY    ? "BADKEY (it lacks this key)"
                 : r->peer_error == TSIG_ERR_BADSIG  ? "BADSIG (its secret differs)"
                 : r->peer_error == TSIG_ERR_BADTIME ? "BADTIME (the clocks differ)"
                                                     : "BADTRUNC");
    else
        snprintf(why, sizeof why, "%s, %s", rcode_name(r->rcode), tsig_strerror(r->tsig));
    log_warn("NOTIFY reply from %s not verified with key %s, ignored: %s (%" PRIu64 " so far)",
             t->addr, t->keyname, why, t->bad);
}

static void on_reply(struct notifier *n, struct target *t, size_t len, int64_t now)
{
    struct xfr_notify_reply r;
    int rc;

    if (!t->outstanding) {
        bump(&n->c.stray, 1); /* late: a duplicate, or a round given up */
        return;
    }
    rc = xfr_notify_check(&t->ctx, t->id, &n->origin, n->rx, len, (uint64_t)time(NULL), &r);
    if (rc == XFR_NOTIFY_FOREIGN) {
        bump(&n->c.stray, 1); /* e.g. the answer to a request since replaced */
        return;
    }
    if (rc == XFR_NOTIFY_UNVERIFIED) {
        unverified(n, t, &r);
        return;
    }
    end_round(n, t);
    if (r.rcode == 0) {
        bump(&n->c.answered, 1);
        if (t->down)
            log_info("replica %s answers NOTIFY again (serial %" PRIu32 ")", t->addr, t->sent);
        t->down = 0;
    } else {
        bump(&n->c.refused, 1);
        t->failed++;
        if (log_limit_ok(&t->log_failed, time(NULL), NOTIFY_LOG_S, t->failed))
            log_warn("replica %s answered NOTIFY for serial %" PRIu32 " with %s: is the "
                     "transfer zone %s configured there, with this primary?",
                     t->addr, t->sent, rcode_name(r.rcode), n->zone);
    }
    if (t->want != t->sent)
        start_round(n, t, now);
}

static void receive(struct notifier *n, int fd, int64_t now)
{
    /* Bounded: a flood of datagrams cannot hold the thread here. */
    for (unsigned i = 0; i < 64; i++) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t r = recvfrom(fd, n->rx, sizeof n->rx, MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &flen);
        struct target *t = NULL;

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN, or an ICMP error reported here (ECONNREFUSED): the timer decides */
        }
        for (size_t k = 0; k < n->nt && t == NULL; k++)
            if (same_peer(n->t[k], &from))
                t = n->t[k];
        if (t == NULL || (size_t)r > sizeof n->rx) {
            bump(&n->c.stray, 1);
            continue;
        }
        on_reply(n, t, (size_t)r, now);
    }
}

/* ---- the database ---------------------------------------------------------- */

/* A target holds a copy of its key's secret: wiped before it goes. */
static void target_free(struct target *t)
{
    explicit_bzero(t, sizeof *t);
    free(t);
}

static void free_targets(struct notifier *n)
{
    for (size_t i = 0; i < n->nt; i++)
        target_free(n->t[i]);
    free(n->t);
    n->t = NULL;
    n->nt = 0;
}

struct load {
    struct notifier *n;
    spfdb_txn *txn;
    struct target **t; /* the new list */
    size_t nt;
    int rc;
};

static struct target *find(struct notifier *n, const char *addr)
{
    for (size_t i = 0; i < n->nt; i++)
        if (strcmp(n->t[i]->addr, addr) == 0)
            return n->t[i];
    return NULL;
}

/* Each replica: its old target when nothing about it changed, else a new
 * one (told the serial once the list is in place). */
static int load_replica(const struct spfdb_replica *rp, void *arg)
{
    struct load *l = arg;
    struct spfdb_key k;
    struct target *t = find(l->n, rp->addr), **grown;
    int rc = spfdb_key_get(l->txn, rp->key, &k);

    if (rc != 0) {
        log_err("NOTIFY: cannot read key %s of replica %s: %s", rp->key, rp->addr,
                spfdb_strerror(rc));
        return 0; /* the others are still told */
    }
    if (t != NULL && !t->seen && strcmp(t->keyname, k.name) == 0 &&
        t->secret_len == k.secret_len && memcmp(t->secret, k.secret, k.secret_len) == 0) {
        t->seen = 1;
    } else {
        t = calloc(1, sizeof *t);
        if (t == NULL)
            return l->rc = SPFDB_ENOMEM;
        snprintf(t->addr, sizeof t->addr, "%s", rp->addr);
        snprintf(t->keyname, sizeof t->keyname, "%s", k.name);
        memcpy(t->secret, k.secret, k.secret_len);
        t->secret_len = k.secret_len;
        if (tsig_key_set(&t->key, k.name, k.secret, k.secret_len) != TSIG_OK) {
            log_err("NOTIFY: key %s of replica %s cannot sign", k.name, rp->addr);
            explicit_bzero(&k, sizeof k);
            target_free(t);
            return 0;
        }
        if (rp->ap.family == 4) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&t->ss;
            sin->sin_family = AF_INET;
            sin->sin_port = htons(rp->ap.port);
            memcpy(&sin->sin_addr, rp->ap.addr, 4);
            t->sslen = sizeof *sin;
            t->fam = FAM_4;
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->ss;
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(rp->ap.port);
            memcpy(&sin6->sin6_addr, rp->ap.addr, 16);
            t->sslen = sizeof *sin6;
            t->fam = FAM_6;
        }
        t->seen = 2; /* new */
    }
    explicit_bzero(&k, sizeof k);
    grown = realloc(l->t, (l->nt + 1) * sizeof *l->t);
    if (grown == NULL) {
        if (t->seen == 2)
            target_free(t);
        return l->rc = SPFDB_ENOMEM;
    }
    l->t = grown;
    l->t[l->nt++] = t;
    return 0;
}

/* Read the transfer zone and the replicas: 0, or <0 (the old list stays). */
static int reload(struct notifier *n, spfdb_txn *txn, int64_t now)
{
    struct spfdb_xfr_zone z;
    struct load l = { n, txn, NULL, 0, 0 };
    int rc = spfdb_xfr_zone_get(txn, &z), zone_changed, changed;
    unsigned outstanding = 0;

    if (rc == SPFDB_ENOTFOUND) {
        if (n->has_zone)
            log_info("NOTIFY: no transfer zone any more, no replica is told of commits");
        for (size_t i = 0; i < n->nt; i++)
            if (n->t[i]->outstanding)
                bump(&n->c.outstanding, -1);
        free_targets(n);
        n->has_zone = 0;
        set_gauge(&n->c.targets, 0);
        return 0;
    }
    if (rc != 0)
        return rc;
    if (z.ns[0] == '\0')
        snprintf(z.ns, sizeof z.ns, "%s", SPFDB_XFR_NS_DEFAULT);
    zone_changed = !n->has_zone || strcmp(z.name, n->zone) != 0 || strcmp(z.ns, n->ns) != 0;
    if (zone_changed) {
        struct xfr_origin o;
        if (xfr_origin_set(&o, z.name) != 0)
            return SPFDB_EINVAL;
        n->origin = o;
        snprintf(n->zone, sizeof n->zone, "%s", z.name);
        snprintf(n->ns, sizeof n->ns, "%s", z.ns);
        free_targets(n); /* every request names the zone: start afresh */
        set_gauge(&n->c.outstanding, 0);
    }
    n->has_zone = 1;
    for (size_t i = 0; i < n->nt; i++)
        n->t[i]->seen = 0;
    rc = spfdb_replica_foreach(txn, load_replica, &l);
    if (rc == 0)
        rc = l.rc;
    if (rc != 0) {
        for (size_t i = 0; i < l.nt; i++)
            if (l.t[i]->seen == 2)
                target_free(l.t[i]);
        free(l.t);
        return rc;
    }
    /* Targets no longer listed (or listed with another key) go. */
    changed = zone_changed || l.nt != n->nt;
    for (size_t i = 0; i < n->nt; i++) {
        if (!n->t[i]->seen) {
            target_free(n->t[i]);
            changed = 1;
        }
    }
    free(n->t);
    n->t = l.t;
    n->nt = l.nt;
    for (size_t i = 0; i < n->nt; i++)
        outstanding += n->t[i]->outstanding;
    set_gauge(&n->c.outstanding, outstanding);
    set_gauge(&n->c.targets, n->nt);
    if (changed) {
        char list[512];
        size_t off = 0;
        list[0] = '\0';
        for (size_t i = 0; i < n->nt && off < sizeof list; i++) {
            int w = snprintf(list + off, sizeof list - off, " %s", n->t[i]->addr);
            if (w < 0)
                break;
            off += (size_t)w;
        }
        log_info("NOTIFY: transfer zone %s, from %s and %s, %zu replica%s%s%s", n->zone,
                 n->fd[FAM_4] < 0 ? "no IPv4" : n->src[FAM_4][0] ? n->src[FAM_4] : "any IPv4",
                 n->fd[FAM_6] < 0 ? "no IPv6" : n->src[FAM_6][0] ? n->src[FAM_6] : "any IPv6",
                 n->nt, n->nt == 1 ? "" : "s", n->nt ? ":" : "", list);
    }
    /* New targets learn the serial now (at start-up every target is new). */
    for (size_t i = 0; i < n->nt; i++) {
        if (n->t[i]->seen == 2) {
            n->t[i]->seen = 1;
            tell(n, n->t[i], now);
        }
    }
    return 0;
}

/* Has the database changed?  Read it when its last commit id moved.
 * LMDB publishes a commit's meta page before the id new readers start
 * from, so a snapshot taken just after the id moved may still be the one
 * before: the snapshot's own id is kept, and a later look reads again. */
static void look(struct notifier *n, int64_t now)
{
    struct spfdb_info info;
    spfdb_txn *txn;
    uint64_t id;
    uint32_t old = n->serial;
    int rc = spfdb_env_last_txnid(n->env, &id), first = !n->loaded;

    if (rc == SPFDB_EBUSY || (rc == 0 && n->loaded && id == n->txnid))
        return; /* a remap in this process: look again at the next poll */
    /* A read transaction per look, not one kept: its reader slot is free
     * between commits (the answering threads hold theirs for good). */
    if (rc == 0)
        rc = spfdb_txn_read(n->env, &txn);
    if (rc == 0) {
        id = spfdb_txn_id(txn);
        rc = spfdb_info_get(txn, &info);
        if (rc == 0 && (first || info.xfr_gen != n->xfr_gen)) {
            n->serial = info.serial; /* new targets are told this one */
            rc = reload(n, txn, now);
        }
        spfdb_txn_close(txn);
    }
    if (rc != 0) {
        n->serial = old;
        n->db_errors++;
        if (log_limit_ok(&n->log_db, time(NULL), NOTIFY_LOG_S, n->db_errors))
            log_err("NOTIFY: cannot read the database: %s (%" PRIu64 " time%s)",
                    spfdb_strerror(rc), n->db_errors, n->db_errors == 1 ? "" : "s");
        return; /* tried again at the next poll */
    }
    n->txnid = id;
    n->xfr_gen = info.xfr_gen;
    n->loaded = 1;
    n->serial = info.serial;
    /* A commit: every target (those just told coalesce it). */
    if (!first && info.serial != old)
        for (size_t i = 0; i < n->nt; i++)
            tell(n, n->t[i], now);
}

/* ---- the thread ------------------------------------------------------------ */

static void *run(void *arg)
{
    struct notifier *n = arg;
    int64_t next_look = 0;

    while (!__atomic_load_n(&n->stopping, __ATOMIC_RELAXED)) {
        struct pollfd pf[FAMS];
        nfds_t npf = 0;
        int64_t now = mono_ms(), wake;

        if (now >= next_look) {
            look(n, now);
            next_look = now + (n->nt > 0 ? NOTIFY_POLL_MS : NOTIFY_IDLE_MS);
        }
        wake = next_look;
        for (size_t i = 0; i < n->nt; i++) {
            struct target *t = n->t[i];
            if (t->outstanding && t->deadline <= now)
                on_deadline(n, t, now);
            if (t->outstanding && t->deadline < wake)
                wake = t->deadline;
        }
        for (int fam = 0; fam < FAMS; fam++)
            if (n->fd[fam] >= 0)
                pf[npf++] = (struct pollfd){ .fd = n->fd[fam], .events = POLLIN };
        wake -= mono_ms();
        if (poll(pf, npf, wake < 0 ? 0 : wake > NOTIFY_IDLE_MS ? NOTIFY_IDLE_MS : (int)wake) > 0) {
            now = mono_ms();
            for (nfds_t i = 0; i < npf; i++)
                if (pf[i].revents)
                    receive(n, pf[i].fd, now);
        }
    }
    return NULL;
}

int notify_start(struct notifier *n)
{
    int err = pthread_create(&n->thread, NULL, run, n);

    n->started = err == 0;
    return err;
}

void notify_stop(struct notifier *n)
{
    if (n == NULL || !n->started)
        return;
    __atomic_store_n(&n->stopping, 1, __ATOMIC_RELAXED);
    pthread_join(n->thread, NULL);
    n->started = 0;
}

void notify_free(struct notifier *n)
{
    if (n == NULL)
        return;
    notify_stop(n);
    for (int fam = 0; fam < FAMS; fam++)
        if (n->fd[fam] >= 0)
            close(n->fd[fam]);
    free_targets(n);
    free(n);
}

void notify_counts(struct notifier *n, struct notify_counts *out)
{
    const uint64_t *src = (const uint64_t *)&n->c;
    uint64_t *dst = (uint64_t *)out;

    _Static_assert(sizeof *out % sizeof(uint64_t) == 0, "notify_counts holds only uint64_t");
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
