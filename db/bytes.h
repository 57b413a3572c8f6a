/* bytes.h: unaligned loads and big-endian (network order) fields, shared
 * by libspfdb and the server.  Header-only, pure: no state, no errors.
 * Callers bound every offset before they read; nothing here checks. */
#ifndef SPFDB_BYTES_H
#define SPFDB_BYTES_H

#include <stdint.h>
#include <string.h>

/* Eight octets in host order, from any alignment (one load on x86-64). */
static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* One load and a byte swap: written so, not as shifts of single octets
 * (which GCC merges into the same code, but only after it has sized the
 * caller for inlining, so callers on the lookup path stop being inlined). */
static inline uint32_t get_be32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t get_be64(const uint8_t *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(load64(p));
#else
    return load64(p);
#endif
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* Four one-octet labels in a row, as in an IPv6 %{i} name: the eight
 * octets at P read 1 x 1 x 1 x 1 x exactly when this is 0.  The mask and
 * value are byte arrays read through load64, so it holds in any byte order. */
static inline uint64_t one_octet_labels(const uint8_t *p)
{
    static const uint8_t m[8] = { 0xFF, 0, 0xFF, 0, 0xFF, 0, 0xFF, 0 };
    static const uint8_t v[8] = { 1, 0, 1, 0, 1, 0, 1, 0 };

    return (load64(p) & load64(m)) ^ load64(v);
}

#endif
