/* store_queues.c - queues with their routing configuration, and agents'
 * live state (available, away with a reason, offline, wrap-up). */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <string.h>

#define QUEUE_COLUMNS                                                                              \
    "id, client_id, name, priority_json, widening_json, strategy_json, overflow_after_s, "         \
    "overflow_queue_id, offer_timeout_s, max_missed, created_at, updated_at, skills_json"

#define MAX_STEPS 8
#define POINTS_MAX 1000000

static const char *const urgencies[] = {"low", "normal", "high", "urgent", NULL};
static const char *const tiers[] = {"standard", "premium", "enterprise", NULL};
static const char *const criteria[] = {"match", "idle", "handled", NULL};

/* Defaults: urgency dominates tier; one point a second of waiting lets an
 * urgent item overtake a low one waiting for up to 10 minutes. */
static const char default_priority[] =
    "{\"urgency\":{\"low\":0,\"normal\":100,\"high\":300,\"urgent\":600},"
    "\"tier\":{\"standard\":0,\"premium\":100,\"enterprise\":200},\"aging_per_s\":1}";
static const char default_strategy[] = "[\"match\",\"idle\",\"handled\"]";

static json_t *queue_shape(json_t *row)
{
    json_t *overflow = json_null();
    store__parse_column(row, "priority_json", default_priority);
    store__parse_column(row, "widening_json", "[]");
    store__parse_column(row, "strategy_json", default_strategy);
    store__parse_column(row, "skills_json", "[]");
    json_object_set(row, "skills", json_object_get(row, "skills_json"));
    json_object_del(row, "skills_json");
    json_object_set(row, "priority", json_object_get(row, "priority_json"));
    json_object_set(row, "widening", json_object_get(row, "widening_json"));
    json_object_set(row, "strategy", json_object_get(row, "strategy_json"));
    json_object_del(row, "priority_json");
    json_object_del(row, "widening_json");
    json_object_del(row, "strategy_json");
    if (store__int(row, "overflow_after_s") > 0)
        overflow = json_pack("{s:O, s:O}", "after_s", json_object_get(row, "overflow_after_s"),
                             "queue_id", json_object_get(row, "overflow_queue_id"));
    json_object_set_new(row, "overflow", overflow);
    json_object_del(row, "overflow_after_s");
    json_object_del(row, "overflow_queue_id");
    return row;
}

/* Each named point value present must be an integer in range; missing
 * names take the default. */
static int check_points(store_tx *tx, json_t *obj, const char *const *names, const char *field)
{
    const char *k;
    json_t *v;
    json_object_foreach (obj, k, v) {
        int known = 0;
        for (const char *const *n = names; *n; n++)
            known |= strcmp(*n, k) == 0;
        if (!known || !json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > POINTS_MAX)
            return store__fail(tx, CD_EINVAL, field,
                               "%s.%s must be one of the known names with "
                               "0..%d points",
                               field, k, POINTS_MAX);
    }
    return 0;
}

