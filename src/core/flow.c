/* flow.c - guided workflows: load (structure and positions), lint (graph
 * analyses), and sessions (see flow.h, docs/workflows.md).
 *
 * The document stays parsed (jansson) inside the flow; nodes are an array
 * with successors as indices, so the analyses and the runtime work on
 * integers. Everything the flow owns besides the document, the node array
 * and the id table (expressions, rules, actions, successor lists...) lives
 * in one arena, so destroying a flow is a handful of frees.
 *
 * Positions come from a scanner that walks the text alongside the parsed
 * tree (jansson keeps none after a successful parse). */
#include "core/flow.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- diagnostics ----------------------------------------------------------- */

void flow_diags_init(flow_diags *d)
{
    memset(d, 0, sizeof *d);
}

void flow_diags_cleanup(flow_diags *d)
{
    cd_free(d->items);
    memset(d, 0, sizeof *d);
}

/* Appends a diagnostic; on allocation failure the diagnostic is dropped but
 * still counted, so an error is never lost from the count. */
static void diag(flow_diags *d, int error, int line, int col, const char *fmt, ...)
{
    if (!d)
        return;
    if (error)
        d->errors++;
    else
        d->warnings++;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        flow_diag *n = cd_realloc(d->items, cap * sizeof *n);
        if (!n)
            return;
        d->items = n;
        d->cap = cap;
    }
    flow_diag *g = &d->items[d->n++];
    g->line = line;
    g->col = col;
    g->error = error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->msg, sizeof g->msg, fmt, ap);
    va_end(ap);
}

static int diag_cmp(const void *a, const void *b)
{
    const flow_diag *x = *(const flow_diag *const *)a, *y = *(const flow_diag *const *)b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: order of discovery */
}

char *flow_diags_text(const flow_diags *d, const char *file)
{
    const flow_diag **order = cd_malloc((d->n ? d->n : 1) * sizeof *order);
    if (!order)
        return NULL;
    size_t cap = 1;
    for (size_t i = 0; i < d->n; i++) {
        order[i] = &d->items[i];
        cap += strlen(file) + strlen(d->items[i].msg) + 48;
    }
    qsort(order, d->n, sizeof *order, diag_cmp);
    char *out = cd_malloc(cap);
    if (out) {
        size_t at = 0;
        out[0] = 0;
        for (size_t i = 0; i < d->n; i++)
            at += (size_t)snprintf(out + at, cap - at, "%s:%d:%d: %s: %s\n", file, order[i]->line,
                                   order[i]->col, order[i]->error ? "error" : "warning",
                                   order[i]->msg);
    }
    cd_free(order);
    return out;
}

/* --- positions ------------------------------------------------------------- */

/* The scanner records the position of every value in document order (the
 * literals true, false and null are shared singletons in jansson and get
 * none); a hash table over the values' addresses then finds a value's
 * position in constant time. Object members are matched with the parsed
 * object's members in order (jansson keeps insertion order, and with
 * JSON_REJECT_DUPLICATES every key is inserted once, in document order),
 * checking that the keys agree and looking the key up otherwise. */
typedef struct pos {
    const void *v;
    int line;
    signed int col : 31;
    unsigned int plain : 1; /* a string with no escapes: columns inside it map directly */
} pos;

typedef struct scanner {
    const char *s;
    size_t len, i, ls;
    int line, depth;
    pos *v;
    size_t n, cap;
    int rc;
    char key[256];
} scanner;

static void sc_ws(scanner *sc)
{
    while (sc->i < sc->len) {
        char c = sc->s[sc->i];
        if (c == '\n') {
            sc->line++;
            sc->ls = ++sc->i;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            sc->i++;
        } else {
            break;
        }
    }
}

/* Records j at the current position; returns the entry (NULL if none). */
static pos *sc_record(scanner *sc, const json_t *j)
{
    if (!j || json_is_true(j) || json_is_false(j) || json_is_null(j) || sc->rc)
        return NULL;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 1024;
        pos *n = cd_realloc(sc->v, cap * sizeof *n);
        if (!n) {
            sc->rc = CD_ENOMEM;
            return NULL;
        }
        sc->v = n;
        sc->cap = cap;
    }
    pos *p = &sc->v[sc->n++];
    *p = (pos){.v = j, .line = sc->line, .col = (int)(sc->i - sc->ls) + 1};
    return p;
}

/* Skips a string at sc->i (on its quote). Returns 1 when it has no escapes;
 * *raw and *rawlen are its bytes between the quotes. */
static int sc_skip_string(scanner *sc, const char **raw, size_t *rawlen)
{
    const char *s = sc->s + sc->i + 1, *end = sc->s + sc->len;
    const char *q = memchr(s, '"', (size_t)(end - s));
    if (!q)
        q = end;
    const char *bs = memchr(s, '\\', (size_t)(q - s));
    int plain = !bs;
    if (bs) { /* escapes: a quote after a backslash does not end the string */
        const char *c = bs;
        while (c < end && *c != '"')
            c += *c == '\\' ? 2 : 1;
        q = c < end ? c : end;
    }
    *raw = s;
    *rawlen = (size_t)(q - s);
    sc->i = (size_t)(q - sc->s) + 1;
    return plain;
}

/* The text of a key with escapes into sc->key (escapes other than \uXXXX
 * decoded; good enough for keys). */
static void sc_decode_key(scanner *sc, const char *raw, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (c == '\\' && i + 1 < n) {
            char x = raw[++i];
            c = x == 'n' ? '\n' : x == 't' ? '\t' : x == 'r' ? '\r' : x == 'b' ? '\b'
                : x == 'f' ? '\f' : x;
            if (x == 'u') {
                i += 4;
                c = '?';
            }
        }
        if (k + 1 < sizeof sc->key)
            sc->key[k++] = c;
    }
    sc->key[k] = 0;
}

static void sc_value(scanner *sc, json_t *j);

static void sc_object(scanner *sc, json_t *j)
{
    void *it = json_is_object(j) ? json_object_iter(j) : NULL;
    sc->i++;
    for (;;) {
        sc_ws(sc);
        if (sc->i >= sc->len || sc->s[sc->i] == '}')
            break;
        if (sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        const char *raw;
        size_t n;
        int plain = sc_skip_string(sc, &raw, &n);
        json_t *child = NULL;
        if (it) {
            const char *key = json_object_iter_key(it);
            if (plain && !strncmp(key, raw, n) && !key[n])
                child = json_object_iter_value(it);
            it = json_object_iter_next(j, it);
        }
        if (!child && j) {
            if (plain) {
                size_t k = n < sizeof sc->key ? n : sizeof sc->key - 1;
                memcpy(sc->key, raw, k);
                sc->key[k] = 0;
            } else {
                sc_decode_key(sc, raw, n);
            }
            child = json_object_get(j, sc->key);
        }
        sc_ws(sc);
        sc->i++; /* ':' */
        sc_value(sc, child);
    }
    sc->i++;
}

static void sc_array(scanner *sc, json_t *j)
{
    size_t idx = 0;
    sc->i++;
    for (;;) {
        sc_ws(sc);
        if (sc->i >= sc->len || sc->s[sc->i] == ']')
            break;
        if (sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        sc_value(sc, j ? json_array_get(j, idx++) : NULL);
    }
    sc->i++;
}

static void sc_value(scanner *sc, json_t *j)
{
    sc_ws(sc);
    if (sc->i >= sc->len || sc->rc)
        return;
    char c = sc->s[sc->i];
    if (++sc->depth > 2048) { /* jansson refuses deeper documents anyway */
        sc->rc = CD_ETOOBIG;
        return;
    }
    if (c == '{') {
        sc_record(sc, j);
        sc_object(sc, j);
    } else if (c == '[') {
        sc_record(sc, j);
        sc_array(sc, j);
    } else if (c == '"') {
        pos *p = sc_record(sc, j);
        const char *raw;
        size_t n;
        int plain = sc_skip_string(sc, &raw, &n);
        if (p)
            p->plain = (unsigned)plain;
    } else {
        sc_record(sc, j);
        for (; sc->i < sc->len; sc->i++) {
            char x = sc->s[sc->i];
            if (x == ',' || x == ']' || x == '}' || x == ' ' || x == '\t' || x == '\r' || x == '\n')
                break;
        }
    }
    sc->depth--;
}

/* Open addressing over the recorded values' addresses: entry index + 1,
 * 0 empty. */
typedef struct posmap {
    const pos *v;
    size_t n;
    uint32_t *slot;
    size_t mask;
} posmap;

static size_t ptr_hash(const void *p, size_t mask)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & mask;
}

static int posmap_build(posmap *m, const pos *v, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    m->v = v;
    m->n = n;
    m->mask = cap - 1;
    m->slot = cd_calloc(cap, sizeof *m->slot);
    if (!m->slot)
        return CD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t h = ptr_hash(v[i].v, m->mask);
        while (m->slot[h])
            h = (h + 1) & m->mask;
        m->slot[h] = (uint32_t)i + 1;
    }
    return 0;
}

