/* test_store.c - the store on SQLite: tenant isolation, lifecycle,
 * customer identity resolution, events, the audit chain and the push log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/mail.h"
#include "store/store.h"

#include <math.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    char path[256];
    store *st;
    int64_t client_a, client_b, agent_a, cust_b, inter_b;
} fixture;

static int64_t id_of(json_t *v)
{
    return json_integer_value(json_object_get(v, "id"));
}

static store_tx *sys_tx(fixture *f)
{
    store_ctx ctx;
    store_tx *tx = NULL;
    store_ctx_system(&ctx);
    assert_int_equal(store_begin(f->st, &ctx, 1000, 1, &tx), 0);
    return tx;
}

static store_tx *user_tx(fixture *f, int64_t user, const char *role)
{
    store_ctx ctx;
    store_tx *tx = NULL;
    memset(&ctx, 0, sizeof ctx);
    assert_int_equal(store_begin(f->st, &ctx, 2000, 1, &tx), 0);
    assert_int_equal(store_tx_authenticate(tx, user, role), 0);
    return tx;
}

static int64_t create(store_tx *tx, int (*fn)(store_tx *, json_t *, json_t **), const char *js)
{
    json_t *in = json_loads(js, 0, NULL), *out = NULL;
    assert_non_null(in);
    int rc = fn(tx, in, &out);
    if (rc)
        fprintf(stderr, "create failed: %s %s: %s\n", js, store_err_field(tx),
                store_err_message(tx));
    assert_int_equal(rc, 0);
    int64_t id = id_of(out);
    json_decref(in);
    json_decref(out);
    return id;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[128], js[512];
    snprintf(f->path, sizeof f->path, "/tmp/caredesk-test-store-%d.db", getpid());
    unlink(f->path);
    assert_int_equal(store_open(f->path, 2, &f->st, err, sizeof err), 0);
    assert_int_equal(store_migrate(f->st, NULL), 0);
    store_tx *tx = sys_tx(f);
    f->client_a = create(tx, store_client_create, "{\"slug\":\"aaa\",\"name\":\"A\"}");
    f->client_b = create(tx, store_client_create, "{\"slug\":\"bbb\",\"name\":\"B\"}");
    snprintf(js, sizeof js,
             "{\"email\":\"a@x.test\",\"name\":\"A\",\"role\":\"agent\",\"clients\":[%lld]}",
             (long long)f->client_a);
    f->agent_a = create(tx, store_user_create, js);
    snprintf(js, sizeof js,
             "{\"client_id\":%lld,\"name\":\"Bea\",\"identities\":[{\"kind\":\"phone\",\"value\":"
             "\"+1 (555) 010-0200\"}]}",
             (long long)f->client_b);
    f->cust_b = create(tx, store_customer_create, js);
    snprintf(js, sizeof js,
             "{\"client_id\":%lld,\"channel\":\"email\",\"customer_id\":%lld,\"message\":{"
             "\"direction\":\"inbound\",\"body\":\"hi\"}}",
             (long long)f->client_b, (long long)f->cust_b);
    f->inter_b = create(tx, store_interaction_create, js);
    assert_int_equal(store_commit(tx), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[300];
    store_close(f->st);
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

static void test_tenant_isolation(void **state)
{
    fixture *f = *state;
    store_tx *tx = user_tx(f, f->agent_a, "agent");
    json_t *out = NULL, *patch = json_pack("{s:s}", "priority", "urgent"), *q = json_object();
    char js[256];

    assert_int_equal(store_interaction_get(tx, f->inter_b, &out), CD_ENOTFOUND);
    assert_int_equal(store_interaction_get(tx, 999999, &out), CD_ENOTFOUND);
    assert_int_equal(store_interaction_update(tx, f->inter_b, patch, &out), CD_ENOTFOUND);
    assert_int_equal(store_customer_get(tx, f->cust_b, &out), CD_ENOTFOUND);
    assert_int_equal(store_customer_history(tx, f->cust_b, &out), CD_ENOTFOUND);
    assert_int_equal(store_client_get(tx, f->client_b, &out), CD_ENOTFOUND);
    assert_int_equal(store_message_list(tx, f->inter_b, q, &out), CD_ENOTFOUND);
    assert_int_equal(store_event_list(tx, f->inter_b, q, &out), CD_ENOTFOUND);
    json_object_set_new(q, "client_id", json_integer(f->client_b));
    assert_int_equal(store_interaction_list(tx, q, &out), CD_ENOTFOUND);
    /* A list without a filter holds only the caller's clients. */
    json_object_clear(q);
    assert_int_equal(store_interaction_list(tx, q, &out), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    /* Writing into B, or pointing at B's customer from A, is refused. */
    snprintf(js, sizeof js, "{\"client_id\":%lld,\"channel\":\"chat\"}", (long long)f->client_b);
    json_t *in = json_loads(js, 0, NULL);
    assert_int_equal(store_interaction_create(tx, in, &out), CD_ENOTFOUND);
    json_decref(in);
    snprintf(js, sizeof js, "{\"client_id\":%lld,\"channel\":\"chat\",\"customer_id\":%lld}",
             (long long)f->client_a, (long long)f->cust_b);
    in = json_loads(js, 0, NULL);
    assert_int_equal(store_interaction_create(tx, in, &out), CD_ENOTFOUND);
    json_decref(in);
    json_decref(patch);
    json_decref(q);
    store_rollback(tx);
}

