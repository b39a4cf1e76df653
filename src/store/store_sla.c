/* store_sla.c - SLA policies and clocks (docs/sla.md).
 *
 * A client's policies are ordered; the first whose conditions match an
 * interaction (priority, customer tier, channel, category, queue) applies
 * and starts its clocks: first response and resolution at once, periodic
 * update at once and again at each reply, next response at each customer
 * message after the first reply. Targets are minutes of business time (the
 * client's calendar) or calendar time. A clock keeps the time elapsed
 * before its running stretch and when that stretch began; while running it
 * has a due instant and, until it warned, a warning instant. Pending
 * pauses the clocks, the customer's reply resumes them; a change of
 * priority (or anything a policy looks at) re-targets them, keeping the
 * time elapsed. The scheduler (store_sla_due / store_sla_fire) fires each
 * warning and breach once, however many servers look: the firing is a
 * conditional update. */
#include "store/store_internal.h"

#include "core/calendar.h"
#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_COLUMNS                                                                             \
    "id, client_id, name, position, conditions, targets, warn_share, active, version, "            \
    "created_at, updated_at, escalation"
#define ESCALATION_GRACE_MS 60000 /* on time: within a minute (or a tenth of its delay) */
#define CLOCK_COLUMNS                                                                              \
    "id, client_id, interaction_id, policy_id, policy_version, target, business, target_ms, "      \
    "warn_share, state, started_at, elapsed_ms, running_since, due_at, warn_at, warned, "          \
    "breached_at, fulfilled_at"

static const char *const targets[] = {"first_response", "next_response", "periodic_update",
                                      "resolution", NULL};
static const char *const condition_keys[] = {"priority", "tier", "channel", "category", "queue",
                                             NULL};

static int one_of(const char *const *set, const char *v)
{
    for (; v && *set; set++)
        if (strcmp(*set, v) == 0)
            return 1;
    return 0;
}

/* --- calendars ------------------------------------------------------------ */

int store__calendar_check(store_tx *tx, json_t *cal)
{
    char err[200] = "";
    calendar *c = NULL;
    if (!cal)
        return 0;
    char *text = json_dumps(cal, JSON_ENCODE_ANY | JSON_COMPACT);
    int rc = text ? calendar_parse(text, strlen(text), &c, err, sizeof err) : CD_ENOMEM;
    free(text);
    calendar_free(c);
    if (rc == CD_EINVAL || rc == CD_ETOOBIG)
        return store__fail(tx, CD_EINVAL, "calendar", "%s", err[0] ? err : "not a calendar");
    return rc;
}

/* The client's calendar (a new one; "24/7" when it has none usable). */
static calendar *client_calendar(store_tx *tx, int64_t client)
{
    json_t *row = NULL;
    calendar *c = NULL;
    if (!store__q1(tx, "SELECT calendar FROM clients WHERE id = $1",
                   json_pack("[I]", (json_int_t)client), &row)) {
        const char *text = store__str(row, "calendar");
        if (text && calendar_parse(text, strlen(text), &c, NULL, 0) != 0)
            c = NULL;
    }
    json_decref(row);
    if (!c)
        calendar_always(&c);
    return c;
}

/* Time of a target that passes in [a, b). */
static int64_t span(const calendar *cal, int business, int64_t a, int64_t b)
{
    if (b <= a)
        return 0;
    return business ? calendar_business_between(cal, a, b) : b - a;
}

/* The instant `ms` of a target's time after t. */
static int64_t after(const calendar *cal, int business, int64_t t, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    return business ? calendar_add_business_ms(cal, t, ms) : t + ms;
}

/* --- policies ----------------------------------------------------------------- */

static json_t *policy_shape(json_t *row)
{
    store__parse_column(row, "escalation", "[]");
    store__parse_column(row, "conditions", "{}");
    store__parse_column(row, "targets", "{}");
    json_object_set_new(row, "active", json_boolean(store__int(row, "active")));
    return row;
}

