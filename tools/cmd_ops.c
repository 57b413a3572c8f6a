/* Operations commands: log, log prune, spf-record, backup (the formats are
 * in their --help, commands.c). */
#define _GNU_SOURCE /* strptime */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "spfchain.h" /* the `_spf` chain spf-record prices */

/* ---- log ---------------------------------------------------------------- */

struct log_job {
    const char *alloc; /* --allocation, or NULL */
    int json;
    int n;             /* JSON records printed */
    FILE *f;           /* this chunk's output */
    uint64_t next;     /* the seq to go on from */
};

/* spfdb_log_foreach's stop when a chunk is full (errors are negative). */
#define LOG_MORE 1
#define LOG_CHUNK (1 << 20)

static const char *op_name(int op)
{
    switch (op) {
    case SPFDB_LOG_ADD: return "add";
    case SPFDB_LOG_DEL: return "del";
    case SPFDB_LOG_ALLOC_ADD: return "allocation-add";
    case SPFDB_LOG_ALLOC_DEL: return "allocation-del";
    case SPFDB_LOG_ZONE_ADD: return "zone-add";
    case SPFDB_LOG_ZONE_SET: return "zone-set";
    case SPFDB_LOG_MEMBER_ADD: return "member-add";
    case SPFDB_LOG_MEMBER_DEL: return "member-del";
    default: return "zone-del";
    }
}

static int member_op(int op)
{
    return op == SPFDB_LOG_MEMBER_ADD || op == SPFDB_LOG_MEMBER_DEL;
}

/* A membership change concerns both allocations. */
static int wanted(const struct log_job *j, const struct spfdb_log_change *ch)
{
    return !j->alloc || strcmp(ch->alloc, j->alloc) == 0 ||
           (member_op(ch->op) && strcmp(ch->member, j->alloc) == 0);
}

/* The head of every text line of record R, so that each line stands alone
 * for grep: into HEAD, of HEAD_MAX bytes (user names are at most 255; the
 * longer ones of a damaged record are cut, and the sudo user then too). */
#define HEAD_MAX (32 + 32 + 2 * (12 + 4 * 255))
static void make_head(char *head, const char *when, const struct spfdb_log_rec *r)
{
    size_t o = (size_t)snprintf(head, HEAD_MAX, "%s seq=%llu user=", when,
                                (unsigned long long)r->seq);

    o += ctl_escape(head + o, HEAD_MAX - o, r->user);
    if (*r->sudo_user && HEAD_MAX - o > sizeof " sudo=") {
        o += (size_t)snprintf(head + o, HEAD_MAX - o, " sudo=");
        ctl_escape(head + o, HEAD_MAX - o, r->sudo_user);
    }
}

/* Every name and setting of a change is printed escaped: a record read back
 * from a damaged database must not put control characters on a terminal
 * (SPEC §3). */
static void print_change_text(FILE *f, const char *head, const struct spfdb_log_change *ch)
{
    char p[SPFDB_PREFIX_STRLEN];

    fprintf(f, "%s %s ", head, op_name(ch->op));
    switch (ch->op) {
    case SPFDB_LOG_ADD: case SPFDB_LOG_DEL:
        spfdb_prefix_format(&ch->p, p, sizeof p);
        ctl_put_escaped(f, ch->alloc);
        fprintf(f, " %s\n", p);
        break;
    case SPFDB_LOG_ALLOC_ADD: case SPFDB_LOG_ALLOC_DEL:
        ctl_put_escaped(f, ch->alloc);
        putc('\n', f);
        break;
    case SPFDB_LOG_MEMBER_ADD: case SPFDB_LOG_MEMBER_DEL:
        ctl_put_escaped(f, ch->alloc);
        putc(' ', f);
        ctl_put_escaped(f, ch->member);
        putc('\n', f);
        break;
    default:
        ctl_put_escaped(f, ch->zone);
        fputs(*ch->alloc ? " delegated:" : " provider", f);
        ctl_put_escaped(f, ch->alloc);
        if (*ch->detail) {
            putc(' ', f);
            ctl_put_escaped(f, ch->detail);
        }
        putc('\n', f);
    }
}

