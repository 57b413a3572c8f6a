/* spfdb-ctl: the admin tool (SPEC §3).  main() reads the global options,
 * finds the command in the table below (one row per command, as rbldnsd's
 * dstype and knotc's commands.c) and runs its handler. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

#ifndef SPFDB_VERSION
#define SPFDB_VERSION "unknown"
#endif
#define DEFAULT_DB "/var/lib/spfdb"

#define ALLOC_OPT "  --allocation NAME  act on allocation NAME (default: default)\n"
#define JSON_OPT "  --json             one JSON document on standard output, shape below\n"
#define INPUT_FMT                                                                          \
    "With -, prefixes are read from standard input, one a line; blanks around a\n"         \
    "prefix, a trailing '# comment', CR before LF, and blank or comment-only lines\n"      \
    "are allowed.  The first bad prefix exits 2 naming it (and its line); nothing\n"       \
    "changes then.\n"
#define ZONE_OPTS                                                                          \
    "  --allocation NAME     bind the zone to allocation NAME (a delegated zone,\n"        \
    "                        <ip>.<zone>); without it a provider zone,\n"                  \
    "                        <ip>.spf.<alloc>.<zone>\n"                                    \
    "  --ns HOST             a name server host; repeat for each (at least one, two\n"     \
    "                        recommended); none may lie at or below a served zone\n"       \
    "  --hostmaster MAILBOX  local@domain (default: hostmaster@ the first NS host\n"       \
    "                        minus its first label)\n"                                     \
    "  --ttl S               TTL of A and NS answers, 1..604800 (default 300)\n"           \
    "  --negative-ttl S      SOA TTL and MINIMUM, 1..86400 (default 60)\n"

static const struct ctl_cmd commands[] = {
    {"add", cmd_add, "add entries to an allocation",
     "usage: spfdb-ctl add [--allocation NAME] [--force] PREFIX... | -\n"
     "Add CIDR prefixes (a bare address is a /32 or /128) in one transaction.\n" ALLOC_OPT
     "  --force            accept prefixes shorter than /8 (IPv4) or /16 (IPv6)\n" INPUT_FMT
     "An entry already present (or repeated in the input) is skipped with a note;\n"
     "private and other special-use prefixes get a warning; IPv4-mapped IPv6\n"
     "prefixes are stored as IPv4.  Output: 'added N, skipped M'.\n"},
    {"del", cmd_del, "remove entries from an allocation",
     "usage: spfdb-ctl del [--allocation NAME] PREFIX... | -\n"
     "Remove exactly these entries in one transaction.  A prefix that is not an\n"
     "entry is bad input (the message names an entry covering it, if any).\n" ALLOC_OPT INPUT_FMT
     "Output: 'removed N'; on stderr a warning for each removed prefix still\n"
     "covered by another entry, naming that entry.\n"},
    {"replace", cmd_replace, "make an allocation's entries exactly a file's",
     "usage: spfdb-ctl replace --allocation NAME [--dry-run] [--allow-empty] [--force] FILE | -\n"
     "Make the allocation hold exactly the prefixes in FILE (- for standard input,\n"
     "same format as add's), in one transaction.\n"
     "  --allocation NAME  the allocation (required)\n"
     "  --dry-run          print what would change, change nothing\n"
     "  --allow-empty      allow leaving a non-empty allocation empty\n"
     "  --force            accept prefixes shorter than /8 (IPv4) or /16 (IPv6)\n"
     "Output: '+ PREFIX' for each entry added and '- PREFIX' for each removed, in\n"
     "address order, then 'added A, removed R, kept K'.\n"},
    {"list", cmd_list, "print an allocation's entries",
     "usage: spfdb-ctl list [--allocation NAME] [--json]\n" ALLOC_OPT JSON_OPT
     "Output: one canonical prefix a line, in address order (IPv4 first).\n"
     "JSON: {\"allocation\": NAME, \"entries\": [PREFIX, ...]}\n"},
    {"check", cmd_check, "is an address listed?",
     "usage: spfdb-ctl check [--allocation NAME] [--json] IP\n" ALLOC_OPT JSON_OPT
     "IP is a bare address; an IPv4-mapped IPv6 address checks the IPv4 address.\n"
     "Exit 0 printing the most specific covering entry, or exit 1 if not listed.\n"
     "JSON (exit status as without it): {\"allocation\": NAME, \"address\": IP,\n"
     "  \"listed\": true|false, \"entry\": PREFIX|null}\n"},
    {"allocation add", cmd_alloc_add, "create an allocation",
     "usage: spfdb-ctl allocation add NAME\n"
     "NAME is one DNS label: a-z, 0-9 and '-', 1..63, case-insensitive.\n"},
    {"allocation del", cmd_alloc_del, "delete an allocation",
     "usage: spfdb-ctl allocation del [--force] NAME\n"
     "Refuses 'default', an allocation a zone is bound to, and one that holds\n"
     "entries unless --force (which deletes them too).\n"},
    {"allocation list", cmd_alloc_list, "list allocations with entry counts",
     "usage: spfdb-ctl allocation list [--json]\n" JSON_OPT
     "Output: one line per allocation in name order: 'NAME IPV4-ENTRIES IPV6-ENTRIES'.\n"
     "JSON: [{\"name\": NAME, \"ipv4_entries\": N, \"ipv6_entries\": N}, ...]\n"},
    {"zone add", cmd_zone_add, "serve a zone",
     "usage: spfdb-ctl zone add ZONE [--allocation NAME] --ns HOST... [--hostmaster MAILBOX]\n"
     "                         [--ttl S] [--negative-ttl S]\n" ZONE_OPTS
     "ZONE: letters, digits, '-' and '_', trailing dot optional, at most 120\n"
     "characters (188 for a delegated zone).  Zones never nest.\n"},
    {"zone set", cmd_zone_set, "change a served zone",
     "usage: spfdb-ctl zone set ZONE [--allocation NAME | --provider] [--ns HOST]...\n"
     "                         [--hostmaster MAILBOX] [--ttl S] [--negative-ttl S]\n"
     "Change the given settings in one transaction; --ns replaces the whole NS set.\n" ZONE_OPTS
     "  --provider            unbind the zone: make it a provider zone\n"
     "  --hostmaster ''       go back to the default hostmaster\n"},
    {"zone del", cmd_zone_del, "stop serving a zone", "usage: spfdb-ctl zone del ZONE\n"},
    {"zone list", cmd_zone_list, "list served zones",
     "usage: spfdb-ctl zone list [--json]\n" JSON_OPT
     "Output: one line per zone in name order, fields separated by one space:\n"
     "  ZONE provider|delegated:ALLOC TTL NEGATIVE-TTL HOSTMASTER NS[,NS...]\n"
     "JSON: [{\"zone\": ZONE, \"type\": \"provider\"|\"delegated\",\n"
     "  \"allocation\": ALLOC|null, \"ttl\": S, \"negative_ttl\": S,\n"
     "  \"hostmaster\": MAILBOX, \"ns\": [HOST, ...]}, ...]\n"},
    {"log", cmd_log, "show the change log",
     "usage: spfdb-ctl log [--allocation NAME] [--since TIME] [--json]\n"
     "Every committed change is recorded in the transaction that makes it.  The\n"
     "log is append-only; records are numbered (seq) and printed oldest first.\n"
     "  --allocation NAME  only changes of allocation NAME (its entries, the\n"
     "                     allocation itself, zones bound to it)\n"
     "  --since TIME       only records from TIME on: 2026-11-23, 2026-11-23T10:00,\n"
     "                     2026-11-23T10:00:00Z (UTC), or a time ago: 90s, 30m, 1h,\n"
     "                     7d, 2w\n" JSON_OPT
     "Output: one line each, every line starting 'TIME seq=N user=USER' (TIME in\n"
     "UTC, ' sudo=SUDO_USER' after USER when run through sudo), then:\n"
     "  command: COMMAND LINE            once per record, first\n"
     "  add ALLOC PREFIX | del ALLOC PREFIX\n"
     "  allocation-add ALLOC | allocation-del ALLOC\n"
     "  zone-add ZONE TYPE SETTINGS | zone-set ZONE TYPE SETTINGS | zone-del ZONE TYPE\n"
     "    (TYPE: provider or delegated:ALLOC; SETTINGS: ttl=S negative-ttl=S\n"
     "    hostmaster=MAILBOX|default ns=HOST[,HOST...])\n"
     "Bytes outside printable ASCII in USER and COMMAND print as \\xHH.\n"
     "Who removed 198.51.100.0/24, and when: spfdb-ctl log | grep ' del .* 198.51.100.0/24$'\n"
     "JSON: [{\"seq\": N, \"time\": \"2026-11-23T10:00:00Z\", \"unix\": SECONDS,\n"
     "  \"user\": USER, \"sudo_user\": NAME|null, \"command\": COMMAND, \"changes\": [\n"
     "  {\"op\": \"add\"|\"del\", \"allocation\": ALLOC, \"prefix\": PREFIX} |\n"
     "  {\"op\": \"allocation-add\"|\"allocation-del\", \"allocation\": ALLOC} |\n"
     "  {\"op\": \"zone-add\"|\"zone-set\"|\"zone-del\", \"zone\": ZONE,\n"
     "   \"allocation\": ALLOC|null, \"settings\": SETTINGS}, ...]}, ...]\n"},
    {"spf-record", cmd_spf_record, "print what a customer publishes",
     "usage: spfdb-ctl spf-record ALLOCATION [--zone ZONE]\n"
     "Print the SPF mechanism a customer of ALLOCATION publishes, inside a full\n"
     "example TXT record, for each served zone that serves the allocation: every\n"
     "provider zone (exists:%{i}.spf.ALLOCATION.ZONE) and every delegated zone\n"
     "bound to it (exists:%{i}.ZONE).  For a delegated zone it also prints the NS\n"
     "records the zone's parent must hold; the parent must publish no DS record\n"
     "(spfdbd does not sign).  Blocks are separated by a blank line; every line\n"
     "but the mechanism is in zone-file form, comments starting with ';'.\n"
     "  --zone ZONE  only this zone; exit 2 when it does not serve ALLOCATION\n"
     "Exit 2 for an unknown allocation or zone, or when no zone serves it.\n"},
    {"backup", cmd_backup, "copy the database while it is in use",
     "usage: spfdb-ctl backup DIR\n"
     "Write a consistent, compacted copy of the database (the last commit when the\n"
     "copy began; as mdb_copy -c) to DIR/data.mdb.  DIR must exist and be empty\n"
     "(else exit 2).  spfdbd and writers may run meanwhile.\n"
     "Restore: stop spfdbd (it keeps the old file mapped), then either point\n"
     "--db at a new empty directory holding a copy of the backup's data.mdb, or\n"
     "replace data.mdb in the database directory with it and remove lock.mdb\n"
     "there; give the file the database's owner, group and mode (e.g. chown\n"
     "spfdb:spfdb data.mdb; chmod 0660 data.mdb), then start spfdbd.  Changes made\n"
     "after the backup are gone, from the change log too; the SOA serial is the\n"
     "backup's until the next change sets it from the clock again.\n"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char main_usage[] =
    "usage: spfdb-ctl [--db DIR] COMMAND [ARGS]\n"
    "       spfdb-ctl help COMMAND | COMMAND --help\n"
    "  --db DIR    the database directory (default: $SPFDB_DB, else " DEFAULT_DB ");\n"
    "              it must exist; an empty directory becomes a new database\n"
    "  --version   print the version\n"
    "Exit status: 0 ok, 1 not listed (check), 2 bad input or usage,\n"
    "3 the database cannot be opened, locked, read or written.\n"
    "Commands:\n";

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

void ctl_err(const char *fmt, ...)
{
    va_list ap;

    fputs("spfdb-ctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *ctl_quote(const char *s, size_t len, char *buf)
{
    size_t o = 0;

    buf[o++] = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o + 8 >= CTL_QUOTE_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, CTL_QUOTE_MAX - o, "\\x%02x", ch);
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

int ctl_common_opt(struct ctl *c, int o)
{
    if (o == CTL_OPT_DB) {
        c->dir = optarg;
        return CTL_OK;
    }
    return o == 'h' ? -1 : ctl_usage(c);
}

int ctl_list_cmd(struct ctl *c, int argc, char **argv, ctl_walk_fn walk)
{
    static const struct option opts[] = {CTL_JSON_OPTION, CTL_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    struct ctl_list l = {.n = -1};
    struct ctl_mem m;
    spfdb_txn *txn;
    int o, json = 0, r;

    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == CTL_OPT_JSON)
            json = 1;
        else if ((r = ctl_common_opt(c, o)) != CTL_OK)
            return r < 0 ? ctl_help(c) : r;
    }
    if (optind != argc)
        return ctl_usage(c);
    if ((r = ctl_mem_open(&m)) != CTL_OK)
        return r;
    if ((r = ctl_read(c, &txn)) != CTL_OK) {
        ctl_mem_drop(&m);
        return r;
    }
    l.f = m.f;
    if (json) {
        l.n = 0;
        fputs("[", m.f);
    }
    r = walk(txn, &l);
    spfdb_txn_close(txn);
    if (r != 0) {
        ctl_mem_drop(&m);
        return ctl_dberr(c, r);
    }
    if (json)
        fputs("\n]\n", m.f);
    return ctl_mem_emit(&m);
}

int ctl_mem_open(struct ctl_mem *m)
{
    m->p = NULL;
    m->len = 0;
    if (!(m->f = open_memstream(&m->p, &m->len))) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    return CTL_OK;
}

void ctl_mem_drop(struct ctl_mem *m)
{
    (void)fclose(m->f); /* discarded: a failed flush loses nothing wanted */
    free(m->p);
}

