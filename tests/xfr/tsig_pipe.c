/* tsig_pipe: xfr/tsig.h driven over stdin/stdout, for test_tsig_dnspython.py.
 *
 * Usage: tsig_pipe NAME HEXSECRET [NAME HEXSECRET]...  (the key table;
 * requests are signed with the first key).  One exchange (one struct
 * tsig_ctx) for the whole run.  Each input frame: an operation octet, NOW
 * (8 octets), a 2-octet length and a message; each output frame: the
 * result (2 octets, a signed TSIG_* code), a 2-octet length and a message:
 *   R  sign a request            -> the signed message
 *   Q  verify a request          -> nothing
 *   S  sign a reply              -> the signed message
 *   U  absorb an unsigned reply  -> nothing
 *   X  sign the error reply for the last Q's result -> the message
 *   V  verify a reply            -> peer error (2) and peer time (8)
 *   E  end of the replies        -> nothing
 * Frames are flushed one by one, so a caller can answer what it reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "tsig.h"

#define KEYS_MAX 8

static int read_full(void *p, size_t n)
{
    return fread(p, 1, n, stdin) == n;
}

static void reply(int r, const uint8_t *p, size_t n)
{
    uint8_t h[4];

    put_be16(h, (uint16_t)(int16_t)r);
    put_be16(h + 2, (uint16_t)n);
    if (fwrite(h, 1, 4, stdout) != 4 || (n && fwrite(p, 1, n, stdout) != n) || fflush(stdout))
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
    static uint8_t buf[65536 + TSIG_RR_MAX];
    struct tsig_key keys[KEYS_MAX];
    struct tsig_ctx ctx;
    size_t nkeys = 0;
    uint8_t head[11], secret[256];

    for (int i = 1; i + 1 < argc && nkeys < KEYS_MAX; i += 2) {
        int n = hex_secret(argv[i + 1], secret, sizeof secret);
        if (n < 0 || tsig_key_set(&keys[nkeys++], argv[i], secret, (size_t)n) != TSIG_OK) {
            fprintf(stderr, "tsig_pipe: bad key %s\n", argv[i]);
            return 2;
        }
    }
    if (nkeys == 0) {
        fprintf(stderr, "usage: tsig_pipe NAME HEXSECRET [NAME HEXSECRET]...\n");
        return 2;
    }
    memset(&ctx, 0, sizeof ctx);
    while (read_full(head, sizeof head)) {
        uint64_t now = get_be64(head + 1);
        size_t len = get_be16(head + 9);
        int r;

        if (!read_full(buf, len))
            return 1;
        switch (head[0]) {
        case 'R':
            r = tsig_sign_request(&ctx, &keys[0], buf, &len, sizeof buf, now);
            reply(r, buf, len);
            break;
        case 'Q':
            reply(tsig_verify_request(&ctx, keys, nkeys, buf, len, now), NULL, 0);
            break;
        case 'S':
            r = tsig_sign_reply(&ctx, buf, &len, sizeof buf, now);
            reply(r, buf, len);
            break;
        case 'U':
            reply(tsig_absorb_unsigned(&ctx, buf, len), NULL, 0);
            break;
        case 'X':
            r = tsig_sign_error(&ctx, ctx.status, buf, &len, sizeof buf, now);
            reply(r, buf, len);
            break;
        case 'V': {
            uint8_t peer[10];
            r = tsig_verify_reply(&ctx, buf, len, now);
            put_be16(peer, ctx.peer_error);
            put_be64(peer + 2, ctx.peer_time);
            reply(r, peer, sizeof peer);
            break;
        }
        case 'E':
            reply(tsig_verify_end(&ctx), NULL, 0);
            break;
        default:
            fprintf(stderr, "tsig_pipe: unknown operation %c\n", head[0]);
            return 2;
        }
    }
    return 0;
}