static void print_change_json(FILE *f, int first, const struct spfdb_log_change *ch)
{
    char p[SPFDB_PREFIX_STRLEN];
    int entry = ch->op == SPFDB_LOG_ADD || ch->op == SPFDB_LOG_DEL;
    int zone = !entry && !member_op(ch->op) && ch->op != SPFDB_LOG_ALLOC_ADD &&
               ch->op != SPFDB_LOG_ALLOC_DEL;

    fprintf(f, "%s{\"op\": \"%s\", ", first ? "\n" : ",\n", op_name(ch->op));
    if (zone) {
        fputs("\"zone\": ", f);
        ctl_json_str(f, ch->zone);
        fputs(", ", f);
    }
    fputs("\"allocation\": ", f);
    (zone ? ctl_json_str_or_null : ctl_json_str)(f, ch->alloc);
    if (entry) {
        spfdb_prefix_format(&ch->p, p, sizeof p);
        fprintf(f, ", \"prefix\": \"%s\"", p);
    }
    if (member_op(ch->op)) {
        fputs(", \"member\": ", f);
        ctl_json_str(f, ch->member);
    }
    if (zone) {
        fputs(", \"settings\": ", f);
        ctl_json_str(f, ch->detail);
    }
    putc('}', f);
}

static int print_record(struct spfdb_log_rec *r, void *arg)
{
    struct log_job *j = arg;
    struct spfdb_log_rec walk = *r;
    struct spfdb_log_change ch;
    char when[CTL_UTC_MAX], head[HEAD_MAX];
    FILE *f = j->f;
    int rc = 1, n = 0;

    j->next = r->seq + 1;
    /* With --allocation, a record none of whose changes match is left out. */
    while (j->alloc && (rc = spfdb_log_next(&walk, &ch)) == 1 && !wanted(j, &ch))
        ;
    if (j->alloc && rc != 1)
        return rc;
    ctl_utc(r->time, when);
    if (j->json) {
        fprintf(f, "%s{\"seq\": %llu, \"time\": \"%s\", \"unix\": %lld, \"user\": ",
                j->n++ ? ",\n" : "\n", (unsigned long long)r->seq, when, (long long)r->time);
        ctl_json_str(f, r->user);
        fputs(", \"sudo_user\": ", f);
        ctl_json_str_or_null(f, r->sudo_user);
        fputs(", \"command\": ", f);
        ctl_json_str(f, r->command);
        fputs(", \"changes\": [", f);
    } else {
        make_head(head, when, r);
        fprintf(f, "%s command: ", head);
        ctl_put_escaped(f, r->command);
        putc('\n', f);
    }
    while ((rc = spfdb_log_next(r, &ch)) == 1) {
        if (!wanted(j, &ch))
            continue;
        if (j->json)
            print_change_json(f, n++ == 0, &ch);
        else
            print_change_text(f, head, &ch);
    }
    if (j->json)
        fputs("\n]}", f);
    if (rc < 0)
        return rc;
    if (ferror(f))
        return SPFDB_ENOMEM;
    return ftell(f) >= LOG_CHUNK ? LOG_MORE : 0;
}

/* --since: an ISO 8601 date or UTC time, or a time ago (90s, 30m, 1h, 7d,
 * 2w).  -1 when it is neither. */
static int64_t parse_since(const char *s)
{
    struct tm tm;
    const char *e;
    char *end;
    long long v;

    if (*s >= '0' && *s <= '9') {
        errno = 0;
        v = strtoll(s, &end, 10);
        if (!errno && end[0] && !end[1] && end != s) {
            static const char units[] = "smhdw";
            static const long long secs[] = {1, 60, 3600, 86400, 604800};
            const char *u = strchr(units, end[0]);
            if (u && v <= (long long)1e12 / secs[u - units])
                return (int64_t)time(NULL) - v * secs[u - units];
        }
    }
    memset(&tm, 0, sizeof tm);
    e = strptime(s, "%Y-%m-%d", &tm);
    if (e && (*e == 'T' || *e == ' ')) {
        const char *f = strptime(e + 1, "%H:%M:%S", &tm);
        e = f ? f : strptime(e + 1, "%H:%M", &tm);
    }
    if (e && *e == 'Z')
        e++;
    if (!e || *e)
        return -1;
    return (int64_t)timegm(&tm);
}

