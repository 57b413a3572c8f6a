/* commit-bench: what a commit costs a reader of many allocations
 * (docs/performance.md "Commits and the read index").
 *
 *   commit-bench [-c COMMITS] DBDIR
 *
 * On a copy of nothing (DBDIR is changed: use a scratch database, e.g.
 * one bench/tenant-load made): one read handle looks up both families of
 * every allocation, so that every index is built; then COMMITS times
 * (default 200): one durable commit adds or removes a 192.0.2.x/32 in a
 * random allocation; the handle refreshes onto it (timed: taking the new
 * version's table, which copies the newest table's slots and reads the
 * change log); the changed allocation is looked up (timed: its rebuild);
 * and every allocation is looked up again, counting the indexes built (0
 * expected: every other index kept).  Prints medians and maxima.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "store.h"

struct ids {
    uint32_t *id;
    size_t n, cap;
};

static int collect(const struct spfdb_alloc *a, void *arg)
{
    struct ids *s = arg;

    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        uint32_t *p = realloc(s->id, cap * sizeof *p);
        if (p == NULL)
            return SPFDB_ENOMEM;
        s->id = p;
        s->cap = cap;
    }
    s->id[s->n++] = a->id;
    return 0;
}

struct change {
    uint32_t id;
    int add;
    uint8_t host;
};

static int change_fn(spfdb_txn *t, void *arg)
{
    const struct change *c = arg;
    struct spfdb_prefix p = {.family = 4, .len = 32, .addr = {192, 0, 2, c->host}};

    return c->add ? spfdb_entry_add(t, c->id, &p) : spfdb_entry_del(t, c->id, &p);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Both families of ID, once each: 0, or the first failure. */
static int look(spfdb_txn *t, uint32_t id)
{
    static const uint8_t a4[4] = {192, 0, 2, 1}, a6[16] = {0x20, 0x01, 0x0d, 0xb8};
    int rc = spfdb_covers(t, id, 4, a4);

    if (rc >= 0)
        rc = spfdb_covers(t, id, 6, a6);
    return rc < 0 ? rc : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("%-44s median %8.1f us, p90 %8.1f us, max %8.1f us\n", what, v[n / 2] * 1e6,
           v[n * 9 / 10] * 1e6, v[n - 1] * 1e6);
}

int main(int argc, char **argv)
{
    int commits = 200, opt;
    struct ids ids = {0};
    spfdb_env *env;
    spfdb_txn *t;
    struct ixstats st;
    int rc;

    while ((opt = getopt(argc, argv, "c:")) != -1) {
        if (opt != 'c')
            goto usage;
        commits = atoi(optarg);
    }
    if (optind + 1 != argc || commits < 1) {
usage:
        fprintf(stderr, "usage: commit-bench [-c COMMITS] DBDIR\n");
        return 2;
    }
    double *refresh = calloc((size_t)commits, sizeof *refresh);
    double *rebuild = calloc((size_t)commits, sizeof *rebuild);
    double *commit = calloc((size_t)commits, sizeof *commit);
    uint32_t *holder = calloc(256, sizeof *holder);
    if ((rc = spfdb_env_open(argv[optind], &env)) != 0 || (rc = spfdb_txn_read(env, &t)) != 0 ||
        (rc = spfdb_alloc_foreach(t, collect, &ids)) != 0 || !refresh || !rebuild || !commit ||
        !holder) {
        fprintf(stderr, "commit-bench: %s\n", spfdb_strerror(rc ? rc : SPFDB_ENOMEM));
        return 1;
    }
    double t0 = now();
    for (size_t i = 0; i < ids.n; i++)
        if ((rc = look(t, ids.id[i])) != 0)
            goto fail;
    index_stats(env, &st);
    printf("%zu allocations: first lookups %.1f ms, %llu indexes built, %.1f MiB\n", ids.n,
           (now() - t0) * 1e3, (unsigned long long)st.builds, (double)st.bytes / 1048576);
    srand(20261207);
    uint64_t other = 0;
    for (int c = 0; c < commits; c++) {
        /* a host held by an allocation is removed from it, else added to a
         * random one */
        struct change ch = {.host = (uint8_t)(rand() % 256)};
        ch.add = holder[ch.host] == 0;
        ch.id = ch.add ? ids.id[(size_t)rand() % ids.n] : holder[ch.host];
        double a = now();
        if ((rc = spfdb_write(env, change_fn, &ch)) != 0)
            goto fail;
        holder[ch.host] = ch.add ? ch.id : 0;
        double b = now();
        if ((rc = spfdb_txn_refresh(t)) != 0)
            goto fail;
        double d = now();
        if ((rc = look(t, ch.id)) != 0)
            goto fail;
        double e = now();
        commit[c] = b - a;
        refresh[c] = d - b;
        rebuild[c] = e - d;
        index_stats(env, &st);
        uint64_t before = st.builds;
        for (size_t i = 0; i < ids.n; i++)
            if ((rc = look(t, ids.id[i])) != 0)
                goto fail;
        index_stats(env, &st);
        other += st.builds - before;
    }
    report("commit (spfdb_write, durable)", commit, commits);
    report("reader: refresh onto it (the new table)", refresh, commits);
    report("reader: the changed allocation's lookups", rebuild, commits);
    index_stats(env, &st);
    printf("indexes built for the other allocations after %d commits: %llu; %.1f MiB, "
           "%u table(s)\n", commits, (unsigned long long)other, (double)st.bytes / 1048576,
           st.tables);
    spfdb_txn_close(t);
    spfdb_env_close(env);
    return 0;
fail:
    fprintf(stderr, "commit-bench: %s\n", spfdb_strerror(rc));
    return 1;
}
