/* store_interactions.c - interactions (one contact on one channel), their
 * messages, and the event log of every change to them. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/lifecycle.h"
#include "core/sentiment.h"

#include <math.h>

#include <string.h>

#define INTERACTION_COLUMNS                                                                        \
    "id, client_id, customer_id, channel, status, priority, subject, queue, assignee_id, "         \
    "category, tags, custom_fields, version, created_at, updated_at, required_skills, "            \
    "preferred_agent_id, sentiment_start, sentiment_end, sentiment_low, escalation_tier"
#define MESSAGE_COLUMNS                                                                            \
    "id, interaction_id, client_id, direction, body, author_id, created_at, sentiment"

static const char *const channels[] = {"email", "chat", "voice", "social", "web", NULL};
static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
static const char *const directions[] = {"inbound", "outbound", "note", NULL};
static const char *const escalation_tiers[] = {"agent", "team_lead", "supervisor",
                                               "client_contact", NULL};

#define MESSAGE_MAX_BYTES (256 * 1024)

/* Members of an interaction written by people: redacted before storage. */
static const char *const free_text[] = {"subject", "custom_fields", "category", "tags",
                                         "queue", NULL};

static int one_of(const char *const *set, const char *v)
{
    for (; v && *set; set++)
        if (strcmp(*set, v) == 0)
            return 1;
    return 0;
}

static json_t *interaction_shape(json_t *row)
{
    store__parse_column(row, "tags", "[]");
    store__parse_column(row, "custom_fields", "{}");
    store__parse_column(row, "required_skills", "[]");
    json_t *trend = json_pack("{s:O, s:O, s:O}", "start", json_object_get(row, "sentiment_start"),
                              "end", json_object_get(row, "sentiment_end"), "low",
                              json_object_get(row, "sentiment_low"));
    json_object_del(row, "sentiment_start");
    json_object_del(row, "sentiment_end");
    json_object_del(row, "sentiment_low");
    json_object_set_new(row, "sentiment", trend);
    return row;
}

/* Adds the label of a message's sentiment score. */
static json_t *message_shape(json_t *m)
{
    static const char *const labels[] = {"negative", "neutral", "positive"};
    json_t *score = json_object_get(m, "sentiment");
    json_object_set_new(m, "sentiment_label",
                        json_is_number(score)
                            ? json_string(labels[sentiment_label(json_number_value(score)) + 1])
                            : json_null());
    return m;
}

static void messages_shape(json_t *rows)
{
    json_t *m;
    size_t i;
    json_array_foreach (rows, i, m)
        message_shape(m);
}

void store_set_sentiment(store *s, const sentiment_model *m)
{
    s->sentiment = m;
}

/* Scores an inbound message, keeps the interaction's trajectory (first,
 * latest, lowest) and records a "sentiment_alert" event when the customer's
 * sentiment falls below the client's threshold. *score is NaN when there is
 * no model. fresh: the interaction was created in this transaction and has
 * no score yet. */
static int sentiment_track(store_tx *tx, int64_t client, int64_t interaction, int fresh,
                           const char *body, double *score, double *alert_below)
{
    sentiment_result res;
    json_t *row = NULL;
    *score = NAN;
    if (!tx->s->sentiment)
        return 0;
    sentiment_score(tx->s->sentiment, body, strlen(body), &res);
    *score = round(res.score * 1000) / 1000;
    json_t *settings = NULL;
    int rc = store__client_settings(tx, client, &settings);
    if (!rc && !fresh)
        rc = store__q1(tx, "SELECT sentiment_end FROM interactions WHERE id = $1",
                       json_pack("[I]", (json_int_t)interaction), &row);
    if (rc)
        return rc;
    json_t *prev = json_object_get(row, "sentiment_end");
    double threshold = json_number_value(json_object_get(settings, "sentiment_alert_below"));
    int fell = *score < threshold && (!json_is_number(prev) || json_number_value(prev) >= threshold);
    json_decref(row);
    rc = store__exec(tx,
                     "UPDATE interactions SET sentiment_start = COALESCE(sentiment_start, $1), "
                     "sentiment_end = $1, sentiment_low = CASE WHEN sentiment_low IS NULL OR "
                     "sentiment_low > $1 THEN $1 ELSE sentiment_low END WHERE id = $2",
                     json_pack("[fI]", *score, (json_int_t)interaction), NULL);
    *alert_below = fell ? threshold : NAN;
    return rc;
}

