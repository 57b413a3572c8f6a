/* metrics.c: the Prometheus text on GET /metrics.  See metrics.h.
 *
 * Counters count since the process started; every series is present from
 * the first scrape (zero until something happens).
 *
 *   spfdb_build_info{version,libevent,lmdb}      gauge, always 1: the versions
 *   process_start_time_seconds                   gauge: start, Unix time
 *   spfdb_queries_total{transport,type}          queries received; transport
 *       udp|tcp, type A|AAAA|ANY|SOA|NS|TXT|other ("other" also when the
 *       question did not parse)
 *   spfdb_query_results_total{result}            queries by what was answered:
 *       listed (A 127.0.0.2, or NODATA for another type at a listed name),
 *       unlisted (NXDOMAIN for a full address), tail (NODATA for a partial
 *       address name), zone (apex, allocation nodes, other NXDOMAIN),
 *       refused, malformed (FORMERR, NOTIMP, BADVERS), servfail (database
 *       read failure), dropped (no reply: shorter than a header, QR set, or
 *       dropped by --rate-limit)
 *   spfdb_responses_total{rcode}                 replies by RCODE: NOERROR,
 *       FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS
 *   spfdb_udp_responses_sent_total               UDP replies the kernel took
 *   spfdb_udp_send_dropped_total                 UDP replies dropped: socket
 *       send buffer full
 *   spfdb_udp_receive_errors_total               recvmmsg failures
 *   spfdb_udp_send_errors_total                  sendmmsg failures
 *   spfdb_tcp_connections_accepted_total         TCP connections admitted
 *   spfdb_tcp_connections_open                   gauge: TCP connections open
 *   spfdb_tcp_connections_refused_total          accept() failed, out of
 *       descriptors or memory (accepting pauses; the client waits)
 *   spfdb_tcp_connections_evicted_total          idle connections closed at
 *       --tcp-max to admit a new one
 *   spfdb_tcp_connections_evicted_busy_total     at --tcp-max with none
 *       idle: the connection that had held its slot longest, closed
 *   spfdb_tcp_connections_timed_out_total        closed: idle for
 *       --tcp-idle-timeout, or a message not complete within 2 s
 *   spfdb_tcp_connections_overflowed_total       closed: the client stopped
 *       reading its replies (no progress for 2 s, or 64 KiB waiting)
 *   spfdb_tcp_zero_length_messages_total         closed: a message of length 0
 *   spfdb_tcp_errors_total                       accept, read, write or
 *       memory failures
 *   spfdb_database_read_failures_total           address lookups that failed
 *       twice and were answered SERVFAIL
 *   spfdb_database_zone_read_failures_total      zone table re-reads that
 *       failed (the previous table kept serving)
 *   spfdb_database_serial                        gauge: the SOA serial now
 *   spfdb_database_changed_timestamp_seconds     gauge: last committed change,
 *       Unix time
 *   spfdb_database_age_seconds                   gauge: seconds since then
 *   spfdb_zones                                  gauge: zones in the database
 *   spfdb_metrics_connections_refused_total      metrics connections closed
 *       on arrival (16 open) or not accepted (out of descriptors)
 *   spfdb_xfr_responses_total{form}              transfer-zone responses
 *       completed by transfer threads (SPEC §5): axfr (an AXFR), ixfr (IXFR
 *       from the change log), ixfr_axfr (an IXFR answered with the whole
 *       zone), ixfr_current (an IXFR from the current serial: the SOA alone)
 *   spfdb_xfr_aborted_total                      transfers cut off: the
 *       client stopped reading for 30 s or closed, a read failed, a stop
 *   spfdb_xfr_bytes_total                        octets of transfer messages
 *       sent, their length fields included
 *   spfdb_xfr_active                             gauge: transfer connections
 *       open now (at most 16)
 *   spfdb_notify_sent_total                      NOTIFY messages sent to
 *       replicas, retransmissions included (notifier.h)
 *   spfdb_notify_retransmitted_total             ... of which retransmissions
 *   spfdb_notify_answered_total                  NOTIFYs answered NOERROR,
 *       the reply's TSIG verified
 *   spfdb_notify_refused_total                   NOTIFYs answered with another
 *       RCODE (the replica lacks the zone, or this primary)
 *   spfdb_notify_failed_total                    rounds given up unanswered
 *       after 5 transmissions in 31 s
 *   spfdb_notify_bad_replies_total               replies to an outstanding
 *       NOTIFY whose TSIG does not verify (another key or secret, unsigned,
 *       a TSIG error such as BADKEY): not taken as answers
 *   spfdb_notify_stray_replies_total             other datagrams on the
 *       NOTIFY socket: late or duplicate answers, answers to a NOTIFY since
 *       replaced, malformed, from an address that is no replica
 *   spfdb_notify_send_errors_total               sendto failures
 *   spfdb_notify_replicas                        gauge: replicas told of commits
 *   spfdb_notify_outstanding                     gauge: NOTIFYs awaiting an answer
 *
 *   On a replica (a database with a primary, SPEC §5), from spfdb-follow's
 *   state record:
 *   spfdb_replica_serial                         gauge: the serial held
 *   spfdb_replica_primary_serial                 gauge: the primary's, last seen
 *   spfdb_replica_synced                         gauge: 1 once a transfer applied
 *   spfdb_replica_lag_seconds                    gauge: 0 while the serial last
 *       seen at a primary is held; else seconds since spfdb-follow first saw
 *       a newer serial it has not applied (stored at its commits)
 *   spfdb_replica_contact_age_seconds            gauge: since a primary last
 *       answered (absent before the first answer)
 *   spfdb_replica_last_success_timestamp_seconds gauge: last transfer applied
 *   spfdb_replica_transfers_total{result}        success: transfers applied;
 *       failure: SOA checks and transfers that failed, per primary tried
 *   spfdb_replica_rollbacks_total                primary serials seen below ours
 *   spfdb_replica_expired                        gauge: 1 when no primary
 *       answered for longer than the transfer zone's EXPIRE (data still served)
 *   spfdb_cookie_queries_total{cookie}           queries with a COOKIE option
 *       (RFC 7873), by what it held: client_only (a client cookie alone),
 *       valid (a server cookie of ours, in its time window), bad (another
 *       server's, a stale one or a forged one: answered with a fresh one)
 *   spfdb_rate_limited_total{action}             UDP replies over --rate-limit,
 *       by what was done: slip (sent truncated), badcookie (sent BADCOOKIE
 *       with a fresh cookie in place of the slip), drop (not sent); with
 *       --rate-limit-dry-run what would have been done (all sent whole)
 *   spfdb_rate_limit_per_second                  gauge: --rate-limit N, 0 off
 *   spfdb_rate_limit_dry_run                     gauge: 1 with
 *       --rate-limit-dry-run
 *
 * The four database gauges are read from the database at each scrape; they
 * are left out when it cannot be read (and the two timestamps also while
 * nothing was ever committed).
 */
