/* index.c: the read index of spfdb_covers (index.h).
 *
 * A descent costs about 1,500 instructions, most of them LMDB's key
 * comparisons through a function pointer on both levels of the DUPSORT
 * tree, and it reads a dozen cache lines or more one after another, which
 * a server finds cold after the kernel's work between two queries.  But a
 * snapshot's pages never change, and MDB_GET_MULTIPLE and MDB_NEXT_MULTIPLE
 * hand out a DUPFIXED key's members a page at a time.  So once a family of
 * an allocation has been looked up IX_AFTER times in one snapshot, its
 * maximal members are copied once into sorted arrays that a lookup walks
 * top down reading one 64-byte block a level, comparing integers only:
 * - IPv4: a block of level 0 holds 12 members, their 32-bit addresses
 *   then their lengths (maximal members are disjoint, so the addresses
 *   alone sort them); above it, levels of addresses (16 to a block), the
 *   first of each block below.  About 5.6 bytes a member.
 * - IPv6: level 0 holds the addresses as two 64-bit halves, 4 to a block,
 *   the levels above likewise, the lengths in an array after them.  About
 *   22 bytes a member.
 * For a million IPv4 members that is six lines, the upper ones warm, the
 * last one (and the key's page table entry: large arrays get transparent
 * huge pages) from memory.  One lookup (spfdb-ctl check, a quiet server
 * after each commit) still takes the descent.  The arrays are allocated
 * when built, shared by the process's handles on the snapshot (index.h,
 * struct ixshared) and freed when the last of them moves on. */
#include "bytes.h"
#include "env.h"
#include "index.h"
#include "set.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum {
    IX_HDR = 256,             /* bytes of struct ixhdr, rounded to blocks */
    IX_AFTER = 32,            /* descents in a snapshot before the build */
    IX_UNBUILT = UINT32_MAX,
    IX_SLOTS_MIN = 64,
    IX_B0 = 12, IX_B4 = 16,   /* IPv4 keys a block at level 0, above it */
    IX_B6 = 4,                /* IPv6 keys a block */
    IX_BLOCK = 64,            /* bytes a block, at every level */
    IX_LEN0 = IX_B0 * 4,      /* where an IPv4 level-0 block's lengths start */
    IX_LEVELS = 16,           /* more than 2^32 members need */
    IX_ALIGN = 64
};
#define IX_HUGE ((size_t)2 << 20) /* arrays this large are mapped, huge pages asked for */

struct key6 {
    uint64_t hi, lo;
};

/* At the start of a built slot's memory: where its levels are. */
struct ixhdr {
    uint32_t nlev;
    uint32_t real[IX_LEVELS]; /* keys a level, pads not counted */
    size_t off[IX_LEVELS];    /* each level's keys, from the header */
    size_t lens;              /* IPv6: the lengths, likewise */
};
_Static_assert(sizeof(struct ixhdr) <= IX_HDR, "IX_HDR holds the header");

/* The levels over N keys, B0 to a block at level 0 and B above: how many
 * (the top one is a single block), each one's key count padded to whole
 * blocks in PAD, and its count of real keys in REAL.  Level 0 holds every
 * key; a key of level l + 1 is the first of a block of level l. */
static unsigned levels(size_t n, unsigned b0, unsigned b, size_t *pad, size_t *real)
{
    for (unsigned l = 0;; l++) {
        unsigned bl = l ? b : b0;
        size_t blocks = (n + bl - 1) / bl;
        real[l] = n;
        pad[l] = blocks * bl;
        if (blocks <= 1)
            return l + 1;
        n = blocks;
    }
}

static unsigned block_keys(unsigned l, int v4)
{
    return v4 ? (l ? IX_B4 : IX_B0) : IX_B6;
}

static size_t level_bytes(unsigned l, int v4, const size_t *pad)
{
    return pad[l] / block_keys(l, v4) * IX_BLOCK;
}

static void *ix_alloc(size_t size)
{
    void *p;

    if (size < IX_HUGE)
        return aligned_alloc(IX_ALIGN, (size + IX_ALIGN - 1) / IX_ALIGN * IX_ALIGN);
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
    return p;
}

static void ix_free(uint8_t *mem, size_t size)
{
    if (size < IX_HUGE)
        free(mem);
    else
        munmap(mem, size);
}

