/* fuzz_changelog.c: libFuzzer target for a change log record read back
 * from LMDB: its head (log_rec_head), its changes (spfdb_log_next,
 * spfdb_log_zone), and `spfdb-ctl log` printing it (print_record, text and
 * --json, with or without --allocation).
 *
 * cmd_ops.c is included so that its static printer is reached as it is.
 * The first input octet holds the flags.  Raw (bit 0 clear): the next 8
 * octets are the key, the rest the stored value; whatever the walk
 * returns must lie inside the value, and a record that reads to its end
 * must read the same once written again by the change recorders
 * (changelog.h).  Built (bit 0 set): the input is a list of changes given
 * to the recorders, stored in a record, and read back: the same changes.
 * Either way, the --json output must be JSON.  Any violation abort()s.
 */
#include "cmd_ops.c"

#include "bytes.h"
#include "changelog.h"
#include "store.h"
#include "zonerec.h"

#define FUZZ_NAME "fuzz_changelog"
#include "fuzz.h"

#define CHANGES_MAX 64 /* changes compared in a record */

/* ---- a JSON reader (RFC 8259), enough to say the output is JSON ---------- */

struct json {
    const char *p, *end;
};

static void json_ws(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
        j->p++;
}

static int json_value(struct json *j, int depth);

static int json_string(struct json *j)
{
    if (j->p == j->end || *j->p++ != '"')
        return -1;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (j->p == j->end)
                return -1;
            c = (unsigned char)*j->p++;
            if (c == 'u') {
                for (int k = 0; k < 4; k++, j->p++)
                    if (j->p == j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
                        return -1;
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return -1;
            }
        } else if (c >= 0x80) {
            /* UTF-8: ctl_json_str writes only valid sequences */
            size_t n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2
                     : c >= 0xf0 && c <= 0xf4 ? 3 : 9;
            if (n == 9 || (size_t)(j->end - j->p) < n)
                return -1;
            unsigned char c1 = (unsigned char)j->p[0];
            if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
                (c == 0xf4 && c1 > 0x8f))
                return -1;
            for (size_t k = 0; k < n; k++)
                if (((unsigned char)*j->p++ & 0xc0) != 0x80)
                    return -1;
        }
    }
    if (j->p == j->end)
        return -1;
    j->p++;
    return 0;
}

static int json_lit(struct json *j, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

static int json_list(struct json *j, int depth, char close, int keyed)
{
    j->p++;
    json_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (keyed) {
            json_ws(j);
            if (json_string(j))
                return -1;
            json_ws(j);
            if (j->p == j->end || *j->p++ != ':')
                return -1;
        }
        if (json_value(j, depth + 1))
            return -1;
        json_ws(j);
        if (j->p == j->end)
            return -1;
        if (*j->p == close) {
            j->p++;
            return 0;
        }
        if (*j->p++ != ',')
            return -1;
    }
}

static int json_value(struct json *j, int depth)
{
    json_ws(j);
    if (j->p == j->end || depth > 16)
        return -1;
    switch (*j->p) {
    case '{': return json_list(j, depth, '}', 1);
    case '[': return json_list(j, depth, ']', 0);
    case '"': return json_string(j);
    case 't': return json_lit(j, "true");
    case 'f': return json_lit(j, "false");
    case 'n': return json_lit(j, "null");
    default:
        if (*j->p == '-')
            j->p++;
        if (j->p == j->end || *j->p < '0' || *j->p > '9' || (*j->p == '0' && j->p + 1 < j->end &&
                                                           j->p[1] >= '0' && j->p[1] <= '9'))
            return -1;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        return 0;
    }
}

/* ---- printing ------------------------------------------------------------ */

/* print_record as `spfdb-ctl log` calls it, of R (not changed), into
 * memory: text, or JSON wrapped in the listing's brackets; ALLOC NULL for
 * no --allocation.  Returns its result. */