/* --since and --before (OPT): ARG into FIELD, or CTL_USAGE naming it. */
static ctl_status opt_time(const char *opt, void *field, const char *arg)
{
    char q[CTL_QUOTE_MAX];

    if ((*(int64_t *)field = parse_since(arg)) < 0) {
        ctl_err("--%s %s: expected 2026-11-23, 2026-11-23T10:00:00Z or a time "
                "ago such as 1h or 7d", opt, ctl_quote(arg, strlen(arg), q));
        return CTL_USAGE;
    }
    return CTL_OK;
}

ctl_status opt_since(void *field, const char *arg)
{
    return opt_time("since", field, arg);
}

ctl_status opt_before(void *field, const char *arg)
{
    return opt_time("before", field, arg);
}

ctl_status cmd_log(struct ctl *c, const struct ctl_args *a)
{
    struct log_job j = {.alloc = ctl_given(a, OPT_ALLOC) ? a->alloc : NULL, .json = a->json};
    int64_t since = ctl_given(a, OPT_SINCE) ? a->since : INT64_MIN;
    struct ctl_mem m;
    spfdb_txn *txn;
    ctl_status s;
    int r;

    /* The log can be large: print it in chunks of about LOG_CHUNK bytes,
     * each from a short snapshot and written after the snapshot ends.
     * Records are appended and never change, so the chunks join up to one
     * consistent listing (of the records up to the last chunk's). */
    if ((s = ctl_read(c, &txn)) != CTL_OK)
        return s;
    if (j.json)
        fputs("[", stdout);
    for (;;) {
        if ((s = ctl_mem_open(&m)) != CTL_OK)
            break;
        j.f = m.f;
        r = spfdb_log_foreach(txn, j.next, since, print_record, &j);
        spfdb_txn_reset(txn);
        if (r < 0) {
            ctl_mem_drop(&m);
            s = ctl_txn_status(c, r);
            break;
        }
        if ((s = ctl_mem_emit(&m)) != CTL_OK || r != LOG_MORE)
            break;
        if ((r = spfdb_txn_renew(txn)) != 0) {
            s = ctl_txn_status(c, r);
            break;
        }
    }
    spfdb_txn_close(txn);
    if (s == CTL_OK && j.json)
        fputs("\n]\n", stdout);
    return s == CTL_OK ? ctl_flush() : s;
}

/* ---- log prune ---------------------------------------------------------- */

struct prune_job {
    struct ctl *c;
    int64_t before;
};

static int prune_fn(spfdb_txn *txn, void *arg)
{
    struct prune_job *j = arg;
    struct spfdb_log_pruned p;
    char when[CTL_UTC_MAX];
    int r;

    ctl_txn_start(j->c);
    if ((r = spfdb_log_prune(txn, j->before, &p)) != 0)
        return r;
    buf_printf(&j->c->out, "dropped %llu record%s stamped before %s\n",
               (unsigned long long)p.dropped, p.dropped == 1 ? "" : "s", ctl_utc(j->before, when));
    if (p.kept_seq)
        buf_printf(&j->c->out, "oldest kept: seq=%llu %s\n", (unsigned long long)p.kept_seq,
                   ctl_utc(p.kept_time, when));
    else
        buf_printf(&j->c->out, "oldest kept: none\n");
    return 0;
}

ctl_status cmd_log_prune(struct ctl *c, const struct ctl_args *a)
{
    struct prune_job j = {c, a->before};

    return ctl_write(c, prune_fn, &j);
}

/* ---- spf-record --------------------------------------------------------- */

struct spf_job {
    struct spfdb_alloc a;
    const char *zone; /* --zone, or NULL */
    int n;            /* zones printed */
    FILE *f;
    spfdb_txn *txn;
};

static int serves(const struct spf_job *j, const struct spfdb_zone *z)
{
    return z->alloc_id == 0 || z->alloc_id == j->a.id;
}

static int chain_add(const struct spfdb_prefix *p, void *arg)
{
    return spfchain_set_add(arg, p) != 0; /* 1: it falls back, stop */
}

/* The `_spf` form's line: what the chain costs today (it follows the
 * entries, so its cost can change). */
