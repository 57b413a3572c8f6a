/* errors.c: the names of the error codes (errors.h), and the text
 * parsers' reasons (text.h). */
#include "errors.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>

const char *spfdb_strerror(int err)
{
    switch (err) {
    case SPFDB_OK: return "success";
    case SPFDB_ENOTFOUND: return "not found";
    case SPFDB_EEXIST: return "already exists";
    case SPFDB_EINVAL: return "invalid argument";
    case SPFDB_ENODIR: return "database directory does not exist";
    case SPFDB_EACCES: return "permission denied";
    case SPFDB_EIO: return "database read or write failed";
    case SPFDB_ENOSPC: return "database full: no space to grow the map";
    case SPFDB_EFORMAT: return "not an spfdb database, or a newer format";
    case SPFDB_ENOMEM: return "out of memory";
    case SPFDB_EBUSY: return "in use";
    case SPFDB_ENOTEMPTY: return "allocation holds entries";
    case SPFDB_ENOTREG: return "data.mdb or lock.mdb is not a regular file (a symlink?): refused";
    case SPFDB_EOLDOPEN:
        return "the database is in an older format and open in another process (an older "
               "spfdbd?): stop it, then retry to convert it";
    case SPFDB_ERULE: return "refused by a rule of the data model";
    case SPFDB_EREPLICA: return "this database is a replica: make changes on its primary";
    case SPFDB_EUNSAFE:
        return "the database directory can be changed by another account (writable by its "
               "group or others, or owned by another user): refused, since a link planted "
               "there could make this program overwrite a file elsewhere";
    case SPFDB_ENODB: return "no database in the directory yet: run spfdb-ctl once to create it";
    case SPFDB_EBADNAME:
        return "a stored name breaks the data model's rules: the database is damaged; restore "
               "it from a backup";
    case SPFDB_EOLDFORMAT:
        return "the database is in an older format: run spfdb-ctl once (e.g. spfdb-ctl zone "
               "list) to convert it";
    default: return "unknown error";
    }
}

int spfdb_text_fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (msg && cap) {
        va_start(ap, fmt);
        vsnprintf(msg, cap, fmt, ap);
        va_end(ap);
    }
    return SPFDB_EINVAL;
}
