/* ctl.h: spfdb-ctl internals shared by its files (SPEC §3).
 *
 * Files, top down; each calls only files below it:
 *   spfdb-ctl.c  main: finds the command's row, parses its options, runs it
 *   commands.c   the tables: every option (the field it sets), every command
 *   cmd_*.c      the commands: entries, allocations, zones, operations,
 *                keys (cmd_key.c), the transfer settings (cmd_xfr.c), import-spf
 *                (cmd_importspf.c, over spfeval.c: the SPF evaluator, pure)
 *   ctl.c        the run's database session: open, transactions, the one
 *                conversion of library results into exit statuses, help
 *   out.c        output: messages, quoting, JSON strings, stdout
 *
 * One struct ctl per run, no globals.  A command parses and validates all of
 * its input before its one transaction (or inside it, for checks that need
 * the data), so the first bad token exits 2 and the database is untouched.
 * spfdb_write() may run a write callback twice (map growth): a callback
 * first calls ctl_txn_start(), writes notes and output only into c->out and
 * c->err, and ctl_write() prints them once the commit has succeeded.
 *
 * Two kinds of result, never mixed:
 * - ctl_status, the exit status: what every command and every function
 *   returning it give back.
 * - Inside a transaction (a write callback, a walk, ctl_alloc_lookup) an
 *   int: 0, a negative SPFDB_E* code, CTL_REFUSED: the data refuses the
 *   input, or CTL_DAMAGED: the stored data breaks SPEC §2 (SPEC §3: exit 3);
 *   either way the reason is in c->err, and a write aborts.  ctl_txn_status()
 *   alone turns one into a ctl_status.
 */
#ifndef SPFDB_CTL_H
#define SPFDB_CTL_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* Exit status (SPEC §3). */
typedef enum {
    CTL_OK = 0,
    CTL_NOTLISTED = 1, /* only `check` */
    CTL_USAGE = 2,     /* bad input or usage */
    CTL_DB = 3,        /* database cannot be opened, locked, read or written:
                          nothing changed, safe to retry */
    CTL_UNREPORTED = 4, /* the change was committed but its report could not be
                           written: do not retry (ctl_exit() alone gives it) */
    CTL_HELP = -1      /* never an exit status: --help or --version ended the
                          options; spfdb-ctl.c prints what was asked, exits 0 */
} ctl_status;

/* A transaction's refusal of the input, or its finding of damage (above);
 * positive, so that no SPFDB_E* code is one, and spfdb_write() returns
 * them unchanged. */
enum { CTL_REFUSED = 1, CTL_DAMAGED = 2 };

/* A growable text buffer with a sticky out-of-memory flag, checked once. */
struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

/* ---- options and commands (the tables are in commands.c) ---------------- */

/* Every option, by id; ctl_options[id] describes it. */
enum ctl_optid {
    OPT_END = 0, /* ends a list of options; "none" */
    OPT_DB,
    OPT_HELP,
    OPT_VERSION,
    OPT_PROVIDER,
    OPT_ALLOC,
    OPT_FORCE,
    OPT_DRY_RUN,
    OPT_ALLOW_EMPTY,
    OPT_NS,
    OPT_HOSTMASTER,
    OPT_TTL,
    OPT_NEG_TTL,
    OPT_SINCE,
    OPT_BEFORE,
    OPT_ZONE,
    OPT_JSON,
    OPT_KEY,
    OPT_SECRET,
    OPT_REPLACE,
    OPT_MEMBER,
    OPT_COUNT,
    OPT_REQUIRED = 0x100 /* or-ed to an id in a command's row */
};

/* --member, repeated (allocation add, allocation set): the names in the
 * order given, each once (SPEC §2: at most SPFDB_MEMBERS_MAX); "--member
 * ''" means none and goes alone. */
struct ctl_members {
    unsigned n;
    int none;                                       /* --member '' given */
    char name[SPFDB_MEMBERS_MAX][SPFDB_LABEL_MAX + 1]; /* normalised, distinct */
};

struct ctl_ns {
    unsigned n;
    char host[SPFDB_NS_MAX][SPFDB_NAME_MAX + 1]; /* normalised, in order, distinct */
};

