/* spfdb.h: libspfdb, the LMDB-backed store shared by spfdbd and spfdb-ctl.
 *
 * The database is one LMDB environment (a directory) holding allocations
 * (named IP sets), their entries (CIDR prefixes), the served zones and a
 * time-based SOA serial (SPEC §2).  Only db/ includes <lmdb.h>; callers see
 * opaque handles and the error codes below.
 *
 * Rules (cf. lmdb.h "Caveats"):
 * - One spfdb_env per process per database.  Do not use an env, or any
 *   transaction from it, after fork(); open a new one in the child.
 * - A read transaction (spfdb_txn_read) belongs to one thread at a time.  A
 *   long-lived reader (a server worker) keeps one handle for its lifetime
 *   and calls spfdb_txn_refresh() before each batch of work, so each batch
 *   starts on the last commit.  Between batches it may keep the handle live,
 *   but only for a bounded time: a live handle keeps the pages that later
 *   commits free from being reused (the writers' file grows) and holds off
 *   a remap in this process (below).  A reader that waits with a live handle
 *   resets it (spfdb_txn_reset) no later than a fixed delay after its last
 *   batch ended, whether or not more work comes (spfdbd: a 50 ms receive
 *   timeout, or a timer, at most 2 x 50 ms, server/view.h); the delay
 *   must be far below the 10 s remap wait.  Never hold a live handle across an unbounded wait.
 * - spfdb_txn_renew() (and spfdb_txn_refresh() when it renews; a handle it
 *   keeps holds the last commit, which the map already covers) handles the
 *   two failures a long-lived reader meets:
 *   MDB_MAP_RESIZED (another process grew the map: the env adopts the new
 *   size once every reader of this process has reset, then retries) and
 *   MDB_READERS_FULL (stale slots of killed processes are cleared with
 *   mdb_reader_check, then retries).  spfdb_env_reader_check() does the same
 *   clearing on demand (at start, and periodically).
 * - A thread holds at most one live (renewed, not reset) read transaction,
 *   and none while it calls spfdb_write(): adopting or growing the map waits
 *   until every transaction of the process has reset.  That wait is bounded
 *   (10 s); past it spfdb_txn_renew() or spfdb_write() returns SPFDB_EBUSY.
 *   A reader holding a live handle between batches resets it at its next
 *   batch (the grown map came with a newer commit, so its refresh renews)
 *   or at its bounded idle delay, whichever comes first.
 * - Readers never block writers and see each commit at their next renew or
 *   refresh.  Writers are serialised by LMDB across threads and processes.
 * - Every change runs inside spfdb_write(): one LMDB write transaction, all
 *   of it commits or none of it does.  Commits are durable (no MDB_NOSYNC).
 *   When the map is full, spfdb_write() aborts, grows the map and runs the
 *   callback again from the start, so the callback must be restartable: it
 *   must not emit output or keep state that a rerun would duplicate.
 *
 * Errors: functions return 0 (SPFDB_OK) or a negative SPFDB_E* code
 * (errors.h); spfdb_strerror() names it.  Queries that answer yes/no
 * return 1 or 0.
 *
 * Every write is checked against SPEC §2's rules (rules.h) by the library
 * itself: a zone, an allocation name or an entry that breaks one is
 * refused, whoever writes it.
 */
#ifndef SPFDB_H
#define SPFDB_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "names.h"
#include "prefix.h"
#include "rules.h"

typedef struct spfdb_env spfdb_env;
typedef struct spfdb_txn spfdb_txn;

/* ---- environment ------------------------------------------------------ */

/* Open the database in directory DIR, creating its files when DIR is empty
 * (never creating DIR itself: SPFDB_ENODIR).  A new database holds the
 * allocation "default".  The initial map size can be set with the
 * environment variable SPFDB_MAPSIZE (bytes; for tests of map growth). */
int spfdb_env_open(const char *dir, spfdb_env **out);
void spfdb_env_close(spfdb_env *env);

/* Clear reader slots left by dead processes; returns how many, or <0. */
int spfdb_env_reader_check(spfdb_env *env);

/* A consistent hot copy of the database into directory DIR (which must
 * exist and hold no data.mdb), compacted, as mdb_copy -c does.  Writers go
 * on meanwhile; the copy is the last commit when it began.  Restore: put
 * the copy's data.mdb into an empty directory. */
