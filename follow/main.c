/* main.c: spfdb-follow, the writer of a replica database (SPEC §5,
 * spfdb-follow(8)).
 *
 * One thread, one poll loop: the NOTIFY sockets (UDP, and TCP with at
 * most CONN_MAX connections), and a timer for the next SOA check.  A
 * check or transfer runs to its end inside the loop (fetch.h: blocking,
 * with deadlines); NOTIFYs that arrive meanwhile wait in their sockets
 * and are answered after it, which coalesces them.  The primary, its key
 * and zone are read from the database before every check, so `spfdb-ctl
 * primary set` takes effect at the next one.
 *
 * Schedule: a check at start, then every REFRESH (the SOA's, or
 * --refresh); after a failure RETRY (or --retry), doubled with each
 * failure in a row up to REFRESH, with +-10 % jitter so that replicas do
 * not return to a recovering primary together.  A valid NOTIFY runs a
 * check at once (an IXFR straight away when it names a newer serial).
 *
 * State: the database's "follow" record, written in the transaction that
 * applies a transfer, or in a quiet commit after any other exchange
 * (spfdbd's metrics read it).
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "fetch.h"
#include "log.h"
#include "notifyin.h"
#include "spfdb.h"
#include "stdfds.h"

enum { EXIT_START = 1, EXIT_USAGE = 2, EXIT_DB = 3 };
enum { LISTEN_MAX = 8, CONN_MAX = 16, CONN_IDLE_MS = 10000 };

struct conn {
    int fd;                 /* -1: free */
    uint8_t *buf;           /* 2 + 65535 octets */
    size_t len;
    int64_t deadline;       /* closed when idle past it */
    struct sockaddr_storage from;
};

struct follower {
    spfdb_env *env;
    /* options */
    const char *db;
    struct spfdb_addrport listen[LISTEN_MAX];
    unsigned nlisten;
    unsigned refresh_opt, retry_opt; /* 0: the SOA's */
    int timeout_ms, total_ms;
    /* configuration, from the database before each check */
    struct spfdb_primary prim;
    struct spfdb_addrport ap[SPFDB_PRIMARY_MAX];
    struct xfr_origin origin;
    struct tsig_key key;
    int have_cfg;
    /* state */
    struct spfdb_follow f;  /* as stored */
    uint32_t serial;        /* the database's */
    struct xfr_soa soa;     /* the last SOA seen: refresh, retry */
    unsigned fails;         /* failed checks in a row */
    int64_t next;           /* the next check (CLOCK_MONOTONIC ms) */
    int notified;           /* a NOTIFY asks for a check now */
    int notify_primary;
    int notify_has_serial;
    uint32_t notify_serial;
    int expired_logged;
    int rollback_seen;      /* a rollback to rollback_serial was counted */
    uint32_t rollback_serial;
    uint64_t notify_refused;
    /* sockets */
    int udp[LISTEN_MAX], tcp[LISTEN_MAX];
    struct conn conns[CONN_MAX];
};