int ctl_mem_emit(struct ctl_mem *m)
{
    int bad = ferror(m->f), r;

    if (fclose(m->f) != 0 || bad) {
        free(m->p);
        ctl_err("out of memory");
        return CTL_DB;
    }
    r = ctl_out(m->p, m->len);
    free(m->p);
    return r;
}

/* The write error on stdout ERR: CTL_DB, said unless the pipe was closed. */
static int out_failed(int err)
{
    if (err != EPIPE)
        ctl_err("cannot write the output: %s", strerror(err ? err : EIO));
    return CTL_DB;
}

int ctl_out(const char *p, size_t n)
{
    int r = ctl_flush();

    while (r == CTL_OK && n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return out_failed(errno);
        p += w;
        n -= (size_t)w;
    }
    return r;
}

/* Length of the valid UTF-8 sequence at S (not NUL), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
             : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, above U+10FFFF */
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void ctl_json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    putc('"', f);
    while (*p) {
        size_t n;

        if (*p == '"' || *p == '\\') {
            putc('\\', f);
            putc(*p++, f);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p++);
        } else if (*p < 0x80) {
            putc(*p++, f);
        } else if ((n = utf8_len(p)) != 0) {
            fwrite(p, 1, n, f);
            p += n;
        } else {
            fputs("\\ufffd", f);
            p++;
        }
    }
    putc('"', f);
}

