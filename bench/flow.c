/* bench/flow.c - guided workflows: step rate of the runtime and lint time
 * on a generated 10,000-node workflow.
 *
 * The workflow: 1,998 groups of five nodes - ask (yes/no) -> decide (two
 * rules over answers and a context variable, plus a default) -> check
 * (optional) or say with a {{template}} -> act (tag, set_field from an
 * expression) -> next group - with a required check every 200 groups on
 * the spine and one end: 10,000 nodes.
 *
 * steps_per_s: sessions walk the workflow from start to end answering at
 * random (yes/no) and confirming checks, with effects off (the server asks
 * for them; the bench measures the engine). A step is one answer: validate,
 * record, evaluate the decide rules, pass say/act nodes, stop at the next
 * question. lint_ms_10k: flow_lint_text on the document (parse, positions,
 * structure, all graph analyses), which is what publishing runs.
 * Each figure is the median of 7 runs (the machine is shared and noisy). Last line: the two figures. */
#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/flow.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUPS 1998

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define RUNS 7

static double median(double v[RUNS])
{
    qsort(v, RUNS, sizeof *v, cmp_d);
    return v[RUNS / 2];
}

static char *generate(size_t *len, int *nodes)
{
    size_t cap = (size_t)GROUPS * 1200 + 4096, at = 0;
    char *t = malloc(cap);
    if (!t)
        exit(1);
    int n = 0;
#define OUT(...) (at += (size_t)snprintf(t + at, cap - at, __VA_ARGS__))
    OUT("{\"id\": \"bench\", \"version\": 1, \"client\": \"bench\", \"start\": \"q0\",\n"
        " \"variables\": {\"customer.score\": \"number\", \"customer.name\": \"string\"},\n"
        " \"nodes\": [\n");
    for (int g = 0; g < GROUPS; g++) {
        char next[32];
        if (g + 1 == GROUPS)
            snprintf(next, sizeof next, "end");
        else if ((g + 1) % 200 == 0)
            snprintf(next, sizeof next, "rc%d", g + 1);
        else
            snprintf(next, sizeof next, "q%d", g + 1);
        OUT("{\"id\": \"q%d\", \"kind\": \"ask\", \"type\": \"yes_no\", \"prompt\": \"Question "
            "%d for {{customer.name}}?\", \"next\": \"d%d\"},\n", g, g, g);
        OUT("{\"id\": \"d%d\", \"kind\": \"decide\", \"rules\": ["
            "{\"when\": \"answers.q%d and customer.score > %d\", \"next\": \"c%d\"},"
            "{\"when\": \"not answers.q%d and customer.score in [1, 2, 3]\", \"next\": \"s%d\"}],"
            " \"default\": \"s%d\"},\n", g, g, g % 10, g, g, g, g);
        OUT("{\"id\": \"c%d\", \"kind\": \"check\", \"text\": \"Confirm step %d\", \"next\": "
            "\"a%d\"},\n", g, g, g);
        OUT("{\"id\": \"s%d\", \"kind\": \"say\", \"text\": \"You said {{answers.q%d}}.\", "
            "\"next\": \"a%d\"},\n", g, g, g);
        OUT("{\"id\": \"a%d\", \"kind\": \"act\", \"actions\": [{\"type\": \"tag\", \"tag\": "
            "\"g%d\"}, {\"type\": \"set_field\", \"field\": \"f\", \"expr\": \"customer.score * "
            "2\"}], \"next\": \"%s\"},\n", g, g, next);
        n += 5;
        if ((g + 1) % 200 == 0 && g + 1 < GROUPS) {
            OUT("{\"id\": \"rc%d\", \"kind\": \"check\", \"required\": true, \"text\": "
                "\"Required check %d\", \"next\": \"q%d\"},\n", g + 1, g + 1, g + 1);
            n++;
        }
    }
    OUT("{\"id\": \"end\", \"kind\": \"end\", \"outcome\": \"resolved\"}\n]}\n");
    n++;
#undef OUT
    *len = at;
    *nodes = n;
    return t;
}

static double lint_ms(const char *text, size_t len)
{
    flow_diags d;
    flow_diags_init(&d);
    double t0 = now_s();
    int errors = flow_lint_text(text, len, &d);
    double t1 = now_s();
    if (errors != 0 || d.n) {
        char *msg = flow_diags_text(&d, "bench");
        fprintf(stderr, "generated workflow does not lint clean (%d):\n%.2000s", errors,
                msg ? msg : "");
        exit(1);
    }
    flow_diags_cleanup(&d);
    return (t1 - t0) * 1e3;
}

static double steps_per_s(const flow *f, json_t *ctx, long target_steps)
{
    uint64_t rng = 88172645463325252ULL;
    long steps = 0;
    double t0 = now_s();
    while (steps < target_steps) {
        flow_session *s;
        if (flow_session_create(f, ctx, 0, 1, &s, NULL))
            exit(1);
        while (!flow_session_ended(s)) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            flow_value v = {.type = FLOW_T_BOOL, .u.b = flow_node_kind(f, flow_session_node(s)) ==
                                                            FLOW_CHECK || (rng & 1)};
            if (flow_session_answer_value(s, &v, steps, 1, NULL))
                exit(2);
            steps++;
        }
        flow_session_destroy(s);
    }
    return (double)steps / (now_s() - t0);
}

int main(void)
{
    cd_mem_install();
    size_t len;
    int nodes;
    char *text = generate(&len, &nodes);
    flow *f;
    if (flow_load(text, len, &f, NULL)) {
        fprintf(stderr, "generated workflow does not load\n");
        return 1;
    }
    json_t *ctx = json_pack("{s:{s:i, s:s}}", "customer", "score", 5, "name", "Ada");
    double lint[RUNS], steps[RUNS];
    for (int r = 0; r < RUNS; r++) {
        lint[r] = lint_ms(text, len);
        steps[r] = steps_per_s(f, ctx, 2000000);
        printf("run %d: nodes=%d bytes=%zu lint_ms=%.2f steps_per_s=%.0f\n", r + 1, nodes, len,
               lint[r], steps[r]);
    }
    printf("steps_per_s=%.0f lint_ms_10k=%.2f\n", median(steps), median(lint));
    json_decref(ctx);
    flow_destroy(f);
    free(text);
    return 0;
}
