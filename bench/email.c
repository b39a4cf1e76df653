/* bench/email.c - messages per second through parse -> redact -> thread ->
 * store on SQLite, as `caredesk mail-ingest` and the IMAP poller do it:
 * each message parsed and ingested in its own write transaction, durable
 * at commit, by several writers at once (mail arrives in parallel).
 *
 *   bench_email [--messages N] [--writers W] [--db PATH]
 *
 * The corpus is tests/mail/corpus plus the real-world messages of Python's
 * email tests (libpython3.11-testsuite). Each message gets a fresh
 * Message-ID and one of 500 senders; one in three answers an earlier one
 * (In-Reply-To), so both new interactions and threading are measured.
 * Last line: ingest_msgs_s=... p99_ms=... */
#include "core/cd_mem.h"
#include "core/mail.h"
#include "store/store.h"

#include <dirent.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef CAREDESK_SOURCE_DIR
#define CAREDESK_SOURCE_DIR "."
#endif

typedef struct msg {
    char *raw;
    size_t len;
} msg;

static msg *corpus;
static size_t ncorpus;
static store *st;
static int64_t client_id;
static int total = 4000;
static atomic_int next_index;
static double *lat_ms;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drops the header lines that the bench sets itself. */
static void strip_headers(msg *m)
{
    static const char *const drop[] = {"message-id:", "from:", "in-reply-to:", "references:", NULL};
    char *out = malloc(m->len + 1), *w = out;
    const char *p = m->raw, *end = m->raw + m->len;
    int in_headers = 1, dropping = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (in_headers && (n == 1 || (n == 2 && p[0] == '\r')))
            in_headers = 0;
        if (in_headers && (p[0] == ' ' || p[0] == '\t')) {
            if (!dropping) {
                memcpy(w, p, n);
                w += n;
            }
        } else {
            dropping = 0;
            for (const char *const *d = drop; in_headers && *d; d++)
                if (strncasecmp(p, *d, strlen(*d)) == 0)
                    dropping = 1;
            if (!dropping) {
                memcpy(w, p, n);
                w += n;
            }
        }
        p += n;
    }
    free(m->raw);
    m->raw = out;
    m->len = (size_t)(w - out);
}

static void load_dir(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        msg m = {malloc((size_t)n + 1), 0};
        m.len = fread(m.raw, 1, (size_t)n, f);
        fclose(f);
        strip_headers(&m);
        if (m.len == 0) {
            free(m.raw);
            continue;
        }
        corpus = realloc(corpus, (ncorpus + 1) * sizeof *corpus);
        corpus[ncorpus++] = m;
    }
    closedir(d);
}

static void *writer(void *arg)
{
    (void)arg;
    char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        int i = atomic_fetch_add(&next_index, 1);
        if (i >= total)
            break;
        const msg *base = &corpus[(size_t)i % ncorpus];
        if (cap < base->len + 512) {
            cap = base->len + 512;
            buf = realloc(buf, cap);
        }
        int h = snprintf(buf, cap,
                         "Message-ID: <bench-%d@bench.example>\r\nFrom: Customer %d "
                         "<customer%d@example.com>\r\n",
                         i, i % 500, i % 500);
        if (i % 3 == 2)
            h += snprintf(buf + h, cap - (size_t)h, "In-Reply-To: <bench-%d@bench.example>\r\n",
                          i - 1);
        memcpy(buf + h, base->raw, base->len);
        size_t len = (size_t)h + base->len;

        double t0 = now_s();
        mail_msg *m = NULL;
        store_ctx ctx;
        store_tx *tx = NULL;
        json_t *out = NULL;
        store_ctx_system(&ctx);
        int rc = mail_parse(buf, len, &m);
        for (int attempt = 0; !rc && attempt < 5; attempt++) {
            rc = store_begin(st, &ctx, wall_ms(), 1, &tx);
            if (!rc)
                rc = store_mail_ingest(tx, client_id, buf, len, m, &out);
            if (!rc) {
                rc = store_commit(tx);
            } else if (tx) {
                store_rollback(tx);
            }
            tx = NULL;
            json_decref(out);
            out = NULL;
            if (rc != -6) /* CD_EBUSY: try again */
                break;
        }
        mail_free(m);
        if (rc) {
            fprintf(stderr, "bench_email: message %d failed (%d)\n", i, rc);
            exit(1);
        }
        lat_ms[i] = (now_s() - t0) * 1000.0;
    }
    free(buf);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    int writers = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--messages") == 0)
            total = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--writers") == 0)
            writers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--db") == 0)
            db = argv[i + 1];
    }
    cd_mem_install();
    if (sodium_init() < 0 || total <= 0 || writers <= 0 || writers > 64)
        return 2;
    load_dir(CAREDESK_SOURCE_DIR "/tests/mail/corpus", ".eml");
    load_dir("/usr/lib/python3.11/test/test_email/data", ".txt");
    if (ncorpus == 0) {
        fprintf(stderr, "bench_email: no corpus\n");
        return 1;
    }
    char tmpdb[] = "/tmp/caredesk-bench-email-XXXXXX";
    char path[256];
    if (!db) {
        if (!mkdtemp(tmpdb))
            return 1;
        snprintf(path, sizeof path, "%s/bench.db", tmpdb);
        db = path;
    }
    char err[256];
    if (store_open(db, writers + 1, &st, err, sizeof err) || store_migrate(st, NULL)) {
        fprintf(stderr, "bench_email: %s\n", err);
        return 1;
    }
    store_ctx ctx;
    store_tx *tx = NULL;
    json_t *out = NULL;
    store_ctx_system(&ctx);
    json_t *in = json_pack("{s:s, s:s, s:{s:s, s:s}}", "slug", "acme", "name", "ACME", "brand",
                           "display_name", "ACME", "from_address", "support@acme.test");
    if (store_begin(st, &ctx, wall_ms(), 1, &tx) || store_client_create(tx, in, &out) ||
        store_commit(tx)) {
        fprintf(stderr, "bench_email: cannot create the client\n");
        return 1;
    }
    client_id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    json_decref(in);

    lat_ms = calloc((size_t)total, sizeof *lat_ms);
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < writers; i++)
        pthread_create(&th[i], NULL, writer, NULL);
    for (int i = 0; i < writers; i++)
        pthread_join(th[i], NULL);
    double elapsed = now_s() - t0;
    qsort(lat_ms, (size_t)total, sizeof *lat_ms, cmp_double);
    double p50 = lat_ms[total / 2], p99 = lat_ms[(size_t)((double)total * 0.99)];
    printf("corpus=%zu messages=%d writers=%d store=sqlite elapsed_s=%.2f p50_ms=%.2f\n", ncorpus,
           total, writers, elapsed, p50);
    printf("ingest_msgs_s=%.0f p99_ms=%.2f\n", (double)total / elapsed, p99);
    store_close(st);
    if (db == path) {
        unlink(path);
        char wal[300];
        snprintf(wal, sizeof wal, "%s-wal", path);
        unlink(wal);
        snprintf(wal, sizeof wal, "%s-shm", path);
        unlink(wal);
        rmdir(tmpdb);
    }
    free(lat_ms);
    for (size_t i = 0; i < ncorpus; i++)
        free(corpus[i].raw);
    free(corpus);
    return 0;
}