void ctl_json_str_or_null(FILE *f, const char *s)
{
    if (*s)
        ctl_json_str(f, s);
    else
        fputs("null", f);
}

int ctl_help(struct ctl *c)
{
    fputs(c->cmd->help, stdout);
    fputs("Every command also takes --db DIR (the database directory) and --help.\n", stdout);
    return ctl_flush();
}

int ctl_usage(struct ctl *c)
{
    size_t n = strcspn(c->cmd->help, "\n");

    fprintf(stderr, "%.*s\nTry 'spfdb-ctl %s --help'.\n", (int)n, c->cmd->help, c->cmd->name);
    return CTL_USAGE;
}

int ctl_alloc_arg(const char *s, char *out)
{
    char msg[200], q[CTL_QUOTE_MAX];

    if (spfdb_alloc_name_norm(s, out, SPFDB_LABEL_MAX + 1, msg, sizeof msg) != 0) {
        ctl_err("bad allocation name %s: %s", ctl_quote(s, strlen(s), q), msg);
        return CTL_USAGE;
    }
    return CTL_OK;
}

int ctl_dberr(struct ctl *c, int err)
{
    ctl_err("%s: %s", c->dir, spfdb_strerror(err));
    if (err == SPFDB_EACCES)
        ctl_err("hint: the database directory is meant to be shared by group spfdb: "
                "chgrp -R spfdb %s; chmod 2770 %s; chmod 0660 %s/*.mdb", c->dir, c->dir, c->dir);
    return CTL_DB;
}

