/* api_rules.c - automation and escalation rules, and webhook deliveries,
 * over HTTP. The rules run in the store (store_rules.c). */
#include "server/routes.h"

int api_rule_list(req *r)
{
    return req_reply(r, 200, store_rule_list(r->tx, r->query, &r->out));
}

int api_rule_create(req *r)
{
    return req_reply(r, 201, store_rule_create(r->tx, r->in, &r->out));
}

int api_rule_get(req *r)
{
    return req_reply(r, 200, store_rule_get(r->tx, r->ids[0], &r->out));
}

int api_rule_update(req *r)
{
    return req_reply(r, 200, store_rule_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_webhook_list(req *r)
{
    return req_reply(r, 200, store_webhook_list(r->tx, r->ids[0], &r->out));
}