static void test_lifecycle_and_events(void **state)
{
    fixture *f = *state;
    store_tx *tx = sys_tx(f);
    json_t *out = NULL, *p;

    p = json_pack("{s:s}", "status", "resolved");
    assert_int_equal(store_interaction_update(tx, f->inter_b, p, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    json_decref(out);
    json_decref(p);
    p = json_pack("{s:s}", "status", "pending");
    assert_int_equal(store_interaction_update(tx, f->inter_b, p, &out), CD_ESTATE);
    json_decref(p);
    p = json_pack("{s:s, s:i}", "status", "closed", "version", 1);
    assert_int_equal(store_interaction_update(tx, f->inter_b, p, &out), CD_ECONFLICT);
    json_decref(p);
    p = json_pack("{s:{s:s, s:n}}", "custom_fields", "order", "A-1", "missing");
    assert_int_equal(store_interaction_update(tx, f->inter_b, p, &out), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "custom_fields"), "order")), "A-1");
    json_decref(out);
    json_decref(p);
    json_t *q = json_object();
    assert_int_equal(store_event_list(tx, f->inter_b, q, &out), 0);
    /* created, message, updated (status), updated (custom_fields) */
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 4);
    json_t *status_ev = json_array_get(items, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(status_ev, "before_json"), "status")),
        "new");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(status_ev, "after_json"), "status")),
        "resolved");
    json_decref(out);
    json_decref(q);
    assert_int_equal(store_commit(tx), 0);
}

static void test_identity_resolution(void **state)
{
    fixture *f = *state;
    store_tx *tx = sys_tx(f);
    char js[512];
    json_t *out = NULL;
    /* The same phone typed differently, plus a new email: same customer. */
    snprintf(js, sizeof js,
             "{\"client_id\":%lld,\"channel\":\"voice\",\"customer\":{\"identities\":[{\"kind\":"
             "\"phone\",\"value\":\"+15550100200\"},{\"kind\":\"email\",\"value\":\"Bea@Example."
             "test\"}]}}",
             (long long)f->client_b);
    json_t *in = json_loads(js, 0, NULL);
    assert_int_equal(store_interaction_create(tx, in, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "customer_id")), f->cust_b);
    json_decref(out);
    json_decref(in);
    snprintf(js, sizeof js,
             "{\"client_id\":%lld,\"channel\":\"chat\",\"customer\":{\"identities\":[{\"kind\":"
             "\"email\",\"value\":\"bea@example.TEST \"}]}}",
             (long long)f->client_b);
    in = json_loads(js, 0, NULL);
    assert_int_equal(store_interaction_create(tx, in, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "customer_id")), f->cust_b);
    json_decref(out);
    json_decref(in);
    assert_int_equal(store_customer_history(tx, f->cust_b, &out), 0);
    assert_true(json_array_size(json_object_get(out, "items")) >= 3);
    json_decref(out);
    assert_int_equal(store_commit(tx), 0);
}

