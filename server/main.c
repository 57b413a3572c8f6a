/* main.c: spfdbd's command line, start-up, wiring, signals and shutdown
 * (SPEC §4).
 *
 * Start-up order: bind every socket (DNS, NOTIFY, metrics) and set up the
 * threads that will serve them (--workers UDP workers on each address, one
 * TCP thread for all), drop privileges (--user), open the database
 * read-only (spfdbd never writes it), give up every capability (caps.h),
 * open each thread's read view
 * (its zone table built once), start the threads, then say READY: every
 * start-up error is reported before anything is served.  main owns the
 * DNS sockets and closes them once the threads are freed.  The main thread
 * then runs its own event loop: signals, the metrics endpoint, and the
 * clearing of stale reader slots every minute.  Under systemd it also
 * reports READY=1, STATUS= and STOPPING=1 (Type=notify).
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "caps.h"
#include "cookie.h"
#include "log.h"
#include "metrics.h"
#include "notifier.h"
#include "rrl.h"
#include "sockets.h"
#include "spfdb.h"
#include "stdfds.h"
#include "stats.h"
#include "tcp.h"
#include "udp.h"
#include "view.h"
#include "xfrserve.h"

enum { EXIT_START = 1, EXIT_USAGE = 2, EXIT_DB = 3 };
/* Every worker thread holds one of the database's 1,024 reader slots;
 * leave most of the rest to spfdb-ctl and other servers. */
enum { LISTEN_MAX = 32, WORKERS_MAX = 256, UDP_THREADS_MAX = 512, READER_CHECK_S = 60 };

struct options {
    const char *db;
    struct sock_addr addrs[LISTEN_MAX];
    unsigned naddrs;
    unsigned workers;
    unsigned tcp_max;
    unsigned tcp_idle_s;
    int with_metrics;
    struct sock_addr metrics;
    const char *user;      /* --user: switch to it after binding */
    struct notify_source nsrc[2]; /* --notify-source: one per address family */
    unsigned nnsrc;
    uid_t uid;
    gid_t gid;
    unsigned rate_limit;   /* --rate-limit N; 0: off */
    int rate_dry_run;      /* --rate-limit-dry-run */
    const char *cookie_file; /* --cookie-secret-file; NULL: a random secret */
};