/* What the options set, and the operands.  A field not given keeps its
 * start value: 0 or "", but dir and alloc (below). */
struct ctl_args {
    uint32_t given;                      /* 1 << id for each option given */
    const char *dir;                     /* --db; before it $SPFDB_DB or the default */
    int help, version;                   /* --help, --version */
    char alloc[SPFDB_LABEL_MAX + 1];     /* --allocation, normalised; "default" */
    int provider, force, dry_run, allow_empty, json; /* flags */
    struct ctl_ns ns;                    /* --ns, repeated */
    char hostmaster[SPFDB_NAME_MAX + 1]; /* --hostmaster, normalised; "": the default */
    uint32_t ttl, neg_ttl;               /* --ttl, --negative-ttl */
    int64_t since;                       /* --since, seconds since 1970 */
    int64_t before;                      /* --before (log prune), the same */
    char zone[SPFDB_NAME_MAX + 1];       /* --zone, normalised */
    char key[SPFDB_KEY_NAME_MAX + 1];    /* --key, normalised */
    int secret_stdin;                    /* --secret - */
    int replace;                         /* --replace (import) */
    struct ctl_members members;          /* --member, repeated */
    int argc;                            /* the operands, after the options */
    char **argv;
};

_Static_assert(OPT_COUNT <= 32, "ctl_args.given holds a bit per option");

static inline int ctl_given(const struct ctl_args *a, enum ctl_optid id)
{
    return (int)(a->given >> id & 1);
}

/* One option.  SET parses ARG into FIELD (the field of struct ctl_args at
 * offset field) and says what is wrong on stderr: CTL_OK, CTL_USAGE, or
 * CTL_HELP to end the options.  Without SET the field is an int flag. */
typedef ctl_status (*ctl_opt_fn)(void *field, const char *arg);
struct ctl_opt {
    const char *name; /* --NAME */
    char shortname;   /* -h for --help, -V for --version, else 0 */
    const char *arg;  /* its argument in messages, "NAME"; NULL: takes none */
    size_t field;     /* offsetof(struct ctl_args, ...) */
    ctl_opt_fn set;
};
extern const struct ctl_opt ctl_options[OPT_COUNT];

/* What a command changes.  CTL_WRITES: the data (entries, allocations,
 * zones); the change log gets its command line, and a replica refuses it
 * (naming its primary) before anything else is looked at.  CTL_SETTINGS:
 * the transfer settings (keys, transfer zone, replicas, primary), quiet
 * commits that no log record shows, allowed on a replica. */
enum { CTL_READS = 0, CTL_WRITES = 1, CTL_SETTINGS = 2 };

struct ctl;
/* A command: its options are parsed and its operand count checked. */
typedef ctl_status (*ctl_fn)(struct ctl *c, const struct ctl_args *a);

/* One row of the command table. */
struct ctl_cmd {
    const char *name;     /* "add", "zone add" */
    ctl_fn fn;
    const char *summary;  /* one line, for `spfdb-ctl --help` */
    const unsigned *opts; /* its own options (ids, OPT_REQUIRED marks one it cannot
                             run without), OPT_END last; --db and --help follow */
    int operands[2];      /* at least, at most (-1: any number) */
    int writes;           /* CTL_READS, CTL_WRITES or CTL_SETTINGS (below) */
    const char *help;     /* usage line, then options and output format */
};
extern const struct ctl_cmd ctl_commands[];
extern const size_t ctl_n_commands;

struct ctl {
    int argc;                  /* the command line, for the change log */
    char **argv;
    const struct ctl_cmd *cmd; /* the running command */
    struct ctl_args args;
    spfdb_env *env;            /* opened by ctl_open */
    struct buf out, err;       /* output held back until the commit */
    int committed;             /* a write transaction committed a change (ctl_exit) */
};

