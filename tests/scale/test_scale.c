/* Scale: 10,000 allocations in one database, each its own IP set.
 * Every allocation gets overlapping IPv4 entries and an IPv6 entry in one
 * transaction; every lookup must hit its own allocation and no other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spfdb.h"
#include "tmpdb.h"

#define NALLOC 10000

static void addr_of(unsigned i, uint8_t v4[4], uint8_t v6[16])
{
    /* 10.x.y.0/24 per allocation; 2001:db8:i::/48 */
    v4[0] = 10, v4[1] = (uint8_t)(i >> 8), v4[2] = (uint8_t)i, v4[3] = 0;
    memset(v6, 0, 16);
    v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8;
    v6[4] = (uint8_t)(i >> 8), v6[5] = (uint8_t)i;
}

static int fill(spfdb_txn *txn, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < NALLOC; i++) {
        char name[32];
        uint32_t id;
        struct spfdb_prefix p = {.family = 4, .len = 24};
        uint8_t v6[16];
        int rc;

        snprintf(name, sizeof name, "customer-%u", i);
        if ((rc = spfdb_alloc_add(txn, name, &id)) != 0)
            return rc;
        addr_of(i, p.addr, v6);
        if ((rc = spfdb_entry_add(txn, id, &p)) != 0)
            return rc;
        p.len = 32, p.addr[3] = 7; /* nested inside the /24 */
        if ((rc = spfdb_entry_add(txn, id, &p)) != 0)
            return rc;
        p = (struct spfdb_prefix){.family = 6, .len = 48};
        memcpy(p.addr, v6, 16);
        if ((rc = spfdb_entry_add(txn, id, &p)) != 0)
            return rc;
    }
    return 0;
}

static int count_alloc(const struct spfdb_alloc *a, void *arg)
{
    unsigned *n = arg;

    if (strcmp(a->name, "default") != 0 && (a->n4 != 2 || a->n6 != 1))
        return -100;
    (*n)++;
    return 0;
}

static void test_ten_thousand_allocations(void **state)
{
    char dir[256];
    spfdb_env *env;
    spfdb_txn *txn;
    unsigned n = 0;

    (void)state;
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_write(env, fill, NULL), 0);
    spfdb_env_close(env);

    /* Reopen: everything is durable and found again. */
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_txn_read(env, &txn), 0);
    assert_int_equal(spfdb_alloc_foreach(txn, count_alloc, &n), 0);
    assert_int_equal(n, NALLOC + 1);
    for (unsigned i = 0; i < NALLOC; i++) {
        char name[32];
        struct spfdb_alloc a, next;
        uint8_t v4[4], v6[16];

        snprintf(name, sizeof name, "customer-%u", i);
        assert_int_equal(spfdb_alloc_get(txn, name, &a), 0);
        snprintf(name, sizeof name, "customer-%u", (i + 1) % NALLOC);
        assert_int_equal(spfdb_alloc_get(txn, name, &next), 0);
        addr_of(i, v4, v6);
        v4[3] = 200;
        v6[15] = 1;
        assert_int_equal(spfdb_covers(txn, a.id, 4, v4), 1);
        assert_int_equal(spfdb_covers(txn, a.id, 6, v6), 1);
        assert_int_equal(spfdb_covers(txn, next.id, 4, v4), 0);
        assert_int_equal(spfdb_covers(txn, next.id, 6, v6), 0);
        v4[2] ^= 0x80; /* another allocation's /24, or nobody's */
        assert_int_equal(spfdb_covers(txn, a.id, 4, v4), 0);
    }
    spfdb_txn_close(txn);
    spfdb_env_close(env);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_thousand_allocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
