/* defence-bench: what DNS Cookies and rate limiting cost per query, side by
 * side (docs/performance.md).
 *
 *   defence-bench [-r ROUNDS] [-n QUERIES] [-o VARIANT]
 *
 * Answers QUERIES (default 65536) queries for listed and unlisted names of
 * an in-memory zone (the lookup a constant, so the figures are the answer
 * core's own) as UDP batches of 64 (answer_batch, as a UDP worker does), in
 * these variants, interleaved round by round (default 9 rounds):
 *   base        OPT, no COOKIE, cookies and rate limiting off
 *   cookies-on  the same queries with cookie secrets set (no COOKIE in them)
 *   client      a client cookie alone: a server cookie made
 *   valid       a valid server cookie: checked, sent back
 *   rrl-1       rate limiting on (never reached), all from one /24
 *   rrl-64k     rate limiting on, from 65,536 /24s (every one a table miss)
 * and prints each variant's median ns per query and the median over rounds
 * of its difference to base in the same round (the rounds are paired, so a
 * noisy machine slows both sides of a difference).  No database, no
 * sockets: the figures isolate the defences.  -o VARIANT (0 = base ..)
 * runs that one alone, for
 *   valgrind --tool=callgrind --toggle-collect=run_variant defence-bench -r 1 -o V
 * whose instructions divided by QUERIES are stable to a few instructions.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "cookie.h"
#include "rrl.h"
#include "zones.h"

enum { QMAX = 128, BATCH = 64 };
enum { V_BASE, V_COOKIES_ON, V_CLIENT, V_VALID, V_RRL1, V_RRL64K, NV };
static const char *const vname[NV] = { "base", "cookies-on", "client", "valid", "rrl-1", "rrl-64k" };

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    (void)ctx;
    for (unsigned i = 0; i < n; i++)
        q[i].result = q[i].addr[2] & 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "a.b.c.d.spf.acme.example A" with OPT and COOKIE[0..CLEN) (0: none). */
static size_t build(uint8_t *q, unsigned i, const uint8_t *cookie, size_t clen)
{
    char name[64];
    size_t n = 12;

    snprintf(name, sizeof name, "%u.%u.%u.%u.spf.acme.example", 10 + (i >> 16 & 0xFF),
             i >> 8 & 0xFF, i & 0xFF, 7);
    memset(q, 0, 12);
    q[0] = (uint8_t)(i >> 8);
    q[1] = (uint8_t)i;
    q[5] = 1;
    q[11] = 1;
    for (char *lab = strtok(name, "."); lab != NULL; lab = strtok(NULL, ".")) {
        size_t l = strlen(lab);
        q[n++] = (uint8_t)l;
        memcpy(q + n, lab, l);
        n += l;
    }
    q[n++] = 0;
    memcpy(q + n, (uint8_t[]){ 0, 1, 0, 1, 0, 0, 41, 1232 >> 8, 1232 & 0xFF, 0, 0, 0, 0 }, 13);
    n += 13;
    q[n++] = 0;
    q[n++] = (uint8_t)(clen ? 4 + clen : 0);
    if (clen) {
        memcpy(q + n, (uint8_t[]){ 0, 10, 0, (uint8_t)clen }, 4);
        memcpy(q + n + 4, cookie, clen);
        n += 4 + clen;
    }
    return n;
}

static uint64_t check;

/* The timed loop (named for callgrind's --toggle-collect). */
void run_variant(const struct answer_env *env, uint8_t *const *wire, const uint16_t *len,
                 unsigned nq, const struct sockaddr *const *peer, struct answer_msg *m);
