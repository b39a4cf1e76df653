/* store_internal.h - what the store's files share (not for outside use). */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include "core/redact.h"
#include "core/vault.h"
#include "store/backend.h"
#include "store/store.h"

#include <pthread.h>

struct store {
    const store_backend *be;
    char *target;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    store_conn **idle; /* connections not in use */
    int nidle, size;
    const vault *vault;                      /* keys for sensitive fields, or NULL */
    const struct sentiment_model *sentiment; /* scores inbound text, or NULL */
    const store_classifier *classifier;      /* predicts intent, or NULL */
    int importing;                           /* history is being written: replies are not emailed */
    char vault_why[256];                     /* why there is no vault */
};

struct store_tx {
    store *s;
    store_conn *c;
    store_ctx ctx;
    int64_t now;
    int write;
    int in_rules;          /* rule actions are running: they fire no rules */
    unsigned effects;      /* STORE_FX_*: what the transaction wrote that others follow */
    int rules_fired;       /* rules changed something in this transaction */
    int64_t redact_client; /* the client whose redaction policy was read, and it */
    unsigned redact_opts;
    int64_t settings_client; /* the client whose settings row was read, and it */
    json_t *settings;
    json_t *pushes; /* push log entries, appended at commit (store__push) */
    char err_field[64];
    char err_msg[256];
};

/* Runs sql with params (stolen; may be NULL). rows may be NULL. */
int store__q(store_tx *tx, const char *sql, json_t *params, json_t **rows);
/* Like store__q but wants exactly one row: CD_ENOTFOUND when none. */
int store__q1(store_tx *tx, const char *sql, json_t *params, json_t **row);
/* Like store__q, giving the number of rows changed. */
int store__exec(store_tx *tx, const char *sql, json_t *params, int64_t *changes);

