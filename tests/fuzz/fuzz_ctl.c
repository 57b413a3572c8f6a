/* fuzz_ctl.c: libFuzzer target for spfdb-ctl's input parsing: the prefix
 * list of `add -` and `replace FILE` (parse_lines), prefixes as arguments
 * (read_args), the sort that finds repeats (items_sort) and the notes about
 * them (report); the option values (--ttl, --negative-ttl, --since,
 * --hostmaster, --ns, --zone, --allocation); and the quoting of user text
 * in messages (ctl_quote, ctl_escape, ctl_json_str).
 *
 * cmd_entry.c is included so that its static parser is reached as it is,
 * with no test entry point in the tool.  The first input octet picks the
 * mode and its flags; the rest is the text.  Each result is checked
 * against a reader of the rules written from SPEC §3 and the headers, and
 * every message written to stderr must be printable ASCII lines: user
 * text is quoted.  Any violation abort()s.
 */
#include "cmd_entry.c"

#include <arpa/inet.h>
#include <errno.h>
#include <time.h>

#define FUZZ_NAME "fuzz_ctl"
#include "fuzz.h"

/* ---- prefixes ------------------------------------------------------------- */

/* A parsed prefix: valid, canonical, and what its canonical text parses
 * to; a bare address also as inet_pton reads it (prefix.c follows glibc's
 * inet_pton for IPv6, and is stricter about nothing it accepts). */
static void check_prefix(const struct spfdb_prefix *p, const char *tok, size_t len)
{
    char text[SPFDB_PREFIX_STRLEN], copy[80];
    struct spfdb_prefix q;
    unsigned notes;

    CHECK(spfdb_prefix_valid(p) && !spfdb_prefix_mapped(p));
    spfdb_prefix_format(p, text, sizeof text);
    CHECK(spfdb_prefix_parse(text, strlen(text), &q, &notes, NULL, 0) == 0);
    CHECK(memcmp(p, &q, sizeof q) == 0 && !(notes & SPFDB_NOTE_MAPPED));
    if (len >= sizeof copy || memchr(tok, '/', len))
        return;
    memcpy(copy, tok, len);
    copy[len] = '\0';
    uint8_t a[16];
    if (memchr(tok, ':', len)) {
        static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
        CHECK(inet_pton(AF_INET6, copy, a) == 1);
        if (memcmp(a, mapped, 12) == 0)
            CHECK(p->family == 4 && p->len == 32 && memcmp(p->addr, a + 12, 4) == 0);
        else
            CHECK(p->family == 6 && p->len == 128 && memcmp(p->addr, a, 16) == 0);
    } else {
        CHECK(inet_pton(AF_INET, copy, a) == 1);
        CHECK(p->family == 4 && p->len == 32 && memcmp(p->addr, a, 4) == 0);
    }
}

/* A token add_token() refused: is it one?  The parse, or the wide rule. */
static int token_ok(const struct items *it, const char *tok, size_t len, struct spfdb_prefix *p)
{
    char copy[80];

    if (spfdb_prefix_parse(tok, len, p, NULL, NULL, 0) != 0) {
        /* what inet_pton takes, the parse takes (a bare address) */
        if (len < sizeof copy && !memchr(tok, '/', len) && !memchr(tok, '\0', len)) {
            uint8_t a[16];
            memcpy(copy, tok, len);
            copy[len] = '\0';
            CHECK(inet_pton(memchr(tok, ':', len) ? AF_INET6 : AF_INET, copy, a) != 1);
        }
        return 0;
    }
    return it->wide_ok || spfdb_prefix_check(p, entry_flags(it), NULL) == 0;
}

/* After items_sort: in prefix order, each run of equal prefixes its first
 * occurrence (lowest seq) first and the rest marked repeats of its line,
 * the items a permutation of the input. */
