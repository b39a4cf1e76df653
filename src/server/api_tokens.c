/* api_tokens.c - /api/v1/tokens: a user's API tokens for integrations.
 * The token is shown once, at creation; only its hash is stored. */
#include "server/auth.h"
#include "server/routes.h"

int api_token_list(req *r)
{
    return req_reply(r, 200, store_token_list(r->tx, &r->out));
}

int api_token_create(req *r)
{
    char token[AUTH_TOKEN_LEN], hash[AUTH_HASH_HEX];
    int rc;
    auth_token_new("cdt_", token);
    auth_token_hash(token, hash);
    rc = store_token_create(r->tx, r->user_id, json_string_value(json_object_get(r->in, "name")),
                            hash, &r->out);
    if (!rc)
        json_object_set_new(r->out, "token", json_string(token));
    return req_reply(r, 201, rc);
}

int api_token_revoke(req *r)
{
    return req_reply(r, 204, store_token_revoke(r->tx, r->ids[0]));
}
