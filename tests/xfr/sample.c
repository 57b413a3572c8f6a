/* sample.c: the sample transfer zone (sample.h). */
#include "sample.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"

static struct xfr_obj objs[32];
static size_t n_objs;

static void add(enum xfr_kind kind, const char *alloc, const char *x)
{
    struct xfr_obj *o = &objs[n_objs++];

    memset(o, 0, sizeof *o);
    o->kind = kind;
    switch (kind) {
    case XFR_SOA:
        o->soa = (struct xfr_soa){SAMPLE_SERIAL, XFR_SOA_REFRESH, XFR_SOA_RETRY, XFR_SOA_EXPIRE,
                                  XFR_SOA_MINIMUM};
        break;
    case XFR_LAYOUT:
        o->layout = 1;
        break;
    case XFR_ALLOC:
        strcpy(o->alloc.alloc, alloc);
        break;
    case XFR_MEMBER:
        strcpy(o->member.alloc, alloc);
        strcpy(o->member.member, x);
        break;
    case XFR_ENTRY:
        strcpy(o->entry.alloc, alloc);
        if (spfdb_prefix_parse(x, strlen(x), &o->entry.prefix, NULL, NULL, 0) != 0)
            o->kind = XFR_IGNORE; /* a broken sample fails every comparison */
        break;
    default:
        break;
    }
}

static void add_zone(const char *name, const char *alloc, uint32_t ttl, const char *hm)
{
    struct xfr_obj *o = &objs[n_objs++];

    memset(o, 0, sizeof *o);
    o->kind = XFR_ZONE;
    strcpy(o->zone.name, name);
    strcpy(o->zone.alloc, alloc);
    o->zone.ttl = ttl;
    o->zone.neg_ttl = 60;
    strcpy(o->zone.hostmaster, hm);
    o->zone.n_ns = 2;
    strcpy(o->zone.ns[0], "ns1.iphmx.example");
    strcpy(o->zone.ns[1], "ns2.iphmx.example");
}

size_t sample_objects(const struct xfr_obj **out)
{
    if (n_objs == 0) {
        add(XFR_SOA, NULL, NULL);
        add(XFR_IGNORE, NULL, NULL); /* the apex NS */
        add(XFR_LAYOUT, NULL, NULL);
        add_zone("iphmx.example", "", 300, "");
        add_zone("spf.customer.example", "acme", 600, "dns.admin@customer.example");
        add(XFR_ALLOC, "acme", NULL);
        add(XFR_ENTRY, "acme", "198.51.100.0/24");
        add(XFR_ENTRY, "acme", "2001:db8:1234::/48");
        add(XFR_ALLOC, "default", NULL);
        add(XFR_ENTRY, "default", "0.0.0.0/0");
        add(XFR_ENTRY, "default", "10.0.0.0/8");
        add(XFR_ENTRY, "default", "192.0.2.7/32");
        add(XFR_ENTRY, "default", "192.0.2.128/25");
        add(XFR_ENTRY, "default", "::/0");
        add(XFR_ENTRY, "default", "2001:db8::1/128");
        add(XFR_ALLOC, "eu", NULL);
        add(XFR_ENTRY, "eu", "203.0.113.0/24");
        add(XFR_ALLOC, "global", NULL);
        add(XFR_MEMBER, "global", "eu");
    }
    *out = objs;
    return n_objs;
}

size_t sample_message(uint8_t *buf, size_t cap, int compress)
{
    static const uint8_t head[] = {0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    struct xfr_origin origin;
    struct xfr_out out;
    const struct xfr_obj *o;
    size_t n = sample_objects(&o);
    int r = 0;

    if (cap < sizeof head + XFR_NAME_MAX + 4 || xfr_origin_set(&origin, SAMPLE_ORIGIN) != 0)
        return 0;
    memcpy(buf, head, sizeof head);
    memcpy(buf + sizeof head, origin.name, origin.len);
    put_be16(buf + sizeof head + origin.len, XFR_T_AXFR);
    put_be16(buf + sizeof head + origin.len + 2, XFR_C_IN);
    xfr_out_init(&out, &origin, buf, cap, sizeof head + origin.len + 4, compress ? 12 : 0);
    for (size_t i = 0; i < n && r == 0; i++)
        r = xfr_put_obj(&out, XFR_NS_DEFAULT, &o[i]);
    if (r != 0)
        return 0;
    put_be16(buf + 6, (uint16_t)n);
    return out.len;
}

void sample_obj_text(const struct xfr_obj *o, char *buf, size_t cap)
{
    char p[SPFDB_PREFIX_STRLEN];
    size_t n;

    switch (o->kind) {
    case XFR_SOA:
        snprintf(buf, cap, "soa %u %u %u %u %u", o->soa.serial, o->soa.refresh, o->soa.retry,
                 o->soa.expire, o->soa.minimum);
        return;
    case XFR_LAYOUT:
        snprintf(buf, cap, "layout %u", o->layout);
        return;
    case XFR_ZONE:
        n = (size_t)snprintf(buf, cap, "zone %s alloc=%s ttl=%u neg=%u hostmaster=%s ns=",
                             o->zone.name, o->zone.alloc, o->zone.ttl, o->zone.neg_ttl,
                             o->zone.hostmaster);
        for (unsigned i = 0; i < o->zone.n_ns && n < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", o->zone.ns[i]);
        return;
    case XFR_ALLOC:
        snprintf(buf, cap, "alloc %s", o->alloc.alloc);
        return;
    case XFR_MEMBER:
        snprintf(buf, cap, "member %s %s", o->member.alloc, o->member.member);
        return;
    case XFR_ENTRY:
        spfdb_prefix_format(&o->entry.prefix, p, sizeof p);
        snprintf(buf, cap, "entry %s %s", o->entry.alloc, p);
        return;
    case XFR_IGNORE:
        break;
    }
    snprintf(buf, cap, "ignore");
}
