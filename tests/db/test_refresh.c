/* test_refresh: spfdb_txn_refresh(), the long-lived reader's per-batch call
 * (spfdb.h rules): it keeps a live handle only while that is the last
 * commit, renews otherwise, and handles held between batches still let
 * another process's map growth be adopted. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>

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

/* A worker as spfdbd's: refresh per batch, the handle held live across the
 * short waits between batches, reset after an idle spell. */
struct reader {
    pthread_t tid;
    spfdb_env *env;
    atomic_int *stop;
    long batches;
    int err;
};

static void *reader_run(void *arg)
{
    struct reader *r = arg;
    spfdb_txn *t;
    uint8_t a[4] = {13, 0, 0, 0};
    const struct timespec gap = {0, 5 * 1000 * 1000}, idle = {0, 60 * 1000 * 1000};

    r->err = spfdb_txn_read(r->env, &t);
    if (r->err)
        return NULL;
    while (!atomic_load(r->stop) && r->err == 0) {
        r->err = spfdb_txn_refresh(t);
        for (int i = 0; i < 16 && r->err == 0; i++) {
            a[2] = (uint8_t)(i * 4);
            if (spfdb_covers(t, 1, 4, a) < 0)
                r->err = -100;
        }
        r->batches++;
        if (r->batches % 8 == 0) {
            spfdb_txn_reset(t);
            nanosleep(&idle, NULL);
        } else {
            nanosleep(&gap, NULL); /* live across the wait: bounded */
        }
    }
    spfdb_txn_close(t);
    return NULL;
}

static void test_map_growth_while_held(void **state)
{
    struct reader readers[2];
    atomic_int stop = 0;
    char dir[256];
    spfdb_env *env;
    spfdb_txn *t;
    struct spfdb_prefix mark = v4(0x0e000000u), first = v4(0x0d000000u);
    pid_t pid;
    int status = -1, seen_first = 0;
    long refreshes = 0;
    time_t until = time(NULL) + 60;
    (void)state;

    assert_int_equal(setenv("SPFDB_MAPSIZE", "131072", 1), 0);
    assert_int_equal(tmpdb_make(dir), 0);
    assert_int_equal(spfdb_env_open(dir, &env), 0);
    assert_int_equal(spfdb_txn_read(env, &t), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(tmpdb_child_writer(dir));
    for (int i = 0; i < 2; i++) {
        readers[i] = (struct reader){.env = env, .stop = &stop};
        assert_int_equal(pthread_create(&readers[i].tid, NULL, reader_run, &readers[i]), 0);
    }
    /* This thread too holds its handle between refreshes. */
    for (;;) {
        int rc;

        assert_int_equal(spfdb_txn_refresh(t), 0);
        refreshes++;
        rc = spfdb_covers(t, 1, 4, first.addr);
        assert_true(rc == 0 || rc == 1);
        assert_true(rc >= seen_first); /* once seen, never lost */
        seen_first = rc;
        rc = spfdb_covers(t, 1, 4, mark.addr);
        if (rc == 1)
            break;
        assert_int_equal(rc, 0);
        if (time(NULL) > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the child's commits never became visible");
        }
        usleep(1000);
    }
    spfdb_txn_reset(t);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(readers[i].tid, NULL), 0);
        assert_int_equal(readers[i].err, 0);
        assert_true(readers[i].batches > 0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(seen_first);
    print_message("refreshes while the writer ran: %ld, threads %ld and %ld batches\n",
                  refreshes, readers[0].batches, readers[1].batches);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    assert_int_equal(unsetenv("SPFDB_MAPSIZE"), 0);
    tmpdb_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_only_the_last_commit),
        cmocka_unit_test(test_map_growth_while_held),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