int spfdb_env_copy(spfdb_env *env, const char *dir);

/* The same for a process that must never write the database (spfdbd,
 * SPEC §4): data.mdb is opened read-only (MDB_RDONLY) and nothing is
 * created or converted, so it needs read access to data.mdb and write
 * access to lock.mdb only.  SPFDB_ENODB when the directory holds no
 * database yet, SPFDB_EOLDFORMAT for an older format (a writer, any
 * spfdb-ctl command, converts it).  spfdb_write() on it fails. */
int spfdb_env_open_ro(const char *dir, spfdb_env **out);

/* The directory (env.c says why): it must not be writable by its group or
 * others, and must be owned by the process's user or by root; else
 * SPFDB_EUNSAFE, whoever runs it.  The recommended layout (docs/
 * operations.md): the directory root:spfdb 0750, data.mdb root:spfdb-admin
 * 0664 (its writers' group; spfdbd reads it as "other", which only group
 * spfdb can reach through the directory), lock.mdb root:spfdb 0660.  A
 * data.mdb or lock.mdb that is not a regular file with a single name (a
 * symlink, a hard link, a fifo...) is refused (SPFDB_ENOTREG).  Files
 * spfdb_env_open creates get mode 0660 whatever the umask.  Run as root,
 * it opens and creates them as the directory's owner and group
 * (setfsuid/setfsgid), so they are theirs and a link their owner planted
 * reaches only what the owner could write.  LMDB is given the directory
 * as /proc/self/fd/N: /proc must be mounted (else SPFDB_EIO).  Thread
 * rule: spfdb_env_open changes the process's umask and this thread's
 * filesystem ids for its duration: call it while the process is
 * single-threaded (spfdb-ctl; spfdbd before its workers start). */

/* A stored name that breaks SPEC §2's rules (no write stores one: the
 * database was changed behind the library) is damage: a read that needs
 * the record fails with SPFDB_EBADNAME, and spfdb_env_damage copies the
 * env's last such finding into BUF (CAP bytes), the name escaped
 * (spfdb_escape, names.h), e.g. 'allocation name "a\x0ab"': 1, or 0 when
 * there was none.  With a handler set (spfdb_env_on_damage, before any
 * thread reads), the walks over allocations, zones, keys and replicas skip
 * such a record instead, and a damaged transfer zone reads as none
 * (SPFDB_ENOTFOUND), each calling FN(description, ARG) on the reading
 * thread: a server goes on serving the rest.  Any thread. */
typedef void (*spfdb_damage_fn)(const char *desc, void *arg);
void spfdb_env_on_damage(spfdb_env *env, spfdb_damage_fn fn, void *arg);
int spfdb_env_damage(spfdb_env *env, char *buf, size_t cap);

/* LMDB's version string, for the start-up log line. */
const char *spfdb_lmdb_version(void);

/* ---- transactions ----------------------------------------------------- */

/* Begin a read transaction (a snapshot of the last commit). */
int spfdb_txn_read(spfdb_env *env, spfdb_txn **out);
/* Drop the snapshot but keep the handle (and its reader slot). */
void spfdb_txn_reset(spfdb_txn *txn);
/* Take a fresh snapshot on a reset (or live) handle. */
int spfdb_txn_renew(spfdb_txn *txn);
/* Renew unless TXN is live and already holds the last commit, which it
 * then keeps, cursors and all: one read of LMDB's meta page instead of a
 * reset, a renew and a cursor renew.  0, or as spfdb_txn_renew(). */
int spfdb_txn_refresh(spfdb_txn *txn);
/* End and free a read transaction. */
void spfdb_txn_close(spfdb_txn *txn);
/* The snapshot's LMDB transaction id: equal ids, equal data. */
uint64_t spfdb_txn_id(const spfdb_txn *txn);

/* Run FN(txn, ARG) in one write transaction.  FN returns 0 to commit (a
 * transaction that changed nothing commits nothing and leaves the serial
 * alone) or any nonzero value to abort; spfdb_write() then returns FN's
 * value unchanged.  A commit sets the serial (SPEC §2).  On a full map FN is
 * run again after the map grows (see the rules above). */
