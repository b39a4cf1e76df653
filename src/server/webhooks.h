/* webhooks.h - delivering the store's webhook outbox (store_webhook_*).
 *
 * Each server runs a deliverer thread. It claims due deliveries with a
 * lease in the store (so one server sends each), POSTs the JSON payload
 * with libcurl (HTTPS; `Webhook-Id` carries the delivery id so receivers
 * can drop a repeat), and records the outcome: sent on a 2xx answer,
 * else retried with exponential backoff from retry_ms (1 s by default),
 * and failed after WEBHOOK_ATTEMPTS attempts. A server that dies mid-send
 * leaves the lease to run out, and the delivery is sent again: at least
 * once, with the id for exactly-once processing on the receiving side.
 * A receiver at an address the netguard refuses fails at once, without
 * retries: the refusal names the address. */
#ifndef WEBHOOKS_H
#define WEBHOOKS_H

#include "store/store.h"

#define WEBHOOK_ATTEMPTS 8
#define WEBHOOK_LEASE_MS 30000
#define WEBHOOK_TIMEOUT_S 10

typedef struct webhooks webhooks;

typedef struct webhooks_config {
    const char *name;    /* this server, in leases (unique per process) */
    const char *ca_file; /* extra CA bundle to trust (NULL: the system's) */
    int64_t retry_ms;    /* first retry delay; doubles each attempt (0: 1000) */
    int64_t poll_ms;     /* how often to look for due deliveries (0: 1000) */
    int allow_private;   /* receivers may be at private addresses (see netguard.h) */
} webhooks_config;

int webhooks_start(store *st, const webhooks_config *cfg, webhooks **out);
/* A write was committed: look for deliveries now. NULL is a no-op. */
void webhooks_kick(webhooks *w);
void webhooks_stop(webhooks *w);

#endif
