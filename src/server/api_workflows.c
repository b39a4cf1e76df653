/* api_workflows.c - guided workflows over HTTP: authors keep drafts, lint
 * and publish immutable versions; agents run sessions on interactions,
 * step by step, and what the workflow does (tags, priority, category,
 * escalation, notes, custom fields) is applied to the interaction. */
#include "server/routes.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/flow.h"

#include <stdio.h>
#include <string.h>

/* --- authors ---------------------------------------------------------- */

static char *document_text(json_t *doc)
{
    return json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

/* {errors, warnings, diagnostics: ["LINE:COL: error|warning: message"]} */
static json_t *lint_report(const char *text, const char *name)
{
    flow_diags d;
    json_t *list = json_array(), *out;
    flow_diags_init(&d);
    int errors = flow_lint_text(text, strlen(text), &d);
    char *all = flow_diags_text(&d, name);
    for (char *line = all, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        json_array_append_new(list, json_string(line));
        if (!next)
            break;
    }
    out = json_pack("{s:i, s:i, s:o}", "errors", errors < 0 ? 1 : errors, "warnings", d.warnings,
                    "diagnostics", list);
    cd_free(all);
    flow_diags_cleanup(&d);
    return out;
}

/* The draft as a document object, and the lint of it. */
static int workflow_view(req *r, json_t *wf)
{
    const char *draft = json_string_value(json_object_get(wf, "draft"));
    if (draft) {
        json_object_set_new(wf, "lint", lint_report(draft, "draft"));
        json_object_set_new(wf, "document", json_loads(draft, JSON_DECODE_ANY, NULL));
        json_object_del(wf, "draft");
    }
    r->out = wf;
    return 0;
}

static int document_fields(req *r, json_t *doc, const char **key, const char **title)
{
    *key = json_string_value(json_object_get(doc, "id"));
    *title = json_string_value(json_object_get(doc, "title"));
    if (!*title)
        *title = "";
    if (!*key || !**key || strlen(*key) > 100)
        return req_fail(r, CD_EINVAL, "document", "the document needs an \"id\" (1-100 bytes)");
    return 0;
}

/* A workflow belongs to its client: the document says so in "client". */
static int stamp_client(req *r, json_t *doc, int64_t client_id)
{
    json_t *client = NULL;
    int rc = store_client_get(r->tx, client_id, &client);
    if (rc == CD_ENOTFOUND)
        return req_fail(r, rc, "client_id", "no such client");
    if (!rc)
        json_object_set(doc, "client", json_object_get(client, "slug"));
    json_decref(client);
    return rc;
}

int api_workflow_list(req *r)
{
    return req_reply(r, 200, store_workflow_list(r->tx, r->query, &r->out));
}

int api_workflow_create(req *r)
{
    json_t *doc = json_object_get(r->in, "document"), *wf = NULL;
    const char *key, *title;
    char *text = NULL;
    int rc = stamp_client(r, doc, json_integer_value(json_object_get(r->in, "client_id")));
    if (!rc)
        rc = document_fields(r, doc, &key, &title);
    if (!rc)
        rc = (text = document_text(doc)) ? 0 : CD_ENOMEM;
    if (!rc)
        rc = store_workflow_create(r->tx, json_integer_value(json_object_get(r->in, "client_id")),
                                   key, title, text, &wf);
    if (!rc)
        rc = workflow_view(r, wf);
    cd_free(text);
    return req_reply(r, 201, rc);
}

int api_workflow_get(req *r)
{
    json_t *wf = NULL;
    int rc = store_workflow_get(r->tx, r->ids[0], 1, &wf);
    return req_reply(r, 200, rc ? rc : workflow_view(r, wf));
}

int api_workflow_draft(req *r)
{
    json_t *doc = json_object_get(r->in, "document"), *wf = NULL;
    const char *key, *title;
    char *text = NULL;
    int rc = store_workflow_get(r->tx, r->ids[0], 0, &wf);
    if (!rc)
        rc = stamp_client(r, doc, json_integer_value(json_object_get(wf, "client_id")));
    json_decref(wf);
    wf = NULL;
    if (!rc)
        rc = document_fields(r, doc, &key, &title);
    if (!rc)
        rc = (text = document_text(doc)) ? 0 : CD_ENOMEM;
    if (!rc)
        rc = store_workflow_save_draft(r->tx, r->ids[0], key, title, text, &wf);
    if (!rc)
        rc = workflow_view(r, wf);
    cd_free(text);
    return req_reply(r, 200, rc);
}

/* Every call node must name a workflow of the same client that has a
 * published version (publish the sub-flows first). */
static int check_call_targets(req *r, int64_t client, const char *doc)
{
    flow *f = NULL;
    int rc = flow_load(doc, strlen(doc), &f, NULL);
    for (int n = 0; !rc && n < flow_nnodes(f); n++) {
        if (flow_node_kind(f, n) != FLOW_CALL)
            continue;
        const char *key = json_string_value(json_object_get(flow_node_json(f, n), "flow"));
        int64_t wid = 0;
        json_t *ver = NULL;
        int found = store_workflow_by_key(r->tx, client, key ? key : "", &wid);
        if (!found)
            found = store_workflow_version(r->tx, wid, 0, &ver);
        json_decref(ver);
        if (found == CD_ENOTFOUND) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "call node '%s': the client has no published workflow '%s' (publish it "
                     "first)",
                     flow_node_id(f, n), key ? key : "");
            rc = req_fail(r, CD_EINVAL, "document", msg);
        } else {
            rc = found;
        }
    }
    flow_destroy(f);
    return rc;
}

