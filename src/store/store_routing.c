/* store_routing.c - the store's side of routing.
 *
 * Changes that routing must hear of append a hint to the routing_events
 * outbox in the same transaction (an interaction, an agent or a queue
 * changed; an offer was accepted or rejected; work finished). The hints
 * are numbered under a row lock, so numbers follow commit order and the
 * router never skips one. The router (server/router.c) reads them and
 * re-reads the subject's current rows, so a hint carries no state.
 *
 * Offer outcomes are decided here, once, by conditional updates: an offer
 * is accepted only while it is pending and unexpired, and expired only
 * while pending and past its deadline; the two can never both happen. */
#include "store/store_internal.h"

#include "core/tz.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <string.h>

int store__routing_emit(store_tx *tx, const char *kind, int64_t client_id, int64_t subject_id,
                        int64_t agent_id, const char *detail)
{
    json_t *head = NULL;
    /* Lock order: every caller appended its audit entry first, so the audit
     * head is locked before the routing head in every transaction and two
     * writers never each hold one while waiting for the other. */
    int rc = store__q1(tx, "UPDATE routing_head SET seq = seq + 1 WHERE id = 1 RETURNING seq", NULL,
                       &head);
    if (rc)
        return rc;
    rc = store__q(tx,
                  "INSERT INTO routing_events (seq, at, kind, client_id, subject_id, agent_id, "
                  "detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                  json_pack("[IIsIIIs]", (json_int_t)store__int(head, "seq"), (json_int_t)tx->now,
                            kind, (json_int_t)client_id, (json_int_t)subject_id,
                            (json_int_t)agent_id, detail ? detail : ""),
                  NULL);
    json_decref(head);
    return rc;
}

/* --- the router's reads and decisions (system context) ---------------- */

int store_router_lease(store_tx *tx, const char *me, int64_t lease_ms, int64_t *epoch,
                       int *taken_over, int *renewed)
{
    json_t *row = NULL;
    int rc =
        store__q1(tx, "SELECT holder, until_ms, epoch FROM router_lease WHERE id = 1", NULL, &row);
    if (rc)
        return rc;
    int mine = strcmp(store__str(row, "holder"), me) == 0;
    int64_t until = store__int(row, "until_ms");
    int free = until < tx->now;
    *epoch = store__int(row, "epoch");
    *taken_over = 0;
    *renewed = 0;
    json_decref(row);
    row = NULL;
    if (!mine && !free)
        return CD_EBUSY;
    /* A holder with more than half its lease left need not write: nobody
     * may take it over before it runs out. */
    if (mine && until - tx->now > lease_ms / 2)
        return 0;
    /* The update takes the row lock: leader iterations never overlap. */
    rc = store__q1(tx,
                   "UPDATE router_lease SET holder = $1, until_ms = $2, "
                   "epoch = epoch + $3 WHERE id = 1 AND (holder = $1 OR until_ms < $4) "
                   "RETURNING epoch",
                   json_pack("[sIiI]", me, (json_int_t)(tx->now + lease_ms), mine ? 0 : 1,
                             (json_int_t)tx->now),
                   &row);
    if (rc == CD_ENOTFOUND)
        return CD_EBUSY;
    if (rc)
        return rc;
    *epoch = store__int(row, "epoch");
    *taken_over = !mine;
    *renewed = 1;
    json_decref(row);
    return 0;
}

int store_router_lease_peek(store_tx *tx, const char *me, int *mine, int64_t *until)
{
    json_t *row = NULL;
    int rc = store__q1(tx, "SELECT holder, until_ms FROM router_lease WHERE id = 1", NULL, &row);
    if (rc)
        return rc;
    *mine = strcmp(store__str(row, "holder"), me) == 0;
    *until = store__int(row, "until_ms");
    json_decref(row);
    return 0;
}

int store_router_release(store_tx *tx, const char *me)
{
    return store__q(tx, "UPDATE router_lease SET until_ms = 0 WHERE id = 1 AND holder = $1",
                    json_pack("[s]", me), NULL);
}

