/* index.c: the read index of spfdb_covers (index.h).
 *
 * A descent costs about 1,500 instructions, most of them LMDB's key
 * comparisons through a function pointer on both levels of the DUPSORT
 * tree, and it reads a dozen cache lines or more one after another, which
 * a server finds cold after the kernel's work between two queries.  But a
 * snapshot's pages never change, and MDB_GET_MULTIPLE and MDB_NEXT_MULTIPLE
 * hand out a DUPFIXED key's members a page at a time.  So a family of an
 * allocation is copied once into sorted arrays that a lookup walks top
 * down reading one 64-byte block a level, comparing integers only:
 * - IPv4: a block of level 0 holds 12 members, their 32-bit addresses
 *   then their lengths (maximal members are disjoint, so the addresses
 *   alone sort them); above it, levels of addresses (16 to a block), the
 *   first of each block below.  About 5.6 bytes a member.
 * - IPv6: level 0 holds the addresses as two 64-bit halves, 4 to a block,
 *   the levels above likewise, the lengths in an array after them.  About
 *   22 bytes a member.
 * - a family of up to 12 IPv4 or 3 IPv6 members is one 64-byte line
 *   (kind, count, lengths, addresses): an ESP's customer holds a few
 *   prefixes, and 100,000 of them must fit in a few megabytes.
 * For a million IPv4 members that is six lines, the upper ones warm, the
 * last one (and the key's page table entry: large arrays get transparent
 * huge pages) from memory.
 *
 * A family of up to IX_SMALL members is built at its first lookup (it
 * costs about what the descent does); a larger one after IX_AFTER lookups
 * in one version, so that one lookup (spfdb-ctl check) still takes the
 * descent.  No call copies more than IX_SLICE members: a larger build
 * goes on at the next lookups (at most one such build a process), which
 * descend meanwhile.  An index is the same data in every version until a
 * commit changes its allocation, so a new version's table starts as a
 * copy of the newest one's slots without the changed allocations'; an
 * index dropped from the newest table is retired, and freed once no table
 * old enough to hold it is left. */
#include "bytes.h"
#include "env.h"
#include "index.h"
#include "set.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

enum {
    IX_AFTER = 32,            /* descents of a large family in a version before its build */
    IX_SMALL = 4096,          /* members of a family built at its first lookup */
    IX_SLICE = 32768,         /* members a call may copy (about 0.1 ms) */
    IX_COST = 64,             /* what a build's set-up counts for, in members */
    IX_B0 = 12, IX_B4 = 16,   /* IPv4 keys a block at level 0, above it */
    IX_B6 = 4,                /* IPv6 keys a block */
    IX_BLOCK = 64,            /* bytes a block, at every level */
    IX_LEN0 = IX_B0 * 4,      /* where an IPv4 level-0 block's lengths start */
    IX_LEVELS = 17,           /* more than 2^32 members need */
    IX_TINY4 = 12, IX_TINY6 = 3, /* members of a one-line index */
    IX_TINY_KEYS = 16,        /* where its addresses start */
    IX_SLAB = 65536,          /* bytes of a slab chunk of one-line indexes */
    IX_TRIM = 64              /* pages read by builds between two trims, about */
};
#define IX_HUGE ((size_t)2 << 20) /* arrays this large are mapped, huge pages asked for */

/* The first byte of every index. */
enum { K_EMPTY = 1, K_TINY4, K_TINY6, K_FULL };

/* A family with no member: one index for all of them, never freed. */
static const uint8_t ix_empty[IX_BLOCK] __attribute__((aligned(64))) = {K_EMPTY};

struct key6 {
    uint64_t hi, lo;
};

/* At the start of a K_FULL index (its first 16 + 8 * nlev bytes, rounded
 * up to whole blocks): where its levels are. */
struct ixhdr {
    uint8_t kind, v4;
    uint16_t nlev;
    uint32_t n;
    uint32_t lens;            /* IPv6: the lengths, at mem + lens blocks */
    uint32_t size64;          /* the index's bytes, in blocks */
    struct {
        uint32_t off;         /* the level's first block, from mem */
        uint32_t real;        /* its keys, pads not counted */
    } lev[IX_LEVELS];
};

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
        if (blocks <= 1 || l + 1 == IX_LEVELS)
            return l + 1;
        n = blocks;
    }
}

static unsigned block_keys(unsigned l, int v4)
{
    return v4 ? (l ? IX_B4 : IX_B0) : IX_B6;
}

/* ---- memory ------------------------------------------------------------ */

static void *ix_alloc(size_t size)
{
    void *p;

    if (size < IX_HUGE)
        return aligned_alloc(IX_BLOCK, (size + IX_BLOCK - 1) / IX_BLOCK * IX_BLOCK);
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
    return p;
}

/* A slab chunk of one-line indexes; the first line is this header. */
struct chunk {
    struct chunk *next;
    size_t used;
};

