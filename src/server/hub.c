/* hub.c - Server-Sent Event streams with suspend/resume. */
#include "server/hub.h"

#include "core/cd_mem.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define SUB_BUFFER_MAX (256 * 1024) /* a reader this far behind is cut off */

struct hub_sub {
    hub *h;
    struct MHD_Connection *conn;
    hub_topic topic;
    int64_t key;
    int64_t owner; /* the user who opened it */
    char *buf;     /* pending bytes */
    size_t len, cap;
    int suspended, closed;
    hub_sub *next;
};

struct hub {
    pthread_mutex_t lock; /* guards the list and every subscriber */
    hub_sub *subs;
    int closed;
    int count;
};

hub *hub_create(void)
{
    hub *h = cd_calloc(1, sizeof *h);
    if (h)
        pthread_mutex_init(&h->lock, NULL);
    return h;
}

/* Caller holds the lock. Wakes a suspended connection. */
static void sub_wake(hub_sub *s)
{
    if (s->suspended) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    }
}

void hub_close_all(hub *h)
{
    pthread_mutex_lock(&h->lock);
    h->closed = 1;
    for (hub_sub *s = h->subs; s; s = s->next) {
        s->closed = 1;
        sub_wake(s);
    }
    pthread_mutex_unlock(&h->lock);
}

void hub_destroy(hub *h)
{
    if (!h)
        return;
    hub_close_all(h);
    /* Streams end through libmicrohttpd freeing their responses, which the
     * server's stop does; by then the list is empty. */
    pthread_mutex_destroy(&h->lock);
    cd_free(h);
}

/* Caller holds the lock. Appends text; a subscriber too far behind is
 * closed rather than allowed to grow without bound. */
static void sub_append(hub_sub *s, const char *text, size_t n)
{
    if (s->closed)
        return;
    if (s->len + n > SUB_BUFFER_MAX) {
        s->closed = 1;
        sub_wake(s);
        return;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        while (cap < s->len + n)
            cap *= 2;
        char *p = cd_realloc(s->buf, cap);
        if (!p) {
            s->closed = 1;
            sub_wake(s);
            return;
        }
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    sub_wake(s);
}

static void sub_event(hub_sub *s, const char *event, const char *data)
{
    char head[80];
    int n = snprintf(head, sizeof head, "event: %s\ndata: ", event);
    sub_append(s, head, (size_t)n);
    sub_append(s, data, strlen(data));
    sub_append(s, "\n\n", 2);
}

static ssize_t sub_read(void *cls, uint64_t pos, char *out, size_t max)
{
    hub_sub *s = cls;
    ssize_t n;
    (void)pos;
    pthread_mutex_lock(&s->h->lock);
    if (s->len > 0) {
        n = (ssize_t)(s->len < max ? s->len : max);
        memcpy(out, s->buf, (size_t)n);
        memmove(s->buf, s->buf + n, s->len - (size_t)n);
        s->len -= (size_t)n;
    } else if (s->closed) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing to send: park the connection until hub_publish. */
        s->suspended = 1;
        MHD_suspend_connection(s->conn);
        n = 0;
    }
    pthread_mutex_unlock(&s->h->lock);
    return n;
}

static void sub_free(void *cls)
{
    hub_sub *s = cls;
    hub *h = s->h;
    pthread_mutex_lock(&h->lock);
    for (hub_sub **p = &h->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    h->count--;
    pthread_mutex_unlock(&h->lock);
    cd_free(s->buf);
    cd_free(s);
}

struct MHD_Response *hub_subscribe(hub *h, struct MHD_Connection *conn, hub_topic topic,
                                   int64_t key, int64_t owner)
{
    hub_sub *s = cd_calloc(1, sizeof *s);
    struct MHD_Response *resp;
    if (!s)
        return NULL;
    s->h = h;
    s->conn = conn;
    s->topic = topic;
    s->key = key;
    s->owner = owner;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sub_read, s, sub_free);
    if (!resp) {
        cd_free(s);
        return NULL;
    }
    pthread_mutex_lock(&h->lock);
    if (h->closed)
        s->closed = 1;
    s->next = h->subs;
    h->subs = s;
    h->count++;
    /* Tell the client how soon to reconnect if the stream drops. */
    sub_append(s, "retry: 2000\n\n", 13);
    pthread_mutex_unlock(&h->lock);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return resp;
}

int hub_send_to_conn(hub *h, struct MHD_Connection *conn, const char *event, const char *data)
{
    int sent = 0;
    pthread_mutex_lock(&h->lock);
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->conn == conn) {
            sub_event(s, event, data);
            sent++;
        }
    pthread_mutex_unlock(&h->lock);
    return sent;
}

int hub_end_owner(hub *h, int64_t owner, const char *event, const char *data)
{
    int ended = 0;
    pthread_mutex_lock(&h->lock);
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->owner == owner && !s->closed) {
            sub_event(s, event, data);
            s->closed = 1; /* what is buffered goes out first, then the end */
            sub_wake(s);
            ended++;
        }
    pthread_mutex_unlock(&h->lock);
    return ended;
}

int hub_publish(hub *h, hub_topic topic, int64_t key, const char *event, const char *data)
{
    int sent = 0;
    pthread_mutex_lock(&h->lock);
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->topic == topic && s->key == key) {
            sub_event(s, event, data);
            sent++;
        }
    pthread_mutex_unlock(&h->lock);
    return sent;
}

void hub_ping(hub *h)
{
    pthread_mutex_lock(&h->lock);
    for (hub_sub *s = h->subs; s; s = s->next)
        sub_append(s, ": ping\n\n", 8);
    pthread_mutex_unlock(&h->lock);
}

int hub_listeners(hub *h, hub_topic topic, int64_t key)
{
    int n = 0;
    pthread_mutex_lock(&h->lock);
    for (hub_sub *s = h->subs; s; s = s->next)
        n += s->topic == topic && s->key == key && !s->closed;
    pthread_mutex_unlock(&h->lock);
    return n;
}

int hub_count(hub *h)
{
    int n;
    pthread_mutex_lock(&h->lock);
    n = h->count;
    pthread_mutex_unlock(&h->lock);
    return n;
}
