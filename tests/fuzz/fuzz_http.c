/* fuzz_http.c: libFuzzer target for the metrics endpoint's request
 * parsing, http_head_len() and http_parse() (server/http.h).
 *
 * The input is what a client sends.  It is fed to http_head_len() as a
 * connection receives it, in reads whose sizes the input's first octet
 * chooses, and the head found must be the one a single scan finds: the
 * first empty line.  http_parse() then rates the head and, for
 * robustness, every prefix-free slice of the input it could be handed;
 * its status must agree with the reference reader below, written from
 * http.h and RFC 9112 rather than from http.c.  Any violation abort()s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define FUZZ_NAME "fuzz_http"
#include "fuzz.h"

/* The end of the first empty line in B[0..N) ("\n\n" or "\n\r\n"), through
 * it, or 0. */
static size_t ref_head_len(const char *b, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (b[i] == '\n' && (b[i - 1] == '\n' || (i >= 2 && b[i - 1] == '\r' && b[i - 2] == '\n')))
            return i + 1;
    return 0;
}

static int ref_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    for (size_t i = 0; i < sizeof extra - 1; i++)
        if (c == (unsigned char)extra[i])
            return 1;
    return 0;
}

/* The status http.h promises for the head H[0..N) of a server of PATH:
 * the request line (after any empty lines) is METHOD SP TARGET SP VERSION,
 * single spaces, a CR before its LF allowed; 400 when it is not, 505 for
 * HTTP/d.d other than 1.x, 501 for a method not GET or HEAD, then the
 * target (absolute-form reduced to its path) against PATH, up to a '?'. */
static int ref_parse(const char *h, size_t n, const char *path, int *is_head)
{
    size_t p = 0, e, sp[3], nsp = 0;

    *is_head = 0;
    while (p < n && (h[p] == '\r' || h[p] == '\n'))
        p++;
    for (e = p; e < n && h[e] != '\n'; e++)
        ;
    if (e == n)
        return 400;
    if (e > p && h[e - 1] == '\r')
        e--;
    for (size_t i = p; i < e; i++)
        if (h[i] == ' ') {
            if (nsp == 2)
                return 400;
            sp[nsp++] = i;
        }
    if (nsp != 2 || sp[0] == p || sp[1] == sp[0] + 1 || sp[1] + 1 == e)
        return 400;
    const char *m = h + p, *t = h + sp[0] + 1, *v = h + sp[1] + 1;
    size_t ml = sp[0] - p, tl = sp[1] - sp[0] - 1, vl = e - sp[1] - 1;
    for (size_t i = 0; i < ml; i++)
        if (!ref_tchar((unsigned char)m[i]))
            return 400;
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
            return 400;
    if (vl != 8 || strncmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    int get = ml == 3 && memcmp(m, "GET", 3) == 0, head = ml == 4 && memcmp(m, "HEAD", 4) == 0;
    if (!get && !head)
        return 501;
    *is_head = head;
    for (size_t s = 7; s <= 8; s++) {
        if (tl > s && strncasecmp(t, s == 7 ? "http://" : "https://", s) == 0) {
            size_t i = s;
            while (i < tl && t[i] != '/')
                i++;
            if (i == tl)
                return 404;
            t += i;
            tl -= i;
            break;
        }
    }
    if (t[0] != '/')
        return 400;
    size_t pl = 0;
    while (pl < tl && t[pl] != '?')
        pl++;
    return pl == strlen(path) && memcmp(t, path, pl) == 0 ? 200 : 404;
}

/* http_parse on a private copy of B[0..N), so reads past N are caught. */
static int parse_copy(const char *b, size_t n, const char *path, int *is_head)
{
    char *c = malloc(n ? n : 1);
    int s, ref, ref_head;

    CHECK(c != NULL);
    memcpy(c, b, n);
    *is_head = -1;
    s = http_parse(c, n, path, is_head);
    free(c);
    ref = ref_parse(b, n, path, &ref_head);
    if (s != ref || *is_head != ref_head) {
        fprintf(stderr, "fuzz_http: http_parse %d (head %d), expected %d (head %d)\n", s,
                *is_head, ref, ref_head);
        abort();
    }
    CHECK(s == 200 || s == 400 || s == 404 || s == 501 || s == 505);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char in[HTTP_HEAD_MAX];
    const char *b = (const char *)data + 1;
    size_t n, len = 0, scanned = 0, head = 0, step;
    int is_head, s;

    if (size < 1)
        return 0;
    n = size - 1;
    /* Reads of 1 to 16 octets, or all at once, as conn_readable() makes
     * them: into a buffer of HTTP_HEAD_MAX, the search resumed. */
    step = data[0] & 0x10 ? sizeof in : (size_t)(data[0] & 0x0f) + 1;
    while (len < n && len < sizeof in) {
        size_t r = n - len < step ? n - len : step;
        if (r > sizeof in - len)
            r = sizeof in - len;
        memcpy(in + len, b + len, r);
        len += r;
        head = http_head_len(in, len, scanned);
        scanned = len;
        if (head > 0)
            break;
    }
    size_t ref = ref_head_len(b, len);
    CHECK(head == ref);
    CHECK(head <= len && len <= sizeof in);
    if (head > 0) {
        /* the head ends in its first empty line, and nothing of what
         * follows changes its status */
        CHECK(in[head - 1] == '\n');
        s = parse_copy(in, head, "/metrics", &is_head);
        /* (but for a head of empty lines alone: RFC 9112 §2.2 asks a
         * server to skip at least one, and the first ends a head) */
        size_t blank = 0;
        while (blank < head && (in[blank] == '\r' || in[blank] == '\n'))
            blank++;
        if (blank < head)
            CHECK(parse_copy(b, n, "/metrics", &is_head) == s);
    } else {
        /* incomplete: a full buffer is answered 431, else more is read */
        CHECK(len == n || len == sizeof in);
    }
    /* Any slice: memory-safe, and as the reference says; the path served
     * decides only between 200 and 404. */
    s = parse_copy(b, n, "/metrics", &is_head);
    int s2 = parse_copy(b, n, "/", &is_head);
    CHECK(s == s2 || ((s == 200 || s == 404) && (s2 == 200 || s2 == 404)));
    if (n > 0)
        parse_copy(b + data[0] % n, n - data[0] % n, "/metrics", &is_head);
    return 0;
}
