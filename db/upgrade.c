/* upgrade.c: format 1 to 2, and 2 to 3 (upgrade.h). */
#include "changelog.h"
#include "env.h"
#include "meta.h"
#include "set.h"
#include "store.h"
#include "upgrade.h"

#include <string.h>

/* Format 1 kept one record per member: entries alloc|family|addr|len -> ""
 * and tops alloc|family|addr -> len.  Their order is the members' order,
 * so the copy only appends. */
static int upgrade_db(spfdb_txn *t, const char *old, int maximal, int len_in_key)
{
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val key, val;
    int rc = mdb_dbi_open(t->mdb, old, 0, &dbi);

    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0)
        rc = mdb_cursor_open(t->mdb, dbi, &c);
    if (rc)
        return store_fail(t, rc);
    for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
        const uint8_t *e = key.mv_data;
        uint8_t k[5], m[SET_MEMBER_MAX];
        unsigned n = key.mv_size > 4 && e[4] == 4 ? 4 : 16;

        if (key.mv_size != 5 + n + (len_in_key ? 1 : 0) || (e[4] != 4 && e[4] != 6) ||
            val.mv_size != (len_in_key ? 0u : 1u)) {
            rc = SPFDB_EFORMAT;
            break;
        }
        memcpy(k, e, 5);
        memcpy(m, e + 5, n);
        m[n] = len_in_key ? e[5 + n] : *(const uint8_t *)val.mv_data;
        rc = set_load(t, maximal, k, m);
        if (rc)
            break;
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        rc = mdb_drop(t->mdb, dbi, 1);
    else if (rc == SPFDB_EEXIST)
        rc = SPFDB_EFORMAT;
    return rc > 0 ? store_fail(t, rc) : rc;
}

/* Format 1 to 2: the sets, member by member, into their new databases. */
static int upgrade_sets(spfdb_txn *t)
{
    int rc = upgrade_db(t, "entries", 0, 1);

    if (rc == 0)
        rc = upgrade_db(t, "tops", 1, 0);
    if (rc == 0)
        rc = set_flush(t);
    set_free(t);
    return rc;
}

/* Format 2 to 3: the xfr database (open.c made it) starts empty, and the
 * log's records from the next on have serials: IXFR reaches back to it. */
static int upgrade_floor(spfdb_txn *t, struct meta *m)
{
    uint64_t last;
    int rc = log_last_seq(t, &last);

    if (rc == 0) {
        m->ixfr_floor = last + 1;
        m->xfr_gen = 1;
    }
    return rc;
}

int upgrade_run(spfdb_txn *t, uint32_t from_version)
{
    struct meta m;
    int rc = 0;

    if (from_version < 1 || from_version >= SPFDB_FORMAT)
        return SPFDB_EFORMAT;
    if (from_version == 1)
        rc = upgrade_sets(t);
    if (rc == 0)
        rc = meta_load(t, &m);
    if (rc == 0)
        rc = upgrade_floor(t, &m);
    if (rc)
        return rc;
    m.version = SPFDB_FORMAT;
    return meta_save(t, &m);
}