#include "metrics.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "notifier.h"
#include "sockets.h"
#include "stats.h"
#include "xfrserve.h"

_Static_assert((int)METRICS_CONN_MAX == (int)HTTP_CONN_MAX, "metrics.h states the cap");

struct metrics {
    struct http *http;
    spfdb_txn *txn;            /* the scrapes' read handle, reset between them */
    const struct stats *const *each; /* every answering thread's counters */
    unsigned n;
    time_t start;
    struct xfr_pool *xfr;      /* NULL: no transfer series */
    struct notifier *notify;   /* NULL: no NOTIFY series */
    unsigned rate_limit;       /* --rate-limit, 0: off */
    int rate_dry_run;
};

struct out {
    struct evbuffer *b;
    int failed;                /* an evbuffer_add_printf failed: reply 500 */
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
        o->failed = 1;
    va_end(ap);
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    head(o, name, type, help);
    emit(o, "%s %" PRIu64 "\n", name, v);
}

static void queries(struct out *o, const struct stats *st)
{
    static const char *const transport[2] = { "udp", "tcp" };
    static const char *const type[QT_COUNT] = { "A", "AAAA", "ANY", "SOA", "NS", "TXT", "other" };

    head(o, "spfdb_queries_total", "counter", "DNS queries received, by transport and query type.");
    for (unsigned t = 0; t < 2; t++)
        for (unsigned q = 0; q < QT_COUNT; q++)
            emit(o, "spfdb_queries_total{transport=\"%s\",type=\"%s\"} %" PRIu64 "\n",
                 transport[t], type[q], st->queries[t][q]);
}

