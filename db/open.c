/* open.c: spfdb_env_open: the files (env.h), then the database in them
 * made, checked, or converted from an older format (meta.h, upgrade.h). */
#include "env.h"
#include "meta.h"
#include "store.h"
#include "upgrade.h"

/* Open the named databases and check the format: a new database gets its
 * meta record and "default", an older one the databases it lacks and the
 * conversion. */
static int env_init(spfdb_env *env)
{
    spfdb_txn t = {.env = env};
    int rc;

    /* A reader first: the common case takes no write lock. */
    rc = store_txn_start(&t, MDB_RDONLY);
    if (rc)
        return rc;
    rc = store_open_dbis(&t, 0, 0, DB_COUNT);
    if (rc == 0)
        rc = meta_version(&t);
    if (rc == SPFDB_FORMAT)
        return store_err(store_txn_end(&t, 1)); /* keeps the handles */
    store_txn_end(&t, 0);
    if (rc < 0 && rc != SPFDB_ENOTFOUND)
        return rc;

    t.write = 1;
    rc = store_txn_start(&t, 0);
    if (rc)
        return rc;
    rc = store_open_dbis(&t, 0, 0, DB_LOG);
    if (rc == 0) {
        /* another process made or upgraded it meanwhile, or an older
         * format: give it what it lacks */
        int version = rc = meta_version(&t);
        if (rc > 0 && rc < SPFDB_FORMAT)
            rc = store_alone(env);
        if (rc >= 0)
            rc = store_open_dbis(&t, MDB_CREATE, DB_LOG, DB_COUNT);
        if (rc == 0 && version < SPFDB_FORMAT)
            rc = upgrade_run(&t, (uint32_t)version);
    } else if (rc == SPFDB_ENOTFOUND) {
        rc = store_main_empty(&t);
        if (rc == 1)
            rc = store_open_dbis(&t, MDB_CREATE, 0, DB_COUNT);
        else if (rc == 0)
            rc = SPFDB_EFORMAT;
        if (rc == 0)
            rc = meta_init(&t);
    }
    if (rc) {
        store_txn_end(&t, 0);
        return rc;
    }
    return store_err(store_txn_end(&t, 1));
}

/* A read-only env (spfdb_env_open_ro) converts and creates nothing: the
 * current format with every database, or the reason it is not. */
static int env_check(spfdb_env *env)
{
    spfdb_txn t = {.env = env};
    int rc = store_txn_start(&t, MDB_RDONLY);

    if (rc)
        return rc;
    rc = store_open_dbis(&t, 0, 0, DB_COUNT);
    if (rc == 0)
        rc = meta_version(&t);
    if (rc == SPFDB_FORMAT)
        return store_err(store_txn_end(&t, 1)); /* keeps the handles */
    if (rc == SPFDB_ENOTFOUND && store_main_empty(&t) == 1)
        rc = SPFDB_ENODB; /* made by LMDB, never by spfdb_env_open */
    else if (rc == SPFDB_ENOTFOUND && store_open_dbis(&t, 0, 0, DB_LOG) == 0)
        rc = meta_version(&t); /* formats 1 and 2 lack the later databases */
    if (rc > 0)
        rc = rc < SPFDB_FORMAT ? SPFDB_EOLDFORMAT : SPFDB_EFORMAT;
    store_txn_end(&t, 0);
    return rc < 0 ? rc : SPFDB_EFORMAT;
}

static int env_open(const char *dir, int rdonly, spfdb_env **out)
{
    spfdb_env *env;
    int rc = store_env_create(dir, rdonly, &env);

    if (rc)
        return rc;
    rc = rdonly ? env_check(env) : env_init(env);
    if (rc) {
        spfdb_env_close(env);
        return rc;
    }
    *out = env;
    return 0;
}

int spfdb_env_open(const char *dir, spfdb_env **out)
{
    return env_open(dir, 0, out);
}

int spfdb_env_open_ro(const char *dir, spfdb_env **out)
{
    return env_open(dir, 1, out);
}