/* A one-line index, from the slab: no allocator header, no padding. */
static uint8_t *line_alloc(struct ixenv *x)
{
    struct chunk *c = x->slab;
    uint8_t *p = x->free64;

    if (p != NULL) {
        memcpy(&x->free64, p, sizeof(void *));
        return p;
    }
    if (c == NULL || c->used + IX_BLOCK > IX_SLAB) {
        c = aligned_alloc(IX_BLOCK, IX_SLAB);
        if (c == NULL)
            return NULL;
        c->next = x->slab;
        c->used = IX_BLOCK;
        x->slab = c;
    }
    p = (uint8_t *)c + c->used;
    c->used += IX_BLOCK;
    return p;
}

static size_t entry_bytes(const uint8_t *e)
{
    if (e[0] == K_FULL)
        return (size_t)((const struct ixhdr *)(const void *)e)->size64 * IX_BLOCK;
    return e[0] == K_EMPTY ? 0 : IX_BLOCK;
}

static void entry_free(struct ixenv *x, uint8_t *e)
{
    size_t size = entry_bytes(e);

    if (e == ix_empty)
        return;
    x->bytes -= size;
    if (e[0] != K_FULL) {
        memcpy(e, &x->free64, sizeof(void *));
        x->free64 = e;
    } else if (size < IX_HUGE) {
        free(e);
    } else {
        munmap(e, size);
    }
}

/* MEM (an index, or a chunk when CHUNK) leaves the newest table: no
 * table of gen HI or later holds it.  Out of memory to note it, it is
 * kept for good rather than freed under a reader. */
static void retire(struct ixenv *x, const void *mem, uint64_t hi, int chunk)
{
    if (mem == NULL || mem == ix_empty)
        return;
    if (x->nret == x->capret) {
        size_t cap = x->capret ? x->capret * 2 : 64;
        struct ixretired *r = realloc(x->ret, cap * sizeof *r);
        if (r == NULL)
            return;
        x->ret = r;
        x->capret = cap;
    }
    x->ret[x->nret++] = (struct ixretired){(void *)(uintptr_t)mem, hi, chunk};
}

/* A chunk leaves the newest table, and its indexes with it. */
static void retire_chunk(struct ixenv *x, struct ixchunk *c, uint64_t hi)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < IX_CHUNK; i++)
        retire(x, c->slot[i], hi, 0);
    retire(x, c, hi, 1);
}

/* Free the retired indexes no live table can hold. */
static void sweep(struct ixenv *x)
{
    uint64_t min = UINT64_MAX;
    size_t j = 0;

    for (const struct ixtab *tab = x->live; tab != NULL; tab = tab->next)
        if (tab->gen < min)
            min = tab->gen;
    for (size_t i = 0; i < x->nret; i++) {
        if (x->ret[i].hi <= min && x->ret[i].chunk)
            free(x->ret[i].mem);
        else if (x->ret[i].hi <= min)
            entry_free(x, x->ret[i].mem);
        else
            x->ret[j++] = x->ret[i];
    }
    x->nret = j;
    if (x->live == NULL && j == 0) { /* nothing left: give the slab back */
        while (x->slab != NULL) {
            struct chunk *c = x->slab;
            x->slab = c->next;
            free(c);
        }
        x->free64 = NULL;
        free(x->ret);
        x->ret = NULL;
        x->capret = 0;
    }
}

/* ---- tables -------------------------------------------------------------- */

static struct ixtab *tab_new(struct ixenv *x, uint64_t ver, uint32_t nch)
{
    struct ixtab *tab = calloc(1, sizeof *tab);

    if (tab == NULL || (tab->ch = calloc(nch ? nch : 1, sizeof *tab->ch)) == NULL) {
        free(tab);
        return NULL;
    }
    tab->ver = ver;
    tab->gen = ++x->gen;
    tab->nch = nch;
    tab->refs = 1;
    tab->next = x->live;
    x->live = tab;
    return tab;
}

static void tab_unref(struct ixenv *x, struct ixtab *tab);

/* Drop the build under way (its table changed, or it failed). */
static void build_abandon(struct ixenv *x)
{
    struct ixtab *tab = x->b.tab;

    if (tab == NULL)
        return;
    entry_free(x, x->b.mem);
    memset(&x->b, 0, sizeof x->b);
    tab_unref(x, tab);
}

static void tab_unref(struct ixenv *x, struct ixtab *tab)
{
    struct ixtab **pp;

    if (--tab->refs > 0) {
        if (tab->refs == 1 && x->b.tab == tab)
            build_abandon(x); /* no handle left to finish it */
        return;
    }
    for (pp = &x->live; *pp != tab; pp = &(*pp)->next)
        ;
    *pp = tab->next;
    /* An older table's chunks are in a newer one or retired; the newest's
     * may be in no other. */
    if (x->newest == tab) {
        for (uint32_t i = 0; i < tab->nch; i++)
            retire_chunk(x, tab->ch[i], tab->gen + 1);
        x->newest = NULL;
    }
    free(tab->ch);
    free(tab);
    sweep(x);
}

