/* spfchain.h: the `_spf` include chain of an allocation (SPEC §4 "The
 * `_spf` chain"), and the per-snapshot cache spfdbd answers it from.
 *
 * Pure: no sockets, no LMDB.  The caller walks the allocation's maximal
 * entries (spfdb_maximal_foreach) into a struct spfchain_set, which keeps
 * the fewest CIDRs covering exactly their union; spfchain_render() then
 * writes the top record and the three leaves as whole TXT resource records
 * (owner 0xC00C, the question), ready for wire_reply().  Nothing
 * allocates but spfcache_new(); a set and a chain are fixed-size.
 *
 * The cache (view.c owns one per thread) holds rendered chains by (zone,
 * allocation) for one snapshot; spfcache_reset() empties it in O(1) when
 * the snapshot changes, so every answer follows every commit.
 * Thread rules: a set, a chain and a cache belong to one thread.
 */
#ifndef SPFDB_SPFCHAIN_H
#define SPFDB_SPFCHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

enum {
    SPFCHAIN_LEAVES = 3,     /* leaves 1._spf .. 3._spf */
    SPFCHAIN_TEXT_MAX = 450, /* RFC 7208 §3.4 */
    SPFCHAIN_STRING_MAX = 255,
    /* A reply must fit 512 octets with its question and an OPT carrying a
     * COOKIE (11 + 28): header 12, question QNAME + 4, record head 12. */
    SPFCHAIN_REPLY_MAX = 512,
    SPFCHAIN_OPT_COOKIE = 39,
    /* More CIDRs than four records can ever hold (450 / 12, the shortest
     * term "ip4:1.2.3.4 " being 12 octets): past this the set falls back,
     * and the walk may stop. */
    SPFCHAIN_CIDR_MAX = 152,
    SPFCHAIN_RR_MAX = 12 + SPFCHAIN_TEXT_MAX + 2 /* string lengths */
};

/* The fewest CIDRs covering exactly the union of the prefixes added. */
struct spfchain_set {
    unsigned n;             /* CIDRs in cidr[] */
    uint8_t over;           /* more than SPFCHAIN_CIDR_MAX: the chain falls back */
    uint8_t open;           /* a run [lo, hi] of FAMILY is pending */
    uint8_t family;
    unsigned __int128 lo, hi;
    struct spfdb_prefix cidr[SPFCHAIN_CIDR_MAX];
};

void spfchain_set_init(struct spfchain_set *s);
/* Add P.  Prefixes come IPv4 before IPv6, each family by its first
 * address (as spfdb_maximal_foreach walks); they may nest, overlap or
 * touch.  1 once the set is over (the caller may stop adding), else 0;
 * -1 for a prefix out of that order (the set is then over too). */
int spfchain_set_add(struct spfchain_set *s, const struct spfdb_prefix *p);
/* After the last prefix. */
void spfchain_set_end(struct spfchain_set *s);

/* The four records: [0] `_spf…` itself, [1..3] the leaves. */
struct spfchain {
    uint8_t k;              /* leaves used (0..3) */
    uint8_t fallback;       /* the top record is the exists: term */
    uint16_t len[1 + SPFCHAIN_LEAVES];          /* each record's length */
    uint16_t text_len[1 + SPFCHAIN_LEAVES];     /* ... and its text's */
    uint8_t rr[1 + SPFCHAIN_LEAVES][SPFCHAIN_RR_MAX];
};

/* Render S for the `_spf` node under PARENT (lowercase text, no trailing
 * dot: "acme.iphmx.example" in a provider zone, the apex in a delegated
 * one) whose address base is ADDR_BASE ("spf.acme.iphmx.example", or the
 * apex), every record with TTL.  0, or SPFDB_EINVAL when even the fallback
 * does not fit (names longer than SPEC §2 allows). */
int spfchain_render(const struct spfchain_set *s, const char *parent, const char *addr_base,
                    uint32_t ttl, struct spfchain *out);

/* ADDR of FAMILY (4: 4 octets, 6: 16) as text at P, not NUL-terminated:
 * a dotted quad, or RFC 5952 (lowercase, the first longest run of two or
 * more zero groups as "::"); the same as spfdb_prefix_format's address,
 * without snprintf.  At most 39 octets; returns how many. */
size_t spfchain_addr_text(char *p, int family, const uint8_t *addr);

/* The text of record I of C (no strings' length octets) into BUF of CAP
 * (at least SPFCHAIN_TEXT_MAX + 1) octets, NUL-terminated: for printing and
 * tests. */
void spfchain_text(const struct spfchain *c, unsigned i, char *buf, size_t cap);

/* ---- the cache ---------------------------------------------------------- */

struct spfcache;

/* SLOTS chains (rounded up to a multiple of 4, at least 4): about 1.9 KB
 * each.  NULL when out of memory. */
struct spfcache *spfcache_new(unsigned slots);
void spfcache_free(struct spfcache *c);
/* Forget every chain: a new snapshot.  O(1). */
void spfcache_reset(struct spfcache *c);
/* The chain of (ZONE, ALLOC), or NULL when it is not cached. */
const struct spfchain *spfcache_get(struct spfcache *c, const void *zone, uint32_t alloc);
/* A slot for (ZONE, ALLOC), evicting the oldest of its set: fill it with
 * spfchain_render(), then spfcache_commit(); until then it is not found. */
struct spfchain *spfcache_slot(struct spfcache *c, const void *zone, uint32_t alloc);
void spfcache_commit(struct spfcache *c, struct spfchain *slot);
/* The cache's scratch set, for the walk that feeds a slot. */
struct spfchain_set *spfcache_set(struct spfcache *c);

#endif
