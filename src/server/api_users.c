/* api_users.c - /api/v1/users: people, the clients they serve, skills. */
#include "server/auth.h"
#include "server/routes.h"

#include "core/cd_err.h"

#include <string.h>

#define PASSWORD_MIN 8

/* Replaces "password" in a body by "password_hash". */
static int hash_password_field(req *r, json_t *body)
{
    const char *pw = json_string_value(json_object_get(body, "password"));
    char hash[crypto_pwhash_STRBYTES];
    if (!pw)
        return 0;
    if (strlen(pw) < PASSWORD_MIN)
        return req_fail(r, CD_EINVAL, "password", "password must be at least 8 characters");
    if (auth_password_hash(pw, hash))
        return CD_ENOMEM;
    json_object_del(body, "password");
    json_object_set_new(body, "password_hash", json_string(hash));
    return 0;
}

int api_user_list(req *r)
{
    return req_reply(r, 200, store_user_list(r->tx, r->query, &r->out));
}

int api_user_create(req *r)
{
    int rc = hash_password_field(r, r->in);
    return req_reply(r, 201, rc ? rc : store_user_create(r->tx, r->in, &r->out));
}

int api_user_get(req *r)
{
    return req_reply(r, 200, store_user_get(r->tx, r->ids[0], &r->out));
}

int api_user_update(req *r)
{
    int rc = hash_password_field(r, r->in);
    return req_reply(r, 200, rc ? rc : store_user_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_user_skills(req *r)
{
    return req_reply(r, 200,
                     store_skills_set(r->tx, r->ids[0], json_object_get(r->in, "skills"), &r->out));
}

static int membership(req *r, int member)
{
    json_t *user = NULL;
    /* The user must be visible to the caller, like any other id. */
    int rc = store_user_get(r->tx, r->ids[0], &user);
    json_decref(user);
    if (!rc)
        rc = store_client_get(r->tx, r->ids[1], &user);
    json_decref(user);
    if (!rc)
        rc = store_membership_set(r->tx, r->ids[0], r->ids[1], member);
    return req_reply(r, 204, rc);
}

int api_membership_add(req *r)
{
    return membership(r, 1);
}

int api_membership_remove(req *r)
{
    return membership(r, 0);
}
