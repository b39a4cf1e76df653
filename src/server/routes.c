/* routes.c - the API's route table and the schemas of what it accepts. */
#include "server/routes.h"

#include "core/lifecycle.h"

#include <stdlib.h>
#include <string.h>

/* --- value sets ------------------------------------------------------- */
static const char *const roles[] = {"admin", "supervisor",    "agent", "qa",
                                    "wfm",   "client_viewer", NULL};
static const char *const tiers[] = {"standard", "premium", "enterprise", NULL};
static const char *const channels[] = {"email", "chat", "voice", "social", "web", NULL};
static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
static const char *const directions[] = {"inbound", "outbound", "note", NULL};
static const char *const identity_kinds[] = {"email", "phone", "chat", "social", NULL};

#define ID_FIELD(n, f, d)                                                                          \
    {                                                                                              \
        n, JS_INT, f, 1, INT64_MAX, 0, NULL, NULL, d                                               \
    }
#define STR(n, f, len, d)                                                                          \
    {                                                                                              \
        n, JS_STRING, f, 0, 0, len, NULL, NULL, d                                                  \
    }
#define ENUM(n, f, set, d)                                                                         \
    {                                                                                              \
        n, JS_ENUM, f, 0, 0, 0, set, NULL, d                                                       \
    }
#define END                                                                                        \
    {                                                                                              \
        0                                                                                          \
    }

/* --- bodies ----------------------------------------------------------- */
static const jschema_field login_body[] = {STR("email", JS_REQUIRED, 254, "account email"),
                                           STR("password", JS_REQUIRED, 1024, "password"), END};

static const jschema_field brand_fields[] = {
    STR("display_name", 0, 200, "name customers see"),
    STR("from_address", 0, 254, "address outbound email comes from"),
    STR("signature", 0, 2000, "signature appended to replies"),
    STR("tone_notes", 0, 4000, "how agents should sound for this brand"), END};

static const jschema_field privacy_fields[] = {
    {"redact_emails", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "mask email addresses in text"},
    {"redact_phones", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "mask phone numbers in text"},
    {"sensitive_fields", JS_TAGS, 0, 0, 32, 40, NULL, NULL,
     "customer fields encrypted at rest and shown only on reveal"},
    {"sentiment_alert_below", JS_NUMBER, 0, -1, 1, 0, NULL, NULL,
     "a customer message scoring below this raises a sentiment alert"},
    END};

static const jschema_field intent_fields[] = {
    {"threshold", JS_NUMBER, 0, 0, 1, 0, NULL, NULL,
     "confidence from which a prediction sets the category and queue"},
    STR("triage_queue", 0, 64, "queue for interactions whose intent is unsure"),
    {"routes", JS_MAP, 0, 0, 0, 0, NULL, NULL, "category -> queue"},
    END};

static const jschema_field client_body[] = {
    STR("slug", JS_REQUIRED, 40, "short unique name, a-z 0-9 -"),
    STR("name", JS_REQUIRED, 200, "company name"),
    {"brand", JS_OBJECT, 0, 0, 0, 0, NULL, brand_fields, "brand used when speaking for the client"},
    STR("timezone", 0, 64, "IANA timezone"),
    {"privacy", JS_OBJECT, 0, 0, 0, 0, NULL, privacy_fields,
     "redaction policy, sensitive customer fields, sentiment alert threshold"},
    {"intent", JS_OBJECT, 0, 0, 0, 0, NULL, intent_fields, "routing by learned intent"},
    {"calendar", JS_ANY, 0, 0, 0, 0, NULL, NULL,
     "business hours: \"24/7\" or {timezone, hours, holidays} (docs/sla.md)"},
    END};

static const jschema_field skill_fields[] = {
    STR("name", JS_REQUIRED, 64, "skill or language"),
    {"proficiency", JS_INT, JS_REQUIRED, 1, 5, 0, NULL, NULL, "1 (basic) to 5 (expert)"},
    END};

static const jschema_field user_body[] = {
    STR("email", JS_REQUIRED, 254, "login email"),
    STR("name", JS_REQUIRED, 200, "display name"),
    ENUM("role", JS_REQUIRED, roles, "role"),
    {"password", JS_STRING, 0, 0, 0, 1024, NULL, NULL, "initial password (min 8 characters)"},
    {"clients", JS_IDS, 0, 0, 256, 0, NULL, NULL, "ids of clients served"},
    {"skills", JS_ARRAY, 0, 0, 64, 0, NULL, skill_fields, "skills with proficiency"},
    END};

static const jschema_field weight_fields[] = {
    {"voice", JS_INT, 0, 1, 61, 0, NULL, NULL, "units of 60 a call takes (61: no calls)"},
    {"chat", JS_INT, 0, 1, 61, 0, NULL, NULL, "units a chat takes (61: no chats)"},
    {"email", JS_INT, 0, 1, 61, 0, NULL, NULL, "units an email takes (61: no email)"},
    {"social", JS_INT, 0, 1, 61, 0, NULL, NULL, "units a social message takes"},
    {"web", JS_INT, 0, 1, 61, 0, NULL, NULL, "units a web form takes"},
    END};

static const jschema_field user_patch[] = {
    STR("name", 0, 200, "display name"),
    ENUM("role", 0, roles, "role"),
    {"active", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "false blocks login and ends sessions"},
    {"password", JS_STRING, 0, 0, 0, 1024, NULL, NULL, "new password (min 8 characters)"},
    {"channel_weights", JS_OBJECT, 0, 0, 0, 0, NULL, weight_fields,
     "capacity: units out of 60 per item on each channel (defaults voice 60, chat 20, others "
     "12); replaces the agent's overrides"},
    END};

