/* store_users.c - users, their client memberships and skills, sessions,
 * API tokens and login throttling. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const roles[] = {"admin", "supervisor",    "agent", "qa",
                                    "wfm",   "client_viewer", NULL};

static int role_valid(const char *r)
{
    for (const char *const *p = roles; r && *p; p++)
        if (strcmp(*p, r) == 0)
            return 1;
    return 0;
}

static int email_valid(const char *e)
{
    const char *at = e ? strchr(e, '@') : NULL;
    return at && at != e && at[1] && !strchr(at + 1, '@') && strlen(e) <= 254 &&
           !strpbrk(e, " \t\r\n<>\"");
}

/* The user's open streams end (STORE_PUSH_ACCESS) once this commits. */
static int access_changed(store_tx *tx, int64_t user_id)
{
    return store__push(tx, STORE_PUSH_AGENT, user_id, STORE_PUSH_ACCESS, json_object());
}

/* Adds clients and skills arrays to a user row. The clients are those the
 * caller may see too: a user serving other clients too does not reveal them. */
static int user_complete(store_tx *tx, json_t *row)
{
    json_t *rows = NULL, *r, *ids = json_array();
    int64_t id = store__int(row, "id");
    size_t i;
    int rc = store__q(tx, "SELECT client_id FROM memberships WHERE user_id = $1 ORDER BY client_id",
                      json_pack("[I]", (json_int_t)id), &rows);
    if (rc)
        goto out;
    json_array_foreach (rows, i, r)
        if (store__allows(tx, store__int(r, "client_id")))
            json_array_append(ids, json_object_get(r, "client_id"));
    json_object_set(row, "clients", ids);
    json_decref(rows);
    rows = NULL;
    rc = store__q(tx, "SELECT name, proficiency FROM skills WHERE user_id = $1 ORDER BY name",
                  json_pack("[I]", (json_int_t)id), &rows);
    if (!rc)
        json_object_set(row, "skills", rows);
    json_object_set_new(row, "active", json_boolean(store__int(row, "active")));
    store__parse_column(row, "channel_weights", "{}");
out:
    json_decref(rows);
    json_decref(ids);
    return rc;
}

/* Whether the caller may see user id: admins all, a user themself, others
 * the users who share a client with them. */
static int user_visible(store_tx *tx, int64_t id)
{
    json_t *rows = NULL;
    sqlb b;
    int rc, seen;
    if (tx->ctx.all_clients || id == tx->ctx.user_id)
        return 1;
    store__sqlb_init(&b, "SELECT user_id FROM memberships WHERE 1 = 1");
    store__sqlb_param(&b, " AND user_id = $?", json_integer(id));
    store__sqlb_tenant(&b, tx, "client_id");
    store__sqlb_add(&b, " LIMIT 1");
    rc = store__sqlb_run(tx, &b, &rows);
    seen = !rc && json_array_size(rows) > 0;
    json_decref(rows);
    return seen;
}

int store_user_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc;
    if (!user_visible(tx, id))
        return CD_ENOTFOUND;
    rc = store__q1(tx,
                   "SELECT id, email, name, role, active, created_at, updated_at, channel_weights "
                   "FROM users "
                   "WHERE id = $1",
                   json_pack("[I]", (json_int_t)id), &row);
    if (!rc)
        rc = user_complete(tx, row);
    if (rc) {
        json_decref(row);
        return rc;
    }
    *out = row;
    return 0;
}

static char *lower_dup(const char *s)
{
    char *d = cd_strdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static int memberships_add(store_tx *tx, int64_t user_id, json_t *clients)
{
    size_t i;
    json_t *c;
    json_array_foreach (clients, i, c) {
        int rc = store_membership_set(tx, user_id, json_integer_value(c), 1);
        if (rc)
            return rc == CD_ENOTFOUND ? store__fail(tx, CD_ENOTFOUND, "clients", "no such client")
                                      : rc;
    }
    return 0;
}

int store_user_create(store_tx *tx, json_t *in, json_t **out)
{
    const char *role = store__str(in, "role"), *name = store__str(in, "name");
    char *email = NULL;
    json_t *row = NULL, *skills = json_object_get(in, "skills");
    int64_t id;
    int rc;

    if (!tx->ctx.all_clients)
        return store__fail(tx, CD_EFORBIDDEN, "", "only administrators add users");
    if (!email_valid(store__str(in, "email")))
        return store__fail(tx, CD_EINVAL, "email", "email is not a valid address");
    if (!role_valid(role))
        return store__fail(tx, CD_EINVAL, "role", "role is not one of the known roles");
    if (!name || !*name)
        return store__fail(tx, CD_EINVAL, "name", "name is required");
    email = lower_dup(store__str(in, "email"));
    if (!email)
        return CD_ENOMEM;
    rc = store__q1(tx,
                   "INSERT INTO users (email, name, role, password_hash, created_at, updated_at) "
                   "VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                   json_pack("[ssss?I]", email, name, role, store__str(in, "password_hash"),
                             (json_int_t)tx->now),
                   &row);
    cd_free(email);
    if (rc == CD_ECONFLICT)
        return store__fail(tx, rc, "email", "a user with this email exists");
    if (rc)
        return rc;
    id = store__int(row, "id");
    json_decref(row);
    rc = memberships_add(tx, id, json_object_get(in, "clients"));
    if (!rc && skills) {
        json_t *s = NULL;
        rc = store_skills_set(tx, id, skills, &s);
        json_decref(s);
    }
    if (!rc)
        rc = store__audit(tx, "create", "user", id, 0, NULL);
    return rc ? rc : store_user_get(tx, id, out);
}

