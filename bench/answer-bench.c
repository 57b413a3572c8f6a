/* answer-bench: the query path without sockets (docs/performance.md).
 *
 *   answer-bench [-e] [-m] [-b BATCH] [-p PASSES] DBDIR QUERYFILE
 *
 * Reads a dnsperf query file ("NAME TYPE" a line), turns each line into a
 * wire query (with -e carrying an OPT record, UDP size 1232, as resolvers
 * send them; without, as dnsperf sends by default), and answers them all
 * PASSES times (default 5) through answer.h: a snapshot renewed per BATCH
 * queries (default 64), each query answered alone (answer_query, a batch
 * of one, as the TCP thread does), the snapshot reset; with -m the BATCH
 * queries are one answer_batch, as a UDP worker's recvmmsg batch is: their
 * lookups made together, spfdb_covers_many SPFDB_MANY_MAX at a time.
 * Lookups go to spfdb_covers_many (spfdb_covers for one) as server/view.c
 * makes them, without its retry, which only a failed read takes.
 * Prints ns per query and the answer classes.  Under
 * callgrind, count only the timed loop with
 *   valgrind --tool=callgrind --toggle-collect=run_passes answer-bench ...
 * and divide its instructions by passes x queries: unlike wall time on a
 * shared machine, that figure is stable to a few instructions.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "spfchain.h"
#include "spfdb.h"
#include "zones.h"

enum { QMAX = 512 };

struct queries {
    uint8_t *wire; /* n slots of QMAX bytes */
    uint16_t *len;
    size_t n, cap;
};

struct ctx {
    spfdb_txn *txn;
    struct zonetab *zones;
    struct spfcache *chains; /* `_spf` chains of snapshot chain_txn, as view.c keeps them */
    uint64_t chain_txn;
};

static int chain_add(const struct spfdb_prefix *p, void *arg)
{
    return spfchain_set_add(arg, p) != 0;
}

/* answer_env.spf_chain as server/view.c answers it (its retry aside): from
 * the cache of this snapshot, built by the first query that needs it. */
static int spf_chain(void *arg, const struct zone *z, uint32_t alloc, const uint8_t *parent,
                     unsigned leaf, const uint8_t **rr, uint16_t *len)
{
    struct ctx *c = arg;
    uint64_t id = spfdb_txn_id(c->txn);
    const struct spfchain *ch;

    if (id != c->chain_txn) {
        spfcache_reset(c->chains);
        c->chain_txn = id;
    }
    ch = spfcache_get(c->chains, z, alloc);
    if (!ch) {
        struct spfchain_set *set = spfcache_set(c->chains);
        struct spfchain *slot = spfcache_slot(c->chains, z, alloc);
        char text[SPFDB_NAME_MAX + 1], base[SPFDB_NAME_MAX + 5];
        size_t o = 0;
        for (const uint8_t *w = parent; *w && o + *w + 1 <= SPFDB_NAME_MAX; w += 1 + *w) {
            if (o)
                text[o++] = '.';
            for (unsigned i = 1; i <= *w; i++)
                text[o++] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
        }
        text[o] = 0;
        snprintf(base, sizeof base, "%s%s", z->alloc_id ? "" : "spf.", text);
        spfchain_set_init(set);
        if (spfdb_maximal_foreach(c->txn, alloc, chain_add, set) < 0)
            return -1;
        spfchain_set_end(set);
        if (spfchain_render(set, text, base, z->neg_ttl, slot) != 0)
            return -1;
        spfcache_commit(c->chains, slot);
        ch = slot;
    }
    *rr = ch->rr[leaf];
    *len = ch->len[leaf];
    return 0;
}

/* As server/view.c looks up, but for its retry of a failed read. */
static void covers_many(void *arg, struct spfdb_query *q, unsigned n)
{
    struct ctx *c = arg;

    if (n == 1)
        q->result = spfdb_covers(c->txn, q->alloc_id, q->family, q->addr);
    else
        spfdb_covers_many(c->txn, q, n);
}

