/* routes.h - the route table: every API endpoint with its handler, the
 * permission it needs, its body and query schemas and a sample body. The
 * OpenAPI document, the permission checks and the generated tenant and
 * malformed-input tests all come from this one table. */
#ifndef ROUTES_H
#define ROUTES_H

#include "core/jschema.h"
#include "server/request.h"

#define R_PUBLIC 1u  /* no credentials needed */
#define R_WRITE 2u   /* runs in a write transaction (writes, audited reads) */
#define R_NOSTORE 4u /* touches no store (health, metrics, documents) */
#define R_STREAM 8u  /* answers with an event stream (see hub.h) */

typedef int (*route_fn)(req *r);

typedef struct route {
    const char *method;
    const char *pattern; /* "/api/v1/interactions/{interaction_id}" */
    route_fn fn;
    const char *action; /* permission, see perm.c; NULL for public */
    unsigned flags;
    const jschema_field *body; /* NULL: no body accepted */
    int patch;                 /* body is a partial update */
    const jschema_field *query;
    int ok_status;
    const char *summary;
    const char *sample; /* a valid body; @client@ @customer@ ... are ids */
    int state_status;   /* a documented answer when the state does not allow it (409) */
    const char *state_doc;
} route;

extern const route routes[];
extern const size_t routes_count;

/* Finds the route for method and path; fills ids with numeric path
 * parameters. Returns NULL with *method_mismatch = 1 if the path exists
 * for another method. */
const route *routes_match(const char *method, const char *path, int64_t ids[2],
                          int *method_mismatch);

/* Handlers, one file per resource (api_<resource>.c). */
int api_login(req *r);
int api_logout(req *r);
int api_me(req *r);
int api_client_list(req *r);
int api_client_create(req *r);
int api_client_get(req *r);
int api_client_update(req *r);
int api_user_list(req *r);
int api_user_create(req *r);
int api_user_get(req *r);
int api_user_update(req *r);
int api_user_skills(req *r);
int api_membership_add(req *r);
int api_membership_remove(req *r);
int api_token_list(req *r);
int api_token_create(req *r);
int api_token_revoke(req *r);
int api_customer_list(req *r);
int api_customer_create(req *r);
int api_customer_get(req *r);
int api_customer_update(req *r);
int api_customer_identity_add(req *r);
int api_customer_history(req *r);
int api_customer_reveal(req *r);
int api_interaction_list(req *r);
int api_interaction_create(req *r);
int api_interaction_get(req *r);
int api_interaction_update(req *r);
int api_message_list(req *r);
int api_rule_list(req *r);
int api_sla_policy_list(req *r);
int api_sla_policy_create(req *r);
int api_sla_policy_get(req *r);
int api_sla_policy_update(req *r);
int api_interaction_sla(req *r);
int api_sla_report(req *r);
int api_rule_create(req *r);
int api_rule_get(req *r);
int api_rule_update(req *r);
int api_webhook_list(req *r);
int api_client_intent(req *r);
int api_article_list(req *r);
int api_article_create(req *r);
int api_article_get(req *r);
int api_article_update(req *r);
int api_article_versions(req *r);
int api_kb_search(req *r);
int api_suggestions(req *r);
int api_suggestion_feedback(req *r);
int api_follow_up_list(req *r);
int api_mail_settings_get(req *r);
int api_mail_settings_update(req *r);
int api_email_list(req *r);
int api_follow_up_create(req *r);
int api_message_create(req *r);
int api_event_list(req *r);
int api_audit_list(req *r);
int api_queue_list(req *r);
int api_queue_create(req *r);
int api_queue_get(req *r);
int api_queue_update(req *r);
int api_agent_state_get(req *r);
int api_agent_state_set(req *r);
int api_offer_list(req *r);
int api_offer_accept(req *r);
int api_offer_reject(req *r);
int api_work_finish(req *r);
int api_agent_stream(req *r);
int api_supervisor_view(req *r);
int api_supervisor_stream(req *r);
int api_workflow_list(req *r);
int api_workflow_create(req *r);
int api_workflow_get(req *r);
int api_workflow_draft(req *r);
int api_workflow_publish(req *r);
int api_session_start(req *r);
int api_session_get(req *r);
int api_session_answer(req *r);
int api_session_back(req *r);
int api_workflow_analytics(req *r);
int api_workflow_republish(req *r);
int api_openapi(req *r);
int api_health(req *r);
int api_metrics(req *r);

/* The OpenAPI 3 document for the table (new reference). */
json_t *routes_openapi(void);

#endif