/* Merges given priority settings over the defaults (new reference). */
static json_t *priority_merge(json_t *given)
{
    json_t *p = json_loads(default_priority, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach (given, k, v) {
        if (json_is_object(v))
            json_object_update(json_object_get(p, k), v);
        else
            json_object_set(p, k, v);
    }
    return p;
}

static int check_priority(store_tx *tx, json_t *p)
{
    json_t *aging = json_object_get(p, "aging_per_s");
    int rc = check_points(tx, json_object_get(p, "urgency"), urgencies, "priority.urgency");
    if (!rc)
        rc = check_points(tx, json_object_get(p, "tier"), tiers, "priority.tier");
    if (!rc && (!json_is_integer(aging) || json_integer_value(aging) < 1 ||
                json_integer_value(aging) > 1000))
        rc = store__fail(tx, CD_EINVAL, "priority.aging_per_s",
                         "aging_per_s must be 1..1000 points a second");
    return rc;
}

static int check_widening(store_tx *tx, json_t *steps)
{
    json_t *s;
    size_t i;
    json_int_t last = 0, relax = 0, keep = 8;
    if (json_array_size(steps) > MAX_STEPS)
        return store__fail(tx, CD_EINVAL, "widening", "at most %d widening steps", MAX_STEPS);
    json_array_foreach (steps, i, s) {
        json_int_t after = json_integer_value(json_object_get(s, "after_s"));
        json_t *r = json_object_get(s, "relax"), *k = json_object_get(s, "keep");
        if (after <= last)
            return store__fail(tx, CD_EINVAL, "widening",
                               "widening steps need increasing after_s above 0");
        /* Each step only widens: relaxes at least as much, keeps no more. */
        if ((r && json_integer_value(r) < relax) || (k && json_integer_value(k) > keep))
            return store__fail(tx, CD_EINVAL, "widening",
                               "each widening step must relax at least as much and keep no "
                               "more skills than the one before");
        last = after;
        relax = r ? json_integer_value(r) : relax;
        keep = k ? json_integer_value(k) : keep;
    }
    return 0;
}

static int check_strategy(store_tx *tx, json_t *order)
{
    json_t *c;
    size_t i;
    unsigned seen = 0;
    if (json_array_size(order) != 3)
        return store__fail(tx, CD_EINVAL, "strategy",
                           "strategy orders all three of match, idle and handled");
    json_array_foreach (order, i, c) {
        for (int k = 0; criteria[k]; k++)
            if (strcmp(json_string_value(c), criteria[k]) == 0)
                seen |= 1u << k;
    }
    if (seen != 7)
        return store__fail(tx, CD_EINVAL, "strategy",
                           "strategy orders all three of match, idle and handled");
    return 0;
}

/* An overflow target must be another queue of the same client. */
static int check_overflow(store_tx *tx, int64_t client, int64_t self, json_t *overflow)
{
    json_t *row = NULL;
    int64_t target = store__int(overflow, "queue_id");
    int rc;
    if (!overflow || json_is_null(overflow))
        return 0;
    if (target == self)
        return store__fail(tx, CD_EINVAL, "overflow", "a queue cannot overflow into itself");
    rc = store__q1(tx, "SELECT id FROM queues WHERE id = $1 AND client_id = $2",
                   json_pack("[II]", (json_int_t)target, (json_int_t)client), &row);
    json_decref(row);
    if (rc == CD_ENOTFOUND)
        return store__fail(tx, CD_EINVAL, "overflow", "no such queue of this client");
    return rc;
}

static char *dump(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

typedef struct queue_texts {
    char *priority, *widening, *strategy, *skills;
} queue_texts;

static void texts_free(queue_texts *t)
{
    cd_free(t->skills);
    cd_free(t->priority);
    cd_free(t->widening);
    cd_free(t->strategy);
}

/* Validates the routing settings of in over cur (NULL when creating) and
 * renders them as the stored JSON text. */
static int settle(store_tx *tx, int64_t client, int64_t self, json_t *in, json_t *cur,
                  queue_texts *t)
{
    json_t *prio = priority_merge(json_object_get(cur ? cur : in, "priority"));
    json_t *widening = json_object_get(in, "widening");
    json_t *strategy = json_object_get(in, "strategy");
    json_t *skills = json_object_get(in, "skills");
    int rc;
    if (cur && json_object_get(in, "priority"))
        json_object_update_recursive(prio, json_object_get(in, "priority"));
    if (!widening)
        widening = cur ? json_object_get(cur, "widening") : NULL;
    if (!strategy)
        strategy = cur ? json_object_get(cur, "strategy") : NULL;
    if (!skills)
        skills = cur ? json_object_get(cur, "skills") : NULL;
    rc = check_priority(tx, prio);
    if (!rc && widening)
        rc = check_widening(tx, widening);
    if (!rc && strategy)
        rc = check_strategy(tx, strategy);
    if (!rc && json_object_get(in, "overflow"))
        rc = check_overflow(tx, client, self, json_object_get(in, "overflow"));
    if (!rc) {
        t->priority = dump(prio);
        t->widening = widening ? dump(widening) : cd_strdup("[]");
        t->strategy = strategy ? dump(strategy) : cd_strdup(default_strategy);
        t->skills = skills ? dump(skills) : cd_strdup("[]");
        if (!t->priority || !t->widening || !t->strategy || !t->skills)
            rc = CD_ENOMEM;
    }
    json_decref(prio);
    return rc;
}

static json_int_t int_or(json_t *obj, const char *key, json_int_t fallback)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : fallback;
}

int store_queue_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc = store__get_visible(tx, "SELECT " QUEUE_COLUMNS " FROM queues WHERE id = $1", id, &row);
    if (!rc)
        *out = queue_shape(row);
    return rc;
}

int store_queue_create(store_tx *tx, json_t *in, json_t **out)
{
    int64_t client = store__int(in, "client_id");
    json_t *overflow = json_object_get(in, "overflow"), *row = NULL;
    queue_texts t = {0};
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = settle(tx, client, 0, in, NULL, &t);
    if (!rc)
        rc = store__q1(
            tx,
            "INSERT INTO queues (client_id, name, priority_json, widening_json, strategy_json, "
            "overflow_after_s, overflow_queue_id, offer_timeout_s, max_missed, created_at, "
            "updated_at, skills_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) "
            "RETURNING id",
            json_pack("[IssssIoIIIs]", (json_int_t)client, store__str(in, "name"), t.priority,
                      t.widening, t.strategy, int_or(overflow, "after_s", 0),
                      json_is_object(overflow) ? json_integer(store__int(overflow, "queue_id"))
                                               : json_null(),
                      int_or(in, "offer_timeout_s", 20), int_or(in, "max_missed", 3),
                      (json_int_t)tx->now, t.skills),
            &row);
    texts_free(&t);
    if (rc == CD_ECONFLICT)
        return store__fail(tx, rc, "name", "this client has a queue of that name");
    if (rc)
        return rc;
    int64_t id = store__int(row, "id");
    json_decref(row);
    rc = store__audit(tx, "create", "queue", id, client, NULL);
    if (!rc)
        rc = store__routing_emit(tx, "queue", client, id, 0, NULL);
    return rc ? rc : store_queue_get(tx, id, out);
}