typedef int (*spfdb_write_fn)(spfdb_txn *txn, void *arg);
int spfdb_write(spfdb_env *env, spfdb_write_fn fn, void *arg);
/* spfdb_write, and *COMMITTED (when not NULL) says whether it committed a
 * change (of data or of the transfer settings, below): 1 then, 0 when FN
 * aborted, changed nothing or the commit failed.  A caller that reports a
 * change it made needs to know there was one (spfdb-ctl's exit status 4). */
int spfdb_write_ex(spfdb_env *env, spfdb_write_fn fn, void *arg, int *committed);

/* ---- change log --------------------------------------------------------
 *
 * Every commit of spfdb_write() that changed data also stores, in the same
 * transaction, one change log record: its time, the database serial before
 * and after the commit (SPEC §2), who (USER and, when the real uid is 0,
 * the SUDO_USER of the environment), the command, and each change made
 * through this API (entries added and removed, alloc_del --force's
 * entries, allocations and zones added, changed and deleted), in order.
 * Records are numbered 1, 2, ... and never changed; retention drops the
 * oldest (spfdb_log_prune), and numbers are never reused.  Writes to the
 * transfer settings (below) and prunes are quiet: they store no record.
 *
 * Records written before format 3 (version 1) have no serials and carry
 * zones as text only; from seq ixfr_floor (spfdb_info) on, every record is
 * version 2 and its serial_before is the previous record's serial_after,
 * so the records from a serial on are exactly the changes since it (an
 * IXFR, RFC 1995). */

/* Set the origin of this env's later writes: USER NULL means the login name
 * of the real uid (the default when never called); COMMAND (NULL: "") is
 * stored cut to 4000 bytes.  The strings are copied. */
int spfdb_env_set_origin(spfdb_env *env, const char *user, const char *command);

enum {
    SPFDB_LOG_ADD = 1,     /* entry added to alloc */
    SPFDB_LOG_DEL,         /* entry removed from alloc */
    SPFDB_LOG_ALLOC_ADD,   /* allocation alloc created */
    SPFDB_LOG_ALLOC_DEL,   /* allocation alloc deleted (its entries: DELs before) */
    SPFDB_LOG_ZONE_ADD,    /* zone served; alloc: its bound allocation or "" */
    SPFDB_LOG_ZONE_SET,    /* zone changed; detail: its new settings */
    SPFDB_LOG_ZONE_DEL,
    SPFDB_LOG_MEMBER_ADD,  /* member made a member of alloc */
    SPFDB_LOG_MEMBER_DEL   /* member no longer a member of alloc */
};

/* One record.  The strings point into the read transaction's snapshot:
 * valid until it resets or closes.  pos walks the changes; copy the struct
 * to walk them again. */
struct spfdb_log_rec {
    uint64_t seq;
    int64_t time;          /* seconds since 1970 */
    unsigned version;      /* 1 (before format 3) or 2 */
    uint32_t serial_before, serial_after; /* the database serial; 0 in version 1 */
    uint32_t n_changes;    /* changes in the record; 0 in version 1 */
    const char *user;
    const char *sudo_user; /* "" when not run through sudo */
    const char *command;
    const uint8_t *pos, *end;
    const char *ctx;       /* the allocation of the next entry changes */
};

#define SPFDB_LOG_TEXT_MAX 4480
enum { SPFDB_LOG_OLD = 0, SPFDB_LOG_NEW = 1 };

struct spfdb_log_change {
    int op;                 /* SPFDB_LOG_* */
    const char *alloc;      /* the allocation ("" for a provider zone); zone set: the new one */
    const char *zone;       /* zone ops, else "" */
    const char *detail;     /* zone add and set: the settings, else "" */
    const char *member;     /* member ops: the member, else "" */
    struct spfdb_prefix p;  /* entry ops */
    /* Version 2 zone ops: the zone as stored before (SPFDB_LOG_OLD: set,
     * del) and after (SPFDB_LOG_NEW: add, set), for spfdb_log_zone(). */
    const uint8_t *zrec[2];
    uint16_t zlen[2];
    const char *zalloc[2];
    char text[SPFDB_LOG_TEXT_MAX]; /* detail, made from zrec[SPFDB_LOG_NEW] */
};