/* The command line, shell-quoted where needed, for the change log. */
static int set_origin(struct ctl *c)
{
    struct buf b = {0};
    int r;

    for (int i = 0; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "_./:@%+=,-") == strlen(a)) {
            buf_printf(&b, "%s%s", i ? " " : "", i ? a : "spfdb-ctl");
            continue;
        }
        buf_printf(&b, "%s'", i ? " " : "");
        for (const char *q = a; *q; q++)
            buf_printf(&b, *q == '\'' ? "'\\''" : "%c", *q);
        buf_printf(&b, "'");
    }
    r = b.oom ? SPFDB_ENOMEM : spfdb_env_set_origin(c->env, NULL, b.p ? b.p : "spfdb-ctl");
    free(b.p);
    return r;
}

/* The LMDB permission trap: readers need write access to lock.mdb, so a
 * file the directory's owner (spfdbd) cannot read and write through the
 * directory's group stops it.  Warn whoever else runs spfdb-ctl. */
static void check_sharing(const struct ctl *c)
{
    static const char *const names[] = {"data.mdb", "lock.mdb"};
    struct stat dst, st;
    char path[4096], bad[2 * 4096 + 2] = "";
    struct group gr, *g = NULL;
    char gbuf[4096], gname[32];

    if (stat(c->dir, &dst) != 0 || geteuid() == dst.st_uid)
        return;
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", c->dir, names[i]);
        if (stat(path, &st) == 0 &&
            (st.st_gid != dst.st_gid || (st.st_mode & 0060) != 0060))
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s%s", *bad ? " " : "", path);
    }
    if (!*bad)
        return;
    if (getgrgid_r(dst.st_gid, &gr, gbuf, sizeof gbuf, &g) != 0 || !g)
        snprintf(gname, sizeof gname, "%lu", (unsigned long)dst.st_gid);
    ctl_err("warning: %s not read-writable by group %s of %s: its owner (spfdbd) may "
            "fail to open the database; fix: chgrp %s %s && chmod 0660 %s && chmod 2770 %s",
            bad, g ? g->gr_name : gname, c->dir, g ? g->gr_name : gname, bad, bad, c->dir);
}