int api_workflow_publish(req *r)
{
    json_t *wf = NULL, *report = NULL;
    int rc = store_workflow_get(r->tx, r->ids[0], 1, &wf);
    const char *draft = rc ? NULL : json_string_value(json_object_get(wf, "draft"));
    if (!rc) {
        report = lint_report(draft, "draft");
        if (json_integer_value(json_object_get(report, "errors")) > 0) {
            char msg[400];
            snprintf(msg, sizeof msg, "lint found %lld error(s); first: %s",
                     (long long)json_integer_value(json_object_get(report, "errors")),
                     json_string_value(json_array_get(json_object_get(report, "diagnostics"), 0)));
            rc = req_fail(r, CD_EINVAL, "document", msg);
        }
    }
    if (!rc)
        rc = check_call_targets(r, json_integer_value(json_object_get(wf, "client_id")), draft);
    if (!rc)
        rc = store_workflow_publish(r->tx, r->ids[0], draft, &r->out);
    json_decref(report);
    json_decref(wf);
    return req_reply(r, 201, rc);
}

/* Publishes an older version's document again, as the next version. */
int api_workflow_republish(req *r)
{
    json_t *ver = NULL;
    int rc = store_workflow_version(r->tx, r->ids[0],
                                    json_integer_value(json_object_get(r->in, "version")), &ver);
    if (!rc)
        rc = store_workflow_publish(r->tx, r->ids[0],
                                    json_string_value(json_object_get(ver, "document")), &r->out);
    json_decref(ver);
    return req_reply(r, 201, rc);
}

/* --- agents: sessions --------------------------------------------------- */

/* What the workflow may read: the customer, the interaction, the client. */
static int session_context(req *r, int64_t interaction, json_t **out)
{
    json_t *it = NULL, *cust = NULL, *client = NULL;
    int rc = store_interaction_get(r->tx, interaction, &it);
    if (!rc)
        rc = store_client_get(r->tx, json_integer_value(json_object_get(it, "client_id")), &client);
    if (!rc && json_is_integer(json_object_get(it, "customer_id")))
        rc = store_customer_get(r->tx, json_integer_value(json_object_get(it, "customer_id")),
                                &cust);
    if (!rc) {
        const char *name = cust ? json_string_value(json_object_get(cust, "name")) : "";
        char first[128];
        snprintf(first, sizeof first, "%s", name ? name : "");
        first[strcspn(first, " ")] = '\0';
        *out =
            json_pack("{s:{s:s, s:s, s:s?}, s:O, s:{s:O, s:O}}", "customer", "name",
                      name ? name : "", "first_name", first, "tier",
                      cust ? json_string_value(json_object_get(cust, "tier")) : NULL, "interaction",
                      it, "client", "name", json_object_get(client, "name"), "brand",
                      json_object_get(json_object_get(client, "brand"), "display_name"));
        rc = *out ? 0 : CD_ENOMEM;
    }
    json_decref(it);
    json_decref(cust);
    json_decref(client);
    return rc;
}