static const jschema_field skills_body[] = {
    {"skills", JS_ARRAY, JS_REQUIRED, 0, 64, 0, NULL, skill_fields, "replaces all skills"}, END};

static const jschema_field token_body[] = {STR("name", JS_REQUIRED, 100, "what the token is for"),
                                           END};

static const jschema_field identity_fields[] = {
    ENUM("kind", JS_REQUIRED, identity_kinds, "channel of the identity"),
    STR("value", JS_REQUIRED, 320, "address, number, chat id or handle"), END};

static const jschema_field customer_body[] = {
    ID_FIELD("client_id", JS_REQUIRED, "owning client"),
    STR("name", 0, 200, "customer name"),
    ENUM("tier", 0, tiers, "service tier"),
    STR("locale", JS_NULLABLE, 35, "BCP 47 language tag"),
    STR("timezone", JS_NULLABLE, 64, "IANA timezone"),
    {"identities", JS_ARRAY, 0, 0, 32, 0, NULL, identity_fields, "how to reach and recognise"},
    {"sensitive", JS_MAP, 0, 0, 0, 0, NULL, NULL,
     "values of the client's sensitive fields, sealed at rest"},
    END};

static const jschema_field customer_patch[] = {
    STR("name", 0, 200, "customer name"), ENUM("tier", 0, tiers, "service tier"),
    STR("locale", JS_NULLABLE, 35, "BCP 47 language tag"),
    STR("timezone", JS_NULLABLE, 64, "IANA timezone"),
    {"sensitive", JS_MAP, 0, 0, 0, 0, NULL, NULL,
     "sensitive field values to seal; null removes one"},
    END};

static const jschema_field customer_ref[] = {STR("name", 0, 200, "customer name"),
                                             ENUM("tier", 0, tiers, "service tier"),
                                             {"identities", JS_ARRAY, JS_REQUIRED, 0, 32, 0, NULL,
                                              identity_fields,
                                              "found again by any of these, else created"},
                                             END};

static const jschema_field message_body[] = {
    ENUM("direction", JS_REQUIRED, directions, "inbound, outbound (reply) or note (internal)"),
    STR("body", JS_REQUIRED, 262144, "text"), END};

static const char *const kb_audiences[] = {"internal", "public", NULL};
static const char *const kb_statuses[] = {"draft", "published", "archived", NULL};

static const jschema_field article_body[] = {
    ID_FIELD("client_id", JS_REQUIRED, "owning client"),
    STR("title", JS_REQUIRED, 300, "title"),
    STR("body", 0, 200000, "body, Markdown"),
    {"tags", JS_TAGS, 0, 0, 32, 64, NULL, NULL, "tags"},
    ENUM("audience", 0, kb_audiences, "internal (agents) or public (customers too)"),
    ENUM("status", 0, kb_statuses, "draft, published (searchable) or archived"),
    END};

static const jschema_field article_patch[] = {
    STR("title", 0, 300, "title"),
    STR("body", 0, 200000, "body, Markdown"),
    {"tags", JS_TAGS, 0, 0, 32, 64, NULL, NULL, "tags (replaces them)"},
    ENUM("audience", 0, kb_audiences, "internal or public"),
    ENUM("status", 0, kb_statuses, "draft, published or archived"),
    {"version", JS_INT, 0, 1, INT64_MAX, 0, NULL, NULL, "fail with 409 unless still this version"},
    END};

static const jschema_field feedback_body[] = {
    {"helpful", JS_BOOL, JS_REQUIRED, 0, 0, 0, NULL, NULL, "was the suggestion helpful"}, END};

static const char *const rule_events[] = {"created",     "updated",    "message_in",
                                          "sentiment_alert", "sla_warning", "sla_breach",
                                          "idle",        NULL};

static const jschema_field rule_body[] = {
    ID_FIELD("client_id", JS_REQUIRED, "owning client"),
    STR("name", JS_REQUIRED, 200, "what the rule is for"),
    ENUM("event", JS_REQUIRED, rule_events, "when it runs"),
    STR("condition", 0, 4096, "expression over interaction, customer, event, details; empty: always"),
    {"actions", JS_ANY, JS_REQUIRED, 0, 0, 0, NULL, NULL,
     "[{type: set_priority|move_to_queue|assign|add_tag|notify_supervisors|send_reply|webhook, "
     "...}]"},
    {"idle_minutes", JS_INT, 0, 0, 525600, 0, NULL, NULL, "for idle rules: minutes without activity"},
    {"position", JS_INT, 0, -1000000, 1000000, 0, NULL, NULL, "order among the event's rules"},
    {"active", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "false: the rule does not run"},
    END};

static const jschema_field rule_patch[] = {
    STR("name", 0, 200, "what the rule is for"),
    ENUM("event", 0, rule_events, "when it runs"),
    STR("condition", 0, 4096, "expression; empty: always"),
    {"actions", JS_ANY, 0, 0, 0, 0, NULL, NULL, "the actions, replaced"},
    {"idle_minutes", JS_INT, 0, 0, 525600, 0, NULL, NULL, "for idle rules"},
    {"position", JS_INT, 0, -1000000, 1000000, 0, NULL, NULL, "order among the event's rules"},
    {"active", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "false: the rule does not run"},
    END};

