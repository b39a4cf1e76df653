/* test_route.c - the routing engine (src/core/route.c): one test per rule,
 * then property tests: seeded random event streams checked after every
 * event against an independent brute-force model (eligibility recomputed
 * from scratch over all agents x waiting interactions), and a starvation
 * test for the bound stated in docs/routing.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/route.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S 1000LL /* one second in ms */

/* --- helpers for the rule tests ------------------------------------------- */

static route_queue queue_cfg(int64_t id, int64_t client)
{
    route_queue q = {.id = id, .client_id = client};
    int32_t up[4] = {0, 100, 200, 300}, tp[3] = {0, 50, 100};
    memcpy(q.urgency_points, up, sizeof up);
    memcpy(q.tier_points, tp, sizeof tp);
    q.aging_points_per_s = 1;
    q.order[0] = ROUTE_BY_MATCH;
    q.order[1] = ROUTE_BY_IDLE;
    q.order[2] = ROUTE_BY_HANDLED;
    q.offer_timeout_s = 10;
    q.max_missed = 3;
    return q;
}

static route_agent agent_cfg(int64_t id, int64_t client, int nskills, const route_skill *sk)
{
    route_agent a = {.id = id, .nclients = 1};
    a.clients[0] = client;
    a.nskills = (uint8_t)nskills;
    if (nskills)
        memcpy(a.skills, sk, nskills * sizeof *sk);
    return a;
}

static route_interaction item_cfg(int64_t id, int64_t client, int64_t queue, route_channel ch,
                                  int64_t arrived)
{
    route_interaction it = {.id = id, .client_id = client, .queue_id = queue, .channel = ch};
    it.urgency = ROUTE_NORMAL;
    it.arrived_ms = arrived;
    return it;
}

static void add_agent(route_engine *e, int64_t id, int64_t client, int nskills,
                      const route_skill *sk, int64_t now)
{
    route_agent a = agent_cfg(id, client, nskills, sk);
    assert_int_equal(route_agent_set(e, &a, now), 0);
    assert_int_equal(route_agent_state(e, id, ROUTE_AVAILABLE, 0, now), 0);
}

static size_t drain(route_engine *e, route_decision *d, size_t max)
{
    return route_decisions(e, d, max);
}

/* The only decision pending is an offer of item to agent. */
static void expect_offer(route_engine *e, int64_t item, int64_t agent)
{
    route_decision d[8];
    size_t n = drain(e, d, 8);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].kind, ROUTE_D_OFFER);
    assert_int_equal(d[0].interaction_id, item);
    assert_int_equal(d[0].agent_id, agent);
}

static void expect_none(route_engine *e)
{
    route_decision d[8];
    assert_int_equal(drain(e, d, 8), 0);
}

static int where(route_engine *e, int64_t item, int64_t *agent)
{
    int w;
    int64_t a = 0;
    int rc = route_interaction_where(e, item, &w, &a);
    if (agent)
        *agent = a;
    return rc ? rc : w;
}

static route_engine *engine_with_queue(void)
{
    route_engine *e = route_create();
    assert_non_null(e);
    route_queue q = queue_cfg(10, 1);
    assert_int_equal(route_queue_set(e, &q, 0), 0);
    return e;
}

/* --- rule tests ---------------------------------------------------------------- */

static void test_capacity(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    add_agent(e, 1, 1, 0, NULL, 0);
    for (int i = 1; i <= 4; i++) {
        route_interaction it = item_cfg(100 + i, 1, 10, ROUTE_CHAT, 0);
        assert_int_equal(route_arrive(e, &it, 0), 0);
    }
    route_decision d[8];
    assert_int_equal(drain(e, d, 8), 3); /* three chats: 60 units */
    route_agent_view v;
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.used_units, 60);
    assert_int_equal(where(e, 104, NULL), 0);
    /* accept two, reject-free the third by finishing: room for an email */
    assert_int_equal(route_accept(e, 101, 1, 1 * S), 0);
    assert_int_equal(route_accept(e, 102, 1, 1 * S), 0);
    assert_int_equal(route_accept(e, 103, 1, 1 * S), 0);
    route_interaction em = item_cfg(200, 1, 10, ROUTE_EMAIL, 1 * S);
    assert_int_equal(route_arrive(e, &em, 1 * S), 0);
    expect_none(e);
    assert_int_equal(route_finish(e, 101, 1, 0, 2 * S), 0);
    expect_offer(e, 104, 1); /* the older chat first: same points, earlier */
    assert_int_equal(route_accept(e, 104, 1, 2 * S), 0);
    assert_int_equal(route_finish(e, 102, 1, 0, 3 * S), 0);
    expect_offer(e, 200, 1); /* 40 used + 12 fits; a chat would not */
    /* voice needs an agent with no work at all */
    route_interaction call = item_cfg(300, 1, 10, ROUTE_VOICE, 3 * S);
    call.urgency = ROUTE_URGENT;
    assert_int_equal(route_arrive(e, &call, 3 * S), 0);
    expect_none(e);
    add_agent(e, 2, 1, 0, NULL, 4 * S);
    expect_offer(e, 300, 2);
    assert_int_equal(route_accept(e, 300, 2, 4 * S), 0);
    /* a call blocks other work whatever the weights */
    route_agent a2 = agent_cfg(2, 1, 0, NULL);
    a2.weight[ROUTE_VOICE] = 20;
    assert_int_equal(route_agent_set(e, &a2, 4 * S), 0);
    route_interaction chat = item_cfg(301, 1, 10, ROUTE_CHAT, 4 * S);
    assert_int_equal(route_arrive(e, &chat, 4 * S), 0);
    expect_none(e);
    assert_int_equal(route_agent_view_get(e, 2, &v), 0);
    assert_int_equal(v.used_units, 60); /* units fixed at offer time */
    assert_int_equal(route_finish(e, 300, 2, 0, 5 * S), 0);
    expect_offer(e, 301, 2);
    /* a weight above capacity switches the channel off */
    route_agent a3 = agent_cfg(3, 1, 0, NULL);
    a3.weight[ROUTE_VOICE] = 61;
    assert_int_equal(route_agent_set(e, &a3, 5 * S), 0);
    assert_int_equal(route_agent_state(e, 3, ROUTE_AVAILABLE, 0, 5 * S), 0);
    route_interaction call2 = item_cfg(302, 1, 10, ROUTE_VOICE, 5 * S);
    assert_int_equal(route_arrive(e, &call2, 5 * S), 0);
    expect_none(e);
    assert_true(route_memory_bytes(e) > 0);
    route_destroy(e);
}

static void test_priority_and_choice(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    route_interaction lo = item_cfg(1, 1, 10, ROUTE_CHAT, 0);
    lo.urgency = ROUTE_LOW;
    route_interaction hi = item_cfg(2, 1, 10, ROUTE_CHAT, 50 * S);
    hi.urgency = ROUTE_HIGH; /* 200 points vs 0 + 50 s of aging */
    route_interaction ent = item_cfg(3, 1, 10, ROUTE_CHAT, 50 * S);
    ent.urgency = ROUTE_NORMAL;
    ent.tier = ROUTE_ENTERPRISE; /* 100 + 100 = 200, same score as hi, later id */
    assert_int_equal(route_arrive(e, &lo, 50 * S), 0);
    assert_int_equal(route_arrive(e, &hi, 50 * S), 0);
    assert_int_equal(route_arrive(e, &ent, 50 * S), 0);
    route_skill en3 = {5, 3}, en5 = {5, 5};
    route_agent a6 = agent_cfg(6, 1, 1, &en3), a7 = agent_cfg(7, 1, 1, &en5);
    a6.weight[ROUTE_CHAT] = 60;
    a7.weight[ROUTE_CHAT] = 60;
    assert_int_equal(route_agent_set(e, &a6, 50 * S), 0);
    assert_int_equal(route_agent_set(e, &a7, 50 * S), 0);
    assert_int_equal(route_agent_state(e, 6, ROUTE_AVAILABLE, 0, 50 * S), 0);
    expect_offer(e, 2, 6); /* the only free agent takes the highest score */
    assert_int_equal(route_agent_state(e, 7, ROUTE_AVAILABLE, 0, 50 * S), 0);
    expect_offer(e, 3, 7); /* tie on score: earlier arrival, then lower id */
    route_destroy(e);

    /* agent choice: best match, then longest idle, then fewest handled */
    e = engine_with_queue();
    route_agent b1 = agent_cfg(1, 1, 1, &en3), b2 = agent_cfg(2, 1, 1, &en5);
    assert_int_equal(route_agent_set(e, &b1, 0), 0);
    assert_int_equal(route_agent_set(e, &b2, 0), 0);
    assert_int_equal(route_agent_state(e, 2, ROUTE_AVAILABLE, 0, 1 * S), 0);
    assert_int_equal(route_agent_state(e, 1, ROUTE_AVAILABLE, 0, 2 * S), 0);
    route_interaction x = item_cfg(20, 1, 10, ROUTE_VOICE, 3 * S);
    x.required[0] = (route_skill){5, 2};
    x.nrequired = 1;
    assert_int_equal(route_arrive(e, &x, 3 * S), 0);
    expect_offer(e, 20, 2); /* level 5 beats level 3 */
    assert_int_equal(route_reject(e, 20, 2, 3 * S), 0);
    expect_offer(e, 20, 1);
    route_queue q = queue_cfg(10, 1);
    q.order[0] = ROUTE_BY_IDLE;
    q.order[1] = ROUTE_BY_MATCH;
    assert_int_equal(route_queue_set(e, &q, 3 * S), 0);
    route_interaction y = item_cfg(21, 1, 10, ROUTE_VOICE, 3 * S);
    assert_int_equal(route_arrive(e, &y, 3 * S), 0);
    expect_offer(e, 21, 2); /* agent 1 holds a call */
    route_destroy(e);
}