/* Marking the changed allocations of a new table (index_changed_fn). */
struct marking {
    struct ixenv *x;
    struct ixtab *tab, *from;
};

static void mark_changed(void *arg, uint32_t id)
{
    struct marking *m = arg;
    struct ixtab *tab = m->tab;

    for (uint64_t k = (uint64_t)id * 2; k < (uint64_t)id * 2 + 2; k++) {
        uint64_t i = k >> IX_CHUNK_BITS;
        struct ixchunk *c = i < tab->nch ? tab->ch[i] : NULL, *nc;
        if (c == NULL || (c->slot[k % IX_CHUNK] == NULL && c->miss[k % IX_CHUNK] == 0))
            continue;
        if (i < m->from->nch && c == m->from->ch[i]) { /* shared: copied first */
            nc = malloc(sizeof *nc);
            if (nc == NULL) { /* then the chunk goes, all its indexes */
                retire_chunk(m->x, c, tab->gen);
                tab->ch[i] = NULL;
                continue;
            }
            memcpy(nc, c, sizeof *nc);
            retire(m->x, c, tab->gen, 1);
            tab->ch[i] = c = nc;
        }
        retire(m->x, c->slot[k % IX_CHUNK], tab->gen, 0);
        c->slot[k % IX_CHUNK] = NULL;
        c->miss[k % IX_CHUNK] = 0;
    }
    if (m->x->b.tab == m->from && m->x->b.id == id)
        build_abandon(m->x);
}

/* The table of version VER made from the newest one, FROM (older): its
 * chunks, those holding allocations changed between them copied without
 * their indexes. */
static struct ixtab *tab_derive(spfdb_txn *t, struct ixtab *from, uint64_t ver, uint32_t nch,
                                index_changed_fn changed)
{
    struct ixenv *x = &t->env->ix;
    struct ixtab *tab = tab_new(x, ver, nch > from->nch ? nch : from->nch);
    struct marking m = {x, tab, from};

    if (tab == NULL)
        return NULL;
    memcpy(tab->ch, from->ch, from->nch * sizeof *tab->ch);
    if (changed(t, from->ver, ver, mark_changed, &m) != 0) {
        for (uint32_t i = 0; i < tab->nch; i++) { /* unknown: none kept */
            retire_chunk(x, tab->ch[i], tab->gen);
            tab->ch[i] = NULL;
        }
        build_abandon(x);
    }
    if (x->b.tab == from) { /* the same data: it goes on in the new table */
        x->b.tab = tab;
        tab->refs++;
        tab_unref(x, from);
    }
    return tab;
}

static void trim(spfdb_env *env, size_t pages, int now);

/* TAB is the newest version's table: the env holds it from now on. */
static void set_newest(struct ixenv *x, struct ixtab *tab)
{
    struct ixtab *old = x->newest;

    tab->refs++;
    x->newest = tab;
    if (old != NULL)
        tab_unref(x, old);
}

int index_current(spfdb_txn *t)
{
    struct ixenv *x = &t->env->ix;
    struct ixtab *tab;

    if (t->ix.txnid != (uint64_t)mdb_txn_id(t->mdb) || t->ix.ver == 0)
        return 0;
    if (t->ix.tab != NULL)
        return 1;
    (void)pthread_mutex_lock(&t->env->ix_lock); /* only fails on a corrupt mutex */
    for (tab = x->live; tab != NULL && tab->ver != t->ix.ver; tab = tab->next)
        ;
    if (tab != NULL)
        tab->refs++;
    (void)pthread_mutex_unlock(&t->env->ix_lock);
    t->ix.tab = tab;
    return tab != NULL;
}

void index_adopt(spfdb_txn *t, uint64_t ver, uint32_t next_id, index_changed_fn changed)
{
    struct ixenv *x = &t->env->ix;
    struct ixtab *old = t->ix.tab, *tab = NULL;
    uint32_t nch = (uint32_t)(((uint64_t)next_id * 2 + IX_CHUNK - 1) >> IX_CHUNK_BITS);

    t->ix.txnid = (uint64_t)mdb_txn_id(t->mdb);
    t->ix.ver = ver;
    if (old != NULL && ver != 0 && old->ver == ver)
        return; /* a commit that changed no data (or none): the same table */
    (void)pthread_mutex_lock(&t->env->ix_lock); /* only fails on a corrupt mutex */
    if (!t->ix.counted) {
        t->ix.counted = 1;
        x->handles++;
    }
    if (ver != 0) {
        for (tab = x->live; tab != NULL && tab->ver != ver; tab = tab->next)
            ;
        if (tab != NULL) {
            tab->refs++;
        } else if (x->newest != NULL && x->newest->ver < ver) {
            tab = tab_derive(t, x->newest, ver, nch, changed);
            if (tab != NULL)
                set_newest(x, tab);
            trim(t->env, 0, 1);
        } else if ((tab = tab_new(x, ver, nch)) != NULL && x->newest == NULL) {
            set_newest(x, tab); /* else a version older than the newest: its own */
        }
    }
    if (old != NULL)
        tab_unref(x, old);
    (void)pthread_mutex_unlock(&t->env->ix_lock);
    t->ix.tab = tab;
}