int store_user_list(store_tx *tx, json_t *query, json_t **out)
{
    int64_t limit, client = store__int(query, "client_id");
    json_t *rows = NULL, *row;
    size_t i;
    sqlb b;
    int rc = store__list_start(
        tx, query,
        "SELECT id, email, name, role, active, created_at, updated_at, channel_weights "
        "FROM users u",
        "id", &b, &limit);
    if (rc)
        return rc;
    if (client)
        store__sqlb_param(&b,
                          " AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id "
                          "AND m.client_id = $?)",
                          json_integer(client));
    if (!tx->ctx.all_clients) {
        store__sqlb_add(&b, " AND (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id");
        store__sqlb_tenant(&b, tx, "m.client_id");
        store__sqlb_param(&b, ") OR u.id = $?)", json_integer(tx->ctx.user_id));
    }
    rc = store__list_finish(tx, &b, NULL, "id", limit, &rows);
    json_array_foreach (rows, i, row)
        if (!rc)
            rc = user_complete(tx, row);
    if (rc) {
        json_decref(rows);
        return rc;
    }
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

int store_user_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    json_t *cur = NULL, *v;
    const char *role = store__str(patch, "role");
    int rc = store_user_get(tx, id, &cur);
    sqlb b;
    if (rc)
        return rc;
    json_decref(cur);
    if (!tx->ctx.all_clients && id != tx->ctx.user_id)
        return store__fail(tx, CD_EFORBIDDEN, "", "only administrators change other users");
    if (json_object_get(patch, "role") && (!tx->ctx.all_clients || !role_valid(role)))
        return store__fail(tx, tx->ctx.all_clients ? CD_EINVAL : CD_EFORBIDDEN, "role",
                           "role cannot be set to that");
    if ((v = json_object_get(patch, "channel_weights")) && !tx->ctx.all_clients)
        return store__fail(tx, CD_EFORBIDDEN, "channel_weights",
                           "only administrators change an agent's capacity");
    store__sqlb_init(&b, "UPDATE users SET ");
    store__sqlb_param(&b, "updated_at = $?", json_integer(tx->now));
    if (v) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        store__sqlb_param(&b, ", channel_weights = $?", json_string(text ? text : "{}"));
        free(text);
    }
    if ((v = json_object_get(patch, "name")))
        store__sqlb_param(&b, ", name = $?", json_incref(v));
    if (role)
        store__sqlb_param(&b, ", role = $?", json_string(role));
    if ((v = json_object_get(patch, "active")))
        store__sqlb_param(&b, ", active = $?", json_integer(json_is_true(v)));
    if ((v = json_object_get(patch, "password_hash")))
        store__sqlb_param(&b, ", password_hash = $?", json_incref(v));
    store__sqlb_param(&b, " WHERE id = $?", json_integer(id));
    rc = store__sqlb_run(tx, &b, NULL);
    if (!rc && json_is_false(json_object_get(patch, "active")))
        rc = store__exec(tx, "DELETE FROM sessions WHERE user_id = $1",
                         json_pack("[I]", (json_int_t)id), NULL);
    if (!rc && (role || json_is_false(json_object_get(patch, "active"))))
        rc = access_changed(tx, id);
    if (!rc)
        rc = store__audit(tx, "update", "user", id, 0, NULL);
    if (!rc)
        rc = store__routing_emit(tx, "agent", 0, id, id, NULL);
    return rc ? rc : store_user_get(tx, id, out);
}

/* A user taken off a client can no longer see its interactions: those
 * still open in the user's hands go back unassigned (and to routing, as any
 * unassignment does). Resolved and closed ones keep who handled them. */
