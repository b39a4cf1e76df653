/* flow_expr.h - the expression language of guided workflows (conditions of
 * decide rules, computed values of act steps). See docs/workflows.md.
 *
 * Small and safe: literals (numbers, 'strings', true, false, null, [lists]),
 * variables (dotted names: customer.tier, answers.amount), comparisons
 * (== != < <= > >=), and / or / not, in / not in / contains, arithmetic
 * (+ - * / %, + also joins strings), and a fixed set of functions (len,
 * lower, upper, trim, days_since, contains, starts_with, abs, min, max,
 * round, empty). No loops, no assignment, no side effects: an evaluation
 * visits each node of the tree at most once, so its cost is bounded by the
 * size of the expression (at most FLOW_EXPR_MAX_NODES nodes).
 *
 * An expression is parsed once (flow_expr_parse) into a compact tree that
 * evaluates many times. Parse and type errors carry a 1-based line and
 * column within the expression text and a message.
 *
 * Pure: no I/O, no clock (days_since takes `now_ms` from the environment),
 * no globals. All allocation through cd_mem. */
#ifndef FLOW_EXPR_H
#define FLOW_EXPR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_EXPR_MAX_TEXT 4096   /* bytes of expression text */
#define FLOW_EXPR_MAX_NODES 1024  /* nodes of one parsed expression */
#define FLOW_EXPR_MAX_DEPTH 64    /* nesting of the parse tree */
#define FLOW_EXPR_MAX_STR 65536   /* bytes of a string computed at run time */

typedef enum {
    FLOW_T_NULL,
    FLOW_T_BOOL,
    FLOW_T_NUM,
    FLOW_T_STR,
    FLOW_T_LIST,
    FLOW_T_ANY, /* static inference only: not known before run time */
} flow_type;

/* A value. Strings and lists are borrowed: from the expression, from the
 * variable source, or from the arena of the evaluation that made them. */
typedef struct flow_value {
    flow_type type;
    union {
        int b;
        double n;
        struct {
            const char *p;
            size_t len;
        } s;
        struct {
            const struct flow_value *items;
            size_t len;
        } list;
    } u;
} flow_value;

typedef struct flow_expr flow_expr;

typedef struct flow_expr_error {
    int line, col; /* 1-based, within the expression text */
    char msg[160];
} flow_expr_error;

/* Bump allocator for values made during evaluation (joined strings, list
 * literals, lists read from JSON). _init on caller storage, _reset between
 * evaluations (invalidates values from earlier ones), _cleanup at the end. */
typedef struct flow_arena {
    struct flow_arena_chunk *head;
    size_t used, total;
} flow_arena;

void flow_arena_init(flow_arena *a);
void flow_arena_reset(flow_arena *a);
void flow_arena_cleanup(flow_arena *a);
/* Returns n bytes (8-aligned) valid until reset/cleanup, or NULL. */
void *flow_arena_alloc(flow_arena *a, size_t n);

/* Looks up variable number `var` (0 .. flow_expr_nvars-1) of the expression
 * being evaluated, whose name is `name`. Fills *out (borrowed data must
 * outlive the evaluation) and returns 0; an unknown variable may be given
 * as null (return 0) or reported as an error (return CD_ENOTFOUND). */
typedef int (*flow_lookup_fn)(void *ud, int var, const char *name, flow_value *out);

typedef struct flow_env {
    flow_lookup_fn lookup; /* NULL: every variable is null */
    void *ud;
    int64_t now_ms;     /* for days_since: UTC epoch ms */
    unsigned max_steps; /* node visits allowed; 0 = FLOW_EXPR_MAX_NODES */
} flow_env;

/* Parses text[0..len) into *out (caller frees with flow_expr_destroy).
 * Returns 0, CD_EINVAL with *err filled (syntax, unknown function, wrong
 * number of arguments), CD_ETOOBIG (text, nodes or depth over the limits,
 * *err filled) or CD_ENOMEM. */
int flow_expr_parse(const char *text, size_t len, flow_expr **out, flow_expr_error *err);
/* The same with the expression allocated in `arena` (NULL: on the heap):
 * it lives until the arena's reset or cleanup, and flow_expr_destroy
 * leaves it alone. */
int flow_expr_parse_in(const char *text, size_t len, flow_arena *arena, flow_expr **out,
                       flow_expr_error *err);
void flow_expr_destroy(flow_expr *e);

/* The distinct variables of e, numbered in order of first appearance. The
 * name is borrowed until flow_expr_destroy. */
int flow_expr_nvars(const flow_expr *e);
const char *flow_expr_var_name(const flow_expr *e, int var);
/* Line and column (1-based) of the first use of variable `var`. */
void flow_expr_var_pos(const flow_expr *e, int var, int *line, int *col);

/* Evaluates e. Values made by the evaluation live in `arena` (not reset
 * here). Returns 0 with *out set, or CD_EINVAL with *err filled (a type
 * error: 'a' < 3, division by zero, bad date...), CD_ETOOBIG (step budget
 * or string size exceeded), CD_ENOMEM, or the lookup's error. */
int flow_expr_eval(const flow_expr *e, const flow_env *env, flow_arena *arena, flow_value *out,
                   flow_expr_error *err);

/* Evaluates e and requires a bool: returns 1 (true), 0 (false) or a
 * negative CD_E* code (a non-bool result is CD_EINVAL). */
int flow_expr_test(const flow_expr *e, const flow_env *env, flow_arena *arena,
                   flow_expr_error *err);

/* Static type of variable `var` of an expression: a flow_type, or -1 when
 * the variable is not defined. */
typedef int (*flow_typeof_fn)(void *ud, int var, const char *name);

/* Infers the type of e given the types of its variables. Returns 0 with
 * *out set, or CD_EINVAL with *err at the offending node: an undefined
 * variable, or operands that can never fit the operator. FLOW_T_ANY
 * operands are accepted everywhere. */
int flow_expr_infer(const flow_expr *e, flow_typeof_fn typeof_fn, void *ud, flow_type *out,
                    flow_expr_error *err);

/* A JSON value as a flow_value: strings borrowed from j, arrays copied
 * into `arena` (nested objects become null). Returns 0 or CD_ENOMEM. */
int flow_value_from_json(const json_t *j, flow_arena *arena, flow_value *out);
/* Looks a dotted name up in a JSON object: "customer.name" is
 * obj["customer"]["name"], or obj["customer.name"] if that key exists.
 * Returns the borrowed value or NULL. */
const json_t *flow_json_path(const json_t *obj, const char *name);
/* A new JSON value for v (caller decrefs), or NULL when out of memory. */
json_t *flow_value_to_json(const flow_value *v);
/* Writes v as text (strings raw, numbers shortest, lists [a, b]) into
 * buf[0..size), always terminated; returns the length it needed. */
size_t flow_value_format(const flow_value *v, char *buf, size_t size);
/* Name of a type: "null", "bool", "number", "string", "list", "any". */
const char *flow_type_name(flow_type t);
/* 1 if a and b are equal (same type and value; lists item by item). */
int flow_value_equal(const flow_value *a, const flow_value *b);
/* Parses "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]Z" into epoch ms; 0 or
 * CD_EINVAL. */
int flow_parse_date(const char *s, size_t len, int64_t *out_ms);

#endif
