/* fuzz_import.c: libFuzzer target for `spfdb-ctl import`'s input: the
 * lines ALLOCATION [PREFIX] and ALLOCATION member NAME (import_line
 * through parse_lines), then the sorts the transaction relies on
 * (import_sort, members_sort).
 *
 * cmd_entry.c is included so that its static parser is reached as it is.
 * The first input octet's low bits are the flags (--force, --replace);
 * the rest is the file.  A reader of the line format written from
 * spfdb-ctl(8) is the oracle: the parse stops at the first bad line and
 * names it, every line before it is one of the three forms with valid
 * names, and an accepted file yields one item a prefix line, one member
 * line a member line, one allocation a distinct name (lowercase); after
 * the sorts the allocations are in name order, each one's items a run of
 * its own, and the member lines sorted by owner then name with repeats
 * marked.  Every message is printable ASCII lines.  Any violation
 * abort()s. */
#include "cmd_entry.c"

#include <ctype.h>

#define FUZZ_NAME "fuzz_import"
#include "fuzz.h"

/* ---- the oracle: one line's fields, as the man page has them -------------- */

enum { L_BARE, L_PREFIX, L_MEMBER, L_BAD };

struct oline {
    int kind;
    uint32_t no;
    char name[SPFDB_LABEL_MAX + 1]; /* the first field, lowercase, when valid */
    int name_ok, arg_ok;            /* the member's name, or the prefix, valid */
};

static int blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* A label of 1..63 letters, digits and '-', not at either end; lowercase
 * into OUT. */
static int label_ok(const char *s, size_t n, char *out)
{
    if (n == 0 || n > SPFDB_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isascii(c) && (isalnum(c) || c == '-')))
            return 0;
        if (out)
            out[i] = (char)tolower(c);
    }
    if (out)
        out[n] = '\0';
    return 1;
}

static void classify(const char *s, size_t n, uint32_t no, struct oline *o)
{
    const char *f[4];
    size_t len[4], k = 0;

    memset(o, 0, sizeof *o);
    o->no = no;
    for (size_t i = 0; i < n && k < 4;) {
        while (i < n && blank(s[i]))
            i++;
        if (i == n)
            break;
        f[k] = s + i;
        while (i < n && !blank(s[i]))
            i++;
        len[k] = (size_t)(s + i - f[k]);
        k++;
    }
    CHECK(k >= 1);
    o->name_ok = label_ok(f[0], len[0], o->name);
    if (k >= 2 && len[1] == 6 && strncasecmp(f[1], "member", 6) == 0) {
        o->kind = k == 3 ? L_MEMBER : L_BAD;
        o->arg_ok = k == 3 && label_ok(f[2], len[2], NULL);
    } else if (k == 1) {
        o->kind = L_BARE;
        o->arg_ok = 1;
    } else if (k == 2) {
        struct spfdb_prefix p;
        o->kind = L_PREFIX;
        /* necessary for add_token; fuzz_ctl holds the rest of its rules */
        o->arg_ok = spfdb_prefix_parse(f[1], len[1], &p, NULL, NULL, 0) == 0;
    } else {
        o->kind = L_BAD;
    }
}

static int line_good(const struct oline *o)
{
    return o->kind != L_BAD && o->name_ok && o->arg_ok;
}

/* After the sorts: the allocations in name order, each one's items a
 * run of its own; the member lines by owner, then name, repeats marked. */
static void check_sorted(struct import *im)
{
    struct capture c;
    ctl_status r;
    size_t at = 0;

    capture_begin(&c);
    r = import_sort(im);
    if (r == CTL_OK)
        members_sort(im);
    (void)capture_end(&c);
    if (r != CTL_OK)
        return; /* out of memory */
    for (size_t i = 0; i < im->na; i++) {
        const struct alloc_in *a = &im->a[im->order[i]];
        if (i > 0)
            CHECK(strcmp(im->a[im->order[i - 1]].name, a->name) < 0);
        CHECK(a->lo == at && a->hi >= a->lo && a->hi <= im->it.n);
        for (size_t k = a->lo; k < a->hi; k++)
            CHECK(im->group[im->it.v[k].seq] == im->order[i]);
        at = a->hi;
    }
    CHECK(at == im->it.n);
    for (size_t k = 0; k < im->nm; k++) {
        const struct member_in *m = &im->m[k];
        const struct alloc_in *a = &im->a[m->owner];
        CHECK(k >= a->mlo && k < a->mhi);
        if (k == 0) {
            CHECK(!m->dup);
            continue;
        }
        const struct member_in *p = &im->m[k - 1];
        int d = strcmp(im->a[p->owner].name, a->name);
        CHECK(d < 0 || (d == 0 && strcmp(p->name, m->name) <= 0));
        CHECK(m->dup == (d == 0 && strcmp(p->name, m->name) == 0));
    }
}