void index_release(spfdb_txn *t)
{
    if (t->ix.tab != NULL) {
        (void)pthread_mutex_lock(&t->env->ix_lock);
        tab_unref(&t->env->ix, t->ix.tab);
        trim(t->env, 0, 1); /* under env->remap's read side still (reader.c) */
        (void)pthread_mutex_unlock(&t->env->ix_lock);
        t->ix.tab = NULL;
    }
}

void index_free(spfdb_txn *t)
{
    struct ixenv *x = &t->env->ix;

    (void)pthread_mutex_lock(&t->env->ix_lock);
    if (t->ix.tab != NULL)
        tab_unref(x, t->ix.tab);
    if (t->ix.counted && --x->handles == 0 && x->newest != NULL)
        tab_unref(x, x->newest); /* the last handle: the env lets go too */
    (void)pthread_mutex_unlock(&t->env->ix_lock);
    memset(&t->ix, 0, sizeof t->ix);
}

void index_stats(spfdb_env *env, struct ixstats *out)
{
    struct ixenv *x = &env->ix;

    (void)pthread_mutex_lock(&env->ix_lock);
    out->builds = x->builds;
    out->bytes = x->bytes;
    out->tables = 0;
    for (const struct ixtab *tab = x->live; tab != NULL; tab = tab->next)
        out->tables++;
    out->retired = x->nret;
    (void)pthread_mutex_unlock(&env->ix_lock);
}

/* ---- building ------------------------------------------------------------ */

/* E is the index of slot K of TAB, the newest table: lookups see it from
 * now on (in the older tables that share its chunk too: they share it
 * because the allocation is the same there).  Out of memory for a chunk,
 * E is freed and the lookups descend. */
static struct ixchunk *chunk_make(struct ixtab *tab, uint64_t k)
{
    struct ixchunk *c = tab->ch[k >> IX_CHUNK_BITS];

    if (c == NULL && (c = calloc(1, sizeof *c)) != NULL)
        __atomic_store_n(&tab->ch[k >> IX_CHUNK_BITS], c, __ATOMIC_RELEASE);
    return c;
}

/* The address and length of ENV's map of data.mdb, from /proc/self/maps
 * (the mapping of its file's device and inode), or NULL. */
static void *find_map(spfdb_env *env, size_t *len)
{
    char line[512];
    struct stat st;
    mdb_filehandle_t fd;
    void *found = NULL;
    FILE *f;

    if (mdb_env_get_fd(env->mdb, &fd) != 0 || fstat(fd, &st) != 0 ||
        (f = fopen("/proc/self/maps", "re")) == NULL)
        return NULL;
    while (found == NULL && fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi, ino;
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &maj, &min, &ino) == 5 &&
            ino == (unsigned long)st.st_ino && makedev(maj, min) == st.st_dev) {
            found = (void *)(uintptr_t)lo;
            *len = hi - lo;
        }
    }
    fclose(f);
    return found;
}

/* Once built, an index no longer needs the pages it was copied from, but
 * they stay mapped (and counted in the server's resident memory) with
 * their neighbours, which the kernel maps around each fault: at 100,000
 * allocations, 24 MB of data.mdb for 12 MB of index.  So after every
 * IX_TRIM pages or so of builds, and (NOW) when a handle goes idle or a
 * new version comes after some, the map's pages are dropped from this
 * process (MADV_DONTNEED: a shared read-only file mapping keeps its
 * contents, the page cache keeps the pages, and the next read of one is a
 * minor fault).  Called with a live read transaction, so no remap moves
 * the map meanwhile. */
static void trim(spfdb_env *env, size_t pages, int now)
{
    struct ixenv *x = &env->ix;

    x->trim_due += pages;
    if (x->trim_due < IX_TRIM && !(now && x->trim_due > 0))
        return;
    x->trim_due = 0;
    if (x->map_remaps != env->remaps + 1) { /* LMDB does not say where: the kernel does */
        x->map_remaps = env->remaps + 1;
        x->map = find_map(env, &x->maplen);
    }
    if (x->map != NULL)
        (void)madvise(x->map, x->maplen, MADV_DONTNEED); /* a hint: nothing is lost */
}

static const uint8_t *publish(spfdb_env *env, struct ixtab *tab, uint64_t k, const uint8_t *e)
{
    struct ixenv *x = &env->ix;
    struct ixchunk *c = chunk_make(tab, k);

    if (c == NULL) {
        entry_free(x, (uint8_t *)(uintptr_t)e);
        return NULL;
    }
    __atomic_store_n(&c->slot[k % IX_CHUNK], e, __ATOMIC_RELEASE);
    x->builds++;
    trim(env, 1 + (e[0] == K_FULL ? ((const struct ixhdr *)(const void *)e)->n / 512 : 0), 0);
    return e;
}

/* Member I (of N-byte addresses, at M) into the index at MEM: level 0,
 * and the levels above where it starts a block. */
