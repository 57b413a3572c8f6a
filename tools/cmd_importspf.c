/* import-spf (SPEC §3): a customer's published SPF record, resolved with
 * the system resolver, as entries of an allocation.
 *
 * spfeval.c decides which addresses the record passes; this file gives it
 * the resolver (libresolv, one res_state per run), prints what it found,
 * and hands the prefixes to add or replace, so that the change is made,
 * reported and logged exactly as those commands do it.  Every lookup
 * happens before the one transaction: a failure imports nothing. */
#define _GNU_SOURCE /* memfd_create */
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctl.h"
#include "spfeval.h"

struct resolver {
    struct __res_state st;
    unsigned char buf[NS_MAXMSG];
};

static int malformed(char *msg, size_t cap)
{
    snprintf(msg, cap, "malformed answer");
    return SPFEVAL_ETEMP;
}

/* One record of the answer, of TYPE, into OUT. */
static int add_rr(const ns_msg *m, const ns_rr *rr, int type, struct spfeval_rrset *out,
                  char *msg, size_t cap)
{
    const unsigned char *d = ns_rr_rdata(*rr), *e = d + ns_rr_rdlen(*rr);
    char text[NS_MAXMSG];
    size_t n = 0;

    switch (type) {
    case SPFEVAL_A:
    case SPFEVAL_AAAA:
        if ((size_t)(e - d) != (type == SPFEVAL_A ? 4u : 16u))
            return malformed(msg, cap);
        return spfeval_rr_add(out, d, (size_t)(e - d));
    case SPFEVAL_TXT: /* its strings joined (RFC 7208 §3.3) */
        while (d < e) {
            size_t l = *d++;
            if (l > (size_t)(e - d))
                return malformed(msg, cap);
            memcpy(text + n, d, l);
            n += l;
            d += l;
        }
        return spfeval_rr_add(out, text, n);
    case SPFEVAL_MX:
        if (e - d < 3 || ns_name_uncompress(ns_msg_base(*m), ns_msg_end(*m), d + 2, text,
                                            sizeof text) < 0)
            return malformed(msg, cap);
        n = strlen(text);
        if (n && text[n - 1] == '.')
            n--;
        return spfeval_rr_add(out, text, n);
    default:
        return 0;
    }
}

/* The lookup of spfeval.h, by the system resolver. */
static int resolve(void *ctx, const char *name, int type, struct spfeval_rrset *out, char *msg,
                   size_t cap)
{
    struct resolver *rs = ctx;
    int len = res_nquery(&rs->st, name, ns_c_in, type, rs->buf, sizeof rs->buf);
    ns_msg m;

    if (len < 0) {
        switch (rs->st.res_h_errno) {
        case HOST_NOT_FOUND:
            return SPFEVAL_NXDOMAIN;
        case NO_DATA:
            return SPFEVAL_FOUND;
        default:
            snprintf(msg, cap, "%s", hstrerror(rs->st.res_h_errno));
            return SPFEVAL_ETEMP;
        }
    }
    if (ns_initparse(rs->buf, len, &m) < 0)
        return malformed(msg, cap);
    for (int k = 0; k < ns_msg_count(m, ns_s_an); k++) {
        ns_rr rr;
        int r;
        if (ns_parserr(&m, ns_s_an, k, &rr) < 0)
            return malformed(msg, cap);
        if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in)
            continue; /* the CNAMEs on the way */
        if ((r = add_rr(&m, &rr, type, out, msg, cap)) != 0)
            return r;
    }
    return SPFEVAL_FOUND;
}

static void print_lines(const char *what, const struct spfeval_lines *l)
{
    for (size_t k = 0; k < l->n; k++) {
        fprintf(stderr, "spfdb-ctl: %s", what);
        ctl_put_escaped(stderr, l->v[k]);
        fputc('\n', stderr);
    }
}

struct precheck {
    struct ctl *c;
    const char *name;
};

static int precheck_txn(spfdb_txn *txn, void *arg)
{
    struct precheck *p = arg;
    struct spfdb_alloc al;

    ctl_txn_start(p->c);
    return ctl_alloc_lookup(p->c, txn, p->name, &al);
}

/* Before any lookup (fail fast): does allocation NAME exist, and, unless a
 * dry run, may this database change (a replica refuses first, SPEC §5)?
 * An empty write transaction commits nothing. */
static ctl_status precheck(struct ctl *c, const char *name, int dry_run)
{
    struct precheck p = {c, name};
    spfdb_txn *txn;
    ctl_status s;

    if (!dry_run) {
        s = ctl_write(c, precheck_txn, &p);
    } else if ((s = ctl_read(c, &txn)) == CTL_OK) {
        int r = precheck_txn(txn, &p);
        spfdb_txn_close(txn);
        s = ctl_txn_status(c, r);
    }
    /* closed: add and replace open the database themselves */
    if (c->env) {
        spfdb_env_close(c->env);
        c->env = NULL;
    }
    return s;
}

