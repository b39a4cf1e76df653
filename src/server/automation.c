/* automation.c - see automation.h. */
#include "server/automation.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define DUE_PER_ROUND 200

struct automation {
    store *st;
    int64_t poll_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int begin(automation *a, int write, store_tx **tx)
{
    store_ctx sys;
    store_ctx_system(&sys);
    return store_begin(a->st, &sys, now_ms(), write, tx);
}

int automation_round(automation *a)
{
    store_tx *tx = NULL;
    json_t *due = NULL, *d;
    size_t i;
    int fired = 0;
    if (begin(a, 0, &tx))
        return 0;
    int rc = store_idle_due(tx, DUE_PER_ROUND, &due);
    store_rollback(tx);
    json_array_foreach (due, i, d) {
        int one = 0;
        if (rc || begin(a, 1, &tx))
            break;
        rc = store_idle_fire(tx, json_integer_value(json_object_get(d, "rule_id")),
                             json_integer_value(json_object_get(d, "interaction_id")),
                             json_integer_value(json_object_get(d, "idle_since")), &one);
        if (rc) {
            store_rollback(tx);
            fprintf(stderr, "caredesk: automation: an idle rule failed (%s)\n", cd_strerror(rc));
            rc = 0; /* the next round tries again */
            continue;
        }
        if (store_commit(tx) == 0)
            fired += one;
    }
    json_decref(due);
    /* SLA warnings and breaches due by now. */
    due = NULL;
    if (begin(a, 0, &tx))
        return fired;
    rc = store_sla_due(tx, DUE_PER_ROUND, &due);
    store_rollback(tx);
    json_array_foreach (due, i, d) {
        int n = 0;
        if (rc || begin(a, 1, &tx))
            break;
        rc = store_sla_fire(tx, json_integer_value(json_object_get(d, "id")), &n);
        if (rc) {
            store_rollback(tx);
            fprintf(stderr, "caredesk: automation: an SLA clock failed (%s)\n", cd_strerror(rc));
            rc = 0;
            continue;
        }
        if (store_commit(tx) == 0)
            fired += n;
    }
    json_decref(due);
    return fired;
}

static void *run(void *arg)
{
    automation *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        pthread_mutex_unlock(&a->mu);
        automation_round(a);
        pthread_mutex_lock(&a->mu);
        if (a->stop)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(a->poll_ms % 1000) * 1000000L;
        until.tv_sec += a->poll_ms / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&a->cv, &a->mu, &until);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int automation_start(store *st, int64_t poll_ms, automation **out)
{
    automation *a = cd_calloc(1, sizeof *a);
    if (!a)
        return CD_ENOMEM;
    a->st = st;
    a->poll_ms = poll_ms > 0 ? poll_ms : 15000;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, run, a) != 0) {
        cd_free(a);
        return CD_EIO;
    }
    *out = a;
    return 0;
}

void automation_stop(automation *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    cd_free(a);
}
