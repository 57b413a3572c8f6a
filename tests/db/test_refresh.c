/* test_refresh: spfdb_txn_refresh(), the long-lived reader's per-batch call
 * (spfdb.h rules): it keeps a live handle only while that is the last
 * commit and renews otherwise.  Handles held between batches while another
 * process grows the map: test_store's test_two_processes_holding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tmpdb.h"

static struct spfdb_prefix v4(uint32_t a)
{
    struct spfdb_prefix p = {.family = 4, .len = 32,
                             .addr = {(uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8),
                                      (uint8_t)a}};
    return p;
}

static int noop_fn(spfdb_txn *t, void *arg)
{
    (void)t;
    (void)arg;
    return 0;
}

static int refresh_in_write(spfdb_txn *t, void *arg)
{
    *(int *)arg = spfdb_txn_refresh(t);
    return 0;
}

static void test_keeps_only_the_last_commit(void **state)
{
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    int in_write = 1;
    (void)state;

    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    for (uint32_t i = 0; i < 50; i++) {
        uint64_t id = spfdb_txn_id(t);
        struct spfdb_prefix p = v4(0x0b000000u + i);
        struct bulk b = {0x0b000000u + i, 1, 0, 1};

        /* The last commit: kept, and it still reads. */
        assert_int_equal(spfdb_txn_refresh(t), 0);
        assert_int_equal(spfdb_txn_id(t), id);
        assert_int_equal(spfdb_covers(t, 1, 4, p.addr), 0);
        /* A commit: the next refresh must take it. */
        assert_int_equal(spfdb_write(env, bulk_fn, &b), 0);
        assert_int_equal(spfdb_covers(t, 1, 4, p.addr), 0); /* the old snapshot */
        assert_int_equal(spfdb_txn_refresh(t), 0);
        assert_true(spfdb_txn_id(t) > id);
        assert_int_equal(spfdb_covers(t, 1, 4, p.addr), 1);
        /* A write that changes nothing commits nothing: kept. */
        id = spfdb_txn_id(t);
        assert_int_equal(spfdb_write(env, noop_fn, NULL), 0);
        assert_int_equal(spfdb_txn_refresh(t), 0);
        assert_int_equal(spfdb_txn_id(t), id);
        /* A reset handle is renewed. */
        if (i % 5 == 0) {
            spfdb_txn_reset(t);
            assert_int_equal(spfdb_txn_id(t), 0);
            assert_int_equal(spfdb_txn_refresh(t), 0);
            assert_int_equal(spfdb_txn_id(t), id);
            assert_int_equal(spfdb_covers(t, 1, 4, p.addr), 1);
        }
    }
    spfdb_txn_reset(t);
    /* Not for write transactions. */
    assert_int_equal(spfdb_write(env, refresh_in_write, &in_write), 0);
    assert_int_equal(in_write, SPFDB_EINVAL);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_only_the_last_commit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