/* The running server, owned by the main thread. */
struct server {
    const struct options *o;
    struct event_base *base;   /* the main thread's loop */
    unsigned nudp;             /* --workers x listen addresses */
    int *udp_fd;               /* [nudp]: each UDP worker's socket, -1 none */
    int *tcp_fd;               /* [naddrs]: the TCP listeners, -1 none */
    struct udp_worker **udp;   /* [nudp]: worker i serves udp_fd[i] */
    struct tcp_thread *tcp;    /* worker nudp */
    struct xfr_pool *xfr;      /* transfer threads, fed by the TCP thread */
    struct notifier *notify;   /* the NOTIFY sender's thread */
    const struct stats **stats; /* [nudp + 1]: the UDP workers' counters, then TCP's */
    unsigned udp_started;      /* UDP workers running */
    int tcp_started;
    spfdb_env *env;
    struct metrics *metrics;
    struct event *sigev[3], *tick;
    int sig;                   /* the signal that stopped the loop */
    struct cookie_secrets cookies; /* read-only once the threads start */
};

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: spfdbd --db DIR [OPTION]...\n"
            "Serve SPF exists:%%{i}.spf.<allocation>.<zone> lookups from an spfdb database\n"
            "(managed with spfdb-ctl) over UDP and TCP.\n"
            "\n"
            "  --db DIR                the database directory (required)\n"
            "  --listen ADDR[:PORT]    serve UDP and TCP on ADDR (repeatable), e.g.\n"
            "                          127.0.0.1:5353, [::1]:5353, [::]:53; the port is 53\n"
            "                          when not given.  Default: 0.0.0.0:53 and [::]:53\n"
            "  --workers N             threads answering UDP on each listen address\n"
            "                          (default: online CPUs, here %u); one more thread\n"
            "                          serves all TCP\n"
            "  --tcp-max N             TCP connections open at once, in total (default\n"
            "                          1000); at the cap the longest-idle one is closed,\n"
            "                          or the longest-open one when none is idle\n"
            "  --tcp-idle-timeout S    close a TCP connection idle for S seconds (default 10)\n"
            "  --metrics ADDR:PORT     serve Prometheus metrics on http://ADDR:PORT/metrics\n"
            "  --notify-source ADDR[:PORT]  send NOTIFY to replicas from ADDR (one IPv4 and\n"
            "                          one IPv6 address at most; [V6] or [V6]:PORT); no\n"
            "                          port: any free one.  Default: the system's choice\n"
            "  --user NAME             when started as root: switch to user NAME (and its\n"
            "                          groups) once the sockets are bound\n"
            "  --rate-limit N          at most N UDP replies a second to each client /24\n"
            "                          (IPv4) or /56 (IPv6); over it replies are truncated\n"
            "                          and dropped in turn.  Default: off\n"
            "  --rate-limit-dry-run    with --rate-limit: count in the metrics, limit nothing\n"
            "  --cookie-secret-file F  DNS Cookie secrets, 32 hex digits a line (the first\n"
            "                          makes cookies, all are accepted); share it among the\n"
            "                          servers of one service.  Default: random at start\n"
            "  --help                  show this help\n"
            "  --version               show the version\n"
            "\n"
            "Runs in the foreground and logs to stderr; SIGTERM or SIGINT stops it.  Every\n"
            "committed spfdb-ctl change is served at once: there is nothing to reload.\n"
            "Exit status: 0 stopped by a signal, 1 cannot start (e.g. address in use),\n"
            "2 bad usage, 3 the database cannot be opened or read.\n",
            online_cpus());
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int bad_usage(const char *fmt, const char *arg)
{
    char msg[512];

    snprintf(msg, sizeof msg, fmt, arg);
    log_err("%s (see spfdbd --help)", msg);
    return EXIT_USAGE;
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { O_DB = 256, O_LISTEN, O_WORKERS, O_TCP_MAX, O_TCP_IDLE, O_METRICS, O_USER, O_HELP,
           O_VERSION, O_NOTIFY_SOURCE, O_RATE_LIMIT, O_RATE_DRY_RUN, O_COOKIE_FILE };
    static const struct option longopts[] = {
        { "db", required_argument, NULL, O_DB },
        { "listen", required_argument, NULL, O_LISTEN },
        { "workers", required_argument, NULL, O_WORKERS },
        { "tcp-max", required_argument, NULL, O_TCP_MAX },
        { "tcp-idle-timeout", required_argument, NULL, O_TCP_IDLE },
        { "metrics", required_argument, NULL, O_METRICS },
        { "user", required_argument, NULL, O_USER },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { "notify-source", required_argument, NULL, O_NOTIFY_SOURCE },
        { "rate-limit", required_argument, NULL, O_RATE_LIMIT },
        { "rate-limit-dry-run", no_argument, NULL, O_RATE_DRY_RUN },
        { "cookie-secret-file", required_argument, NULL, O_COOKIE_FILE },
        { NULL, 0, NULL, 0 },
    };
    int c;

    o->workers = online_cpus();
    o->tcp_max = 1000;
    o->tcp_idle_s = 10;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case O_DB:
            o->db = optarg;
            break;
        case O_LISTEN:
            if (o->naddrs == LISTEN_MAX)
                return bad_usage("too many --listen addresses (at most 32): %s", optarg);
            if (sock_addr_parse(optarg, &o->addrs[o->naddrs]) != 0)
                return bad_usage("bad --listen address %s: expected ADDR:PORT, [ADDR]:PORT "
                                 "or ADDR",
                                 optarg);
            for (unsigned i = 0; i < o->naddrs; i++)
                if (strcmp(o->addrs[i].text, o->addrs[o->naddrs].text) == 0)
                    return bad_usage("--listen %s given twice", o->addrs[i].text);
            o->naddrs++;
            break;
        case O_WORKERS:
            if (parse_uint(optarg, 1, WORKERS_MAX, &o->workers) != 0)
                return bad_usage("bad --workers %s: expected 1 to 256", optarg);
            break;
        case O_TCP_MAX:
            if (parse_uint(optarg, 1, 1000000, &o->tcp_max) != 0)
                return bad_usage("bad --tcp-max %s: expected 1 to 1000000", optarg);
            break;
        case O_TCP_IDLE:
            if (parse_uint(optarg, 1, 3600, &o->tcp_idle_s) != 0)
                return bad_usage("bad --tcp-idle-timeout %s: expected 1 to 3600 seconds", optarg);
            break;
        case O_METRICS: {
            /* A port is required: 53 (sock_addr_parse's default) is no HTTP port. */
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || colon == optarg ||
                (optarg[0] == '[' ? colon[-1] != ']' : strchr(optarg, ':') != colon) ||
                sock_addr_parse(optarg, &o->metrics) != 0)
                return bad_usage("bad --metrics address %s: expected ADDR:PORT or [ADDR]:PORT",
                                 optarg);
            o->with_metrics = 1;
            break;
        }
        case O_USER:
            o->user = optarg;
            break;
        case O_NOTIFY_SOURCE: {
            struct notify_source ns;
            if (notify_source_parse(optarg, &ns) != 0)
                return bad_usage("bad --notify-source %s: expected ADDR, ADDR:PORT, [ADDR] or "
                                 "[ADDR]:PORT",
                                 optarg);
            for (unsigned i = 0; i < o->nnsrc; i++)
                if (o->nsrc[i].ss.ss_family == ns.ss.ss_family)
                    return bad_usage("--notify-source %s: one IPv4 and one IPv6 address at most",
                                     optarg);
            o->nsrc[o->nnsrc++] = ns; /* two families: at most two */
            break;
        }
        case O_RATE_LIMIT:
            if (parse_uint(optarg, 1, RRL_RATE_MAX, &o->rate_limit) != 0)
                return bad_usage("bad --rate-limit %s: expected 1 to 1000000 replies a second",
                                 optarg);
            break;
        case O_RATE_DRY_RUN:
            o->rate_dry_run = 1;
            break;
        case O_COOKIE_FILE:
            o->cookie_file = optarg;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        case O_VERSION:
            printf("spfdbd %s (libevent %s, %s)\n", SPFDB_VERSION, event_get_version(),
                   spfdb_lmdb_version());
            return 0;
        case ':':
            return bad_usage("option %s needs an argument", argv[optind - 1]);
        default:
            return bad_usage("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument %s", argv[optind]);
    if (o->db == NULL)
        return bad_usage("%s", "--db DIR is required");
    if (o->rate_dry_run && o->rate_limit == 0)
        return bad_usage("%s", "--rate-limit-dry-run needs --rate-limit N");
    if (o->naddrs == 0) {
        if (sock_addr_parse("0.0.0.0:53", &o->addrs[0]) != 0 ||
            sock_addr_parse("[::]:53", &o->addrs[1]) != 0)
            return bad_usage("%s", "cannot parse the default listen addresses");
        o->naddrs = 2;
    }
    if (o->workers * o->naddrs > UDP_THREADS_MAX) {
        char n[64];
        snprintf(n, sizeof n, "%u x %u", o->workers, o->naddrs);
        return bad_usage("--workers times listen addresses (%s) is more than 512 UDP threads",
                         n);
    }
    return -1;
}

