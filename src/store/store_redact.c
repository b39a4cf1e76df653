/* store_redact.c - free text goes through src/core/redact before it is
 * written: message bodies, subjects, custom field values, customer names,
 * workflow answers. Inside JSON values (custom fields, tags) keys and
 * numbers are masked too: a number that masks becomes a string. What was
 * masked is recorded as a "redacted" event with the kinds and counts, never
 * the values. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

/* A number written out masked (a new string), or NULL when it masks to
 * itself; *rc is CD_ENOMEM on failure. A card number sent as a JSON number
 * is still a card number. A number with a decimal point or exponent of 13
 * to 19 whole digits may have been one before it lost digits to floating
 * point (a double holds 15-16): all but its last four digits are masked. */
static json_t *masked_number(const json_t *v, unsigned opts, redact_counts *counts, int *rc)
{
    char buf[64];
    int n;
    double d = fabs(json_real_value(v)); /* 0 for an integer */
    if (json_is_integer(v))
        n = snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        n = snprintf(buf, sizeof buf, "%.0f", json_real_value(v));
    else
        return NULL;
    if (n <= 4 || (size_t)n >= sizeof buf)
        return NULL;
    if (d >= 1e12 && d < 1e19) { /* whole digits may be lost: mask all but the last four */
        for (int i = 0; i < n - 4; i++)
            if (buf[i] >= '0' && buf[i] <= '9')
                buf[i] = '*';
        if (counts)
            counts->n[REDACT_CARD]++;
    } else if (d != floor(d) || !redact_buf(buf, (size_t)n, opts, counts)) {
        return NULL;
    }
    json_t *s = json_stringn(buf, (size_t)n);
    if (!s)
        *rc = CD_ENOMEM;
    return s;
}

/* Masks the members of an object: values, and keys (a renamed member keeps
 * its value; one that masks to an existing key replaces it). */
static int redact_object(json_t *v, unsigned opts, redact_counts *counts)
{
    const char *k;
    json_t *x, *renamed = NULL;
    void *tmp;
    int rc = 0;
    json_object_foreach_safe(v, tmp, k, x)
    {
        json_t *num = masked_number(x, opts, counts, &rc);
        if (num)
            rc = json_object_set_new(v, k, num) ? CD_ENOMEM : 0;
        else if (!rc)
            rc = store__redact_json(x, opts, counts);
        size_t n = strlen(k);
        char *key = rc ? NULL : cd_malloc(n + 1);
        if (!rc && !key)
            rc = CD_ENOMEM;
        if (rc)
            break;
        memcpy(key, k, n + 1);
        if (redact_buf(key, n, opts, counts)) {
            if (!renamed && !(renamed = json_object()))
                rc = CD_ENOMEM;
            else if (json_object_set(renamed, key, json_object_get(v, k)))
                rc = CD_ENOMEM;
            else
                json_object_del(v, k);
        }
        cd_free(key);
        if (rc)
            break;
    }
    if (!rc && renamed && json_object_update(v, renamed))
        rc = CD_ENOMEM;
    json_decref(renamed);
    return rc;
}

int store__redact_json(json_t *v, unsigned opts, redact_counts *counts)
{
    json_t *x;
    size_t i;
    int rc = 0;
    if (json_is_string(v))
        return redact_string(v, opts, counts);
    if (json_is_object(v))
        return redact_object(v, opts, counts);
    if (json_is_array(v))
        json_array_foreach (v, i, x) {
            json_t *num = masked_number(x, opts, counts, &rc);
            if (num)
                rc = json_array_set_new(v, i, num) ? CD_ENOMEM : 0;
            else if (!rc)
                rc = store__redact_json(x, opts, counts);
            if (rc)
                break;
        }
    return rc;
}

json_t *store__masked_string(const char *s, unsigned opts)
{
    json_t *v = json_string(s ? s : "");
    if (v && redact_string(v, opts, NULL)) {
        json_decref(v);
        v = NULL;
    }
    return v;
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
    json_t *ev =
        json_pack("{s:s, s:I, s:o}", "in", what, "id", (json_int_t)what_id, "kinds", kinds);
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
    json_t *num = rc ? NULL : masked_number(v, opts, NULL, &rc);
    if (num) { /* a bare number cannot be masked in place: refused */
        json_decref(num);
        return store__fail(tx, CD_EINVAL, "",
                           "a card number or other masked data is not accepted "
                           "as a number");
    }
    if (!rc)
        rc = store__redact_json(v, opts, &masked);
    if (!rc)
        rc = store__redact_event(tx, client_id, interaction_id, what, what_id, &masked);
    return rc;
}
