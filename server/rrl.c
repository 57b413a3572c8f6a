/* rrl.c: the per-worker token buckets.  See rrl.h. */
#include "rrl.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { SET_BITS = 12, SLIPPED = 0x80, MS = 1000 };
_Static_assert(RRL_SETS == 1 << SET_BITS, "RRL_SETS is 2^SET_BITS");
_Static_assert(sizeof(struct rrl_entry) * RRL_WAYS == 64, "a set is one cache line");

struct rrl *rrl_new(uint32_t rate, unsigned share, int dry_run, uint64_t seed)
{
    struct rrl *r;

    if (rate == 0 || rate > RRL_RATE_MAX || share == 0 || share > 65536)
        return NULL;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->e = aligned_alloc(64, sizeof *r->e * RRL_SETS * RRL_WAYS);
    if (r->e == NULL) {
        free(r);
        return NULL;
    }
    memset(r->e, 0, sizeof *r->e * RRL_SETS * RRL_WAYS);
    r->rate = rate;
    r->cost = share * MS;
    r->cap = (int32_t)((rate > share ? rate : share) * MS);
    r->dry_run = (uint8_t)(dry_run != 0);
    r->seed = seed | 1;
    return r;
}

void rrl_free(struct rrl *r)
{
    if (r == NULL)
        return;
    free(r->e);
    free(r);
}

uint64_t rrl_key(const struct sockaddr *peer)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    const uint8_t *a;

    if (peer == NULL)
        return 1;
    if (peer->sa_family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)peer)->sin_addr;
    } else if (peer->sa_family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr.s6_addr;
        if (memcmp(a, mapped, sizeof mapped) != 0) {
            uint64_t k = 0;
            for (unsigned i = 0; i < 7; i++) /* the /56 */
                k = k << 8 | a[i];
            return k << 8 | 6;
        }
        a += 12;
    } else {
        return 1;
    }
    return ((uint64_t)a[0] << 16 | (uint64_t)a[1] << 8 | a[2]) << 8 | 4; /* the /24 */
}

/* E's credit at NOW_MS, refilled (not stored). */
static int32_t refilled(const struct rrl *r, const struct rrl_entry *e, uint32_t now_ms)
{
    uint32_t el = now_ms - e->t_ms;
    uint32_t full = (uint32_t)r->cap / r->rate + 1; /* ms that refill any bucket */
    int64_t t;

    if (el > full)
        el = full; /* also a clock that went back: 2^32 - small */
    t = (int64_t)e->tokens + (int64_t)el * r->rate;
    return t > r->cap ? r->cap : (int32_t)t;
}

enum rrl_action rrl_check_key(struct rrl *r, uint64_t key, uint32_t now_ms)
{
    struct rrl_entry *set = r->e + ((key * r->seed) >> (64 - SET_BITS)) * RRL_WAYS;
    struct rrl_entry *e = NULL, *victim = NULL;
    int32_t best = INT32_MIN;

    for (unsigned i = 0; i < RRL_WAYS; i++) {
        if ((set[i].key & ~(uint64_t)SLIPPED) == key) {
            e = &set[i];
            break;
        }
    }
    if (e == NULL) {
        for (unsigned i = 0; i < RRL_WAYS; i++) {
            int32_t t = set[i].key == 0 ? r->cap : refilled(r, &set[i], now_ms);
            if (t > best) {
                best = t;
                victim = &set[i];
                if (t == r->cap)
                    break; /* empty, or refilled: nothing is lost */
            }
        }
        victim->key = key;
        victim->t_ms = now_ms;
        victim->tokens = r->cap - (int32_t)r->cost; /* cap >= cost */
        return RRL_PASS;
    }
    int32_t t = refilled(r, e, now_ms);
    e->t_ms = now_ms;
    if (t >= (int32_t)r->cost) {
        e->tokens = t - (int32_t)r->cost;
        return RRL_PASS;
    }
    e->tokens = t; /* no debt: a limited reply costs nothing */
    e->key ^= SLIPPED;
    return (e->key & SLIPPED) ? RRL_SLIP : RRL_DROP;
}

enum rrl_action rrl_check(struct rrl *r, const struct sockaddr *peer, uint32_t now_ms)
{
    return rrl_check_key(r, rrl_key(peer), now_ms);
}