static const pos *posmap_get(const posmap *m, const void *j)
{
    if (!j || !m->slot)
        return NULL;
    for (size_t h = ptr_hash(j, m->mask);; h = (h + 1) & m->mask) {
        uint32_t k = m->slot[h];
        if (!k)
            return NULL;
        if (m->v[k - 1].v == j)
            return &m->v[k - 1];
    }
}

/* --- the flow -------------------------------------------------------------- */

/* An expression with where its variables come from and where it is. */
typedef struct texpr {
    flow_expr *e;
    int *bind;      /* per variable: node index for answers.X, -1 context */
    int line, col;  /* of the first character of the expression text */
    int plain;      /* columns inside the expression map onto the file */
} texpr;

/* A text with {{expression}} parts. */
typedef struct tmpl {
    const char *text; /* borrowed from the document */
    int nparts;
    struct part {
        size_t start, end; /* of "{{ ... }}" in text */
        texpr x;
    } *parts;
} tmpl;

typedef struct rule {
    texpr when;
    int next;
} rule;

typedef struct act {
    const char *type;
    const json_t *j;
    tmpl text;    /* note / follow_up "text" */
    texpr value;  /* set_field "expr" */
} act;

typedef struct fnode {
    const char *id;
    const json_t *j;
    int line, col;
    int bad; /* kind unknown: left out of graph findings */
    flow_kind kind;
    int next, fail, dflt; /* -1: none */
    int has_next, has_dflt; /* the fields are present (valid or not) */
    int required;
    flow_ask_type ask;
    const char **options;
    int noptions;
    double min, max;
    int has_min, has_max, integer;
    size_t max_len;
    tmpl text;
    rule *rules;
    int nrules;
    act *acts;
    int nacts;
    const char *outcome;
    int *succ;
    int nsucc;
} fnode;

/* A slot of the id table (open addressing over node ids). */
struct slot {
    uint32_t hash; /* of the id, high half */
    int node;      /* index + 1, 0 empty */
};

struct flow {
    json_t *doc;
    const char *id, *client;
    long long version;
    int start;
    fnode *nodes;
    int n;
    struct slot *table;
    size_t tmask;
    const json_t *vars; /* declared variables: name -> type */
    int *required;
    int nrequired;
    int broken;
    flow_arena arena;
};

static const char *KINDS[] = {"say", "ask", "check", "decide", "act", "call", "end"};
static const char *ASKS[] = {"choice", "yes_no", "text", "number", "date"};
static const char *OUTCOMES[] = {"resolved", "escalated", "follow_up"};
static const char *PRIORITIES[] = {"low", "normal", "high", "urgent"};

static int in_list(const char *s, const char *const *list, int n)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, list[i]))
            return i;
    return -1;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

int flow_find(const flow *f, const char *id)
{
    if (!f->table || !id)
        return -1;
    uint64_t h = hash_str(id);
    for (size_t i = h & f->tmask;; i = (i + 1) & f->tmask) {
        const struct slot *t = &f->table[i];
        if (!t->node)
            return -1;
        if (t->hash == (uint32_t)(h >> 32) && !strcmp(f->nodes[t->node - 1].id, id))
            return t->node - 1;
    }
}

void flow_destroy(flow *f)
{
    if (!f)
        return;
    flow_arena_cleanup(&f->arena);
    cd_free(f->nodes);
    cd_free(f->table);
    cd_free(f->required);
    json_decref(f->doc);
    cd_free(f);
}

/* n zeroed bytes from the flow's arena, or NULL. */
static void *flow_zalloc(flow *f, size_t n)
{
    void *p = flow_arena_alloc(&f->arena, n ? n : 1);
    if (p)
        memset(p, 0, n);
    return p;
}

/* --- loading --------------------------------------------------------------- */

typedef struct loader {
    flow *f;
    flow_diags *d;
    posmap pos;
    int rc; /* CD_ENOMEM / CD_ETOOBIG: stop */
} loader;

static const pos *where(const loader *L, const json_t *j)
{
    return posmap_get(&L->pos, j);
}

/* An error at j's position (or at fallback's, or 1:1). */
static void err_at(loader *L, const json_t *j, const json_t *fallback, const char *fmt, ...)
{
    const pos *p = where(L, j);
    if (!p)
        p = where(L, fallback);
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag(L->d, 1, p ? p->line : 1, p ? p->col : 1, "%s", msg);
    L->f->broken = 1;
}

static const char *get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Compiles an expression found in string `src` at byte offset `off`. */
static int compile(loader *L, const json_t *src, size_t off, const char *text, size_t len,
                   texpr *x, const char *what)
{
    const pos *p = where(L, src);
    x->line = p ? p->line : 1;
    x->col = p ? p->col + 1 + (int)off : 1;
    x->plain = p ? p->plain : 0;
    flow_expr_error err;
    int rc = flow_expr_parse_in(text, len, &L->f->arena, &x->e, &err);
    if (rc == CD_ENOMEM)
        return L->rc = CD_ENOMEM;
    if (rc) {
        int line = x->line, col = x->col;
        if (x->plain && err.line == 1)
            col += err.col - 1;
        diag(L->d, 1, line, col, "%s: %s", what, err.msg);
        L->f->broken = 1;
        return rc;
    }
    int nv = flow_expr_nvars(x->e);
    x->bind = flow_arena_alloc(&L->f->arena, (size_t)(nv ? nv : 1) * sizeof *x->bind);
    if (!x->bind)
        return L->rc = CD_ENOMEM;
    for (int i = 0; i < nv; i++) {
        const char *name = flow_expr_var_name(x->e, i);
        x->bind[i] = strncmp(name, "answers.", 8) ? -1 : flow_find(L->f, name + 8);
    }
    return 0;
}

static int compile_tmpl(loader *L, const json_t *src, tmpl *t, const char *what)
{
    t->text = json_string_value(src);
    if (!t->text)
        return 0;
    const char *s = t->text;
    const char *o = strstr(s, "{{");
    if (!o)
        return 0;
    int most = 0; /* parts at most: one per "{{" */
    for (const char *k = o; k; k = strstr(k + 2, "{{"))
        most++;
    t->parts = flow_zalloc(L->f, (size_t)most * sizeof *t->parts);
    if (!t->parts)
        return L->rc = CD_ENOMEM;
    for (; o; o = strstr(o, "{{")) {
        const char *c = strstr(o + 2, "}}");
        if (!c) {
            const pos *p = where(L, src);
            diag(L->d, 1, p ? p->line : 1, p ? p->col + 1 + (int)(o - s) : 1,
                 "%s: '{{' without '}}'", what);
            L->f->broken = 1;
            return CD_EINVAL;
        }
        struct part *pt = &t->parts[t->nparts];
        pt->start = (size_t)(o - s);
        pt->end = (size_t)(c + 2 - s);
        t->nparts++;
        if (compile(L, src, (size_t)(o + 2 - s), o + 2, (size_t)(c - o - 2), &pt->x, what))
            return CD_EINVAL;
        o = c + 2;
    }
    return 0;
}

/* Resolves a node reference (a string naming a node); -1 if absent. */
static int target(loader *L, const fnode *nd, const json_t *ref, const char *field)
{
    if (!ref)
        return -1;
    const char *id = json_string_value(ref);
    if (!id) {
        err_at(L, ref, nd->j, "node '%s': \"%s\" must be a node id (string)", nd->id, field);
        return -1;
    }
    int t = flow_find(L->f, id);
    if (t < 0)
        err_at(L, ref, nd->j, "node '%s': %s '%s' is not a node", nd->id, field, id);
    return t;
}