/* The one global: a signal handler can reach nothing else.  Set by
 * SIGTERM and SIGINT; the loop and fetch.c's waits check it. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options ---------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spfdb-follow --db DIR [--listen ADDR:PORT]... [--refresh S] [--retry S]\n"
            "                    [--timeout S]\n"
            "Keep the replica database DIR in step with its primary (spfdb-ctl primary set)\n"
            "by zone transfers: an SOA check at start and every REFRESH, IXFR (AXFR until\n"
            "synced), and at once on a signed NOTIFY.\n"
            "  --db DIR            the replica's database (default $SPFDB_DB, else\n"
            "                      /var/lib/spfdb)\n"
            "  --listen ADDR:PORT  receive NOTIFY here, over UDP and TCP (repeatable, at\n"
            "                      most 8; none: no NOTIFY, polling only)\n"
            "  --refresh S         check every S seconds (default: the SOA's REFRESH, 300)\n"
            "  --retry S           after a failure, retry after S seconds, doubling up to\n"
            "                      REFRESH (default: the SOA's RETRY, 60)\n"
            "  --timeout S         give up on a primary silent for S seconds (default 30)\n"
            "  --help, --version\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_options(struct follower *fl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},      {"listen", required_argument, NULL, 'l'},
        {"refresh", required_argument, NULL, 'r'}, {"retry", required_argument, NULL, 'R'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0}};
    char msg[128];
    unsigned v;
    int c;

    fl->db = getenv("SPFDB_DB");
    if (fl->db == NULL || !*fl->db)
        fl->db = "/var/lib/spfdb";
    fl->timeout_ms = 30000;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            fl->db = optarg;
            break;
        case 'l':
            if (fl->nlisten == LISTEN_MAX) {
                fprintf(stderr, "spfdb-follow: at most %d --listen addresses\n", LISTEN_MAX);
                return EXIT_USAGE;
            }
            if (spfdb_addrport_parse(optarg, &fl->listen[fl->nlisten], msg, sizeof msg) != 0) {
                fprintf(stderr, "spfdb-follow: --listen %s: %s\n", optarg, msg);
                return EXIT_USAGE;
            }
            fl->nlisten++;
            break;
        case 'r':
        case 'R':
        case 't':
            if (parse_uint(optarg, 1, 86400, &v) != 0) {
                fprintf(stderr, "spfdb-follow: --%s wants seconds, 1..86400: %s\n",
                        c == 'r' ? "refresh" : c == 'R' ? "retry" : "timeout", optarg);
                return EXIT_USAGE;
            }
            if (c == 'r')
                fl->refresh_opt = v;
            else if (c == 'R')
                fl->retry_opt = v;
            else
                fl->timeout_ms = (int)v * 1000;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("spfdb-follow %s\n", SPFDB_VERSION);
            exit(0);
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "spfdb-follow: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    /* a million entries take seconds; a stalled primary is cut by timeout_ms */
    fl->total_ms = 3600 * 1000;
    return 0;
}

/* ---- sockets ---------------------------------------------------------- */

static socklen_t sockaddr_of(const struct spfdb_addrport *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->addr, 4);
        return sizeof *s4;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    memcpy(&s6->sin6_addr, a->addr, 16);
    return sizeof *s6;
}

static int open_listen(struct follower *fl)
{
    for (unsigned i = 0; i < fl->nlisten; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sockaddr_of(&fl->listen[i], &ss);
        char text[SPFDB_ADDRPORT_STRLEN];
        int one = 1;

        spfdb_addrport_format(&fl->listen[i], text, sizeof text);
        for (int k = 0; k < 2; k++) {
            int type = k ? SOCK_STREAM : SOCK_DGRAM;
            int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

            if (fd < 0) {
                log_err("--listen %s: socket: %s", text, strerror(errno));
                return -1;
            }
            if (k)
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (ss.ss_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || (k && listen(fd, 64) != 0)) {
                log_err("--listen %s (%s): %s", text, k ? "TCP" : "UDP", strerror(errno));
                close(fd);
                return -1;
            }
            if (k)
                fl->tcp[i] = fd;
            else
                fl->udp[i] = fd;
        }
    }
    return 0;
}

/* ---- the database ----------------------------------------------------- */

static int put_follow(spfdb_txn *t, void *arg)
{
    return spfdb_follow_put(t, arg);
}

/* Store fl->f in a quiet commit. */
static void save_state(struct follower *fl)
{
    int rc = spfdb_write(fl->env, put_follow, &fl->f);

    if (rc)
        log_err("cannot store the follow state: %s", spfdb_strerror(rc));
}

/* Read the primary setting, its key, the serial and the follow record.
 * 1 when this database follows a primary, 0 when it does not, <0. */