/* Drop S's index: the memory goes with the last slot sharing it. */
static void ix_release(spfdb_env *env, struct ixslot *s)
{
    struct ixshared *sh = s->sh, **pp;

    if (sh != NULL) {
        (void)pthread_mutex_lock(&env->ix_lock); /* only fails on a corrupt mutex */
        if (--sh->refs == 0) {
            for (pp = &env->ix_list; *pp != sh; pp = &(*pp)->next)
                ;
            *pp = sh->next;
            ix_free(sh->mem, sh->size);
            free(sh);
        }
        (void)pthread_mutex_unlock(&env->ix_lock);
    } else if (s->mem != NULL) {
        ix_free(s->mem, s->size);
    }
    s->mem = NULL;
    s->sh = NULL;
}

/* Empty every slot at once. */
static void ix_clear(spfdb_env *env, struct pageidx *ix)
{
    for (uint32_t i = 0; ix->slot && ix->used && i <= ix->mask; i++)
        if (ix->slot[i].gen == ix->gen)
            ix_release(env, &ix->slot[i]);
    ix->len = 0;
    ix->used = 0;
    if (++ix->gen == 0) {
        if (ix->slot)
            memset(ix->slot, 0, (ix->mask + 1) * sizeof *ix->slot);
        ix->gen = 1;
    }
}

void index_free(spfdb_txn *t)
{
    ix_clear(t->env, &t->ix);
    free(t->ix.slot);
    memset(&t->ix, 0, sizeof t->ix);
}

/* Keep the index when the renewed snapshot is the one it describes (an
 * idle reset and a renew with no commit between) and the map has not been
 * remade since: the same commit is the same data.  Called with
 * env->remap's read side held, so remaps is stable. */
void index_adopt(spfdb_txn *t)
{
    struct pageidx *ix = &t->ix;
    uint64_t id = (uint64_t)mdb_txn_id(t->mdb);

    if (id == ix->txnid && t->env->remaps == ix->remaps && ix->gen != 0)
        return;
    ix->txnid = id;
    ix->remaps = t->env->remaps;
    ix_clear(t->env, ix);
}

static struct ixslot *slot_probe(struct ixslot *slot, uint32_t mask, uint32_t gen, uint32_t id,
                                 int family)
{
    uint32_t h = (uint32_t)(((uint64_t)id * 2 + (family == 6)) * 0x9e3779b97f4a7c15ull >> 32);

    for (;; h++) {
        struct ixslot *s = &slot[h & mask];
        if (s->gen != gen || (s->id == id && s->fam == (uint32_t)family))
            return s;
    }
}

/* The slot of ID/FAMILY in this snapshot, made when missing; NULL when
 * out of memory (the caller then descends). */
static struct ixslot *slot_get(struct pageidx *ix, uint32_t id, int family)
{
    struct ixslot *s;

    if (ix->slot == NULL || (ix->used + 1) * 2 > ix->mask + 1) {
        uint32_t size = ix->slot ? (ix->mask + 1) * 2 : IX_SLOTS_MIN;
        struct ixslot *ns = size ? calloc(size, sizeof *ns) : NULL;
        if (ns == NULL)
            return NULL;
        for (uint32_t i = 0; ix->slot && i <= ix->mask; i++)
            if (ix->slot[i].gen == ix->gen)
                *slot_probe(ns, size - 1, ix->gen, ix->slot[i].id, (int)ix->slot[i].fam) =
                    ix->slot[i];
        free(ix->slot);
        ix->slot = ns;
        ix->mask = size - 1;
    }
    s = slot_probe(ix->slot, ix->mask, ix->gen, id, family);
    if (s->gen != ix->gen) {
        *s = (struct ixslot){.gen = ix->gen, .id = id, .fam = (uint32_t)family,
                             .n = IX_UNBUILT};
        ix->used++;
    }
    return s;
}

/* Level 0 from the members of one page, V, from member AT on: the count
 * taken, or 0 when they do not fit the COUNT the key holds (a damaged
 * database).  IPv6 lengths go to LENS. */
static size_t copy_page(const MDB_val *v, unsigned n, uint8_t *k, uint8_t *lens, size_t at,
                        size_t count)
{
    const uint8_t *m = v->mv_data;
    size_t got = v->mv_size / (n + 1);

    if (v->mv_size == 0 || v->mv_size % (n + 1) != 0 || got > count - at)
        return 0;
    for (size_t i = 0; i < got; i++, m += n + 1) {
        if (n == 4) {
            uint32_t a = get_be32(m);
            uint8_t *blk = k + (at + i) / IX_B0 * IX_BLOCK;
            memcpy(blk + (at + i) % IX_B0 * 4, &a, 4);
            blk[IX_LEN0 + (at + i) % IX_B0] = m[4];
        } else {
            struct key6 x = {get_be64(m), get_be64(m + 8)};
            memcpy(k + (at + i) * 16, &x, 16);
            lens[at + i] = m[16];
        }
    }
    return got;
}

