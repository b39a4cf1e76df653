/* store.h - the one interface to caredesk's data.
 *
 * Every call runs inside a transaction (store_tx) opened for one caller
 * context (store_ctx): who is asking, in what role, for which clients. The
 * store refuses to read or write rows of a client the caller does not
 * belong to, and answers such a request exactly as it answers for a row that
 * does not exist (CD_ENOTFOUND). This is the one place tenant isolation
 * lives; handlers never filter by client themselves.
 *
 * Rows travel as jansson objects: inputs are validated JSON bodies
 * (borrowed), outputs are new references the caller decrefs. Every write
 * appends to the hash-chained audit log, and every change to an interaction
 * appends to its event log, inside the same transaction. Backends
 * (SQLite, PostgreSQL) sit behind store/backend.h; the SQL lives here. */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;
typedef struct store_tx store_tx;

#define STORE_MAX_CLIENTS 256

/* Who is calling. user_id 0 with all_clients is the system itself (CLI). */
typedef struct store_ctx {
    int64_t user_id;
    char role[16];   /* admin, supervisor, agent, qa, wfm, client_viewer */
    int all_clients; /* admins and the system see every client */
    size_t nclients;
    int64_t clients[STORE_MAX_CLIENTS];
} store_ctx;

/* The system context: sees everything, acts as user 0. */
void store_ctx_system(store_ctx *ctx);

/* Opens a store: target is a file path (SQLite) or a postgresql:// URL.
 * pool is the number of connections kept open. Writes a reason into err on
 * failure. Close with store_close. */
int store_open(const char *target, int pool, store **out, char *err, size_t errlen);
void store_close(store *s);
/* Gives the store the keys that seal sensitive customer fields (borrowed;
 * NULL: none, and why says why, for the errors that need a key). */
struct vault;
void store_set_vault(store *s, const struct vault *v, const char *why);
/* Seals every sensitive value again with the vault's active key; *count
 * receives how many values were sealed again. */
int store_vault_reseal(store *s, const struct vault *v, int64_t now_ms, int64_t *count, char *err,
                       size_t errlen);

/* --- intent -------------------------------------------------------------- */

/* What the store asks at each new interaction (set by the server): fills
 * category (cap bytes) and confidence for the text of an interaction of
 * client; non-zero when it has no model for that client. Called inside
 * the creating transaction; must not use the store. */
typedef struct store_classifier {
    int (*predict)(void *ctx, int64_t client, const char *text, char *category, size_t cap,
                   double *confidence);
    /* 1 if it has a model ready for the client (cheap; asked first). */
    int (*ready)(void *ctx, int64_t client);
    void *ctx;
} store_classifier;
void store_set_classifier(store *s, const store_classifier *c);
/* For classifiers (system context only): resolved interactions with their
 * final category, numbered in commit order: [{seq, client_id,
 * interaction_id, category, text}] after `after`, and the latest number. */
int store_intent_examples(store_tx *tx, int64_t after, int limit, int64_t *head, json_t **out);
/* A client's intent settings and how its predictions fared: predictions,
 * applied, resolved, correct, accuracy, applied_accuracy. */
int store_intent_stats(store_tx *tx, int64_t client, json_t **out);

/* --- SLAs ------------------------------------------------------------------ */

/* Policies: in client_id, name, position, conditions {priority|tier|channel|
 * category|queue: [values]}, targets {first_response|next_response|
 * periodic_update|resolution: {minutes, business}}, warn_share, active. */
int store_sla_policy_create(store_tx *tx, json_t *in, json_t **out);
int store_sla_policy_get(store_tx *tx, int64_t id, json_t **out);
int store_sla_policy_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
int store_sla_policy_list(store_tx *tx, json_t *query, json_t **out);
/* An interaction's clocks with due times and remaining time. */
int store_sla_of(store_tx *tx, int64_t interaction, json_t **out);
/* Achievement per group (by: policy, priority, channel, day) of a client's
 * first-response and resolution clocks of interactions created in
 * [from, to): met, breached, achievement, median_ms, p90_ms. */