static void test_audit_tamper(void **state)
{
    fixture *f = *state;
    int64_t bad = -1, checked = 0;
    sqlite3 *db;
    assert_int_equal(store_audit_verify(f->st, &bad, &checked), 0);
    assert_int_equal(bad, 0);
    assert_true(checked >= 5);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "UPDATE audit_log SET actor_id = 42 WHERE seq = 3", 0, 0, 0),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_audit_verify(f->st, &bad, &checked), 0);
    assert_int_equal(bad, 3);
}

static store_tx *sys_tx_at(fixture *f, int64_t now)
{
    store_ctx ctx;
    store_tx *tx = NULL;
    store_ctx_system(&ctx);
    assert_int_equal(store_begin(f->st, &ctx, now, 1, &tx), 0);
    return tx;
}

/* An idle rule fires once per idle period, only once the interaction has
 * been idle for its minutes, not for another client's interactions, and
 * again after new activity and another idle period. */
static void test_idle_rules(void **state)
{
    fixture *f = *state;
    char js[512];
    json_t *due = NULL, *it = NULL;
    int fired = 0;
    const int64_t t0 = 5000000;
    /* A client of its own, so nothing else of it can be idle. */
    store_tx *tx = sys_tx_at(f, t0);
    int64_t client = create(tx, store_client_create, "{\"slug\":\"idle-c\",\"name\":\"C\"}");
    snprintf(js, sizeof js,
             "{\"client_id\":%lld,\"name\":\"stale\",\"event\":\"idle\",\"idle_minutes\":10,"
             "\"actions\":[{\"type\":\"add_tag\",\"tag\":\"stale\"}]}",
             (long long)client);
    int64_t rule = create(tx, store_rule_create, js);
    snprintf(js, sizeof js, "{\"client_id\":%lld,\"channel\":\"chat\"}", (long long)client);
    int64_t inter = create(tx, store_interaction_create, js);
    assert_int_equal(store_commit(tx), 0);
    /* Nine minutes later: nothing due. */
    tx = sys_tx_at(f, t0 + 9 * 60000);
    assert_int_equal(store_idle_due(tx, 100, &due), 0);
    for (size_t i = 0; i < json_array_size(due); i++)
        assert_true(json_integer_value(json_object_get(json_array_get(due, i), "rule_id")) != rule);
    json_decref(due);
    store_rollback(tx);
    /* Ten minutes: due, fires once. */
    tx = sys_tx_at(f, t0 + 10 * 60000);
    assert_int_equal(store_idle_due(tx, 100, &due), 0);
    int64_t since = -1;
    for (size_t i = 0; i < json_array_size(due); i++) {
        json_t *d = json_array_get(due, i);
        if (json_integer_value(json_object_get(d, "rule_id")) == rule) {
            assert_int_equal(json_integer_value(json_object_get(d, "interaction_id")), inter);
            since = json_integer_value(json_object_get(d, "idle_since"));
        }
    }
    json_decref(due);
    assert_int_equal(since, t0);
    assert_int_equal(store_idle_fire(tx, rule, inter, since, &fired), 0);
    assert_int_equal(fired, 1);
    /* A second server finding the same pair fires nothing. */
    assert_int_equal(store_idle_fire(tx, rule, inter, since, &fired), 0);
    assert_int_equal(fired, 0);
    assert_int_equal(store_interaction_get(tx, inter, &it), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(it, "tags"), 0)), "stale");
    int64_t touched = json_integer_value(json_object_get(it, "updated_at"));
    json_decref(it);
    assert_int_equal(store_commit(tx), 0);
    assert_int_equal(touched, t0 + 10 * 60000);
    /* The rule's own change began a new idle period: due again only ten
     * minutes after it. */
    for (int k = 0; k < 2; k++) {
        int found = 0;
        tx = sys_tx_at(f, touched + (k ? 10 : 5) * 60000);
        assert_int_equal(store_idle_due(tx, 100, &due), 0);
        for (size_t i = 0; i < json_array_size(due); i++)
            found |= json_integer_value(json_object_get(json_array_get(due, i), "rule_id")) == rule;
        json_decref(due);
        store_rollback(tx);
        assert_int_equal(found, k);
    }
}

