/* store_customers.c - customers of a client and their identities on every
 * channel (email, phone, chat id, social handle), unique per client so one
 * customer is found again from any channel. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <ctype.h>
#include <string.h>

#define CUSTOMER_COLUMNS                                                                           \
    "id, client_id, name, tier, locale, timezone, created_at, updated_at, sensitive"

static const char *const identity_kinds[] = {"email", "phone", "chat", "social", NULL};
static const char *const tiers[] = {"standard", "premium", "enterprise", NULL};

static int one_of(const char *const *set, const char *v)
{
    for (; v && *set; set++)
        if (strcmp(*set, v) == 0)
            return 1;
    return 0;
}

/* Normalises an identity value so the same person matches however it was
 * typed: emails and handles lower-cased, phones reduced to + and digits.
 * Returns a new string or NULL if the value is not valid for its kind. */
static char *identity_normalize(const char *kind, const char *value)
{
    size_t n = strlen(value), digits = 0;
    char *out = cd_malloc(n + 1), *w = out;
    if (!out)
        return NULL;
    while (n && isspace((unsigned char)value[n - 1]))
        n--;
    while (n && isspace((unsigned char)*value))
        value++, n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (strcmp(kind, "phone") == 0) {
            if (isdigit(ch))
                *w++ = (char)ch, digits++;
            else if (ch == '+' && w == out)
                *w++ = '+';
        } else {
            *w++ = strcmp(kind, "chat") == 0 ? (char)ch : (char)tolower(ch);
        }
    }
    *w = '\0';
    if (w == out || (strcmp(kind, "phone") == 0 && (digits < 5 || digits > 15)) ||
        (strcmp(kind, "email") == 0 && !strchr(out, '@'))) {
        cd_free(out);
        return NULL;
    }
    return out;
}

static int customer_complete(store_tx *tx, json_t *row)
{
    json_t *ids = NULL;
    store__sensitive_shape(row);
    int rc =
        store__q(tx, "SELECT id, kind, value FROM identities WHERE customer_id = $1 ORDER BY id",
                 json_pack("[I]", json_integer_value(json_object_get(row, "id"))), &ids);
    if (!rc)
        json_object_set_new(row, "identities", ids);
    return rc;
}

/* Loads a customer the caller may see, without auditing. */
static int customer_load(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc = store__get_visible(tx, "SELECT " CUSTOMER_COLUMNS " FROM customers WHERE id = $1", id,
                                &row);
    if (rc)
        return rc;
    rc = customer_complete(tx, row);
    if (rc) {
        json_decref(row);
        return rc;
    }
    *out = row;
    return 0;
}

