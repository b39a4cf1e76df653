/* store_rules.c - automation and escalation rules, and the webhook outbox.
 *
 * A rule belongs to a client and fires on one event of an interaction
 * (created, updated, message_in, sentiment_alert, sla_warning, sla_breach,
 * idle). Its condition is an expression of the guided-workflow language
 * (core/flow_expr) over the interaction, its customer, the message or the
 * event's details; empty means always. Its actions run in order. Rules of
 * an event run by position, then id. What a rule's actions change does not
 * fire rules again, so no rule can trigger itself or another endlessly.
 * Every firing is an event "rule_fired" with the rule's id and version. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/flow_expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULE_COLUMNS                                                                               \
    "id, client_id, name, event, condition_text, actions, idle_minutes, position, active, "        \
    "version, created_at, updated_at"
#define REPLY_MAX 8192

static const char *const events[] = {"created",     "updated",    "message_in", "sentiment_alert",
                                     "sla_warning", "sla_breach", "idle",       NULL};
static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};

static int one_of(const char *const *set, const char *v)
{
    for (; v && *set; set++)
        if (strcmp(*set, v) == 0)
            return 1;
    return 0;
}

static json_t *rule_shape(json_t *row)
{
    store__parse_column(row, "actions", "[]");
    json_object_set_new(row, "active", json_boolean(store__int(row, "active")));
    json_t *c = json_object_get(row, "condition_text");
    json_object_set(row, "condition", c);
    json_object_del(row, "condition_text");
    return row;
}

/* --- checking a rule ------------------------------------------------------ */