/* Records field and message for the caller and returns err. */
int store__fail(store_tx *tx, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 if the caller may see rows of client_id, else 0. */
int store__allows(const store_tx *tx, int64_t client_id);
/* Loads the one row of sql (which takes the id as $1) and answers
 * CD_ENOTFOUND, as for a missing row, unless the caller may see the row's
 * client_id. The tenant check for every single-row read of client data. */
int store__get_visible(store_tx *tx, const char *sql, int64_t id, json_t **row);
/* 0 if client_id names a client the caller may see, else CD_ENOTFOUND on
 * field "client_id" (the same answer for missing and forbidden). */
int store__client_check(store_tx *tx, int64_t client_id);

/* A dynamically built statement with its parameter list. */
typedef struct sqlb {
    char *sql;
    size_t len, cap;
    json_t *params;
    int failed;
} sqlb;
void store__sqlb_init(sqlb *b, const char *start);
void store__sqlb_add(sqlb *b, const char *text);
/* Appends text in which "$?" is replaced by the next parameter number and
 * takes val (stolen) as that parameter. */
void store__sqlb_param(sqlb *b, const char *text, json_t *val);
/* Appends " AND <column> IN (...)" restricting to the caller's clients
 * (nothing for callers who see every client). */
void store__sqlb_tenant(sqlb *b, const store_tx *tx, const char *column);
void store__sqlb_cleanup(sqlb *b);
/* Runs the built statement (rows may be NULL) and cleans the builder up. */
int store__sqlb_run(store_tx *tx, sqlb *b, json_t **rows);

/* Starts a newest-first page: reads cursor and limit from query, checks
 * its client_id if any, and begins b as select + " WHERE key < cursor". */
int store__list_start(store_tx *tx, json_t *query, const char *select, const char *key, sqlb *b,
                      int64_t *limit);
/* Adds the tenant clause on tenant_column (NULL: none), orders by key
 * descending with one row beyond limit (see store__page), and runs b. */
int store__list_finish(store_tx *tx, sqlb *b, const char *tenant_column, const char *key,
                       int64_t limit, json_t **rows);
/* Reads cursor and limit from a list query. */
int store__page_args(store_tx *tx, json_t *query, int64_t *before_id, int64_t *limit);
/* Builds {items, next_cursor} from rows fetched with limit+1 (rows stolen). */
json_t *store__page(json_t *rows, int64_t limit);

/* Parses a JSON text column in row into a JSON value in place. */
void store__parse_column(json_t *row, const char *column, const char *fallback);

/* Appends an event on an interaction; before/after borrowed, may be NULL. */
int store__event(store_tx *tx, int64_t client_id, int64_t interaction_id, const char *kind,
                 json_t *before, json_t *after);

/* Audit helpers: detail is built from a JSON value (borrowed) or NULL. */
int store__audit(store_tx *tx, const char *action, const char *entity, int64_t entity_id,
                 int64_t client_id, json_t *detail);

/* Finds the customer of client by any identity in in.identities (adding
 * the identities it lacked) or creates one from in; *id receives it. */
int store__customer_resolve(store_tx *tx, int64_t client, json_t *in, int64_t *id);
/* Every interaction of a customer, newest first, each with its messages. */
int store__interactions_of(store_tx *tx, int64_t customer_id, json_t **items);

/* Appends a hint to the routing outbox (see store_routing.c). */
int store__routing_emit(store_tx *tx, const char *kind, int64_t client_id, int64_t subject_id,
                        int64_t agent_id, const char *detail);

/* Redaction of free text before it is written (store_redact.c). */
int store__redact_opts(store_tx *tx, int64_t client_id, unsigned *opts);
/* in.timezone, when given, is a zone the system knows ("Europe/Berlin");
 * null too when null_ok. Fails with a field error otherwise. */
int store__timezone_check(store_tx *tx, json_t *in, int null_ok);
/* Masks every string in v in place. */
int store__redact_json(json_t *v, unsigned opts, redact_counts *counts);
/* A new JSON string of s masked with opts (NULL when out of memory). */
json_t *store__masked_string(const char *s, unsigned opts);
/* Masks the members keys (NULL-terminated) of obj with the client's policy. */
int store__redact_fields(store_tx *tx, int64_t client_id, json_t *obj, const char *const *keys,
                         redact_counts *counts);
/* {"card": 2, ...} of what counts holds (new reference), or NULL if nothing. */
json_t *store__redact_summary(const redact_counts *counts);
/* Records a "redacted" event (what, what_id, kinds) if counts holds anything. */
int store__redact_event(store_tx *tx, int64_t client_id, int64_t interaction_id, const char *what,
                        int64_t what_id, const redact_counts *counts);

/* Sensitive customer fields (store_sensitive.c): masks the "sensitive"
 * column of a customer row; seals and writes changes ({field: value or
 * null}) after checking them against the client's list. */
void store__sensitive_shape(json_t *row);
int store__sensitive_write(store_tx *tx, int64_t client, int64_t customer_id, json_t *changes);

/* Intent (store_intent.c): classifies a new interaction (after its first
 * message is in) and applies a confident prediction to row and the table;
 * logs a resolved interaction as a learning example. */
#define INTENT_CATEGORY_CAP 257
/* Adds one entry to the push log (store_push_append) when the transaction
 * commits, so that the push log's head is the last row lock any
 * transaction takes (no two can wait for each other's); takes data. */
int store__push(store_tx *tx, int topic, int64_t key, const char *event, json_t *data);

/* first: the body of its first inbound message, or NULL to look it up */
int store__intent_route(store_tx *tx, int64_t client, int64_t id, json_t *in, json_t *row,
                        const char *first);
int store__intent_resolved(store_tx *tx, int64_t client, int64_t id, json_t *row);

/* Rules (store_rules.c): runs the client's active rules for event on the
 * interaction; details (borrowed, may be NULL) is what the condition sees
 * as `details`. */
int store__rules_fire(store_tx *tx, int64_t client, int64_t interaction, const char *event,
                      json_t *details);

/* SLA (store_sla.c): keeps an interaction's clocks up to date after
 * `what` happened: "created", "reply" (an agent's outbound message),
 * "customer_message", "updated" (change: {before, after}). */
int store__sla_on(store_tx *tx, int64_t client, int64_t interaction, const char *what,
                  json_t *change);
/* Records an escalation from tier `from` to `to`, early, on time or late
 * against the interaction's SLA policy (event "escalated"). */
int store__escalated(store_tx *tx, int64_t client, int64_t interaction, const char *from,
                     const char *to);
/* CD_EINVAL (with the field at fault) unless cal is a valid calendar. */
int store__calendar_check(store_tx *tx, json_t *cal);

/* Email (store_mail.c): queues an agent's reply (a message row) on an
 * email interaction for sending. */
/* IMAP settings (store_imap.c): checks the imap_* fields of in merged
 * into cur and seals a new password in cur; shapes a settings row for the
 * API (no password, imap_password_set, imap_status). */
int store__imap_settings_check(store_tx *tx, int64_t client, json_t *in, json_t *cur);
int store__imap_settings_shape(store_tx *tx, int64_t client, json_t *s);
/* Seals every IMAP password again with v's active key (keys rotate). */
int store__imap_reseal(store_tx *tx, const vault *v, int64_t *count);
int store__mail_reply(store_tx *tx, int64_t client, int64_t interaction, json_t *message);
/* Queues the client's satisfaction survey (if it wants one) for a resolved
 * email interaction. */
int store__mail_survey(store_tx *tx, int64_t client, int64_t interaction);

/* A client's settings row (redaction, sentiment threshold, intent), read
 * once per transaction; borrowed until the transaction ends. */
int store__client_settings(store_tx *tx, int64_t client, json_t **row);

/* Int from a JSON query, 0 when absent. */
int64_t store__int(json_t *obj, const char *key);
const char *store__str(json_t *obj, const char *key);

#endif
