/* xfr_pipe: both ends of a transfer (xfrtest.h) over stdin and stdout,
 * for test_xfr_dnspython.py.  Messages travel as on TCP: a 2-octet
 * length, then the message.
 *
 *   xfr_pipe key                 the shared key: "NAME HEXSECRET"
 *   xfr_pipe serve STATE CAP PER MASK
 *                                read one request, write the answer of
 *                                a server at STATE (xt_serve's choices)
 *   xfr_pipe read TYPE SERIAL [SKEW]
 *                                write our request (soa, axfr or ixfr
 *                                from SERIAL), read the reply until EOF
 *                                with our clock SKEW seconds off, then
 *                                print its events and "result CODE DETAIL" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "xfrtest.h"

#define STREAM_MAX (1 << 20)

static uint8_t stream[STREAM_MAX];

static int serve(char **argv)
{
    static uint8_t req[XFR_MSG_MAX];
    struct xt_serve s = {(unsigned)atoi(argv[0]), (size_t)atol(argv[1]),
                         (unsigned)atoi(argv[2]), strtoull(argv[3], NULL, 0)};
    uint8_t h[2];
    size_t len;
    int n;

    if (s.state >= XT_STATES || fread(h, 1, 2, stdin) != 2 ||
        fread(req, 1, get_be16(h), stdin) != get_be16(h))
        return 2;
    n = xt_serve(&s, req, get_be16(h), stream, sizeof stream, &len);
    if (n < 0) {
        fprintf(stderr, "xfr_pipe: serve: %d %s\n", n, xfr_strerror(n));
        return 1;
    }
    return fwrite(stream, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
}

static int read_reply(char **argv)
{
    static struct xt_events ev;
    static struct xfr_in in;
    uint8_t req[512];
    struct xfr_in_query q = {xt_origin(), xt_key(), 0, 0x2b2b, (uint32_t)strtoul(argv[1], NULL, 0),
                             xt_event, &ev};
    uint64_t now = XT_T + (uint64_t)(argv[2] ? atoll(argv[2]) : 0);
    size_t len, n;
    int r;

    q.qtype = strcmp(argv[0], "soa") == 0    ? XFR_T_SOA
              : strcmp(argv[0], "axfr") == 0 ? XFR_T_AXFR
                                             : XFR_T_IXFR;
    xt_events_reset(&ev);
    if (xfr_in_start(&in, &q, req + 2, sizeof req - 2, &len, XT_T) != XFR_IN_MORE)
        return 2;
    put_be16(req, (uint16_t)len);
    if (fwrite(req, 1, len + 2, stdout) != len + 2 || fflush(stdout) != 0)
        return 1;
    n = fread(stream, 1, sizeof stream, stdin);
    r = xt_read_stream(&in, stream, n, now);
    printf("%sresult %d %d\n", ev.text, r, r < 0 ? in.detail : 0);
    xfr_in_free(&in);
    xt_events_free(&ev);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "key") == 0) {
        printf("%s ", XT_KEY);
        for (size_t i = 0; i < sizeof xt_secret; i++)
            printf("%02x", xt_secret[i]);
        printf("\n");
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "serve") == 0)
        return serve(argv + 2);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "read") == 0)
        return read_reply(argv + 2);
    fprintf(stderr, "usage: xfr_pipe key | serve STATE CAP PER MASK | read TYPE SERIAL [SKEW]\n");
    return 2;
}