static void load_ask(loader *L, fnode *nd)
{
    const json_t *j = nd->j;
    const char *type = get_str(j, "type");
    int t = in_list(type, ASKS, 5);
    if (t < 0) {
        err_at(L, json_object_get(j, "type"), j,
               "node '%s': ask needs \"type\": choice, yes_no, text, number or date", nd->id);
        return;
    }
    nd->ask = (flow_ask_type)t;
    if (!json_is_string(json_object_get(j, "prompt")))
        err_at(L, j, NULL, "node '%s': ask needs a \"prompt\"", nd->id);
    compile_tmpl(L, json_object_get(j, "prompt"), &nd->text, "prompt");
    const json_t *opts = json_object_get(j, "options");
    if (nd->ask == FLOW_ASK_CHOICE) {
        size_t n = json_array_size(opts);
        nd->options = flow_zalloc(L->f, n * sizeof *nd->options);
        if (!nd->options) {
            L->rc = CD_ENOMEM;
            return;
        }
        for (size_t i = 0; i < n; i++)
            if ((nd->options[nd->noptions] = json_string_value(json_array_get(opts, i))))
                nd->noptions++;
        if (!n || nd->noptions != (int)n)
            err_at(L, opts, j, "node '%s': a choice needs \"options\": a non-empty list of strings",
                   nd->id);
    }
    const json_t *mn = json_object_get(j, "min"), *mx = json_object_get(j, "max");
    nd->has_min = json_is_number(mn);
    nd->has_max = json_is_number(mx);
    nd->min = json_number_value(mn);
    nd->max = json_number_value(mx);
    nd->integer = json_is_true(json_object_get(j, "integer"));
    if (nd->has_min && nd->has_max && nd->min > nd->max)
        err_at(L, mn, j, "node '%s': min is above max", nd->id);
    const json_t *ml = json_object_get(j, "max_length");
    nd->max_len = json_is_integer(ml) && json_integer_value(ml) > 0
                      ? (size_t)json_integer_value(ml) : 1000;
}

static const struct {
    const char *type, *field; /* the field each action type requires */
} ACTIONS[] = {
    {"set_field", "field"}, {"tag", "tag"},        {"priority", "value"}, {"category", "value"},
    {"note", "text"},       {"escalate", "queue"}, {"follow_up", "in_hours"}, {"webhook", "url"},
};
#define NACTIONS (int)(sizeof ACTIONS / sizeof ACTIONS[0])

static void load_action(loader *L, fnode *nd, int i, const json_t *a)
{
    act *ac = &nd->acts[i];
    ac->j = a;
    ac->type = get_str(a, "type");
    int t = -1;
    for (int k = 0; ac->type && k < NACTIONS; k++)
        if (!strcmp(ACTIONS[k].type, ac->type))
            t = k;
    if (t < 0) {
        err_at(L, json_object_get(a, "type"), a,
               "node '%s': action %d: unknown type '%s' (set_field, tag, priority, category, "
               "note, escalate, follow_up, webhook)",
               nd->id, i + 1, ac->type ? ac->type : "");
        return;
    }
    const json_t *req = json_object_get(a, ACTIONS[t].field);
    int ok = t == 6 ? json_is_number(req) && json_number_value(req) > 0 : json_is_string(req);
    if (!ok) {
        err_at(L, req, a, "node '%s': action %d (%s) needs \"%s\"%s", nd->id, i + 1, ac->type,
               ACTIONS[t].field, t == 6 ? " (hours > 0)" : "");
        return;
    }
    const char *v = json_string_value(req);
    if (t == 2 && in_list(v, PRIORITIES, 4) < 0)
        err_at(L, req, a, "node '%s': action %d: priority must be low, normal, high or urgent",
               nd->id, i + 1);
    if (t == 7 && strncmp(v, "https://", 8))
        err_at(L, req, a, "node '%s': action %d: webhook url must start with https://", nd->id,
               i + 1);
    if (t == 0) {
        const json_t *x = json_object_get(a, "expr");
        if (json_is_string(x))
            compile(L, x, 0, json_string_value(x), json_string_length(x), &ac->value, "expr");
        else if (!json_object_get(a, "value"))
            err_at(L, a, NULL, "node '%s': action %d (set_field) needs \"value\" or \"expr\"",
                   nd->id, i + 1);
    }
    compile_tmpl(L, json_object_get(a, "text"), &ac->text, "text");
}

static void load_kind(loader *L, fnode *nd)
{
    const json_t *j = nd->j;
    const json_t *next = json_object_get(j, "next");
    nd->has_next = next != NULL;
    nd->next = target(L, nd, next, "next");
    switch (nd->kind) {
    case FLOW_SAY:
    case FLOW_CHECK:
        if (!json_is_string(json_object_get(j, "text")))
            err_at(L, j, NULL, "node '%s': %s needs a \"text\"", nd->id, KINDS[nd->kind]);
        compile_tmpl(L, json_object_get(j, "text"), &nd->text, "text");
        if (nd->kind == FLOW_CHECK) {
            nd->required = json_is_true(json_object_get(j, "required"));
            nd->fail = target(L, nd, json_object_get(j, "on_fail"), "on_fail");
        }
        break;
    case FLOW_ASK: load_ask(L, nd); break;
    case FLOW_DECIDE: {
        const json_t *rules = json_object_get(j, "rules");
        size_t n = json_array_size(rules);
        if (!json_is_array(rules))
            err_at(L, j, NULL, "node '%s': decide needs \"rules\": a list", nd->id);
        nd->rules = flow_zalloc(L->f, n * sizeof *nd->rules);
        if (!nd->rules) {
            L->rc = CD_ENOMEM;
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *r = json_array_get(rules, i), *w = json_object_get(r, "when");
            rule *ru = &nd->rules[nd->nrules++];
            ru->next = -1;
            if (!json_is_string(w) || !json_object_get(r, "next")) {
                err_at(L, r, j, "node '%s': rule %zu needs \"when\" and \"next\"", nd->id, i + 1);
                continue;
            }
            compile(L, w, 0, json_string_value(w), json_string_length(w), &ru->when, "condition");
            ru->next = target(L, nd, json_object_get(r, "next"), "next");
        }
        const json_t *dflt = json_object_get(j, "default");
        nd->has_dflt = dflt != NULL;
        nd->dflt = target(L, nd, dflt, "default");
        break;
    }
    case FLOW_ACT: {
        const json_t *acts = json_object_get(j, "actions");
        size_t n = json_array_size(acts);
        if (!n)
            err_at(L, acts, j, "node '%s': act needs \"actions\": a non-empty list", nd->id);
        nd->acts = flow_zalloc(L->f, n * sizeof *nd->acts);
        if (!nd->acts) {
            L->rc = CD_ENOMEM;
            return;
        }
        nd->nacts = (int)n;
        for (size_t i = 0; i < n && !L->rc; i++)
            load_action(L, nd, (int)i, json_array_get(acts, i));
        break;
    }
    case FLOW_CALL: {
        const char *sub = get_str(j, "flow");
        if (!sub)
            err_at(L, j, NULL, "node '%s': call needs \"flow\": a workflow id", nd->id);
        else if (L->f->id && !strcmp(sub, L->f->id))
            err_at(L, json_object_get(j, "flow"), j, "node '%s': a workflow cannot call itself",
                   nd->id);
        break;
    }
    case FLOW_END:
        nd->outcome = get_str(j, "outcome");
        if (in_list(nd->outcome, OUTCOMES, 3) < 0)
            err_at(L, json_object_get(j, "outcome"), j,
                   "node '%s': end needs \"outcome\": resolved, escalated or follow_up", nd->id);
        if (json_object_get(j, "code") && !json_is_string(json_object_get(j, "code")))
            err_at(L, json_object_get(j, "code"), j, "node '%s': \"code\" must be a string",
                   nd->id);
        break;
    }
}

