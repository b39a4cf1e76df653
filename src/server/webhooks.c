/* webhooks.c - see webhooks.h. */
#include "server/webhooks.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "server/netguard.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CLAIM_BATCH 20

struct webhooks {
    store *st;
    char name[160];
    char ca_file[1024];
    int64_t retry_ms, poll_ms;
    int allow_private;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicked, stop;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* POSTs one delivery; 1 on a 2xx answer, else 0 with err filled and
 * *refused set when the receiver's address is not allowed. */
static int post(webhooks *w, json_t *d, char *err, size_t errlen, int *refused)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char idh[64];
    long code = 0;
    netguard guard = {.allow_private = w->allow_private};
    *refused = 0;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    snprintf(idh, sizeof idh, "Webhook-Id: %lld",
             (long long)json_integer_value(json_object_get(d, "id")));
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, idh);
    h = curl_slist_append(h, "User-Agent: caredesk-webhooks");
    curl_easy_setopt(c, CURLOPT_URL, json_string_value(json_object_get(d, "url")));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_string_value(json_object_get(d, "payload")));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (w->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, w->ca_file);
    netguard_apply(c, &guard);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (netguard_refused(&guard, rc)) {
        snprintf(err, errlen, "refused: %s is not a public address", guard.refused);
        *refused = 1;
    } else if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    } else if (code < 200 || code > 299) {
        snprintf(err, errlen, "HTTP %ld", code);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK && code >= 200 && code <= 299;
}

static int write_tx(webhooks *w, store_tx **tx)
{
    store_ctx sys;
    store_ctx_system(&sys);
    return store_begin(w->st, &sys, now_ms(), 1, tx);
}

/* One round: claim what is due, send, record. Returns how many were sent
 * or tried. */
static int round_once(webhooks *w)
{
    store_tx *tx = NULL;
    json_t *claimed = NULL, *d;
    size_t i;
    int any = 0;
    store_ctx sys;
    store_ctx_system(&sys);
    /* A read first: a write transaction only when something is due. */
    if (store_begin(w->st, &sys, now_ms(), 0, &tx) != 0)
        return 0;
    store_webhook_due(tx, &any);
    store_rollback(tx);
    tx = NULL;
    if (!any)
        return 0;
    int rc = write_tx(w, &tx);
    if (!rc)
        rc = store_webhook_claim(tx, w->name, WEBHOOK_LEASE_MS, CLAIM_BATCH, &claimed);
    if (tx)
        rc = rc ? (store_rollback(tx), rc) : store_commit(tx);
    if (rc) {
        json_decref(claimed);
        return 0;
    }
    json_array_foreach (claimed, i, d) {
        char err[256] = "";
        int refused = 0, ok = post(w, d, err, sizeof err, &refused);
        int64_t attempts = json_integer_value(json_object_get(d, "attempts")) + 1;
        int64_t retry = 0;
        if (!ok && !refused && attempts < WEBHOOK_ATTEMPTS)
            retry = now_ms() + (w->retry_ms << (attempts - 1 < 20 ? attempts - 1 : 20));
        tx = NULL;
        if (write_tx(w, &tx) == 0) {
            int e = store_webhook_done(tx, json_integer_value(json_object_get(d, "id")), w->name,
                                       ok, err, retry);
            if (e)
                store_rollback(tx);
            else
                store_commit(tx);
        }
    }
    size_t n = json_array_size(claimed);
    json_decref(claimed);
    return (int)n;
}

static void *deliver(void *arg)
{
    webhooks *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        pthread_mutex_unlock(&w->mu);
        int busy = round_once(w);
        pthread_mutex_lock(&w->mu);
        if (busy || w->kicked || w->stop) {
            w->kicked = 0;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(w->poll_ms % 1000) * 1000000L;
        until.tv_sec += w->poll_ms / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
        w->kicked = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int webhooks_start(store *st, const webhooks_config *cfg, webhooks **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_start);
    webhooks *w = cd_calloc(1, sizeof *w);
    if (!w)
        return CD_ENOMEM;
    w->st = st;
    snprintf(w->name, sizeof w->name, "%s", cfg->name ? cfg->name : "caredesk");
    snprintf(w->ca_file, sizeof w->ca_file, "%s", cfg->ca_file ? cfg->ca_file : "");
    w->retry_ms = cfg->retry_ms > 0 ? cfg->retry_ms : 1000;
    w->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : 1000;
    w->allow_private = cfg->allow_private;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, deliver, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        cd_free(w);
        return CD_EIO;
    }
    *out = w;
    return 0;
}

void webhooks_kick(webhooks *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->kicked = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void webhooks_stop(webhooks *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    cd_free(w);
}
