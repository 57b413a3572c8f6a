/* fuzz_notifyin.c: libFuzzer target for spfdb-follow's NOTIFY reader and
 * reply writer (follow/notifyin.h).
 *
 * Input: one octet of mode, two of the reply buffer's size (mod 600, so
 * that short buffers come up), then the message body.  Mode bit 0: the
 * harness writes a header (ID, OPCODE NOTIFY, QDCOUNT 1, ANCOUNT the
 * body's first octet mod 3) and the question `xfr.test SOA IN` before the
 * body, so that the fuzzer starts past the question checks; bits 1-2: the
 * harness signs the result (1: with the configured key, 2: with another
 * secret under the same name, 3: with the key at a time 400 s off);
 * bit 3: the message comes from a stranger's address (else a primary's;
 * bit 4: as an IPv4-mapped IPv6 address).
 *
 * Checked: no crash or read out of bounds (ASan); a reply fits its buffer,
 * is empty exactly when the verdict is DROP (or the buffer cannot hold the
 * header and question), and parses as DNS: a response with the query's
 * ID, its header counts walking exactly to its end; an accepted NOTIFY
 * came from a primary, names the transfer zone's SOA, was signed with the
 * key at about the right time, and its reply verifies under the key. */
#include <netinet/in.h>
#include <string.h>

#define FUZZ_NAME "fuzz_notifyin"
#include "fuzz.h"
#include "notifyin.h"

#define NOW 1796620000u
#define MSG_CAP 4096

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* OUT[0..LEN) parses: header, then the counts' question and records up to
 * exactly LEN. */