static int print_chain(spfdb_txn *txn, const struct spf_job *j, const char *parent,
                       const char *base, FILE *f)
{
    static struct spfchain_set set;
    static struct spfchain chain;
    int r;

    spfchain_set_init(&set);
    r = spfdb_maximal_foreach(txn, j->a.id, chain_add, &set);
    if (r < 0)
        return r;
    spfchain_set_end(&set);
    if (spfchain_render(&set, parent, base, 0, &chain) != 0)
        return SPFDB_EINVAL;
    if (chain.fallback)
        fprintf(f, ";   _spf: %u DNS lookups today, macros needed: the set needs more CIDRs than 3\n"
                   ";   leaves hold, so _spf answers exists:%%{i}.%s instead;\n"
                   ";   publish exists: or _ip\n", 2u, base);
    else
        fprintf(f, ";   _spf: %u DNS lookup%s today (%u CIDR%s, in the top record%s), no\n"
                   ";   macros: for receivers whose verifiers do not expand macros (or expand\n"
                   ";   IPv6 %%{i} wrongly); as the set grows it takes up to 4 lookups, then\n"
                   ";   falls back to exists: (2 lookups, macros needed)\n",
                1u + chain.k, chain.k ? "s" : "", set.n, set.n == 1 ? "" : "s",
                chain.k == 0 ? "" : chain.k == 1 ? " and 1 leaf" : chain.k == 2 ? " and 2 leaves"
                                                                               : " and 3 leaves");
    return 0;
}

static int print_spf(const struct spfdb_zone *z, void *arg)
{
    struct spf_job *j = arg;
    char mech[SPFDB_NAME_MAX + SPFDB_LABEL_MAX + 32], parent[SPFDB_NAME_MAX + SPFDB_LABEL_MAX + 2];
    char base[sizeof parent + 4];
    FILE *f = j->f;
    int r;

    if ((j->zone && strcmp(z->name, j->zone) != 0) || !serves(j, z))
        return 0;
    if (z->alloc_id)
        snprintf(parent, sizeof parent, "%s", z->name);
    else
        snprintf(parent, sizeof parent, "%s.%s", j->a.name, z->name);
    snprintf(base, sizeof base, "%s%s", z->alloc_id ? "" : "spf.", parent);
    snprintf(mech, sizeof mech, "exists:%%{i}.%s", base);
    fprintf(f, "%s%s\n", j->n++ ? "\n" : "", mech);
    fprintf(f, "; %s zone %s: the customer's domain publishes one of these, for example:\n",
            z->alloc_id ? "delegated" : "provider", z->name);
    fprintf(f, "example.com. IN TXT \"v=spf1 %s ~all\"\n", mech);
    fputs(";   exists: 1 DNS lookup; a sender not listed makes it a void lookup, of which a\n"
          ";   check may make 2 (RFC 7208 4.6.4): for records with at most one other term\n"
          ";   that can come back empty\n", f);
    fprintf(f, "example.com. IN TXT \"v=spf1 include:%%{i}._ip.%s ~all\"\n", parent);
    fputs(";   _ip: 1 DNS lookup, never void: for records that also name other providers'\n"
          ";   exists: or _ip terms (three exists: terms that miss are a permerror)\n", f);
    /* A full IPv6 %{i} is 63 characters and a dot: a longer name is cut by
     * verifiers (RFC 7208 7.3), and the cut name never matches. */
    if (64 + 4 + strlen(parent) > 253)
        fprintf(f, ";   warning: _ip.%s is too long for IPv6 senders: their names exceed\n"
                   ";   253 characters and never match; use exists: or _spf for them\n", parent);
    fprintf(f, "example.com. IN TXT \"v=spf1 include:_spf.%s ~all\"\n", parent);
    r = print_chain(j->txn, j, parent, base, f);
    if (r != 0)
        return r;
    /* The usual mistakes: a second SPF record is a permerror (RFC 7208
     * 3.2), and mechanisms after "all" are never reached. */
    fputs("; a domain has one SPF record: add the mechanism to an existing one, before its\n"
          "; 'all'; each DNS lookup above counts against the 10 a check may make\n", f);
    if (z->alloc_id) {
        fprintf(f, "; the parent zone of %s must hold these NS records and no DS record:\n",
                z->name);
        for (unsigned k = 0; k < z->n_ns; k++)
            fprintf(f, "%s. IN NS %s.\n", z->name, z->ns[k]);
    }
    return ferror(f) ? SPFDB_ENOMEM : 0;
}