/* First pass: ids, kinds and the id table. */
static int load_ids(loader *L, const json_t *nodes)
{
    flow *f = L->f;
    size_t n = json_array_size(nodes);
    if (n > FLOW_MAX_NODES) {
        diag(L->d, 1, 1, 1, "more than %d nodes", FLOW_MAX_NODES);
        return CD_ETOOBIG;
    }
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    f->nodes = cd_calloc(n ? n : 1, sizeof *f->nodes);
    f->table = cd_calloc(cap, sizeof *f->table);
    if (!f->nodes || !f->table)
        return CD_ENOMEM;
    f->tmask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *j = json_array_get(nodes, i);
        fnode *nd = &f->nodes[f->n];
        const pos *p = where(L, j);
        nd->line = p ? p->line : 1;
        nd->col = p ? p->col : 1;
        nd->j = j;
        nd->next = nd->fail = nd->dflt = -1;
        const json_t *id = json_object_get(j, "id");
        if (!json_is_object(j) || !json_string_length(id)) {
            err_at(L, j, nodes, "node %zu needs a string \"id\"", i + 1);
            continue;
        }
        /* ids side by side in the arena: lookups touch little memory */
        size_t idlen = json_string_length(id);
        char *copy = flow_arena_alloc(&f->arena, idlen + 1);
        if (!copy)
            return CD_ENOMEM;
        memcpy(copy, json_string_value(id), idlen + 1);
        nd->id = copy;
        int prev = flow_find(f, nd->id);
        if (prev >= 0) {
            err_at(L, j, NULL, "duplicate node id '%s' (first at %d:%d)", nd->id,
                   f->nodes[prev].line, f->nodes[prev].col);
            continue;
        }
        const char *kind = get_str(j, "kind");
        int k = in_list(kind, KINDS, 7);
        if (k < 0) {
            err_at(L, json_object_get(j, "kind"), j,
                   "node '%s': unknown kind '%s' (say, ask, check, decide, act, call, end)", nd->id,
                   kind ? kind : "");
            nd->bad = 1;
        }
        nd->kind = k < 0 ? FLOW_SAY : (flow_kind)k;
        uint64_t hash = hash_str(nd->id);
        size_t h = hash & f->tmask;
        while (f->table[h].node)
            h = (h + 1) & f->tmask;
        f->table[h] = (struct slot){(uint32_t)(hash >> 32), ++f->n};
    }
    return 0;
}

/* Adds t (if a node) to the successors, once; succ has room for all. */
static void add_succ(fnode *nd, int t)
{
    if (t < 0)
        return;
    for (int i = 0; i < nd->nsucc; i++)
        if (nd->succ[i] == t)
            return;
    nd->succ[nd->nsucc++] = t;
}

static int load_graph(loader *L)
{
    flow *f = L->f;
    int nreq = 0;
    for (int i = 0; i < f->n; i++) {
        fnode *nd = &f->nodes[i];
        if (!nd->bad)
            load_kind(L, nd);
        if (L->rc)
            return L->rc;
        nd->succ = flow_arena_alloc(&f->arena, (size_t)(nd->nrules + 3) * sizeof *nd->succ);
        if (!nd->succ)
            return CD_ENOMEM;
        for (int r = 0; r < nd->nrules; r++)
            add_succ(nd, nd->rules[r].next);
        add_succ(nd, nd->next);
        add_succ(nd, nd->fail);
        add_succ(nd, nd->dflt);
        nreq += nd->required;
    }
    f->required = cd_malloc((size_t)(nreq ? nreq : 1) * sizeof *f->required);
    if (!f->required)
        return CD_ENOMEM;
    for (int i = 0; i < f->n; i++)
        if (f->nodes[i].required)
            f->required[f->nrequired++] = i;
    return 0;
}

static const char *VTYPES[] = {"null", "bool", "number", "string", "list", "any", "date"};

static void load_header(loader *L)
{
    flow *f = L->f;
    json_t *doc = f->doc;
    f->id = get_str(doc, "id");
    f->client = get_str(doc, "client");
    const json_t *v = json_object_get(doc, "version");
    f->version = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
    if (!f->id || !*f->id)
        err_at(L, json_object_get(doc, "id"), doc, "workflow needs a string \"id\"");
    if (!f->client || !*f->client)
        err_at(L, json_object_get(doc, "client"), doc, "workflow needs a string \"client\"");
    if (f->version <= 0)
        err_at(L, v, doc, "workflow needs \"version\": an integer above 0");
    f->vars = json_object_get(doc, "variables");
    if (f->vars && !json_is_object(f->vars))
        err_at(L, f->vars, doc, "\"variables\" must be an object of name: type");
    const char *name;
    json_t *t;
    json_object_foreach((json_t *)f->vars, name, t)
    {
        if (in_list(json_string_value(t), VTYPES + 1, 6) < 0)
            err_at(L, t, f->vars,
                   "variable '%s': type must be bool, number, string, list, date or any", name);
        if (!strncmp(name, "answers.", 8))
            err_at(L, t, f->vars, "variable '%s': answers.* are the workflow's own", name);
    }
}

static int load(const char *text, size_t len, flow **out, flow_diags *d)
{
    *out = NULL;
    if (len > FLOW_MAX_TEXT) {
        diag(d, 1, 1, 1, "workflow larger than %u bytes", FLOW_MAX_TEXT);
        return CD_ETOOBIG;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        diag(d, 1, jerr.line > 0 ? jerr.line : 1, jerr.column > 0 ? jerr.column : 1,
             "invalid JSON: %s", jerr.text);
        return CD_EINVAL;
    }
    loader L = {.d = d};
    scanner sc = {.s = text, .len = len, .line = 1};
    L.f = cd_calloc(1, sizeof *L.f);
    if (!L.f) {
        json_decref(doc);
        return CD_ENOMEM;
    }
    L.f->doc = doc;
    L.f->start = -1;
    sc_value(&sc, doc);
    int rc = sc.rc;
    if (rc || (rc = posmap_build(&L.pos, sc.v, sc.n)))
        goto fail_flow;
    if (!json_is_object(doc)) {
        diag(d, 1, 1, 1, "a workflow is a JSON object");
        rc = CD_EINVAL;
        goto fail_flow;
    }
    load_header(&L);
    const json_t *nodes = json_object_get(doc, "nodes");
    if (!json_array_size(nodes)) {
        err_at(&L, nodes, doc, "workflow needs \"nodes\": a non-empty list");
        rc = CD_EINVAL;
        goto fail_flow;
    }
    if ((rc = load_ids(&L, nodes)) || (rc = load_graph(&L)))
        goto fail_flow;
    const json_t *start = json_object_get(doc, "start");
    L.f->start = flow_find(L.f, json_string_value(start));
    if (L.f->start < 0)
        err_at(&L, start, doc, "\"start\" must name a node");
    cd_free(L.pos.slot);
    cd_free(sc.v);
    *out = L.f;
    return 0;

fail_flow:
    cd_free(L.pos.slot);
    cd_free(sc.v);
    flow_destroy(L.f);
    return rc;
}

int flow_load(const char *text, size_t len, flow **out, flow_diags *d)
{
    flow_diags mine;
    flow_diags_init(&mine);
    int rc = load(text, len, out, d ? d : &mine);
    flow_diags_cleanup(&mine);
    if (!rc && (*out)->broken) {
        flow_destroy(*out);
        *out = NULL;
        rc = CD_EINVAL;
    }
    return rc;
}

const char *flow_id(const flow *f)
{
    return f->id;
}

const char *flow_client(const flow *f)
{
    return f->client;
}

long long flow_version(const flow *f)
{
    return f->version;
}

int flow_nnodes(const flow *f)
{
    return f->n;
}

void flow_node_pos(const flow *f, int node, int *line, int *col)
{
    *line = f->nodes[node].line;
    *col = f->nodes[node].col;
}

const char *flow_node_id(const flow *f, int node)
{
    return f->nodes[node].id;
}

flow_kind flow_node_kind(const flow *f, int node)
{
    return f->nodes[node].kind;
}

const json_t *flow_node_json(const flow *f, int node)
{
    return f->nodes[node].j;
}

/* --- lint ------------------------------------------------------------------ */

typedef struct graph {
    const flow *f;
    flow_diags *d;
    int *reach;      /* reachable from start */
    int *to_end;     /* an end is reachable from here */
    int *idom;       /* immediate dominator (reachable nodes), start's is itself */
    int *pre, *post; /* dominator tree intervals */
    int *order;      /* reverse postorder of reachable nodes */
    int norder;
    int *stack, *parent;
    int *seen, *ends;
} graph;

static int answer_type(const fnode *nd)
{
    if (nd->bad)
        return -1;
    switch (nd->kind) {
    case FLOW_ASK:
        switch (nd->ask) {
        case FLOW_ASK_YES_NO: return FLOW_T_BOOL;
        case FLOW_ASK_NUMBER: return FLOW_T_NUM;
        default: return FLOW_T_STR;
        }
    case FLOW_CHECK: return FLOW_T_BOOL;
    case FLOW_CALL: return FLOW_T_STR;
    default: return -1;
    }
}

