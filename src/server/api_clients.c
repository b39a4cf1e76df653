/* api_clients.c - /api/v1/clients: the client companies (tenants). */
#include "server/routes.h"

#include "server/intents.h"
#include "server/server_internal.h"

int api_client_list(req *r)
{
    return req_reply(r, 200, store_client_list(r->tx, &r->out));
}

int api_client_create(req *r)
{
    return req_reply(r, 201, store_client_create(r->tx, r->in, &r->out));
}

int api_client_get(req *r)
{
    return req_reply(r, 200, store_client_get(r->tx, r->ids[0], &r->out));
}

int api_client_update(req *r)
{
    return req_reply(r, 200, store_client_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_client_intent(req *r)
{
    int rc = store_intent_stats(r->tx, r->ids[0], &r->out);
    if (!rc)
        json_object_set_new(r->out, "model",
                            r->srv->intents ? intents_info(r->srv->intents, r->ids[0])
                                            : json_null());
    return req_reply(r, 200, rc);
}
