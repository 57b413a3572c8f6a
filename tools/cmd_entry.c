/* Entry commands: add, del, replace, list, check (SPEC §3).
 *
 * add, del and replace read every prefix (arguments, or all of a file or
 * stdin) into an item array, stop at the first bad one, sort the array
 * (sorted inserts are much cheaper in a B-tree) and only then open their one
 * write transaction.  Messages about an item name its input line; notes are
 * printed in input order after the commit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "ctl.h"

enum { ST_NEW = 0, ST_DUP, ST_PRESENT, ST_DONE, ST_KEEP };

struct item { /* 48 bytes */
    const char *tok;           /* the text as given, not NUL-terminated */
    struct spfdb_prefix p;
    uint8_t notes;             /* SPFDB_NOTE_* from the parse */
    uint8_t state;             /* ST_* */
    uint8_t covered;           /* del: its entry in items.cover is set */
    uint32_t toklen;
    uint32_t line;             /* input line, 0 for a command-line argument */
    uint32_t seq;              /* input order */
    uint32_t first_line;       /* ST_DUP: line of the first occurrence */
};

struct items {
    struct item *v;
    size_t n, cap;
    const char *src; /* "stdin", a file name, or NULL for arguments */
    char *data;      /* the whole input file */
    struct spfdb_prefix *cover; /* del: for v[k], another entry still covering it */
    uint8_t *cover_by;          /* del: 0, or 1 + the index in mname of the member holding it */
    char (*mname)[SPFDB_LABEL_MAX + 1]; /* del: the members' names (SPFDB_MEMBERS_MAX) */
    int force;       /* --force: entries may be wide (SPFDB_ENTRY_WIDE) */
    int wide_ok;     /* not refused while parsing (del; replace checks in its txn) */
};

static void items_free(struct items *it)
{
    free(it->v);
    free(it->data);
    free(it->cover);
    free(it->cover_by);
    free(it->mname);
}

/* "stdin line 12: " for a message about IT, or "" for an argument. */
static const char *where(const struct items *it, const struct item *i, char *buf, size_t cap)
{
    if (!i->line)
        return "";
    snprintf(buf, cap, "%s line %u: ", it->src, i->line);
    return buf;
}

/* The flags the command's entries are stored with. */
static unsigned entry_flags(const struct items *it)
{
    return it->force ? SPFDB_ENTRY_WIDE : 0;
}

/* Does the library refuse item I as an entry by a rule of SPEC §2
 * (spfdb_prefix_check: a wide prefix without --force)?  Then 1, and, when
 * MSG is not NULL, its words (without "spfdb-ctl: ") in MSG of CAP bytes.
 * A malformed prefix (never one the parse gave) is the store's to refuse. */
#define ENTRY_WHY_MAX 768
static int entry_refused(const struct items *it, const struct item *i, char *msg, size_t cap)
{
    char w[300], q[CTL_QUOTE_MAX];
    struct spfdb_why why;
    const char *at;

    /* WHY costs a clear of 1 KiB: asked for only to word a refusal */
    if (spfdb_prefix_check(&i->p, entry_flags(it), NULL) != SPFDB_ERULE)
        return 0;
    if (!msg)
        return 1;
    (void)spfdb_prefix_check(&i->p, entry_flags(it), &why);
    at = where(it, i, w, sizeof w);
    ctl_quote(i->tok, i->toklen, q);
    if (why.rule == SPFDB_RULE_WIDE)
        snprintf(msg, cap,
                 "%s%s: shorter than /%u: it would let much of the Internet pass SPF for every "
                 "customer of the allocation; use --force if you mean it",
                 at, q, why.limit);
    else
        snprintf(msg, cap, "%s%s: %s", at, q, spfdb_strerror(SPFDB_ERULE));
    return 1;
}

static ctl_status add_token(struct items *it, const char *tok, size_t len, uint32_t line)
{
    char msg[ENTRY_WHY_MAX], w[300], q[CTL_QUOTE_MAX];
    struct item *i;
    unsigned notes = 0;

    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 256;
        struct item *v = realloc(it->v, cap * sizeof *v);
        if (!v) {
            ctl_err("out of memory");
            return CTL_DB;
        }
        it->v = v;
        it->cap = cap;
    }
    i = &it->v[it->n];
    memset(i, 0, sizeof *i);
    i->line = line;
    i->seq = (uint32_t)it->n;
    i->tok = tok;
    i->toklen = (uint32_t)len;
    if (spfdb_prefix_parse(tok, len, &i->p, &notes, msg, sizeof msg) != 0) {
        /* blanks inside a line (never in a prefix) have their own reason */
        if (line && (memchr(tok, ' ', len) || memchr(tok, '\t', len) || memchr(tok, '\r', len)))
            snprintf(msg, sizeof msg, "one prefix a line");
        ctl_err("%s%s: %s", where(it, i, w, sizeof w), ctl_quote(tok, len, q), msg);
        return CTL_USAGE;
    }
    i->notes = (uint8_t)notes;
    if (!it->wide_ok && entry_refused(it, i, msg, sizeof msg)) {
        ctl_err("%s", msg);
        return CTL_USAGE;
    }
    it->n++;
    return CTL_OK;
}