int store_sla_report(store_tx *tx, json_t *query, json_t **out);
/* The scheduler (system context): clocks with a warning or breach due at
 * the transaction's time; firing one records each once (*fired counts). */
int store_sla_due(store_tx *tx, int limit, json_t **out);
int store_sla_fire(store_tx *tx, int64_t clock_id, int *fired);

/* --- rules and webhooks ---------------------------------------------------- */

/* Rules: in client_id, name, event (created, updated, message_in,
 * sentiment_alert, sla_warning, sla_breach, idle), condition (an expression
 * of docs/workflows.md over interaction, customer, event, details),
 * actions [{type: set_priority|move_to_queue|assign|add_tag|
 * notify_supervisors|send_reply|webhook, ...}], idle_minutes, position,
 * active. A change makes a new version. */
int store_rule_create(store_tx *tx, json_t *in, json_t **out);
int store_rule_get(store_tx *tx, int64_t id, json_t **out);
int store_rule_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
int store_rule_list(store_tx *tx, json_t *query, json_t **out);
/* Idle rules (system context): the (rule, interaction, idle_since) pairs
 * due at the transaction's time; firing one runs that rule once for that
 * idle period, whichever server comes first (*fired tells). */
int store_idle_due(store_tx *tx, int limit, json_t **out);
int store_idle_fire(store_tx *tx, int64_t rule_id, int64_t interaction_id, int64_t idle_since,
                    int *fired);
/* Queues a webhook POST of payload (borrowed; redacted by the client's
 * policy first) to url, on the interaction (0: none). */
int store_webhook_enqueue(store_tx *tx, int64_t client, int64_t interaction, const char *url,
                          json_t *payload);
/* The deliveries of an interaction's webhooks with their status. */
int store_webhook_list(store_tx *tx, int64_t interaction_id, json_t **out);
/* For the deliverer (system context): claims up to limit due deliveries
 * for lease_ms as `who` ([{id, client_id, interaction_id, url, payload,
 * attempts}]); then reports each: sent, or failed with an error and a
 * retry time (0: give up). CD_ECONFLICT when the lease passed on. */
int store_webhook_claim(store_tx *tx, const char *who, int64_t lease_ms, int limit, json_t **out);
/* 1 in *any when a delivery is due (a read; cheap). */
int store_webhook_due(store_tx *tx, int *any);
int store_webhook_done(store_tx *tx, int64_t id, const char *who, int ok, const char *error,
                       int64_t retry_at);

/* --- knowledge base ---------------------------------------------------- */

/* Articles: in client_id, title, body (Markdown), tags, audience (internal,
 * public), status (draft, published, archived). Every change is a new
 * version (kept) and a numbered kb change. */
int store_article_create(store_tx *tx, json_t *in, json_t **out);
int store_article_get(store_tx *tx, int64_t id, json_t **out);
int store_article_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
int store_article_list(store_tx *tx, json_t *query, json_t **out);
int store_article_versions(store_tx *tx, int64_t id, json_t **out);
/* An agent's verdict on an article suggested for an interaction. */
int store_article_feedback(store_tx *tx, int64_t interaction_id, int64_t article_id, int helpful,
                           json_t **out);
/* [{article_id, helpful, not_helpful}] of a client's articles. */
int store_article_feedback_counts(store_tx *tx, int64_t client, json_t **out);
/* For search indexes (system context only): every published article and
 * the change number they reflect; the changes after `after` with each
 * article's current row (seq, id, client_id, title, body, tags, audience,
 * status, version). */
int store_kb_published(store_tx *tx, int64_t *head, json_t **out);
int store_kb_changes(store_tx *tx, int64_t after, int limit, int64_t *head, json_t **out);

/* Masks card numbers and the other data of src/core/redact.h in every
 * string of v (and keys and numbers inside it), in place, by the client's
 * policy, and records what was masked as a "redacted" event (what,
 * what_id) on the interaction. A bare number that would be masked is
 * refused (CD_EINVAL). */
int store_redact_text(store_tx *tx, int64_t client_id, int64_t interaction_id, const char *what,
                      int64_t what_id, json_t *v);

/* Gives the store the model that scores inbound messages (borrowed; NULL:
 * messages get no sentiment). */
