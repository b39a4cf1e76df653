/* server.h - the HTTP server: starts libmicrohttpd on an address, serves
 * the API under /api/v1 and the web UI from a folder, and stops cleanly. */
#ifndef SERVER_H
#define SERVER_H

#include "store/store.h"

#include <stddef.h>

typedef struct server server;

typedef struct server_config {
    const char *host;     /* "127.0.0.1" */
    int port;             /* 0 picks a free port (see server_port) */
    const char *web_root; /* folder of static files, or NULL */
    int threads;          /* worker threads */
    size_t body_limit;    /* bytes; larger bodies get 413 */
    int log_requests;     /* one line per request on stderr */
} server_config;

/* Starts serving; store is borrowed and must outlive the server. */
int server_start(const server_config *cfg, store *st, server **out, char *err, size_t errlen);
struct router;
struct hub;
/* The server's event-stream hub (for the router to publish on). */
struct hub *server_hub(server *srv);
/* Tells the server which router to wake after each committed write. */
void server_attach_router(server *srv, struct router *r);
/* Gives the server the knowledge-base index to search and keep current. */
struct knowledge;
void server_attach_knowledge(server *srv, struct knowledge *k);
/* Gives the server the intent models to report on and keep current. */
struct intents;
void server_attach_intents(server *srv, struct intents *in);
/* Gives the server the webhook deliverer to wake after writes. */
struct webhooks;
void server_attach_webhooks(server *srv, struct webhooks *w);
/* The port actually bound. */
int server_port(const server *srv);
/* Ends event streams, stops accepting, lets requests in flight finish (up
 * to grace_ms), then stops serving. Safe to call twice. */
void server_stop(server *srv, int grace_ms);
/* Stops the server if it still runs and frees it. NULL is a no-op. */
void server_destroy(server *srv);

#endif