static void test_widening(void **state)
{
    (void)state;
    route_engine *e = route_create();
    route_queue q = queue_cfg(10, 1);
    q.steps[0] = (route_step){30, 1, 8};
    q.steps[1] = (route_step){60, 1, 0};
    q.nsteps = 2;
    assert_int_equal(route_queue_set(e, &q, 0), 0);
    route_skill fr3 = {33, 3};
    add_agent(e, 1, 1, 1, &fr3, 0);
    add_agent(e, 2, 1, 0, NULL, 0);
    route_interaction it = item_cfg(5, 1, 10, ROUTE_CHAT, 0);
    it.required[0] = (route_skill){33, 4};
    it.required[1] = (route_skill){44, 1};
    it.nrequired = 2;
    assert_int_equal(route_arrive(e, &it, 0), 0);
    expect_none(e);
    assert_int_equal(route_next_deadline(e), 30 * S);
    assert_int_equal(route_tick(e, 30 * S - 1), 0);
    expect_none(e);
    assert_int_equal(route_tick(e, 30 * S), 0);
    expect_none(e); /* level 3 is enough now, but skill 44 is still required */
    assert_int_equal(route_tick(e, 60 * S), 0);
    expect_offer(e, 5, 1); /* any agent now; agent 1 matches better */
    /* bad steps: narrowing again */
    q.steps[1].relax = 0;
    assert_int_equal(route_queue_set(e, &q, 60 * S), CD_EINVAL);
    route_destroy(e);
}

static void test_overflow(void **state)
{
    (void)state;
    route_engine *e = route_create();
    route_queue q2 = queue_cfg(20, 1), q1 = queue_cfg(10, 1), other = queue_cfg(30, 2);
    assert_int_equal(route_queue_set(e, &q2, 0), 0);
    assert_int_equal(route_queue_set(e, &other, 0), 0);
    q1.overflow_after_s = 60;
    q1.overflow_queue = 30; /* another client's queue */
    assert_int_equal(route_queue_set(e, &q1, 0), CD_EINVAL);
    q1.overflow_queue = 99; /* unknown */
    assert_int_equal(route_queue_set(e, &q1, 0), CD_EINVAL);
    q1.overflow_queue = 20;
    assert_int_equal(route_queue_set(e, &q1, 0), 0);
    route_interaction it = item_cfg(5, 1, 10, ROUTE_EMAIL, 0);
    assert_int_equal(route_arrive(e, &it, 0), 0);
    assert_int_equal(route_tick(e, 59 * S), 0);
    expect_none(e);
    assert_int_equal(route_tick(e, 60 * S), 0);
    route_decision d[4];
    assert_int_equal(drain(e, d, 4), 1);
    assert_int_equal(d[0].kind, ROUTE_D_OVERFLOW);
    assert_int_equal(d[0].queue_id, 20);
    route_queue_view v;
    assert_int_equal(route_queue_view_get(e, 10, &v), 0);
    assert_int_equal(v.waiting, 0);
    assert_int_equal(route_queue_view_get(e, 20, &v), 0);
    assert_int_equal(v.waiting, 1);
    assert_int_equal(v.oldest_arrived_ms, 0);
    add_agent(e, 1, 1, 0, NULL, 61 * S);
    route_decision o[4];
    assert_int_equal(drain(e, o, 4), 1);
    assert_int_equal(o[0].queue_id, 20);
    assert_int_equal(route_accept(e, 5, 1, 61 * S), 0);
    /* an interaction restored long after its overflow time moves at once */
    route_interaction old = item_cfg(6, 1, 10, ROUTE_VOICE, 0);
    assert_int_equal(route_arrive(e, &old, 100 * S), 0);
    assert_int_equal(drain(e, d, 4), 1);
    assert_int_equal(d[0].kind, ROUTE_D_OVERFLOW);
    route_destroy(e);
}

static void test_preferred_window(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    add_agent(e, 1, 1, 0, NULL, 0);
    add_agent(e, 2, 1, 0, NULL, 0);
    route_interaction busy = item_cfg(9, 1, 10, ROUTE_VOICE, 0);
    busy.preferred_agent = 1;
    busy.preferred_timeout_s = 5;
    assert_int_equal(route_arrive(e, &busy, 0), 0);
    expect_offer(e, 9, 1); /* the preferred agent is free: at once */
    assert_int_equal(route_accept(e, 9, 1, 0), 0);
    route_interaction it = item_cfg(10, 1, 10, ROUTE_VOICE, 1 * S);
    it.preferred_agent = 1;
    it.preferred_timeout_s = 20;
    it.urgency = ROUTE_URGENT;
    route_interaction other = item_cfg(11, 1, 10, ROUTE_VOICE, 1 * S);
    other.urgency = ROUTE_LOW;
    assert_int_equal(route_arrive(e, &it, 1 * S), 0);
    assert_int_equal(route_arrive(e, &other, 1 * S), 0);
    expect_offer(e, 11, 2); /* agent 2 may not take 10 during the window */
    assert_int_equal(route_accept(e, 11, 2, 1 * S), 0);
    assert_int_equal(route_finish(e, 11, 2, 0, 5 * S), 0);
    expect_none(e);
    assert_int_equal(route_tick(e, 21 * S), 0);
    expect_offer(e, 10, 2); /* window over */
    /* rejection by the preferred agent closes the window early */
    route_interaction p = item_cfg(12, 1, 10, ROUTE_VOICE, 21 * S);
    p.preferred_agent = 1;
    p.preferred_timeout_s = 60;
    assert_int_equal(route_finish(e, 9, 1, 0, 21 * S), 0);
    assert_int_equal(route_arrive(e, &p, 21 * S), 0);
    expect_offer(e, 12, 1);
    assert_int_equal(route_accept(e, 10, 2, 22 * S), 0);
    assert_int_equal(route_finish(e, 10, 2, 0, 22 * S), 0);
    expect_none(e);
    assert_int_equal(route_reject(e, 12, 1, 23 * S), 0);
    expect_offer(e, 12, 2);
    /* a preferred agent unknown at arrival: no window */
    route_interaction u = item_cfg(13, 1, 10, ROUTE_VOICE, 23 * S);
    u.preferred_agent = 77;
    u.preferred_timeout_s = 60;
    assert_int_equal(route_arrive(e, &u, 23 * S), 0);
    expect_offer(e, 13, 1);
    route_destroy(e);
}

static void test_reject_requeue(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    route_interaction x = item_cfg(1, 1, 10, ROUTE_VOICE, 0);
    x.urgency = ROUTE_HIGH;
    route_interaction y = item_cfg(2, 1, 10, ROUTE_VOICE, 0);
    y.urgency = ROUTE_LOW;
    assert_int_equal(route_arrive(e, &x, 0), 0);
    assert_int_equal(route_arrive(e, &y, 0), 0);
    add_agent(e, 1, 1, 0, NULL, 1 * S);
    expect_offer(e, 1, 1);
    assert_int_equal(route_reject(e, 1, 1, 2 * S), 0);
    expect_offer(e, 2, 1); /* excluded from 1, so it gets 2 */
    route_agent_view v;
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.missed_in_row, 0);
    /* a later interaction of the same priority comes after 1: its place */
    route_interaction z = item_cfg(3, 1, 10, ROUTE_VOICE, 2 * S);
    z.urgency = ROUTE_HIGH;
    assert_int_equal(route_arrive(e, &z, 2 * S), 0);
    add_agent(e, 2, 1, 0, NULL, 3 * S);
    expect_offer(e, 1, 2);
    /* expiry works the same way and counts a miss */
    assert_int_equal(route_tick(e, 13 * S), 0);
    route_decision d[8];
    size_t n = drain(e, d, 8);
    assert_int_equal(n, 4);
    assert_int_equal(d[0].kind, ROUTE_D_EXPIRED);
    assert_int_equal(d[1].kind, ROUTE_D_EXPIRED);
    assert_int_equal(d[2].kind, ROUTE_D_OFFER);
    assert_int_equal(d[3].kind, ROUTE_D_OFFER);
    /* 2 (excluded from agent 1) goes to agent 2, 3 to agent 1 */
    for (int i = 2; i < 4; i++)
        assert_int_equal(d[i].agent_id, d[i].interaction_id == 2 ? 2 : 1);
    assert_int_equal(route_agent_view_get(e, 2, &v), 0);
    assert_int_equal(v.missed_in_row, 1);
    route_destroy(e);
}

/* An interaction restored after a restart keeps the agents that rejected or
 * missed it: they never get it, not even as its preferred agent; an agent
 * not yet known is excluded once it appears. */