static int check_policy(store_tx *tx, json_t *in)
{
    json_t *conds = json_object_get(in, "conditions"), *tg = json_object_get(in, "targets"), *v;
    const char *k;
    json_object_foreach (conds, k, v) {
        if (!one_of(condition_keys, k))
            return store__fail(tx, CD_EINVAL, "conditions",
                               "conditions are on priority, tier, channel, category, queue");
        size_t i;
        json_t *x;
        if (!json_is_array(v) || !json_array_size(v))
            return store__fail(tx, CD_EINVAL, "conditions", "%s: a list of values", k);
        json_array_foreach (v, i, x)
            if (!json_is_string(x))
                return store__fail(tx, CD_EINVAL, "conditions", "%s: a list of strings", k);
    }
    json_t *esc = json_object_get(in, "escalation"), *e;
    size_t n;
    double last = 0;
    static const char *const tiers[] = {"team_lead", "supervisor", "client_contact", NULL};
    int last_tier = -1;
    if (esc && !json_is_array(esc))
        return store__fail(tx, CD_EINVAL, "escalation",
                           "escalation is a list of {tier, minutes, business}");
    json_array_foreach (esc, n, e) {
        const char *t = store__str(e, "tier");
        int ti = -1;
        for (int q = 0; t && tiers[q]; q++)
            if (!strcmp(tiers[q], t))
                ti = q;
        double m = json_number_value(json_object_get(e, "minutes"));
        if (ti < 0 || !json_is_number(json_object_get(e, "minutes")) || m <= 0)
            return store__fail(tx, CD_EINVAL, "escalation",
                               "escalation %zu: tier team_lead, supervisor or client_contact "
                               "and minutes above 0",
                               n + 1);
        if (ti <= last_tier || m <= last)
            return store__fail(tx, CD_EINVAL, "escalation",
                               "escalation tiers go up in order, each later than the one before");
        last_tier = ti;
        last = m;
    }
    if (tg && (!json_is_object(tg) || !json_object_size(tg)))
        return store__fail(tx, CD_EINVAL, "targets", "targets name at least one target");
    json_object_foreach (tg, k, v) {
        json_t *m = json_object_get(v, "minutes");
        if (!one_of(targets, k))
            return store__fail(tx, CD_EINVAL, "targets",
                               "targets are first_response, next_response, periodic_update, "
                               "resolution");
        if (!json_is_number(m) || json_number_value(m) <= 0 ||
            json_number_value(m) > 60.0 * 24 * 366)
            return store__fail(tx, CD_EINVAL, "targets",
                               "%s: minutes must be a number above 0 (at most a year)", k);
        json_t *b = json_object_get(v, "business");
        if (b && !json_is_boolean(b))
            return store__fail(tx, CD_EINVAL, "targets", "%s: business is true or false", k);
    }
    return 0;
}

int store_sla_policy_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc = store__get_visible(tx, "SELECT " POLICY_COLUMNS " FROM sla_policies WHERE id = $1",
                                id, &row);
    if (!rc)
        *out = policy_shape(row);
    return rc;
}

int store_sla_policy_create(store_tx *tx, json_t *in, json_t **out)
{
    int64_t client = store__int(in, "client_id");
    json_t *row = NULL;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = check_policy(tx, in);
    if (!rc && !json_object_get(in, "targets"))
        rc = store__fail(tx, CD_EINVAL, "targets", "targets are required");
    if (rc)
        return rc;
    char *conds = json_object_get(in, "conditions")
                      ? json_dumps(json_object_get(in, "conditions"), JSON_COMPACT | JSON_SORT_KEYS)
                      : strdup("{}");
    char *tg = json_dumps(json_object_get(in, "targets"), JSON_COMPACT | JSON_SORT_KEYS);
    char *esc = json_object_get(in, "escalation")
                    ? json_dumps(json_object_get(in, "escalation"), JSON_COMPACT)
                    : NULL;
    json_t *ws = json_object_get(in, "warn_share");
    rc = conds && tg ? store__q1(tx,
                                 "INSERT INTO sla_policies (client_id, name, position, conditions, "
                                 "targets, warn_share, active, version, created_at, updated_at, "
                                 "escalation) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) "
                                 "RETURNING id",
                                 json_pack("[IsIssfiIs]", (json_int_t)client,
                                           store__str(in, "name") ? store__str(in, "name") : "",
                                           (json_int_t)store__int(in, "position"), conds, tg,
                                           ws ? json_number_value(ws) : 0.8,
                                           json_is_false(json_object_get(in, "active")) ? 0 : 1,
                                           (json_int_t)tx->now, esc ? esc : "[]"),
                                 &row)
                     : CD_ENOMEM;
    free(conds);
    free(tg);
    free(esc);
    if (rc)
        return rc;
    int64_t id = store__int(row, "id");
    json_decref(row);
    rc = store__audit(tx, "create", "sla_policy", id, client, NULL);
    return rc ? rc : store_sla_policy_get(tx, id, out);
}

static int retarget_policy(store_tx *tx, int64_t client, json_t *policy);