/* --user needs root and a real, unprivileged user; as root without it,
 * and not under systemd (which sets User= itself), warn.  -1 to go on, or
 * the exit status. */
static int check_user(struct options *o)
{
    struct passwd *pw;

    if (o->user == NULL) {
        if (geteuid() == 0 && getenv("INVOCATION_ID") == NULL && getenv("NOTIFY_SOCKET") == NULL)
            log_warn("running as root: start spfdbd with --user NAME to drop privileges once "
                     "the sockets are bound");
        return -1;
    }
    if (geteuid() != 0)
        return bad_usage("--user %s needs root (spfdbd switches users after binding); "
                         "run it as that user without --user instead",
                         o->user);
    errno = 0;
    pw = getpwnam(o->user);
    if (pw == NULL)
        return bad_usage(errno == 0 ? "--user %s: no such user" : "--user %s: cannot look it up",
                         o->user);
    if (pw->pw_uid == 0)
        return bad_usage("--user %s is root: name an unprivileged user", o->user);
    o->uid = pw->pw_uid;
    o->gid = pw->pw_gid;
    return -1;
}

/* Called before any thread starts, so the switch covers the whole process.
 * Then make sure there is no way back: a half-done switch (saved uid 0)
 * would let a compromised process regain root. */
static int drop_privileges(const struct options *o)
{
    if (initgroups(o->user, o->gid) != 0 || setgid(o->gid) != 0 || setuid(o->uid) != 0) {
        log_err("cannot switch to user %s: %s", o->user, strerror(errno));
        return -1;
    }
    if (getuid() != o->uid || geteuid() != o->uid || getgid() != o->gid ||
        getegid() != o->gid || setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
        log_err("switched to user %s but root privileges could be regained: stopping", o->user);
        return -1;
    }
    return 0;
}