static int load_cfg(struct follower *fl)
{
    struct spfdb_info info;
    struct spfdb_key k;
    spfdb_txn *t;
    char msg[128];
    int rc = spfdb_txn_read(fl->env, &t);

    if (rc)
        return rc;
    rc = spfdb_primary_get(t, &fl->prim);
    if (rc == SPFDB_ENOTFOUND) {
        spfdb_txn_close(t);
        fl->have_cfg = 0;
        return 0;
    }
    if (rc == 0)
        rc = spfdb_key_get(t, fl->prim.key, &k);
    if (rc == 0)
        rc = spfdb_info_get(t, &info);
    if (rc == 0)
        rc = spfdb_follow_get(t, &fl->f);
    spfdb_txn_close(t);
    if (rc)
        return rc;
    fl->serial = info.serial;
    if (xfr_origin_set(&fl->origin, fl->prim.zone) != 0 ||
        tsig_key_set(&fl->key, k.name, k.secret, k.secret_len) != 0) {
        memset(&k, 0, sizeof k);
        return SPFDB_EFORMAT;
    }
    memset(&k, 0, sizeof k);
    for (unsigned i = 0; i < fl->prim.n_addr; i++)
        if (spfdb_addrport_parse(fl->prim.addr[i], &fl->ap[i], msg, sizeof msg) != 0)
            return SPFDB_EFORMAT;
    fl->have_cfg = 1;
    return 1;
}

/* ---- one check -------------------------------------------------------- */

static const char *form_name(enum xfr_form f)
{
    return f == XFR_FORM_AXFR ? "AXFR" : f == XFR_FORM_IXFR ? "IXFR" : "SOA";
}

/* A failed exchange with primary I: log, count, store. */
static void failed(struct follower *fl, unsigned i, const char *what, const char *err)
{
    fl->f.failures++;
    fl->f.last_failure = (int64_t)time(NULL);
    log_warn("%s from %s failed: %s (failure %" PRIu64 "; data kept at serial %" PRIu32 ")",
             what, fl->prim.addr[i], err, fl->f.failures, fl->serial);
    save_state(fl);
}

/* Contact with primary I whose serial is P. */
static void contact(struct follower *fl, uint32_t p, const struct xfr_soa *soa)
{
    int64_t now = (int64_t)time(NULL);

    fl->f.last_contact = now;
    fl->f.primary_serial = p;
    fl->f.expire = soa->expire;
    fl->soa = *soa;
    fl->expired_logged = 0;
    if (xfr_serial_gt(p, fl->serial) || !fl->f.synced) {
        if (!fl->f.behind_since)
            fl->f.behind_since = now;
    } else {
        fl->f.behind_since = 0;
    }
}

/* The primary's serial is not newer than ours: we hold its data, or it
 * went back (a restored backup).  The state is stored. */
static void settled(struct follower *fl, uint32_t p)
{
    if (fl->f.synced && xfr_serial_gt(fl->serial, p) &&
        (!fl->f.axfr_needed || !fl->rollback_seen || fl->rollback_serial != p)) {
        /* counted and logged once per serial the primary went back to */
        fl->rollback_seen = 1;
        fl->rollback_serial = p;
        fl->f.rollbacks++;
        fl->f.axfr_needed = 1;
        log_warn("the primary's serial %" PRIu32 " is older than ours, %" PRIu32
                 " (restored from a backup?): data kept; an AXFR follows once its serial "
                 "passes ours (rollback %" PRIu64 ")",
                 p, fl->serial, fl->f.rollbacks);
    }
    save_state(fl);
}

/* A transfer from primary I: 1 applied or nothing to apply, 0 failed,
 * -1 diverged (an AXFR should follow at once). */
