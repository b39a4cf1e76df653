/* cmd_flow.c - caredesk flow lint FILE... and caredesk flow run FILE: check
 * workflows while writing them, and step through one in the terminal. */
#include "cli/cli.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLOW_FILE_MAX (4u << 20)

/* Reads a whole file (caller frees); NULL with a message on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        fprintf(stderr, "caredesk: cannot open %s\n", path);
        return NULL;
    }
    buf = cd_malloc(FLOW_FILE_MAX + 1);
    *len = buf ? fread(buf, 1, FLOW_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf && *len > FLOW_FILE_MAX) {
        fprintf(stderr, "caredesk: %s is over %u bytes\n", path, FLOW_FILE_MAX);
        cd_free(buf);
        return NULL;
    }
    if (buf)
        buf[*len] = '\0';
    return buf;
}

static int lint_one(const char *path, int *errors, int *warnings)
{
    size_t len = 0;
    char *text = read_file(path, &len), *out;
    flow_diags d;
    int n;
    if (!text)
        return -1;
    flow_diags_init(&d);
    n = flow_lint_text(text, len, &d);
    out = flow_diags_text(&d, path);
    if (out)
        fputs(out, stdout);
    *warnings += d.warnings;
    *errors += n > 0 ? n : 0;
    cd_free(out);
    flow_diags_cleanup(&d);
    cd_free(text);
    return n < 0 ? -1 : 0;
}

/* Several files lint as a set: every call node must name a workflow among
 * them, and they must not call each other in a cycle. */
typedef struct member {
    const char *path;
    flow *f;
    int state; /* cycle search: 0 new, 1 on the stack, 2 done */
} member;

static int member_of(member *m, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (m[i].f && id && strcmp(flow_id(m[i].f), id) == 0)
            return i;
    return -1;
}

static int find_cycle(member *m, int n, int at, int *stack, int depth, int *errors)
{
    m[at].state = 1;
    stack[depth] = at;
    for (int k = 0; k < flow_nnodes(m[at].f); k++) {
        if (flow_node_kind(m[at].f, k) != FLOW_CALL)
            continue;
        int to = member_of(m, n, json_string_value(json_object_get(flow_node_json(m[at].f, k),
                                                                    "flow")));
        if (to < 0 || m[to].state == 2)
            continue;
        if (m[to].state == 1) {
            int line, col, from = depth;
            while (stack[from] != to)
                from--;
            flow_node_pos(m[at].f, k, &line, &col);
            printf("%s:%d:%d: error: workflows call each other in a cycle: ", m[at].path, line,
                   col);
            for (int i = from; i <= depth; i++)
                printf("%s -> ", flow_id(m[stack[i]].f));
            printf("%s\n", flow_id(m[to].f));
            ++*errors;
            continue;
        }
        find_cycle(m, n, to, stack, depth + 1, errors);
    }
    m[at].state = 2;
    return 0;
}