static const jschema_field sla_policy_body[] = {
    ID_FIELD("client_id", JS_REQUIRED, "owning client"),
    STR("name", JS_REQUIRED, 200, "policy name"),
    {"position", JS_INT, 0, -1000000, 1000000, 0, NULL, NULL, "order: the first match applies"},
    {"conditions", JS_ANY, 0, 0, 0, 0, NULL, NULL,
     "{priority|tier|channel|category|queue: [values]}; none: every interaction"},
    {"targets", JS_ANY, JS_REQUIRED, 0, 0, 0, NULL, NULL,
     "{first_response|next_response|periodic_update|resolution: {minutes, business}}"},
    {"warn_share", JS_NUMBER, 0, 0, 1, 0, NULL, NULL, "share of a target after which to warn"},
    {"escalation", JS_ANY, 0, 0, 0, 0, NULL, NULL,
     "[{tier: team_lead|supervisor|client_contact, minutes, business}] from creation"},
    {"active", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "false: the policy does not apply"},
    END};

static const jschema_field sla_policy_patch[] = {
    STR("name", 0, 200, "policy name"),
    {"position", JS_INT, 0, -1000000, 1000000, 0, NULL, NULL, "order"},
    {"conditions", JS_ANY, 0, 0, 0, 0, NULL, NULL, "conditions, replaced"},
    {"targets", JS_ANY, 0, 0, 0, 0, NULL, NULL, "targets, replaced"},
    {"escalation", JS_ANY, 0, 0, 0, 0, NULL, NULL, "escalation tiers, replaced"},
    {"warn_share", JS_NUMBER, 0, 0, 1, 0, NULL, NULL, "share of a target after which to warn"},
    {"active", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "false: the policy does not apply"},
    END};

static const char *const report_by[] = {"policy", "priority", "channel", "day", NULL};

static const jschema_field follow_up_body[] = {
    {"in_hours", JS_NUMBER, 0, 0, 24 * 365, 0, NULL, NULL, "due this many hours from now"},
    {"due_at", JS_INT, 0, 1, INT64_MAX, 0, NULL, NULL, "or due at this time (epoch ms)"},
    STR("note", JS_REQUIRED, 4000, "what to do then"), END};

static const char *const imap_after[] = {"seen", "move", NULL};

static const jschema_field mail_settings_body[] = {
    STR("ticket_prefix", 0, 16, "token of subjects, [PREFIX-123] (upper-case letters, digits)"),
    {"max_attachment_bytes", JS_INT, 0, 0, 1LL << 30, 0, NULL, NULL,
     "larger attachments are listed but not kept"},
    {"auto_ack", JS_BOOL, 0, 0, 0, 0, NULL, NULL, "acknowledge a new email interaction by email"},
    STR("auto_ack_text", 0, 4000, "the acknowledgement's text"),
    {"auto_ack_per_hour", JS_INT, 0, 0, 1000, 0, NULL, NULL,
     "at most this many acknowledgements per sender and hour"},
    STR("smtp_url", 0, 500, "smtp:// or smtps:// server for this client's mail"),
    STR("imap_url", 0, 500,
        "mailbox polled for this client's mail: imaps://HOST[:PORT]/MAILBOX, or imap:// "
        "(STARTTLS, required unless the host is loopback); empty: not polled"),
    STR("imap_user", 0, 254, "IMAP login"),
    STR("imap_password", 0, 1024,
        "IMAP password, kept sealed with the key file (refused without one); never shown"),
    ENUM("imap_after", 0, imap_after, "after a message is stored: flag it \\Seen, or move it"),
    STR("imap_move_to", 0, 254, "the folder messages are moved to (imap_after: move)"),
    {"imap_poll_seconds", JS_INT, 0, 1, 86400, 0, NULL, NULL, "seconds between polls"},
    {"survey", JS_BOOL, 0, 0, 0, 0, NULL, NULL,
     "email a satisfaction survey when an email interaction is resolved"},
    STR("survey_text", 0, 4000, "the survey's text (a default when empty)"),
    END};

static const jschema_field required_skill_fields[] = {
    STR("name", JS_REQUIRED, 64, "skill or language"),
    {"level", JS_INT, JS_REQUIRED, 1, 5, 0, NULL, NULL, "minimum proficiency 1..5"},
    END};

static const jschema_field interaction_body[] = {
    ID_FIELD("client_id", JS_REQUIRED, "owning client"),
    ENUM("channel", JS_REQUIRED, channels, "channel"),
    STR("subject", 0, 500, "subject"),
    ENUM("priority", 0, priorities, "priority (default normal)"),
    ENUM("status", 0, lifecycle_statuses, "status (default new)"),
    STR("queue", 0, 100, "queue (default \"default\")"),
    STR("category", JS_NULLABLE, 100, "category"),
    {"tags", JS_TAGS, 0, 0, 32, 64, NULL, NULL, "tags"},
    {"custom_fields", JS_MAP, 0, 0, 0, 0, NULL, NULL, "client-defined fields"},
    ID_FIELD("assignee_id", JS_NULLABLE, "agent serving the client"),
    ID_FIELD("customer_id", JS_NULLABLE, "existing customer of the client"),
    {"customer", JS_OBJECT, 0, 0, 0, 0, NULL, customer_ref, "customer found or created"},
    {"message", JS_OBJECT, 0, 0, 0, 0, NULL, message_body, "first message"},
    {"required_skills", JS_ARRAY, 0, 0, 8, 0, NULL, required_skill_fields,
     "skills an agent needs, most important first"},
    ID_FIELD("preferred_agent_id", JS_NULLABLE, "agent offered it first, for a while"),
    END};

static const char *const escalation_tiers[] = {"agent", "team_lead", "supervisor",
                                               "client_contact", NULL};