static void results(struct out *o, const struct stats *st)
{
    static const char *const result[ANSWER_SERVFAIL + 1] = {
        [ANSWER_DROP] = "dropped",       [ANSWER_LISTED] = "listed",
        [ANSWER_UNLISTED] = "unlisted",  [ANSWER_TAIL] = "tail",
        [ANSWER_ZONE] = "zone",          [ANSWER_REFUSED] = "refused",
        [ANSWER_MALFORMED] = "malformed", [ANSWER_SERVFAIL] = "servfail",
    };
    static const struct {
        unsigned code;
        const char *name;
    } rcode[] = { { 0, "NOERROR" }, { 1, "FORMERR" }, { 2, "SERVFAIL" }, { 3, "NXDOMAIN" },
                  { 4, "NOTIMP" },  { 5, "REFUSED" }, { 16, "BADVERS" }, { 23, "BADCOOKIE" } };

    head(o, "spfdb_query_results_total", "counter",
         "DNS queries by what was answered (dropped: no reply sent).");
    for (unsigned c = 0; c <= ANSWER_SERVFAIL; c++)
        emit(o, "spfdb_query_results_total{result=\"%s\"} %" PRIu64 "\n", result[c],
             st->answers[c]);
    head(o, "spfdb_responses_total", "counter", "DNS replies by RCODE.");
    for (size_t i = 0; i < sizeof rcode / sizeof rcode[0]; i++)
        emit(o, "spfdb_responses_total{rcode=\"%s\"} %" PRIu64 "\n", rcode[i].name,
             st->rcodes[rcode[i].code]);
}

static void io_counters(struct out *o, const struct stats *st)
{
    one(o, "spfdb_udp_responses_sent_total", "counter", "UDP replies sent.", st->udp_tx);
    one(o, "spfdb_udp_send_dropped_total", "counter",
        "UDP replies dropped because the socket send buffer was full.", st->udp_txdrop);
    one(o, "spfdb_udp_receive_errors_total", "counter", "UDP receive (recvmmsg) failures.",
        st->udp_rxerr);
    one(o, "spfdb_udp_send_errors_total", "counter", "UDP send (sendmmsg) failures.",
        st->udp_txerr);
    one(o, "spfdb_tcp_connections_accepted_total", "counter", "TCP connections accepted.",
        st->tcp_conns);
    one(o, "spfdb_tcp_connections_open", "gauge", "TCP connections open.", st->tcp_open);
    one(o, "spfdb_tcp_connections_refused_total", "counter",
        "TCP accept failures for want of descriptors or memory (accepting pauses).",
        st->tcp_refused);
    one(o, "spfdb_tcp_connections_evicted_total", "counter",
        "Idle TCP connections closed at --tcp-max to admit a new one.", st->tcp_evicted);
    one(o, "spfdb_tcp_connections_evicted_busy_total", "counter",
        "TCP connections with a message in flight or replies pending closed at --tcp-max "
        "to admit a new one (none was idle; the longest-held goes).",
        st->tcp_evicted_busy);
    one(o, "spfdb_tcp_connections_timed_out_total", "counter",
        "TCP connections closed when idle too long or a message came too slowly.",
        st->tcp_timeouts);
    one(o, "spfdb_tcp_connections_overflowed_total", "counter",
        "TCP connections closed because the client stopped reading its replies.", st->tcp_overflow);
    one(o, "spfdb_tcp_zero_length_messages_total", "counter",
        "TCP connections closed on a message of length 0.", st->tcp_badlen);
    one(o, "spfdb_tcp_errors_total", "counter", "TCP accept, read, write or memory failures.",
        st->tcp_err);
    one(o, "spfdb_database_read_failures_total", "counter",
        "Address lookups that failed twice and were answered SERVFAIL.", st->db_fail);
    one(o, "spfdb_database_zone_read_failures_total", "counter",
        "Zone table re-reads that failed (the previous table kept serving).", st->db_meta_fail);
}

