/* upgrade.h: the conversion of an older database format, run once by the
 * first open that finds one (open.c), in its write transaction, with no
 * other process using the database (env.h store_alone).  Calls down into
 * set.h, meta.h, changelog.h and env.h.  0, or SPFDB_EFORMAT for a version
 * it cannot convert or a damaged record, or a storage error. */
#ifndef SPFDB_UPGRADE_H
#define SPFDB_UPGRADE_H

#include <stdint.h>

#include "spfdb.h"

int upgrade_run(spfdb_txn *t, uint32_t from_version);

#endif
