/* store_sensitive.c - customer fields a client marks sensitive (date of
 * birth, member or policy number, ...). They are sealed with the vault's
 * key before they are written (customers.sensitive holds only sealed
 * values), shown masked everywhere, and opened only by an explicit, audited
 * reveal. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASK "********"
#define SENSITIVE_MAX_BYTES 1024

void store_set_vault(store *s, const vault *v, const char *why)
{
    s->vault = v;
    snprintf(s->vault_why, sizeof s->vault_why, "%s",
             why ? why : "no key file is configured (--key-file)");
}

static void context_of(char *buf, size_t n, int64_t customer_id, const char *field)
{
    snprintf(buf, n, "customer:%lld:%s", (long long)customer_id, field);
}

void store__sensitive_shape(json_t *row)
{
    store__parse_column(row, "sensitive", "{}");
    json_t *m = json_object_get(row, "sensitive");
    const char *k;
    json_t *v;
    json_object_foreach (m, k, v)
        json_object_set_new(m, k, json_string(MASK));
}

static int no_vault(store_tx *tx, const char *field)
{
    return store__fail(tx, CD_ESTATE, field, "sensitive fields are unavailable: %s",
                       tx->s->vault_why);
}

int store__sensitive_write(store_tx *tx, int64_t client, int64_t customer_id, json_t *changes)
{
    json_t *row = NULL, *names, *cur = NULL, *v;
    const char *k;
    char ctx[128], *sealed, *text;
    int rc;
    if (!changes || json_object_size(changes) == 0)
        return 0;
    if (!tx->s->vault)
        return no_vault(tx, "sensitive");
    rc = store__q1(tx, "SELECT sensitive_fields FROM clients WHERE id = $1",
                   json_pack("[I]", (json_int_t)client), &row);
    if (rc)
        return rc;
    store__parse_column(row, "sensitive_fields", "[]");
    names = json_object_get(row, "sensitive_fields");
    json_object_foreach (changes, k, v) {
        int known = 0;
        size_t i;
        json_t *n;
        json_array_foreach (names, i, n)
            known |= strcmp(json_string_value(n), k) == 0;
        if (!known) {
            json_decref(row);
            return store__fail(tx, CD_EINVAL, "sensitive",
                               "%s is not a sensitive field of this client", k);
        }
        if (!json_is_null(v) && (!json_is_string(v) || json_string_length(v) == 0 ||
                                 json_string_length(v) > SENSITIVE_MAX_BYTES)) {
            json_decref(row);
            return store__fail(tx, CD_EINVAL, "sensitive",
                               "a sensitive value is a non-empty string of at most %d bytes, or "
                               "null to remove it",
                               SENSITIVE_MAX_BYTES);
        }
    }
    json_decref(row);
    rc = store__q1(tx, "SELECT sensitive FROM customers WHERE id = $1",
                   json_pack("[I]", (json_int_t)customer_id), &row);
    if (rc)
        return rc;
    store__parse_column(row, "sensitive", "{}");
    cur = json_object_get(row, "sensitive");
    json_object_foreach (changes, k, v) {
        if (json_is_null(v)) {
            json_object_del(cur, k);
            continue;
        }
        context_of(ctx, sizeof ctx, customer_id, k);
        rc = vault_seal(tx->s->vault, ctx, json_string_value(v), json_string_length(v), &sealed);
        if (rc)
            break;
        json_object_set_new(cur, k, json_string(sealed));
        cd_free(sealed);
    }
    text = rc ? NULL : json_dumps(cur, JSON_COMPACT | JSON_SORT_KEYS);
    if (!rc)
        rc = text ? store__exec(tx, "UPDATE customers SET sensitive = $1 WHERE id = $2",
                                json_pack("[sI]", text, (json_int_t)customer_id), NULL)
                  : CD_ENOMEM;
    free(text);
    if (!rc) {
        json_t *fields = json_array();
        json_object_foreach (changes, k, v)
            json_array_append_new(fields, json_string(k));
        json_t *detail = json_pack("{s:o}", "sensitive_fields", fields);
        rc = store__audit(tx, "write_sensitive", "customer", customer_id, client, detail);
        json_decref(detail);
    }
    json_decref(row);
    return rc;
}

/* Opens one sealed value, failing with a message that says what is wrong. */
static int unseal(store_tx *tx, const vault *v, int64_t customer_id, const char *field,
                  const char *sealed, char **clear)
{
    char ctx[128], id[VAULT_ID_LEN + 1] = "";
    context_of(ctx, sizeof ctx, customer_id, field);
    int rc = vault_unseal(v, ctx, sealed, clear);
    if (rc == CD_ENOTFOUND) {
        vault_key_of(sealed, id);
        return store__fail(tx, CD_ESTATE, field,
                           "%s was sealed with key %s, which is not in the key file", field, id);
    }
    if (rc == CD_EINVAL)
        return store__fail(tx, CD_ESTATE, field,
                           "%s does not open with its key: the stored value was altered", field);
    return rc;
}

