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
        }
        /* webhook and follow_up are returned to the caller (effects) and
         * kept in the session's history; they are not executed here. */
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

int api_session_start(req *r)
{
    json_t *ver = NULL, *ctx = NULL, *effects = json_array(), *row = NULL;
    flow *f = NULL;
    flow_session *s = NULL;
    char *state = NULL;
    int64_t interaction = r->ids[0];
    int rc =
        store_workflow_version(r->tx, json_integer_value(json_object_get(r->in, "workflow_id")),
                               json_integer_value(json_object_get(r->in, "version")), &ver);
    if (!rc)
        rc = session_context(r, interaction, &ctx);
    if (!rc &&
        json_integer_value(json_object_get(ver, "client_id")) !=
            json_integer_value(json_object_get(json_object_get(ctx, "interaction"), "client_id")))
        rc = req_fail(r, CD_ENOTFOUND, "workflow_id", "no such workflow for this client");
    if (!rc) {
        const char *doc = json_string_value(json_object_get(ver, "document"));
        rc = flow_load(doc, strlen(doc), &f, NULL);
    }
    if (!rc)
        rc = flow_session_create(f, ctx, r->now, r->user_id, &s, effects);
    if (!rc) {
        json_t *saved = flow_session_save(s);
        state = saved ? json_dumps(saved, JSON_COMPACT) : NULL;
        json_decref(saved);
        rc = state ? 0 : CD_ENOMEM;
    }
    if (!rc)
        rc = store_flow_session_create(r->tx, interaction,
                                       json_integer_value(json_object_get(ver, "id")), state,
                                       "active", &row);
    if (!rc)
        rc = session_store(r, row, s, effects);
    if (!rc)
        r->out = session_view(row, f, s, effects, r->now);
    cd_free(state);
    flow_session_destroy(s);
    flow_destroy(f);
    json_decref(effects);
    json_decref(row);
    json_decref(ctx);
    json_decref(ver);
    return req_reply(r, 201, rc);
}

/* Loads a session with its flow for a step (or a look). */
static int session_load(req *r, json_t **row, flow **f, flow_session **s)
{
    json_t *ctx = NULL;
    int rc = store_flow_session_get(r->tx, r->ids[0], row);
    if (!rc) {
        const char *doc = json_string_value(json_object_get(*row, "document"));
        rc = flow_load(doc, strlen(doc), f, NULL);
    }
    if (!rc)
        rc = session_context(r, json_integer_value(json_object_get(*row, "interaction_id")), &ctx);
    if (!rc)
        rc = flow_session_restore(*f, json_object_get(*row, "state"), ctx, s);
    json_decref(ctx);
    return rc;
}

static int session_step(req *r, int back)
{
    json_t *row = NULL, *effects = json_array();
    flow *f = NULL;
    flow_session *s = NULL;
    int rc = session_load(r, &row, &f, &s);
    if (!rc && back)
        rc = flow_session_back(s, r->now, r->user_id);
    else if (!rc)
        rc = store_redact_text(r->tx, json_integer_value(json_object_get(row, "client_id")),
                               json_integer_value(json_object_get(row, "interaction_id")),
                               "workflow_session", r->ids[0], json_object_get(r->in, "answer"));
    if (!rc && !back)
        rc = flow_session_answer(s, json_object_get(r->in, "answer"), r->now, r->user_id, effects);
    if (rc == CD_ESTATE)
        rc = req_fail(r, CD_ESTATE, back ? "" : "answer",
                      back ? "already at the first step"
                           : "the session cannot go on: it has ended, or a required check on "
                             "this path is not done");
    else if (rc == CD_EINVAL)
        rc = req_fail(r, CD_EINVAL, "answer", "not a valid answer for this step");
    if (!rc)
        rc = session_store(r, row, s, effects);
    if (!rc)
        r->out = session_view(row, f, s, effects, r->now);
    flow_session_destroy(s);
    flow_destroy(f);
    json_decref(effects);
    json_decref(row);
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
    json_t *row = NULL;
    flow *f = NULL;
    flow_session *s = NULL;
    int rc = session_load(r, &row, &f, &s);
    if (!rc)
        r->out = session_view(row, f, s, NULL, r->now);
    flow_session_destroy(s);
    flow_destroy(f);
    json_decref(row);
    return req_reply(r, 200, rc);
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