static int check_actions(store_tx *tx, int64_t client, json_t *actions)
{
    json_t *a;
    size_t i;
    if (!json_is_array(actions) || json_array_size(actions) == 0 || json_array_size(actions) > 16)
        return store__fail(tx, CD_EINVAL, "actions", "actions is a list of 1 to 16 actions");
    json_array_foreach (actions, i, a) {
        const char *type = store__str(a, "type");
        const char *need = !type                                 ? NULL
                           : !strcmp(type, "set_priority")       ? "value"
                           : !strcmp(type, "move_to_queue")      ? "queue"
                           : !strcmp(type, "assign")             ? "user_id"
                           : !strcmp(type, "add_tag")            ? "tag"
                           : !strcmp(type, "notify_supervisors") ? "text"
                           : !strcmp(type, "send_reply")         ? "text"
                           : !strcmp(type, "webhook")            ? "url"
                                                                 : NULL;
        if (!json_is_object(a) || !need)
            return store__fail(tx, CD_EINVAL, "actions",
                               "action %zu: type must be set_priority, move_to_queue, assign, "
                               "add_tag, notify_supervisors, send_reply or webhook",
                               i + 1);
        json_t *v = json_object_get(a, need);
        int ok = !strcmp(need, "user_id") ? json_is_integer(v) && json_integer_value(v) > 0
                                          : json_is_string(v) && json_string_length(v) > 0 &&
                                                json_string_length(v) <= REPLY_MAX;
        if (!ok)
            return store__fail(tx, CD_EINVAL, "actions", "action %zu (%s) needs \"%s\"", i + 1,
                               type, need);
        if (!strcmp(type, "set_priority") && !one_of(priorities, json_string_value(v)))
            return store__fail(tx, CD_EINVAL, "actions",
                               "action %zu: priority must be low, normal, high or urgent", i + 1);
        if (!strcmp(type, "webhook") && strncmp(json_string_value(v), "https://", 8) != 0)
            return store__fail(tx, CD_EINVAL, "actions",
                               "action %zu: a webhook url must start with https://", i + 1);
        if (!strcmp(type, "assign")) {
            json_t *row = NULL;
            int rc = store__q1(tx,
                               "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id "
                               "WHERE u.id = $1 AND m.client_id = $2",
                               json_pack("[OI]", v, (json_int_t)client), &row);
            json_decref(row);
            if (rc == CD_ENOTFOUND)
                return store__fail(tx, CD_EINVAL, "actions",
                                   "action %zu: no such agent serves this client", i + 1);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int check_rule(store_tx *tx, int64_t client, json_t *in, int patch)
{
    const char *event = store__str(in, "event");
    json_t *cond = json_object_get(in, "condition");
    if ((!patch || event) && !one_of(events, event))
        return store__fail(tx, CD_EINVAL, "event",
                           "event must be created, updated, message_in, sentiment_alert, "
                           "sla_warning, sla_breach or idle");
    if (cond && json_string_length(cond)) {
        flow_expr *e = NULL;
        flow_expr_error err = {0};
        int rc = flow_expr_parse(json_string_value(cond), json_string_length(cond), &e, &err);
        flow_expr_destroy(e);
        if (rc == CD_ENOMEM)
            return rc;
        if (rc)
            return store__fail(tx, CD_EINVAL, "condition", "%d:%d: %s", err.line, err.col, err.msg);
    }
    if ((!patch || json_object_get(in, "actions")) &&
        check_actions(tx, client, json_object_get(in, "actions")))
        return CD_EINVAL;
    if (event && !strcmp(event, "idle") && store__int(in, "idle_minutes") <= 0)
        return store__fail(tx, CD_EINVAL, "idle_minutes",
                           "an idle rule needs idle_minutes (how long without activity)");
    return 0;
}

/* --- CRUD ------------------------------------------------------------------- */

int store_rule_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc = store__get_visible(tx, "SELECT " RULE_COLUMNS " FROM rules WHERE id = $1", id, &row);
    if (!rc)
        *out = rule_shape(row);
    return rc;
}

int store_rule_create(store_tx *tx, json_t *in, json_t **out)
{
    int64_t client = store__int(in, "client_id");
    json_t *row = NULL;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = check_rule(tx, client, in, 0);
    if (rc)
        return rc;
    char *actions = json_dumps(json_object_get(in, "actions"), JSON_COMPACT);
    rc = actions
             ? store__q1(tx,
                         "INSERT INTO rules (client_id, name, event, condition_text, actions, "
                         "idle_minutes, position, active, version, created_at, updated_at) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9) RETURNING id",
                         json_pack("[IssssIIiI]", (json_int_t)client,
                                   store__str(in, "name") ? store__str(in, "name") : "",
                                   store__str(in, "event"),
                                   store__str(in, "condition") ? store__str(in, "condition") : "",
                                   actions, (json_int_t)store__int(in, "idle_minutes"),
                                   (json_int_t)store__int(in, "position"),
                                   json_is_false(json_object_get(in, "active")) ? 0 : 1,
                                   (json_int_t)tx->now),
                         &row)
             : CD_ENOMEM;
    free(actions);
    if (rc)
        return rc;
    int64_t id = store__int(row, "id");
    json_decref(row);
    rc = store__audit(tx, "create", "rule", id, client, NULL);
    return rc ? rc : store_rule_get(tx, id, out);
}

int store_rule_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    json_t *cur = NULL, *v;
    sqlb b;
    int rc = store_rule_get(tx, id, &cur);
    if (rc)
        return rc;
    int64_t client = store__int(cur, "client_id");
    /* An idle rule keeps needing its minutes; check with the merged view. */
    json_t *merged = json_deep_copy(cur);
    json_object_update(merged, patch);
    json_decref(cur);
    rc = check_rule(tx, client, merged, 1);
    json_decref(merged);
    if (rc)
        return rc;
    store__sqlb_init(&b, "UPDATE rules SET ");
    store__sqlb_param(&b, "updated_at = $?", json_integer(tx->now));
    store__sqlb_add(&b, ", version = version + 1");
    static const struct {
        const char *key, *col;
    } cols[] = {{"name", "name"},
                {"event", "event"},
                {"condition", "condition_text"},
                {"idle_minutes", "idle_minutes"},
                {"position", "position"}};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        char set[48];
        if (!(v = json_object_get(patch, cols[i].key)))
            continue;
        snprintf(set, sizeof set, ", %s = $?", cols[i].col);
        store__sqlb_param(&b, set, json_incref(v));
    }
    if ((v = json_object_get(patch, "active")))
        store__sqlb_param(&b, ", active = $?", json_integer(json_is_true(v)));
    if ((v = json_object_get(patch, "actions"))) {
        char *text = json_dumps(v, JSON_COMPACT);
        store__sqlb_param(&b, ", actions = $?", json_string(text ? text : "[]"));
        free(text);
    }
    store__sqlb_param(&b, " WHERE id = $?", json_integer(id));
    rc = store__sqlb_run(tx, &b, NULL);
    if (!rc)
        rc = store__audit(tx, "update", "rule", id, client, NULL);
    return rc ? rc : store_rule_get(tx, id, out);
}

