/* Allocation, zone and host names (db/names.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spfdb.h"

static void test_alloc_names(void **state)
{
    static const char *const bad[] = {"", "-acme", "acme-", "ac_me", "ac.me", "acme.", "ac me",
                                      "acme\n", "\xc3\xa9t\xc3\xa9", "-"};
    char out[64], msg[128], l63[64], l64[65];
    (void)state;
    assert_int_equal(spfdb_alloc_name_norm("Acme-Mail2", out, sizeof out, msg, sizeof msg), 0);
    assert_string_equal(out, "acme-mail2");
    assert_int_equal(spfdb_alloc_name_norm("a", out, sizeof out, NULL, 0), 0);
    assert_int_equal(spfdb_alloc_name_norm("a--b", out, sizeof out, NULL, 0), 0);
    assert_int_equal(spfdb_alloc_name_norm("0", out, sizeof out, NULL, 0), 0);
    memset(l63, 'x', 63);
    l63[63] = '\0';
    memset(l64, 'x', 64);
    l64[64] = '\0';
    assert_int_equal(spfdb_alloc_name_norm(l63, out, sizeof out, NULL, 0), 0);
    assert_int_equal(spfdb_alloc_name_norm(l64, out, sizeof out, msg, sizeof msg), SPFDB_EINVAL);
    assert_int_equal(spfdb_alloc_name_norm(l63, out, 63, NULL, 0), SPFDB_EINVAL); /* cap */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        if (spfdb_alloc_name_norm(bad[i], out, sizeof out, msg, sizeof msg) != SPFDB_EINVAL)
            fail_msg("accepted allocation name \"%s\"", bad[i]);
        assert_true(msg[0] != '\0');
    }
}