int store_routing_events(store_tx *tx, int64_t after_seq, int64_t limit, json_t **out)
{
    return store__q(tx,
                    "SELECT seq, at, kind, client_id, subject_id, agent_id, detail "
                    "FROM routing_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                    json_pack("[II]", (json_int_t)after_seq, (json_int_t)limit), out);
}

/* The number of the last entry of a numbered log, from its head row. */
static int head_seq(store_tx *tx, const char *sql, int64_t *seq)
{
    json_t *row = NULL;
    int rc = store__q1(tx, sql, NULL, &row);
    if (!rc)
        *seq = store__int(row, "seq");
    json_decref(row);
    return rc;
}

int store_routing_head(store_tx *tx, int64_t *seq)
{
    return head_seq(tx, "SELECT seq FROM routing_head WHERE id = 1", seq);
}

int store_push_append(store_tx *tx, json_t *entries)
{
    json_t *head = NULL, *e;
    size_t i, n = json_array_size(entries);
    if (!n)
        return 0;
    int rc = store__q1(tx, "UPDATE push_head SET seq = seq + $1 WHERE id = 1 RETURNING seq",
                       json_pack("[I]", (json_int_t)n), &head);
    if (rc)
        return rc;
    int64_t first = store__int(head, "seq") - (int64_t)n + 1;
    json_decref(head);
    json_array_foreach (entries, i, e) {
        if (rc)
            break;
        rc =
            store__exec(tx,
                        "INSERT INTO push_log (seq, at, topic, topic_key, event, data) VALUES "
                        "($1, $2, $3, $4, $5, $6)",
                        json_pack("[IIIIss]", (json_int_t)(first + (int64_t)i), (json_int_t)tx->now,
                                  store__int(e, "topic"), store__int(e, "key"),
                                  store__str(e, "event"), store__str(e, "data")),
                        NULL);
    }
    return rc;
}

int store__push(store_tx *tx, int topic, int64_t key, const char *event, json_t *data)
{
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (!text)
        return CD_ENOMEM;
    json_t *entry = json_pack("{s:i, s:I, s:s, s:s}", "topic", topic, "key", (json_int_t)key,
                              "event", event, "data", text);
    cd_free(text);
    if (!entry || (!tx->pushes && !(tx->pushes = json_array()))) {
        json_decref(entry);
        return CD_ENOMEM;
    }
    return json_array_append_new(tx->pushes, entry) ? CD_ENOMEM : 0;
}

int store_push_since(store_tx *tx, int64_t after_seq, int64_t limit, json_t **out)
{
    return store__q(tx,
                    "SELECT seq, topic, topic_key, event, data FROM push_log WHERE seq > $1 "
                    "ORDER BY seq LIMIT $2",
                    json_pack("[II]", (json_int_t)after_seq, (json_int_t)limit), out);
}

int store_push_head(store_tx *tx, int64_t *seq)
{
    return head_seq(tx, "SELECT seq FROM push_head WHERE id = 1", seq);
}

int store_push_trim(store_tx *tx, int64_t before)
{
    return store__exec(tx, "DELETE FROM push_log WHERE at < $1",
                       json_pack("[I]", (json_int_t)before), NULL);
}

int store_routing_interaction(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc =
        store__q1(tx,
                  "SELECT i.id, i.client_id, i.channel, i.status, i.priority, i.queue, i.subject, "
                  "i.assignee_id, i.required_skills, i.preferred_agent_id, i.created_at, "
                  "COALESCE(c.tier, 'standard') AS tier "
                  "FROM interactions i LEFT JOIN customers c ON c.id = i.customer_id "
                  "WHERE i.id = $1",
                  json_pack("[I]", (json_int_t)id), &row);
    if (rc)
        return rc;
    store__parse_column(row, "required_skills", "[]");
    *out = row;
    return 0;
}

int store_routing_exclusions(store_tx *tx, int64_t interaction, json_t **out)
{
    return store__q(tx,
                    "SELECT agent_id, MAX(id) AS last FROM offers WHERE interaction_id = $1 "
                    "AND outcome IN ('rejected', 'expired') GROUP BY agent_id "
                    "ORDER BY last DESC LIMIT 16",
                    json_pack("[I]", (json_int_t)interaction), out);
}

int store_routing_waiting(store_tx *tx, json_t **out)
{
    return store__q(tx,
                    "SELECT id FROM interactions WHERE assignee_id IS NULL AND status IN "
                    "('new', 'open') ORDER BY id",
                    NULL, out);
}

int store_routing_agent(store_tx *tx, int64_t user_id, json_t **out)
{
    json_t *row = NULL, *list = NULL;
    int rc = store__q1(tx,
                       "SELECT u.id, u.active, COALESCE(a.state, 'offline') AS state, "
                       "a.wrapup_until, u.channel_weights FROM users u "
                       "LEFT JOIN agent_status a ON a.user_id = u.id "
                       "WHERE u.id = $1",
                       json_pack("[I]", (json_int_t)user_id), &row);
    if (rc)
        return rc;
    store__parse_column(row, "channel_weights", "{}");
    rc = store__q(tx, "SELECT client_id FROM memberships WHERE user_id = $1 ORDER BY client_id",
                  json_pack("[I]", (json_int_t)user_id), &list);
    if (!rc)
        json_object_set_new(row, "clients", list);
    list = NULL;
    if (!rc)
        rc = store__q(tx, "SELECT name, proficiency FROM skills WHERE user_id = $1 ORDER BY name",
                      json_pack("[I]", (json_int_t)user_id), &list);
    if (!rc)
        json_object_set_new(row, "skills", list);
    if (!rc)
        rc = store__q(tx,
                      "SELECT o.interaction_id, i.channel FROM offers o JOIN interactions i ON "
                      "i.id = o.interaction_id WHERE o.agent_id = $1 AND o.outcome = 'accepted' "
                      "AND o.finished_at IS NULL ORDER BY o.id",
                      json_pack("[I]", (json_int_t)user_id), &list);
    if (!rc)
        json_object_set_new(row, "work", list);
    if (rc) {
        json_decref(row);
        return rc;
    }
    *out = row;
    return 0;
}

int store_routing_agents(store_tx *tx, json_t **out)
{
    return store__q(tx, "SELECT user_id AS id FROM agent_status ORDER BY user_id", NULL, out);
}

int store_routing_queues(store_tx *tx, json_t **out)
{
    json_t *rows = NULL, *row, *q;
    size_t i;
    int rc = store__q(tx, "SELECT id FROM queues ORDER BY id", NULL, &rows);
    if (rc)
        return rc;
    *out = json_array();
    json_array_foreach (rows, i, row) {
        q = NULL;
        rc = store_queue_get(tx, store__int(row, "id"), &q);
        if (rc)
            break;
        json_array_append_new(*out, q);
    }
    json_decref(rows);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int store_routing_pending_offers(store_tx *tx, json_t **out)
{
    return store__q(tx,
                    "SELECT id, interaction_id, agent_id, offered_at, expires_at FROM offers "
                    "WHERE outcome IS NULL ORDER BY id",
                    NULL, out);
}

int store_offer_create(store_tx *tx, int64_t interaction, int64_t agent, int64_t expires_at,
                       json_t **out)
{
    json_t *it = NULL;
    const char *status;
    int rc = store_routing_interaction(tx, interaction, &it);
    if (rc)
        return rc;
    status = store__str(it, "status");
    if (!json_is_null(json_object_get(it, "assignee_id")) || !status ||
        (strcmp(status, "new") != 0 && strcmp(status, "open") != 0)) {
        json_decref(it);
        return CD_ESTATE; /* assigned or closed since the router read it */
    }
    rc = store__q1(tx,
                   "INSERT INTO offers (client_id, interaction_id, agent_id, offered_at, "
                   "expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id, client_id, "
                   "interaction_id, agent_id, offered_at, expires_at",
                   json_pack("[IIIII]", (json_int_t)store__int(it, "client_id"),
                             (json_int_t)interaction, (json_int_t)agent, (json_int_t)tx->now,
                             (json_int_t)expires_at),
                   out);
    json_decref(it);
    return rc;
}

int store_offers_expire(store_tx *tx, json_t **expired)
{
    return store__q(tx,
                    "UPDATE offers SET outcome = 'expired', decided_at = $1 "
                    "WHERE outcome IS NULL AND expires_at <= $1 "
                    "RETURNING id, interaction_id, agent_id",
                    json_pack("[I]", (json_int_t)tx->now), expired);
}

int store_offer_expire_one(store_tx *tx, int64_t interaction, int64_t agent)
{
    json_t *rows = NULL;
    int rc = store__q(
        tx,
        "UPDATE offers SET outcome = 'expired', decided_at = $1 WHERE "
        "interaction_id = $2 AND agent_id = $3 AND outcome IS NULL RETURNING id",
        json_pack("[III]", (json_int_t)tx->now, (json_int_t)interaction, (json_int_t)agent), &rows);
    if (!rc && json_array_size(rows) == 0)
        rc = CD_ESTATE; /* decided otherwise meanwhile (accepted) */
    json_decref(rows);
    return rc;
}

int store_offers_cancel(store_tx *tx, int64_t interaction)
{
    return store__q(tx,
                    "UPDATE offers SET outcome = 'cancelled', decided_at = $1 "
                    "WHERE interaction_id = $2 AND outcome IS NULL",
                    json_pack("[II]", (json_int_t)tx->now, (json_int_t)interaction), NULL);
}

int store_agent_state_system(store_tx *tx, int64_t agent, const char *state, const char *reason,
                             int64_t wrapup_until)
{
    int rc = store__q(tx,
                      "INSERT INTO agent_status (user_id, state, reason, since, wrapup_until) "
                      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET "
                      "state = $2, reason = $3, since = $4, wrapup_until = $5",
                      json_pack("[IssIo]", (json_int_t)agent, state, reason ? reason : "",
                                (json_int_t)tx->now,
                                wrapup_until ? json_integer(wrapup_until) : json_null()),
                      NULL);
    if (!rc)
        rc = store__audit(tx, "state", "agent", agent, 0, NULL);
    return rc;
}

int store_interaction_requeue(store_tx *tx, int64_t interaction, const char *queue)
{
    return store__q(tx, "UPDATE interactions SET queue = $1, updated_at = $2 WHERE id = $3",
                    json_pack("[sII]", queue, (json_int_t)tx->now, (json_int_t)interaction), NULL);
}

/* --- the agent's side ------------------------------------------------- */

#define OFFER_VIEW                                                                                 \
    "SELECT o.id, o.client_id, o.interaction_id, o.agent_id, o.offered_at, o.expires_at, "         \
    "o.outcome, o.decided_at, o.finished_at, i.channel, i.subject, i.priority, i.queue "           \
    "FROM offers o JOIN interactions i ON i.id = o.interaction_id "

int store_offer_list_mine(store_tx *tx, json_t **out)
{
    json_t *rows = NULL;
    int rc = store__q(tx, OFFER_VIEW "WHERE o.agent_id = $1 AND o.outcome IS NULL ORDER BY o.id",
                      json_pack("[I]", (json_int_t)tx->ctx.user_id), &rows);
    if (rc)
        return rc;
    /* An offer of a client the agent was just taken off is withdrawn by the
     * router; until then it is not the agent's to see. */
    for (size_t i = json_array_size(rows); i-- > 0;)
        if (!store__allows(tx, store__int(json_array_get(rows, i), "client_id")))
            json_array_remove(rows, i);
    *out = json_pack("{s:o, s:n}", "items", rows, "next_cursor");
    return *out ? 0 : CD_ENOMEM;
}

int store_offer_get_mine(store_tx *tx, int64_t offer, json_t **out)
{
    json_t *row = NULL;
    int rc = store__q1(tx, OFFER_VIEW "WHERE o.id = $1 AND o.agent_id = $2",
                       json_pack("[II]", (json_int_t)offer, (json_int_t)tx->ctx.user_id), &row);
    if (rc)
        return rc;
    if (!store__allows(tx, store__int(row, "client_id"))) {
        json_decref(row);
        return CD_ENOTFOUND;
    }
    *out = row;
    return 0;
}

/* Decides a pending, unexpired offer of the caller's: accepted or rejected. */
static int offer_decide(store_tx *tx, int64_t offer, const char *outcome, json_t **row)
{
    json_t *changed = NULL;
    int rc = store_offer_get_mine(tx, offer, row);
    if (rc)
        return rc;
    rc = store__q(tx,
                  "UPDATE offers SET outcome = $1, decided_at = $2 WHERE id = $3 AND "
                  "outcome IS NULL AND expires_at > $2 RETURNING id",
                  json_pack("[sII]", outcome, (json_int_t)tx->now, (json_int_t)offer), &changed);
    if (!rc && json_array_size(changed) == 0)
        rc = store__fail(tx, CD_ESTATE, "", "the offer is no longer open (%s)",
                         store__str(*row, "outcome") ? store__str(*row, "outcome") : "expired");
    json_decref(changed);
    if (rc) {
        json_decref(*row);
        *row = NULL;
    }
    return rc;
}

int store_offer_accept(store_tx *tx, int64_t offer, json_t **out)
{
    json_t *row = NULL, *it = NULL, *patch;
    int rc = offer_decide(tx, offer, "accepted", &row);
    if (rc)
        return rc;
    int64_t interaction = store__int(row, "interaction_id");
    rc = store_interaction_get(tx, interaction, &it);
    if (!rc) {
        patch = json_pack("{s:I}", "assignee_id", (json_int_t)tx->ctx.user_id);
        if (strcmp(store__str(it, "status"), "new") == 0)
            json_object_set_new(patch, "status", json_string("open"));
        json_decref(it);
        it = NULL;
        rc = store_interaction_update(tx, interaction, patch, &it);
        json_decref(patch);
    }
    if (!rc)
        rc = store__routing_emit(tx, "accept", store__int(row, "client_id"), interaction,
                                 tx->ctx.user_id, NULL);
    json_decref(it);
    json_decref(row);
    return rc ? rc : store_offer_get_mine(tx, offer, out);
}

int store_offer_reject(store_tx *tx, int64_t offer, json_t **out)
{
    json_t *row = NULL;
    int rc = offer_decide(tx, offer, "rejected", &row);
    if (!rc)
        rc = store__audit(tx, "reject", "offer", offer, store__int(row, "client_id"), NULL);
    if (!rc)
        rc = store__routing_emit(tx, "reject", store__int(row, "client_id"),
                                 store__int(row, "interaction_id"), tx->ctx.user_id, NULL);
    json_decref(row);
    return rc ? rc : store_offer_get_mine(tx, offer, out);
}

int store_work_finish(store_tx *tx, int64_t interaction, int32_t wrapup_s, json_t **out)
{
    json_t *it = NULL, *done = NULL;
    char detail[24];
    int rc = store_interaction_get(tx, interaction, &it);
    if (rc)
        return rc;
    int64_t client = store__int(it, "client_id");
    json_decref(it);
    rc = store__q(tx,
                  "UPDATE offers SET finished_at = $1 WHERE interaction_id = $2 AND agent_id = $3 "
                  "AND outcome = 'accepted' AND finished_at IS NULL RETURNING id",
                  json_pack("[III]", (json_int_t)tx->now, (json_int_t)interaction,
                            (json_int_t)tx->ctx.user_id),
                  &done);
    if (!rc && json_array_size(done) == 0)
        rc = store__fail(tx, CD_ESTATE, "", "you are not working on this interaction");
    json_decref(done);
    snprintf(detail, sizeof detail, "%d", wrapup_s);
    if (!rc)
        rc = store__audit(tx, "finish", "interaction", interaction, client, NULL);
    if (!rc)
        rc = store__routing_emit(tx, "finish", client, interaction, tx->ctx.user_id, detail);
    return rc ? rc : store_interaction_get(tx, interaction, out);
}

/* --- the supervisor's view -------------------------------------------- */

/* Merges rows {queue, <field>} into the per-queue objects of by. */
static void merge_by_queue(json_t *by, json_t *rows, const char *field)
{
    json_t *row;
    size_t i;
    json_array_foreach (rows, i, row) {
        const char *q = store__str(row, "queue");
        json_t *entry = json_object_get(by, q);
        if (!entry) {
            entry = json_pack("{s:s, s:i, s:i, s:n, s:i, s:i}", "queue", q, "waiting", 0, "offered",
                              0, "oldest_at", "answered_today", 0, "in_time_today", 0);
            json_object_set_new(by, q, entry);
        }
        if (strcmp(field, "waiting") == 0) {
            json_object_set(entry, "waiting", json_object_get(row, "n"));
            json_object_set(entry, "oldest_at", json_object_get(row, "oldest"));
        } else if (strcmp(field, "answered") == 0) {
            json_object_set(entry, "answered_today", json_object_get(row, "n"));
            json_object_set(entry, "in_time_today", json_object_get(row, "in_time"));
        } else {
            json_object_set(entry, field, json_object_get(row, "n"));
        }
    }
}

/* Derived figures: longest wait and service level so far. */
static json_t *queue_figures(json_t *by, int64_t now)
{
    json_t *list = json_array(), *e;
    const char *k;
    json_object_foreach (by, k, e) {
        json_t *oldest = json_object_get(e, "oldest_at");
        int64_t answered = store__int(e, "answered_today");
        json_object_set_new(e, "longest_wait_s",
                            json_is_integer(oldest)
                                ? json_integer((now - json_integer_value(oldest)) / 1000)
                                : json_integer(0));
        json_object_set_new(
            e, "service_level",
            answered ? json_real((double)store__int(e, "in_time_today") / (double)answered)
                     : json_null());
        json_array_append(list, e);
    }
    return list;
}

/* Midnight today in the client's time zone (UTC if its zone is unknown). */
static int client_day_start(store_tx *tx, int64_t client, int64_t *start)
{
    json_t *row = NULL;
    const tz *z = NULL;
    int rc = store__q1(tx, "SELECT timezone FROM clients WHERE id = $1",
                       json_pack("[I]", (json_int_t)client), &row);
    if (rc)
        return rc;
    if (tz_get(store__str(row, "timezone"), &z) != 0)
        tz_get("UTC", &z);
    *start = z ? tz_day_start_ms(z, tx->now) : tx->now - tx->now % 86400000;
    json_decref(row);
    return 0;
}

int store_supervisor_view(store_tx *tx, int64_t client, int64_t sl_ms, json_t **out)
{
    json_t *waiting = NULL, *offered = NULL, *answered = NULL, *agents = NULL, *by;
    int64_t day_start_ms = 0;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = client_day_start(tx, client, &day_start_ms);
    if (!rc)
        rc = store__q(tx,
                      "SELECT queue, COUNT(*) AS n, MIN(created_at) AS oldest FROM interactions "
                      "WHERE client_id = $1 AND assignee_id IS NULL AND status IN ('new', 'open') "
                      "GROUP BY queue ORDER BY queue",
                      json_pack("[I]", (json_int_t)client), &waiting);
    if (!rc)
        rc = store__q(tx,
                      "SELECT i.queue, COUNT(*) AS n FROM offers o JOIN interactions i ON "
                      "i.id = o.interaction_id WHERE o.client_id = $1 AND o.outcome IS NULL "
                      "GROUP BY i.queue ORDER BY i.queue",
                      json_pack("[I]", (json_int_t)client), &offered);
    if (!rc)
        rc = store__q(
            tx,
            "SELECT i.queue, COUNT(*) AS n, SUM(CASE WHEN o.decided_at - i.created_at "
            "<= $3 THEN 1 ELSE 0 END) AS in_time FROM offers o JOIN interactions i ON "
            "i.id = o.interaction_id WHERE o.client_id = $1 AND o.outcome = 'accepted' "
            "AND o.decided_at >= $2 GROUP BY i.queue ORDER BY i.queue",
            json_pack("[III]", (json_int_t)client, (json_int_t)day_start_ms, (json_int_t)sl_ms),
            &answered);
    if (!rc)
        rc = store__q(tx,
                      "SELECT COALESCE(a.state, 'offline') AS state, COUNT(*) AS n "
                      "FROM memberships m JOIN users u ON u.id = m.user_id "
                      "LEFT JOIN agent_status a ON a.user_id = m.user_id "
                      "WHERE m.client_id = $1 AND u.active = 1 AND u.role IN ('agent', "
                      "'supervisor') GROUP BY COALESCE(a.state, 'offline') ORDER BY 1",
                      json_pack("[I]", (json_int_t)client), &agents);
    if (!rc) {
        json_t *states = json_pack("{s:i, s:i, s:i, s:i}", "available", 0, "away", 0, "wrapup", 0,
                                   "offline", 0),
               *row;
        size_t i;
        by = json_object();
        merge_by_queue(by, waiting, "waiting");
        merge_by_queue(by, offered, "offered");
        merge_by_queue(by, answered, "answered");
        json_array_foreach (agents, i, row)
            json_object_set(states, store__str(row, "state"), json_object_get(row, "n"));
        *out = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o}", "client_id", (json_int_t)client, "at",
                         (json_int_t)tx->now, "day_start", (json_int_t)day_start_ms,
                         "service_level_threshold_s", (json_int_t)(sl_ms / 1000), "queues",
                         queue_figures(by, tx->now), "agents", states);
        json_decref(by);
    }
    json_decref(waiting);
    json_decref(offered);
    json_decref(answered);
    json_decref(agents);
    return rc;
}
