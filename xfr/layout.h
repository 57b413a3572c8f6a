/* layout.h: the transfer zone's records, layout 1 (docs/transfer-zone.md,
 * SPEC §5): render the database's objects as DNS records, and parse such
 * records back into objects.
 *
 * Pure functions over caller buffers: no allocation, no sockets, no LMDB,
 * no global state; any thread.  The contract with secondaries is the
 * bytes: a change to what xfr_put_* writes breaks their exact deletions,
 * so it needs layout 2 (tests/xfr/layout-v1.wire freezes it).
 *
 * Rendering appends one record (class IN, TTL 0) at out->len and never
 * touches the message header: the caller counts records.  On an error
 * nothing is written.  Names are written in full, or, when the caller
 * gives the offset of the transfer zone's name in the buffer (the echoed
 * question), compressed against it and against the last `<alloc>.a`.
 * Inputs are the database's own, valid, lowercase names.
 *
 * Parsing takes one record as read from a message (rr.h) and returns the
 * object, or a precise error.  Owners and names are compared ignoring
 * case and returned in lowercase.  It checks what one record can show
 * (syntax, lengths, settings, that an entry's owner matches its APL);
 * rules over the whole set (no nesting, NS hosts outside served zones,
 * `default` and `_spfdb` present, members one level deep) are the
 * caller's.
 */
#ifndef SPFDB_XFR_LAYOUT_H
#define SPFDB_XFR_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "rr.h"
#include "spfdb.h" /* struct spfdb_zone, struct spfdb_prefix, limits; no LMDB */

#define XFR_LAYOUT_VERSION 1
/* Characters of the transfer zone's name: a 188-character zone's owner,
 * 188 + ".z." + 62, fits 255 octets. */
#define XFR_ORIGIN_MAX 62
#define XFR_PLABEL_MAX 43  /* "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff-128" */
#define XFR_NS_DEFAULT "primary.invalid"
#define XFR_SOA_RNAME "hostmaster.invalid"
#define XFR_SOA_REFRESH 300
#define XFR_SOA_RETRY 60
#define XFR_SOA_EXPIRE 1209600
#define XFR_SOA_MINIMUM 0
/* As spfdb-ctl's zone add (SPEC §2). */
#define XFR_PROVIDER_MAX 120
#define XFR_DELEGATED_MAX 188
#define XFR_TTL_MAX 604800
#define XFR_NEG_TTL_MAX 86400

enum {
    XFR_OK = 0,
    XFR_ENOSPACE = -1,     /* render: the buffer cannot hold the record */
    XFR_EINVAL = -2,       /* render: a name or value no database holds */
    XFR_EOUTSIDE = -3,     /* owner not in the transfer zone */
    XFR_ECLASS = -4,       /* class other than IN */
    XFR_EOWNER = -5,       /* owner fits no layout-1 name */
    XFR_ETYPE = -6,        /* a type that does not belong at this owner */
    XFR_ERDATA = -7,       /* RDATA cut short, trailing octets, a bad name in it */
    XFR_ELAYOUT = -8,      /* `_spfdb` names another layout: upgrade this follower */
    XFR_ETXT = -9,         /* TXT strings other than the layout's */
    XFR_EALLOC = -10,      /* bad allocation name */
    XFR_EZONE = -11,       /* bad zone name, or too long for its kind */
    XFR_ESET_UNKNOWN = -12, /* zone TXT: an unknown setting */
    XFR_ESET_DUP = -13,    /* zone TXT: a setting given twice */
    XFR_ESET_MISSING = -14, /* zone TXT: a setting missing */
    XFR_ESET_VALUE = -15,  /* zone TXT: a bad ttl, negative-ttl, hostmaster or allocation value */
    XFR_ENS = -16,         /* zone TXT: a bad, repeated, missing or 17th NS host */
    XFR_EMEMBER = -17,     /* PTR target not `<member>.a.<xfr>.`, or a self-member */
    XFR_EAPL_FAMILY = -18, /* APL address family other than 1 and 2 */
    XFR_EAPL_NEG = -19,    /* APL with the negation bit */
    XFR_EAPL_ITEMS = -20,  /* APL with no item or several */
    XFR_EAPL_LENGTH = -21, /* prefix length or AFDLENGTH out of range */
    XFR_EAPL_HOSTBITS = -22, /* address bits set past the prefix length */
    XFR_EAPL_MAPPED = -23, /* an IPv4-mapped IPv6 prefix (stored as IPv4) */
    XFR_EAPL_OWNER = -24,  /* the owner's first label is not the APL's prefix */
    XFR_EORDER = -25,      /* out.h: a record out of its transfer's order */
    XFR_ETOOBIG = -26      /* out.h: a record larger than an empty message */
};
const char *xfr_strerror(int err);