static int transfer(struct follower *fl, unsigned i, int axfr)
{
    struct fetch fx = {0};
    struct stage st;
    struct apply_result res;
    struct spfdb_follow nf;
    int64_t t0 = mono_ms(), t1;
    const char *what = axfr ? "AXFR" : "IXFR";
    char cmd[160];
    int rc;

    stage_init(&st);
    fx.to = &fl->ap[i];
    fx.origin = &fl->origin;
    fx.key = &fl->key;
    fx.qtype = axfr ? XFR_T_AXFR : XFR_T_IXFR;
    fx.serial = fl->serial;
    fx.fn = stage_event;
    fx.arg = &st;
    fx.timeout_ms = fl->timeout_ms;
    fx.total_ms = fl->total_ms;
    fx.stop = &stop_flag;
    rc = fetch_run(&fx);
    t1 = mono_ms();
    if (rc != FETCH_OK) {
        stage_free(&st);
        if (rc == FETCH_ESTOP)
            return 0;
        failed(fl, i, what, fx.err);
        /* a server that does not do IXFR: ask for the whole zone */
        return !axfr && rc == FETCH_EXFR && fx.xfr_rc == XFR_IN_ERCODE ? -1 : 0;
    }
    contact(fl, fx.soa.serial, &fx.soa);
    if (fx.form != XFR_FORM_AXFR && fx.form != XFR_FORM_IXFR) {
        stage_free(&st);
        settled(fl, fx.soa.serial);
        return 1;
    }
    nf = fl->f;
    nf.synced = 1;
    nf.primary_serial = st.soa.serial;
    nf.last_success = nf.last_contact;
    nf.transfers_ok++;
    nf.behind_since = 0;
    nf.axfr_needed = 0;
    snprintf(cmd, sizeof cmd, "%s from %s, serial %" PRIu32 " to %" PRIu32, form_name(fx.form),
             fl->prim.addr[i], fl->serial, st.soa.serial);
    (void)spfdb_env_set_origin(fl->env, "spfdb-follow", cmd);
    rc = apply_stage(fl->env, &st, fl->prim.zone, &nf, &res);
    stage_free(&st);
    if (rc == APPLY_OK) {
        log_info("applied %s from %s: serial %" PRIu32 " -> %" PRIu32 ", %" PRIu64
                 " entries added, %" PRIu64 " deleted, %" PRIu64
                 " zone or allocation records written, %" PRIu64 " member links changed, %" PRIu64
                 " octets; transfer %" PRId64 " ms, apply %" PRId64 " ms",
                 form_name(fx.form), fl->prim.addr[i], fl->serial, nf.primary_serial, res.added,
                 res.deleted, res.objects, res.members, fx.bytes, t1 - t0, mono_ms() - t1);
        fl->f = nf;
        fl->serial = nf.primary_serial;
        return 1;
    }
    if (rc == APPLY_EDIVERGED) {
        fl->f.axfr_needed = 1;
        failed(fl, i, what, res.err);
        log_warn("this replica is not at the %s's start serial: asking for an AXFR", what);
        return axfr ? 0 : -1;
    }
    failed(fl, i, what, res.err);
    return 0;
}

/* Check primary I (or take the NOTIFY's serial) and transfer when behind.
 * 1 done (up to date, applied, or the primary is behind us), 0 failed. */
static int check_one(struct follower *fl, unsigned i, int use_notify)
{
    int axfr = !fl->f.synced || fl->f.axfr_needed;
    uint32_t p;
    int rc;

    if (use_notify && fl->notify_has_serial && !axfr &&
        xfr_serial_gt(fl->notify_serial, fl->serial)) {
        p = fl->notify_serial; /* an IXFR answers whether it is current */
        if (!fl->f.behind_since)
            fl->f.behind_since = (int64_t)time(NULL);
    } else {
        struct fetch fx = {0};

        fx.to = &fl->ap[i];
        fx.origin = &fl->origin;
        fx.key = &fl->key;
        fx.qtype = XFR_T_SOA;
        fx.timeout_ms = fl->timeout_ms < 10000 ? fl->timeout_ms : 10000;
        fx.total_ms = fx.timeout_ms * 2;
        fx.stop = &stop_flag;
        rc = fetch_run(&fx);
        if (rc != FETCH_OK) {
            if (rc != FETCH_ESTOP)
                failed(fl, i, "SOA check", fx.err);
            return 0;
        }
        p = fx.soa.serial;
        contact(fl, p, &fx.soa);
        if (fl->f.synced && !xfr_serial_gt(p, fl->serial) &&
            (!axfr || xfr_serial_gt(fl->serial, p))) {
            settled(fl, p);
            return 1;
        }
    }
    rc = transfer(fl, i, axfr);
    if (rc < 0 && !stop_flag)
        rc = transfer(fl, i, 1);
    return rc > 0;
}

