/* fuzz_xfr_parse.c: libFuzzer target for layout 1's record reader
 * (xfr_parse, xfr/layout.h).
 *
 * Input: a DNS message; each answer record is read (xfr_rr_read) and
 * parsed for the transfer zone xfr.esp.example.  Checked: what parses
 * renders again (xfr_put_obj), in full and compressed, and that record
 * parses to the same object (the SOA: the same serial), so the reader
 * accepts nothing the writer could not say; no read out of bounds
 * (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "layout.h"
#include "sample.h"

#define CHECK(c)                                                                             \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_xfr_parse: check failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* O rendered in a message of its own (the question first, to compress
 * against), read and parsed back. */
static void again(const struct xfr_origin *origin, const struct xfr_obj *o, int compress)
{
    static uint8_t buf[XFR_MSG_MAX];
    static struct xfr_obj back;
    static char want[8192], got[8192];
    struct xfr_out out;
    struct xfr_rr rr;
    size_t at;

    memset(buf, 0, XFR_HDR_LEN);
    memcpy(buf + XFR_HDR_LEN, origin->name, origin->len);
    at = XFR_HDR_LEN + origin->len;
    put_be16(buf + at, XFR_T_AXFR);
    put_be16(buf + at + 2, XFR_C_IN);
    at += 4;
    xfr_out_init(&out, origin, buf, sizeof buf, at, compress ? XFR_HDR_LEN : 0);
    CHECK(xfr_put_obj(&out, XFR_NS_DEFAULT, o) == XFR_OK);
    CHECK(xfr_rr_read(buf, out.len, &at, &rr) == 0 && at == out.len);
    CHECK(xfr_parse(origin, &rr, &back) == XFR_OK);
    CHECK(back.kind == o->kind);
    if (o->kind == XFR_SOA) {
        CHECK(back.soa.serial == o->soa.serial);
        return;
    }
    sample_obj_text(o, want, sizeof want);
    sample_obj_text(&back, got, sizeof got);
    CHECK(strcmp(want, got) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xfr_obj o;
    struct xfr_origin origin;
    struct xfr_rr rr;
    size_t at = XFR_HDR_LEN;
    unsigned n;

    if (size < XFR_HDR_LEN || xfr_origin_set(&origin, "xfr.esp.example") != 0)
        return 0;
    for (unsigned i = get_be16(data + 4); i > 0; i--)
        if (xfr_question_skip(data, size, &at) != 0)
            return 0;
    n = (unsigned)get_be16(data + 6) + get_be16(data + 8) + get_be16(data + 10);
    for (unsigned i = 0; i < n; i++) {
        int r;
        if (xfr_rr_read(data, size, &at, &rr) != 0)
            return 0;
        r = xfr_parse(&origin, &rr, &o);
        CHECK(r <= 0 && xfr_strerror(r)[0] != '\0');
        if (r != XFR_OK)
            continue;
        again(&origin, &o, 0);
        again(&origin, &o, 1);
    }
    return 0;
}
