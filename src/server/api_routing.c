/* api_routing.c - the live side of routing: an agent's offers and event
 * stream, accepting and rejecting offers, finishing work, and the
 * supervisor's view of a client's queues (also as a stream). */
#include "server/routes.h"
#include "server/server_internal.h"

#include "core/cd_err.h"

#define SERVICE_LEVEL_MS (20LL * 1000) /* answered within 20 s counts as in time */

int api_offer_list(req *r)
{
    return req_reply(r, 200, store_offer_list_mine(r->tx, &r->out));
}

int api_offer_accept(req *r)
{
    return req_reply(r, 200, store_offer_accept(r->tx, r->ids[0], &r->out));
}

int api_offer_reject(req *r)
{
    return req_reply(r, 200, store_offer_reject(r->tx, r->ids[0], &r->out));
}

int api_work_finish(req *r)
{
    json_t *w = json_object_get(r->in, "wrapup_s");
    return req_reply(
        r, 200,
        store_work_finish(r->tx, r->ids[0], w ? (int32_t)json_integer_value(w) : 0, &r->out));
}

/* The stream starts with the agent's state and pending offers. */
int api_agent_stream(req *r)
{
    json_t *state = NULL, *offers = NULL, *o;
    size_t i;
    int rc = store_agent_state_get(r->tx, r->user_id, &state);
    if (!rc)
        rc = store_offer_list_mine(r->tx, &offers);
    if (!rc) {
        r->out = json_pack("[{s:s, s:O}]", "event", "state", "data", state);
        json_array_foreach (json_object_get(offers, "items"), i, o)
            json_array_append_new(r->out, json_pack("{s:s, s:O}", "event", "offer", "data", o));
        r->stream_topic = 1 + HUB_AGENT;
        r->stream_key = r->user_id;
    }
    json_decref(state);
    json_decref(offers);
    return req_reply(r, 200, rc);
}

static int64_t client_param(req *r)
{
    return json_integer_value(json_object_get(r->query, "client_id"));
}

int api_supervisor_view(req *r)
{
    return req_reply(r, 200,
                     store_supervisor_view(r->tx, client_param(r), SERVICE_LEVEL_MS, &r->out));
}

int api_supervisor_stream(req *r)
{
    json_t *view = NULL;
    int rc = store_supervisor_view(r->tx, client_param(r), SERVICE_LEVEL_MS, &view);
    if (!rc) {
        r->out = json_pack("[{s:s, s:o}]", "event", "queues", "data", view);
        r->stream_topic = 1 + HUB_CLIENT;
        r->stream_key = client_param(r);
    }
    return req_reply(r, 200, rc);
}