static const jschema_field interaction_patch[] = {
    ENUM("status", 0, lifecycle_statuses, "new status (transitions are checked)"),
    ENUM("priority", 0, priorities, "priority"),
    STR("subject", 0, 500, "subject"),
    STR("queue", 0, 100, "queue"),
    STR("category", JS_NULLABLE, 100, "category"),
    {"tags", JS_TAGS, 0, 0, 32, 64, NULL, NULL, "replaces the tags"},
    {"custom_fields", JS_MAP, 0, 0, 0, 0, NULL, NULL, "merged; null removes a key"},
    ID_FIELD("assignee_id", JS_NULLABLE, "agent serving the client, or null"),
    ENUM("escalation_tier", 0, escalation_tiers,
         "who has it: agent, team_lead, supervisor, client_contact"),
    {"version", JS_INT, 0, 1, INT64_MAX, 0, NULL, NULL, "fail with 409 unless still this version"},
    END};

static const jschema_field priority_fields[] = {
    {"urgency", JS_MAP, 0, 0, 0, 0, NULL, NULL, "points by urgency: low, normal, high, urgent"},
    {"tier", JS_MAP, 0, 0, 0, 0, NULL, NULL, "points by tier: standard, premium, enterprise"},
    {"aging_per_s", JS_INT, 0, 1, 1000, 0, NULL, NULL, "points added per second waited"},
    END};

static const jschema_field step_fields[] = {
    {"after_s", JS_INT, JS_REQUIRED, 1, 86400, 0, NULL, NULL, "seconds waited"},
    {"relax", JS_INT, 0, 0, 4, 0, NULL, NULL, "lower every required level by this much"},
    {"keep", JS_INT, 0, 0, 8, 0, NULL, NULL, "keep only the first N required skills; 0: any"},
    END};

static const jschema_field overflow_fields[] = {
    {"after_s", JS_INT, JS_REQUIRED, 1, 86400, 0, NULL, NULL, "seconds waited"},
    ID_FIELD("queue_id", JS_REQUIRED, "queue of the same client"),
    END};

#define QUEUE_SETTINGS                                                                             \
    {"priority", JS_OBJECT, 0, 0, 0, 0, NULL, priority_fields, "priority points and aging"},       \
        {"skills",                                                                                 \
         JS_ARRAY,                                                                                 \
         0,                                                                                        \
         0,                                                                                        \
         8,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         required_skill_fields,                                                                    \
         "skills required by default, most important first"},                                      \
        {"widening", JS_ARRAY, 0, 0, 8, 0, NULL, step_fields, "widening steps"},                   \
        {"strategy", JS_TAGS, 0, 0, 3, 16, NULL, NULL, "order of match, idle, handled"},           \
        {"overflow", JS_OBJECT, JS_NULLABLE, 0, 0, 0, NULL, overflow_fields, "overflow rule"},     \
        {"offer_timeout_s", JS_INT, 0, 5, 600, 0, NULL, NULL, "seconds to accept an offer"},       \
    {                                                                                              \
        "max_missed", JS_INT, 0, 1, 20, 0, NULL, NULL, "missed offers before going away"           \
    }

static const jschema_field queue_body[] = {ID_FIELD("client_id", JS_REQUIRED, "owning client"),
                                           STR("name", JS_REQUIRED, 100, "queue name"),
                                           QUEUE_SETTINGS, END};
static const jschema_field queue_patch[] = {STR("name", 0, 100, "queue name"), QUEUE_SETTINGS, END};

static const char *const agent_states[] = {"offline", "available", "away", NULL};
static const jschema_field agent_state_body[] = {
    ENUM("state", JS_REQUIRED, agent_states, "offline, available or away"),
    STR("reason", 0, 64, "reason code, required for away"), END};

static const jschema_field finish_body[] = {{"wrapup_s", JS_INT, JS_REQUIRED, 0, 3600, 0, NULL,
                                             NULL,
                                             "seconds of wrap-up before the next offer (0: none)"},
                                            END};

static const jschema_field workflow_body[] = {
    ID_FIELD("client_id", JS_REQUIRED, "owning client"),
    {"document", JS_DOCUMENT, JS_REQUIRED, 0, 0, 0, NULL, NULL, "the workflow (docs/workflows.md)"},
    END};
static const jschema_field draft_body[] = {
    {"document", JS_DOCUMENT, JS_REQUIRED, 0, 0, 0, NULL, NULL, "the workflow (docs/workflows.md)"},
    END};
static const jschema_field session_body[] = {
    ID_FIELD("workflow_id", JS_REQUIRED, "a published workflow of the interaction's client"),
    {"version", JS_INT, 0, 1, 1000000, 0, NULL, NULL, "version to pin (default: the latest)"},
    END};
static const jschema_field answer_body[] = {
    {"answer", JS_ANY, JS_REQUIRED, 0, 0, 0, NULL, NULL,
     "choice: option; yes_no and check: true/false; number; text; date YYYY-MM-DD"},
    END};

#define SAMPLE_FLOW                                                                                \
    "{\"id\":\"wf-@rand@\",\"version\":1,\"title\":\"Sample\",\"start\":\"hello\","                \
    "\"nodes\":[{\"id\":\"hello\",\"kind\":\"check\",\"required\":true,\"text\":\"Verify\","       \
    "\"next\":\"done\"},{\"id\":\"done\",\"kind\":\"end\",\"outcome\":\"resolved\"}]}"

/* --- queries ---------------------------------------------------------- */
#define PAGE                                                                                       \
    STR("cursor", 0, 24, "next_cursor of the previous page"),                                      \
    {                                                                                              \
        "limit", JS_INT, 0, 1, 200, 0, NULL, NULL, "page size (default 50)"                        \
    }

