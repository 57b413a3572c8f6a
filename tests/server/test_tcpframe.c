/* test_tcpframe.c: a TCP connection's input as messages (tcpframe.h):
 * framing across reads, pipelining, bad lengths, the bound on what is
 * held, the deadlines, and the buffer freed once all is taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcpframe.h"

/* Message K of length N: its length, then N octets K, K+1, ... */
static size_t framed(uint8_t *out, size_t n, unsigned k)
{
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        out[2 + i] = (uint8_t)(k + i);
    return 2 + n;
}

static void expect_msg(struct tcpframe *f, size_t n, unsigned k)
{
    const uint8_t *m = NULL;
    size_t len = 0;

    assert_int_equal(tcpframe_next(f, &m, &len), TCPFRAME_MSG);
    assert_int_equal(len, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(m[i], (uint8_t)(k + i));
    tcpframe_drop(f);
}

static void expect_more(struct tcpframe *f)
{
    const uint8_t *m;
    size_t len;

    assert_int_equal(tcpframe_next(f, &m, &len), TCPFRAME_MORE);
}

/* The length and the message arrive in separate reads, even the length's
 * two octets (SPEC §4 Transport). */
static void test_split_reads(void **state)
{
    struct tcpframe f;
    uint8_t w[2 + 40];
    size_t n = framed(w, 40, 7);

    (void)state;
    tcpframe_init(&f, 65535, 16384);
    expect_more(&f);
    assert_int_equal(tcpframe_feed(&f, w, 1), 0);
    expect_more(&f);
    assert_int_equal(tcpframe_feed(&f, w + 1, 1), 0);
    expect_more(&f);
    assert_int_equal(tcpframe_feed(&f, w + 2, 20), 0);
    expect_more(&f);
    assert_int_equal(tcpframe_feed(&f, w + 22, n - 22), 0);
    expect_msg(&f, 40, 7);
    expect_more(&f);
    assert_null(f.buf); /* all taken: nothing kept */
    tcpframe_free(&f);
}

/* Pipelined messages in one read come out in order; what follows the
 * last complete one waits for its rest. */
static void test_pipelined(void **state)
{
    struct tcpframe f;
    uint8_t w[512];
    size_t n = 0;

    (void)state;
    tcpframe_init(&f, 65535, 16384);
    n += framed(w + n, 12, 1);
    n += framed(w + n, 1, 2);
    n += framed(w + n, 200, 3);
    size_t tail = framed(w + n, 30, 4);
    assert_int_equal(tcpframe_feed(&f, w, n + 5), 0);
    expect_msg(&f, 12, 1);
    expect_msg(&f, 1, 2);
    expect_msg(&f, 200, 3);
    expect_more(&f);
    size_t held;
    const uint8_t *h = tcpframe_held(&f, &held);
    assert_int_equal(held, 5);
    assert_memory_equal(h, w + n, 5); /* the next message's start, its length first */
    assert_int_equal(tcpframe_feed(&f, w + n + 5, tail - 5), 0);
    expect_msg(&f, 30, 4);
    assert_null(tcpframe_held(&f, &held));
    assert_int_equal(held, 0);
    tcpframe_free(&f);
}

/* A length of 0, or over the frame's bound, is an error until closed. */
static void test_bad_lengths(void **state)
{
    struct tcpframe f;
    const uint8_t zero[] = { 0, 0, 1, 2, 3 };
    uint8_t w[2 + 101];
    const uint8_t *m;
    size_t len;

    (void)state;
    tcpframe_init(&f, 65535, 16384);
    assert_int_equal(tcpframe_feed(&f, zero, 1), 0);
    expect_more(&f);
    assert_int_equal(tcpframe_feed(&f, zero + 1, sizeof zero - 1), 0);
    assert_int_equal(tcpframe_next(&f, &m, &len), TCPFRAME_EBADLEN);
    assert_int_equal(tcpframe_next(&f, &m, &len), TCPFRAME_EBADLEN);
    tcpframe_drop(&f); /* no message: nothing dropped */
    assert_int_equal(tcpframe_next(&f, &m, &len), TCPFRAME_EBADLEN);
    tcpframe_free(&f);

    tcpframe_init(&f, 100, 16384);
    framed(w, 100, 0);
    assert_int_equal(tcpframe_feed(&f, w, sizeof w - 1), 0);
    expect_msg(&f, 100, 0);
    framed(w, 101, 0);
    assert_int_equal(tcpframe_feed(&f, w, 2), 0);
    assert_int_equal(tcpframe_next(&f, &m, &len), TCPFRAME_EBADLEN);
    tcpframe_free(&f);
}

/* The frame holds at most MAX + 1 + READ octets: the start of one
 * message and one read.  The largest message crosses many reads. */
static void test_bound(void **state)
{
    struct tcpframe f;
    uint8_t w[2 + 65535];
    uint8_t junk[16384] = { 0 };

    (void)state;
    tcpframe_init(&f, 10, 4);
    framed(w, 10, 9);
    /* 11 octets: all but the last of a 10-octet message ... */
    for (size_t i = 0; i < 11; i += 4)
        assert_int_equal(tcpframe_feed(&f, w + i, i + 4 <= 11 ? 4 : 11 - i), 0);
    expect_more(&f);
    /* ... then a read of 4 fits, one of 5 does not. */
    assert_int_equal(tcpframe_feed(&f, junk, 5), TCPFRAME_EFULL);
    size_t held;
    tcpframe_held(&f, &held);
    assert_int_equal(held, 11); /* refused: nothing taken */
    assert_int_equal(tcpframe_feed(&f, w + 11, 1), 0);
    assert_int_equal(tcpframe_feed(&f, junk, 3), 0);
    assert_int_equal(tcpframe_feed(&f, junk, 1), TCPFRAME_EFULL);
    expect_msg(&f, 10, 9);
    tcpframe_free(&f);

    /* spfdbd's frame: 65535-octet messages fed 16384 at a time. */
    tcpframe_init(&f, 65535, 16384);
    size_t n = framed(w, 65535, 200), off = 0;
    while (off < n) {
        size_t k = n - off < sizeof junk ? n - off : sizeof junk;
        expect_more(&f);
        assert_int_equal(tcpframe_feed(&f, w + off, k), 0);
        off += k;
    }
    assert_true(f.cap <= 65535 + 1 + 16384);
    expect_msg(&f, 65535, 200);
    tcpframe_free(&f);
}

/* Which timer runs (SPEC §4): idle while nothing is held, the 2 s of a
 * message from its first octet (not restarted by the rest of it),
 * restarted when the next message begins, and the replies' 2 s while
 * they wait. */
static void test_deadlines(void **state)
{
    struct tcpframe f;
    uint8_t w[64];
    size_t n = framed(w, 20, 1);

    (void)state;
    tcpframe_init(&f, 65535, 16384);
    assert_int_equal(tcpframe_touch(&f, 0), TCPFRAME_IDLE);
    assert_false(tcpframe_partial(&f));
    assert_int_equal(tcpframe_feed(&f, w, 1), 0);
    assert_int_equal(tcpframe_touch(&f, 0), TCPFRAME_DEADLINE);
    assert_true(tcpframe_partial(&f));
    for (size_t i = 1; i < n - 1; i++) { /* a trickle gains nothing */
        assert_int_equal(tcpframe_feed(&f, w + i, 1), 0);
        expect_more(&f);
        assert_int_equal(tcpframe_touch(&f, 0), TCPFRAME_KEEP);
    }
    /* The last octet and the next message's first: a new 2 s. */
    uint8_t two[2] = { w[n - 1], 0 };
    assert_int_equal(tcpframe_feed(&f, two, 2), 0);
    expect_msg(&f, 20, 1);
    expect_more(&f);
    assert_int_equal(tcpframe_touch(&f, 0), TCPFRAME_DEADLINE);
    /* Replies wait: their 2 s, and the connection is no longer "partial". */
    assert_int_equal(tcpframe_touch(&f, 1), TCPFRAME_DEADLINE);
    assert_false(tcpframe_partial(&f));
    /* Drained: the message under way gets its 2 s again. */
    assert_int_equal(tcpframe_touch(&f, 0), TCPFRAME_DEADLINE);
    assert_true(tcpframe_partial(&f));
    assert_int_equal(tcpframe_feed(&f, (const uint8_t[]){ 3, 9, 9, 9 }, 4), 0);
    const uint8_t *m;
    size_t len;
    assert_int_equal(tcpframe_next(&f, &m, &len), TCPFRAME_MSG);
    assert_int_equal(len, 3);
    tcpframe_drop(&f);
    /* Everything taken: idle. */
    assert_int_equal(tcpframe_touch(&f, 0), TCPFRAME_IDLE);
    assert_false(tcpframe_partial(&f));
    tcpframe_free(&f);
}

/* The buffer goes when all is taken or on free, and the frame is usable
 * again. */
static void test_memory(void **state)
{
    struct tcpframe f;
    static uint8_t w[3 * 1502];
    size_t n = 0;

    (void)state;
    for (unsigned k = 0; k < 3; k++)
        n += framed(w + n, 1500, k);
    tcpframe_init(&f, 65535, 16384);
    assert_null(f.buf);
    assert_int_equal(tcpframe_feed(&f, w, 10), 0);
    assert_non_null(f.buf);
    tcpframe_free(&f);
    assert_null(f.buf);
    expect_more(&f);
    /* Grows past its first allocation ... */
    assert_int_equal(tcpframe_feed(&f, w, 1502), 0);
    assert_int_equal(tcpframe_feed(&f, w + 1502, 900), 0);
    size_t cap = f.cap;
    expect_msg(&f, 1500, 0);
    /* ... and slides what is left to the front rather than grow again. */
    assert_int_equal(tcpframe_feed(&f, w + 2402, 602 + 700), 0);
    assert_int_equal(f.cap, cap);
    expect_msg(&f, 1500, 1);
    assert_int_equal(tcpframe_feed(&f, w + 3704, n - 3704), 0);
    expect_msg(&f, 1500, 2);
    assert_null(f.buf);
    assert_int_equal(tcpframe_touch(&f, 0), TCPFRAME_IDLE);
    tcpframe_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_reads), cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_bad_lengths), cmocka_unit_test(test_bound),
        cmocka_unit_test(test_deadlines),   cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
