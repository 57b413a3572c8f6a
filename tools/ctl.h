/* ctl.h: spfdb-ctl internals shared by its command files (SPEC §3).
 *
 * One struct ctl per run, no globals.  A command parses and validates all of
 * its input before its one transaction (or inside it, for checks that need
 * the data), so the first bad token exits 2 and the database is untouched.
 * spfdb_write() may run a write callback twice (map growth): a callback
 * first calls ctl_txn_start(), writes notes and output only into c->out and
 * c->err, and ctl_write() prints them once the commit has succeeded.
 *
 * Write callbacks return 0 to commit, CTL_USAGE (with the reason in c->err)
 * to abort on bad input, or a negative SPFDB_E* code on a database failure.
 */
#ifndef SPFDB_CTL_H
#define SPFDB_CTL_H

#include <getopt.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* Exit status (SPEC §3). */
enum {
    CTL_OK = 0,
    CTL_NOTLISTED = 1, /* only `check` */
    CTL_USAGE = 2,     /* bad input or usage */
    CTL_DB = 3         /* database cannot be opened, locked, read or written */
};

/* A growable text buffer with a sticky out-of-memory flag, checked once. */
struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

struct ctl;
typedef int (*ctl_fn)(struct ctl *c, int argc, char **argv);

/* One row of the command table (spfdb-ctl.c). */
struct ctl_cmd {
    const char *name;    /* "add", "zone add" */
    ctl_fn fn;
    const char *summary; /* one line, for `spfdb-ctl --help` */
    const char *help;    /* usage line, then options and output format */
};

struct ctl {
    int argc;                  /* the command line, for the change log */
    char **argv;
    const char *dir;           /* --db, $SPFDB_DB or the default */
    spfdb_env *env;            /* opened by ctl_open */
    const struct ctl_cmd *cmd; /* the running command */
    struct buf out, err;       /* output held back until the commit */
};

/* Long options every command accepts, and --json for the listings. */
enum { CTL_OPT_DB = 0x100, CTL_OPT_JSON, CTL_OPT_FIRST };
#define CTL_COMMON_OPTIONS                                                                 \
    {"db", required_argument, NULL, CTL_OPT_DB}, {"help", no_argument, NULL, 'h'}
#define CTL_JSON_OPTION {"json", no_argument, NULL, CTL_OPT_JSON}

/* Command handlers (cmd_entry.c, cmd_alloc.c, cmd_zone.c). */
int cmd_add(struct ctl *c, int argc, char **argv);
int cmd_del(struct ctl *c, int argc, char **argv);
int cmd_replace(struct ctl *c, int argc, char **argv);
int cmd_list(struct ctl *c, int argc, char **argv);
int cmd_check(struct ctl *c, int argc, char **argv);
int cmd_alloc_add(struct ctl *c, int argc, char **argv);
int cmd_alloc_del(struct ctl *c, int argc, char **argv);
int cmd_alloc_list(struct ctl *c, int argc, char **argv);
int cmd_zone_add(struct ctl *c, int argc, char **argv);
int cmd_zone_set(struct ctl *c, int argc, char **argv);
int cmd_zone_del(struct ctl *c, int argc, char **argv);
int cmd_zone_list(struct ctl *c, int argc, char **argv);
int cmd_log(struct ctl *c, int argc, char **argv);
int cmd_spf_record(struct ctl *c, int argc, char **argv);
int cmd_backup(struct ctl *c, int argc, char **argv);

/* spfdb-ctl.c */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "spfdb-ctl: ..." on stderr now (before any transaction). */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Quote a user token for a message: printable ASCII kept, the rest \xHH,
 * long tokens cut; BUF of at least CTL_QUOTE_MAX bytes. */
#define CTL_QUOTE_MAX 160
const char *ctl_quote(const char *s, size_t len, char *buf);
/* A getopt result that no command handles itself: --db (returns CTL_OK),
 * --help (-1), anything else (usage, CTL_USAGE). */
int ctl_common_opt(struct ctl *c, int o);
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
int ctl_mem_open(struct ctl_mem *m);
/* Close M and write what it holds to stdout: CTL_OK, or CTL_DB. */
int ctl_mem_emit(struct ctl_mem *m);
/* Close M, discarding it. */
void ctl_mem_drop(struct ctl_mem *m);
/* Write P to stdout now (after what stdio holds): CTL_OK, or CTL_DB. */
int ctl_out(const char *p, size_t n);
/* A listing being printed: into F; N is -1 for text, else the count of
 * JSON array items printed so far. */
struct ctl_list {
    FILE *f;
    int n;
};
/* A listing command without arguments (zone list, allocation list): WALK
 * prints each item in a read transaction.  Returns the exit status. */
typedef int (*ctl_walk_fn)(spfdb_txn *txn, struct ctl_list *l);
int ctl_list_cmd(struct ctl *c, int argc, char **argv, ctl_walk_fn walk);
/* S as a JSON string: quoted, escaped; invalid UTF-8 becomes U+FFFD. */
void ctl_json_str(FILE *f, const char *s);
/* The same, but null for "". */
void ctl_json_str_or_null(FILE *f, const char *s);
/* --help of the running command: prints its help, returns CTL_OK. */
int ctl_help(struct ctl *c);
/* A bad option or argument count: usage on stderr, returns CTL_USAGE. */
int ctl_usage(struct ctl *c);
/* Normalise an --allocation value; CTL_OK or CTL_USAGE (message printed). */
int ctl_alloc_arg(const char *s, char *out);
/* Open c->dir: CTL_OK, or CTL_DB with the reason and path on stderr. */
int ctl_open(struct ctl *c);
/* Begin a read transaction: CTL_OK or CTL_DB (message printed). */
int ctl_read(struct ctl *c, spfdb_txn **txn);
/* Report a database error code: prints it with the path, returns CTL_DB. */
int ctl_dberr(struct ctl *c, int err);
/* Called first in every write callback: forget a previous run's output. */
void ctl_txn_start(struct ctl *c);
/* Run FN in one write transaction; print c->out and c->err after a commit,
 * or only c->err after a CTL_USAGE abort.  Returns the exit status. */
int ctl_write(struct ctl *c, spfdb_write_fn fn, void *arg);
/* Inside a transaction: look up allocation NAME; CTL_USAGE with a message
 * in c->err when it does not exist, or a negative SPFDB_E* code. */
int ctl_alloc_lookup(struct ctl *c, spfdb_txn *txn, const char *name, struct spfdb_alloc *a);
/* Flush stdout; CTL_OK, or CTL_DB when the output could not be written
 * (silently for EPIPE: a reader that closes the pipe chose to; SIGPIPE is
 * ignored so that this exits 3 rather than by the signal). */
int ctl_flush(void);

#endif