int store_sla_policy_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    json_t *cur = NULL, *v;
    sqlb b;
    int rc = store_sla_policy_get(tx, id, &cur);
    if (rc)
        return rc;
    int64_t client = store__int(cur, "client_id");
    json_decref(cur);
    if ((rc = check_policy(tx, patch)))
        return rc;
    store__sqlb_init(&b, "UPDATE sla_policies SET ");
    store__sqlb_param(&b, "updated_at = $?", json_integer(tx->now));
    store__sqlb_add(&b, ", version = version + 1");
    if ((v = json_object_get(patch, "name")))
        store__sqlb_param(&b, ", name = $?", json_incref(v));
    if ((v = json_object_get(patch, "position")))
        store__sqlb_param(&b, ", position = $?", json_incref(v));
    if ((v = json_object_get(patch, "warn_share")))
        store__sqlb_param(&b, ", warn_share = $?", json_real(json_number_value(v)));
    if ((v = json_object_get(patch, "active")))
        store__sqlb_param(&b, ", active = $?", json_integer(json_is_true(v)));
    static const char *const cols[] = {"conditions", "targets", "escalation"};
    for (int i = 0; i < 3; i++)
        if ((v = json_object_get(patch, cols[i]))) {
            char set[40], *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
            snprintf(set, sizeof set, ", %s = $?", cols[i]);
            store__sqlb_param(&b, set, json_string(text ? text : "{}"));
            free(text);
        }
    store__sqlb_param(&b, " WHERE id = $?", json_integer(id));
    rc = store__sqlb_run(tx, &b, NULL);
    if (!rc)
        rc = store__audit(tx, "update", "sla_policy", id, client, NULL);
    if (!rc)
        rc = store_sla_policy_get(tx, id, out);
    if (!rc)
        rc = retarget_policy(tx, client, *out);
    return rc;
}

int store_sla_policy_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit;
    json_t *rows = NULL, *row, *v;
    size_t i;
    sqlb b;
    int rc = store__list_start(tx, query, "SELECT " POLICY_COLUMNS " FROM sla_policies", "id", &b,
                               &limit);
    if (rc)
        return rc;
    if ((v = json_object_get(query, "client_id")))
        store__sqlb_param(&b, " AND client_id = $?", json_incref(v));
    rc = store__list_finish(tx, &b, "client_id", "id", limit, &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row)
        policy_shape(row);
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

/* The policy that applies to the interaction (new reference), or NULL. */
static int match_policy(store_tx *tx, int64_t client, json_t *it, json_t **policy)
{
    json_t *rows = NULL, *row, *tier = NULL;
    size_t i;
    *policy = NULL;
    int rc = store__q(tx,
                      "SELECT " POLICY_COLUMNS " FROM sla_policies WHERE client_id = $1 AND "
                      "active = 1 ORDER BY position, id",
                      json_pack("[I]", (json_int_t)client), &rows);
    if (rc || !json_array_size(rows)) {
        json_decref(rows);
        return rc;
    }
    if (json_is_integer(json_object_get(it, "customer_id")))
        store__q1(tx, "SELECT tier FROM customers WHERE id = $1",
                  json_pack("[O]", json_object_get(it, "customer_id")), &tier);
    json_array_foreach (rows, i, row) {
        policy_shape(row);
        json_t *conds = json_object_get(row, "conditions"), *vals;
        const char *k;
        int ok = 1;
        json_object_foreach (conds, k, vals) {
            const char *have = strcmp(k, "tier") == 0
                                   ? (tier ? store__str(tier, "tier") : "standard")
                                   : store__str(it, k);
            int in = 0;
            size_t j;
            json_t *x;
            json_array_foreach (vals, j, x)
                in |= have && strcmp(json_string_value(x), have) == 0;
            ok &= in;
        }
        if (ok) {
            *policy = json_incref(row);
            break;
        }
    }
    json_decref(tier);
    json_decref(rows);
    return 0;
}

/* --- clocks ----------------------------------------------------------------- */

static int clock_event(store_tx *tx, json_t *clock, const char *kind, json_t *extra)
{
    json_t *ev = json_pack("{s:O, s:O, s:O, s:O}", "target", json_object_get(clock, "target"),
                           "policy_id", json_object_get(clock, "policy_id"), "policy_version",
                           json_object_get(clock, "policy_version"), "due_at",
                           json_object_get(clock, "due_at"));
    if (extra)
        json_object_update(ev, extra);
    int rc = store__event(tx, store__int(clock, "client_id"), store__int(clock, "interaction_id"),
                          kind, NULL, ev);
    json_decref(ev);
    return rc;
}

/* Writes a clock's state back, with due and warning instants worked out
 * for a running clock. */
static int clock_write(store_tx *tx, const calendar *cal, json_t *c)
{
    int running = strcmp(store__str(c, "state"), "running") == 0;
    int business = (int)store__int(c, "business");
    int64_t since = store__int(c, "running_since"), elapsed = store__int(c, "elapsed_ms"),
            target = store__int(c, "target_ms");
    double share = json_number_value(json_object_get(c, "warn_share"));
    json_t *due = json_null(), *warn = json_null();
    if (running) {
        due = json_integer(after(cal, business, since, target - elapsed));
        if (!store__int(c, "warned"))
            warn = json_integer(after(cal, business, since, (int64_t)(share * target) - elapsed));
    }
    json_object_set(c, "due_at", due);
    json_object_set(c, "warn_at", warn);
    int rc = store__exec(tx,
                         "UPDATE sla_clocks SET policy_id = $1, policy_version = $2, business = $3, "
                         "target_ms = $4, warn_share = $5, state = $6, elapsed_ms = $7, "
                         "running_since = $8, due_at = $9, warn_at = $10, warned = $11, "
                         "fulfilled_at = $12 WHERE id = $13",
                         json_pack("[OOOOOOOOooOOO]", json_object_get(c, "policy_id"),
                                   json_object_get(c, "policy_version"),
                                   json_object_get(c, "business"), json_object_get(c, "target_ms"),
                                   json_object_get(c, "warn_share"), json_object_get(c, "state"),
                                   json_object_get(c, "elapsed_ms"),
                                   json_object_get(c, "running_since"), due, warn,
                                   json_object_get(c, "warned"), json_object_get(c, "fulfilled_at"),
                                   json_object_get(c, "id")),
                         NULL);
    return rc;
}