/* Loads an interaction the caller may see. */
int store_interaction_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc = store__get_visible(
        tx, "SELECT " INTERACTION_COLUMNS " FROM interactions WHERE id = $1", id, &row);
    if (!rc)
        *out = interaction_shape(row);
    return rc;
}

/* An assignee (or preferred agent: field) must be an active user serving
 * the interaction's client. */
static int check_agent(store_tx *tx, int64_t client, json_t *assignee, const char *field)
{
    json_t *row = NULL;
    int rc;
    if (!assignee || json_is_null(assignee))
        return 0;
    rc = store__q1(tx,
                   "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id "
                   "WHERE u.id = $1 AND m.client_id = $2 AND u.active = 1",
                   json_pack("[II]", json_integer_value(assignee), (json_int_t)client), &row);
    json_decref(row);
    if (rc == CD_ENOTFOUND)
        return store__fail(tx, CD_EINVAL, field, "no such agent serves this client");
    return rc;
}

static int check_assignee(store_tx *tx, int64_t client, json_t *assignee)
{
    return check_agent(tx, client, assignee, "assignee_id");
}

/* Writes the tag index rows; replace != 0 first drops the old ones. */
static int tags_write(store_tx *tx, int64_t id, json_t *tags, int replace)
{
    json_t *t;
    size_t i;
    int rc = !replace ? 0
                      : store__exec(tx, "DELETE FROM interaction_tags WHERE interaction_id = $1",
                                    json_pack("[I]", (json_int_t)id), NULL);
    json_array_foreach (tags, i, t) {
        if (rc)
            break;
        rc = store__exec(tx,
                         "INSERT INTO interaction_tags (interaction_id, tag) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING",
                         json_pack("[IO]", (json_int_t)id, t), NULL);
    }
    return rc;
}

/* Tags without duplicates, in first-seen order (new reference). */
static json_t *tags_unique(json_t *tags)
{
    json_t *out = json_array(), *t, *u;
    size_t i, j;
    json_array_foreach (tags, i, t) {
        int dup = 0;
        json_array_foreach (out, j, u)
            dup |= json_equal(t, u);
        if (!dup)
            json_array_append(out, t);
    }
    return out;
}

static int check_fields(store_tx *tx, json_t *in)
{
    if (json_object_get(in, "channel") && !one_of(channels, store__str(in, "channel")))
        return store__fail(tx, CD_EINVAL, "channel", "channel is not known");
    if (json_object_get(in, "priority") && !one_of(priorities, store__str(in, "priority")))
        return store__fail(tx, CD_EINVAL, "priority",
                           "priority must be low, normal, high or "
                           "urgent");
    if (json_object_get(in, "status") && !lifecycle_status_valid(store__str(in, "status")))
        return store__fail(tx, CD_EINVAL, "status", "status is not known");
    if (json_object_get(in, "escalation_tier") &&
        !one_of(escalation_tiers, store__str(in, "escalation_tier")))
        return store__fail(tx, CD_EINVAL, "escalation_tier",
                           "escalation_tier must be agent, team_lead, supervisor or "
                           "client_contact");
    return 0;
}

static int resolve_customer(store_tx *tx, int64_t client, json_t *in, json_t **customer_id)
{
    json_t *cid = json_object_get(in, "customer_id"), *row = NULL;
    int64_t id = 0;
    int rc;
    *customer_id = json_null();
    if (cid && !json_is_null(cid)) {
        rc = store__q1(tx, "SELECT id FROM customers WHERE id = $1 AND client_id = $2",
                       json_pack("[OI]", cid, (json_int_t)client), &row);
        json_decref(row);
        if (rc == CD_ENOTFOUND)
            return store__fail(tx, CD_ENOTFOUND, "customer_id", "no such customer");
        if (rc)
            return rc;
        *customer_id = json_incref(cid);
        return 0;
    }
    if (!json_object_get(in, "customer"))
        return 0;
    rc = store__customer_resolve(tx, client, json_object_get(in, "customer"), &id);
    if (!rc)
        *customer_id = json_integer(id);
    return rc;
}

