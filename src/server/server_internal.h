/* server_internal.h - what the server's files share (internal). */
#ifndef SERVER_INTERNAL_H
#define SERVER_INTERNAL_H

#include "server/hub.h"
#include "server/metrics.h"
#include "server/server.h"

#include <stdatomic.h>

struct server {
    server_config cfg;
    store *st;
    void *daemon; /* struct MHD_Daemon */
    int port;
    metrics *metrics;
    atomic_int in_flight;
    char web_root[4096];
    const char **labels, **methods; /* metric series names */
    hub *hub;                       /* live event streams */
    struct router *router;          /* woken after writes; may be NULL */
    struct knowledge *knowledge;    /* the article search index; may be NULL */
    struct intents *intents;        /* intent models; may be NULL */
    struct webhooks *webhooks;      /* the webhook deliverer; may be NULL */
};

/* Prometheus text of the server's metrics (caller frees with cd_free). */
char *server_metrics_text(server *srv);
/* The store the server runs on. */
store *server_store(server *srv);

/* Microseconds on the monotonic clock; milliseconds of UTC wall time. */
uint64_t server_now_us(void);
int64_t server_now_ms(void);

#endif