struct sentiment_model;
void store_set_sentiment(store *s, const struct sentiment_model *m);

/* While on, the store writes history: agent replies on email interactions
 * are stored but not queued for sending (the demo's past conversations). */
void store_set_importing(store *s, int on);

/* "sqlite" or "postgresql". */
const char *store_backend_name(const store *s);

/* Applies every migration not yet applied, in order, each in a transaction.
 * *applied (may be NULL) receives how many ran. */
int store_migrate(store *s, int *applied);

/* Starts a transaction for ctx (copied). now_ms is the request's clock:
 * every timestamp the transaction writes uses it. write != 0 takes the
 * write lock at once. Ends with store_commit or store_rollback, which free
 * the transaction; commit returns only once the changes are durable. */
int store_begin(store *s, const store_ctx *ctx, int64_t now_ms, int write, store_tx **out);
int store_commit(store_tx *tx);
void store_rollback(store_tx *tx);

/* What a transaction wrote that background followers act on, so the
 * server wakes only the ones concerned after the commit. */
#define STORE_FX_KB 0x1u      /* an article changed */
#define STORE_FX_INTENT 0x2u  /* a resolved interaction was logged for learning */
#define STORE_FX_WEBHOOK 0x4u /* a webhook delivery was queued */
unsigned store_tx_effects(const store_tx *tx);

/* After a CD_EINVAL/CD_ECONFLICT/CD_ESTATE, the field at fault (or "") and
 * a message for the caller; borrowed until the transaction ends. */
const char *store_err_field(const store_tx *tx);
const char *store_err_message(const store_tx *tx);

/* Makes the transaction act for user_id in role: loads the clients the
 * user belongs to (admins see every client). Used once the request's
 * credentials are checked. */
int store_tx_authenticate(store_tx *tx, int64_t user_id, const char *role);
/* The transaction's caller; borrowed until the transaction ends. */
const store_ctx *store_tx_ctx(const store_tx *tx);

/* --- clients ---------------------------------------------------------- */
int store_client_create(store_tx *tx, json_t *in, json_t **out);
int store_client_get(store_tx *tx, int64_t id, json_t **out);
int store_client_list(store_tx *tx, json_t **out);
int store_client_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
/* Finds a client by slug (for the CLI); CD_ENOTFOUND if none visible. */
int store_client_by_slug(store_tx *tx, const char *slug, int64_t *id);

/* --- users, memberships, skills --------------------------------------- */
/* in: email, name, role, password_hash (already hashed), clients (ids),
 * skills ([{name, proficiency}]). */
int store_user_create(store_tx *tx, json_t *in, json_t **out);
int store_user_get(store_tx *tx, int64_t id, json_t **out);
/* query: client_id (optional), cursor, limit. */
int store_user_list(store_tx *tx, json_t *query, json_t **out);
int store_user_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
int store_membership_set(store_tx *tx, int64_t user_id, int64_t client_id, int member);
/* Replaces a user's skills with skills ([{name, proficiency 1..5}]). */
int store_skills_set(store_tx *tx, int64_t user_id, json_t *skills, json_t **out);
/* For login: the active user with this email, including password_hash.
 * Ignores the caller's clients. */
int store_user_by_email(store_tx *tx, const char *email, json_t **out);

/* --- sessions, API tokens, login throttling -------------------------- */
int store_session_create(store_tx *tx, int64_t user_id, const char *token_hash, const char *csrf,
                         int64_t expires_at);
/* The live session's {user_id, role, email, name, csrf_token}. */
int store_session_lookup(store_tx *tx, const char *token_hash, json_t **out);
int store_session_delete(store_tx *tx, const char *token_hash);
int store_token_create(store_tx *tx, int64_t user_id, const char *name, const char *token_hash,
                       json_t **out);
/* The unrevoked token's {user_id, role, email, name}. */
int store_token_lookup(store_tx *tx, const char *token_hash, json_t **out);
int store_token_list(store_tx *tx, json_t **out);
int store_token_revoke(store_tx *tx, int64_t id);
/* Failed logins since since_ms for an account and for an address. */
int store_login_failures(store_tx *tx, const char *account, const char *address, int64_t since_ms,
                         int64_t *by_account, int64_t *by_address);