static int add_zone(const struct spfdb_zone *z, void *arg)
{
    return zonetab_add_zone(((struct ctx *)arg)->zones, z);
}

static int add_alloc(const struct spfdb_alloc *a, void *arg)
{
    return zonetab_add_alloc(((struct ctx *)arg)->zones, a->name, a->id);
}

static uint16_t qtype_of(const char *s)
{
    static const struct { const char *name; uint16_t type; } t[] = {
        { "A", 1 }, { "NS", 2 }, { "SOA", 6 }, { "TXT", 16 }, { "AAAA", 28 }, { "ANY", 255 }
    };

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcasecmp(s, t[i].name) == 0)
            return t[i].type;
    return 0;
}

/* "name TYPE" -> a query with RD clear, with an OPT when EDNS; 0 when the
 * line is not one. */
static size_t build(const char *line, uint8_t *q, uint16_t id, int edns)
{
    static const uint8_t opt[11] = { 0, 0, 41, 1232 >> 8, 1232 & 0xFF, 0, 0, 0, 0, 0, 0 };
    char name[300], type[16];
    size_t n = 12;

    if (sscanf(line, "%299s %15s", name, type) != 2 || qtype_of(type) == 0)
        return 0;
    memset(q, 0, 12);
    q[0] = (uint8_t)(id >> 8);
    q[1] = (uint8_t)id;
    q[5] = 1;
    for (char *lab = strtok(name, "."); lab != NULL; lab = strtok(NULL, ".")) {
        size_t l = strlen(lab);
        if (l == 0 || l > 63 || n + 1 + l + 5 + sizeof opt > QMAX)
            return 0;
        q[n++] = (uint8_t)l;
        memcpy(q + n, lab, l);
        n += l;
    }
    q[n++] = 0;
    q[n++] = 0;
    q[n++] = (uint8_t)qtype_of(type);
    q[n++] = 0;
    q[n++] = 1;
    if (edns) {
        q[11] = 1;
        memcpy(q + n, opt, sizeof opt);
        n += sizeof opt;
    }
    return n;
}

static int load(const char *path, struct queries *qs, int edns)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (f == NULL) {
        perror(path);
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (qs->n == qs->cap) {
            size_t cap = qs->cap ? qs->cap * 2 : 4096;
            uint8_t *w = realloc(qs->wire, cap * QMAX);
            uint16_t *l = realloc(qs->len, cap * sizeof *l);
            if (w == NULL || l == NULL) {
                free(w != NULL ? w : qs->wire);
                free(l != NULL ? l : qs->len);
                fclose(f);
                fputs("answer-bench: out of memory\n", stderr);
                return -1;
            }
            qs->wire = w;
            qs->len = l;
            qs->cap = cap;
        }
        size_t len = build(line, qs->wire + qs->n * QMAX, (uint16_t)qs->n, edns);
        if (len > 0)
            qs->len[qs->n++] = (uint16_t)len;
    }
    fclose(f);
    return 0;
}

/* The timed loop (named for callgrind's --toggle-collect).  M: BATCH
 * messages, their OUT and CAP set. */
uint64_t run_passes(struct ctx *c, const struct answer_env *env, const struct queries *qs,
                    unsigned passes, unsigned batch, int batched, struct answer_msg *m,
                    uint64_t *cls);