static int clocks_of(store_tx *tx, int64_t interaction, json_t **out)
{
    return store__q(tx,
                    "SELECT " CLOCK_COLUMNS " FROM sla_clocks WHERE interaction_id = $1 ORDER BY id",
                    json_pack("[I]", (json_int_t)interaction), out);
}

static json_t *clock_named(json_t *clocks, const char *target)
{
    json_t *c;
    size_t i;
    json_array_foreach (clocks, i, c)
        if (strcmp(store__str(c, "target"), target) == 0)
            return c;
    return NULL;
}

/* Starts (or restarts) the clock of `target` under policy. */
static int clock_start(store_tx *tx, const calendar *cal, int64_t client, int64_t interaction,
                       json_t *policy, const char *target, json_t *clocks)
{
    json_t *t = json_object_get(json_object_get(policy, "targets"), target);
    if (!t)
        return 0;
    int64_t target_ms = (int64_t)llround(json_number_value(json_object_get(t, "minutes")) * 60000);
    int business = json_is_true(json_object_get(t, "business"));
    json_t *c = clock_named(clocks, target);
    int rc = 0;
    if (!c) {
        json_t *row = NULL;
        rc = store__q1(tx,
                       "INSERT INTO sla_clocks (client_id, interaction_id, policy_id, "
                       "policy_version, target, business, target_ms, warn_share, state, "
                       "started_at, running_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                       "'running', $9, $9) RETURNING " CLOCK_COLUMNS,
                       json_pack("[IIOOsiIOI]", (json_int_t)client, (json_int_t)interaction,
                                 json_object_get(policy, "id"), json_object_get(policy, "version"),
                                 target, business, (json_int_t)target_ms,
                                 json_object_get(policy, "warn_share"), (json_int_t)tx->now),
                       &row);
        if (rc)
            return rc;
        json_array_append_new(clocks, row);
        c = row;
    } else {
        json_object_set(c, "policy_id", json_object_get(policy, "id"));
        json_object_set(c, "policy_version", json_object_get(policy, "version"));
        json_object_set_new(c, "business", json_integer(business));
        json_object_set_new(c, "target_ms", json_integer(target_ms));
        json_object_set(c, "warn_share", json_object_get(policy, "warn_share"));
        json_object_set_new(c, "state", json_string("running"));
        json_object_set_new(c, "elapsed_ms", json_integer(0));
        json_object_set_new(c, "running_since", json_integer(tx->now));
        json_object_set_new(c, "warned", json_integer(0));
        json_object_set_new(c, "fulfilled_at", json_null());
        rc = store__exec(tx,
                         "UPDATE sla_clocks SET started_at = $1, breached_at = NULL WHERE id = $2",
                         json_pack("[IO]", (json_int_t)tx->now, json_object_get(c, "id")), NULL);
    }
    return rc ? rc : clock_write(tx, cal, c);
}

/* Ends a clock: fulfilled (met in time, or after a breach: it stays
 * breached) or stopped. */
static int clock_end(store_tx *tx, const calendar *cal, json_t *c, int fulfil)
{
    char state[16]; /* a copy: the member is replaced below */
    snprintf(state, sizeof state, "%s", store__str(c, "state") ? store__str(c, "state") : "");
    if (!strcmp(state, "breached") && fulfil && !json_is_integer(json_object_get(c, "fulfilled_at"))) {
        /* Met late: it stays breached, with the time it was met. */
        int64_t e = store__int(c, "elapsed_ms");
        if (json_is_integer(json_object_get(c, "running_since")))
            e += span(cal, (int)store__int(c, "business"), store__int(c, "running_since"),
                      tx->now);
        int rc = store__exec(tx,
                             "UPDATE sla_clocks SET fulfilled_at = $1, elapsed_ms = $2, "
                             "running_since = NULL WHERE id = $3",
                             json_pack("[IIO]", (json_int_t)tx->now, (json_int_t)e,
                                       json_object_get(c, "id")),
                             NULL);
        json_t *x = json_pack("{s:b}", "in_time", 0);
        if (!rc)
            rc = clock_event(tx, c, "sla_fulfilled", x);
        json_decref(x);
        return rc;
    }
    if (strcmp(state, "running") != 0 && strcmp(state, "paused") != 0)
        return 0;
    int64_t due = store__int(c, "due_at");
    int in_time = strcmp(state, "paused") == 0 || !due || tx->now <= due;
    json_object_set_new(c, "state", json_string(fulfil ? "fulfilled" : "stopped"));
    json_object_set_new(c, "fulfilled_at", fulfil ? json_integer(tx->now) : json_null());
    if (strcmp(state, "running") == 0) {
        int64_t e = store__int(c, "elapsed_ms") +
                    span(cal, (int)store__int(c, "business"), store__int(c, "running_since"),
                         tx->now);
        json_object_set_new(c, "elapsed_ms", json_integer(e));
        json_object_set_new(c, "running_since", json_null());
    }
    int rc = clock_write(tx, cal, c);
    if (!rc && fulfil) {
        json_t *x = json_pack("{s:b}", "in_time", in_time);
        rc = clock_event(tx, c, "sla_fulfilled", x);
        json_decref(x);
    }
    return rc;
}

