/* meta.h: the meta record (format version, serial, generation), the
 * allocations with their entry counts, and the zones (meta.c).  The public
 * calls are in spfdb.h; these are for the other db files.
 *
 * Calls down into env.h, set.h (alloc_del --force empties the sets),
 * changelog.h, xfrdb.h (zones never nest with the transfer zone), zonerec.h
 * and rules.h.  Errors as spfdb.h; the write calls need a
 * write transaction and leave a storage failure sticky in it.
 */
#ifndef SPFDB_META_H
#define SPFDB_META_H

#include <stddef.h>
#include <stdint.h>

#include "spfdb.h"

/* Format 2 keeps each allocation's prefixes as sorted fixed-size duplicates
 * (set.c); format 3 adds the transfer settings (the xfr database), change
 * log records with serials (changelog.c) and the meta fields for them.
 * upgrade.c converts older formats on the first open. */
#define SPFDB_FORMAT 3

/* The single "spfdb" record in the meta database. */
struct meta {
    uint32_t version;
    uint32_t serial;
    uint64_t gen;
    int64_t changed;
    uint32_t next_id;
    uint64_t ixfr_floor; /* format 3: the first seq spfdb_log_find_serial may find */
    uint64_t xfr_gen;    /* format 3: bumped by every quiet commit */
};

/* A write transaction's copy of one allocation's record, its entry counts
 * changing, stored to allocs before any read of allocs and at commit (a
 * bulk add touches one). */
struct counts {
    struct spfdb_alloc a;  /* a.id 0: none loaded */
    int dirty;
};

/* The stored forms (pure).  The meta record: META_SIZE octets (format 3;
 * formats 1 and 2 stored the first 28).  An allocation: name -> id, n4, n6
 * (ALLOC_SIZE octets), then its members' ids, ascending (4 octets each, at
 * most SPFDB_MEMBERS_MAX).  A decoder checks the lengths, and that a name
 * holds no NUL (it would be read cut short): 0 and *OUT, or SPFDB_EFORMAT. */
#define META_SIZE 44
#define ALLOC_SIZE 20
#define ALLOC_SIZE_MAX (ALLOC_SIZE + 4 * SPFDB_MEMBERS_MAX)
int meta_decode(const uint8_t *p, size_t n, struct meta *m);
void meta_encode(const struct meta *m, uint8_t *b);
int alloc_decode(const void *name, size_t nlen, const uint8_t *p, size_t len,
                 struct spfdb_alloc *out);
/* A's record into B (ALLOC_SIZE_MAX octets): its length. */
size_t alloc_encode(const struct spfdb_alloc *a, uint8_t *b);

/* The allocation record of NAME (SPFDB_ENOTFOUND), of ID's name; store A
 * (FLAGS as mdb_put: MDB_NOOVERWRITE gives SPFDB_EEXIST).  Raw: no
 * counts_flush, no check of the name. */
int alloc_get(spfdb_txn *t, const char *name, struct spfdb_alloc *out);
int alloc_name(spfdb_txn *t, uint32_t id, char *name);
int alloc_store(spfdb_txn *t, const struct spfdb_alloc *a, unsigned flags);

int meta_load(spfdb_txn *t, struct meta *m);
int meta_save(spfdb_txn *t, const struct meta *m);
/* The meta record as T sees it: a write transaction's, changes and all
 * (stored at its commit), else the snapshot's. */
int meta_current(spfdb_txn *t, struct meta *m);
/* The stored format version (>0), or SPFDB_EFORMAT (none, 0 or newer). */
int meta_version(spfdb_txn *t);
/* A new database: its meta record and the allocation "default". */
int meta_init(spfdb_txn *t);
/* SPEC §2's serial for a commit at NOW: NOW, or one more than the last
 * when that is not less; GEN_CHANGED bumps the generation.  (A follower's
 * commit then takes its primary's serial instead: write.c.) */
void meta_stamp(struct meta *m, int64_t now, int gen_changed);

/* Load ALLOC_ID's record into t->cnt (SPFDB_ENOTFOUND: no such allocation)
 * and change FAMILY's count by DELTA; t->cnt.a.name is then its name. */
int counts_bump(spfdb_txn *t, uint32_t alloc_id, int family, int delta);
/* Store t->cnt when changed. */
int counts_flush(spfdb_txn *t);

#endif