uint64_t run_passes(struct ctx *c, const struct answer_env *env, const struct queries *qs,
                    unsigned passes, unsigned batch, int batched, struct answer_msg *m,
                    uint64_t *cls)
{
    uint64_t bytes = 0;

    for (unsigned p = 0; p < passes; p++) {
        for (size_t i = 0; i < qs->n; i += batch) {
            unsigned n = qs->n - i < batch ? (unsigned)(qs->n - i) : batch;
            if (spfdb_txn_renew(c->txn) != 0)
                return 0;
            for (unsigned j = 0; batched && j < n; j++) {
                m[j].q = qs->wire + (i + j) * QMAX;
                m[j].qlen = qs->len[i + j];
            }
            if (batched)
                answer_batch(env, ANSWER_UDP, m, n);
            for (unsigned j = 0; !batched && j < n; j++)
                m[j].len = answer_query(env, qs->wire + (i + j) * QMAX, qs->len[i + j], m[j].out,
                                        m[j].cap, ANSWER_UDP, &m[j].info);
            for (unsigned j = 0; j < n; j++) {
                bytes += m[j].len;
                cls[m[j].info.cls]++;
            }
            spfdb_txn_reset(c->txn);
        }
    }
    return bytes;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char *names[] = { "drop",    "listed",  "unlisted",  "tail",
                                   "zone",    "refused", "malformed", "servfail" };
    unsigned batch = 64, passes = 5;
    int edns = 0, batched = 0;
    struct queries qs = { 0 };
    struct ctx c = { 0 };
    struct spfdb_info info;
    spfdb_env *env;
    uint64_t cls[ANSWER_SERVFAIL + 1] = { 0 };
    int opt, rc;

    while ((opt = getopt(argc, argv, "emb:p:")) != -1) {
        if (opt == 'e')
            edns = 1;
        else if (opt == 'm')
            batched = 1;
        else if (opt == 'b')
            batch = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'p')
            passes = (unsigned)strtoul(optarg, NULL, 10);
        else
            goto usage;
    }
    if (argc - optind != 2 || batch == 0 || passes == 0)
        goto usage;
    if (load(argv[optind + 1], &qs, edns) != 0)
        return 3;
    if (qs.n == 0) {
        fputs("answer-bench: no queries\n", stderr);
        return 2;
    }
    rc = spfdb_env_open(argv[optind], &env);
    if (rc == 0)
        rc = spfdb_txn_read(env, &c.txn);
    c.zones = zonetab_new();
    c.chains = spfcache_new(128);
    if (rc == 0 && (c.zones == NULL || c.chains == NULL))
        rc = SPFDB_ENOMEM;
    if (rc == 0)
        rc = spfdb_alloc_foreach(c.txn, add_alloc, &c);
    if (rc == 0)
        rc = spfdb_zone_foreach(c.txn, add_zone, &c);
    if (rc == 0)
        rc = spfdb_info_get(c.txn, &info);
    if (rc != 0) {
        fprintf(stderr, "answer-bench: %s: %s\n", argv[optind], spfdb_strerror(rc));
        return 3;
    }
    spfdb_txn_reset(c.txn);

    static uint8_t out[1232];
    struct answer_msg *m = calloc(batch, sizeof *m);
    if (m == NULL) {
        fputs("answer-bench: out of memory\n", stderr);
        return 3;
    }
    for (unsigned j = 0; j < batch; j++) {
        m[j].out = out;
        m[j].cap = sizeof out;
    }
    struct answer_env aenv = { .zones = c.zones, .serial = info.serial,
                               .covers_many = covers_many, .covers_ctx = &c,
                               .spf_chain = spf_chain, .spf_ctx = &c };
    double t0 = now();
    uint64_t bytes = run_passes(&c, &aenv, &qs, passes, batch, batched, m, cls);
    double t = now() - t0;
    uint64_t total = (uint64_t)qs.n * passes;

    if (bytes == 0) {
        fputs("answer-bench: cannot renew the read transaction\n", stderr);
        return 3;
    }
    printf("%zu queries x %u passes, batch %u%s: %.1f ns/query, %.2f M queries/s\n", qs.n, passes,
           batch, batched ? ", lookups together" : "", 1e9 * t / (double)total, (double)total / t / 1e6);
    for (int i = 0; i <= ANSWER_SERVFAIL; i++)
        if (cls[i] > 0)
            printf("  %-9s %5.1f %%\n", names[i], 100.0 * (double)cls[i] / (double)total);
    spfdb_txn_close(c.txn);
    zonetab_free(c.zones);
    spfcache_free(c.chains);
    spfdb_env_close(env);
    free(m);
    free(qs.wire);
    free(qs.len);
    return 0;
usage:
    fputs("usage: answer-bench [-e] [-m] [-b BATCH] [-p PASSES] DBDIR QUERYFILE\n", stderr);
    return 2;
}