static int parses(const uint8_t *out, size_t len)
{
    uint8_t name[XFR_NAME_MAX];
    struct xfr_rr rr;
    size_t at = XFR_HDR_LEN;

    if (len < XFR_HDR_LEN)
        return 0;
    for (unsigned i = 0; i < be16(out + 4); i++)
        if (xfr_question_skip(out, len, &at) != 0)
            return 0;
    unsigned rrs = (unsigned)be16(out + 6) + be16(out + 8) + be16(out + 10);
    for (unsigned i = 0; i < rrs; i++)
        if (xfr_rr_read(out, len, &at, &rr) != 0)
            return 0;
    (void)name;
    return at == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t secret[32] = {1, 2, 3};
    static const uint8_t other[32] = {9};
    struct input in = {data, size};
    struct xfr_origin origin;
    struct tsig_key key, wrong;
    struct spfdb_addrport prim[2];
    struct sockaddr_in6 from6;
    struct sockaddr_in from4;
    struct notify_verdict v;
    struct tsig_ctx ctx;
    uint8_t *msg, *out;
    size_t len = 0, cap, outlen = 12345;
    unsigned mode, sign;
    int verdict;

    CHECK(xfr_origin_set(&origin, "xfr.test") == 0);
    CHECK(tsig_key_set(&key, "k1", secret, sizeof secret) == 0);
    CHECK(tsig_key_set(&wrong, "k1", other, sizeof other) == 0);
    CHECK(spfdb_addrport_parse("192.0.2.1:53", &prim[0], NULL, 0) == 0);
    CHECK(spfdb_addrport_parse("[2001:db8::53]:53", &prim[1], NULL, 0) == 0);
    struct notify_cfg cfg = {&origin, &key, prim, 2};

    mode = take8(&in);
    sign = mode >> 1 & 3;
    cap = (take8(&in) << 8 | take8(&in)) % 600;
    msg = malloc(MSG_CAP);
    out = malloc(cap ? cap : 1);
    CHECK(msg && out);
    if (mode & 1) {
        memset(msg, 0, XFR_HDR_LEN);
        msg[0] = 0xab;
        msg[1] = 0xcd;
        msg[2] = 4 << 3;
        msg[5] = 1;
        msg[7] = (uint8_t)(take8(&in) % 3);
        len = XFR_HDR_LEN;
        memcpy(msg + len, origin.name, origin.len);
        len += origin.len;
        msg[len++] = 0;
        msg[len++] = XFR_T_SOA;
        msg[len++] = 0;
        msg[len++] = XFR_C_IN;
    }
    /* room for a TSIG record after the body */
    size_t room = MSG_CAP - 512 - len;
    size_t body = in.n < room ? in.n : room;
    memcpy(msg + len, in.p, body);
    len += body;
    if (sign) {
        uint64_t t = sign == 3 ? NOW - 400 : NOW;
        /* a body the signer cannot take (too short a header) stays unsigned */
        if (tsig_sign_request(&ctx, sign == 2 ? &wrong : &key, msg, &len, MSG_CAP, t) != TSIG_OK)
            sign = 0;
    }
    /* a private copy of exactly LEN octets, so ASan sees reads past it */
    uint8_t *req = malloc(len ? len : 1);
    CHECK(req);
    memcpy(req, msg, len);

    const struct sockaddr *from;
    memset(&from4, 0, sizeof from4);
    memset(&from6, 0, sizeof from6);
    from4.sin_family = AF_INET;
    from4.sin_port = htons(40000);
    from6.sin6_family = AF_INET6;
    from6.sin6_port = htons(40000);
    if (mode & 0x10) { /* IPv4-mapped, or the IPv6 primary */
        from6.sin6_addr.s6_addr[10] = 0xff;
        from6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(from6.sin6_addr.s6_addr + 12, prim[0].addr, 4);
        if (mode & 0x20)
            memcpy(from6.sin6_addr.s6_addr, prim[1].addr, 16);
        if (mode & 8)
            from6.sin6_addr.s6_addr[15] ^= 1;
        from = (const struct sockaddr *)&from6;
    } else {
        memcpy(&from4.sin_addr, prim[0].addr, 4);
        if (mode & 8)
            ((uint8_t *)&from4.sin_addr)[3] ^= 1;
        from = (const struct sockaddr *)&from4;
    }

    verdict = notify_handle(&cfg, from, req, len, out, cap, &outlen, NOW, &v);
    CHECK(verdict == NOTIFY_DROP || verdict == NOTIFY_REFUSED || verdict == NOTIFY_ACCEPT);
    CHECK(outlen <= cap);
    CHECK(memchr(v.why, '\0', sizeof v.why) != NULL);
    if (verdict == NOTIFY_DROP)
        CHECK(outlen == 0);
    if (verdict != NOTIFY_DROP && outlen == 0)
        CHECK(cap < len); /* only a buffer too short for the header and question */
    if (outlen > 0) {
        CHECK(parses(out, outlen));
        CHECK(out[0] == req[0] && out[1] == req[1]);
        CHECK(out[2] & 0x80);                          /* QR */
        CHECK((out[2] >> 3 & 0xF) == (req[2] >> 3 & 0xF)); /* the OPCODE copied */
        CHECK(be16(out + 4) <= 1 && be16(out + 6) == 0 && be16(out + 8) == 0);
        CHECK(be16(out + 10) <= 1); /* a TSIG at most */
    }
    if (verdict == NOTIFY_ACCEPT) {
        uint8_t name[XFR_NAME_MAX];
        size_t at = XFR_HDR_LEN;
        int n;
        CHECK(sign == 1 && !(mode & 8));
        CHECK(v.primary == ((mode & 0x30) == 0x30 ? 1 : 0));
        n = xfr_name_read(req, len, at, name, &at);
        CHECK(n > 0 && xfr_name_eq(name, (size_t)n, origin.name, origin.len));
        CHECK(be16(req + at) == XFR_T_SOA && be16(req + at + 2) == XFR_C_IN);
        CHECK((out[3] & 0xF) == 0 && (out[2] & 0x04));
        CHECK(tsig_verify_reply(&ctx, out, outlen, NOW) == TSIG_OK);
    } else {
        CHECK(v.primary == -1);
        CHECK(v.why[0] != '\0');
    }
    free(req);
    free(out);
    free(msg);
    return 0;
}
