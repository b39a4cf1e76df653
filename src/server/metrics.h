/* metrics.h - request counters and latency histograms per route, written
 * by every worker thread and read as Prometheus text. */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics;

/* names: n route labels; the metrics keep one series per label. */
metrics *metrics_create(const char *const *labels, const char *const *methods, size_t n);
void metrics_destroy(metrics *m);
/* Records one request on series i. Thread-safe, lock-free. */
void metrics_observe(metrics *m, size_t i, int status, uint64_t micros);
/* The Prometheus text exposition (caller frees with cd_free). */
char *metrics_render(const metrics *m);

#endif