static int message_insert(store_tx *tx, int64_t client, int64_t interaction, int fresh,
                          json_t *in, json_t **out)
{
    const char *dir = store__str(in, "direction"), *body = store__str(in, "body");
    if (!one_of(directions, dir))
        return store__fail(tx, CD_EINVAL, "direction",
                           "direction must be inbound, outbound or "
                           "note");
    if (!body || !*body)
        return store__fail(tx, CD_EINVAL, "body", "body may not be empty");
    if (strlen(body) > MESSAGE_MAX_BYTES)
        return store__fail(tx, CD_ETOOBIG, "body", "body is too long");
    static const char *const text[] = {"body", NULL};
    redact_counts masked = {0};
    int rc = store__redact_fields(tx, client, in, text, &masked);
    if (rc)
        return rc;
    body = store__str(in, "body");
    double score = NAN, alert_below = NAN;
    if (strcmp(dir, "inbound") == 0 &&
        (rc = sentiment_track(tx, client, interaction, fresh, body, &score, &alert_below)))
        return rc;
    json_t *author = strcmp(dir, "inbound") == 0 || !tx->ctx.user_id
                         ? json_null()
                         : json_integer(tx->ctx.user_id);
    rc = store__q1(tx,
                   "INSERT INTO messages (client_id, interaction_id, direction, body, "
                   "author_id, created_at, sentiment) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                   "RETURNING " MESSAGE_COLUMNS,
                   json_pack("[IIssoIo]", (json_int_t)client, (json_int_t)interaction, dir, body,
                             author, (json_int_t)tx->now,
                             isnan(score) ? json_null() : json_real(score)),
                   out);
    if (rc)
        return rc;
    message_shape(*out);
    json_t *ev = json_pack("{s:I, s:s}", "message_id", store__int(*out, "id"), "direction", dir);
    rc = store__event(tx, client, interaction, "message", NULL, ev);
    json_decref(ev);
    if (!rc)
        rc = store__redact_event(tx, client, interaction, "message", store__int(*out, "id"),
                                 &masked);
    if (!rc && !isnan(alert_below)) {
        /* The customer's sentiment fell below the client's threshold. */
        json_t *alert = json_pack("{s:I, s:f, s:f}", "message_id", store__int(*out, "id"),
                                  "score", score, "threshold", alert_below);
        rc = store__event(tx, client, interaction, "sentiment_alert", NULL, alert);
        if (!rc)
            rc = store__rules_fire(tx, client, interaction, "sentiment_alert", alert);
        json_decref(alert);
    }
    return rc;
}

static json_t *str_or(json_t *in, const char *key, const char *fallback)
{
    json_t *v = json_object_get(in, key);
    return json_is_string(v) ? json_incref(v) : json_string(fallback);
}

static int interaction_insert(store_tx *tx, int64_t client, json_t *in, json_t *customer,
                              json_t **row)
{
    json_t *tags = tags_unique(json_object_get(in, "tags"));
    json_t *fields = json_object_get(in, "custom_fields");
    char *tags_text = json_dumps(tags, JSON_COMPACT);
    char *fields_text = fields ? json_dumps(fields, JSON_COMPACT) : cd_strdup("{}");
    json_t *skills = json_object_get(in, "required_skills");
    char *skills_text = skills ? json_dumps(skills, JSON_COMPACT) : cd_strdup("[]");
    json_t *category = json_object_get(in, "category");
    int rc = CD_ENOMEM;
    if (!tags_text || !fields_text || !skills_text)
        goto out;
    rc = store__q1(
        tx,
        "INSERT INTO interactions (client_id, customer_id, channel, status, priority, "
        "subject, queue, assignee_id, category, tags, custom_fields, version, "
        "created_at, updated_at, required_skills, preferred_agent_id) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11, 1, $12, $12, $13, $14) RETURNING " INTERACTION_COLUMNS,
        json_pack(
            "[IOoooooOOssIsO]", (json_int_t)client, customer, str_or(in, "channel", "web"),
            str_or(in, "status", "new"), str_or(in, "priority", "normal"),
            str_or(in, "subject", ""), str_or(in, "queue", "default"),
            json_object_get(in, "assignee_id") ? json_object_get(in, "assignee_id") : json_null(),
            category ? category : json_null(), tags_text, fields_text, (json_int_t)tx->now,
            skills_text,
            json_object_get(in, "preferred_agent_id") ? json_object_get(in, "preferred_agent_id")
                                                      : json_null()),
        row);
    if (!rc)
        rc = tags_write(tx, store__int(*row, "id"), tags, 0);
out:
    cd_free(tags_text);
    cd_free(fields_text);
    cd_free(skills_text);
    json_decref(tags);
    return rc;
}

