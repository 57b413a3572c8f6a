/* maximal.c: spfdb_maximal_foreach, a read-only walk of an allocation's
 * maximal entries (spfdb.h).  A sibling of set.c's set_foreach over the
 * other set database; it reads only, so it adds no state to set.c. */
#include <string.h>

#include "bytes.h"
#include "env.h"
#include "set.h"
#include "store.h"

static int maximal_each(const MDB_val *k, const MDB_val *v, void *arg)
{
    const struct store_pass *w = arg;
    struct spfdb_prefix p;
    int family = k->mv_size == 5 ? ((const uint8_t *)k->mv_data)[4] : 0;
    unsigned n = set_alen(family);

    memset(&p, 0, sizeof p);
    if ((family != 4 && family != 6) || v->mv_size != n + 1)
        return SPFDB_EFORMAT;
    p.family = (uint8_t)family;
    memcpy(p.addr, v->mv_data, n);
    p.len = ((const uint8_t *)v->mv_data)[n];
    if (!spfdb_prefix_valid(&p))
        return SPFDB_EFORMAT;
    return ((spfdb_entry_fn)w->fn)(&p, w->arg);
}

int spfdb_maximal_foreach(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg)
{
    struct store_pass w = {(void (*)(void))fn, arg, t, 0};
    uint8_t k[4];
    MDB_val key = {4, k};
    int rc = t->write ? set_flush(t) : 0;

    if (rc == 0 && t->err)
        rc = t->err;
    put_be32(k, alloc_id);
    return rc ? rc : store_walk(t, DB_MAXIMAL, &key, 4, maximal_each, &w);
}
