/* test_flow_expr.c - the workflow expression language (src/core/flow_expr.c):
 * tables of expressions with their values, their parse errors (line:col and
 * message), their run-time errors and their static types; the step budget,
 * limits, and allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/flow_expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1718236800000LL /* 2024-06-13T00:00:00Z */

static const char *VARS = "{\"customer\": {\"name\": \"Ada Lovelace\", \"tier\": \"gold\","
                          " \"since\": \"2024-06-01\", \"tags\": [\"vip\", \"fr\"],"
                          " \"balance\": 120.5, \"open\": 3, \"blocked\": false},"
                          " \"answers.amount\": 80, \"answers.none\": null}";

typedef struct jenv {
    json_t *obj;
    flow_arena *arena;
} jenv;

static int json_lookup(void *ud, int var, const char *name, flow_value *out)
{
    jenv *j = ud;
    const json_t *v = flow_json_path(j->obj, name);
    if (!v) {
        if (!strncmp(name, "strict.", 7))
            return CD_ENOTFOUND;
        out->type = FLOW_T_NULL;
        return 0;
    }
    return flow_value_from_json(v, j->arena, out);
}

/* Evaluates text and formats the result as "type:text", or the error as
 * "L:C: message". */
static void run(const char *text, char *buf, size_t n)
{
    json_t *obj = json_loads(VARS, 0, NULL);
    assert_non_null(obj);
    flow_arena arena;
    flow_arena_init(&arena);
    jenv j = {obj, &arena};
    flow_env env = {.lookup = json_lookup, .ud = &j, .now_ms = NOW_MS};
    flow_expr *e;
    flow_expr_error err;
    int rc = flow_expr_parse(text, strlen(text), &e, &err);
    if (rc) {
        snprintf(buf, n, "%d:%d: %s", err.line, err.col, err.msg);
    } else {
        flow_value v;
        rc = flow_expr_eval(e, &env, &arena, &v, &err);
        if (rc) {
            snprintf(buf, n, "%d:%d: %s", err.line, err.col, err.msg);
        } else {
            char val[256];
            flow_value_format(&v, val, sizeof val);
            snprintf(buf, n, "%s:%s", flow_type_name(v.type), val);
        }
    }
    flow_expr_destroy(e);
    flow_arena_cleanup(&arena);
    json_decref(obj);
}

static const struct {
    const char *text, *want;
} EVAL[] = {
    {"1 + 2 * 3", "number:7"},
    {"(1 + 2) * 3", "number:9"},
    {"10 / 4", "number:2.5"},
    {"10 % 4 - -1", "number:3"},
    {"'a' + \"b\" + 'c'", "string:abc"},
    {"'it\\'s'", "string:it's"},
    {"true and not false", "bool:yes"},
    {"false or 1 < 2", "bool:yes"},
    {"1 == 1.0 and 'x' != 'y'", "bool:yes"},
    {"1 == '1'", "bool:no"},
    {"null == answers.none", "bool:yes"},
    {"customer.tier == 'gold'", "bool:yes"},
    {"customer.tier in ['gold', 'platinum']", "bool:yes"},
    {"customer.tier not in ['gold', 'platinum']", "bool:no"},
    {"'vip' in customer.tags", "bool:yes"},
    {"customer.tags contains 'fr'", "bool:yes"},
    {"customer.name contains 'Love'", "bool:yes"},
    {"contains(customer.name, 'love')", "bool:no"},
    {"contains(lower(customer.name), 'love')", "bool:yes"},
    {"upper(customer.tier)", "string:GOLD"},
    {"trim('  x y ')", "string:x y"},
    {"len(customer.name) + len(customer.tags)", "number:14"},
    {"days_since(customer.since)", "number:12"},
    {"days_since('2024-06-12T23:00Z')", "number:0"},
    {"days_since(0) > 19000", "bool:yes"},
    {"starts_with(customer.name, 'Ada')", "bool:yes"},
    {"abs(-3) + min(4, 2) + max(4, 2) + round(2.5)", "number:12"},
    {"empty(answers.none) and empty('') and empty([]) and not empty([1])", "bool:yes"},
    {"answers.amount >= 50 and customer.open < 5", "bool:yes"},
    {"customer.balance * 2", "number:241"},
    {"'b' > 'a' and 'ab' < 'b'", "bool:yes"},
    {"[1, 'a', [true]]", "list:[1, a, [yes]]"},
    {"[1, 2] == [1, 2]", "bool:yes"},
    {"customer.missing == null", "bool:yes"},
    {"false and 1 / 0 == 1", "bool:no"}, /* short circuit */
    {"true or undefined_thing", "bool:yes"},
    /* run-time errors */
    {"1 / 0", "1:3: division by zero"},
    {"'a' < 1", "1:5: cannot order string and number"},
    {"1 + true", "1:3: arithmetic on number and bool"},
    {"not 1", "1:5: 'not' needs a bool, got number"},
    {"1 and true", "1:1: 'and' needs a bool, got number"},
    {"len(3)", "1:1: len() needs a string or list, got number"},
    {"days_since('2024-02-30')", "1:1: days_since() needs a date 'YYYY-MM-DD' or epoch ms, got "
                                 "string"},
    {"1 in 2", "1:3: 'in' needs a list, or a string in a string; got number in number"},
    {"strict.x", "1:1: unknown variable 'strict.x'"},
    /* parse errors */
    {"", "1:1: empty expression"},
    {"1 +", "1:4: expected a value, found end of expression"},
    {"a = 1", "1:3: '=' is not an operator; use '==' to compare"},
    {"a && b", "1:3: '&' is not an operator; use 'and'"},
    {"!a", "1:1: '!' is not an operator; use 'not'"},
    {"(1 + 2", "1:7: expected ')', found end of expression"},
    {"1 2", "1:3: expected an operator or end of expression, found '2'"},
    {"'abc", "1:1: unterminated string"},
    {"foo(1)", "1:1: unknown function 'foo'"},
    {"len(1, 2)", "1:1: len() takes 1 argument, got 2"},
    {"min(1)", "1:1: min() takes 2 arguments, got 1"},
    {"1 < 2 < 3", "1:7: comparisons do not chain; join them with 'and'"},
    {"a not b", "1:7: expected 'in' after 'not', found 'b'"},
    {"x and\n  (y or\n   z $)", "3:6: unexpected character '$'"},
    {"[1, 2", "1:6: expected ',' or ']', found end of expression"},
    {"12abc", "1:1: malformed number"},
    {"'\\q'", "1:2: unknown escape '\\q'"},
};

