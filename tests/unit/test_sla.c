/* test_sla.c - src/core/sla: policy parsing and matching, clocks in
 * calendar and business time, pause and resume, re-targeting that keeps
 * elapsed time, warning/breach order, fulfilment, save and restore, and a
 * long random sequence of calls checked event by event against a slow
 * reference (a scan of every clock, with due instants found by bisection
 * over calendar_business_between instead of a heap and
 * calendar_add_business). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/calendar.h"
#include "core/cd_err.h"
#include "core/sla.h"
#include "core/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN 60000LL
#define HOUR (60 * MIN)

static int64_t ms(const char *s)
{
    int y, mo, d, h, mi, se;
    assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &se), 6);
    return (tz_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se) *
           1000;
}

static sla_policies *policies(const char *json)
{
    sla_policies *p = NULL;
    char err[200];
    int rc = sla_policies_parse(json, strlen(json), &p, err, sizeof err);
    if (rc)
        print_message("%s\n", err);
    assert_int_equal(rc, 0);
    return p;
}

static calendar *office(void) /* Berlin, Mon-Fri 09:00-17:00 */
{
    const char *j = "{\"timezone\": \"Europe/Berlin\", \"hours\": {\"mon\": [[\"09:00\", "
                    "\"17:00\"]], \"tue\": [[\"09:00\", \"17:00\"]], \"wed\": [[\"09:00\", "
                    "\"17:00\"]], \"thu\": [[\"09:00\", \"17:00\"]], \"fri\": [[\"09:00\", "
                    "\"17:00\"]]}, \"holidays\": [\"2026-12-25\"]}";
    calendar *c = NULL;
    assert_int_equal(calendar_parse(j, strlen(j), &c, NULL, 0), 0);
    return c;
}

static size_t drain(sla_engine *e, sla_event *ev, size_t max)
{
    return sla_events(e, ev, max);
}

static void test_policies(void **state)
{
    (void)state;
    sla_policies *p = policies(
        "{\"warning\": 0.5, \"policies\": ["
        "{\"id\": 1, \"name\": \"vip\", \"when\": {\"priority\": [\"urgent\", \"high\"], "
        "\"tier\": [\"enterprise\"]}, \"targets\": {\"first_response\": {\"minutes\": 10}}},"
        "{\"id\": 2, \"when\": {\"channel\": [\"email\"], \"category\": [\"billing\", \"refund\"]},"
        " \"targets\": {\"resolution\": {\"minutes\": 60, \"time\": \"calendar\"}}},"
        "{\"id\": 3, \"when\": {\"queue\": [5, 6]}, \"targets\": {\"next_response\": "
        "{\"minutes\": 5}}, \"warning\": 0},"
        "{\"id\": 9, \"targets\": {\"periodic_update\": {\"minutes\": 1440}}}]}");
    assert_int_equal(sla_policies_count(p), 4);
    sla_attrs a = {.client = 1, .priority = 3, .tier = 2, .channel = 0};
    assert_int_equal(sla_policies_match(p, &a), 1);
    a.tier = 1; /* premium: not the first */
    assert_int_equal(sla_policies_match(p, &a), 9);
    a.channel = 2;
    a.category = "refund";
    assert_int_equal(sla_policies_match(p, &a), 2);
    a.category = "billingx";
    a.queue = 6;
    assert_int_equal(sla_policies_match(p, &a), 3);
    a.queue = 7;
    a.category = NULL;
    assert_int_equal(sla_policies_match(p, &a), 9); /* the catch-all */
    sla_policies_free(p);

    static const struct {
        const char *json, *err;
    } bad[] = {
        {"[]", "policies: required"},
        {"{\"policies\": [], \"x\": 1}", "x: unknown field"},
        {"{\"policies\": [], \"warning\": 1}", "warning: expected a share"},
        {"{\"policies\": [{\"targets\": {\"resolution\": {\"minutes\": 1}}}]}",
         "policies[0].id: required"},
        {"{\"policies\": [{\"id\": 1}]}", "policies[0].targets: required"},
        {"{\"policies\": [{\"id\": 1, \"targets\": {\"resolve\": {\"minutes\": 1}}}]}",
         "policies[0].targets.resolve: not a target"},
        {"{\"policies\": [{\"id\": 1, \"targets\": {\"resolution\": {\"minutes\": 0}}}]}",
         "policies[0].targets.resolution.minutes: required"},
        {"{\"policies\": [{\"id\": 1, \"targets\": {\"resolution\": {\"minutes\": 5, "
         "\"time\": \"wall\"}}}]}",
         "policies[0].targets.resolution.time: \"business\" or \"calendar\""},
        {"{\"policies\": [{\"id\": 1, \"when\": {\"priority\": [\"high\", \"asap\"]}, "
         "\"targets\": {\"resolution\": {\"minutes\": 5}}}]}",
         "policies[0].when.priority[1]: \"asap\" is not one of low, normal, high, urgent"},
        {"{\"policies\": [{\"id\": 1, \"when\": {\"colour\": [\"red\"]}, "
         "\"targets\": {\"resolution\": {\"minutes\": 5}}}]}",
         "policies[0].when.colour: unknown condition"},
        {"{\"policies\": [{\"id\": 1, \"when\": {\"queue\": [0]}, "
         "\"targets\": {\"resolution\": {\"minutes\": 5}}}]}",
         "policies[0].when.queue[0]: expected a queue id"},
        {"{\"policies\": [{\"id\": 1, \"targets\": {\"resolution\": {\"minutes\": 5}}}, "
         "{\"id\": 1, \"targets\": {\"resolution\": {\"minutes\": 5}}}]}",
         "policies[1].id: 1 also names policies[0]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[200] = "";
        sla_policies *q = NULL;
        int rc = sla_policies_parse(bad[i].json, strlen(bad[i].json), &q, err, sizeof err);
        if (rc != CD_EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)))
            print_message("case %zu: %d \"%s\"\n", i, rc, err);
        assert_int_equal(rc, CD_EINVAL);
        assert_null(q);
        assert_memory_equal(err, bad[i].err, strlen(bad[i].err));
    }
}