/* ---- the target --------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct import im;
    struct capture c;
    struct oline *ol;
    size_t nol = 0, n = size ? size - 1 : 0;

    if (size < 1)
        return 0;
    memset(&im, 0, sizeof im);
    im.it.src = "stdin";
    im.it.force = data[0] & 1;
    im.replace = data[0] >> 1 & 1;
    im.it.data = malloc(n ? n : 1);
    ol = malloc((n + 1) * sizeof *ol);
    CHECK(im.it.data && ol);
    memcpy(im.it.data, data + 1, n);
    /* the lines as spfdb-ctl(8) has them: fields between blanks, before '#' */
    for (size_t s = 0, no = 1; s < n; no++) {
        size_t e = s, next;
        while (e < n && im.it.data[e] != '\n')
            e++;
        next = e + 1;
        for (size_t h = s; h < e; h++)
            if (im.it.data[h] == '#') {
                e = h;
                break;
            }
        while (s < e && blank(im.it.data[s]))
            s++;
        while (e > s && blank(im.it.data[e - 1]))
            e--;
        if (s < e)
            classify(im.it.data + s, e - s, (uint32_t)no, &ol[nol++]);
        s = next;
    }

    capture_begin(&c);
    ctl_status r = parse_lines(&im.it, n, import_line, &im);
    size_t msg = capture_end_keep(&c);
    char *text = c.p;
    size_t bad = 0; /* the oracle's first bad line, or nol */
    while (bad < nol && line_good(&ol[bad]))
        bad++;
    if (r == CTL_OK) {
        size_t prefixes = 0, members = 0;
        CHECK(bad == nol);
        for (size_t i = 0; i < nol; i++) {
            prefixes += ol[i].kind == L_PREFIX;
            members += ol[i].kind == L_MEMBER;
        }
        CHECK(im.it.n == prefixes && im.nm == members);
        /* one allocation a distinct name, each named by some line */
        for (size_t i = 0; i < im.na; i++) {
            int named = 0;
            CHECK(spfdb_alloc_name_check(im.a[i].name, NULL) == 0);
            for (size_t j = 0; j < nol && !named; j++)
                named = strcmp(ol[j].name, im.a[i].name) == 0;
            CHECK(named);
            for (size_t j = 0; j < i; j++)
                CHECK(strcmp(im.a[i].name, im.a[j].name) != 0);
        }
        for (size_t j = 0; j < nol; j++)
            CHECK(alloc_find(&im, ol[j].name) >= 0);
        for (size_t k = 0; k < im.nm; k++)
            CHECK(spfdb_alloc_name_check(im.m[k].name, NULL) == 0 && im.m[k].owner < im.na);
        check_sorted(&im);
    } else if (r != CTL_DB) { /* CTL_DB: out of memory */
        /* it stopped at the first bad line, naming it; the oracle does not
         * know every rule of a prefix (wide, IPv4-mapped: fuzz_ctl's), so
         * a prefix line before the oracle's may be the one */
        const char *at = msg ? strstr(text, "stdin line ") : NULL;
        unsigned no = 0;
        size_t j = 0;
        CHECK(at != NULL && sscanf(at, "stdin line %u:", &no) == 1);
        while (j < nol && ol[j].no != no)
            j++;
        CHECK(j < nol && j <= bad);
        CHECK(j == bad || ol[j].kind == L_PREFIX);
    }
    free(text);
    free(ol);
    import_free(&im);
    return 0;
}