/* An interaction was put in agent `to`'s hands (0: nobody) by someone
 * else: the agent is told at once, on whichever server. */
static int tell_assignee(store_tx *tx, int64_t to, int64_t id, int64_t client)
{
    if (!to || to == tx->ctx.user_id)
        return 0;
    return store__push(tx, STORE_PUSH_AGENT, to, "assigned",
                       json_pack("{s:I, s:I}", "interaction_id", (json_int_t)id, "client_id",
                                 (json_int_t)client));
}

int store_interaction_create(store_tx *tx, json_t *in, json_t **out)
{
    int64_t client = store__int(in, "client_id"), id;
    json_t *customer = NULL, *row = NULL, *msg = NULL, *m = json_object_get(in, "message");
    redact_counts masked = {0};
    int rc;

    rc = store__client_check(tx, client);
    if (!rc)
        rc = check_fields(tx, in);
    if (!rc)
        rc = check_assignee(tx, client, json_object_get(in, "assignee_id"));
    if (!rc)
        rc = check_agent(tx, client, json_object_get(in, "preferred_agent_id"),
                         "preferred_agent_id");
    if (!rc)
        rc = resolve_customer(tx, client, in, &customer);
    if (!rc)
        rc = store__redact_fields(tx, client, in, free_text, &masked);
    if (!rc)
        rc = interaction_insert(tx, client, in, customer, &row);
    json_decref(customer);
    if (rc)
        return rc;
    id = store__int(row, "id");
    interaction_shape(row);
    rc = store__event(tx, client, id, "created", NULL, row);
    if (!rc)
        rc = store__redact_event(tx, client, id, "interaction", id, &masked);
    if (!rc && m)
        rc = message_insert(tx, client, id, 1, m, &msg);
    if (!rc) { /* its first customer message, if any, is the one just stored */
        const char *dir = store__str(msg, "direction"), *first = NULL;
        if (dir && strcmp(dir, "inbound") == 0)
            first = store__str(msg, "body");
        rc = store__intent_route(tx, client, id, in, row, first ? first : "");
    }
    if (!rc)
        rc = store__sla_on(tx, client, id, "created", NULL);
    if (!rc)
        rc = store__rules_fire(tx, client, id, "created", NULL);
    json_t *fresh = NULL; /* rules may have changed it: answer what is stored */
    if (!rc && tx->rules_fired && store_interaction_get(tx, id, &fresh) == 0) {
        json_decref(row);
        row = fresh;
    }
    if (!rc)
        rc = store__audit(tx, "create", "interaction", id, client, NULL);
    if (!rc && json_is_null(json_object_get(row, "assignee_id")))
        rc = store__routing_emit(tx, "interaction", client, id, 0, NULL);
    if (!rc) /* created in someone's hands: they are told */
        rc = tell_assignee(tx, json_integer_value(json_object_get(row, "assignee_id")), id,
                           client);
    if (rc) {
        json_decref(row);
        json_decref(msg);
        return rc;
    }
    if (msg && json_is_number(json_object_get(msg, "sentiment"))) {
        json_t *v = json_object_get(msg, "sentiment");
        json_object_set_new(row, "sentiment",
                            json_pack("{s:O, s:O, s:O}", "start", v, "end", v, "low", v));
    }
    if (msg)
        json_object_set_new(row, "message", msg);
    *out = row;
    return 0;
}

static void list_filters(sqlb *b, json_t *q)
{
    static const struct {
        const char *key, *sql;
    } eq[] = {
        {"client_id", " AND client_id = $?"},
        {"status", " AND status = $?"},
        {"priority", " AND priority = $?"},
        {"assignee_id", " AND assignee_id = $?"},
        {"queue", " AND queue = $?"},
        {"channel", " AND channel = $?"},
        {"customer_id", " AND customer_id = $?"},
        {"updated_since", " AND updated_at >= $?"},
        {"tag", " AND EXISTS (SELECT 1 FROM interaction_tags t WHERE t.interaction_id = "
                "interactions.id AND t.tag = $?)"},
    };
    for (size_t i = 0; i < sizeof eq / sizeof *eq; i++) {
        json_t *v = json_object_get(q, eq[i].key);
        if (v)
            store__sqlb_param(b, eq[i].sql, json_incref(v));
    }
}