int store_rule_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit;
    json_t *rows = NULL, *row, *v;
    size_t i;
    sqlb b;
    int rc = store__list_start(tx, query, "SELECT " RULE_COLUMNS " FROM rules", "id", &b, &limit);
    if (rc)
        return rc;
    if ((v = json_object_get(query, "client_id")))
        store__sqlb_param(&b, " AND client_id = $?", json_incref(v));
    if ((v = json_object_get(query, "event")))
        store__sqlb_param(&b, " AND event = $?", json_incref(v));
    rc = store__list_finish(tx, &b, "client_id", "id", limit, &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row)
        rule_shape(row);
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

/* --- the webhook outbox ------------------------------------------------------ */

int store_webhook_enqueue(store_tx *tx, int64_t client, int64_t interaction, const char *url,
                          json_t *payload)
{
    unsigned opts;
    tx->effects |= STORE_FX_WEBHOOK;
    int rc = store__redact_opts(tx, client, &opts);
    if (!rc)
        rc = store__redact_json(payload, opts, NULL);
    char *text = rc ? NULL : json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    if (!rc && !text)
        rc = CD_ENOMEM;
    json_t *row = NULL;
    if (!rc)
        rc = store__q1(tx,
                       "INSERT INTO webhook_deliveries (client_id, interaction_id, url, payload, "
                       "status, next_at, created_at) VALUES ($1, $2, $3, $4, 'queued', $5, $5) "
                       "RETURNING id",
                       json_pack("[IossI]", (json_int_t)client,
                                 interaction ? json_integer(interaction) : json_null(), url, text,
                                 (json_int_t)tx->now),
                       &row);
    free(text);
    if (!rc && interaction) {
        json_t *ev = json_pack("{s:I, s:s}", "webhook_id", store__int(row, "id"), "url", url);
        rc = store__event(tx, client, interaction, "webhook_queued", NULL, ev);
        json_decref(ev);
    }
    json_decref(row);
    return rc;
}

#define WEBHOOK_COLUMNS                                                                            \
    "id, client_id, interaction_id, url, status, attempts, next_at, last_error, created_at, "      \
    "sent_at"

int store_webhook_list(store_tx *tx, int64_t interaction_id, json_t **out)
{
    json_t *cur = NULL, *rows = NULL;
    int rc = store_interaction_get(tx, interaction_id, &cur);
    json_decref(cur);
    if (!rc)
        rc = store__q(tx,
                      "SELECT " WEBHOOK_COLUMNS " FROM webhook_deliveries WHERE interaction_id = "
                      "$1 ORDER BY id",
                      json_pack("[I]", (json_int_t)interaction_id), &rows);
    if (!rc)
        *out = json_pack("{s:o, s:n}", "items", rows, "next_cursor");
    return rc;
}

int store_webhook_due(store_tx *tx, int *any)
{
    json_t *rows = NULL;
    int rc = store__q(tx,
                      "SELECT id FROM webhook_deliveries WHERE status = 'queued' AND next_at <= $1 "
                      "AND claimed_until <= $1 LIMIT 1",
                      json_pack("[I]", (json_int_t)tx->now), &rows);
    *any = !rc && json_array_size(rows) > 0;
    json_decref(rows);
    return rc;
}

int store_webhook_claim(store_tx *tx, const char *who, int64_t lease_ms, int limit, json_t **out)
{
    json_t *rows = NULL, *row, *claimed = json_array();
    size_t i;
    if (!tx->ctx.all_clients) {
        json_decref(claimed);
        return CD_EFORBIDDEN;
    }
    int rc = store__q(tx,
                      "SELECT id FROM webhook_deliveries WHERE status = 'queued' AND next_at <= $1 "
                      "AND claimed_until <= $1 ORDER BY next_at, id LIMIT $2",
                      json_pack("[Ii]", (json_int_t)tx->now, limit), &rows);
    json_array_foreach (rows, i, row) {
        int64_t changed = 0;
        if (rc)
            break;
        /* Conditional: another server may have claimed it meanwhile. */
        rc = store__exec(tx,
                         "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2 "
                         "WHERE id = $3 AND status = 'queued' AND claimed_until <= $4",
                         json_pack("[sIII]", who, (json_int_t)(tx->now + lease_ms),
                                   (json_int_t)store__int(row, "id"), (json_int_t)tx->now),
                         &changed);
        if (!rc && changed == 1) {
            json_t *d = NULL;
            rc = store__q1(tx,
                           "SELECT id, client_id, interaction_id, url, payload, attempts FROM "
                           "webhook_deliveries WHERE id = $1",
                           json_pack("[I]", (json_int_t)store__int(row, "id")), &d);
            if (!rc)
                json_array_append_new(claimed, d);
        }
    }
    json_decref(rows);
    if (rc) {
        json_decref(claimed);
        return rc;
    }
    *out = claimed;
    return 0;
}

