/* db-bench: import, lookup and size figures of libspfdb (docs/design.md).
 *
 *   db-bench [-n PREFIXES] [-q LOOKUPS] [-r RUNS] [-d PARENT_DIR]
 *
 * Each run makes a fresh database under PARENT_DIR (default $TMPDIR or
 * /var/tmp: a real disk, so the commit's fsync counts), imports N random
 * prefixes sorted in one spfdb_write, times random spfdb_covers lookups on
 * one read transaction (one by one, then spfdb_covers_many in batches of
 * 8, about what spfdbd gets from one recvmmsg at saturation), reports data.mdb bytes per entry, then imports the
 * same prefixes unsorted into another fresh database.  Medians over RUNS.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spfdb.h"

struct set {
    struct spfdb_prefix *p;
    size_t n;
};

static uint32_t rnd(uint64_t *rng)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return (uint32_t)(*rng >> 16);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mask(struct spfdb_prefix *p)
{
    unsigned bits = p->family == 4 ? 32 : 128;

    for (unsigned b = p->len; b < bits; b++)
        p->addr[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
}

/* Mostly IPv4 /24 and /32, some shorter; 20% IPv6 /32../64 in 2000::/3. */
static void rand_prefix(struct spfdb_prefix *p, uint64_t *rng)
{
    uint32_t r = rnd(rng) % 100;

    memset(p, 0, sizeof *p);
    if (r < 80) {
        uint32_t a = rnd(rng);
        p->family = 4;
        p->addr[0] = (uint8_t)(1 + (a >> 24) % 223);
        p->addr[1] = (uint8_t)(a >> 16);
        p->addr[2] = (uint8_t)(a >> 8);
        p->addr[3] = (uint8_t)a;
        p->len = r < 45 ? 24 : r < 76 ? 32 : (uint8_t)(16 + rnd(rng) % 8);
    } else {
        p->family = 6;
        for (int i = 0; i < 8; i++)
            p->addr[i] = (uint8_t)rnd(rng);
        p->addr[0] = (uint8_t)(0x20 | (p->addr[0] & 0x1f));
        p->len = (uint8_t)(32 + rnd(rng) % 33);
    }
    mask(p);
}

static int cmp(const void *a, const void *b)
{
    return spfdb_prefix_cmp(a, b);
}

static int add_fn(spfdb_txn *t, void *arg)
{
    const struct set *s = arg;

    for (size_t i = 0; i < s->n; i++) {
        int rc = spfdb_entry_add(t, 1, &s->p[i]);
        if (rc && rc != SPFDB_EEXIST)
            return rc;
    }
    return 0;
}

