/* zones.h: the served zones and allocation names, in memory, for answers.
 *
 * A worker builds one table from a database snapshot (spfdb_zone_foreach,
 * spfdb_alloc_foreach) whenever spfdb_info.meta_gen changes, and swaps it
 * in between batches; the query path only reads it.  The table precomputes
 * each zone's apex in wire form and its SOA and NS RDATA, so answers are
 * copies.  A table is owned by one thread; nothing here touches LMDB.
 * Lookups hash the name, so their cost does not grow with the zone count.
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
unsigned zonetab_zone_count(const struct zonetab *t);

/* A served zone, as answers need it.  Read-only once added. */
struct zone {
    uint32_t alloc_id;       /* delegated: the bound allocation; 0: provider */
    uint32_t ttl, neg_ttl;
    uint16_t soa_len;        /* SOA RDATA, serial 0 (patched per answer) */
    uint16_t ns_count;
    const uint8_t *soa;
    const uint8_t *ns[SPFDB_NS_MAX]; /* NS RDATA: each a wire name */
    uint8_t ns_len[SPFDB_NS_MAX];
    uint8_t apex_len;
    uint8_t apex[];          /* lowercase wire form; then SOA and NS data */
};

/* The zone of the wire name NAME, whose NLABELS labels start at the offsets
 * LABEL[] (as struct query holds them), or NULL.  *APEX_LABEL is the index
 * of the apex's first label (NLABELS for the root). */
const struct zone *zonetab_find(const struct zonetab *t, const uint8_t *name,
                                const uint8_t *label, unsigned nlabels, unsigned *apex_label);

/* The id of the allocation named by the wire label LABEL (length octet
 * first), compared case-insensitively: 0 when there is none. */
uint32_t zonetab_alloc_id(const struct zonetab *t, const uint8_t *label);

#endif