/* Calls FN for each record of seq >= FROM and time >= SINCE, oldest (lowest
 * seq) first; a nonzero return stops the walk and is returned.
 * SPFDB_EFORMAT on a damaged record.  Records never change, so a long
 * listing can walk in chunks, each in a short transaction, from the seq
 * after the last one seen. */
typedef int (*spfdb_log_fn)(struct spfdb_log_rec *r, void *arg);
int spfdb_log_foreach(spfdb_txn *txn, uint64_t from, int64_t since, spfdb_log_fn fn,
                      void *arg);
/* The next change of R: 1 and *OUT, 0 after the last, or SPFDB_EFORMAT. */
int spfdb_log_next(struct spfdb_log_rec *r, struct spfdb_log_change *out);
/* A zone change's zone before (SIDE SPFDB_LOG_OLD) or after (SPFDB_LOG_NEW)
 * it, with its allocation's name: 0 and *OUT; SPFDB_ENOTFOUND when CH has
 * no such side (an add's old, a delete's new, a version 1 record, not a
 * zone change); SPFDB_EFORMAT when damaged.  Valid while CH's snapshot is. */
int spfdb_log_zone(const struct spfdb_log_change *ch, int side, struct spfdb_zone *out);
/* The record whose serial_before is SERIAL, of seq >= ixfr_floor: 0 and
 * *SEQ, from which spfdb_log_foreach walks the changes since SERIAL; or
 * SPFDB_ENOTFOUND (never a serial of this database, pruned, before the
 * floor, or the current serial, which no record starts from yet).  Serials
 * compare as integers; a binary search over the log. */
int spfdb_log_find_serial(spfdb_txn *txn, uint32_t serial, uint64_t *seq);

/* Retention (spfdb-ctl log prune): in write transaction TXN, drop the
 * oldest records, from the first up to the first one stamped BEFORE or
 * later, which is kept with every record after it.  The log stays one run
 * of consecutive records, so an IXFR from a kept record's serial_before
 * still has every change since; a record stamped before BEFORE that
 * follows a kept one (the clock was stepped back) is kept too.  Dropped
 * records are deleted one by one from the first; their pages go back to
 * LMDB's free list (the file does not shrink).  A quiet commit (above):
 * the serial, meta_gen and the change log stay (no data changed, SPEC §2);
 * ixfr_floor moves past the dropped records, so spfdb_log_find_serial no
 * longer finds their serials, and xfr_gen changes.  Allowed on a replica.
 * Later records still get seqs above every dropped one.  0 and *OUT, even
 * when nothing was dropped (then nothing changes); SPFDB_EINVAL for a read
 * transaction; SPFDB_EFORMAT for a damaged record. */
struct spfdb_log_pruned {
    uint64_t dropped;   /* records dropped */
    uint64_t kept_seq;  /* the oldest record kept, or 0 when none is */
    int64_t kept_time;  /* ... its stamp */
};
int spfdb_log_prune(spfdb_txn *txn, int64_t before, struct spfdb_log_pruned *out);

/* ---- metadata ----------------------------------------------------------- */

struct spfdb_info {
    uint32_t serial;       /* SOA serial of every zone (SPEC §2) */
    uint64_t meta_gen;     /* changes whenever zones change or allocations are
                              added or deleted (not with entries or members) */
    int64_t changed;       /* time of the last committed change, or 0 */
    uint64_t xfr_gen;      /* changes whenever the transfer settings or ixfr_floor
                              change (a quiet commit) */
    uint64_t ixfr_floor;   /* the first seq from which spfdb_log_find_serial finds */
    uint64_t log_seq;      /* the change log's last record, 0 when it has none */
};
int spfdb_info_get(spfdb_txn *txn, struct spfdb_info *out);

#define SPFDB_MEMBERS_MAX 32 /* members of one allocation (SPEC §2) */
struct spfdb_alloc {
    char name[SPFDB_LABEL_MAX + 1]; /* lowercase */
    uint32_t id;                    /* never 0, never reused */
    uint64_t n4, n6;                /* its own entries' counts (members' not counted) */
    unsigned n_members;             /* its members (SPEC §2), by id, ascending */
    uint32_t members[SPFDB_MEMBERS_MAX];
};

/* Allocations.  NAME must be a valid lowercase label: else SPFDB_EINVAL
 * (spfdb_alloc_name_check, rules.h, says why). */
