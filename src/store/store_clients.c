/* store_clients.c - client companies (the tenants) and their brand. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/tz.h"

#include <stdlib.h>
#include <string.h>

#define CLIENT_COLUMNS                                                                             \
    "id, slug, name, brand_display_name, brand_from_address, brand_signature, "                    \
    "brand_tone_notes, timezone, created_at, updated_at, redact_emails, redact_phones, "           \
    "sensitive_fields, sentiment_alert_below, intent_threshold, triage_queue, intent_routes, "     \
    "calendar"

/* Folds the brand_* columns into a nested "brand" object. */
static json_t *client_shape(json_t *row)
{
    json_t *brand = json_object();
    static const char *const parts[] = {"display_name", "from_address", "signature", "tone_notes"};
    char col[40];
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        snprintf(col, sizeof col, "brand_%s", parts[i]);
        json_object_set(brand, parts[i], json_object_get(row, col));
        json_object_del(row, col);
    }
    json_object_set_new(row, "brand", brand);
    store__parse_column(row, "sensitive_fields", "[]");
    json_t *privacy =
        json_pack("{s:b, s:b, s:O, s:O}", "redact_emails", store__int(row, "redact_emails") != 0,
                  "redact_phones", store__int(row, "redact_phones") != 0, "sensitive_fields",
                  json_object_get(row, "sensitive_fields"), "sentiment_alert_below",
                  json_object_get(row, "sentiment_alert_below"));
    static const char *const cols[] = {"redact_emails", "redact_phones", "sensitive_fields",
                                       "sentiment_alert_below"};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        json_object_del(row, cols[i]);
    json_object_set_new(row, "privacy", privacy);
    store__parse_column(row, "intent_routes", "{}");
    json_object_set_new(row, "intent",
                        json_pack("{s:O, s:O, s:O}", "threshold",
                                  json_object_get(row, "intent_threshold"), "triage_queue",
                                  json_object_get(row, "triage_queue"), "routes",
                                  json_object_get(row, "intent_routes")));
    json_object_del(row, "intent_threshold");
    json_object_del(row, "triage_queue");
    json_object_del(row, "intent_routes");
    store__parse_column(row, "calendar", "\"24/7\"");
    return row;
}

int store__timezone_check(store_tx *tx, json_t *in, int null_ok)
{
    const tz *z = NULL;
    json_t *v = json_object_get(in, "timezone");
    if (v && !(null_ok && json_is_null(v)) && tz_get(json_string_value(v), &z) != 0)
        return store__fail(tx, CD_EINVAL, "timezone",
                           "timezone must be an IANA time zone such as Europe/Berlin");
    return 0;
}

/* Field names a client may mark sensitive: 1-40 of a-z, 0-9, '_'. */
static int check_privacy(store_tx *tx, json_t *privacy)
{
    json_t *names = json_object_get(privacy, "sensitive_fields"), *n;
    size_t i;
    json_array_foreach (names, i, n) {
        const char *v = json_string_value(n);
        size_t len = strlen(v);
        if (len > 40)
            return store__fail(tx, CD_EINVAL, "privacy.sensitive_fields",
                               "field names are at most 40 characters");
        for (; *v; v++)
            if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || *v == '_'))
                return store__fail(tx, CD_EINVAL, "privacy.sensitive_fields",
                                   "field names are made of a-z, 0-9 and '_'");
    }
    return 0;
}

/* Adds a calendar to an UPDATE being built. */
static void calendar_column(sqlb *b, json_t *cal)
{
    if (!cal)
        return;
    char *text = json_dumps(cal, JSON_COMPACT | JSON_ENCODE_ANY);
    store__sqlb_param(b, ", calendar = $?", json_string(text ? text : "\"24/7\""));
    free(text);
}

/* Adds the intent settings in `intent` to an UPDATE being built. */
static void intent_columns(sqlb *b, json_t *intent)
{
    json_t *v;
    if ((v = json_object_get(intent, "threshold")))
        store__sqlb_param(b, ", intent_threshold = $?", json_real(json_number_value(v)));
    if ((v = json_object_get(intent, "triage_queue")))
        store__sqlb_param(b, ", triage_queue = $?", json_incref(v));
    if ((v = json_object_get(intent, "routes"))) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        store__sqlb_param(b, ", intent_routes = $?", json_string(text ? text : "{}"));
        free(text);
    }
}

