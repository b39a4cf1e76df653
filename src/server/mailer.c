/* mailer.c - see mailer.h. */
#include "server/mailer.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/mail.h"
#include "server/netguard.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEASE_MS 120000 /* longer than a send may take (timeouts below) */
#define BATCH 16

struct mailer {
    store *st;
    char name[128];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int64_t retry_ms;
    int allow_private; /* a client's smtp_url may be a private address (netguard.h) */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct upload {
    const char *p;
    size_t left;
} upload;

static size_t read_cb(char *buf, size_t size, size_t n, void *arg)
{
    upload *u = arg;
    size_t k = size * n < u->left ? size * n : u->left;
    memcpy(buf, u->p, k);
    u->p += k;
    u->left -= k;
    return k;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* Sends one email; 0 when the server took it. *permanent when it refused
 * for good (5xx), or the client's server is at an address not allowed;
 * error receives the reason. A client's smtp_url is typed in by a user, so
 * it is held to public addresses (netguard.h); the operator's
 * CAREDESK_SMTP_URL is not. */
static int send_one(mailer *m, json_t *e, int *permanent, char *error, size_t cap)
{
    const char *url = str(e, "smtp_url");
    netguard guard = {.allow_private = m->allow_private || !*url};
    if (!*url)
        url = getenv("CAREDESK_SMTP_URL") ? getenv("CAREDESK_SMTP_URL") : "";
    *permanent = 0;
    if (!*url) {
        snprintf(error, cap, "no SMTP server is configured (smtp_url, CAREDESK_SMTP_URL)");
        return CD_EIO;
    }
    const char *kind = str(e, "kind");
    mail_out o = {.from_name = str(e, "from_name"),
                  .from_addr = str(e, "from_addr"),
                  .to_addr = str(e, "to_addr"),
                  .subject = str(e, "subject"),
                  .text = str(e, "body"),
                  .message_id = str(e, "rfc_message_id"),
                  .in_reply_to = str(e, "in_reply_to"),
                  .references = str(e, "refs"),
                  .automatic = strcmp(kind, "reply") != 0,
                  .date_ms = now_ms()};
    char *text = NULL;
    size_t len = 0;
    if (mail_build(&o, &text, &len)) {
        snprintf(error, cap, "out of memory");
        return CD_ENOMEM;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        cd_free(text);
        snprintf(error, cap, "out of memory");
        return CD_ENOMEM;
    }
    char from[320], to[320], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(from, sizeof from, "<%s>", o.from_addr);
    snprintf(to, sizeof to, "<%s>", o.to_addr);
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    upload u = {text, len};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (getenv("CAREDESK_SMTP_USER")) {
        curl_easy_setopt(c, CURLOPT_USERNAME, getenv("CAREDESK_SMTP_USER"));
        curl_easy_setopt(c, CURLOPT_PASSWORD, getenv("CAREDESK_SMTP_PASSWORD"));
    }
    netguard_apply(c, &guard);
    CURLcode res = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    cd_free(text);
    if (res == CURLE_OK)
        return 0;
    if (netguard_refused(&guard, res)) {
        *permanent = 1;
        snprintf(error, cap, "refused: %s is not a public address", guard.refused);
        return CD_EIO;
    }
    *permanent = code >= 500 && code < 600;
    char status[24] = "";
    if (code)
        snprintf(status, sizeof status, " with %ld", code);
    snprintf(error, cap, "%s%s: %s", *permanent ? "refused" : "not sent", status,
             *errbuf ? errbuf : curl_easy_strerror(res));
    return CD_EIO;
}

static int begin(mailer *m, store_tx **tx)
{
    store_ctx sys;
    store_ctx_system(&sys);
    return store_begin(m->st, &sys, now_ms(), 1, tx);
}

/* One round: claim, send, record. Returns how many were claimed. */
static int round_once(mailer *m)
{
    store_tx *tx = NULL;
    json_t *batch = NULL, *e;
    size_t i;
    if (begin(m, &tx))
        return 0;
    if (store_mail_outbox_claim(tx, m->name, LEASE_MS, BATCH, &batch) || store_commit(tx)) {
        if (batch)
            store_rollback(tx);
        json_decref(batch);
        return 0;
    }
    json_array_foreach (batch, i, e) {
        char error[512] = "";
        int permanent = 0;
        int ok = send_one(m, e, &permanent, error, sizeof error) == 0;
        for (int attempt = 0; attempt < 5; attempt++) {
            int rc = begin(m, &tx);
            if (!rc)
                rc = store_mail_outbox_result(tx, json_integer_value(json_object_get(e, "id")),
                                              m->name, ok, permanent, error, m->retry_ms);
            if (!rc) {
                rc = store_commit(tx);
            } else if (tx) {
                store_rollback(tx);
            }
            tx = NULL;
            if (rc != CD_EBUSY)
                break;
        }
        if (!ok)
            fprintf(stderr, "caredesk: email %lld %s\n",
                    (long long)json_integer_value(json_object_get(e, "id")), error);
    }
    int n = (int)json_array_size(batch);
    json_decref(batch);
    return n;
}

static void *run(void *arg)
{
    mailer *m = arg;
    for (;;) {
        int n = round_once(m);
        pthread_mutex_lock(&m->mu);
        if (!m->stop && n < BATCH) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 500 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        }
        int stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (stop)
            break;
    }
    return NULL;
}

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mailer_start(store *st, const char *name, int allow_private, mailer **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_start);
    mailer *m = cd_calloc(1, sizeof *m);
    if (!m)
        return CD_ENOMEM;
    m->st = st;
    m->allow_private = allow_private;
    snprintf(m->name, sizeof m->name, "%s", name);
    const char *retry = getenv("CAREDESK_SMTP_RETRY_MS");
    m->retry_ms = retry && atoll(retry) > 0 ? atoll(retry) : 30000;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->thread, NULL, run, m) != 0) {
        cd_free(m);
        return CD_EIO;
    }
    *out = m;
    return 0;
}

void mailer_stop(mailer *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    cd_free(m);
}