static int print(const struct spfdb_log_rec *r, int json, const char *alloc)
{
    struct log_job j = {.alloc = alloc, .json = json};
    struct spfdb_log_rec copy = *r;
    char *p = NULL;
    size_t n = 0;
    int rc;

    j.f = open_memstream(&p, &n);
    CHECK(j.f != NULL);
    if (json)
        fputs("[", j.f);
    rc = print_record(&copy, &j);
    if (json)
        fputs("\n]\n", j.f);
    CHECK(fclose(j.f) == 0);
    CHECK(rc == 0 || rc == SPFDB_EFORMAT);
    CHECK(j.next == r->seq + 1);
    if (rc == 0 && json) {
        struct json js = {p, p + n};
        CHECK(json_value(&js, 0) == 0);
        json_ws(&js);
        CHECK(js.p == js.end);
    } else if (rc == 0 && !alloc) {
        /* the first line, the head and the command, is escaped whole */
        CHECK(n > 0);
        for (size_t i = 0; i < n && p[i] != '\n'; i++)
            CHECK(p[i] >= 0x20 && p[i] < 0x7f);
        CHECK(memchr(p, '\n', n) != NULL);
    }
    free(p);
    return rc;
}

/* ---- a record as log_commit stores it ------------------------------------ */

static size_t put_string(uint8_t *p, const char *s)
{
    size_t n = strlen(s);

    put_be16(p, (uint16_t)n);
    memcpy(p + 2, s, n + 1);
    return n + 3;
}

/* A version 2 record of T's changes, stamped with the fields given: into
 * a fresh buffer (*LEN octets), freed by the caller. */
static uint8_t *make_record(const spfdb_txn *t, int64_t time, uint32_t before, uint32_t after,
                            const char *user, const char *sudo, const char *cmd, size_t *len)
{
    size_t n = 21 + 3 * 3 + strlen(user) + strlen(sudo) + strlen(cmd) + t->log.len;
    uint8_t *b = malloc(n), *p = b;

    CHECK(b != NULL);
    *p = 2;
    put_be64(p + 1, (uint64_t)time);
    put_be32(p + 9, before);
    put_be32(p + 13, after);
    put_be32(p + 17, t->log.n);
    p += 21;
    p += put_string(p, user);
    p += put_string(p, sudo);
    p += put_string(p, cmd);
    if (t->log.len)
        memcpy(p, t->log.p, t->log.len);
    *len = n;
    return b;
}

/* ---- changes, compared --------------------------------------------------- */

/* A change as the reader gave it, its strings copied, its zones decoded. */
struct change {
    int op;
    char alloc[256], zone[256], member[256];
    struct spfdb_prefix p;
    int has[2];
    struct spfdb_zone z[2];
};

static void copy_str(char *dst, const char *s)
{
    snprintf(dst, 256, "%s", s);
}

static void zone_equal(const struct spfdb_zone *a, const struct spfdb_zone *b)
{
    CHECK(strcmp(a->name, b->name) == 0 && strcmp(a->alloc, b->alloc) == 0 &&
          a->alloc_id == b->alloc_id && a->ttl == b->ttl && a->neg_ttl == b->neg_ttl &&
          strcmp(a->hostmaster, b->hostmaster) == 0 && a->n_ns == b->n_ns);
    for (unsigned i = 0; i < a->n_ns; i++)
        CHECK(strcmp(a->ns[i], b->ns[i]) == 0);
}

static void change_equal(const struct change *a, const struct change *b)
{
    CHECK(a->op == b->op && strcmp(a->alloc, b->alloc) == 0 && strcmp(a->zone, b->zone) == 0 &&
          strcmp(a->member, b->member) == 0 && memcmp(&a->p, &b->p, sizeof a->p) == 0);
    for (int s = 0; s < 2; s++) {
        CHECK(a->has[s] == b->has[s]);
        if (a->has[s])
            zone_equal(&a->z[s], &b->z[s]);
    }
}