static void reply_at(fixture *f, int64_t at, int64_t inter)
{
    json_t *m = json_pack("{s:s, s:s}", "direction", "outbound", "body", "reply"), *out = NULL;
    store_tx *tx = sys_tx_at(f, at);
    assert_int_equal(store_message_add(tx, inter, m, &out), 0);
    assert_int_equal(store_commit(tx), 0);
    json_decref(m);
    json_decref(out);
}

static void resolve_at(fixture *f, int64_t at, int64_t inter)
{
    json_t *p = json_pack("{s:s}", "status", "resolved"), *out = NULL;
    store_tx *tx = sys_tx_at(f, at);
    assert_int_equal(store_interaction_update(tx, inter, p, &out), 0);
    assert_int_equal(store_commit(tx), 0);
    json_decref(p);
    json_decref(out);
}

/* Fires what the scheduler finds due at `at`; returns how many fired. */
static int sla_tick_at(fixture *f, int64_t at)
{
    json_t *due = NULL, *d;
    size_t i;
    int total = 0;
    store_tx *tx = sys_tx_at(f, at);
    assert_int_equal(store_sla_due(tx, 100, &due), 0);
    json_array_foreach (due, i, d) {
        int n = 0;
        assert_int_equal(store_sla_fire(tx, json_integer_value(json_object_get(d, "id")), &n), 0);
        total += n;
    }
    json_decref(due);
    assert_int_equal(store_commit(tx), 0);
    return total;
}

/* The SLA report against a hand-checked fixture: five interactions of one
 * policy (first response 10 min, resolution 60 min, calendar time),
 * answered after 2, 4, 6, 8 and 20 minutes (the last breached first) and
 * three resolved after 30, 50 and 90 minutes (the last breached first, as
 * did the two never resolved). First responses: 4 met, 1 breached;
 * nearest-rank median of 2, 4, 6, 8, 20 is 6 min, p90 20 min. Resolutions:
 * 2 met, 3 breached; median of 30, 50, 90 is 50 min, p90 90 min. */