static void test_arrival_exclusions(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    add_agent(e, 1, 1, 0, NULL, 0); /* idle longest: everyone's first choice */
    add_agent(e, 2, 1, 0, NULL, 1 * S);
    route_interaction x = item_cfg(1, 1, 10, ROUTE_VOICE, 2 * S);
    x.excluded[0] = 1;
    x.excluded[1] = 99; /* unknown yet */
    x.excluded[2] = 1;  /* duplicates count once */
    x.nexcluded = 3;
    assert_int_equal(route_arrive(e, &x, 2 * S), 0);
    expect_offer(e, 1, 2);
    route_interaction y = item_cfg(2, 1, 10, ROUTE_VOICE, 2 * S);
    assert_int_equal(route_arrive(e, &y, 2 * S), 0);
    expect_offer(e, 2, 1);
    /* the preferred agent excluded: no window, anyone else may take it */
    route_interaction z = item_cfg(3, 1, 10, ROUTE_CHAT, 3 * S);
    z.preferred_agent = 3;
    z.preferred_timeout_s = 60;
    z.excluded[0] = 3;
    z.nexcluded = 1;
    assert_int_equal(route_arrive(e, &z, 3 * S), 0);
    add_agent(e, 3, 1, 0, NULL, 4 * S);
    expect_none(e);
    add_agent(e, 4, 1, 0, NULL, 5 * S);
    expect_offer(e, 3, 4);
    /* an agent unknown at arrival, added later, is still excluded */
    route_interaction w = item_cfg(4, 1, 10, ROUTE_VOICE, 6 * S);
    w.excluded[0] = 99;
    w.excluded[1] = 3;
    w.nexcluded = 2;
    assert_int_equal(route_arrive(e, &w, 6 * S), 0);
    add_agent(e, 99, 1, 0, NULL, 7 * S);
    expect_none(e);
    assert_int_equal(where(e, 4, NULL), 0);
    /* a later rejection adds to the list: 3 took the chat, so only 5 is left */
    add_agent(e, 5, 1, 0, NULL, 8 * S);
    expect_offer(e, 4, 5);
    assert_int_equal(route_reject(e, 4, 5, 9 * S), 0);
    expect_none(e);
    /* restored work keeps its list too; bad lists change nothing */
    route_interaction v = item_cfg(5, 1, 10, ROUTE_EMAIL, 9 * S);
    v.excluded[0] = 2;
    v.nexcluded = 1;
    assert_int_equal(route_assign(e, &v, 1, 9 * S), 0);
    route_interaction bad = item_cfg(6, 1, 10, ROUTE_EMAIL, 9 * S);
    bad.nexcluded = ROUTE_MAX_EXCLUDED + 1;
    assert_int_equal(route_arrive(e, &bad, 9 * S), CD_EINVAL);
    assert_int_equal(route_assign(e, &bad, 1, 9 * S), CD_EINVAL);
    bad.nexcluded = 2;
    bad.excluded[0] = 4;
    bad.excluded[1] = 0;
    assert_int_equal(route_arrive(e, &bad, 9 * S), CD_EINVAL);
    bad.excluded[1] = -7;
    assert_int_equal(route_arrive(e, &bad, 9 * S), CD_EINVAL);
    assert_int_equal(where(e, 6, NULL), CD_ENOTFOUND);
    expect_none(e);
    route_destroy(e);
}

static void test_missed_away(void **state)
{
    (void)state;
    route_engine *e = route_create();
    route_queue q = queue_cfg(10, 1);
    q.max_missed = 2;
    q.offer_timeout_s = 5;
    assert_int_equal(route_queue_set(e, &q, 0), 0);
    add_agent(e, 1, 1, 0, NULL, 0);
    for (int i = 1; i <= 3; i++) {
        route_interaction it = item_cfg(i, 1, 10, ROUTE_VOICE, 0);
        assert_int_equal(route_arrive(e, &it, 0), 0);
    }
    expect_offer(e, 1, 1);
    assert_int_equal(route_tick(e, 5 * S), 0);
    route_decision d[8];
    assert_int_equal(drain(e, d, 8), 2); /* expired 1, offered 2 */
    assert_int_equal(d[1].interaction_id, 2);
    assert_int_equal(route_tick(e, 10 * S), 0);
    assert_int_equal(drain(e, d, 8), 2); /* expired 2, away */
    assert_int_equal(d[0].kind, ROUTE_D_EXPIRED);
    assert_int_equal(d[1].kind, ROUTE_D_AGENT_AWAY);
    assert_int_equal(d[1].agent_id, 1);
    route_agent_view v;
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.state, ROUTE_AWAY);
    assert_int_equal(v.away_reason, ROUTE_AWAY_MISSED);
    assert_int_equal(v.missed_in_row, 0);
    /* back: it gets 3 only, as 1 and 2 exclude it */
    assert_int_equal(route_agent_state(e, 1, ROUTE_AVAILABLE, 0, 11 * S), 0);
    expect_offer(e, 3, 1);
    /* an accept in between resets the count */
    assert_int_equal(route_accept(e, 3, 1, 11 * S), 0);
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.handled_today, 1);
    route_day_reset(e);
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.handled_today, 0);
    /* caller's own away reason */
    assert_int_equal(route_agent_away(e, 1, 42, 12 * S), 0);
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.away_reason, 42);
    route_destroy(e);
}

/* An answer arriving as the timers of the same moment withdraw its offer. */
static void test_answer_withdrawn_by_timers(void **state)
{
    (void)state;
    route_engine *e = route_create();
    route_queue q = queue_cfg(10, 1);
    q.max_missed = 1;
    q.offer_timeout_s = 5;
    assert_int_equal(route_queue_set(e, &q, 0), 0);
    add_agent(e, 1, 1, 0, NULL, 0);
    route_interaction x = item_cfg(1, 1, 10, ROUTE_CHAT, 0);
    route_interaction y = item_cfg(2, 1, 10, ROUTE_CHAT, 1 * S);
    assert_int_equal(route_arrive(e, &x, 0), 0);
    expect_offer(e, 1, 1);
    assert_int_equal(route_arrive(e, &y, 1 * S), 0);
    expect_offer(e, 2, 1);
    /* at 5.5 s offer 1 has expired: agent 1 is away, offer 2 withdrawn */
    assert_int_equal(route_accept(e, 2, 1, 5500), CD_ESTATE);
    route_decision d[8];
    assert_int_equal(drain(e, d, 8), 3);
    assert_int_equal(d[0].kind, ROUTE_D_EXPIRED);
    assert_int_equal(d[1].kind, ROUTE_D_AGENT_AWAY);
    assert_int_equal(d[2].kind, ROUTE_D_WITHDRAWN);
    assert_int_equal(where(e, 2, NULL), 0);
    assert_int_equal(route_reject(e, 2, 1, 5500), CD_ESTATE);
    route_agent_view v;
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.used_units, 0);
    assert_int_equal(v.offered, 0);
    route_destroy(e);
}

static void test_wrapup(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    add_agent(e, 1, 1, 0, NULL, 0);
    route_interaction a = item_cfg(1, 1, 10, ROUTE_VOICE, 0);
    route_interaction b = item_cfg(2, 1, 10, ROUTE_VOICE, 0);
    assert_int_equal(route_arrive(e, &a, 0), 0);
    assert_int_equal(route_arrive(e, &b, 0), 0);
    expect_offer(e, 1, 1);
    assert_int_equal(route_accept(e, 1, 1, 1 * S), 0);
    assert_int_equal(route_finish(e, 1, 1, 30, 10 * S), 0);
    expect_none(e);
    route_agent_view v;
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.state, ROUTE_WRAPUP);
    assert_int_equal(v.wrapup_until_ms, 40 * S);
    assert_int_equal(route_next_deadline(e), 40 * S);
    assert_int_equal(route_tick(e, 39 * S), 0);
    expect_none(e);
    assert_int_equal(route_tick(e, 40 * S), 0);
    route_decision d[4];
    assert_int_equal(drain(e, d, 4), 2);
    assert_int_equal(d[0].kind, ROUTE_D_WRAPUP_DONE);
    assert_int_equal(d[1].kind, ROUTE_D_OFFER);
    assert_int_equal(d[1].interaction_id, 2);
    /* leaving AVAILABLE withdraws the open offer */
    add_agent(e, 2, 1, 0, NULL, 41 * S);
    assert_int_equal(route_agent_state(e, 1, ROUTE_WRAPUP, 5, 41 * S), 0);
    assert_int_equal(drain(e, d, 4), 2);
    assert_int_equal(d[0].kind, ROUTE_D_WITHDRAWN);
    assert_int_equal(d[1].kind, ROUTE_D_OFFER);
    assert_int_equal(d[1].agent_id, 2);
    route_destroy(e);
}

/* An agent taken off a client loses its open offers there at once; its
 * work there stays, and its offers of other clients too. */