static void check_sorted(const struct items *it)
{
    size_t first = 0;
    uint8_t *seen = calloc(it->n + 1, 1);

    CHECK(seen != NULL);
    for (size_t k = 0; k < it->n; k++) {
        const struct item *i = &it->v[k];
        CHECK(i->seq < it->n && !seen[i->seq]);
        seen[i->seq] = 1;
        if (k == 0 || spfdb_prefix_cmp(&it->v[k - 1].p, &i->p) != 0) {
            CHECK(k == 0 || spfdb_prefix_cmp(&it->v[k - 1].p, &i->p) < 0);
            CHECK(i->state == ST_NEW);
            first = k;
            continue;
        }
        CHECK(i->state == ST_DUP && i->first_line == it->v[first].line);
        CHECK(i->seq > it->v[k - 1].seq);
    }
    free(seen);
}

/* The items of a parse that gave R: one for each token before the first
 * bad one, as they were given (TOK[k], LEN[k], LINE[k]). */
static void check_items(const struct items *it, ctl_status r, const char *const *tok,
                        const size_t *len, const uint32_t *line, size_t ntok)
{
    struct spfdb_prefix p;
    size_t good = 0;

    while (good < ntok && token_ok(it, tok[good], len[good], &p))
        good++;
    CHECK(r == (good == ntok ? CTL_OK : CTL_USAGE));
    CHECK(it->n == good);
    for (size_t k = 0; k < it->n; k++) {
        const struct item *i = &it->v[k];
        CHECK(i->tok == tok[k] && i->toklen == len[k] && i->line == line[k] && i->seq == k);
        CHECK(token_ok(it, tok[k], len[k], &p) && memcmp(&p, &i->p, sizeof p) == 0);
        check_prefix(&i->p, i->tok, i->toklen);
    }
}

static void sort_and_report(struct items *it)
{
    ctl_status r = items_sort(it);

    CHECK(r == CTL_OK);
    check_sorted(it);
    CHECK(report(it, SPFDB_NOTE_MAPPED | SPFDB_NOTE_SPECIAL | SPFDB_NOTE_WIDE) == CTL_OK);
}

static int blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* `add -`, `replace FILE`: the lines of D[0..N). */
static void fuzz_lines(unsigned flags, const uint8_t *d, size_t n)
{
    struct items it = {.src = "stdin", .force = flags & 1, .wide_ok = flags >> 1 & 1};
    size_t cap = 1, ntok = 0;
    struct capture c;

    for (size_t i = 0; i < n; i++)
        cap += d[i] == '\n';
    const char **tok = malloc(cap * sizeof *tok);
    size_t *len = malloc(cap * sizeof *len);
    uint32_t *line = malloc(cap * sizeof *line);
    it.data = malloc(n ? n : 1);
    CHECK(tok && len && line && it.data);
    memcpy(it.data, d, n);
    /* the lines as SPEC §3 has them: a token between blanks, before '#' */
    for (size_t s = 0, no = 1; s < n; no++) {
        size_t e = s, next;
        while (e < n && it.data[e] != '\n')
            e++;
        next = e + 1;
        for (size_t h = s; h < e; h++)
            if (it.data[h] == '#') {
                e = h;
                break;
            }
        while (s < e && blank(it.data[s]))
            s++;
        while (e > s && blank(it.data[e - 1]))
            e--;
        if (s < e) {
            tok[ntok] = it.data + s;
            len[ntok] = e - s;
            line[ntok++] = (uint32_t)no;
        }
        s = next;
    }
    capture_begin(&c);
    ctl_status r = parse_lines(&it, n, prefix_line, NULL);
    CHECK(it.n <= it.cap && it.cap == cap);
    check_items(&it, r, tok, len, line, ntok);
    if (r == CTL_OK)
        sort_and_report(&it);
    CHECK(capture_end(&c) > 0 || r == CTL_OK);
    free(tok);
    free(len);
    free(line);
    items_free(&it);
}