/* The levels above level 0 (at MEM), and the pads: IPv4's level 0 came
 * filled with them. */
static void fill_levels(uint8_t *mem, int v4, unsigned nlev, const size_t *pad,
                        const size_t *real)
{
    uint8_t *lev = mem;
    unsigned ksize = v4 ? 4 : 16;

    for (unsigned l = 0; l < nlev; l++) {
        uint8_t *up = lev + level_bytes(l, v4, pad);
        /* Pads are the largest key: they sort last, and a lookup that
         * counts one (the last address) is clamped to the last real key. */
        if (!v4 || l > 0)
            memset(lev + real[l] * ksize, 0xff, (pad[l] - real[l]) * ksize);
        /* A block's first key: at its start, in every layout. */
        for (size_t i = 0; l + 1 < nlev && i < real[l + 1]; i++)
            memcpy(up + i * ksize, lev + i * IX_BLOCK, ksize);
        lev = up;
    }
}

/* Build S's index: a header (struct ixhdr), the levels, and for IPv6 the
 * lengths.  0, or <0 (SPFDB_ENOMEM: the caller descends instead). */
static int ix_build(spfdb_txn *t, struct ixslot *s)
{
    unsigned n = set_alen((int)s->fam);
    int v4 = n == 4;
    size_t pad[IX_LEVELS], real[IX_LEVELS], bytes, count, done = 0;
    struct ixhdr *h;
    uint8_t k[5];
    MDB_val key = {5, k}, val;
    MDB_cursor *c;
    int rc = store_cursor(t, DB_MAXIMAL, &c);

    if (rc)
        return rc;
    put_be32(k, s->id);
    k[4] = (uint8_t)s->fam;
    rc = mdb_cursor_get(c, &key, &val, MDB_SET);
    if (rc == MDB_NOTFOUND) {
        s->n = 0;
        return 0;
    }
    if (rc == 0)
        rc = mdb_cursor_count(c, &count);
    if (rc)
        return store_fail(t, rc);
    if (count >= IX_UNBUILT)
        return SPFDB_ENOMEM;
    unsigned nlev = levels(count, block_keys(0, v4), block_keys(1, v4), pad, real);
    bytes = IX_HDR;
    for (unsigned l = 0; l < nlev; l++)
        bytes += level_bytes(l, v4, pad);
    size_t lens_at = bytes;
    bytes += v4 ? 0 : count;
    s->mem = ix_alloc(bytes);
    if (s->mem == NULL)
        return SPFDB_ENOMEM;
    s->size = bytes;
    h = (struct ixhdr *)(void *)s->mem;
    h->nlev = nlev;
    h->lens = lens_at;
    for (size_t l = 0, off = IX_HDR; l < nlev; l++) {
        h->off[l] = off;
        h->real[l] = (uint32_t)real[l];
        off += level_bytes((unsigned)l, v4, pad);
    }
    if (v4)
        memset(s->mem + IX_HDR, 0xff, level_bytes(0, v4, pad)); /* the pads */
    /* One member is a plain value, with no duplicate page to list. */
    if (count > 1)
        rc = mdb_cursor_get(c, &key, &val, MDB_GET_MULTIPLE);
    while (rc == 0) {
        size_t got = copy_page(&val, n, s->mem + IX_HDR, s->mem + lens_at, done, count);
        if (got == 0) {
            rc = SPFDB_EFORMAT;
            break;
        }
        done += got;
        rc = count > 1 ? mdb_cursor_get(c, &key, &val, MDB_NEXT_MULTIPLE) : MDB_NOTFOUND;
    }
    if (rc != MDB_NOTFOUND || done != count) {
        ix_release(t->env, s);
        return rc == SPFDB_EFORMAT || rc == MDB_NOTFOUND ? SPFDB_EFORMAT : store_fail(t, rc);
    }
    fill_levels(s->mem + IX_HDR, v4, nlev, pad, real);
    s->n = (uint32_t)count;
    t->ix.len += bytes;
    return 0;
}