int store_interaction_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit;
    json_t *rows = NULL, *row;
    size_t i;
    sqlb b;
    int rc = store__list_start(tx, query, "SELECT " INTERACTION_COLUMNS " FROM interactions", "id",
                               &b, &limit);
    if (rc)
        return rc;
    list_filters(&b, query);
    rc = store__list_finish(tx, &b, "client_id", "id", limit, &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row)
        interaction_shape(row);
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

/* Applies custom_fields changes: null removes a key. New reference. */
static json_t *merge_fields(json_t *cur, json_t *patch)
{
    json_t *out = json_deep_copy(cur), *v;
    const char *k;
    json_object_foreach (patch, k, v) {
        if (json_is_null(v))
            json_object_del(out, k);
        else
            json_object_set(out, k, v);
    }
    return out;
}

/* Builds the new row from the patch; fills before/after with the fields
 * that change. */
static int apply_patch(store_tx *tx, json_t *cur, json_t *patch, json_t *next, json_t *before,
                       json_t *after)
{
    const char *k;
    json_t *v;
    json_object_foreach (patch, k, v) {
        json_t *nv;
        if (strcmp(k, "version") == 0)
            continue;
        if (strcmp(k, "custom_fields") == 0)
            nv = merge_fields(json_object_get(cur, k), v);
        else if (strcmp(k, "tags") == 0)
            nv = tags_unique(v);
        else
            nv = json_incref(v);
        if (!nv)
            return CD_ENOMEM;
        if (!json_equal(nv, json_object_get(cur, k))) {
            json_object_set(before, k, json_object_get(cur, k));
            json_object_set(after, k, nv);
        }
        json_object_set_new(next, k, nv);
    }
    (void)tx;
    return 0;
}

static int is_done(const char *status)
{
    return status && (strcmp(status, "resolved") == 0 || strcmp(status, "closed") == 0);
}

static int check_update(store_tx *tx, json_t *cur, json_t *patch)
{
    json_t *version = json_object_get(patch, "version");
    const char *to = store__str(patch, "status");
    int rc = check_fields(tx, patch);
    if (rc)
        return rc;
    if (json_object_get(patch, "channel"))
        return store__fail(tx, CD_EINVAL, "channel", "an interaction's channel cannot change");
    if (version && json_integer_value(version) != store__int(cur, "version"))
        return store__fail(tx, CD_ECONFLICT, "version",
                           "the interaction changed since it was read (version %lld)",
                           (long long)store__int(cur, "version"));
    if (to && !lifecycle_can_transition(store__str(cur, "status"), to))
        return store__fail(tx, CD_ESTATE, "status", "cannot move from %s to %s",
                           store__str(cur, "status"), to);
    return check_assignee(tx, store__int(cur, "client_id"), json_object_get(patch, "assignee_id"));
}

static int interaction_write(store_tx *tx, int64_t id, json_t *next, int64_t old_version)
{
    char *tags = json_dumps(json_object_get(next, "tags"), JSON_COMPACT);
    char *fields = json_dumps(json_object_get(next, "custom_fields"), JSON_COMPACT);
    int64_t changed = 0;
    int rc = CD_ENOMEM;
    if (!tags || !fields)
        goto out;
    rc =
        store__exec(tx,
                    "UPDATE interactions SET status = $1, priority = $2, subject = $3, queue = $4, "
                    "assignee_id = $5, category = $6, tags = $7, custom_fields = $8, "
                    "version = version + 1, updated_at = $9, escalation_tier = $12 "
                    "WHERE id = $10 AND version = $11",
                    json_pack("[OOOOOOssIIIO]", json_object_get(next, "status"),
                              json_object_get(next, "priority"), json_object_get(next, "subject"),
                              json_object_get(next, "queue"), json_object_get(next, "assignee_id"),
                              json_object_get(next, "category"), tags, fields, (json_int_t)tx->now,
                              (json_int_t)id, (json_int_t)old_version,
                              json_object_get(next, "escalation_tier")),
                    &changed);
    if (!rc && changed != 1)
        rc = store__fail(tx, CD_ECONFLICT, "version", "the interaction changed meanwhile");
out:
    cd_free(tags);
    cd_free(fields);
    return rc;
}

