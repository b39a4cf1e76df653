/* api_rules.c - automation and escalation rules, webhook deliveries, SLA
 * policies, clocks and reports over HTTP. Rules and clocks run in the store
 * (store_rules.c, store_sla.c). */
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

int api_sla_policy_list(req *r)
{
    return req_reply(r, 200, store_sla_policy_list(r->tx, r->query, &r->out));
}

int api_sla_policy_create(req *r)
{
    return req_reply(r, 201, store_sla_policy_create(r->tx, r->in, &r->out));
}

int api_sla_policy_get(req *r)
{
    return req_reply(r, 200, store_sla_policy_get(r->tx, r->ids[0], &r->out));
}

int api_sla_policy_update(req *r)
{
    return req_reply(r, 200, store_sla_policy_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_interaction_sla(req *r)
{
    return req_reply(r, 200, store_sla_of(r->tx, r->ids[0], &r->out));
}

int api_sla_report(req *r)
{
    return req_reply(r, 200, store_sla_report(r->tx, r->query, &r->out));
}