static const jschema_field page_query[] = {PAGE, END};
static const jschema_field by_client_query[] = {ID_FIELD("client_id", 0, "only this client"), PAGE,
                                                END};
static const jschema_field customer_query[] = {
    ID_FIELD("client_id", 0, "only this client"),
    ENUM("identity_kind", 0, identity_kinds, "kind of identity to look up"),
    STR("identity", 0, 320, "identity value to look up"), PAGE, END};
static const jschema_field interaction_query[] = {
    ID_FIELD("client_id", 0, "only this client"),
    ENUM("status", 0, lifecycle_statuses, "status"),
    ENUM("priority", 0, priorities, "priority"),
    ID_FIELD("assignee_id", 0, "assignee"),
    STR("queue", 0, 100, "queue"),
    ENUM("channel", 0, channels, "channel"),
    STR("tag", 0, 64, "has this tag"),
    ID_FIELD("customer_id", 0, "customer"),
    {"updated_since", JS_INT, 0, 0, INT64_MAX, 0, NULL, NULL, "epoch ms"},
    PAGE,
    END};
static const jschema_field client_query[] = {ID_FIELD("client_id", JS_REQUIRED, "the client"), END};
static const jschema_field republish_body[] = {
    {"version", JS_INT, JS_REQUIRED, 1, 1000000, 0, NULL, NULL, "the version to publish again"},
    END};
static const jschema_field version_query[] = {
    {"version", JS_INT, 0, 1, 1000000, 0, NULL, NULL, "version (default: the latest)"}, END};
static const jschema_field article_query[] = {
    ID_FIELD("client_id", 0, "only this client"),
    ENUM("status", 0, kb_statuses, "status"),
    ENUM("audience", 0, kb_audiences, "audience"), PAGE, END};
static const jschema_field search_query[] = {
    ID_FIELD("client_id", JS_REQUIRED, "the client whose articles to search"),
    STR("q", 0, 1000, "words (all must match), \"a phrase\", prefix* (needed)"),
    STR("tag", 0, 64, "only articles with this tag"),
    ENUM("audience", 0, kb_audiences, "only this audience"),
    {"limit", JS_INT, 0, 1, 50, 0, NULL, NULL, "results (default 10)"},
    {"offset", JS_INT, 0, 0, 9950, 0, NULL, NULL, "results to skip"},
    END};
static const jschema_field rule_query[] = {
    ID_FIELD("client_id", 0, "only this client"), ENUM("event", 0, rule_events, "only this event"),
    PAGE, END};
static const jschema_field sla_report_query[] = {
    ID_FIELD("client_id", JS_REQUIRED, "the client"),
    ENUM("by", 0, report_by, "group by (default policy)"),
    {"from", JS_INT, 0, 0, INT64_MAX, 0, NULL, NULL, "interactions created from (epoch ms)"},
    {"to", JS_INT, 0, 0, INT64_MAX, 0, NULL, NULL, "until before (epoch ms)"},
    END};
static const jschema_field message_query[] = {
    STR("cursor", 0, 24, "next_cursor of the previous page"),
    {"limit", JS_INT, 0, 1, 500, 0, NULL, NULL, "page size (default 100)"},
    END};

