/* errors.h: libspfdb's error codes, one set for every db file and caller
 * (cf. libknot/errcode.h).
 *
 * Functions return 0 (SPFDB_OK) or one of these negative codes; the ones
 * that answer yes/no return 1 or 0.  spfdb_strerror() names a code in one
 * line.  Pure: the text library (prefix.h, names.h, rules.h) returns them
 * too, so a parser's SPFDB_EINVAL is the store's.
 */
#ifndef SPFDB_ERRORS_H
#define SPFDB_ERRORS_H

enum {
    SPFDB_OK = 0,
    SPFDB_ENOTFOUND = -1, /* no such entry, allocation or zone */
    SPFDB_EEXIST = -2,    /* already present */
    SPFDB_EINVAL = -3,    /* bad argument (bad name, bad record, wrong txn kind) */
    SPFDB_ENODIR = -4,    /* the database directory does not exist */
    SPFDB_EACCES = -5,    /* permission denied on the directory or its files */
    SPFDB_EIO = -6,       /* LMDB or the OS failed to read or write */
    SPFDB_ENOSPC = -7,    /* map could not grow: disk or address space full */
    SPFDB_EFORMAT = -8,   /* not an spfdb database, or a newer format */
    SPFDB_ENOMEM = -9,
    SPFDB_EBUSY = -10,    /* in use: allocation bound to a zone; remap wait timed out */
    SPFDB_ENOTEMPTY = -11, /* refused: allocation holds entries */
    SPFDB_ENOTREG = -12,   /* data.mdb or lock.mdb is a symlink, fifo...: refused */
    SPFDB_EOLDOPEN = -13,  /* older format, open in another process: not converted */
    SPFDB_ERULE = -14,     /* well formed, but refused by a rule of SPEC §2 (rules.h) */
    SPFDB_EREPLICA = -15,  /* a replica's data changes only by its follower (spfdb_primary_get) */
    SPFDB_EUNSAFE = -16,   /* the directory can be changed by another account: refused (env.c) */
    SPFDB_ENODB = -17,     /* read-only open: no database in the directory yet */
    SPFDB_EOLDFORMAT = -18, /* read-only open: an older format, which only a writer converts */
    SPFDB_EBADNAME = -19   /* a stored name breaks SPEC §2: damage (spfdb_env_damage says which) */
};

const char *spfdb_strerror(int err);

#endif
