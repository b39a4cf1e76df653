/* hub.h - live event streams (Server-Sent Events) to browsers and agents.
 *
 * A subscriber is one open SSE response. Publishers (the router, API
 * handlers) append events to the subscribers of a topic from any thread;
 * the response's content reader hands them to libmicrohttpd, suspending
 * the connection while there is nothing to send and resuming it when an
 * event arrives, so an idle stream costs no thread. */
#ifndef HUB_H
#define HUB_H

#include <stdint.h>

typedef struct hub hub;
typedef struct hub_sub hub_sub;
struct MHD_Connection;
struct MHD_Response;

/* Topics: one per agent (their offers and state), one for supervisors of
 * a client (queue and agent figures). */
typedef enum { HUB_AGENT, HUB_CLIENT } hub_topic;

hub *hub_create(void);
/* Ends every stream (their readers report end of stream) and frees the
 * hub once the last one is gone. */
void hub_destroy(hub *h);
/* Ends every stream now, so a server can stop; later subscribers are
 * refused. */
void hub_close_all(hub *h);

/* Opens a stream on topic/key for conn, on behalf of user `owner`.
 * Returns the response to queue (text/event-stream), or NULL when out of
 * memory or closed. The subscription ends when libmicrohttpd frees the
 * response. */
struct MHD_Response *hub_subscribe(hub *h, struct MHD_Connection *conn, hub_topic topic,
                                   int64_t key, int64_t owner);
/* The subscriber just made by hub_subscribe on conn? Used to prime a new
 * stream with current state; NULL if none. */
int hub_send_to_conn(hub *h, struct MHD_Connection *conn, const char *event, const char *data);

/* Sends an event (name, one-line JSON data) to every stream of topic/key.
 * Returns how many streams it reached. */
int hub_publish(hub *h, hub_topic topic, int64_t key, const char *event, const char *data);
/* Sends an event to every stream opened by user `owner`, then ends them:
 * what the user may see changed, and a stream reopened is checked again.
 * Returns how many streams it ended. */
int hub_end_owner(hub *h, int64_t owner, const char *event, const char *data);
/* A comment line to every stream: keeps proxies and clients from timing
 * out and finds dead connections. */
void hub_ping(hub *h);
/* How many streams of topic/key are open. */
int hub_listeners(hub *h, hub_topic topic, int64_t key);
/* How many streams are open. */
int hub_count(hub *h);

#endif