/* Is [P, P + N) inside the value V[0..LEN)? */
static int inside(const void *p, size_t n, const uint8_t *v, size_t len)
{
    const uint8_t *q = p;

    return q >= v && q <= v + len && n <= (size_t)(v + len - q);
}

/* A string the reader returned: "" or NUL-terminated inside V. */
static void check_str(const char *s, const uint8_t *v, size_t len)
{
    if (s[0] == '\0' && !inside(s, 1, v, len))
        return; /* a literal "" */
    CHECK(inside(s, strlen(s) + 1, v, len));
}

/* Walk R's changes (R kept) into OUT[0..CHANGES_MAX): their count, or -1
 * when the walk fails; *UNFIT when one cannot be given to the recorders as
 * it was read (a version 1 zone change, a string longer than OUT holds). */
static int walk(const struct spfdb_log_rec *r, const uint8_t *v, size_t len, struct change *out,
                int *unfit)
{
    struct spfdb_log_rec w = *r;
    static struct spfdb_log_change ch;
    int n = 0, rc;

    *unfit = 0;
    for (;;) {
        const uint8_t *before = w.pos;
        rc = spfdb_log_next(&w, &ch);
        CHECK(w.end == r->end && w.pos >= before && w.pos <= w.end);
        if (rc != 1)
            break;
        CHECK(w.pos > before);
        CHECK(ch.op >= SPFDB_LOG_ADD && ch.op <= SPFDB_LOG_MEMBER_DEL);
        check_str(ch.alloc, v, len);
        check_str(ch.zone, v, len);
        if (ch.detail != ch.text)
            check_str(ch.detail, v, len);
        *unfit |= strlen(ch.alloc) > 255 || strlen(ch.zone) > 255 || strlen(ch.member) > 255;
        check_str(ch.member, v, len);
        struct change *c = n < CHANGES_MAX ? &out[n] : NULL;
        if (c) {
            memset(c, 0, sizeof *c);
            c->op = ch.op;
            copy_str(c->alloc, ch.alloc);
            copy_str(c->zone, ch.zone);
            copy_str(c->member, ch.member);
            c->p = ch.p;
        }
        if (ch.op == SPFDB_LOG_ADD || ch.op == SPFDB_LOG_DEL) {
            CHECK(ch.p.family == 4 || ch.p.family == 6);
            CHECK(ch.p.len <= (ch.p.family == 4 ? 32 : 128));
            CHECK(w.ctx != NULL && ch.alloc == w.ctx);
        }
        int zone = ch.op == SPFDB_LOG_ZONE_ADD || ch.op == SPFDB_LOG_ZONE_SET ||
                   ch.op == SPFDB_LOG_ZONE_DEL;
        CHECK(zone || (!ch.zrec[0] && !ch.zrec[1]));
        if (zone && !ch.zrec[0] && !ch.zrec[1])
            *unfit = 1;
        for (int s = 0; s < 2; s++) {
            struct spfdb_zone z;
            int zr = spfdb_log_zone(&ch, s, &z);
            if (!ch.zrec[s]) {
                CHECK(zr == SPFDB_ENOTFOUND);
                continue;
            }
            CHECK(inside(ch.zrec[s], ch.zlen[s], v, len));
            check_str(ch.zalloc[s], v, len);
            CHECK(zr == 0); /* spfdb_log_next decoded it */
            CHECK(strcmp(z.name, ch.zone) == 0 && strcmp(z.alloc, ch.zalloc[s]) == 0);
            if (c) {
                c->has[s] = 1;
                c->z[s] = z;
            }
        }
        if (c && c->has[1]) {
            char text[ZONEREC_TEXT_MAX];
            zonerec_text(&c->z[1], text, sizeof text);
            CHECK(ch.detail == ch.text && strcmp(text, ch.detail) == 0);
        }
        n++;
    }
    CHECK(rc == 0 || rc == SPFDB_EFORMAT);
    CHECK(rc != 0 || w.pos == w.end);
    return rc == 0 ? n : -1;
}