int store_login_failure_add(store_tx *tx, const char *account, const char *address);
int store_login_failure_clear(store_tx *tx, const char *account);

/* --- customers and identities ----------------------------------------- */
/* in: client_id, name, tier, locale, timezone, identities ([{kind, value}]). */
int store_customer_create(store_tx *tx, json_t *in, json_t **out);
/* Reading a customer is audited (personal data). */
int store_customer_get(store_tx *tx, int64_t id, json_t **out);
/* query: client_id, identity kind+value, cursor, limit. Audited. */
int store_customer_list(store_tx *tx, json_t *query, json_t **out);
int store_customer_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
int store_identity_add(store_tx *tx, int64_t customer_id, json_t *in, json_t **out);
/* {customer, items: every interaction of the customer on every channel,
 * newest first, each with its messages}. Audited. */
/* The clear values of a customer's sensitive fields, {customer_id,
 * sensitive: {field: value}}. Audited; needs the vault. */
int store_customer_reveal(store_tx *tx, int64_t id, json_t **out);
int store_customer_history(store_tx *tx, int64_t id, json_t **out);

/* --- interactions, messages, events ----------------------------------- */
/* in: client_id, channel, subject, priority, status, queue, category, tags,
 * custom_fields, assignee_id, and either customer_id or customer ({name,
 * tier, identities}) found again by any identity or created; optional first
 * message ({direction, body}). */
int store_interaction_create(store_tx *tx, json_t *in, json_t **out);
int store_interaction_get(store_tx *tx, int64_t id, json_t **out);
/* query: client_id, status, priority, assignee_id, queue, channel, tag,
 * customer_id, updated_since, cursor, limit. {items, next_cursor}. */
int store_interaction_list(store_tx *tx, json_t *query, json_t **out);
/* patch: status (checked against the lifecycle), priority, subject, queue,
 * assignee_id, category, tags, custom_fields (merged; null removes a key),
 * version (optimistic check: CD_ECONFLICT if stale). */
int store_interaction_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
/* in: direction (inbound, outbound, note), body. */
int store_message_add(store_tx *tx, int64_t interaction_id, json_t *in, json_t **out);
int store_message_list(store_tx *tx, int64_t interaction_id, json_t *query, json_t **out);
/* Follow-ups: in: in_hours (number > 0) or due_at (epoch ms, future), note,
 * session_id (the workflow session scheduling it, optional). */
int store_follow_up_add(store_tx *tx, int64_t interaction_id, json_t *in, json_t **out);
int store_follow_up_list(store_tx *tx, int64_t interaction_id, json_t **out);
int store_event_list(store_tx *tx, int64_t interaction_id, json_t *query, json_t **out);

/* --- queues and agent state (routing) -------------------------------- */
/* in: client_id, name, priority ({urgency:{low..urgent}, tier:{standard..
 * enterprise}, aging_per_s}, merged over defaults), widening ([{after_s,
 * relax, keep}]), strategy (order of "match", "idle", "handled"), overflow
 * ({after_s, queue_id} of the same client), offer_timeout_s, max_missed. */
int store_queue_create(store_tx *tx, json_t *in, json_t **out);
int store_queue_get(store_tx *tx, int64_t id, json_t **out);
/* query: client_id, cursor, limit. */
int store_queue_list(store_tx *tx, json_t *query, json_t **out);
int store_queue_update(store_tx *tx, int64_t id, json_t *patch, json_t **out);
/* A user's routing state {state, reason, since, wrapup_until}; offline if
 * never set. */
int store_agent_state_get(store_tx *tx, int64_t user_id, json_t **out);
/* Sets the caller's own state: in {state: offline|available|away, reason
 * (required for away)}. */
int store_agent_state_set(store_tx *tx, json_t *in, json_t **out);

/* --- routing: the router's side (system context) ---------------------- */
/* Takes or renews the routing lease for `me` until now + lease_ms (a
 * holder with more than half of it left keeps it without writing).
 * CD_EBUSY when another server holds it. *taken_over is 1 when this call
 * took it from another holder (or nobody): the router must rebuild its
 * state; *renewed is 1 when the lease row was written. */