/* Applies what act nodes did to the interaction. */
static int apply_effects(req *r, int64_t interaction, json_t *effects)
{
    json_t *e, *it = NULL, *patch = json_object(), *out = NULL;
    size_t i;
    int rc = store_interaction_get(r->tx, interaction, &it);
    json_array_foreach (effects, i, e) {
        const char *a = json_string_value(json_object_get(e, "action"));
        if (rc || !a)
            continue;
        if (!strcmp(a, "tag")) {
            json_t *tags = json_object_get(patch, "tags");
            if (!tags)
                json_object_set_new(patch, "tags", tags = json_copy(json_object_get(it, "tags")));
            json_array_append(tags, json_object_get(e, "tag"));
        } else if (!strcmp(a, "priority") || !strcmp(a, "category")) {
            json_object_set(patch, a, json_object_get(e, "value"));
        } else if (!strcmp(a, "escalate")) {
            json_object_set(patch, "queue", json_object_get(e, "queue"));
        } else if (!strcmp(a, "set_field")) {
            json_t *cf = json_object_get(patch, "custom_fields");
            if (!cf)
                json_object_set_new(patch, "custom_fields", cf = json_object());
            json_object_set(cf, json_string_value(json_object_get(e, "field")) ?: "field",
                            json_object_get(e, "value"));
        } else if (!strcmp(a, "note")) {
            json_t *m = json_pack("{s:s, s:s}", "direction", "note", "body",
                                  json_string_value(json_object_get(e, "text")) ?: "");
            rc = store_message_add(r->tx, interaction, m, &out);
            json_decref(m);
            json_decref(out);
            out = NULL;
        } else if (!strcmp(a, "follow_up")) {
            json_t *f = json_pack("{s:O, s:s}", "in_hours", json_object_get(e, "in_hours"), "note",
                                  json_string_value(json_object_get(e, "text")) ?: "");
            rc = f ? store_follow_up_add(r->tx, interaction, f, &out) : CD_ENOMEM;
            json_decref(f);
            json_decref(out);
            out = NULL;
        } else if (!strcmp(a, "webhook")) {
            /* Queued in the store's outbox; a server's deliverer sends it. */
            json_t *payload = json_pack("{s:s, s:O, s:O, s:I}", "event", "workflow_action", "node",
                                        json_object_get(e, "node"), "action", e, "interaction_id",
                                        (json_int_t)interaction);
            rc = payload ? store_webhook_enqueue(
                               r->tx, json_integer_value(json_object_get(it, "client_id")),
                               interaction, json_string_value(json_object_get(e, "url")), payload)
                         : CD_ENOMEM;
            json_decref(payload);
        }
    }
    if (!rc && json_object_size(patch))
        rc = store_interaction_update(r->tx, interaction, patch, &out);
    json_decref(out);
    json_decref(patch);
    json_decref(it);
    return rc;
}

/* The session as an agent sees it: where it is, and what just happened. */
static json_t *session_view(json_t *row, const flow *f, flow_session *s, json_t *effects,
                            int64_t now)
{
    int node = flow_session_node(s);
    json_t *view = json_pack(
        "{s:O, s:O, s:O, s:O, s:O, s:O, s:b}", "id", json_object_get(row, "id"), "interaction_id",
        json_object_get(row, "interaction_id"), "workflow_id", json_object_get(row, "workflow_id"),
        "version", json_object_get(row, "version"), "status", json_object_get(row, "status"),
        "outcome", json_object_get(row, "outcome"), "ended", flow_session_ended(s));
    json_object_set_new(view, "effects", effects ? json_incref(effects) : json_array());
    json_t *current = json_deep_copy(flow_node_json(f, node));
    json_object_del(current, "next");
    json_object_del(current, "on_fail");
    json_object_del(current, "rules");
    json_t *text = flow_session_text(s, now); /* with its {{variables}} filled in */
    if (text)
        json_object_set_new(current, json_object_get(current, "prompt") ? "prompt" : "text", text);
    json_object_set_new(view, "current", current);
    json_t *state = flow_session_save(s);
    json_object_set(view, "history", json_object_get(state, "history"));
    json_decref(state);
    return view;
}