typedef struct typing {
    const flow *f;
    const texpr *x;
} typing;

static int type_of_var(void *ud, int var, const char *name)
{
    const typing *t = ud;
    if (!strncmp(name, "answers.", 8)) {
        int b = t->x->bind[var];
        return b < 0 ? -1 : answer_type(&t->f->nodes[b]);
    }
    const char *ty = json_string_value(json_object_get(t->f->vars, name));
    int k = in_list(ty, VTYPES, 7);
    return k == 6 ? FLOW_T_STR : k; /* a date is a string */
}

/* Iterative DFS from start: reach[] and reverse postorder. */
static void dfs(graph *g)
{
    const flow *f = g->f;
    int *it = g->parent; /* per stack slot: next successor to visit */
    int sp = 0, npost = 0;
    g->reach[f->start] = 1;
    g->stack[sp] = f->start;
    it[sp++] = 0;
    while (sp) {
        int v = g->stack[sp - 1];
        if (it[sp - 1] < f->nodes[v].nsucc) {
            int w = f->nodes[v].succ[it[sp - 1]++];
            if (!g->reach[w]) {
                g->reach[w] = 1;
                g->stack[sp] = w;
                it[sp++] = 0;
            }
        } else {
            g->order[npost++] = v;
            sp--;
        }
    }
    g->norder = npost;
    for (int i = 0; i < npost / 2; i++) { /* postorder -> reverse postorder */
        int t = g->order[i];
        g->order[i] = g->order[npost - 1 - i];
        g->order[npost - 1 - i] = t;
    }
}

/* Dominators (Cooper, Harvey, Kennedy: "A Simple, Fast Dominance
 * Algorithm"), then pre/post numbers of the dominator tree so that
 * "a dominates b" is two comparisons. */
static int dominators(graph *g, int **preds, int *npred)
{
    const flow *f = g->f;
    int n = f->n, *rpo = g->pre; /* rpo index per node, reused below */
    for (int i = 0; i < n; i++)
        g->idom[i] = -1;
    for (int i = 0; i < g->norder; i++)
        rpo[g->order[i]] = i;
    g->idom[f->start] = f->start;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 1; i < g->norder; i++) {
            int b = g->order[i], nd = -1;
            for (int k = 0; k < npred[b]; k++) {
                int p = preds[b][k];
                if (g->idom[p] < 0)
                    continue;
                if (nd < 0) {
                    nd = p;
                    continue;
                }
                int x = p, y = nd;
                while (x != y) {
                    while (rpo[x] > rpo[y])
                        x = g->idom[x];
                    while (rpo[y] > rpo[x])
                        y = g->idom[y];
                }
                nd = x;
            }
            if (nd >= 0 && g->idom[b] != nd) {
                g->idom[b] = nd;
                changed = 1;
            }
        }
    }
    /* children lists of the dominator tree, then an iterative DFS */
    int *first = cd_malloc((size_t)n * sizeof *first), *sib = cd_malloc((size_t)n * sizeof *sib);
    if (!first || !sib) {
        cd_free(first);
        cd_free(sib);
        return CD_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        first[i] = -1;
    for (int i = g->norder - 1; i >= 1; i--) {
        int v = g->order[i];
        sib[v] = first[g->idom[v]];
        first[g->idom[v]] = v;
    }
    int sp = 0, clock = 0;
    g->stack[sp++] = f->start;
    g->pre[f->start] = clock++;
    int *cur = g->parent;
    cur[0] = first[f->start];
    while (sp) {
        int c = cur[sp - 1];
        if (c >= 0) {
            cur[sp - 1] = sib[c];
            g->pre[c] = clock++;
            g->stack[sp] = c;
            cur[sp++] = first[c];
        } else {
            g->post[g->stack[--sp]] = clock++;
        }
    }
    cd_free(first);
    cd_free(sib);
    return 0;
}

static int dominates(const graph *g, int a, int b)
{
    return g->pre[a] <= g->pre[b] && g->post[b] <= g->post[a];
}

static void expr_pos(const texpr *x, int eline, int ecol, int *line, int *col)
{
    *line = x->line;
    *col = x->col;
    if (x->plain && eline == 1)
        *col += ecol - 1;
}

/* Types and variables of one expression used at node `at`. */
static void lint_expr(graph *g, int at, const texpr *x, int want_bool)
{
    if (!x->e)
        return;
    const flow *f = g->f;
    typing t = {f, x};
    flow_type ty;
    flow_expr_error err;
    int line, col;
    if (flow_expr_infer(x->e, type_of_var, &t, &ty, &err)) {
        expr_pos(x, err.line, err.col, &line, &col);
        diag(g->d, 1, line, col, "%s", err.msg);
        return;
    }
    if (want_bool && ty != FLOW_T_BOOL && ty != FLOW_T_ANY) {
        diag(g->d, 1, x->line, x->col, "condition is a %s, not a bool", flow_type_name(ty));
        return;
    }
    if (!g->reach[at])
        return;
    for (int v = 0; v < flow_expr_nvars(x->e); v++) {
        int b = x->bind[v];
        if (b < 0 || (b != at && g->reach[b] && dominates(g, b, at)))
            continue;
        int el, ec;
        flow_expr_var_pos(x->e, v, &el, &ec);
        expr_pos(x, el, ec, &line, &col);
        diag(g->d, 0, line, col, "'%s' may be unanswered here: '%s' can be reached without '%s'",
             flow_expr_var_name(x->e, v), f->nodes[at].id, f->nodes[b].id);
    }
}

static void lint_tmpl(graph *g, int at, const tmpl *t)
{
    for (int i = 0; i < t->nparts; i++)
        lint_expr(g, at, &t->parts[i].x, 0);
}

static void lint_node(graph *g, int i)
{
    const fnode *nd = &g->f->nodes[i];
    flow_diags *d = g->d;
    if (nd->bad)
        return;
    if (!g->reach[i])
        diag(d, 0, nd->line, nd->col, "node '%s' is unreachable from start", nd->id);
    if (nd->kind == FLOW_DECIDE && !nd->has_dflt)
        diag(d, 1, nd->line, nd->col, "decide '%s' has no default branch", nd->id);
    else if (nd->kind != FLOW_END && nd->kind != FLOW_DECIDE && !nd->has_next)
        diag(d, 1, nd->line, nd->col, "node '%s' is a dead end: a %s needs \"next\"", nd->id,
             KINDS[nd->kind]);
    lint_tmpl(g, i, &nd->text);
    for (int r = 0; r < nd->nrules; r++)
        lint_expr(g, i, &nd->rules[r].when, 1);
    for (int a = 0; a < nd->nacts; a++) {
        lint_tmpl(g, i, &nd->acts[a].text);
        lint_expr(g, i, &nd->acts[a].value, 0);
    }
}

