/* entry.c: the entries of an allocation (spfdb.h "the IP set").
 *
 * The public entry calls, on top of the modules each change spans: the
 * rules (rules.h), the allocation's entry counts (meta.h), the set itself
 * (set.h) and the change log (changelog.h). */
#include "changelog.h"
#include "env.h"
#include "members.h"
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
        members_touch(t, alloc_id, p, op == LOG_DEL);
        log_entry(t, alloc_id, t->cnt.a.name, op, p);
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
    struct spfdb_alloc a;
    struct spfdb_prefix q;
    uint8_t top;
    int rc;

    if (!spfdb_prefix_valid(p))
        return SPFDB_EINVAL;
    /* Every entry containing P lies in the one maximal entry containing
     * P's first address (of the union, for an allocation with members): one descent settles the common "nothing covers
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
    /* The maximal entry is an entry of the allocation, unless the
     * allocation has members: then it may be a member's (members.h). */
    rc = spfdb_alloc_get_id(t, alloc_id, &a);
    if (rc < 0)
        return rc;
    return a.n_members > 0 ? SPFDB_ENOTFOUND : SPFDB_EFORMAT;
}

int spfdb_entry_foreach(spfdb_txn *t, uint32_t alloc_id, spfdb_entry_fn fn, void *arg)
{
    return t->err ? t->err : set_foreach(t, alloc_id, fn, arg);
}

/* A family's changes are merged (set_merge: every stored entry read and
 * written once, in order) rather than made one by one (a descent or more
 * each, and a page copied and often split each) when they number at least
 * 1/MERGE_RATIO of its stored entries.  docs/design.md "Bulk changes". */
#define MERGE_RATIO 8

/* OPS[0..N) are in order, distinct, and allowed: 0, or the code with *BAD. */
static int apply_check(const struct spfdb_entry_op *ops, size_t n, unsigned flags,
                       struct spfdb_why *why, size_t *bad)
{
    for (size_t k = 0; k < n; k++) {
        const struct spfdb_prefix *p = &ops[k].p;
        int rc = 0;

        if (ops[k].del ? !spfdb_prefix_valid(p) : spfdb_prefix_check(p, flags, NULL) != 0)
            rc = ops[k].del ? SPFDB_EINVAL : spfdb_prefix_check(p, flags, why);
        else if (k && spfdb_prefix_cmp(&ops[k - 1].p, p) >= 0)
            rc = SPFDB_EINVAL;
        if (rc) {
            if (bad)
                *bad = k;
            return rc;
        }
    }
    return 0;
}

/* FAMILY's ops, one by one. */
static int apply_each(spfdb_txn *t, uint32_t alloc_id, struct spfdb_entry_op *ops, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int rc = ops[k].del ? set_del(t, alloc_id, &ops[k].p) : set_add(t, alloc_id, &ops[k].p);

        if (rc == SPFDB_EEXIST || rc == SPFDB_ENOTFOUND || rc == 0)
            ops[k].result = (int8_t)rc;
        else
            return rc;
    }
    return 0;
}

int spfdb_entry_apply(spfdb_txn *t, uint32_t alloc_id, struct spfdb_entry_op *ops, size_t n,
                      unsigned flags, struct spfdb_why *why, size_t *bad)
{
    int rc = store_need_data(t);

    if (rc == 0)
        rc = apply_check(ops, n, flags, why, bad);
    if (rc == 0)
        rc = counts_bump(t, alloc_id, 4, 0);
    for (size_t i = 0, j; rc == 0 && i < n; i = j) {
        int family = ops[i].p.family;
        uint64_t stored = family == 4 ? t->cnt.a.n4 : t->cnt.a.n6;
        int64_t delta = 0;

        for (j = i; j < n && ops[j].p.family == family; j++)
            ;
        /* into an empty family, sorted adds are appended one by one
         * (set.c's held-back run): no merge buffer, no second pass */
        rc = stored > 0 && (uint64_t)(j - i) * MERGE_RATIO >= stored
                 ? set_merge(t, alloc_id, family, ops + i, j - i)
                 : apply_each(t, alloc_id, ops + i, j - i);
        for (size_t k = i; rc == 0 && k < j; k++)
            if (ops[k].result == 0)
                delta += ops[k].del ? -1 : 1;
        /* counts_bump takes an int: a million at a time */
        while (rc == 0 && delta != 0) {
            int step = delta > 1000000 ? 1000000 : delta < -1000000 ? -1000000 : (int)delta;
            rc = counts_bump(t, alloc_id, family, step);
            delta -= step;
        }
    }
    /* the log: the removals, then the additions, each in address order
     * (as replace made them one by one) */
    for (int del = 1; rc == 0 && del >= 0; del--)
        for (size_t k = 0; k < n; k++)
            if (ops[k].result == 0 && ops[k].del == del) {
                t->changed = 1;
                members_touch(t, alloc_id, &ops[k].p, del);
                log_entry(t, alloc_id, t->cnt.a.name, del ? LOG_DEL : LOG_ADD, &ops[k].p);
            }
    return rc;
}