/* Saves the session after a step and applies its effects. */
static int session_store(req *r, json_t *row, flow_session *s, json_t *effects)
{
    json_t *state = flow_session_save(s);
    char *text = state ? json_dumps(state, JSON_COMPACT) : NULL;
    const char *outcome = NULL;
    json_t *e;
    size_t i;
    int rc = text ? 0 : CD_ENOMEM;
    /* Templates may join answers into a card number: effects are masked
     * before they are applied or answered. */
    if (!rc)
        rc = store_redact_text(r->tx, json_integer_value(json_object_get(row, "client_id")),
                               json_integer_value(json_object_get(row, "interaction_id")),
                               "workflow_session", json_integer_value(json_object_get(row, "id")),
                               effects);
    json_array_foreach (effects, i, e)
        if (json_object_get(e, "end"))
            outcome = json_string_value(json_object_get(e, "end"));
    if (!rc)
        rc = apply_effects(r, json_integer_value(json_object_get(row, "interaction_id")), effects);
    if (!rc)
        rc = store_flow_session_save(r->tx, json_integer_value(json_object_get(row, "id")), text,
                                     flow_session_ended(s) ? "completed" : "active", outcome);
    if (!rc && outcome) {
        json_object_set_new(row, "status", json_string("completed"));
        json_object_set_new(row, "outcome", json_string(outcome));
    }
    cd_free(text);
    json_decref(state);
    return rc;
}

/* A session loaded for a step or a look: its row, workflow and runtime. */
typedef struct live {
    json_t *row;
    flow *f;
    flow_session *s;
} live;

#define SUBFLOW_DEPTH 8 /* sessions nested through call nodes, at most */

static void live_free(live *l)
{
    flow_session_destroy(l->s);
    flow_destroy(l->f);
    json_decref(l->row);
    memset(l, 0, sizeof *l);
}

static int64_t live_int(const live *l, const char *key)
{
    return json_integer_value(json_object_get(l->row, key));
}

static int live_load(req *r, int64_t id, live *l)
{
    json_t *ctx = NULL;
    memset(l, 0, sizeof *l);
    int rc = store_flow_session_get(r->tx, id, &l->row);
    if (!rc) {
        const char *doc = json_string_value(json_object_get(l->row, "document"));
        rc = flow_load(doc, strlen(doc), &l->f, NULL);
    }
    if (!rc)
        rc = session_context(r, live_int(l, "interaction_id"), &ctx);
    if (!rc)
        rc = flow_session_restore(l->f, json_object_get(l->row, "state"), ctx, &l->s);
    json_decref(ctx);
    if (rc)
        live_free(l);
    return rc;
}

/* The id of the session's active sub-flow session, or 0. */
static int active_child(req *r, int64_t id, int64_t *child)
{
    json_t *rows = NULL;
    int rc = store_flow_session_children(r->tx, id, "active", &rows);
    *child = rc ? 0 : json_integer_value(json_object_get(json_array_get(rows, 0), "id"));
    json_decref(rows);
    return rc;
}

/* How many callers a session has above it. */
static int depth_of(req *r, const live *l, int *depth)
{
    int64_t parent = live_int(l, "parent_id");
    int rc = 0;
    *depth = 0;
    while (!rc && parent && *depth <= SUBFLOW_DEPTH) {
        json_t *row = NULL;
        rc = store_flow_session_get(r->tx, parent, &row);
        parent = rc ? 0 : json_integer_value(json_object_get(row, "parent_id"));
        json_decref(row);
        ++*depth;
    }
    return rc;
}

static int call_node_waiting(const live *l)
{
    return !flow_session_ended(l->s) && flow_node_kind(l->f, flow_session_node(l->s)) == FLOW_CALL;
}

static int session_begin(req *r, int64_t interaction, json_t *ver, int64_t parent, live *l,
                         json_t *effects);

/* If the session now waits at a call node, starts the called workflow (the
 * client's latest published version) as a sub-flow session. A sub-flow that
 * ends at once answers the call, and the caller moves on. */
