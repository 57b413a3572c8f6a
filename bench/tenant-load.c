/* tenant-load: load a multi-tenant dataset (bench/gen-tenants) into a
 * database in one transaction, for the benchmarks.
 *
 *   tenant-load DBDIR < tenants.txt
 *
 * Input: 'ALLOCATION PREFIX' per line, grouped by allocation, each
 * allocation's prefixes sorted (as gen-tenants writes them).  Each new
 * allocation is made; its prefixes are added (a repeat is skipped).  The
 * database must exist (spfdb-ctl makes it and the zone); one durable
 * commit.  Prints the allocations and entries loaded and the time taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prefix.h"
#include "spfdb.h"

struct load {
    FILE *in;
    unsigned long allocs, entries;
};

static int load_fn(spfdb_txn *t, void *arg)
{
    struct load *l = arg;
    char line[256], cur[SPFDB_LABEL_MAX + 1] = "";
    uint32_t id = 0;
    int rc;

    rewind(l->in); /* the callback runs again when the map grows */
    l->allocs = l->entries = 0;
    while (fgets(line, sizeof line, l->in) != NULL) {
        char *sp = strchr(line, ' '), *end = line + strcspn(line, "\r\n");
        struct spfdb_prefix p;

        *end = '\0';
        if (sp == NULL || sp - line > SPFDB_LABEL_MAX) {
            fprintf(stderr, "tenant-load: bad line: %s\n", line);
            return SPFDB_EINVAL;
        }
        *sp = '\0';
        if (strcmp(line, cur) != 0) {
            rc = spfdb_alloc_add(t, line, &id);
            if (rc != 0) {
                fprintf(stderr, "tenant-load: allocation %s: %s\n", line, spfdb_strerror(rc));
                return rc;
            }
            memcpy(cur, line, (size_t)(sp - line) + 1); /* checked to fit above */
            l->allocs++;
        }
        if (spfdb_prefix_parse(sp + 1, strlen(sp + 1), &p, NULL, NULL, 0) != 0) {
            fprintf(stderr, "tenant-load: bad prefix: %s\n", sp + 1);
            return SPFDB_EINVAL;
        }
        rc = spfdb_entry_add_flags(t, id, &p, SPFDB_ENTRY_WIDE, NULL);
        if (rc == SPFDB_EEXIST)
            continue;
        if (rc != 0) {
            fprintf(stderr, "tenant-load: %s %s: %s\n", cur, sp + 1, spfdb_strerror(rc));
            return rc;
        }
        l->entries++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct load l = {0};
    struct timespec a, b;
    spfdb_env *env;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: tenant-load DBDIR < tenants.txt\n");
        return 2;
    }
    /* stdin may be a pipe: the callback may need to read it twice */
    l.in = tmpfile();
    if (l.in == NULL) {
        perror("tenant-load: tmpfile");
        return 1;
    }
    for (int c; (c = getchar()) != EOF;)
        if (putc(c, l.in) == EOF) {
            perror("tenant-load: tmpfile");
            return 1;
        }
    rc = spfdb_env_open(argv[1], &env);
    if (rc != 0) {
        fprintf(stderr, "tenant-load: %s: %s\n", argv[1], spfdb_strerror(rc));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    rc = spfdb_write(env, load_fn, &l);
    clock_gettime(CLOCK_MONOTONIC, &b);
    spfdb_env_close(env);
    if (rc != 0) {
        fprintf(stderr, "tenant-load: %s\n", spfdb_strerror(rc));
        return 1;
    }
    printf("%lu allocations, %lu entries, %.3f s\n", l.allocs, l.entries,
           (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    fclose(l.in);
    return 0;
}