static void defences(struct out *o, const struct stats *st, const struct metrics *m)
{
    static const char *const cookie[COOKIE_BAD] = { "client_only", "valid", "bad" };
    static const char *const action[LIMITED_DROP] = { "slip", "badcookie", "drop" };

    head(o, "spfdb_cookie_queries_total", "counter",
         "Queries with a DNS COOKIE option, by what it held.");
    for (unsigned i = 0; i < COOKIE_BAD; i++)
        emit(o, "spfdb_cookie_queries_total{cookie=\"%s\"} %" PRIu64 "\n", cookie[i],
             st->cookies[i]);
    head(o, "spfdb_rate_limited_total", "counter",
         "UDP replies over the rate limit, by action (in dry-run mode: would have been).");
    for (unsigned i = 0; i < LIMITED_DROP; i++)
        emit(o, "spfdb_rate_limited_total{action=\"%s\"} %" PRIu64 "\n", action[i],
             st->limited[i]);
    one(o, "spfdb_rate_limit_per_second", "gauge",
        "Replies a second allowed per client prefix (--rate-limit); 0: no rate limiting.",
        m->rate_limit);
    one(o, "spfdb_rate_limit_dry_run", "gauge",
        "1 when rate limiting only counts (--rate-limit-dry-run).", (uint64_t)m->rate_dry_run);
}

static int count_zone(const struct spfdb_zone *z, void *arg)
{
    (void)z;
    (*(uint64_t *)arg)++;
    return 0;
}

/* A replica's state (SPEC §5), from the follow record spfdb-follow keeps.
 * The lag is 0 while the serial spfdb-follow last saw at a primary is the
 * database's; otherwise the seconds since it first saw a newer one that
 * it has not applied (as of its last commit: a transfer that succeeds at
 * once is never counted). */
static void replica(struct out *o, const struct spfdb_info *info, const struct spfdb_follow *f,
                    time_t now)
{
    int64_t lag = f->behind_since > 0 && now > f->behind_since ? now - f->behind_since : 0;
    int expired = f->synced && f->expire && f->last_contact &&
                  (int64_t)now - f->last_contact > (int64_t)f->expire;

    one(o, "spfdb_replica_serial", "gauge",
        "The serial of the data this replica holds (the primary's, when it was applied).",
        info->serial);
    one(o, "spfdb_replica_primary_serial", "gauge", "The primary's serial last seen.",
        f->primary_serial);
    one(o, "spfdb_replica_synced", "gauge", "1 once a transfer has been applied.",
        f->synced ? 1 : 0);
    head(o, "spfdb_replica_lag_seconds", "gauge",
         "Seconds since a newer primary serial was first seen and not yet applied; 0 in step.");
    emit(o, "spfdb_replica_lag_seconds %" PRId64 "\n", lag);
    if (f->last_contact > 0) {
        head(o, "spfdb_replica_contact_age_seconds", "gauge",
             "Seconds since a primary last answered (an authentic reply).");
        emit(o, "spfdb_replica_contact_age_seconds %" PRId64 "\n", (int64_t)now - f->last_contact);
    }
    if (f->last_success > 0) {
        head(o, "spfdb_replica_last_success_timestamp_seconds", "gauge",
             "When the last transfer was applied, in Unix seconds.");
        emit(o, "spfdb_replica_last_success_timestamp_seconds %" PRId64 "\n", f->last_success);
    }
    head(o, "spfdb_replica_transfers_total", "counter",
         "Transfers applied (success), and exchanges with a primary that failed (failure).");
    emit(o, "spfdb_replica_transfers_total{result=\"success\"} %" PRIu64 "\n", f->transfers_ok);
    emit(o, "spfdb_replica_transfers_total{result=\"failure\"} %" PRIu64 "\n", f->failures);
    one(o, "spfdb_replica_rollbacks_total", "counter",
        "Times a primary's serial was seen below this replica's (a restored backup).",
        f->rollbacks);
    one(o, "spfdb_replica_expired", "gauge",
        "1 when no primary has answered for longer than the transfer zone's EXPIRE.",
        (uint64_t)expired);
}

