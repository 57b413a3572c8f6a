/* hold_reader DIR: keep a read transaction open on the LMDB environment in
 * DIR, as a running older spfdbd would, until standard input closes.
 * Prints "ready" once it holds it. */
#include <lmdb.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    MDB_env *env;
    MDB_txn *txn;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: hold_reader DIR\n");
        return 2;
    }
    rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, 16);
    if (rc == 0)
        rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        fprintf(stderr, "hold_reader: %s\n", mdb_strerror(rc));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (getchar() != EOF)
        ;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}
