/* fuzz.h: what the fuzz targets share: CHECK, and reading an input as
 * fields.  Header-only; a target defines FUZZ_NAME before including it.
 */
#ifndef SPFDB_FUZZ_H
#define SPFDB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A violated invariant: said on fd 2 itself (stderr may be a capture), then
 * abort(), which libFuzzer (or main.c under ctest) reports. */
#define CHECK(c)                                                                        \
    do {                                                                                \
        if (!(c)) {                                                                     \
            dprintf(2, "%s: check failed: %s (line %d)\n", FUZZ_NAME, #c, __LINE__);    \
            abort();                                                                    \
        }                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* stderr captured (the targets that run a tool's code check its
 * messages): whole lines of printable ASCII, or abort(). */
struct capture {
    FILE *saved, *f;
    char *p;
    size_t n;
};

static inline void capture_begin(struct capture *c)
{
    c->p = NULL;
    c->n = 0;
    c->f = open_memstream(&c->p, &c->n);
    CHECK(c->f != NULL);
    c->saved = stderr;
    stderr = c->f;
}

/* End the capture, checked; the text stays in C->p (the caller frees it).
 * Returns how many octets were written. */
static inline size_t capture_end_keep(struct capture *c)
{
    stderr = c->saved;
    CHECK(fclose(c->f) == 0);
    CHECK(c->n == 0 || c->p[c->n - 1] == '\n');
    for (size_t i = 0; i < c->n; i++)
        CHECK(c->p[i] == '\n' || (c->p[i] >= 0x20 && c->p[i] < 0x7f));
    return c->n;
}

static inline size_t capture_end(struct capture *c)
{
    size_t n = capture_end_keep(c);

    free(c->p);
    return n;
}

/* The input read front to back as fields; past its end, zeros. */
struct input {
    const uint8_t *p;
    size_t n;
};

static inline unsigned take8(struct input *in)
{
    unsigned v = in->n ? in->p[0] : 0;

    if (in->n) {
        in->p++;
        in->n--;
    }
    return v;
}

static inline uint64_t take64(struct input *in)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | take8(in);
    return v;
}

/* A string as a writer stores it (no NUL) of up to MAX octets, into OUT of
 * MAX + 1; at least one octet ("x" when the input has none) when NONEMPTY. */
static inline void take_str(struct input *in, char *out, size_t max, int nonempty)
{
    size_t n = take8(in) % (max + 1), k = 0;

    while (k < n && in->n)
        out[k++] = (char)(take8(in) | 1);
    if (k == 0 && nonempty)
        out[k++] = 'x';
    out[k] = '\0';
}

#endif
