/* sla.h - service-level agreements: policies, clocks, and the scheduler
 * that fires their warnings and breaches.
 *
 * Pure: no I/O, no clock, no globals. Time comes in as `now` (UTC epoch ms)
 * with every call; the same calls in the same order give the same events.
 * Time never goes back: a `now` earlier than the latest seen is taken as
 * the latest. Every call first fires what is due by `now` (as sla_tick
 * would), then does its own work, so the events of one call come in that
 * order.
 *
 * Policies. A client has an ordered list of policies; the first whose
 * conditions all hold for an interaction applies (a condition is a set of
 * allowed values of priority, customer tier, channel, category or queue;
 * an absent condition allows anything). A policy sets targets for up to
 * four clocks, each in business time (the client's calendar) or calendar
 * time (real time), and the share of a target at which a warning fires.
 *
 * Clocks. Each interaction has four clocks, one per sla_target:
 *   first response   from open until the first agent reply;
 *   next response    from a customer reply (after the first response, when
 *                    none is running) until the next agent reply;
 *   periodic update  from open; every agent reply ends a cycle and starts
 *                    the next, until resolved;
 *   resolution       from open until resolved.
 * A clock counts whether or not the policy gives it a target, in both real
 * and business time, so a change of policy, priority or calendar keeps the
 * elapsed time and only moves the due instants. All running clocks of an
 * interaction pause while it is pending (waiting on the customer) and
 * resume when it is not (sla_pending, or a customer reply).
 *
 * Events (read with sla_events): APPLIED when a policy starts to apply (or
 * stops: policy 0), WARNING when the elapsed time of a targeted clock
 * reaches warn_ms, BREACHED when it reaches target_ms (the clock keeps
 * counting: overdue time shows as negative remaining time), FULFILLED when
 * a targeted clock stops because its work was done (`breached` says
 * whether late). Warning and breach fire once per clock cycle, at their
 * exact instants (at_ms), in order of (at_ms, interaction, target). Their
 * identity (interaction, target, cycle, kind) is unique: the store can key
 * its event log on it so that each event is written once however many
 * servers fire it (docs/sla.md, "Persistence").
 *
 * Scheduler: one timer per targeted running clock in an indexed binary
 * heap: O(log n) per update, O(log n) per fired event, no scan.
 * sla_next_deadline says when the next one is due. */
#ifndef SLA_H
#define SLA_H

#include "core/calendar.h"

#include <stddef.h>
#include <stdint.h>

#define SLA_MAX_POLICIES 256
#define SLA_MAX_VALUES 64   /* values of one condition */
#define SLA_MAX_CATEGORY 64 /* bytes of a category name */
#define SLA_MAX_TEXT (1u << 20)

typedef enum {
    SLA_FIRST_RESPONSE,
    SLA_NEXT_RESPONSE,
    SLA_PERIODIC_UPDATE,
    SLA_RESOLUTION,
    SLA_TARGETS
} sla_target;

typedef enum {
    SLA_NONE, /* not started */
    SLA_RUNNING,
    SLA_PAUSED,    /* the interaction is pending */
    SLA_FULFILLED, /* its work was done */
    SLA_STOPPED,   /* ended without its work done (resolved first) */
} sla_state;

typedef enum { SLA_E_APPLIED, SLA_E_WARNING, SLA_E_BREACHED, SLA_E_FULFILLED } sla_event_kind;

/* What policies look at. Priorities low/normal/high/urgent (0..3), tiers
 * standard/premium/enterprise (0..2), channels voice/chat/email/social/web
 * (0..4), as in core/route.h. */
typedef struct sla_attrs {
    int64_t client;       /* > 0 */
    int64_t queue;        /* 0: none */
    const char *category; /* NULL or "": none; at most SLA_MAX_CATEGORY bytes */
    uint8_t priority, tier, channel;
} sla_attrs;

/* --- policies ------------------------------------------------------------ */

typedef struct sla_policies sla_policies;

/* Parses a client's policies (docs/sla.md):
 *
 *   {"warning": 0.8,
 *    "policies": [
 *      {"id": 7, "name": "Urgent enterprise",
 *       "when": {"priority": ["urgent"], "tier": ["enterprise"],
 *                "channel": ["voice", "chat"], "category": ["billing"], "queue": [12]},
 *       "targets": {"first_response": {"minutes": 30},
 *                   "resolution": {"minutes": 480, "time": "calendar"}},
 *       "warning": 0.75}]}
 *
 * "id" (> 0, unique) names the policy in events; "time" is "business" (the
 * default) or "calendar"; "warning" (policy, else top level, else 0.8) is
 * the share of each target at which it warns, 0 <= w < 1 (0: no warning).
 * CD_EINVAL with the offending field in err, CD_ETOOBIG, CD_ENOMEM. */
int sla_policies_parse(const char *text, size_t len, sla_policies **out, char *err, size_t errlen);
void sla_policies_free(sla_policies *p);
size_t sla_policies_count(const sla_policies *p);
/* The first policy that applies: its id, or 0 when none does. */
int64_t sla_policies_match(const sla_policies *p, const sla_attrs *a);

/* --- clocks: the plain state the store saves ------------------------------- */

