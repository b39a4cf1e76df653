/* netguard.c - see netguard.h. */
#include "server/netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* IPv4 ranges that are not publicly routed (RFC 6890 and its updates),
 * as (network, prefix length), host byte order. */
static const struct {
    uint32_t net;
    int len;
} v4_blocked[] = {
    {0x00000000, 8},  /* "this network", 0.0.0.0 */
    {0x0A000000, 8},  /* private */
    {0x64400000, 10}, /* shared address space (carrier-grade NAT) */
    {0x7F000000, 8},  /* loopback */
    {0xA9FE0000, 16}, /* link-local, cloud metadata */
    {0xAC100000, 12}, /* private */
    {0xC0000000, 24}, /* IETF protocol assignments */
    {0xC0000200, 24}, /* documentation */
    {0xC0586300, 24}, /* 6to4 relay anycast */
    {0xC0A80000, 16}, /* private */
    {0xC6120000, 15}, /* benchmarking */
    {0xC6336400, 24}, /* documentation */
    {0xCB007100, 24}, /* documentation */
    {0xE0000000, 4},  /* multicast */
    {0xF0000000, 4},  /* reserved, broadcast */
};

static int v4_public(uint32_t a)
{
    for (size_t i = 0; i < sizeof v4_blocked / sizeof *v4_blocked; i++) {
        uint32_t mask = 0xFFFFFFFFu << (32 - v4_blocked[i].len);
        if ((a & mask) == v4_blocked[i].net)
            return 0;
    }
    return 1;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int prefix_is(const uint8_t *a, const uint8_t *p, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, p, (size_t)bytes) != 0)
        return 0;
    return !rest || ((a[bytes] ^ p[bytes]) & (0xFF << (8 - rest))) == 0;
}

static int v6_public(const uint8_t *a)
{
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t nat64[16] = {0x00, 0x64, 0xFF, 0x9B};
    static const uint8_t nat64_local[16] = {0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01};
    static const uint8_t discard[16] = {0x01, 0x00};
    static const uint8_t ietf[16] = {0x20, 0x01};
    static const uint8_t doc[16] = {0x20, 0x01, 0x0D, 0xB8};
    static const uint8_t six_to_four[16] = {0x20, 0x02};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return v4_public(be32(a + 12)); /* an IPv4 address in IPv6 clothing */
    if (memcmp(a, zero, 12) == 0)       /* ::, ::1 and IPv4-compatible ::a.b.c.d */
        return 0;
    if (prefix_is(a, six_to_four, 16))
        return v4_public(be32(a + 2));
    if (prefix_is(a, nat64_local, 48) || prefix_is(a, discard, 64) || prefix_is(a, ietf, 23) ||
        prefix_is(a, doc, 32))
        return 0;
    if ((a[0] & 0xFE) == 0xFC) /* unique local fc00::/7 */
        return 0;
    if (a[0] == 0xFE && (a[1] & 0xC0) >= 0x80) /* link-local fe80::/10, site-local fec0::/10 */
        return 0;
    if (a[0] == 0xFF) /* multicast */
        return 0;
    return 1;
}

int netguard_public(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_public(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6)
        return v6_public(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return 0; /* unix sockets and anything else */
}

static curl_socket_t open_checked(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    netguard *g = ud;
    if (purpose == CURLSOCKTYPE_IPCXN && !g->allow_private && !netguard_public(&a->addr)) {
        const void *ip = a->family == AF_INET6
                             ? (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr
                             : (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr;
        if (!inet_ntop(a->family, ip, g->refused, sizeof g->refused))
            snprintf(g->refused, sizeof g->refused, "(address family %d)", a->family);
        return CURL_SOCKET_BAD;
    }
    g->opened++;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

void netguard_apply(CURL *c, netguard *g)
{
    g->refused[0] = '\0';
    g->opened = 0;
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, g);
}

int netguard_refused(const netguard *g, CURLcode rc)
{
    return rc != CURLE_OK && g->refused[0] && !g->opened;
}

int netguard_allow_private_from_env(void)
{
    const char *v = getenv("CAREDESK_ALLOW_PRIVATE_TARGETS");
    return v && strcmp(v, "1") == 0;
}
