/* test_flow.c - guided workflows (src/core/flow.c): a table of broken
 * workflows with the exact diagnostics lint gives; the example workflows in
 * flows/ lint clean; the runtime (answers, validation, back, required
 * checks, effects, save/restore); and a property test: random walks (with
 * back) over random valid workflows never end with a required check
 * skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/flow.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Line 1 is the header, each node line follows: node k is on line k + 2. */
#define HEAD                                                                                       \
    "{\"id\": \"t\", \"version\": 1, \"client\": \"c\", \"start\": \"a\", \"variables\": "         \
    "{\"v.n\": \"number\", \"v.s\": \"string\", \"v.d\": \"date\"}, \"nodes\": [\n"
#define TAIL "\n]}"

static char *lint(const char *text)
{
    flow_diags d;
    flow_diags_init(&d);
    int errors = flow_lint_text(text, strlen(text), &d);
    assert_true(errors >= 0);
    assert_int_equal(errors, d.errors);
    char *out = flow_diags_text(&d, "t.json");
    assert_non_null(out);
    flow_diags_cleanup(&d);
    return out;
}

static const struct {
    const char *name, *text, *want;
} LINT[] = {
    {"clean",
     HEAD "{\"id\": \"a\", \"kind\": \"say\", \"text\": \"hi\", \"next\": \"b\"},\n"
          "{\"id\": \"b\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL,
     ""},
    {"invalid json", "{\"id\": \"t\",\n  \"nodes\": [}", "t.json:2:13: error: invalid JSON: "
                                                         "unexpected token near '}'\n"},
    {"not an object", "[1]", "t.json:1:1: error: a workflow is a JSON object\n"},
    {"header",
     "{\"version\": 0, \"start\": \"zz\", \"nodes\": [\n"
     "{\"id\": \"a\", \"kind\": \"end\", \"outcome\": \"resolved\"}]}",
     "t.json:1:1: error: workflow needs a string \"id\"\n"
     "t.json:1:1: error: workflow needs a string \"client\"\n"
     "t.json:1:13: error: workflow needs \"version\": an integer above 0\n"
     "t.json:1:25: error: \"start\" must name a node\n"},
    {"node structure",
     HEAD "{\"id\": \"a\", \"kind\": \"sya\", \"next\": \"b\"},\n"
          "{\"kind\": \"end\"},\n"
          "{\"id\": \"a\", \"kind\": \"end\", \"outcome\": \"resolved\"},\n"
          "{\"id\": \"b\", \"kind\": \"end\", \"outcome\": \"done\"},\n"
          "{\"id\": \"c\", \"kind\": \"ask\", \"type\": \"choice\", \"prompt\": \"p\", "
          "\"options\": [], \"next\": \"nope\"}" TAIL,
     "t.json:2:21: error: node 'a': unknown kind 'sya' (say, ask, check, decide, act, call, "
     "end)\n"
     "t.json:3:1: error: node 2 needs a string \"id\"\n"
     "t.json:4:1: error: duplicate node id 'a' (first at 2:1)\n"
     "t.json:5:1: warning: node 'b' is unreachable from start\n"
     "t.json:5:39: error: node 'b': end needs \"outcome\": resolved, escalated or follow_up\n"
     "t.json:6:1: warning: node 'c' is unreachable from start\n"
     "t.json:6:72: error: node 'c': a choice needs \"options\": a non-empty list of strings\n"
     "t.json:6:84: error: node 'c': next 'nope' is not a node\n"},
    {"unreachable and dead end",
     HEAD "{\"id\": \"a\", \"kind\": \"say\", \"text\": \"hi\"},\n"
          "{\"id\": \"b\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL,
     "t.json:2:1: error: node 'a' is a dead end: a say needs \"next\"\n"
     "t.json:3:1: warning: node 'b' is unreachable from start\n"},
    {"missing default",
     HEAD "{\"id\": \"a\", \"kind\": \"decide\", \"rules\": [{\"when\": \"v.n > 1\", \"next\": "
          "\"b\"}]},\n"
          "{\"id\": \"b\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL,
     "t.json:2:1: error: decide 'a' has no default branch\n"},
    {"undefined variables and types",
     HEAD "{\"id\": \"a\", \"kind\": \"ask\", \"type\": \"number\", \"prompt\": \"{{nope}}?\", "
          "\"next\": \"d\"},\n"
          "{\"id\": \"d\", \"kind\": \"decide\", \"rules\": [{\"when\": \"answers.a > 'x'\", "
          "\"next\": \"e\"}, {\"when\": \"v.s\", \"next\": \"e\"}, {\"when\": \"answers.zz\", "
          "\"next\": \"e\"}, {\"when\": \"days_since(v.d) > 3 and\", \"next\": \"e\"}], "
          "\"default\": \"e\"},\n"
          "{\"id\": \"e\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL,
     "t.json:2:59: error: undefined variable 'nope'\n"
     "t.json:3:61: error: cannot order number and string\n"
     "t.json:3:93: error: condition is a string, not a bool\n"
     "t.json:3:123: error: undefined variable 'answers.zz'\n"
     "t.json:3:183: error: condition: expected a value, found end of expression\n"},
    {"maybe unanswered",
     HEAD "{\"id\": \"a\", \"kind\": \"decide\", \"rules\": [{\"when\": \"v.n > 1\", \"next\": "
          "\"q\"}], \"default\": \"s\"},\n"
          "{\"id\": \"q\", \"kind\": \"ask\", \"type\": \"yes_no\", \"prompt\": \"ok?\", "
          "\"next\": \"s\"},\n"
          "{\"id\": \"s\", \"kind\": \"say\", \"text\": \"You said {{answers.q}}\", \"next\": "
          "\"e\"},\n"
          "{\"id\": \"e\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL,
     "t.json:4:48: warning: 'answers.q' may be unanswered here: 's' can be reached without "
     "'q'\n"},
    {"cycle with no end",
     HEAD "{\"id\": \"a\", \"kind\": \"ask\", \"type\": \"yes_no\", \"prompt\": \"p\", \"next\": "
          "\"d\"},\n"
          "{\"id\": \"d\", \"kind\": \"decide\", \"rules\": [{\"when\": \"answers.a\", \"next\": "
          "\"e\"}], \"default\": \"l1\"},\n"
          "{\"id\": \"l1\", \"kind\": \"say\", \"text\": \"x\", \"next\": \"l2\"},\n"
          "{\"id\": \"l2\", \"kind\": \"ask\", \"type\": \"text\", \"prompt\": \"y\", \"next\": "
          "\"l1\"},\n"
          "{\"id\": \"e\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL,
     "t.json:4:1: error: cycle with no way to an end: l1 -> l2 -> l1\n"},
    {"required check bypassed",
     HEAD "{\"id\": \"a\", \"kind\": \"ask\", \"type\": \"choice\", \"prompt\": \"p\", "
          "\"options\": [\"x\", \"y\"], \"next\": \"d\"},\n"
          "{\"id\": \"d\", \"kind\": \"decide\", \"rules\": [{\"when\": \"answers.a == 'x'\", "
          "\"next\": \"id\"}], \"default\": \"pay\"},\n"
          "{\"id\": \"id\", \"kind\": \"check\", \"required\": true, \"text\": \"verify\", "
          "\"next\": \"pay\", \"on_fail\": \"e\"},\n"
          "{\"id\": \"pay\", \"kind\": \"check\", \"required\": true, \"text\": \"ivr\", "
          "\"next\": \"e\"},\n"
          "{\"id\": \"e\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL,
     "t.json:4:1: error: required check 'id' can be bypassed: a -> d -> pay -> e\n"
     "t.json:5:1: error: required check 'pay' can be bypassed: a -> d -> id -> e\n"},
    {"required check unreachable",
     HEAD "{\"id\": \"a\", \"kind\": \"end\", \"outcome\": \"resolved\"},\n"
          "{\"id\": \"c\", \"kind\": \"check\", \"required\": true, \"text\": \"x\", \"next\": "
          "\"a\"}" TAIL,
     "t.json:3:1: warning: node 'c' is unreachable from start\n"
     "t.json:3:1: error: required check 'c' is never reached: every path bypasses it\n"},
    {"actions",
     HEAD "{\"id\": \"a\", \"kind\": \"act\", \"actions\": [{\"type\": \"shout\"}, {\"type\": "
          "\"priority\", \"value\": \"asap\"}, {\"type\": \"webhook\", \"url\": "
          "\"http://x\"}, {\"type\": \"follow_up\", \"in_hours\": 0}, {\"type\": "
          "\"set_field\", \"field\": \"f\"}, {\"type\": \"note\", \"text\": \"{{v.n\"}], "
          "\"next\": \"b\"},\n"
          "{\"id\": \"b\", \"kind\": \"call\", \"flow\": \"t\", \"next\": \"c\"},\n"
          "{\"id\": \"c\", \"kind\": \"end\", \"outcome\": \"resolved\", \"code\": 7}" TAIL,
     "t.json:2:49: error: node 'a': action 1: unknown type 'shout' (set_field, tag, priority, "
     "category, note, escalate, follow_up, webhook)\n"
     "t.json:2:89: error: node 'a': action 2: priority must be low, normal, high or urgent\n"
     "t.json:2:125: error: node 'a': action 3: webhook url must start with https://\n"
     "t.json:2:172: error: node 'a': action 4 (follow_up) needs \"in_hours\" (hours > 0)\n"
     "t.json:2:176: error: node 'a': action 5 (set_field) needs \"value\" or \"expr\"\n"
     "t.json:2:239: error: text: '{{' without '}}'\n"
     "t.json:3:37: error: node 'b': a workflow cannot call itself\n"
     "t.json:4:59: error: node 'c': \"code\" must be a string\n"},
};

