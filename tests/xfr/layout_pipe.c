/* layout_pipe: xfr/layout.h for test_layout_dnspython.py.
 *
 *   layout_pipe render [compress]  the sample zone (sample.h) as one
 *                                  message on stdout
 *   layout_pipe parse ORIGIN       each answer record of the message on
 *                                  stdin, one line per record: the object,
 *                                  "ignore", or "error CODE" */
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "layout.h"
#include "sample.h"

static void print_obj(const struct xfr_obj *o)
{
    char p[SPFDB_PREFIX_STRLEN];

    switch (o->kind) {
    case XFR_IGNORE:
        printf("ignore\n");
        break;
    case XFR_SOA:
        printf("soa %u %u %u %u %u\n", o->soa.serial, o->soa.refresh, o->soa.retry,
               o->soa.expire, o->soa.minimum);
        break;
    case XFR_LAYOUT:
        printf("layout %u\n", o->layout);
        break;
    case XFR_ZONE:
        printf("zone %s alloc=%s ttl=%u neg=%u hostmaster=%s ns=", o->zone.name, o->zone.alloc,
               o->zone.ttl, o->zone.neg_ttl, o->zone.hostmaster);
        for (unsigned i = 0; i < o->zone.n_ns; i++)
            printf("%s%s", i ? "," : "", o->zone.ns[i]);
        printf("\n");
        break;
    case XFR_ALLOC:
        printf("alloc %s\n", o->alloc.alloc);
        break;
    case XFR_MEMBER:
        printf("member %s %s\n", o->member.alloc, o->member.member);
        break;
    case XFR_ENTRY:
        spfdb_prefix_format(&o->entry.prefix, p, sizeof p);
        printf("entry %s %s\n", o->entry.alloc, p);
        break;
    }
}

static int parse(const char *origin_text)
{
    static uint8_t msg[65536];
    static struct xfr_obj obj;
    struct xfr_origin origin;
    struct xfr_rr rr;
    size_t len = fread(msg, 1, sizeof msg, stdin), at = XFR_HDR_LEN;

    if (xfr_origin_set(&origin, origin_text) != 0 || len < XFR_HDR_LEN)
        return 2;
    for (unsigned i = get_be16(msg + 4); i > 0; i--)
        if (xfr_question_skip(msg, len, &at) != 0)
            return 1;
    for (unsigned i = get_be16(msg + 6); i > 0; i--) {
        int r;
        if (xfr_rr_read(msg, len, &at, &rr) != 0)
            return 1;
        if ((r = xfr_parse(&origin, &rr, &obj)) != 0)
            printf("error %d\n", r);
        else
            print_obj(&obj);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static uint8_t buf[16384];

    if (argc >= 2 && strcmp(argv[1], "render") == 0) {
        size_t n = sample_message(buf, sizeof buf, argc > 2 && strcmp(argv[2], "compress") == 0);
        return n && fwrite(buf, 1, n, stdout) == n ? 0 : 1;
    }
    if (argc == 3 && strcmp(argv[1], "parse") == 0)
        return parse(argv[2]);
    fprintf(stderr, "usage: layout_pipe render [compress] | parse ORIGIN\n");
    return 2;
}
