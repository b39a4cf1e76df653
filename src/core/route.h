/* route.h - the routing engine: which available agent gets which waiting
 * interaction, and when.
 *
 * Pure: no I/O, no clock, no globals. Time comes in as `now` (UTC epoch
 * milliseconds, 0..10^15) with every event; the same events in the same
 * order give the same decisions. The engine owns copies of everything
 * passed in. Time never goes back: a `now` earlier than the latest one seen
 * is taken as the latest. Every event first applies what is due by `now`
 * (as route_tick would), then itself, then makes its offers; so decisions
 * of one call come in that order. Ids of agents, queues, clients and
 * interactions are > 0.
 *
 * Events in: queue and agent configuration, agent state changes,
 * interaction arrival and cancellation, offer accepted / rejected, work
 * finished, and tick(now) for offer timeouts, widening, overflow and the
 * end of wrap-up. Decisions out: offers (and the few consequences callers
 * must persist), read with route_decisions().
 *
 * Priority (per queue, see docs/routing.md):
 *     score(now) = urgency_points[urgency] + tier_points[tier]
 *                + aging_points_per_s * (now - arrived_ms) / 1000
 * Within a queue the highest score is served first (ties: earlier arrival,
 * then lower id). Because every interaction of a queue ages at the same
 * rate, the order within a queue never changes while they wait, and a low
 * priority interaction is passed by later arrivals for at most
 * (max base points - min base points) / aging_points_per_s seconds: the
 * starvation bound.
 *
 * Eligibility of an agent for an interaction, at `now`:
 *   - the agent serves the interaction's client, is AVAILABLE (not offline,
 *     away, or in wrap-up), and has room on the interaction's channel;
 *   - the agent has every skill the interaction requires at its current
 *     widening step, at or above the (relaxed) minimum level;
 *   - the agent did not reject or miss an offer of this interaction and is
 *     not on the exclusion list it arrived with;
 *   - while the preferred-agent window is open, only the preferred agent.
 *     The window is open from arrival until arrived_ms + preferred_timeout_s,
 *     if the preferred agent was known and served the client at arrival,
 *     and closes early when that agent rejects or misses the offer.
 * Widening and overflow count from the moment the interaction entered its
 * current queue (arrived_ms for the first queue).
 * Capacity: each channel has a weight out of ROUTE_CAPACITY units (voice 60,
 * chat 20, email/social/web 12 by default): one call, or three chats, or
 * five emails, or a mix that fits. Offers reserve their units (the weight
 * at the time of the offer). A voice call blocks other work whatever the
 * weights: a call needs an agent with no work at all, and an agent on a
 * call gets nothing else. A weight above ROUTE_CAPACITY switches the
 * channel off for that agent.
 *
 * Agent choice among the eligible: per queue, an order of criteria: best
 * match (highest sum of the agent's levels on the required skills), longest
 * idle (agents without work first, then the earliest moment the agent last
 * became available without work), fewest interactions handled (accepted)
 * since route_day_reset(); then lowest id.
 *
 * Offers: an offer expires after the queue's offer_timeout_s. Reject or
 * expiry puts the interaction back at its place with that agent excluded
 * from it. Expiry counts as a miss; accept and reject reset the count;
 * max_missed misses in a row (by the expiring interaction's queue) put an
 * available agent away with reason ROUTE_AWAY_MISSED. An agent that leaves
 * AVAILABLE (away, offline, wrap-up) loses its open offers: they are
 * withdrawn (ROUTE_D_WITHDRAWN) and wait again, the agent not excluded.
 *
 * Invariants (tests/unit/test_route.c checks them over long random event
 * sequences): no agent over capacity; no interaction offered to two agents
 * at once or assigned twice; after every event no eligible agent idles
 * while an interaction it may take waits; within a queue a higher score is
 * served first; offers never cross clients. */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_CLIENTS 16   /* clients one agent serves */
#define ROUTE_MAX_SKILLS 32    /* skills of one agent */
#define ROUTE_MAX_REQUIRED 8   /* skills one interaction requires */
#define ROUTE_MAX_STEPS 8      /* widening steps of one queue */
#define ROUTE_MAX_EXCLUDED 16  /* agents an interaction arrives excluded from */
#define ROUTE_CAPACITY 60      /* units of work an agent can hold */
#define ROUTE_AWAY_MISSED (-1) /* away reason set by the engine: missed offers */

typedef struct route_engine route_engine;

