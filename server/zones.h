/* zones.h: the served zones and allocation names, in memory, for answers.
 *
 * A worker builds one table from a database snapshot (spfdb_zone_foreach,
 * spfdb_alloc_foreach) whenever spfdb_info.meta_gen changes, and swaps it
 * in between batches; the query path only reads it.  The table precomputes
 * each zone's records in wire form (A, SOA and NS, owners as compression
 * pointers), so an answer is one copy and two patches.  A table is owned
 * by one thread; nothing here touches LMDB.  Lookups hash and compare
 * eight octets at a time, so their cost does not grow with the zone count.
 * Errors: 0, SPFDB_EINVAL (a record that cannot be served, e.g. too large,
 * or a zone or allocation added twice), SPFDB_ENOMEM.
 */
#ifndef SPFDB_ZONES_H
#define SPFDB_ZONES_H

#include <stdint.h>

#include "spfdb.h"

struct zonetab;

struct zonetab *zonetab_new(void);
void zonetab_free(struct zonetab *t);
int zonetab_add_zone(struct zonetab *t, const struct spfdb_zone *z);
int zonetab_add_alloc(struct zonetab *t, const char *name, uint32_t id);
/* Drop allocation NAME (a commit deleted it): 0, or SPFDB_ENOTFOUND.  Its
 * record's room stays taken (zonetab_alloc_dead counts it) until the
 * table is built anew. */
int zonetab_del_alloc(struct zonetab *t, const char *name);
unsigned zonetab_zone_count(const struct zonetab *t);
/* Allocations in the table, and the records dropped ones left behind. */
unsigned zonetab_alloc_count(const struct zonetab *t);
unsigned zonetab_alloc_dead(const struct zonetab *t);

/* A served zone, as answers need it.  Read-only once added.  The records
 * below are whole resource records: owner, type, class, TTL, RDLENGTH,
 * RDATA.  The SOA's owner and serial are left 0 for the answer to patch:
 * the owner pointer at offset 0, the serial at soa_rr_len - 20. */
struct zone {
    uint32_t alloc_id;       /* delegated: the bound allocation; 0: provider */
    uint32_t ttl, neg_ttl;
    uint16_t soa_rr_len;
    uint16_t ns_count;
    uint16_t ns_rr_len;
    const uint8_t *soa_rr;   /* the SOA, TTL neg_ttl */
    const uint8_t *ns_rr;    /* the NS records, owner 0xC00C (the question), TTL ttl */
    uint8_t a_rr[16];        /* A 127.0.0.2, owner 0xC00C, TTL ttl */
    uint8_t none_rr[24];     /* TXT "v=spf1 ~all", owner 0xC00C, TTL neg_ttl: `_ip` misses */
    uint8_t apex_len;
    const uint8_t *apex;     /* lowercase wire form */
    uint8_t nw;              /* key words: (apex_len + 7) / 8 */
    uint64_t key[];          /* nw words of the apex, then nw masks (zones.c) */
};

/* The zone of the wire name NAME, whose NLABELS labels start at the offsets
 * LABEL[] (as struct query holds them), or NULL.  *APEX_LABEL is the index
 * of the apex's first label.  The 7 octets before NAME must be readable
 * (the header of the message NAME is in): they are read and ignored. */
const struct zone *zonetab_find(const struct zonetab *t, const uint8_t *name,
                                const uint8_t *label, unsigned nlabels, unsigned *apex_label);

/* The id of the allocation named by the wire label LABEL (length octet
 * first), compared case-insensitively: 0 when there is none.  As for
 * zonetab_find, the 7 octets before LABEL must be readable. */
uint32_t zonetab_alloc_id(const struct zonetab *t, const uint8_t *label);

#endif
