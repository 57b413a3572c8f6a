/* spfdb-ctl: the admin tool (SPEC §3).  main() parses the options before
 * the command word, finds the command's row (commands.c), parses the
 * common options and the row's own in one getopt pass into struct
 * ctl_args, checks the operands against the row, and runs its handler,
 * whose status is the exit status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "stdfds.h"

#ifndef SPFDB_VERSION
#define SPFDB_VERSION "unknown"
#endif
#define DEFAULT_DB "/var/lib/spfdb"

static const char main_usage[] =
    "usage: spfdb-ctl [--db DIR] COMMAND [ARGS]\n"
    "       spfdb-ctl help COMMAND | COMMAND --help\n"
    "  --db DIR    the database directory (default: $SPFDB_DB, else " DEFAULT_DB ");\n"
    "              it must exist; an empty directory becomes a new database\n"
    "  --version   print the version\n"
    "Exit status: 0 ok, 1 not listed (check), 2 bad input or usage,\n"
    "3 the database cannot be opened, locked, read or written (nothing changed),\n"
    "4 the change was committed but its report could not be written (do not retry).\n"
    "Commands:\n";

/* The options before the command word, and those every command takes
 * after its own. */
static const enum ctl_optid main_opts[] = {OPT_DB, OPT_HELP, OPT_VERSION, OPT_END};
static const enum ctl_optid common_opts[] = {OPT_DB, OPT_HELP, OPT_END};

/* Parse options IDS (in this order for getopt: it names the candidates
 * of an ambiguous abbreviation in it) from ARGV into c->args, each through
 * its ctl_options row.  MODE "+" stops at the first operand (the command
 * word); "" lets options follow operands.  CTL_OK with the operands from
 * argv[optind]; CTL_HELP; or CTL_USAGE, said: by getopt with the usage of
 * c->cmd (or the main usage before a command), or by the option's setter. */
static ctl_status parse_options(struct ctl *c, const enum ctl_optid *ids, const char *mode,
                                int argc, char **argv)
{
    struct option lo[OPT_COUNT + 1];
    char shorts[OPT_COUNT + 2];
    size_t n, s = strlen(mode);
    int ch;

    memcpy(shorts, mode, s);
    for (n = 0; ids[n] != OPT_END; n++) {
        const struct ctl_opt *o = &ctl_options[ids[n]];
        lo[n] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL,
                                (int)ids[n]};
        if (o->shortname)
            shorts[s++] = o->shortname;
    }
    lo[n] = (struct option){NULL, 0, NULL, 0};
    shorts[s] = '\0';
    /* glibc: optind 0 re-initialises getopt (with permutation on unless
     * MODE says "+"). */
    optind = 0;
    while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        enum ctl_optid id = OPT_END;
        for (size_t k = 0; k < n && id == OPT_END; k++)
            if (ch == (int)ids[k] || (ch && ch == ctl_options[ids[k]].shortname))
                id = ids[k];
        if (id == OPT_END) { /* getopt has said why */
            if (c->cmd)
                return ctl_usage(c);
            fprintf(stderr, "%sTry 'spfdb-ctl --help'.\n", main_usage);
            return CTL_USAGE;
        }
        const struct ctl_opt *o = &ctl_options[id];
        void *field = (char *)&c->args + o->field;
        ctl_status r = CTL_OK;

        c->args.given |= 1u << id;
        if (o->set)
            r = o->set(field, optarg);
        else
            *(int *)field = 1;
        if (r != CTL_OK)
            return r;
    }
    return CTL_OK;
}

static void list_commands(FILE *f, const char *group)
{
    size_t gl = group ? strlen(group) : 0;

    for (size_t i = 0; i < ctl_n_commands; i++)
        if (!group || (strncmp(ctl_commands[i].name, group, gl) == 0 && ctl_commands[i].name[gl] == ' '))
            fprintf(f, "  %-18s %s\n", ctl_commands[i].name, ctl_commands[i].summary);
}

/* Find the command named by the first one or two words of ARGV; *WORDS is
 * set to how many it used.  NULL when none matches. */