static int clock_pause(store_tx *tx, const calendar *cal, json_t *c)
{
    if (strcmp(store__str(c, "state"), "running") != 0)
        return 0;
    int64_t e = store__int(c, "elapsed_ms") + span(cal, (int)store__int(c, "business"),
                                                   store__int(c, "running_since"), tx->now);
    json_object_set_new(c, "elapsed_ms", json_integer(e));
    json_object_set_new(c, "running_since", json_null());
    json_object_set_new(c, "state", json_string("paused"));
    return clock_write(tx, cal, c);
}

static int clock_resume(store_tx *tx, const calendar *cal, json_t *c)
{
    if (strcmp(store__str(c, "state"), "paused") != 0)
        return 0;
    json_object_set_new(c, "running_since", json_integer(tx->now));
    json_object_set_new(c, "state", json_string("running"));
    return clock_write(tx, cal, c);
}

/* Re-targets a running or paused clock under a new policy, keeping its
 * elapsed time; a target the policy no longer has stops. */
static int clock_retarget(store_tx *tx, const calendar *cal, json_t *c, json_t *policy)
{
    char state[16];
    snprintf(state, sizeof state, "%s", store__str(c, "state") ? store__str(c, "state") : "");
    if (strcmp(state, "running") != 0 && strcmp(state, "paused") != 0)
        return 0;
    json_t *t = json_object_get(json_object_get(policy, "targets"), store__str(c, "target"));
    if (!t)
        return clock_end(tx, cal, c, 0);
    int64_t elapsed = store__int(c, "elapsed_ms");
    if (strcmp(state, "running") == 0) {
        elapsed += span(cal, (int)store__int(c, "business"), store__int(c, "running_since"),
                        tx->now);
        json_object_set_new(c, "running_since", json_integer(tx->now));
    }
    json_object_set_new(c, "elapsed_ms", json_integer(elapsed));
    json_object_set(c, "policy_id", json_object_get(policy, "id"));
    json_object_set(c, "policy_version", json_object_get(policy, "version"));
    json_object_set_new(c, "business", json_integer(json_is_true(json_object_get(t, "business"))));
    json_object_set_new(
        c, "target_ms",
        json_integer((int64_t)llround(json_number_value(json_object_get(t, "minutes")) * 60000)));
    json_object_set(c, "warn_share", json_object_get(policy, "warn_share"));
    return clock_write(tx, cal, c);
}

/* A policy changed: its open clocks take its new targets, keeping the
 * time elapsed (an inactive policy leaves them as they are). */
static int retarget_policy(store_tx *tx, int64_t client, json_t *policy)
{
    json_t *rows = NULL, *c;
    size_t i;
    if (!json_is_true(json_object_get(policy, "active")))
        return 0;
    int rc = store__q(tx,
                      "SELECT " CLOCK_COLUMNS " FROM sla_clocks WHERE policy_id = $1 AND state IN "
                      "('running', 'paused') ORDER BY id",
                      json_pack("[O]", json_object_get(policy, "id")), &rows);
    if (rc || !json_array_size(rows)) {
        json_decref(rows);
        return rc;
    }
    calendar *cal = client_calendar(tx, client);
    json_array_foreach (rows, i, c)
        if (!rc)
            rc = clock_retarget(tx, cal, c, policy);
    calendar_free(cal);
    json_decref(rows);
    return rc;
}

