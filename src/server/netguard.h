/* netguard.h - where connections made on a client's behalf may go.
 *
 * Webhook receivers, IMAP mailboxes and a client's own SMTP server are
 * addresses that users type in, and the server connects to them from
 * inside the operator's network. So that such an address cannot reach what
 * only the server should reach (its own loopback services, the cloud
 * metadata endpoint, the private network around it), these connections go
 * to public addresses only, unless the operator allows private ones (a
 * receiver inside their own network, and the tests, whose receivers run on
 * 127.0.0.1).
 *
 * The check is made on the address curl is about to connect to, after name
 * resolution, for every address it tries: a name that resolves to a
 * private address (or is made to, between a check and the connection)
 * gets nowhere. Through a proxy, the proxy's address is the one checked. */
#ifndef NETGUARD_H
#define NETGUARD_H

#include <curl/curl.h>
#include <sys/socket.h>

typedef struct netguard {
    int allow_private; /* the operator allows private, loopback and link-local addresses */
    char refused[64];  /* the last address refused ("" if none), for the error message */
    int opened;        /* connections it let curl open */
} netguard;

/* Is the address one the public Internet routes to? No for loopback,
 * private, shared (CGNAT), link-local, multicast, reserved, documentation
 * and unspecified ranges, IPv4 and IPv6 alike, including IPv4 addresses
 * wrapped in IPv6 (mapped, compatible, NAT64, 6to4). */
int netguard_public(const struct sockaddr *sa);

/* Makes the transfer refuse to connect where g forbids; g must outlive it.
 * After a refusal curl fails to connect and g->refused names the address. */
void netguard_apply(CURL *c, netguard *g);

/* Did the transfer, which ended with rc, fail because every address it
 * tried was refused? (A host with a private and a public address that
 * failed on the public one for another reason did not.) */
int netguard_refused(const netguard *g, CURLcode rc);

/* The operator's choice: $CAREDESK_ALLOW_PRIVATE_TARGETS set to 1. */
int netguard_allow_private_from_env(void);

#endif