static void test_dns_names(void **state)
{
    static const char *const bad[] = {"", ".", "..", "a..b", ".a", "a b", "a/b", "a*b",
                                      "a.b..", "a@b", "\xc3\xa9.com", "a\\.b"};
    char out[300], msg[128], name[300];
    (void)state;
    assert_int_equal(spfdb_dns_name_norm("SPF.Example.COM.", 120, out, sizeof out, msg,
                                         sizeof msg), 0);
    assert_string_equal(out, "spf.example.com");
    assert_int_equal(spfdb_dns_name_norm("_spf.ex-ample.com", 120, out, sizeof out, NULL, 0), 0);
    assert_string_equal(out, "_spf.ex-ample.com");
    assert_int_equal(spfdb_dns_name_norm("com", 120, out, sizeof out, NULL, 0), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (spfdb_dns_name_norm(bad[i], 120, out, sizeof out, msg, sizeof msg) != SPFDB_EINVAL)
            fail_msg("accepted name \"%s\"", bad[i]);
    /* Label of 63 ok, 64 not. */
    memset(name, 'a', 63);
    strcpy(name + 63, ".com");
    assert_int_equal(spfdb_dns_name_norm(name, 120, out, sizeof out, NULL, 0), 0);
    memset(name, 'a', 64);
    strcpy(name + 64, ".com");
    assert_int_equal(spfdb_dns_name_norm(name, 120, out, sizeof out, NULL, 0), SPFDB_EINVAL);
    /* MAXLEN excludes the trailing dot: 120 characters pass, 121 do not. */
    for (int i = 0; i < 120; i++)
        name[i] = i % 10 == 4 ? '.' : 'b';
    name[120] = '\0';
    assert_int_equal(spfdb_dns_name_norm(name, 120, out, sizeof out, NULL, 0), 0);
    strcat(name, ".");
    assert_int_equal(spfdb_dns_name_norm(name, 120, out, sizeof out, NULL, 0), 0);
    assert_int_equal(strlen(out), 120);
    name[120] = 'c';
    assert_int_equal(spfdb_dns_name_norm(name, 120, out, sizeof out, msg, sizeof msg),
                     SPFDB_EINVAL);
    assert_int_equal(spfdb_dns_name_norm(name, 188, out, sizeof out, NULL, 0), 0);
    /* Never beyond 253 characters (255 octets in wire form). */
    for (int i = 0; i < 254; i++)
        name[i] = i % 50 == 49 ? '.' : 'd';
    name[254] = '\0';
    assert_int_equal(spfdb_dns_name_norm(name, 1000, out, sizeof out, NULL, 0), SPFDB_EINVAL);
    name[253] = '\0';
    assert_int_equal(spfdb_dns_name_norm(name, 1000, out, sizeof out, NULL, 0), 0);
    assert_int_equal(spfdb_dns_name_norm("abc.de", 120, out, 6, NULL, 0), SPFDB_EINVAL);
}

static void test_hostmaster(void **state)
{
    char out[300];
    (void)state;
    assert_int_equal(spfdb_hostmaster("", "ns1.example.net", out, sizeof out), 0);
    assert_string_equal(out, "hostmaster@example.net");
    assert_int_equal(spfdb_hostmaster(NULL, "a.b.c.example.net", out, sizeof out), 0);
    assert_string_equal(out, "hostmaster@b.c.example.net");
    assert_int_equal(spfdb_hostmaster("dns.admin@example.org", "ns1.example.net", out,
                                      sizeof out), 0);
    assert_string_equal(out, "dns.admin@example.org");
    assert_int_equal(spfdb_hostmaster("", "localhost", out, sizeof out), 0);
    assert_string_equal(out, "hostmaster@localhost");
    assert_int_equal(spfdb_hostmaster("", "", out, sizeof out), SPFDB_EINVAL);
    assert_int_equal(spfdb_hostmaster("", "ns1.example.net", out, 10), SPFDB_EINVAL);
}

/* A valid DNS name of LEN characters (labels of 48 and dots). */
static void domain_of(char *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = i % 49 == 48 && i + 1 < len ? '.' : 'd';
    out[len] = '\0';
}

/* Each reason of spfdb_mailbox_norm, as spfdb-ctl's --hostmaster words it. */
static void test_mailbox(void **state)
{
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"hostmaster", "expected local@domain"},
        {"a@b@example.org", "expected local@domain"},
        {"@example.org", "the local part must hold 1 to 63 characters"},
        {"a..b@example.org", "the local part must be letters, digits and "
                             "!#$%&'*+/=?^_`{|}~- separated by single dots"},
        {".a@example.org", "the local part must be letters, digits and "
                           "!#$%&'*+/=?^_`{|}~- separated by single dots"},
        {"a b@example.org", "the local part must be letters, digits and "
                            "!#$%&'*+/=?^_`{|}~- separated by single dots"},
        {"a@exa mple.org", "name may hold only letters, digits, '-', '_' and '.'"},
        {"a@", "empty name"},
    };
    char out[256], msg[200], local[70], in[400];
    (void)state;

    assert_int_equal(spfdb_mailbox_norm("First.Last+x@Example.ORG.", out, sizeof out, msg,
                                        sizeof msg), 0);
    assert_string_equal(out, "First.Last+x@example.org"); /* the local part as given */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        assert_int_equal(spfdb_mailbox_norm(bad[i].in, out, sizeof out, msg, sizeof msg),
                         SPFDB_EINVAL);
        assert_string_equal(msg, bad[i].why);
    }
    /* 63 characters of local part, not 64 */
    memset(local, 'l', 64);
    local[63] = '\0';
    snprintf(in, sizeof in, "%s@example.org", local);
    assert_int_equal(spfdb_mailbox_norm(in, out, sizeof out, msg, sizeof msg), 0);
    local[63] = 'l';
    local[64] = '\0';
    snprintf(in, sizeof in, "%s@example.org", local);
    assert_int_equal(spfdb_mailbox_norm(in, out, sizeof out, msg, sizeof msg), SPFDB_EINVAL);
    assert_string_equal(msg, "the local part must hold 1 to 63 characters");
    /* 255 characters in all, not 256: 60 + '@' + a domain of 194, then 195 */
    memset(local, 'l', 60);
    local[60] = '\0';
    for (size_t dlen = 194; dlen <= 195; dlen++) {
        char dom[200];
        domain_of(dom, dlen);
        snprintf(in, sizeof in, "%s@%s", local, dom);
        assert_int_equal(strlen(in), 61 + dlen);
        assert_int_equal(spfdb_mailbox_norm(in, out, sizeof out, msg, sizeof msg),
                         dlen == 194 ? 0 : SPFDB_EINVAL);
    }
    assert_string_equal(msg, "too long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_names),
        cmocka_unit_test(test_dns_names),
        cmocka_unit_test(test_hostmaster),
        cmocka_unit_test(test_mailbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
