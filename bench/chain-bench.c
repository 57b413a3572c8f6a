/* chain-bench: what building an `_spf` chain costs (server/spfchain.c),
 * the price of a cache miss: the first `_spf` query of an allocation after
 * a commit.  Without the database: a set of N random disjoint prefixes (a
 * third of them IPv6) is added in order as spfdb_maximal_foreach would give
 * them, then rendered; and a cache hit, for comparison.
 *
 * usage: chain-bench [-n PREFIXES] [-r REPEATS]   (prints ns per build)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spfchain.h"

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    return spfdb_prefix_cmp(a, b);
}

int main(int argc, char **argv)
{
    unsigned n = 60, reps = 20000, seed = 1;
    int c;

    while ((c = getopt(argc, argv, "n:r:")) != -1) {
        if (c == 'n')
            n = (unsigned)atoi(optarg);
        else if (c == 'r')
            reps = (unsigned)atoi(optarg);
        else
            return 2;
    }
    struct spfdb_prefix *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        return 1;
    for (unsigned i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i].family = i % 3 == 2 ? 6 : 4;
        if (p[i].family == 4) {
            p[i].len = 24;
            p[i].addr[0] = (uint8_t)(11 + i % 200);
            p[i].addr[1] = (uint8_t)(seed >> 16);
            p[i].addr[2] = (uint8_t)(2 * (seed >> 24) & 0xFE);
        } else {
            p[i].len = 48;
            memcpy(p[i].addr, "\x20\x01\x0d\xb8", 4);
            p[i].addr[4] = (uint8_t)(seed >> 16);
            p[i].addr[5] = (uint8_t)(2 * i);
        }
    }
    qsort(p, n, sizeof *p, cmp);
    struct spfcache *cache = spfcache_new(128);
    static struct spfchain_set set;
    if (!cache)
        return 1;
    double t0 = now_ns();
    unsigned k = 0, fb = 0;
    for (unsigned r = 0; r < reps; r++) {
        spfcache_reset(cache);
        struct spfchain *slot = spfcache_slot(cache, &set, 1);
        spfchain_set_init(&set);
        for (unsigned i = 0; i < n && spfchain_set_add(&set, &p[i]) == 0; i++)
            ;
        spfchain_set_end(&set);
        if (spfchain_render(&set, "acme.iphmx.example", "spf.acme.iphmx.example", 60, slot) != 0)
            return 1;
        spfcache_commit(cache, slot);
        k = slot->k;
        fb = slot->fallback;
    }
    double build = (now_ns() - t0) / reps;
    t0 = now_ns();
    unsigned long sum = 0;
    for (unsigned r = 0; r < reps * 100; r++)
        sum += spfcache_get(cache, &set, 1)->len[r & 3];
    double hit = (now_ns() - t0) / (reps * 100.0);
    printf("%u prefixes -> %u CIDRs, %s: build %.0f ns, cache hit %.1f ns (%lu)\n", n, set.n,
           fb ? "falls back" : (const char *[]){ "0 leaves", "1 leaf", "2 leaves", "3 leaves" }[k],
           build, hit, sum % 7);
    spfcache_free(cache);
    free(p);
    return 0;
}
