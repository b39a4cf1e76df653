/* store_workflows.c - guided workflows: drafts, published versions and
 * the sessions that run them on interactions. The documents are kept as
 * text; loading, lint and the runtime are core/flow's, in the API layer. */
#include "store/store_internal.h"

#include "core/cd_err.h"

#include <string.h>

#define WORKFLOW_COLUMNS "id, client_id, wkey AS key, title, created_at, updated_at"
#define SESSION_COLUMNS                                                                            \
    "s.id, s.client_id, s.interaction_id, s.version_id, v.workflow_id, v.version, s.state, "       \
    "s.status, s.outcome, s.started_by, s.started_at, s.updated_at, s.parent_id"

static int versions_of(store_tx *tx, json_t *row)
{
    json_t *list = NULL;
    int rc = store__q(tx,
                      "SELECT id, version, published_at, published_by FROM workflow_versions "
                      "WHERE workflow_id = $1 ORDER BY version DESC",
                      json_pack("[I]", json_integer_value(json_object_get(row, "id"))), &list);
    if (!rc)
        json_object_set_new(row, "versions", list);
    return rc;
}

int store_workflow_get(store_tx *tx, int64_t id, int with_draft, json_t **out)
{
    json_t *row = NULL;
    int rc = store__get_visible(tx,
                                with_draft ? "SELECT " WORKFLOW_COLUMNS ", draft FROM workflows "
                                             "WHERE id = $1"
                                           : "SELECT " WORKFLOW_COLUMNS " FROM workflows "
                                             "WHERE id = $1",
                                id, &row);
    if (!rc)
        rc = versions_of(tx, row);
    if (rc) {
        json_decref(row);
        return rc;
    }
    *out = row;
    return 0;
}