typedef struct sla_clock {
    uint8_t state;    /* sla_state */
    uint8_t business; /* the target counts business time */
    uint8_t warned, breached;
    uint32_t cycle;         /* 1 for the first run; periodic and next response count up */
    int64_t target_ms;      /* 0: no target (no timers, no events) */
    int64_t warn_ms;        /* elapsed at which it warns; 0: never */
    int64_t elapsed_ms;     /* real ms counted up to since_ms (or in all, when stopped) */
    int64_t elapsed_biz_ms; /* business ms counted likewise */
    int64_t since_ms;       /* running: counting from here */
    int64_t started_ms, ended_ms;
    int64_t warn_at_ms, due_at_ms; /* running: when they fall (INT64_MAX: never) */
} sla_clock;

typedef struct sla_record {
    int64_t interaction, client, queue;
    int64_t policy; /* the policy applied; 0: none */
    char category[SLA_MAX_CATEGORY + 1];
    uint8_t priority, tier, channel;
    uint8_t pending, responded, resolved;
    sla_clock clocks[SLA_TARGETS];
} sla_record;

typedef struct sla_event {
    sla_event_kind kind;
    sla_target target; /* APPLIED: SLA_TARGETS */
    uint32_t cycle;
    uint8_t breached; /* FULFILLED: late */
    int64_t interaction;
    int64_t policy;     /* in force; 0: none */
    int64_t at_ms;      /* WARNING/BREACHED: the instant it fell due */
    int64_t elapsed_ms; /* in the target's time (business or real) */
    int64_t target_ms;
} sla_event;

/* --- the engine ---------------------------------------------------------- */

typedef struct sla_engine sla_engine;

sla_engine *sla_create(void);
void sla_destroy(sla_engine *e);
size_t sla_memory_bytes(const sla_engine *e);
size_t sla_count(const sla_engine *e); /* interactions held */

/* A client's calendar and policies. The engine takes both (on success
 * only; NULL calendar: 24/7, NULL policies: none) and frees the ones they
 * replace. Open interactions of the client count their time so far on the
 * old calendar, are matched again (APPLIED when the policy changes) and get
 * new due instants: O(interactions held). Interactions of a client never
 * set have no policy and count on 24/7. */
int sla_client_set(sla_engine *e, int64_t client, calendar *cal, sla_policies *pol, int64_t now);

/* Interaction events: 0, CD_EINVAL (bad id or attributes), CD_ENOTFOUND
 * (unknown interaction), CD_ECONFLICT (open of a known one), CD_ESTATE
 * (after resolve), CD_ENOMEM (nothing changed). */
int sla_open(sla_engine *e, int64_t interaction, const sla_attrs *a, int64_t now);
/* New attributes (priority, tier, channel, category, queue; not client):
 * matched again; due instants re-computed keeping elapsed time. */
int sla_change(sla_engine *e, int64_t interaction, const sla_attrs *a, int64_t now);
int sla_agent_reply(sla_engine *e, int64_t interaction, int64_t now);
/* A customer reply also ends pending. */
int sla_customer_reply(sla_engine *e, int64_t interaction, int64_t now);
int sla_pending(sla_engine *e, int64_t interaction, int pending, int64_t now);
/* Fulfils resolution; stops the other clocks. */
int sla_resolve(sla_engine *e, int64_t interaction, int64_t now);
/* Drops an interaction (closed, deleted), without events. */
int sla_forget(sla_engine *e, int64_t interaction);

/* Fires the warnings and breaches due by now. */
int sla_tick(sla_engine *e, int64_t now);
/* The earliest instant a tick has work (INT64_MAX: none). */
int64_t sla_next_deadline(const sla_engine *e);
/* Copies out up to max events made since the last call, oldest first, and
 * forgets them; returns how many. */
size_t sla_events(sla_engine *e, sla_event *out, size_t max);

/* --- views and persistence ------------------------------------------------- */

typedef struct sla_clock_view {
    sla_state state;
    uint8_t business, warned, breached;
    uint32_t cycle;
    int64_t target_ms;    /* 0: no target */
    int64_t elapsed_ms;   /* at now, in the target's time */
    int64_t remaining_ms; /* target - elapsed; negative when overdue */
    int64_t due_ms;       /* running: when it falls due; INT64_MAX otherwise */
} sla_clock_view;

typedef struct sla_view {
    int64_t policy;
    uint8_t pending, resolved;
    sla_clock_view clocks[SLA_TARGETS];
} sla_view;

/* The interaction's clocks as of now (>= the latest now seen; no events). */
int sla_view_get(const sla_engine *e, int64_t interaction, int64_t now, sla_view *out);
/* Its saved state; after any call that touched it or an event about it. */
int sla_record_get(const sla_engine *e, int64_t interaction, sla_record *out);
/* Rebuilds an interaction from its saved state (after a restart): timers
 * that fell due while no engine ran fire at the next call, unless their
 * flags say they already fired. CD_ECONFLICT when already known. */
int sla_restore(sla_engine *e, const sla_record *r, int64_t now);

const char *sla_target_name(sla_target t);    /* "first_response", ... */
const char *sla_event_name(sla_event_kind k); /* "applied", ... */
const char *sla_state_name(sla_state s);      /* "running", ... */

#endif