static int follow_calls(req *r, live *l, json_t *effects, int depth)
{
    while (call_node_waiting(l)) {
        const char *key = json_string_value(
            json_object_get(flow_node_json(l->f, flow_session_node(l->s)), "flow"));
        int64_t wid = 0;
        json_t *ver = NULL;
        char msg[200];
        live child;
        if (depth >= SUBFLOW_DEPTH)
            return req_fail(r, CD_ESTATE, "",
                            "sub-flows nest deeper than 8 calls (do two workflows call each "
                            "other?)");
        int rc = store_workflow_by_key(r->tx, live_int(l, "client_id"), key ? key : "", &wid);
        if (!rc)
            rc = store_workflow_version(r->tx, wid, 0, &ver);
        if (rc == CD_ENOTFOUND) {
            snprintf(msg, sizeof msg, "the sub-flow '%s' has no published version", key);
            return req_fail(r, CD_ESTATE, "", msg);
        }
        if (!rc)
            rc = session_begin(r, live_int(l, "interaction_id"), ver, live_int(l, "id"), &child,
                               effects);
        json_decref(ver);
        if (!rc && !flow_session_ended(child.s))
            rc = follow_calls(r, &child, effects, depth + 1);
        int ended = !rc && flow_session_ended(child.s);
        json_t *outcome = ended ? json_incref(json_object_get(child.row, "outcome")) : NULL;
        live_free(&child);
        if (rc || !ended) {
            json_decref(outcome);
            return rc;
        }
        /* The sub-flow is over: its outcome answers the call. */
        rc = flow_session_answer(l->s, outcome, r->now, r->user_id, effects);
        json_decref(outcome);
        if (!rc)
            rc = session_store(r, l->row, l->s, effects);
        if (rc)
            return rc == CD_EINVAL || rc == CD_ESTATE
                       ? req_fail(r, CD_ESTATE, "", "the sub-flow's outcome cannot answer the call")
                       : rc;
    }
    return 0;
}

/* Creates and saves a session of version `ver` (a row of
 * store_workflow_version) on the interaction. */
static int session_begin(req *r, int64_t interaction, json_t *ver, int64_t parent, live *l,
                         json_t *effects)
{
    json_t *ctx = NULL, *saved = NULL;
    char *state = NULL;
    memset(l, 0, sizeof *l);
    int rc = session_context(r, interaction, &ctx);
    if (!rc &&
        json_integer_value(json_object_get(ver, "client_id")) !=
            json_integer_value(json_object_get(json_object_get(ctx, "interaction"), "client_id")))
        rc = req_fail(r, CD_ENOTFOUND, "workflow_id", "no such workflow for this client");
    if (!rc) {
        const char *doc = json_string_value(json_object_get(ver, "document"));
        rc = flow_load(doc, strlen(doc), &l->f, NULL);
    }
    if (!rc)
        rc = flow_session_create(l->f, ctx, r->now, r->user_id, &l->s, effects);
    if (!rc) {
        saved = flow_session_save(l->s);
        state = saved ? json_dumps(saved, JSON_COMPACT) : NULL;
        rc = state ? 0 : CD_ENOMEM;
    }
    if (!rc)
        rc = store_flow_session_create(r->tx, interaction,
                                       json_integer_value(json_object_get(ver, "id")), parent,
                                       state, "active", &l->row);
    if (!rc)
        rc = session_store(r, l->row, l->s, effects);
    cd_free(state);
    json_decref(saved);
    json_decref(ctx);
    if (rc)
        live_free(l);
    return rc;
}

/* The session as an agent sees it, with its active sub-flow nested. */
static json_t *tree_view(req *r, live *l, json_t *effects, int depth)
{
    json_t *view = session_view(l->row, l->f, l->s, effects, r->now);
    int64_t child = 0;
    live c;
    json_object_set(view, "parent_session_id", json_object_get(l->row, "parent_id"));
    if (depth < SUBFLOW_DEPTH && !active_child(r, live_int(l, "id"), &child) && child &&
        !live_load(r, child, &c)) {
        json_object_set_new(view, "subflow", tree_view(r, &c, NULL, depth + 1));
        live_free(&c);
    } else {
        json_object_set_new(view, "subflow", json_null());
    }
    return view;
}