typedef enum {
    ROUTE_VOICE,
    ROUTE_CHAT,
    ROUTE_EMAIL,
    ROUTE_SOCIAL,
    ROUTE_WEB,
    ROUTE_CHANNELS
} route_channel;
typedef enum { ROUTE_OFFLINE, ROUTE_AVAILABLE, ROUTE_AWAY, ROUTE_WRAPUP } route_state;
typedef enum { ROUTE_LOW, ROUTE_NORMAL, ROUTE_HIGH, ROUTE_URGENT } route_urgency;
typedef enum { ROUTE_STANDARD, ROUTE_PREMIUM, ROUTE_ENTERPRISE } route_tier;
typedef enum { ROUTE_BY_MATCH, ROUTE_BY_IDLE, ROUTE_BY_HANDLED } route_criterion;

typedef struct route_skill {
    uint32_t id;   /* skill (languages are skills); ids are the caller's */
    uint8_t level; /* 1..5 */
} route_skill;

typedef struct route_agent {
    int64_t id;
    int64_t clients[ROUTE_MAX_CLIENTS];
    uint8_t nclients;
    route_skill skills[ROUTE_MAX_SKILLS];
    uint8_t nskills;
    uint8_t weight[ROUTE_CHANNELS]; /* units per item on each channel; 0 = default */
} route_agent;

/* After `after_s` seconds of waiting, every required level is lowered by
 * `relax` (never below 1) and only the first `keep` required skills count;
 * keep == 0 means any agent of the client may take it. Steps are given in
 * increasing after_s; each replaces the one before, and only widens: relax
 * 0..4 never decreasing, keep 0..ROUTE_MAX_REQUIRED never increasing. */
typedef struct route_step {
    int32_t after_s;
    uint8_t relax;
    uint8_t keep;
} route_step;

typedef struct route_queue {
    int64_t id, client_id;
    int32_t urgency_points[4];  /* by route_urgency; -10^6..10^6 */
    int32_t tier_points[3];     /* by route_tier; -10^6..10^6 */
    int32_t aging_points_per_s; /* 1..1000 */
    route_step steps[ROUTE_MAX_STEPS];
    uint8_t nsteps;
    int32_t overflow_after_s; /* 0: never */
    int64_t overflow_queue;   /* an existing queue of the same client it moves to */
    route_criterion order[3]; /* agent choice, first criterion first */
    int32_t offer_timeout_s;  /* >= 1: an offer not accepted by then expires */
    uint8_t max_missed;       /* this many missed offers in a row: agent goes away; 0 never */
} route_queue;

typedef struct route_interaction {
    int64_t id, client_id, queue_id;
    route_channel channel;
    route_urgency urgency;
    route_tier tier;
    route_skill required[ROUTE_MAX_REQUIRED]; /* most important first; distinct */
    uint8_t nrequired;
    int64_t preferred_agent;     /* 0: none */
    int32_t preferred_timeout_s; /* only the preferred agent until then */
    int64_t arrived_ms;          /* <= now; keeps its place across restarts and overflow */
    /* Agents that already rejected or missed it (kept across a restart): it
     * is never offered to them, and a preferred agent listed here opens no
     * window. Ids > 0, need not be known yet; duplicates count once.
     * nexcluded 0..ROUTE_MAX_EXCLUDED; a zeroed list excludes nobody. */
    int64_t excluded[ROUTE_MAX_EXCLUDED];
    uint8_t nexcluded;
} route_interaction;

typedef enum {
    ROUTE_D_OFFER,       /* offer interaction to agent until expires_ms */
    ROUTE_D_EXPIRED,     /* the offer timed out; the interaction waits again */
    ROUTE_D_AGENT_AWAY,  /* agent missed max_missed offers in a row: now away */
    ROUTE_D_OVERFLOW,    /* interaction moved to queue_id */
    ROUTE_D_WRAPUP_DONE, /* agent's wrap-up ended: available again */
    ROUTE_D_WITHDRAWN,   /* agent left AVAILABLE: its offer is void, the interaction waits */
} route_decision_kind;

typedef struct route_decision {
    route_decision_kind kind;
    int64_t interaction_id, agent_id, queue_id;
    int64_t at_ms, expires_ms;
} route_decision;

/* Returns a new engine (NULL when out of memory); free with route_destroy
 * (NULL is a no-op). */
route_engine *route_create(void);
void route_destroy(route_engine *e);
/* Bytes the engine holds (its own accounting of what it allocated). */
size_t route_memory_bytes(const route_engine *e);