/* Calendar time: warning at half, breach at the target, fulfilment late. */
static void test_calendar_time(void **state)
{
    (void)state;
    sla_engine *e = sla_create();
    sla_event ev[16];
    assert_int_equal(
        sla_client_set(
            e, 1, NULL,
            policies("{\"warning\": 0.5, \"policies\": [{\"id\": 4, \"targets\": "
                     "{\"first_response\": {\"minutes\": 60, \"time\": \"calendar\"}}}]}"),
            0),
        0);
    int64_t t0 = ms("2026-03-28T10:00:00Z");
    sla_attrs a = {.client = 1};
    assert_int_equal(sla_open(e, 100, &a, t0), 0);
    assert_int_equal(sla_open(e, 100, &a, t0), CD_ECONFLICT);
    assert_int_equal(drain(e, ev, 16), 1);
    assert_int_equal(ev[0].kind, SLA_E_APPLIED);
    assert_int_equal(ev[0].policy, 4);
    assert_int_equal(sla_next_deadline(e), t0 + 30 * MIN);
    sla_tick(e, t0 + 30 * MIN - 1);
    assert_int_equal(drain(e, ev, 16), 0);
    sla_tick(e, t0 + 2 * HOUR); /* late tick: both fire, at their own instants, in order */
    assert_int_equal(drain(e, ev, 16), 2);
    assert_int_equal(ev[0].kind, SLA_E_WARNING);
    assert_int_equal(ev[0].at_ms, t0 + 30 * MIN);
    assert_int_equal(ev[0].elapsed_ms, 30 * MIN);
    assert_int_equal(ev[1].kind, SLA_E_BREACHED);
    assert_int_equal(ev[1].at_ms, t0 + HOUR);
    assert_int_equal(ev[1].target, SLA_FIRST_RESPONSE);
    assert_int_equal(ev[1].cycle, 1);
    assert_int_equal(sla_next_deadline(e), INT64_MAX);
    sla_view v;
    assert_int_equal(sla_view_get(e, 100, t0 + 2 * HOUR, &v), 0);
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].state, SLA_RUNNING);
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].remaining_ms, -HOUR);
    assert_true(v.clocks[SLA_FIRST_RESPONSE].breached);
    assert_int_equal(sla_agent_reply(e, 100, t0 + 2 * HOUR), 0);
    assert_int_equal(drain(e, ev, 16), 1);
    assert_int_equal(ev[0].kind, SLA_E_FULFILLED);
    assert_true(ev[0].breached);
    assert_int_equal(ev[0].elapsed_ms, 2 * HOUR);
    /* Fulfilled: the clock stopped; untargeted clocks make no events. */
    sla_tick(e, t0 + 100 * HOUR);
    assert_int_equal(drain(e, ev, 16), 0);
    assert_int_equal(sla_view_get(e, 100, t0 + 100 * HOUR, &v), 0);
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].state, SLA_FULFILLED);
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].elapsed_ms, 2 * HOUR);
    assert_int_equal(v.clocks[SLA_RESOLUTION].state, SLA_RUNNING);
    assert_int_equal(v.clocks[SLA_RESOLUTION].target_ms, 0);
    assert_int_equal(sla_resolve(e, 100, t0 + 100 * HOUR), 0);
    assert_int_equal(sla_agent_reply(e, 100, t0 + 100 * HOUR), CD_ESTATE);
    assert_int_equal(sla_agent_reply(e, 101, t0 + 100 * HOUR), CD_ENOTFOUND);
    assert_int_equal(sla_forget(e, 100), 0);
    assert_int_equal(sla_count(e), 0);
    sla_destroy(e);
}

