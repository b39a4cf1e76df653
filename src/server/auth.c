/* auth.c - who is calling. */
#include "server/auth.h"

#include "core/cd_err.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

int auth_password_hash(const char *password, char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return CD_ENOMEM;
    return 0;
}

int auth_password_check(const char *password, const char *stored)
{
    return stored && crypto_pwhash_str_verify(stored, password, strlen(password)) == 0;
}

void auth_token_new(const char *prefix, char out[AUTH_TOKEN_LEN])
{
    unsigned char raw[32];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, AUTH_TOKEN_LEN, "%s%s", prefix, b64);
}

void auth_token_hash(const char *token, char out[AUTH_HASH_HEX])
{
    unsigned char digest[32];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, AUTH_HASH_HEX, digest, sizeof digest);
}

static int authenticate_as(req *r, json_t *who)
{
    int rc = store_tx_authenticate(r->tx, json_integer_value(json_object_get(who, "user_id")),
                                   json_string_value(json_object_get(who, "role")));
    if (!rc)
        r->user_id = json_integer_value(json_object_get(who, "user_id"));
    return rc;
}

int auth_request(req *r)
{
    const char *authz = req_header(r, "Authorization");
    const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "cd_session");
    char hash[AUTH_HASH_HEX];
    json_t *who = NULL;
    int rc;

    if (authz && strncmp(authz, "Bearer ", 7) == 0) {
        auth_token_hash(authz + 7, hash);
        rc = store_token_lookup(r->tx, hash, &who);
    } else if (cookie) {
        auth_token_hash(cookie, hash);
        rc = store_session_lookup(r->tx, hash, &who);
        if (!rc) {
            r->via_cookie = 1;
            snprintf(r->csrf, sizeof r->csrf, "%s",
                     json_string_value(json_object_get(who, "csrf_token")));
            snprintf(r->session_hash, sizeof r->session_hash, "%s", hash);
        }
    } else {
        return req_fail(r, CD_EAUTH, "", NULL);
    }
    if (rc == CD_ENOTFOUND)
        rc = req_fail(r, CD_EAUTH, "", "the session or token is not valid");
    if (!rc)
        rc = authenticate_as(r, who);
    json_decref(who);
    return rc;
}