/* Configuration: add or replace (CD_EINVAL for a bad field). A queue's
 * client cannot change; a changed queue re-places its waiting interactions
 * (O(interactions)). A new agent starts OFFLINE. Changing an agent's
 * clients, skills or weights applies to the next decision; work it holds
 * stays, and its open offers of a client it no longer serves are withdrawn
 * (ROUTE_D_WITHDRAWN: they wait again). */
int route_queue_set(route_engine *e, const route_queue *q, int64_t now);
int route_agent_set(route_engine *e, const route_agent *a, int64_t now);

/* Events. Each returns 0 or a CD_E* code (CD_EINVAL for a malformed
 * event, CD_ENOTFOUND for an unknown id, CD_ECONFLICT for an interaction id
 * already known, CD_ESTATE for an event that does not fit the current
 * state, such as accepting an offer that expired) and changes nothing on
 * those errors, with one exception: an answer to an offer that the timers
 * due at `now` withdraw (another offer of the agent expired and made it
 * away) fails with CD_ESTATE after those timers took effect, as any later
 * event would. CD_ENOMEM may come after the event took effect: the engine
 * stays consistent and finishes the work at the next event. Leaving
 * AVAILABLE withdraws the agent's offers; assigned work stays. WRAPUP needs
 * wrapup_s >= 1 and ends by itself (ROUTE_D_WRAPUP_DONE). */
int route_agent_state(route_engine *e, int64_t agent, route_state st, int32_t wrapup_s,
                      int64_t now);
/* Away with a reason code of the caller's (>= 0), like
 * route_agent_state(ROUTE_AWAY). */
int route_agent_away(route_engine *e, int64_t agent, int32_t reason, int64_t now);
int route_arrive(route_engine *e, const route_interaction *it, int64_t now);
/* Records work already in hand (after a restart): the interaction is
 * assigned to the agent, holding its units, even beyond capacity (the agent
 * then gets nothing until it is back under). CD_ENOTFOUND for an unknown
 * queue or agent, CD_ECONFLICT for a known interaction id. */
int route_assign(route_engine *e, const route_interaction *it, int64_t agent, int64_t now);
/* Forgets the interaction wherever it is; an offered or assigned one frees
 * its agent's units (no wrap-up). */
int route_cancel(route_engine *e, int64_t interaction, int64_t now);
int route_accept(route_engine *e, int64_t interaction, int64_t agent, int64_t now);
int route_reject(route_engine *e, int64_t interaction, int64_t agent, int64_t now);
/* The agent finished the work; wrap-up of wrapup_s seconds follows
 * (0: none) if the agent is available and holds no other work or offer. */
int route_finish(route_engine *e, int64_t interaction, int64_t agent, int32_t wrapup_s,
                 int64_t now);
/* Expires offers, applies widening and overflow, ends wrap-ups due by now. */
int route_tick(route_engine *e, int64_t now);
/* Starts a new day for the "fewest handled" criterion. */
void route_day_reset(route_engine *e);

/* Copies out up to max decisions made since the last call, oldest first,
 * and forgets them; returns how many were copied. */
size_t route_decisions(route_engine *e, route_decision *out, size_t max);

/* How many decisions route_decisions() has yet to hand out. */
size_t route_decisions_pending(const route_engine *e);
/* The earliest moment a tick may change something (INT64_MAX: never);
 * may be early (a stale timer), never late. */
int64_t route_next_deadline(const route_engine *e);

/* --- views for supervisors and tests ---------------------------------- */
typedef struct route_queue_view {
    size_t waiting; /* not offered, not assigned */
    size_t offered;
    int64_t oldest_arrived_ms; /* INT64_MAX when none wait; O(interactions) */
} route_queue_view;

typedef struct route_agent_view {
    route_state state;
    int used_units; /* assigned and offered work */
    int assigned, offered;
    int missed_in_row;
    uint32_t handled_today;
    int64_t idle_since_ms;
    int64_t wrapup_until_ms;
    int32_t away_reason; /* when AWAY: the caller's code or ROUTE_AWAY_MISSED */
} route_agent_view;

int route_queue_view_get(const route_engine *e, int64_t queue, route_queue_view *out);
int route_agent_view_get(const route_engine *e, int64_t agent, route_agent_view *out);
/* Where an interaction is: 0 waiting, 1 offered (to *agent), 2 assigned
 * (to *agent); CD_ENOTFOUND when unknown, finished or cancelled. */
int route_interaction_where(const route_engine *e, int64_t interaction, int *where, int64_t *agent);

#endif
