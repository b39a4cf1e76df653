/* api_queues.c - /api/v1/queues: queues and their routing settings, and
 * /api/v1/agents/me/state: an agent's own routing state. */
#include "server/routes.h"

int api_queue_list(req *r)
{
    return req_reply(r, 200, store_queue_list(r->tx, r->query, &r->out));
}

int api_queue_create(req *r)
{
    return req_reply(r, 201, store_queue_create(r->tx, r->in, &r->out));
}

int api_queue_get(req *r)
{
    return req_reply(r, 200, store_queue_get(r->tx, r->ids[0], &r->out));
}

int api_queue_update(req *r)
{
    return req_reply(r, 200, store_queue_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_agent_state_get(req *r)
{
    return req_reply(r, 200, store_agent_state_get(r->tx, r->user_id, &r->out));
}

int api_agent_state_set(req *r)
{
    return req_reply(r, 200, store_agent_state_set(r->tx, r->in, &r->out));
}