int spfdb_alloc_get(spfdb_txn *txn, const char *name, struct spfdb_alloc *out);
int spfdb_alloc_get_id(spfdb_txn *txn, uint32_t id, struct spfdb_alloc *out);
int spfdb_alloc_add(spfdb_txn *txn, const char *name, uint32_t *id_out);
/* Refuses "default" (SPFDB_EINVAL), an allocation a zone is bound to or
 * that is a member of another (SPFDB_EBUSY: spfdb_zone_foreach and
 * spfdb_alloc_parents say which) and, unless FORCE, one holding entries
 * (SPFDB_ENOTEMPTY).  An allocation with members loses them first (each
 * logged as SPFDB_LOG_MEMBER_DEL). */
int spfdb_alloc_del(spfdb_txn *txn, const char *name, int force);
/* Make NAME's members exactly the N allocations named in MEMBERS (SPEC
 * §2; a name given twice counts once; N 0: none).  Refused before anything
 * changes, WHY (when not NULL) saying why:
 *   SPFDB_EINVAL    a malformed name (SPFDB_RULE_ALLOC_NAME, other: it), or
 *                   more than SPFDB_MEMBERS_MAX (SPFDB_RULE_MEMBER_COUNT:
 *                   value, limit);
 *   SPFDB_ENOTFOUND NAME or a member does not exist (other: which);
 *   SPFDB_ERULE     SPFDB_RULE_MEMBER_SELF (NAME among them),
 *                   SPFDB_RULE_MEMBER_NESTED (other: a member that has
 *                   members of its own), SPFDB_RULE_MEMBER_OF (N > 0 and
 *                   NAME is a member of other).
 * Each member dropped is logged as SPFDB_LOG_MEMBER_DEL, then each new one
 * as SPFDB_LOG_MEMBER_ADD, in name order; the same list changes nothing.
 * From the commit on, every lookup of NAME (spfdb_covers,
 * spfdb_maximal_foreach) sees the union, and follows the members' changes. */
int spfdb_alloc_set_members(spfdb_txn *txn, const char *name, const char *const *members,
                            size_t n, struct spfdb_why *why);
/* Calls FN for each allocation in name order; a nonzero return stops the
 * walk and is returned. */
typedef int (*spfdb_alloc_fn)(const struct spfdb_alloc *a, void *arg);
int spfdb_alloc_foreach(spfdb_txn *txn, spfdb_alloc_fn fn, void *arg);
/* FN for each allocation that has allocation ID as a member, in id order;
 * a nonzero return stops the walk and is returned. */
int spfdb_alloc_parents(spfdb_txn *txn, uint32_t id, spfdb_alloc_fn fn, void *arg);

/* Zones (struct spfdb_zone: rules.h). */
int spfdb_zone_get(spfdb_txn *txn, const char *name, struct spfdb_zone *out);

/* May Z be stored?  SPEC §2's zone rules, in this order: Z's own
 * (spfdb_zone_rules: SPFDB_EINVAL or SPFDB_ERULE), its bound allocation
 * (alloc_id 0 or an allocation's: else SPFDB_ENOTFOUND, WHY's rule
 * SPFDB_RULE_NONE), then each served
 * zone S in name order (spfdb_zone_conflict: SPFDB_ERULE, or SPFDB_EEXIST
 * with SPFDB_ZONE_NEW when Z is served; without it a served Z is the zone
 * being replaced), then the transfer zone (spfdb_xfr_zone_nest: SPFDB_ERULE).
 * 0, or the first code with WHY (when not NULL) saying which rule and what
 * it concerns (rules.h).  Any transaction. */
int spfdb_zone_check(spfdb_txn *txn, const struct spfdb_zone *z, unsigned flags,
                     struct spfdb_why *why);
/* Add or replace Z after spfdb_zone_check(txn, Z, FLAGS, WHY), refusing
 * with its code.  Storing a zone unchanged changes nothing. */
int spfdb_zone_put_flags(spfdb_txn *txn, const struct spfdb_zone *z, unsigned flags,
                         struct spfdb_why *why);
/* = spfdb_zone_put_flags(txn, z, 0, NULL): add or replace. */
int spfdb_zone_put(spfdb_txn *txn, const struct spfdb_zone *z);
int spfdb_zone_del(spfdb_txn *txn, const char *name);
typedef int (*spfdb_zone_fn)(const struct spfdb_zone *z, void *arg);
int spfdb_zone_foreach(spfdb_txn *txn, spfdb_zone_fn fn, void *arg);

