/* bench/route.c - the routing engine under a contact center's load.
 *
 * 10,000 agents, 200 skills (10 languages, 190 topics), 50 clients with 4
 * queues each (each client: 2-3 languages, 12 topics; each queue: 3 of
 * them). An agent serves one client (10%: two), speaks 1-2 of its
 * languages (level 2-5) and knows 6-12 of its topics (level 2-5). An
 * interaction needs one language (level 1-3) and 0-2 of its queue's topics
 * (level 1-3); 5% prefer an agent for 15 s. Channels: 40% voice, 30% chat,
 * 22% email, 5% social, 3% web. The backlog is held at 1k, 10k and 100k waiting
 * interactions. After the backlog is built and warmed up, a mixed stream
 * of events runs through the engine: answers to offers (96% accept, 2%
 * reject, 2% left to expire), finished work (30% with wrap-up), arrivals
 * that keep the backlog level, abandoned calls, agents going away and
 * coming back, and ticks. Simulated time moves 1 ms per event, so
 * widening steps (30/90/180 s), overflow (600 s), window ends, offer expiry
 * and wrap-up ends all happen along the way.
 *
 * A decision is one offer. decisions_per_s = offers / time spent inside
 * engine calls (each call timed with clock_gettime). Latency is per event
 * that produced at least one offer. bytes_per_waiting = growth of the
 * engine's own memory count from no interaction to the built backlog,
 * divided by the interactions it then holds. Each size runs 3 times; the
 * medians are reported.
 *
 *   bench_route              full run; last line: the 100k figures
 *   bench_route EVENTS [N]   EVENTS per run; with N, only the backlog of N
 *                            waiting (three runs, medians)
 *   bench_route --callgrind [N]
 *                            reduced instance (N waiting, default 10k) for
 *                            valgrind --tool=callgrind; prints the offers
 *                            made while statistics were on */
#include "core/cd_err.h"
#include "core/route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(x)
#endif

#define AGENTS 10000
#define CLIENTS 50
#define QPC 4 /* queues per client */
#define LANGS 10
#define TOPICS 190
#define TOPICS_PER_CLIENT 12
#define AWAY_POOL 100 /* agents on a break at any time, about */

enum { B_NONE, B_WAITING, B_OFFERED, B_ASSIGNED };

typedef struct set { /* ids with O(1) add, remove, random pick */
    int64_t *ids;
    size_t n, cap;
} set;

typedef struct bitem {
    int64_t expires;
    int32_t state, pos, agent;
    uint8_t ignored;
} bitem;

typedef struct bench {
    route_engine *e;
    uint64_t rng;
    int64_t now, next_id;
    int langs[CLIENTS][3], nlangs[CLIENTS];
    int topics[CLIENTS][TOPICS_PER_CLIENT];
    int qtopics[CLIENTS * QPC][3];
    bitem *items;
    size_t capitems;
    set waiting, offered, assigned;
    uint8_t astate[AGENTS + 1];
    int64_t away[AGENTS];
    size_t naway, away_head;
    size_t target;
    unsigned long offers;
    uint32_t *lat; /* ns, of events that made offers */
    size_t nlat, caplat;
    double engine_ns;
    uint64_t hash; /* of every decision, in order: engines that decide alike agree */
    int timing;
    route_decision d[4096];
} bench;

static uint64_t rnd(bench *b)
{
    uint64_t x = (b->rng += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int rn(bench *b, int n)
{
    return (int)(rnd(b) % (uint64_t)n);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "bench_route: out of memory\n");
        exit(1);
    }
    return p;
}

static bitem *item(bench *b, int64_t id)
{
    if ((size_t)id >= b->capitems) {
        size_t nc = b->capitems ? b->capitems * 2 : 1 << 16;
        while (nc <= (size_t)id)
            nc *= 2;
        b->items = xrealloc(b->items, nc * sizeof *b->items);
        memset(b->items + b->capitems, 0, (nc - b->capitems) * sizeof *b->items);
        b->capitems = nc;
    }
    return &b->items[id];
}

static void set_add(bench *b, set *s, int64_t id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->ids = xrealloc(s->ids, s->cap * sizeof *s->ids);
    }
    item(b, id)->pos = (int32_t)s->n;
    s->ids[s->n++] = id;
}

static void set_del(bench *b, set *s, int64_t id)
{
    int32_t pos = item(b, id)->pos;
    int64_t last = s->ids[--s->n];
    s->ids[pos] = last;
    item(b, last)->pos = pos;
}