static void test_client_removed(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    route_queue q2 = queue_cfg(20, 2);
    assert_int_equal(route_queue_set(e, &q2, 0), 0);
    route_agent a = agent_cfg(1, 1, 0, NULL);
    a.clients[a.nclients++] = 2;
    assert_int_equal(route_agent_set(e, &a, 0), 0);
    assert_int_equal(route_agent_state(e, 1, ROUTE_AVAILABLE, 0, 0), 0);
    route_interaction held = item_cfg(1, 2, 20, ROUTE_CHAT, 0);
    assert_int_equal(route_arrive(e, &held, 0), 0);
    expect_offer(e, 1, 1);
    assert_int_equal(route_accept(e, 1, 1, 0), 0);
    route_interaction other = item_cfg(2, 2, 20, ROUTE_CHAT, 0);
    assert_int_equal(route_arrive(e, &other, 0), 0);
    expect_offer(e, 2, 1);
    route_interaction own = item_cfg(3, 1, 10, ROUTE_CHAT, 0);
    assert_int_equal(route_arrive(e, &own, 0), 0);
    expect_offer(e, 3, 1);

    a.nclients = 1; /* client 1 only */
    assert_int_equal(route_agent_set(e, &a, 1 * S), 0);
    route_decision d[4];
    assert_int_equal(drain(e, d, 4), 1);
    assert_int_equal(d[0].kind, ROUTE_D_WITHDRAWN);
    assert_int_equal(d[0].interaction_id, 2);
    assert_int_equal(d[0].agent_id, 1);
    int64_t who = 0;
    assert_int_equal(where(e, 2, NULL), 0);
    assert_int_equal(where(e, 1, &who), 2);
    assert_int_equal(who, 1);
    assert_int_equal(where(e, 3, &who), 1);
    assert_int_equal(who, 1);
    route_agent_view v;
    assert_int_equal(route_agent_view_get(e, 1, &v), 0);
    assert_int_equal(v.offered, 1);
    assert_int_equal(v.assigned, 1);
    assert_int_equal(v.used_units, 40);
    /* the withdrawn one goes to someone who serves its client */
    add_agent(e, 2, 2, 0, NULL, 2 * S);
    expect_offer(e, 2, 2);
    route_destroy(e);
}

static void test_cancel(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    route_interaction w = item_cfg(1, 1, 10, ROUTE_VOICE, 0);
    assert_int_equal(route_arrive(e, &w, 0), 0);
    assert_int_equal(route_cancel(e, 1, 0), 0);
    assert_int_equal(where(e, 1, NULL), CD_ENOTFOUND);
    route_queue_view qv;
    assert_int_equal(route_queue_view_get(e, 10, &qv), 0);
    assert_int_equal(qv.waiting, 0);
    add_agent(e, 1, 1, 0, NULL, 0);
    expect_none(e);
    route_interaction o = item_cfg(2, 1, 10, ROUTE_VOICE, 0);
    route_interaction next = item_cfg(3, 1, 10, ROUTE_VOICE, 0);
    assert_int_equal(route_arrive(e, &o, 1 * S), 0);
    assert_int_equal(route_arrive(e, &next, 1 * S), 0);
    expect_offer(e, 2, 1);
    assert_int_equal(route_cancel(e, 2, 2 * S), 0); /* offered */
    expect_offer(e, 3, 1);
    assert_int_equal(route_accept(e, 3, 1, 2 * S), 0);
    route_interaction last = item_cfg(4, 1, 10, ROUTE_VOICE, 2 * S);
    assert_int_equal(route_arrive(e, &last, 2 * S), 0);
    expect_none(e);
    assert_int_equal(route_cancel(e, 3, 3 * S), 0); /* assigned */
    expect_offer(e, 4, 1);
    assert_int_equal(route_cancel(e, 3, 3 * S), CD_ENOTFOUND);
    route_destroy(e);
}

static void test_assign_restore(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    route_agent a = agent_cfg(1, 1, 0, NULL);
    assert_int_equal(route_agent_set(e, &a, 0), 0);
    route_interaction c1 = item_cfg(1, 1, 10, ROUTE_CHAT, 0);
    route_interaction c2 = item_cfg(2, 1, 10, ROUTE_CHAT, 0);
    assert_int_equal(route_assign(e, &c1, 1, 0), 0);
    assert_int_equal(route_assign(e, &c2, 1, 0), 0);
    assert_int_equal(route_assign(e, &c2, 1, 0), CD_ECONFLICT);
    assert_int_equal(route_agent_state(e, 1, ROUTE_AVAILABLE, 0, 0), 0);
    route_interaction c3 = item_cfg(3, 1, 10, ROUTE_CHAT, 0);
    route_interaction c4 = item_cfg(4, 1, 10, ROUTE_CHAT, 0);
    assert_int_equal(route_arrive(e, &c3, 0), 0);
    assert_int_equal(route_arrive(e, &c4, 0), 0);
    expect_offer(e, 3, 1); /* room for one more chat only */
    int64_t ag;
    assert_int_equal(where(e, 1, &ag), 2);
    assert_int_equal(ag, 1);
    assert_int_equal(route_finish(e, 1, 1, 0, 1 * S), 0);
    expect_offer(e, 4, 1);
    route_destroy(e);
}

/* Every error leaves the engine as it was: no decision, same views. */
static void test_errors_change_nothing(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    add_agent(e, 1, 1, 0, NULL, 0);
    route_interaction it = item_cfg(1, 1, 10, ROUTE_VOICE, 0);
    route_interaction w = item_cfg(2, 1, 10, ROUTE_VOICE, 0);
    assert_int_equal(route_arrive(e, &it, 0), 0);
    assert_int_equal(route_arrive(e, &w, 0), 0);
    expect_offer(e, 1, 1);
    route_agent_view before, after;
    route_queue_view qb, qa;
    assert_int_equal(route_agent_view_get(e, 1, &before), 0);
    assert_int_equal(route_queue_view_get(e, 10, &qb), 0);
    route_interaction bad = item_cfg(3, 1, 10, ROUTE_VOICE, 0);
    bad.required[0] = (route_skill){1, 6};
    bad.nrequired = 1;
    route_interaction wrong_client = item_cfg(4, 2, 10, ROUTE_VOICE, 0);
    route_interaction future = item_cfg(5, 1, 10, ROUTE_VOICE, 50 * S);
    route_interaction no_queue = item_cfg(6, 1, 11, ROUTE_VOICE, 0);
    route_interaction dup_skill = item_cfg(7, 1, 10, ROUTE_VOICE, 0);
    dup_skill.required[0] = dup_skill.required[1] = (route_skill){1, 2};
    dup_skill.nrequired = 2;
    route_queue badq = queue_cfg(10, 2); /* client cannot change */
    route_queue aging0 = queue_cfg(12, 1);
    aging0.aging_points_per_s = 0;
    route_agent bad_agent = agent_cfg(0, 1, 0, NULL);
    int rcs[] = {
        route_arrive(e, &it, 5 * S),           /* duplicate id */
        route_arrive(e, &bad, 5 * S),          /* level 6 */
        route_arrive(e, &wrong_client, 5 * S), /* queue of another client */
        route_arrive(e, &future, 5 * S),       /* arrived after now */
        route_arrive(e, &no_queue, 5 * S),     /* unknown queue */
        route_arrive(e, &dup_skill, 5 * S),    /* the same skill twice */
        route_accept(e, 2, 1, 5 * S),          /* not offered */
        route_accept(e, 1, 2, 5 * S),          /* unknown agent */
        route_accept(e, 99, 1, 5 * S),         /* unknown interaction */
        route_accept(e, 1, 1, 10 * S),         /* the offer expired at 10 s */
        route_reject(e, 1, 1, 11 * S),         /* likewise */
        route_finish(e, 1, 1, 0, 5 * S),       /* offered, not assigned */
        route_finish(e, 1, 1, -1, 5 * S),      /* negative wrap-up */
        route_agent_state(e, 1, ROUTE_WRAPUP, 0, 5 * S),
        route_agent_state(e, 1, (route_state)9, 0, 5 * S),
        route_agent_state(e, 5, ROUTE_AVAILABLE, 0, 5 * S),
        route_agent_away(e, 1, -3, 5 * S),
        route_cancel(e, 42, 5 * S),
        route_queue_set(e, &badq, 5 * S),
        route_queue_set(e, &aging0, 5 * S),
        route_agent_set(e, &bad_agent, 5 * S),
        route_tick(e, -1),
    };
    int want[] = {CD_ECONFLICT, CD_EINVAL, CD_EINVAL,    CD_EINVAL,    CD_ENOTFOUND,
                  CD_EINVAL,    CD_ESTATE, CD_ENOTFOUND, CD_ENOTFOUND, CD_ESTATE,
                  CD_ESTATE,    CD_ESTATE, CD_EINVAL,    CD_EINVAL,    CD_EINVAL,
                  CD_ENOTFOUND, CD_EINVAL, CD_ENOTFOUND, CD_EINVAL,    CD_EINVAL,
                  CD_EINVAL,    CD_EINVAL};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_int_equal(rcs[i], want[i]);
    expect_none(e);
    assert_int_equal(route_agent_view_get(e, 1, &after), 0);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(route_queue_view_get(e, 10, &qa), 0);
    assert_memory_equal(&qb, &qa, sizeof qb);
    assert_int_equal(where(e, 1, NULL), 1);
    assert_int_equal(where(e, 2, NULL), 0);
    /* the offer is still good before its expiry */
    assert_int_equal(route_accept(e, 1, 1, 10 * S - 1), 0);
    route_destroy(e);
    route_destroy(NULL);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    route_engine *e = engine_with_queue();
    add_agent(e, 1, 1, 0, NULL, 0);
    route_interaction busy = item_cfg(1, 1, 10, ROUTE_VOICE, 0);
    assert_int_equal(route_arrive(e, &busy, 0), 0);
    expect_offer(e, 1, 1);
    /* an arrival that cannot get memory did not happen, whichever
     * allocation fails */
    for (unsigned long n = 1; n < 40; n++) {
        route_interaction it = item_cfg(1000 + (int64_t)n, 1, 10, ROUTE_EMAIL, 0);
        it.required[0] = (route_skill){(uint32_t)(500 + n), 1};
        it.nrequired = 1;
        cd_mem_fail_after(n);
        int rc = route_arrive(e, &it, 0);
        cd_mem_fail_after(0);
        if (rc == 0) {
            assert_int_equal(where(e, it.id, NULL), 0);
            break;
        }
        assert_int_equal(rc, CD_ENOMEM);
        assert_int_equal(where(e, it.id, NULL), CD_ENOTFOUND);
        expect_none(e);
    }
    route_destroy(e);
}

