/* Output of spfdb-ctl: messages on stderr, quoting, JSON strings, and
 * stdout written only when no transaction is open (ctl.h).  The bottom of
 * the tool: calls nothing else of it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list try;
    int n;

    if (b->oom)
        return;
    for (;;) {
        va_copy(try, ap);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, try);
        va_end(try);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void ctl_err(const char *fmt, ...)
{
    va_list ap;

    fputs("spfdb-ctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *ctl_quote(const char *s, size_t len, char *buf)
{
    size_t o = 0;

    buf[o++] = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o + 8 >= CTL_QUOTE_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, CTL_QUOTE_MAX - o, "\\x%02x", ch);
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

ctl_status ctl_mem_open(struct ctl_mem *m)
{
    m->p = NULL;
    m->len = 0;
    if (!(m->f = open_memstream(&m->p, &m->len))) {
        ctl_err("out of memory");
        return CTL_DB;
    }
    return CTL_OK;
}

void ctl_mem_drop(struct ctl_mem *m)
{
    (void)fclose(m->f); /* discarded: a failed flush loses nothing wanted */
    free(m->p);
}

ctl_status ctl_mem_emit(struct ctl_mem *m)
{
    int bad = ferror(m->f);
    ctl_status r;

    if (fclose(m->f) != 0 || bad) {
        free(m->p);
        ctl_err("out of memory");
        return CTL_DB;
    }
    r = ctl_out(m->p, m->len);
    free(m->p);
    return r;
}

/* The write error on stdout ERR: CTL_DB, said unless the pipe was closed. */
static ctl_status out_failed(int err)
{
    if (err != EPIPE)
        ctl_err("cannot write the output: %s", strerror(err ? err : EIO));
    return CTL_DB;
}

ctl_status ctl_out(const char *p, size_t n)
{
    ctl_status r = ctl_flush();

    while (r == CTL_OK && n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return out_failed(errno);
        p += w;
        n -= (size_t)w;
    }
    return r;
}

const char *ctl_utc(int64_t t, char *buf)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || !strftime(buf, CTL_UTC_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
        strcpy(buf, "?");
    return buf;
}

/* Length of the valid UTF-8 sequence at S (not NUL), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
             : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, above U+10FFFF */
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Does ctl_escape() keep CH as it is? */
static int plain(unsigned char ch)
{
    return ch >= 0x20 && ch < 0x7f && ch != '\\';
}

size_t ctl_escape(char *dst, size_t cap, const char *s)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < cap; p++)
        if (plain(*p))
            dst[o++] = (char)*p;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", *p);
    dst[o] = '\0';
    return o;
}

void ctl_put_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (plain(*p))
            putc(*p, f);
        else
            fprintf(f, "\\x%02x", *p);
}

void ctl_json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    putc('"', f);
    while (*p) {
        size_t n;

        if (*p == '"' || *p == '\\') {
            putc('\\', f);
            putc(*p++, f);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p++);
        } else if (*p < 0x80) {
            putc(*p++, f);
        } else if ((n = utf8_len(p)) != 0) {
            fwrite(p, 1, n, f);
            p += n;
        } else {
            fputs("\\ufffd", f);
            p++;
        }
    }
    putc('"', f);
}

void ctl_json_str_or_null(FILE *f, const char *s)
{
    if (*s)
        ctl_json_str(f, s);
    else
        fputs("null", f);
}

ctl_status ctl_flush(void)
{
    errno = 0; /* a write that failed earlier leaves ferror() set, no errno */
    if (fflush(stdout) != 0 || ferror(stdout))
        return out_failed(errno);
    return CTL_OK;
}
