/* bench/sla.c - the SLA engine with a million open clocks.
 *
 * 64 clients, each with its own calendar (one of eight real zones: Berlin,
 * London, New York, Los Angeles, São Paulo, Kolkata, Tokyo, Sydney; office
 * hours 08:00-18:00, or with a lunch break, or with Saturday mornings, or a
 * night shift past midnight, or 24/7 with holidays; ten holidays a year)
 * and four policies by priority (targets 15 min to 3 days, business or
 * calendar time, warning at 80%). 333,334 open interactions each run
 * three targeted clocks (first response, periodic update, resolution):
 * 1,000,002 open clocks. Then 1,000,000 random updates: pending on/off
 * (35%), agent reply (25%, ends first response, restarts the periodic
 * cycle, ends a next response), priority change (20%, re-targets), customer
 * reply (10%, ends pending, may start next response), resolve (10%; the
 * interaction is dropped and a new one opens, so the population holds).
 * Simulated time moves 20 ms per update on average (about 5.5 hours in
 * all), so warnings and breaches keep falling due.
 *
 * Before each update, sla_tick(now) fires what is due (timed on its own,
 * events drained inside the timing); fire_us is the time of a tick that
 * fired events divided by their number. updates_per_s counts the updates'
 * own calls. business_add_ns is the mean cost of calendar_add_business
 * over 200,000 random spans of 1-10,000 minutes from random instants of
 * 2026-2027 on the 64 calendars. bytes_per_clock = sla_memory_bytes / open
 * clocks. Three runs; the medians are reported. */
#include "core/calendar.h"
#include "core/cd_err.h"
#include "core/sla.h"
#include "core/tz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLIENTS 64
#define OPEN 333334
#define UPDATES 1000000
#define RUNS 3
#define ADDS 200000

static uint64_t rs = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *const ZONES[] = {"Europe/Berlin",       "Europe/London",     "America/New_York",
                                    "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata",
                                    "Asia/Tokyo",          "Australia/Sydney"};