int store_webhook_done(store_tx *tx, int64_t id, const char *who, int ok, const char *error,
                       int64_t retry_at)
{
    json_t *d = NULL;
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    int rc = store__q1(tx,
                       "SELECT client_id, interaction_id, attempts, claimed_by FROM "
                       "webhook_deliveries WHERE id = $1",
                       json_pack("[I]", (json_int_t)id), &d);
    if (rc)
        return rc;
    if (strcmp(store__str(d, "claimed_by") ?: "", who) != 0) {
        json_decref(d);
        return CD_ECONFLICT; /* the lease passed to another server */
    }
    const char *status = ok ? "sent" : retry_at ? "queued" : "failed";
    rc = store__exec(tx,
                     "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, "
                     "next_at = $2, last_error = $3, claimed_until = 0, sent_at = $4 WHERE id = $5",
                     json_pack("[sIsoI]", status, (json_int_t)(retry_at ? retry_at : tx->now),
                               error ? error : "", ok ? json_integer(tx->now) : json_null(),
                               (json_int_t)id),
                     NULL);
    int64_t interaction = store__int(d, "interaction_id");
    if (!rc && interaction && strcmp(status, "queued") != 0) {
        json_t *ev = json_pack("{s:I, s:s, s:s}", "webhook_id", (json_int_t)id, "status", status,
                               "error", error ? error : "");
        rc = store__event(tx, store__int(d, "client_id"), interaction, "webhook_done", NULL, ev);
        json_decref(ev);
    }
    json_decref(d);
    return rc;
}

/* --- firing ----------------------------------------------------------------- */

typedef struct lookup_ctx {
    json_t *vars;
    flow_arena *arena;
} lookup_ctx;

static int lookup(void *ud, int var, const char *name, flow_value *out)
{
    lookup_ctx *c = ud;
    (void)var;
    const json_t *j = flow_json_path(c->vars, name);
    if (!j) {
        out->type = FLOW_T_NULL;
        return 0;
    }
    return flow_value_from_json(j, c->arena, out);
}

/* Renders {{expression}} parts of a template against the variables. */
static char *render(const char *tmpl, lookup_ctx *c, int64_t now)
{
    size_t cap = strlen(tmpl) + 256, n = 0;
    char *out = cd_malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = tmpl; *p;) {
        const char *open = strstr(p, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
        size_t lit = open && close ? (size_t)(open - p) : strlen(p);
        char val[1024] = "";
        if (open && close) {
            flow_expr *e = NULL;
            flow_expr_error err;
            flow_value v;
            flow_env env = {lookup, c, now, 0};
            if (!flow_expr_parse(open + 2, (size_t)(close - open - 2), &e, &err) &&
                !flow_expr_eval(e, &env, c->arena, &v, &err) && v.type != FLOW_T_NULL)
                flow_value_format(&v, val, sizeof val);
            flow_expr_destroy(e);
        }
        size_t add = lit + strlen(val);
        if (n + add + 1 > cap) {
            char *grown = cd_realloc(out, (cap = (n + add + 1) * 2));
            if (!grown) {
                cd_free(out);
                return NULL;
            }
            out = grown;
        }
        memcpy(out + n, p, lit);
        n += lit;
        memcpy(out + n, val, strlen(val));
        n += strlen(val);
        p = open && close ? close + 2 : p + lit;
    }
    out[n] = 0;
    if (n > REPLY_MAX)
        out[REPLY_MAX] = 0;
    return out;
}