static void test_lint_table(void **state)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof LINT / sizeof LINT[0]; i++) {
        char *got = lint(LINT[i].text);
        if (strcmp(got, LINT[i].want)) {
            fprintf(stderr, "case '%s'\n--- want\n%s--- got\n%s", LINT[i].name, LINT[i].want,
                    got);
            bad++;
        }
        cd_free(got);
    }
    assert_int_equal(bad, 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, fp);
    buf[*len] = 0;
    fclose(fp);
    return buf;
}

/* Every workflow shipped in flows/ loads and lints without a finding. */
static void test_examples_lint_clean(void **state)
{
    const char *src = getenv("CAREDESK_SRC");
    if (!src)
        src = ".";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/flows", src);
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len = 0;
        char *text = read_file(path, &len);
        assert_non_null(text);
        flow_diags d;
        flow_diags_init(&d);
        assert_int_equal(flow_lint_text(text, len, &d), 0);
        char *out = flow_diags_text(&d, de->d_name);
        if (d.n)
            fail_msg("%s", out);
        cd_free(out);
        flow_diags_cleanup(&d);
        flow *f;
        assert_int_equal(flow_load(text, len, &f, NULL), 0);
        assert_true(flow_nnodes(f) >= 15);
        flow_destroy(f);
        free(text);
        files++;
    }
    closedir(dp);
    assert_true(files >= 3);
}