/* Routes name queues: strings. */
static int check_intent(store_tx *tx, json_t *intent)
{
    const char *k;
    json_t *v;
    json_object_foreach (json_object_get(intent, "routes"), k, v)
        if (!json_is_string(v) || !json_string_length(v))
            return store__fail(tx, CD_EINVAL, "intent.routes",
                               "routes map a category to a queue name");
    return 0;
}

/* Adds the privacy settings in `privacy` to an UPDATE being built. */
static void privacy_columns(sqlb *b, json_t *privacy)
{
    json_t *v;
    if ((v = json_object_get(privacy, "redact_emails")))
        store__sqlb_param(b, ", redact_emails = $?", json_integer(json_is_true(v)));
    if ((v = json_object_get(privacy, "redact_phones")))
        store__sqlb_param(b, ", redact_phones = $?", json_integer(json_is_true(v)));
    if ((v = json_object_get(privacy, "sensitive_fields"))) {
        json_t *u = json_array(), *x;
        size_t i, j;
        json_array_foreach (v, i, x) { /* without duplicates */
            int dup = 0;
            for (j = 0; j < json_array_size(u); j++)
                dup |= json_equal(json_array_get(u, j), x);
            if (!dup)
                json_array_append(u, x);
        }
        char *text = json_dumps(u, JSON_COMPACT);
        json_decref(u);
        store__sqlb_param(b, ", sensitive_fields = $?", json_string(text ? text : "[]"));
        free(text);
    }
    if ((v = json_object_get(privacy, "sentiment_alert_below")))
        store__sqlb_param(b, ", sentiment_alert_below = $?", json_real(json_number_value(v)));
}

static int slug_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 40)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static const char *brand_str(json_t *in, const char *key, const char *fallback)
{
    const char *v = store__str(json_object_get(in, "brand"), key);
    return v ? v : fallback;
}

int store_client_create(store_tx *tx, json_t *in, json_t **out)
{
    const char *slug = store__str(in, "slug"), *name = store__str(in, "name");
    json_t *row = NULL;
    int rc;

    if (!tx->ctx.all_clients)
        return store__fail(tx, CD_EFORBIDDEN, "", "only administrators add clients");
    if (!slug || !slug_valid(slug))
        return store__fail(tx, CD_EINVAL, "slug",
                           "slug must be 2-40 characters of a-z, 0-9 and '-'");
    if (!name || !*name)
        return store__fail(tx, CD_EINVAL, "name", "name is required");
    if ((rc = check_privacy(tx, json_object_get(in, "privacy"))) ||
        (rc = store__timezone_check(tx, in, 0)) ||
        (rc = check_intent(tx, json_object_get(in, "intent"))) ||
        (rc = store__calendar_check(tx, json_object_get(in, "calendar"))))
        return rc;
    rc = store__q1(tx,
                   "INSERT INTO clients (slug, name, brand_display_name, brand_from_address, "
                   "brand_signature, brand_tone_notes, timezone, created_at, updated_at) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING " CLIENT_COLUMNS,
                   json_pack("[sssssssI]", slug, name, brand_str(in, "display_name", name),
                             brand_str(in, "from_address", ""), brand_str(in, "signature", ""),
                             brand_str(in, "tone_notes", ""),
                             store__str(in, "timezone") ? store__str(in, "timezone") : "UTC",
                             (json_int_t)tx->now),
                   &row);
    if (rc == CD_ECONFLICT)
        return store__fail(tx, rc, "slug", "a client with this slug exists");
    if (rc)
        return rc;
    int64_t id = store__int(row, "id");
    json_decref(row);
    rc = store__audit(tx, "create", "client", id, id, NULL);
    if (!rc && (json_object_get(in, "privacy") || json_object_get(in, "intent") ||
                json_object_get(in, "calendar"))) {
        sqlb b;
        store__sqlb_init(&b, "UPDATE clients SET ");
        store__sqlb_param(&b, "updated_at = $?", json_integer(tx->now));
        privacy_columns(&b, json_object_get(in, "privacy"));
        intent_columns(&b, json_object_get(in, "intent"));
        calendar_column(&b, json_object_get(in, "calendar"));
        store__sqlb_param(&b, " WHERE id = $?", json_integer(id));
        rc = store__sqlb_run(tx, &b, NULL);
    }
    return rc ? rc : store_client_get(tx, id, out);
}

