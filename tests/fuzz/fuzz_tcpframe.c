/* fuzz_tcpframe.c: libFuzzer target for DNS-over-TCP framing
 * (server/tcpframe.h), the state machine behind tcp.c's connections.
 *
 * Input: octet 0 picks the message bound (bit 7 set: 65535, spfdbd's;
 * else 1..128, so that short inputs reach it), octet 1 the read size
 * (1..256), octets 2-9 seed the splits; the rest is the byte stream a
 * client sends.  The stream is fed as tcp.c feeds it (only when no
 * complete message is held, at most one read at a time, no reads while
 * replies wait), split four ways: one read size throughout, one octet at a
 * time, random sizes, and random sizes with replies that wait at random.
 * Every way must give:
 *   - the messages a plain scan of the stream finds, in order, byte for
 *     byte, each of 1..bound octets, then the same end (a bad length at
 *     the same message, or the same octets left held);
 *   - feeds never refused, and never more held than the bound plus a read;
 *   - pointers only into what is held, and feeds read only their chunk
 *     (copied to the end of an allocation, so ASan sees a read past it);
 *   - the timers SPEC §4 states: idle iff nothing is held and nothing
 *     owed; a message's 2 s start at its first octet and run on,
 *     unrestarted, until it completes; replies that wait get their 2 s.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcpframe.h"

#define FUZZ_NAME "fuzz_tcpframe"
#include "fuzz.h"

enum { MAXIN = 65536, MAXMSG = MAXIN / 3 + 1 }; /* a message takes 3 octets at least */

struct ref {
    size_t off[MAXMSG], len[MAXMSG];
    size_t n;        /* messages */
    size_t consumed; /* octets they take, lengths included */
    int bad;         /* the next message's length is 0 or over the bound */
};

/* The reference: the stream read front to back as length, message, ... */
static void scan(const uint8_t *s, size_t n, size_t max, struct ref *r)
{
    size_t p = 0;

    r->n = 0;
    r->bad = 0;
    while (p + 2 <= n) {
        size_t l = (size_t)s[p] << 8 | s[p + 1];
        if (l == 0 || l > max) {
            r->bad = 1;
            break;
        }
        if (n - p - 2 < l)
            break;
        CHECK(r->n < MAXMSG);
        r->off[r->n] = p + 2;
        r->len[r->n] = l;
        r->n++;
        p += 2 + l;
    }
    r->consumed = p;
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

enum { SPLIT_FIXED, SPLIT_OCTET, SPLIT_RANDOM, SPLIT_WAITS };

/* Feed S[0..N) split as WAY says, driving the frame as tcp.c does, and
 * check it against R. */
static void run(const uint8_t *s, size_t n, size_t max, size_t read, uint64_t seed, int way,
                const struct ref *r)
{
    struct tcpframe f;
    size_t fed = 0, got = 0, taken = 0; /* octets fed; messages taken; their octets */
    long anchor = -1; /* where the message whose 2 s run began; -1: none run */
    int writing = 0, bad = 0;

    uint8_t *rbuf = malloc(read);
    CHECK(rbuf != NULL);
    tcpframe_init(&f, max, read);
    for (;;) {
        /* Answer what is complete, as conn_answer does. */
        while (!writing) {
            const uint8_t *m;
            size_t len, held;
            int rc = tcpframe_next(&f, &m, &len);
            if (rc == TCPFRAME_MORE)
                break;
            if (rc == TCPFRAME_EBADLEN) {
                CHECK(r->bad && got == r->n);
                bad = 1;
                break;
            }
            CHECK(rc == TCPFRAME_MSG);
            const uint8_t *h = tcpframe_held(&f, &held);
            CHECK(h != NULL && m == h + 2 && len + 2 <= held);
            CHECK(len >= 1 && len <= max);
            CHECK(got < r->n && len == r->len[got] && taken + 2 == r->off[got]);
            CHECK(memcmp(m, s + r->off[got], len) == 0);
            tcpframe_drop(&f);
            got++;
            taken += 2 + len;
            if (way == SPLIT_WAITS && rnd(&seed) % 4 == 0)
                writing = 1; /* the socket refuses the replies for now */
        }
        if (bad)
            break;
        /* Its timer, as conn_touch sets it. */
        size_t held;
        const uint8_t *h = tcpframe_held(&f, &held);
        CHECK(held == fed - taken && (held == 0 || memcmp(h, s + taken, held) == 0));
        enum tcpframe_timer t = tcpframe_touch(&f, writing);
        if (writing) {
            CHECK(t == TCPFRAME_DEADLINE);
            anchor = -1;
        } else if (held == 0) {
            CHECK(t == TCPFRAME_IDLE);
            anchor = -1;
        } else if (anchor == (long)taken) {
            CHECK(t == TCPFRAME_KEEP); /* the same message: its 2 s run on */
        } else {
            CHECK(t == TCPFRAME_DEADLINE);
            anchor = (long)taken;
        }
        CHECK(tcpframe_partial(&f) == (anchor >= 0));
        if (writing) {
            writing = 0; /* drained: conn_write answers before reading */
            continue;
        }
        if (fed == n)
            break;
        /* Read, as conn_read does. */
        size_t k;
        switch (way) {
        case SPLIT_FIXED:
            k = read;
            break;
        case SPLIT_OCTET:
            k = 1;
            break;
        default:
            k = 1 + rnd(&seed) % read;
            break;
        }
        if (k > n - fed)
            k = n - fed;
        uint8_t *chunk = rbuf + read - k; /* ends where the allocation does */
        memcpy(chunk, s + fed, k);
        CHECK(tcpframe_feed(&f, chunk, k) == 0);
        fed += k;
        CHECK(fed - taken <= max + 1 + read);
        CHECK(f.cap <= max + 1 + read);
    }
    CHECK(got == r->n);
    CHECK(bad == r->bad);
    if (!bad)
        CHECK(taken == r->consumed && fed == n);
    tcpframe_free(&f);
    CHECK(f.buf == NULL);
    free(rbuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size };
    static struct ref r;
    unsigned b = take8(&in);
    size_t max = b & 0x80 ? 65535 : 1 + (b & 0x7f);
    size_t read = 1 + take8(&in);
    uint64_t seed = take64(&in) | 1;

    if (in.n > MAXIN)
        return 0; /* -max_len beyond the replay driver's 64 KiB */
    scan(in.p, in.n, max, &r);
    for (int way = SPLIT_FIXED; way <= SPLIT_WAITS; way++)
        run(in.p, in.n, max, read, seed + (uint64_t)way * 0x9e3779b97f4a7c15u, way, &r);
    return 0;
}
