/* main.c: replay a fuzz corpus through LLVMFuzzerTestOneInput without
 * libFuzzer, so the corpus (seeds and past crashers) runs under ctest with
 * any compiler (cf. Knot's tests-fuzz).  Linked with each fuzz_NAME.c as
 * fuzz_NAME_replay.  Usage: fuzz_NAME_replay DIR|FILE... */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path)
{
    static uint8_t buf[1 << 16];
    FILE *f = fopen(path, "rb");

    if (!f) {
        perror(path);
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "%s: read error\n", path);
        return -1;
    }
    /* A private copy, so that reads past SIZE are caught by ASan. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return -1;
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned files = 0;

    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d && errno == ENOTDIR) { /* one input, e.g. a crash to reproduce */
            if (replay(argv[i]) < 0)
                return 1;
            files++;
            continue;
        }
        if (!d) {
            perror(argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (replay(path) < 0) {
                closedir(d);
                return 1;
            }
            files++;
        }
        closedir(d);
    }
    printf("%s: %u inputs replayed\n", argv[0], files);
    return files > 0 ? 0 : 1; /* an empty corpus tests nothing */
}