/* "a -> b -> c" into buf, from parent links ending at `last`. */
static void path_text(const graph *g, int last, char *buf, size_t size)
{
    int n = 0;
    for (int v = last; v >= 0; v = g->parent[v])
        g->stack[n++] = v;
    size_t at = 0;
    buf[0] = 0;
    for (int i = n - 1; i >= 0 && at < size; i--) {
        int w = snprintf(buf + at, size - at, "%s%s", i == n - 1 ? "" : " -> ",
                         g->f->nodes[g->stack[i]].id);
        at += w > 0 ? (size_t)w : 0;
    }
    if (at >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

/* For each required check: a path from start to an end avoiding it. Such
 * a path exists exactly when some reachable end is not dominated by the
 * check, which the dominator tree answers per end in constant time; the
 * search for the path (to report it) runs only for checks that have one. */
static void lint_bypass(graph *g)
{
    const flow *f = g->f;
    int *seen = g->seen, *ends = g->ends, nends = 0;
    for (int i = 0; i < g->norder; i++)
        if (f->nodes[g->order[i]].kind == FLOW_END && !f->nodes[g->order[i]].bad)
            ends[nends++] = g->order[i];
    char path[300];
    for (int r = 0; r < f->nrequired; r++) {
        int c = f->required[r];
        const fnode *cn = &f->nodes[c];
        if (!g->reach[c] || c == f->start) {
            if (!g->reach[c])
                diag(g->d, 1, cn->line, cn->col,
                     "required check '%s' is never reached: every path bypasses it", cn->id);
            continue;
        }
        int bypass = 0;
        for (int k = 0; k < nends && !bypass; k++)
            bypass = !dominates(g, c, ends[k]);
        if (!bypass)
            continue;
        for (int i = 0; i < f->n; i++)
            seen[i] = 0;
        int head = 0, tail = 0, hit = -1;
        g->order[tail++] = f->start;
        seen[f->start] = 1;
        g->parent[f->start] = -1;
        while (head < tail && hit < 0) {
            int v = g->order[head++];
            if (f->nodes[v].kind == FLOW_END && !f->nodes[v].bad) {
                hit = v;
                break;
            }
            for (int k = 0; k < f->nodes[v].nsucc; k++) {
                int w = f->nodes[v].succ[k];
                if (w != c && !seen[w]) {
                    seen[w] = 1;
                    g->parent[w] = v;
                    g->order[tail++] = w;
                }
            }
        }
        if (hit < 0)
            continue;
        path_text(g, hit, path, sizeof path);
        diag(g->d, 1, cn->line, cn->col, "required check '%s' can be bypassed: %s", cn->id, path);
    }
}

/* Reachable nodes from which no end can be reached: a dead end (reported
 * already) or a cycle with no exit, reported once per cycle. */
static void lint_traps(graph *g, int **preds, int *npred)
{
    const flow *f = g->f;
    int sp = 0;
    for (int i = 0; i < f->n; i++)
        if (f->nodes[i].kind == FLOW_END && !f->nodes[i].bad) {
            g->to_end[i] = 1;
            g->stack[sp++] = i;
        }
    while (sp) {
        int v = g->stack[--sp];
        for (int k = 0; k < npred[v]; k++)
            if (!g->to_end[preds[v][k]]) {
                g->to_end[preds[v][k]] = 1;
                g->stack[sp++] = preds[v][k];
            }
    }
    int *mark = g->pre; /* 0 new, 1 on the current walk, 2 done */
    for (int i = 0; i < f->n; i++)
        mark[i] = 0;
    char path[300];
    for (int i = 0; i < f->n; i++) {
        if (!g->reach[i] || g->to_end[i] || mark[i] || f->nodes[i].bad)
            continue;
        int v = i, n = 0;
        while (v >= 0 && !mark[v]) {
            mark[v] = 1;
            g->order[n++] = v;
            v = f->nodes[v].nsucc ? f->nodes[v].succ[0] : -1;
        }
        if (v >= 0 && mark[v] == 1) { /* closed a cycle at v */
            int k = 0;
            while (g->order[k] != v)
                k++;
            size_t at = 0;
            path[0] = 0;
            for (int m = k; m <= n && at < sizeof path; m++) {
                int w = snprintf(path + at, sizeof path - at, "%s%s", m == k ? "" : " -> ",
                                 f->nodes[m == n ? v : g->order[m]].id);
                at += w > 0 ? (size_t)w : 0;
            }
            diag(g->d, 1, f->nodes[v].line, f->nodes[v].col,
                 "cycle with no way to an end: %s", path);
        }
        for (int m = 0; m < n; m++)
            mark[g->order[m]] = 2;
    }
}

static int build_preds(const flow *f, int ***preds_out, int **npred_out)
{
    int n = f->n, total = 0;
    int *npred = cd_calloc((size_t)n, sizeof *npred);
    int **preds = cd_calloc((size_t)n, sizeof *preds);
    for (int i = 0; npred && i < n; i++)
        for (int k = 0; k < f->nodes[i].nsucc; k++, total++)
            npred[f->nodes[i].succ[k]]++;
    int *pool = cd_malloc((size_t)(total ? total : 1) * sizeof *pool);
    if (!npred || !preds || !pool) {
        cd_free(npred);
        cd_free(preds);
        cd_free(pool);
        return CD_ENOMEM;
    }
    int at = 0;
    for (int i = 0; i < n; i++) {
        preds[i] = pool + at;
        at += npred[i];
        npred[i] = 0;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < f->nodes[i].nsucc; k++) {
            int w = f->nodes[i].succ[k];
            preds[w][npred[w]++] = i;
        }
    *preds_out = preds;
    *npred_out = npred;
    return 0;
}

int flow_lint(const flow *f, flow_diags *d)
{
    int before = d->errors, n = f->n, rc = 0;
    if (f->start < 0)
        return d->errors - before;
    graph g = {.f = f, .d = d};
    int **preds = NULL, *npred = NULL;
    int *mem = cd_calloc((size_t)n * 10, sizeof *mem);
    if (!mem || build_preds(f, &preds, &npred)) {
        rc = CD_ENOMEM;
        goto done;
    }
    g.reach = mem;
    g.to_end = mem + n;
    g.idom = mem + 2 * n;
    g.pre = mem + 3 * n;
    g.post = mem + 4 * n;
    g.order = mem + 5 * n;
    g.stack = mem + 6 * n;
    g.parent = mem + 7 * n;
    g.seen = mem + 8 * n;
    g.ends = mem + 9 * n;
    dfs(&g);
    if ((rc = dominators(&g, preds, npred)))
        goto done;
    for (int i = 0; i < n; i++)
        lint_node(&g, i);
    lint_bypass(&g);
    lint_traps(&g, preds, npred);
done:
    if (preds)
        cd_free(preds[0]);
    cd_free(preds);
    cd_free(npred);
    cd_free(mem);
    return rc ? rc : d->errors - before;
}

int flow_lint_text(const char *text, size_t len, flow_diags *d)
{
    int before = d->errors;
    flow *f;
    int rc = load(text, len, &f, d);
    if (rc == CD_ENOMEM)
        return rc;
    if (!rc) {
        rc = flow_lint(f, d);
        flow_destroy(f);
        if (rc < 0)
            return rc;
    }
    return d->errors - before;
}

/* --- sessions -------------------------------------------------------------- */

typedef struct hist {
    int node;
    int back;
    flow_value v;
    char *owned; /* string answers are copied */
    int64_t at, agent;
} hist;

typedef struct step {
    int hist; /* the answer */
    int prev; /* answer_at[node] before this step */
} step;

struct flow_session {
    const flow *f;
    json_t *ctx;
    int cur, ended;
    hist *h;
    size_t nh, caph;
    step *path;
    size_t np, capp;
    int *answer_at; /* per node: index in path of its latest answer, or -1 */
    flow_arena arena;
};

typedef struct evalctx {
    flow_session *s;
    const texpr *x;
} evalctx;

static int session_lookup(void *ud, int var, const char *name, flow_value *out)
{
    const evalctx *c = ud;
    int b = c->x->bind[var];
    if (b >= 0) {
        int at = c->s->answer_at[b];
        if (at < 0)
            out->type = FLOW_T_NULL;
        else
            *out = c->s->h[c->s->path[at].hist].v;
        return 0;
    }
    if (!strncmp(name, "answers.", 8)) {
        out->type = FLOW_T_NULL;
        return 0;
    }
    const json_t *j = flow_json_path(c->s->ctx, name);
    if (!j) {
        out->type = FLOW_T_NULL;
        return 0;
    }
    return flow_value_from_json(j, &c->s->arena, out);
}

static int eval_texpr(flow_session *s, const texpr *x, int64_t now_ms, flow_value *out,
                      flow_expr_error *err)
{
    evalctx c = {s, x};
    flow_env env = {.lookup = session_lookup, .ud = &c, .now_ms = now_ms};
    return flow_expr_eval(x->e, &env, &s->arena, out, err);
}

static json_t *render(flow_session *s, const tmpl *t, int64_t now_ms)
{
    if (!t->nparts)
        return json_string(t->text ? t->text : "");
    size_t cap = strlen(t->text) + 64, len = 0, from = 0;
    char *buf = cd_malloc(cap);
    if (!buf)
        return NULL;
    for (int i = 0; i <= t->nparts; i++) {
        size_t lit_end = i < t->nparts ? t->parts[i].start : strlen(t->text);
        char val[512] = "";
        size_t vlen = 0;
        flow_value v;
        flow_expr_error err;
        if (i < t->nparts && !eval_texpr(s, &t->parts[i].x, now_ms, &v, &err)) {
            vlen = flow_value_format(&v, val, sizeof val);
            if (vlen >= sizeof val)
                vlen = sizeof val - 1;
        }
        size_t need = len + (lit_end - from) + vlen + 1;
        if (need > cap) {
            char *nb = cd_realloc(buf, need * 2);
            if (!nb) {
                cd_free(buf);
                return NULL;
            }
            buf = nb;
            cap = need * 2;
        }
        memcpy(buf + len, t->text + from, lit_end - from);
        len += lit_end - from;
        memcpy(buf + len, val, vlen);
        len += vlen;
        if (i < t->nparts)
            from = t->parts[i].end;
    }
    json_t *j = json_stringn(buf, len);
    cd_free(buf);
    return j;
}

static int effect(json_t *fx, const fnode *nd, const char *key, json_t *val)
{
    json_t *e = json_pack("{s:s, s:o}", "node", nd->id, key, val);
    return !e || json_array_append_new(fx, e) ? CD_ENOMEM : 0;
}

static int act_effects(flow_session *s, const fnode *nd, int64_t now_ms, json_t *fx)
{
    for (int i = 0; i < nd->nacts; i++) {
        const act *a = &nd->acts[i];
        json_t *e = json_deep_copy(a->j);
        if (!e || json_object_del(e, "type") ||
            json_object_set_new(e, "node", json_string(nd->id)) ||
            json_object_set_new(e, "action", json_string(a->type))) {
            json_decref(e);
            return CD_ENOMEM;
        }
        if (a->text.text && json_object_set_new(e, "text", render(s, &a->text, now_ms)))
            goto fail_effect;
        if (a->value.e) {
            flow_value v;
            flow_expr_error err;
            json_object_del(e, "expr");
            if (eval_texpr(s, &a->value, now_ms, &v, &err))
                v.type = FLOW_T_NULL;
            if (json_object_set_new(e, "value", flow_value_to_json(&v)))
                goto fail_effect;
        }
        if (json_array_append_new(fx, e))
            return CD_ENOMEM;
        continue;
    fail_effect:
        json_decref(e);
        return CD_ENOMEM;
    }
    return 0;
}

static int decide(flow_session *s, const fnode *nd, int64_t now_ms, json_t *fx)
{
    for (int r = 0; r < nd->nrules; r++) {
        const texpr *x = &nd->rules[r].when;
        if (!x->e)
            continue;
        evalctx c = {s, x};
        flow_env env = {.lookup = session_lookup, .ud = &c, .now_ms = now_ms};
        flow_expr_error err;
        int res = flow_expr_test(x->e, &env, &s->arena, &err);
        if (res == 1)
            return nd->rules[r].next;
        if (res < 0 && fx) {
            char msg[200];
            snprintf(msg, sizeof msg, "rule %d: %s", r + 1, err.msg);
            effect(fx, nd, "warning", json_string(msg));
        }
    }
    return nd->dflt;
}

static int checks_done(const flow_session *s)
{
    for (int r = 0; r < s->f->nrequired; r++)
        if (s->answer_at[s->f->required[r]] < 0)
            return 0;
    return 1;
}

/* Moves from `node` through say, decide and act to the next node that
 * needs the agent or an end; *stop is where. CD_ESTATE: stuck, a loop, or
 * an end before the required checks. */
static int advance(flow_session *s, int node, int64_t now_ms, json_t *fx, int *stop)
{
    const flow *f = s->f;
    for (int steps = 0;; steps++) {
        if (node < 0 || steps > f->n)
            return CD_ESTATE;
        const fnode *nd = &f->nodes[node];
        switch (nd->kind) {
        case FLOW_SAY:
            if (fx && effect(fx, nd, "say", render(s, &nd->text, now_ms)))
                return CD_ENOMEM;
            node = nd->next;
            continue;
        case FLOW_ACT:
            if (fx && act_effects(s, nd, now_ms, fx))
                return CD_ENOMEM;
            node = nd->next;
            continue;
        case FLOW_DECIDE: node = decide(s, nd, now_ms, fx); continue;
        case FLOW_END:
            if (!checks_done(s))
                return CD_ESTATE;
            if (fx) {
                json_t *e = json_pack("{s:s, s:s}", "node", nd->id, "end", nd->outcome);
                const json_t *code = json_object_get(nd->j, "code");
                if (!e || (code && json_object_set(e, "code", (json_t *)code)) ||
                    json_array_append_new(fx, e))
                    return CD_ENOMEM;
            }
            *stop = node;
            return 0;
        default: *stop = node; return 0;
        }
    }
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *np = cd_realloc(*p, nc * size);
    if (!np)
        return CD_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static int push_hist(flow_session *s, const hist *h)
{
    if (grow((void **)&s->h, &s->caph, s->nh, sizeof *s->h))
        return CD_ENOMEM;
    s->h[s->nh++] = *h;
    return 0;
}

static int push_step(flow_session *s, int hist_idx)
{
    if (grow((void **)&s->path, &s->capp, s->np, sizeof *s->path))
        return CD_ENOMEM;
    int node = s->h[hist_idx].node;
    s->path[s->np] = (step){hist_idx, s->answer_at[node]};
    s->answer_at[node] = (int)s->np++;
    return 0;
}

static void pop_step(flow_session *s)
{
    step st = s->path[--s->np];
    s->answer_at[s->h[st.hist].node] = st.prev;
}

void flow_session_destroy(flow_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nh; i++)
        cd_free(s->h[i].owned);
    cd_free(s->h);
    cd_free(s->path);
    cd_free(s->answer_at);
    flow_arena_cleanup(&s->arena);
    json_decref(s->ctx);
    cd_free(s);
}

static flow_session *session_new(const flow *f, json_t *context)
{
    flow_session *s = cd_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->f = f;
    flow_arena_init(&s->arena);
    s->answer_at = cd_malloc((size_t)f->n * sizeof *s->answer_at);
    if (!s->answer_at) {
        cd_free(s);
        return NULL;
    }
    for (int i = 0; i < f->n; i++)
        s->answer_at[i] = -1;
    s->ctx = json_incref(context);
    return s;
}

/* Moves with effects collected apart, handed over only on success. */
static int advance_fx(flow_session *s, int node, int64_t now_ms, json_t *effects, int *stop)
{
    json_t *fx = effects ? json_array() : NULL;
    if (effects && !fx)
        return CD_ENOMEM;
    int rc = advance(s, node, now_ms, fx, stop);
    flow_arena_reset(&s->arena);
    if (!rc && fx && json_array_extend(effects, fx))
        rc = CD_ENOMEM;
    json_decref(fx);
    return rc;
}

int flow_session_create(const flow *f, json_t *context, int64_t now_ms, int64_t agent_id,
                        flow_session **out, json_t *effects)
{
    *out = NULL;
    if (f->start < 0)
        return CD_EINVAL;
    flow_session *s = session_new(f, context);
    if (!s)
        return CD_ENOMEM;
    int rc = advance_fx(s, f->start, now_ms, effects, &s->cur);
    if (rc) {
        flow_session_destroy(s);
        return rc;
    }
    s->ended = f->nodes[s->cur].kind == FLOW_END;
    *out = s;
    return 0;
}

int flow_session_node(const flow_session *s)
{
    return s->cur;
}

int flow_session_ended(const flow_session *s)
{
    return s->ended;
}

size_t flow_session_history_len(const flow_session *s)
{
    return s->nh;
}

const flow_value *flow_session_answer_of(const flow_session *s, int node)
{
    if (node < 0 || node >= s->f->n || s->answer_at[node] < 0)
        return NULL;
    return &s->h[s->path[s->answer_at[node]].hist].v;
}

/* Checks `in` against what node accepts; *out is the value to keep,
 * *owned a copy the history will own. */
static int validate(const fnode *nd, const flow_value *in, flow_value *out, char **owned)
{
    *owned = NULL;
    *out = *in;
    switch (nd->kind) {
    case FLOW_CHECK:
        if (in->type != FLOW_T_BOOL || (!in->u.b && nd->fail < 0))
            return CD_EINVAL;
        return 0;
    case FLOW_CALL:
        if (in->type != FLOW_T_STR)
            return CD_EINVAL;
        for (int i = 0; i < 3; i++)
            if (strlen(OUTCOMES[i]) == in->u.s.len &&
                !memcmp(OUTCOMES[i], in->u.s.p, in->u.s.len)) {
                out->u.s.p = OUTCOMES[i];
                return 0;
            }
        return CD_EINVAL;
    case FLOW_ASK: break;
    default: return CD_ESTATE;
    }
    switch (nd->ask) {
    case FLOW_ASK_YES_NO: return in->type == FLOW_T_BOOL ? 0 : CD_EINVAL;
    case FLOW_ASK_NUMBER:
        if (in->type != FLOW_T_NUM || !isfinite(in->u.n) || (nd->has_min && in->u.n < nd->min) ||
            (nd->has_max && in->u.n > nd->max) || (nd->integer && in->u.n != floor(in->u.n)))
            return CD_EINVAL;
        return 0;
    case FLOW_ASK_CHOICE:
        if (in->type != FLOW_T_STR)
            return CD_EINVAL;
        for (int i = 0; i < nd->noptions; i++)
            if (strlen(nd->options[i]) == in->u.s.len &&
                !memcmp(nd->options[i], in->u.s.p, in->u.s.len)) {
                out->u.s.p = nd->options[i]; /* borrowed from the flow */
                return 0;
            }
        return CD_EINVAL;
    default: { /* text, date */
        int64_t ms;
        if (in->type != FLOW_T_STR || !in->u.s.len || memchr(in->u.s.p, 0, in->u.s.len))
            return CD_EINVAL;
        if (nd->ask == FLOW_ASK_TEXT ? in->u.s.len > nd->max_len
                                     : flow_parse_date(in->u.s.p, in->u.s.len, &ms) ||
                                           in->u.s.len != 10)
            return CD_EINVAL;
        *owned = cd_strndup(in->u.s.p, in->u.s.len);
        if (!*owned)
            return CD_ENOMEM;
        out->u.s.p = *owned;
        return 0;
    }
    }
}

int flow_session_answer_value(flow_session *s, const flow_value *answer, int64_t now_ms,
                              int64_t agent_id, json_t *effects)
{
    if (s->ended)
        return CD_ESTATE;
    const fnode *nd = &s->f->nodes[s->cur];
    hist h = {.node = s->cur, .at = now_ms, .agent = agent_id};
    int rc = validate(nd, answer, &h.v, &h.owned);
    if (rc)
        return rc;
    if ((rc = push_hist(s, &h))) {
        cd_free(h.owned);
        return rc;
    }
    if ((rc = push_step(s, (int)s->nh - 1)))
        goto undo_hist;
    int from = nd->kind == FLOW_CHECK && !h.v.u.b ? nd->fail : nd->next, stop;
    if ((rc = advance_fx(s, from, now_ms, effects, &stop)))
        goto undo_step;
    s->cur = stop;
    s->ended = s->f->nodes[stop].kind == FLOW_END;
    return 0;

undo_step:
    pop_step(s);
undo_hist:
    cd_free(s->h[--s->nh].owned);
    return rc;
}

int flow_session_answer(flow_session *s, const json_t *answer, int64_t now_ms, int64_t agent_id,
                        json_t *effects)
{
    flow_value v;
    if (!answer || json_is_array(answer) || json_is_object(answer))
        return CD_EINVAL;
    if (flow_value_from_json(answer, &s->arena, &v))
        return CD_ENOMEM;
    return flow_session_answer_value(s, &v, now_ms, agent_id, effects);
}

int flow_session_back(flow_session *s, int64_t now_ms, int64_t agent_id)
{
    if (!s->np)
        return CD_ESTATE;
    int node = s->h[s->path[s->np - 1].hist].node;
    hist h = {.node = node, .back = 1, .at = now_ms, .agent = agent_id};
    if (push_hist(s, &h))
        return CD_ENOMEM;
    pop_step(s);
    s->cur = node;
    s->ended = 0;
    return 0;
}

json_t *flow_session_save(const flow_session *s)
{
    const flow *f = s->f;
    json_t *hs = json_array(), *path = json_array();
    json_t *st = json_pack("{s:s, s:I, s:s, s:b, s:o, s:o}", "flow", f->id, "version",
                           (json_int_t)f->version, "current", f->nodes[s->cur].id, "ended",
                           s->ended, "history", hs, "path", path);
    if (!st)
        return NULL;
    for (size_t i = 0; i < s->nh; i++) {
        const hist *h = &s->h[i];
        json_t *e = json_pack("{s:s, s:I, s:I}", "node", f->nodes[h->node].id, "at",
                              (json_int_t)h->at, "agent", (json_int_t)h->agent);
        if (!e || json_object_set_new(e, h->back ? "back" : "answer",
                                      h->back ? json_true() : flow_value_to_json(&h->v)) ||
            json_array_append_new(hs, e))
            goto fail_state;
    }
    for (size_t i = 0; i < s->np; i++)
        if (json_array_append_new(path, json_integer(s->path[i].hist)))
            goto fail_state;
    return st;

fail_state:
    json_decref(st);
    return NULL;
}

static int restore_hist(flow_session *s, const json_t *e)
{
    const flow *f = s->f;
    hist h = {.node = flow_find(f, get_str(e, "node"))};
    const json_t *at = json_object_get(e, "at"), *agent = json_object_get(e, "agent");
    const json_t *ans = json_object_get(e, "answer");
    if (h.node < 0 || !json_is_integer(at) || !json_is_integer(agent))
        return CD_EINVAL;
    h.at = json_integer_value(at);
    h.agent = json_integer_value(agent);
    h.back = json_is_true(json_object_get(e, "back"));
    if (!h.back) {
        flow_value v;
        if (!ans || json_is_array(ans) || json_is_object(ans))
            return CD_EINVAL;
        if (flow_value_from_json(ans, &s->arena, &v))
            return CD_ENOMEM;
        const fnode *nd = &f->nodes[h.node];
        if (nd->kind == FLOW_ASK && (nd->ask == FLOW_ASK_TEXT || nd->ask == FLOW_ASK_DATE)) {
            /* accepted when given; the limits may have changed since */
            if (v.type != FLOW_T_STR || !(h.owned = cd_strndup(v.u.s.p, v.u.s.len)))
                return v.type != FLOW_T_STR ? CD_EINVAL : CD_ENOMEM;
            h.v = v;
            h.v.u.s.p = h.owned;
        } else {
            int rc = validate(nd, &v, &h.v, &h.owned);
            if (rc)
                return rc;
        }
    }
    if (push_hist(s, &h)) {
        cd_free(h.owned);
        return CD_ENOMEM;
    }
    return 0;
}

int flow_session_restore(const flow *f, const json_t *state, json_t *context,
                         flow_session **out)
{
    *out = NULL;
    const char *id = get_str(state, "flow");
    const json_t *ver = json_object_get(state, "version");
    const json_t *hs = json_object_get(state, "history"), *path = json_object_get(state, "path");
    if (!id || !f->id || strcmp(id, f->id) || !json_is_integer(ver) ||
        json_integer_value(ver) != f->version || !json_is_array(hs) || !json_is_array(path))
        return CD_EINVAL;
    flow_session *s = session_new(f, context);
    if (!s)
        return CD_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < json_array_size(hs) && !rc; i++)
        rc = restore_hist(s, json_array_get(hs, i));
    long long last = -1;
    for (size_t i = 0; i < json_array_size(path) && !rc; i++) {
        const json_t *k = json_array_get(path, i);
        long long v = json_is_integer(k) ? (long long)json_integer_value(k) : -1;
        if (v <= last || v >= (long long)s->nh || s->h[v].back)
            rc = CD_EINVAL;
        else
            rc = push_step(s, (int)v);
        last = v;
    }
    flow_arena_reset(&s->arena);
    s->cur = flow_find(f, get_str(state, "current"));
    if (!rc && s->cur < 0)
        rc = CD_EINVAL;
    if (!rc) {
        flow_kind k = f->nodes[s->cur].kind;
        s->ended = k == FLOW_END;
        if (k == FLOW_SAY || k == FLOW_DECIDE || k == FLOW_ACT ||
            s->ended != json_is_true(json_object_get(state, "ended")) ||
            (s->ended && !checks_done(s)))
            rc = CD_EINVAL;
    }
    if (rc) {
        flow_session_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

json_t *flow_session_text(flow_session *s, int64_t now_ms)
{
    const fnode *nd = &s->f->nodes[s->cur];
    return nd->text.text ? render(s, &nd->text, now_ms) : NULL;
}