static void put_member(uint8_t *mem, const struct ixhdr *h, size_t i, const uint8_t *m)
{
    if (h->v4) {
        uint32_t a = get_be32(m);
        uint8_t *blk = mem + ((size_t)h->lev[0].off + i / IX_B0) * IX_BLOCK;
        memcpy(blk + i % IX_B0 * 4, &a, 4);
        blk[IX_LEN0 + i % IX_B0] = m[4];
        for (unsigned l = 1; l < h->nlev && i % (l == 1 ? IX_B0 : IX_B4) == 0; l++) {
            i /= l == 1 ? IX_B0 : IX_B4;
            memcpy(mem + (size_t)h->lev[l].off * IX_BLOCK + i * 4, &a, 4);
        }
    } else {
        struct key6 x = {get_be64(m), get_be64(m + 8)};
        memcpy(mem + (size_t)h->lev[0].off * IX_BLOCK + i * 16, &x, 16);
        mem[(size_t)h->lens * IX_BLOCK + i] = m[16];
        for (unsigned l = 1; l < h->nlev && i % IX_B6 == 0; l++) {
            i /= IX_B6;
            memcpy(mem + (size_t)h->lev[l].off * IX_BLOCK + i * 16, &x, 16);
        }
    }
}

/* The pads after each level's real keys: all ones, the largest key, so
 * they sort last (a lookup that counts one is clamped to the last real
 * key). */
static void put_pads(uint8_t *mem, const struct ixhdr *h)
{
    unsigned ks = h->v4 ? 4 : 16;

    for (unsigned l = 0; l < h->nlev; l++) {
        size_t real = h->lev[l].real, b = block_keys(l, h->v4);
        size_t pad = (real + b - 1) / b * b;
        uint8_t *lev = mem + (size_t)h->lev[l].off * IX_BLOCK;
        for (size_t i = real; i < pad; i++) {
            if (h->v4 && l == 0)
                memset(lev + i / IX_B0 * IX_BLOCK + i % IX_B0 * 4, 0xff, 4);
            else
                memset(lev + i * ks, 0xff, ks);
        }
    }
}

/* Room for COUNT members of family FAM, its header filled: the index to
 * be, or NULL. */
static uint8_t *full_alloc(struct ixenv *x, int fam, size_t count)
{
    int v4 = fam == 4;
    size_t pad[IX_LEVELS], real[IX_LEVELS];
    unsigned nlev = levels(count, block_keys(0, v4), block_keys(1, v4), pad, real);
    size_t hdr = (16 + 8 * (size_t)nlev + IX_BLOCK - 1) / IX_BLOCK * IX_BLOCK;
    size_t bytes = hdr, lens;
    struct ixhdr *h;
    uint8_t *mem;

    for (unsigned l = 0; l < nlev; l++)
        bytes += pad[l] / block_keys(l, v4) * IX_BLOCK;
    lens = bytes;
    bytes += v4 ? 0 : (count + IX_BLOCK - 1) / IX_BLOCK * IX_BLOCK;
    if (bytes / IX_BLOCK >= UINT32_MAX || (mem = ix_alloc(bytes)) == NULL)
        return NULL;
    h = (struct ixhdr *)(void *)mem;
    memset(h, 0, sizeof *h < hdr ? sizeof *h : hdr);
    h->kind = K_FULL;
    h->v4 = (uint8_t)v4;
    h->nlev = (uint16_t)nlev;
    h->n = (uint32_t)count;
    h->lens = (uint32_t)(lens / IX_BLOCK);
    h->size64 = (uint32_t)(bytes / IX_BLOCK);
    for (size_t l = 0, off = hdr; l < nlev; l++) {
        h->lev[l].off = (uint32_t)(off / IX_BLOCK);
        h->lev[l].real = (uint32_t)real[l];
        off += pad[l] / block_keys((unsigned)l, v4) * IX_BLOCK;
    }
    x->bytes += bytes;
    return mem;
}

/* The position of member M (MS bytes) in the sorted page P of N members:
 * its index, or N when absent. */
static size_t page_find(const uint8_t *p, size_t n, const uint8_t *m, unsigned ms)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(p + mid * ms, m, ms);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n;
}

/* Copy more of B's members, a page at a time, until *BUDGET is spent:
 * 1 when the index is complete, 0 when not yet, <0 on a read failure or
 * damage.  A slice seeks to the last member copied before it: the
 * snapshot may have been renewed since, onto the same data. */