/* Every TCP and metrics connection is a descriptor: make room for
 * --tcp-max of them, the metrics endpoint's cap and its listener, beside
 * the sockets of each listen address and 64 for the rest (event loops,
 * timers, the database, the standard descriptors). */
static rlim_t nofile_need(const struct options *o)
{
    return (rlim_t)o->tcp_max + (rlim_t)o->naddrs * (o->workers + 2) + 2 /* NOTIFY */ +
           (o->with_metrics ? METRICS_CONN_MAX + 1 : 0) + 64;
}

static void raise_nofile(const struct options *o)
{
    rlim_t need = nofile_need(o);
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        log_warn("open file limit %llu is below the %llu that --tcp-max %u%s needs",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)need, o->tcp_max,
                 o->with_metrics ? " and --metrics" : "");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *srv = arg;

    (void)what;
    if (sig == SIGHUP) {
        log_info("SIGHUP ignored: committed changes are served without a reload");
        return;
    }
    srv->sig = (int)sig;
    if (event_base_loopbreak(srv->base) != 0) {
        log_err("cannot stop the main event loop");
        exit(EXIT_START);
    }
}

/* Clear reader slots that killed processes (spfdb-ctl, an old spfdbd)
 * left behind. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    int n = spfdb_env_reader_check(srv->env);

    (void)fd;
    (void)what;
    if (n < 0)
        log_warn("reader check: %s", spfdb_strerror(n));
    else if (n > 0)
        log_info("cleared %d stale database reader slot%s", n, n == 1 ? "" : "s");
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, so a
 * Type=notify unit knows when spfdbd serves and when it is stopping.
 * Nothing to do when not started by systemd. */