static void test_sla_report_fixture(void **state)
{
    fixture *f = *state;
    char js[512];
    const int64_t t0 = 9000000, min = 60000;
    int64_t it[5];
    store_tx *tx = sys_tx_at(f, t0);
    int64_t client = create(tx, store_client_create, "{\"slug\":\"sla-d\",\"name\":\"D\"}");
    snprintf(js, sizeof js,
             "{\"client_id\":%lld,\"name\":\"Std\",\"targets\":{\"first_response\":{\"minutes\":"
             "10,\"business\":false},\"resolution\":{\"minutes\":60,\"business\":false}}}",
             (long long)client);
    create(tx, store_sla_policy_create, js);
    assert_int_equal(store_commit(tx), 0);
    for (int k = 0; k < 5; k++) {
        tx = sys_tx_at(f, t0);
        snprintf(js, sizeof js, "{\"client_id\":%lld,\"channel\":\"email\"}", (long long)client);
        it[k] = create(tx, store_interaction_create, js);
        assert_int_equal(store_commit(tx), 0);
    }
    reply_at(f, t0 + 2 * min, it[0]);
    reply_at(f, t0 + 4 * min, it[1]);
    reply_at(f, t0 + 6 * min, it[2]);
    reply_at(f, t0 + 8 * min, it[3]);
    /* Warnings come at 80%: the four answered did not run that long; the
     * fifth warns now. */
    assert_int_equal(sla_tick_at(f, t0 + 8 * min + 1), 1);
    assert_int_equal(sla_tick_at(f, t0 + 11 * min), 1); /* it[4]'s first response breaches */
    assert_int_equal(sla_tick_at(f, t0 + 11 * min), 0); /* once */
    reply_at(f, t0 + 20 * min, it[4]);
    resolve_at(f, t0 + 30 * min, it[0]);
    resolve_at(f, t0 + 50 * min, it[1]);
    sla_tick_at(f, t0 + 61 * min); /* the other resolutions breach */
    resolve_at(f, t0 + 90 * min, it[2]);

    json_t *q = json_pack("{s:I, s:s}", "client_id", (json_int_t)client, "by", "priority"),
           *r = NULL;
    tx = sys_tx_at(f, t0 + 100 * min);
    assert_int_equal(store_sla_report(tx, q, &r), 0);
    store_rollback(tx);
    json_t *g = json_array_get(json_object_get(r, "groups"), 0);
    assert_int_equal(json_array_size(json_object_get(r, "groups")), 1);
    assert_string_equal(json_string_value(json_object_get(g, "priority")), "normal");
    json_t *fr = json_object_get(g, "first_response"), *res = json_object_get(g, "resolution");
    assert_int_equal(json_integer_value(json_object_get(fr, "met")), 4);
    assert_int_equal(json_integer_value(json_object_get(fr, "breached")), 1);
    assert_int_equal(json_integer_value(json_object_get(fr, "median_ms")), 6 * min);
    assert_int_equal(json_integer_value(json_object_get(fr, "p90_ms")), 20 * min);
    assert_true(fabs(json_real_value(json_object_get(fr, "achievement")) - 0.8) < 1e-9);
    assert_int_equal(json_integer_value(json_object_get(res, "met")), 2);
    assert_int_equal(json_integer_value(json_object_get(res, "breached")), 3);
    assert_int_equal(json_integer_value(json_object_get(res, "median_ms")), 50 * min);
    assert_int_equal(json_integer_value(json_object_get(res, "p90_ms")), 90 * min);
    json_decref(q);
    json_decref(r);
}

/* The push log: numbered in order across transactions, read after a
 * number, trimmed by age. */
static void test_push_log(void **state)
{
    fixture *f = *state;
    int64_t head0 = -1, head = -1;
    store_tx *tx = sys_tx_at(f, 5000);
    assert_int_equal(store_push_head(tx, &head0), 0);
    json_t *two =
        json_pack("[{s:i, s:I, s:s, s:s}, {s:i, s:I, s:s, s:s}]", "topic", STORE_PUSH_AGENT, "key",
                  (json_int_t)7, "event", "offer", "data", "{\"n\":1}", "topic", STORE_PUSH_CLIENT,
                  "key", (json_int_t)3, "event", "notice", "data", "{\"n\":2}");
    assert_int_equal(store_push_append(tx, two), 0);
    json_decref(two);
    assert_int_equal(store_commit(tx), 0);
    tx = sys_tx_at(f, 9000);
    json_t *one = json_pack("[{s:i, s:I, s:s, s:s}]", "topic", STORE_PUSH_AGENT, "key",
                            (json_int_t)7, "event", "state", "data", "{\"n\":3}");
    assert_int_equal(store_push_append(tx, one), 0);
    json_decref(one);
    json_t *none = json_array();
    assert_int_equal(store_push_append(tx, none), 0); /* nothing: no number used */
    json_decref(none);
    assert_int_equal(store_commit(tx), 0);

    tx = sys_tx_at(f, 9000);
    json_t *rows = NULL;
    assert_int_equal(store_push_head(tx, &head), 0);
    assert_int_equal(head, head0 + 3);
    assert_int_equal(store_push_since(tx, head0, 10, &rows), 0);
    assert_int_equal(json_array_size(rows), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, i), "seq")),
                         head0 + 1 + (int64_t)i);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 1), "event")),
                        "notice");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 1), "topic_key")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 2), "data")),
                        "{\"n\":3}");
    json_decref(rows);
    assert_int_equal(store_push_since(tx, head0 + 2, 10, &rows), 0);
    assert_int_equal(json_array_size(rows), 1);
    json_decref(rows);
    assert_int_equal(store_push_trim(tx, 6000), 0); /* the two set at 5000 go */
    assert_int_equal(store_push_since(tx, head0, 10, &rows), 0);
    assert_int_equal(json_array_size(rows), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "seq")),
                     head0 + 3);
    json_decref(rows);
    assert_int_equal(store_commit(tx), 0);
}

