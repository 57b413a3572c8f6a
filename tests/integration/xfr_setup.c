/* xfr_setup: set a transfer zone and a TSIG key in a database, through
 * libspfdb, for the transfer tests (until spfdb-ctl's `key add` and
 * `transfer set` are used instead).
 *
 *   xfr_setup DIR ZONE [KEYNAME BASE64SECRET]...
 *
 * One quiet commit; exit 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nettle/base64.h>

#include "spfdb.h"

struct setup {
    int argc;
    char **argv;
};

static int fill(spfdb_txn *txn, void *arg)
{
    struct setup *s = arg;
    struct spfdb_xfr_zone z = { 0 };
    struct spfdb_why why;
    int rc;

    snprintf(z.name, sizeof z.name, "%s", s->argv[2]);
    rc = spfdb_xfr_zone_set(txn, &z, &why);
    for (int i = 3; rc == 0 && i + 1 < s->argc; i += 2) {
        struct spfdb_key k = { 0 };
        struct base64_decode_ctx b;
        size_t n = sizeof k.secret;
        const char *t = s->argv[i + 1];
        snprintf(k.name, sizeof k.name, "%s", s->argv[i]);
        k.alg = SPFDB_KEY_HMAC_SHA256;
        k.created = time(NULL);
        base64_decode_init(&b);
        if (!base64_decode_update(&b, &n, k.secret, strlen(t), t) || !base64_decode_final(&b))
            return SPFDB_EINVAL;
        k.secret_len = (unsigned)n;
        rc = spfdb_key_add(txn, &k, &why);
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct setup s = { argc, argv };
    spfdb_env *env;
    int rc;

    if (argc < 3 || argc % 2 == 0) {
        fprintf(stderr, "usage: xfr_setup DIR ZONE [KEYNAME BASE64SECRET]...\n");
        return 1;
    }
    rc = spfdb_env_open(argv[1], &env);
    if (rc == 0) {
        rc = spfdb_write(env, fill, &s);
        spfdb_env_close(env);
    }
    if (rc != 0) {
        fprintf(stderr, "xfr_setup: %s\n", spfdb_strerror(rc));
        return 1;
    }
    return 0;
}
