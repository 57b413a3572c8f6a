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
    int force;       /* --force: entries may be wide (SPFDB_ENTRY_WIDE) */
    int wide_ok;     /* not refused while parsing (del; replace checks in its txn) */
};

static void items_free(struct items *it)
{
    free(it->v);
    free(it->data);
    free(it->cover);
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

/* The LEN octets of it->data: one prefix a line, blanks around it, a
 * trailing "# comment", CR before LF; blank and comment lines skipped. */
static ctl_status parse_lines(struct items *it, size_t len)
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
        if (s < e && (r = add_token(it, s, (size_t)(e - s), line)) != CTL_OK)
            return r;
        s = next;
    }
    return CTL_OK;
}

/* Read PATH ("-" for stdin) and parse its lines. */
static ctl_status read_input(struct items *it, const char *path)
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
    return parse_lines(it, len);
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
        spfdb_prefix_format(&it->cover[i - it->v], cv, sizeof cv);
        buf_printf(b, "spfdb-ctl: warning: %s%s removed but still listed: entry %s covers it\n",
                   w, p, cv);
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
        char w[300], q[CTL_QUOTE_MAX], cv[SPFDB_PREFIX_STRLEN];
        struct spfdb_prefix cover;
        r = spfdb_entry_covering(txn, a.id, &bad->p, &cover);
        if (r < 0 && r != SPFDB_ENOTFOUND)
            return r;
        if (r == 0)
            spfdb_prefix_format(&cover, cv, sizeof cv);
        return ctl_refuse(j->c, "%s%s: not an entry of allocation '%s'%s%s%s",
                          where(j->it, bad, w, sizeof w), ctl_quote(bad->tok, bad->toklen, q),
                          j->alloc, r == 0 ? " (entry " : "", r == 0 ? cv : "",
                          r == 0 ? " covers it)" : "");
    }
    for (size_t k = 0; k < j->it->n; k++) {
        struct item *i = &j->it->v[k];
        if (i->state == ST_DUP)
            continue;
        if ((r = spfdb_entry_del(txn, a.id, &i->p)) != 0)
            return r;
        j->done++;
    }
    for (size_t k = 0; k < j->it->n; k++) {
        struct item *i = &j->it->v[k];
        i->covered = 0;
        if (i->state == ST_DUP)
            continue;
        r = spfdb_entry_covering(txn, a.id, &i->p, &j->it->cover[k]);
        if (r < 0 && r != SPFDB_ENOTFOUND)
            return r;
        i->covered = r == 0;
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
        !(it.cover = malloc((it.n + 1) * sizeof *it.cover))) {
        ctl_err("out of memory");
        r = CTL_DB;
    }
    if (r == CTL_OK && (r = ctl_write(c, del_txn, &j)) == CTL_OK) {
        snprintf(counts, sizeof counts, "removed %zu\n", j.done);
        r = finish(&it, SPFDB_NOTE_MAPPED, counts);
    }
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

/* Make the difference computed (j->gone, the items ST_NEW) in one call,
 * its removals and additions merged in address order. */
static int apply_diff(spfdb_txn *txn, struct job *j, uint32_t id)
{
    size_t n = 0, g = 0;
    int r = ops_room(j, j->n_gone + j->it->n);

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
            r = SPFDB_EFORMAT; /* the data changed under the transaction's feet */
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
    return apply_diff(txn, j, a.id);
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
    const char *ip = a->argv[0], *alloc = a->alloc;
    struct spfdb_prefix p, cover;
    struct spfdb_alloc al;
    spfdb_txn *txn;
    unsigned notes;
    ctl_status s;
    int listed, r;

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
        r = spfdb_entry_covering(txn, al.id, &p, &cover);
    spfdb_txn_close(txn);
    listed = r == 0;
    if ((s = ctl_txn_status(c, r == SPFDB_ENOTFOUND ? 0 : r)) != CTL_OK)
        return s;
    spfdb_prefix_format(listed ? &cover : &p, buf, sizeof buf);
    if (a->json)
        printf("{\"allocation\": \"%s\", \"address\": \"%s\", \"listed\": %s, "
               "\"entry\": %s%s%s}\n", alloc, addr, listed ? "true" : "false",
               listed ? "\"" : "", listed ? buf : "null", listed ? "\"" : "");
    else if (listed)
        puts(buf);
    if (!listed)
        fprintf(stderr, "spfdb-ctl: %s is not listed in allocation '%s'\n", buf, alloc);
    s = ctl_flush();
    return s == CTL_OK && !listed ? CTL_NOTLISTED : s;
}