static const struct ctl_cmd *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < ctl_n_commands; i++) {
        const char *n = ctl_commands[i].name, *sp = strchr(n, ' ');
        if (!sp && strcmp(n, argv[0]) == 0) {
            *words = 1;
            return &ctl_commands[i];
        }
        if (sp && argc >= 2 && strncmp(n, argv[0], (size_t)(sp - n)) == 0 &&
            argv[0][sp - n] == '\0' && strcmp(sp + 1, argv[1]) == 0) {
            *words = 2;
            return &ctl_commands[i];
        }
    }
    return NULL;
}

/* A group word ("zone", "allocation") without a known subcommand. */
static int is_group(const char *w)
{
    size_t wl = strlen(w);

    for (size_t i = 0; i < ctl_n_commands; i++)
        if (strncmp(ctl_commands[i].name, w, wl) == 0 && ctl_commands[i].name[wl] == ' ')
            return 1;
    return 0;
}

static ctl_status group_usage(const char *group, int argc, char **argv)
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

static ctl_status main_help(void)
{
    fputs(main_usage, stdout);
    list_commands(stdout, NULL);
    return ctl_flush();
}

/* `spfdb-ctl help [COMMAND]` */
static ctl_status help_command(struct ctl *c, int argc, char **argv)
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

/* Run the command c->cmd, named by ARGV[0] (its first word): its options
 * (its own, then --db and --help), its operands, its handler. */
static ctl_status run_command(struct ctl *c, int argc, char **argv)
{
    const struct ctl_cmd *cmd = c->cmd;
    enum ctl_optid ids[OPT_COUNT + 1];
    struct ctl_args *a = &c->args;
    size_t n = 0;
    char name[64];
    ctl_status r;

    for (const unsigned *p = cmd->opts; *p != OPT_END; p++)
        ids[n++] = (enum ctl_optid)(*p & ~OPT_REQUIRED);
    for (const enum ctl_optid *p = common_opts; *p != OPT_END; p++)
        ids[n++] = *p;
    ids[n] = OPT_END;
    /* getopt names the command in its messages: "spfdb-ctl zone add: ..." */
    snprintf(name, sizeof name, "spfdb-ctl %s", cmd->name);
    argv[0] = name;
    r = parse_options(c, ids, "", argc, argv);
    if (r == CTL_HELP)
        return ctl_help(c);
    if (r != CTL_OK)
        return r;
    a->argc = argc - optind;
    a->argv = argv + optind;
    for (size_t k = 0; cmd->opts[k] != OPT_END; k++)
        if ((cmd->opts[k] & OPT_REQUIRED) && !ctl_given(a, ids[k])) {
            ctl_err("%s needs --%s %s", cmd->name, ctl_options[ids[k]].name,
                    ctl_options[ids[k]].arg);
            return ctl_usage(c);
        }
    if (a->argc < cmd->operands[0] || (cmd->operands[1] >= 0 && a->argc > cmd->operands[1]))
        return ctl_usage(c);
    return cmd->fn(c, a);
}

static ctl_status run(struct ctl *c, int argc, char **argv)
{
    const char *env = getenv("SPFDB_DB");
    int words;
    ctl_status r;

    c->args.dir = env && *env ? env : DEFAULT_DB;
    strcpy(c->args.alloc, "default");
    r = parse_options(c, main_opts, "+", argc, argv);
    if (r == CTL_HELP && c->args.version) {
        printf("spfdb-ctl %s (%s)\n", SPFDB_VERSION, spfdb_lmdb_version());
        return ctl_flush();
    }
    if (r == CTL_HELP)
        return main_help();
    if (r != CTL_OK)
        return r;
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
    return run_command(c, argc - (words - 1), argv + (words - 1));
}

int main(int argc, char **argv)
{
    struct ctl c;
    ctl_status r;

    if (spfdb_std_fds() != 0) {
        /* to a stderr that may be closed: nothing else is open to take it */
        ctl_err("cannot open /dev/null on a closed standard descriptor: %s", strerror(errno));
        return CTL_DB;
    }
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
    r = ctl_exit(&c, run(&c, argc, argv));
    free(c.argv);
    if (c.env)
        spfdb_env_close(c.env);
    free(c.out.p);
    free(c.err.p);
    return (int)r;
}