int store_interaction_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    json_t *cur = NULL, *next = NULL, *before = json_object(), *after = json_object();
    redact_counts masked = {0};
    int64_t client;
    int rc = store_interaction_get(tx, id, &cur);
    if (rc)
        goto out;
    client = store__int(cur, "client_id");
    rc = check_update(tx, cur, patch);
    if (!rc)
        rc = store__redact_fields(tx, client, patch, free_text, &masked);
    if (rc)
        goto out;
    next = json_deep_copy(cur);
    rc = next ? apply_patch(tx, cur, patch, next, before, after) : CD_ENOMEM;
    if (rc || json_object_size(after) == 0)
        goto done;
    rc = interaction_write(tx, id, next, store__int(cur, "version"));
    if (!rc && json_object_get(after, "tags"))
        rc = tags_write(tx, id, json_object_get(next, "tags"), 1);
    if (!rc)
        rc = store__event(tx, client, id, "updated", before, after);
    if (!rc)
        rc = store__redact_event(tx, client, id, "interaction", id, &masked);
    if (!rc && is_done(store__str(next, "status")) &&
        (!is_done(store__str(cur, "status")) || json_object_get(after, "category")))
        rc = store__intent_resolved(tx, client, id, next);
    if (!rc && !strcmp(store__str(next, "status"), "resolved") &&
        strcmp(store__str(cur, "status"), "resolved") != 0 &&
        !strcmp(store__str(cur, "channel"), "email"))
        rc = store__mail_survey(tx, client, id);
    if (!rc && json_object_get(after, "escalation_tier"))
        rc = store__escalated(tx, client, id, store__str(before, "escalation_tier"),
                              store__str(after, "escalation_tier"));
    if (!rc) {
        json_t *details = json_pack("{s:O, s:O}", "before", before, "after", after);
        rc = store__sla_on(tx, client, id, "updated", details);
        if (!rc)
            rc = store__rules_fire(tx, client, id, "updated", details);
        json_decref(details);
    }
    if (!rc) {
        json_t *keys = json_array();
        const char *k;
        json_t *v;
        json_object_foreach (after, k, v)
            json_array_append_new(keys, json_string(k));
        json_t *detail = json_pack("{s:o}", "fields", keys);
        rc = store__audit(tx, "update", "interaction", id, client, detail);
        json_decref(detail);
    }
    if (!rc && (json_object_get(after, "status") || json_object_get(after, "assignee_id") ||
                json_object_get(after, "queue") || json_object_get(after, "priority")))
        rc = store__routing_emit(tx, "interaction", client, id, 0, NULL);
    /* handed to an agent by someone else (a supervisor, a rule) */
    if (!rc)
        rc = tell_assignee(tx, json_integer_value(json_object_get(after, "assignee_id")), id,
                           client);
done:
    if (!rc) {
        json_decref(cur);
        cur = NULL;
        rc = store_interaction_get(tx, id, out);
    }
out:
    json_decref(cur);
    json_decref(next);
    json_decref(before);
    json_decref(after);
    return rc;
}

