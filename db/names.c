/* names.c: allocation, zone and host names, and mailboxes (names.h). */
#include "names.h"
#include "rules.h" /* the limits */
#include "text.h"

#include <stdio.h>
#include <string.h>


static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int spfdb_alloc_name_norm(const char *s, char *out, size_t cap, char *msg, size_t msgcap)
{
    size_t n = strlen(s);

    if (n == 0)
        return spfdb_text_fail(msg, msgcap, "empty allocation name");
    if (n > 63)
        return spfdb_text_fail(msg, msgcap, "allocation name longer than 63 characters");
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return spfdb_text_fail(msg, msgcap,
                                   "allocation name may hold only letters, digits and '-'");
    if (s[0] == '-' || s[n - 1] == '-')
        return spfdb_text_fail(msg, msgcap, "allocation name may not begin or end with '-'");
    if (cap <= n)
        return spfdb_text_fail(msg, msgcap, "allocation name too long for buffer");
    for (size_t i = 0; i <= n; i++)
        out[i] = lower(s[i]);
    return 0;
}

int spfdb_dns_name_norm(const char *s, size_t maxlen, char *out, size_t cap, char *msg,
                        size_t msgcap)
{
    size_t n = strlen(s), label = 0;

    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0)
        return spfdb_text_fail(msg, msgcap, "empty name");
    if (maxlen > SPFDB_HOST_MAX)
        maxlen = SPFDB_HOST_MAX;
    if (n > maxlen)
        return spfdb_text_fail(msg, msgcap, "name longer than %zu characters", maxlen);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return spfdb_text_fail(msg, msgcap, "empty label in name");
            label = 0;
            continue;
        }
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_')
            return spfdb_text_fail(msg, msgcap,
                                   "name may hold only letters, digits, '-', '_' and '.'");
        if (++label > 63)
            return spfdb_text_fail(msg, msgcap, "label longer than 63 characters");
    }
    if (label == 0)
        return spfdb_text_fail(msg, msgcap, "empty label in name");
    if (cap <= n)
        return spfdb_text_fail(msg, msgcap, "name too long for buffer");
    for (size_t i = 0; i < n; i++)
        out[i] = lower(s[i]);
    out[n] = '\0';
    return 0;
}

int spfdb_mailbox_norm(const char *s, char *out, size_t cap, char *msg, size_t msgcap)
{
    static const char atext[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789!#$%&'*+/=?^_`{|}~-.";
    char domain[SPFDB_HOST_MAX + 1];
    const char *at = strchr(s, '@'), *dots = strstr(s, "..");
    size_t l = at ? (size_t)(at - s) : 0, n;

    if (!at || strchr(at + 1, '@'))
        return spfdb_text_fail(msg, msgcap, "expected local@domain");
    if (l == 0 || l > 63)
        return spfdb_text_fail(msg, msgcap, "the local part must hold 1 to 63 characters");
    if (strspn(s, atext) < l || s[0] == '.' || s[l - 1] == '.' || (dots && dots < at))
        return spfdb_text_fail(msg, msgcap,
                               "the local part must be letters, digits and "
                               "!#$%%&'*+/=?^_`{|}~- separated by single dots");
    if (spfdb_dns_name_norm(at + 1, SPFDB_HOST_MAX, domain, sizeof domain, msg, msgcap) != 0)
        return SPFDB_EINVAL;
    n = l + 1 + strlen(domain);
    if (n > SPFDB_NAME_MAX)
        return spfdb_text_fail(msg, msgcap, "too long");
    if (cap <= n)
        return spfdb_text_fail(msg, msgcap, "mailbox too long for buffer");
    memcpy(out, s, l + 1);
    memcpy(out + l + 1, domain, n - l);
    return 0;
}

/* A single-label NS host has no parent to take: the mailbox then uses the
 * host name itself. */
int spfdb_hostmaster(const char *hostmaster, const char *ns1, char *out, size_t cap)
{
    const char *dom;
    int n;

    if (hostmaster && hostmaster[0]) {
        n = snprintf(out, cap, "%s", hostmaster);
    } else {
        if (!ns1 || !ns1[0])
            return SPFDB_EINVAL;
        dom = strchr(ns1, '.');
        dom = dom && dom[1] ? dom + 1 : ns1;
        n = snprintf(out, cap, "hostmaster@%s", dom);
    }
    return n < 0 || (size_t)n >= cap ? SPFDB_EINVAL : 0;
}

int spfdb_stored_name_check(const char *s, size_t maxlen, char *msg, size_t msgcap)
{
    char norm[SPFDB_NAME_MAX + 1];

    if (spfdb_dns_name_norm(s, maxlen, norm, sizeof norm, msg, msgcap) != 0)
        return SPFDB_EINVAL;
    if (strcmp(norm, s) != 0)
        return spfdb_text_fail(msg, msgcap, "not lowercase without a trailing dot");
    return 0;
}

int spfdb_stored_mailbox_check(const char *s, char *msg, size_t msgcap)
{
    char norm[SPFDB_NAME_MAX + 1];

    if (strlen(s) > SPFDB_NAME_MAX)
        return spfdb_text_fail(msg, msgcap, "too long");
    if (spfdb_mailbox_norm(s, norm, sizeof norm, msg, msgcap) != 0)
        return SPFDB_EINVAL;
    if (strcmp(norm, s) != 0)
        return spfdb_text_fail(msg, msgcap, "domain not lowercase without a trailing dot");
    return 0;
}

size_t spfdb_escape(char *dst, size_t cap, const void *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = s;
    size_t o = 0;

    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            if (o + 1 >= cap)
                break;
            dst[o++] = (char)c;
        } else {
            if (o + 4 >= cap)
                break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = '\0';
    return o;
}