static void notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    len = strlen(path);
    if (len >= sizeof sa.sun_path) {
        log_warn("NOTIFY_SOCKET too long, systemd not notified");
        return;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        log_warn("cannot notify systemd: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* "LMDB 0.9.24: (July 24, 2019)" -> "LMDB 0.9.24" */
static int lmdb_len(const char *v)
{
    return (int)strcspn(v, ":");
}

static void log_ready(const struct options *o, unsigned zones)
{
    const char *lmdb = spfdb_lmdb_version();
    const struct passwd *pw = getpwuid(geteuid());
    char addrs[LISTEN_MAX * 16], user[64];
    size_t off = 0;

    addrs[0] = '\0';
    for (unsigned i = 0; i < o->naddrs && off < sizeof addrs; i++) {
        int n = snprintf(addrs + off, sizeof addrs - off, "%s%s", i ? " " : "", o->addrs[i].text);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    if (pw != NULL)
        snprintf(user, sizeof user, "%s", pw->pw_name);
    else
        snprintf(user, sizeof user, "uid %u", (unsigned)geteuid());
    char rate[64];
    if (o->rate_limit > 0)
        snprintf(rate, sizeof rate, "%u a second%s", o->rate_limit,
                 o->rate_dry_run ? " (dry run)" : "");
    else
        snprintf(rate, sizeof rate, "off");
    log_info("ready: spfdbd %s (libevent %s, %.*s), listening on %s, %u worker%s, "
             "database %s with %u zone%s, metrics %s, user %s, rate limit %s, cookie secret %s",
             SPFDB_VERSION, event_get_version(), lmdb_len(lmdb), lmdb, addrs, o->workers,
             o->workers == 1 ? "" : "s", o->db, zones, zones == 1 ? "" : "s",
             o->with_metrics ? o->metrics.text : "off", user, rate,
             o->cookie_file ? o->cookie_file : "random");
}

static void log_stop(int sig, const struct stats *const *each, unsigned n)
{
    struct stats t;
    uint64_t tcp = 0;

    stats_sum(each, n, &t);
    for (unsigned q = 0; q < QT_COUNT; q++)
        tcp += t.queries[ANSWER_TCP][q];
    log_info("stopped on %s: answered %" PRIu64 " UDP and %" PRIu64 " TCP queries; %" PRIu64
             " UDP errors or drops, %" PRIu64 " database read failures",
             sig == SIGINT ? "SIGINT" : "SIGTERM", t.udp_tx, tcp,
             t.udp_txdrop + t.udp_rxerr + t.udp_txerr, t.db_fail);
}

/* The cookie secrets: --cookie-secret-file (read before privileges are
 * dropped, so it may be root's alone), else 16 random octets.  -1 to go
 * on, or the exit status. */
static int cookie_init(const struct options *o, struct cookie_secrets *c)
{
    char text[1024];
    unsigned line;
    struct stat sb;
    ssize_t n = 0;
    int fd;

    if (o->cookie_file == NULL) {
        c->n = 1;
        if (getrandom(c->key[0], COOKIE_SECRET_LEN, 0) != COOKIE_SECRET_LEN) {
            log_err("cannot make a cookie secret: %s", strerror(errno));
            return EXIT_START;
        }
        return -1;
    }
    fd = open(o->cookie_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &sb) != 0 || (n = read(fd, text, sizeof text - 1)) < 0) {
        log_err("cannot read --cookie-secret-file %s: %s", o->cookie_file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_START;
    }
    close(fd);
    if (cookie_secrets_parse(c, text, (size_t)n, &line) != 0) {
        if (line)
            log_err("--cookie-secret-file %s line %u: expected 32 hex digits", o->cookie_file,
                    line);
        else
            log_err("--cookie-secret-file %s: expected 1 to %d secrets of 32 hex digits",
                    o->cookie_file, COOKIE_SECRETS_MAX);
        return EXIT_USAGE;
    }
    if (sb.st_mode & S_IROTH)
        log_warn("--cookie-secret-file %s can be read by every user: anyone who reads it can "
                 "forge cookies",
                 o->cookie_file);
    return -1;
}

/* Every UDP worker's table and the cookie secrets, before the threads
 * start; 0 or -1. */
static int defences(struct server *srv)
{
    const struct options *o = srv->o;

    for (unsigned i = 0; i < srv->nudp; i++) {
        struct rrl *r = NULL;
        uint64_t seed;
        if (o->rate_limit > 0 &&
            (getrandom(&seed, sizeof seed, 0) != sizeof seed ||
             (r = rrl_new(o->rate_limit, o->workers, o->rate_dry_run, seed)) == NULL))
            return -1;
        udp_set_defences(srv->udp[i], &srv->cookies, r);
    }
    tcp_set_cookies(srv->tcp, &srv->cookies);
    if (srv->metrics != NULL)
        metrics_set_rate_limit(srv->metrics, o->rate_limit, o->rate_dry_run);
    return 0;
}

/* Bind everything, then switch user: nothing after this needs root. */
static int bind_all(struct server *srv)
{
    const struct options *o = srv->o;
    char err[256];

    for (unsigned i = 0; i < srv->nudp; i++) {
        const struct sock_addr *a = &o->addrs[i / o->workers];
        srv->udp_fd[i] = sock_udp(a, err, sizeof err);
        if (srv->udp_fd[i] < 0) {
            log_err("%s", err);
            return EXIT_START;
        }
        if (udp_new(&srv->udp[i], i, srv->udp_fd[i], a->wildcard) != 0) {
            log_err("cannot set up worker %u: out of memory or descriptors", i);
            return EXIT_START;
        }
        srv->stats[i] = udp_stats(srv->udp[i]);
    }
    if (tcp_new(&srv->tcp, srv->nudp, o->naddrs, o->tcp_max, o->tcp_idle_s) != 0) {
        log_err("cannot set up worker %u: out of memory or descriptors", srv->nudp);
        return EXIT_START;
    }
    srv->stats[srv->nudp] = tcp_stats(srv->tcp);
    for (unsigned i = 0; i < o->naddrs; i++) {
        srv->tcp_fd[i] = sock_tcp(&o->addrs[i], err, sizeof err);
        if (srv->tcp_fd[i] < 0 ||
            tcp_listen(srv->tcp, srv->tcp_fd[i], o->addrs[i].text, err, sizeof err) != 0) {
            log_err("%s", err);
            return EXIT_START;
        }
    }
    if (notify_new(&srv->notify, o->nsrc, o->nnsrc, err, sizeof err) != 0) {
        log_err("%s", err);
        return EXIT_START;
    }
    if (o->with_metrics &&
        metrics_new(srv->base, &o->metrics, &srv->metrics, err, sizeof err) != 0) {
        log_err("%s", err);
        return EXIT_START;
    }
    raise_nofile(o);
    if (o->user != NULL && drop_privileges(o) != 0)
        return EXIT_START;
    return 0;
}

/* spfdbd reads only, but a data.mdb its user may write could still be
 * changed by a compromised server: say so (SPEC §4). */
static void warn_writable(const char *db)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/data.mdb", db);
    if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0)
        log_warn("%s is writable by spfdbd's user: a compromised server could change it; "
                 "give it to the writers' group (spfdbd(8) FILES)", path);
}

static int open_db(struct server *srv)
{
    const struct options *o = srv->o;
    char err[200];
    /* Read-only: spfdbd never writes its database (SPEC §4). */
    int rc = spfdb_env_open_ro(o->db, &srv->env);

    if (rc != 0) {
        log_err("cannot open database %s: %s%s", o->db, spfdb_strerror(rc),
                rc == SPFDB_ENODIR ? " (create it, then add a zone with spfdb-ctl)"
                : rc == SPFDB_EACCES
                    ? " (spfdbd's user needs read access to data.mdb and write access to "
                      "lock.mdb: see spfdbd(8) FILES)"
                    : "");
        return EXIT_DB;
    }
    spfdb_env_on_damage(srv->env, view_on_damage, NULL);
    if (caps_drop(err, sizeof err) != 0) {
        log_err("%s", err);
        return EXIT_START;
    }
    warn_writable(o->db);
    rc = spfdb_env_reader_check(srv->env);
    if (rc < 0)
        log_warn("reader check: %s", spfdb_strerror(rc));
    for (unsigned i = 0; i < srv->nudp && rc >= 0; i++)
        rc = udp_open(srv->udp[i], srv->env);
    if (rc >= 0)
        rc = tcp_open(srv->tcp, srv->env);
    if (rc >= 0)
        rc = xfr_pool_new(&srv->xfr, srv->env);
    if (rc >= 0) {
        tcp_set_xfr(srv->tcp, srv->xfr);
        if (srv->metrics != NULL)
            metrics_set_xfr(srv->metrics, srv->xfr);
    }
    if (rc >= 0)
        rc = notify_open(srv->notify, srv->env);
    if (rc >= 0 && srv->metrics != NULL)
        metrics_set_notify(srv->metrics, srv->notify);
    if (rc >= 0 && srv->metrics != NULL)
        rc = metrics_start(srv->metrics, srv->env, srv->stats, srv->nudp + 1, time(NULL));
    if (rc < 0) {
        log_err("cannot read database %s: %s", o->db, spfdb_strerror(rc));
        return EXIT_DB;
    }
    return 0;
}

/* The main loop takes the signals the workers keep blocked. */
static int main_events(struct server *srv, const sigset_t *sigs)
{
    static const int sig[3] = { SIGTERM, SIGINT, SIGHUP };
    const struct timeval tick = { READER_CHECK_S, 0 };

    for (unsigned i = 0; i < 3; i++) {
        srv->sigev[i] = evsignal_new(srv->base, sig[i], on_signal, srv);
        if (srv->sigev[i] == NULL || event_add(srv->sigev[i], NULL) != 0)
            return -1;
    }
    srv->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, srv);
    if (srv->tick == NULL || event_add(srv->tick, &tick) != 0)
        return -1;
    return pthread_sigmask(SIG_UNBLOCK, sigs, NULL) != 0 ? -1 : 0;
}

