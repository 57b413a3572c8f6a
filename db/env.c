/* env.c: the LMDB environment, transactions and their failure modes
 * (spfdb.h "Rules"). */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAPSIZE_DEFAULT ((size_t)1 << 30) /* sparse: costs address space only */
#define REMAP_WAIT_S 10

static const char *const db_names[DB_COUNT] = {"meta", "allocs", "allocid", "zones", "log",
                                               "prefixes", "maximal"};

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
    default: return "unknown error";
    }
}

int store_err(int rc)
{
    switch (rc) {
    case 0: return SPFDB_OK;
    case MDB_NOTFOUND: return SPFDB_ENOTFOUND;
    case MDB_KEYEXIST: return SPFDB_EEXIST;
    case MDB_MAP_FULL: case ENOSPC: case EDQUOT: case EFBIG: return SPFDB_ENOSPC;
    case MDB_INVALID: case MDB_VERSION_MISMATCH: case MDB_INCOMPATIBLE: return SPFDB_EFORMAT;
    case ENOMEM: return SPFDB_ENOMEM;
    case EACCES: case EPERM: case EROFS: return SPFDB_EACCES;
    case ENOENT: case ENOTDIR: return SPFDB_ENODIR;
    default: return SPFDB_EIO;
    }
}

int store_fail(spfdb_txn *t, int rc)
{
    int e = store_err(rc);

    if (t->write && !t->err) {
        t->err = e;
        t->mapfull = rc == MDB_MAP_FULL;
    }
    return e;
}

int store_cursor(spfdb_txn *t, int db, MDB_cursor **out)
{
    int rc = 0;

    if (!t->cur[db])
        rc = mdb_cursor_open(t->mdb, t->env->dbi[db], &t->cur[db]);
    else if (t->cur_stale & (1u << db))
        rc = mdb_cursor_renew(t->mdb, t->cur[db]);
    if (rc)
        return store_fail(t, rc);
    t->cur_stale &= ~(1u << db);
    *out = t->cur[db];
    return 0;
}

/* Remap with no transaction of this process active: SIZE 0 adopts the size
 * another process set, GROW doubles ours. */
static int remap(spfdb_env *env, int grow)
{
    struct timespec until;
    MDB_envinfo info;
    size_t size = 0;
    int rc;

    if (clock_gettime(CLOCK_REALTIME, &until) != 0)
        return SPFDB_EIO;
    until.tv_sec += REMAP_WAIT_S;
    /* Times out only when a thread of this process keeps a read transaction
     * live across the write or renew that needs the remap. */
    rc = pthread_rwlock_timedwrlock(&env->remap, &until);
    if (rc)
        return rc == ETIMEDOUT ? SPFDB_EBUSY : SPFDB_EIO;
    if (grow) {
        rc = mdb_env_info(env->mdb, &info);
        size = info.me_mapsize * 2;
        if (!rc && size < info.me_mapsize)
            rc = ENOMEM;
    } else {
        rc = 0;
    }
    if (!rc) {
        env->remaps++; /* the map may move: page indexes go */
        rc = mdb_env_set_mapsize(env->mdb, size);
    }
    pthread_rwlock_unlock(&env->remap);
    return rc == ENOMEM ? SPFDB_ENOSPC : store_err(rc);
}

/* Begin (T->mdb NULL) or renew a transaction; on success the read side of
 * env->remap is held until the transaction resets or ends. */
static int txn_start(spfdb_txn *t, unsigned flags)
{
    spfdb_env *env = t->env;
    int resized = 0, full = 0, rc, dead;

    for (;;) {
        if (pthread_rwlock_rdlock(&env->remap) != 0)
            return SPFDB_EIO;
        rc = t->mdb ? mdb_txn_renew(t->mdb) : mdb_txn_begin(env->mdb, NULL, flags, &t->mdb);
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&env->remap);
        if (rc == MDB_MAP_RESIZED && resized++ < 3) {
            rc = remap(env, 0);
            if (rc)
                return rc;
        } else if (rc == MDB_READERS_FULL && !full++) {
            if (mdb_reader_check(env->mdb, &dead) != 0)
                return SPFDB_EIO;
        } else {
            return store_err(rc);
        }
    }
}

static int txn_end(spfdb_txn *t, int commit)
{
    int rc = 0;

    if (commit)
        rc = mdb_txn_commit(t->mdb);
    else
        mdb_txn_abort(t->mdb);
    t->mdb = NULL;
    pthread_rwlock_unlock(&t->env->remap);
    return rc;
}

static size_t mapsize_wanted(void)
{
    const char *s = getenv("SPFDB_MAPSIZE");
    unsigned long long v;
    char *end;

    if (!s || !*s)
        return MAPSIZE_DEFAULT;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0)
        return MAPSIZE_DEFAULT;
    return (size_t)v;
}

