/* api_clients.c - /api/v1/clients: the client companies (tenants). */
#include "server/routes.h"

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
