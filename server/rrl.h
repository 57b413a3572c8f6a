/* rrl.h: response rate limiting (SPEC §4 "Abuse", --rate-limit N).
 *
 * A token bucket per client prefix (IPv4 /24, IPv6 /56): N replies a
 * second with bursts of up to N; past that, replies alternate between
 * "slip" (a truncated reply, or BADCOOKIE, which sends a real resolver to
 * TCP or to its cookie) and "drop".  The caller decides what is exempt
 * (TCP, a valid server cookie, a signed transfer-zone query) and never
 * asks for it, so it is neither limited nor counted.
 *
 * One table per UDP worker, owned by its thread: no lock, no atomic, no
 * shared cache line.  SO_REUSEPORT hashes each datagram's 4-tuple to one
 * of the W workers of its listen address, and a client's (or a spoofer's)
 * source ports spread its queries over them, so each table grants a
 * prefix N/W replies a second and bursts of N/W (at least one reply):
 * together the W tables grant at most N a second and N at once, which is
 * the bound SPEC asks for.  A client whose queries all carry one source
 * port lands on one worker and is limited to N/W: the error is on the safe
 * side, and a real resolver that meets it gets slips and goes to TCP, or
 * sends a cookie (never limited).  Each listen address has its own
 * workers, so a client asking two listen addresses of one server gets N
 * from each.  docs/operations.md says so.
 *
 * The table is fixed at creation (RRL_SETS sets of RRL_WAYS entries, 256
 * KiB): no allocation after rrl_new, bounded memory whatever the flood.
 * The set is picked by a keyed hash (random key per table), so a flood
 * cannot aim at a victim's set.  A new prefix takes an empty entry, else
 * one whose bucket has refilled (it holds nothing worth keeping), else the
 * fullest one: under a flood of many prefixes the limited ones, whose
 * buckets are empty, are the last to go.  Time is the caller's (a
 * monotonic clock in milliseconds), so tests inject it.
 */
#ifndef SPFDB_RRL_H
#define SPFDB_RRL_H

#include <stdint.h>

struct sockaddr;

enum { RRL_SETS = 4096, RRL_WAYS = 4, RRL_RATE_MAX = 1000000 };

/* What to do with a reply. */
enum rrl_action {
    RRL_PASS = 0,
    RRL_SLIP = 1,   /* over the limit, this one truncated (or BADCOOKIE) */
    RRL_DROP = 2    /* over the limit, this one dropped */
};

struct rrl_entry {
    uint64_t key;      /* prefix << 8 | family (4 or 6) | 0x80 when the next one slips; 0: free */
    uint32_t t_ms;     /* when TOKENS was last brought up to date */
    int32_t tokens;    /* credit, in units: a reply costs RRL_COST of them */
};

struct rrl {
    uint32_t rate;     /* N: replies a second per prefix, over all tables */
    uint32_t cost;     /* units a reply costs: W x 1000 */
    int32_t cap;       /* bucket size in units: max(N, W) x 1000 */
    uint8_t dry_run;   /* count, but answer as if not limited */
    uint64_t seed;     /* odd: the set hash's key */
    struct rrl_entry *e; /* RRL_SETS x RRL_WAYS, each set one 64-octet line */
};

/* A table for one of SHARE workers (W, 1 or more) that together grant
 * RATE (1 to RRL_RATE_MAX) replies a second; SEED is random.  NULL when
 * out of memory. */
struct rrl *rrl_new(uint32_t rate, unsigned share, int dry_run, uint64_t seed);
void rrl_free(struct rrl *r);

/* One reply to the client at PEER (AF_INET or AF_INET6; any other family
 * is one bucket of its own), at NOW_MS. */
enum rrl_action rrl_check(struct rrl *r, const struct sockaddr *peer, uint32_t now_ms);

/* The same for a prefix key made by rrl_key (tests, bench). */
enum rrl_action rrl_check_key(struct rrl *r, uint64_t key, uint32_t now_ms);
uint64_t rrl_key(const struct sockaddr *peer);

#endif