int store__sla_on(store_tx *tx, int64_t client, int64_t interaction, const char *what,
                  json_t *change)
{
    json_t *it = NULL, *clocks = NULL, *policy = NULL, *c;
    size_t i;
    int rc = store__q1(tx, "SELECT id FROM sla_policies WHERE client_id = $1 AND active = 1 LIMIT 1",
                       json_pack("[I]", (json_int_t)client), &it);
    json_decref(it);
    it = NULL;
    if (rc == CD_ENOTFOUND && !strcmp(what, "created"))
        return 0; /* no policies, and a new interaction has no clocks */
    if (rc == CD_ENOTFOUND) { /* no policies: nothing to keep, but clocks may run */
        rc = store__q(tx, "SELECT id FROM sla_clocks WHERE interaction_id = $1 LIMIT 1",
                      json_pack("[I]", (json_int_t)interaction), &clocks);
        int none = !rc && json_array_size(clocks) == 0;
        json_decref(clocks);
        clocks = NULL;
        if (rc || none)
            return rc;
    } else if (rc) {
        return rc;
    }
    calendar *cal = client_calendar(tx, client);
    if (!cal)
        return CD_ENOMEM;
    rc = store_interaction_get(tx, interaction, &it);
    if (!rc)
        rc = clocks_of(tx, interaction, &clocks);
    if (rc)
        goto out;
    const char *status = store__str(it, "status");
    if (!strcmp(what, "created")) {
        rc = match_policy(tx, client, it, &policy);
        if (!rc && policy) {
            for (const char *const *t = targets; !rc && *t; t++)
                if (strcmp(*t, "next_response") != 0)
                    rc = clock_start(tx, cal, client, interaction, policy, *t, clocks);
            if (!rc) {
                json_t *ev = json_pack("{s:O, s:O, s:O, s:O}", "policy_id",
                                       json_object_get(policy, "id"), "name",
                                       json_object_get(policy, "name"), "policy_version",
                                       json_object_get(policy, "version"), "targets",
                                       json_object_get(policy, "targets"));
                rc = store__event(tx, client, interaction, "sla_applied", NULL, ev);
                json_decref(ev);
            }
        }
    } else if (!strcmp(what, "reply")) {
        if ((c = clock_named(clocks, "first_response")))
            rc = clock_end(tx, cal, c, 1);
        if (!rc && (c = clock_named(clocks, "next_response")))
            rc = clock_end(tx, cal, c, 1);
        if (!rc && (c = clock_named(clocks, "periodic_update")) &&
            strcmp(status, "resolved") != 0 && strcmp(status, "closed") != 0 &&
            !(rc = match_policy(tx, client, it, &policy)) && policy) {
            rc = clock_end(tx, cal, c, 1);
            if (!rc)
                rc = clock_start(tx, cal, client, interaction, policy, "periodic_update", clocks);
        }
    } else if (!strcmp(what, "customer_message")) {
        json_t *first = clock_named(clocks, "first_response"),
               *next = clock_named(clocks, "next_response");
        int answered = first && strcmp(store__str(first, "state"), "running") != 0 &&
                       strcmp(store__str(first, "state"), "paused") != 0;
        int waiting = next && (!strcmp(store__str(next, "state"), "running") ||
                               !strcmp(store__str(next, "state"), "paused"));
        if (answered && !waiting && !(rc = match_policy(tx, client, it, &policy)) && policy)
            rc = clock_start(tx, cal, client, interaction, policy, "next_response", clocks);
    } else if (!strcmp(what, "updated")) {
        json_t *after_ = json_object_get(change, "after"), *before = json_object_get(change, "before");
        const char *to = store__str(after_, "status"), *from = store__str(before, "status");
        if (to && (!strcmp(to, "resolved") || !strcmp(to, "closed"))) {
            json_array_foreach (clocks, i, c)
                if (!rc)
                    rc = clock_end(tx, cal, c, !strcmp(store__str(c, "target"), "resolution"));
        } else if (to && !strcmp(to, "pending")) {
            json_array_foreach (clocks, i, c)
                if (!rc)
                    rc = clock_pause(tx, cal, c);
        } else {
            if (from && !strcmp(from, "pending"))
                json_array_foreach (clocks, i, c)
                    if (!rc)
                        rc = clock_resume(tx, cal, c);
            int relevant = 0;
            for (const char *const *k = condition_keys; *k; k++)
                relevant |= json_object_get(after_, *k) != NULL;
            if (!rc && relevant && !(rc = match_policy(tx, client, it, &policy)) && policy)
                json_array_foreach (clocks, i, c)
                    if (!rc)
                        rc = clock_retarget(tx, cal, c, policy);
        }
    }
out:
    json_decref(policy);
    json_decref(clocks);
    json_decref(it);
    calendar_free(cal);
    return rc;
}

/* --- the scheduler ------------------------------------------------------------ */

int store_sla_due(store_tx *tx, int limit, json_t **out)
{
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    return store__q(tx,
                    "SELECT id FROM sla_clocks WHERE state = 'running' AND ((warned = 0 AND "
                    "warn_at <= $1) OR due_at <= $1) ORDER BY id LIMIT $2",
                    json_pack("[Ii]", (json_int_t)tx->now, limit), out);
}