int store_customer_get(store_tx *tx, int64_t id, json_t **out)
{
    int rc = customer_load(tx, id, out);
    if (!rc)
        rc = store__audit(tx, "read", "customer", id, store__int(*out, "client_id"), NULL);
    if (rc && rc != CD_ENOTFOUND) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int identity_insert(store_tx *tx, int64_t client_id, int64_t customer_id, json_t *ident,
                           json_t **out)
{
    const char *kind = store__str(ident, "kind");
    char *value;
    int rc;
    if (!one_of(identity_kinds, kind))
        return store__fail(tx, CD_EINVAL, "identities",
                           "identity kind must be email, phone, "
                           "chat or social");
    value = identity_normalize(kind, store__str(ident, "value") ? store__str(ident, "value") : "");
    if (!value)
        return store__fail(tx, CD_EINVAL, "identities", "identity value is not a valid %s", kind);
    rc = store__q1(tx,
                   "INSERT INTO identities (client_id, customer_id, kind, value, created_at) "
                   "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id, kind, value",
                   json_pack("[IIssI]", (json_int_t)client_id, (json_int_t)customer_id, kind, value,
                             (json_int_t)tx->now),
                   out);
    cd_free(value);
    /* ON CONFLICT DO NOTHING keeps a PostgreSQL transaction usable. */
    if (rc == CD_ENOTFOUND || rc == CD_ECONFLICT)
        return store__fail(tx, CD_ECONFLICT, "identities", "this %s is already a customer's", kind);
    return rc;
}

/* A language tag such as "en", "pt-BR" or "zh_Hant_TW": a 2-8 letter
 * language, then up to 8 subtags of 1-8 letters or digits, and nothing
 * the redactor would mask (a card number in subtags). */
static int locale_ok(const char *s)
{
    char copy[128];
    if (snprintf(copy, sizeof copy, "%s", s) >= (int)sizeof copy ||
        redact_buf(copy, strlen(copy), REDACT_EMAIL | REDACT_PHONE, NULL))
        return 0;
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), parts = 0;
    if (n < 2 || n > 8)
        return 0;
    for (s += n; *s; s += n) {
        if ((*s != '-' && *s != '_') || ++parts > 8)
            return 0;
        n = strspn(++s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
        if (n < 1 || n > 8)
            return 0;
    }
    return 1;
}

static int check_customer_fields(store_tx *tx, json_t *in)
{
    const char *tier = store__str(in, "tier");
    json_t *v;
    if (json_object_get(in, "tier") && !one_of(tiers, tier))
        return store__fail(tx, CD_EINVAL, "tier", "tier must be standard, premium or enterprise");
    int rc = store__timezone_check(tx, in, 1);
    if (rc)
        return rc;
    if ((v = json_object_get(in, "locale")) && !json_is_null(v) &&
        !locale_ok(json_string_value(v) ? json_string_value(v) : ""))
        return store__fail(tx, CD_EINVAL, "locale", "locale must be a language tag such as pt-BR");
    return 0;
}

int store_customer_create(store_tx *tx, json_t *in, json_t **out)
{
    int64_t client = store__int(in, "client_id"), id;
    json_t *row = NULL, *ident, *tmp;
    size_t i;
    int rc;

    static const char *const text[] = {"name", NULL};
    rc = store__client_check(tx, client);
    if (!rc)
        rc = check_customer_fields(tx, in);
    if (!rc)
        rc = store__redact_fields(tx, client, in, text, NULL);
    if (rc)
        return rc;
    rc = store__q1(tx,
                   "INSERT INTO customers (client_id, name, tier, locale, timezone, created_at, "
                   "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                   json_pack("[Isss?s?I]", (json_int_t)client,
                             store__str(in, "name") ? store__str(in, "name") : "",
                             store__str(in, "tier") ? store__str(in, "tier") : "standard",
                             store__str(in, "locale"), store__str(in, "timezone"),
                             (json_int_t)tx->now),
                   &row);
    if (rc)
        return rc;
    id = store__int(row, "id");
    json_decref(row);
    json_array_foreach (json_object_get(in, "identities"), i, ident) {
        tmp = NULL;
        rc = identity_insert(tx, client, id, ident, &tmp);
        json_decref(tmp);
        if (rc)
            return rc;
    }
    rc = store__audit(tx, "create", "customer", id, client, NULL);
    if (!rc)
        rc = store__sensitive_write(tx, client, id, json_object_get(in, "sensitive"));
    return rc ? rc : customer_load(tx, id, out);
}

/* Finds the customer owning any of the identities, or 0. */
static int find_by_identities(store_tx *tx, int64_t client, json_t *identities, int64_t *found)
{
    json_t *ident, *row;
    size_t i;
    *found = 0;
    json_array_foreach (identities, i, ident) {
        const char *kind = store__str(ident, "kind");
        char *value;
        int rc;
        if (!one_of(identity_kinds, kind) || !store__str(ident, "value"))
            continue;
        value = identity_normalize(kind, store__str(ident, "value"));
        if (!value)
            continue;
        row = NULL;
        rc = store__q1(tx,
                       "SELECT customer_id FROM identities WHERE client_id = $1 AND kind = $2 "
                       "AND value = $3",
                       json_pack("[Iss]", (json_int_t)client, kind, value), &row);
        cd_free(value);
        if (rc == 0) {
            *found = store__int(row, "customer_id");
            json_decref(row);
            return 0;
        }
        if (rc != CD_ENOTFOUND)
            return rc;
    }
    return 0;
}

/* Finds the customer by any identity in in.identities, adding identities
 * it did not have yet, or creates one. Used when a contact arrives. */
int store__customer_resolve(store_tx *tx, int64_t client, json_t *in, int64_t *id)
{
    json_t *identities = json_object_get(in, "identities"), *ident, *tmp, *c = NULL;
    size_t i;
    int rc = find_by_identities(tx, client, identities, id);
    if (rc)
        return rc;
    if (!*id) {
        json_t *full = json_deep_copy(in);
        json_object_set_new(full, "client_id", json_integer(client));
        rc = store_customer_create(tx, full, &c);
        json_decref(full);
        if (!rc)
            *id = store__int(c, "id");
        json_decref(c);
        return rc;
    }
    json_array_foreach (identities, i, ident) {
        tmp = NULL;
        rc = identity_insert(tx, client, *id, ident, &tmp);
        json_decref(tmp);
        /* Already this customer's, or another's: keep the match we have. */
        if (rc == CD_ECONFLICT)
            continue;
        if (rc)
            return rc;
    }
    return 0;
}