/* `add PREFIX...`: arguments, NUL-separated in D[0..N). */
static void fuzz_args(unsigned flags, const uint8_t *d, size_t n)
{
    static const struct ctl_cmd cmd = {.name = "add", .help = "usage: spfdb-ctl add PREFIX...\n"};
    struct ctl ctl = {.cmd = &cmd};
    struct items it = {.force = flags & 1, .wide_ok = flags >> 1 & 1};
    char *buf = malloc(n + 1);
    int argc = 0, dash = 0;
    struct capture c;

    CHECK(buf != NULL);
    memcpy(buf, d, n);
    buf[n] = '\0';
    char **argv = malloc((n + 2) * sizeof *argv);
    const char **tok = malloc((n + 2) * sizeof *tok);
    size_t *len = malloc((n + 2) * sizeof *len);
    uint32_t *line = calloc(n + 2, sizeof *line);
    CHECK(argv && tok && len && line);
    for (size_t s = 0; s <= n; s += strlen(buf + s) + 1) {
        argv[argc] = buf + s;
        tok[argc] = buf + s;
        len[argc] = strlen(buf + s);
        dash |= strcmp(buf + s, "-") == 0;
        argc++;
    }
    if (!(argc == 1 && dash)) { /* "-" alone reads stdin */
        capture_begin(&c);
        ctl_status r = read_args(&ctl, &it, argc, argv);
        if (dash) {
            /* "-" among prefixes is a usage error, after the ones before it */
            size_t k = 0;
            while (strcmp(argv[k], "-") != 0)
                k++;
            if (r != CTL_OK)
                CHECK(it.n <= k);
        } else {
            check_items(&it, r, tok, len, line, (size_t)argc);
            if (r == CTL_OK)
                sort_and_report(&it);
        }
        CHECK(capture_end(&c) > 0 || r == CTL_OK);
    }
    items_free(&it);
    free(argv);
    free(tok);
    free(len);
    free(line);
    free(buf);
}

/* ---- option values -------------------------------------------------------- */

static void check_ttl(const char *s, ctl_status (*set)(void *, const char *), uint32_t max)
{
    uint32_t v = 0xdeadbeef;
    unsigned long long x = 0;
    char *end;
    int digits = s[0] != '\0' && strspn(s, "0123456789") == strlen(s);

    errno = 0;
    if (digits)
        x = strtoull(s, &end, 10);
    int ok = digits && errno == 0 && x >= 1 && x <= max;
    ctl_status r = set(&v, s);
    CHECK(r == (ok ? CTL_OK : CTL_USAGE));
    CHECK(ok ? v == x : v == 0xdeadbeef);
}

/* --since: an age is now minus it; a date or time is a moment that its
 * canonical text gives again. */
