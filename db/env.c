/* env.c: the bottom layer: the LMDB environment, transactions and their
 * failure modes (spfdb.h "Rules"), errors and cursors (env.h). */
#define _GNU_SOURCE /* O_PATH */
#include "bytes.h"
#include "env.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
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

/* Nothing planted in the database directory may make this process write
 * or truncate a file outside it (SPEC §3).  LMDB opens data.mdb and
 * lock.mdb by path, creating, extending and overwriting what it finds
 * there, symlinks followed, and a check of the names before it opens them
 * is a race that anyone who can change the directory wins.  So the
 * directory must be one that no other account can change:
 *  - not writable by its group or by others (with an ACL, the group bits
 *    are its mask: no named user or group can write either);
 *  - owned by the process's user or by root.  Root opens a directory of
 *    another owner as that owner (fsid_switch below), so a link that
 *    owner planted reaches only what it could write anyway.
 * Then nobody but this process's user (or root) can plant anything, and
 * LMDB is pointed at the directory checked, through /proc/self/fd, so a
 * directory swapped for another by path (a writable parent) is never
 * opened.  data.mdb and lock.mdb must moreover be regular files with no
 * other name (a hard link to a file elsewhere): a mistake, or an older
 * layout's plant, refused before LMDB sees it. */
static int dir_trusted(const struct stat *d)
{
    uid_t me = geteuid();

    if (d->st_mode & (S_IWGRP | S_IWOTH))
        return SPFDB_EUNSAFE;
    return me == 0 || d->st_uid == 0 || d->st_uid == me ? 0 : SPFDB_EUNSAFE;
}

