/* router.c - feeds the routing engine from the store and writes its
 * decisions back (see router.h). */
#include "server/router.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/route.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LEASE_MS 5000  /* a silent leader is replaced after this */
#define POLL_MS 200    /* hints from other servers are seen this soon */
#define MIN_ITER_MS 10 /* under load, hints are taken in batches this far apart */
#define PING_MS 15000  /* keep-alive comment on every event stream */
#define EVENTS_PER_READ 500
#define PUSH_KEEP_MS 600000 /* the push log keeps ten minutes */
#define PUSH_TRIM_MS 60000  /* and is trimmed this often, by the routing server */
#define FOLLOW_PAGES 40     /* pages of the push log a server publishes per round, at most */
/* Queue ids for a client's default queue (interactions naming no known
 * queue): above any id the store hands out. */
#define DEFAULT_QUEUE_BASE (1LL << 60)

_Static_assert(STORE_PUSH_AGENT == (int)HUB_AGENT && STORE_PUSH_CLIENT == (int)HUB_CLIENT,
               "push log topics are the hub's");

struct router {
    store *st;
    hub *hub;
    char name[96];
    pthread_t thread;
    pthread_mutex_t lock; /* guards kicked and stopping */
    pthread_cond_t wake;
    int kicked, stopping, started;
    int leading; /* read by other threads (health), hence atomic access */
    int wrote;   /* this iteration wrote to the store: commit, else roll back */
    int64_t last_iteration;

    /* Leader state: valid while engine != NULL. */
    route_engine *engine;
    int64_t cursor;       /* last hint applied */
    json_t *skill_ids;    /* skill name -> engine id */
    json_t *queue_ids;    /* "client:name" -> queue id */
    json_t *queue_names;  /* "id" -> name (for overflow) */
    json_t *queue_skills; /* "id" -> default required skills */
    int64_t day;          /* UTC day of the last iteration, for "handled today" */
    json_t *signatures;   /* interaction id -> routing-relevant fields */
    json_t *outbox;       /* [{topic, key, event, data}] to publish after commit */
    json_t *touched;      /* client ids whose figures changed */
    json_t *writes;       /* store writes decided while reading, made after */
    int64_t last_ping;
    int64_t last_failure_log; /* when a failed iteration was last reported */

