/* api_customers.c - /api/v1/customers: a client's customers, their
 * identities and their history across channels. Reads are audited. */
#include "server/routes.h"

int api_customer_list(req *r)
{
    return req_reply(r, 200, store_customer_list(r->tx, r->query, &r->out));
}

int api_customer_create(req *r)
{
    return req_reply(r, 201, store_customer_create(r->tx, r->in, &r->out));
}

int api_customer_get(req *r)
{
    return req_reply(r, 200, store_customer_get(r->tx, r->ids[0], &r->out));
}

int api_customer_update(req *r)
{
    return req_reply(r, 200, store_customer_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_customer_identity_add(req *r)
{
    return req_reply(r, 201, store_identity_add(r->tx, r->ids[0], r->in, &r->out));
}

int api_customer_history(req *r)
{
    return req_reply(r, 200, store_customer_history(r->tx, r->ids[0], &r->out));
}

int api_customer_reveal(req *r)
{
    return req_reply(r, 200, store_customer_reveal(r->tx, r->ids[0], &r->out));
}