int store_router_lease(store_tx *tx, const char *me, int64_t lease_ms, int64_t *epoch,
                       int *taken_over, int *renewed);
/* Who holds the lease, without writing: *mine, and until when. */
int store_router_lease_peek(store_tx *tx, const char *me, int *mine, int64_t *until);
int store_router_release(store_tx *tx, const char *me);
/* Outbox hints after after_seq, oldest first: [{seq, at, kind, client_id,
 * subject_id, agent_id, detail}]. kind: interaction, agent, queue, accept,
 * reject, finish. */
int store_routing_events(store_tx *tx, int64_t after_seq, int64_t limit, json_t **out);
int store_routing_head(store_tx *tx, int64_t *seq);
/* The push log (what the live streams are sent, migration 019): appends n
 * entries [{topic, key, event, data (a JSON text)}] numbered in commit order;
 * reads those after after_seq, oldest first: [{seq, topic, topic_key, event,
 * data}]; the number of the last one; drops those set before `before`. */
enum { STORE_PUSH_AGENT = 0, STORE_PUSH_CLIENT = 1 }; /* topics, as the hub's */
/* An entry of this event on STORE_PUSH_AGENT, key a user: what the user may
 * see changed (a client, the role, deactivation, a revoked token), so every
 * stream the user has open ends; one reopened is checked again. */
#define STORE_PUSH_ACCESS "access_changed"
int store_push_append(store_tx *tx, json_t *entries);
int store_push_since(store_tx *tx, int64_t after_seq, int64_t limit, json_t **out);
int store_push_head(store_tx *tx, int64_t *seq);
int store_push_trim(store_tx *tx, int64_t before);
/* An interaction as routing sees it (with its customer's tier). */
int store_routing_interaction(store_tx *tx, int64_t id, json_t **out);
/* Agents who rejected or missed an offer of the interaction, most recent
 * first (16 at most): [{agent_id}]. */
int store_routing_exclusions(store_tx *tx, int64_t interaction, json_t **out);
/* Ids of every interaction waiting for an agent (unassigned, new or open). */
int store_routing_waiting(store_tx *tx, json_t **out);
/* An agent as routing sees it: {id, active, state, wrapup_until, clients,
 * skills, work: [{interaction_id, channel}]}. */
int store_routing_agent(store_tx *tx, int64_t user_id, json_t **out);
/* Ids of users who ever set a routing state. */
int store_routing_agents(store_tx *tx, json_t **out);
int store_routing_queues(store_tx *tx, json_t **out);
int store_routing_pending_offers(store_tx *tx, json_t **out);
int store_offer_create(store_tx *tx, int64_t interaction, int64_t agent, int64_t expires_at,
                       json_t **out);
/* Marks every pending offer past its deadline expired; returns them. */
int store_offers_expire(store_tx *tx, json_t **expired);
int store_offers_cancel(store_tx *tx, int64_t interaction);
/* Expires the pending offer of interaction to agent: CD_ESTATE if it was
 * decided otherwise meanwhile. */
int store_offer_expire_one(store_tx *tx, int64_t interaction, int64_t agent);
/* Sets an agent's state on routing's behalf (away for missed offers,
 * wrap-up with its end, available after wrap-up). */
int store_agent_state_system(store_tx *tx, int64_t agent, const char *state, const char *reason,
                             int64_t wrapup_until);
int store_interaction_requeue(store_tx *tx, int64_t interaction, const char *queue);

/* --- routing: the agent's side ---------------------------------------- */
/* The caller's pending offers, with the interaction's channel, subject,
 * priority and queue. */
int store_offer_list_mine(store_tx *tx, json_t **out);
int store_offer_get_mine(store_tx *tx, int64_t offer, json_t **out);
/* Accepts a pending, unexpired offer of the caller's: the interaction is
 * assigned to them. CD_ESTATE when the offer is no longer open. */
