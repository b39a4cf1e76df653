/* api_auth.c - login, logout, and who am I. */
#include "server/auth.h"
#include "server/routes.h"

#include "core/cd_err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define THROTTLE_WINDOW_MS (15LL * 60 * 1000)
#define MAX_FAILS_PER_ACCOUNT 5
#define MAX_FAILS_PER_ADDRESS 20

/* {user, csrf_token, clients}: what the UI needs to start. */
static int me_payload(req *r, json_int_t id, const char *email, const char *name, const char *role,
                      const char *csrf)
{
    json_t *clients = NULL;
    int rc = store_client_list(r->tx, &clients);
    if (rc)
        return rc;
    r->out = json_pack("{s:{s:I, s:s, s:s, s:s}, s:s?, s:O}", "user", "id", id, "email", email,
                       "name", name, "role", role, "csrf_token", csrf, "clients",
                       json_object_get(clients, "items"));
    json_decref(clients);
    return r->out ? 0 : CD_ENOMEM;
}

/* A failed login is recorded and answered 401, and the transaction
 * commits so the failure counts towards throttling. */
static int login_refused(req *r, const char *email)
{
    int rc = req_write_tx(r);
    if (!rc)
        rc = store_login_failure_add(r->tx, email, r->address);
    if (rc)
        return rc;
    req_fail(r, CD_EAUTH, "", "wrong email or password");
    r->out = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "unauthorized", "message",
                       "wrong email or password", "field", "");
    r->err_code[0] = '\0';
    return 0;
}

/* Throttling counts per account whatever the letter case typed. */
static void account_key(const char *email, char *out, size_t n)
{
    size_t i = 0;
    for (; email[i] && i + 1 < n; i++)
        out[i] = (char)tolower((unsigned char)email[i]);
    out[i] = '\0';
}

int api_login(req *r)
{
    char email[256];
    const char *password = json_string_value(json_object_get(r->in, "password"));
    account_key(json_string_value(json_object_get(r->in, "email")), email, sizeof email);
    char token[AUTH_TOKEN_LEN], csrf[AUTH_TOKEN_LEN], hash[AUTH_HASH_HEX];
    char dummy[crypto_pwhash_STRBYTES];
    int64_t by_account, by_address;
    json_t *user = NULL;
    int rc;

    rc = store_login_failures(r->tx, email, r->address, r->now - THROTTLE_WINDOW_MS, &by_account,
                              &by_address);
    if (rc)
        return rc;
    if (by_account >= MAX_FAILS_PER_ACCOUNT || by_address >= MAX_FAILS_PER_ADDRESS)
        return req_fail(r, CD_ERATE, "", NULL);
    rc = store_user_by_email(r->tx, email, &user);
    if (rc == CD_ENOTFOUND) {
        /* Spend the same time as a real check, so timing tells nothing. */
        auth_password_hash(password, dummy);
        return login_refused(r, email);
    }
    if (rc)
        return rc;
    if (!auth_password_check(password, json_string_value(json_object_get(user, "password_hash")))) {
        json_decref(user);
        return login_refused(r, email);
    }
    json_int_t id = json_integer_value(json_object_get(user, "id"));
    auth_token_new("", token);
    auth_token_new("", csrf);
    auth_token_hash(token, hash);
    /* The password was checked in a read transaction: writers never wait
     * for argon2. */
    rc = req_write_tx(r);
    if (!rc)
        rc = store_login_failure_clear(r->tx, email);
    if (!rc)
        rc = store_session_create(r->tx, id, hash, csrf, r->now + AUTH_SESSION_MS);
    if (!rc)
        rc = store_tx_authenticate(r->tx, id, json_string_value(json_object_get(user, "role")));
    if (!rc)
        rc = store_audit_append(r->tx, "login", "user", id, 0, NULL);
    if (!rc)
        rc = me_payload(r, id, json_string_value(json_object_get(user, "email")),
                        json_string_value(json_object_get(user, "name")),
                        json_string_value(json_object_get(user, "role")), csrf);
    if (!rc) {
        r->user_id = id;
        snprintf(r->set_cookie, sizeof r->set_cookie,
                 "cd_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld", token,
                 AUTH_SESSION_MS / 1000);
    }
    json_decref(user);
    return rc;
}

int api_logout(req *r)
{
    int rc = 0;
    if (r->via_cookie)
        rc = store_session_delete(r->tx, r->session_hash);
    if (!rc)
        rc = store_audit_append(r->tx, "logout", "user", r->user_id, 0, NULL);
    snprintf(r->set_cookie, sizeof r->set_cookie,
             "cd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    r->status = 204;
    return rc;
}

int api_me(req *r)
{
    json_t *user = NULL;
    int rc = store_user_get(r->tx, r->user_id, &user);
    if (rc)
        return rc;
    rc = me_payload(r, r->user_id, json_string_value(json_object_get(user, "email")),
                    json_string_value(json_object_get(user, "name")),
                    json_string_value(json_object_get(user, "role")),
                    r->via_cookie ? r->csrf : NULL);
    json_decref(user);
    return rc;
}
