/* knowledge.c - see knowledge.h. */
#include "server/knowledge.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CHANGES_PER_READ 500

struct knowledge {
    store *st;
    kb_index *ix;
    pthread_t thread;
    pthread_mutex_t mu; /* guards kicked, stop */
    pthread_cond_t cv;
    pthread_mutex_t sync_mu; /* one sync at a time; guards seq */
    int kicked, stop, running;
    int64_t seq; /* the last change applied */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Puts a published article in the index, takes anything else out. */
static int apply(kb_index *ix, json_t *a)
{
    int64_t id = json_integer_value(json_object_get(a, "id"));
    const char *status = json_string_value(json_object_get(a, "status"));
    if (!status || strcmp(status, "published") != 0) {
        int rc = kb_remove(ix, id);
        return rc == CD_ENOTFOUND ? 0 : rc;
    }
    json_t *tags = json_object_get(a, "tags"), *t;
    const char *list[KB_TAGS_MAX];
    size_t n = 0, i;
    json_array_foreach (tags, i, t)
        if (n < KB_TAGS_MAX && json_is_string(t))
            list[n++] = json_string_value(t);
    const char *aud = json_string_value(json_object_get(a, "audience"));
    return kb_put(ix, id, json_integer_value(json_object_get(a, "client_id")),
                  json_string_value(json_object_get(a, "title")),
                  json_string_value(json_object_get(a, "body")), list, n,
                  aud && strcmp(aud, "public") == 0 ? KB_PUBLIC : KB_INTERNAL);
}

static int begin(knowledge *k, store_tx **tx)
{
    store_ctx sys;
    store_ctx_system(&sys);
    return store_begin(k->st, &sys, now_ms(), 0, tx);
}

int knowledge_sync(knowledge *k)
{
    int rc = 0;
    pthread_mutex_lock(&k->sync_mu);
    for (;;) {
        store_tx *tx = NULL;
        json_t *rows = NULL, *row;
        int64_t head = 0;
        size_t i;
        rc = begin(k, &tx);
        if (!rc)
            rc = store_kb_changes(tx, k->seq, CHANGES_PER_READ, &head, &rows);
        if (tx)
            store_rollback(tx);
        json_array_foreach (rows, i, row) {
            if (!rc)
                rc = apply(k->ix, row);
            if (!rc)
                k->seq = json_integer_value(json_object_get(row, "seq"));
        }
        size_t got = json_array_size(rows);
        json_decref(rows);
        if (rc || got < CHANGES_PER_READ)
            break;
    }
    pthread_mutex_unlock(&k->sync_mu);
    return rc;
}

static void *follow(void *arg)
{
    knowledge *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        if (!k->kicked) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)KNOWLEDGE_POLL_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&k->cv, &k->mu, &until);
        }
        if (k->stop)
            break;
        k->kicked = 0;
        pthread_mutex_unlock(&k->mu);
        if (knowledge_sync(k))
            fprintf(stderr, "caredesk: knowledge index: following changes failed; retrying\n");
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

int knowledge_start(store *st, knowledge **out, char *err, size_t errlen)
{
    knowledge *k = cd_calloc(1, sizeof *k);
    store_tx *tx = NULL;
    json_t *rows = NULL, *row;
    size_t i;
    int rc = CD_ENOMEM;
    if (!k || !(k->ix = kb_new("english")))
        goto fail;
    k->st = st;
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->sync_mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    rc = begin(k, &tx);
    if (!rc)
        rc = store_kb_published(tx, &k->seq, &rows);
    if (tx)
        store_rollback(tx);
    json_array_foreach (rows, i, row)
        if (!rc)
            rc = apply(k->ix, row);
    json_decref(rows);
    if (!rc && pthread_create(&k->thread, NULL, follow, k) != 0)
        rc = CD_EIO;
    if (rc)
        goto fail;
    k->running = 1;
    *out = k;
    return 0;
fail:
    snprintf(err, errlen, "knowledge index could not be built (%s)", cd_strerror(rc));
    if (k && k->ix)
        kb_free(k->ix);
    cd_free(k);
    return rc;
}

void knowledge_kick(knowledge *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->kicked = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

kb_index *knowledge_index(knowledge *k)
{
    return k->ix;
}

int64_t knowledge_seq(knowledge *k)
{
    pthread_mutex_lock(&k->sync_mu);
    int64_t s = k->seq;
    pthread_mutex_unlock(&k->sync_mu);
    return s;
}

void knowledge_stop(knowledge *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    if (k->running)
        pthread_join(k->thread, NULL);
    kb_free(k->ix);
    pthread_mutex_destroy(&k->mu);
    pthread_mutex_destroy(&k->sync_mu);
    pthread_cond_destroy(&k->cv);
    cd_free(k);
}