static int build_run(spfdb_txn *t, struct ixbuild *b, long *budget)
{
    unsigned ms = set_alen((int)b->fam) + 1;
    const struct ixhdr *h = (const struct ixhdr *)(const void *)b->mem;
    uint8_t k[5], m[SET_MEMBER_MAX];
    MDB_val key = {5, k}, val;
    MDB_cursor *c;
    size_t skip = 0;
    int rc = store_cursor(t, DB_MAXIMAL, &c);

    if (rc)
        return rc;
    put_be32(k, b->id);
    k[4] = (uint8_t)b->fam;
    if (b->done == 0) {
        rc = mdb_cursor_get(c, &key, &val, MDB_SET);
    } else {
        memcpy(m, b->last, ms);
        val = (MDB_val){ms, m};
        rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH_RANGE);
        if (rc == 0 && (val.mv_size != ms || memcmp(val.mv_data, b->last, ms) != 0))
            return SPFDB_EFORMAT; /* the data is not what the build began on */
    }
    if (rc == 0)
        rc = mdb_cursor_get(c, &key, &val, MDB_GET_MULTIPLE);
    if (rc == 0 && b->done > 0) {
        skip = page_find(val.mv_data, val.mv_size / ms, b->last, ms) + 1;
        if (skip > val.mv_size / ms)
            return SPFDB_EFORMAT;
    }
    while (rc == 0) {
        const uint8_t *p = val.mv_data;
        size_t got = val.mv_size / ms;
        if (val.mv_size == 0 || val.mv_size % ms != 0 || got - skip > b->count - b->done)
            return SPFDB_EFORMAT;
        for (size_t i = skip; i < got; i++)
            put_member(b->mem, h, b->done++, p + i * ms);
        if (got > skip)
            memcpy(b->last, p + (got - 1) * ms, ms);
        *budget -= (long)(got - skip);
        skip = 0;
        if (b->done == b->count)
            break;
        if (*budget <= 0)
            return 0;
        rc = mdb_cursor_get(c, &key, &val, MDB_NEXT_MULTIPLE);
    }
    if (b->done != b->count)
        return rc == MDB_NOTFOUND || rc == 0 ? SPFDB_EFORMAT : store_fail(t, rc);
    put_pads(b->mem, h);
    return 1;
}

/* A one-line index of the COUNT (at most IX_TINY4 or IX_TINY6) members of
 * family FAM from C's key, which is positioned on it: the index, or NULL
 * with *RC. */
static uint8_t *tiny_build(struct ixenv *x, MDB_cursor *c, int fam, size_t count,
                           const MDB_val *first, int *rc)
{
    unsigned n = set_alen(fam), ms = n + 1;
    uint8_t *e;
    MDB_val key, val = *first;
    size_t done = 0;

    *rc = 0;
    if (count > 1)
        *rc = mdb_cursor_get(c, &key, &val, MDB_GET_MULTIPLE);
    if (*rc != 0 || (e = line_alloc(x)) == NULL)
        return NULL;
    memset(e, 0, IX_BLOCK);
    if (fam == 4)
        memset(e + IX_TINY_KEYS, 0xff, IX_TINY4 * 4);
    e[0] = fam == 4 ? K_TINY4 : K_TINY6;
    e[1] = (uint8_t)count;
    while (*rc == 0) {
        const uint8_t *p = val.mv_data;
        size_t got = val.mv_size / ms;
        if (val.mv_size == 0 || val.mv_size % ms != 0 || got > count - done) {
            *rc = SPFDB_EFORMAT;
            break;
        }
        for (size_t i = 0; i < got; i++, done++, p += ms) {
            e[2 + done] = p[n];
            if (fam == 4) {
                uint32_t a = get_be32(p);
                memcpy(e + IX_TINY_KEYS + done * 4, &a, 4);
            } else {
                struct key6 k6 = {get_be64(p), get_be64(p + 8)};
                memcpy(e + IX_TINY_KEYS + done * 16, &k6, 16);
            }
        }
        if (done == count || count == 1)
            break;
        *rc = mdb_cursor_get(c, &key, &val, MDB_NEXT_MULTIPLE);
    }
    x->bytes += IX_BLOCK;
    if (done != count) {
        *rc = *rc == 0 || *rc == MDB_NOTFOUND ? SPFDB_EFORMAT : *rc;
        entry_free(x, e);
        return NULL;
    }
    return e;
}

/* Work on the build under way, which is for TAB: the index when it is
 * now complete and for slot K, else NULL. */
static const uint8_t *build_more(spfdb_txn *t, struct ixtab *tab, uint64_t k)
{
    struct ixenv *x = &t->env->ix;
    int rc = build_run(t, &x->b, &t->ix.budget);
    const uint8_t *e = x->b.mem;
    uint64_t bk = (uint64_t)x->b.id * 2 + (x->b.fam == 6);

    if (rc < 0) {
        build_abandon(x); /* the lookups descend, and meet the failure if it lasts */
        return NULL;
    }
    if (rc == 0)
        return NULL;
    x->b.mem = NULL;
    x->b.tab = NULL;
    e = publish(t->env, tab, bk, e);
    tab_unref(x, tab);
    return bk == k ? e : NULL;
}

/* The chunk of slot K in TAB, or NULL. */
static inline struct ixchunk *chunk_of(const struct ixtab *tab, uint64_t k)
{
    return k >> IX_CHUNK_BITS < tab->nch ? __atomic_load_n(&tab->ch[k >> IX_CHUNK_BITS],
                                                           __ATOMIC_ACQUIRE) : NULL;
}