/* --- the independent model -------------------------------------------------------------- */

#define MA 16       /* agents */
#define MQ 8        /* queues */
#define MC 4        /* clients */
#define MSK 6       /* skills in the pool */
#define MSK_MANY 48 /* a pool larger than the skills the engine numbers per client */
enum { M_NONE, M_WAITING, M_OFFERED, M_ASSIGNED };
static const int def_weight[ROUTE_CHANNELS] = {60, 20, 12, 12, 12};

typedef struct magent {
    route_agent cfg;
    int state, used, nvoice, noffers, nassigned, missed, pending_away;
    uint32_t handled;
    int64_t idle_since, wrap_until;
} magent;

typedef struct mitem {
    route_interaction in;
    int status, q, agent, units, nexcl, pref_ok, live_pos;
    int excl[MA];
    int64_t entered, expires;
} mitem;

typedef struct model {
    route_engine *e;
    int64_t now;
    uint64_t rng;
    route_queue q[MQ];
    int nq, nclients, na;
    int msk; /* skills in the pool */
    magent a[MA];
    mitem *it; /* by id - 1 */
    int nit, capit;
    int *live; /* ids of items not finished or cancelled */
    int nlive;
    route_decision d[1024];
    size_t nd;
    unsigned long events, offers, checks;
    route_decision *record; /* determinism: every decision in order */
    size_t nrecord, caprecord;
} model;