int store_message_add(store_tx *tx, int64_t interaction_id, json_t *in, json_t **out)
{
    json_t *cur = NULL;
    int64_t client;
    int rc = store_interaction_get(tx, interaction_id, &cur);
    if (rc)
        return rc;
    client = store__int(cur, "client_id");
    if (strcmp(store__str(cur, "status"), "closed") == 0) {
        json_decref(cur);
        return store__fail(tx, CD_ESTATE, "", "the interaction is closed");
    }
    int email = strcmp(store__str(cur, "channel"), "email") == 0;
    int pending = strcmp(store__str(cur, "status"), "pending") == 0;
    int64_t assignee = json_integer_value(json_object_get(cur, "assignee_id"));
    json_decref(cur);
    rc = message_insert(tx, client, interaction_id, 0, in, out);
    /* A reply on an email interaction goes out by email. */
    if (!rc && email && !tx->s->importing &&
        strcmp(store__str(*out, "direction"), "outbound") == 0)
        rc = store__mail_reply(tx, client, interaction_id, *out);
    if (!rc)
        rc = store__exec(tx, "UPDATE interactions SET updated_at = $1 WHERE id = $2",
                         json_pack("[II]", (json_int_t)tx->now, (json_int_t)interaction_id), NULL);
    if (!rc && pending && strcmp(store__str(*out, "direction"), "inbound") == 0) {
        /* The customer answered: the interaction is open again (its SLA
         * clocks resume with the change). */
        json_t *patch = json_pack("{s:s}", "status", "open"), *ignored = NULL;
        rc = store_interaction_update(tx, interaction_id, patch, &ignored);
        json_decref(patch);
        json_decref(ignored);
    }
    if (!rc && strcmp(store__str(*out, "direction"), "inbound") == 0)
        rc = store__sla_on(tx, client, interaction_id, "customer_message", NULL);
    else if (!rc && strcmp(store__str(*out, "direction"), "outbound") == 0)
        rc = store__sla_on(tx, client, interaction_id, "reply", NULL);
    if (!rc && strcmp(store__str(*out, "direction"), "inbound") == 0)
        rc = store__rules_fire(tx, client, interaction_id, "message_in", *out);
    if (!rc)
        rc = store__audit(tx, "create", "message", store__int(*out, "id"), client, NULL);
    /* The agent working on it sees it come in, on whichever server (ids
     * only: the push log holds no text); a rule may have just handed it on. */
    if (!rc && tx->rules_fired) {
        json_t *now_row = NULL;
        rc = store_interaction_get(tx, interaction_id, &now_row);
        assignee = json_integer_value(json_object_get(now_row, "assignee_id"));
        json_decref(now_row);
    }
    if (!rc && assignee)
        rc = store__push(tx, STORE_PUSH_AGENT, assignee, "message",
                         json_pack("{s:I, s:I, s:I, s:s}", "interaction_id",
                                   (json_int_t)interaction_id, "client_id", (json_int_t)client,
                                   "message_id", (json_int_t)store__int(*out, "id"), "direction",
                                   store__str(*out, "direction")));
    return rc;
}

int store_message_list(store_tx *tx, int64_t interaction_id, json_t *query, json_t **out)
{
    json_t *cur = NULL, *rows = NULL, *next = json_null();
    int64_t after = 0, limit = store__int(query, "limit");
    const char *cursor = store__str(query, "cursor");
    int rc = store_interaction_get(tx, interaction_id, &cur);
    json_decref(cur);
    if (rc)
        return rc;
    if (limit <= 0)
        limit = 100;
    if (limit > 500)
        return store__fail(tx, CD_EINVAL, "limit", "limit must be between 1 and 500");
    if (cursor && (after = strtoll(cursor, NULL, 10)) <= 0)
        return store__fail(tx, CD_EINVAL, "cursor", "cursor is not valid");
    /* Oldest first: a conversation reads top to bottom. */
    rc = store__q(
        tx,
        "SELECT " MESSAGE_COLUMNS " FROM messages WHERE interaction_id = $1 AND id > $2 "
        "ORDER BY id LIMIT $3",
        json_pack("[III]", (json_int_t)interaction_id, (json_int_t)after, (json_int_t)(limit + 1)),
        &rows);
    if (rc)
        return rc;
    messages_shape(rows);
    if ((int64_t)json_array_size(rows) > limit) {
        char buf[24];
        json_array_remove(rows, (size_t)limit);
        snprintf(buf, sizeof buf, "%lld",
                 (long long)store__int(json_array_get(rows, (size_t)limit - 1), "id"));
        next = json_string(buf);
    }
    *out = json_pack("{s:o, s:o}", "items", rows, "next_cursor", next);
    return *out ? 0 : CD_ENOMEM;
}

/* Groups messages by interaction id (new object of arrays). */
static json_t *messages_by_interaction(json_t *msgs)
{
    json_t *by = json_object(), *m, *list;
    size_t i;
    char key[24];
    json_array_foreach (msgs, i, m) {
        snprintf(key, sizeof key, "%lld", (long long)store__int(m, "interaction_id"));
        list = json_object_get(by, key);
        if (!list) {
            list = json_array();
            json_object_set_new(by, key, list);
        }
        json_array_append(list, m);
    }
    return by;
}