static void lint_set(char **paths, int n, int *errors, int *warnings)
{
    member *m = cd_calloc((size_t)n, sizeof *m);
    int *stack = cd_calloc((size_t)n + 1, sizeof *stack);
    if (!m || !stack) {
        cd_free(m);
        cd_free(stack);
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        char *text = read_file(paths[i], &len);
        m[i].path = paths[i];
        if (text && flow_load(text, len, &m[i].f, NULL) != 0)
            m[i].f = NULL; /* its own diagnostics were printed above */
        cd_free(text);
        int dup = m[i].f ? member_of(m, i, flow_id(m[i].f)) : -1;
        if (dup >= 0) {
            printf("%s:1:1: warning: workflow '%s' is also in %s; calls go to the first\n",
                   paths[i], flow_id(m[i].f), m[dup].path);
            ++*warnings;
        }
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; m[i].f && k < flow_nnodes(m[i].f); k++) {
            if (flow_node_kind(m[i].f, k) != FLOW_CALL)
                continue;
            const char *to =
                json_string_value(json_object_get(flow_node_json(m[i].f, k), "flow"));
            int at = member_of(m, n, to), line, col;
            flow_node_pos(m[i].f, k, &line, &col);
            if (at >= 0 && strcmp(flow_client(m[at].f), flow_client(m[i].f)) != 0) {
                printf("%s:%d:%d: error: node '%s' calls workflow '%s' of client '%s'; a "
                       "workflow calls only its own client's workflows\n",
                       paths[i], line, col, flow_node_id(m[i].f, k), to, flow_client(m[at].f));
                ++*errors;
            }
            if (at >= 0)
                continue;
            printf("%s:%d:%d: error: node '%s' calls workflow '%s', which is not among the "
                   "files given\n",
                   paths[i], line, col, flow_node_id(m[i].f, k), to ? to : "");
            ++*errors;
        }
    }
    for (int i = 0; i < n; i++)
        if (m[i].f && m[i].state == 0)
            find_cycle(m, n, i, stack, 0, errors);
    for (int i = 0; i < n; i++)
        flow_destroy(m[i].f);
    cd_free(m);
    cd_free(stack);
}

static int flow_lint_cmd(int argc, char **argv)
{
    int errors = 0, warnings = 0, failed = 0;
    if (argc < 3) {
        fprintf(stderr, "caredesk: flow lint needs at least one FILE\n");
        return 2;
    }
    for (int i = 2; i < argc; i++)
        failed |= lint_one(argv[i], &errors, &warnings) != 0;
    if (argc > 3)
        lint_set(argv + 2, argc - 2, &errors, &warnings);
    fprintf(stderr, "%d file(s): %d error(s), %d warning(s)\n", argc - 2, errors, warnings);
    return errors || failed ? 1 : 0;
}

/* --- flow run ---------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_effects(json_t *effects)
{
    json_t *e;
    size_t i;
    json_array_foreach (effects, i, e) {
        if (json_object_get(e, "say"))
            printf("  SAY   %s\n", json_string_value(json_object_get(e, "say")));
        else if (json_object_get(e, "action")) {
            char *text = json_dumps(e, JSON_COMPACT);
            printf("  ACT   %s\n", text ? text : "?");
            cd_free(text);
        } else if (json_object_get(e, "warning"))
            printf("  WARN  %s\n", json_string_value(json_object_get(e, "warning")));
        else if (json_object_get(e, "end"))
            printf("  END   %s %s\n", json_string_value(json_object_get(e, "end")),
                   json_string_value(json_object_get(e, "code")) ?: "");
    }
    json_array_clear(effects);
}

static void prompt(const flow *f, int node)
{
    const json_t *n = flow_node_json(f, node);
    const char *text = json_string_value(json_object_get(n, "prompt"));
    if (!text)
        text = json_string_value(json_object_get(n, "text"));
    printf("\n[%s] %s\n", flow_node_id(f, node), text ? text : "");
    switch (flow_node_kind(f, node)) {
    case FLOW_CHECK:
        printf("  (check: yes = done, no = failed)\n");
        break;
    case FLOW_CALL:
        printf("  (sub-flow: resolved, escalated or follow_up)\n");
        break;
    default: {
        const json_t *opts = json_object_get(n, "options");
        const char *type = json_string_value(json_object_get(n, "type"));
        if (opts) {
            char *o = json_dumps(opts, JSON_COMPACT);
            printf("  (one of %s)\n", o ? o : "?");
            cd_free(o);
        } else if (type)
            printf("  (%s)\n", type);
    }
    }
    printf("> ");
    fflush(stdout);
}

/* Turns what was typed into the answer the node takes. */
static json_t *answer_of(const flow *f, int node, const char *line)
{
    const json_t *n = flow_node_json(f, node);
    const char *type = json_string_value(json_object_get(n, "type"));
    int yes_no = flow_node_kind(f, node) == FLOW_CHECK || (type && !strcmp(type, "yes_no"));
    if (yes_no && (!strcmp(line, "yes") || !strcmp(line, "y")))
        return json_true();
    if (yes_no && (!strcmp(line, "no") || !strcmp(line, "n")))
        return json_false();
    if (type && !strcmp(type, "number")) {
        char *end;
        double v = strtod(line, &end);
        return *line && !*end ? json_real(v) : json_string(line);
    }
    return json_string(line);
}