void run_variant(const struct answer_env *env, uint8_t *const *wire, const uint16_t *len,
                 unsigned nq, const struct sockaddr *const *peer, struct answer_msg *m)
{
    static uint8_t out[BATCH][1232];

    for (unsigned i = 0; i < nq; i += BATCH) {
        for (unsigned j = 0; j < BATCH; j++)
            m[j] = (struct answer_msg){ .q = wire[i + j], .qlen = len[i + j], .out = out[j],
                                        .cap = sizeof out[j], .peer = peer[i + j] };
        answer_batch(env, ANSWER_UDP, m, BATCH);
        for (unsigned j = 0; j < BATCH; j++)
            check += m[j].len + m[j].info.limited * 1000000u;
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    unsigned rounds = 9, nq = 65536, only = NV;
    int opt;

    while ((opt = getopt(argc, argv, "r:n:o:")) != -1) {
        if (opt == 'r')
            rounds = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'n')
            nq = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'o')
            only = (unsigned)strtoul(optarg, NULL, 10);
        else {
            fputs("usage: defence-bench [-r ROUNDS] [-n QUERIES] [-o VARIANT]\n", stderr);
            return 2;
        }
    }
    if (rounds == 0 || nq < BATCH)
        return 2;
    nq -= nq % BATCH;

    struct zonetab *tab = zonetab_new();
    struct spfdb_zone z;
    memset(&z, 0, sizeof z);
    snprintf(z.name, sizeof z.name, "example");
    z.ttl = 300;
    z.neg_ttl = 60;
    z.n_ns = 1;
    snprintf(z.ns[0], sizeof z.ns[0], "ns1.example.net");
    if (tab == NULL || zonetab_add_zone(tab, &z) != 0 || zonetab_add_alloc(tab, "acme", 2) != 0)
        return 3;

    struct cookie_secrets sec = { .n = 1, .key = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 } } };
    const uint32_t t = 1800000000u;
    uint8_t *wire[NV];
    uint16_t *len = calloc(nq, sizeof *len * NV);
    struct sockaddr_in *peer = calloc(nq, sizeof *peer), one = { .sin_family = AF_INET };
    one.sin_addr.s_addr = htonl(0xC6336407);
    if (len == NULL || peer == NULL)
        return 3;
    for (unsigned v = 0; v < NV; v++)
        if ((wire[v] = malloc((size_t)nq * QMAX)) == NULL)
            return 3;
    for (unsigned i = 0; i < nq; i++) {
        uint8_t client[8] = { 0xC0, 1, 2, 3, (uint8_t)i, (uint8_t)(i >> 8), 6, 7 }, ck[24];
        peer[i].sin_family = AF_INET;
        peer[i].sin_addr.s_addr = htonl(0x0A000000u | (i & 0xFFFF) << 8 | 9);
        memcpy(ck, client, 8);
        cookie_make(sec.key[0], client, (const uint8_t[3]){ 0 },
                    (const uint8_t *)&peer[i].sin_addr, 4, t, ck + 8);
        for (unsigned v = 0; v < NV; v++) {
            uint8_t *q = wire[v] + (size_t)i * QMAX;
            len[v * nq + i] = (uint16_t)(v == V_CLIENT  ? build(q, i, client, 8)
                                         : v == V_VALID ? build(q, i, ck, 24)
                                                        : build(q, i, NULL, 0));
        }
    }

    struct answer_msg m[BATCH];
    uint8_t **qp = malloc((size_t)NV * nq * sizeof *qp);
    const struct sockaddr **pp = malloc((size_t)NV * nq * sizeof *pp);
    double *ns = calloc((size_t)rounds * NV, sizeof *ns);
    if (ns == NULL || qp == NULL || pp == NULL)
        return 3;
    for (unsigned v = 0; v < NV; v++) {
        for (unsigned i = 0; i < nq; i++) {
            qp[v * nq + i] = wire[v] + (size_t)i * QMAX;
            pp[v * nq + i] = (const struct sockaddr *)(v == V_RRL1 ? &one : &peer[i]);
        }
    }
    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned v = 0; v < NV; v++) {
            if (only < NV && v != only)
                continue;
            struct answer_env env = { .zones = tab, .serial = 1, .covers_many = covers_many,
                                      .now = t + 60, .now_ms = 5000 };
            if (v != V_BASE)
                env.cookies = &sec;
            if (v == V_RRL1 || v == V_RRL64K)
                env.rrl = rrl_new(RRL_RATE_MAX, 1, 0, 0x9E3779B97F4A7C15ull);
            double t0 = now();
            run_variant(&env, qp + v * nq, len + v * nq, nq, pp + v * nq, m);
            ns[v * rounds + r] = (now() - t0) * 1e9 / nq;
            rrl_free(env.rrl);
        }
    }
    if (only < NV) {
        printf("%s: %.1f ns/query (checksum %llu)\n", vname[only], ns[only * rounds],
               (unsigned long long)check);
        return 0;
    }
    printf("%u queries x %u rounds, batches of %u: median ns/query, and the median of the\n"
           "paired differences to base (same round)\n", nq, rounds, BATCH);
    double *d = calloc(rounds, sizeof *d);
    if (d == NULL)
        return 3;
    for (unsigned v = 0; v < NV; v++) {
        for (unsigned r = 0; r < rounds; r++)
            d[r] = ns[v * rounds + r] - ns[r];
        qsort(d, rounds, sizeof *d, cmp);
        double dm = d[rounds / 2];
        qsort(ns + v * rounds, rounds, sizeof *ns, cmp);
        printf("  %-11s %7.1f ns  %+6.1f ns  (min %.1f)\n", vname[v], ns[v * rounds + rounds / 2],
               dm, ns[v * rounds]);
    }
    /* The hash alone: cookie_answer for a valid cookie, and for a client
     * cookie alone. */
    uint8_t o[24];
    double t0 = now();
    for (unsigned i = 0; i < nq; i++)
        check += cookie_answer(&sec, wire[V_VALID] + (size_t)i * QMAX + len[V_VALID * nq + i] - 24,
                               24, (const uint8_t *)&peer[i].sin_addr, 4, t + 60, o);
    double tv = (now() - t0) * 1e9 / nq;
    t0 = now();
    for (unsigned i = 0; i < nq; i++)
        check += cookie_answer(&sec, wire[V_CLIENT] + (size_t)i * QMAX + len[V_CLIENT * nq + i] - 8,
                               8, (const uint8_t *)&peer[i].sin_addr, 4, t + 60, o);
    double tc = (now() - t0) * 1e9 / nq;
    printf("  cookie_answer alone: valid %.1f ns, client cookie only %.1f ns (checksum %llu)\n", tv,
           tc, (unsigned long long)check);
    return 0;
}
