/* zones.h: the served zones and allocation names, in memory, for answers.
 *
 * A worker builds one table from a database snapshot (spfdb_zone_foreach,
 * spfdb_alloc_foreach) whenever spfdb_info.meta_gen changes, and swaps it
 * in between batches; the query path only reads it.  The table precomputes
 * each zone's apex in wire form and its SOA and NS RDATA, so answers are
 * copies.  A table is owned by one thread; nothing here touches LMDB.
 * Errors: 0, SPFDB_EINVAL (a record that cannot be served, e.g. too large),
 * SPFDB_ENOMEM.
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

#endif
