/* flow.h - guided workflows: loading, lint, and the session runtime.
 *
 * A workflow is a versioned JSON document owned by one client: a start node
 * and a list of nodes (say, ask, check, decide, act, call, end). The format,
 * the expression language (core/flow_expr.h) and every diagnostic are
 * described in docs/workflows.md.
 *
 * Positions: jansson reports positions for parse errors only, so after a
 * successful parse a small scanner walks the same text alongside the
 * parsed tree and records the line:column of every object, array, string
 * and number (flow.c, "positions"). Diagnostics point at the node's '{', or
 * at the offending string (a "next" target, a condition: the column inside
 * the condition is added when the string has no escapes before it).
 *
 * Required checks: a check node with "required": true must be passed on
 * every path from start to an end. Lint proves it over the graph where all
 * branches of a decide are taken as feasible (an over-approximation: a
 * reported bypass may be impossible in practice, but a workflow lint
 * accepts has no bypass). The runtime enforces it as well: a session cannot
 * reach an end while a required check of the workflow is not answered on
 * its current path.
 *
 * Pure: no I/O, no clock (times are parameters), no globals. Allocation
 * through cd_mem. A loaded flow is immutable and may be shared by any
 * number of sessions (sessions borrow it: destroy them first). */
#ifndef FLOW_H
#define FLOW_H

#include "core/flow_expr.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_MAX_TEXT (4u << 20) /* bytes of one workflow document */
#define FLOW_MAX_NODES 100000

typedef enum {
    FLOW_SAY,
    FLOW_ASK,
    FLOW_CHECK,
    FLOW_DECIDE,
    FLOW_ACT,
    FLOW_CALL,
    FLOW_END,
} flow_kind;

typedef enum {
    FLOW_ASK_CHOICE,
    FLOW_ASK_YES_NO,
    FLOW_ASK_TEXT,
    FLOW_ASK_NUMBER,
    FLOW_ASK_DATE,
} flow_ask_type;

/* --- diagnostics ----------------------------------------------------------- */

typedef struct flow_diag {
    int line, col; /* 1-based in the workflow text */
    int error;     /* 1 error, 0 warning */
    char msg[320];
} flow_diag;

typedef struct flow_diags {
    flow_diag *items;
    size_t n, cap;
    int errors, warnings;
} flow_diags;

void flow_diags_init(flow_diags *d);
void flow_diags_cleanup(flow_diags *d);
/* All diagnostics as "FILE:LINE:COL: error|warning: message\n" lines, in
 * order of position. Caller frees with cd_free; NULL when out of memory. */
char *flow_diags_text(const flow_diags *d, const char *file);

/* --- workflows ------------------------------------------------------------- */

typedef struct flow flow;

/* Parses and checks the structure of a workflow (text need not be
 * terminated). Returns 0 with *out (caller frees with flow_destroy), or
 * CD_EINVAL with *out NULL and the reasons in d (which may be NULL),
 * CD_ETOOBIG (over FLOW_MAX_TEXT or FLOW_MAX_NODES), or CD_ENOMEM. A flow
 * that loads may still have lint findings: run flow_lint before publishing. */
int flow_load(const char *text, size_t len, flow **out, flow_diags *d);
void flow_destroy(flow *f);

/* Loads and lints text, appending every finding to d: structure, then the
 * graph (unreachable nodes, dead ends, undefined variables, type errors,
 * missing defaults, cycles without an end, required-check bypasses).
 * Returns the number of errors (>= 0; warnings are not counted) or
 * CD_ENOMEM. */
int flow_lint_text(const char *text, size_t len, flow_diags *d);
/* Lints a loaded flow (the graph part of the above). Same return. */
int flow_lint(const flow *f, flow_diags *d);

const char *flow_id(const flow *f);
const char *flow_client(const flow *f);
long long flow_version(const flow *f);
int flow_nnodes(const flow *f);
/* Index of the node with id `id`, or -1. */
int flow_find(const flow *f, const char *id);
const char *flow_node_id(const flow *f, int node);
/* Where the node's object starts in the workflow text (1-based). */
void flow_node_pos(const flow *f, int node, int *line, int *col);
flow_kind flow_node_kind(const flow *f, int node);
/* The node as written in the document (borrowed until flow_destroy). */
const json_t *flow_node_json(const flow *f, int node);

