/* api_interactions.c - /api/v1/interactions: contacts, their messages
 * and their event log. */
#include "server/routes.h"

int api_interaction_list(req *r)
{
    return req_reply(r, 200, store_interaction_list(r->tx, r->query, &r->out));
}

int api_interaction_create(req *r)
{
    return req_reply(r, 201, store_interaction_create(r->tx, r->in, &r->out));
}

int api_interaction_get(req *r)
{
    return req_reply(r, 200, store_interaction_get(r->tx, r->ids[0], &r->out));
}

int api_interaction_update(req *r)
{
    return req_reply(r, 200, store_interaction_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_message_list(req *r)
{
    return req_reply(r, 200, store_message_list(r->tx, r->ids[0], r->query, &r->out));
}

int api_message_create(req *r)
{
    return req_reply(r, 201, store_message_add(r->tx, r->ids[0], r->in, &r->out));
}

int api_event_list(req *r)
{
    return req_reply(r, 200, store_event_list(r->tx, r->ids[0], r->query, &r->out));
}

int api_follow_up_list(req *r)
{
    return req_reply(r, 200, store_follow_up_list(r->tx, r->ids[0], &r->out));
}

int api_follow_up_create(req *r)
{
    return req_reply(r, 201, store_follow_up_add(r->tx, r->ids[0], r->in, &r->out));
}