int store_client_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc;
    if (!store__allows(tx, id))
        return CD_ENOTFOUND;
    rc = store__q1(tx, "SELECT " CLIENT_COLUMNS " FROM clients WHERE id = $1",
                   json_pack("[I]", (json_int_t)id), &row);
    if (rc)
        return rc;
    *out = client_shape(row);
    return 0;
}

int store_client_by_slug(store_tx *tx, const char *slug, int64_t *id)
{
    json_t *row = NULL;
    int rc = store__q1(tx, "SELECT id FROM clients WHERE slug = $1", json_pack("[s]", slug), &row);
    if (rc)
        return rc;
    *id = store__int(row, "id");
    json_decref(row);
    return store__allows(tx, *id) ? 0 : CD_ENOTFOUND;
}

int store_client_list(store_tx *tx, json_t **out)
{
    json_t *rows = NULL, *row;
    size_t i;
    sqlb b;
    int rc;
    store__sqlb_init(&b, "SELECT " CLIENT_COLUMNS " FROM clients WHERE 1 = 1");
    store__sqlb_tenant(&b, tx, "id");
    store__sqlb_add(&b, " ORDER BY id");
    rc = store__sqlb_run(tx, &b, &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row)
        client_shape(row);
    *out = json_pack("{s:o, s:n}", "items", rows, "next_cursor");
    return *out ? 0 : CD_ENOMEM;
}

static void patch_column(sqlb *b, json_t *obj, const char *key, const char *column)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return;
    char text[96];
    snprintf(text, sizeof text, ", %s = $?", column);
    store__sqlb_param(b, text, json_incref(v));
}

int store_client_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    json_t *before = NULL, *brand = json_object_get(patch, "brand");
    const char *name = store__str(patch, "name");
    int rc;
    sqlb b;

    rc = store_client_get(tx, id, &before);
    if (rc)
        return rc;
    json_decref(before);
    if (json_object_get(patch, "slug"))
        return store__fail(tx, CD_EINVAL, "slug", "a client's slug cannot change");
    if (json_object_get(patch, "name") && (!name || !*name))
        return store__fail(tx, CD_EINVAL, "name", "name may not be empty");
    if ((rc = check_privacy(tx, json_object_get(patch, "privacy"))) ||
        (rc = store__timezone_check(tx, patch, 0)) ||
        (rc = check_intent(tx, json_object_get(patch, "intent"))) ||
        (rc = store__calendar_check(tx, json_object_get(patch, "calendar"))))
        return rc;
    tx->settings_client = 0; /* the settings read so far no longer hold */
    store__sqlb_init(&b, "UPDATE clients SET ");
    store__sqlb_param(&b, "updated_at = $?", json_integer(tx->now));
    privacy_columns(&b, json_object_get(patch, "privacy"));
    intent_columns(&b, json_object_get(patch, "intent"));
    calendar_column(&b, json_object_get(patch, "calendar"));
    patch_column(&b, patch, "name", "name");
    patch_column(&b, patch, "timezone", "timezone");
    patch_column(&b, brand, "display_name", "brand_display_name");
    patch_column(&b, brand, "from_address", "brand_from_address");
    patch_column(&b, brand, "signature", "brand_signature");
    patch_column(&b, brand, "tone_notes", "brand_tone_notes");
    store__sqlb_param(&b, " WHERE id = $?", json_integer(id));
    rc = store__sqlb_run(tx, &b, NULL);
    if (!rc)
        rc = store__audit(tx, "update", "client", id, id, NULL);
    if (!rc)
        rc = store_client_get(tx, id, out);
    return rc;
}