/* ---- transfers (SPEC §5) ------------------------------------------------
 *
 * The transfer settings live in the database beside the data: TSIG keys,
 * the transfer zone this database is served as, its replicas (NOTIFY
 * targets), and, on a replica, its primary and the follower's state.
 * Writing them (in spfdb_write, as any change) is a quiet commit: durable,
 * but the serial stays, no change log record is stored (secrets never
 * enter the log) and meta_gen stays; spfdb_info's xfr_gen changes instead.
 * Storing a setting unchanged commits nothing.  The get calls return
 * SPFDB_ENOTFOUND when the setting is absent.
 *
 * A database with a primary is a replica: a change of its data (entries,
 * allocations, zones) by any writer but its follower is SPFDB_EREPLICA;
 * its transfer settings and log may still change. */

/* This env's writes are the follower's: they may change a replica's data,
 * and spfdb_txn_set_serial is theirs.  Before its first write. */
void spfdb_env_set_follower(spfdb_env *env);
/* Commit serial SERIAL (the primary's) instead of the time-based one, even
 * when nothing else changes; a serial not above the current one moves
 * ixfr_floor past this commit's record (the log stays searchable).  A
 * follower's write transaction only (else SPFDB_EINVAL). */
int spfdb_txn_set_serial(spfdb_txn *txn, uint32_t serial);
/* The id of the last commit of the database (by any process), with no
 * transaction: a poller compares it to see commits (one read of LMDB's
 * meta page, no lock shared with other processes).  0 and *OUT, or
 * SPFDB_EBUSY while this process remaps (poll again later). */
int spfdb_env_last_txnid(spfdb_env *env, uint64_t *out);

/* TSIG keys (struct spfdb_key: rules.h).  Add K after spfdb_key_check
 * (SPFDB_EINVAL with WHY); SPFDB_EEXIST when a key of that name exists. */
int spfdb_key_add(spfdb_txn *txn, const struct spfdb_key *k, struct spfdb_why *why);
int spfdb_key_get(spfdb_txn *txn, const char *name, struct spfdb_key *out);
/* SPFDB_EBUSY while a replica or the primary uses it (see their walks). */
int spfdb_key_del(spfdb_txn *txn, const char *name);
/* FN for each key in name order (with its secret: say so before printing);
 * a nonzero return stops the walk and is returned. */
typedef int (*spfdb_key_fn)(const struct spfdb_key *k, void *arg);
int spfdb_key_foreach(spfdb_txn *txn, spfdb_key_fn fn, void *arg);

/* The transfer zone: the whole database served as one zone. */
#define SPFDB_XFR_NS_DEFAULT "primary.invalid"
struct spfdb_xfr_zone {
    char name[SPFDB_XFR_ZONE_MAX + 1]; /* lowercase, no trailing dot */
    char ns[SPFDB_HOST_MAX + 1];       /* its NS host; "" on set: SPFDB_XFR_NS_DEFAULT */
};
/* Set or replace it after spfdb_xfr_zone_rules and, against each served
 * zone, spfdb_xfr_zone_nest (rules.h; WHY says which). */
int spfdb_xfr_zone_set(spfdb_txn *txn, const struct spfdb_xfr_zone *z, struct spfdb_why *why);
int spfdb_xfr_zone_get(spfdb_txn *txn, struct spfdb_xfr_zone *out);
int spfdb_xfr_zone_del(spfdb_txn *txn);

/* Replicas: who is sent NOTIFY, signed with their key. */
struct spfdb_replica {
    char addr[SPFDB_ADDRPORT_STRLEN]; /* canonical ADDR:PORT (prefix.h) */
    struct spfdb_addrport ap;         /* the same, parsed */
    char key[SPFDB_KEY_NAME_MAX + 1];
};
/* ADDR in any form spfdb_addrport_parse takes (else SPFDB_EINVAL, WHY's
 * rule SPFDB_RULE_ADDR), signed with KEY: SPFDB_ENOTFOUND when no key is
 * so named, SPFDB_EEXIST when the replica is there already. */