static int serve(struct server *srv, const sigset_t *sigs)
{
    const struct options *o = srv->o;
    char status[128];
    unsigned zones = 0;
    int rc = bind_all(srv);

    if (rc == 0 && defences(srv) != 0) {
        log_err("cannot set up rate limiting: out of memory or randomness");
        rc = EXIT_START;
    }
    if (rc == 0)
        rc = open_db(srv);
    /* Counted before the workers start: worker 0 may replace its table
     * as soon as it runs. */
    if (rc == 0)
        zones = udp_zone_count(srv->udp[0]);
    /* Before the first answer, which a worker may send as soon as it runs. */
    if (rc == 0 && zones == 0)
        log_warn("database %s has no zones: every query is answered REFUSED until one "
                 "is added (spfdb-ctl zone add)",
                 o->db);
    for (int err; rc == 0 && srv->udp_started < srv->nudp; srv->udp_started++) {
        err = udp_start(srv->udp[srv->udp_started]);
        if (err != 0) {
            log_err("cannot start worker %u: %s", srv->udp_started, strerror(err));
            rc = EXIT_START;
            break;
        }
    }
    if (rc == 0) {
        int err = tcp_start(srv->tcp);
        if (err != 0) {
            log_err("cannot start worker %u: %s", srv->nudp, strerror(err));
            rc = EXIT_START;
        }
        srv->tcp_started = err == 0;
    }
    if (rc == 0) {
        int err = notify_start(srv->notify);
        if (err != 0) {
            log_err("cannot start the NOTIFY thread: %s", strerror(err));
            rc = EXIT_START;
        }
    }
    if (rc == 0 && main_events(srv, sigs) != 0) {
        log_err("cannot set up the main event loop");
        rc = EXIT_START;
    }
    if (rc == 0) {
        log_ready(o, zones);
        snprintf(status, sizeof status, "READY=1\nSTATUS=serving %u zone%s with %u worker%s",
                 zones, zones == 1 ? "" : "s", o->workers, o->workers == 1 ? "" : "s");
        notify(status);
        if (event_base_dispatch(srv->base) != 0) {
            log_err("the main event loop failed");
            rc = EXIT_START;
        }
        notify("STOPPING=1");
    }
    for (unsigned i = 0; i < srv->udp_started; i++)
        udp_stop(srv->udp[i]);
    if (srv->tcp_started)
        tcp_stop(srv->tcp);
    for (unsigned i = 0; i < srv->udp_started; i++)
        udp_join(srv->udp[i]);
    if (srv->tcp_started)
        tcp_join(srv->tcp);
    if (srv->xfr != NULL)
        xfr_pool_stop(srv->xfr); /* after the TCP thread: nothing is handed over any more */
    notify_stop(srv->notify);
    if (rc == 0)
        log_stop(srv->sig, srv->stats, srv->nudp + 1);
    return rc;
}