/* --replace: the prefixes become replace's standard input. */
static ctl_status do_replace(struct ctl *c, const struct ctl_args *a, const struct spfeval *ev)
{
    struct ctl_args b = *a;
    char *argv[] = {(char *)"-", NULL};
    int fd = memfd_create("import-spf", MFD_CLOEXEC);
    FILE *f;

    if (fd < 0 || !(f = fdopen(fd, "w+"))) {
        ctl_err("cannot hold the prefixes: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return CTL_DB;
    }
    for (size_t k = 0; k < ev->n_prefixes; k++) {
        char p[SPFDB_PREFIX_STRLEN];
        spfdb_prefix_format(&ev->prefixes[k], p, sizeof p);
        fprintf(f, "%s\n", p);
    }
    if (fflush(f) != 0 || ferror(f) || lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) != 0) {
        ctl_err("cannot hold the prefixes: %s", strerror(errno));
        fclose(f);
        return CTL_DB;
    }
    fclose(f);
    b.argc = 1;
    b.argv = argv;
    return cmd_replace(c, &b);
}

/* Without --replace: the prefixes are added, as add does. */
static ctl_status do_add(struct ctl *c, const struct ctl_args *a, const struct spfeval *ev)
{
    struct ctl_args b = *a;
    char **argv, *text;
    ctl_status r;

    if (ev->n_prefixes == 0) { /* add needs one; the result is the same */
        fputs("added 0, skipped 0\n", stdout);
        return ctl_flush();
    }
    argv = calloc(ev->n_prefixes + 1, sizeof *argv);
    text = malloc(ev->n_prefixes * SPFDB_PREFIX_STRLEN);
    if (!argv || !text) {
        free(argv);
        free(text);
        ctl_err("out of memory");
        return CTL_DB;
    }
    for (size_t k = 0; k < ev->n_prefixes; k++) {
        argv[k] = text + k * SPFDB_PREFIX_STRLEN;
        spfdb_prefix_format(&ev->prefixes[k], argv[k], SPFDB_PREFIX_STRLEN);
    }
    b.argc = (int)ev->n_prefixes;
    b.argv = argv;
    r = cmd_add(c, &b);
    free(argv);
    free(text);
    return r;
}

ctl_status cmd_import_spf(struct ctl *c, const struct ctl_args *a)
{
    struct resolver *rs;
    struct spfeval ev = {0};
    ctl_status s;
    int r;

    if (ctl_given(a, OPT_ALLOW_EMPTY) && !a->replace) {
        ctl_err("--allow-empty needs --replace");
        return ctl_usage(c);
    }
    if ((s = precheck(c, a->alloc, a->dry_run)) != CTL_OK)
        return s;
    if (!(rs = calloc(1, sizeof *rs))) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    if (res_ninit(&rs->st) != 0) {
        ctl_err("cannot set up the system resolver (/etc/resolv.conf)");
        free(rs);
        return CTL_USAGE;
    }
    ev.lookup = resolve;
    ev.ctx = rs;
    r = spfeval_run(&ev, a->argv[0]);
    res_nclose(&rs->st);
    free(rs);
    if (r != 0) {
        char q[CTL_QUOTE_MAX];
        /* the record's words are the publisher's: escaped */
        fputs("spfdb-ctl: ", stderr);
        ctl_put_escaped(stderr, ev.error);
        fprintf(stderr, "\nspfdb-ctl: %s: nothing imported\n",
                ctl_quote(a->argv[0], strlen(a->argv[0]), q));
        spfeval_free(&ev);
        return r == SPFEVAL_ENOMEM ? CTL_DB : CTL_USAGE;
    }
    print_lines("note: ", &ev.notes);
    print_lines("cannot import ", &ev.unimportable);
    if (ev.needs_force && !a->force) {
        char q[CTL_QUOTE_MAX];
        ctl_err("%s: a term it cannot import comes before a pass term, or +all is reached: "
                "the entries would pass more than the record does; nothing imported (--force "
                "imports the rest)",
                ctl_quote(a->argv[0], strlen(a->argv[0]), q));
        spfeval_free(&ev);
        return CTL_USAGE;
    }
    if (a->dry_run && !a->replace) {
        for (size_t k = 0; k < ev.n_prefixes; k++) {
            char p[SPFDB_PREFIX_STRLEN];
            spfdb_prefix_format(&ev.prefixes[k], p, sizeof p);
            printf("%s\n", p);
        }
        s = ctl_flush();
        if (s == CTL_OK)
            fprintf(stderr, "spfdb-ctl: dry run: nothing changed\n");
    } else {
        s = a->replace ? do_replace(c, a, &ev) : do_add(c, a, &ev);
    }
    spfeval_free(&ev);
    return s;
}
