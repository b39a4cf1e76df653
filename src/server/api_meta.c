/* api_meta.c - the audit log, the OpenAPI document, health and metrics. */
#include "server/router.h"
#include "server/routes.h"
#include "server/server_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

int api_audit_list(req *r)
{
    return req_reply(r, 200, store_audit_list(r->tx, r->query, &r->out));
}

int api_openapi(req *r)
{
    r->out = routes_openapi();
    return req_reply(r, 200, r->out ? 0 : CD_ENOMEM);
}

/* Healthy means the store answers a query. */
int api_health(req *r)
{
    json_t *clients = NULL;
    int rc = store_tx_authenticate(r->tx, 0, "admin");
    if (!rc)
        rc = store_client_list(r->tx, &clients);
    json_decref(clients);
    if (rc)
        return req_fail(r, CD_EBUSY, "", "the store does not answer");
    r->out = json_pack("{s:s, s:s, s:s}", "status", "ok", "store",
                       store_backend_name(server_store(r->srv)), "routing",
                       r->srv->router ? (router_is_leader(r->srv->router) ? "leader" : "standby")
                                      : "off");
    return req_reply(r, 200, 0);
}

int api_metrics(req *r)
{
    r->raw = server_metrics_text(r->srv);
    r->raw_type = "text/plain; version=0.0.4";
    return req_reply(r, 200, r->raw ? 0 : CD_ENOMEM);
}