/* --- sessions -------------------------------------------------------------- */

/* A session belongs to one interaction. It stops at nodes that need the
 * agent (ask, check, call) and at the end; say, decide and act nodes are
 * passed automatically, each adding to `effects` (when not NULL, a JSON
 * array the caller owns):
 *   {"node": id, "say": "rendered text"}
 *   {"node": id, "action": "tag", ...the action's fields, templates rendered}
 *   {"node": id, "warning": "rule 2: ..."}   a condition that failed to evaluate
 *                                            (the rule is taken as false)
 *   {"node": id, "end": "resolved", "code": "..."}
 * Actions are returned, never applied: the caller applies them. */
typedef struct flow_session flow_session;

/* Starts a session at the flow's start. `context` holds the variables the
 * workflow reads (customer, interaction, client, ...): the session keeps a
 * reference (json_incref) and never changes it. Returns 0 with *out
 * (caller frees with flow_session_destroy), CD_ESTATE if the start runs
 * into a loop, a decide with no branch to take, or an end before a required
 * check, or CD_ENOMEM. */
int flow_session_create(const flow *f, json_t *context, int64_t now_ms, int64_t agent_id,
                        flow_session **out, json_t *effects);
void flow_session_destroy(flow_session *s);

/* The node the session waits at (an ask, check, call, or the end). */
int flow_session_node(const flow_session *s);
/* 1 once the session reached an end. */
int flow_session_ended(const flow_session *s);

/* Answers the current node and moves on to the next node that needs the
 * agent. Valid answers: choice: one of the options (string); yes_no: bool;
 * text: non-empty string up to max_length (default 1000) bytes; number:
 * within min..max (integer if "integer": true); date: "YYYY-MM-DD";
 * check: true (done) or false (failed: goes to "on_fail"; not allowed
 * without it); call: the sub-flow's outcome ("resolved", "escalated",
 * "follow_up"). Returns 0; CD_EINVAL (answer not valid here), CD_ESTATE
 * (session ended, or moving on would end the session while a required
 * check is not done, loop or stuck decide), CD_ENOMEM. On error nothing
 * changes (effects included). */
int flow_session_answer(flow_session *s, const json_t *answer, int64_t now_ms, int64_t agent_id,
                        json_t *effects);
/* The same with the answer as a flow_value (copied as needed). */
int flow_session_answer_value(flow_session *s, const flow_value *answer, int64_t now_ms,
                              int64_t agent_id, json_t *effects);

/* The current node's prompt or text with its {{variables}} filled in (a
 * new JSON string), or NULL when it has none. */
json_t *flow_session_text(flow_session *s, int64_t now_ms);

/* Goes back to the previous node that needed the agent, withdrawing its
 * answer (and leaving an ended session). Recorded in the history. Returns
 * 0, or CD_ESTATE at the first node. */
int flow_session_back(flow_session *s, int64_t now_ms, int64_t agent_id);

/* The answer given at `node` on the current path (latest if repeated), or
 * NULL; borrowed until the session changes. */
const flow_value *flow_session_answer_of(const flow_session *s, int node);
/* Steps recorded so far: answers and backs. */
size_t flow_session_history_len(const flow_session *s);

/* The whole state as JSON (caller decrefs), NULL when out of memory:
 *   {"flow": id, "version": n, "current": node id, "ended": bool,
 *    "history": [{"node": id, "answer": v, "at": ms, "agent": id}
 *                | {"node": id, "back": true, "at": ms, "agent": id}, ...],
 *    "path": [history index of each answer on the current path]} */
json_t *flow_session_save(const flow_session *s);
/* Restores a saved state over the same flow (id and version must match).
 * Returns 0 with *out, CD_EINVAL for a state that does not fit the flow,
 * CD_ENOMEM. */
int flow_session_restore(const flow *f, const json_t *state, json_t *context,
                         flow_session **out);

#endif