/* The database as it is now, not as some worker last saw it: an idle
 * worker renews its snapshot only when a query comes. */
static void database(struct metrics *m, struct out *o, time_t now)
{
    struct spfdb_info info;
    struct spfdb_primary prim;
    struct spfdb_follow f;
    uint64_t zones = 0;
    int rc = spfdb_txn_renew(m->txn), is_replica = 0;

    if (rc == 0)
        rc = spfdb_info_get(m->txn, &info);
    if (rc == 0)
        rc = spfdb_zone_foreach(m->txn, count_zone, &zones);
    if (rc == 0 && (rc = spfdb_primary_get(m->txn, &prim)) == 0) {
        is_replica = 1;
        rc = spfdb_follow_get(m->txn, &f);
    } else if (rc == SPFDB_ENOTFOUND) {
        rc = 0;
    }
    spfdb_txn_reset(m->txn);
    if (rc != 0)
        return;
    if (is_replica)
        replica(o, &info, &f, now);
    one(o, "spfdb_database_serial", "gauge", "The SOA serial of every zone.", info.serial);
    if (info.changed > 0) {
        head(o, "spfdb_database_changed_timestamp_seconds", "gauge",
             "Time of the last committed database change, in Unix seconds.");
        emit(o, "spfdb_database_changed_timestamp_seconds %" PRId64 "\n", info.changed);
        head(o, "spfdb_database_age_seconds", "gauge",
             "Seconds since the last committed database change.");
        emit(o, "spfdb_database_age_seconds %" PRId64 "\n", (int64_t)now - info.changed);
    }
    one(o, "spfdb_zones", "gauge", "Zones in the database.", zones);
}

static void transfers(struct out *o, struct xfr_pool *p)
{
    struct xfr_counts c;

    xfr_pool_counts(p, &c);
    head(o, "spfdb_xfr_responses_total", "counter",
         "Transfer-zone responses completed by transfer threads, by form.");
    emit(o, "spfdb_xfr_responses_total{form=\"axfr\"} %" PRIu64 "\n", c.axfr);
    emit(o, "spfdb_xfr_responses_total{form=\"ixfr\"} %" PRIu64 "\n", c.ixfr);
    emit(o, "spfdb_xfr_responses_total{form=\"ixfr_axfr\"} %" PRIu64 "\n", c.ixfr_as_axfr);
    emit(o, "spfdb_xfr_responses_total{form=\"ixfr_current\"} %" PRIu64 "\n", c.soa);
    one(o, "spfdb_xfr_aborted_total", "counter", "Transfers cut off before their end.",
        c.aborted);
    one(o, "spfdb_xfr_bytes_total", "counter", "Octets of transfer messages sent.", c.bytes);
    one(o, "spfdb_xfr_active", "gauge", "Transfer connections open now.", c.active);
}

