/* env.c: the bottom layer: the LMDB environment, transactions and their
 * failure modes (spfdb.h "Rules"), errors and cursors (env.h). */
#include "bytes.h"
#include "env.h"
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
                                               "prefixes", "maximal", "xfr"};

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

int store_need_write(spfdb_txn *t)
{
    return t->write ? t->err : SPFDB_EINVAL;
}

int store_need_data(spfdb_txn *t)
{
    return t->replica ? SPFDB_EREPLICA : store_need_write(t);
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

int store_walk(spfdb_txn *t, int db, const MDB_val *from, size_t prefix, store_walk_fn fn,
               void *arg)
{
    MDB_cursor *c;
    MDB_val k = {0, NULL}, v;
    int rc = t->err, ret = 0;

    if (rc)
        return rc;
    rc = mdb_cursor_open(t->mdb, t->env->dbi[db], &c);
    if (rc)
        return store_fail(t, rc);
    if (from)
        k = *from;
    for (rc = mdb_cursor_get(c, &k, &v, from ? MDB_SET_RANGE : MDB_FIRST); rc == 0 && ret == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (prefix && (k.mv_size < prefix || memcmp(k.mv_data, from->mv_data, prefix) != 0))
            break;
        ret = fn(&k, &v, arg);
    }
    mdb_cursor_close(c);
    if (ret)
        return ret;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_fail(t, rc);
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

int store_grow(spfdb_env *env)
{
    return remap(env, 1);
}

int store_txn_start(spfdb_txn *t, unsigned flags)
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

int store_txn_end(spfdb_txn *t, int commit)
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
        uint32_t x = get_be32(p), y = get_be32(q);
        if (x != y)
            return x < y ? -1 : 1;
        return (p[4] > q[4]) - (p[4] < q[4]);
    }
    /* equal words need no byte swap */
    for (; i + 8 <= n; i += 8)
        if (load64(p + i) != load64(q + i))
            return get_be64(p + i) < get_be64(q + i) ? -1 : 1;
    if (i + 4 <= n) { /* an IPv4 member, a family key */
        uint32_t x = get_be32(p + i), y = get_be32(q + i);
        if (x != y)
            return x < y ? -1 : 1;
        i += 4;
    }
    for (; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* Every process opens the databases here, so all use one comparator. */
int store_open_dbis(spfdb_txn *t, unsigned flags, int first, int last)
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
int store_main_empty(spfdb_txn *t)
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
int store_alone(spfdb_env *env)
{
    int dead, other = 0;

    if (mdb_reader_check(env->mdb, &dead) != 0 || mdb_reader_list(env->mdb, other_pid, &other) < 0)
        return SPFDB_EIO;
    return other ? SPFDB_EOLDOPEN : 0;
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

int store_env_create(const char *dir, spfdb_env **out)
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
    pthread_mutex_destroy(&env->ix_lock); /* no index left: every handle is closed */
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

void spfdb_env_set_follower(spfdb_env *env)
{
    env->follower = 1;
}

int spfdb_env_last_txnid(spfdb_env *env, uint64_t *out)
{
    MDB_envinfo info;
    int rc;

    /* mdb_env_info reads the meta pages through the map: no remap of this
     * process may move it meanwhile.  Only tried: a poller never waits
     * behind a remap, nor deadlocks on its own thread's live reader. */
    if (pthread_rwlock_tryrdlock(&env->remap) != 0)
        return SPFDB_EBUSY;
    rc = mdb_env_info(env->mdb, &info);
    pthread_rwlock_unlock(&env->remap);
    if (rc)
        return store_err(rc);
    *out = (uint64_t)info.me_last_txnid;
    return 0;
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

void store_txn_reset(spfdb_txn *t)
{
    mdb_txn_reset(t->mdb);
    t->live = 0;
    t->cur_stale = ~0u;
    pthread_rwlock_unlock(&t->env->remap);
}

void store_txn_close(spfdb_txn *t)
{
    for (int i = 0; i < DB_COUNT; i++)
        if (t->cur[i])
            mdb_cursor_close(t->cur[i]);
    if (t->live)
        store_txn_end(t, 0);
    else
        mdb_txn_abort(t->mdb);
}
