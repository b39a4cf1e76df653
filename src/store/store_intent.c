/* store_intent.c - routing by learned intent, the store's side. A new
 * interaction's text is classified (by the classifier the server gives the
 * store); a confident prediction sets its category and, through the
 * client's category -> queue map, its queue; an unsure one sends it to the
 * client's triage queue. Every prediction is kept, and marked right or
 * wrong once the interaction is resolved with its final category. Resolved
 * interactions are appended to a numbered log the models learn from. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TEXT_MAX 4096 /* bytes of an interaction's text given to the classifier */

void store_set_classifier(store *s, const store_classifier *c)
{
    s->classifier = c;
}

/* The subject and the first customer message: what a classifier reads.
 * first: that message's body when the caller knows it, else NULL. */
static int interaction_text(store_tx *tx, int64_t id, json_t *row, const char *first, char *out,
                            size_t cap)
{
    json_t *m = NULL;
    if (!first) {
        int rc = store__q(tx,
                          "SELECT body FROM messages WHERE interaction_id = $1 AND direction = "
                          "'inbound' ORDER BY id LIMIT 1",
                          json_pack("[I]", (json_int_t)id), &m);
        if (rc)
            return rc;
        first = json_string_value(json_object_get(json_array_get(m, 0), "body")) ?: "";
    }
    snprintf(out, cap, "%s\n%s", store__str(row, "subject") ? store__str(row, "subject") : "",
             first);
    json_decref(m);
    return 0;
}

int store__intent_route(store_tx *tx, int64_t client, int64_t id, json_t *in, json_t *row,
                        const char *first)
{
    const store_classifier *c = tx->s->classifier;
    char text[TEXT_MAX], category[INTENT_CATEGORY_CAP];
    double confidence = 0;
    json_t *cfg = NULL;
    if (!c || (c->ready && !c->ready(c->ctx, client)))
        return 0;
    int rc = interaction_text(tx, id, row, first, text, sizeof text);
    if (rc)
        return rc;
    if (c->predict(c->ctx, client, text, category, sizeof category, &confidence) != 0)
        return 0; /* no model for this client yet */
    rc = store__client_settings(tx, client, &cfg);
    if (rc)
        return rc;
    json_incref(cfg);
    int sure = confidence >= json_number_value(json_object_get(cfg, "intent_threshold"));
    int set_category = sure && !json_object_get(in, "category");
    const char *queue = NULL;
    if (!json_object_get(in, "queue"))
        queue = sure ? json_string_value(
                           json_object_get(json_object_get(cfg, "intent_routes"), category))
                     : store__str(cfg, "triage_queue");
    if (set_category || queue)
        rc = store__exec(tx,
                         "UPDATE interactions SET category = CASE WHEN $1 = 1 THEN $2 ELSE "
                         "category END, queue = COALESCE($3, queue) WHERE id = $4",
                         json_pack("[isoI]", set_category, category,
                                   queue ? json_string(queue) : json_null(), (json_int_t)id),
                         NULL);
    confidence = round(confidence * 1000) / 1000;
    if (!rc)
        rc = store__exec(tx,
                         "INSERT INTO intent_predictions (interaction_id, client_id, category, "
                         "confidence, applied, at) VALUES ($1, $2, $3, $4, $5, $6)",
                         json_pack("[IIsfiI]", (json_int_t)id, (json_int_t)client, category,
                                   confidence, set_category, (json_int_t)tx->now),
                         NULL);
    if (!rc) {
        json_t *ev = json_pack("{s:s, s:f, s:b, s:s?}", "category", category, "confidence",
                               confidence, "applied", set_category, "queue", queue);
        rc = store__event(tx, client, id, "intent", NULL, ev);
        json_decref(ev);
    }
    if (!rc && set_category)
        json_object_set_new(row, "category", json_string(category));
    if (!rc && queue)
        json_object_set_new(row, "queue", json_string(queue));
    json_decref(cfg);
    return rc;
}

