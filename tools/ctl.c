/* The database session of one spfdb-ctl run (ctl.h): opening the
 * directory, read and write transactions, the one conversion of library
 * results into exit statuses, and the help and usage of the running
 * command. */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

ctl_status ctl_help(struct ctl *c)
{
    fputs(c->cmd->help, stdout);
    fputs("Every command also takes --db DIR (the database directory) and --help.\n", stdout);
    return ctl_flush();
}

ctl_status ctl_usage(struct ctl *c)
{
    size_t n = strcspn(c->cmd->help, "\n");

    fprintf(stderr, "%.*s\nTry 'spfdb-ctl %s --help'.\n", (int)n, c->cmd->help, c->cmd->name);
    return CTL_USAGE;
}

ctl_status ctl_alloc_arg(const char *s, char *out)
{
    char msg[200], q[CTL_QUOTE_MAX];

    if (spfdb_alloc_name_norm(s, out, SPFDB_LABEL_MAX + 1, msg, sizeof msg) != 0) {
        ctl_err("bad allocation name %s: %s", ctl_quote(s, strlen(s), q), msg);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* The one place a library error becomes an exit status. */
static ctl_status db_failed(const struct ctl *c, int err)
{
    const char *d = c->args.dir;
    char desc[2 * 4 * SPFDB_NAME_MAX + 64];

    /* the name comes escaped from the library (SPEC §3) */
    if (err == SPFDB_EBADNAME && c->env && spfdb_env_damage(c->env, desc, sizeof desc)) {
        ctl_err("%s: the stored %s is not valid: the database is damaged; restore it from a "
                "backup", d, desc);
        return CTL_DB;
    }
    ctl_err("%s: %s", d, spfdb_strerror(err));
    if (err == SPFDB_EACCES || err == SPFDB_EUNSAFE)
        ctl_err("hint: the layout is the directory root:spfdb 0750, data.mdb "
                "root:spfdb-admin 0664 and lock.mdb root:spfdb 0660 (operators in both "
                "groups): chown root:spfdb %s && chmod 0750 %s && chown root:spfdb-admin "
                "%s/data.mdb && chmod 0664 %s/data.mdb && chown root:spfdb %s/lock.mdb && "
                "chmod 0660 %s/lock.mdb; a private database: chmod go-w %s",
                d, d, d, d, d, d, d);
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

/* The LMDB permission trap: every reader needs write access to lock.mdb,
 * and spfdbd reads data.mdb: both through the directory's group (the
 * readers'), data.mdb as its group or as "other" (only that group reaches
 * it through the directory).  Warn whoever else runs spfdb-ctl when a
 * file stops them. */
static void check_sharing(const struct ctl *c)
{
    static const char *const names[] = {"data.mdb", "lock.mdb"};
    struct stat dst, st;
    char path[4096], bad[2 * 4096 + 2] = "";
    struct group gr, *g = NULL;
    char gbuf[4096], gname[32];

    if (stat(c->args.dir, &dst) != 0 || geteuid() == dst.st_uid)
        return;
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", c->args.dir, names[i]);
        if (stat(path, &st) != 0)
            continue;
        int ok = i == 0 ? (st.st_mode & 0004) || (st.st_gid == dst.st_gid && (st.st_mode & 0040))
                        : st.st_gid == dst.st_gid && (st.st_mode & 0060) == 0060;
        if (!ok)
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s%s", *bad ? " " : "", path);
    }
    if (!*bad)
        return;
    if (getgrgid_r(dst.st_gid, &gr, gbuf, sizeof gbuf, &g) != 0 || !g)
        snprintf(gname, sizeof gname, "%lu", (unsigned long)dst.st_gid);
    ctl_err("warning: %s not usable by group %s of %s: spfdbd may fail to open the database "
            "(lock.mdb must be read-writable by that group, data.mdb readable); see "
            "spfdb-ctl(8) FILES", bad, g ? g->gr_name : gname, c->args.dir);
}

ctl_status ctl_open(struct ctl *c)
{
    struct stat st;
    int err;

    /* Check first so that a typo never reaches the code that creates files. */
    if (stat(c->args.dir, &st) != 0) {
        if (errno == ENOENT) {
            ctl_err("%s: database directory does not exist; create it first "
                    "(e.g. install -d -m 0750 -g spfdb %s)",
                    c->args.dir, c->args.dir);
            return CTL_DB;
        }
        ctl_err("%s: %s", c->args.dir, strerror(errno));
        return CTL_DB;
    }
    if (!S_ISDIR(st.st_mode)) {
        ctl_err("%s: not a directory", c->args.dir);
        return CTL_DB;
    }
    err = spfdb_env_open(c->args.dir, &c->env);
    if (err == 0 && c->cmd->writes == CTL_WRITES)
        err = set_origin(c);
    if (err != 0)
        return db_failed(c, err);
    check_sharing(c);
    return CTL_OK;
}

ctl_status ctl_read(struct ctl *c, spfdb_txn **txn)
{
    ctl_status s = ctl_open(c);
    int err;

    if (s != CTL_OK)
        return s;
    if ((err = spfdb_txn_read(c->env, txn)) != 0)
        return db_failed(c, err);
    return CTL_OK;
}

ctl_status ctl_txn_status(struct ctl *c, int r)
{
    /* A data change on a replica that ctl_write did not see coming: as
     * bad input, with the library's words */
    if (r == SPFDB_EREPLICA)
        r = ctl_refuse(c, "%s", spfdb_strerror(r));
    if (r < 0)
        return db_failed(c, r);
    if (c->out.oom || c->err.oom)
        return db_failed(c, SPFDB_ENOMEM);
    if (c->err.len)
        fwrite(c->err.p, 1, c->err.len, stderr);
    return r == 0 ? CTL_OK : r == CTL_DAMAGED ? CTL_DB : CTL_USAGE;
}

void ctl_txn_start(struct ctl *c)
{
    c->out.len = c->err.len = 0;
    c->out.oom = c->err.oom = 0;
}

/* A data command's transaction on a database that follows a primary:
 * refused, naming it (SPEC §5), whatever the command would have found. */
static int replica_refused(struct ctl *c, spfdb_txn *txn)
{
    struct spfdb_primary p;
    struct buf addrs = {0};
    int r = spfdb_primary_get(txn, &p);

    if (r == SPFDB_ENOTFOUND)
        return 0;
    if (r != 0)
        return r;
    for (unsigned i = 0; i < p.n_addr; i++)
        buf_printf(&addrs, "%s%s", i ? ", " : "", p.addr[i]);
    ctl_txn_start(c);
    r = addrs.oom ? SPFDB_ENOMEM
                  : ctl_refuse(c, "this database is a replica of %s (transfer zone %s); make "
                               "changes on the primary", addrs.p, p.zone);
    free(addrs.p);
    return r;
}

struct guarded {
    struct ctl *c;
    spfdb_write_fn fn;
    void *arg;
};

static int guarded_txn(spfdb_txn *txn, void *arg)
{
    struct guarded *g = arg;
    int r = replica_refused(g->c, txn);

    return r ? r : g->fn(txn, g->arg);
}

ctl_status ctl_write(struct ctl *c, spfdb_write_fn fn, void *arg)
{
    struct guarded g = {c, fn, arg};
    ctl_status s = ctl_open(c);

    if (s == CTL_OK) {
        int r = c->cmd->writes == CTL_WRITES
                    ? spfdb_write_ex(c->env, guarded_txn, &g, &c->committed)
                    : spfdb_write_ex(c->env, fn, arg, &c->committed);
        s = ctl_txn_status(c, r);
    }
    if (s == CTL_OK)
        s = ctl_out(c->out.p, c->out.len);
    return s;
}

ctl_status ctl_exit(struct ctl *c, ctl_status s)
{
    if (s == CTL_OK)
        s = ctl_flush();
    if (s == CTL_OK || !c->committed)
        return s;
    /* the settings' quiet commits are not in the log */
    ctl_err("the change was committed, but its report could not be written: "
            "do not retry it%s", c->cmd->writes == CTL_SETTINGS ? "" : " (see 'spfdb-ctl log')");
    return CTL_UNREPORTED;
}

int ctl_refuse(struct ctl *c, const char *fmt, ...)
{
    va_list ap;

    buf_printf(&c->err, "spfdb-ctl: ");
    va_start(ap, fmt);
    buf_vprintf(&c->err, fmt, ap);
    va_end(ap);
    buf_printf(&c->err, "\n");
    return CTL_REFUSED;
}

int ctl_damaged(struct ctl *c, const char *owner, const char *what, const char *value)
{
    char esc[4 * SPFDB_NAME_MAX + 1];

    ctl_escape(esc, sizeof esc, value);
    buf_printf(&c->err, "spfdb-ctl: %s: the stored %s \"%s\" is not valid: the "
               "database is damaged; restore it from a backup\n", owner, what, esc);
    return CTL_DAMAGED;
}

int ctl_alloc_lookup(struct ctl *c, spfdb_txn *txn, const char *name, struct spfdb_alloc *a)
{
    int err = spfdb_alloc_get(txn, name, a);

    if (err == SPFDB_ENOTFOUND)
        return ctl_refuse(c, "unknown allocation '%s' (see 'spfdb-ctl allocation list')", name);
    return err;
}

int ctl_members_refused(struct ctl *c, const char *at, const char *name, int r,
                        const struct spfdb_why *why)
{
    char q[CTL_QUOTE_MAX];
    const char *o = why->other;

    /* the names come from the command line or the database: quoted */
    ctl_quote(o, strlen(o), q);
    if (r == SPFDB_ENOTFOUND && *o && strcmp(o, name) != 0)
        return ctl_refuse(c, "%sunknown allocation %s given as a member of '%s' (see "
                          "'spfdb-ctl allocation list')", at, q, name);
    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(c, "%sunknown allocation '%s' (see 'spfdb-ctl allocation list')",
                          at, name);
    if (r == SPFDB_EINVAL && why->rule == SPFDB_RULE_MEMBER_COUNT)
        return ctl_refuse(c, "%sallocation '%s' would have %u members; an allocation has at "
                          "most %u", at, name, why->value, why->limit);
    if (r == SPFDB_EINVAL && why->rule == SPFDB_RULE_ALLOC_NAME)
        return ctl_refuse(c, "%sbad allocation name %s: %s", at, q, why->msg);
    if (r == SPFDB_ERULE && why->rule == SPFDB_RULE_MEMBER_SELF)
        return ctl_refuse(c, "%sallocation '%s' cannot be a member of itself", at, name);
    if (r == SPFDB_ERULE && why->rule == SPFDB_RULE_MEMBER_NESTED)
        return ctl_refuse(c, "%s%s cannot be a member of '%s': it has members of its own "
                          "(members have none: one level)", at, q, name);
    if (r == SPFDB_ERULE && why->rule == SPFDB_RULE_MEMBER_OF)
        return ctl_refuse(c, "%sallocation '%s' is a member of %s, so it cannot have members "
                          "(one level)", at, name, q);
    if (r == SPFDB_EINVAL || r == SPFDB_ERULE)
        return ctl_refuse(c, "%scannot set the members of allocation '%s': %s", at, name,
                          spfdb_strerror(r));
    return r;
}

struct parents {
    struct buf *b;
    unsigned n;
};

static int add_parent(const struct spfdb_alloc *a, void *arg)
{
    struct parents *p = arg;

    buf_printf(p->b, "%s'%s'", p->n++ ? ", " : "", a->name);
    return p->b->oom ? SPFDB_ENOMEM : 0;
}

int ctl_parents(spfdb_txn *txn, uint32_t id, struct buf *b, unsigned *n)
{
    struct parents p = {b, 0};
    int r = spfdb_alloc_parents(txn, id, add_parent, &p);

    *n = p.n;
    return r;
}

int ctl_zone_found(struct ctl *c, int r, const char *name)
{
    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(c, "zone %s is not served (see 'spfdb-ctl zone list')", name);
    return r;
}

const char *ctl_nest_words(uint32_t how)
{
    return how == SPFDB_NEST_SAME ? "is" : how == SPFDB_NEST_BELOW ? "lies below" : "lies above";
}

ctl_status ctl_list_begin(struct ctl *c, struct ctl_list *l, int json)
{
    ctl_status s = ctl_mem_open(&l->m);

    l->f = l->m.f;
    l->n = json ? 0 : -1;
    if (s == CTL_OK && (s = ctl_read(c, &l->txn)) != CTL_OK)
        ctl_mem_drop(&l->m);
    return s;
}

ctl_status ctl_list_end(struct ctl *c, struct ctl_list *l, int r)
{
    spfdb_txn_close(l->txn);
    if (r == 0)
        return ctl_mem_emit(&l->m);
    ctl_mem_drop(&l->m);
    return ctl_txn_status(c, r);
}

ctl_status ctl_list(struct ctl *c, const struct ctl_args *a, ctl_walk_fn walk)
{
    struct ctl_list l;
    ctl_status s = ctl_list_begin(c, &l, a->json);
    int r;

    if (s != CTL_OK)
        return s;
    fputs(a->json ? "[" : "", l.f);
    r = walk(l.txn, &l);
    if (r == 0)
        fputs(a->json ? "\n]\n" : "", l.f);
    return ctl_list_end(c, &l, r);
}