/* Give the changes C[0..N) to the recorders, into T's log. */
static void record(spfdb_txn *t, const struct change *c, int n)
{
    uint32_t id = 0;
    char ctx[256] = "";

    for (int k = 0; k < n; k++) {
        switch (c[k].op) {
        case SPFDB_LOG_ADD: case SPFDB_LOG_DEL:
            if (id == 0 || strcmp(ctx, c[k].alloc) != 0) {
                id++;
                copy_str(ctx, c[k].alloc);
            }
            log_entry(t, id, c[k].alloc, c[k].op == SPFDB_LOG_ADD ? LOG_ADD : LOG_DEL, &c[k].p);
            break;
        case SPFDB_LOG_ALLOC_ADD: case SPFDB_LOG_ALLOC_DEL:
            log_alloc(t, c[k].op == SPFDB_LOG_ALLOC_ADD ? LOG_ADD : LOG_DEL, c[k].alloc);
            break;
        case SPFDB_LOG_MEMBER_ADD: case SPFDB_LOG_MEMBER_DEL:
            log_member(t, c[k].op == SPFDB_LOG_MEMBER_ADD ? LOG_ADD : LOG_DEL, c[k].alloc,
                       c[k].member);
            break;
        default:
            log_zone(t, c[k].has[0] ? &c[k].z[0] : NULL, c[k].has[1] ? &c[k].z[1] : NULL);
        }
    }
    CHECK(t->err == 0);
}

/* Store T's log as a record, read it back: the changes C[0..N). */
static void read_back(spfdb_txn *t, const struct change *c, int n, const char *user,
                      const char *sudo, const char *cmd, int flags)
{
    static struct change again[CHANGES_MAX];
    static const uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 7};
    struct spfdb_log_rec r;
    size_t len;
    int unfit;
    uint8_t *b = make_record(t, 1700000000, 5, 6, user, sudo, cmd, &len);

    CHECK(log_rec_head(key, sizeof key, b, len, &r) == 0);
    CHECK(r.seq == 7 && r.version == 2 && r.serial_before == 5 && r.serial_after == 6 &&
          r.n_changes == (uint32_t)n && r.time == 1700000000);
    CHECK(strcmp(r.user, user) == 0 && strcmp(r.sudo_user, sudo) == 0 &&
          strcmp(r.command, cmd) == 0);
    CHECK(walk(&r, b, len, again, &unfit) == n && !unfit);
    for (int k = 0; k < n; k++)
        change_equal(&c[k], &again[k]);
    CHECK(print(&r, flags >> 1 & 1, flags & 4 ? (n ? c[0].alloc : "default") : NULL) == 0);
    free(b);
}

/* ---- the two modes -------------------------------------------------------- */

static void raw(unsigned flags, const uint8_t *d, size_t size)
{
    static struct change c[CHANGES_MAX];
    size_t klen = size < 8 ? size : 8, len = size - klen;
    uint8_t *key = malloc(klen + 1), *v = malloc(len + 1);
    struct spfdb_log_rec r;
    int n, unfit;

    CHECK(key && v);
    memcpy(key, d, klen);
    memcpy(v, d + klen, len);
    if (log_rec_head(key, klen, v, len, &r) == 0) {
        CHECK(r.version == 1 || r.version == 2);
        CHECK(r.seq == get_be64(key) && r.end == v + len && inside(r.pos, 0, v, len));
        check_str(r.user, v, len);
        check_str(r.sudo_user, v, len);
        check_str(r.command, v, len);
        n = walk(&r, v, len, c, &unfit);
        const char *alloc = NULL;
        if (flags & 4)
            alloc = n > 0 ? c[0].alloc : "default";
        int p = print(&r, flags >> 1 & 1, alloc);
        CHECK(n >= 0 || p == SPFDB_EFORMAT || alloc);
        CHECK(n < 0 || p == 0);
        if (n >= 0 && n <= CHANGES_MAX && !unfit && strlen(r.user) < 256 &&
            strlen(r.sudo_user) < 256 && strlen(r.command) < 256) {
            spfdb_txn t;
            memset(&t, 0, sizeof t);
            record(&t, c, n);
            read_back(&t, c, n, r.user, r.sudo_user, r.command, flags);
            log_free(&t);
        }
    }
    free(key);
    free(v);
}