static int files_regular(int dfd, int rdonly)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    struct stat st;

    for (unsigned i = 0; i < 2; i++) {
        if (fstatat(dfd, files[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                return store_err(errno);
            /* a reader never creates a database */
            if (rdonly && i == 0)
                return SPFDB_ENODB;
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
            return SPFDB_ENOTREG;
        if (rdonly && i == 0 && st.st_size == 0)
            return SPFDB_ENODB; /* LMDB would write its first pages */
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

/* DFD's path through this process's descriptor table, for LMDB: 0 when it
 * leads to DFD's directory itself (/proc is mounted), else SPFDB_EIO. */
static int fd_path(int dfd, const struct stat *dst, char *path, size_t cap)
{
    struct stat st;

    snprintf(path, cap, "/proc/self/fd/%d", dfd);
    if (stat(path, &st) != 0 || st.st_dev != dst->st_dev || st.st_ino != dst->st_ino)
        return SPFDB_EIO;
    return 0;
}

/* Create the files 0660 whatever the umask (issue 4: readers need write
 * access to lock.mdb through the group), as the directory's owner when
 * root; a setgid directory gives them its group.  RDONLY: data.mdb is
 * opened read-only (MDB_RDONLY) and never created. */
static int env_open_files(MDB_env *mdb, int dfd, const struct stat *dst, int rdonly)
{
    int as_owner = geteuid() == 0 && (dst->st_uid != 0 || dst->st_gid != getegid());
    char path[64];
    mode_t old;
    int rc;

    if ((rc = dir_trusted(dst)) != 0 || (rc = fd_path(dfd, dst, path, sizeof path)) != 0)
        return rc;
    if (as_owner && fsid_switch(dst->st_uid, dst->st_gid) != 0) {
        if (fsid_restore() != 0)
            abort(); /* must not go on as someone else */
        return SPFDB_EACCES;
    }
    rc = files_regular(dfd, rdonly);
    if (rc == 0) {
        old = umask(0);
        umask(old & 0007);
        rc = store_err(mdb_env_open(mdb, path, MDB_NOTLS | (rdonly ? MDB_RDONLY : 0), 0660));
        umask(old);
    }
    if (as_owner && fsid_restore() != 0)
        abort();
    return rc;
}

/* The directory, opened once: every later step is on this inode. */
static int dir_open(const char *dir, struct stat *st)
{
    /* O_PATH: search permission is enough, as for a path */
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return errno == EACCES                      ? SPFDB_EACCES
               : errno == ENOENT || errno == ENOTDIR ? SPFDB_ENODIR
                                                    : SPFDB_EIO;
    if (fstat(fd, st) != 0) {
        close(fd);
        return SPFDB_EIO;
    }
    return fd;
}

int store_env_create(const char *dir, int rdonly, spfdb_env **out)
{
    struct stat st;
    pthread_rwlockattr_t attr;
    spfdb_env *env;
    int rc, dfd = dir_open(dir, &st);

    if (dfd < 0)
        return dfd;
    env = calloc(1, sizeof *env);
    if (!env) {
        close(dfd);
        return SPFDB_ENOMEM;
    }
    env->rdonly = rdonly;
    /* A waiting remap must not starve behind a stream of renewing readers. */
    if (pthread_rwlockattr_init(&attr) != 0) {
        close(dfd);
        free(env);
        return SPFDB_ENOMEM;
    }
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(&env->remap, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc) {
        close(dfd);
        free(env);
        return SPFDB_ENOMEM;
    }
    if (pthread_mutex_init(&env->ix_lock, NULL) != 0) {
        close(dfd);
        pthread_rwlock_destroy(&env->remap);
        free(env);
        return SPFDB_ENOMEM;
    }
    if (pthread_mutex_init(&env->damage_lock, NULL) != 0) {
        close(dfd);
        pthread_mutex_destroy(&env->ix_lock);
        pthread_rwlock_destroy(&env->remap);
        free(env);
        return SPFDB_ENOMEM;
    }
    rc = mdb_env_create(&env->mdb);
    if (rc) {
        close(dfd);
        pthread_mutex_destroy(&env->damage_lock);
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
    rc = rc ? store_err(rc) : env_open_files(env->mdb, dfd, &st, rdonly);
    close(dfd); /* LMDB holds its own descriptors */
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
    pthread_mutex_destroy(&env->damage_lock);
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

int store_bad_name(spfdb_txn *t, const char *desc)
{
    spfdb_env *env = t->env;

    if (pthread_mutex_lock(&env->damage_lock) == 0) {
        snprintf(env->damage, sizeof env->damage, "%s", desc);
        pthread_mutex_unlock(&env->damage_lock);
    }
    return SPFDB_EBADNAME;
}

int store_bad_name_of(spfdb_txn *t, const char *what, const void *name, size_t n)
{
    char esc[4 * SPFDB_NAME_MAX + 1], desc[sizeof esc + 64];

    spfdb_escape(esc, sizeof esc, name, n > SPFDB_NAME_MAX ? SPFDB_NAME_MAX : n);
    snprintf(desc, sizeof desc, "%s \"%s\"%s", what, esc, n > SPFDB_NAME_MAX ? "..." : "");
    return store_bad_name(t, desc);
}

int store_walk_skip(spfdb_txn *t, int rc)
{
    spfdb_env *env = t->env;
    char desc[sizeof env->damage];

    if (rc != SPFDB_EBADNAME || !env->on_damage)
        return rc;
    spfdb_env_damage(env, desc, sizeof desc);
    env->on_damage(desc, env->damage_arg);
    return 0;
}

void spfdb_env_on_damage(spfdb_env *env, spfdb_damage_fn fn, void *arg)
{
    env->on_damage = fn;
    env->damage_arg = arg;
}

int spfdb_env_damage(spfdb_env *env, char *buf, size_t cap)
{
    int found = 0;

    if (cap && pthread_mutex_lock(&env->damage_lock) == 0) {
        snprintf(buf, cap, "%s", env->damage);
        found = env->damage[0] != '\0';
        pthread_mutex_unlock(&env->damage_lock);
    }
    return found;
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