    /* Every server: what it has published from the push log, and (while it
     * does not route) the hints it has read for supervisors' figures. */
    int followed; /* the cursors below are set */
    int64_t push_cursor, hint_cursor;
    int64_t last_trim;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void key_of(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%" PRId64, v);
}

/* --- translation between store rows and engine values ----------------- */

static uint32_t skill_id(router *r, const char *name)
{
    json_t *v = json_object_get(r->skill_ids, name);
    if (v)
        return (uint32_t)json_integer_value(v);
    uint32_t id = (uint32_t)json_object_size(r->skill_ids) + 1;
    json_object_set_new(r->skill_ids, name, json_integer(id));
    return id;
}

static int index_of(const char *const *names, const char *v, int fallback)
{
    for (int i = 0; names[i]; i++)
        if (v && strcmp(names[i], v) == 0)
            return i;
    return fallback;
}

static const char *const channels[] = {"voice", "chat", "email", "social", "web", NULL};
static const char *const urgencies[] = {"low", "normal", "high", "urgent", NULL};
static const char *const tiers[] = {"standard", "premium", "enterprise", NULL};
static const char *const criteria[] = {"match", "idle", "handled", NULL};

static void queue_defaults(route_queue *q, int64_t id, int64_t client)
{
    static const int32_t urgency[4] = {0, 100, 300, 600}, tier[3] = {0, 100, 200};
    memset(q, 0, sizeof *q);
    q->id = id;
    q->client_id = client;
    memcpy(q->urgency_points, urgency, sizeof urgency);
    memcpy(q->tier_points, tier, sizeof tier);
    q->aging_points_per_s = 1;
    q->order[0] = ROUTE_BY_MATCH;
    q->order[1] = ROUTE_BY_IDLE;
    q->order[2] = ROUTE_BY_HANDLED;
    q->offer_timeout_s = 20;
    q->max_missed = 3;
}

static void points_from(json_t *obj, const char *const *names, int32_t *points)
{
    for (int i = 0; names[i]; i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (json_is_integer(v))
            points[i] = (int32_t)json_integer_value(v);
    }
}

static void queue_from_row(json_t *row, route_queue *q)
{
    json_t *prio = json_object_get(row, "priority"), *step, *c;
    json_t *overflow = json_object_get(row, "overflow");
    size_t i;
    queue_defaults(q, json_integer_value(json_object_get(row, "id")),
                   json_integer_value(json_object_get(row, "client_id")));
    points_from(json_object_get(prio, "urgency"), urgencies, q->urgency_points);
    points_from(json_object_get(prio, "tier"), tiers, q->tier_points);
    if (json_is_integer(json_object_get(prio, "aging_per_s")))
        q->aging_points_per_s = (int32_t)json_integer_value(json_object_get(prio, "aging_per_s"));
    json_array_foreach (json_object_get(row, "widening"), i, step) {
        if (i >= ROUTE_MAX_STEPS)
            break;
        /* A step that leaves relax or keep out inherits the step before. */
        json_t *relax = json_object_get(step, "relax"), *keep = json_object_get(step, "keep");
        q->steps[i].after_s = (int32_t)json_integer_value(json_object_get(step, "after_s"));
        q->steps[i].relax =
            relax ? (uint8_t)json_integer_value(relax) : (i ? q->steps[i - 1].relax : 0);
        q->steps[i].keep = keep ? (uint8_t)json_integer_value(keep)
                                : (i ? q->steps[i - 1].keep : ROUTE_MAX_REQUIRED);
        q->nsteps = (uint8_t)(i + 1);
    }
    json_array_foreach (json_object_get(row, "strategy"), i, c)
        if (i < 3)
            q->order[i] = (route_criterion)index_of(criteria, json_string_value(c), (int)i);
    if (json_is_object(overflow)) {
        q->overflow_after_s = (int32_t)json_integer_value(json_object_get(overflow, "after_s"));
        q->overflow_queue = json_integer_value(json_object_get(overflow, "queue_id"));
    }
    q->offer_timeout_s = (int32_t)json_integer_value(json_object_get(row, "offer_timeout_s"));
    q->max_missed = (uint8_t)json_integer_value(json_object_get(row, "max_missed"));
}

static int queue_load(router *r, json_t *row, int64_t now)
{
    route_queue q;
    char key[160], idk[24];
    queue_from_row(row, &q);
    snprintf(key, sizeof key, "%" PRId64 ":%s", q.client_id,
             json_string_value(json_object_get(row, "name")));
    json_object_set_new(r->queue_ids, key, json_integer(q.id));
    key_of(idk, sizeof idk, q.id);
    json_object_set(r->queue_names, idk, json_object_get(row, "name"));
    json_object_set(r->queue_skills, idk, json_object_get(row, "skills"));
    return route_queue_set(r->engine, &q, now);
}

/* The engine queue of an interaction: its named queue, or the client's
 * default queue (id -client, default settings) made on first use. */
static int64_t queue_for(router *r, int64_t client, const char *name, int64_t now)
{
    char key[160];
    snprintf(key, sizeof key, "%" PRId64 ":%s", client, name ? name : "");
    json_t *v = json_object_get(r->queue_ids, key);
    if (v)
        return json_integer_value(v);
    snprintf(key, sizeof key, "%" PRId64 ":", client);
    v = json_object_get(r->queue_ids, key);
    if (v)
        return json_integer_value(v);
    route_queue q;
    queue_defaults(&q, DEFAULT_QUEUE_BASE + client, client);
    route_queue_set(r->engine, &q, now);
    json_object_set_new(r->queue_ids, key, json_integer(q.id));
    return q.id;
}

static void interaction_from_row(router *r, json_t *row, route_interaction *it, int64_t now)
{
    json_t *s, *skills;
    size_t i;
    char qk[24];
    memset(it, 0, sizeof *it);
    it->id = json_integer_value(json_object_get(row, "id"));
    it->client_id = json_integer_value(json_object_get(row, "client_id"));
    it->queue_id =
        queue_for(r, it->client_id, json_string_value(json_object_get(row, "queue")), now);
    it->channel = (route_channel)index_of(
        channels, json_string_value(json_object_get(row, "channel")), ROUTE_WEB);
    it->urgency = (route_urgency)index_of(
        urgencies, json_string_value(json_object_get(row, "priority")), ROUTE_NORMAL);
    it->tier = (route_tier)index_of(tiers, json_string_value(json_object_get(row, "tier")),
                                    ROUTE_STANDARD);
    /* The interaction's own skills, else its queue's. */
    skills = json_object_get(row, "required_skills");
    key_of(qk, sizeof qk, it->queue_id);
    if (json_array_size(skills) == 0 && json_object_get(r->queue_skills, qk))
        skills = json_object_get(r->queue_skills, qk);
    json_array_foreach (skills, i, s) {
        if (i >= ROUTE_MAX_REQUIRED)
            break;
        it->required[i].id = skill_id(r, json_string_value(json_object_get(s, "name")));
        it->required[i].level = (uint8_t)json_integer_value(json_object_get(s, "level"));
        it->nrequired = (uint8_t)(i + 1);
    }
    it->preferred_agent = json_integer_value(json_object_get(row, "preferred_agent_id"));
    it->preferred_timeout_s = it->preferred_agent ? 60 : 0;
    it->arrived_ms = json_integer_value(json_object_get(row, "created_at"));
    if (it->arrived_ms > now) /* another server's clock ran ahead */
        it->arrived_ms = now;
}

/* What routing depends on; a change means cancel and arrive again. */
static char *signature(json_t *row)
{
    json_t *sig = json_pack(
        "[O,O,O,O,O,O]", json_object_get(row, "queue"), json_object_get(row, "priority"),
        json_object_get(row, "tier"), json_object_get(row, "channel"),
        json_object_get(row, "required_skills"), json_object_get(row, "preferred_agent_id"));
    char *text = sig ? json_dumps(sig, JSON_COMPACT) : NULL;
    json_decref(sig);
    return text;
}

static void agent_from_row(router *r, json_t *row, route_agent *a)
{
    json_t *v;
    size_t i;
    memset(a, 0, sizeof *a);
    a->id = json_integer_value(json_object_get(row, "id"));
    json_array_foreach (json_object_get(row, "clients"), i, v) {
        if (i >= ROUTE_MAX_CLIENTS)
            break;
        a->clients[i] = json_integer_value(json_object_get(v, "client_id"));
        a->nclients = (uint8_t)(i + 1);
    }
    json_array_foreach (json_object_get(row, "skills"), i, v) {
        if (i >= ROUTE_MAX_SKILLS)
            break;
        a->skills[i].id = skill_id(r, json_string_value(json_object_get(v, "name")));
        a->skills[i].level = (uint8_t)json_integer_value(json_object_get(v, "proficiency"));
        a->nskills = (uint8_t)(i + 1);
    }
    for (int c = 0; c < ROUTE_CHANNELS; c++) {
        json_int_t w = json_integer_value(
            json_object_get(json_object_get(row, "channel_weights"), channels[c]));
        a->weight[c] = (uint8_t)(w > 0 && w <= 255 ? w : 0);
    }
}

static route_state state_of(json_t *row)
{
    static const char *const names[] = {"offline", "available", "away", "wrapup", NULL};
    if (!json_integer_value(json_object_get(row, "active")))
        return ROUTE_OFFLINE;
    return (route_state)index_of(names, json_string_value(json_object_get(row, "state")),
                                 ROUTE_OFFLINE);
}

/* --- outgoing messages ------------------------------------------------ *
 *
 * What the routing server decides to tell agents (offers, their outcomes,
 * state changes) is written to the push log in the same transaction as the
 * decisions, and every server, the routing one included, publishes the log
 * to the streams connected to it (follow()). So an agent's stream carries
 * its offers whichever server it reached, in the order they were decided.
 * Supervisors' figures are read from the store by each server for the
 * clients whose work moved: the routing server knows them from what it
 * applied and decided, the others from the hints and the push log. */

static void post(router *r, hub_topic topic, int64_t key, const char *event, json_t *data)
{
    r->wrote = 1; /* every message posted follows a write */
    json_array_append_new(r->outbox, json_pack("{s:i, s:I, s:s, s:o}", "topic", topic, "key",
                                               (json_int_t)key, "event", event, "data", data));
}

static void touch(router *r, int64_t client)
{
    char k[24];
    key_of(k, sizeof k, client);
    json_object_set_new(r->touched, k, json_true());
}

/* --- reconciling the engine with the store ---------------------------- */

static int reconcile_agent(router *r, store_tx *tx, int64_t id, int64_t now)
{
    json_t *row = NULL;
    route_agent a;
    route_agent_view view;
    int rc = store_routing_agent(tx, id, &row);
    if (rc == CD_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    agent_from_row(r, row, &a);
    rc = route_agent_set(r->engine, &a, now);
    route_state want = state_of(row);
    json_t *until = json_object_get(row, "wrapup_until");
    int32_t wrap = want == ROUTE_WRAPUP && json_is_integer(until)
                       ? (int32_t)((json_integer_value(until) - now + 999) / 1000)
                       : 0;
    if (want == ROUTE_WRAPUP && wrap < 1) /* wrap-up already over */
        want = ROUTE_AVAILABLE;
    if (!rc && route_agent_view_get(r->engine, id, &view) == 0 && view.state != want)
        rc = route_agent_state(r->engine, id, want, wrap, now);
    if (rc == CD_EINVAL) { /* a row the engine cannot take: leave that agent out */
        fprintf(stderr, "router: agent %" PRId64 " not routable (%s)\n", id, cd_strerror(rc));
        rc = 0;
    }
    json_decref(row);
    return rc;
}

/* Routable: unassigned and new or open. */
static int routable(json_t *row)
{
    const char *status = json_string_value(json_object_get(row, "status"));
    return json_is_null(json_object_get(row, "assignee_id")) && status &&
           (strcmp(status, "new") == 0 || strcmp(status, "open") == 0);
}

/* Withdraws an interaction's pending offer: the store write is made in
 * the iteration's write phase. */
static int withdraw(router *r, store_tx *tx, int64_t id, int64_t agent, int64_t client)
{
    (void)tx;
    json_array_append_new(r->writes,
                          json_pack("{s:s, s:I}", "op", "cancel", "interaction", (json_int_t)id));
    if (agent)
        post(r, HUB_AGENT, agent, "offer_withdrawn",
             json_pack("{s:I}", "interaction_id", (json_int_t)id));
    touch(r, client);
    return 0;
}

/* Agents who rejected or missed it stay excluded when it arrives again
 * (after a restart, a takeover, or a change of queue or priority). */
static int load_exclusions(store_tx *tx, route_interaction *it)
{
    json_t *rows = NULL, *row;
    size_t i;
    int rc = store_routing_exclusions(tx, it->id, &rows);
    json_array_foreach (rows, i, row) {
        if (it->nexcluded >= ROUTE_MAX_EXCLUDED)
            break;
        it->excluded[it->nexcluded++] = json_integer_value(json_object_get(row, "agent_id"));
    }
    json_decref(rows);
    return rc;
}

static int reconcile_interaction(router *r, store_tx *tx, int64_t id, int64_t now)
{
    json_t *row = NULL;
    char k[24], *sig = NULL;
    int where = -1, rc;
    int64_t agent = 0;
    route_interaction it;
    key_of(k, sizeof k, id);
    rc = store_routing_interaction(tx, id, &row);
    if (rc && rc != CD_ENOTFOUND)
        return rc;
    if (route_interaction_where(r->engine, id, &where, &agent) != 0)
        where = -1;
    int64_t client = row ? json_integer_value(json_object_get(row, "client_id")) : 0;
    if (!row || !routable(row)) {
        int64_t assignee = row ? json_integer_value(json_object_get(row, "assignee_id")) : 0;
        if (where == 1 && assignee == agent) /* the offer was accepted */
            rc = route_accept(r->engine, id, agent, now);
        else if (where == 0 || where == 1) {
            rc = route_cancel(r->engine, id, now);
            if (!rc)
                rc = withdraw(r, tx, id, where == 1 ? agent : 0, client);
        }
        json_object_del(r->signatures, k);
        json_decref(row);
        return rc;
    }
    sig = signature(row);
    if (where >= 0 && sig &&
        strcmp(sig, json_string_value(json_object_get(r->signatures, k)) ?: "") == 0) {
        cd_free(sig);
        json_decref(row);
        return 0; /* nothing routing depends on changed */
    }
    if (where == 2) /* unassigned by hand while assigned: it is work no more */
        rc = route_finish(r->engine, id, agent, 0, now);
    else if (where >= 0) {
        rc = route_cancel(r->engine, id, now);
        if (!rc)
            rc = withdraw(r, tx, id, where == 1 ? agent : 0, client);
    }
    interaction_from_row(r, row, &it, now);
    if (!rc)
        rc = load_exclusions(tx, &it);
    if (!rc)
        rc = route_arrive(r->engine, &it, now);
    if (!rc && sig)
        json_object_set_new(r->signatures, k, json_string(sig));
    touch(r, client);
    cd_free(sig);
    json_decref(row);
    return rc;
}

static int reconcile_queue(router *r, store_tx *tx, int64_t id, int64_t now)
{
    json_t *row = NULL;
    int rc = store_queue_get(tx, id, &row);
    if (rc == CD_ENOTFOUND)
        return 0;
    if (!rc)
        rc = queue_load(r, row, now);
    if (rc == CD_EINVAL) { /* settings the engine refuses: keep the old ones */
        fprintf(stderr, "router: queue %" PRId64 " settings refused\n", id);
        rc = 0;
    }
    json_decref(row);
    return rc;
}

/* An accept, reject or finish hint: the store already decided; the
 * engine follows if it still agrees, else the router rebuilds. */
static int note_wrapup(router *r, store_tx *tx, int64_t agent)
{
    route_agent_view v;
    (void)tx;
    if (route_agent_view_get(r->engine, agent, &v) != 0 || v.state != ROUTE_WRAPUP)
        return 0;
    post(r, HUB_AGENT, agent, "state",
         json_pack("{s:s, s:I}", "state", "wrapup", "wrapup_until", (json_int_t)v.wrapup_until_ms));
    json_array_append_new(r->writes,
                          json_pack("{s:s, s:I, s:I}", "op", "wrapup", "agent", (json_int_t)agent,
                                    "until", (json_int_t)v.wrapup_until_ms));
    return 0;
}

static int apply_outcome(router *r, store_tx *tx, json_t *ev, int64_t now)
{
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    int64_t id = json_integer_value(json_object_get(ev, "subject_id"));
    int64_t agent = json_integer_value(json_object_get(ev, "agent_id"));
    int where = -1;
    int64_t holder = 0;
    route_interaction_where(r->engine, id, &where, &holder);
    touch(r, json_integer_value(json_object_get(ev, "client_id")));
    if (strcmp(kind, "accept") == 0)
        return where == 2 && holder == agent   ? 0
               : where == 1 && holder == agent ? route_accept(r->engine, id, agent, now)
                                               : CD_ESTATE;
    if (strcmp(kind, "reject") == 0)
        return where == 1 && holder == agent ? route_reject(r->engine, id, agent, now) : 0;
    /* finish */
    int32_t wrap = (int32_t)atoi(json_string_value(json_object_get(ev, "detail")) ?: "0");
    if (where != 2 || holder != agent)
        return 0;
    int rc = route_finish(r->engine, id, agent, wrap, now);
    return rc ? rc : note_wrapup(r, tx, agent);
}

static int apply_event(router *r, store_tx *tx, json_t *ev, int64_t now)
{
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    int64_t subject = json_integer_value(json_object_get(ev, "subject_id"));
    if (strcmp(kind, "interaction") == 0)
        return reconcile_interaction(r, tx, subject, now);
    if (strcmp(kind, "agent") == 0)
        return reconcile_agent(r, tx, subject, now);
    if (strcmp(kind, "queue") == 0)
        return reconcile_queue(r, tx, subject, now);
    return apply_outcome(r, tx, ev, now);
}

static int apply_events(router *r, store_tx *tx, int64_t now)
{
    for (;;) {
        json_t *events = NULL, *ev;
        size_t i;
        int rc = store_routing_events(tx, r->cursor, EVENTS_PER_READ, &events);
        if (rc)
            return rc;
        json_array_foreach (events, i, ev) {
            rc = apply_event(r, tx, ev, now);
            if (rc) {
                fprintf(stderr, "router: hint %s %" PRId64 " does not fit (%s); rebuilding\n",
                        json_string_value(json_object_get(ev, "kind")),
                        (int64_t)json_integer_value(json_object_get(ev, "subject_id")),
                        cd_strerror(rc));
                json_decref(events);
                return rc;
            }
            r->cursor = json_integer_value(json_object_get(ev, "seq"));
        }
        size_t n = json_array_size(events);
        json_decref(events);
        if (n < EVENTS_PER_READ)
            return 0;
    }
}

/* --- leadership: rebuild, decisions, iterations ----------------------- */

static void leader_reset(router *r)
{
    route_destroy(r->engine);
    r->engine = NULL;
    json_object_clear(r->skill_ids);
    json_object_clear(r->queue_ids);
    json_object_clear(r->queue_names);
    json_object_clear(r->queue_skills);
    json_object_clear(r->signatures);
}

static int rebuild_agents(router *r, store_tx *tx, int64_t now)
{
    json_t *ids = NULL, *idrow, *row, *w;
    size_t i, j;
    int rc = store_routing_agents(tx, &ids);
    json_array_foreach (ids, i, idrow) {
        int64_t id = json_integer_value(json_object_get(idrow, "id"));
        route_agent a;
        row = NULL;
        if (rc || (rc = store_routing_agent(tx, id, &row)))
            break;
        agent_from_row(r, row, &a);
        rc = route_agent_set(r->engine, &a, now);
        if (rc == CD_EINVAL) { /* a row the engine cannot take: that agent is left out */
            fprintf(stderr, "router: agent %" PRId64 " not routable (%s)\n", id, cd_strerror(rc));
            json_decref(row);
            rc = 0;
            continue;
        }
        /* Work in hand counts against capacity before any offer is made. */
        json_array_foreach (json_object_get(row, "work"), j, w) {
            json_t *it_row = NULL;
            route_interaction it;
            if (rc || (rc = store_routing_interaction(
                           tx, json_integer_value(json_object_get(w, "interaction_id")), &it_row)))
                break;
            interaction_from_row(r, it_row, &it, now);
            rc = route_assign(r->engine, &it, id, now);
            if (rc == CD_EINVAL) { /* not routable: it holds no capacity here */
                fprintf(stderr, "router: interaction %" PRId64 " not routable (%s)\n", it.id,
                        cd_strerror(rc));
                rc = 0;
            }
            json_decref(it_row);
        }
        json_decref(row);
        if (!rc)
            rc = reconcile_agent(r, tx, id, now);
    }
    json_decref(ids);
    return rc;
}

static int rebuild(router *r, store_tx *tx, int64_t now)
{
    json_t *rows = NULL, *row;
    size_t i;
    int rc;
    leader_reset(r);
    r->engine = route_create();
    if (!r->engine)
        return CD_ENOMEM;
    rc = store_routing_head(tx, &r->cursor);
    if (!rc)
        rc = store_routing_queues(tx, &rows);
    json_array_foreach (rows, i, row)
        if (!rc)
            rc = queue_load(r, row, now);
    json_decref(rows);
    rows = NULL;
    if (!rc)
        rc = rebuild_agents(r, tx, now);
    /* Offers pending at a takeover are withdrawn and made again. */
    if (!rc)
        rc = store_routing_pending_offers(tx, &rows);
    json_array_foreach (rows, i, row)
        if (!rc)
            rc = withdraw(r, tx, json_integer_value(json_object_get(row, "interaction_id")),
                          json_integer_value(json_object_get(row, "agent_id")), 0);
    json_decref(rows);
    rows = NULL;
    if (!rc)
        rc = store_routing_waiting(tx, &rows);
    json_array_foreach (rows, i, row)
        if (!rc)
            rc = reconcile_interaction(r, tx, json_integer_value(json_object_get(row, "id")), now);
    json_decref(rows);
    return rc;
}

static int persist_offer(router *r, store_tx *tx, const route_decision *d)
{
    json_t *offer = NULL, *it = NULL;
    int rc = store_offer_create(tx, d->interaction_id, d->agent_id, d->expires_ms, &offer);
    if (rc == CD_ESTATE) /* taken or closed since the read: its hint will cancel it */
        return 0;
    if (!rc)
        rc = store_routing_interaction(tx, d->interaction_id, &it);
    if (!rc) {
        static const char *const keep[] = {"channel", "subject", "priority", "queue", NULL};
        for (int k = 0; keep[k]; k++)
            json_object_set(offer, keep[k], json_object_get(it, keep[k]));
        touch(r, json_integer_value(json_object_get(offer, "client_id")));
        post(r, HUB_AGENT, d->agent_id, "offer", json_incref(offer));
    }
    json_decref(offer);
    json_decref(it);
    return rc;
}

static int persist_one(router *r, store_tx *tx, const route_decision *d)
{
    r->wrote = 1;
    switch (d->kind) {
    case ROUTE_D_OFFER:
        return persist_offer(r, tx, d);
    case ROUTE_D_EXPIRED: {
        int rc = store_offer_expire_one(tx, d->interaction_id, d->agent_id);
        if (!rc)
            post(r, HUB_AGENT, d->agent_id, "offer_expired",
                 json_pack("{s:I}", "interaction_id", (json_int_t)d->interaction_id));
        return rc; /* CD_ESTATE: accepted meanwhile; the engine is rebuilt */
    }
    case ROUTE_D_AGENT_AWAY:
        post(r, HUB_AGENT, d->agent_id, "state",
             json_pack("{s:s, s:s}", "state", "away", "reason", "missed offers"));
        return store_agent_state_system(tx, d->agent_id, "away", "missed offers", 0);
    case ROUTE_D_OVERFLOW: {
        char qk[24], ik[24];
        key_of(qk, sizeof qk, d->queue_id);
        json_t *name = json_object_get(r->queue_names, qk);
        if (!name)
            return 0; /* a default queue has no name to move to */
        /* Forget the signature: a later hint re-arrives it where it now is. */
        key_of(ik, sizeof ik, d->interaction_id);
        json_object_del(r->signatures, ik);
        return store_interaction_requeue(tx, d->interaction_id, json_string_value(name));
    }
    case ROUTE_D_WITHDRAWN: {
        json_t *it = NULL;
        int rc = store_routing_interaction(tx, d->interaction_id, &it);
        if (!rc)
            rc = withdraw(r, tx, d->interaction_id, d->agent_id,
                          json_integer_value(json_object_get(it, "client_id")));
        json_decref(it);
        return rc == CD_ENOTFOUND ? 0 : rc;
    }
    case ROUTE_D_WRAPUP_DONE:
        post(r, HUB_AGENT, d->agent_id, "state", json_pack("{s:s}", "state", "available"));
        return store_agent_state_system(tx, d->agent_id, "available", "", 0);
    }
    return 0;
}

static int persist_writes(router *r, store_tx *tx)
{
    json_t *w;
    size_t i;
    int rc = 0;
    json_array_foreach (r->writes, i, w) {
        const char *op = json_string_value(json_object_get(w, "op"));
        if (rc)
            break;
        if (strcmp(op, "cancel") == 0)
            rc = store_offers_cancel(tx, json_integer_value(json_object_get(w, "interaction")));
        else
            rc = store_agent_state_system(tx, json_integer_value(json_object_get(w, "agent")),
                                          "wrapup", "",
                                          json_integer_value(json_object_get(w, "until")));
        r->wrote = 1;
    }
    json_array_clear(r->writes);
    return rc;
}

static int persist(router *r, store_tx *tx)
{
    route_decision d[128];
    size_t n;
    int rc = persist_writes(r, tx);
    if (rc)
        return rc;
    /* The writes a decision asks for (a withdrawn offer's cancellation) go
     * before the next decision: it may offer the same interaction again. */
    while ((n = route_decisions(r->engine, d, 128)) > 0)
        for (size_t i = 0; i < n; i++)
            if ((rc = persist_one(r, tx, &d[i])) || (rc = persist_writes(r, tx)))
                return rc;
    return 0;
}

/* Logs what the iteration posted, in its transaction (see outgoing
 * messages). */
static int log_posts(router *r, store_tx *tx)
{
    json_t *entries = json_array(), *m;
    size_t i;
    int rc = entries ? 0 : CD_ENOMEM;
    json_array_foreach (r->outbox, i, m) {
        char *data = rc ? NULL : json_dumps(json_object_get(m, "data"), JSON_COMPACT);
        if (!data) {
            rc = CD_ENOMEM;
            break;
        }
        json_t *entry = json_pack("{s:O, s:O, s:O, s:s}", "topic", json_object_get(m, "topic"),
                                  "key", json_object_get(m, "key"), "event",
                                  json_object_get(m, "event"), "data", data);
        cd_free(data);
        if (!entry || json_array_append_new(entries, entry)) {
            rc = CD_ENOMEM;
            break;
        }
    }
    if (!rc)
        rc = store_push_append(tx, entries);
    json_decref(entries);
    return rc;
}

/* The routing server keeps the push log short (requests add to it too, so
 * this does not wait for the router to post something). */
static void trim_push_log(router *r, int64_t now)
{
    store_ctx ctx;
    store_tx *tx = NULL;
    if (now - r->last_trim < PUSH_TRIM_MS)
        return;
    r->last_trim = now;
    store_ctx_system(&ctx);
    if (store_begin(r->st, &ctx, now, 1, &tx))
        return;
    if (store_push_trim(tx, now - PUSH_KEEP_MS) == 0)
        store_commit(tx);
    else
        store_rollback(tx);
}

/* Publishes what the push log gained since this server last looked, and,
 * when another server routes, notes the clients its hints name. Starts at
 * the log's end: a server publishes what happens while it runs. */
static void follow(router *r, int64_t now, int leading)
{
    store_ctx ctx;
    store_tx *tx = NULL;
    json_t *rows = NULL, *row;
    size_t i;
    store_ctx_system(&ctx);
    if (store_begin(r->st, &ctx, now, 0, &tx))
        return;
    if (leading) /* the hints it applied: the next reader as a standby starts there */
        r->hint_cursor = r->cursor;
    if (!r->followed) {
        r->followed = store_push_head(tx, &r->push_cursor) == 0 &&
                      store_routing_head(tx, &r->hint_cursor) == 0;
        store_rollback(tx);
        return;
    }
    /* A page at a time, until the log's end (or enough for one round). */
    for (int page = 0; page < FOLLOW_PAGES; page++) {
        if (store_push_since(tx, r->push_cursor, EVENTS_PER_READ, &rows) != 0)
            break;
        json_array_foreach (rows, i, row) {
            int64_t key = json_integer_value(json_object_get(row, "topic_key"));
            hub_topic topic = (hub_topic)json_integer_value(json_object_get(row, "topic"));
            const char *data = json_string_value(json_object_get(row, "data"));
            const char *event = json_string_value(json_object_get(row, "event"));
            if (topic == HUB_AGENT && event && strcmp(event, STORE_PUSH_ACCESS) == 0)
                hub_end_owner(r->hub, key, event, data ? data : "{}");
            else
                hub_publish(r->hub, topic, key, event, data ? data : "{}");
            r->push_cursor = json_integer_value(json_object_get(row, "seq"));
            if (!leading && topic == HUB_AGENT && data) {
                json_t *d = json_loads(data, 0, NULL);
                int64_t client = json_integer_value(json_object_get(d, "client_id"));
                if (client)
                    touch(r, client);
                json_decref(d);
            }
        }
        size_t n = json_array_size(rows);
        json_decref(rows);
        rows = NULL;
        if (n < EVENTS_PER_READ)
            break;
    }
    for (int page = 0; !leading && page < FOLLOW_PAGES; page++) {
        if (store_routing_events(tx, r->hint_cursor, EVENTS_PER_READ, &rows) != 0)
            break;
        json_array_foreach (rows, i, row) {
            touch(r, json_integer_value(json_object_get(row, "client_id")));
            r->hint_cursor = json_integer_value(json_object_get(row, "seq"));
        }
        size_t n = json_array_size(rows);
        json_decref(rows);
        rows = NULL;
        if (n < EVENTS_PER_READ)
            break;
    }
    store_rollback(tx);
}

/* After an iteration: what was posted goes out through the push log, then
 * the figures of the clients whose work moved. */
static void publish(router *r, int64_t now, int leading)
{
    json_t *v;
    const char *k;
    json_array_clear(r->outbox); /* in the push log now */
    follow(r, now, leading);
    json_object_foreach (r->touched, k, v) {
        int64_t client = strtoll(k, NULL, 10);
        store_ctx ctx;
        store_tx *tx = NULL;
        json_t *view = NULL;
        if (!client || !hub_listeners(r->hub, HUB_CLIENT, client))
            continue;
        store_ctx_system(&ctx);
        if (store_begin(r->st, &ctx, now, 0, &tx))
            continue;
        if (!store_supervisor_view(tx, client, 20000, &view)) {
            char *data = json_dumps(view, JSON_COMPACT);
            if (data)
                hub_publish(r->hub, HUB_CLIENT, client, "queues", data);
            cd_free(data);
        }
        json_decref(view);
        store_rollback(tx);
    }
    json_object_clear(r->touched);
}

/* Drops what an iteration decided but could not write. */
static void iteration_failed(router *r)
{
    leader_reset(r);
    json_array_clear(r->outbox);
    json_array_clear(r->writes);
    json_object_clear(r->touched);
}

/* Phase 1, in a read transaction: is this server the router, and what does
 * the engine decide? Nothing is written, so writers never wait for it.
 * *settled: this server holds the lease with more than half of it left. */
static int iterate_read(router *r, int64_t now, int *lead, int *settled)
{
    store_ctx ctx;
    store_tx *tx = NULL;
    int64_t until = 0;
    int mine = 0, rc;
    store_ctx_system(&ctx);
    rc = store_begin(r->st, &ctx, now, 0, &tx);
    if (rc)
        return rc;
    rc = store_router_lease_peek(tx, r->name, &mine, &until);
    *lead = !rc && (mine || until < now);
    *settled = !rc && mine && until - now > LEASE_MS / 2;
    if (!rc && *lead) {
        rc = (!mine || !r->engine) ? rebuild(r, tx, now) : apply_events(r, tx, now);
        if (!rc && now / 86400000 != r->day) { /* a new UTC day: handled counts restart */
            if (r->day)
                route_day_reset(r->engine);
            r->day = now / 86400000;
        }
        if (!rc)
            rc = route_tick(r->engine, now);
    }
    store_rollback(tx);
    return rc;
}

int router_iterate(router *r)
{
    int64_t now = now_ms(), epoch = 0;
    int taken = 0, renewed = 0, lead = 0, settled = 0, rc;
    store_ctx ctx;
    store_tx *tx = NULL;
    r->last_iteration = now; /* also when the store fails: no busy loop */
    if (!r->followed)        /* where the push log is before this server adds to it */
        follow(r, now, 0);
    if (!r->followed) /* the store did not answer: it would skip its own posts */
        return 0;
    rc = iterate_read(r, now, &lead, &settled);
    if (!rc && !lead) { /* another server routes */
        __atomic_store_n(&r->leading, 0, __ATOMIC_RELAXED);
        leader_reset(r);
        publish(r, now, 0);
        return 0;
    }
    /* Nothing decided and the lease needs no renewal: no write transaction,
     * so that the writers of a busy server do not queue behind the router. */
    if (!rc && settled && !json_array_size(r->writes) && !json_array_size(r->outbox) &&
        !route_decisions_pending(r->engine)) {
        r->wrote = 0;
        __atomic_store_n(&r->leading, 1, __ATOMIC_RELAXED);
        publish(r, now, 1);
        trim_push_log(r, now);
        return 0;
    }
    /* Phase 2, in a write transaction: keep the lease and write what was
     * decided. Losing the lease meanwhile voids the decisions. */
    r->wrote = 0;
    store_ctx_system(&ctx);
    if (!rc)
        rc = store_begin(r->st, &ctx, now, 1, &tx);
    if (!rc) {
        rc = store_router_lease(tx, r->name, LEASE_MS, &epoch, &taken, &renewed);
        r->wrote |= renewed;
        if (!rc)
            rc = persist(r, tx);
        if (!rc && json_array_size(r->outbox))
            rc = log_posts(r, tx);
        if (rc || !r->wrote)
            store_rollback(tx); /* an iteration that wrote nothing needs no sync */
        else
            rc = store_commit(tx);
    }
    __atomic_store_n(&r->leading, rc == 0, __ATOMIC_RELAXED);
    if (rc) { /* what the engine did is not in the store: start over */
        iteration_failed(r);
        /* What others put on the push log still goes out meanwhile. */
        follow(r, now, 0);
        return rc == CD_EBUSY ? 0 : rc;
    }
    publish(r, now, 1);
    trim_push_log(r, now);
    return 0;
}

static void *router_main(void *arg)
{
    router *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        /* Deadlines count from the last iteration, not from each wake-up. */
        int64_t now = now_ms(), until = r->last_iteration + POLL_MS;
        if (r->engine) {
            int64_t next = route_next_deadline(r->engine);
            if (next < until)
                until = next;
        }
        /* Woken by a write: go soon, but let hints gather for a moment. */
        if (r->kicked && r->last_iteration + MIN_ITER_MS < until)
            until = r->last_iteration + MIN_ITER_MS;
        if (until > now) {
            struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};
            pthread_cond_timedwait(&r->wake, &r->lock, &ts);
            continue; /* re-evaluate: stopped, kicked or due */
        }
        r->kicked = 0;
        /* Writers kick without waiting for an iteration to finish. */
        pthread_mutex_unlock(&r->lock);
        int rc = router_iterate(r);
        if (rc && now_ms() - r->last_failure_log >= 10000) { /* once in 10 s at most */
            fprintf(stderr, "router: iteration failed (%s); starting over\n", cd_strerror(rc));
            r->last_failure_log = now_ms();
        }
        if (now_ms() - r->last_ping >= PING_MS) {
            hub_ping(r->hub);
            r->last_ping = now_ms();
        }
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int router_start(store *st, hub *h, const char *name, router **out)
{
    router *r = cd_calloc(1, sizeof *r);
    if (!r)
        return CD_ENOMEM;
    r->st = st;
    r->hub = h;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->skill_ids = json_object();
    r->queue_ids = json_object();
    r->queue_names = json_object();
    r->queue_skills = json_object();
    r->signatures = json_object();
    r->outbox = json_array();
    r->touched = json_object();
    r->writes = json_array();
    r->last_ping = now_ms();
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL); /* CLOCK_REALTIME, like now_ms */
    if (pthread_create(&r->thread, NULL, router_main, r) != 0) {
        router_stop(r);
        return CD_EIO;
    }
    r->started = 1;
    *out = r;
    return 0;
}

int router_is_leader(router *r)
{
    return r && __atomic_load_n(&r->leading, __ATOMIC_RELAXED);
}

void router_kick(router *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->kicked = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

void router_stop(router *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->lock);
        r->stopping = 1;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    if (r->engine) { /* hand over at once rather than after the lease */
        store_ctx ctx;
        store_tx *tx = NULL;
        store_ctx_system(&ctx);
        if (!store_begin(r->st, &ctx, now_ms(), 1, &tx)) {
            if (store_router_release(tx, r->name) == 0)
                store_commit(tx);
            else
                store_rollback(tx);
        }
    }
    leader_reset(r);
    json_decref(r->skill_ids);
    json_decref(r->queue_ids);
    json_decref(r->queue_names);
    json_decref(r->queue_skills);
    json_decref(r->signatures);
    json_decref(r->outbox);
    json_decref(r->touched);
    json_decref(r->writes);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    cd_free(r);
}