int ctl_open(struct ctl *c)
{
    struct stat st;
    int err;

    /* Check first so that a typo never reaches the code that creates files. */
    if (stat(c->dir, &st) != 0) {
        if (errno == ENOENT) {
            ctl_err("%s: database directory does not exist; create it first "
                    "(e.g. install -d -m 2770 -g spfdb %s)",
                    c->dir, c->dir);
            return CTL_DB;
        }
        ctl_err("%s: %s", c->dir, strerror(errno));
        return CTL_DB;
    }
    if (!S_ISDIR(st.st_mode)) {
        ctl_err("%s: not a directory", c->dir);
        return CTL_DB;
    }
    err = spfdb_env_open(c->dir, &c->env);
    if (err == 0)
        err = set_origin(c);
    if (err != 0)
        return ctl_dberr(c, err);
    check_sharing(c);
    return CTL_OK;
}

int ctl_read(struct ctl *c, spfdb_txn **txn)
{
    int err;

    if ((err = ctl_open(c)) != CTL_OK)
        return err;
    if ((err = spfdb_txn_read(c->env, txn)) != 0)
        return ctl_dberr(c, err);
    return CTL_OK;
}

void ctl_txn_start(struct ctl *c)
{
    c->out.len = c->err.len = 0;
    c->out.oom = c->err.oom = 0;
}

int ctl_flush(void)
{
    errno = 0; /* a write that failed earlier leaves ferror() set, no errno */
    if (fflush(stdout) != 0 || ferror(stdout))
        return out_failed(errno);
    return CTL_OK;
}

int ctl_write(struct ctl *c, spfdb_write_fn fn, void *arg)
{
    int r;

    if ((r = ctl_open(c)) != CTL_OK)
        return r;
    r = spfdb_write(c->env, fn, arg);
    if (r < 0)
        return ctl_dberr(c, r);
    if (c->out.oom || c->err.oom)
        return ctl_dberr(c, SPFDB_ENOMEM);
    if (c->err.len)
        fwrite(c->err.p, 1, c->err.len, stderr);
    if (r != 0)
        return r;
    return ctl_out(c->out.p, c->out.len);
}

int ctl_alloc_lookup(struct ctl *c, spfdb_txn *txn, const char *name, struct spfdb_alloc *a)
{
    int err = spfdb_alloc_get(txn, name, a);

    if (err == SPFDB_ENOTFOUND) {
        buf_printf(&c->err,
                   "spfdb-ctl: unknown allocation '%s' (see 'spfdb-ctl allocation list')\n", name);
        return CTL_USAGE;
    }
    return err;
}

static void list_commands(FILE *f, const char *group)
{
    size_t gl = group ? strlen(group) : 0;

    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!group || (strncmp(commands[i].name, group, gl) == 0 && commands[i].name[gl] == ' '))
            fprintf(f, "  %-18s %s\n", commands[i].name, commands[i].summary);
}