int store_sla_fire(store_tx *tx, int64_t clock_id, int *fired)
{
    json_t *c = NULL;
    int64_t changed = 0;
    *fired = 0;
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    int rc = store__q1(tx, "SELECT " CLOCK_COLUMNS " FROM sla_clocks WHERE id = $1",
                       json_pack("[I]", (json_int_t)clock_id), &c);
    if (rc)
        return rc == CD_ENOTFOUND ? 0 : rc;
    int64_t client = store__int(c, "client_id"), interaction = store__int(c, "interaction_id");
    /* Each change is conditional on the state read: a server that comes
     * second changes nothing and fires nothing. */
    if (!store__int(c, "warned") && json_is_integer(json_object_get(c, "warn_at")) &&
        store__int(c, "warn_at") <= tx->now) {
        rc = store__exec(tx,
                         "UPDATE sla_clocks SET warned = 1 WHERE id = $1 AND warned = 0 AND "
                         "state = 'running'",
                         json_pack("[I]", (json_int_t)clock_id), &changed);
        if (!rc && changed == 1) {
            rc = clock_event(tx, c, "sla_warning", NULL);
            if (!rc)
                rc = store__rules_fire(tx, client, interaction, "sla_warning", c);
            *fired += !rc;
        }
    }
    if (!rc && json_is_integer(json_object_get(c, "due_at")) && store__int(c, "due_at") <= tx->now) {
        rc = store__exec(tx,
                         "UPDATE sla_clocks SET state = 'breached', breached_at = due_at WHERE "
                         "id = $1 AND state = 'running' AND due_at <= $2",
                         json_pack("[II]", (json_int_t)clock_id, (json_int_t)tx->now), &changed);
        if (!rc && changed == 1) {
            rc = clock_event(tx, c, "sla_breached", NULL);
            if (!rc)
                rc = store__rules_fire(tx, client, interaction, "sla_breach", c);
            *fired += !rc;
        }
    }
    json_decref(c);
    return rc;
}

/* --- views ----------------------------------------------------------------- */