/* One lookup's walk down an index, a level a step, so that a batch can
 * take its steps in turn and each block read is prefetched a step ahead. */
struct walk {
    const uint8_t *mem;
    const struct ixhdr *h;
    uint64_t hi, lo;   /* IPv4: hi is the address */
    size_t j;          /* the block to read at level l */
    int l, v4;
    int result;        /* once done */
};

static const void *walk_block(const struct walk *w)
{
    return w->mem + w->h->off[w->l] + w->j * IX_BLOCK;
}

static void walk_init(struct walk *w, const struct ixslot *s, const uint8_t *addr)
{
    w->mem = s->mem;
    w->h = (const struct ixhdr *)(const void *)s->mem;
    w->v4 = s->fam == 4;
    if (w->v4) {
        w->hi = get_be32(addr);
        w->lo = 0;
    } else {
        w->hi = get_be64(addr);
        w->lo = get_be64(addr + 8);
    }
    w->j = 0;
    w->l = (int)w->h->nlev - 1;
}

/* The member with the greatest start at or below the address: set RESULT
 * 1 when it contains the address, 0 when not (or there is none), <0. */
static void walk_end(struct walk *w, unsigned len, uint64_t khi, uint64_t klo)
{
    uint64_t dh = khi ^ w->hi, dl = klo ^ w->lo;

    if (w->v4)
        w->result = len > 32 ? SPFDB_EFORMAT : len == 0 || dh >> (32 - len) == 0;
    else if (len > 128)
        w->result = SPFDB_EFORMAT;
    else if (len <= 64)
        w->result = len == 0 || dh >> (64 - len) == 0;
    else
        w->result = dh == 0 && (len == 128 ? dl == 0 : dl >> (128 - len) == 0);
}

/* How many of the N (a multiple of 4) keys at K are <= X: a compare of
 * four lanes at a time (GCC's vector extension, SSE2 on x86-64). */
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

static unsigned count_le32(const void *k, unsigned n, uint32_t x)
{
    const u32x4 xv = { x, x, x, x };
    i32x4 le = { 0, 0, 0, 0 };

    for (unsigned i = 0; i < n; i += 4) {
        u32x4 v;
        memcpy(&v, (const uint8_t *)k + i * 4, sizeof v);
        le += (i32x4)(v <= xv); /* -1 where true */
    }
    return (unsigned)-(le[0] + le[1] + le[2] + le[3]);
}

/* Read the block at level l: 1 when the walk is done (RESULT set). */
static inline __attribute__((always_inline)) int walk_step(struct walk *w)
{
    const void *blk = walk_block(w);
    unsigned le = 0, b;

    if (w->v4 && w->l > 0) {
        le = count_le32(blk, IX_B4, (uint32_t)w->hi);
        b = IX_B4;
    } else if (w->v4) {
        le = count_le32(blk, IX_B0, (uint32_t)w->hi);
        b = IX_B0;
    } else {
        const struct key6 *k = blk;
        for (unsigned i = 0; i < IX_B6; i++) /* & and |: no branches */
            le += (unsigned)(k[i].hi < w->hi) | ((k[i].hi == w->hi) & (k[i].lo <= w->lo));
        b = IX_B6;
    }
    if (le == 0) { /* below the first member: only at the top */
        w->result = 0;
        return 1;
    }
    w->j = w->j * b + le - 1;
    if (w->j >= w->h->real[w->l]) /* a pad (~0) counted: the last address */
        w->j = w->h->real[w->l] - 1;
    if (w->l-- > 0)
        return 0;
    if (w->v4) {
        const uint8_t *b0 = blk; /* the member is in it, clamped or not */
        unsigned i = (unsigned)(w->j % IX_B0);
        uint32_t a;
        memcpy(&a, b0 + i * 4, 4);
        walk_end(w, b0[IX_LEN0 + i], a, 0);
    } else {
        struct key6 k6;
        memcpy(&k6, w->mem + w->h->off[0] + w->j * 16, 16);
        walk_end(w, w->mem[w->h->lens + w->j], k6.hi, k6.lo);
    }
    return 1;
}

/* Give S the index of its family in T's snapshot: another handle's when
 * one has it, else built now and offered to the others.  The build runs
 * under env->ix_lock; a handle that finds the lock taken (another is
 * building, most likely this very index) descends for this lookup and
 * tries again at its next, rather than wait or build a copy.  0, or as
 * ix_build (SPFDB_ENOMEM: descend). */
