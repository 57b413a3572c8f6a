/* entry.c: the entries of an allocation (spfdb.h "the IP set").
 *
 * The public entry calls, on top of the modules each change spans: the
 * rules (rules.h), the allocation's entry counts (meta.h), the set itself
 * (set.h) and the change log (changelog.h). */
#include "changelog.h"
#include "env.h"
#include "meta.h"
#include "set.h"
#include "store.h"

/* A change of ALLOC_ID's set may begin: a write transaction with no
 * failure yet, P allowed by the rules (as spfdb_prefix_check with FLAGS,
 * or a valid prefix when RULES is 0), the allocation's counts loaded. */
static int change_begin(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p,
                        int rules, unsigned flags, struct spfdb_why *why)
{
    int rc = store_need_data(t);

    if (rc)
        return rc;
    if (rules)
        rc = spfdb_prefix_check(p, flags, why);
    else if (!spfdb_prefix_valid(p))
        rc = SPFDB_EINVAL;
    return rc ? rc : counts_bump(t, alloc_id, p->family, 0);
}

/* The change made: count and log it. */
static int change_end(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p, int op)
{
    int rc = counts_bump(t, alloc_id, p->family, op == LOG_ADD ? 1 : -1);

    if (rc == 0) {
        t->changed = 1;
        log_entry(t, alloc_id, t->cnt.name, op, p);
    }
    return rc;
}

int spfdb_entry_add_flags(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p,
                          unsigned flags, struct spfdb_why *why)
{
    int rc = change_begin(t, alloc_id, p, 1, flags, why);

    if (rc == 0)
        rc = set_add(t, alloc_id, p);
    return rc ? rc : change_end(t, alloc_id, p, LOG_ADD);
}

int spfdb_entry_add(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    return spfdb_entry_add_flags(t, alloc_id, p, 0, NULL);
}

/* Any stored entry may go, canonical or not. */
int spfdb_entry_del(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    int rc = change_begin(t, alloc_id, p, 0, 0, NULL);

    if (rc == 0)
        rc = set_del(t, alloc_id, p);
    return rc ? rc : change_end(t, alloc_id, p, LOG_DEL);
}

int spfdb_entry_has(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p)
{
    if (!spfdb_prefix_valid(p))
        return SPFDB_EINVAL;
    return t->err ? t->err : set_has(t, alloc_id, p);
}

int spfdb_entry_covering(spfdb_txn *t, uint32_t alloc_id, const struct spfdb_prefix *p,
                         struct spfdb_prefix *out)
{
    struct spfdb_prefix q;
    uint8_t top;
    int rc;

    if (!spfdb_prefix_valid(p))
        return SPFDB_EINVAL;
    /* Every entry containing P lies in the one maximal entry containing
     * P's first address: one descent settles the common "nothing covers
     * it", and the walk below stops at its length (del reports on each
     * removed prefix: 129 probes each would hold the write lock for
     * seconds). */
    rc = set_top(t, alloc_id, p->family, p->addr, &top);
    if (rc < 0)
        return rc;
    if (rc == 0 || top > p->len)
        return SPFDB_ENOTFOUND;
    q = *p;
    for (unsigned len = p->len; len >= top; len--) {
        q.len = (uint8_t)len;
        rc = spfdb_entry_has(t, alloc_id, &q);
        if (rc < 0)
            return rc;
        if (rc) {
            *out = q;
            return 0;
        }
        if (len == 0)
            break;
        q.addr[(len - 1) / 8] &= (uint8_t)~(0x80u >> ((len - 1) % 8));
    }
    return SPFDB_EFORMAT; /* the maximal entry itself is an entry */
}

int spfdb_entry_foreach(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg)
{
    return t->err ? t->err : set_foreach(t, alloc_id, fn, arg);
}