static void check_since(const char *s)
{
    int64_t t = -7, again = -7;
    time_t before = time(NULL);
    ctl_status r = opt_since(&t, s);
    time_t after = time(NULL);
    char *end = NULL, canon[64];
    struct tm tm;

    CHECK(r == CTL_OK || r == CTL_USAGE);
    if (r != CTL_OK)
        return;
    CHECK(t >= 0);
    errno = 0;
    long long v = s[0] >= '0' && s[0] <= '9' ? strtoll(s, &end, 10) : -1;
    if (v >= 0 && errno == 0 && end[0] && !end[1] && strchr("smhdw", end[0])) {
        static const long long secs[] = {1, 60, 3600, 86400, 604800};
        long long unit = secs[strchr("smhdw", end[0]) - "smhdw"];
        if (v <= 1000000000000LL / unit) {
            CHECK(t >= (int64_t)before - v * unit && t <= (int64_t)after - v * unit);
            return;
        }
    }
    time_t tt = (time_t)t;
    CHECK(gmtime_r(&tt, &tm) != NULL);
    CHECK(strftime(canon, sizeof canon, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
    CHECK(opt_since(&again, canon) == CTL_OK && again == t);
}

/* A normalised name: NORM gives it back unchanged. */
static void check_norm_name(const char *out, size_t max)
{
    char again[SPFDB_NAME_MAX + 1];
    size_t n = strlen(out);

    CHECK(n > 0 && n <= max && out[n - 1] != '.');
    for (size_t i = 0; i < n; i++)
        CHECK(!(out[i] >= 'A' && out[i] <= 'Z'));
    CHECK(spfdb_dns_name_norm(out, max, again, sizeof again, NULL, 0) == 0);
    CHECK(strcmp(again, out) == 0);
}

static void fuzz_options(unsigned flags, const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    struct capture c;

    CHECK(s != NULL);
    memcpy(s, d, n);
    s[n] = '\0';
    capture_begin(&c);
    check_ttl(s, opt_ttl, SPFDB_TTL_MAX);
    check_ttl(s, opt_neg_ttl, SPFDB_NEG_TTL_MAX);
    check_since(s);

    char hm[SPFDB_NAME_MAX + 1] = "", again[SPFDB_NAME_MAX + 1];
    ctl_status r = opt_hostmaster(hm, s);
    if (!*s) {
        CHECK(r == CTL_OK && !*hm);
    } else if (r == CTL_OK) {
        const char *at = strchr(hm, '@');
        CHECK(at != NULL && strlen(hm) <= SPFDB_NAME_MAX);
        CHECK(strncmp(hm, s, (size_t)(at - hm + 1)) == 0); /* the local part as given */
        check_norm_name(at + 1, SPFDB_HOST_MAX);
        CHECK(spfdb_mailbox_norm(hm, again, sizeof again, NULL, 0) == 0 && !strcmp(again, hm));
    }

    char zone[SPFDB_NAME_MAX + 1];
    if (opt_zone(zone, s) == CTL_OK)
        check_norm_name(zone, SPFDB_HOST_MAX);

    char alloc[SPFDB_LABEL_MAX + 1];
    if (ctl_alloc_arg(s, alloc) == CTL_OK) {
        CHECK(spfdb_alloc_name_check(alloc, NULL) == 0 && strlen(alloc) == strlen(s));
        for (size_t i = 0; s[i]; i++)
            CHECK(alloc[i] == s[i] || alloc[i] == s[i] - 'A' + 'a');
    }

    /* --ns, repeated: the NUL-separated values, one by one */
    struct ctl_ns ns = {0};
    for (size_t o = 0; o <= n && ns.n < SPFDB_NS_MAX + 2; o += strlen(s + o) + 1) {
        unsigned before = ns.n;
        r = opt_ns(&ns, s + o);
        CHECK(ns.n == before + (r == CTL_OK));
        CHECK(ns.n <= SPFDB_NS_MAX);
        if (r != CTL_OK)
            continue;
        check_norm_name(ns.host[before], SPFDB_HOST_MAX);
        for (unsigned k = 0; k < before; k++)
            CHECK(strcmp(ns.host[k], ns.host[before]) != 0);
        if (flags & 1) {
            /* the same host again, in other letters or with a dot: twice */
            char twice[SPFDB_NAME_MAX + 3];
            snprintf(twice, sizeof twice, "%s.", s + o);
            for (char *t = twice; *t; t++)
                if ((*t | 0x20) >= 'a' && (*t | 0x20) <= 'z')
                    *t ^= 0x20;
            if (twice[strlen(twice) - 2] == '.')
                twice[strlen(twice) - 1] = '\0';
            CHECK(opt_ns(&ns, twice) == CTL_USAGE && ns.n == before + 1);
        }
    }
    capture_end(&c);
    free(s);
}

/* ---- quoting -------------------------------------------------------------- */

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Undo \xHH escapes of Q[0..N) (printable ASCII) into OUT; its length. */
static size_t unescape(const char *q, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        CHECK(q[i] >= 0x20 && q[i] < 0x7f);
        if (q[i] != '\\') {
            out[o++] = q[i];
            continue;
        }
        CHECK(i + 3 < n && q[i + 1] == 'x' && hexval(q[i + 2]) >= 0 && hexval(q[i + 3]) >= 0);
        out[o++] = (char)(hexval(q[i + 2]) << 4 | hexval(q[i + 3]));
        i += 3;
    }
    return o;
}

/* JSON string at J (quoted, as RFC 8259) decoded into OUT: its length. */
static size_t json_decode(const char *j, size_t n, char *out)
{
    size_t o = 0;

    CHECK(n >= 2 && j[0] == '"' && j[n - 1] == '"');
    for (size_t i = 1; i < n - 1; i++) {
        unsigned char ch = (unsigned char)j[i];
        CHECK(ch >= 0x20 && ch != '"');
        if (ch != '\\') {
            out[o++] = (char)ch;
            continue;
        }
        CHECK(i + 1 < n - 1);
        ch = (unsigned char)j[++i];
        if (ch == '"' || ch == '\\' || ch == '/') {
            out[o++] = (char)ch;
            continue;
        }
        CHECK(ch == 'u' && i + 4 < n - 1);
        unsigned u = 0;
        for (int k = 1; k <= 4; k++) {
            int h = hexval(j[i + k]);
            CHECK(h >= 0);
            u = u << 4 | (unsigned)h;
        }
        i += 4;
        if (u < 0x80) {
            out[o++] = (char)u;
        } else {
            CHECK(u == 0xfffd); /* the only escape above ASCII */
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
        }
    }
    return o;
}

/* S with every octet that does not start valid UTF-8 replaced by U+FFFD,
 * as ctl_json_str promises: into OUT, its length. */
static size_t utf8_fixed(const char *s, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    while (*p) {
        unsigned char c = *p;
        size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        for (size_t i = 1; i < n; i++)
            if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
                n = 0;
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        } else {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        }
    }
    return o;
}