/* The session that waits for the agent in the tree holding session id:
 * from the top caller down through active sub-flows; 0 once all ended. */
static int64_t waiting_session(req *r, int64_t id)
{
    json_t *row = NULL;
    int64_t top = id, child = 0;
    for (int i = 0; i <= SUBFLOW_DEPTH; i++) {
        if (store_flow_session_get(r->tx, top, &row))
            return 0;
        int64_t parent = json_integer_value(json_object_get(row, "parent_id"));
        json_decref(row);
        row = NULL;
        if (!parent)
            break;
        top = parent;
    }
    if (store_flow_session_get(r->tx, top, &row))
        return 0;
    int active = !strcmp(json_string_value(json_object_get(row, "status")) ?: "", "active");
    json_decref(row);
    if (!active)
        return 0;
    for (int i = 0; i < SUBFLOW_DEPTH && !active_child(r, top, &child) && child; i++)
        top = child;
    return top;
}

static void reply_view(req *r, live *l, json_t *effects)
{
    r->out = tree_view(r, l, effects, 0);
    int64_t waiting = waiting_session(r, live_int(l, "id"));
    json_object_set_new(r->out, "waiting_session_id",
                        waiting ? json_integer(waiting) : json_null());
}

/* Sub-flow sessions of id still running, ended as abandoned (the caller
 * went back past its call). */
static int abandon_children(req *r, int64_t id)
{
    int64_t child = 0;
    int rc = active_child(r, id, &child);
    while (!rc && child) {
        live c;
        rc = live_load(r, child, &c);
        if (!rc)
            rc = abandon_children(r, child);
        if (!rc) {
            char *state = json_dumps(json_object_get(c.row, "state"), JSON_COMPACT);
            rc =
                state ? store_flow_session_save(r->tx, child, state, "abandoned", NULL) : CD_ENOMEM;
            free(state);
        }
        live_free(&c);
        if (!rc)
            rc = active_child(r, id, &child);
    }
    return rc;
}

/* A sub-flow session that ended answers its caller's call with its
 * outcome, up the chain as far as sessions end. */
static int return_to_callers(req *r, live *l, json_t *effects)
{
    int64_t parent = live_int(l, "parent_id");
    int rc = 0, depth = 0;
    while (!rc && parent && flow_session_ended(l->s)) {
        live p;
        json_t *outcome = json_incref(json_object_get(l->row, "outcome"));
        rc = live_load(r, parent, &p);
        if (!rc && !call_node_waiting(&p))
            rc = req_fail(r, CD_ESTATE, "", "the calling session no longer waits for this one");
        if (!rc)
            rc = flow_session_answer(p.s, outcome, r->now, r->user_id, effects);
        if (rc == CD_EINVAL || rc == CD_ESTATE)
            rc = r->err_code[0]
                     ? rc
                     : req_fail(r, CD_ESTATE, "", "the sub-flow's outcome cannot answer the call");
        if (!rc)
            rc = session_store(r, p.row, p.s, effects);
        if (!rc)
            rc = depth_of(r, &p, &depth);
        if (!rc)
            rc = follow_calls(r, &p, effects, depth);
        json_decref(outcome);
        parent = rc ? 0 : live_int(&p, "parent_id");
        if (!rc) {
            live_free(l);
            *l = p;
        } else {
            live_free(&p);
        }
    }
    return rc;
}

