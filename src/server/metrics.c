/* metrics.c - per-route request counts and latency histograms. */
#include "server/metrics.h"

#include "core/cd_mem.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static const double bounds_ms[] = {0.1, 0.25, 0.5, 1,   2.5, 5,    10,
                                   25,  50,   100, 250, 500, 1000, 2500};
#define NB (sizeof bounds_ms / sizeof *bounds_ms)

typedef struct series {
    atomic_uint_fast64_t by_class[6]; /* index status/100, 0 unused */
    atomic_uint_fast64_t bucket[NB + 1];
    atomic_uint_fast64_t sum_us;
} series;

struct metrics {
    size_t n;
    const char *const *labels;
    const char *const *methods;
    series *s;
};

metrics *metrics_create(const char *const *labels, const char *const *methods, size_t n)
{
    metrics *m = cd_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->s = cd_calloc(n, sizeof *m->s);
    if (!m->s) {
        cd_free(m);
        return NULL;
    }
    m->n = n;
    m->labels = labels;
    m->methods = methods;
    return m;
}

void metrics_destroy(metrics *m)
{
    if (!m)
        return;
    cd_free(m->s);
    cd_free(m);
}

void metrics_observe(metrics *m, size_t i, int status, uint64_t micros)
{
    series *s;
    size_t b = 0;
    if (i >= m->n)
        return;
    s = &m->s[i];
    if (status >= 100 && status < 600)
        atomic_fetch_add(&s->by_class[status / 100], 1);
    while (b < NB && (double)micros > bounds_ms[b] * 1000.0)
        b++;
    atomic_fetch_add(&s->bucket[b], 1);
    atomic_fetch_add(&s->sum_us, micros);
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (!b->p)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        char *p = cd_realloc(b->p, b->cap * 2 + (size_t)n);
        if (!p) {
            cd_free(b->p);
            b->p = NULL;
            return;
        }
        b->p = p;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

char *metrics_render(const metrics *m)
{
    buf b = {cd_malloc(8192), 0, 8192};
    put(&b, "# HELP caredesk_http_requests_total Requests by route and status class.\n"
            "# TYPE caredesk_http_requests_total counter\n");
    for (size_t i = 0; i < m->n; i++)
        for (int c = 1; c < 6; c++) {
            uint64_t v = atomic_load(&m->s[i].by_class[c]);
            if (v)
                put(&b,
                    "caredesk_http_requests_total{method=\"%s\",route=\"%s\",code=\"%dxx\"} "
                    "%" PRIu64 "\n",
                    m->methods[i], m->labels[i], c, v);
        }
    put(&b, "# HELP caredesk_http_request_duration_seconds Time to answer, by route.\n"
            "# TYPE caredesk_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n; i++) {
        uint64_t cum = 0;
        const series *s = &m->s[i];
        for (size_t k = 0; k <= NB; k++) {
            cum += atomic_load(&s->bucket[k]);
            if (k < NB)
                put(&b,
                    "caredesk_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le="
                    "\"%g\"} %" PRIu64 "\n",
                    m->methods[i], m->labels[i], bounds_ms[k] / 1000.0, cum);
            else
                put(&b,
                    "caredesk_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le="
                    "\"+Inf\"} %" PRIu64 "\n",
                    m->methods[i], m->labels[i], cum);
        }
        put(&b, "caredesk_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
            m->methods[i], m->labels[i], (double)atomic_load(&s->sum_us) / 1e6);
        put(&b,
            "caredesk_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %" PRIu64
            "\n",
            m->methods[i], m->labels[i], cum);
    }
    return b.p;
}