static void fuzz_quote(unsigned flags, const uint8_t *d, size_t n)
{
    char q[CTL_QUOTE_MAX], *s = malloc(n + 1), *out = malloc(3 * n + 8);
    size_t qn, un;

    CHECK(s && out);
    memcpy(s, d, n);
    s[n] = '\0';
    /* ctl_quote: the whole token, or its start and "..." */
    CHECK(ctl_quote(s, n, q) == q);
    qn = strlen(q);
    CHECK(qn >= 2 && qn < CTL_QUOTE_MAX && q[0] == '\'' && q[qn - 1] == '\'');
    un = unescape(q + 1, qn - 2, out);
    if (un != n || memcmp(out, s, n) != 0)
        CHECK(un >= 3 && memcmp(out + un - 3, "...", 3) == 0 && un - 3 < n &&
              memcmp(out, s, un - 3) == 0 && qn + 4 >= CTL_QUOTE_MAX);
    /* ctl_escape: into CAP octets, whole when it fits */
    size_t len = strlen(s), cap = (size_t)(flags * 37) % (4 * len + 16) + 1;
    char *e = malloc(cap);
    CHECK(e != NULL);
    size_t en = ctl_escape(e, cap, s);
    CHECK(en < cap && strlen(e) == en);
    un = unescape(e, en, out);
    CHECK(un <= len && memcmp(out, s, un) == 0);
    CHECK(un == len || en + 5 >= cap);
    free(e);
    /* ctl_put_escaped and ctl_json_str */
    char *mp = NULL;
    size_t mn = 0;
    FILE *f = open_memstream(&mp, &mn);
    CHECK(f != NULL);
    ctl_put_escaped(f, s);
    CHECK(fflush(f) == 0);
    size_t pn = mn;
    un = unescape(mp, pn, out);
    CHECK(un == len && memcmp(out, s, len) == 0);
    ctl_json_str(f, s);
    CHECK(fclose(f) == 0);
    char *fixed = malloc(3 * len + 1);
    CHECK(fixed != NULL);
    un = json_decode(mp + pn, mn - pn, out);
    CHECK(un == utf8_fixed(s, fixed) && memcmp(out, fixed, un) == 0);
    free(fixed);
    free(mp);
    free(out);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] >> 2;
    switch (data[0] & 3) {
    case 0: fuzz_lines(flags, data + 1, size - 1); break;
    case 1: fuzz_args(flags, data + 1, size - 1); break;
    case 2: fuzz_options(flags, data + 1, size - 1); break;
    default: fuzz_quote(flags, data + 1, size - 1); break;
    }
    return 0;
}