static uint64_t rnd(model *m)
{
    uint64_t x = (m->rng += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int rn(model *m, int n)
{
    return (int)(rnd(m) % (uint64_t)n);
}

static int m_weight(const magent *a, int ch)
{
    return a->cfg.weight[ch] ? a->cfg.weight[ch] : def_weight[ch];
}

static bool m_fits(const magent *a, int ch)
{
    if (a->nvoice || a->used + m_weight(a, ch) > ROUTE_CAPACITY)
        return false;
    return ch != ROUTE_VOICE || a->used == 0;
}

static bool m_serves(const magent *a, int64_t client)
{
    for (int i = 0; i < a->cfg.nclients; i++)
        if (a->cfg.clients[i] == client)
            return true;
    return false;
}

static int m_level(const magent *a, uint32_t skill)
{
    for (int i = 0; i < a->cfg.nskills; i++)
        if (a->cfg.skills[i].id == skill)
            return a->cfg.skills[i].level;
    return 0;
}

static bool m_excluded(const mitem *x, int ai)
{
    for (int i = 0; i < x->nexcl; i++)
        if (x->excl[i] == ai)
            return true;
    return false;
}

static bool m_window(const model *m, const mitem *x)
{
    int pa = (int)x->in.preferred_agent - 1;
    return x->pref_ok && m->now < x->in.arrived_ms + x->in.preferred_timeout_s * S &&
           !m_excluded(x, pa);
}

static bool m_meets(const model *m, const magent *a, const mitem *x)
{
    const route_queue *q = &m->q[x->q];
    int step = 0;
    while (step < q->nsteps && x->entered + q->steps[step].after_s * S <= m->now)
        step++;
    int n = x->in.nrequired, relax = 0;
    if (step > 0) {
        n = q->steps[step - 1].keep < n ? q->steps[step - 1].keep : n;
        relax = q->steps[step - 1].relax;
    }
    for (int i = 0; i < n; i++) {
        int need = x->in.required[i].level - relax;
        if (m_level(a, x->in.required[i].id) < (need < 1 ? 1 : need))
            return false;
    }
    return true;
}

static bool m_eligible(const model *m, int ai, const mitem *x)
{
    const magent *a = &m->a[ai];
    if (x->status != M_WAITING || a->state != ROUTE_AVAILABLE || !m_serves(a, x->in.client_id) ||
        !m_fits(a, x->in.channel) || m_excluded(x, ai))
        return false;
    if (m_window(m, x) && x->in.preferred_agent != a->cfg.id)
        return false;
    return m_meets(m, a, x);
}

static int64_t m_score(const model *m, const mitem *x)
{
    const route_queue *q = &m->q[x->q];
    int64_t base = (int64_t)q->urgency_points[x->in.urgency] + q->tier_points[x->in.tier];
    return base * 1000 + q->aging_points_per_s * (m->now - x->in.arrived_ms);
}

static bool m_item_before(const model *m, const mitem *x, const mitem *y)
{
    int64_t sx = m_score(m, x), sy = m_score(m, y);
    if (sx != sy)
        return sx > sy;
    if (x->in.arrived_ms != y->in.arrived_ms)
        return x->in.arrived_ms < y->in.arrived_ms;
    return x->in.id < y->in.id;
}

static int m_match(const magent *a, const mitem *x)
{
    int sum = 0;
    for (int i = 0; i < x->in.nrequired; i++)
        sum += m_level(a, x->in.required[i].id);
    return sum;
}

static bool m_agent_before(const model *m, const mitem *x, const magent *a, const magent *b)
{
    const route_queue *q = &m->q[x->q];
    for (int k = 0; k < 3; k++) {
        if (q->order[k] == ROUTE_BY_MATCH && m_match(a, x) != m_match(b, x))
            return m_match(a, x) > m_match(b, x);
        if (q->order[k] == ROUTE_BY_IDLE) {
            if ((a->used > 0) != (b->used > 0))
                return a->used == 0;
            if (a->idle_since != b->idle_since)
                return a->idle_since < b->idle_since;
        }
        if (q->order[k] == ROUTE_BY_HANDLED && a->handled != b->handled)
            return a->handled < b->handled;
    }
    return a->cfg.id < b->cfg.id;
}

static mitem *m_item(model *m, int64_t id)
{
    return id >= 1 && id <= m->nit ? &m->it[id - 1] : NULL;
}

static void m_unlive(model *m, mitem *x)
{
    int last = m->live[--m->nlive];
    m->live[x->live_pos] = last;
    m->it[last - 1].live_pos = x->live_pos;
    x->status = M_NONE;
}

static void m_release(model *m, mitem *x)
{
    magent *a = &m->a[x->agent];
    a->used -= x->units;
    a->nvoice -= x->in.channel == ROUTE_VOICE;
    if (x->status == M_OFFERED)
        a->noffers--;
    else
        a->nassigned--;
    if (a->state == ROUTE_AVAILABLE && a->used == 0)
        a->idle_since = m->now;
    x->agent = -1;
}

static void m_set_state(model *m, int ai, int st, int32_t wrap_s)
{
    magent *a = &m->a[ai];
    int old = a->state;
    a->state = st;
    a->wrap_until = st == ROUTE_WRAPUP ? m->now + wrap_s * S : 0;
    if (st == ROUTE_AVAILABLE && old != ROUTE_AVAILABLE) {
        a->missed = 0;
        if (a->used == 0)
            a->idle_since = m->now;
    }
}

/* Validates one decision against the model, then applies it. */
static void m_claim(model *m, const route_decision *d)
{
    mitem *x = m_item(m, d->interaction_id);
    int ai = (int)d->agent_id - 1;
    assert_int_equal(d->at_ms, m->now);
    switch (d->kind) {
    case ROUTE_D_OFFER: {
        assert_non_null(x);
        assert_true(ai >= 0 && ai < m->na);
        assert_true(m_eligible(m, ai, x));   /* includes: never another client's agent */
        for (int i = 0; i < m->nlive; i++) { /* the agent's first choice */
            mitem *y = &m->it[m->live[i] - 1];
            if (y != x && m_eligible(m, ai, y))
                assert_false(m_item_before(m, y, x));
        }
        for (int b = 0; b < m->na; b++) /* the item's first choice */
            if (b != ai && m_eligible(m, b, x))
                assert_false(m_agent_before(m, x, &m->a[b], &m->a[ai]));
        assert_int_equal(d->expires_ms, m->now + m->q[x->q].offer_timeout_s * S);
        assert_int_equal(d->queue_id, m->q[x->q].id);
        magent *a = &m->a[ai];
        x->status = M_OFFERED;
        x->agent = ai;
        x->units = m_weight(a, x->in.channel);
        x->expires = d->expires_ms;
        a->used += x->units;
        a->nvoice += x->in.channel == ROUTE_VOICE;
        a->noffers++;
        m->offers++;
        break;
    }
    case ROUTE_D_EXPIRED: {
        assert_non_null(x);
        assert_int_equal(x->status, M_OFFERED);
        assert_int_equal(x->agent, ai);
        assert_true(x->expires <= m->now);
        magent *a = &m->a[ai];
        x->excl[x->nexcl++] = ai;
        m_release(m, x);
        x->status = M_WAITING;
        if (a->state == ROUTE_AVAILABLE) {
            a->missed++;
            int k = m->q[x->q].max_missed;
            if (k && a->missed >= k) {
                a->missed = 0;
                a->state = ROUTE_AWAY;
                a->pending_away = 1;
            }
        }
        break;
    }
    case ROUTE_D_AGENT_AWAY:
        assert_true(ai >= 0 && ai < m->na);
        assert_true(m->a[ai].pending_away);
        m->a[ai].pending_away = 0;
        break;
    case ROUTE_D_WITHDRAWN:
        assert_non_null(x);
        assert_int_equal(x->status, M_OFFERED);
        assert_int_equal(x->agent, ai);
        /* the agent left AVAILABLE, or no longer serves the client */
        assert_true(m->a[ai].state != ROUTE_AVAILABLE || !m_serves(&m->a[ai], x->in.client_id));
        m_release(m, x);
        x->status = M_WAITING;
        break;
    case ROUTE_D_OVERFLOW: {
        assert_non_null(x);
        assert_int_equal(x->status, M_WAITING);
        const route_queue *q = &m->q[x->q];
        assert_true(q->overflow_after_s > 0 && x->entered + q->overflow_after_s * S <= m->now);
        assert_int_equal(d->queue_id, q->overflow_queue);
        x->q = (int)(q->overflow_queue - 100);
        x->entered = m->now;
        break;
    }
    case ROUTE_D_WRAPUP_DONE:
        assert_true(ai >= 0 && ai < m->na);
        assert_int_equal(m->a[ai].state, ROUTE_WRAPUP);
        assert_true(m->a[ai].wrap_until <= m->now);
        m_set_state(m, ai, ROUTE_AVAILABLE, 0);
        break;
    default:
        fail_msg("unknown decision kind %d", d->kind);
    }
}

static void m_dump(const model *m, int ai, const mitem *x)
{
    const magent *a = &m->a[ai];
    fprintf(stderr, "agent %d: used %d voice %d offers %d clients", ai + 1, a->used, a->nvoice,
            a->noffers);
    for (int i = 0; i < a->cfg.nclients; i++)
        fprintf(stderr, " %lld", (long long)a->cfg.clients[i]);
    fprintf(stderr, " skills");
    for (int i = 0; i < a->cfg.nskills; i++)
        fprintf(stderr, " %u:%d", a->cfg.skills[i].id, a->cfg.skills[i].level);
    fprintf(stderr, " w");
    for (int i = 0; i < 5; i++)
        fprintf(stderr, " %d", m_weight(a, i));
    const route_queue *q = &m->q[x->q];
    fprintf(stderr,
            "\nitem %lld: q %lld ch %d arrived %lld entered %lld pref %lld/%d ok %d excl %d req",
            (long long)x->in.id, (long long)q->id, x->in.channel, (long long)x->in.arrived_ms,
            (long long)x->entered, (long long)x->in.preferred_agent, x->in.preferred_timeout_s,
            x->pref_ok, x->nexcl);
    for (int i = 0; i < x->in.nrequired; i++)
        fprintf(stderr, " %u:%d", x->in.required[i].id, x->in.required[i].level);
    fprintf(stderr, "\nqueue steps");
    for (int i = 0; i < q->nsteps; i++)
        fprintf(stderr, " (%d r%d k%d)", q->steps[i].after_s, q->steps[i].relax, q->steps[i].keep);
    fprintf(stderr, " overflow %d->%lld\nlast decisions:", q->overflow_after_s,
            (long long)q->overflow_queue);
    for (size_t i = 0; i < m->nd; i++)
        fprintf(stderr, " [%d %lld %lld]", m->d[i].kind, (long long)m->d[i].interaction_id,
                (long long)m->d[i].agent_id);
    fprintf(stderr, "\n");
}

/* After an event: nothing due is left undone, nobody is over capacity, no
 * free agent may take a waiting item, and the engine's views agree. */
static void m_check(model *m)
{
    m->checks++;
    for (int ai = 0; ai < m->na; ai++) {
        magent *a = &m->a[ai];
        assert_false(a->pending_away);
        assert_true(a->used <= ROUTE_CAPACITY);
        assert_true(a->nvoice == 0 || (a->nvoice == 1 && a->noffers + a->nassigned == 1));
        assert_false(a->state == ROUTE_WRAPUP && a->wrap_until <= m->now);
        route_agent_view v;
        assert_int_equal(route_agent_view_get(m->e, a->cfg.id, &v), 0);
        assert_int_equal(v.state, a->state);
        assert_int_equal(v.used_units, a->used);
        assert_int_equal(v.offered, a->noffers);
        assert_int_equal(v.assigned, a->nassigned);
        assert_int_equal(v.missed_in_row, a->missed);
        assert_int_equal(v.handled_today, a->handled);
        assert_int_equal(v.idle_since_ms, a->idle_since);
    }
    size_t waiting[MQ] = {0}, offered[MQ] = {0};
    for (int i = 0; i < m->nlive; i++) {
        mitem *x = &m->it[m->live[i] - 1];
        const route_queue *q = &m->q[x->q];
        int w;
        int64_t ag;
        assert_int_equal(route_interaction_where(m->e, x->in.id, &w, &ag), 0);
        assert_int_equal(w, x->status - M_WAITING);
        if (x->status == M_OFFERED) {
            assert_true(x->expires > m->now);
            assert_int_equal(m->a[x->agent].state, ROUTE_AVAILABLE);
            assert_true(m_serves(&m->a[x->agent], x->in.client_id)); /* never another client's */
            offered[x->q]++;
        }
        if (x->status != M_WAITING) {
            assert_int_equal(ag, m->a[x->agent].cfg.id);
            continue;
        }
        waiting[x->q]++;
        assert_false(q->overflow_after_s > 0 && x->entered + q->overflow_after_s * S <= m->now);
        for (int ai = 0; ai < m->na; ai++)
            if (m->a[ai].state == ROUTE_AVAILABLE && m_eligible(m, ai, x) && (m_dump(m, ai, x), 1))
                fail_msg("agent %d idles while interaction %lld waits (t=%lld)", ai + 1,
                         (long long)x->in.id, (long long)m->now);
    }
    for (int qi = 0; qi < m->nq; qi++) {
        route_queue_view v;
        assert_int_equal(route_queue_view_get(m->e, m->q[qi].id, &v), 0);
        assert_int_equal(v.waiting, waiting[qi]);
        assert_int_equal(v.offered, offered[qi]);
    }
}

static void m_record(model *m)
{
    if (!m->record)
        return;
    if (m->nrecord + m->nd > m->caprecord) {
        m->caprecord = (m->nrecord + m->nd) * 2;
        m->record = realloc(m->record, m->caprecord * sizeof *m->record);
        assert_non_null(m->record);
    }
    memcpy(m->record + m->nrecord, m->d, m->nd * sizeof *m->d);
    m->nrecord += m->nd;
}

static void m_drain(model *m)
{
    m->nd = route_decisions(m->e, m->d, sizeof m->d / sizeof *m->d);
    assert_true(m->nd < sizeof m->d / sizeof *m->d);
    m_record(m);
}

static void m_claims(model *m)
{
    for (size_t i = 0; i < m->nd; i++)
        m_claim(m, &m->d[i]);
}

static void m_tick(model *m);

/* An engine call that must fail and change nothing; not even time moves
 * for the engine, so a tick follows to catch up. */
static void m_expect_error(model *m, int rc, int want)
{
    assert_int_equal(rc, want);
    m_drain(m);
    assert_int_equal(m->nd, 0);
    m_tick(m);
}

static bool m_due(const model *m)
{
    for (int ai = 0; ai < m->na; ai++)
        if (m->a[ai].state == ROUTE_WRAPUP && m->a[ai].wrap_until <= m->now)
            return true;
    for (int i = 0; i < m->nlive; i++) {
        const mitem *x = &m->it[m->live[i] - 1];
        const route_queue *q = &m->q[x->q];
        if (x->status == M_OFFERED && x->expires <= m->now)
            return true;
        if (x->status == M_WAITING && q->overflow_after_s > 0 &&
            x->entered + q->overflow_after_s * S <= m->now)
            return true;
    }
    return false;
}

static void m_tick(model *m)
{
    assert_int_equal(route_tick(m->e, m->now), 0);
    m_drain(m);
    m_claims(m);
    m_check(m);
}

/* --- random configuration and events --------------------------------------------- */

static void rand_skills(model *m, route_skill *sk, uint8_t *n, int max, int odds, int levels)
{
    *n = 0;
    for (int k = 0; k < m->msk && *n < max; k++)
        if (rn(m, odds) == 0)
            sk[(*n)++] = (route_skill){(uint32_t)(7000 + k), (uint8_t)(1 + rn(m, levels))};
    /* shuffle: the order is the caller's and means nothing to agents */
    for (int i = *n - 1; i > 0; i--) {
        int j = rn(m, i + 1);
        route_skill t = sk[i];
        sk[i] = sk[j];
        sk[j] = t;
    }
}

static void rand_agent_cfg(model *m, int ai)
{
    route_agent *a = &m->a[ai].cfg;
    *a = (route_agent){.id = ai + 1};
    a->clients[a->nclients++] = 1000 + rn(m, m->nclients);
    if (m->nclients > 1 && rn(m, 4) == 0) {
        int64_t c = 1000 + rn(m, m->nclients);
        if (c != a->clients[0])
            a->clients[a->nclients++] = c;
    }
    rand_skills(m, a->skills, &a->nskills, ROUTE_MAX_SKILLS, 2, 5);
    if (rn(m, 4) == 0)
        for (int ch = 0; ch < ROUTE_CHANNELS; ch++)
            a->weight[ch] = (uint8_t)(rn(m, 3) == 0 ? 0 : 5 + rn(m, 60));
}

static void rand_queue_cfg(model *m, int qi, bool overflow)
{
    route_queue *q = &m->q[qi];
    int64_t client = q->client_id;
    *q = queue_cfg(100 + qi, client);
    for (int i = 0; i < 4; i++)
        q->urgency_points[i] = i * rn(m, 40);
    for (int i = 0; i < 3; i++)
        q->tier_points[i] = rn(m, 30);
    q->aging_points_per_s = 1 + rn(m, 3);
    q->nsteps = (uint8_t)rn(m, 4);
    int after = 0, relax = 0, keep = ROUTE_MAX_REQUIRED;
    for (int i = 0; i < q->nsteps; i++) {
        after += 1 + rn(m, 20);
        relax += rn(m, 2);
        keep -= rn(m, 4);
        keep = keep < 0 ? 0 : keep;
        q->steps[i] = (route_step){after, (uint8_t)(relax > 4 ? 4 : relax), (uint8_t)keep};
    }
    if (q->nsteps && rn(m, 2)) /* in the end, any agent of the client */
        q->steps[q->nsteps - 1].keep = 0;
    for (int i = 0; i < 3; i++)
        q->order[i] = (route_criterion)i;
    for (int i = 2; i > 0; i--) {
        int j = rn(m, i + 1);
        route_criterion t = q->order[i];
        q->order[i] = q->order[j];
        q->order[j] = t;
    }
    q->offer_timeout_s = 2 + rn(m, 10);
    q->max_missed = (uint8_t)rn(m, 4);
    if (overflow && rn(m, 2)) {
        for (int t = 0; t < m->nq; t++)
            if (t != qi && m->q[t].client_id == client) {
                q->overflow_after_s = 10 + rn(m, 60);
                q->overflow_queue = m->q[t].id;
                break;
            }
    }
}

static void m_setup_pool(model *m, uint64_t seed, route_decision *record, int msk)
{
    memset(m, 0, sizeof *m);
    m->msk = msk;
    m->rng = seed;
    m->record = record;
    m->e = route_create();
    assert_non_null(m->e);
    m->nclients = 1 + rn(m, MC);
    m->nq = m->nclients + rn(m, MQ - m->nclients + 1);
    for (int qi = 0; qi < m->nq; qi++) {
        m->q[qi].client_id = 1000 + (qi < m->nclients ? qi : rn(m, m->nclients));
        rand_queue_cfg(m, qi, false);
        assert_int_equal(route_queue_set(m->e, &m->q[qi], 0), 0);
    }
    for (int qi = 0; qi < m->nq; qi++) { /* overflow targets exist now */
        rand_queue_cfg(m, qi, true);
        assert_int_equal(route_queue_set(m->e, &m->q[qi], 0), 0);
    }
    m->na = 3 + rn(m, MA - 3);
    for (int ai = 0; ai < m->na; ai++) {
        rand_agent_cfg(m, ai);
        assert_int_equal(route_agent_set(m->e, &m->a[ai].cfg, 0), 0);
        m->a[ai].state = ROUTE_OFFLINE;
    }
    m_drain(m);
    assert_int_equal(m->nd, 0);
}

static void m_setup(model *m, uint64_t seed, route_decision *record)
{
    m_setup_pool(m, seed, record, MSK);
}

static void ev_arrive(model *m)
{
    if (m->nit == m->capit) {
        m->capit = m->capit ? m->capit * 2 : 256;
        m->it = realloc(m->it, m->capit * sizeof *m->it);
        m->live = realloc(m->live, m->capit * sizeof *m->live);
        assert_true(m->it && m->live);
    }
    int qi = rn(m, m->nq);
    mitem *x = &m->it[m->nit];
    memset(x, 0, sizeof *x);
    route_interaction *in = &x->in;
    in->id = m->nit + 1;
    in->client_id = m->q[qi].client_id;
    in->queue_id = m->q[qi].id;
    in->channel = (route_channel)rn(m, ROUTE_CHANNELS);
    in->urgency = (route_urgency)rn(m, 4);
    in->tier = (route_tier)rn(m, 3);
    rand_skills(m, in->required, &in->nrequired, 3, m->msk > MSK ? m->msk / 3 : 3,
                rn(m, 4) ? 3 : 5);
    in->arrived_ms = m->now - (rn(m, 8) == 0 ? rn(m, 120000) : rn(m, 3000));
    in->arrived_ms = in->arrived_ms < 0 ? 0 : in->arrived_ms;
    if (rn(m, 6) == 0) {
        in->preferred_agent = 1 + rn(m, m->na + 1); /* sometimes unknown */
        in->preferred_timeout_s = rn(m, 20);
    }
    if (rn(m, 5) == 0) { /* restored after a restart: some agents (maybe unknown) excluded */
        int n = 1 + rn(m, 4);
        for (int i = 0; i < n; i++) {
            int64_t id = 1 + rn(m, m->na + 2);
            in->excluded[in->nexcluded++] = id;
            if (id <= m->na && !m_excluded(x, (int)id - 1))
                x->excl[x->nexcl++] = (int)id - 1;
        }
    }
    if (rn(m, 100) == 0) { /* bad input: nothing happens */
        if (rn(m, 2))
            in->nexcluded = ROUTE_MAX_EXCLUDED + 1;
        in->required[0] = (route_skill){7000, 0};
        in->nrequired = 1;
        m_expect_error(m, route_arrive(m->e, in, m->now), CD_EINVAL);
        return;
    }
    int pa = (int)in->preferred_agent - 1;
    x->pref_ok =
        pa >= 0 && pa < m->na && in->preferred_timeout_s > 0 && m_serves(&m->a[pa], in->client_id);
    x->q = qi;
    x->entered = in->arrived_ms;
    x->agent = -1;
    assert_int_equal(route_arrive(m->e, in, m->now), 0);
    m->nit++;
    x->status = M_WAITING;
    x->live_pos = m->nlive;
    m->live[m->nlive++] = (int)in->id;
    m_drain(m);
    m_claims(m);
}

/* A live item in the given state (M_NONE: any), or NULL. */
static mitem *pick(model *m, int status)
{
    if (!m->nlive)
        return NULL;
    int start = rn(m, m->nlive);
    for (int k = 0; k < m->nlive; k++) {
        mitem *x = &m->it[m->live[(start + k) % m->nlive] - 1];
        if (status == M_NONE || x->status == status)
            return x;
    }
    return NULL;
}

static void ev_answer(model *m, bool accept)
{
    mitem *x = pick(m, M_OFFERED);
    if (!x) {
        x = pick(m, M_WAITING);
        if (x) /* answering an offer that does not exist */
            m_expect_error(m, route_accept(m->e, x->in.id, 1, m->now), CD_ESTATE);
        else
            m_tick(m); /* the engine must hear of the time */
        return;
    }
    int ai = x->agent;
    if (rn(m, 50) == 0) { /* the wrong agent */
        int other = (ai + 1) % m->na;
        m_expect_error(m, route_reject(m->e, x->in.id, other + 1, m->now), CD_ESTATE);
        return;
    }
    magent *a = &m->a[ai];
    if (accept) {
        assert_int_equal(route_accept(m->e, x->in.id, ai + 1, m->now), 0);
        x->status = M_ASSIGNED;
        a->noffers--;
        a->nassigned++;
        a->handled++;
        a->missed = 0;
    } else {
        assert_int_equal(route_reject(m->e, x->in.id, ai + 1, m->now), 0);
        x->excl[x->nexcl++] = ai;
        a->missed = 0;
        m_release(m, x);
        x->status = M_WAITING;
    }
    m_drain(m);
    m_claims(m);
}

static void ev_finish(model *m)
{
    mitem *x = pick(m, M_ASSIGNED);
    if (!x) {
        if ((x = pick(m, M_OFFERED)) != NULL)
            m_expect_error(m, route_finish(m->e, x->in.id, x->agent + 1, 0, m->now), CD_ESTATE);
        else
            m_tick(m);
        return;
    }
    int ai = x->agent;
    int32_t wrap = rn(m, 3) == 0 ? 1 + rn(m, 10) : 0;
    assert_int_equal(route_finish(m->e, x->in.id, ai + 1, wrap, m->now), 0);
    m_release(m, x);
    m_unlive(m, x);
    magent *a = &m->a[ai];
    if (a->state == ROUTE_AVAILABLE && wrap > 0 && a->nassigned == 0 && a->noffers == 0)
        m_set_state(m, ai, ROUTE_WRAPUP, wrap);
    m_drain(m);
    m_claims(m);
}

static void ev_cancel(model *m)
{
    mitem *x = pick(m, M_NONE);
    if (!x) {
        m_expect_error(m, route_cancel(m->e, m->nit + 5, m->now), CD_ENOTFOUND);
        return;
    }
    assert_int_equal(route_cancel(m->e, x->in.id, m->now), 0);
    if (x->status != M_WAITING)
        m_release(m, x);
    m_unlive(m, x);
    m_drain(m);
    m_claims(m);
}

static void ev_state(model *m)
{
    int ai = rn(m, m->na), r = rn(m, 10);
    int st = r < 7 ? ROUTE_AVAILABLE : r < 8 ? ROUTE_AWAY : r < 9 ? ROUTE_OFFLINE : ROUTE_WRAPUP;
    int32_t wrap = st == ROUTE_WRAPUP ? 1 + rn(m, 10) : 0;
    if (rn(m, 40) == 0) {
        m_expect_error(m, route_agent_state(m->e, ai + 1, ROUTE_WRAPUP, 0, m->now), CD_EINVAL);
        return;
    }
    assert_int_equal(route_agent_state(m->e, ai + 1, (route_state)st, wrap, m->now), 0);
    m_set_state(m, ai, st, wrap);
    m_drain(m);
    m_claims(m);
}

static void ev_config(model *m)
{
    if (rn(m, 3)) {
        int ai = rn(m, m->na);
        route_agent old = m->a[ai].cfg;
        rand_agent_cfg(m, ai);
        if (rn(m, 2)) /* keep the clients sometimes, to see skills alone change */
            memcpy(m->a[ai].cfg.clients, old.clients, sizeof old.clients),
                m->a[ai].cfg.nclients = old.nclients;
        assert_int_equal(route_agent_set(m->e, &m->a[ai].cfg, m->now), 0);
    } else {
        int qi = rn(m, m->nq);
        rand_queue_cfg(m, qi, true);
        assert_int_equal(route_queue_set(m->e, &m->q[qi], m->now), 0);
    }
    m_drain(m);
    m_claims(m);
}

static void m_step(model *m)
{
    int r = rn(m, 1000);
    m->now += rn(m, 4) == 0 ? 0 : rn(m, 1500);
    m->events++;
    if (r < 150) {
        m_tick(m);
        return;
    }
    if (m_due(m)) /* the timer decisions of this moment come from a tick */
        m_tick(m);
    int waiting = 0;
    for (int i = 0; i < m->nlive; i++)
        waiting += m->it[m->live[i] - 1].status == M_WAITING;
    if (r < 420)
        waiting < 40 ? ev_arrive(m) : m_tick(m);
    else if (r < 620)
        ev_answer(m, true);
    else if (r < 670)
        ev_answer(m, false);
    else if (r < 860)
        ev_finish(m);
    else if (r < 900)
        ev_cancel(m);
    else if (r < 985)
        ev_state(m);
    else if (r < 995)
        ev_config(m);
    else {
        route_day_reset(m->e);
        for (int ai = 0; ai < m->na; ai++)
            m->a[ai].handled = 0;
        m_tick(m); /* day_reset takes no time */
    }
    m_check(m);
}

static void m_teardown(model *m)
{
    route_destroy(m->e);
    free(m->it);
    free(m->live);
}

static bool sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return getenv("CAREDESK_ROUTE_SMALL") != NULL;
#endif
}

static void test_property_random_streams(void **state)
{
    (void)state;
    int seeds = sanitized() ? 30 : 50, events = sanitized() ? 20000 : 30000;
    unsigned long total = 0, offers = 0;
    for (int s = 0; s < seeds; s++) {
        model m;
        m_setup(&m, 0x5eed0000ULL + (uint64_t)s, NULL);
        for (int i = 0; i < events; i++)
            m_step(&m);
        total += m.checks;
        offers += m.offers;
        assert_true(m.offers > 0);
        m_teardown(&m);
    }
    printf("[ property ] %d seeds x %d events: %lu engine calls checked, %lu offers\n", seeds,
           events, total, offers);
}

/* The same with a pool of skills larger than the engine numbers per client:
 * interactions needing a skill beyond those take the general path. */
static void test_property_many_skills(void **state)
{
    (void)state;
    int seeds = sanitized() ? 6 : 12, events = sanitized() ? 15000 : 25000;
    unsigned long total = 0, offers = 0;
    for (int s = 0; s < seeds; s++) {
        model m;
        m_setup_pool(&m, 0x5ca1e000ULL + (uint64_t)s, NULL, MSK_MANY);
        for (int i = 0; i < events; i++)
            m_step(&m);
        total += m.checks;
        offers += m.offers;
        assert_true(m.offers > 0);
        m_teardown(&m);
    }
    printf("[ property ] %d seeds x %d events, %d skills: %lu engine calls checked, %lu offers\n",
           seeds, events, MSK_MANY, total, offers);
}

/* Same event log twice -> identical decisions. */
static void test_determinism(void **state)
{
    (void)state;
    route_decision *logs[2];
    size_t n[2];
    for (int run = 0; run < 2; run++) {
        model m;
        m_setup(&m, 0xd373ULL, malloc(sizeof(route_decision)));
        m.caprecord = 1;
        for (int i = 0; i < 20000; i++)
            m_step(&m);
        logs[run] = m.record;
        n[run] = m.nrecord;
        m_teardown(&m);
    }
    assert_int_equal(n[0], n[1]);
    assert_true(n[0] > 1000);
    for (size_t i = 0; i < n[0]; i++) {
        const route_decision *a = &logs[0][i], *b = &logs[1][i];
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->interaction_id, b->interaction_id);
        assert_int_equal(a->agent_id, b->agent_id);
        assert_int_equal(a->queue_id, b->queue_id);
        assert_int_equal(a->at_ms, b->at_ms);
        assert_int_equal(a->expires_ms, b->expires_ms);
    }
    free(logs[0]);
    free(logs[1]);
}

