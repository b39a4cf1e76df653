/* store_redact.c - free text goes through src/core/redact before it is
 * written: message bodies, subjects, custom field values, customer names,
 * workflow answers. What was masked is recorded as a "redacted" event with
 * the kinds and counts, never the values. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <string.h>

int store__client_settings(store_tx *tx, int64_t client, json_t **row)
{
    if (tx->settings && tx->settings_client == client) {
        *row = tx->settings;
        return 0;
    }
    json_t *r = NULL;
    int rc = store__q1(tx,
                       "SELECT redact_emails, redact_phones, sentiment_alert_below, "
                       "intent_threshold, triage_queue, intent_routes FROM clients WHERE id = $1",
                       json_pack("[I]", (json_int_t)client), &r);
    if (rc)
        return rc;
    store__parse_column(r, "intent_routes", "{}");
    json_decref(tx->settings);
    tx->settings = r;
    tx->settings_client = client;
    *row = r;
    return 0;
}

int store__redact_opts(store_tx *tx, int64_t client_id, unsigned *opts)
{
    json_t *row = NULL;
    int rc = store__client_settings(tx, client_id, &row);
    *opts = 0;
    if (rc)
        return rc;
    if (store__int(row, "redact_emails"))
        *opts |= REDACT_EMAIL;
    if (store__int(row, "redact_phones"))
        *opts |= REDACT_PHONE;
    return 0;
}

/* Masks one JSON string in place. */
static int redact_string(json_t *s, unsigned opts, redact_counts *counts)
{
    size_t n = json_string_length(s);
    char *copy;
    if (n == 0 || !(copy = cd_malloc(n + 1)))
        return n == 0 ? 0 : CD_ENOMEM;
    memcpy(copy, json_string_value(s), n + 1);
    int rc = 0;
    if (redact_buf(copy, n, opts, counts) && json_string_setn(s, copy, n) != 0)
        rc = CD_ENOMEM;
    cd_free(copy);
    return rc;
}

int store__redact_json(json_t *v, unsigned opts, redact_counts *counts)
{
    const char *k;
    json_t *x;
    size_t i;
    int rc = 0;
    if (json_is_string(v))
        return redact_string(v, opts, counts);
    if (json_is_object(v))
        json_object_foreach (v, k, x)
            if (!rc)
                rc = store__redact_json(x, opts, counts);
    if (json_is_array(v))
        json_array_foreach (v, i, x)
            if (!rc)
                rc = store__redact_json(x, opts, counts);
    return rc;
}

int store__redact_fields(store_tx *tx, int64_t client_id, json_t *obj, const char *const *keys,
                         redact_counts *counts)
{
    unsigned opts;
    int rc = store__redact_opts(tx, client_id, &opts);
    for (; !rc && *keys; keys++) {
        json_t *v = json_object_get(obj, *keys);
        if (v)
            rc = store__redact_json(v, opts, counts);
    }
    return rc;
}

json_t *store__redact_summary(const redact_counts *counts)
{
    json_t *kinds = NULL;
    for (int k = 0; k < REDACT_NKINDS; k++) {
        if (!counts->n[k])
            continue;
        if (!kinds)
            kinds = json_object();
        json_object_set_new(kinds, redact_kind_name(k), json_integer(counts->n[k]));
    }
    return kinds;
}

int store__redact_event(store_tx *tx, int64_t client_id, int64_t interaction_id, const char *what,
                        int64_t what_id, const redact_counts *counts)
{
    json_t *kinds = store__redact_summary(counts);
    if (!kinds)
        return 0;
    json_t *ev = json_pack("{s:s, s:I, s:o}", "in", what, "id", (json_int_t)what_id, "kinds", kinds);
    int rc = ev ? store__event(tx, client_id, interaction_id, "redacted", NULL, ev) : CD_ENOMEM;
    json_decref(ev);
    return rc;
}

int store_redact_text(store_tx *tx, int64_t client_id, int64_t interaction_id, const char *what,
                      int64_t what_id, json_t *v)
{
    redact_counts masked = {0};
    unsigned opts;
    int rc = store__redact_opts(tx, client_id, &opts);
    if (!rc)
        rc = store__redact_json(v, opts, &masked);
    if (!rc)
        rc = store__redact_event(tx, client_id, interaction_id, what, what_id, &masked);
    return rc;
}