/* Business time, pause and resume, re-targeting. */
static void test_business_pause_retarget(void **state)
{
    (void)state;
    sla_engine *e = sla_create();
    sla_event ev[16];
    const char *pj = "{\"warning\": 0, \"policies\": ["
                     "{\"id\": 1, \"when\": {\"priority\": [\"urgent\"]}, \"targets\": "
                     "{\"resolution\": {\"minutes\": 60}}},"
                     "{\"id\": 2, \"targets\": {\"resolution\": {\"minutes\": 240}, "
                     "\"first_response\": {\"minutes\": 120, \"time\": \"calendar\"}}}]}";
    assert_int_equal(sla_client_set(e, 7, office(), policies(pj), 0), 0);
    /* Friday 2026-03-27 16:00 CET: 60 business min today, then Monday
     * (CEST from Sunday): 240 min are due Monday 12:00 CEST = 10:00Z. */
    int64_t fri = ms("2026-03-27T15:00:00Z");
    sla_attrs a = {.client = 7, .priority = 1};
    assert_int_equal(sla_open(e, 1, &a, fri), 0);
    sla_view v;
    assert_int_equal(sla_view_get(e, 1, fri, &v), 0);
    assert_int_equal(v.policy, 2);
    assert_int_equal(v.clocks[SLA_RESOLUTION].due_ms, ms("2026-03-30T10:00:00Z"));
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].due_ms, fri + 2 * HOUR);
    /* Pending 30 minutes on Friday: business due moves 30 minutes. */
    assert_int_equal(sla_pending(e, 1, 1, fri + 15 * MIN), 0);
    assert_int_equal(sla_view_get(e, 1, fri + 45 * MIN, &v), 0);
    assert_int_equal(v.clocks[SLA_RESOLUTION].state, SLA_PAUSED);
    assert_int_equal(v.clocks[SLA_RESOLUTION].elapsed_ms, 15 * MIN);
    assert_int_equal(v.clocks[SLA_RESOLUTION].due_ms, INT64_MAX);
    assert_int_equal(sla_customer_reply(e, 1, fri + 45 * MIN), 0); /* ends pending */
    assert_int_equal(sla_view_get(e, 1, fri + 45 * MIN, &v), 0);
    assert_int_equal(v.clocks[SLA_RESOLUTION].due_ms, ms("2026-03-30T10:30:00Z"));
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].due_ms, fri + 2 * HOUR + 30 * MIN);
    /* Not answered yet: a customer reply starts no next-response clock. */
    assert_int_equal(v.clocks[SLA_NEXT_RESPONSE].state, SLA_NONE);
    drain(e, ev, 16);
    /* Monday 09:30 CEST: 30 min on Friday (16:00-16:15, 16:45-17:00) + 30
     * today = 60 business min; re-targeted to urgent (60): due now, it
     * breaches at the change. */
    int64_t mon = ms("2026-03-30T07:30:00Z");
    sla_tick(e, mon);
    assert_int_equal(drain(e, ev, 16), 1); /* first response (calendar time) breached */
    assert_int_equal(ev[0].kind, SLA_E_BREACHED);
    assert_int_equal(ev[0].target, SLA_FIRST_RESPONSE);
    assert_int_equal(ev[0].at_ms, fri + 2 * HOUR + 30 * MIN);
    a.priority = 3;
    assert_int_equal(sla_change(e, 1, &a, mon), 0);
    assert_int_equal(drain(e, ev, 16), 1);
    assert_int_equal(ev[0].kind, SLA_E_APPLIED);
    assert_int_equal(ev[0].policy, 1);
    assert_int_equal(sla_next_deadline(e), mon);
    assert_int_equal(sla_view_get(e, 1, mon, &v), 0);
    assert_int_equal(v.clocks[SLA_RESOLUTION].elapsed_ms, 60 * MIN);
    assert_int_equal(v.clocks[SLA_RESOLUTION].remaining_ms, 0);
    /* Policy 1 has no first-response target: that clock keeps counting
     * without timers. */
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].target_ms, 0);
    sla_tick(e, mon);
    assert_int_equal(drain(e, ev, 16), 1);
    assert_int_equal(ev[0].kind, SLA_E_BREACHED);
    assert_int_equal(ev[0].target, SLA_RESOLUTION);
    assert_int_equal(ev[0].at_ms, mon);
    assert_int_equal(ev[0].elapsed_ms, 60 * MIN);
    /* Back to normal priority: 240 min again, elapsed kept; breached stays. */
    a.priority = 1;
    assert_int_equal(sla_change(e, 1, &a, mon + MIN), 0);
    assert_int_equal(sla_view_get(e, 1, mon + MIN, &v), 0);
    assert_int_equal(v.clocks[SLA_RESOLUTION].remaining_ms, (240 - 61) * MIN);
    assert_true(v.clocks[SLA_RESOLUTION].breached);
    assert_int_equal(v.clocks[SLA_FIRST_RESPONSE].target_ms, 120 * MIN);
    assert_int_equal(sla_next_deadline(e), INT64_MAX);
    sla_destroy(e);
}