static set *set_of(bench *b, int state)
{
    return state == B_WAITING ? &b->waiting : state == B_OFFERED ? &b->offered : &b->assigned;
}

static void move(bench *b, int64_t id, int state)
{
    bitem *it = item(b, id);
    if (it->state != B_NONE)
        set_del(b, set_of(b, it->state), id);
    it->state = state;
    if (state != B_NONE)
        set_add(b, set_of(b, state), id);
}

static double ns_between(const struct timespec *a, const struct timespec *z)
{
    return (double)(z->tv_sec - a->tv_sec) * 1e9 + (double)(z->tv_nsec - a->tv_nsec);
}

/* Reads the decisions of the last call into the bench's picture. */
static unsigned absorb(bench *b)
{
    unsigned offers = 0;
    size_t n;
    while ((n = route_decisions(b->e, b->d, sizeof b->d / sizeof *b->d)) > 0) {
        for (size_t i = 0; i < n; i++) {
            const route_decision *d = &b->d[i];
            int64_t f[5] = {d->kind, d->interaction_id, d->agent_id, d->at_ms, d->expires_ms};
            for (int k = 0; k < 5; k++)
                b->hash = (b->hash ^ (uint64_t)f[k]) * 0x100000001b3ULL;
            switch (d->kind) {
            case ROUTE_D_OFFER:
                move(b, d->interaction_id, B_OFFERED);
                item(b, d->interaction_id)->agent = (int32_t)d->agent_id;
                item(b, d->interaction_id)->expires = d->expires_ms;
                item(b, d->interaction_id)->ignored = 0;
                offers++;
                break;
            case ROUTE_D_EXPIRED:
            case ROUTE_D_WITHDRAWN:
                move(b, d->interaction_id, B_WAITING);
                break;
            case ROUTE_D_AGENT_AWAY:
                b->astate[d->agent_id] = ROUTE_AWAY;
                b->away[(b->away_head + b->naway++) % AGENTS] = d->agent_id;
                break;
            case ROUTE_D_WRAPUP_DONE:
                b->astate[d->agent_id] = ROUTE_AVAILABLE;
                break;
            default:
                break;
            }
        }
    }
    b->offers += offers;
    return offers;
}

/* Every engine call goes through here: timed, and its decisions read.
 * CALL_OR tolerates one error code: an answer can meet an offer that the
 * timers of the same moment withdrew (CD_ESTATE; the WITHDRAWN decision
 * tells the rest). */