/* --- the table -------------------------------------------------------- */
#define P "/api/v1"
const route routes[] = {
    {"POST", P "/auth/login", api_login, NULL, R_PUBLIC, login_body, 0, NULL, 200,
     "Log in with a password; sets the session cookie", NULL},
    {"POST", P "/auth/logout", api_logout, NULL, R_WRITE, NULL, 0, NULL, 204, "End the session",
     NULL},
    {"GET", P "/auth/me", api_me, NULL, 0, NULL, 0, NULL, 200, "Who is logged in", NULL},

    {"GET", P "/clients", api_client_list, "client.read", 0, NULL, 0, NULL, 200,
     "Clients the caller serves", NULL},
    {"POST", P "/clients", api_client_create, "client.write", R_WRITE, client_body, 0, NULL, 201,
     "Add a client", "{\"slug\":\"s-@rand@\",\"name\":\"New client\"}"},
    {"GET", P "/clients/{client_id}", api_client_get, "client.read", 0, NULL, 0, NULL, 200,
     "One client", NULL},
    {"GET", P "/clients/{client_id}/intent", api_client_intent, "client.read", 0, NULL, 0, NULL,
     200, "The client's intent settings and how its predictions fared", NULL},
    {"GET", P "/clients/{client_id}/mail", api_mail_settings_get, "client.read", 0, NULL, 0, NULL,
     200, "The client's email settings", NULL},
    {"PATCH", P "/clients/{client_id}/mail", api_mail_settings_update, "client.write", R_WRITE,
     mail_settings_body, 1, NULL, 200, "Change the client's email settings",
     "{\"auto_ack\":true}"},
    {"PATCH", P "/clients/{client_id}", api_client_update, "client.write", R_WRITE, client_body, 1,
     NULL, 200, "Change a client", "{\"name\":\"Renamed\"}"},

    {"GET", P "/users", api_user_list, "user.read", 0, NULL, 0, by_client_query, 200,
     "Users the caller may see", NULL},
    {"POST", P "/users", api_user_create, "user.write", R_WRITE, user_body, 0, NULL, 201,
     "Add a user",
     "{\"email\":\"u@rand@@example.test\",\"name\":\"U\",\"role\":\"agent\","
     "\"clients\":[@client@]}"},
    {"GET", P "/users/{user_id}", api_user_get, "user.read", 0, NULL, 0, NULL, 200, "One user",
     NULL},
    {"PATCH", P "/users/{user_id}", api_user_update, "user.write", R_WRITE, user_patch, 1, NULL,
     200, "Change a user", "{\"name\":\"Renamed\"}"},
    {"PUT", P "/users/{user_id}/skills", api_user_skills, "user.write", R_WRITE, skills_body, 0,
     NULL, 200, "Replace a user's skills",
     "{\"skills\":[{\"name\":\"billing\",\"proficiency\":3}]}"},
    {"PUT", P "/users/{user_id}/clients/{client_id}", api_membership_add, "user.write", R_WRITE,
     NULL, 0, NULL, 204, "Make a user serve a client", NULL},
    {"DELETE", P "/users/{user_id}/clients/{client_id}", api_membership_remove, "user.write",
     R_WRITE, NULL, 0, NULL, 204, "Stop a user serving a client", NULL},

    {"GET", P "/tokens", api_token_list, "token.manage", 0, NULL, 0, NULL, 200,
     "The caller's API tokens", NULL},
    {"POST", P "/tokens", api_token_create, "token.manage", R_WRITE, token_body, 0, NULL, 201,
     "Create an API token (shown once)", "{\"name\":\"integration\"}"},
    {"DELETE", P "/tokens/{token_id}", api_token_revoke, "token.manage", R_WRITE, NULL, 0, NULL,
     204, "Revoke an API token", NULL},

    {"GET", P "/customers", api_customer_list, "customer.read", R_WRITE, NULL, 0, customer_query,
     200, "Customers, or the one with an identity (audited)", NULL},
    {"POST", P "/customers", api_customer_create, "customer.write", R_WRITE, customer_body, 0, NULL,
     201, "Add a customer",
     "{\"client_id\":@client@,\"name\":\"C\",\"identities\":[{\"kind\":\"email\","
     "\"value\":\"c@rand@@example.test\"}]}"},
    {"GET", P "/customers/{customer_id}", api_customer_get, "customer.read", R_WRITE, NULL, 0, NULL,
     200, "One customer (audited)", NULL},
    {"PATCH", P "/customers/{customer_id}", api_customer_update, "customer.write", R_WRITE,
     customer_patch, 1, NULL, 200, "Change a customer", "{\"tier\":\"premium\"}"},
    {"POST", P "/customers/{customer_id}/identities", api_customer_identity_add, "customer.write",
     R_WRITE, identity_fields, 0, NULL, 201, "Add an identity",
     "{\"kind\":\"phone\",\"value\":\"+1555@rand@\"}"},
    {"GET", P "/customers/{customer_id}/sensitive", api_customer_reveal, "customer.reveal",
     R_WRITE, NULL, 0, NULL, 200, "The clear values of a customer's sensitive fields (audited)",
     NULL},
    {"GET", P "/customers/{customer_id}/history", api_customer_history, "customer.read", R_WRITE,
     NULL, 0, NULL, 200, "Every interaction of a customer on every channel (audited)", NULL},

    {"GET", P "/interactions", api_interaction_list, "interaction.read", 0, NULL, 0,
     interaction_query, 200, "Interactions, newest first, filtered", NULL},
    {"POST", P "/interactions", api_interaction_create, "interaction.write", R_WRITE,
     interaction_body, 0, NULL, 201, "Create an interaction, optionally with its first message",
     "{\"client_id\":@client@,\"channel\":\"email\",\"subject\":\"Hello\","
     "\"customer_id\":@customer@,\"message\":{\"direction\":\"inbound\",\"body\":\"Hi\"}}"},
    {"GET", P "/interactions/{interaction_id}", api_interaction_get, "interaction.read", 0, NULL, 0,
     NULL, 200, "One interaction", NULL},
    {"PATCH", P "/interactions/{interaction_id}", api_interaction_update, "interaction.write",
     R_WRITE, interaction_patch, 1, NULL, 200, "Change an interaction", "{\"priority\":\"high\"}"},
    {"GET", P "/interactions/{interaction_id}/messages", api_message_list, "interaction.read", 0,
     NULL, 0, message_query, 200, "Messages, oldest first", NULL},
    {"POST", P "/interactions/{interaction_id}/messages", api_message_create, "message.write",
     R_WRITE, message_body, 0, NULL, 201, "Reply, add a note or record an inbound message",
     "{\"direction\":\"note\",\"body\":\"checked the account\"}"},
    {"GET", P "/interactions/{interaction_id}/emails", api_email_list, "interaction.read", 0, NULL,
     0, NULL, 200, "Email sent and received on the interaction, with delivery status", NULL},
    {"GET", P "/interactions/{interaction_id}/follow_ups", api_follow_up_list, "interaction.read",
     0, NULL, 0, NULL, 200, "Follow-ups scheduled on the interaction, soonest first", NULL},
    {"POST", P "/interactions/{interaction_id}/follow_ups", api_follow_up_create,
     "interaction.write", R_WRITE, follow_up_body, 0, NULL, 201, "Schedule a follow-up",
     "{\"in_hours\":24,\"note\":\"call back about the refund\"}"},
    {"GET", P "/interactions/{interaction_id}/events", api_event_list, "event.read", 0, NULL, 0,
     page_query, 200, "The interaction's event log, newest first", NULL},

    {"GET", P "/queues", api_queue_list, "queue.read", 0, NULL, 0, by_client_query, 200,
     "Queues of the caller's clients", NULL},
    {"POST", P "/queues", api_queue_create, "queue.write", R_WRITE, queue_body, 0, NULL, 201,
     "Add a queue with its routing settings",
     "{\"client_id\":@client@,\"name\":\"q-@rand@\",\"widening\":[{\"after_s\":30,"
     "\"relax\":1}],\"offer_timeout_s\":20}"},
    {"GET", P "/queues/{queue_id}", api_queue_get, "queue.read", 0, NULL, 0, NULL, 200, "One queue",
     NULL},
    {"PATCH", P "/queues/{queue_id}", api_queue_update, "queue.write", R_WRITE, queue_patch, 1,
     NULL, 200, "Change a queue's routing settings", "{\"max_missed\":4}"},
    {"GET", P "/agents/me/state", api_agent_state_get, "agent.state", 0, NULL, 0, NULL, 200,
     "The caller's routing state", NULL},
    {"PUT", P "/agents/me/state", api_agent_state_set, "agent.state", R_WRITE, agent_state_body, 0,
     NULL, 200, "Go available, away (with a reason) or offline",
     "{\"state\":\"away\",\"reason\":\"break\"}"},

    {"GET", P "/agents/me/offers", api_offer_list, "agent.state", 0, NULL, 0, NULL, 200,
     "The caller's pending offers", NULL},
    {"POST", P "/offers/{offer_id}/accept", api_offer_accept, "agent.state", R_WRITE, NULL, 0, NULL,
     200, "Accept an offer: the interaction is assigned to the caller", NULL},
    {"POST", P "/offers/{offer_id}/reject", api_offer_reject, "agent.state", R_WRITE, NULL, 0, NULL,
     200, "Reject an offer: it goes to someone else", NULL},
    {"POST", P "/interactions/{interaction_id}/finish", api_work_finish, "agent.state", R_WRITE,
     finish_body, 0, NULL, 200, "Finish working on an interaction, with wrap-up time",
     "{\"wrapup_s\":30}", 409, "the caller is not working on this interaction"},
    {"GET", P "/agents/me/stream", api_agent_stream, "agent.state", R_STREAM, NULL, 0, NULL, 200,
     "Server-Sent Events: the caller's offers and state as they happen", NULL},
    {"GET", P "/supervisor/queues", api_supervisor_view, "supervisor.view", 0, NULL, 0,
     client_query, 200, "Queues of a client: waiting, longest wait, service level; agents by state",
     NULL},
    {"GET", P "/supervisor/stream", api_supervisor_stream, "supervisor.view", R_STREAM, NULL, 0,
     client_query, 200, "Server-Sent Events: the supervisor view as it changes", NULL},

    {"GET", P "/articles", api_article_list, "kb.read", 0, NULL, 0, article_query, 200,
     "Knowledge-base articles of the caller's clients", NULL},
    {"POST", P "/articles", api_article_create, "kb.write", R_WRITE, article_body, 0, NULL, 201,
     "Add an article (published ones are searchable)",
     "{\"client_id\":@client@,\"title\":\"Resetting a router\",\"body\":\"Hold reset for "
     "10 seconds.\",\"status\":\"published\"}"},
    {"GET", P "/articles/{article_id}", api_article_get, "kb.read", 0, NULL, 0, NULL, 200,
     "One article", NULL},
    {"PATCH", P "/articles/{article_id}", api_article_update, "kb.write", R_WRITE, article_patch,
     1, NULL, 200, "Change an article (a new version)", "{\"title\":\"Renamed\"}"},
    {"GET", P "/articles/{article_id}/versions", api_article_versions, "kb.read", 0, NULL, 0, NULL,
     200, "Every version of an article, newest first", NULL},
    {"GET", P "/kb/search", api_kb_search, "kb.read", 0, NULL, 0, search_query, 200,
     "Search a client's published articles (BM25, highlighted snippets)", NULL},
    {"GET", P "/interactions/{interaction_id}/suggestions", api_suggestions, "interaction.read",
     0, NULL, 0, NULL, 200, "Articles that may help with the interaction", NULL},
    {"POST", P "/interactions/{interaction_id}/suggestions/{article_id}/feedback",
     api_suggestion_feedback, "interaction.write", R_WRITE, feedback_body, 0, NULL, 201,
     "Say whether a suggested article helped", "{\"helpful\":true}"},

    {"GET", P "/sla/policies", api_sla_policy_list, "sla.read", 0, NULL, 0, by_client_query, 200,
     "SLA policies of the caller's clients", NULL},
    {"POST", P "/sla/policies", api_sla_policy_create, "sla.write", R_WRITE, sla_policy_body, 0,
     NULL, 201, "Add an SLA policy",
     "{\"client_id\":@client@,\"name\":\"Standard\",\"targets\":{\"first_response\":"
     "{\"minutes\":60,\"business\":true}}}"},
    {"GET", P "/sla/policies/{policy_id}", api_sla_policy_get, "sla.read", 0, NULL, 0, NULL, 200,
     "One SLA policy", NULL},
    {"PATCH", P "/sla/policies/{policy_id}", api_sla_policy_update, "sla.write", R_WRITE,
     sla_policy_patch, 1, NULL, 200, "Change an SLA policy (a new version)",
     "{\"warn_share\":0.75}"},
    {"GET", P "/interactions/{interaction_id}/sla", api_interaction_sla, "interaction.read", 0,
     NULL, 0, NULL, 200, "The interaction's SLA clocks: due times, remaining time, state", NULL},
    {"GET", P "/reports/sla", api_sla_report, "sla.read", 0, NULL, 0, sla_report_query, 200,
     "SLA achievement of a client by policy, priority, channel or day", NULL},
    {"GET", P "/rules", api_rule_list, "rule.read", 0, NULL, 0, rule_query, 200,
     "Automation and escalation rules of the caller's clients", NULL},
    {"POST", P "/rules", api_rule_create, "rule.write", R_WRITE, rule_body, 0, NULL, 201,
     "Add a rule",
     "{\"client_id\":@client@,\"name\":\"Urgent when angry\",\"event\":\"sentiment_alert\","
     "\"condition\":\"details.score < -0.8\",\"actions\":[{\"type\":\"set_priority\","
     "\"value\":\"urgent\"}]}"},
    {"GET", P "/rules/{rule_id}", api_rule_get, "rule.read", 0, NULL, 0, NULL, 200, "One rule",
     NULL},
    {"PATCH", P "/rules/{rule_id}", api_rule_update, "rule.write", R_WRITE, rule_patch, 1, NULL,
     200, "Change a rule (a new version)", "{\"active\":false}"},
    {"GET", P "/interactions/{interaction_id}/webhooks", api_webhook_list, "interaction.read", 0,
     NULL, 0, NULL, 200, "Webhook deliveries for the interaction and their status", NULL},

    {"GET", P "/workflows", api_workflow_list, "workflow.read", 0, NULL, 0, by_client_query, 200,
     "Workflows of the caller's clients", NULL},
    {"POST", P "/workflows", api_workflow_create, "workflow.write", R_WRITE, workflow_body, 0, NULL,
     201, "Add a workflow (a draft; the answer carries its lint)",
     "{\"client_id\":@client@,\"document\":" SAMPLE_FLOW "}"},
    {"GET", P "/workflows/{workflow_id}", api_workflow_get, "workflow.read", 0, NULL, 0, NULL, 200,
     "A workflow: its draft with lint, and its versions", NULL},
    {"PUT", P "/workflows/{workflow_id}/draft", api_workflow_draft, "workflow.write", R_WRITE,
     draft_body, 0, NULL, 200, "Replace the draft (the answer carries its lint)",
     "{\"document\":" SAMPLE_FLOW "}"},
    {"GET", P "/workflows/{workflow_id}/analytics", api_workflow_analytics, "workflow.read", 0,
     NULL, 0, version_query, 200,
     "A version's sessions: started, completed, abandoned, drop-off and median seconds per "
     "node, top paths, outcomes, compliance rate",
     NULL},
    {"POST", P "/workflows/{workflow_id}/publish", api_workflow_publish, "workflow.write", R_WRITE,
     NULL, 0, NULL, 201, "Publish the draft as the next immutable version (lint must pass)", NULL},
    {"POST", P "/workflows/{workflow_id}/republish", api_workflow_republish, "workflow.write",
     R_WRITE, republish_body, 0, NULL, 201, "Publish an older version again, as the next version",
     "{\"version\":1}"},
    {"POST", P "/interactions/{interaction_id}/sessions", api_session_start, "interaction.write",
     R_WRITE, session_body, 0, NULL, 201, "Start a guided workflow on the interaction",
     "{\"workflow_id\":@workflow@}"},
    {"GET", P "/sessions/{session_id}", api_session_get, "interaction.read", R_WRITE, NULL, 0, NULL,
     200, "A workflow session: where it is and its history", NULL},
    {"POST", P "/sessions/{session_id}/answer", api_session_answer, "interaction.write", R_WRITE,
     answer_body, 0, NULL, 200, "Answer the current step; the session moves on",
     "{\"answer\":true}", 422, "the answer does not fit the current step"},
    {"POST", P "/sessions/{session_id}/back", api_session_back, "interaction.write", R_WRITE, NULL,
     0, NULL, 200, "Go back one step (recorded)", NULL, 409, "already at the first step"},

    {"GET", P "/audit", api_audit_list, "audit.read", 0, NULL, 0, by_client_query, 200,
     "The audit log, newest first", NULL},

    {"GET", P "/openapi.json", api_openapi, NULL, R_PUBLIC | R_NOSTORE, NULL, 0, NULL, 200,
     "This document", NULL},
    {"GET", "/healthz", api_health, NULL, R_PUBLIC, NULL, 0, NULL, 200, "Liveness and store check",
     NULL},
    {"GET", "/metrics", api_metrics, NULL, R_PUBLIC | R_NOSTORE, NULL, 0, NULL, 200,
     "Prometheus metrics", NULL},
};
const size_t routes_count = sizeof routes / sizeof *routes;

/* Matches one segment pattern against the path; ids collects {x} values. */
static int match_path(const char *pat, const char *path, int64_t ids[2])
{
    int n = 0;
    while (*pat && *path) {
        if (*pat == '{') {
            char *end;
            long long v;
            if (*path < '0' || *path > '9')
                return 0;
            v = strtoll(path, &end, 10);
            if (v <= 0 || (*end && *end != '/') || end - path > 18 || n >= 2)
                return 0;
            ids[n++] = v;
            path = end;
            pat = strchr(pat, '}') + 1;
            continue;
        }
        if (*pat++ != *path++)
            return 0;
    }
    return *pat == '\0' && *path == '\0';
}

const route *routes_match(const char *method, const char *path, int64_t ids[2],
                          int *method_mismatch)
{
    *method_mismatch = 0;
    for (size_t i = 0; i < routes_count; i++) {
        int64_t tmp[2] = {0, 0};
        if (!match_path(routes[i].pattern, path, tmp))
            continue;
        if (strcmp(routes[i].method, method) != 0) {
            *method_mismatch = 1;
            continue;
        }
        ids[0] = tmp[0];
        ids[1] = tmp[1];
        return &routes[i];
    }
    return NULL;
}