int store_workflow_create(store_tx *tx, int64_t client, const char *key, const char *title,
                          const char *draft, json_t **out)
{
    json_t *row = NULL;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = store__q1(
            tx,
            "INSERT INTO workflows (client_id, wkey, title, draft, created_at, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            json_pack("[IsssI]", (json_int_t)client, key, title, draft, (json_int_t)tx->now), &row);
    if (rc == CD_ECONFLICT)
        return store__fail(tx, rc, "document", "this client has a workflow with id '%s'", key);
    if (rc)
        return rc;
    int64_t id = store__int(row, "id");
    json_decref(row);
    rc = store__audit(tx, "create", "workflow", id, client, NULL);
    return rc ? rc : store_workflow_get(tx, id, 1, out);
}

int store_workflow_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit, client = store__int(query, "client_id");
    json_t *rows = NULL;
    sqlb b;
    int rc = store__list_start(tx, query, "SELECT " WORKFLOW_COLUMNS " FROM workflows", "id", &b,
                               &limit);
    if (rc)
        return rc;
    if (client)
        store__sqlb_param(&b, " AND client_id = $?", json_integer(client));
    rc = store__list_finish(tx, &b, "client_id", "id", limit, &rows);
    if (rc)
        return rc;
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

int store_workflow_save_draft(store_tx *tx, int64_t id, const char *key, const char *title,
                              const char *draft, json_t **out)
{
    json_t *cur = NULL;
    int rc = store_workflow_get(tx, id, 0, &cur);
    if (rc)
        return rc;
    int64_t client = store__int(cur, "client_id");
    json_decref(cur);
    rc = store__q(tx,
                  "UPDATE workflows SET wkey = $1, title = $2, draft = $3, updated_at = $4 "
                  "WHERE id = $5",
                  json_pack("[sssII]", key, title, draft, (json_int_t)tx->now, (json_int_t)id),
                  NULL);
    if (rc == CD_ECONFLICT)
        return store__fail(tx, rc, "document", "this client has a workflow with id '%s'", key);
    if (!rc)
        rc = store__audit(tx, "update", "workflow", id, client, NULL);
    return rc ? rc : store_workflow_get(tx, id, 1, out);
}

int store_workflow_publish(store_tx *tx, int64_t id, const char *document, json_t **out)
{
    json_t *cur = NULL, *row = NULL;
    int rc = store_workflow_get(tx, id, 0, &cur);
    if (rc)
        return rc;
    int64_t client = store__int(cur, "client_id");
    json_t *versions = json_object_get(cur, "versions");
    int64_t next =
        json_array_size(versions) ? store__int(json_array_get(versions, 0), "version") + 1 : 1;
    json_decref(cur);
    rc = store__q1(tx,
                   "INSERT INTO workflow_versions (workflow_id, client_id, version, document, "
                   "published_at, published_by) VALUES ($1, $2, $3, $4, $5, $6) "
                   "RETURNING id, workflow_id, version, published_at",
                   json_pack("[IIIsII]", (json_int_t)id, (json_int_t)client, (json_int_t)next,
                             document, (json_int_t)tx->now, (json_int_t)tx->ctx.user_id),
                   &row);
    if (rc == CD_ECONFLICT)
        return store__fail(tx, CD_EBUSY, "", "published meanwhile; retry");
    if (!rc)
        rc = store__audit(tx, "publish", "workflow", id, client, NULL);
    if (rc) {
        json_decref(row);
        return rc;
    }
    *out = row;
    return 0;
}

int store_workflow_version(store_tx *tx, int64_t workflow, int64_t version, json_t **out)
{
    json_t *wf = NULL;
    int rc = store_workflow_get(tx, workflow, 0, &wf);
    json_decref(wf);
    if (rc)
        return rc;
    rc = store__q1(tx,
                   version ? "SELECT id, workflow_id, client_id, version, document FROM "
                             "workflow_versions WHERE workflow_id = $1 AND version = $2"
                           : "SELECT id, workflow_id, client_id, version, document FROM "
                             "workflow_versions WHERE workflow_id = $1 AND $2 = 0 "
                             "ORDER BY version DESC LIMIT 1",
                   json_pack("[II]", (json_int_t)workflow, (json_int_t)version), out);
    if (rc == CD_ENOTFOUND)
        return store__fail(tx, CD_ENOTFOUND, "version", "no such published version");
    return rc;
}

int store_workflow_sessions(store_tx *tx, int64_t workflow, int64_t version, json_t **out)
{
    json_t *ver = NULL, *rows = NULL;
    int rc = store_workflow_version(tx, workflow, version, &ver);
    if (!rc)
        rc = store__q(tx,
                      "SELECT state, status, outcome, started_at, updated_at FROM "
                      "workflow_sessions WHERE version_id = $1 ORDER BY id",
                      json_pack("[I]", json_integer_value(json_object_get(ver, "id"))), &rows);
    if (rc) {
        json_decref(ver);
        return rc;
    }
    json_object_set_new(ver, "sessions", rows);
    *out = ver;
    return 0;
}

int store_flow_session_create(store_tx *tx, int64_t interaction, int64_t version_id,
                              int64_t parent_id, const char *state, const char *status,
                              json_t **out)
{
    json_t *it = NULL, *row = NULL;
    int rc = store_interaction_get(tx, interaction, &it);
    if (rc)
        return rc;
    int64_t client = store__int(it, "client_id");
    json_decref(it);
    rc = store__q1(tx,
                   "INSERT INTO workflow_sessions (client_id, interaction_id, version_id, state, "
                   "status, started_by, started_at, updated_at, parent_id) VALUES ($1, $2, $3, "
                   "$4, $5, $6, $7, $7, $8) RETURNING id",
                   json_pack("[IIIssIIo]", (json_int_t)client, (json_int_t)interaction,
                             (json_int_t)version_id, state, status, (json_int_t)tx->ctx.user_id,
                             (json_int_t)tx->now,
                             parent_id ? json_integer(parent_id) : json_null()),
                   &row);
    if (rc)
        return rc;
    int64_t id = store__int(row, "id");
    json_decref(row);
    rc = store__audit(tx, "start", "workflow_session", id, client, NULL);
    return rc ? rc : store_flow_session_get(tx, id, out);
}

int store_flow_session_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc = store__get_visible(tx,
                                "SELECT " SESSION_COLUMNS ", v.document FROM workflow_sessions s "
                                "JOIN workflow_versions v ON v.id = s.version_id WHERE s.id = $1",
                                id, &row);
    if (rc)
        return rc;
    store__parse_column(row, "state", "{}");
    *out = row;
    return 0;
}

int store_flow_session_save(store_tx *tx, int64_t id, const char *state, const char *status,
                            const char *outcome)
{
    json_t *cur = NULL;
    int rc = store_flow_session_get(tx, id, &cur);
    if (rc)
        return rc;
    int64_t client = store__int(cur, "client_id");
    json_decref(cur);
    rc = store__q(
        tx,
        "UPDATE workflow_sessions SET state = $1, status = $2, outcome = $3, "
        "updated_at = $4 WHERE id = $5",
        json_pack("[sss?II]", state, status, outcome, (json_int_t)tx->now, (json_int_t)id), NULL);
    if (!rc)
        rc = store__audit(tx, "step", "workflow_session", id, client, NULL);
    return rc;
}

int store_workflow_by_key(store_tx *tx, int64_t client, const char *key, int64_t *id)
{
    json_t *row = NULL;
    int rc;
    if (!store__allows(tx, client))
        return CD_ENOTFOUND;
    rc = store__q1(tx, "SELECT id FROM workflows WHERE client_id = $1 AND wkey = $2",
                   json_pack("[Is]", (json_int_t)client, key), &row);
    if (!rc)
        *id = store__int(row, "id");
    json_decref(row);
    return rc;
}

int store_flow_session_children(store_tx *tx, int64_t parent, const char *status, json_t **out)
{
    json_t *rows = NULL;
    int rc = store__q(tx,
                      "SELECT id FROM workflow_sessions WHERE parent_id = $1 AND status = $2 "
                      "ORDER BY id",
                      json_pack("[Is]", (json_int_t)parent, status), &rows);
    if (!rc)
        *out = rows;
    return rc;
}