int store__intent_resolved(store_tx *tx, int64_t client, int64_t id, json_t *row)
{
    const char *category = store__str(row, "category");
    char text[TEXT_MAX];
    json_t *head = NULL;
    if (!category || !*category)
        return 0;
    tx->effects |= STORE_FX_INTENT;
    int rc = interaction_text(tx, id, row, NULL, text, sizeof text);
    if (!rc)
        rc = store__q1(tx, "UPDATE intent_head SET seq = seq + 1 WHERE id = 1 RETURNING seq", NULL,
                       &head);
    if (!rc)
        rc = store__exec(tx,
                         "INSERT INTO intent_examples (seq, client_id, interaction_id, category, "
                         "text, at) VALUES ($1, $2, $3, $4, $5, $6)",
                         json_pack("[IIIssI]", (json_int_t)store__int(head, "seq"),
                                   (json_int_t)client, (json_int_t)id, category, text,
                                   (json_int_t)tx->now),
                         NULL);
    json_decref(head);
    if (!rc)
        rc = store__exec(tx,
                         "UPDATE intent_predictions SET final_category = $1, correct = CASE WHEN "
                         "category = $1 THEN 1 ELSE 0 END WHERE interaction_id = $2",
                         json_pack("[sI]", category, (json_int_t)id), NULL);
    return rc;
}

int store_intent_examples(store_tx *tx, int64_t after, int limit, int64_t *head, json_t **out)
{
    json_t *row = NULL;
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    int rc = store__q1(tx, "SELECT seq FROM intent_head WHERE id = 1", NULL, &row);
    if (rc)
        return rc;
    *head = store__int(row, "seq");
    json_decref(row);
    return store__q(tx,
                    "SELECT seq, client_id, interaction_id, category, text FROM intent_examples "
                    "WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                    json_pack("[IIi]", (json_int_t)after, (json_int_t)*head, limit), out);
}

int store_intent_stats(store_tx *tx, int64_t client, json_t **out)
{
    json_t *row = NULL, *cfg = NULL;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = store__q1(tx,
                       "SELECT COUNT(*) AS predictions, COALESCE(SUM(applied), 0) AS applied, "
                       "COUNT(final_category) AS resolved, COALESCE(SUM(correct), 0) AS correct, "
                       "COALESCE(SUM(CASE WHEN applied = 1 THEN correct ELSE 0 END), 0) AS "
                       "applied_correct, COALESCE(SUM(CASE WHEN applied = 1 AND final_category "
                       "IS NOT NULL THEN 1 ELSE 0 END), 0) AS applied_resolved "
                       "FROM intent_predictions WHERE client_id = $1",
                       json_pack("[I]", (json_int_t)client), &row);
    if (!rc)
        rc = store__q1(tx,
                       "SELECT intent_threshold, triage_queue, intent_routes FROM clients "
                       "WHERE id = $1",
                       json_pack("[I]", (json_int_t)client), &cfg);
    if (rc) {
        json_decref(row);
        return rc;
    }
    store__parse_column(cfg, "intent_routes", "{}");
    int64_t resolved = store__int(row, "resolved"), ar = store__int(row, "applied_resolved");
    json_object_set_new(row, "accuracy",
                        resolved ? json_real((double)store__int(row, "correct") / (double)resolved)
                                 : json_null());
    json_object_set_new(row, "applied_accuracy",
                        ar ? json_real((double)store__int(row, "applied_correct") / (double)ar)
                           : json_null());
    *out = json_pack("{s:I, s:O, s:O, s:O, s:o}", "client_id", (json_int_t)client, "threshold",
                     json_object_get(cfg, "intent_threshold"), "triage_queue",
                     json_object_get(cfg, "triage_queue"), "routes",
                     json_object_get(cfg, "intent_routes"), "predictions", row);
    json_decref(cfg);
    return *out ? 0 : CD_ENOMEM;
}