static int meta_check(spfdb_txn *t)
{
    struct meta m;
    int rc = store_meta_load(t, &m);

    if (rc == SPFDB_ENOTFOUND || (rc == 0 && (m.version == 0 || m.version > SPFDB_FORMAT)))
        return SPFDB_EFORMAT;
    return rc ? rc : (int)m.version;
}

/* Open the named databases before LAST; a missing one is SPFDB_ENOTFOUND
 * unless FLAGS holds MDB_CREATE. */
/* LMDB's default order (memcmp over the shorter length, then the shorter
 * first) eight bytes at a time: the file format does not change, and
 * mdb_dump/mdb_load and older binaries agree.  spfdb_covers spends most of
 * its time in key comparisons. */
int store_keycmp(const MDB_val *a, const MDB_val *b)
{
    const uint8_t *p = a->mv_data, *q = b->mv_data;
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    size_t i = 0;

    if (a->mv_size == 5 && b->mv_size == 5) { /* family keys, IPv4 members */
        uint32_t x, y;
        memcpy(&x, p, 4);
        memcpy(&y, q, 4);
        if (x != y)
            return __builtin_bswap32(x) < __builtin_bswap32(y) ? -1 : 1;
        return (p[4] > q[4]) - (p[4] < q[4]);
    }

    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        memcpy(&y, q + i, 8);
        if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            x = __builtin_bswap64(x);
            y = __builtin_bswap64(y);
#endif
            return x < y ? -1 : 1;
        }
    }
    if (i + 4 <= n) { /* an IPv4 member, a family key */
        uint32_t x, y;
        memcpy(&x, p + i, 4);
        memcpy(&y, q + i, 4);
        if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            x = __builtin_bswap32(x);
            y = __builtin_bswap32(y);
#endif
            return x < y ? -1 : 1;
        }
        i += 4;
    }
    for (; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* Every process opens the databases here, so all use one comparator. */
static int open_dbis(spfdb_txn *t, unsigned flags, int first, int last)
{
    for (int i = first; i < last; i++) {
        int set = i == DB_PREFIXES || i == DB_MAXIMAL;
        int rc = mdb_dbi_open(t->mdb, db_names[i],
                              flags | (set ? MDB_DUPSORT | MDB_DUPFIXED : 0), &t->env->dbi[i]);
        if (rc == 0 && set)
            rc = mdb_set_compare(t->mdb, t->env->dbi[i], store_keycmp);
        if (rc == 0 && set)
            rc = mdb_set_dupsort(t->mdb, t->env->dbi[i], store_keycmp);
        if (rc)
            return store_err(rc);
    }
    return 0;
}

/* Only an empty main database may become an spfdb database. */
static int main_db_empty(spfdb_txn *t)
{
    MDB_dbi main;
    MDB_stat st;
    int rc = mdb_dbi_open(t->mdb, NULL, 0, &main);

    if (!rc)
        rc = mdb_stat(t->mdb, main, &st);
    if (rc)
        return store_err(rc);
    return st.ms_entries == 0;
}

static int other_pid(const char *line, void *arg)
{
    int pid = atoi(line);

    if (pid > 0 && pid != getpid())
        *(int *)arg = 1;
    return 0;
}

/* A conversion drops the old format's databases: a process of an older
 * version reading them would find nothing and answer "not listed" for
 * every address.  So it waits until no other process has the database open
 * (stale reader slots of dead ones cleared first). */
static int alone(spfdb_env *env)
{
    int dead, other = 0;

    if (mdb_reader_check(env->mdb, &dead) != 0 || mdb_reader_list(env->mdb, other_pid, &other) < 0)
        return SPFDB_EIO;
    return other ? SPFDB_EOLDOPEN : 0;
}

static int env_init(spfdb_env *env)
{
    spfdb_txn t = {.env = env};
    int rc;

    /* A reader first: the common case takes no write lock. */
    rc = txn_start(&t, MDB_RDONLY);
    if (rc)
        return rc;
    rc = open_dbis(&t, 0, 0, DB_COUNT);
    if (rc == 0)
        rc = meta_check(&t);
    if (rc == SPFDB_FORMAT)
        return store_err(txn_end(&t, 1)); /* keeps the handles */
    txn_end(&t, 0);
    if (rc < 0 && rc != SPFDB_ENOTFOUND)
        return rc;

    t.write = 1;
    rc = txn_start(&t, 0);
    if (rc)
        return rc;
    rc = open_dbis(&t, 0, 0, DB_LOG);
    if (rc == 0) {
        /* another process made or upgraded it meanwhile, or an older
         * format: give it what it lacks */
        int version = rc = meta_check(&t);
        if (rc > 0 && rc < SPFDB_FORMAT)
            rc = alone(env);
        if (rc >= 0)
            rc = open_dbis(&t, MDB_CREATE, DB_LOG, DB_COUNT);
        if (rc == 0 && version < SPFDB_FORMAT)
            rc = store_upgrade(&t, (uint32_t)version);
    } else if (rc == SPFDB_ENOTFOUND) {
        rc = main_db_empty(&t);
        if (rc == 1)
            rc = open_dbis(&t, MDB_CREATE, 0, DB_COUNT);
        else if (rc == 0)
            rc = SPFDB_EFORMAT;
        if (rc == 0)
            rc = store_init(&t);
    }
    if (rc) {
        txn_end(&t, 0);
        return rc;
    }
    return store_err(txn_end(&t, 1));
}

/* A data.mdb or lock.mdb that is a symlink (or a fifo, a directory...)
 * would make LMDB open or create whatever it points to: refuse it. */
static int files_regular(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char path[4096];
    struct stat st;

    for (unsigned i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
            return SPFDB_ENOTREG;
    }
    return 0;
}

/* Root opens a directory of another owner (or group) as that owner and
 * group, so that the files it creates are theirs and a symlink planted
 * there reaches only what they could write anyway.  Returns 0 or -1. */
static int fsid_switch(uid_t uid, gid_t gid)
{
    setfsgid(gid);
    if ((gid_t)setfsgid(gid) != gid)
        return -1;
    setfsuid(uid);
    if ((uid_t)setfsuid(uid) != uid) {
        setfsgid(getegid());
        return -1;
    }
    return 0;
}

static int fsid_restore(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();

    setfsuid(uid);
    setfsgid(gid);
    return (uid_t)setfsuid(uid) == uid && (gid_t)setfsgid(gid) == gid ? 0 : -1;
}

/* Create the files 0660 whatever the umask (issue 4: readers need write
 * access to lock.mdb through the group), as the directory's owner when
 * root; a setgid directory gives them its group. */
static int env_open_files(MDB_env *mdb, const char *dir, const struct stat *dst)
{
    int as_owner = geteuid() == 0 && (dst->st_uid != 0 || dst->st_gid != getegid());
    mode_t old;
    int rc;

    if ((rc = files_regular(dir)) != 0)
        return rc;
    if (as_owner && fsid_switch(dst->st_uid, dst->st_gid) != 0) {
        if (fsid_restore() != 0)
            abort(); /* must not go on as someone else */
        return SPFDB_EACCES;
    }
    old = umask(0);
    umask(old & 0007);
    rc = store_err(mdb_env_open(mdb, dir, MDB_NOTLS, 0660));
    umask(old);
    if (as_owner && fsid_restore() != 0)
        abort();
    return rc;
}

int spfdb_env_open(const char *dir, spfdb_env **out)
{
    struct stat st;
    pthread_rwlockattr_t attr;
    spfdb_env *env;
    int rc;

    if (stat(dir, &st) != 0)
        return errno == EACCES                      ? SPFDB_EACCES
               : errno == ENOENT || errno == ENOTDIR ? SPFDB_ENODIR
                                                    : SPFDB_EIO;
    if (!S_ISDIR(st.st_mode))
        return SPFDB_ENODIR;
    env = calloc(1, sizeof *env);
    if (!env)
        return SPFDB_ENOMEM;
    /* A waiting remap must not starve behind a stream of renewing readers. */
    if (pthread_rwlockattr_init(&attr) != 0) {
        free(env);
        return SPFDB_ENOMEM;
    }
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(&env->remap, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc) {
        free(env);
        return SPFDB_ENOMEM;
    }
    if (pthread_mutex_init(&env->ix_lock, NULL) != 0) {
        pthread_rwlock_destroy(&env->remap);
        free(env);
        return SPFDB_ENOMEM;
    }
    rc = mdb_env_create(&env->mdb);
    if (rc) {
        pthread_mutex_destroy(&env->ix_lock);
        pthread_rwlock_destroy(&env->remap);
        free(env);
        return store_err(rc);
    }
    rc = mdb_env_set_maxdbs(env->mdb, DB_COUNT + 2); /* + format 1's two, to upgrade */
    if (!rc)
        rc = mdb_env_set_maxreaders(env->mdb, 1024);
    /* LMDB raises it to the committed data size when that is larger. */
    if (!rc)
        rc = mdb_env_set_mapsize(env->mdb, mapsize_wanted());
    rc = rc ? store_err(rc) : env_open_files(env->mdb, dir, &st);
    if (!rc)
        rc = env_init(env);
    if (rc) {
        spfdb_env_close(env);
        return rc;
    }
    *out = env;
    return 0;
}

void spfdb_env_close(spfdb_env *env)
{
    if (!env)
        return;
    mdb_env_close(env->mdb);
    pthread_mutex_destroy(&env->ix_lock); /* ix_list is empty: every handle is closed */
    pthread_rwlock_destroy(&env->remap);
    free(env->user);
    free(env->command);
    free(env);
}

int spfdb_env_copy(spfdb_env *env, const char *dir)
{
    int rc;

    /* No remap of this process may run under the copy's snapshot. */
    if (pthread_rwlock_rdlock(&env->remap) != 0)
        return SPFDB_EIO;
    rc = mdb_env_copy2(env->mdb, dir, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&env->remap);
    return rc == EEXIST ? SPFDB_EEXIST : store_err(rc);
}

int spfdb_env_reader_check(spfdb_env *env)
{
    int dead = 0;

    return mdb_reader_check(env->mdb, &dead) ? SPFDB_EIO : dead;
}

const char *spfdb_lmdb_version(void)
{
    return mdb_version(NULL, NULL, NULL);
}

int spfdb_txn_read(spfdb_env *env, spfdb_txn **out)
{
    spfdb_txn *t = calloc(1, sizeof *t);
    int rc;

    if (!t)
        return SPFDB_ENOMEM;
    t->env = env;
    rc = txn_start(t, MDB_RDONLY);
    if (rc) {
        free(t);
        return rc;
    }
    t->live = 1;
    store_index_adopt(t);
    *out = t;
    return 0;
}

void spfdb_txn_reset(spfdb_txn *t)
{
    if (t->write || !t->live)
        return;
    mdb_txn_reset(t->mdb);
    t->live = 0;
    t->cur_stale = ~0u;
    pthread_rwlock_unlock(&t->env->remap);
}

int spfdb_txn_renew(spfdb_txn *t)
{
    int rc;

    if (t->write)
        return SPFDB_EINVAL;
    spfdb_txn_reset(t);
    rc = txn_start(t, MDB_RDONLY);
    if (rc)
        return rc;
    t->live = 1;
    store_index_adopt(t);
    return 0;
}

/* The meta page LMDB commits last is read through our own map: no lock,
 * no reader table.  A live T keeps env->remap read-locked, so the map
 * cannot move under the read. */
int spfdb_txn_refresh(spfdb_txn *t)
{
    MDB_envinfo info;

    if (t->live && !t->write && mdb_env_info(t->env->mdb, &info) == 0 &&
        (uint64_t)info.me_last_txnid == (uint64_t)mdb_txn_id(t->mdb))
        return 0;
    return spfdb_txn_renew(t);
}

void spfdb_txn_close(spfdb_txn *t)
{
    if (!t || t->write)
        return;
    for (int i = 0; i < DB_COUNT; i++)
        if (t->cur[i])
            mdb_cursor_close(t->cur[i]);
    if (t->live)
        txn_end(t, 0);
    else
        mdb_txn_abort(t->mdb);
    store_index_free(t);
    free(t);
}

uint64_t spfdb_txn_id(const spfdb_txn *t)
{
    return t->live || t->write ? (uint64_t)mdb_txn_id(t->mdb) : 0;
}

/* Runs FN once; returns its result, or the commit's.  *RETRY is set when
 * the map filled up and the whole transaction must run again. */
static int write_once(spfdb_env *env, spfdb_write_fn fn, void *arg, int *retry)
{
    spfdb_txn t = {.env = env, .write = 1};
    int rc, ret;

    *retry = 0;
    rc = txn_start(&t, 0);
    if (rc)
        return rc;
    ret = store_meta_load(&t, &t.meta);
    if (ret == 0)
        ret = fn(&t, arg);
    if (ret == 0 && !t.err && t.changed) {
        time_t now = time(NULL);
        uint32_t serial = (uint32_t)now;

        if (serial <= t.meta.serial)
            serial = t.meta.serial + 1;
        t.meta.serial = serial;
        t.meta.changed = (int64_t)now;
        if (t.meta_changed)
            t.meta.gen++;
        ret = store_set_flush(&t);
        if (ret == 0)
            ret = store_counts_flush(&t);
        if (ret == 0)
            ret = log_commit(&t);
        if (ret == 0)
            ret = store_meta_save(&t, &t.meta);
        if (ret == 0 && !t.err) {
            log_free(&t);
            store_set_free(&t);
            rc = txn_end(&t, 1);
            *retry = rc == MDB_MAP_FULL;
            return store_err(rc);
        }
    }
    log_free(&t);
    store_set_free(&t);
    txn_end(&t, 0);
    *retry = t.mapfull;
    if (ret == 0 && t.err)
        ret = t.err;
    return ret;
}

int spfdb_write(spfdb_env *env, spfdb_write_fn fn, void *arg)
{
    int retry, rc;

    for (;;) {
        rc = write_once(env, fn, arg, &retry);
        if (!retry)
            return rc;
        rc = remap(env, 1);
        if (rc)
            return rc;
    }
}