/* Slot K (ID's FAMILY) of T's table has no index: build it when due and
 * allowed (the newest table, the lock free, budget left).  The index, or
 * NULL: descend. */
static const uint8_t *ix_need(spfdb_txn *t, uint32_t id, int family, uint64_t k)
{
    struct ixenv *x = &t->env->ix;
    struct ixtab *tab = t->ix.tab;
    struct ixchunk *ch;
    const uint8_t *e = NULL;
    uint8_t kb[5], *miss, none = 0; /* no chunk yet: nothing counted */
    MDB_val key = {5, kb}, val;
    MDB_cursor *c;
    size_t count;
    int rc;

    if (t->ix.budget <= 0 || k >> IX_CHUNK_BITS >= tab->nch ||
        pthread_mutex_trylock(&t->env->ix_lock) != 0)
        return NULL; /* another handle is building (most likely this one) */
    if (tab != x->newest)
        goto out; /* a commit behind: the next refresh moves on */
    ch = tab->ch[k >> IX_CHUNK_BITS];
    if (ch != NULL && (e = ch->slot[k % IX_CHUNK]) != NULL)
        goto out;
    if (x->b.tab != NULL && x->b.tab != tab)
        build_abandon(x); /* an older version's, which no handle finishes */
    if (x->b.tab != NULL) {
        e = build_more(t, tab, k);
        goto out; /* one large build at a time */
    }
    miss = ch != NULL ? &ch->miss[k % IX_CHUNK] : &none;
    if (*miss != 0 && *miss < IX_AFTER) {
        ++*miss; /* large, not yet due */
        goto out;
    }
    t->ix.budget -= IX_COST;
    put_be32(kb, id);
    kb[4] = (uint8_t)family;
    rc = store_cursor(t, DB_MAXIMAL, &c);
    if (rc == 0)
        rc = mdb_cursor_get(c, &key, &val, MDB_SET);
    if (rc == MDB_NOTFOUND) {
        e = publish(t->env, tab, k, ix_empty);
        goto out;
    }
    if (rc == 0)
        rc = mdb_cursor_count(c, &count);
    if (rc != 0)
        goto out;
    if (count <= (family == 4 ? IX_TINY4 : IX_TINY6)) {
        e = tiny_build(x, c, family, count, &val, &rc);
        if (e != NULL)
            e = publish(t->env, tab, k, e);
    } else if (count > IX_SMALL && *miss < IX_AFTER) {
        if ((ch = chunk_make(tab, k)) != NULL)
            ch->miss[k % IX_CHUNK] = 1; /* one descent; the build after IX_AFTER */
    } else if (count < UINT32_MAX && (x->b.mem = full_alloc(x, family, count)) != NULL) {
        x->b.tab = tab;
        tab->refs++;
        x->b.id = id;
        x->b.fam = (uint32_t)family;
        x->b.count = count;
        x->b.done = 0;
        e = build_more(t, tab, k);
    }
out:
    (void)pthread_mutex_unlock(&t->env->ix_lock);
    return e;
}

/* The index of ID's FAMILY in T's version: built, or NULL (descend). */
static inline const uint8_t *ix_get(spfdb_txn *t, uint32_t id, int family)
{
    const struct ixtab *tab = t->ix.tab;
    uint64_t k = (uint64_t)id * 2 + (family == 6);
    const struct ixchunk *c;
    const uint8_t *e;

    if (tab == NULL)
        return NULL;
    c = chunk_of(tab, k);
    e = c != NULL ? __atomic_load_n(&c->slot[k % IX_CHUNK], __ATOMIC_ACQUIRE) : NULL;
    return e != NULL ? e : ix_need(t, id, family, k);
}

/* ---- lookups ------------------------------------------------------------- */

/* Does the member of length LEN starting at KHI:KLO (IPv4: KHI) contain
 * HI:LO?  1, 0, or SPFDB_EFORMAT for an impossible length. */
static int contains(int v4, unsigned len, uint64_t khi, uint64_t klo, uint64_t hi, uint64_t lo)
{
    uint64_t dh = khi ^ hi, dl = klo ^ lo;

    if (v4)
        return len > 32 ? SPFDB_EFORMAT : len == 0 || dh >> (32 - len) == 0;
    if (len > 128)
        return SPFDB_EFORMAT;
    if (len <= 64)
        return len == 0 || dh >> (64 - len) == 0;
    return dh == 0 && (len == 128 ? dl == 0 : dl >> (128 - len) == 0);
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

/* A one-line index E: does it hold ADDR? */
static int tiny_lookup(const uint8_t *e, const uint8_t *addr)
{
    unsigned n = e[1], le = 0;

    if (e[0] == K_TINY4) {
        uint32_t a = get_be32(addr), k;
        le = count_le32(e + IX_TINY_KEYS, IX_TINY4, a);
        if (le > n) /* a pad (~0) counted */
            le = n;
        if (le == 0)
            return 0;
        memcpy(&k, e + IX_TINY_KEYS + (le - 1) * 4, 4);
        return contains(1, e[2 + le - 1], k, 0, a, 0);
    }
    struct key6 k[IX_TINY6];
    uint64_t hi = get_be64(addr), lo = get_be64(addr + 8);
    memcpy(k, e + IX_TINY_KEYS, sizeof k);
    for (unsigned i = 0; i < n && i < IX_TINY6; i++)
        le += (unsigned)(k[i].hi < hi) | ((k[i].hi == hi) & (k[i].lo <= lo));
    if (le == 0)
        return 0;
    return contains(0, e[2 + le - 1], k[le - 1].hi, k[le - 1].lo, hi, lo);
}

/* One lookup's walk down a K_FULL index, a level a step, so that a batch
 * can take its steps in turn and each block read is prefetched a step
 * ahead. */
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
    return w->mem + ((size_t)w->h->lev[w->l].off + w->j) * IX_BLOCK;
}