int store_sla_of(store_tx *tx, int64_t interaction, json_t **out)
{
    json_t *it = NULL, *clocks = NULL, *c;
    size_t i;
    int rc = store_interaction_get(tx, interaction, &it);
    if (!rc)
        rc = clocks_of(tx, interaction, &clocks);
    if (rc) {
        json_decref(it);
        return rc;
    }
    calendar *cal = client_calendar(tx, store__int(it, "client_id"));
    json_array_foreach (clocks, i, c) {
        int business = (int)store__int(c, "business");
        int64_t elapsed = store__int(c, "elapsed_ms");
        /* Running, or breached and not met yet: time still passes. */
        if (json_is_integer(json_object_get(c, "running_since")) && cal)
            elapsed += span(cal, business, store__int(c, "running_since"), tx->now);
        json_object_set_new(c, "elapsed_ms", json_integer(elapsed));
        json_object_set_new(c, "remaining_ms", json_integer(store__int(c, "target_ms") - elapsed));
        json_object_set_new(c, "business", json_boolean(business));
        json_object_set_new(c, "warned", json_boolean(store__int(c, "warned")));
        json_object_del(c, "running_since");
    }
    calendar_free(cal);
    json_decref(it);
    *out = json_pack("{s:I, s:o}", "interaction_id", (json_int_t)interaction, "clocks", clocks);
    return *out ? 0 : CD_ENOMEM;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static json_t *pct(const int64_t *v, size_t n, double p)
{
    if (!n)
        return json_null();
    size_t k = (size_t)ceil(p * (double)n);
    return json_integer(v[k ? k - 1 : 0]);
}

int store_sla_report(store_tx *tx, json_t *query, json_t **out)
{
    int64_t client = store__int(query, "client_id");
    const char *by = store__str(query, "by") ? store__str(query, "by") : "policy";
    int64_t from = store__int(query, "from"), to = json_object_get(query, "to")
                                                       ? store__int(query, "to")
                                                       : INT64_MAX;
    json_t *rows = NULL, *row, *groups = json_object(), *g;
    size_t i;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = store__q(tx,
                      "SELECT c.target, c.state, c.started_at, c.fulfilled_at, c.breached_at, "
                      "c.policy_id, p.name AS policy, i.priority, i.channel, i.created_at FROM "
                      "sla_clocks c JOIN interactions i ON i.id = c.interaction_id LEFT JOIN "
                      "sla_policies p ON p.id = c.policy_id WHERE c.client_id = $1 AND "
                      "c.target IN ('first_response', 'resolution') AND i.created_at >= $2 AND "
                      "i.created_at < $3 ORDER BY c.id",
                      json_pack("[III]", (json_int_t)client, (json_int_t)from, (json_int_t)to),
                      &rows);
    if (rc) {
        json_decref(groups);
        return rc;
    }
    calendar *cal = client_calendar(tx, client);
    const tz *zone = cal ? calendar_zone(cal) : NULL;
    json_array_foreach (rows, i, row) {
        char key[160];
        if (!strcmp(by, "day")) {
            int64_t y;
            unsigned m, d;
            int64_t t = store__int(row, "created_at");
            int64_t local = t / 1000 + (zone ? tz_offset(zone, t / 1000) : 0);
            tz_civil_from_days(local >= 0 ? local / 86400 : (local - 86399) / 86400, &y, &m, &d);
            snprintf(key, sizeof key, "%04lld-%02u-%02u", (long long)y, m, d);
        } else if (!strcmp(by, "policy")) {
            snprintf(key, sizeof key, "%s", store__str(row, "policy") ?: "?");
        } else {
            snprintf(key, sizeof key, "%s", store__str(row, by) ?: "?");
        }
        if (!(g = json_object_get(groups, key))) {
            g = json_pack("{s:s, s:{s:i, s:i, s:[]}, s:{s:i, s:i, s:[]}}", by, key,
                          "first_response", "met", 0, "breached", 0, "times", "resolution",
                          "met", 0, "breached", 0, "times");
            json_object_set_new(groups, key, g);
        }
        json_t *t = json_object_get(g, store__str(row, "target"));
        const char *state = store__str(row, "state");
        int breached = json_is_integer(json_object_get(row, "breached_at"));
        if (breached)
            json_object_set_new(t, "breached", json_integer(store__int(t, "breached") + 1));
        else if (!strcmp(state, "fulfilled"))
            json_object_set_new(t, "met", json_integer(store__int(t, "met") + 1));
        if (json_is_integer(json_object_get(row, "fulfilled_at")))
            json_array_append_new(json_object_get(t, "times"),
                                  json_integer(store__int(row, "fulfilled_at") -
                                               store__int(row, "started_at")));
    }
    calendar_free(cal);
    json_decref(rows);
    json_t *list = json_array();
    const char *k;
    json_object_foreach (groups, k, g) {
        for (int j = 0; j < 2; j++) {
            json_t *t = json_object_get(g, j ? "resolution" : "first_response");
            json_t *times = json_object_get(t, "times"), *x;
            size_t n = json_array_size(times), q;
            int64_t *v = cd_malloc((n ? n : 1) * sizeof *v);
            json_array_foreach (times, q, x)
                v[q] = json_integer_value(x);
            qsort(v, n, sizeof *v, cmp_i64);
            json_object_set_new(t, "median_ms", pct(v, n, 0.5));
            json_object_set_new(t, "p90_ms", pct(v, n, 0.9));
            int64_t done = store__int(t, "met") + store__int(t, "breached");
            json_object_set_new(t, "achievement",
                                done ? json_real((double)store__int(t, "met") / (double)done)
                                     : json_null());
            json_object_del(t, "times");
            cd_free(v);
        }
        json_array_append(list, g);
    }
    json_decref(groups);
    *out = json_pack("{s:I, s:s, s:o}", "client_id", (json_int_t)client, "by", by, "groups", list);
    return *out ? 0 : CD_ENOMEM;
}

/* --- escalation ------------------------------------------------------------ */

int store__escalated(store_tx *tx, int64_t client, int64_t interaction, const char *from,
                     const char *to)
{
    json_t *it = NULL, *policy = NULL, *row = NULL, *due = json_null();
    const char *timing = "unscheduled";
    int rc = store_interaction_get(tx, interaction, &it);
    if (rc)
        return rc;
    /* The policy its clocks run under, else the one that matches now. */
    if (!store__q1(tx,
                   "SELECT policy_id FROM sla_clocks WHERE interaction_id = $1 ORDER BY id "
                   "LIMIT 1",
                   json_pack("[I]", (json_int_t)interaction), &row))
        store_sla_policy_get(tx, store__int(row, "policy_id"), &policy);
    json_decref(row);
    if (!policy)
        rc = match_policy(tx, client, it, &policy);
    json_t *e;
    size_t i;
    json_array_foreach (json_object_get(policy, "escalation"), i, e) {
        if (strcmp(store__str(e, "tier") ?: "", to ? to : "") != 0)
            continue;
        calendar *cal = client_calendar(tx, client);
        int64_t ms = (int64_t)llround(json_number_value(json_object_get(e, "minutes")) * 60000);
        int64_t at = after(cal, json_is_true(json_object_get(e, "business")),
                           store__int(it, "created_at"), ms);
        calendar_free(cal);
        json_decref(due);
        due = json_integer(at);
        int64_t grace = ms / 10 < ESCALATION_GRACE_MS ? ms / 10 : ESCALATION_GRACE_MS;
        timing = tx->now < at - grace ? "early" : tx->now > at + grace ? "late" : "on_time";
    }
    if (!rc) {
        json_t *ev = json_pack("{s:s?, s:s?, s:O, s:s, s:O}", "from", from, "to", to, "due_at",
                               due, "timing", timing, "policy_id",
                               policy ? json_object_get(policy, "id") : json_null());
        rc = store__event(tx, client, interaction, "escalated", NULL, ev);
        json_decref(ev);
    }
    json_decref(due);
    json_decref(policy);
    json_decref(it);
    return rc;
}