static int apply_action(store_tx *tx, int64_t client, int64_t id, json_t *a, lookup_ctx *c,
                        json_t *rule)
{
    const char *type = store__str(a, "type");
    json_t *out = NULL, *patch = NULL;
    int rc = 0;
    if (!strcmp(type, "set_priority"))
        patch = json_pack("{s:O}", "priority", json_object_get(a, "value"));
    else if (!strcmp(type, "move_to_queue"))
        patch = json_pack("{s:O}", "queue", json_object_get(a, "queue"));
    else if (!strcmp(type, "assign"))
        patch = json_pack("{s:O}", "assignee_id", json_object_get(a, "user_id"));
    else if (!strcmp(type, "add_tag")) {
        json_t *cur = NULL, *tags;
        if ((rc = store_interaction_get(tx, id, &cur)))
            return rc;
        tags = json_deep_copy(json_object_get(cur, "tags"));
        json_decref(cur);
        if (!tags)
            tags = json_array();
        json_array_append(tags, json_object_get(a, "tag"));
        patch = json_pack("{s:o}", "tags", tags);
    }
    if (patch) {
        rc = store_interaction_update(tx, id, patch, &out);
        if (rc == CD_EINVAL || rc == CD_ESTATE) /* e.g. the agent no longer serves the client */
            rc = 0;
    } else if (!strcmp(type, "send_reply") || !strcmp(type, "notify_supervisors")) {
        char *text = render(store__str(a, "text"), c, tx->now);
        if (!text)
            return CD_ENOMEM;
        if (!strcmp(type, "send_reply")) {
            json_t *m = json_pack("{s:s, s:s}", "direction", "outbound", "body", text);
            rc = store_message_add(tx, id, m, &out);
            json_decref(m);
            if (rc == CD_ESTATE) /* closed meanwhile */
                rc = 0;
        } else { /* masked as the reply would be: the text may join fields */
            unsigned opts;
            rc = store__redact_opts(tx, client, &opts);
            if (rc) {
                cd_free(text);
                return rc;
            }
            redact_buf(text, strlen(text), opts, NULL);
            json_t *ev =
                json_pack("{s:s, s:O}", "text", text, "rule_id", json_object_get(rule, "id"));
            rc = store__event(tx, client, id, "supervisors_notified", NULL, ev);
            json_decref(ev);
            /* and the client's supervisors see it live, on any server */
            if (!rc)
                rc = store__push(tx, STORE_PUSH_CLIENT, client, "notice",
                                 json_pack("{s:I, s:O?, s:O?, s:s, s:I}", "interaction_id",
                                           (json_int_t)id, "rule_id", json_object_get(rule, "id"),
                                           "rule", json_object_get(rule, "name"), "text", text,
                                           "at", (json_int_t)tx->now));
        }
        cd_free(text);
    } else if (!strcmp(type, "webhook")) {
        json_t *payload =
            json_pack("{s:s, s:O, s:O, s:O, s:O}", "event", "rule_fired", "rule_id",
                      json_object_get(rule, "id"), "rule_version", json_object_get(rule, "version"),
                      "trigger", json_object_get(c->vars, "event"), "interaction",
                      json_object_get(c->vars, "interaction"));
        rc = store_webhook_enqueue(tx, client, id, store__str(a, "url"), payload);
        json_decref(payload);
    }
    json_decref(patch);
    json_decref(out);
    return rc;
}