/* --- runtime ---------------------------------------------------------------- */

static flow *load_text(const char *text)
{
    flow *f;
    flow_diags d;
    flow_diags_init(&d);
    int rc = flow_load(text, strlen(text), &f, &d);
    if (rc) {
        char *t = flow_diags_text(&d, "x");
        fail_msg("load: %d\n%s", rc, t);
    }
    flow_diags_cleanup(&d);
    return f;
}

static const char *RUN_FLOW =
    HEAD "{\"id\": \"a\", \"kind\": \"say\", \"text\": \"Hello {{v.s}}\", \"next\": \"id\"},\n"
         "{\"id\": \"id\", \"kind\": \"check\", \"required\": true, \"text\": \"verify\", "
         "\"next\": \"amt\", \"on_fail\": \"bye\"},\n"
         "{\"id\": \"amt\", \"kind\": \"ask\", \"type\": \"number\", \"prompt\": \"how much\", "
         "\"min\": 1, \"max\": 100, \"integer\": true, \"next\": \"d\"},\n"
         "{\"id\": \"d\", \"kind\": \"decide\", \"rules\": [{\"when\": \"answers.amt > v.n\", "
         "\"next\": \"big\"}, {\"when\": \"v.s < 3\", \"next\": \"big\"}], \"default\": "
         "\"why\"},\n"
         "{\"id\": \"big\", \"kind\": \"act\", \"actions\": [{\"type\": \"tag\", \"tag\": "
         "\"big\"}, {\"type\": \"set_field\", \"field\": \"x\", \"expr\": \"answers.amt * 2\"}, "
         "{\"type\": \"note\", \"text\": \"amount {{answers.amt}}\"}], \"next\": \"why\"},\n"
         "{\"id\": \"why\", \"kind\": \"ask\", \"type\": \"choice\", \"prompt\": \"why\", "
         "\"options\": [\"a\", \"b\"], \"next\": \"txt\"},\n"
         "{\"id\": \"txt\", \"kind\": \"ask\", \"type\": \"text\", \"prompt\": \"t\", "
         "\"max_length\": 5, \"next\": \"day\"},\n"
         "{\"id\": \"day\", \"kind\": \"ask\", \"type\": \"date\", \"prompt\": \"t\", \"next\": "
         "\"sub\"},\n"
         "{\"id\": \"sub\", \"kind\": \"call\", \"flow\": \"other\", \"next\": \"done\"},\n"
         "{\"id\": \"done\", \"kind\": \"end\", \"outcome\": \"resolved\", \"code\": \"OK\"},\n"
         "{\"id\": \"bye\", \"kind\": \"end\", \"outcome\": \"escalated\"}" TAIL;