int store_customer_reveal(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL, *m, *v, *clear, *fields;
    const char *k;
    char *text;
    int rc = store__get_visible(tx, "SELECT id, client_id, sensitive FROM customers WHERE id = $1",
                                id, &row);
    if (rc)
        return rc;
    store__parse_column(row, "sensitive", "{}");
    m = json_object_get(row, "sensitive");
    if (json_object_size(m) && !tx->s->vault) {
        json_decref(row);
        return no_vault(tx, "");
    }
    clear = json_object();
    fields = json_array();
    json_object_foreach (m, k, v) {
        rc = unseal(tx, tx->s->vault, id, k, json_string_value(v), &text);
        if (rc)
            break;
        json_object_set_new(clear, k, json_string(text));
        json_array_append_new(fields, json_string(k));
        sodium_memzero(text, strlen(text));
        cd_free(text);
    }
    if (!rc) {
        json_t *detail = json_pack("{s:O}", "fields", fields);
        rc = store__audit(tx, "reveal", "customer", id, store__int(row, "client_id"), detail);
        json_decref(detail);
    }
    json_decref(fields);
    json_decref(row);
    if (rc) {
        json_decref(clear);
        return rc;
    }
    *out = json_pack("{s:I, s:o}", "customer_id", (json_int_t)id, "sensitive", clear);
    return *out ? 0 : CD_ENOMEM;
}

int store_vault_reseal(store *s, const vault *v, int64_t now_ms, int64_t *count, char *err,
                       size_t errlen)
{
    store_ctx sys;
    store_tx *tx = NULL;
    json_t *rows = NULL, *row, *val;
    const char *k;
    size_t i;
    int rc;
    *count = 0;
    store_ctx_system(&sys);
    const vault *was = s->vault;
    s->vault = v;
    rc = store_begin(s, &sys, now_ms, 1, &tx);
    if (!rc)
        rc = store__q(tx, "SELECT id, sensitive FROM customers WHERE sensitive <> '{}' ORDER BY id",
                      NULL, &rows);
    json_array_foreach (rows, i, row) {
        int64_t id = store__int(row, "id");
        store__parse_column(row, "sensitive", "{}");
        json_t *m = json_object_get(row, "sensitive");
        json_object_foreach (m, k, val) {
            char *clear = NULL, *sealed = NULL, ctx[128];
            if (rc)
                break;
            rc = unseal(tx, v, id, k, json_string_value(val), &clear);
            context_of(ctx, sizeof ctx, id, k);
            if (!rc)
                rc = vault_seal(v, ctx, clear, strlen(clear), &sealed);
            if (!rc) {
                json_object_set_new(m, k, json_string(sealed));
                ++*count;
            }
            if (clear)
                sodium_memzero(clear, strlen(clear));
            cd_free(clear);
            cd_free(sealed);
        }
        char *text = rc ? NULL : json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        if (!rc)
            rc = text ? store__exec(tx, "UPDATE customers SET sensitive = $1 WHERE id = $2",
                                    json_pack("[sI]", text, (json_int_t)id), NULL)
                      : CD_ENOMEM;
        free(text);
        if (rc)
            break;
    }
    if (!rc)
        rc = store__imap_reseal(tx, v, count);
    if (!rc) {
        json_t *detail = json_pack("{s:s, s:I}", "active_key", vault_active_id(v), "values",
                                   (json_int_t)*count);
        rc = store__audit(tx, "reseal", "customer", 0, 0, detail);
        json_decref(detail);
    }
    if (rc && tx)
        snprintf(err, errlen, "%s", store_err_message(tx)[0] ? store_err_message(tx)
                                                             : cd_strerror(rc));
    else if (rc)
        snprintf(err, errlen, "%s", cd_strerror(rc));
    json_decref(rows);
    if (tx)
        rc = rc ? (store_rollback(tx), rc) : store_commit(tx);
    s->vault = was;
    return rc;
}
