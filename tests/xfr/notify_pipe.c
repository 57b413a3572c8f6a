/* notify_pipe: xfr/notify.h driven over stdin/stdout, for
 * test_notify_dnspython.py.
 *
 * Usage: notify_pipe KEYNAME HEXSECRET ORIGIN NS SERIAL ID NOW
 * Writes the signed NOTIFY request as one frame (a 2-octet length and the
 * message; length 0: the build failed).  Then for each input frame (NOW,
 * 8 octets, a 2-octet length and a reply) writes the check's result: four
 * signed 2-octet fields, the xfr_notify_check result, the RCODE, the TSIG
 * result and the peer's TSIG error.  Frames are flushed one by one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "notify.h"

static int read_full(void *p, size_t n)
{
    return fread(p, 1, n, stdin) == n;
}

static void put(const uint8_t *p, size_t n)
{
    if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0)
        exit(1);
}

static int hex_secret(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;

    if (strlen(s) % 2 || n == 0 || n > cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        if (sscanf(s + 2 * i, "%2x", &x) != 1)
            return -1;
        out[i] = (uint8_t)x;
    }
    return (int)n;
}

int main(int argc, char **argv)
{
    static uint8_t buf[65536];
    uint8_t secret[128], head[10], h[XFR_NOTIFY_MAX + 2];
    struct tsig_key key;
    struct tsig_ctx ctx;
    struct xfr_origin origin;
    size_t len = 0;
    uint16_t id;
    int n;

    if (argc != 8) {
        fprintf(stderr, "usage: notify_pipe KEYNAME HEXSECRET ORIGIN NS SERIAL ID NOW\n");
        return 2;
    }
    n = hex_secret(argv[2], secret, sizeof secret);
    if (n < 0 || tsig_key_set(&key, argv[1], secret, (size_t)n) != TSIG_OK ||
        xfr_origin_set(&origin, argv[3]) != 0) {
        fprintf(stderr, "notify_pipe: bad key or origin\n");
        return 2;
    }
    id = (uint16_t)strtoul(argv[6], NULL, 10);
    if (xfr_notify_build(h + 2, sizeof h - 2, &len, id, &origin, argv[4],
                         (uint32_t)strtoul(argv[5], NULL, 10), &key, &ctx,
                         strtoull(argv[7], NULL, 10)) != 0)
        len = 0;
    put_be16(h, (uint16_t)len);
    put(h, len + 2);
    while (read_full(head, sizeof head)) {
        struct xfr_notify_reply r;
        uint8_t out[8];
        size_t m = get_be16(head + 8);
        int res;

        if (!read_full(buf, m))
            return 1;
        res = xfr_notify_check(&ctx, id, &origin, buf, m, get_be64(head), &r);
        put_be16(out, (uint16_t)(int16_t)res);
        put_be16(out + 2, (uint16_t)(int16_t)r.rcode);
        put_be16(out + 4, (uint16_t)(int16_t)r.tsig);
        put_be16(out + 6, r.peer_error);
        put(out, sizeof out);
    }
    return 0;
}