static int hand_back(store_tx *tx, int64_t user_id, int64_t client_id)
{
    json_t *rows = NULL, *row, *patch = json_pack("{s:n}", "assignee_id");
    size_t i;
    int rc = patch ? store__q(tx,
                              "SELECT id FROM interactions WHERE client_id = $1 AND "
                              "assignee_id = $2 AND status NOT IN ('resolved', 'closed') "
                              "ORDER BY id",
                              json_pack("[II]", (json_int_t)client_id, (json_int_t)user_id), &rows)
                   : CD_ENOMEM;
    json_array_foreach (rows, i, row) {
        json_t *out = NULL;
        rc = store_interaction_update(tx, store__int(row, "id"), patch, &out);
        json_decref(out);
        if (rc)
            break;
    }
    json_decref(rows);
    json_decref(patch);
    return rc;
}

int store_membership_set(store_tx *tx, int64_t user_id, int64_t client_id, int member)
{
    json_t *row = NULL;
    int rc;
    if (!tx->ctx.all_clients)
        return store__fail(tx, CD_EFORBIDDEN, "", "only administrators change memberships");
    rc = store__q1(tx, "SELECT id FROM clients WHERE id = $1",
                   json_pack("[I]", (json_int_t)client_id), &row);
    json_decref(row);
    row = NULL;
    if (!rc)
        rc = store__q1(tx, "SELECT id FROM users WHERE id = $1",
                       json_pack("[I]", (json_int_t)user_id), &row);
    json_decref(row);
    if (rc)
        return rc;
    if (member)
        rc = store__exec(tx,
                         "INSERT INTO memberships (user_id, client_id) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING",
                         json_pack("[II]", (json_int_t)user_id, (json_int_t)client_id), NULL);
    else
        rc = store__exec(tx, "DELETE FROM memberships WHERE user_id = $1 AND client_id = $2",
                         json_pack("[II]", (json_int_t)user_id, (json_int_t)client_id), NULL);
    if (!rc && !member)
        rc = hand_back(tx, user_id, client_id);
    if (!rc && !member)
        rc = access_changed(tx, user_id);
    if (!rc)
        rc = store__audit(tx, member ? "member_add" : "member_remove", "user", user_id, client_id,
                          NULL);
    if (!rc)
        rc = store__routing_emit(tx, "agent", client_id, user_id, user_id, NULL);
    return rc;
}

int store_skills_set(store_tx *tx, int64_t user_id, json_t *skills, json_t **out)
{
    json_t *s, *cur = NULL;
    size_t i;
    int rc = store_user_get(tx, user_id, &cur);
    if (rc)
        return rc;
    json_decref(cur);
    json_array_foreach (skills, i, s) {
        json_int_t p = json_integer_value(json_object_get(s, "proficiency"));
        const char *name = store__str(s, "name");
        if (!name || !*name)
            return store__fail(tx, CD_EINVAL, "skills", "a skill needs a name");
        if (p < 1 || p > 5)
            return store__fail(tx, CD_EINVAL, "skills", "proficiency must be 1 to 5");
    }
    rc = store__exec(tx, "DELETE FROM skills WHERE user_id = $1",
                     json_pack("[I]", (json_int_t)user_id), NULL);
    json_array_foreach (skills, i, s) {
        if (rc)
            break;
        rc = store__exec(tx, "INSERT INTO skills (user_id, name, proficiency) VALUES ($1, $2, $3)",
                         json_pack("[IsI]", (json_int_t)user_id, store__str(s, "name"),
                                   json_integer_value(json_object_get(s, "proficiency"))),
                         NULL);
        if (rc == CD_ECONFLICT)
            return store__fail(tx, rc, "skills", "a skill is listed twice");
    }
    if (!rc)
        rc = store__audit(tx, "skills_set", "user", user_id, 0, NULL);
    if (!rc)
        rc = store__routing_emit(tx, "agent", 0, user_id, user_id, NULL);
    return rc ? rc : store_user_get(tx, user_id, out);
}

int store_user_by_email(store_tx *tx, const char *email, json_t **out)
{
    char *e = lower_dup(email);
    int rc;
    if (!e)
        return CD_ENOMEM;
    rc = store__q1(tx,
                   "SELECT id, email, name, role, password_hash FROM users "
                   "WHERE email = $1 AND active = 1",
                   json_pack("[s]", e), out);
    cd_free(e);
    return rc;
}

/* --- sessions and tokens ---------------------------------------------- */

