/* tmpdb.h: a throw-away database directory for the db tests. */
#ifndef TMPDB_H
#define TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* mkdtemp under $TMPDIR (or /tmp) into DIR (at least 256 bytes). */
static inline int tmpdb_make(char *dir)
{
    const char *base = getenv("TMPDIR");

    snprintf(dir, 256, "%s/spfdb-test-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static inline void tmpdb_remove(const char *dir)
{
    char path[300];

    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

#endif