static void test_eval_table(void **state)
{
    char got[300];
    for (size_t i = 0; i < sizeof EVAL / sizeof EVAL[0]; i++) {
        run(EVAL[i].text, got, sizeof got);
        if (strcmp(got, EVAL[i].want))
            fail_msg("%s\n  want %s\n  got  %s", EVAL[i].text, EVAL[i].want, got);
    }
}

/* --- static types --------------------------------------------------------- */

static int types_of(void *ud, int var, const char *name)
{
    static const struct {
        const char *name;
        flow_type t;
    } T[] = {{"n", FLOW_T_NUM},  {"s", FLOW_T_STR}, {"b", FLOW_T_BOOL},
             {"l", FLOW_T_LIST}, {"a", FLOW_T_ANY}, {"d", FLOW_T_STR}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(T[i].name, name))
            return (int)T[i].t;
    return -1;
}

static const struct {
    const char *text, *want;
} INFER[] = {
    {"n + 1", "number"},
    {"s + 'x'", "string"},
    {"a + 1", "number"},
    {"n > 3 and s == 'x'", "bool"},
    {"a", "any"},
    {"a < 3 or a", "bool"},
    {"s in l", "bool"},
    {"s in s", "bool"},
    {"l contains n", "bool"},
    {"days_since(d) > 30", "bool"},
    {"len(l) + len(s)", "number"},
    {"lower(s)", "string"},
    {"[n, s]", "list"},
    {"n == null", "bool"},
    {"zz > 1", "1:1: undefined variable 'zz'"},
    {"n > 1 and\n  q", "2:3: undefined variable 'q'"},
    {"n and b", "1:1: 'and' needs a bool, got number"},
    {"not s", "1:5: 'not' needs a bool, got string"},
    {"s < 3", "1:3: cannot order string and number"},
    {"s == 3", "1:3: comparing string with number is always false"},
    {"b != 'x'", "1:3: comparing bool with string is always true"},
    {"s - 1", "1:3: arithmetic on string and number"},
    {"n in n", "1:3: 'in' needs a list, or a string in a string; got number and number"},
    {"len(n)", "1:1: len() needs a string or list, got number"},
    {"upper(b)", "1:1: upper() needs a string, got bool"},
    {"days_since(b)", "1:1: days_since() needs a date, got bool"},
    {"max(n, s)", "1:1: max() needs numbers, got string"},
    {"-s", "1:2: '-' needs a number, got string"},
};

static void test_infer_table(void **state)
{
    char got[300];
    for (size_t i = 0; i < sizeof INFER / sizeof INFER[0]; i++) {
        flow_expr *e;
        flow_expr_error err;
        assert_int_equal(flow_expr_parse(INFER[i].text, strlen(INFER[i].text), &e, &err), 0);
        flow_type t;
        if (flow_expr_infer(e, types_of, NULL, &t, &err))
            snprintf(got, sizeof got, "%d:%d: %s", err.line, err.col, err.msg);
        else
            snprintf(got, sizeof got, "%s", flow_type_name(t));
        flow_expr_destroy(e);
        if (strcmp(got, INFER[i].want))
            fail_msg("%s\n  want %s\n  got  %s", INFER[i].text, INFER[i].want, got);
    }
}

/* --- variables, limits, budget -------------------------------------------- */

static void test_vars(void **state)
{
    flow_expr *e;
    flow_expr_error err;
    const char *t = "a.b + c\n + a.b";
    assert_int_equal(flow_expr_parse(t, strlen(t), &e, &err), 0);
    assert_int_equal(flow_expr_nvars(e), 2);
    assert_string_equal(flow_expr_var_name(e, 0), "a.b");
    assert_string_equal(flow_expr_var_name(e, 1), "c");
    int line, col;
    flow_expr_var_pos(e, 1, &line, &col);
    assert_int_equal(line, 1);
    assert_int_equal(col, 7);
    flow_expr_destroy(e);
}