/* --zone ZONE */
ctl_status opt_zone(void *field, const char *arg)
{
    char msg[200], q[CTL_QUOTE_MAX];

    if (spfdb_dns_name_norm(arg, SPFDB_NAME_MAX, field, SPFDB_NAME_MAX + 1, msg,
                            sizeof msg) != 0) {
        ctl_err("bad zone name %s: %s", ctl_quote(arg, strlen(arg), q), msg);
        return CTL_USAGE;
    }
    return CTL_OK;
}

ctl_status cmd_spf_record(struct ctl *c, const struct ctl_args *a)
{
    char alloc[SPFDB_LABEL_MAX + 1];
    struct spf_job j = {.zone = ctl_given(a, OPT_ZONE) ? a->zone : NULL};
    struct spfdb_zone z;
    struct ctl_list l;
    ctl_status s;
    int r;

    if ((s = ctl_alloc_arg(a->argv[0], alloc)) != CTL_OK ||
        (s = ctl_list_begin(c, &l, 0)) != CTL_OK)
        return s;
    j.f = l.f;
    j.txn = l.txn;
    r = ctl_alloc_lookup(c, l.txn, alloc, &j.a);
    if (r == 0 && j.zone) {
        r = ctl_zone_found(c, spfdb_zone_get(l.txn, j.zone, &z), j.zone);
        if (r == 0 && !serves(&j, &z))
            r = ctl_refuse(c, "zone %s is bound to allocation '%s', not '%s'", j.zone, z.alloc,
                           alloc);
    }
    if (r == 0)
        r = spfdb_zone_foreach(l.txn, print_spf, &j);
    if (r == 0 && j.n == 0)
        r = ctl_refuse(c, "no served zone serves allocation '%s': add a provider zone, or a "
                       "delegated zone bound to it (spfdb-ctl zone add)", alloc);
    return ctl_list_end(c, &l, r);
}

/* ---- backup ------------------------------------------------------------- */

/* 1 when DIR holds nothing, 0 when it holds something, -1 (errno). */
static int dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;

    if (!d)
        return -1;
    errno = 0;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    if (empty && errno) {
        closedir(d);
        return -1;
    }
    closedir(d);
    return empty;
}

/* The copy reaches the disk before we say it is done. */
static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC), r;

    if (fd < 0)
        return -1;
    r = fsync(fd);
    close(fd);
    return r;
}

/* The copy PATH, never followed if a symlink, made 0660 and synced. */
static int share_copy(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), r;

    if (fd < 0)
        return -1;
    r = fstat(fd, st);
    if (r == 0 && !S_ISREG(st->st_mode)) {
        errno = EINVAL;
        r = -1;
    }
    if (r == 0)
        r = fchmod(fd, 0660);
    if (r == 0)
        r = fsync(fd);
    close(fd);
    return r;
}

ctl_status cmd_backup(struct ctl *c, const struct ctl_args *a)
{
    const char *out = a->argv[0];
    char path[4096];
    struct stat st;
    ctl_status s;
    mode_t old;
    int e;

    if (stat(out, &st) != 0) {
        ctl_err("%s: %s; create an empty directory for the backup first", out, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? CTL_USAGE : CTL_DB;
    }
    if (!S_ISDIR(st.st_mode)) {
        ctl_err("%s: not a directory; a backup goes into an empty directory", out);
        return CTL_USAGE;
    }
    if ((e = dir_empty(out)) < 0) {
        ctl_err("%s: %s", out, strerror(errno));
        return CTL_DB;
    }
    if (!e) {
        ctl_err("%s: not empty; a backup goes into an empty directory", out);
        return CTL_USAGE;
    }
    if ((s = ctl_open(c)) != CTL_OK)
        return s;
    /* LMDB creates the copy 0666 & ~umask: no moment world-readable, and
     * then 0660 like the database files (spfdb-ctl is single-threaded). */
    old = umask(0);
    umask(old | 0007);
    e = spfdb_env_copy(c->env, out);
    umask(old);
    if (e != 0) {
        ctl_err("backup to %s failed: %s", out, spfdb_strerror(e));
        return CTL_DB;
    }
    snprintf(path, sizeof path, "%s/data.mdb", out);
    if (share_copy(path, &st) != 0 || sync_path(out, O_RDONLY | O_DIRECTORY) != 0) {
        ctl_err("backup to %s failed: %s", out, strerror(errno));
        return CTL_DB;
    }
    printf("backup written: %s (%lld bytes)\n", path, (long long)st.st_size);
    return ctl_flush();
}