int store_session_create(store_tx *tx, int64_t user_id, const char *token_hash, const char *csrf,
                         int64_t expires_at)
{
    int rc = store__exec(tx, "DELETE FROM sessions WHERE expires_at < $1",
                         json_pack("[I]", (json_int_t)tx->now), NULL);
    if (rc)
        return rc;
    return store__exec(tx,
                       "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, "
                       "expires_at) VALUES ($1, $2, $3, $4, $5)",
                       json_pack("[sIsII]", token_hash, (json_int_t)user_id, csrf,
                                 (json_int_t)tx->now, (json_int_t)expires_at),
                       NULL);
}

int store_session_lookup(store_tx *tx, const char *token_hash, json_t **out)
{
    return store__q1(tx,
                     "SELECT u.id AS user_id, u.role, u.email, u.name, s.csrf_token "
                     "FROM sessions s JOIN users u ON u.id = s.user_id "
                     "WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
                     json_pack("[sI]", token_hash, (json_int_t)tx->now), out);
}

int store_session_delete(store_tx *tx, const char *token_hash)
{
    return store__exec(tx, "DELETE FROM sessions WHERE token_hash = $1",
                       json_pack("[s]", token_hash), NULL);
}

int store_token_create(store_tx *tx, int64_t user_id, const char *name, const char *token_hash,
                       json_t **out)
{
    int rc = store__q1(
        tx,
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
        "VALUES ($1, $2, $3, $4) RETURNING id, user_id, name, created_at",
        json_pack("[IssI]", (json_int_t)user_id, name, token_hash, (json_int_t)tx->now), out);
    if (!rc)
        rc = store__audit(tx, "create", "api_token", store__int(*out, "id"), 0, NULL);
    return rc;
}

int store_token_lookup(store_tx *tx, const char *token_hash, json_t **out)
{
    return store__q1(tx,
                     "SELECT u.id AS user_id, u.role, u.email, u.name FROM api_tokens t "
                     "JOIN users u ON u.id = t.user_id "
                     "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = 1",
                     json_pack("[s]", token_hash), out);
}

int store_token_list(store_tx *tx, json_t **out)
{
    json_t *rows = NULL;
    int rc = store__q(tx,
                      "SELECT id, user_id, name, created_at, revoked_at FROM api_tokens "
                      "WHERE user_id = $1 ORDER BY id DESC",
                      json_pack("[I]", (json_int_t)tx->ctx.user_id), &rows);
    if (rc)
        return rc;
    *out = json_pack("{s:o, s:n}", "items", rows, "next_cursor");
    return 0;
}

int store_token_revoke(store_tx *tx, int64_t id)
{
    int64_t n = 0;
    int rc = store__exec(
        tx,
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 "
        "AND revoked_at IS NULL",
        json_pack("[III]", (json_int_t)tx->now, (json_int_t)id, (json_int_t)tx->ctx.user_id), &n);
    if (rc)
        return rc;
    if (n == 0)
        return CD_ENOTFOUND;
    rc = store__audit(tx, "revoke", "api_token", id, 0, NULL);
    return rc ? rc : access_changed(tx, tx->ctx.user_id);
}

/* What was typed as the account may be anything: it is kept, looked up and
 * cleared masked like free text. */
int store_login_failures(store_tx *tx, const char *account, const char *address, int64_t since_ms,
                         int64_t *by_account, int64_t *by_address)
{
    json_t *row = NULL, *acct = store__masked_string(account, 0);
    if (!acct)
        return CD_ENOMEM;
    int rc =
        store__q1(tx,
                  "SELECT (SELECT COUNT(*) FROM login_failures WHERE account = $1 AND at > $3) "
                  "AS a, (SELECT COUNT(*) FROM login_failures WHERE address = $2 AND at > $3) "
                  "AS b",
                  json_pack("[osI]", acct, address, (json_int_t)since_ms), &row);
    if (rc)
        return rc;
    *by_account = store__int(row, "a");
    *by_address = store__int(row, "b");
    json_decref(row);
    return 0;
}

int store_login_failure_add(store_tx *tx, const char *account, const char *address)
{
    json_t *acct = store__masked_string(account, 0);
    if (!acct)
        return CD_ENOMEM;
    return store__exec(tx, "INSERT INTO login_failures (account, address, at) VALUES ($1, $2, $3)",
                       json_pack("[osI]", acct, address, (json_int_t)tx->now), NULL);
}

int store_login_failure_clear(store_tx *tx, const char *account)
{
    json_t *acct = store__masked_string(account, 0);
    if (!acct)
        return CD_ENOMEM;
    return store__exec(tx, "DELETE FROM login_failures WHERE account = $1", json_pack("[o]", acct),
                       NULL);
}