/* What the store keeps of an email (its raw copy, its text attachments) has
 * card numbers masked even inside base64 parts, where a byte scan of the
 * raw message sees none. */
static void test_mail_copies_masked(void **state)
{
    fixture *f = *state;
    const char *raw =
        "From: Dee <dee@example.org>\r\nTo: support@a.test\r\nSubject: card\r\n"
        "Message-ID: <card-b64@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "UGF5IHdpdGggNDExMSAxMTExIDExMTEgMTExMSBwbGVhc2UK\r\n--B\r\n"
        "Content-Type: text/csv\r\nContent-Disposition: attachment; filename=c.csv\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "bmFtZSxjYXJkCmFubiw0MTExMTExMTExMTExMTExCg==\r\n--B\r\n"
        "Content-Type: message/rfc822\r\n\r\nFrom: e@f.g\r\nSubject: fwd\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "UGF5IHdpdGggNDExMSAxMTExIDExMTEgMTExMSBwbGVhc2UK\r\n--B--\r\n";
    mail_msg *m = NULL;
    json_t *out = NULL;
    char err[200];
    assert_int_equal(mail_parse(raw, strlen(raw), &m), 0);
    assert_int_equal(
        store_mail_receive(f->st, 3000, f->client_a, raw, strlen(raw), m, &out, err, sizeof err),
        0);
    mail_free(m);
    json_decref(out);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT content FROM mail_blobs", -1, &st, NULL),
                     SQLITE_OK);
    int blobs = 0, raw_seen = 0, csv_seen = 0, fwd_seen = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *b64 = (const char *)sqlite3_column_text(st, 0);
        size_t cap = strlen(b64), n = 0;
        unsigned char *bin = malloc(cap + 1);
        assert_int_equal(sodium_base642bin(bin, cap, b64, strlen(b64), NULL, &n, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        bin[n] = 0;
        blobs++;
        mail_msg *copy = NULL;
        if (strstr((char *)bin, "Message-ID: <card-b64@example.org>")) { /* the raw copy */
            raw_seen = 1;
            assert_int_equal(mail_parse((char *)bin, n, &copy), 0);
            assert_string_equal(copy->text, "Pay with **** **** **** 1111 please");
            assert_int_equal(copy->nattachments, 2);
            for (size_t k = 0; k < copy->nattachments; k++)
                assert_null(
                    memmem(copy->attachments[k].data, copy->attachments[k].size, "4111", 4));
            mail_free(copy);
        } else if (strstr((char *)bin, "name,card")) {
            csv_seen = 1;
            assert_string_equal((char *)bin, "name,card\nann,************1111\n");
        } else if (strstr((char *)bin, "Subject: fwd")) { /* the forwarded message */
            fwd_seen = 1;
            assert_int_equal(mail_parse((char *)bin, n, &copy), 0);
            assert_string_equal(copy->text, "Pay with **** **** **** 1111 please");
            mail_free(copy);
        }
        free(bin);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(blobs >= 3 && raw_seen && csv_seen && fwd_seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_lifecycle_and_events),
        cmocka_unit_test(test_identity_resolution),
        cmocka_unit_test(test_audit_tamper),
        cmocka_unit_test(test_idle_rules),
        cmocka_unit_test(test_sla_report_fixture),
        cmocka_unit_test(test_push_log),
        cmocka_unit_test(test_mail_copies_masked),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