/* Find the command named by the first one or two words of ARGV; *WORDS is
 * set to how many it used.  NULL when none matches. */
static const struct ctl_cmd *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const char *n = commands[i].name, *sp = strchr(n, ' ');
        if (!sp && strcmp(n, argv[0]) == 0) {
            *words = 1;
            return &commands[i];
        }
        if (sp && argc >= 2 && strncmp(n, argv[0], (size_t)(sp - n)) == 0 &&
            argv[0][sp - n] == '\0' && strcmp(sp + 1, argv[1]) == 0) {
            *words = 2;
            return &commands[i];
        }
    }
    return NULL;
}

/* A group word ("zone", "allocation") without a known subcommand. */
static int is_group(const char *w)
{
    size_t wl = strlen(w);

    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strncmp(commands[i].name, w, wl) == 0 && commands[i].name[wl] == ' ')
            return 1;
    return 0;
}

static int group_usage(const char *group, int argc, char **argv)
{
    int asked = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *f = asked ? stdout : stderr;

    if (!asked && argc >= 2) {
        char q[CTL_QUOTE_MAX];
        ctl_err("unknown command '%s %s'", group, ctl_quote(argv[1], strlen(argv[1]), q));
    }
    fprintf(f, "usage: spfdb-ctl %s SUBCOMMAND [ARGS]\n", group);
    list_commands(f, group);
    return asked ? ctl_flush() : CTL_USAGE;
}

static int main_help(void)
{
    fputs(main_usage, stdout);
    list_commands(stdout, NULL);
    return ctl_flush();
}

/* `spfdb-ctl help [COMMAND]` */
static int help_command(struct ctl *c, int argc, char **argv)
{
    int words;

    if (argc == 0)
        return main_help();
    c->cmd = find_command(argc, argv, &words);
    if (c->cmd && words == argc)
        return ctl_help(c);
    if (argc == 1 && is_group(argv[0])) {
        char *h[] = {argv[0], (char *)"--help"};
        return group_usage(argv[0], 2, h);
    }
    ctl_err("no such command: %s%s%s", argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
    return CTL_USAGE;
}

static int run(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, CTL_OPT_DB},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("SPFDB_DB");
    int o, words;

    c->dir = env && *env ? env : DEFAULT_DB;
    /* '+': stop at the command word; its own options follow it. */
    while ((o = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (o) {
        case CTL_OPT_DB:
            c->dir = optarg;
            break;
        case 'h':
            return main_help();
        case 'V':
            printf("spfdb-ctl %s (%s)\n", SPFDB_VERSION, spfdb_lmdb_version());
            return ctl_flush();
        default:
            fprintf(stderr, "%sTry 'spfdb-ctl --help'.\n", main_usage);
            return CTL_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc == 0) {
        fputs(main_usage, stderr);
        list_commands(stderr, NULL);
        return CTL_USAGE;
    }
    if (strcmp(argv[0], "help") == 0)
        return help_command(c, argc - 1, argv + 1);
    c->cmd = find_command(argc, argv, &words);
    if (!c->cmd) {
        char q[CTL_QUOTE_MAX];
        if (is_group(argv[0]))
            return group_usage(argv[0], argc, argv);
        ctl_err("unknown command %s; try 'spfdb-ctl --help'",
                ctl_quote(argv[0], strlen(argv[0]), q));
        return CTL_USAGE;
    }
    /* The handler sees its command as argv[0], for getopt's messages. */
    char name[64];
    snprintf(name, sizeof name, "spfdb-ctl %s", c->cmd->name);
    argv += words - 1;
    argc -= words - 1;
    argv[0] = name;
    /* glibc: optind 0 re-initialises getopt with permutation on, so a
     * command's options may follow its arguments. */
    optind = 0;
    return c->cmd->fn(c, argc, argv);
}

int main(int argc, char **argv)
{
    struct ctl c;
    int r;

    memset(&c, 0, sizeof c);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        ctl_err("cannot ignore SIGPIPE: %s", strerror(errno));
        return CTL_DB;
    }
    c.argc = argc;
    c.argv = malloc((size_t)argc * sizeof *argv);
    if (!c.argv) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    memcpy(c.argv, argv, (size_t)argc * sizeof *argv); /* run() rewrites argv */
    r = run(&c, argc, argv);
    free(c.argv);
    if (c.env)
        spfdb_env_close(c.env);
    free(c.out.p);
    free(c.err.p);
    return r;
}
