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
    char line[8192];

    sample_obj_text(o, line, sizeof line);
    printf("%s\n", line);
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