/* Next response and periodic update cycles; order of simultaneous events;
 * save and restore. */
static void test_cycles_order_restore(void **state)
{
    (void)state;
    sla_engine *e = sla_create();
    sla_event ev[32];
    const char *pj = "{\"warning\": 0.5, \"policies\": [{\"id\": 3, \"targets\": {"
                     "\"first_response\": {\"minutes\": 10, \"time\": \"calendar\"},"
                     "\"next_response\": {\"minutes\": 20, \"time\": \"calendar\"},"
                     "\"periodic_update\": {\"minutes\": 10, \"time\": \"calendar\"}}}]}";
    assert_int_equal(sla_client_set(e, 1, NULL, policies(pj), 0), 0);
    sla_attrs a = {.client = 1};
    int64_t t = ms("2026-06-01T00:00:00Z");
    assert_int_equal(sla_open(e, 20, &a, t), 0);
    assert_int_equal(sla_open(e, 10, &a, t), 0);
    drain(e, ev, 32);
    /* Both warn at t+5 min: interaction 10 before 20, first response
     * before periodic update. */
    sla_tick(e, t + 5 * MIN);
    assert_int_equal(drain(e, ev, 32), 4);
    int64_t want[4][2] = {{10, SLA_FIRST_RESPONSE},
                          {10, SLA_PERIODIC_UPDATE},
                          {20, SLA_FIRST_RESPONSE},
                          {20, SLA_PERIODIC_UPDATE}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ev[i].kind, SLA_E_WARNING);
        assert_int_equal(ev[i].interaction, want[i][0]);
        assert_int_equal(ev[i].target, want[i][1]);
    }
    /* An agent reply fulfils first response and the periodic cycle, which
     * starts again as cycle 2. */
    assert_int_equal(sla_agent_reply(e, 10, t + 6 * MIN), 0);
    assert_int_equal(drain(e, ev, 32), 2);
    assert_int_equal(ev[0].target, SLA_FIRST_RESPONSE);
    assert_int_equal(ev[0].kind, SLA_E_FULFILLED);
    assert_false(ev[0].breached);
    assert_int_equal(ev[1].target, SLA_PERIODIC_UPDATE);
    assert_int_equal(ev[1].cycle, 1);
    assert_int_equal(sla_customer_reply(e, 10, t + 7 * MIN), 0);
    sla_view v;
    assert_int_equal(sla_view_get(e, 10, t + 7 * MIN, &v), 0);
    assert_int_equal(v.clocks[SLA_NEXT_RESPONSE].state, SLA_RUNNING);
    assert_int_equal(v.clocks[SLA_NEXT_RESPONSE].due_ms, t + 27 * MIN);
    assert_int_equal(v.clocks[SLA_PERIODIC_UPDATE].cycle, 2);
    assert_int_equal(v.clocks[SLA_PERIODIC_UPDATE].due_ms, t + 16 * MIN);

    /* Save everything, rebuild a second engine, and both go on alike. */
    sla_engine *f = sla_create();
    assert_int_equal(sla_client_set(f, 1, NULL, policies(pj), 0), 0);
    sla_record r;
    int64_t ids[] = {10, 20};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sla_record_get(e, ids[i], &r), 0);
        assert_int_equal(sla_restore(f, &r, t + 7 * MIN), 0);
        assert_int_equal(sla_restore(f, &r, t + 7 * MIN), CD_ECONFLICT);
    }
    assert_int_equal(sla_next_deadline(f), sla_next_deadline(e));
    sla_event ev2[32];
    sla_tick(e, t + 60 * MIN);
    sla_tick(f, t + 60 * MIN);
    size_t n = drain(e, ev, 32);
    assert_int_equal(drain(f, ev2, 32), n);
    assert_true(n >= 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].kind, ev2[i].kind);
        assert_int_equal(ev[i].interaction, ev2[i].interaction);
        assert_int_equal(ev[i].at_ms, ev2[i].at_ms);
        assert_int_equal(ev[i].cycle, ev2[i].cycle);
    }
    sla_destroy(e);
    sla_destroy(f);
}