static void walk_init(struct walk *w, const uint8_t *e, const uint8_t *addr)
{
    w->mem = e;
    w->h = (const struct ixhdr *)(const void *)e;
    w->v4 = w->h->v4;
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
    if (w->j >= w->h->lev[w->l].real) /* a pad (~0) counted: the last address */
        w->j = w->h->lev[w->l].real - 1;
    if (w->l-- > 0)
        return 0;
    if (w->v4) {
        const uint8_t *b0 = blk; /* the member is in it, clamped or not */
        unsigned i = (unsigned)(w->j % IX_B0);
        uint32_t a;
        memcpy(&a, b0 + i * 4, 4);
        w->result = contains(1, b0[IX_LEN0 + i], a, 0, w->hi, 0);
    } else {
        struct key6 k6;
        memcpy(&k6, w->mem + (size_t)w->h->lev[0].off * IX_BLOCK + w->j * 16, 16);
        w->result = contains(0, w->mem[(size_t)w->h->lens * IX_BLOCK + w->j], k6.hi, k6.lo,
                             w->hi, w->lo);
    }
    return 1;
}

/* The checks every lookup makes. */
static int lookup_ok(const spfdb_txn *t, int family)
{
    return (family == 4 || family == 6) && (t->write || t->live);
}

/* ADDR in E, ID's FAMILY index (NULL: descend). */
static int lookup_one(spfdb_txn *t, const uint8_t *e, uint32_t alloc_id, int family,
                      const uint8_t *addr)
{
    struct walk w;
    uint8_t len;

    if (e == NULL)
        return set_top(t, alloc_id, family, addr, &len);
    if (e[0] != K_FULL)
        return e[0] == K_EMPTY ? 0 : tiny_lookup(e, addr);
    walk_init(&w, e, addr);
    while (!walk_step(&w))
        ;
    return w.result;
}

int spfdb_covers(spfdb_txn *t, uint32_t alloc_id, int family, const uint8_t *addr)
{
    if (!lookup_ok(t, family))
        return SPFDB_EINVAL;
    t->ix.budget = IX_SLICE;
    return lookup_one(t, ix_get(t, alloc_id, family), alloc_id, family, addr);
}

void spfdb_covers_many(spfdb_txn *t, struct spfdb_query *q, unsigned n)
{
    struct walk w[SPFDB_MANY_MAX];
    const uint8_t *ev[SPFDB_MANY_MAX];
    unsigned idx[SPFDB_MANY_MAX], k = 0;
    const struct ixtab *tab = t->ix.tab;

    for (; n > SPFDB_MANY_MAX; q += SPFDB_MANY_MAX, n -= SPFDB_MANY_MAX)
        spfdb_covers_many(t, q, SPFDB_MANY_MAX);
    t->ix.budget = IX_SLICE;
    /* Among many allocations, each lookup's slot and index are cache
     * misses of their own: the batch asks for all the slots, then for all
     * the indexes' first lines, then reads them. */
    for (unsigned i = 0; tab != NULL && i < n; i++) {
        uint64_t kk = (uint64_t)q[i].alloc_id * 2 + (q[i].family == 6);
        const struct ixchunk *c = chunk_of(tab, kk);
        if (c != NULL)
            __builtin_prefetch(&c->slot[kk % IX_CHUNK]);
    }
    for (unsigned i = 0; i < n; i++) {
        ev[i] = NULL;
        if (!lookup_ok(t, q[i].family)) {
            q[i].result = SPFDB_EINVAL;
            continue;
        }
        ev[i] = ix_get(t, q[i].alloc_id, q[i].family);
        if (ev[i] != NULL)
            __builtin_prefetch(ev[i]);
    }
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = ev[i];
        if (!lookup_ok(t, q[i].family))
            continue;
        if (e != NULL && e[0] == K_FULL && k < SPFDB_MANY_MAX) {
            walk_init(&w[k], e, q[i].addr);
            __builtin_prefetch(walk_block(&w[k]));
            idx[k++] = i;
        } else {
            q[i].result = lookup_one(t, e, q[i].alloc_id, q[i].family, q[i].addr);
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