int store_offer_accept(store_tx *tx, int64_t offer, json_t **out);
int store_offer_reject(store_tx *tx, int64_t offer, json_t **out);
/* The caller finished working on an interaction they accepted; wrap-up of
 * wrapup_s seconds follows. */
int store_work_finish(store_tx *tx, int64_t interaction, int32_t wrapup_s, json_t **out);

/* The supervisor's view of a client: per queue the waiting count, offers
 * out, longest wait, and service level today (since midnight in the
 * client's time zone: share of accepted offers decided within sl_ms of
 * arrival); agents by state. */
int store_supervisor_view(store_tx *tx, int64_t client, int64_t sl_ms, json_t **out);

/* --- guided workflows ------------------------------------------------ */
/* A workflow of a client, with its draft document (text) when with_draft,
 * and its published versions [{id, version, published_at, published_by}]. */
int store_workflow_get(store_tx *tx, int64_t id, int with_draft, json_t **out);
/* key is the document's own id (unique per client). */
int store_workflow_create(store_tx *tx, int64_t client, const char *key, const char *title,
                          const char *draft, json_t **out);
/* query: client_id, cursor, limit. */
int store_workflow_list(store_tx *tx, json_t *query, json_t **out);
int store_workflow_save_draft(store_tx *tx, int64_t id, const char *key, const char *title,
                              const char *draft, json_t **out);
/* Adds the next immutable version with document (already linted). */
int store_workflow_publish(store_tx *tx, int64_t id, const char *document, json_t **out);
/* A published version (0: the latest): {id, workflow_id, client_id,
 * version, document}. */
int store_workflow_version(store_tx *tx, int64_t workflow, int64_t version, json_t **out);
/* A published version (0: the latest) with its sessions' raw rows
 * [{state (text), status, outcome, started_at, updated_at}] under
 * "sessions", for analytics. */
int store_workflow_sessions(store_tx *tx, int64_t workflow, int64_t version, json_t **out);
/* Sessions: one pinned version on one interaction; state is the runtime's
 * saved JSON (text); status active, completed or abandoned. */
int store_flow_session_create(store_tx *tx, int64_t interaction, int64_t version_id,
                              int64_t parent_id, const char *state, const char *status,
                              json_t **out);
/* {id, client_id, interaction_id, version_id, workflow_id, version, state,
 * status, outcome, started_by, started_at, updated_at, document}. */
int store_flow_session_get(store_tx *tx, int64_t id, json_t **out);
/* The id of the client's workflow with key `key` (CD_ENOTFOUND if none). */
int store_workflow_by_key(store_tx *tx, int64_t client, const char *key, int64_t *id);
/* [{id}] of the sessions started by session `parent` with this status. */
int store_flow_session_children(store_tx *tx, int64_t parent, const char *status, json_t **out);
int store_flow_session_save(store_tx *tx, int64_t id, const char *state, const char *status,
                            const char *outcome);

/* --- email ------------------------------------------------------------ */
/* A client's mail settings: ticket_prefix (subject tokens "[PREFIX-123]";
 * defaults to the slug upper-cased), max_attachment_bytes, auto_ack,
 * auto_ack_text, auto_ack_per_hour, smtp_url. set merges in. */
int store_mail_settings_get(store_tx *tx, int64_t client, json_t **out);
int store_mail_settings_set(store_tx *tx, int64_t client, json_t *in, json_t **out);
/* Ingests one message of client, parsed (m) from raw: keeps the raw
 * message (redacted, content-addressed), stores it once per Message-ID,
 * records a bounce on the outbound message it names, else threads it
 * (In-Reply-To, References, then the subject token if the sender takes
 * part) onto an interaction or starts one for the customer found or made
 * by the sender's address, keeps attachments within the client's limit and
 * queues the automatic acknowledgement. {outcome: created, threaded,
 * duplicate, own, bounce; email_id, interaction_id, ...}. */
struct mail_msg;
int store_mail_ingest(store_tx *tx, int64_t client, const char *raw, size_t len,
                      const struct mail_msg *m, json_t **out);
/* Keeps only the raw message (when nothing else of it can be stored),
 * with why. {outcome: kept, email_id}. */