/* --- the random sequence against a slow reference --------------------------- */

typedef struct rclock {
    int state, business, warned, breached;
    uint32_t cycle;
    int64_t target, warn, el, elb, since;
} rclock;

typedef struct ritem {
    int64_t id, policy;
    sla_attrs a;
    int pending, responded, resolved, gone;
    rclock c[SLA_TARGETS];
} ritem;

#define RMAX 40
static ritem ref[RMAX];
static int nref;
static const calendar *rcal[4]; /* by client */
static sla_policies *rpol[4];
static sla_event rev[4096];
static size_t nrev;
static int64_t rnow;

static void remit(sla_event_kind kind, const ritem *it, int k, int64_t at, int64_t elapsed)
{
    sla_event *v = &rev[nrev++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->interaction = it->id;
    v->policy = it->policy;
    v->at_ms = at;
    v->target = k < 0 ? SLA_TARGETS : (sla_target)k;
    if (k >= 0) {
        v->cycle = it->c[k].cycle;
        v->breached = (uint8_t)it->c[k].breached;
        v->target_ms = it->c[k].target;
        v->elapsed_ms = elapsed;
    }
}

static const calendar *ref_cal(const ritem *it)
{
    return rcal[it->a.client];
}

static int64_t measure(const ritem *it, const rclock *c, int64_t a, int64_t b)
{
    return c->business ? calendar_business_between(ref_cal(it), a, b) : b - a;
}

static int ref_active(const rclock *c)
{
    return c->state == SLA_RUNNING || c->state == SLA_PAUSED;
}

static void ref_settle(ritem *it, int k)
{
    rclock *c = &it->c[k];
    if (c->state != SLA_RUNNING)
        return;
    c->el += rnow - c->since;
    c->elb += calendar_business_between(ref_cal(it), c->since, rnow);
    c->since = rnow;
}

/* The first instant at which clock c has counted x: bisection. */
static int64_t ref_reach(const ritem *it, const rclock *c, int64_t x)
{
    int64_t el = c->business ? c->elb : c->el;
    if (el >= x)
        return c->since;
    int64_t need = x - el, lo = c->since, hi = c->since + need;
    while (measure(it, c, c->since, hi) < need) {
        lo = hi;
        hi += (hi - c->since) * 2;
        if (hi > CALENDAR_MAX_MS)
            return INT64_MAX;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (measure(it, c, c->since, mid) >= need)
            hi = mid;
        else
            lo = mid;
    }
    return measure(it, c, c->since, lo) >= need ? lo : hi;
}

/* The next timer of a clock: 0 none, 1 warning, 2 breach. */
static int ref_timer(const ritem *it, const rclock *c, int64_t *at)
{
    if (c->state != SLA_RUNNING || !c->target || c->breached)
        return 0;
    if (!c->warned && c->warn) {
        *at = ref_reach(it, c, c->warn);
        return 1;
    }
    *at = ref_reach(it, c, c->target);
    return 2;
}

static void ref_fire(void)
{
    for (;;) {
        int bi = -1, bk = -1, bt = 0;
        int64_t bat = INT64_MAX;
        for (int i = 0; i < nref; i++) {
            if (ref[i].gone)
                continue;
            for (int k = 0; k < SLA_TARGETS; k++) {
                int64_t at;
                int t = ref_timer(&ref[i], &ref[i].c[k], &at);
                if (!t || at > rnow)
                    continue;
                if (bi < 0 || at < bat || (at == bat && ref[i].id < ref[bi].id) ||
                    (at == bat && ref[i].id == ref[bi].id && k < bk)) {
                    bi = i;
                    bk = k;
                    bt = t;
                    bat = at;
                }
            }
        }
        if (bi < 0)
            return;
        rclock *c = &ref[bi].c[bk];
        int64_t el = c->business ? c->elb : c->el, th = bt == 1 ? c->warn : c->target;
        if (bt == 1)
            c->warned = 1;
        else
            c->breached = 1;
        remit(bt == 1 ? SLA_E_WARNING : SLA_E_BREACHED, &ref[bi], bk, bat, el > th ? el : th);
    }
}

static const struct policy_view {
    int64_t target[SLA_TARGETS];
    int business[SLA_TARGETS];
    double warning;
} * ref_policy_lookup(int client, int64_t id);

static void ref_target(ritem *it, int k)
{
    rclock *c = &it->c[k];
    c->target = 0;
    c->business = 0;
    c->warn = 0;
    const struct policy_view *p = ref_policy_lookup((int)it->a.client, it->policy);
    if (p) {
        c->target = p->target[k];
        c->business = p->business[k];
        c->warn = (int64_t)((double)c->target * p->warning);
    }
}

static void ref_start(ritem *it, int k)
{
    rclock *c = &it->c[k];
    uint32_t cycle = c->cycle + 1;
    memset(c, 0, sizeof *c);
    c->cycle = cycle;
    c->state = it->pending ? SLA_PAUSED : SLA_RUNNING;
    c->since = rnow;
    ref_target(it, k);
}

static void ref_finish(ritem *it, int k, int st)
{
    rclock *c = &it->c[k];
    if (!ref_active(c))
        return;
    ref_settle(it, k);
    c->state = st;
    if (st == SLA_FULFILLED && c->target)
        remit(SLA_E_FULFILLED, it, k, rnow, c->business ? c->elb : c->el);
}

static void ref_rematch(ritem *it, int always)
{
    int64_t id = sla_policies_match(rpol[it->a.client], &it->a);
    int changed = id != it->policy;
    it->policy = id;
    if (changed || (always && id))
        remit(SLA_E_APPLIED, it, -1, rnow, 0);
    for (int k = 0; k < SLA_TARGETS; k++)
        if (ref_active(&it->c[k])) {
            ref_settle(it, k);
            ref_target(it, k);
        }
}

static void ref_pending(ritem *it, int p)
{
    if (it->pending == p)
        return;
    it->pending = p;
    for (int k = 0; k < SLA_TARGETS; k++) {
        rclock *c = &it->c[k];
        if (!ref_active(c))
            continue;
        ref_settle(it, k);
        c->state = p ? SLA_PAUSED : SLA_RUNNING;
        c->since = rnow;
    }
}

/* The reference reads targets through the engine's public parse only by
 * matching; targets come from this table, the same policies in plain C. */
static struct policy_view PV[4][8];
static int64_t PVID[4][8];

static const struct policy_view *ref_policy_lookup(int client, int64_t id)
{
    for (int i = 0; i < 8 && id; i++)
        if (PVID[client][i] == id)
            return &PV[client][i];
    return NULL;
}

static uint64_t rs = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static const char *CATS[] = {NULL, "billing", "tech", "refund"};

static void rand_attrs(sla_attrs *a, int client)
{
    a->client = client;
    a->queue = (int64_t)(rnd() % 3);
    a->category = CATS[rnd() % 4];
    a->priority = (uint8_t)(rnd() % 4);
    a->tier = (uint8_t)(rnd() % 3);
    a->channel = (uint8_t)(rnd() % 5);
}

static void test_random_vs_reference(void **state)
{
    (void)state;
    /* Client 1: office hours in Berlin; client 2: 24/7 with calendar and
     * business targets; client 3: never configured. */
    const char *p1 = "{\"warning\": 0.8, \"policies\": ["
                     "{\"id\": 1, \"when\": {\"priority\": [\"urgent\", \"high\"]}, \"targets\": "
                     "{\"first_response\": {\"minutes\": 30}, \"next_response\": {\"minutes\": "
                     "60}, \"periodic_update\": {\"minutes\": 240, \"time\": \"calendar\"}, "
                     "\"resolution\": {\"minutes\": 480}}},"
                     "{\"id\": 2, \"when\": {\"tier\": [\"enterprise\"], \"channel\": "
                     "[\"voice\", \"chat\"]}, \"targets\": {\"first_response\": {\"minutes\": "
                     "15, \"time\": \"calendar\"}, \"resolution\": {\"minutes\": 960}}, "
                     "\"warning\": 0.5},"
                     "{\"id\": 3, \"when\": {\"category\": [\"billing\"], \"queue\": [1, 2]}, "
                     "\"targets\": {\"resolution\": {\"minutes\": 1440, \"time\": "
                     "\"calendar\"}}},"
                     "{\"id\": 4, \"targets\": {\"first_response\": {\"minutes\": 120}, "
                     "\"next_response\": {\"minutes\": 240}, \"resolution\": {\"minutes\": "
                     "2400}}, \"warning\": 0}]}";
    const char *p2 = "{\"policies\": ["
                     "{\"id\": 5, \"when\": {\"priority\": [\"low\"]}, \"targets\": "
                     "{\"resolution\": {\"minutes\": 300}}},"
                     "{\"id\": 6, \"targets\": {\"first_response\": {\"minutes\": 45, \"time\": "
                     "\"calendar\"}, \"next_response\": {\"minutes\": 90}, \"periodic_update\": "
                     "{\"minutes\": 180}}}]}";
    static const struct {
        int client;
        int64_t id, m[4];
        int biz[4];
        double w;
    } tab[] = {
        {1, 1, {30, 60, 240, 480}, {1, 1, 0, 1}, 0.8}, {1, 2, {15, 0, 0, 960}, {0, 0, 0, 1}, 0.5},
        {1, 3, {0, 0, 0, 1440}, {0, 0, 0, 0}, 0.8},    {1, 4, {120, 240, 0, 2400}, {1, 1, 0, 1}, 0},
        {2, 5, {0, 0, 0, 300}, {0, 0, 0, 1}, 0.8},     {2, 6, {45, 90, 180, 0}, {0, 1, 1, 0}, 0.8},
    };
    int slot[4] = {0};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++) {
        int c = tab[i].client, s = slot[c]++;
        PVID[c][s] = tab[i].id;
        for (int k = 0; k < 4; k++) {
            PV[c][s].target[k] = tab[i].m[k] * MIN;
            PV[c][s].business[k] = tab[i].biz[k];
        }
        PV[c][s].warning = tab[i].w;
    }
    sla_engine *e = sla_create();
    calendar *cal1 = office(), *always = NULL;
    assert_int_equal(calendar_always(&always), 0);
    rcal[1] = cal1;
    rcal[2] = always;
    rcal[3] = always;
    rpol[1] = policies(p1);
    rpol[2] = policies(p2);
    rpol[3] = NULL;
    assert_int_equal(sla_client_set(e, 1, office(), policies(p1), 0), 0);
    assert_int_equal(sla_client_set(e, 2, NULL, policies(p2), 0), 0);

    rnow = ms("2026-03-20T06:00:00Z");
    sla_event got[512];
    int64_t next_id = 1;
    size_t total = 0;
    for (int step = 0; step < 8000; step++) {
        uint64_t r = rnd() % 100;
        int64_t dt = r < 10 ? 0 : (int64_t)(rnd() % (r < 95 ? 3 * HOUR : 3 * 24 * HOUR));
        rnow += dt;
        nrev = 0;
        int i = nref ? (int)(rnd() % (uint64_t)nref) : -1;
        int op = (int)(rnd() % 9);
        int fs = nref < RMAX ? nref : -1;
        for (int j = 0; fs < 0 && j < nref; j++)
            if (ref[j].gone)
                fs = j;
        if (fs >= 0 && (op == 0 || i < 0 || ref[i].gone)) {
            ritem *it = &ref[fs];
            nref += fs == nref;
            memset(it, 0, sizeof *it);
            it->id = next_id++ * 7919 % 1000003 + 1; /* ids out of order */
            rand_attrs(&it->a, (int)(1 + rnd() % 3));
            ref_fire();
            ref_rematch(it, 1);
            ref_start(it, SLA_FIRST_RESPONSE);
            ref_start(it, SLA_PERIODIC_UPDATE);
            ref_start(it, SLA_RESOLUTION);
            assert_int_equal(sla_open(e, it->id, &it->a, rnow), 0);
        } else if (i >= 0 && ref[i].resolved && !ref[i].gone) {
            ref[i].gone = 1; /* forget moves no time: nothing fires */
            assert_int_equal(sla_forget(e, ref[i].id), 0);
        } else if (i < 0 || ref[i].gone || op == 8) {
            ref_fire();
            assert_int_equal(sla_tick(e, rnow), 0);
        } else {
            ritem *it = &ref[i];
            ref_fire();
            if (op == 1 || op == 0) {
                sla_attrs a;
                rand_attrs(&a, (int)it->a.client);
                it->a = a;
                ref_rematch(it, 0);
                assert_int_equal(sla_change(e, it->id, &a, rnow), 0);
            } else if (op == 2 || op == 3) {
                ref_finish(it, SLA_FIRST_RESPONSE, SLA_FULFILLED);
                it->responded = 1;
                ref_finish(it, SLA_NEXT_RESPONSE, SLA_FULFILLED);
                if (ref_active(&it->c[SLA_PERIODIC_UPDATE])) {
                    ref_finish(it, SLA_PERIODIC_UPDATE, SLA_FULFILLED);
                    ref_start(it, SLA_PERIODIC_UPDATE);
                }
                assert_int_equal(sla_agent_reply(e, it->id, rnow), 0);
            } else if (op == 4) {
                ref_pending(it, 0);
                if (it->responded && !ref_active(&it->c[SLA_NEXT_RESPONSE]))
                    ref_start(it, SLA_NEXT_RESPONSE);
                assert_int_equal(sla_customer_reply(e, it->id, rnow), 0);
            } else if (op == 5 || op == 6) {
                int p = op == 5;
                ref_pending(it, p);
                assert_int_equal(sla_pending(e, it->id, p, rnow), 0);
            } else {
                ref_finish(it, SLA_RESOLUTION, SLA_FULFILLED);
                for (int k = 0; k < SLA_TARGETS; k++)
                    ref_finish(it, k, SLA_STOPPED);
                it->resolved = 1;
                assert_int_equal(sla_resolve(e, it->id, rnow), 0);
                if (rnd() % 2) {
                    it->gone = 1;
                    assert_int_equal(sla_forget(e, it->id), 0);
                }
            }
        }
        size_t n = sla_events(e, got, 512);
        if (n != nrev)
            print_message("step %d: %zu events, reference %zu\n", step, n, nrev);
        assert_int_equal(n, nrev);
        for (size_t k = 0; k < n; k++) {
            const sla_event *x = &got[k], *y = &rev[k];
            if (x->kind != y->kind || x->interaction != y->interaction || x->target != y->target ||
                x->at_ms != y->at_ms || x->cycle != y->cycle || x->policy != y->policy ||
                x->elapsed_ms != y->elapsed_ms || x->breached != y->breached)
                print_message("step %d event %zu: %s %lld %s c%u at %lld el %lld p%lld b%d; "
                              "reference %s %lld %s c%u at %lld el %lld p%lld b%d\n",
                              step, k, sla_event_name(x->kind), (long long)x->interaction,
                              sla_target_name(x->target), x->cycle, (long long)x->at_ms,
                              (long long)x->elapsed_ms, (long long)x->policy, x->breached,
                              sla_event_name(y->kind), (long long)y->interaction,
                              sla_target_name(y->target), y->cycle, (long long)y->at_ms,
                              (long long)y->elapsed_ms, (long long)y->policy, y->breached);
            assert_memory_equal(x, y, sizeof *x);
        }
        total += n;
        /* The next deadline is never late. */
        int64_t nd = sla_next_deadline(e);
        for (int j = 0; j < nref; j++)
            for (int k = 0; k < SLA_TARGETS && !ref[j].gone; k++) {
                int64_t at;
                if (ref_timer(&ref[j], &ref[j].c[k], &at))
                    assert_true(nd <= at);
            }
        /* Now and then, rebuild the engine from saved records. */
        if (step % 500 == 499) {
            sla_engine *f = sla_create();
            assert_int_equal(sla_client_set(f, 1, office(), policies(p1), 0), 0);
            assert_int_equal(sla_client_set(f, 2, NULL, policies(p2), 0), 0);
            for (int j = 0; j < nref; j++) {
                if (ref[j].gone)
                    continue;
                sla_record rec;
                assert_int_equal(sla_record_get(e, ref[j].id, &rec), 0);
                assert_int_equal(sla_restore(f, &rec, rnow), 0);
            }
            assert_int_equal(sla_next_deadline(f), nd);
            sla_destroy(e);
            e = f;
        }
    }
    print_message("%zu events checked\n", total);
    assert_true(total > 1000);
    sla_destroy(e);
    calendar_free(cal1);
    calendar_free(always);
    sla_policies_free(rpol[1]);
    sla_policies_free(rpol[2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_calendar_time),
        cmocka_unit_test(test_business_pause_retarget),
        cmocka_unit_test(test_cycles_order_restore),
        cmocka_unit_test(test_random_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