/* The transfer zone's name. */
struct xfr_origin {
    uint8_t name[XFR_NAME_MAX]; /* wire form, lowercase */
    size_t len;
};
/* From text (at most 62 characters, the trailing dot not counted): 0 or
 * XFR_EINVAL. */
int xfr_origin_set(struct xfr_origin *o, const char *text);

/* ---- rendering ---- */

struct xfr_out {
    uint8_t *buf;
    size_t cap, len;                 /* records go at len */
    const struct xfr_origin *origin;
    uint16_t origin_ptr;             /* where the origin's name sits in buf; 0: no compression */
    uint16_t alloc_ptr;              /* private: where `<alloc>.a.<xfr>` was last written */
    char alloc[SPFDB_LABEL_MAX + 1]; /* private: that allocation */
};
/* ORIGIN_PTR: the offset of ORIGIN's name in BUF (below 0x4000), or 0 to
 * write every name in full. */
void xfr_out_init(struct xfr_out *out, const struct xfr_origin *origin, uint8_t *buf, size_t cap,
                  size_t len, size_t origin_ptr);

/* Each appends one record and returns 0, XFR_ENOSPACE or XFR_EINVAL. */
/* `<xfr> SOA <ns>. hostmaster.invalid. SERIAL 300 60 1209600 0` */
int xfr_put_soa(struct xfr_out *out, const char *ns, uint32_t serial);
/* `<xfr> NS <ns>.` */
int xfr_put_ns(struct xfr_out *out, const char *ns);
/* `_spfdb.<xfr> TXT "layout=1"` */
int xfr_put_layout(struct xfr_out *out);
/* `<zone>.z.<xfr> TXT "allocation=A" "ttl=S" "negative-ttl=S" "hostmaster=M" "ns1." ...` */
int xfr_put_zone(struct xfr_out *out, const struct spfdb_zone *z);
/* `<alloc>.a.<xfr> TXT "allocation"` */
int xfr_put_alloc(struct xfr_out *out, const char *alloc);
/* `<member>.m.<alloc>.a.<xfr> PTR <member>.a.<xfr>.` */
int xfr_put_member(struct xfr_out *out, const char *alloc, const char *member);
/* `<plabel>.<alloc>.a.<xfr> APL 1:a.b.c.d/n` (or 2:x::/n) */
int xfr_put_entry(struct xfr_out *out, const char *alloc, const struct spfdb_prefix *p);

/* An entry's owner label: its text with '.', ':' and '/' as '-'
 * ("198-51-100-0-24", "2001-db8---32").  Returns its length. */
size_t xfr_plabel(const struct spfdb_prefix *p, char out[XFR_PLABEL_MAX + 1]);

/* ---- parsing ---- */

enum xfr_kind {
    XFR_IGNORE = 0, /* the apex NS, DNSSEC records: nothing to apply */
    XFR_SOA,
    XFR_LAYOUT,
    XFR_ZONE,
    XFR_ALLOC,
    XFR_MEMBER,
    XFR_ENTRY
};

struct xfr_soa {
    uint32_t serial, refresh, retry, expire, minimum;
};

/* Only the member for KIND is set; the others keep what they held. */
struct xfr_obj {
    enum xfr_kind kind;
    union {
        struct xfr_soa soa;     /* XFR_SOA */
        unsigned layout;        /* XFR_LAYOUT: 1 */
        struct spfdb_zone zone; /* XFR_ZONE: alloc_id 0, the allocation's name in zone.alloc */
        struct {
            char alloc[SPFDB_LABEL_MAX + 1];
        } alloc;                /* XFR_ALLOC */
        struct {
            char alloc[SPFDB_LABEL_MAX + 1];
            char member[SPFDB_LABEL_MAX + 1];
        } member;               /* XFR_MEMBER: MEMBER counts as ALLOC's */
        struct {
            char alloc[SPFDB_LABEL_MAX + 1];
            struct spfdb_prefix prefix;
        } entry;                /* XFR_ENTRY */
    };
};

/* Any object as its record, XFR_IGNORE standing for the apex NS; NS is
 * the name the SOA and NS records carry.  As the xfr_put_* above. */
int xfr_put_obj(struct xfr_out *out, const char *ns, const struct xfr_obj *o);

/* Parse RR (from xfr_rr_read: names in its RDATA may point into
 * rr->msg) as a record of ORIGIN's layout-1 zone.  0 with OUT->kind set,
 * or a negative XFR_E* code. */
int xfr_parse(const struct xfr_origin *origin, const struct xfr_rr *rr, struct xfr_obj *out);

#endif