int spfdb_replica_add(spfdb_txn *txn, const char *addr, const char *key, struct spfdb_why *why);
/* ADDR as for add: SPFDB_EINVAL, SPFDB_ENOTFOUND, or 0. */
int spfdb_replica_del(spfdb_txn *txn, const char *addr);
/* FN for each replica in the order of their canonical text. */
typedef int (*spfdb_replica_fn)(const struct spfdb_replica *r, void *arg);
int spfdb_replica_foreach(spfdb_txn *txn, spfdb_replica_fn fn, void *arg);

/* The primary a replica follows: its transfer zone, from these addresses
 * in order, with this key. */
#define SPFDB_PRIMARY_MAX 8
struct spfdb_primary {
    char zone[SPFDB_XFR_ZONE_MAX + 1];
    char key[SPFDB_KEY_NAME_MAX + 1];
    unsigned n_addr;
    char addr[SPFDB_PRIMARY_MAX][SPFDB_ADDRPORT_STRLEN]; /* set: any form; get: canonical */
};
/* Set or replace P: its zone by spfdb_xfr_zone_rules, 1..SPFDB_PRIMARY_MAX
 * addresses, each valid and none twice (SPFDB_EINVAL with WHY), an existing
 * key (else SPFDB_ENOTFOUND).  A new zone clears the follow state.  From
 * then on the database is a replica (SPFDB_EREPLICA above), whatever it
 * holds: the caller decides whether data may be replaced. */
int spfdb_primary_set(spfdb_txn *txn, const struct spfdb_primary *p, struct spfdb_why *why);
int spfdb_primary_get(spfdb_txn *txn, struct spfdb_primary *out);
/* Stop following (promote): changes are accepted again. */
int spfdb_primary_del(spfdb_txn *txn);

/* The follower's state.  A database that never followed reads as zeros. */
struct spfdb_follow {
    int synced;              /* a transfer has been applied */
    uint32_t primary_serial; /* the primary's serial last seen */
    int64_t last_contact;    /* the last answer from a primary, or 0 */
    int64_t last_success;    /* the last transfer applied, or 0 */
    /* Stored after the fields above (a record without them reads as 0):
     * spfdb-follow's counters and what spfdbd's metrics derive from them. */
    uint64_t transfers_ok;   /* transfers applied */
    uint64_t failures;       /* exchanges with a primary that failed */
    uint64_t rollbacks;      /* a primary's serial seen below ours (a restored backup) */
    int64_t behind_since;    /* first saw a newer primary serial not yet applied, or 0 */
    int64_t last_failure;    /* the last failed exchange, or 0 */
    uint32_t expire;         /* the transfer zone SOA's EXPIRE last seen, or 0 */
    int axfr_needed;         /* the next transfer is an AXFR (rollback, divergence) */
};
int spfdb_follow_get(spfdb_txn *txn, struct spfdb_follow *out);
int spfdb_follow_put(spfdb_txn *txn, const struct spfdb_follow *f);

/* ---- the IP set ------------------------------------------------------- */

/* Add entry P to allocation ALLOC_ID after spfdb_prefix_check(P, FLAGS,
 * WHY) (rules.h): SPFDB_EINVAL for a prefix with host bits set or an
 * IPv4-mapped IPv6 one (spfdb_prefix_parse gives the canonical form),
 * SPFDB_ERULE for one shorter than /8 or /16 unless FLAGS holds
 * SPFDB_ENTRY_WIDE (spfdb-ctl's --force).  Then 0, SPFDB_EEXIST when
 * exactly that entry is present, SPFDB_ENOTFOUND for no such allocation. */
int spfdb_entry_add_flags(spfdb_txn *txn, uint32_t alloc_id, const struct spfdb_prefix *p,
                          unsigned flags, struct spfdb_why *why);
/* = spfdb_entry_add_flags(txn, alloc_id, p, 0, NULL): every rule, the
 * wide-prefix one too (SPFDB_ERULE); a writer that means a wide entry asks
 * for it with SPFDB_ENTRY_WIDE. */