/* Read all of FD into it->data; 0, or -1 with errno set. */
static int read_all(int fd, struct items *it, size_t *lenp)
{
    size_t len = 0, cap = 1 << 16;
    struct stat st;
    char *p;

    /* a regular file: its size and one more byte to see the end */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
        (uint64_t)st.st_size < UINT32_MAX)
        cap = (size_t)st.st_size + 1;
    p = malloc(cap);

    if (!p)
        return -1;
    for (;;) {
        if (len == cap) {
            char *q = cap < UINT32_MAX ? realloc(p, cap * 2) : NULL;
            if (!q) {
                free(p);
                errno = ENOMEM;
                return -1;
            }
            p = q;
            cap *= 2;
        }
        ssize_t r = read(fd, p + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(p);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    it->data = p;
    *lenp = len;
    return 0;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* What a line holds, without the blanks around it and its comment: S up
 * to E, never empty, on line LINE. */
typedef ctl_status (*line_fn)(struct items *it, const char *s, const char *e, uint32_t line,
                              void *arg);

/* add, del, replace: one prefix a line. */
static ctl_status prefix_line(struct items *it, const char *s, const char *e, uint32_t line,
                              void *arg)
{
    (void)arg;
    return add_token(it, s, (size_t)(e - s), line);
}

/* The LEN octets of it->data, a line at a time to FN: blanks around what
 * it holds, a trailing "# comment", CR before LF; blank and comment lines
 * skipped. */
static ctl_status parse_lines(struct items *it, size_t len, line_fn fn, void *arg)
{
    uint32_t line = 0;
    ctl_status r;

    /* one item a line at most: no slack, no copies while growing */
    size_t lines = 1;
    for (const char *s = it->data, *end = it->data + len;
         (s = memchr(s, '\n', (size_t)(end - s))) != NULL; s++)
        lines++;
    struct item *v = malloc(lines * sizeof *v);
    if (!v) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    it->v = v;
    it->cap = lines;
    for (const char *s = it->data, *end = it->data + len; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end, *next = nl ? nl + 1 : end, *hash;
        line++;
        if ((hash = memchr(s, '#', (size_t)(e - s))) != NULL)
            e = hash;
        while (s < e && is_blank(*s))
            s++;
        while (e > s && is_blank(e[-1]))
            e--;
        if (s < e && (r = fn(it, s, e, line, arg)) != CTL_OK)
            return r;
        s = next;
    }
    return CTL_OK;
}

/* Read PATH ("-" for stdin) and give its lines to FN. */
static ctl_status read_lines(struct items *it, const char *path, line_fn fn, void *arg)
{
    int fd = 0, err;
    size_t len;

    it->src = "stdin";
    if (strcmp(path, "-") != 0) {
        it->src = path;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ctl_err("cannot open %s: %s", path, strerror(errno));
            return CTL_USAGE;
        }
    }
    err = read_all(fd, it, &len);
    if (err != 0)
        ctl_err("cannot read %s: %s", it->src, strerror(errno));
    if (fd != 0)
        close(fd);
    if (err != 0)
        return CTL_USAGE;
    return parse_lines(it, len, fn, arg);
}

/* Read PATH ("-" for stdin): one prefix a line. */
static ctl_status read_input(struct items *it, const char *path)
{
    return read_lines(it, path, prefix_line, NULL);
}

/* PREFIX... or "-": at least one (the command table says so). */
static ctl_status read_args(struct ctl *c, struct items *it, int argc, char **argv)
{
    ctl_status r = CTL_OK;

    if (argc == 1 && strcmp(argv[0], "-") == 0)
        return read_input(it, "-");
    for (int k = 0; k < argc && r == CTL_OK; k++) {
        if (strcmp(argv[k], "-") == 0) {
            ctl_err("'-' (standard input) cannot be mixed with prefixes");
            return ctl_usage(c);
        }
        r = add_token(it, argv[k], strlen(argv[k]), 0);
    }
    return r;
}

/* The sort key of an item: family, address, length and input order packed
 * into big-endian words that order like spfdb_prefix_cmp (the IPv4 address
 * bytes past the fourth are zero).  Sorting these 24-byte keys and then
 * moving the 48-byte items once is several times faster than sorting the
 * items. */
struct skey {
    uint64_t w[3]; /* family, addr[0..6] | addr[7..14] | addr[15], len, 0, seq */
};

static void skey_make(struct skey *k, const struct item *i)
{
    const uint8_t *a = i->p.addr;

    k->w[0] = (uint64_t)i->p.family << 56 | get_be64(a) >> 8;
    k->w[1] = get_be64(a + 7);
    k->w[2] = (uint64_t)a[15] << 56 | (uint64_t)i->p.len << 48 | i->seq;
}

/* Key byte D of K, 0 the most significant: family, addr[0..15], len.  Not
 * the seq: a stable sort keeps that in order. */
#define SKEY_BYTES 18
static unsigned skey_byte(const struct skey *k, unsigned d)
{
    return (unsigned)(k->w[d / 8] >> (56 - 8 * (d % 8))) & 0xff;
}

/* Sort K[0..n) by prefix, stable (so the first occurrence first): an LSD
 * radix sort, one pass for each key byte that is not the same in every key
 * (a million IPv4 and IPv6 prefixes: ten), a quarter of qsort's
 * instructions.  The result is in K or TMP; returns which, or NULL. */
static struct skey *skey_sort(struct skey *k, struct skey *tmp, size_t n)
{
    size_t (*count)[256] = calloc(SKEY_BYTES, sizeof *count);

    if (!count)
        return NULL;
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < SKEY_BYTES; d += 2) {
            unsigned x = (unsigned)(k[i].w[d / 8] >> (48 - 8 * (d % 8)));
            count[d][x >> 8 & 0xff]++;
            count[d + 1][x & 0xff]++;
        }
    for (unsigned d = SKEY_BYTES; d-- > 0;) {
        size_t *pos = count[d], sum = 0;

        if (pos[skey_byte(&k[0], d)] == n)
            continue;
        for (unsigned b = 0; b < 256; b++) {
            size_t c = pos[b];
            pos[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[pos[skey_byte(&k[i], d)]++] = k[i];
        struct skey *t = k;
        k = tmp;
        tmp = t;
    }
    free(count);
    return k;
}

/* Item K after FIRST, the first of its run: mark it a repeat when C (their
 * comparison) is 0.  Returns the first of K's run. */
static size_t mark_dup(struct items *it, size_t first, size_t k, int c)
{
    if (c != 0)
        return k;
    it->v[k].state = ST_DUP;
    it->v[k].first_line = it->v[first].line;
    return first;
}

/* Sort by prefix, the first occurrence first; mark the repeats.  Bulk input
 * usually comes sorted: then the one pass that checks it marks them. */
static ctl_status items_sort(struct items *it)
{
    size_t first = 0, k;
    struct skey *keys, *sorted;
    struct item *v;
    uint32_t *order;
    int c;

    for (k = 1; k < it->n && (c = spfdb_prefix_cmp(&it->v[k - 1].p, &it->v[k].p)) <= 0; k++)
        first = mark_dup(it, first, k, c);
    if (k >= it->n)
        return CTL_OK;
    /* One block: the keys and the radix sort's scratch space, then the
     * order they give; the items are then gathered into the block (an item
     * fits in two keys): writes in order, reads that do not wait on each
     * other, and no fresh pages. */
    _Static_assert(sizeof(struct item) <= 2 * sizeof(struct skey), "item fits in two keys");
    if (!(keys = malloc(it->n * (2 * sizeof *keys + sizeof *order)))) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    order = (uint32_t *)(keys + 2 * it->n);
    for (k = 0; k < it->n; k++)
        skey_make(&keys[k], &it->v[k]);
    if (!(sorted = skey_sort(keys, keys + it->n, it->n))) {
        free(keys);
        ctl_err("out of memory");
        return CTL_DB;
    }
    for (k = 0; k < it->n; k++)
        order[k] = (uint32_t)sorted[k].w[2];
    v = (struct item *)keys;
    for (k = 0; k < it->n; k++)
        v[k] = it->v[order[k]];
    free(it->v);
    it->v = v;
    it->cap = it->n;
    /* The sort is stable: a repeat the first pass marked is marked again
     * with the same first line. */
    for (first = 0, k = 1; k < it->n; k++)
        first = mark_dup(it, first, k, spfdb_prefix_cmp(&it->v[first].p, &it->v[k].p));
    return CTL_OK;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int noteworthy(const struct item *i, unsigned mask)
{
    return (i->notes & mask) || i->state == ST_DUP || i->state == ST_PRESENT || i->covered;
}

/* Notes and warnings about one item: the parse notes in MASK, then what the
 * transaction found. */
static void note_item(struct buf *b, const struct items *it, const struct item *i,
                      unsigned mask)
{
    char wb[300], p[SPFDB_PREFIX_STRLEN], cv[SPFDB_PREFIX_STRLEN], q[CTL_QUOTE_MAX];
    const char *special, *w = where(it, i, wb, sizeof wb);

    spfdb_prefix_format(&i->p, p, sizeof p);
    mask &= i->notes;
    if (mask & SPFDB_NOTE_MAPPED)
        buf_printf(b, "spfdb-ctl: note: %s%s is IPv4-mapped: stored as %s\n", w,
                   ctl_quote(i->tok, i->toklen, q), p);
    if (mask & SPFDB_NOTE_WIDE)
        buf_printf(b, "spfdb-ctl: warning: %s%s is shorter than /%u (accepted with --force)\n",
                   w, p, spfdb_prefix_wide(&i->p));
    if ((mask & SPFDB_NOTE_SPECIAL) && (special = spfdb_prefix_special(&i->p)) != NULL)
        buf_printf(b, "spfdb-ctl: warning: %s%s is special-use: %s\n", w, p, special);
    if (i->state == ST_DUP) {
        if (i->first_line)
            buf_printf(b, "spfdb-ctl: note: %s%s repeats line %u, skipped\n", w, p,
                       i->first_line);
        else
            buf_printf(b, "spfdb-ctl: note: %s%s given twice, skipped\n", w, p);
    }
    if (i->state == ST_PRESENT)
        buf_printf(b, "spfdb-ctl: note: %s%s already present, skipped\n", w, p);
    if (i->covered) {
        size_t k = (size_t)(i - it->v);
        spfdb_prefix_format(&it->cover[k], cv, sizeof cv);
        buf_printf(b, "spfdb-ctl: warning: %s%s removed but still listed: entry %s%s%s covers "
                   "it\n", w, p, cv, it->cover_by[k] ? " of member " : "",
                   it->cover_by[k] ? it->mname[it->cover_by[k] - 1] : "");
    }
}

/* Print the notes about the items, in input order. */
static ctl_status report(const struct items *it, unsigned mask)
{
    const struct item **v;
    struct buf b = {0};
    size_t n = 0;

    for (size_t k = 0; k < it->n; k++)
        n += noteworthy(&it->v[k], mask);
    if (n == 0)
        return CTL_OK;
    if (!(v = malloc(n * sizeof *v))) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    n = 0;
    for (size_t k = 0; k < it->n; k++)
        if (noteworthy(&it->v[k], mask))
            v[n++] = &it->v[k];
    qsort(v, n, sizeof *v, cmp_seq);
    /* Written in blocks: stderr is unbuffered, and a bulk del may have a
     * million warnings. */
    for (size_t k = 0; k < n && !b.oom; k++) {
        note_item(&b, it, v[k], mask);
        if (b.len && (b.len >= 65536 || k + 1 == n)) {
            fwrite(b.p, 1, b.len, stderr);
            b.len = 0;
        }
    }
    free(v);
    free(b.p);
    if (b.oom) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    return CTL_OK;
}

/* ---- add ---------------------------------------------------------------- */

struct job {
    struct ctl *c;
    struct items *it;
    const char *alloc;
    size_t done, skipped, kept;
    int dry_run, allow_empty;
    struct spfdb_prefix *gone; /* replace: entries to remove, in order */
    size_t n_gone, cap_gone;
    size_t next;               /* replace: merge position in it->v */
    const struct item *wide;   /* replace: first item to add the library refuses */
    struct spfdb_entry_op *ops; /* the changes, for spfdb_entry_apply; room for cap_ops */
    size_t cap_ops;
};

/* Room for N ops in J (kept across a rerun of the transaction). */
static int ops_room(struct job *j, size_t n)
{
    if (n > j->cap_ops) {
        struct spfdb_entry_op *v = realloc(j->ops, n * sizeof *v);
        if (!v)
            return SPFDB_ENOMEM;
        j->ops = v;
        j->cap_ops = n;
    }
    return 0;
}

static void op_set(struct spfdb_entry_op *op, const struct spfdb_prefix *p, int del)
{
    op->p = *p;
    op->del = (uint8_t)del;
    op->result = 0;
}

static int add_txn(spfdb_txn *txn, void *arg)
{
    struct job *j = arg;
    struct spfdb_alloc a;
    size_t n = 0;
    int r;

    ctl_txn_start(j->c);
    j->done = j->skipped = 0;
    if ((r = ctl_alloc_lookup(j->c, txn, j->alloc, &a)) != 0)
        return r;
    if ((r = ops_room(j, j->it->n)) != 0)
        return r;
    /* the items are sorted, repeats marked: the ops are in order */
    for (size_t k = 0; k < j->it->n; k++)
        if (j->it->v[k].state != ST_DUP)
            op_set(&j->ops[n++], &j->it->v[k].p, 0);
    if ((r = spfdb_entry_apply(txn, a.id, j->ops, n, entry_flags(j->it), NULL, NULL)) != 0)
        return r;
    n = 0;
    for (size_t k = 0; k < j->it->n; k++) {
        struct item *i = &j->it->v[k];
        if (i->state == ST_DUP) {
            j->skipped++;
            continue;
        }
        i->state = j->ops[n++].result == 0 ? ST_DONE : ST_PRESENT;
        j->done += i->state == ST_DONE;
        j->skipped += i->state == ST_PRESENT;
    }
    return 0;
}

/* After the commit: the notes in MASK on stderr, then COUNTS on stdout. */
static ctl_status finish(const struct items *it, unsigned mask, const char *counts)
{
    ctl_status r = report(it, mask);

    if (r == CTL_OK) {
        fputs(counts, stdout);
        r = ctl_flush();
    }
    return r;
}

ctl_status cmd_add(struct ctl *c, const struct ctl_args *a)
{
    struct items it = {.force = a->force};
    struct job j = {.c = c, .it = &it, .alloc = a->alloc};
    char counts[64];
    ctl_status r = read_args(c, &it, a->argc, a->argv);

    if (r == CTL_OK && (r = items_sort(&it)) == CTL_OK &&
        (r = ctl_write(c, add_txn, &j)) == CTL_OK) {
        snprintf(counts, sizeof counts, "added %zu, skipped %zu\n", j.done, j.skipped);
        r = finish(&it, SPFDB_NOTE_MAPPED | SPFDB_NOTE_SPECIAL | SPFDB_NOTE_WIDE, counts);
    }
    free(j.ops);
    items_free(&it);
    return r;
}

/* ---- del ---------------------------------------------------------------- */

/* The most specific entry covering P in allocation AL's set: its own
 * entries, then each member's (SPEC §2).  0 with *COVER and, when a
 * member holds it, its name in HOLDER (else "") and its index in
 * al->members in *WHICH (else -1); SPFDB_ENOTFOUND; or <0.  A tie goes to
 * AL's own entry, then to the member first in name order. */
static int check_covering(spfdb_txn *txn, const struct spfdb_alloc *al,
                          const struct spfdb_prefix *p, struct spfdb_prefix *cover, char *holder,
                          int *which)
{
    struct spfdb_prefix c;
    struct spfdb_alloc m;
    int r = spfdb_entry_covering(txn, al->id, p, cover), found = r == 0;

    *holder = '\0';
    *which = -1;
    if (r != 0 && r != SPFDB_ENOTFOUND)
        return r;
    for (unsigned i = 0; i < al->n_members && i < SPFDB_MEMBERS_MAX; i++) {
        /* a member id without its allocation: the database is damaged */
        if ((r = spfdb_alloc_get_id(txn, al->members[i], &m)) != 0)
            return r == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : r;
        r = spfdb_entry_covering(txn, m.id, p, &c);
        if (r != 0 && r != SPFDB_ENOTFOUND)
            return r;
        if (r == 0 && (!found || c.len > cover->len ||
                       (c.len == cover->len && *holder && strcmp(m.name, holder) < 0))) {
            *cover = c;
            strcpy(holder, m.name);
            *which = (int)i;
            found = 1;
        }
    }
    return found ? 0 : SPFDB_ENOTFOUND;
}


static int del_txn(spfdb_txn *txn, void *arg)
{
    struct job *j = arg;
    struct spfdb_alloc a;
    const struct item *bad = NULL;
    int r;

    ctl_txn_start(j->c);
    j->done = 0;
    if ((r = ctl_alloc_lookup(j->c, txn, j->alloc, &a)) != 0)
        return r;
    /* Check all first: the error names the first missing prefix in input
     * order, and its covering entry as the data stands. */
    for (size_t k = 0; k < j->it->n; k++) {
        struct item *i = &j->it->v[k];
        if (i->state == ST_DUP)
            continue;
        if ((r = spfdb_entry_has(txn, a.id, &i->p)) < 0)
            return r;
        if (r == 0 && (!bad || i->seq < bad->seq))
            bad = i;
    }
    if (bad) {
        char w[300], q[CTL_QUOTE_MAX], cv[SPFDB_PREFIX_STRLEN], m[SPFDB_LABEL_MAX + 1];
        struct spfdb_prefix cover;
        int which;
        r = check_covering(txn, &a, &bad->p, &cover, m, &which);
        if (r < 0 && r != SPFDB_ENOTFOUND)
            return r;
        if (r == 0)
            spfdb_prefix_format(&cover, cv, sizeof cv);
        return ctl_refuse(j->c, "%s%s: not an entry of allocation '%s'%s%s%s%s%s",
                          where(j->it, bad, w, sizeof w), ctl_quote(bad->tok, bad->toklen, q),
                          j->alloc, r == 0 ? " (entry " : "", r == 0 ? cv : "",
                          r == 0 && *m ? " of member " : "", r == 0 ? m : "",
                          r == 0 ? " covers it)" : "");
    }
    if ((r = ops_room(j, j->it->n)) != 0)
        return r;
    for (size_t k = 0; k < j->it->n; k++)
        if (j->it->v[k].state != ST_DUP)
            op_set(&j->ops[j->done++], &j->it->v[k].p, 1);
    if ((r = spfdb_entry_apply(txn, a.id, j->ops, j->done, 0, NULL, NULL)) != 0)
        return r;
    for (size_t k = 0; k < j->it->n; k++) {
        struct item *i = &j->it->v[k];
        i->covered = 0;
        if (i->state == ST_DUP)
            continue;
        char m[SPFDB_LABEL_MAX + 1];
        int which;
        r = check_covering(txn, &a, &i->p, &j->it->cover[k], m, &which);
        if (r < 0 && r != SPFDB_ENOTFOUND)
            return r;
        i->covered = r == 0;
        j->it->cover_by[k] = (uint8_t)(which + 1);
        if (which >= 0)
            strcpy(j->it->mname[which], m);
    }
    return 0;
}

ctl_status cmd_del(struct ctl *c, const struct ctl_args *a)
{
    struct items it = {.wide_ok = 1};
    struct job j = {.c = c, .it = &it, .alloc = a->alloc};
    char counts[64];
    ctl_status r = read_args(c, &it, a->argc, a->argv);

    if (r == CTL_OK && (r = items_sort(&it)) == CTL_OK &&
        (!(it.cover = malloc((it.n + 1) * sizeof *it.cover)) ||
         !(it.cover_by = calloc(it.n + 1, 1)) ||
         !(it.mname = calloc(SPFDB_MEMBERS_MAX, sizeof *it.mname)))) {
        ctl_err("out of memory");
        r = CTL_DB;
    }
    if (r == CTL_OK && (r = ctl_write(c, del_txn, &j)) == CTL_OK) {
        snprintf(counts, sizeof counts, "removed %zu\n", j.done);
        r = finish(&it, SPFDB_NOTE_MAPPED, counts);
    }
    free(j.ops);
    items_free(&it);
    return r;
}

/* ---- replace ------------------------------------------------------------ */

/* The next item that is not a repeat, at or after j->next. */
static struct item *merge_peek(struct job *j)
{
    while (j->next < j->it->n && j->it->v[j->next].state == ST_DUP)
        j->next++;
    return j->next < j->it->n ? &j->it->v[j->next] : NULL;
}

static void merge_add(struct job *j, struct item *i)
{
    i->state = ST_NEW;
    if ((!j->wide || i->seq < j->wide->seq) && entry_refused(j->it, i, NULL, 0))
        j->wide = i;
    j->next++;
}

/* One existing entry, in address order: file items before it are new. */
static int merge_entry(const struct spfdb_prefix *p, void *arg)
{
    struct job *j = arg;
    struct item *i;
    int d = 1;

    while ((i = merge_peek(j)) != NULL && (d = spfdb_prefix_cmp(&i->p, p)) < 0)
        merge_add(j, i);
    if (i && d == 0) {
        i->state = ST_KEEP;
        j->kept++;
        j->next++;
        return 0;
    }
    if (j->n_gone == j->cap_gone) {
        size_t cap = j->cap_gone ? j->cap_gone * 2 : 256;
        struct spfdb_prefix *v = realloc(j->gone, cap * sizeof *v);
        if (!v)
            return SPFDB_ENOMEM;
        j->gone = v;
        j->cap_gone = cap;
    }
    j->gone[j->n_gone++] = *p;
    return 0;
}

/* Make the difference computed (j->gone from G on, the items ST_NEW) in
 * one call, its removals and additions merged in address order. */
static int apply_diff(spfdb_txn *txn, struct job *j, uint32_t id, size_t g)
{
    size_t n = 0;
    int r = ops_room(j, j->n_gone - g + j->it->n);

    if (r)
        return r;
    for (size_t k = 0; k <= j->it->n; k++) {
        const struct item *i = k < j->it->n ? &j->it->v[k] : NULL;
        if (i && i->state != ST_NEW)
            continue;
        while (g < j->n_gone && (!i || spfdb_prefix_cmp(&j->gone[g], &i->p) < 0))
            op_set(&j->ops[n++], &j->gone[g++], 1);
        if (i)
            op_set(&j->ops[n++], &i->p, 0);
    }
    r = spfdb_entry_apply(txn, id, j->ops, n, entry_flags(j->it), NULL, NULL);
    for (size_t k = 0; r == 0 && k < n; k++)
        if (j->ops[k].result != 0)
            r = SPFDB_EFORMAT; /* the diff was read in this transaction: damage */
    return r;
}

/* Compute the difference (and apply it unless a dry run) in TXN. */
static int replace_txn(spfdb_txn *txn, void *arg)
{
    struct job *j = arg;
    struct spfdb_alloc a;
    struct item *i;
    int r;

    ctl_txn_start(j->c);
    j->next = j->kept = j->n_gone = 0;
    j->wide = NULL;
    if ((r = ctl_alloc_lookup(j->c, txn, j->alloc, &a)) != 0)
        return r;
    if ((r = spfdb_entry_foreach(txn, a.id, merge_entry, j)) != 0)
        return r;
    while ((i = merge_peek(j)) != NULL)
        merge_add(j, i);
    if (j->wide) {
        char msg[ENTRY_WHY_MAX];
        entry_refused(j->it, j->wide, msg, sizeof msg);
        return ctl_refuse(j->c, "%s", msg);
    }
    if (j->it->n == 0 && j->n_gone > 0 && !j->allow_empty) {
        return ctl_refuse(j->c, "refusing to leave allocation '%s' empty (it holds %zu "
                          "entries); use --allow-empty if you mean it", j->alloc, j->n_gone);
    }
    if (j->dry_run)
        return 0;
    return apply_diff(txn, j, a.id, 0);
}

/* Append N bytes at S to B (B's sticky out-of-memory flag as buf_printf). */
static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Decimal V (< 1000) at S; returns the end. */
static char *put_dec(char *s, unsigned v)
{
    if (v >= 100)
        *s++ = (char)('0' + v / 100);
    if (v >= 10)
        *s++ = (char)('0' + v / 10 % 10);
    *s++ = (char)('0' + v % 10);
    return s;
}

/* P's canonical text (as spfdb_prefix_format) into BUF of
 * SPFDB_PREFIX_STRLEN bytes, NUL-terminated; returns its length.  IPv4 is
 * written here: spfdb_prefix_format's snprintf calls were a quarter of a
 * million-line replace's time. */
static size_t prefix_text(const struct spfdb_prefix *p, char *buf)
{
    char *s = buf;

    if (p->family != 4) {
        spfdb_prefix_format(p, buf, SPFDB_PREFIX_STRLEN);
        return strlen(buf);
    }
    for (int i = 0; i < 4; i++) {
        s = put_dec(s, p->addr[i]);
        *s++ = i < 3 ? '.' : '/';
    }
    s = put_dec(s, p->len);
    *s = '\0';
    return (size_t)(s - buf);
}

/* "C P\n" into B: a diff line, C '+' or '-'; ALLOC (when not NULL) before
 * P, with a blank. */
static void diff_line(struct buf *b, char c, const char *alloc, const struct spfdb_prefix *p)
{
    char line[SPFDB_LABEL_MAX + SPFDB_PREFIX_STRLEN + 4], *s = line;

    *s++ = c;
    *s++ = ' ';
    if (alloc) {
        size_t n = strlen(alloc);
        memcpy(s, alloc, n);
        s += n;
        *s++ = ' ';
    }
    s += prefix_text(p, s);
    *s++ = '\n';
    buf_add(b, line, (size_t)(s - line));
}

/* Write B's text to stdout once it holds a block, or at the end (LAST). */
static ctl_status put_block(struct buf *b, int last)
{
    ctl_status r = CTL_OK;

    if (b->oom) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    if (b->len >= 65536 || (last && b->len)) {
        r = ctl_out(b->p, b->len);
        b->len = 0;
    }
    return r;
}

/* "+ P" and "- P" lines in address order, then the counts.  No transaction
 * is open here; the lines go out in blocks as they are made. */
static ctl_status replace_print(struct job *j)
{
    size_t g = 0, added = 0;
    struct buf b = {0};
    ctl_status r = CTL_OK;

    for (size_t k = 0; k <= j->it->n && r == CTL_OK; k++) {
        const struct item *i = k < j->it->n ? &j->it->v[k] : NULL;
        if (i && i->state != ST_NEW)
            continue;
        while (g < j->n_gone && (!i || spfdb_prefix_cmp(&j->gone[g], &i->p) < 0))
            diff_line(&b, '-', NULL, &j->gone[g++]);
        if (i) {
            diff_line(&b, '+', NULL, &i->p);
            added++;
        }
        r = put_block(&b, 0);
    }
    if (r == CTL_OK) {
        buf_printf(&b, "added %zu, removed %zu, kept %zu\n", added, j->n_gone, j->kept);
        r = put_block(&b, 1);
    }
    free(b.p);
    return r;
}

/* --dry-run: the difference, computed in a read transaction. */
static ctl_status replace_dry(struct ctl *c, struct job *j)
{
    spfdb_txn *txn;
    ctl_status s = ctl_read(c, &txn);
    int r;

    if (s != CTL_OK)
        return s;
    r = replace_txn(txn, j);
    spfdb_txn_close(txn);
    return ctl_txn_status(c, r);
}

ctl_status cmd_replace(struct ctl *c, const struct ctl_args *a)
{
    struct items it = {.wide_ok = 1, .force = a->force}; /* wide: refused in the txn, if new */
    struct job j = {.c = c, .it = &it, .alloc = a->alloc, .dry_run = a->dry_run,
                    .allow_empty = a->allow_empty};
    ctl_status r = read_input(&it, a->argv[0]);

    if (r == CTL_OK && (r = items_sort(&it)) == CTL_OK)
        r = j.dry_run ? replace_dry(c, &j) : ctl_write(c, replace_txn, &j);
    if (r == CTL_OK && (r = report(&it, SPFDB_NOTE_MAPPED | SPFDB_NOTE_SPECIAL)) == CTL_OK) {
        r = replace_print(&j);
        if (j.dry_run)
            fprintf(stderr, "spfdb-ctl: dry run: nothing changed\n");
    }
    free(j.gone);
    free(j.ops);
    items_free(&it);
    return r;
}

/* ---- list, check -------------------------------------------------------- */

static int print_entry(const struct spfdb_prefix *p, void *arg)
{
    char buf[SPFDB_PREFIX_STRLEN];
    struct ctl_list *j = arg;
    int w;

    spfdb_prefix_format(p, buf, sizeof buf);
    if (j->n < 0)
        w = fprintf(j->f, "%s\n", buf);
    else
        w = fprintf(j->f, "%s\"%s\"", j->n++ ? ",\n" : "\n", buf);
    return w < 0 ? SPFDB_ENOMEM : 0;
}

ctl_status cmd_list(struct ctl *c, const struct ctl_args *a)
{
    struct spfdb_alloc al;
    struct ctl_list l;
    ctl_status s;
    int r;

    if ((s = ctl_list_begin(c, &l, a->json)) != CTL_OK)
        return s;
    /* One snapshot, collected whole: 1,000,000 entries take some 20 MB. */
    if ((r = ctl_alloc_lookup(c, l.txn, a->alloc, &al)) == 0) {
        if (a->json) {
            fputs("{\"allocation\": ", l.f);
            ctl_json_str(l.f, al.name);
            fputs(", \"entries\": [", l.f);
        }
        r = spfdb_entry_foreach(l.txn, al.id, print_entry, &l);
        if (r == 0 && a->json)
            fputs("\n]}\n", l.f);
    }
    return ctl_list_end(c, &l, r);
}

ctl_status cmd_check(struct ctl *c, const struct ctl_args *a)
{
    char msg[200], q[CTL_QUOTE_MAX], buf[SPFDB_PREFIX_STRLEN], addr[SPFDB_PREFIX_STRLEN];
    char holder[SPFDB_LABEL_MAX + 1] = "";
    const char *ip = a->argv[0], *alloc = a->alloc;
    struct spfdb_prefix p, cover;
    struct spfdb_alloc al;
    spfdb_txn *txn;
    unsigned notes;
    ctl_status s;
    int listed, r, which;

    if (strchr(ip, '/')) {
        ctl_err("%s: give a bare address, not a prefix", ctl_quote(ip, strlen(ip), q));
        return CTL_USAGE;
    }
    if (spfdb_prefix_parse(ip, strlen(ip), &p, &notes, msg, sizeof msg) != 0) {
        ctl_err("%s: %s", ctl_quote(ip, strlen(ip), q), msg);
        return CTL_USAGE;
    }
    spfdb_prefix_format(&p, addr, sizeof addr);
    *strchr(addr, '/') = '\0';
    if ((s = ctl_read(c, &txn)) != CTL_OK)
        return s;
    if ((r = ctl_alloc_lookup(c, txn, alloc, &al)) == 0)
        r = check_covering(txn, &al, &p, &cover, holder, &which);
    spfdb_txn_close(txn);
    listed = r == 0;
    if ((s = ctl_txn_status(c, r == SPFDB_ENOTFOUND ? 0 : r)) != CTL_OK)
        return s;
    spfdb_prefix_format(listed ? &cover : &p, buf, sizeof buf);
    if (a->json)
        printf("{\"allocation\": \"%s\", \"address\": \"%s\", \"listed\": %s, "
               "\"entry\": %s%s%s, \"member\": %s%s%s}\n", alloc, addr,
               listed ? "true" : "false", listed ? "\"" : "", listed ? buf : "null",
               listed ? "\"" : "", *holder ? "\"" : "", *holder ? holder : "null",
               *holder ? "\"" : "");
    else if (listed && *holder)
        printf("%s (member %s)\n", buf, holder);
    else if (listed)
        puts(buf);
    if (!listed)
        fprintf(stderr, "spfdb-ctl: %s is not listed in allocation '%s'\n", buf, alloc);
    s = ctl_flush();
    return s == CTL_OK && !listed ? CTL_NOTLISTED : s;
}

/* ---- import ------------------------------------------------------------- */

/* The input is one allocation and one prefix a line ("acme 192.0.2.0/24"),
 * or an allocation alone (it is listed, with no entry on that line).  The
 * items are the prefixes, as for add and replace; each item's allocation
 * is kept by its seq in im->group.  The allocations are named in a hash
 * table while parsing, then ranked by name, and the items sorted by
 * allocation and prefix (the prefix sort, then a stable counting sort by
 * rank): each allocation's items are one run, in the order its sets are
 * stored, and new allocations get their ids in name order. */

struct alloc_in {
    char name[SPFDB_LABEL_MAX + 1];
    uint32_t bare_line;        /* a line naming it alone, or 0 */
    size_t lo, hi;             /* its items in it->v, once sorted */
    int created;               /* not in the database before */
    size_t added, skipped, removed, kept;
    size_t gone_lo, gone_hi;   /* replace: its removed entries in j.gone */
    size_t mlo, mhi;           /* its member lines in im->m, once sorted */
    uint32_t mline;            /* its first member line, or 0 */
    size_t old_lo, old_hi;     /* its members before, in im->old (touched ones) */
    size_t madded, mremoved;   /* members added, dropped */
};

/* A line "ALLOCATION member NAME". */
struct member_in {
    uint32_t owner;            /* the allocation's index in im->a */
    uint32_t line;
    int dup;                   /* repeats an earlier line of the same owner */
    const char *oname;         /* im->a[owner].name, once parsing is over (the sort) */
    char name[SPFDB_LABEL_MAX + 1];
};

struct import {
    struct ctl *c;
    struct items it;
    struct job j;
    struct alloc_in *a;
    size_t na, cap_a;
    uint32_t *slot, nslot;     /* hash table: index + 1 of an allocation, 0 free */
    uint32_t *group;           /* by item seq: its allocation; room for cap_group */
    size_t cap_group;
    uint32_t *order;           /* the allocations in name order */
    struct member_in *m;       /* the member lines, sorted by owner, then name */
    size_t nm, cap_m;
    char (*old)[SPFDB_LABEL_MAX + 1]; /* touched allocations' members before */
    size_t n_old, cap_old;
    int replace, dry_run, allow_empty, json;
};

static void import_free(struct import *im)
{
    free(im->a);
    free(im->slot);
    free(im->group);
    free(im->order);
    free(im->m);
    free(im->old);
    free(im->j.gone);
    free(im->j.ops);
    items_free(&im->it);
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;

    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* The index of allocation NAME (normalised), added when new: 0 and *IDX,
 * or -1 when out of memory. */
static int alloc_index(struct import *im, const char *name, uint32_t *idx)
{
    uint32_t h;

    if (2 * (im->na + 1) > im->nslot) {
        uint32_t n = im->nslot ? 2 * im->nslot : 1024, *s = calloc(n, sizeof *s);
        if (!s)
            return -1;
        for (size_t i = 0; i < im->na; i++) {
            for (h = name_hash(im->a[i].name) & (n - 1); s[h]; h = (h + 1) & (n - 1))
                ;
            s[h] = (uint32_t)i + 1;
        }
        free(im->slot);
        im->slot = s;
        im->nslot = n;
    }
    for (h = name_hash(name) & (im->nslot - 1); im->slot[h]; h = (h + 1) & (im->nslot - 1))
        if (strcmp(im->a[im->slot[h] - 1].name, name) == 0) {
            *idx = im->slot[h] - 1;
            return 0;
        }
    if (im->na == im->cap_a) {
        size_t cap = im->cap_a ? 2 * im->cap_a : 256;
        struct alloc_in *v = realloc(im->a, cap * sizeof *v);
        if (!v)
            return -1;
        im->a = v;
        im->cap_a = cap;
    }
    memset(&im->a[im->na], 0, sizeof im->a[0]);
    strcpy(im->a[im->na].name, name);
    im->slot[h] = (uint32_t)im->na + 1;
    *idx = (uint32_t)im->na++;
    return 0;
}

/* The index of allocation NAME, listed in the input, or -1. */
static long alloc_find(const struct import *im, const char *name)
{
    if (!im->nslot)
        return -1;
    for (uint32_t h = name_hash(name) & (im->nslot - 1); im->slot[h];
         h = (h + 1) & (im->nslot - 1))
        if (strcmp(im->a[im->slot[h] - 1].name, name) == 0)
            return (long)im->slot[h] - 1;
    return -1;
}

/* The next field of S..E at *P (blanks before it skipped): its start and
 * length, or NULL at the end. */
static const char *field(const char **p, const char *e, size_t *len)
{
    const char *s = *p, *f;

    while (s < e && is_blank(*s))
        s++;
    if (s == e)
        return NULL;
    for (f = s; s < e && !is_blank(*s); s++)
        ;
    *len = (size_t)(s - f);
    *p = s;
    return f;
}

/* Field F (LEN octets) of line LINE as an allocation name, normalised
 * into NAME (SPFDB_LABEL_MAX + 1 bytes): CTL_OK, or CTL_USAGE naming it. */
static ctl_status line_alloc(const struct items *it, uint32_t line, const char *f, size_t len,
                             char *name)
{
    char raw[SPFDB_LABEL_MAX + 2], msg[200], q[CTL_QUOTE_MAX];
    size_t n = len < sizeof raw - 1 ? len : sizeof raw - 1;

    memcpy(raw, f, n);
    raw[n] = '\0';
    if (len < sizeof raw - 1 && !memchr(f, '\0', len) &&
        spfdb_alloc_name_norm(raw, name, SPFDB_LABEL_MAX + 1, msg, sizeof msg) == 0)
        return CTL_OK;
    if (len >= sizeof raw - 1)
        snprintf(msg, sizeof msg, "longer than %d characters", SPFDB_LABEL_MAX);
    else if (memchr(f, '\0', len))
        snprintf(msg, sizeof msg, "a NUL byte");
    if (spfdb_prefix_parse(f, len, NULL, NULL, NULL, 0) == 0)
        snprintf(msg, sizeof msg, "a line is ALLOCATION PREFIX, the allocation first");
    ctl_err("%s line %u: bad allocation name %s: %s", it->src, line, ctl_quote(f, len, q), msg);
    return CTL_USAGE;
}

/* "ALLOCATION member NAME": NAME (F, LEN) becomes a member of allocation
 * IDX (SPEC §2), checked in the transaction (import_members). */
static ctl_status member_line(struct import *im, uint32_t idx, const char *f, size_t len,
                              uint32_t line)
{
    struct member_in *m;
    char name[SPFDB_LABEL_MAX + 1];
    ctl_status r = line_alloc(&im->it, line, f, len, name);

    if (r != CTL_OK)
        return r;
    if (im->nm == im->cap_m) {
        size_t cap = im->cap_m ? 2 * im->cap_m : 64;
        struct member_in *v = realloc(im->m, cap * sizeof *v);
        if (!v) {
            ctl_err("out of memory");
            return CTL_DB;
        }
        im->m = v;
        im->cap_m = cap;
    }
    m = &im->m[im->nm++];
    memset(m, 0, sizeof *m);
    m->owner = idx;
    m->line = line;
    strcpy(m->name, name);
    if (!im->a[idx].mline)
        im->a[idx].mline = line;
    if (!im->a[idx].bare_line) /* for the --replace message about its entries */
        im->a[idx].bare_line = line;
    return CTL_OK;
}

/* One line of import's input: ALLOCATION [PREFIX], or ALLOCATION member
 * NAME. */
static ctl_status import_line(struct items *it, const char *s, const char *e, uint32_t line,
                              void *arg)
{
    struct import *im = arg;
    char name[SPFDB_LABEL_MAX + 1], q[CTL_QUOTE_MAX];
    size_t l1, l2, l3, l4;
    const char *p = s, *f1 = field(&p, e, &l1), *f2 = field(&p, e, &l2), *f3 = field(&p, e, &l3);
    const char *f4 = field(&p, e, &l4);
    int member = f2 && l2 == 6 && strncasecmp(f2, "member", 6) == 0;
    uint32_t idx;
    ctl_status r;

    (void)l4;
    if (member && (!f3 || f4)) {
        ctl_err("%s line %u: %s: a member line is ALLOCATION member NAME", it->src, line,
                ctl_quote(s, (size_t)(e - s), q));
        return CTL_USAGE;
    }
    if (f3 && !member) {
        ctl_err("%s line %u: %s: one allocation and one prefix a line", it->src, line,
                ctl_quote(s, (size_t)(e - s), q));
        return CTL_USAGE;
    }
    if ((r = line_alloc(it, line, f1, l1, name)) != CTL_OK)
        return r;
    if (alloc_index(im, name, &idx) != 0) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    if (member)
        return member_line(im, idx, f3, l3, line);
    if (!f2) {
        if (!im->a[idx].bare_line)
            im->a[idx].bare_line = line;
        return CTL_OK;
    }
    if ((r = add_token(it, f2, l2, line)) != CTL_OK)
        return r;
    if (im->cap_group < it->cap) { /* once: parse_lines makes room for every line */
        uint32_t *g = realloc(im->group, it->cap * sizeof *g);
        if (!g) {
            ctl_err("out of memory");
            return CTL_DB;
        }
        im->group = g;
        im->cap_group = it->cap;
    }
    im->group[it->n - 1] = idx;
    return CTL_OK;
}

static int cmp_alloc_name(const void *x, const void *y)
{
    return strcmp((*(const struct alloc_in *const *)x)->name,
                  (*(const struct alloc_in *const *)y)->name);
}

/* Sort the items by allocation (in name order) and prefix; mark repeats
 * within an allocation; note each allocation's run. */
static ctl_status import_sort(struct import *im)
{
    struct items *it = &im->it;
    size_t *pos = NULL, first = 0;
    uint32_t *rank = NULL;
    struct item *v = NULL;
    ctl_status r = items_sort(it);

    if (r != CTL_OK)
        return r;
    if (!(im->order = malloc((im->na + 1) * sizeof *im->order)) ||
        !(rank = malloc((im->na + 1) * sizeof *rank)) ||
        !(pos = calloc(im->na + 1, sizeof *pos)) || !(v = malloc((it->n + 1) * sizeof *v))) {
        free(rank);
        free(pos);
        ctl_err("out of memory");
        return CTL_DB;
    }
    /* the pointers, sorted, in V's room (an item is larger) */
    const struct alloc_in **byname = (const struct alloc_in **)(void *)v;
    if (im->na > it->n + 1) {
        free(v);
        if (!(v = malloc((im->na + 1) * sizeof *v))) {
            free(rank);
            free(pos);
            ctl_err("out of memory");
            return CTL_DB;
        }
        byname = (const struct alloc_in **)(void *)v;
    }
    for (size_t i = 0; i < im->na; i++)
        byname[i] = &im->a[i];
    qsort(byname, im->na, sizeof *byname, cmp_alloc_name);
    for (size_t i = 0; i < im->na; i++) {
        im->order[i] = (uint32_t)(byname[i] - im->a);
        rank[im->order[i]] = (uint32_t)i;
    }
    /* a stable counting sort by rank: the prefix order stays in each run */
    for (size_t k = 0; k < it->n; k++)
        pos[rank[im->group[it->v[k].seq]]]++;
    for (size_t i = 0, sum = 0; i < im->na; i++) {
        size_t n = pos[i];
        im->a[im->order[i]].lo = sum;
        im->a[im->order[i]].hi = sum + n;
        pos[i] = sum;
        sum += n;
    }
    for (size_t k = 0; k < it->n; k++)
        v[pos[rank[im->group[it->v[k].seq]]]++] = it->v[k];
    free(it->v);
    it->v = v;
    it->cap = it->n + 1;
    /* a prefix repeats only within its allocation */
    for (size_t k = 0; k < it->n; k++) {
        int same = k > 0 && im->group[it->v[k].seq] == im->group[it->v[first].seq];
        it->v[k].state = ST_NEW;
        if (!same)
            first = k;
        else
            first = mark_dup(it, first, k, spfdb_prefix_cmp(&it->v[first].p, &it->v[k].p));
    }
    free(rank);
    free(pos);
    return CTL_OK;
}

static int cmp_name(const void *x, const void *y)
{
    return strcmp(x, y);
}

static int cmp_member(const void *x, const void *y)
{
    const struct member_in *a = x, *b = y;
    int d = strcmp(a->oname, b->oname);

    if (d == 0)
        d = strcmp(a->name, b->name);
    return d ? d : a->line < b->line ? -1 : a->line > b->line;
}

/* Sort the member lines by allocation and member name; mark repeats; note
 * each allocation's run. */
static void members_sort(struct import *im)
{
    if (im->nm == 0)
        return;
    for (size_t k = 0; k < im->nm; k++)
        im->m[k].oname = im->a[im->m[k].owner].name;
    qsort(im->m, im->nm, sizeof *im->m, cmp_member);
    for (size_t k = 0; k < im->nm; k++) {
        struct alloc_in *al = &im->a[im->m[k].owner];
        if (k == 0 || im->m[k - 1].owner != im->m[k].owner)
            al->mlo = k;
        al->mhi = k + 1;
        im->m[k].dup = k > 0 && im->m[k - 1].owner == im->m[k].owner &&
                       strcmp(im->m[k - 1].name, im->m[k].name) == 0;
    }
}

/* ---- import: member lines ---- */

/* Are AL's members set by the input?  With --replace every allocation
 * named gets exactly the members its lines give (none without such
 * lines); without, member lines add members. */
static int mtouched(const struct import *im, const struct alloc_in *al)
{
    return im->replace || al->mhi > al->mlo;
}

/* Is NAME among AL's members before the import? */
static int in_old(const struct import *im, const struct alloc_in *al, const char *name)
{
    for (size_t k = al->old_lo; k < al->old_hi; k++)
        if (strcmp(im->old[k], name) == 0)
            return 1;
    return 0;
}

/* Is NAME given by a member line of AL?  Its line, or 0. */
static uint32_t in_lines(const struct import *im, const struct alloc_in *al, const char *name)
{
    for (size_t k = al->mlo; k < al->mhi; k++)
        if (!im->m[k].dup && strcmp(im->m[k].name, name) == 0)
            return im->m[k].line;
    return 0;
}

/* Is NAME among AL's members after the import (AL touched)? */
static int in_final(const struct import *im, const struct alloc_in *al, const char *name)
{
    return in_lines(im, al, name) || (!im->replace && in_old(im, al, name));
}

/* AL's members after the import (AL touched), in name order: the names
 * into V (room for SPFDB_MEMBERS_MAX) when V is not NULL; returns how
 * many, counting past the room. */
static size_t final_members(const struct import *im, const struct alloc_in *al,
                            const char **v)
{
    size_t n = 0;

    for (size_t k = al->mlo; k < al->mhi; k++)
        if (!im->m[k].dup && (im->replace || !in_old(im, al, im->m[k].name))) {
            if (v && n < SPFDB_MEMBERS_MAX)
                v[n] = im->m[k].name;
            n++;
        }
    for (size_t k = al->old_lo; !im->replace && k < al->old_hi; k++, n++)
        if (v && n < SPFDB_MEMBERS_MAX)
            v[n] = im->old[k];
    return n;
}

/* Note the members of allocation A (read in TXN), before the import, as
 * AL's (a touched allocation). */
static int load_old(spfdb_txn *txn, struct import *im, struct alloc_in *al,
                    const struct spfdb_alloc *a)
{
    unsigned n = a ? a->n_members : 0;

    al->old_lo = al->old_hi = im->n_old;
    if (n > SPFDB_MEMBERS_MAX)
        n = SPFDB_MEMBERS_MAX;
    if (im->n_old + n > im->cap_old) {
        size_t cap = im->cap_old ? 2 * im->cap_old : 256;
        while (cap < im->n_old + n)
            cap *= 2;
        char(*v)[SPFDB_LABEL_MAX + 1] = realloc(im->old, cap * sizeof *v);
        if (!v)
            return SPFDB_ENOMEM;
        im->old = v;
        im->cap_old = cap;
    }
    for (unsigned i = 0; i < n; i++) {
        struct spfdb_alloc m;
        int r = spfdb_alloc_get_id(txn, a->members[i], &m);
        if (r != 0) /* a member id without its allocation: damage */
            return r == SPFDB_ENOTFOUND ? SPFDB_EFORMAT : r;
        memcpy(im->old[im->n_old++], m.name, sizeof m.name);
    }
    al->old_hi = im->n_old;
    if (n > 1)
        qsort(im->old + al->old_lo, n, sizeof *im->old, cmp_name);
    return 0;
}

/* Does allocation NAME have members after the import?  1, 0; -1 when it
 * does not exist; or <0 (an SPFDB_E* code below -1). */
static int has_members_after(spfdb_txn *txn, const struct import *im, const char *name)
{
    long idx = alloc_find(im, name);
    struct spfdb_alloc a;
    int r;

    if (idx >= 0 && mtouched(im, &im->a[idx]))
        return final_members(im, &im->a[idx], NULL) > 0;
    if (idx >= 0 && im->a[idx].created)
        return 0;
    if ((r = spfdb_alloc_get(txn, name, &a)) == SPFDB_ENOTFOUND)
        return -1;
    if (r != 0)
        return r < -1 ? r : SPFDB_EIO;
    return a.n_members > 0;
}

/* Walking AL's parents: the first that still holds it after the import. */
struct holder {
    const struct import *im;
    const struct alloc_in *al;
    char name[SPFDB_LABEL_MAX + 1];
};

static int still_holds(const struct spfdb_alloc *p, void *arg)
{
    struct holder *h = arg;
    long idx = alloc_find(h->im, p->name);

    if (idx >= 0 && mtouched(h->im, &h->im->a[idx]) &&
        !in_final(h->im, &h->im->a[idx], h->al->name))
        return 0;
    strcpy(h->name, p->name);
    return 1;
}

/* "stdin line N: " into W for line LINE. */
static const char *at_line(const struct import *im, uint32_t line, char *w, size_t cap)
{
    snprintf(w, cap, "%s line %u: ", im->it.src, line);
    return w;
}

/* SPEC §2's member rules on AL's members after the import, as
 * spfdb_alloc_set_members applies them, but on the state the whole input
 * makes (a dry run changes nothing, and the order of the lines does not
 * matter): 0, or CTL_REFUSED naming the line. */
static int members_check(spfdb_txn *txn, struct import *im, struct alloc_in *al)
{
    size_t n = final_members(im, al, NULL);
    struct spfdb_why why;
    struct spfdb_alloc a;
    char w[300];
    int r;

    memset(&why, 0, sizeof why);
    if (n > SPFDB_MEMBERS_MAX) {
        why.rule = SPFDB_RULE_MEMBER_COUNT;
        why.value = (uint32_t)n;
        why.limit = SPFDB_MEMBERS_MAX;
        return ctl_members_refused(im->c, at_line(im, al->mline, w, sizeof w), al->name,
                                   SPFDB_EINVAL, &why);
    }
    for (size_t k = al->mlo; k < al->mhi; k++) {
        const struct member_in *m = &im->m[k];
        if (m->dup)
            continue;
        at_line(im, m->line, w, sizeof w);
        strcpy(why.other, m->name);
        if (strcmp(m->name, al->name) == 0) {
            why.rule = SPFDB_RULE_MEMBER_SELF;
            return ctl_members_refused(im->c, w, al->name, SPFDB_ERULE, &why);
        }
        if ((r = has_members_after(txn, im, m->name)) == -1)
            return ctl_members_refused(im->c, w, al->name, SPFDB_ENOTFOUND, &why);
        if (r < 0)
            return r;
        if (r) {
            why.rule = SPFDB_RULE_MEMBER_NESTED;
            return ctl_members_refused(im->c, w, al->name, SPFDB_ERULE, &why);
        }
    }
    if (n == 0 || al->created)
        return 0;
    /* a member of an allocation the input leaves holding it has none */
    struct holder h = {.im = im, .al = al};
    if ((r = spfdb_alloc_get(txn, al->name, &a)) != 0)
        return r;
    if ((r = spfdb_alloc_parents(txn, a.id, still_holds, &h)) < 0)
        return r;
    if (r) {
        strcpy(why.other, h.name);
        why.rule = SPFDB_RULE_MEMBER_OF;
        return ctl_members_refused(im->c, at_line(im, al->mline, w, sizeof w), al->name,
                                   SPFDB_ERULE, &why);
    }
    return 0;
}

/* Set AL's members to V (N names) in TXN; a refusal (the checks above
 * should have made one impossible) names AL's first member line. */
static int members_set(spfdb_txn *txn, struct import *im, const struct alloc_in *al,
                       const char **v, size_t n)
{
    struct spfdb_why why;
    char w[300];
    int r;

    memset(&why, 0, sizeof why);
    r = spfdb_alloc_set_members(txn, al->name, v, n, &why);
    if (r == 0)
        return 0;
    return ctl_members_refused(im->c, at_line(im, al->mline ? al->mline : al->bare_line, w,
                                              sizeof w), al->name, r, &why);
}

/* The member lines, once every allocation of the input exists (so that
 * one made by the input may be a member): checked on the state the input
 * makes, then set in two passes, members dropped first, so that no
 * intermediate state breaks a rule the final one keeps (an allocation
 * that leaves one union and gains members). */
static int import_members(spfdb_txn *txn, struct import *im)
{
    const char *v[SPFDB_MEMBERS_MAX];
    int r;

    for (size_t o = 0; o < im->na; o++) {
        struct alloc_in *al = &im->a[im->order[o]];
        al->madded = al->mremoved = 0;
        if (!mtouched(im, al))
            continue;
        if ((r = members_check(txn, im, al)) != 0)
            return r;
        for (size_t k = al->mlo; k < al->mhi; k++)
            al->madded += !im->m[k].dup && !in_old(im, al, im->m[k].name);
        for (size_t k = al->old_lo; im->replace && k < al->old_hi; k++)
            al->mremoved += !in_lines(im, al, im->old[k]);
    }
    if (im->dry_run)
        return 0;
    for (size_t o = 0; o < im->na; o++) { /* drops */
        struct alloc_in *al = &im->a[im->order[o]];
        size_t n = 0;
        if (!mtouched(im, al) || !al->mremoved)
            continue;
        for (size_t k = al->old_lo; k < al->old_hi; k++)
            if (in_lines(im, al, im->old[k]))
                v[n++] = im->old[k];
        if ((r = members_set(txn, im, al, v, n)) != 0)
            return r;
    }
    for (size_t o = 0; o < im->na; o++) { /* additions */
        struct alloc_in *al = &im->a[im->order[o]];
        if (mtouched(im, al) && al->madded &&
            (r = members_set(txn, im, al, v, final_members(im, al, v))) != 0)
            return r;
    }
    return 0;
}

/* The items of allocation AL, as a list of their own. */
static struct items import_run(const struct import *im, const struct alloc_in *al)
{
    struct items sub = im->it;

    sub.v = im->it.v + al->lo;
    sub.n = sub.cap = al->hi - al->lo;
    return sub;
}

/* Add mode: the allocation's entries are added (as add does). */
static int import_add(spfdb_txn *txn, struct import *im, struct alloc_in *al, uint32_t id,
                      struct items *sub)
{
    struct job *j = &im->j;
    size_t n = 0;
    int r;

    for (size_t k = 0; k < sub->n; k++)
        if (sub->v[k].state != ST_DUP)
            op_set(&j->ops[n++], &sub->v[k].p, 0);
    if (id && !im->dry_run &&
        (r = spfdb_entry_apply(txn, id, j->ops, n, entry_flags(sub), NULL, NULL)) != 0)
        return r;
    n = 0;
    for (size_t k = 0; k < sub->n; k++) {
        struct item *i = &sub->v[k];
        if (i->state == ST_DUP) {
            al->skipped++;
            continue;
        }
        if (!im->dry_run)
            r = j->ops[n++].result == 0 ? 0 : 1;
        else if ((r = id ? spfdb_entry_has(txn, id, &i->p) : 0) < 0)
            return r;
        i->state = r == 0 ? ST_DONE : ST_PRESENT;
        al->added += r == 0;
        al->skipped += r != 0;
    }
    return 0;
}

/* Replace mode: the allocation's entries become exactly its lines (as
 * replace does). */
static int import_replace(spfdb_txn *txn, struct import *im, struct alloc_in *al, uint32_t id,
                          struct items *sub)
{
    struct job *j = &im->j;
    struct item *i;
    char w[300];
    int r;

    j->it = sub;
    j->next = j->kept = 0;
    j->wide = NULL;
    al->gone_lo = j->n_gone;
    if (id && (r = spfdb_entry_foreach(txn, id, merge_entry, j)) != 0)
        return r;
    while ((i = merge_peek(j)) != NULL)
        merge_add(j, i);
    al->gone_hi = j->n_gone;
    al->removed = al->gone_hi - al->gone_lo;
    al->kept = j->kept;
    for (size_t k = 0; k < sub->n; k++)
        al->added += sub->v[k].state == ST_NEW;
    if (j->wide) {
        char msg[ENTRY_WHY_MAX];
        entry_refused(sub, j->wide, msg, sizeof msg);
        return ctl_refuse(im->c, "%s (allocation '%s')", msg, al->name);
    }
    if (sub->n == 0 && al->removed > 0 && !im->allow_empty) {
        snprintf(w, sizeof w, "%s line %u: ", sub->src, al->bare_line);
        return ctl_refuse(im->c, "%srefusing to leave allocation '%s' empty (it holds %zu "
                          "entries); use --allow-empty if you mean it", w, al->name, al->removed);
    }
    return im->dry_run || !id ? 0 : apply_diff(txn, j, id, al->gone_lo);
}

/* Every allocation of the input, in name order, in TXN (a read
 * transaction for a dry run). */
static int import_txn(spfdb_txn *txn, void *arg)
{
    struct import *im = arg;
    struct job *j = &im->j;
    int r;

    ctl_txn_start(im->c);
    j->n_gone = 0;
    im->n_old = 0;
    if ((r = ops_room(j, im->it.n)) != 0)
        return r;
    for (size_t o = 0; o < im->na; o++) {
        struct alloc_in *al = &im->a[im->order[o]];
        struct items sub = import_run(im, al);
        struct spfdb_alloc a;
        uint32_t id = 0;

        al->added = al->skipped = al->removed = al->kept = 0;
        al->gone_lo = al->gone_hi = j->n_gone;
        r = spfdb_alloc_get(txn, al->name, &a);
        if (r != 0 && r != SPFDB_ENOTFOUND)
            return r;
        al->created = r == SPFDB_ENOTFOUND;
        if (mtouched(im, al) && (r = load_old(txn, im, al, al->created ? NULL : &a)) != 0)
            return r;
        if (!al->created)
            id = a.id;
        else if (!im->dry_run && (r = spfdb_alloc_add(txn, al->name, &id)) != 0)
            return r;
        r = im->replace ? import_replace(txn, im, al, al->created ? 0 : id, &sub)
                        : import_add(txn, im, al, id, &sub);
        if (r == 0 && im->replace && al->created && !im->dry_run)
            r = apply_diff(txn, j, id, al->gone_lo);
        if (r)
            return r;
    }
    return import_members(txn, im);
}

/* AL's member changes, in name order: "+ ALLOC member NAME" and "- ALLOC
 * member NAME" lines into B; with JSON (W not NULL) the names added, when
 * *W is '+', or dropped, as a JSON list. */
static void member_diff(struct buf *b, const struct import *im, const struct alloc_in *al,
                        const char *w)
{
    size_t k = al->mlo, g = al->old_lo;
    int n = 0;

    if (!mtouched(im, al))
        k = al->mhi, g = al->old_hi;
    while (k < al->mhi || g < al->old_hi) {
        const char *add = NULL, *drop = NULL;
        if (k < al->mhi && (im->m[k].dup || in_old(im, al, im->m[k].name))) {
            k++;
            continue;
        }
        if (g < al->old_hi && (!im->replace || in_lines(im, al, im->old[g]))) {
            g++;
            continue;
        }
        if (k < al->mhi && (g == al->old_hi || strcmp(im->m[k].name, im->old[g]) < 0))
            add = im->m[k++].name;
        else
            drop = im->old[g++];
        if (!w)
            buf_printf(b, "%c %s member %s\n", add ? '+' : '-', al->name, add ? add : drop);
        else if ((*w == '+') == (add != NULL))
            buf_printf(b, "%s\"%s\"", n++ ? ", " : "", add ? add : drop);
    }
}

/* AL's lines of the text report: its diff (replace mode), then its counts
 * when anything changed. */
static void import_text(struct buf *b, const struct import *im, const struct alloc_in *al)
{
    const struct spfdb_prefix *gone = im->j.gone;
    size_t g = al->gone_lo;

    if (!al->created && !al->added && !al->removed && !al->madded && !al->mremoved)
        return;
    for (size_t k = al->lo; im->replace && k <= al->hi; k++) {
        const struct item *i = k < al->hi ? &im->it.v[k] : NULL;
        if (i && i->state != ST_NEW)
            continue;
        while (g < al->gone_hi && (!i || spfdb_prefix_cmp(&gone[g], &i->p) < 0))
            diff_line(b, '-', al->name, &gone[g++]);
        if (i)
            diff_line(b, '+', al->name, &i->p);
    }
    member_diff(b, im, al, NULL);
    if (im->replace)
        buf_printf(b, "%s: added %zu, removed %zu, kept %zu%s\n", al->name, al->added,
                   al->removed, al->kept, al->created ? " (new allocation)" : "");
    else
        buf_printf(b, "%s: added %zu, skipped %zu%s\n", al->name, al->added, al->skipped,
                   al->created ? " (new allocation)" : "");
}

/* "[P, ...]" of the list, JSON. */
static void json_prefix(struct buf *b, const struct spfdb_prefix *p, int *n)
{
    char t[SPFDB_PREFIX_STRLEN];
    size_t len = prefix_text(p, t);

    buf_add(b, *n ? ", \"" : "\"", *n ? 3 : 1);
    buf_add(b, t, len);
    buf_add(b, "\"", 1);
    (*n)++;
}

/* AL as a JSON object (names are [a-z0-9-], prefixes plain ASCII). */
static void import_json(struct buf *b, const struct import *im, const struct alloc_in *al,
                        int first)
{
    int n = 0;

    buf_printf(b, "%s\n  {\"allocation\": \"%s\", \"new\": %s, \"added\": [", first ? "" : ",",
               al->name, al->created ? "true" : "false");
    for (size_t k = al->lo; k < al->hi; k++)
        if (im->it.v[k].state == (im->replace ? ST_NEW : ST_DONE))
            json_prefix(b, &im->it.v[k].p, &n);
    buf_printf(b, "], \"members_added\": [");
    member_diff(b, im, al, "+");
    if (!im->replace) {
        buf_printf(b, "], \"skipped\": %zu}", al->skipped);
        return;
    }
    buf_printf(b, "], \"members_removed\": [");
    member_diff(b, im, al, "-");
    buf_printf(b, "], \"removed\": [");
    n = 0;
    for (size_t g = al->gone_lo; g < al->gone_hi; g++)
        json_prefix(b, &im->j.gone[g], &n);
    buf_printf(b, "], \"kept\": %zu}", al->kept);
}

/* The report, after the transaction: in blocks, allocations in name order. */
static ctl_status import_print(const struct import *im)
{
    size_t added = 0, skipped = 0, removed = 0, kept = 0, created = 0, same = 0;
    size_t madded = 0, mremoved = 0;
    struct buf b = {0};
    ctl_status r = CTL_OK;

    if (im->json)
        buf_printf(&b, "{\"dry_run\": %s, \"replace\": %s, \"allocations\": [",
                   im->dry_run ? "true" : "false", im->replace ? "true" : "false");
    for (size_t o = 0; o < im->na && r == CTL_OK; o++) {
        const struct alloc_in *al = &im->a[im->order[o]];
        if (im->json)
            import_json(&b, im, al, o == 0);
        else
            import_text(&b, im, al);
        added += al->added;
        skipped += al->skipped;
        removed += al->removed;
        kept += al->kept;
        created += al->created;
        madded += al->madded;
        mremoved += al->mremoved;
        same += !al->created && !al->added && !al->removed && !al->madded && !al->mremoved;
        r = put_block(&b, 0);
    }
    if (r != CTL_OK) {
        free(b.p);
        return r;
    }
    if (im->json) {
        buf_printf(&b, "\n], \"totals\": {\"allocations\": %zu, \"new\": %zu, \"unchanged\": %zu, "
                   "\"added\": %zu, \"members_added\": %zu, ", im->na, created, same, added,
                   madded);
        if (im->replace)
            buf_printf(&b, "\"removed\": %zu, \"kept\": %zu, \"members_removed\": %zu}}\n",
                       removed, kept, mremoved);
        else
            buf_printf(&b, "\"skipped\": %zu}}\n", skipped);
    } else if (im->replace) {
        buf_printf(&b, "allocations %zu (new %zu, unchanged %zu): added %zu, removed %zu, "
                   "kept %zu\n", im->na, created, same, added, removed, kept);
    } else {
        buf_printf(&b, "allocations %zu (new %zu, unchanged %zu): added %zu, skipped %zu\n",
                   im->na, created, same, added, skipped);
    }
    r = put_block(&b, 1);
    free(b.p);
    return r;
}

ctl_status cmd_import(struct ctl *c, const struct ctl_args *a)
{
    struct import im = {.c = c, .replace = a->replace, .dry_run = a->dry_run,
                        .allow_empty = a->allow_empty, .json = a->json};
    ctl_status r;
    int rc;

    if (a->allow_empty && !a->replace) {
        ctl_err("--allow-empty goes with --replace");
        return ctl_usage(c);
    }
    /* add mode refuses a wide prefix as it reads it, as add does; replace
     * mode only a new one, in the transaction, as replace does */
    im.it.force = a->force;
    im.it.wide_ok = a->replace;
    im.j.c = c;
    im.j.it = &im.it;
    r = read_lines(&im.it, a->argv[0], import_line, &im);
    if (r == CTL_OK)
        r = import_sort(&im);
    if (r == CTL_OK)
        members_sort(&im);
    if (r == CTL_OK && im.dry_run) {
        spfdb_txn *txn;
        if ((r = ctl_read(c, &txn)) == CTL_OK) {
            rc = import_txn(txn, &im);
            spfdb_txn_close(txn);
            r = ctl_txn_status(c, rc);
        }
    } else if (r == CTL_OK) {
        r = ctl_write(c, import_txn, &im);
    }
    if (r == CTL_OK)
        r = report(&im.it, SPFDB_NOTE_MAPPED | SPFDB_NOTE_SPECIAL |
                               (im.replace ? 0 : SPFDB_NOTE_WIDE));
    if (r == CTL_OK) {
        r = import_print(&im);
        if (im.dry_run)
            fprintf(stderr, "spfdb-ctl: dry run: nothing changed\n");
    }
    import_free(&im);
    return r;
}