static unsigned refresh_s(const struct follower *fl)
{
    if (fl->refresh_opt)
        return fl->refresh_opt;
    return fl->soa.refresh ? fl->soa.refresh : 300;
}

static unsigned retry_s(const struct follower *fl)
{
    if (fl->retry_opt)
        return fl->retry_opt;
    return fl->soa.retry ? fl->soa.retry : 60;
}

/* ms in [0.9 X, 1.1 X] */
static int64_t jitter(uint64_t ms)
{
    uint32_t r = 0;

    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)mono_ms();
    return (int64_t)(ms * 9 / 10 + (ms / 5) * (r % 1001) / 1000);
}

static void check(struct follower *fl)
{
    int rc = load_cfg(fl), ok = 0;
    uint64_t delay;

    if (rc <= 0) {
        if (rc == 0)
            log_err("this database follows no primary (spfdb-ctl primary set): waiting");
        else
            log_err("cannot read the database: %s", spfdb_strerror(rc));
        fl->next = mono_ms() + (int64_t)retry_s(fl) * 1000;
        fl->notified = 0;
        return;
    }
    /* the primary that notified first, then the others in order */
    if (fl->notified && fl->notify_primary >= 0 && (unsigned)fl->notify_primary < fl->prim.n_addr)
        ok = check_one(fl, (unsigned)fl->notify_primary, 1);
    for (unsigned i = 0; !ok && !stop_flag && i < fl->prim.n_addr; i++)
        if (!fl->notified || (int)i != fl->notify_primary)
            ok = check_one(fl, i, 0);
    fl->notified = 0;
    fl->notify_has_serial = 0;
    if (ok) {
        fl->fails = 0;
        delay = (uint64_t)refresh_s(fl) * 1000;
    } else {
        unsigned shift = fl->fails < 16 ? fl->fails : 16;
        uint64_t cap = (uint64_t)(refresh_s(fl) > retry_s(fl) ? refresh_s(fl) : retry_s(fl)) * 1000;
        fl->fails++;
        delay = ((uint64_t)retry_s(fl) * 1000) << shift;
        if (delay > cap)
            delay = cap;
    }
    fl->next = mono_ms() + jitter(delay);
    /* past EXPIRE without contact: keep answering, raise the alert */
    if (fl->f.synced && fl->f.expire && fl->f.last_contact &&
        (int64_t)time(NULL) - fl->f.last_contact > (int64_t)fl->f.expire && !fl->expired_logged) {
        log_err("no answer from any primary for over %" PRIu32
                " s (EXPIRE): still serving serial %" PRIu32 "; spfdb_replica_expired is 1",
                fl->f.expire, fl->serial);
        fl->expired_logged = 1;
    }
}

/* ---- NOTIFY ----------------------------------------------------------- */