static void rmdb(const char *dir)
{
    char path[512];

    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

/* Import S into a fresh database; returns seconds, or <0. */
static double import(const char *parent, const struct set *s, char *dir, spfdb_env **envp)
{
    spfdb_env *env;
    double t0;
    int rc;

    snprintf(dir, 512, "%s/spfdb-bench-XXXXXX", parent);
    if (!mkdtemp(dir) || spfdb_env_open(dir, &env) != 0) {
        fprintf(stderr, "db-bench: cannot make a database in %s\n", parent);
        return -1;
    }
    t0 = now();
    rc = spfdb_write(env, add_fn, (void *)s);
    t0 = now() - t0;
    if (rc) {
        fprintf(stderr, "db-bench: import: %s\n", spfdb_strerror(rc));
        spfdb_env_close(env);
        return -1;
    }
    *envp = env;
    return t0;
}

/* Q addresses, half inside a random entry of S, half anywhere: 17 bytes
 * each (family, address), made before the clock starts. */
static uint8_t *make_queries(const struct set *s, size_t q, uint64_t *rng)
{
    uint8_t *v = malloc(q * 17);

    for (size_t i = 0; v && i < q; i++) {
        const struct spfdb_prefix *p = &s->p[rnd(rng) % s->n];
        uint8_t *a = v + i * 17 + 1;

        v[i * 17] = p->family;
        for (int j = 0; j < 16; j++)
            a[j] = (uint8_t)rnd(rng);
        if (i % 2 == 0)
            for (unsigned b = 0; b < p->len; b++)
                a[b / 8] = (uint8_t)((a[b / 8] & ~(0x80u >> (b % 8))) |
                                     (p->addr[b / 8] & (0x80u >> (b % 8))));
    }
    return v;
}

/* Q lookups on one read transaction: one spfdb_covers each, or with
 * BATCH > 0 spfdb_covers_many of BATCH at a time (as spfdbd does a
 * recvmmsg batch).  Seconds, or -1. */
static double lookups(spfdb_env *env, const uint8_t *qs, size_t q, unsigned batch, size_t *hits)
{
    struct spfdb_query m[SPFDB_MANY_MAX];
    spfdb_txn *t;
    double t0;
    int rc = 0;

    if (spfdb_txn_read(env, &t) != 0)
        return -1;
    *hits = 0;
    t0 = now();
    for (size_t i = 0; i < q && rc >= 0;) {
        unsigned k = 0;

        if (batch == 0) {
            rc = spfdb_covers(t, 1, qs[i * 17], qs + i * 17 + 1);
            *hits += rc > 0;
            i++;
            continue;
        }
        for (; k < batch && i < q; k++, i++) {
            m[k].alloc_id = 1;
            m[k].family = qs[i * 17];
            memcpy(m[k].addr, qs + i * 17 + 1, 16);
        }
        spfdb_covers_many(t, m, k);
        for (unsigned j = 0; j < k; j++) {
            rc = m[j].result < rc ? m[j].result : rc;
            *hits += m[j].result > 0;
        }
    }
    t0 = now() - t0;
    spfdb_txn_close(t);
    return rc < 0 ? -1 : t0;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return v[n / 2];
}

int main(int argc, char **argv)
{
    size_t n = 1000000, q = 1000000, hits = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int runs = 3, opt;
    const char *parent = getenv("TMPDIR");
    struct set sorted, shuffled, extra;
    double single[20], sec_single[16], sec_extra[16], sec_sorted[16], sec_unsorted[16], sec_look[16], sec_many[16], bpe[16], bpe_extra[16], bpe_uns[16], t0, sort_s;
    char dir[512], path[600];
    uint8_t *qs;
    struct stat st;

    if (!parent || !*parent)
        parent = "/var/tmp";
    while ((opt = getopt(argc, argv, "n:q:r:d:")) != -1) {
        switch (opt) {
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 'q': q = strtoul(optarg, NULL, 10); break;
        case 'r': runs = atoi(optarg); break;
        case 'd': parent = optarg; break;
        default:
            fprintf(stderr, "usage: db-bench [-n PREFIXES] [-q LOOKUPS] [-r RUNS] [-d DIR]\n");
            return 2;
        }
    }
    if (n == 0 || runs < 1 || runs > 16)
        return 2;
    sorted.p = malloc(n * sizeof *sorted.p);
    shuffled.p = malloc(n * sizeof *shuffled.p);
    if (!sorted.p || !shuffled.p)
        return 1;
    for (size_t i = 0; i < n; i++)
        rand_prefix(&shuffled.p[i], &rng);
    shuffled.n = sorted.n = n;
    memcpy(sorted.p, shuffled.p, n * sizeof *sorted.p);
    t0 = now();
    qsort(sorted.p, n, sizeof *sorted.p, cmp);
    sort_s = now() - t0;
    extra.n = n / 10 ? n / 10 : 1;
    extra.p = malloc(extra.n * sizeof *extra.p);
    if (!extra.p)
        return 1;
    for (size_t i = 0; i < extra.n; i++)
        rand_prefix(&extra.p[i], &rng);
    qs = make_queries(&sorted, q, &rng);
    if (!qs)
        return 1;
    qsort(extra.p, extra.n, sizeof *extra.p, cmp);
    printf("db-bench: %zu prefixes (%zu lookups), %d runs, LMDB %s, in %s\n", n, q, runs,
           spfdb_lmdb_version(), parent);
    printf("sorting the input: %.3f s\n", sort_s);

    for (int r = 0; r < runs; r++) {
        spfdb_env *env;

        sec_sorted[r] = import(parent, &sorted, dir, &env);
        if (sec_sorted[r] < 0)
            return 1;
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        bpe[r] = stat(path, &st) == 0 ? (double)st.st_size / (double)n : -1;
        sec_look[r] = lookups(env, qs, q, 0, &hits);
        sec_many[r] = lookups(env, qs, q, 8, &hits);
        if (sec_look[r] < 0 || sec_many[r] < 0)
            return 1;
        /* Then a tenth more, sorted, between the present keys (no appends). */
        t0 = now();
        if (spfdb_write(env, add_fn, &extra) != 0)
            return 1;
        sec_extra[r] = now() - t0;
        /* One prefix per transaction, as `spfdb-ctl add P` does. */
        for (int i = 0; i < 20; i++) {
            struct set one = {&extra.p[i * (extra.n / 20)], 1};
            struct spfdb_prefix back = *one.p;

            one.p->addr[one.p->family == 4 ? 3 : 15] ^= 1; /* a new key... */
            one.p->len = one.p->family == 4 ? 32 : 128;   /* ...that is canonical */
            t0 = now();
            if (spfdb_write(env, add_fn, &one) != 0)
                return 1;
            single[i] = now() - t0;
            *one.p = back;
        }
        sec_single[r] = median(single, 20);
        spfdb_env_close(env);
        bpe_extra[r] = stat(path, &st) == 0 ? (double)st.st_size / (double)(n + extra.n) : -1;
        rmdb(dir);

        sec_unsorted[r] = import(parent, &shuffled, dir, &env);
        if (sec_unsorted[r] < 0)
            return 1;
        spfdb_env_close(env);
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        bpe_uns[r] = stat(path, &st) == 0 ? (double)st.st_size / (double)n : -1;
        rmdb(dir);
        printf("run %d: sorted import %.3f s (%.0f/s), lookups %.0f/s (%zu%% hits), "
               "in batches of 8 %.0f/s, "
               "%.1f B/entry; then %zu more sorted %.3f s (%.0f/s), file %.1f B/entry; "
               "one-prefix commit %.1f ms; "
               "unsorted import %.3f s (%.0f/s), %.1f B/entry\n",
               r + 1, sec_sorted[r], (double)n / sec_sorted[r], (double)q / sec_look[r],
               hits * 100 / (q ? q : 1), (double)q / sec_many[r], bpe[r], extra.n, sec_extra[r],
               (double)extra.n / sec_extra[r], bpe_extra[r], sec_single[r] * 1e3, sec_unsorted[r], (double)n / sec_unsorted[r],
               bpe_uns[r]);
        fflush(stdout);
    }
    printf("median: sorted durable import %.0f prefixes/s (%.3f s), lookups %.0f/s, "
           "in batches of 8 %.0f/s, "
           "%.1f bytes/entry; %zu more sorted %.0f/s; one-prefix commit %.1f ms; "
           "unsorted import %.0f prefixes/s (%.3f s), %.1f bytes/entry\n",
           (double)n / median(sec_sorted, runs), median(sec_sorted, runs),
           (double)q / median(sec_look, runs), (double)q / median(sec_many, runs),
           median(bpe, runs), extra.n,
           (double)extra.n / median(sec_extra, runs), median(sec_single, runs) * 1e3,
           (double)n / median(sec_unsorted, runs), median(sec_unsorted, runs),
           median(bpe_uns, runs));
    free(sorted.p);
    free(shuffled.p);
    free(extra.p);
    free(qs);
    return 0;
}