static int ix_share(spfdb_txn *t, struct ixslot *s)
{
    spfdb_env *env = t->env;
    struct pageidx *ix = &t->ix;
    struct ixshared *sh;
    int rc = 0;

    if (pthread_mutex_trylock(&env->ix_lock) != 0)
        return SPFDB_ENOMEM; /* descend */
    for (sh = env->ix_list; sh != NULL; sh = sh->next)
        if (sh->txnid == ix->txnid && sh->remaps == ix->remaps && sh->id == s->id &&
            sh->fam == s->fam)
            break;
    if (sh != NULL) {
        sh->refs++;
        s->sh = sh;
        s->mem = sh->mem;
        s->size = sh->size;
        s->n = sh->n;
        ix->len += sh->size;
    } else if ((rc = ix_build(t, s)) == 0 && s->mem != NULL &&
               (sh = malloc(sizeof *sh)) != NULL) { /* else kept as S's own */
        *sh = (struct ixshared){ .next = env->ix_list, .txnid = ix->txnid,
                                 .remaps = ix->remaps, .id = s->id, .fam = s->fam,
                                 .n = s->n, .refs = 1, .mem = s->mem, .size = s->size };
        env->ix_list = sh;
        s->sh = sh;
    }
    (void)pthread_mutex_unlock(&env->ix_lock);
    return rc;
}

/* S's slot, built when due: 1 when its index answers (*SP), 0 when the
 * caller descends, <0 on a read failure. */
static int indexed(spfdb_txn *t, uint32_t alloc_id, int family, struct ixslot **sp)
{
    struct ixslot *s;

    if (t->write || (s = slot_get(&t->ix, alloc_id, family)) == NULL)
        return 0;
    if (s->n == IX_UNBUILT) {
        int rc = ++s->misses < IX_AFTER ? SPFDB_ENOMEM : ix_share(t, s);
        if (rc == SPFDB_ENOMEM)
            return 0;
        if (rc)
            return rc;
    }
    *sp = s;
    return 1;
}

/* ADDR's slot, as indexed(), after the checks every lookup makes. */
static int lookup_slot(spfdb_txn *t, uint32_t alloc_id, int family, struct ixslot **sp)
{
    if ((family != 4 && family != 6) || (!t->write && !t->live))
        return SPFDB_EINVAL;
    return indexed(t, alloc_id, family, sp);
}

/* The answer for ADDR once lookup_slot() said RC of its slot S. */
static int lookup_one(spfdb_txn *t, int rc, const struct ixslot *s, uint32_t alloc_id,
                      int family, const uint8_t *addr)
{
    struct walk w;
    uint8_t len;

    if (rc <= 0)
        return rc ? rc : set_top(t, alloc_id, family, addr, &len);
    if (s->n == 0)
        return 0;
    walk_init(&w, s, addr);
    while (!walk_step(&w))
        ;
    return w.result;
}

int spfdb_covers(spfdb_txn *t, uint32_t alloc_id, int family, const uint8_t *addr)
{
    struct ixslot *s = NULL;
    int rc = lookup_slot(t, alloc_id, family, &s);

    return lookup_one(t, rc, s, alloc_id, family, addr);
}

void spfdb_covers_many(spfdb_txn *t, struct spfdb_query *q, unsigned n)
{
    struct walk w[SPFDB_MANY_MAX];
    unsigned idx[SPFDB_MANY_MAX], k = 0;

    for (unsigned i = 0; i < n; i++) {
        struct ixslot *s = NULL;
        int rc = lookup_slot(t, q[i].alloc_id, q[i].family, &s);
        if (rc == 1 && s->n > 0 && k < SPFDB_MANY_MAX) {
            walk_init(&w[k], s, q[i].addr);
            __builtin_prefetch(walk_block(&w[k]));
            idx[k++] = i;
        } else {
            q[i].result = lookup_one(t, rc, s, q[i].alloc_id, q[i].family, q[i].addr);
        }
    }
    /* In turns: each step reads the block the previous turn prefetched. */
    while (k > 0) {
        for (unsigned i = 0; i < k;) {
            if (walk_step(&w[i])) {
                q[idx[i]].result = w[i].result;
                w[i] = w[--k];
                idx[i] = idx[k];
            } else {
                __builtin_prefetch(walk_block(&w[i]));
                i++;
            }
        }
    }
}

