/* intents.c - see intents.h. */
#include "server/intents.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/intent.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define EXAMPLES_PER_READ 1000

typedef struct model {
    int64_t client;
    intent_model *m;
} model;

struct intents {
    store *st;
    store_classifier classifier;
    pthread_rwlock_t lock; /* models: read to predict, write to learn or swap */
    model *models;
    size_t n, cap;
    pthread_mutex_t mu; /* kicked, stop */
    pthread_cond_t cv;
    int kicked, stop, running;
    pthread_mutex_t sync_mu; /* one sync at a time; seq */
    int64_t seq;
    pthread_t thread;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The client's model (lock held), or NULL. */
static model *find(intents *in, int64_t client)
{
    for (size_t i = 0; i < in->n; i++)
        if (in->models[i].client == client)
            return &in->models[i];
    return NULL;
}

static int ready(const intent_model *m)
{
    return intent_categories(m) >= 2 && intent_examples(m) >= INTENTS_MIN_EXAMPLES;
}

static int predict(void *ctx, int64_t client, const char *text, char *category, size_t cap,
                   double *confidence)
{
    intents *in = ctx;
    intent_prediction p;
    int rc = 1;
    pthread_rwlock_rdlock(&in->lock);
    model *md = find(in, client);
    if (md && ready(md->m) && intent_predict(md->m, text, strlen(text), &p) == 0 && p.category) {
        snprintf(category, cap, "%s", p.category);
        *confidence = p.confidence;
        rc = 0;
    }
    pthread_rwlock_unlock(&in->lock);
    return rc;
}

static int model_ready(void *ctx, int64_t client)
{
    intents *in = ctx;
    pthread_rwlock_rdlock(&in->lock);
    model *md = find(in, client);
    int ok = md && ready(md->m);
    pthread_rwlock_unlock(&in->lock);
    return ok;
}

/* Learns one example (write lock held). */
static int learn(intents *in, int64_t client, const char *text, const char *category)
{
    model *md = find(in, client);
    if (!md) {
        if (in->n == in->cap) {
            size_t cap = in->cap ? in->cap * 2 : 16;
            model *grown = cd_realloc(in->models, cap * sizeof *grown);
            if (!grown)
                return CD_ENOMEM;
            in->models = grown;
            in->cap = cap;
        }
        intent_model *m = intent_new();
        if (!m)
            return CD_ENOMEM;
        md = &in->models[in->n++];
        *md = (model){client, m};
    }
    return intent_learn(md->m, text, strlen(text), category);
}

/* Refits the models that learned enough since their last refit: each on a
 * copy, swapped in when done, so predictions go on meanwhile. */
static void refit(intents *in, int all)
{
    for (size_t i = 0;; i++) {
        pthread_rwlock_rdlock(&in->lock);
        if (i >= in->n) {
            pthread_rwlock_unlock(&in->lock);
            break;
        }
        intent_model *cur = in->models[i].m;
        size_t pending = intent_pending(cur), total = intent_examples(cur);
        int due = pending && (all || pending >= 20 || pending * 20 >= total);
        intent_model *copy = due ? intent_clone(cur) : NULL;
        pthread_rwlock_unlock(&in->lock);
        if (!copy)
            continue;
        if (intent_train(copy) != 0) {
            intent_free(copy);
            continue;
        }
        pthread_rwlock_wrlock(&in->lock);
        /* Only this thread learns, so nothing was learned since the copy. */
        intent_model *old = in->models[i].m;
        in->models[i].m = copy;
        pthread_rwlock_unlock(&in->lock);
        intent_free(old);
    }
}

static int begin(intents *in, store_tx **tx)
{
    store_ctx sys;
    store_ctx_system(&sys);
    return store_begin(in->st, &sys, now_ms(), 0, tx);
}

static int sync_locked(intents *in, int refit_all)
{
    int rc = 0;
    for (;;) {
        store_tx *tx = NULL;
        json_t *rows = NULL, *row;
        int64_t head = 0;
        size_t i;
        rc = begin(in, &tx);
        if (!rc)
            rc = store_intent_examples(tx, in->seq, EXAMPLES_PER_READ, &head, &rows);
        if (tx)
            store_rollback(tx);
        if (rc)
            break;
        pthread_rwlock_wrlock(&in->lock);
        json_array_foreach (rows, i, row) {
            int e = learn(in, json_integer_value(json_object_get(row, "client_id")),
                          json_string_value(json_object_get(row, "text")),
                          json_string_value(json_object_get(row, "category")));
            if (e == CD_ENOMEM) {
                rc = e;
                break;
            }
            in->seq = json_integer_value(json_object_get(row, "seq"));
        }
        pthread_rwlock_unlock(&in->lock);
        size_t got = json_array_size(rows);
        json_decref(rows);
        if (rc || got < EXAMPLES_PER_READ)
            break;
    }
    if (!rc)
        refit(in, refit_all);
    return rc;
}

int intents_sync(intents *in)
{
    pthread_mutex_lock(&in->sync_mu);
    int rc = sync_locked(in, 0);
    pthread_mutex_unlock(&in->sync_mu);
    return rc;
}

static void *follow(void *arg)
{
    intents *in = arg;
    pthread_mutex_lock(&in->mu);
    while (!in->stop) {
        if (!in->kicked) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)INTENTS_POLL_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&in->cv, &in->mu, &until);
        }
        if (in->stop)
            break;
        in->kicked = 0;
        pthread_mutex_unlock(&in->mu);
        if (intents_sync(in))
            fprintf(stderr, "caredesk: intent models: following the log failed; retrying\n");
        pthread_mutex_lock(&in->mu);
    }
    pthread_mutex_unlock(&in->mu);
    return NULL;
}