/* Command handlers (cmd_entry.c, cmd_alloc.c, cmd_zone.c, cmd_ops.c). */
ctl_status cmd_add(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_del(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_replace(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_list(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_check(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_import(struct ctl *c, const struct ctl_args *a);
/* import-spf (cmd_importspf.c) */
ctl_status cmd_import_spf(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_alloc_add(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_alloc_set(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_alloc_del(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_alloc_list(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_zone_add(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_zone_set(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_zone_del(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_zone_list(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_log(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_log_prune(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_spf_record(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_backup(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_key_add(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_key_del(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_key_list(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_transfer_set(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_transfer_del(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_transfer_show(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_replica_add(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_replica_del(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_replica_list(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_primary_set(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_primary_del(struct ctl *c, const struct ctl_args *a);
ctl_status cmd_primary_show(struct ctl *c, const struct ctl_args *a);

/* Option setters of a command's values (cmd_zone.c, cmd_ops.c,
 * cmd_key.c); the rules they apply are the library's. */
ctl_status opt_ns(void *field, const char *arg);
ctl_status opt_member(void *field, const char *arg);
ctl_status opt_hostmaster(void *field, const char *arg);
ctl_status opt_ttl(void *field, const char *arg);
ctl_status opt_neg_ttl(void *field, const char *arg);
ctl_status opt_since(void *field, const char *arg);
ctl_status opt_before(void *field, const char *arg);
ctl_status opt_zone(void *field, const char *arg);
ctl_status opt_key(void *field, const char *arg);
ctl_status opt_secret(void *field, const char *arg);
/* A key's name as typed, normalised into OUT (SPFDB_KEY_NAME_MAX + 1
 * bytes): CTL_OK, or CTL_USAGE naming it (cmd_key.c). */
ctl_status ctl_key_arg(const char *s, char *out);

/* ---- out.c -------------------------------------------------------------- */

void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Print "spfdb-ctl: ..." on stderr now (before any transaction). */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Quote a user token for a message: printable ASCII kept, the rest \xHH,
 * long tokens cut; BUF of at least CTL_QUOTE_MAX bytes. */
#define CTL_QUOTE_MAX 160
const char *ctl_quote(const char *s, size_t len, char *buf);
/* S with bytes outside printable ASCII, and '\', as \xHH, so that a line
 * stays a line: into DST of CAP bytes (cut there; 4 a byte of S and 1
 * hold it all), returning its length; or into F. */
size_t ctl_escape(char *dst, size_t cap, const char *s);
void ctl_put_escaped(FILE *f, const char *s);
/* T (seconds since 1970) as "2026-11-23T10:00:00Z" into BUF, or "?". */
#define CTL_UTC_MAX 32
const char *ctl_utc(int64_t t, char *buf);
/* S as a JSON string: quoted, escaped; invalid UTF-8 becomes U+FFFD. */
void ctl_json_str(FILE *f, const char *s);
/* The same, but null for "". */
void ctl_json_str_or_null(FILE *f, const char *s);
/* Output is never written to stdout while a read transaction is open: a
 * reader that stops reading (spfdb-ctl list | less) would pin the snapshot,
 * and the file grows under every later write.  A listing prints into a
 * ctl_mem inside its transaction and emits it after closing the
 * transaction (log: in chunks, each from its own short transaction). */
struct ctl_mem {
    FILE *f;
    char *p;
    size_t len;
};
/* CTL_OK, or CTL_DB (message printed). */
ctl_status ctl_mem_open(struct ctl_mem *m);
/* Close M and write what it holds to stdout: CTL_OK, or CTL_DB. */
ctl_status ctl_mem_emit(struct ctl_mem *m);
/* Close M, discarding it. */
void ctl_mem_drop(struct ctl_mem *m);
/* Write P to stdout now (after what stdio holds): CTL_OK, or CTL_DB. */
ctl_status ctl_out(const char *p, size_t n);
/* Flush stdout; CTL_OK, or CTL_DB when the output could not be written
 * (silently for EPIPE: a reader that closes the pipe chose to; SIGPIPE is
 * ignored so that the run exits 3, or 4 after a commit, rather than by the
 * signal). */
ctl_status ctl_flush(void);

/* ---- ctl.c -------------------------------------------------------------- */

/* --help of the running command: prints its help, returns CTL_OK. */
ctl_status ctl_help(struct ctl *c);
/* A bad option or operand count: usage on stderr, returns CTL_USAGE. */
ctl_status ctl_usage(struct ctl *c);
/* Normalise an allocation name; CTL_OK or CTL_USAGE (message printed). */
ctl_status ctl_alloc_arg(const char *s, char *out);
/* Open c->args.dir: CTL_OK, or CTL_DB with the reason and path on stderr. */
ctl_status ctl_open(struct ctl *c);
/* Begin a read transaction: CTL_OK or CTL_DB (message printed). */
ctl_status ctl_read(struct ctl *c, spfdb_txn **txn);
/* A transaction's result R (0, SPFDB_E*, CTL_REFUSED, CTL_DAMAGED) as the
 * exit status: a database error is printed with the path (CTL_DB); else
 * c->err (notes, warnings, the refusal) goes to stderr, and a refusal is
 * CTL_USAGE, damage CTL_DB. */
ctl_status ctl_txn_status(struct ctl *c, int r);
/* Called first in every write callback: forget a previous run's output. */
void ctl_txn_start(struct ctl *c);
/* Run FN in one write transaction; print c->out and c->err after a commit,
 * or only c->err after a refusal.  Returns the exit status; a commit that
 * changed something sets c->committed (a run that changed nothing has no
 * change to report lost: ctl_exit gives 3, not 4). */
ctl_status ctl_write(struct ctl *c, spfdb_write_fn fn, void *arg);
/* The exit status of a run that ended with S, stdout flushed: once a change
 * is committed, a failure can only be its report's (stdout full or closed,
 * out of memory), and a retry would repeat the change or be refused; that
 * is CTL_UNREPORTED, with a line saying so on stderr. */
ctl_status ctl_exit(struct ctl *c, ctl_status s);
/* Inside a transaction: "spfdb-ctl: " FMT into c->err; returns CTL_REFUSED. */
int ctl_refuse(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Inside a transaction: a stored WHAT (of OWNER) that breaks SPEC §2,
 * named with VALUE escaped (SPEC §3) into c->err; returns CTL_DAMAGED. */
int ctl_damaged(struct ctl *c, const char *owner, const char *what, const char *value);
/* Inside a transaction: look up allocation NAME; 0, CTL_REFUSED when it
 * does not exist, or a negative SPFDB_E* code. */
int ctl_alloc_lookup(struct ctl *c, spfdb_txn *txn, const char *name, struct spfdb_alloc *a);
/* Inside a transaction: R, spfdb_alloc_set_members's result for
 * allocation NAME with WHY, in words: CTL_REFUSED with the reason (AT,
 * e.g. "stdin line 3: ", before it) in c->err; R itself when it is no
 * refusal. */
int ctl_members_refused(struct ctl *c, const char *at, const char *name, int r,
                        const struct spfdb_why *why);
/* Inside a transaction: the allocations that have allocation ID as a
 * member, "'a', 'b'" into B (empty when none); 0 or an SPFDB_E* code. */
int ctl_parents(spfdb_txn *txn, uint32_t id, struct buf *b, unsigned *n);
/* R, the result of a library call on zone NAME, with SPFDB_ENOTFOUND
 * turned into CTL_REFUSED ("not served"). */
int ctl_zone_found(struct ctl *c, int r, const char *name);
/* How a zone lies to another (SPFDB_RULE_XFR_NEST's value, rules.h), in
 * words: "is", "lies below", "lies above". */
const char *ctl_nest_words(uint32_t how);
/* A listing being made (ctl_mem above): into F, inside read transaction
 * TXN, which ends before the listing is written.  N is -1 for text, else
 * the count of JSON array items printed so far. */
struct ctl_list {
    FILE *f;
    int n;
    spfdb_txn *txn;
    struct ctl_mem m;
};
/* Begin a listing (JSON or text): CTL_OK, or CTL_DB and nothing open. */
ctl_status ctl_list_begin(struct ctl *c, struct ctl_list *l, int json);
/* Close the transaction; on R 0 write the listing, else drop it.  Returns
 * the exit status, of R too. */
ctl_status ctl_list_end(struct ctl *c, struct ctl_list *l, int r);
/* A listing command without operands (zone list, allocation list): WALK
 * prints each item (--json: a JSON array). */
typedef int (*ctl_walk_fn)(spfdb_txn *txn, struct ctl_list *l);
ctl_status ctl_list(struct ctl *c, const struct ctl_args *a, ctl_walk_fn walk);

#endif