int spfdb_entry_add(spfdb_txn *txn, uint32_t alloc_id, const struct spfdb_prefix *p);
/* Remove exactly that entry: 0, or SPFDB_ENOTFOUND. */
int spfdb_entry_del(spfdb_txn *txn, uint32_t alloc_id, const struct spfdb_prefix *p);
/* Is the entry present exactly?  1 or 0, or <0. */
int spfdb_entry_has(spfdb_txn *txn, uint32_t alloc_id, const struct spfdb_prefix *p);
/* The most specific of the allocation's own entries (its members' not
 * included) that contains P (P itself when it is an entry):
 * 0 and *out, SPFDB_ENOTFOUND, or <0.  Not for the query path (it may probe
 * each shorter prefix length). */
int spfdb_entry_covering(spfdb_txn *txn, uint32_t alloc_id, const struct spfdb_prefix *p,
                         struct spfdb_prefix *out);
/* Many changes of one allocation at once (bulk add, replace, import).
 * OPS holds N changes sorted by spfdb_prefix_cmp, no prefix twice; each
 * is made as spfdb_entry_add_flags(txn, alloc_id, p, FLAGS) or
 * spfdb_entry_del would make it, and its RESULT says how it went: 0 made,
 * SPFDB_EEXIST an add of a present entry, SPFDB_ENOTFOUND a del of an
 * absent one (both skipped, the rest goes on).  Returns 0, or: SPFDB_EINVAL
 * (OPS out of order or repeating a prefix, or a malformed prefix) or the
 * rules' refusal of an add (SPFDB_EINVAL, SPFDB_ERULE; WHY as
 * spfdb_prefix_check) with the op's index in *BAD (when not NULL), checked
 * before anything changes; SPFDB_ENOTFOUND for no such allocation; or a
 * storage failure (sticky).  The change log lists the removals made, then
 * the additions, each in address order.  Cost: when a family's changes are many next
 * to its stored entries (docs/design.md "Bulk changes"), the stored
 * entries are read once, merged with the changes and written back in order
 * with the maximal entries recomputed in one pass: O(entries), sequential;
 * otherwise each change is made on its own, O(log n) each. */
struct spfdb_entry_op {
    struct spfdb_prefix p;
    uint8_t del;    /* 1: remove P, 0: add P */
    int8_t result;  /* out: 0, SPFDB_EEXIST or SPFDB_ENOTFOUND */
};
int spfdb_entry_apply(spfdb_txn *txn, uint32_t alloc_id, struct spfdb_entry_op *ops, size_t n,
                      unsigned flags, struct spfdb_why *why, size_t *bad);
/* The allocation's own entries (its members' not included) in address
 * order (family 4 before 6, then address, then length).  FN must not add
 * or remove entries of the allocation. */
typedef int (*spfdb_entry_fn)(const struct spfdb_prefix *p, void *arg);
int spfdb_entry_foreach(spfdb_txn *txn, uint32_t alloc_id, spfdb_entry_fn fn, void *arg);

/* The maximal entries of ALLOC_ID's set, its members' entries included
 * (those inside no other entry: pairwise disjoint, their union the
 * allocation's set), IPv4 before IPv6, each in address order.  FN's nonzero return stops the walk and is returned.
 * Read-only; for spfdbd's `_spf` chain (server/spfchain.h). */
int spfdb_maximal_foreach(spfdb_txn *txn, uint32_t alloc_id, spfdb_entry_fn fn, void *arg);

/* The query path: is the address listed, by an entry of the allocation or
 * of one of its members?  FAMILY is 4 (ADDR holds 4 bytes)
 * or 6 (16 bytes; no ::ffff:0:0/96 mapping is done here).  1 listed, 0 not,
 * <0 on a read failure.  A bounded, small number of B-tree descents whatever
 * the allocation holds; a read handle that asks one family of one
 * allocation often in a snapshot builds (allocates) a sorted copy of it,
 * shared with the process's other handles on that snapshot, and looks up
 * there without allocating or locking (docs/design.md "The read index"). */
int spfdb_covers(spfdb_txn *txn, uint32_t alloc_id, int family, const uint8_t *addr);

/* spfdb_covers for each of N (at most SPFDB_MANY_MAX) queries, into
 * Q[i].result: the same answers, sooner for a batch, whose memory reads
 * overlap (the query path of one recvmmsg batch). */
#define SPFDB_MANY_MAX 64
struct spfdb_query {
    uint32_t alloc_id;
    int family;
    uint8_t addr[16];
    int result;
};
void spfdb_covers_many(spfdb_txn *txn, struct spfdb_query *q, unsigned n);

#endif
