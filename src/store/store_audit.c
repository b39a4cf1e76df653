/* store_audit.c - the hash-chained audit log, the interaction event log and
 * stored responses for idempotent retries. */
#include "store/store_internal.h"

#include "core/audit_chain.h"
#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <string.h>

int store_audit_append(store_tx *tx, const char *action, const char *entity, int64_t entity_id,
                       int64_t client_id, const char *detail)
{
    json_t *head = NULL;
    char hash[AUDIT_HASH_HEX];
    audit_entry e = {.at = tx->now,
                     .actor_id = tx->ctx.user_id,
                     .action = action,
                     .entity = entity,
                     .entity_id = entity_id,
                     .client_id = client_id,
                     .detail = detail ? detail : ""};
    /* Taking the head row's lock serialises appenders across servers. */
    int rc = store__q1(tx, "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
                       NULL, &head);
    if (rc)
        return rc;
    e.seq = store__int(head, "seq");
    audit_chain_hash(store__str(head, "hash"), &e, hash);
    rc = store__exec(tx,
                     "INSERT INTO audit_log (seq, at, actor_id, action, entity, entity_id, "
                     "client_id, detail, prev_hash, hash) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                     json_pack("[IIIssIIsss]", (json_int_t)e.seq, (json_int_t)e.at,
                               (json_int_t)e.actor_id, action, entity, (json_int_t)entity_id,
                               (json_int_t)client_id, e.detail, store__str(head, "hash"), hash),
                     NULL);
    if (!rc)
        rc = store__exec(tx, "UPDATE audit_head SET hash = $1 WHERE id = 1", json_pack("[s]", hash),
                         NULL);
    json_decref(head);
    return rc;
}

int store__audit(store_tx *tx, const char *action, const char *entity, int64_t entity_id,
                 int64_t client_id, json_t *detail)
{
    char *text =
        detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    int rc;
    if (detail && !text)
        return CD_ENOMEM;
    rc = store_audit_append(tx, action, entity, entity_id, client_id, text);
    cd_free(text);
    return rc;
}

int store__event(store_tx *tx, int64_t client_id, int64_t interaction_id, const char *kind,
                 json_t *before, json_t *after)
{
    char *b = before ? json_dumps(before, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *a = after ? json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int rc = CD_ENOMEM;
    if ((before && !b) || (after && !a))
        goto out;
    rc = store__exec(tx,
                     "INSERT INTO events (client_id, interaction_id, actor_id, at, kind, "
                     "before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                     json_pack("[IIIIss?s?]", (json_int_t)client_id, (json_int_t)interaction_id,
                               (json_int_t)tx->ctx.user_id, (json_int_t)tx->now, kind, b, a),
                     NULL);
out:
    cd_free(b);
    cd_free(a);
    return rc;
}

int store_event_list(store_tx *tx, int64_t interaction_id, json_t *query, json_t **out)
{
    json_t *it = NULL, *rows = NULL, *row;
    int64_t before, limit;
    size_t i;
    int rc = store_interaction_get(tx, interaction_id, &it);
    if (rc)
        return rc;
    json_decref(it);
    rc = store__page_args(tx, query, &before, &limit);
    if (rc)
        return rc;
    rc = store__q(
        tx,
        "SELECT id, interaction_id, client_id, actor_id, at, kind, before_json, "
        "after_json FROM events WHERE interaction_id = $1 AND id < $2 "
        "ORDER BY id DESC LIMIT $3",
        json_pack("[III]", (json_int_t)interaction_id, (json_int_t)before, (json_int_t)(limit + 1)),
        &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row) {
        store__parse_column(row, "before_json", "null");
        store__parse_column(row, "after_json", "null");
    }
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

int store_audit_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit, client = store__int(query, "client_id");
    json_t *rows = NULL;
    sqlb b;
    int rc = store__list_start(tx, query,
                               "SELECT seq AS id, seq, at, actor_id, action, entity, entity_id, "
                               "client_id, detail, prev_hash, hash FROM audit_log",
                               "seq", &b, &limit);
    if (rc)
        return rc;
    if (client)
        store__sqlb_param(&b, " AND client_id = $?", json_integer(client));
    rc = store__list_finish(tx, &b, "client_id", "seq", limit, &rows);
    if (rc)
        return rc;
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

static int verify_row(json_t *row, const char *prev, int64_t want_seq)
{
    char hash[AUDIT_HASH_HEX];
    audit_entry e = {.seq = store__int(row, "seq"),
                     .at = store__int(row, "at"),
                     .actor_id = store__int(row, "actor_id"),
                     .entity_id = store__int(row, "entity_id"),
                     .client_id = store__int(row, "client_id"),
                     .action = store__str(row, "action"),
                     .entity = store__str(row, "entity"),
                     .detail = store__str(row, "detail")};
    if (e.seq != want_seq || strcmp(store__str(row, "prev_hash"), prev) != 0)
        return 0;
    audit_chain_hash(prev, &e, hash);
    return strcmp(hash, store__str(row, "hash")) == 0;
}

int store_audit_verify(store *s, int64_t *bad_seq, int64_t *checked)
{
    store_ctx ctx;
    store_tx *tx;
    json_t *rows = NULL, *row, *head = NULL;
    char prev[AUDIT_HASH_HEX];
    int64_t seq = 0;
    size_t i;
    int rc;

    store_ctx_system(&ctx);
    *bad_seq = 0;
    memcpy(prev, audit_chain_genesis, sizeof prev);
    rc = store_begin(s, &ctx, 0, 0, &tx);
    if (rc)
        return rc;
    for (;;) {
        rc = store__q(tx,
                      "SELECT seq, at, actor_id, action, entity, entity_id, client_id, detail, "
                      "prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000",
                      json_pack("[I]", (json_int_t)seq), &rows);
        if (rc || json_array_size(rows) == 0)
            break;
        json_array_foreach (rows, i, row) {
            if (!verify_row(row, prev, seq + 1)) {
                *bad_seq = seq + 1;
                goto done;
            }
            seq++;
            snprintf(prev, sizeof prev, "%s", store__str(row, "hash"));
        }
        json_decref(rows);
        rows = NULL;
    }
    /* A truncated tail shows as a head that points past the last entry. */
    if (!rc && !store__q1(tx, "SELECT seq, hash FROM audit_head WHERE id = 1", NULL, &head)) {
        if (store__int(head, "seq") != seq || strcmp(store__str(head, "hash"), prev) != 0)
            *bad_seq = seq + 1;
    }
done:
    json_decref(rows);
    json_decref(head);
    store_rollback(tx);
    *checked = seq;
    return rc;
}

/* A key is the caller's text: kept, and looked up, masked. */
int store_idem_get(store_tx *tx, int64_t user_id, const char *key, json_t **out)
{
    json_t *k = store__masked_string(key, 0);
    if (!k)
        return CD_ENOMEM;
    return store__q1(tx,
                     "SELECT method, path, status, body FROM idempotency "
                     "WHERE user_id = $1 AND idem_key = $2",
                     json_pack("[Io]", (json_int_t)user_id, k), out);
}

int store_idem_put(store_tx *tx, int64_t user_id, const char *key, const char *method,
                   const char *path, int status, const char *body)
{
    json_t *k = store__masked_string(key, 0);
    if (!k)
        return CD_ENOMEM;
    return store__exec(tx,
                       "INSERT INTO idempotency (user_id, idem_key, method, path, status, body, "
                       "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       json_pack("[IossisI]", (json_int_t)user_id, k, method, path, status, body,
                                 (json_int_t)tx->now),
                       NULL);
}
