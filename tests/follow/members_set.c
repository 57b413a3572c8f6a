/* members_set: make an allocation's members exactly the ones named, in
 * one spfdb_write (spfdb_alloc_set_members), for the integration tests
 * that need member links on a primary without spfdb-ctl's own command.
 *
 *   members_set DB ALLOC [MEMBER...]      no MEMBER: none
 *
 * Exits 0, or 1 naming the error (and the rule's detail) on stderr. */
#include <stdio.h>
#include <string.h>

#include "spfdb.h"

struct job {
    const char *alloc;
    const char *const *members;
    size_t n;
    struct spfdb_why why;
};

static int set_fn(spfdb_txn *t, void *arg)
{
    struct job *j = arg;

    memset(&j->why, 0, sizeof j->why);
    return spfdb_alloc_set_members(t, j->alloc, j->members, j->n, &j->why);
}

int main(int argc, char **argv)
{
    struct job j;
    spfdb_env *env;
    int rc;

    if (argc < 3) {
        fprintf(stderr, "usage: members_set DB ALLOC [MEMBER...]\n");
        return 2;
    }
    j.alloc = argv[2];
    j.members = (const char *const *)(argv + 3);
    j.n = (size_t)(argc - 3);
    if ((rc = spfdb_env_open(argv[1], &env)) != 0) {
        fprintf(stderr, "members_set: %s: %s\n", argv[1], spfdb_strerror(rc));
        return 1;
    }
    rc = spfdb_env_set_origin(env, NULL, "members_set");
    if (rc == 0)
        rc = spfdb_write(env, set_fn, &j);
    spfdb_env_close(env);
    if (rc != 0) {
        fprintf(stderr, "members_set: %s: %s (rule %d %s)\n", j.alloc, spfdb_strerror(rc),
                j.why.rule, j.why.other);
        return 1;
    }
    return 0;
}