static const char *const DAYS[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static calendar *make_calendar(int i)
{
    char buf[4096], hours[2048] = "", hol[512] = "";
    int style = i % 5;
    for (int d = 0; d < 7; d++) {
        const char *r = NULL;
        if (style == 0 && d < 5)
            r = "[[\"08:00\", \"18:00\"]]";
        else if (style == 1 && d < 5)
            r = "[[\"09:00\", \"12:30\"], [\"13:30\", \"17:30\"]]";
        else if (style == 2 && d < 6)
            r = d < 5 ? "[[\"07:00\", \"19:00\"]]" : "[[\"09:00\", \"13:00\"]]";
        else if (style == 3 && d < 5)
            r = "[[\"20:00\", \"04:00\"]]";
        if (r)
            snprintf(hours + strlen(hours), sizeof hours - strlen(hours), "%s\"%s\": %s",
                     hours[0] ? ", " : "", DAYS[d], r);
    }
    for (int y = 2026; y <= 2027; y++)
        for (int h = 0; h < 10; h++)
            snprintf(hol + strlen(hol), sizeof hol - strlen(hol), "%s\"%d-%02d-%02d\"",
                     hol[0] ? ", " : "", y, 1 + (h * 7 + i) % 12, 1 + (h * 11 + i * 3) % 28);
    if (style == 4)
        snprintf(buf, sizeof buf, "{\"timezone\": \"%s\", \"hours\": \"24/7\", \"holidays\": [%s]}",
                 ZONES[i % 8], hol);
    else
        snprintf(buf, sizeof buf, "{\"timezone\": \"%s\", \"hours\": {%s}, \"holidays\": [%s]}",
                 ZONES[i % 8], hours, hol);
    calendar *c = NULL;
    char err[200];
    if (calendar_parse(buf, strlen(buf), &c, err, sizeof err)) {
        fprintf(stderr, "calendar %d: %s\n", i, err);
        exit(1);
    }
    return c;
}

static sla_policies *make_policies(int i)
{
    char buf[2048];
    const char *bt = i % 3 ? "business" : "calendar";
    snprintf(buf, sizeof buf,
             "{\"warning\": 0.8, \"policies\": ["
             "{\"id\": 1, \"when\": {\"priority\": [\"urgent\"]}, \"targets\": {"
             "\"first_response\": {\"minutes\": 15, \"time\": \"calendar\"}, "
             "\"next_response\": {\"minutes\": 30}, \"periodic_update\": {\"minutes\": 60}, "
             "\"resolution\": {\"minutes\": 240, \"time\": \"%s\"}}},"
             "{\"id\": 2, \"when\": {\"priority\": [\"high\"]}, \"targets\": {"
             "\"first_response\": {\"minutes\": 60}, \"next_response\": {\"minutes\": 120}, "
             "\"periodic_update\": {\"minutes\": 240}, \"resolution\": {\"minutes\": 960}}},"
             "{\"id\": 3, \"when\": {\"priority\": [\"normal\"]}, \"targets\": {"
             "\"first_response\": {\"minutes\": 240}, \"next_response\": {\"minutes\": 480}, "
             "\"periodic_update\": {\"minutes\": 1440, \"time\": \"calendar\"}, "
             "\"resolution\": {\"minutes\": 2400}}},"
             "{\"id\": 4, \"targets\": {\"first_response\": {\"minutes\": 480}, "
             "\"next_response\": {\"minutes\": 960}, \"periodic_update\": {\"minutes\": 2880}, "
             "\"resolution\": {\"minutes\": 4320, \"time\": \"%s\"}}}]}",
             bt, bt);
    sla_policies *p = NULL;
    char err[200];
    if (sla_policies_parse(buf, strlen(buf), &p, err, sizeof err)) {
        fprintf(stderr, "policies %d: %s\n", i, err);
        exit(1);
    }
    return p;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

typedef struct result {
    double updates_per_s, fire_p50_us, fire_p99_us, bytes_per_clock, events;
} result;

static void rand_attrs(sla_attrs *a)
{
    a->client = 1 + (int64_t)(rnd() % CLIENTS);
    a->queue = (int64_t)(rnd() % 8);
    a->category = NULL;
    a->priority = (uint8_t)(rnd() % 4);
    a->tier = (uint8_t)(rnd() % 3);
    a->channel = (uint8_t)(rnd() % 5);
}

static result run(void)
{
    result res = {0};
    sla_engine *e = sla_create();
    int64_t t = 1772323200000LL; /* 2026-03-01T00:00:00Z */
    for (int c = 0; c < CLIENTS; c++)
        if (sla_client_set(e, c + 1, make_calendar(c), make_policies(c), t)) {
            fprintf(stderr, "client_set failed\n");
            exit(1);
        }
    int64_t *ids = malloc(sizeof *ids * OPEN);
    sla_attrs *attrs = malloc(sizeof *attrs * OPEN);
    int64_t next = 1;
    static sla_event ev[65536];
    for (int i = 0; i < OPEN; i++) {
        ids[i] = next++;
        rand_attrs(&attrs[i]);
        t += 10; /* opened over about an hour */
        if (sla_open(e, ids[i], &attrs[i], t)) {
            fprintf(stderr, "open failed\n");
            exit(1);
        }
        while (sla_events(e, ev, 65536) == 65536)
            ;
    }
    size_t clocks = (size_t)OPEN * 3;
    res.bytes_per_clock = (double)sla_memory_bytes(e) / (double)clocks;

    double *fire = malloc(sizeof *fire * UPDATES);
    int nfire = 0;
    double upd_time = 0;
    size_t nevents = 0;
    for (int u = 0; u < UPDATES; u++) {
        t += (int64_t)(rnd() % 41);
        double t0 = now_s();
        sla_tick(e, t);
        size_t n = 0, k;
        while ((k = sla_events(e, ev, 65536)) > 0)
            n += k;
        double t1 = now_s();
        if (n) {
            fire[nfire++] = (t1 - t0) * 1e6 / (double)n;
            nevents += n;
        }
        int i = (int)(rnd() % OPEN);
        uint64_t r = rnd() % 100;
        int rc;
        t0 = now_s();
        if (r < 35) {
            rc = sla_pending(e, ids[i], (int)(rnd() & 1), t);
        } else if (r < 60) {
            rc = sla_agent_reply(e, ids[i], t);
        } else if (r < 80) {
            attrs[i].priority = (uint8_t)(rnd() % 4);
            rc = sla_change(e, ids[i], &attrs[i], t);
        } else if (r < 90) {
            rc = sla_customer_reply(e, ids[i], t);
        } else {
            rc = sla_resolve(e, ids[i], t);
            if (!rc)
                rc = sla_forget(e, ids[i]);
            ids[i] = next++;
            rand_attrs(&attrs[i]);
            if (!rc)
                rc = sla_open(e, ids[i], &attrs[i], t);
        }
        t1 = now_s();
        upd_time += t1 - t0;
        if (rc) {
            fprintf(stderr, "update failed: %d\n", rc);
            exit(1);
        }
        while (sla_events(e, ev, 65536) == 65536)
            ;
    }
    res.updates_per_s = UPDATES / upd_time;
    qsort(fire, (size_t)nfire, sizeof *fire, cmp_d);
    res.fire_p50_us = nfire ? fire[nfire / 2] : 0;
    res.fire_p99_us = nfire ? fire[(size_t)((double)nfire * 0.99)] : 0;
    res.events = (double)nevents;
    free(fire);
    free(ids);
    free(attrs);
    sla_destroy(e);
    return res;
}

static double bench_add(void)
{
    calendar *cals[CLIENTS];
    for (int c = 0; c < CLIENTS; c++)
        cals[c] = make_calendar(c);
    int64_t *from = malloc(sizeof *from * ADDS), *mins = malloc(sizeof *mins * ADDS);
    int *which = malloc(sizeof *which * ADDS);
    for (int i = 0; i < ADDS; i++) {
        from[i] = 1767225600000LL + (int64_t)(rnd() % (730ULL * 86400000ULL));
        mins[i] = 1 + (int64_t)(rnd() % 10000);
        which[i] = (int)(rnd() % CLIENTS);
    }
    volatile int64_t sink = 0;
    double t0 = now_s();
    for (int i = 0; i < ADDS; i++)
        sink += calendar_add_business(cals[which[i]], from[i], mins[i]);
    double ns = (now_s() - t0) * 1e9 / ADDS;
    (void)sink;
    for (int c = 0; c < CLIENTS; c++)
        calendar_free(cals[c]);
    free(from);
    free(mins);
    free(which);
    return ns;
}

int main(void)
{
    double ups[RUNS], p50[RUNS], p99[RUNS], add[RUNS], bpc[RUNS];
    for (int r = 0; r < RUNS; r++) {
        result x = run();
        add[r] = bench_add();
        ups[r] = x.updates_per_s;
        p50[r] = x.fire_p50_us;
        p99[r] = x.fire_p99_us;
        bpc[r] = x.bytes_per_clock;
        printf("run %d: clocks=%d updates=%d updates_per_s=%.0f events_fired=%.0f "
               "fire_p50_us=%.2f fire_p99_us=%.2f business_add_ns=%.0f bytes_per_clock=%.0f\n",
               r + 1, OPEN * 3, UPDATES, x.updates_per_s, x.events, x.fire_p50_us, x.fire_p99_us,
               add[r], x.bytes_per_clock);
        fflush(stdout);
    }
    printf("updates_per_s=%.0f fire_p99_us=%.2f business_add_ns=%.0f fire_p50_us=%.2f "
           "bytes_per_clock=%.0f clocks=%d\n",
           median(ups, RUNS), median(p99, RUNS), median(add, RUNS), median(p50, RUNS),
           median(bpc, RUNS), OPEN * 3);
    return 0;
}
