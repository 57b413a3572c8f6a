/* answer_pipe.c: answer_query() (a batch of one) as a filter, for
 * test_dnspython.py.
 *
 * Reads queries from stdin, each as a 2-octet length, a transport octet
 * (0 UDP, 1 TCP) and the message; writes each reply as a 2-octet length
 * and the message (length 0: no reply).  Fixture: provider zone
 * iphmx.example (allocation acme: 198.51.100.7 and 2001:db8::1 listed),
 * SOA mailbox dns.admin@esp.example, serial 1700000000.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "zones.h"

static int covers(void *ctx, uint32_t alloc, int family, const uint8_t *a)
{
    static const uint8_t v4[4] = { 198, 51, 100, 7 };
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    (void)ctx;
    if (alloc != 2)
        return 0;
    return family == 4 ? memcmp(a, v4, 4) == 0 : memcmp(a, v6, 16) == 0;
}

static void covers_many(void *ctx, struct spfdb_query *q, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        q[i].result = covers(ctx, q[i].alloc_id, q[i].family, q[i].addr);
}

int main(void)
{
    static uint8_t q[65535], r[65535];
    struct spfdb_zone z;
    struct zonetab *t = zonetab_new();

    memset(&z, 0, sizeof z);
    strcpy(z.name, "iphmx.example");
    strcpy(z.hostmaster, "dns.admin@esp.example");
    z.ttl = 300;
    z.neg_ttl = 60;
    z.n_ns = 2;
    strcpy(z.ns[0], "ns1.esp.example");
    strcpy(z.ns[1], "ns2.esp.example");
    if (!t || zonetab_add_zone(t, &z) || zonetab_add_alloc(t, "acme", 2)) {
        fprintf(stderr, "answer_pipe: cannot build the zone table\n");
        return 1;
    }
    struct answer_env env = {
        .zones = t, .serial = 1700000000, .covers_many = covers_many, .tcp_idle_100ms = 100
    };
    uint8_t hdr[3];
    while (fread(hdr, 1, 3, stdin) == 3) {
        size_t len = (size_t)hdr[0] << 8 | hdr[1];
        if (fread(q, 1, len, stdin) != len)
            return 1;
        size_t n = answer_query(&env, q, len, r, hdr[2] ? sizeof r : 1232, hdr[2], NULL);
        uint8_t rl[2] = { (uint8_t)(n >> 8), (uint8_t)n };
        if (fwrite(rl, 1, 2, stdout) != 2 || fwrite(r, 1, n, stdout) != n)
            return 1;
    }
    zonetab_free(t);
    return fflush(stdout) == 0 ? 0 : 1;
}