/* One NOTIFY: the reply into OUT (*OUTLEN), and the verdict acted on. */
static void notify(struct follower *fl, const struct sockaddr *from, const uint8_t *msg,
                   size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
    struct notify_verdict v;
    struct notify_cfg cfg;
    int rc;

    *outlen = 0;
    if (!fl->have_cfg && load_cfg(fl) <= 0)
        return;
    cfg = (struct notify_cfg){&fl->origin, &fl->key, fl->ap, fl->prim.n_addr};
    rc = notify_handle(&cfg, from, msg, len, out, cap, outlen, (uint64_t)time(NULL), &v);
    if (rc != NOTIFY_ACCEPT) {
        char host[64] = "?";
        fl->notify_refused++;
        if (from->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, host, sizeof host);
        else if (from->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, host, sizeof host);
        /* a flood must not flood the log */
        if (fl->notify_refused <= 10 || fl->notify_refused % 1000 == 0)
            log_warn("NOTIFY from %s refused: %s (%" PRIu64 " refused)", host, v.why,
                     fl->notify_refused);
        return;
    }
    if (!fl->notified || !fl->notify_has_serial ||
        (v.has_serial && xfr_serial_gt(v.serial, fl->notify_serial))) {
        fl->notify_primary = v.primary;
        fl->notify_has_serial = v.has_serial;
        fl->notify_serial = v.serial;
    }
    fl->notified = 1;
}

static void on_udp(struct follower *fl, int fd)
{
    uint8_t msg[4096], out[4096];
    struct sockaddr_storage from;

    for (int k = 0; k < 64; k++) {
        socklen_t fl_len = sizeof from;
        ssize_t n = recvfrom(fd, msg, sizeof msg, 0, (struct sockaddr *)&from, &fl_len);
        size_t outlen;

        if (n < 0)
            return;
        notify(fl, (struct sockaddr *)&from, msg, (size_t)n, out, sizeof out, &outlen);
        if (outlen)
            (void)sendto(fd, out, outlen, MSG_DONTWAIT, (struct sockaddr *)&from, fl_len);
    }
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
    c->len = 0;
}

static void on_accept(struct follower *fl, int lfd)
{
    for (;;) {
        struct sockaddr_storage from;
        socklen_t sl = sizeof from;
        int fd = accept4(lfd, (struct sockaddr *)&from, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct conn *c = NULL;

        if (fd < 0)
            return;
        for (unsigned i = 0; i < CONN_MAX && !c; i++)
            if (fl->conns[i].fd < 0)
                c = &fl->conns[i];
        if (c == NULL || (c->buf = malloc(2 + XFR_MSG_MAX)) == NULL) {
            close(fd); /* at the cap: a primary retries NOTIFY */
            continue;
        }
        c->fd = fd;
        c->len = 0;
        c->from = from;
        c->deadline = mono_ms() + CONN_IDLE_MS;
    }
}

static void on_conn(struct follower *fl, struct conn *c)
{
    uint8_t out[4096 + 2];
    ssize_t n = recv(c->fd, c->buf + c->len, 2 + XFR_MSG_MAX - c->len, 0);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n < 0)
        return;
    c->len += (size_t)n;
    c->deadline = mono_ms() + CONN_IDLE_MS;
    while (c->len >= 2) {
        size_t m = (size_t)c->buf[0] << 8 | c->buf[1], outlen;

        if (m == 0) {
            conn_close(c);
            return;
        }
        if (c->len < 2 + m)
            return;
        notify(fl, (struct sockaddr *)&c->from, c->buf + 2, m, out + 2, sizeof out - 2, &outlen);
        if (outlen) {
            out[0] = (uint8_t)(outlen >> 8);
            out[1] = (uint8_t)outlen;
            /* a small reply to a client that just wrote: the buffer takes it */
            ssize_t k = send(c->fd, out, outlen + 2, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k != (ssize_t)(outlen + 2)) {
                conn_close(c);
                return;
            }
        }
        memmove(c->buf, c->buf + 2 + m, c->len - 2 - m);
        c->len -= 2 + m;
    }
}

/* ---- the loop --------------------------------------------------------- */