int store__interactions_of(store_tx *tx, int64_t customer_id, json_t **items)
{
    json_t *rows = NULL, *msgs = NULL, *by, *row, *list;
    size_t i;
    char key[24];
    int rc = store__q(tx,
                      "SELECT " INTERACTION_COLUMNS " FROM interactions WHERE customer_id = $1 "
                      "ORDER BY id DESC LIMIT 200",
                      json_pack("[I]", (json_int_t)customer_id), &rows);
    if (!rc)
        rc = store__q(tx,
                      "SELECT " MESSAGE_COLUMNS " FROM messages WHERE interaction_id IN "
                      "(SELECT id FROM interactions WHERE customer_id = $1 ORDER BY id DESC "
                      "LIMIT 200) ORDER BY id",
                      json_pack("[I]", (json_int_t)customer_id), &msgs);
    if (rc) {
        json_decref(rows);
        return rc;
    }
    messages_shape(msgs);
    by = messages_by_interaction(msgs);
    json_array_foreach (rows, i, row) {
        interaction_shape(row);
        snprintf(key, sizeof key, "%lld", (long long)store__int(row, "id"));
        list = json_object_get(by, key);
        json_object_set_new(row, "messages", list ? json_incref(list) : json_array());
    }
    json_decref(by);
    json_decref(msgs);
    *items = rows;
    return 0;
}

/* --- follow-ups ---------------------------------------------------------- */

#define FOLLOW_UP_COLUMNS                                                                          \
    "id, client_id, interaction_id, due_at, note, status, session_id, created_by, created_at"

int store_follow_up_add(store_tx *tx, int64_t interaction_id, json_t *in, json_t **out)
{
    json_t *cur = NULL;
    int rc = store_interaction_get(tx, interaction_id, &cur);
    if (rc)
        return rc;
    int64_t client = store__int(cur, "client_id");
    json_decref(cur);
    json_t *hours = json_object_get(in, "in_hours"), *due = json_object_get(in, "due_at");
    if (!hours == !due)
        return store__fail(tx, CD_EINVAL, hours ? "due_at" : "in_hours",
                           "give either in_hours or due_at");
    int64_t due_at = due ? json_integer_value(due)
                         : tx->now + (int64_t)(json_number_value(hours) * 3600.0 * 1000.0);
    if (due_at <= tx->now)
        return store__fail(tx, CD_EINVAL, due ? "due_at" : "in_hours",
                           "a follow-up is due in the future");
    static const char *const text[] = {"note", NULL};
    redact_counts masked = {0};
    rc = store__redact_fields(tx, client, in, text, &masked);
    if (rc)
        return rc;
    json_t *session = json_object_get(in, "session_id");
    rc = store__q1(tx,
                   "INSERT INTO follow_ups (client_id, interaction_id, due_at, note, status, "
                   "session_id, created_by, created_at) VALUES ($1, $2, $3, $4, 'scheduled', $5, "
                   "$6, $7) RETURNING " FOLLOW_UP_COLUMNS,
                   json_pack("[IIIsOoI]", (json_int_t)client, (json_int_t)interaction_id,
                             (json_int_t)due_at, store__str(in, "note") ? store__str(in, "note") : "",
                             session ? session : json_null(),
                             tx->ctx.user_id ? json_integer(tx->ctx.user_id) : json_null(),
                             (json_int_t)tx->now),
                   out);
    if (rc)
        return rc;
    json_t *ev = json_pack("{s:I, s:I}", "follow_up_id", store__int(*out, "id"), "due_at",
                           (json_int_t)due_at);
    rc = store__event(tx, client, interaction_id, "follow_up_scheduled", NULL, ev);
    json_decref(ev);
    if (!rc)
        rc = store__redact_event(tx, client, interaction_id, "follow_up", store__int(*out, "id"),
                                 &masked);
    if (!rc)
        rc = store__audit(tx, "create", "follow_up", store__int(*out, "id"), client, NULL);
    return rc;
}

int store_follow_up_list(store_tx *tx, int64_t interaction_id, json_t **out)
{
    json_t *cur = NULL, *rows = NULL;
    int rc = store_interaction_get(tx, interaction_id, &cur);
    json_decref(cur);
    if (!rc)
        rc = store__q(tx,
                      "SELECT " FOLLOW_UP_COLUMNS " FROM follow_ups WHERE interaction_id = $1 "
                      "ORDER BY due_at, id",
                      json_pack("[I]", (json_int_t)interaction_id), &rows);
    if (!rc)
        *out = json_pack("{s:o, s:n}", "items", rows, "next_cursor");
    return rc;
}