int store_queue_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit, client = store__int(query, "client_id");
    json_t *rows = NULL, *row;
    size_t i;
    sqlb b;
    int rc = store__list_start(tx, query, "SELECT " QUEUE_COLUMNS " FROM queues", "id", &b, &limit);
    if (rc)
        return rc;
    if (client)
        store__sqlb_param(&b, " AND client_id = $?", json_integer(client));
    rc = store__list_finish(tx, &b, "client_id", "id", limit, &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row)
        queue_shape(row);
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

int store_queue_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    json_t *cur = NULL, *overflow = json_object_get(patch, "overflow");
    queue_texts t = {0};
    int64_t client;
    int rc = store_queue_get(tx, id, &cur);
    if (rc)
        return rc;
    client = store__int(cur, "client_id");
    if (json_object_get(patch, "client_id"))
        rc = store__fail(tx, CD_EINVAL, "client_id", "a queue's client cannot change");
    if (!rc)
        rc = settle(tx, client, id, patch, cur, &t);
    if (!overflow)
        overflow = json_object_get(cur, "overflow");
    if (!rc)
        rc = store__q(
            tx,
            "UPDATE queues SET name = $1, priority_json = $2, widening_json = $3, "
            "strategy_json = $4, overflow_after_s = $5, overflow_queue_id = $6, "
            "offer_timeout_s = $7, max_missed = $8, updated_at = $9, skills_json = $11 "
            "WHERE id = $10",
            json_pack("[ssssIoIIIIs]",
                      store__str(patch, "name") ? store__str(patch, "name")
                                                : store__str(cur, "name"),
                      t.priority, t.widening, t.strategy, int_or(overflow, "after_s", 0),
                      json_is_object(overflow) ? json_integer(store__int(overflow, "queue_id"))
                                               : json_null(),
                      int_or(patch, "offer_timeout_s", store__int(cur, "offer_timeout_s")),
                      int_or(patch, "max_missed", store__int(cur, "max_missed")),
                      (json_int_t)tx->now, (json_int_t)id, t.skills),
            NULL);
    texts_free(&t);
    json_decref(cur);
    if (rc == CD_ECONFLICT)
        return store__fail(tx, rc, "name", "this client has a queue of that name");
    if (!rc)
        rc = store__audit(tx, "update", "queue", id, client, NULL);
    if (!rc)
        rc = store__routing_emit(tx, "queue", client, id, 0, NULL);
    return rc ? rc : store_queue_get(tx, id, out);
}

/* --- agent state ------------------------------------------------------ */

static const char *const agent_states[] = {"offline", "available", "away", NULL};

int store_agent_state_get(store_tx *tx, int64_t user_id, json_t **out)
{
    json_t *row = NULL;
    int rc = store__q1(tx,
                       "SELECT state, reason, since, wrapup_until FROM agent_status "
                       "WHERE user_id = $1",
                       json_pack("[I]", (json_int_t)user_id), &row);
    if (rc == CD_ENOTFOUND) {
        *out = json_pack("{s:s, s:s, s:n, s:n}", "state", "offline", "reason", "", "since",
                         "wrapup_until");
        return *out ? 0 : CD_ENOMEM;
    }
    if (!rc) {
        json_object_set_new(row, "user_id", json_integer(user_id));
        *out = row;
    }
    return rc;
}

int store_agent_state_set(store_tx *tx, json_t *in, json_t **out)
{
    /* A reason is typed by the agent: masked like any free text (the kinds
     * every client masks; the agent may serve several). */
    int rc = store__redact_json(json_object_get(in, "reason"), 0, NULL);
    if (rc)
        return rc;
    const char *state = store__str(in, "state"), *reason = store__str(in, "reason");
    int64_t user = tx->ctx.user_id;
    int known = 0;
    for (const char *const *s = agent_states; *s; s++)
        known |= state && strcmp(*s, state) == 0;
    if (!known)
        return store__fail(tx, CD_EINVAL, "state", "state must be offline, available or away");
    if (strcmp(state, "away") == 0 && (!reason || !*reason))
        return store__fail(tx, CD_EINVAL, "reason", "going away needs a reason code");
    if (strcmp(state, "away") != 0)
        reason = "";
    rc =
        store__q(tx,
                 "INSERT INTO agent_status (user_id, state, reason, since) VALUES ($1, $2, $3, $4) "
                 "ON CONFLICT (user_id) DO UPDATE SET state = $2, reason = $3, since = $4, "
                 "wrapup_until = NULL",
                 json_pack("[IssI]", (json_int_t)user, state, reason, (json_int_t)tx->now), NULL);
    if (!rc)
        rc = store__audit(tx, "state", "agent", user, 0, json_object_get(in, "state"));
    if (!rc)
        rc = store__routing_emit(tx, "agent", 0, user, user, NULL);
    return rc ? rc : store_agent_state_get(tx, user, out);
}