static void notifies(struct out *o, struct notifier *n)
{
    struct notify_counts c;

    notify_counts(n, &c);
    one(o, "spfdb_notify_sent_total", "counter",
        "NOTIFY messages sent to replicas, retransmissions included.", c.sent);
    one(o, "spfdb_notify_retransmitted_total", "counter", "NOTIFY retransmissions.",
        c.retransmitted);
    one(o, "spfdb_notify_answered_total", "counter", "NOTIFYs answered NOERROR (TSIG verified).",
        c.answered);
    one(o, "spfdb_notify_refused_total", "counter",
        "NOTIFYs answered with an RCODE other than NOERROR (TSIG verified).", c.refused);
    one(o, "spfdb_notify_failed_total", "counter",
        "NOTIFY rounds given up without an answer.", c.failed);
    one(o, "spfdb_notify_bad_replies_total", "counter",
        "Replies to an outstanding NOTIFY whose TSIG does not verify (not taken as answers).",
        c.bad_replies);
    one(o, "spfdb_notify_stray_replies_total", "counter",
        "Other datagrams to the NOTIFY socket: late, duplicate, replaced, malformed, unknown.",
        c.stray);
    one(o, "spfdb_notify_send_errors_total", "counter", "NOTIFY send failures.", c.send_errors);
    one(o, "spfdb_notify_replicas", "gauge", "Replicas told of each commit.", c.targets);
    one(o, "spfdb_notify_outstanding", "gauge", "NOTIFYs awaiting an answer.", c.outstanding);
}

/* The text of a scrape (http.h's body function). */
static int scrape(struct evbuffer *b, void *arg)
{
    struct metrics *m = arg;
    const char *lmdb = spfdb_lmdb_version();
    struct out o = { b, 0 };
    struct stats st;
    time_t now = time(NULL);

    stats_sum(m->each, m->n, &st);
    head(&o, "spfdb_build_info", "gauge", "Versions spfdbd was built with; always 1.");
    emit(&o, "spfdb_build_info{version=\"%s\",libevent=\"%s\",lmdb=\"%.*s\"} 1\n", SPFDB_VERSION,
         event_get_version(), (int)strcspn(lmdb, ":"), lmdb);
    head(&o, "process_start_time_seconds", "gauge", "Start time of the process, in Unix seconds.");
    emit(&o, "process_start_time_seconds %" PRId64 "\n", (int64_t)m->start);
    queries(&o, &st);
    results(&o, &st);
    io_counters(&o, &st);
    defences(&o, &st, m);
    one(&o, "spfdb_metrics_connections_refused_total", "counter",
        "Metrics connections closed on arrival (16 were open) or not accepted (out of "
        "descriptors).",
        http_refused(m->http));
    if (m->xfr != NULL)
        transfers(&o, m->xfr);
    if (m->notify != NULL)
        notifies(&o, m->notify);
    database(m, &o, now);
    return o.failed ? -1 : 0;
}

int metrics_new(struct event_base *base, const struct sock_addr *addr, struct metrics **out,
                char *err, size_t errcap)
{
    struct metrics *m = calloc(1, sizeof *m);
    int fd;

    if (m == NULL) {
        snprintf(err, errcap, "metrics: out of memory");
        return -1;
    }
    fd = sock_listen(addr, err, errcap);
    if (fd < 0) {
        free(m);
        return -1;
    }
    /* From here the server owns FD and closes it. */
    if (http_new(&m->http, base, fd, "/metrics", "text/plain; version=0.0.4; charset=utf-8",
                 scrape, m) != 0) {
        snprintf(err, errcap, "cannot serve metrics on %s: out of memory", addr->text);
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int metrics_start(struct metrics *m, spfdb_env *env, const struct stats *const *each, unsigned n,
                  time_t start)
{
    int rc = spfdb_txn_read(env, &m->txn);

    if (rc != 0)
        return rc;
    spfdb_txn_reset(m->txn);
    m->each = each;
    m->n = n;
    m->start = start;
    return 0;
}

void metrics_set_xfr(struct metrics *m, struct xfr_pool *pool)
{
    m->xfr = pool;
}

void metrics_set_notify(struct metrics *m, struct notifier *n)
{
    m->notify = n;
}

void metrics_set_rate_limit(struct metrics *m, unsigned rate, int dry_run)
{
    m->rate_limit = rate;
    m->rate_dry_run = dry_run != 0;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    http_free(m->http);
    if (m->txn != NULL)
        spfdb_txn_close(m->txn);
    free(m);
}