static int session_step(req *r, int back)
{
    json_t *effects = json_array();
    int64_t child = 0, addressed = r->ids[0];
    int depth = 0;
    live l;
    int rc = live_load(r, addressed, &l);
    if (!rc)
        rc = active_child(r, addressed, &child);
    if (!rc && child && !back) {
        char msg[160];
        snprintf(msg, sizeof msg, "this step runs the sub-flow session %lld: answer it there",
                 (long long)child);
        rc = req_fail(r, CD_ESTATE, "answer", msg);
    }
    if (!rc && back)
        rc = flow_session_back(l.s, r->now, r->user_id);
    else if (!rc)
        rc = store_redact_text(r->tx, live_int(&l, "client_id"), live_int(&l, "interaction_id"),
                               "workflow_session", addressed, json_object_get(r->in, "answer"));
    if (!rc && !back)
        rc =
            flow_session_answer(l.s, json_object_get(r->in, "answer"), r->now, r->user_id, effects);
    if (rc == CD_ESTATE && !r->err_code[0])
        rc = req_fail(r, CD_ESTATE, back ? "" : "answer",
                      back ? "already at the first step"
                           : "the session cannot go on: it has ended, or a required check on "
                             "this path is not done");
    else if (rc == CD_EINVAL && !r->err_code[0])
        rc = req_fail(r, CD_EINVAL, "answer", "not a valid answer for this step");
    if (!rc && back)
        rc = abandon_children(r, addressed);
    if (!rc)
        rc = session_store(r, l.row, l.s, effects);
    if (!rc)
        rc = depth_of(r, &l, &depth);
    if (!rc)
        rc = follow_calls(r, &l, effects, depth);
    if (!rc)
        rc = return_to_callers(r, &l, effects);
    if (!rc) {
        /* Answer with the session addressed (its caller, if it ended and
         * handed back). */
        reply_view(r, &l, effects);
    }
    live_free(&l);
    json_decref(effects);
    return req_reply(r, 200, rc);
}

int api_session_answer(req *r)
{
    return session_step(r, 0);
}

int api_session_back(req *r)
{
    return session_step(r, 1);
}

int api_session_get(req *r)
{
    live l;
    int rc = live_load(r, r->ids[0], &l);
    if (!rc)
        reply_view(r, &l, NULL);
    live_free(&l);
    return req_reply(r, 200, rc);
}

int api_session_start(req *r)
{
    json_t *ver = NULL, *effects = json_array();
    live l;
    int rc =
        store_workflow_version(r->tx, json_integer_value(json_object_get(r->in, "workflow_id")),
                               json_integer_value(json_object_get(r->in, "version")), &ver);
    if (!rc)
        rc = session_begin(r, r->ids[0], ver, 0, &l, effects);
    if (!rc) {
        rc = follow_calls(r, &l, effects, 0);
        if (!rc)
            reply_view(r, &l, effects);
        live_free(&l);
    }
    json_decref(effects);
    json_decref(ver);
    return req_reply(r, 201, rc);
}

/* --- analytics ---------------------------------------------------------- */

#define ABANDONED_AFTER_MS (3600LL * 1000) /* an active session idle this long */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Median of the JSON integers of list, in seconds (one decimal). */
static json_t *median_seconds(json_t *list)
{
    size_t n = json_array_size(list), i;
    json_t *v;
    int64_t *xs = n ? cd_malloc(n * sizeof *xs) : NULL;
    if (!xs)
        return json_null();
    json_array_foreach (list, i, v)
        xs[i] = json_integer_value(v);
    qsort(xs, n, sizeof *xs, cmp_i64);
    double med = n % 2 ? (double)xs[n / 2] : ((double)xs[n / 2 - 1] + (double)xs[n / 2]) / 2.0;
    cd_free(xs);
    return json_real((double)(int64_t)(med / 100.0) / 10.0);
}

static void count(json_t *obj, const char *key)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + 1));
}