int intents_start(store *st, intents **out, char *err, size_t errlen)
{
    intents *in = cd_calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return CD_ENOMEM;
    }
    in->st = st;
    pthread_rwlock_init(&in->lock, NULL);
    pthread_mutex_init(&in->mu, NULL);
    pthread_mutex_init(&in->sync_mu, NULL);
    pthread_cond_init(&in->cv, NULL);
    int rc = sync_locked(in, 1);
    if (!rc && pthread_create(&in->thread, NULL, follow, in) != 0)
        rc = CD_EIO;
    if (rc) {
        snprintf(err, errlen, "intent models could not be built (%s)", cd_strerror(rc));
        in->running = 0;
        intents_stop(in);
        return rc;
    }
    in->running = 1;
    in->classifier = (store_classifier){predict, model_ready, in};
    store_set_classifier(st, &in->classifier);
    *out = in;
    return 0;
}

void intents_kick(intents *in)
{
    if (!in)
        return;
    pthread_mutex_lock(&in->mu);
    in->kicked = 1;
    pthread_cond_signal(&in->cv);
    pthread_mutex_unlock(&in->mu);
}

json_t *intents_info(intents *in, int64_t client)
{
    json_t *out;
    pthread_rwlock_rdlock(&in->lock);
    model *md = find(in, client);
    if (!md) {
        out = json_pack("{s:[], s:i, s:n, s:b}", "categories", "examples", 0, "temperature",
                        "predicting", 0);
    } else {
        json_t *cats = json_array();
        for (size_t i = 0; i < intent_categories(md->m); i++)
            json_array_append_new(cats, json_string(intent_category(md->m, i)));
        out = json_pack("{s:o, s:I, s:I, s:f, s:b}", "categories", cats, "examples",
                        (json_int_t)intent_examples(md->m), "pending_refit",
                        (json_int_t)intent_pending(md->m), "temperature",
                        intent_temperature(md->m), "predicting", ready(md->m));
    }
    pthread_rwlock_unlock(&in->lock);
    return out;
}

void intents_stop(intents *in)
{
    if (!in)
        return;
    if (in->running) {
        store_set_classifier(in->st, NULL);
        pthread_mutex_lock(&in->mu);
        in->stop = 1;
        pthread_cond_signal(&in->cv);
        pthread_mutex_unlock(&in->mu);
        pthread_join(in->thread, NULL);
    }
    for (size_t i = 0; i < in->n; i++)
        intent_free(in->models[i].m);
    cd_free(in->models);
    pthread_rwlock_destroy(&in->lock);
    pthread_mutex_destroy(&in->mu);
    pthread_mutex_destroy(&in->sync_mu);
    pthread_cond_destroy(&in->cv);
    cd_free(in);
}