int store_customer_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit, client = store__int(query, "client_id");
    const char *kind = store__str(query, "identity_kind"), *value = store__str(query, "identity");
    json_t *rows = NULL, *row;
    char *norm = NULL;
    size_t i;
    sqlb b;
    int rc = store__list_start(tx, query, "SELECT " CUSTOMER_COLUMNS " FROM customers c", "id", &b,
                               &limit);
    if (rc)
        return rc;
    if (client)
        store__sqlb_param(&b, " AND client_id = $?", json_integer(client));
    if (value) {
        if (!one_of(identity_kinds, kind) || !(norm = identity_normalize(kind, value))) {
            store__sqlb_cleanup(&b);
            return store__fail(tx, CD_EINVAL, "identity",
                               "identity needs a valid identity_kind "
                               "and value");
        }
        store__sqlb_param(&b,
                          " AND EXISTS (SELECT 1 FROM identities i WHERE i.customer_id = c.id "
                          "AND i.kind = $?",
                          json_string(kind));
        store__sqlb_param(&b, " AND i.value = $?)", json_string(norm));
        cd_free(norm);
    }
    rc = store__list_finish(tx, &b, "client_id", "id", limit, &rows);
    json_array_foreach (rows, i, row)
        if (!rc)
            rc = customer_complete(tx, row);
    if (!rc)
        rc = store__audit(tx, "list", "customer", 0, client,
                          kind ? json_object_get(query, "identity_kind") : NULL);
    if (rc) {
        json_decref(rows);
        return rc;
    }
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

int store_customer_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    json_t *cur = NULL, *v;
    int rc = customer_load(tx, id, &cur);
    int64_t client;
    sqlb b;
    if (rc)
        return rc;
    client = store__int(cur, "client_id");
    json_decref(cur);
    static const char *const free_text[] = {"name", NULL};
    rc = check_customer_fields(tx, patch);
    if (!rc)
        rc = store__redact_fields(tx, client, patch, free_text, NULL);
    if (rc)
        return rc;
    store__sqlb_init(&b, "UPDATE customers SET ");
    store__sqlb_param(&b, "updated_at = $?", json_integer(tx->now));
    static const char *const cols[] = {"name", "tier", "locale", "timezone"};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        char text[48];
        if (!(v = json_object_get(patch, cols[i])))
            continue;
        snprintf(text, sizeof text, ", %s = $?", cols[i]);
        store__sqlb_param(&b, text, json_incref(v));
    }
    store__sqlb_param(&b, " WHERE id = $?", json_integer(id));
    rc = store__sqlb_run(tx, &b, NULL);
    if (!rc)
        rc = store__audit(tx, "update", "customer", id, client, NULL);
    if (!rc)
        rc = store__sensitive_write(tx, client, id, json_object_get(patch, "sensitive"));
    return rc ? rc : customer_load(tx, id, out);
}

int store_identity_add(store_tx *tx, int64_t customer_id, json_t *in, json_t **out)
{
    json_t *cur = NULL;
    int rc = customer_load(tx, customer_id, &cur);
    int64_t client;
    if (rc)
        return rc;
    client = store__int(cur, "client_id");
    json_decref(cur);
    rc = identity_insert(tx, client, customer_id, in, out);
    if (!rc)
        rc = store__audit(tx, "identity_add", "customer", customer_id, client, NULL);
    return rc;
}

int store_customer_history(store_tx *tx, int64_t id, json_t **out)
{
    json_t *cust = NULL, *items = NULL;
    int rc = customer_load(tx, id, &cust);
    if (rc)
        return rc;
    rc = store__interactions_of(tx, id, &items);
    if (!rc)
        rc = store__audit(tx, "read_history", "customer", id, store__int(cust, "client_id"), NULL);
    if (rc) {
        json_decref(cust);
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o, s:o}", "customer", cust, "items", items);
    return *out ? 0 : CD_ENOMEM;
}