static uint32_t take32(struct input *in)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v = v << 8 | take8(in);
    return v;
}

static void take_zone(struct input *in, struct spfdb_zone *z, const char *name)
{
    memset(z, 0, sizeof *z);
    snprintf(z->name, sizeof z->name, "%s", name);
    take_str(in, z->alloc, SPFDB_LABEL_MAX, 0);
    z->alloc_id = take32(in);
    z->ttl = take32(in);
    z->neg_ttl = take32(in);
    take_str(in, z->hostmaster, SPFDB_NAME_MAX, 0);
    z->n_ns = take8(in) % (SPFDB_NS_MAX + 1);
    for (unsigned i = 0; i < z->n_ns; i++)
        take_str(in, z->ns[i], SPFDB_NAME_MAX, 0);
}

static void built(unsigned flags, const uint8_t *d, size_t size)
{
    static struct change c[CHANGES_MAX];
    struct input in = {d, size};
    char user[256], sudo[256], cmd[256];
    spfdb_txn t;
    int n = 0;

    take_str(&in, user, 255, 0);
    take_str(&in, sudo, 255, 0);
    take_str(&in, cmd, 255, 0);
    while (in.n && n < CHANGES_MAX) {
        struct change *k = &c[n++];
        unsigned op = take8(&in);
        memset(k, 0, sizeof *k);
        switch (op % 4) {
        case 0:
            k->op = op & 4 ? SPFDB_LOG_DEL : SPFDB_LOG_ADD;
            take_str(&in, k->alloc, 255, 0);
            k->p.family = op & 8 ? 6 : 4;
            k->p.len = (uint8_t)(take8(&in) % (k->p.family == 4 ? 33 : 129));
            for (int i = 0; i < (k->p.family == 4 ? 4 : 16); i++)
                k->p.addr[i] = (uint8_t)take8(&in);
            break;
        case 1:
            k->op = op & 4 ? SPFDB_LOG_ALLOC_DEL : SPFDB_LOG_ALLOC_ADD;
            take_str(&in, k->alloc, 255, 0);
            break;
        case 2:
            k->op = op & 4 ? SPFDB_LOG_MEMBER_DEL : SPFDB_LOG_MEMBER_ADD;
            take_str(&in, k->alloc, 255, 0);
            take_str(&in, k->member, 255, 0);
            break;
        default:
            k->op = (op >> 2) % 3 == 0 ? SPFDB_LOG_ZONE_ADD
                    : (op >> 2) % 3 == 1 ? SPFDB_LOG_ZONE_SET : SPFDB_LOG_ZONE_DEL;
            take_str(&in, k->zone, SPFDB_NAME_MAX, 1);
            k->has[0] = k->op != SPFDB_LOG_ZONE_ADD;
            k->has[1] = k->op != SPFDB_LOG_ZONE_DEL;
            for (int s = 0; s < 2; s++)
                if (k->has[s])
                    take_zone(&in, &k->z[s], k->zone);
            /* the reader's alloc: the new side's, or the old one's on a delete */
            copy_str(k->alloc, k->z[k->has[1] ? 1 : 0].alloc);
        }
    }
    memset(&t, 0, sizeof t);
    record(&t, c, n);
    read_back(&t, c, n, user, sudo, cmd, flags);
    log_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        built(data[0] >> 1 & 7, data + 1, size - 1);
    else
        raw(data[0] >> 1 & 7, data + 1, size - 1);
    return 0;
}