static int flow_run_cmd(int argc, char **argv)
{
    size_t len = 0;
    char line[1024];
    char *text;
    flow *f = NULL;
    flow_session *s = NULL;
    flow_diags d;
    json_t *effects = json_array(), *context = json_object();
    int rc;
    if (argc < 3) {
        fprintf(stderr, "caredesk: flow run needs a FILE\n");
        return 2;
    }
    if (argc >= 5 && strcmp(argv[3], "--context") == 0) {
        json_error_t jerr;
        json_decref(context);
        context = json_load_file(argv[4], 0, &jerr);
        if (!json_is_object(context)) {
            fprintf(stderr, "caredesk: %s: %s\n", argv[4], jerr.text);
            json_decref(context);
            json_decref(effects);
            return 1;
        }
    }
    if (!(text = read_file(argv[2], &len))) {
        json_decref(context);
        json_decref(effects);
        return 1;
    }
    flow_diags_init(&d);
    rc = flow_load(text, len, &f, &d);
    if (rc) {
        char *out = flow_diags_text(&d, argv[2]);
        fputs(out ? out : "cannot load the workflow\n", stderr);
        cd_free(out);
        goto out;
    }
    printf("%s (version %lld). Answer at each prompt; 'back' goes back, 'quit' stops.\n",
           flow_id(f), flow_version(f));
    rc = flow_session_create(f, context, now_ms(), 0, &s, effects);
    while (!rc) {
        print_effects(effects);
        if (flow_session_ended(s))
            break;
        prompt(f, flow_session_node(s));
        if (!fgets(line, sizeof line, stdin))
            break;
        line[strcspn(line, "\r\n")] = '\0';
        if (!strcmp(line, "quit"))
            break;
        if (!strcmp(line, "back")) {
            if (flow_session_back(s, now_ms(), 0))
                printf("  (already at the first step)\n");
            continue;
        }
        json_t *a = answer_of(f, flow_session_node(s), line);
        int arc = flow_session_answer(s, a, now_ms(), 0, effects);
        json_decref(a);
        if (arc == CD_EINVAL)
            printf("  (not a valid answer here)\n");
        else if (arc == CD_ESTATE)
            printf("  (cannot go on: a required check on this path is not done)\n");
        else if (arc)
            rc = arc;
    }
    if (s && flow_session_ended(s))
        printf("\nsession ended after %zu step(s)\n", flow_session_history_len(s));
out:
    flow_session_destroy(s);
    flow_destroy(f);
    flow_diags_cleanup(&d);
    json_decref(effects);
    json_decref(context);
    cd_free(text);
    return rc ? 1 : 0;
}

int cmd_flow(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "lint") == 0 && !cli_wants_help(argc, argv))
        return flow_lint_cmd(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "run") == 0 && !cli_wants_help(argc, argv))
        return flow_run_cmd(argc, argv);
    printf("usage: caredesk flow lint FILE...   check workflows (exit 1 on any error); given\n"
           "                                    several, they are checked as a set: every\n"
           "                                    call names one of them, and no call cycle\n"
           "       caredesk flow run FILE [--context CONTEXT.json]\n"
           "                                    step through a workflow in the terminal; the\n"
           "                                    context fills {{customer.name}} and the like\n"
           "Diagnostics are FILE:LINE:COL: error|warning: message. See docs/workflows.md.\n");
    return cli_wants_help(argc, argv) ? 0 : 2;
}
