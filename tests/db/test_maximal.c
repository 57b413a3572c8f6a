/* test_maximal.c: spfdb_maximal_foreach, the walk behind the `_spf` chain:
 * exactly the entries inside no other entry, IPv4 before IPv6, in address
 * order, only of the allocation asked; a nonzero return stops it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmpdb.h"

struct walk {
    char got[32][SPFDB_PREFIX_STRLEN];
    unsigned n, stop_at;
};

static int each(const struct spfdb_prefix *p, void *arg)
{
    struct walk *w = arg;
    if (w->n < 32)
        spfdb_prefix_format(p, w->got[w->n], sizeof w->got[0]);
    w->n++;
    return w->stop_at && w->n == w->stop_at ? 7 : 0;
}

static const char *const entries[] = {
    "2001:db8::/48", "2001:db8::1", "198.51.100.0/24", "198.51.100.7", "198.51.101.0/24",
    "192.0.2.0/25", "192.0.2.0/26", "192.0.2.128/25", "10.0.0.0/8", "10.1.0.0/16",
};

static int fill(spfdb_txn *t, void *arg)
{
    uint32_t *id = arg;
    int rc = spfdb_alloc_add(t, "acme", id);
    for (unsigned i = 0; rc == 0 && i < sizeof entries / sizeof entries[0]; i++) {
        struct spfdb_prefix p;
        unsigned notes;
        rc = spfdb_prefix_parse(entries[i], strlen(entries[i]), &p, &notes, NULL, 0);
        if (rc == 0)
            rc = spfdb_entry_add(t, *id, &p);
    }
    if (rc == 0) { /* a second allocation's entry must not appear */
        struct spfdb_prefix p = { .family = 4, .len = 32, .addr = { 203, 0, 113, 1 } };
        rc = spfdb_entry_add(t, 1, &p);
    }
    return rc;
}

static void test_walk(void **state)
{
    char dir[256];
    spfdb_env *env;
    spfdb_txn *txn;
    uint32_t id = 0;
    (void)state;
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, fill, &id), 0);
    assert_int_equal(spfdb_txn_read(env, &txn), 0);

    struct walk w = { .n = 0 };
    assert_int_equal(spfdb_maximal_foreach(txn, id, each, &w), 0);
    static const char *const want[] = { "10.0.0.0/8", "192.0.2.0/25", "192.0.2.128/25",
                                        "198.51.100.0/24", "198.51.101.0/24", "2001:db8::/48" };
    assert_int_equal(w.n, 6);
    for (unsigned i = 0; i < 6; i++)
        assert_string_equal(w.got[i], want[i]);

    w = (struct walk){ .stop_at = 2 };
    assert_int_equal(spfdb_maximal_foreach(txn, id, each, &w), 7);
    assert_int_equal(w.n, 2);

    w = (struct walk){ .n = 0 };
    assert_int_equal(spfdb_maximal_foreach(txn, 999, each, &w), 0); /* none */
    assert_int_equal(w.n, 0);

    spfdb_txn_close(txn);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_walk) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