#define CALL(b, expr) CALL_OR(b, expr, 0)
#define CALL_OR(b, expr, ok)                                                                       \
    do {                                                                                           \
        struct timespec t0_, t1_;                                                                  \
        if ((b)->timing)                                                                           \
            clock_gettime(CLOCK_MONOTONIC, &t0_);                                                  \
        int rc_ = (expr);                                                                          \
        if ((b)->timing)                                                                           \
            clock_gettime(CLOCK_MONOTONIC, &t1_);                                                  \
        if (rc_ != 0 && rc_ != (ok)) {                                                             \
            fprintf(stderr, "bench_route: %s -> %d\n", #expr, rc_);                                \
            exit(1);                                                                               \
        }                                                                                          \
        unsigned made_ = absorb(b);                                                                \
        if ((b)->timing) {                                                                         \
            double ns_ = ns_between(&t0_, &t1_);                                                   \
            (b)->engine_ns += ns_;                                                                 \
            if (made_)                                                                             \
                record_latency((b), ns_);                                                          \
        }                                                                                          \
    } while (0)

static void record_latency(bench *b, double ns)
{
    if (b->nlat == b->caplat) {
        b->caplat = b->caplat ? b->caplat * 2 : 1 << 16;
        b->lat = xrealloc(b->lat, b->caplat * sizeof *b->lat);
    }
    b->lat[b->nlat++] = ns > 4e9 ? UINT32_MAX : (uint32_t)ns;
}

/* --- the world ------------------------------------------------------------- */

static void pick_distinct(bench *b, int *out, int n, int range)
{
    for (int i = 0; i < n; i++) {
        int v, dup;
        do {
            v = rn(b, range);
            dup = 0;
            for (int j = 0; j < i; j++)
                dup |= out[j] == v;
        } while (dup);
        out[i] = v;
    }
}

static void configure(bench *b)
{
    for (int c = 0; c < CLIENTS; c++) {
        b->nlangs[c] = 2 + rn(b, 2);
        pick_distinct(b, b->langs[c], b->nlangs[c], LANGS);
        pick_distinct(b, b->topics[c], TOPICS_PER_CLIENT, TOPICS);
        for (int k = 0; k < TOPICS_PER_CLIENT; k++)
            b->topics[c][k] += LANGS;
    }
    for (int pass = 0; pass < 2; pass++) { /* overflow targets must exist first */
        for (int qi = 0; qi < CLIENTS * QPC; qi++) {
            int c = qi / QPC;
            route_queue q = {.id = 1 + qi, .client_id = 1 + c};
            int32_t up[4] = {0, 100, 300, 1000}, tp[3] = {0, 200, 500};
            memcpy(q.urgency_points, up, sizeof up);
            memcpy(q.tier_points, tp, sizeof tp);
            q.aging_points_per_s = 1 + qi % 3;
            q.steps[0] = (route_step){30, 1, ROUTE_MAX_REQUIRED};
            q.steps[1] = (route_step){90, 2, 1};
            q.steps[2] = (route_step){180, 2, 0};
            q.nsteps = 3;
            if (pass == 1 && qi % QPC != 0) {
                q.overflow_after_s = 600;
                q.overflow_queue = 1 + c * QPC;
            }
            route_criterion orders[2][3] = {{ROUTE_BY_MATCH, ROUTE_BY_IDLE, ROUTE_BY_HANDLED},
                                            {ROUTE_BY_IDLE, ROUTE_BY_MATCH, ROUTE_BY_HANDLED}};
            memcpy(q.order, orders[qi % 2], sizeof q.order);
            q.offer_timeout_s = 20;
            q.max_missed = 3;
            if (pass == 0)
                pick_distinct(b, b->qtopics[qi], 3, TOPICS_PER_CLIENT);
            CALL(b, route_queue_set(b->e, &q, b->now));
        }
    }
    for (int i = 1; i <= AGENTS; i++) {
        int c = (i - 1) % CLIENTS;
        route_agent a = {.id = i};
        a.clients[a.nclients++] = 1 + c;
        if (rn(b, 10) == 0)
            a.clients[a.nclients++] = 1 + (c + 1 + rn(b, CLIENTS - 1)) % CLIENTS;
        int nl = 1 + rn(b, 2), lang[2];
        pick_distinct(b, lang, nl, b->nlangs[c]);
        for (int k = 0; k < nl; k++)
            a.skills[a.nskills++] =
                (route_skill){(uint32_t)b->langs[c][lang[k]], (uint8_t)(2 + rn(b, 4))};
        int nt = 6 + rn(b, 7), top[TOPICS_PER_CLIENT];
        pick_distinct(b, top, nt, TOPICS_PER_CLIENT);
        for (int k = 0; k < nt; k++)
            a.skills[a.nskills++] =
                (route_skill){(uint32_t)b->topics[c][top[k]], (uint8_t)(2 + rn(b, 4))};
        CALL(b, route_agent_set(b->e, &a, b->now));
        CALL(b, route_agent_state(b->e, i, ROUTE_AVAILABLE, 0, b->now));
        b->astate[i] = ROUTE_AVAILABLE;
    }
}

static int weighted(bench *b, const int *w, int n)
{
    int r = rn(b, 100);
    for (int i = 0; i < n; i++) {
        if (r < w[i])
            return i;
        r -= w[i];
    }
    return n - 1;
}

static void arrive(bench *b)
{
    static const int ch_w[] = {40, 30, 22, 5, 3}, urg_w[] = {30, 50, 15, 5},
                     tier_w[] = {70, 20, 10};
    int qi = rn(b, CLIENTS * QPC), c = qi / QPC;
    route_interaction it = {.id = b->next_id++, .client_id = 1 + c, .queue_id = 1 + qi};
    it.channel = (route_channel)weighted(b, ch_w, 5);
    it.urgency = (route_urgency)weighted(b, urg_w, 4);
    it.tier = (route_tier)weighted(b, tier_w, 3);
    it.required[it.nrequired++] =
        (route_skill){(uint32_t)b->langs[c][rn(b, b->nlangs[c])], (uint8_t)(1 + rn(b, 3))};
    int nt = rn(b, 3), top[2];
    pick_distinct(b, top, nt, 3);
    for (int k = 0; k < nt; k++)
        it.required[it.nrequired++] =
            (route_skill){(uint32_t)b->topics[c][b->qtopics[qi][top[k]]], (uint8_t)(1 + rn(b, 3))};
    if (rn(b, 20) == 0) { /* the customer's last agent */
        it.preferred_agent = 1 + c + CLIENTS * rn(b, AGENTS / CLIENTS);
        it.preferred_timeout_s = 15;
    }
    it.arrived_ms = b->now;
    move(b, it.id, B_WAITING);
    CALL(b, route_arrive(b->e, &it, b->now));
}

static void answer(bench *b)
{
    if (!b->offered.n) {
        CALL(b, route_tick(b->e, b->now));
        return;
    }
    int64_t id = b->offered.ids[rn(b, (int)b->offered.n)];
    bitem *it = item(b, id);
    if (it->ignored) {
        CALL(b, route_tick(b->e, b->now));
        return;
    }
    int r = rn(b, 100);
    if (b->now >= it->expires) { /* too late: the offer expires with this tick */
        CALL(b, route_tick(b->e, b->now));
    } else if (r < 96) {
        move(b, id, B_ASSIGNED); /* absorb moves it back if withdrawn */
        CALL_OR(b, route_accept(b->e, id, it->agent, b->now), CD_ESTATE);
    } else if (r < 98) {
        move(b, id, B_WAITING); /* until an offer to someone else comes */
        CALL_OR(b, route_reject(b->e, id, it->agent, b->now), CD_ESTATE);
    } else {
        it->ignored = 1; /* let it expire */
    }
}

static void finish(bench *b)
{
    if (!b->assigned.n) {
        CALL(b, route_tick(b->e, b->now));
        return;
    }
    int64_t id = b->assigned.ids[rn(b, (int)b->assigned.n)];
    int32_t agent = item(b, id)->agent;
    int32_t wrap = rn(b, 10) < 3 ? 5 + rn(b, 25) : 0;
    move(b, id, B_NONE);
    CALL(b, route_finish(b->e, id, agent, wrap, b->now));
    if (wrap) {
        route_agent_view v;
        if (route_agent_view_get(b->e, agent, &v) == 0)
            b->astate[agent] = (uint8_t)v.state;
    }
}

static void abandon(bench *b)
{
    if (!b->waiting.n) {
        CALL(b, route_tick(b->e, b->now));
        return;
    }
    int64_t id = b->waiting.ids[rn(b, (int)b->waiting.n)];
    move(b, id, B_NONE);
    CALL(b, route_cancel(b->e, id, b->now));
}

/* An agent takes a break; the one away longest comes back. */
static void breaks(bench *b)
{
    int64_t a = 1 + rn(b, AGENTS);
    if (b->astate[a] == ROUTE_AVAILABLE) {
        b->astate[a] = ROUTE_AWAY;
        b->away[(b->away_head + b->naway++) % AGENTS] = a;
        CALL(b, route_agent_away(b->e, a, 1, b->now));
    }
    while (b->naway > AWAY_POOL) {
        int64_t back = b->away[b->away_head];
        b->away_head = (b->away_head + 1) % AGENTS;
        b->naway--;
        if (b->astate[back] == ROUTE_AWAY) {
            b->astate[back] = ROUTE_AVAILABLE;
            CALL(b, route_agent_state(b->e, back, ROUTE_AVAILABLE, 0, b->now));
        }
    }
}

/* One event of the mixed stream. Not inlined: callgrind counts from here. */
__attribute__((noinline)) static void step(bench *b)
{
    b->now += 1;
    int r = rn(b, 1000);
    if (r < 300)
        answer(b);
    else if (r < 600)
        finish(b);
    else if (r < 900 && b->waiting.n < b->target)
        arrive(b);
    else if (r < 905)
        abandon(b);
    else if (r < 910)
        breaks(b);
    else
        CALL(b, route_tick(b->e, b->now));
}

/* Builds the backlog: agents fill up first (every offer accepted), then
 * interactions pile up to the target. */
static void build(bench *b, size_t target)
{
    b->target = target;
    while (b->waiting.n < target) {
        b->now += 1;
        arrive(b);
        while (b->offered.n) {
            int64_t id = b->offered.ids[b->offered.n - 1];
            int32_t agent = item(b, id)->agent;
            move(b, id, B_ASSIGNED);
            CALL(b, route_accept(b->e, id, agent, b->now));
        }
    }
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return a < c ? -1 : a > c;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return a < c ? -1 : a > c;
}

typedef struct result {
    double dps, p50, p99, bytes;
    unsigned long offers;
    uint64_t hash;
} result;

static bench *bench_new(uint64_t seed)
{
    bench *b = calloc(1, sizeof *b);
    if (!b || !(b->e = route_create())) {
        fprintf(stderr, "bench_route: out of memory\n");
        exit(1);
    }
    b->rng = seed;
    b->next_id = 1;
    b->now = 1700000000000LL;
    return b;
}

static void bench_free(bench *b)
{
    route_destroy(b->e);
    free(b->items);
    free(b->waiting.ids);
    free(b->offered.ids);
    free(b->assigned.ids);
    free(b->lat);
    free(b);
}

static result run(size_t target, long events, uint64_t seed)
{
    bench *b = bench_new(seed);
    configure(b);
    size_t base = route_memory_bytes(b->e);
    build(b, target);
    size_t held = b->waiting.n + b->offered.n + b->assigned.n;
    result r = {0};
    r.bytes = (double)(route_memory_bytes(b->e) - base) / (double)held;
    for (long i = 0; i < events / 5; i++) /* warm up: reach the steady mix */
        step(b);
    b->offers = 0;
    b->timing = 1;
    for (long i = 0; i < events; i++)
        step(b);
    qsort(b->lat, b->nlat, sizeof *b->lat, cmp_u32);
    r.offers = b->offers;
    r.hash = b->hash;
    r.dps = b->offers / (b->engine_ns / 1e9);
    r.p50 = b->nlat ? b->lat[b->nlat / 2] / 1e3 : 0;
    r.p99 = b->nlat ? b->lat[b->nlat * 99 / 100] / 1e3 : 0;
    bench_free(b);
    return r;
}

static double median3(double a, double b, double c)
{
    double v[3] = {a, b, c};
    qsort(v, 3, sizeof *v, cmp_double);
    return v[1];
}

static int callgrind_run(size_t target)
{
    bench *b = bench_new(7);
    configure(b);
    build(b, target);
    for (int i = 0; i < 20000; i++)
        step(b);
    b->offers = 0;
    CALLGRIND_ZERO_STATS;
    for (int i = 0; i < 100000; i++)
        step(b);
    CALLGRIND_DUMP_STATS_AT("measured");
    printf("callgrind_offers=%lu\n", b->offers);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--callgrind") == 0)
        return callgrind_run(argc > 2 ? (size_t)atol(argv[2]) : 10000);
    static const size_t all_sizes[] = {1000, 10000, 100000};
    const size_t *sizes = all_sizes;
    size_t nsizes = sizeof all_sizes / sizeof *all_sizes, one;
    const long events = argc > 1 ? atol(argv[1]) : 1000000;
    if (argc > 2) { /* bench_route EVENTS WAITING: one size only */
        one = (size_t)atol(argv[2]);
        sizes = &one;
        nsizes = 1;
    }
    result last = {0};
    printf("%-9s %12s %9s %9s %10s %9s\n", "waiting", "decisions/s", "p50_us", "p99_us",
           "bytes/wait", "offers");
    for (size_t s = 0; s < nsizes; s++) {
        result r[3];
        for (int k = 0; k < 3; k++)
            r[k] = run(sizes[s], events, 42 + (uint64_t)k);
        result m = {median3(r[0].dps, r[1].dps, r[2].dps),
                    median3(r[0].p50, r[1].p50, r[2].p50),
                    median3(r[0].p99, r[1].p99, r[2].p99),
                    median3(r[0].bytes, r[1].bytes, r[2].bytes),
                    r[1].offers,
                    r[0].hash ^ r[1].hash ^ r[2].hash};
        printf("%-9zu %12.0f %9.2f %9.2f %10.0f %9lu\n", sizes[s], m.dps, m.p50, m.p99, m.bytes,
               m.offers);
        printf("RESULT waiting=%zu decisions_per_s=%.0f p50_us=%.2f p99_us=%.2f "
               "bytes_per_waiting=%.0f decision_hash=%016llx\n",
               sizes[s], m.dps, m.p50, m.p99, m.bytes, (unsigned long long)m.hash);
        fflush(stdout);
        last = m;
    }
    printf("decisions_per_s=%.0f p99_us=%.2f instr_per_decision=n/a bytes_per_waiting=%.0f\n",
           last.dps, last.p99, last.bytes);
    return 0;
}
