/* test_netguard.c - src/server/netguard: which addresses count as public,
 * range edges on both sides, IPv4 inside IPv6 in each of its forms, and the
 * operator's switch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static int public_addr(const char *text)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    memset(&in, 0, sizeof in);
    memset(&in6, 0, sizeof in6);
    if (inet_pton(AF_INET, text, &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        return netguard_public((const struct sockaddr *)&in);
    }
    assert_int_equal(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
    in6.sin6_family = AF_INET6;
    return netguard_public((const struct sockaddr *)&in6);
}

static void expect_all(const char *const *addrs, size_t n, int want_public)
{
    for (size_t i = 0; i < n; i++)
        if (public_addr(addrs[i]) != want_public)
            fail_msg("%s counted as %s", addrs[i], want_public ? "private" : "public");
}

static void test_ipv4(void **state)
{
    (void)state;
    static const char *const blocked[] = {
        "0.0.0.0",         "0.255.255.255",  "10.0.0.1",        "10.255.255.255",  "100.64.0.1",
        "100.127.255.255", "127.0.0.1",      "127.1.2.3",       "169.254.169.254", "172.16.0.1",
        "172.31.255.255",  "192.0.0.8",      "192.0.2.1",       "192.88.99.1",     "192.168.1.1",
        "198.18.0.1",      "198.19.255.255", "198.51.100.7",    "203.0.113.9",     "224.0.0.1",
        "239.255.255.250", "240.0.0.1",      "255.255.255.255",
    };
    static const char *const open[] = {
        "1.1.1.1",        "8.8.8.8",         "9.255.255.255", "11.0.0.0",    "100.63.255.255",
        "100.128.0.0",    "126.255.255.255", "128.0.0.1",     "169.253.0.1", "169.255.0.1",
        "172.15.255.255", "172.32.0.0",      "192.0.1.1",     "192.0.3.0",   "192.167.255.255",
        "192.169.0.0",    "198.17.255.255",  "198.20.0.0",    "203.0.114.1", "223.255.255.255",
    };
    expect_all(blocked, sizeof blocked / sizeof *blocked, 0);
    expect_all(open, sizeof open / sizeof *open, 1);
}

static void test_ipv6(void **state)
{
    (void)state;
    static const char *const blocked[] = {
        "::",
        "::1",
        "::127.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "64:ff9b::10.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
        "100::1",
        "2001::1",
        "2001:1ff:ffff::1",
        "2001:db8::1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "ff02::1",
        "ff05::1:3",
    };
    static const char *const open[] = {
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "2001:200::1",
        "2a00:1450::1",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
        "fbff::1",
        "fe7f::1",
        "2001:db9::1",
    };
    expect_all(blocked, sizeof blocked / sizeof *blocked, 0);
    expect_all(open, sizeof open / sizeof *open, 1);
}

static void test_other_families(void **state)
{
    (void)state;
    struct sockaddr sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_family = AF_UNIX;
    assert_false(netguard_public(&sa));
    assert_false(netguard_public(NULL));
}

static void test_operator_switch(void **state)
{
    (void)state;
    unsetenv("CAREDESK_ALLOW_PRIVATE_TARGETS");
    assert_false(netguard_allow_private_from_env());
    setenv("CAREDESK_ALLOW_PRIVATE_TARGETS", "0", 1);
    assert_false(netguard_allow_private_from_env());
    setenv("CAREDESK_ALLOW_PRIVATE_TARGETS", "yes please", 1);
    assert_false(netguard_allow_private_from_env());
    setenv("CAREDESK_ALLOW_PRIVATE_TARGETS", "1", 1);
    assert_true(netguard_allow_private_from_env());
    unsetenv("CAREDESK_ALLOW_PRIVATE_TARGETS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_other_families),
        cmocka_unit_test(test_operator_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
