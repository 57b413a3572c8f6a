/* zonerec.c: the stored form of a zone (zonerec.h). */
#include "bytes.h"
#include "names.h"
#include "zonerec.h"

#include <stdio.h>
#include <string.h>

#define ZONE_VERSION 1
#define FIXED 13 /* version, alloc_id, ttl, neg_ttl */

static size_t put_str(uint8_t *p, const char *s)
{
    size_t n = strlen(s);

    p[0] = (uint8_t)n;
    memcpy(p + 1, s, n);
    return n + 1;
}

size_t zonerec_encode(const struct spfdb_zone *z, uint8_t *b)
{
    size_t n = FIXED;

    b[0] = ZONE_VERSION;
    put_be32(b + 1, z->alloc_id);
    put_be32(b + 5, z->ttl);
    put_be32(b + 9, z->neg_ttl);
    n += put_str(b + n, z->hostmaster);
    b[n++] = (uint8_t)z->n_ns;
    for (unsigned i = 0; i < z->n_ns; i++)
        n += put_str(b + n, z->ns[i]);
    return n;
}

static int get_str(const uint8_t *b, size_t len, size_t *off, char *out, size_t cap)
{
    size_t n;

    if (*off >= len)
        return SPFDB_EFORMAT;
    n = b[*off];
    /* a NUL inside would cut the string read short of the one stored */
    if (n >= cap || *off + 1 + n > len || memchr(b + *off + 1, 0, n))
        return SPFDB_EFORMAT;
    memcpy(out, b + *off + 1, n);
    out[n] = '\0';
    *off += 1 + n;
    return 0;
}

/* Z's names as stored (SPEC §2, the rules spfdb_zone_rules applies on
 * every write; names.h): 0, or SPFDB_EBADNAME with what broke one and the
 * name, escaped, in DESC. */
static int names_check(const struct spfdb_zone *z, char *desc, size_t cap)
{
    char esc[4 * SPFDB_NAME_MAX + 1], zone[4 * SPFDB_NAME_MAX + 1];
    const char *what = NULL, *bad = NULL;

    if (spfdb_stored_name_check(z->name, SPFDB_HOST_MAX, NULL, 0) != 0)
        what = "zone name", bad = z->name;
    for (unsigned i = 0; !what && i < z->n_ns; i++)
        if (spfdb_stored_name_check(z->ns[i], SPFDB_HOST_MAX, NULL, 0) != 0)
            what = "NS host", bad = z->ns[i];
    if (!what && z->hostmaster[0] && spfdb_stored_mailbox_check(z->hostmaster, NULL, 0) != 0)
        what = "hostmaster", bad = z->hostmaster;
    if (!what)
        return 0;
    if (desc && cap) {
        spfdb_escape(esc, sizeof esc, bad, strlen(bad));
        spfdb_escape(zone, sizeof zone, z->name, strlen(z->name));
        if (bad == z->name)
            snprintf(desc, cap, "%s \"%s\"", what, esc);
        else
            snprintf(desc, cap, "%s \"%s\" of zone \"%s\"", what, esc, zone);
    }
    return SPFDB_EBADNAME;
}

/* The record's structure alone (zonerec.h). */
static int decode(const char *name, size_t nlen, const uint8_t *b, size_t len,
                  struct spfdb_zone *z)
{
    size_t off = FIXED;

    memset(z, 0, sizeof *z);
    if (nlen == 0 || nlen > SPFDB_NAME_MAX || memchr(name, 0, nlen) || len < FIXED + 2 ||
        b[0] != ZONE_VERSION)
        return SPFDB_EFORMAT;
    memcpy(z->name, name, nlen);
    z->alloc_id = get_be32(b + 1);
    z->ttl = get_be32(b + 5);
    z->neg_ttl = get_be32(b + 9);
    if (get_str(b, len, &off, z->hostmaster, sizeof z->hostmaster) || off >= len)
        return SPFDB_EFORMAT;
    z->n_ns = b[off++];
    if (z->n_ns > SPFDB_NS_MAX)
        return SPFDB_EFORMAT;
    for (unsigned i = 0; i < z->n_ns; i++)
        if (get_str(b, len, &off, z->ns[i], sizeof z->ns[i]))
            return SPFDB_EFORMAT;
    return off == len ? 0 : SPFDB_EFORMAT;
}

int zonerec_decode_desc(const char *name, size_t nlen, const uint8_t *b, size_t len,
                        struct spfdb_zone *z, char *desc, size_t cap)
{
    int rc = decode(name, nlen, b, len, z);

    return rc ? rc : names_check(z, desc, cap);
}

int zonerec_decode(const char *name, size_t nlen, const uint8_t *b, size_t len,
                   struct spfdb_zone *z)
{
    return decode(name, nlen, b, len, z);
}

void zonerec_text(const struct spfdb_zone *z, char *buf, size_t cap)
{
    size_t o;

    if (cap == 0)
        return;
    o = (size_t)snprintf(buf, cap, "ttl=%u negative-ttl=%u hostmaster=%s ns=", z->ttl,
                         z->neg_ttl, z->hostmaster[0] ? z->hostmaster : "default");
    for (unsigned k = 0; k < z->n_ns && o < cap; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", k ? "," : "", z->ns[k]);
}