int store_mail_keep_raw(store_tx *tx, int64_t client, const char *raw, size_t len, const char *why,
                        json_t **out);
/* Receives one message for client the way every path that receives mail
 * does (system context): store_mail_ingest in a transaction of its own,
 * committed; when the store refuses the message as data, only its raw copy
 * (store_mail_keep_raw) in another. Data errors (CD_EINVAL, CD_ETOOBIG,
 * CD_ESTATE, CD_ECONFLICT) mean not even the raw copy could be kept; err
 * (may be NULL) receives the store's reason. */
int store_mail_receive(store *s, int64_t now_ms, int64_t client, const char *raw, size_t len,
                       const struct mail_msg *m, json_t **out, char *err, size_t errlen);
/* Every email of an interaction, oldest first, with its delivery status
 * and attachments: {items, next_cursor}. */
int store_mail_list(store_tx *tx, int64_t interaction, json_t **out);

/* The outbox (system context): claims up to limit queued emails that are
 * due, each under a lease for `me` until now + lease_ms (a conditional
 * update: of several servers exactly one claims a row), with what sending
 * needs: [{id, client_id, interaction_id, kind, rfc_message_id,
 * in_reply_to, refs, from_name, from_addr, to_addr, subject, body,
 * attempts, smtp_url}]. */
int store_mail_outbox_claim(store_tx *tx, const char *me, int64_t lease_ms, int limit,
                            json_t **out);
/* Records a claimed email's outcome if `me` still holds it: sent; failed
 * for good (permanent, or the 8th attempt) with error; or queued again
 * after retry_base_ms doubled per attempt (at most an hour). */
int store_mail_outbox_result(store_tx *tx, int64_t id, const char *me, int ok, int permanent,
                             const char *error, int64_t retry_base_ms);

/* --- IMAP polling (system context) ------------------------------------- */
/* A client's mailbox is polled when its mail settings have an imap_url
 * (imap_user, imap_password sealed with the key file, imap_after seen or
 * move, imap_move_to, imap_poll_seconds); the settings view shows
 * imap_password_set and imap_status instead of the password. */

/* Claims one mailbox that is due and not leased, for `me` until now +
 * lease_ms (a conditional update: of several servers exactly one claims
 * it). *out is NULL when none is due, else {client_id, imap_url,
 * imap_user, imap_password (opened), imap_after, imap_move_to,
 * imap_poll_seconds, uidvalidity, last_uid[, error]}; error says why the
 * password could not be opened. */
int store_imap_claim(store_tx *tx, const char *me, int64_t lease_ms, json_t **out);
/* Records that every message up to last_uid of this UIDVALIDITY is stored
 * and marked, and extends the lease; CD_ESTATE when `me` lost it. */
int store_imap_advance(store_tx *tx, int64_t client, const char *me, int64_t uidvalidity,
                       int64_t last_uid, int64_t lease_ms);
/* Ends a poll: releases the lease, records error ("" when none) and the
 * counts, and makes the mailbox due again in next_in_ms. */
int store_imap_done(store_tx *tx, int64_t client, const char *me, const char *error,
                    int64_t fetched, int64_t duplicates, int64_t next_in_ms);

/* --- audit and idempotency -------------------------------------------- */
/* Appends one chained audit entry (the store calls this for every write;
 * exported for actions outside the store, such as logins). */
int store_audit_append(store_tx *tx, const char *action, const char *entity, int64_t entity_id,
                       int64_t client_id, const char *detail);
/* query: cursor, limit, client_id. Admins see all; others their clients'. */
int store_audit_list(store_tx *tx, json_t *query, json_t **out);
/* Walks the chain. *bad_seq receives 0 if intact, else the first entry
 * whose link is broken; *checked the number of entries walked. */
int store_audit_verify(store *s, int64_t *bad_seq, int64_t *checked);

/* A stored response for (user, key), or CD_ENOTFOUND. {method, path,
 * status, body}. */
int store_idem_get(store_tx *tx, int64_t user_id, const char *key, json_t **out);
int store_idem_put(store_tx *tx, int64_t user_id, const char *key, const char *method,
                   const char *path, int status, const char *body);

#endif
