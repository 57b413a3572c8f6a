/* Key commands: key add, del, list (SPEC §5; the formats are in their
 * --help, commands.c).
 *
 * A TSIG key (hmac-sha256) is made of 32 random octets, or read from
 * standard input, never from the command line (ps and shell histories
 * show that); it is stored by a quiet commit (no change log record) and
 * printed once, after the commit, in the forms kdig -y, BIND and Knot
 * take.  No listing shows a secret, no message quotes one, and every
 * buffer that held one is wiped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nettle/base64.h>

#include "ctl.h"

#define ALG "hmac-sha256"
#define SECRET_NEW 32        /* a new key's octets: SHA-256's output (RFC 8945 §6.1) */
#define SECRET_TEXT_MAX 1024 /* what --secret - reads at most */
#define B64_MAX BASE64_ENCODE_RAW_LENGTH(SPFDB_SECRET_MAX)
#define FORMS "base64, or " ALG ":NAME:SECRET"

ctl_status ctl_key_arg(const char *s, char *out)
{
    char msg[200], q[CTL_QUOTE_MAX];
    struct spfdb_why why;

    if (spfdb_dns_name_norm(s, SPFDB_KEY_NAME_MAX, out, SPFDB_KEY_NAME_MAX + 1, msg,
                            sizeof msg) != 0) {
        ctl_err("bad key name %s: %s", ctl_quote(s, strlen(s), q), msg);
        return CTL_USAGE;
    }
    if (spfdb_key_name_check(out, &why) != 0) {
        ctl_err("bad key name %s: %s", ctl_quote(s, strlen(s), q), why.msg);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* --key NAME */
ctl_status opt_key(void *field, const char *arg)
{
    return ctl_key_arg(arg, field);
}

/* --secret -: any other argument may be the secret itself, so it is not
 * repeated. */
ctl_status opt_secret(void *field, const char *arg)
{
    if (strcmp(arg, "-") != 0) {
        ctl_err("--secret takes only '-': the secret is read from standard input, never "
                "from the command line (which ps and shell histories show)");
        return CTL_USAGE;
    }
    *(int *)field = 1;
    return CTL_OK;
}

/* ---- key add ------------------------------------------------------------ */

struct key_job {
    struct ctl *c;
    struct spfdb_key k;
};

/* S, N octets of canonical base64 (as base64_encode_raw writes it: padded,
 * no blanks, no stray bits), decoded into K's secret, whose length
 * *LENP: 0, or -1.  A secret too long for K is cut, *LENP says so. */
static int secret_decode(const char *s, size_t n, struct spfdb_key *k, size_t *lenp)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t out[BASE64_DECODE_LENGTH(SECRET_TEXT_MAX)];
    char again[BASE64_ENCODE_RAW_LENGTH(sizeof out) + 1];
    struct base64_decode_ctx ctx;
    size_t len = sizeof out, pad = 0;
    int ok;

    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    ok = n > 0 && n % 4 == 0 && n <= SECRET_TEXT_MAX;
    for (size_t i = 0; ok && i < n - pad; i++)
        ok = s[i] && strchr(alphabet, s[i]) != NULL;
    if (ok) {
        base64_decode_init(&ctx);
        ok = base64_decode_update(&ctx, &len, out, n, s) && base64_decode_final(&ctx);
    }
    if (ok) {
        base64_encode_raw(again, len, out);
        ok = BASE64_ENCODE_RAW_LENGTH(len) == n && memcmp(again, s, n) == 0;
    }
    *lenp = ok ? len : 0;
    k->secret_len = ok && len <= SPFDB_SECRET_MAX ? (unsigned)len : 0;
    if (ok)
        memcpy(k->secret, out, k->secret_len);
    explicit_bzero(out, sizeof out);
    explicit_bzero(again, sizeof again);
    return ok ? 0 : -1;
}

/* The secret given on standard input, one line: base64, or
 * ALG:NAME:SECRET as kdig -y takes it (the NAME K's, either case, a
 * trailing dot or not).  CTL_OK, or CTL_USAGE saying why. */
static ctl_status secret_parse(char *text, size_t n, struct spfdb_key *k)
{
    char given[SPFDB_NAME_MAX + 1], name[SPFDB_NAME_MAX + 1], q[CTL_QUOTE_MAX], msg[200];
    const char *s = text, *e = text + n, *c1, *c2;
    struct spfdb_why why;
    size_t len;

    while (s < e && strchr(" \t\r\n", *s))
        s++;
    while (e > s && strchr(" \t\r\n", e[-1]))
        e--;
    if (s == e) {
        ctl_err("no secret on standard input: expected " FORMS);
        return CTL_USAGE;
    }
    if (memchr(s, '\n', (size_t)(e - s))) {
        ctl_err("standard input holds more than one line: expected one key, " FORMS);
        return CTL_USAGE;
    }
    if ((c1 = memchr(s, ':', (size_t)(e - s))) != NULL) {
        if (!(c2 = memchr(c1 + 1, ':', (size_t)(e - c1 - 1)))) {
            ctl_err("the key on standard input is not " FORMS);
            return CTL_USAGE;
        }
        if ((size_t)(c1 - s) != strlen(ALG) || strncasecmp(s, ALG, strlen(ALG)) != 0) {
            /* named only when it cannot be a secret (24 characters at least) */
            size_t alen = (size_t)(c1 - s);
            int named = alen <= 16 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == alen;
            ctl_err("key algorithm %s on standard input: spfdb signs with " ALG " only",
                    named ? ctl_quote(s, alen, q) : "(not shown)");
            return CTL_USAGE;
        }
        /* the name, as a key name is given on the command line */
        snprintf(given, sizeof given, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
        if (spfdb_dns_name_norm(given, SPFDB_KEY_NAME_MAX, name, sizeof name, msg, sizeof msg) != 0 ||
            strcmp(name, k->name) != 0) {
            ctl_err("the key on standard input is named %s, not %s",
                    ctl_quote(c1 + 1, (size_t)(c2 - c1 - 1), q), k->name);
            return CTL_USAGE;
        }
        s = c2 + 1;
    }
    if (secret_decode(s, (size_t)(e - s), k, &len) != 0) {
        ctl_err("the secret on standard input is not canonical base64 (expected " FORMS ")");
        return CTL_USAGE;
    }
    /* the library's rule on the length, said with the length given */
    if (len > SPFDB_SECRET_MAX || spfdb_key_check(k, &why) != 0) {
        ctl_err("the secret on standard input has %zu octets; a key's secret has %d to %d "
                "(RFC 8945 §6.1; a new key gets %d)", len, SPFDB_SECRET_MIN, SPFDB_SECRET_MAX,
                SECRET_NEW);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* Read the secret from standard input into K. */
static ctl_status secret_read(struct spfdb_key *k)
{
    char text[SECRET_TEXT_MAX + 1];
    size_t n = 0;
    ctl_status s = CTL_OK;

    while (n < sizeof text) {
        ssize_t r = read(STDIN_FILENO, text + n, sizeof text - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ctl_err("cannot read standard input: %s", strerror(errno));
            s = CTL_USAGE;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (s == CTL_OK && n == sizeof text) {
        ctl_err("standard input holds more than a key (%d bytes at most)", SECRET_TEXT_MAX);
        s = CTL_USAGE;
    }
    if (s == CTL_OK)
        s = secret_parse(text, n, k);
    explicit_bzero(text, sizeof text);
    return s;
}

static ctl_status secret_new(struct spfdb_key *k)
{
    size_t n = 0;

    while (n < SECRET_NEW) {
        ssize_t r = getrandom(k->secret + n, SECRET_NEW - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ctl_err("cannot make a secret: getrandom: %s", strerror(errno));
            return CTL_DB;
        }
        n += (size_t)r;
    }
    k->secret_len = SECRET_NEW;
    return CTL_OK;
}

static int add_txn(spfdb_txn *txn, void *arg)
{
    struct key_job *j = arg;
    struct spfdb_why why;
    int r;

    ctl_txn_start(j->c);
    r = spfdb_key_add(txn, &j->k, &why); /* its rules were checked on input */
    if (r == SPFDB_EEXIST)
        return ctl_refuse(j->c, "key '%s' exists (see 'spfdb-ctl key list'); a key's secret "
                          "never changes: add a key of another name", j->k.name);
    return r;
}

/* The key as printed once: the line kdig -y takes, as a comment, then a
 * BIND key statement (Knot's key: takes the same id, algorithm, secret). */
static ctl_status key_print(const struct spfdb_key *k)
{
    char b64[B64_MAX + 1], text[2 * SPFDB_KEY_NAME_MAX + 2 * B64_MAX + 128];
    int n;
    ctl_status s;

    base64_encode_raw(b64, k->secret_len, k->secret);
    b64[BASE64_ENCODE_RAW_LENGTH(k->secret_len)] = '\0';
    n = snprintf(text, sizeof text,
                 "# " ALG ":%s:%s\nkey \"%s\" {\n\talgorithm " ALG ";\n\tsecret \"%s\";\n};\n",
                 k->name, b64, k->name, b64);
    s = ctl_out(text, (size_t)n);
    explicit_bzero(b64, sizeof b64);
    explicit_bzero(text, sizeof text);
    return s;
}

ctl_status cmd_key_add(struct ctl *c, const struct ctl_args *a)
{
    struct key_job j = {.c = c, .k = {.alg = SPFDB_KEY_HMAC_SHA256}};
    ctl_status s = ctl_key_arg(a->argv[0], j.k.name);

    if (s == CTL_OK)
        s = a->secret_stdin ? secret_read(&j.k) : secret_new(&j.k);
    j.k.created = (int64_t)time(NULL);
    if (s == CTL_OK)
        s = ctl_write(c, add_txn, &j);
    if (s == CTL_OK && (s = key_print(&j.k)) != CTL_OK)
        ctl_err("key '%s' was stored but could not be shown: delete it (spfdb-ctl key del %s) "
                "and add it again", j.k.name, j.k.name);
    explicit_bzero(&j.k, sizeof j.k);
    return s;
}

/* ---- who uses a key ----------------------------------------------------- */

/* The replicas and the primary setting, read once: each key's users. */
struct users {
    struct spfdb_replica *rep;
    size_t n, cap;
    int primary; /* a primary is set */
    struct spfdb_primary p;
};

static int collect_replica(const struct spfdb_replica *r, void *arg)
{
    struct users *u = arg;

    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 16;
        struct spfdb_replica *v = realloc(u->rep, cap * sizeof *v);
        if (!v)
            return SPFDB_ENOMEM;
        u->rep = v;
        u->cap = cap;
    }
    u->rep[u->n++] = *r;
    return 0;
}

static int users_load(spfdb_txn *txn, struct users *u)
{
    int r = spfdb_replica_foreach(txn, collect_replica, u);

    if (r == 0 && (r = spfdb_primary_get(txn, &u->p)) == 0)
        u->primary = 1;
    return r == SPFDB_ENOTFOUND ? 0 : r;
}

/* Key NAME's users into B, each "replica" EQ ADDR or "primary" EQ ZONE,
 * joined by SEP; how many. */
static size_t users_words(const struct users *u, const char *name, const char *eq,
                          const char *sep, struct buf *b)
{
    size_t n = 0;

    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->rep[i].key, name) == 0)
            buf_printf(b, "%sreplica%s%s", n++ ? sep : "", eq, u->rep[i].addr);
    if (u->primary && strcmp(u->p.key, name) == 0)
        buf_printf(b, "%sprimary%s%s", n++ ? sep : "", eq, u->p.zone);
    return n;
}

/* ---- key del ------------------------------------------------------------ */

struct del_job {
    struct ctl *c;
    char name[SPFDB_KEY_NAME_MAX + 1];
};

static int del_txn(spfdb_txn *txn, void *arg)
{
    struct del_job *j = arg;
    struct users u = {0};
    struct buf b = {0};
    int r;

    ctl_txn_start(j->c);
    r = spfdb_key_del(txn, j->name);
    if (r == SPFDB_ENOTFOUND)
        return ctl_refuse(j->c, "no key '%s' (see 'spfdb-ctl key list')", j->name);
    if (r != SPFDB_EBUSY)
        return r;
    if ((r = users_load(txn, &u)) == 0) {
        users_words(&u, j->name, " ", ", ", &b);
        r = b.oom ? SPFDB_ENOMEM
                  : ctl_refuse(j->c, "key '%s' is in use by %s; delete those first, or give them "
                               "another key", j->name, b.p ? b.p : "?");
    }
    free(b.p);
    free(u.rep);
    return r;
}

ctl_status cmd_key_del(struct ctl *c, const struct ctl_args *a)
{
    struct del_job j = {.c = c};
    ctl_status s = ctl_key_arg(a->argv[0], j.name);

    return s == CTL_OK ? ctl_write(c, del_txn, &j) : s;
}

/* ---- key list ----------------------------------------------------------- */

struct list_job {
    struct ctl_list *l;
    struct users u;
    struct buf b;
};

static int print_key(const struct spfdb_key *k, void *arg)
{
    struct list_job *j = arg;
    char when[CTL_UTC_MAX];
    FILE *f = j->l->f;
    int first = 1;

    /* never k->secret */
    ctl_utc(k->created, when);
    if (j->l->n < 0) {
        j->b.len = 0;
        if (users_words(&j->u, k->name, "=", ",", &j->b) == 0)
            buf_printf(&j->b, "-");
        if (j->b.oom)
            return SPFDB_ENOMEM;
        return fprintf(f, "%s " ALG " %s %s\n", k->name, when, j->b.p) < 0 ? SPFDB_ENOMEM : 0;
    }
    fputs(j->l->n++ ? ",\n{\"name\": " : "\n{\"name\": ", f);
    ctl_json_str(f, k->name);
    fprintf(f, ", \"algorithm\": \"" ALG "\", \"created\": \"%s\", \"unix\": %lld, "
            "\"replicas\": [", when, (long long)k->created);
    for (size_t i = 0; i < j->u.n; i++)
        if (strcmp(j->u.rep[i].key, k->name) == 0) {
            fputs(first ? "" : ", ", f);
            ctl_json_str(f, j->u.rep[i].addr);
            first = 0;
        }
    fputs("], \"primary\": ", f);
    ctl_json_str_or_null(f, j->u.primary && strcmp(j->u.p.key, k->name) == 0 ? j->u.p.zone : "");
    return fputs("}", f) == EOF ? SPFDB_ENOMEM : 0;
}

static int walk_keys(spfdb_txn *txn, struct ctl_list *l)
{
    struct list_job j = {.l = l};
    int r = users_load(txn, &j.u);

    if (r == 0)
        r = spfdb_key_foreach(txn, print_key, &j);
    free(j.u.rep);
    free(j.b.p);
    return r;
}

ctl_status cmd_key_list(struct ctl *c, const struct ctl_args *a)
{
    return ctl_list(c, a, walk_keys);
}