/* One session: its path, seconds per node, drop-off and compliance. */
static void analyse_session(json_t *row, json_t *required, json_t *acc, int64_t now)
{
    json_t *state = json_loads(json_string_value(json_object_get(row, "state")), 0, NULL);
    json_t *history = json_object_get(state, "history"), *h, *idx;
    const char *status = json_string_value(json_object_get(row, "status"));
    int64_t prev = json_integer_value(json_object_get(row, "started_at"));
    char path[2048] = "";
    size_t i;
    json_array_foreach (history, i, h) {
        int64_t at = json_integer_value(json_object_get(h, "at"));
        const char *node = json_string_value(json_object_get(h, "node"));
        json_t *list = json_object_get(json_object_get(acc, "times"), node ? node : "?");
        if (!list)
            json_object_set_new(json_object_get(acc, "times"), node ? node : "?",
                                list = json_array());
        json_array_append_new(list, json_integer(at - prev));
        prev = at;
    }
    json_array_foreach (json_object_get(state, "path"), i, idx) {
        h = json_array_get(history, (size_t)json_integer_value(idx));
        size_t len = strlen(path);
        snprintf(path + len, sizeof path - len, "%s%s", len ? " -> " : "",
                 json_string_value(json_object_get(h, "node")));
    }
    int ended = status && !strcmp(status, "completed");
    int abandoned =
        !ended && now - json_integer_value(json_object_get(row, "updated_at")) > ABANDONED_AFTER_MS;
    count(acc, "started");
    if (ended) {
        count(acc, "completed");
        size_t len = strlen(path);
        snprintf(path + len, sizeof path - len, "%s%s", len ? " -> " : "",
                 json_string_value(json_object_get(state, "current")));
        count(json_object_get(acc, "paths"), path);
        count(json_object_get(acc, "outcomes"),
              json_string_value(json_object_get(row, "outcome")) ?: "none");
        /* Compliant: every required check answered on the path. */
        int done = 1;
        json_t *rq;
        size_t k;
        json_array_foreach (required, k, rq) {
            int seen = 0;
            json_array_foreach (json_object_get(state, "path"), i, idx) {
                h = json_array_get(history, (size_t)json_integer_value(idx));
                seen |= json_equal(json_object_get(h, "node"), rq);
            }
            done &= seen;
        }
        if (done)
            count(acc, "compliant");
    } else {
        if (abandoned)
            count(acc, "abandoned");
        count(json_object_get(acc, "drop_off"),
              json_string_value(json_object_get(state, "current")) ?: "?");
    }
    json_decref(state);
}

/* The most frequent paths first, at most 5. */
static json_t *top_paths(json_t *paths)
{
    json_t *list = json_array(), *v;
    const char *k;
    for (int round = 0; round < 5; round++) {
        const char *best = NULL;
        json_int_t n = 0;
        json_object_foreach (paths, k, v)
            if (json_integer_value(v) > n) {
                best = k;
                n = json_integer_value(v);
            }
        if (!best)
            break;
        json_array_append_new(list, json_pack("{s:s, s:I}", "path", best, "sessions", n));
        json_object_set_new(paths, best, json_integer(0));
    }
    return list;
}

int api_workflow_analytics(req *r)
{
    json_t *ver = NULL, *doc, *node, *row, *required = json_array();
    size_t i;
    int rc = store_workflow_sessions(
        r->tx, r->ids[0], json_integer_value(json_object_get(r->query, "version")), &ver);
    if (rc) {
        json_decref(required);
        return req_reply(r, 200, rc);
    }
    doc = json_loads(json_string_value(json_object_get(ver, "document")), 0, NULL);
    json_array_foreach (json_object_get(doc, "nodes"), i, node)
        if (json_is_true(json_object_get(node, "required")))
            json_array_append(required, json_object_get(node, "id"));
    json_t *acc =
        json_pack("{s:i, s:i, s:i, s:i, s:{}, s:{}, s:{}, s:{}}", "started", 0, "completed", 0,
                  "abandoned", 0, "compliant", 0, "times", "paths", "outcomes", "drop_off");
    json_array_foreach (json_object_get(ver, "sessions"), i, row)
        analyse_session(row, required, acc, r->now);
    json_t *times = json_object(), *v;
    const char *k;
    json_object_foreach (json_object_get(acc, "times"), k, v)
        json_object_set_new(times, k, median_seconds(v));
    json_int_t done = json_integer_value(json_object_get(acc, "completed"));
    r->out =
        json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:O, s:o, s:o}", "workflow_id",
                  json_object_get(ver, "workflow_id"), "version", json_object_get(ver, "version"),
                  "started", json_object_get(acc, "started"), "completed",
                  json_object_get(acc, "completed"), "abandoned", json_object_get(acc, "abandoned"),
                  "drop_off", json_object_get(acc, "drop_off"), "median_seconds_per_node", times,
                  "outcomes", json_object_get(acc, "outcomes"), "paths",
                  top_paths(json_object_get(acc, "paths")), "compliance_rate",
                  done ? json_real((double)json_integer_value(json_object_get(acc, "compliant")) /
                                   (double)done)
                       : json_null());
    json_decref(acc);
    json_decref(doc);
    json_decref(ver);
    json_decref(required);
    return req_reply(r, 200, r->out ? 0 : CD_ENOMEM);
}