static int answer(flow_session *s, const char *json, json_t *fx)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    int rc = flow_session_answer(s, v, 1000, 7, fx);
    json_decref(v);
    return rc;
}

static const char *cur(const flow *f, const flow_session *s)
{
    return flow_node_id(f, flow_session_node(s));
}

static void test_session_walk(void **state)
{
    flow *f = load_text(RUN_FLOW);
    json_t *ctx = json_pack("{s:{s:i, s:s}}", "v", "n", 10, "s", "Ada");
    json_t *fx = json_array();
    flow_session *s;
    assert_int_equal(flow_session_create(f, ctx, 1000, 7, &s, fx), 0);
    assert_string_equal(cur(f, s), "id");
    char *dump = json_dumps(fx, JSON_COMPACT);
    assert_string_equal(dump, "[{\"node\":\"a\",\"say\":\"Hello Ada\"}]");
    free(dump);
    json_array_clear(fx);

    assert_int_equal(answer(s, "\"yes\"", fx), CD_EINVAL);
    assert_int_equal(answer(s, "true", fx), 0);
    assert_string_equal(cur(f, s), "amt");
    assert_int_equal(answer(s, "0", fx), CD_EINVAL);   /* below min */
    assert_int_equal(answer(s, "101", fx), CD_EINVAL); /* above max */
    assert_int_equal(answer(s, "2.5", fx), CD_EINVAL); /* not an integer */
    assert_int_equal(answer(s, "\"5\"", fx), CD_EINVAL);
    assert_int_equal(json_array_size(fx), 0);
    assert_int_equal(answer(s, "5", fx), 0); /* rule 1 false, rule 2 fails: default */
    assert_string_equal(cur(f, s), "why");
    dump = json_dumps(fx, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(dump, "[{\"node\":\"d\",\"warning\":\"rule 2: cannot order string and "
                              "number\"}]");
    free(dump);
    json_array_clear(fx);
    assert_int_equal(flow_session_back(s, 1500, 7), 0);
    assert_string_equal(cur(f, s), "amt");
    assert_int_equal(answer(s, "50", fx), 0); /* rule 1 */
    assert_string_equal(cur(f, s), "why");
    dump = json_dumps(fx, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(dump, "[{\"action\":\"tag\",\"node\":\"big\",\"tag\":\"big\"},"
                              "{\"action\":\"set_field\",\"field\":\"x\",\"node\":\"big\","
                              "\"value\":100},{\"action\":\"note\",\"node\":\"big\",\"text\":"
                              "\"amount 50\"}]");
    free(dump);
    json_array_clear(fx);
    assert_int_equal(answer(s, "\"c\"", fx), CD_EINVAL);
    assert_int_equal(answer(s, "\"b\"", fx), 0);
    assert_int_equal(answer(s, "\"\"", fx), CD_EINVAL);
    assert_int_equal(answer(s, "\"too long\"", fx), CD_EINVAL);
    assert_int_equal(answer(s, "\"fine\"", fx), 0);
    assert_int_equal(answer(s, "\"2024-02-30\"", fx), CD_EINVAL);
    assert_int_equal(answer(s, "\"2024-02-29\"", fx), 0);
    assert_string_equal(cur(f, s), "sub");
    assert_int_equal(answer(s, "\"maybe\"", fx), CD_EINVAL);
    assert_int_equal(answer(s, "\"resolved\"", fx), 0);
    assert_true(flow_session_ended(s));
    assert_string_equal(cur(f, s), "done");
    assert_int_equal(answer(s, "true", fx), CD_ESTATE);

    /* back from the end, then all the way to the first question */
    assert_int_equal(flow_session_back(s, 2000, 8), 0);
    assert_false(flow_session_ended(s));
    assert_string_equal(cur(f, s), "sub");
    const flow_value *v = flow_session_answer_of(s, flow_find(f, "txt"));
    assert_non_null(v);
    assert_int_equal(v->type, FLOW_T_STR);
    assert_string_equal(v->u.s.p, "fine");
    for (int i = 0; i < 5; i++)
        assert_int_equal(flow_session_back(s, 2000, 8), 0);
    assert_string_equal(cur(f, s), "id");
    assert_null(flow_session_answer_of(s, flow_find(f, "id")));
    assert_int_equal(flow_session_back(s, 2000, 8), CD_ESTATE);
    assert_int_equal(flow_session_history_len(s), 8 + 6);

    /* failing the check goes to on_fail and may end: the check was done */
    assert_int_equal(answer(s, "false", NULL), 0);
    assert_true(flow_session_ended(s));
    assert_string_equal(cur(f, s), "bye");
    flow_session_destroy(s);
    json_decref(fx);
    json_decref(ctx);
    flow_destroy(f);
}

/* The runtime refuses to end while a required check is not done, even in
 * a workflow lint would reject. */
static void test_end_blocked(void **state)
{
    const char *text =
        HEAD "{\"id\": \"a\", \"kind\": \"ask\", \"type\": \"yes_no\", \"prompt\": \"p\", "
             "\"next\": \"d\"},\n"
             "{\"id\": \"d\", \"kind\": \"decide\", \"rules\": [{\"when\": \"answers.a\", "
             "\"next\": \"c\"}], \"default\": \"e\"},\n"
             "{\"id\": \"c\", \"kind\": \"check\", \"required\": true, \"text\": \"x\", "
             "\"next\": \"e\"},\n"
             "{\"id\": \"e\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL;
    flow *f = load_text(text);
    flow_session *s;
    assert_int_equal(flow_session_create(f, NULL, 0, 1, &s, NULL), 0);
    json_t *fx = json_array();
    assert_int_equal(answer(s, "false", fx), CD_ESTATE);
    assert_int_equal(json_array_size(fx), 0);
    assert_string_equal(cur(f, s), "a");
    assert_int_equal(flow_session_history_len(s), 0);
    assert_int_equal(answer(s, "true", fx), 0);
    assert_string_equal(cur(f, s), "c");
    assert_int_equal(answer(s, "false", fx), CD_EINVAL); /* no on_fail */
    assert_int_equal(answer(s, "true", fx), 0);
    assert_true(flow_session_ended(s));
    flow_session_destroy(s);
    json_decref(fx);
    flow_destroy(f);
}

static void test_loop_is_state_error(void **state)
{
    const char *text =
        HEAD "{\"id\": \"a\", \"kind\": \"say\", \"text\": \"x\", \"next\": \"b\"},\n"
             "{\"id\": \"b\", \"kind\": \"decide\", \"rules\": [{\"when\": \"true\", \"next\": "
             "\"a\"}], \"default\": \"e\"},\n"
             "{\"id\": \"e\", \"kind\": \"end\", \"outcome\": \"resolved\"}" TAIL;
    flow *f = load_text(text);
    flow_session *s;
    assert_int_equal(flow_session_create(f, NULL, 0, 1, &s, NULL), CD_ESTATE);
    assert_null(s);
    flow_destroy(f);
}

static void test_save_restore(void **state)
{
    flow *f = load_text(RUN_FLOW);
    json_t *ctx = json_pack("{s:{s:i, s:s}}", "v", "n", 10, "s", "Ada");
    flow_session *s, *r;
    assert_int_equal(flow_session_create(f, ctx, 1000, 7, &s, NULL), 0);
    assert_int_equal(answer(s, "true", NULL), 0);
    assert_int_equal(answer(s, "5", NULL), 0);
    assert_int_equal(answer(s, "\"a\"", NULL), 0);
    assert_int_equal(flow_session_back(s, 3, 4), 0);
    assert_int_equal(answer(s, "\"b\"", NULL), 0);
    assert_int_equal(answer(s, "\"abc\"", NULL), 0);
    json_t *saved = flow_session_save(s);
    assert_non_null(saved);
    char *a = json_dumps(saved, JSON_COMPACT);
    assert_int_equal(flow_session_restore(f, saved, ctx, &r), 0);
    json_t *again = flow_session_save(r);
    char *b = json_dumps(again, JSON_COMPACT);
    assert_string_equal(a, b);
    assert_string_equal(cur(f, r), "day");
    assert_int_equal(answer(r, "\"2024-01-01\"", NULL), 0);
    assert_string_equal(cur(f, r), "sub");

    /* a state that does not fit is refused */
    flow_session_destroy(s);
    json_t *bad = json_deep_copy(saved);
    flow_session *x;
    json_object_set_new(bad, "current", json_string("d"));
    assert_int_equal(flow_session_restore(f, bad, ctx, &x), CD_EINVAL);
    json_object_set_new(bad, "current", json_string("day"));
    json_array_append_new(json_object_get(bad, "path"), json_integer(99));
    assert_int_equal(flow_session_restore(f, bad, ctx, &x), CD_EINVAL);
    json_object_set_new(bad, "version", json_integer(2));
    assert_int_equal(flow_session_restore(f, bad, ctx, &x), CD_EINVAL);
    json_decref(bad);

    free(a);
    free(b);
    json_decref(again);
    json_decref(saved);
    flow_session_destroy(r);
    json_decref(ctx);
    flow_destroy(f);
}

/* --- property: random workflows, random walks ----------------------------- */

static uint64_t rng;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A random workflow of n nodes (forward edges and some back edges), with
 * required checks. Returns the text; the caller frees. */
static char *random_flow(int n)
{
    size_t cap = (size_t)n * 400 + 512, at = 0;
    char *t = malloc(cap);
    at += (size_t)snprintf(t + at, cap - at,
                           "{\"id\":\"r\",\"version\":1,\"client\":\"c\",\"start\":\"n0\","
                           "\"nodes\":[\n");
    for (int i = 0; i < n; i++) {
        int fwd = i + 1 + (int)rnd(3), alt = (int)rnd((unsigned)n + 2);
        char next[16], other[16];
        snprintf(next, sizeof next, "n%d", fwd < n ? fwd : n - 1);
        snprintf(other, sizeof other, "n%d", alt < n ? alt : n - 1);
        if (i == n - 1 || (i > n / 2 && rnd(8) == 0)) {
            at += (size_t)snprintf(t + at, cap - at,
                                   "{\"id\":\"n%d\",\"kind\":\"end\",\"outcome\":\"resolved\"}", i);
        } else {
            switch (rnd(5)) {
            case 0:
                at += (size_t)snprintf(t + at, cap - at,
                                       "{\"id\":\"n%d\",\"kind\":\"check\",\"required\":%s,"
                                       "\"text\":\"c\",\"next\":\"%s\",\"on_fail\":\"%s\"}",
                                       i, rnd(2) ? "true" : "false", next, other);
                break;
            case 1:
                at += (size_t)snprintf(t + at, cap - at,
                                       "{\"id\":\"n%d\",\"kind\":\"decide\",\"rules\":[{\"when\":"
                                       "\"v.x > %u\",\"next\":\"%s\"}],\"default\":\"%s\"}",
                                       i, rnd(10), other, next);
                break;
            case 2:
                at += (size_t)snprintf(t + at, cap - at,
                                       "{\"id\":\"n%d\",\"kind\":\"say\",\"text\":\"s\","
                                       "\"next\":\"%s\"}", i, next);
                break;
            default:
                at += (size_t)snprintf(t + at, cap - at,
                                       "{\"id\":\"n%d\",\"kind\":\"ask\",\"type\":\"yes_no\","
                                       "\"prompt\":\"q\",\"next\":\"%s\"}", i,
                                       rnd(4) ? next : other);
                break;
            }
        }
        at += (size_t)snprintf(t + at, cap - at, i < n - 1 ? ",\n" : "\n");
    }
    snprintf(t + at, cap - at, "],\"variables\":{\"v.x\":\"number\"}}");
    return t;
}

static void test_property_random_walks(void **state)
{
    rng = 0x9E3779B97F4A7C15ULL;
    int valid = 0, ended = 0, blocked = 0;
    for (int round = 0; round < 400; round++) {
        char *text = random_flow(6 + (int)rnd(20));
        flow *f;
        flow_diags d;
        flow_diags_init(&d);
        if (flow_load(text, strlen(text), &f, NULL) || flow_lint(f, &d) != 0) {
            if (f)
                flow_destroy(f);
            flow_diags_cleanup(&d);
            free(text);
            continue; /* only lint-clean workflows are valid */
        }
        flow_diags_cleanup(&d);
        valid++;
        for (int walk = 0; walk < 20; walk++) {
            json_t *ctx = json_pack("{s:{s:i}}", "v", "x", (int)rnd(12));
            flow_session *s;
            int rc = flow_session_create(f, ctx, 0, 1, &s, NULL);
            json_decref(ctx);
            if (rc == CD_ESTATE) /* start loops through say/decide only */
                continue;
            assert_int_equal(rc, 0);
            for (int step = 0; step < 200 && !flow_session_ended(s); step++) {
                if (rnd(6) == 0) {
                    flow_session_back(s, step, 1);
                    continue;
                }
                flow_value v = {.type = FLOW_T_BOOL, .u.b = (int)rnd(2)};
                rc = flow_session_answer_value(s, &v, step, 1, NULL);
                assert_true(rc == 0 || rc == CD_ESTATE || rc == CD_EINVAL);
                blocked += rc == CD_ESTATE;
            }
            if (flow_session_ended(s)) {
                ended++;
                for (int i = 0; i < flow_nnodes(f); i++) {
                    const json_t *nj = flow_node_json(f, i);
                    if (json_is_true(json_object_get(nj, "required")))
                        assert_non_null(flow_session_answer_of(s, i));
                }
            }
            flow_session_destroy(s);
        }
        flow_destroy(f);
        free(text);
    }
    assert_true(valid >= 20);
    assert_true(ended >= 100);
    print_message("valid workflows %d, walks ended %d, refused moves %d\n", valid, ended,
                  blocked);
}

/* Lint-rejected random workflows: the runtime alone still never ends with
 * a required check skipped. */
static void test_property_runtime_alone(void **state)
{
    rng = 12345;
    int ended = 0;
    for (int round = 0; round < 300; round++) {
        char *text = random_flow(5 + (int)rnd(15));
        flow *f;
        if (flow_load(text, strlen(text), &f, NULL)) {
            free(text);
            continue;
        }
        for (int walk = 0; walk < 10; walk++) {
            flow_session *s;
            if (flow_session_create(f, NULL, 0, 1, &s, NULL))
                continue;
            for (int step = 0; step < 100 && !flow_session_ended(s); step++) {
                if (rnd(8) == 0) {
                    flow_session_back(s, step, 1);
                    continue;
                }
                flow_value v = {.type = FLOW_T_BOOL, .u.b = (int)rnd(2)};
                flow_session_answer_value(s, &v, step, 1, NULL);
            }
            if (flow_session_ended(s)) {
                ended++;
                for (int i = 0; i < flow_nnodes(f); i++)
                    if (json_is_true(json_object_get(flow_node_json(f, i), "required")))
                        assert_non_null(flow_session_answer_of(s, i));
            }
            flow_session_destroy(s);
        }
        flow_destroy(f);
        free(text);
    }
    assert_true(ended > 50);
}

int main(void)
{
    cd_mem_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lint_table),
        cmocka_unit_test(test_examples_lint_clean),
        cmocka_unit_test(test_session_walk),
        cmocka_unit_test(test_end_blocked),
        cmocka_unit_test(test_loop_is_state_error),
        cmocka_unit_test(test_save_restore),
        cmocka_unit_test(test_property_random_walks),
        cmocka_unit_test(test_property_runtime_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