static void server_free(struct server *srv)
{
    metrics_free(srv->metrics);
    for (unsigned i = 0; i < 3; i++)
        if (srv->sigev[i] != NULL)
            event_free(srv->sigev[i]);
    if (srv->tick != NULL)
        event_free(srv->tick);
    for (unsigned i = 0; i < srv->nudp; i++)
        udp_free(srv->udp[i]);
    tcp_free(srv->tcp);
    xfr_pool_free(srv->xfr);
    notify_free(srv->notify);
    for (unsigned i = 0; i < srv->nudp; i++)
        if (srv->udp_fd[i] >= 0)
            close(srv->udp_fd[i]);
    for (unsigned i = 0; i < srv->o->naddrs; i++)
        if (srv->tcp_fd[i] >= 0)
            close(srv->tcp_fd[i]);
    free(srv->udp_fd);
    free(srv->tcp_fd);
    free(srv->udp);
    free(srv->stats);
    if (srv->env != NULL)
        spfdb_env_close(srv->env);
    event_base_free(srv->base);
}

int main(int argc, char **argv)
{
    struct options o = { 0 };
    struct server srv = { .o = &o, .sig = SIGTERM };
    sigset_t sigs;
    char err[256];
    int rc;

    if (spfdb_std_fds() != 0) {
        /* to a stderr that may be closed: nothing else is open to take it */
        log_err("cannot open /dev/null on a closed standard descriptor: %s", strerror(errno));
        return EXIT_START;
    }
    rc = parse_args(argc, argv, &o);
    if (rc < 0)
        rc = check_user(&o);
    if (rc < 0)
        rc = cookie_init(&o, &srv.cookies);
    if (rc >= 0)
        return rc;
    for (unsigned i = 0; i < o.naddrs; i++) {
        if (sock_addr_check(&o.addrs[i], err, sizeof err) != 0) {
            log_err("%s", err);
            return EXIT_START;
        }
    }
    /* Workers inherit the mask: only the main thread takes these signals,
     * in its event loop, which unblocks them once it can.  An ignored
     * signal is discarded, not kept pending, so undo an SIG_IGN inherited
     * from a shell's background job or nohup. */
    if (sigemptyset(&sigs) != 0 || sigaddset(&sigs, SIGTERM) != 0 ||
        sigaddset(&sigs, SIGINT) != 0 || sigaddset(&sigs, SIGHUP) != 0 ||
        pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 || signal(SIGTERM, SIG_DFL) == SIG_ERR ||
        signal(SIGINT, SIG_DFL) == SIG_ERR || signal(SIGHUP, SIG_DFL) == SIG_ERR ||
        signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        log_err("cannot set up signals: %s", strerror(errno));
        return EXIT_START;
    }
    srv.base = event_base_new();
    srv.nudp = o.workers * o.naddrs;
    srv.udp_fd = malloc(srv.nudp * sizeof *srv.udp_fd);
    srv.tcp_fd = malloc(o.naddrs * sizeof *srv.tcp_fd);
    srv.udp = calloc(srv.nudp, sizeof *srv.udp);
    srv.stats = calloc(srv.nudp + 1, sizeof *srv.stats);
    if (srv.base == NULL || srv.udp_fd == NULL || srv.tcp_fd == NULL || srv.udp == NULL ||
        srv.stats == NULL) {
        log_err("out of memory");
        if (srv.base != NULL)
            event_base_free(srv.base);
        free(srv.udp_fd);
        free(srv.tcp_fd);
        free(srv.udp);
        free(srv.stats);
        return EXIT_START;
    }
    for (unsigned i = 0; i < srv.nudp; i++)
        srv.udp_fd[i] = -1;
    for (unsigned i = 0; i < o.naddrs; i++)
        srv.tcp_fd[i] = -1;
    rc = serve(&srv, &sigs);
    server_free(&srv);
    return rc;
}