/* Starvation bound (docs/routing.md): an interaction with base points b in a
 * queue whose highest base is B is passed by later arrivals for at most
 * D = (B - b) / aging seconds; so once agents serve, it waits at most for
 * what was ahead of it at arrival plus what arrives within D. Here: one
 * agent, 10 s calls, urgent calls arriving every 4 s (more than the agent
 * can take, forever), and one low-priority call. */
static void test_starvation_bound(void **state)
{
    (void)state;
    route_engine *e = route_create();
    route_queue q = queue_cfg(10, 1);
    q.urgency_points[ROUTE_LOW] = 0;
    q.urgency_points[ROUTE_URGENT] = 120;
    q.tier_points[0] = q.tier_points[1] = q.tier_points[2] = 0;
    q.aging_points_per_s = 2; /* D = 120 / 2 = 60 s */
    assert_int_equal(route_queue_set(e, &q, 0), 0);
    route_agent a = agent_cfg(1, 1, 0, NULL);
    assert_int_equal(route_agent_set(e, &a, 0), 0);
    const int64_t low_id = 1, t_low = 20 * S, period = 4 * S, handle = 10 * S;
    int64_t next_id = 100, holding = 0, busy_until = 0, served_at = -1;
    int ahead_at_arrival = 0, served_before = 0, late_passers = 0;
    for (int64_t now = 0; now <= 3600 * S && served_at < 0; now += S) {
        if (now % period == 0) {
            route_interaction u = item_cfg(next_id++, 1, 10, ROUTE_VOICE, now);
            u.urgency = ROUTE_URGENT;
            assert_int_equal(route_arrive(e, &u, now), 0);
        }
        if (now == t_low) {
            route_queue_view v;
            assert_int_equal(route_queue_view_get(e, 10, &v), 0);
            ahead_at_arrival = (int)v.waiting;
            route_interaction low = item_cfg(low_id, 1, 10, ROUTE_VOICE, now);
            low.urgency = ROUTE_LOW;
            assert_int_equal(route_arrive(e, &low, now), 0);
        }
        if (now == 60 * S) /* agents free up: the agent starts work */
            assert_int_equal(route_agent_state(e, 1, ROUTE_AVAILABLE, 0, now), 0);
        if (holding && now >= busy_until) {
            assert_int_equal(route_finish(e, holding, 1, 0, now), 0);
            holding = 0;
        }
        assert_int_equal(route_tick(e, now), 0);
        route_decision d[16];
        size_t n = route_decisions(e, d, 16);
        for (size_t i = 0; i < n; i++) {
            if (d[i].kind != ROUTE_D_OFFER)
                continue;
            assert_int_equal(route_accept(e, d[i].interaction_id, 1, now), 0);
            holding = d[i].interaction_id;
            busy_until = now + handle;
            if (holding == low_id) {
                served_at = now;
            } else if (now > t_low) {
                served_before++;
                /* urgent call arrived at (id - 100) * period */
                if ((holding - 100) * period > t_low + 60 * S)
                    late_passers++;
            }
        }
    }
    /* D = 60 s; arrivals within D: 60 / 4 = 15; ahead at arrival: 6 */
    int64_t start = 60 * S, bound_n = ahead_at_arrival + 15 + 1;
    assert_true(served_at >= 0);
    assert_int_equal(late_passers, 0);
    assert_true(served_before <= bound_n);
    assert_true(served_at <= start + bound_n * handle);
    printf("[ starvation ] low call served after %lld s of waiting, %d passed it; bound %lld s\n",
           (long long)((served_at - t_low) / S), served_before,
           (long long)((start + bound_n * handle - t_low) / S));
    route_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_priority_and_choice),
        cmocka_unit_test(test_widening),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_preferred_window),
        cmocka_unit_test(test_reject_requeue),
        cmocka_unit_test(test_missed_away),
        cmocka_unit_test(test_answer_withdrawn_by_timers),
        cmocka_unit_test(test_wrapup),
        cmocka_unit_test(test_client_removed),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_assign_restore),
        cmocka_unit_test(test_errors_change_nothing),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_starvation_bound),
        cmocka_unit_test(test_property_random_streams),
        cmocka_unit_test(test_arrival_exclusions),
        cmocka_unit_test(test_property_many_skills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