static void test_limits(void **state)
{
    flow_expr *e;
    flow_expr_error err;
    char big[FLOW_EXPR_MAX_TEXT + 2];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(flow_expr_parse(big, strlen(big), &e, &err), CD_ETOOBIG);
    assert_null(e);

    char deep[401];
    memset(deep, '(', 200);
    deep[200] = '1';
    memset(deep + 201, ')', 200);
    assert_int_equal(flow_expr_parse(deep, sizeof deep, &e, &err), CD_ETOOBIG);
    assert_string_equal(err.msg, "expression nested too deeply (over 64)");

    char many[4000];
    size_t at = 0;
    for (int i = 0; i < 700; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%s1", i ? "+" : "");
    assert_int_equal(flow_expr_parse(many, at, &e, &err), CD_ETOOBIG);

    /* string growth is capped: 2^17 bytes would take 17 doublings */
    char dbl[2000] = "'xxxxxxxxxxxxxxxx'";
    for (int i = 0; i < 14; i++) {
        char tmp[2000];
        snprintf(tmp, sizeof tmp, "(%s + %s)", dbl, dbl);
        if (strlen(tmp) > 1500)
            break;
        strcpy(dbl, tmp);
    }
    assert_int_equal(flow_expr_parse(dbl, strlen(dbl), &e, &err), 0);
    flow_env env = {0};
    flow_arena arena;
    flow_arena_init(&arena);
    flow_value v;
    assert_int_equal(flow_expr_eval(e, &env, &arena, &v, &err), 0);
    assert_int_equal(v.type, FLOW_T_STR);
    flow_expr_destroy(e);
    flow_arena_cleanup(&arena);
}

static void test_budget(void **state)
{
    flow_expr *e;
    flow_expr_error err;
    const char *t = "1 + 2 + 3 + 4";
    assert_int_equal(flow_expr_parse(t, strlen(t), &e, &err), 0);
    flow_env env = {.max_steps = 5};
    flow_arena arena;
    flow_arena_init(&arena);
    flow_value v;
    assert_int_equal(flow_expr_eval(e, &env, &arena, &v, &err), CD_ETOOBIG);
    assert_string_equal(err.msg, "evaluation step budget exceeded");
    env.max_steps = 7;
    assert_int_equal(flow_expr_eval(e, &env, &arena, &v, &err), 0);
    assert_true(v.u.n == 10);
    assert_int_equal(flow_expr_test(e, &env, &arena, &err), CD_EINVAL);
    assert_string_equal(err.msg, "condition is a number, not a bool");
    flow_expr_destroy(e);
    flow_arena_cleanup(&arena);
}

static void test_dates(void **state)
{
    int64_t ms;
    assert_int_equal(flow_parse_date("1970-01-01", 10, &ms), 0);
    assert_true(ms == 0);
    assert_int_equal(flow_parse_date("2024-02-29T12:30:15Z", 20, &ms), 0);
    assert_true(ms == 1709209815000LL);
    assert_int_equal(flow_parse_date("2023-02-29", 10, &ms), CD_EINVAL);
    assert_int_equal(flow_parse_date("2024-13-01", 10, &ms), CD_EINVAL);
    assert_int_equal(flow_parse_date("2024-01-01T25:00Z", 17, &ms), CD_EINVAL);
    assert_int_equal(flow_parse_date("2024-01-01 ", 11, &ms), CD_EINVAL);
}

static void test_json_roundtrip(void **state)
{
    json_t *j = json_loads("[1, 2.5, \"x\", true, null, [false]]", 0, NULL);
    flow_arena arena;
    flow_arena_init(&arena);
    flow_value v;
    assert_int_equal(flow_value_from_json(j, &arena, &v), 0);
    json_t *back = flow_value_to_json(&v);
    assert_true(json_equal(j, back));
    json_decref(back);
    json_decref(j);
    flow_arena_reset(&arena);
    flow_arena_cleanup(&arena);
}

/* Every allocation failure during parse is reported as CD_ENOMEM and leaks
 * nothing (the ASan build checks the leaks). */
static void test_alloc_failure(void **state)
{
    const char *t = "customer.tier in ['gold', 'platinum'] and len(lower(customer.name)) > 3";
    int failures = 0;
    for (unsigned long n = 1; n < 40; n++) {
        flow_expr *e = NULL;
        flow_expr_error err;
        cd_mem_fail_after(n);
        int rc = flow_expr_parse(t, strlen(t), &e, &err);
        cd_mem_fail_after(0);
        if (rc) {
            assert_int_equal(rc, CD_ENOMEM);
            assert_null(e);
            failures++;
        }
        flow_expr_destroy(e);
    }
    assert_true(failures > 0);
}

int main(void)
{
    cd_mem_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),  cmocka_unit_test(test_infer_table),
        cmocka_unit_test(test_vars),        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_budget),      cmocka_unit_test(test_dates),
        cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