static int fire(store_tx *tx, int64_t client, int64_t interaction, const char *event,
                json_t *details, int64_t only_rule)
{
    json_t *rules = NULL, *rule, *it = NULL, *cust = NULL;
    size_t i;
    if (tx->in_rules)
        return 0;
    int rc = store__q(tx,
                      "SELECT id, name, condition_text, actions, version FROM rules WHERE "
                      "client_id = $1 AND event = $2 AND active = 1 AND ($3 = 0 OR id = $3) "
                      "ORDER BY position, id",
                      json_pack("[IsI]", (json_int_t)client, event, (json_int_t)only_rule), &rules);
    if (rc || json_array_size(rules) == 0) {
        json_decref(rules);
        return rc;
    }
    rc = store_interaction_get(tx, interaction, &it);
    if (!rc && json_is_integer(json_object_get(it, "customer_id")))
        store__q1(tx, "SELECT name, tier, locale FROM customers WHERE id = $1",
                  json_pack("[O]", json_object_get(it, "customer_id")), &cust);
    json_t *vars = rc ? NULL
                      : json_pack("{s:o, s:o, s:s, s:O}", "interaction", it, "customer",
                                  cust ? cust : json_object(), "event", event, "details",
                                  details ? details : json_null());
    flow_arena arena;
    flow_arena_init(&arena);
    lookup_ctx c = {vars, &arena};
    tx->in_rules = 1;
    json_array_foreach (rules, i, rule) {
        if (rc)
            break;
        const char *cond = store__str(rule, "condition_text");
        int holds = 1;
        if (cond && *cond) {
            flow_expr *e = NULL;
            flow_expr_error err;
            flow_env env = {lookup, &c, tx->now, 0};
            holds = flow_expr_parse(cond, strlen(cond), &e, &err) == 0 &&
                    flow_expr_test(e, &env, &arena, &err) == 1;
            flow_expr_destroy(e);
            flow_arena_reset(&arena);
        }
        if (!holds)
            continue;
        tx->rules_fired = 1;
        store__parse_column(rule, "actions", "[]");
        json_t *a, *done = json_array();
        size_t k;
        json_array_foreach (json_object_get(rule, "actions"), k, a) {
            if (!rc)
                rc = apply_action(tx, client, interaction, a, &c, rule);
            json_array_append(done, json_object_get(a, "type"));
        }
        json_t *now_it = NULL; /* later rules see what this one changed */
        if (!rc && !store_interaction_get(tx, interaction, &now_it))
            json_object_set_new(vars, "interaction", now_it);
        if (!rc) {
            json_t *ev =
                json_pack("{s:O, s:O, s:O, s:s, s:o}", "rule_id", json_object_get(rule, "id"),
                          "name", json_object_get(rule, "name"), "version",
                          json_object_get(rule, "version"), "on", event, "actions", done);
            rc = store__event(tx, client, interaction, "rule_fired", NULL, ev);
            json_decref(ev);
        } else {
            json_decref(done);
        }
    }
    tx->in_rules = 0;
    flow_arena_cleanup(&arena);
    json_decref(vars);
    json_decref(rules);
    return rc;
}

int store__rules_fire(store_tx *tx, int64_t client, int64_t interaction, const char *event,
                      json_t *details)
{
    return fire(tx, client, interaction, event, details, 0);
}

/* --- idle rules ----------------------------------------------------------- */

int store_idle_due(store_tx *tx, int limit, json_t **out)
{
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    return store__q(tx,
                    "SELECT r.id AS rule_id, i.id AS interaction_id, i.client_id, i.updated_at "
                    "AS idle_since FROM rules r JOIN interactions i ON i.client_id = r.client_id "
                    "WHERE r.event = 'idle' AND r.active = 1 AND i.status NOT IN ('resolved', "
                    "'closed') AND i.updated_at <= $1 - r.idle_minutes * 60000 AND NOT EXISTS "
                    "(SELECT 1 FROM rule_idle_fired f WHERE f.rule_id = r.id AND "
                    "f.interaction_id = i.id AND f.idle_since = i.updated_at) "
                    "ORDER BY i.updated_at, i.id LIMIT $2",
                    json_pack("[Ii]", (json_int_t)tx->now, limit), out);
}

int store_idle_fire(store_tx *tx, int64_t rule_id, int64_t interaction_id, int64_t idle_since,
                    int *fired)
{
    json_t *it = NULL;
    int64_t changed = 0;
    *fired = 0;
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    int rc = store__q1(tx, "SELECT client_id, updated_at, status FROM interactions WHERE id = $1",
                       json_pack("[I]", (json_int_t)interaction_id), &it);
    if (rc)
        return rc == CD_ENOTFOUND ? 0 : rc;
    int64_t client = store__int(it, "client_id");
    int still = store__int(it, "updated_at") == idle_since;
    json_decref(it);
    if (!still)
        return 0; /* active again since it was found idle */
    /* Once per idle period, whichever server gets here first. */
    rc = store__exec(
        tx,
        "INSERT INTO rule_idle_fired (rule_id, interaction_id, idle_since) VALUES "
        "($1, $2, $3) ON CONFLICT DO NOTHING",
        json_pack("[III]", (json_int_t)rule_id, (json_int_t)interaction_id, (json_int_t)idle_since),
        &changed);
    if (rc || changed != 1)
        return rc;
    json_t *details = json_pack("{s:I, s:I}", "idle_since", (json_int_t)idle_since, "idle_minutes",
                                (json_int_t)((tx->now - idle_since) / 60000));
    rc = fire(tx, client, interaction_id, "idle", details, rule_id);
    json_decref(details);
    *fired = !rc;
    return rc;
}
