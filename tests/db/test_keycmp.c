/* test_keycmp: store_keycmp must order exactly like LMDB's default key
 * order (memcmp over the shorter length, then the shorter first), or the
 * file format would change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env.h" /* store_keycmp, the bottom layer's */

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static int ref_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);

    if (c)
        return sign(c);
    return (na > nb) - (na < nb);
}

static void check(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    MDB_val x = {na, (void *)a}, y = {nb, (void *)b};
    int want = ref_cmp(a, na, b, nb);

    assert_int_equal(sign(store_keycmp(&x, &y)), want);
    assert_int_equal(sign(store_keycmp(&y, &x)), -want);
}

/* xorshift: reproducible without global state */
static uint32_t next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static uint8_t pick(uint32_t *s)
{
    static const uint8_t b[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
    uint32_t r = next(s);

    return r & 1 ? (uint8_t)(r >> 8) : b[(r >> 8) % sizeof b];
}

static void test_random_pairs(void **state)
{
    uint8_t a[40], b[40];
    uint32_t s = 0x9e3779b9u;

    (void)state;
    for (int i = 0; i < 200000; i++) {
        size_t na = next(&s) % sizeof a, nb = next(&s) % sizeof b;
        if (i % 4 == 0) /* the sizes of keys and members: 5 and 17 */
            na = nb = i % 8 ? 5 : 17;
        for (size_t j = 0; j < na; j++)
            a[j] = pick(&s);
        /* mostly a shared prefix, then differing at up to three places
         * (several in one 8-byte word catch a wrong byte order) */
        memcpy(b, a, na < nb ? na : nb);
        for (size_t j = na; j < nb; j++)
            b[j] = pick(&s);
        uint32_t r = next(&s);
        for (uint32_t m = r % 4; nb && m > 0; m--)
            b[next(&s) % nb] = pick(&s);
        check(a, na, b, nb);
    }
}

static void test_patterns(void **state)
{
    uint8_t zero[24], ones[24];

    (void)state;
    memset(zero, 0, sizeof zero);
    memset(ones, 0xff, sizeof ones);
    for (size_t na = 0; na <= sizeof zero; na++)
        for (size_t nb = 0; nb <= sizeof zero; nb++) {
            check(zero, na, zero, nb);
            check(ones, na, ones, nb);
            check(zero, na, ones, nb);
            for (size_t d = 0; d < na && d < nb; d++) {
                uint8_t x[24];
                memcpy(x, zero, sizeof x);
                x[d] = 0x80;   /* the sign bit of each 8-byte word */
                check(x, na, zero, nb);
                memcpy(x, ones, sizeof x);
                x[d] = 0x7f;
                check(x, na, ones, nb);
            }
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_pairs),
        cmocka_unit_test(test_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