static void loop(struct follower *fl)
{
    struct pollfd p[2 * LISTEN_MAX + CONN_MAX];
    int who[2 * LISTEN_MAX + CONN_MAX]; /* 0..: UDP i, 100..: TCP i, 200..: conn i */

    fl->next = mono_ms();
    while (!stop_flag) {
        int64_t now = mono_ms(), wait = fl->next - now;
        unsigned n = 0;

        if (fl->notified || wait <= 0) {
            check(fl);
            continue;
        }
        for (unsigned i = 0; i < fl->nlisten; i++) {
            p[n] = (struct pollfd){fl->udp[i], POLLIN, 0};
            who[n++] = (int)i;
            p[n] = (struct pollfd){fl->tcp[i], POLLIN, 0};
            who[n++] = 100 + (int)i;
        }
        for (unsigned i = 0; i < CONN_MAX; i++) {
            if (fl->conns[i].fd < 0)
                continue;
            if (fl->conns[i].deadline <= now) {
                conn_close(&fl->conns[i]);
                continue;
            }
            if (fl->conns[i].deadline - now < wait)
                wait = fl->conns[i].deadline - now;
            p[n] = (struct pollfd){fl->conns[i].fd, POLLIN, 0};
            who[n++] = 200 + (int)i;
        }
        if (poll(p, n, (int)(wait > 60000 ? 60000 : wait)) <= 0)
            continue;
        for (unsigned k = 0; k < n; k++) {
            if (!(p[k].revents & (POLLIN | POLLERR | POLLHUP)))
                continue;
            if (who[k] < 100)
                on_udp(fl, p[k].fd);
            else if (who[k] < 200)
                on_accept(fl, p[k].fd);
            else if (fl->conns[who[k] - 200].fd >= 0)
                on_conn(fl, &fl->conns[who[k] - 200]);
        }
    }
}

int main(int argc, char **argv)
{
    static struct follower fl;
    struct sigaction sa;
    int rc;

    if (spfdb_std_fds() != 0)
        return EXIT_START;
    for (unsigned i = 0; i < CONN_MAX; i++)
        fl.conns[i].fd = -1;
    for (unsigned i = 0; i < LISTEN_MAX; i++)
        fl.udp[i] = fl.tcp[i] = -1;
    fl.notify_primary = -1;
    if ((rc = parse_options(&fl, argc, argv)) != 0)
        return rc;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns at once */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return EXIT_START;
    signal(SIGPIPE, SIG_IGN);
    if (open_listen(&fl) != 0)
        return EXIT_START;
    rc = spfdb_env_open(fl.db, &fl.env);
    if (rc) {
        log_err("cannot open the database %s: %s", fl.db, spfdb_strerror(rc));
        return EXIT_DB;
    }
    spfdb_env_set_follower(fl.env);
    rc = load_cfg(&fl);
    if (rc <= 0) {
        if (rc == 0)
            log_err("%s follows no primary: set one with spfdb-ctl primary set", fl.db);
        else
            log_err("cannot read the database %s: %s", fl.db, spfdb_strerror(rc));
        spfdb_env_close(fl.env);
        return rc == 0 ? EXIT_START : EXIT_DB;
    }
    log_info("following %s (zone %s, key %s, %u address%s) into %s at serial %" PRIu32 "%s",
             fl.prim.addr[0], fl.prim.zone, fl.prim.key, fl.prim.n_addr,
             fl.prim.n_addr == 1 ? "" : "es", fl.db, fl.serial,
             fl.f.synced ? "" : " (not synced yet: AXFR)");
    loop(&fl);
    log_info("stopping");
    for (unsigned i = 0; i < CONN_MAX; i++)
        if (fl.conns[i].fd >= 0)
            conn_close(&fl.conns[i]);
    for (unsigned i = 0; i < fl.nlisten; i++) {
        close(fl.udp[i]);
        close(fl.tcp[i]);
    }
    spfdb_env_close(fl.env);
    return 0;
}
