/* flow_expr.c - lexer, recursive-descent parser, evaluator and type
 * inference of the workflow expression language (see flow_expr.h).
 *
 * The tree is one array of nodes; children are indices, arguments of calls
 * and items of list literals are chained through `next`. Literal strings
 * and variable names live in one text pool of the expression. The parser
 * builds in buffers on its stack (on the heap only for large expressions),
 * then the expression is copied into one block: one allocation, from the
 * heap or from a caller's arena. */
#include "core/flow_expr.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum op {
    OP_NULL, OP_TRUE, OP_FALSE, OP_NUM, OP_STR, OP_LIST, OP_VAR, OP_CALL,
    OP_NOT, OP_NEG, OP_AND, OP_OR,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN, OP_CONTAINS,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD,
};

enum fn {
    FN_LEN, FN_LOWER, FN_UPPER, FN_TRIM, FN_DAYS_SINCE, FN_CONTAINS, FN_STARTS_WITH,
    FN_ABS, FN_MIN, FN_MAX, FN_ROUND, FN_EMPTY,
};

static const struct {
    const char *name;
    int nargs;
} FUNCS[] = {
    [FN_LEN] = {"len", 1},         [FN_LOWER] = {"lower", 1},
    [FN_UPPER] = {"upper", 1},     [FN_TRIM] = {"trim", 1},
    [FN_DAYS_SINCE] = {"days_since", 1}, [FN_CONTAINS] = {"contains", 2},
    [FN_STARTS_WITH] = {"starts_with", 2}, [FN_ABS] = {"abs", 1},
    [FN_MIN] = {"min", 2},         [FN_MAX] = {"max", 2},
    [FN_ROUND] = {"round", 1},     [FN_EMPTY] = {"empty", 1},
};
#define NFUNCS (int)(sizeof FUNCS / sizeof FUNCS[0])

typedef struct node {
    uint8_t op, fn;
    uint16_t nargs;
    int32_t a, b, next; /* children; -1 none */
    int32_t line, col;
    union {
        double num;
        struct {
            uint32_t off, len;
        } str;
        int32_t var;
    } u;
} node;

typedef struct var_ref {
    uint32_t off, len;
    int32_t line, col;
} var_ref;

struct flow_expr {
    node *nodes;
    int nnodes, ncap;
    char *pool;
    size_t plen, pcap;
    var_ref *vars;
    int nvars, vcap;
    int root;
    int in_arena; /* the block belongs to an arena: destroy does nothing */
};

/* --- arena ----------------------------------------------------------------- */

struct flow_arena_chunk {
    struct flow_arena_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

void flow_arena_init(flow_arena *a)
{
    memset(a, 0, sizeof *a);
}

void flow_arena_reset(flow_arena *a)
{
    /* Keep the newest (largest) chunk, free the rest. */
    struct flow_arena_chunk *c = a->head;
    if (!c)
        return;
    struct flow_arena_chunk *rest = c->next;
    while (rest) {
        struct flow_arena_chunk *n = rest->next;
        cd_free(rest);
        rest = n;
    }
    c->next = NULL;
    c->used = 0;
    a->used = 0;
    a->total = c->cap;
}

void flow_arena_cleanup(flow_arena *a)
{
    struct flow_arena_chunk *c = a->head;
    while (c) {
        struct flow_arena_chunk *n = c->next;
        cd_free(c);
        c = n;
    }
    memset(a, 0, sizeof *a);
}

void *flow_arena_alloc(flow_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct flow_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : 1024;
        while (cap < n)
            cap *= 2;
        struct flow_arena_chunk *nc = cd_malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->cap = cap;
        nc->used = 0;
        nc->next = c;
        a->head = c = nc;
        a->total += cap;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    return p;
}

/* --- lexer ----------------------------------------------------------------- */

enum tok {
    T_EOF, T_NUM, T_STR, T_IDENT, T_LP, T_RP, T_LB, T_RB, T_COMMA,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PCT,
    T_AND, T_OR, T_NOT, T_IN, T_CONTAINS, T_TRUE, T_FALSE, T_NULL,
};

typedef struct parser {
    const char *s;
    size_t len, pos;
    int line;
    size_t line_start;
    /* current token */
    enum tok t;
    size_t tstart, tlen;
    int tline, tcol;
    double num;
    char *sbuf; /* unescaped string literal */
    size_t slen, scap;
    int depth;
    /* The initial buffers (on the stack of flow_expr_parse_in); grown onto
     * the heap when too small. */
    const node *nbuf;
    const char *pbuf, *sbuf0;
    const var_ref *vbuf;
    flow_expr *e;
    flow_expr_error *err;
    int rc;
} parser;

static int fail(parser *p, int rc, int line, int col, const char *fmt, ...)
{
    if (p->rc)
        return p->rc;
    p->rc = rc;
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        p->err->line = line;
        p->err->col = col;
        vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Grows *buf (holding `used` bytes) to `size` bytes: the first time off
 * the parser's stack buffer `init`, then on the heap. */
static void *grow(void *buf, const void *init, size_t used, size_t size)
{
    if (buf != init)
        return cd_realloc(buf, size);
    void *n = cd_malloc(size);
    if (n)
        memcpy(n, buf, used);
    return n;
}

static int sbuf_put(parser *p, char c)
{
    if (p->slen + 1 >= p->scap) {
        size_t cap = p->scap * 2;
        char *n = grow(p->sbuf, p->sbuf0, p->slen, cap);
        if (!n)
            return fail(p, CD_ENOMEM, p->tline, p->tcol, "out of memory");
        p->sbuf = n;
        p->scap = cap;
    }
    p->sbuf[p->slen++] = c;
    return 0;
}

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int lex_string(parser *p, char q)
{
    p->slen = 0;
    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, CD_EINVAL, p->tline, p->tcol, "unterminated string");
        char c = p->s[p->pos++];
        if (c == q)
            break;
        if (c == '\n')
            return fail(p, CD_EINVAL, p->tline, p->tcol, "unterminated string");
        if (c == '\\') {
            if (p->pos >= p->len)
                return fail(p, CD_EINVAL, p->tline, p->tcol, "unterminated string");
            char x = p->s[p->pos++];
            c = x == 'n' ? '\n' : x == 't' ? '\t' : x;
            if (x != 'n' && x != 't' && x != '\\' && x != '\'' && x != '"')
                return fail(p, CD_EINVAL, p->line, (int)(p->pos - p->line_start) - 1,
                            "unknown escape '\\%c'", x);
        }
        if (sbuf_put(p, c))
            return p->rc;
    }
    p->t = T_STR;
    return 0;
}

static const struct {
    const char *w;
    enum tok t;
} KEYWORDS[] = {
    {"and", T_AND},   {"or", T_OR},       {"not", T_NOT},  {"in", T_IN},
    {"contains", T_CONTAINS}, {"true", T_TRUE}, {"false", T_FALSE}, {"null", T_NULL},
};

static int lex_ident(parser *p)
{
    size_t st = p->pos;
    for (;;) {
        while (p->pos < p->len && is_ident(p->s[p->pos]))
            p->pos++;
        /* a dot followed by a name part continues the variable name */
        if (p->pos + 1 < p->len && p->s[p->pos] == '.' && is_ident_start(p->s[p->pos + 1]))
            p->pos++;
        else
            break;
    }
    p->tlen = p->pos - st;
    p->t = T_IDENT;
    for (size_t i = 0; i < sizeof KEYWORDS / sizeof KEYWORDS[0]; i++)
        if (strlen(KEYWORDS[i].w) == p->tlen && !memcmp(KEYWORDS[i].w, p->s + st, p->tlen))
            p->t = KEYWORDS[i].t;
    if (p->t == T_CONTAINS && p->pos < p->len && p->s[p->pos] == '(')
        p->t = T_IDENT; /* contains(a, b): the function */
    return 0;
}

static int lex_number(parser *p)
{
    size_t st = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    if (p->pos + 1 < p->len && p->s[p->pos] == '.' && p->s[p->pos + 1] >= '0' &&
        p->s[p->pos + 1] <= '9') {
        p->pos++;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && is_ident_start(p->s[p->pos]))
        return fail(p, CD_EINVAL, p->tline, p->tcol, "malformed number");
    char tmp[64];
    size_t n = p->pos - st;
    if (n >= sizeof tmp)
        return fail(p, CD_EINVAL, p->tline, p->tcol, "number too long");
    memcpy(tmp, p->s + st, n);
    tmp[n] = 0;
    p->num = strtod(tmp, NULL);
    p->t = T_NUM;
    return 0;
}

static int two(parser *p, char second, enum tok yes, enum tok no)
{
    if (p->pos + 1 < p->len && p->s[p->pos + 1] == second) {
        p->pos += 2;
        p->t = yes;
    } else {
        p->pos += 1;
        p->t = no;
    }
    return 0;
}

static int lex(parser *p)
{
    for (;;) { /* skip blanks */
        if (p->pos >= p->len)
            break;
        char c = p->s[p->pos];
        if (c == '\n') {
            p->line++;
            p->line_start = ++p->pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else {
            break;
        }
    }
    p->tstart = p->pos;
    p->tline = p->line;
    p->tcol = (int)(p->pos - p->line_start) + 1;
    p->tlen = 0;
    if (p->pos >= p->len) {
        p->t = T_EOF;
        return 0;
    }
    char c = p->s[p->pos];
    if (c >= '0' && c <= '9')
        return lex_number(p);
    if (is_ident_start(c))
        return lex_ident(p);
    switch (c) {
    case '\'':
    case '"':
        return lex_string(p, c);
    case '(': p->t = T_LP; break;
    case ')': p->t = T_RP; break;
    case '[': p->t = T_LB; break;
    case ']': p->t = T_RB; break;
    case ',': p->t = T_COMMA; break;
    case '+': p->t = T_PLUS; break;
    case '-': p->t = T_MINUS; break;
    case '*': p->t = T_STAR; break;
    case '/': p->t = T_SLASH; break;
    case '%': p->t = T_PCT; break;
    case '<': return two(p, '=', T_LE, T_LT);
    case '>': return two(p, '=', T_GE, T_GT);
    case '=':
        if (p->pos + 1 < p->len && p->s[p->pos + 1] == '=')
            return two(p, '=', T_EQ, T_EQ);
        return fail(p, CD_EINVAL, p->tline, p->tcol, "'=' is not an operator; use '==' to compare");
    case '!':
        if (p->pos + 1 < p->len && p->s[p->pos + 1] == '=')
            return two(p, '=', T_NE, T_NE);
        return fail(p, CD_EINVAL, p->tline, p->tcol, "'!' is not an operator; use 'not'");
    case '&':
        return fail(p, CD_EINVAL, p->tline, p->tcol, "'&' is not an operator; use 'and'");
    case '|':
        return fail(p, CD_EINVAL, p->tline, p->tcol, "'|' is not an operator; use 'or'");
    default:
        if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
            return fail(p, CD_EINVAL, p->tline, p->tcol, "unexpected character 0x%02x",
                        (unsigned char)c);
        return fail(p, CD_EINVAL, p->tline, p->tcol, "unexpected character '%c'", c);
    }
    p->pos++;
    return 0;
}

/* --- parser ---------------------------------------------------------------- */

static int new_node(parser *p, int op, int line, int col)
{
    flow_expr *e = p->e;
    if (e->nnodes >= FLOW_EXPR_MAX_NODES) {
        fail(p, CD_ETOOBIG, line, col, "expression too large (over %d nodes)",
             FLOW_EXPR_MAX_NODES);
        return -1;
    }
    if (e->nnodes == e->ncap) {
        int cap = e->ncap * 2;
        node *n = grow(e->nodes, p->nbuf, (size_t)e->nnodes * sizeof *n, (size_t)cap * sizeof *n);
        if (!n) {
            fail(p, CD_ENOMEM, line, col, "out of memory");
            return -1;
        }
        e->nodes = n;
        e->ncap = cap;
    }
    node *n = &e->nodes[e->nnodes];
    memset(n, 0, sizeof *n);
    n->op = (uint8_t)op;
    n->a = n->b = n->next = -1;
    n->line = line;
    n->col = col;
    return e->nnodes++;
}

static int pool_add(parser *p, const char *s, size_t n, uint32_t *off)
{
    flow_expr *e = p->e;
    if (e->plen + n + 1 > e->pcap) {
        size_t cap = e->pcap;
        while (cap < e->plen + n + 1)
            cap *= 2;
        char *np = grow(e->pool, p->pbuf, e->plen, cap);
        if (!np)
            return fail(p, CD_ENOMEM, p->tline, p->tcol, "out of memory");
        e->pool = np;
        e->pcap = cap;
    }
    memcpy(e->pool + e->plen, s, n);
    e->pool[e->plen + n] = 0;
    *off = (uint32_t)e->plen;
    e->plen += n + 1;
    return 0;
}

static int var_index(parser *p, const char *name, size_t n, int line, int col)
{
    flow_expr *e = p->e;
    for (int i = 0; i < e->nvars; i++)
        if (e->vars[i].len == n && !memcmp(e->pool + e->vars[i].off, name, n))
            return i;
    if (e->nvars == e->vcap) {
        int cap = e->vcap * 2;
        var_ref *v = grow(e->vars, p->vbuf, (size_t)e->nvars * sizeof *v, (size_t)cap * sizeof *v);
        if (!v) {
            fail(p, CD_ENOMEM, line, col, "out of memory");
            return -1;
        }
        e->vars = v;
        e->vcap = cap;
    }
    var_ref *v = &e->vars[e->nvars];
    if (pool_add(p, name, n, &v->off))
        return -1;
    v->len = (uint32_t)n;
    v->line = line;
    v->col = col;
    return e->nvars++;
}

static const char *tok_desc(const parser *p, char *buf, size_t n)
{
    if (p->t == T_EOF)
        return "end of expression";
    size_t len = p->pos - p->tstart;
    if (len > 20)
        len = 20;
    snprintf(buf, n, "'%.*s'", (int)len, p->s + p->tstart);
    return buf;
}

static int unexpected(parser *p, const char *wanted)
{
    char buf[40];
    return fail(p, CD_EINVAL, p->tline, p->tcol, "expected %s, found %s", wanted,
                tok_desc(p, buf, sizeof buf));
}

static int parse_or(parser *p);

static int enter(parser *p)
{
    if (++p->depth > FLOW_EXPR_MAX_DEPTH) {
        fail(p, CD_ETOOBIG, p->tline, p->tcol, "expression nested too deeply (over %d)",
             FLOW_EXPR_MAX_DEPTH);
        return -1;
    }
    return 0;
}

/* Parses `item (, item)* close` after the opening token; returns the first
 * item (or -1 if none) and the count through *count. */
static int parse_items(parser *p, enum tok close, const char *what, int *count, int *first)
{
    int prev = -1;
    *first = -1;
    *count = 0;
    if (p->t == close)
        return lex(p);
    for (;;) {
        int it = parse_or(p);
        if (it < 0)
            return -1;
        if (prev < 0)
            *first = it;
        else
            p->e->nodes[prev].next = it;
        prev = it;
        ++*count;
        if (p->t == T_COMMA) {
            if (lex(p))
                return -1;
            continue;
        }
        if (p->t != close)
            return unexpected(p, what), -1;
        return lex(p) ? -1 : 0;
    }
}

static int parse_call(parser *p, size_t nst, size_t nlen, int line, int col)
{
    int fn = -1;
    for (int i = 0; i < NFUNCS; i++)
        if (strlen(FUNCS[i].name) == nlen && !memcmp(FUNCS[i].name, p->s + nst, nlen))
            fn = i;
    if (fn < 0)
        return fail(p, CD_EINVAL, line, col, "unknown function '%.*s'", (int)nlen, p->s + nst),
               -1;
    if (lex(p))
        return -1;
    int count, first;
    if (parse_items(p, T_RP, "',' or ')'", &count, &first))
        return -1;
    if (count != FUNCS[fn].nargs)
        return fail(p, CD_EINVAL, line, col, "%s() takes %d argument%s, got %d", FUNCS[fn].name,
                    FUNCS[fn].nargs, FUNCS[fn].nargs == 1 ? "" : "s", count),
               -1;
    int n = new_node(p, OP_CALL, line, col);
    if (n < 0)
        return -1;
    p->e->nodes[n].fn = (uint8_t)fn;
    p->e->nodes[n].nargs = (uint16_t)count;
    p->e->nodes[n].a = first;
    return n;
}

static int parse_primary(parser *p)
{
    int line = p->tline, col = p->tcol, n;
    switch (p->t) {
    case T_NUM:
        if ((n = new_node(p, OP_NUM, line, col)) < 0)
            return -1;
        p->e->nodes[n].u.num = p->num;
        return lex(p) ? -1 : n;
    case T_STR: {
        if ((n = new_node(p, OP_STR, line, col)) < 0)
            return -1;
        uint32_t off;
        if (pool_add(p, p->sbuf ? p->sbuf : "", p->slen, &off))
            return -1;
        p->e->nodes[n].u.str.off = off;
        p->e->nodes[n].u.str.len = (uint32_t)p->slen;
        return lex(p) ? -1 : n;
    }
    case T_TRUE:
    case T_FALSE:
    case T_NULL:
        n = new_node(p, p->t == T_TRUE ? OP_TRUE : p->t == T_FALSE ? OP_FALSE : OP_NULL, line,
                     col);
        return n < 0 || lex(p) ? -1 : n;
    case T_IDENT: {
        size_t st = p->tstart, len = p->tlen;
        if (lex(p))
            return -1;
        if (p->t == T_LP)
            return parse_call(p, st, len, line, col);
        int v = var_index(p, p->s + st, len, line, col);
        if (v < 0 || (n = new_node(p, OP_VAR, line, col)) < 0)
            return -1;
        p->e->nodes[n].u.var = v;
        return n;
    }
    case T_LP: {
        if (lex(p))
            return -1;
        int in = parse_or(p);
        if (in < 0)
            return -1;
        if (p->t != T_RP)
            return unexpected(p, "')'"), -1;
        return lex(p) ? -1 : in;
    }
    case T_LB: {
        if (lex(p))
            return -1;
        int count, first;
        if (parse_items(p, T_RB, "',' or ']'", &count, &first))
            return -1;
        if ((n = new_node(p, OP_LIST, line, col)) < 0)
            return -1;
        p->e->nodes[n].a = first;
        p->e->nodes[n].nargs = (uint16_t)count;
        return n;
    }
    default:
        return unexpected(p, "a value"), -1;
    }
}

static int binary(parser *p, int op, int a, int b, int line, int col)
{
    if (b < 0)
        return -1;
    int n = new_node(p, op, line, col);
    if (n < 0)
        return -1;
    p->e->nodes[n].a = a;
    p->e->nodes[n].b = b;
    return n;
}

static int unary_node(parser *p, int op, int a, int line, int col)
{
    if (a < 0)
        return -1;
    int n = new_node(p, op, line, col);
    if (n >= 0)
        p->e->nodes[n].a = a;
    return n;
}

static int parse_unary(parser *p)
{
    if (enter(p))
        return -1;
    int r;
    if (p->t == T_MINUS) {
        int line = p->tline, col = p->tcol;
        if (lex(p))
            return -1;
        r = unary_node(p, OP_NEG, parse_unary(p), line, col);
    } else {
        r = parse_primary(p);
    }
    p->depth--;
    return r;
}

static int parse_mul(parser *p)
{
    int a = parse_unary(p);
    while (a >= 0 && (p->t == T_STAR || p->t == T_SLASH || p->t == T_PCT)) {
        int op = p->t == T_STAR ? OP_MUL : p->t == T_SLASH ? OP_DIV : OP_MOD;
        int line = p->tline, col = p->tcol;
        if (lex(p))
            return -1;
        a = binary(p, op, a, parse_unary(p), line, col);
    }
    return a;
}

static int parse_add(parser *p)
{
    int a = parse_mul(p);
    while (a >= 0 && (p->t == T_PLUS || p->t == T_MINUS)) {
        int op = p->t == T_PLUS ? OP_ADD : OP_SUB;
        int line = p->tline, col = p->tcol;
        if (lex(p))
            return -1;
        a = binary(p, op, a, parse_mul(p), line, col);
    }
    return a;
}

static int cmp_op(enum tok t)
{
    switch (t) {
    case T_EQ: return OP_EQ;
    case T_NE: return OP_NE;
    case T_LT: return OP_LT;
    case T_LE: return OP_LE;
    case T_GT: return OP_GT;
    case T_GE: return OP_GE;
    case T_IN: return OP_IN;
    case T_CONTAINS: return OP_CONTAINS;
    default: return -1;
    }
}

static int parse_cmp(parser *p)
{
    int a = parse_add(p);
    if (a < 0)
        return -1;
    int line = p->tline, col = p->tcol, op = cmp_op(p->t);
    if (p->t == T_NOT) { /* a not in b */
        if (lex(p))
            return -1;
        if (p->t != T_IN)
            return unexpected(p, "'in' after 'not'"), -1;
        op = OP_NOTIN;
    } else if (op < 0) {
        return a;
    }
    if (lex(p))
        return -1;
    a = binary(p, op, a, parse_add(p), line, col);
    if (a >= 0 && cmp_op(p->t) >= 0)
        return fail(p, CD_EINVAL, p->tline, p->tcol,
                    "comparisons do not chain; join them with 'and'"),
               -1;
    return a;
}

static int parse_not(parser *p)
{
    if (enter(p))
        return -1;
    int r;
    if (p->t == T_NOT) {
        int line = p->tline, col = p->tcol;
        if (lex(p))
            return -1;
        r = unary_node(p, OP_NOT, parse_not(p), line, col);
    } else {
        r = parse_cmp(p);
    }
    p->depth--;
    return r;
}

static int parse_and(parser *p)
{
    int a = parse_not(p);
    while (a >= 0 && p->t == T_AND) {
        int line = p->tline, col = p->tcol;
        if (lex(p))
            return -1;
        a = binary(p, OP_AND, a, parse_not(p), line, col);
    }
    return a;
}

static int parse_or(parser *p)
{
    if (enter(p))
        return -1;
    int a = parse_and(p);
    while (a >= 0 && p->t == T_OR) {
        int line = p->tline, col = p->tcol;
        if (lex(p))
            return -1;
        a = binary(p, OP_OR, a, parse_and(p), line, col);
    }
    p->depth--;
    return a;
}

void flow_expr_destroy(flow_expr *e)
{
    if (e && !e->in_arena)
        cd_free(e);
}

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

/* The parsed expression `w` (in the parser's buffers) as one block. */
static flow_expr *pack(const flow_expr *w, flow_arena *arena)
{
    size_t nodes = (size_t)w->nnodes * sizeof *w->nodes, vars = (size_t)w->nvars * sizeof *w->vars;
    size_t size = ALIGN16(sizeof *w) + ALIGN16(nodes) + ALIGN16(vars) + w->plen;
    unsigned char *b = arena ? flow_arena_alloc(arena, size) : cd_malloc(size);
    if (!b)
        return NULL;
    flow_expr *e = (flow_expr *)b;
    *e = *w;
    e->nodes = (node *)(b + ALIGN16(sizeof *w));
    e->vars = (var_ref *)((unsigned char *)e->nodes + ALIGN16(nodes));
    e->pool = (char *)e->vars + ALIGN16(vars);
    e->ncap = e->nnodes;
    e->vcap = e->nvars;
    e->pcap = e->plen;
    e->in_arena = arena != NULL;
    memcpy(e->nodes, w->nodes, nodes);
    memcpy(e->vars, w->vars, vars);
    memcpy(e->pool, w->pool, w->plen);
    return e;
}

int flow_expr_parse_in(const char *text, size_t len, flow_arena *arena, flow_expr **out,
                       flow_expr_error *err)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    node nbuf[64];
    char pbuf[256], sbuf[64];
    var_ref vbuf[8];
    parser p = {.s = text,
                .len = len,
                .line = 1,
                .err = err,
                .sbuf = sbuf,
                .scap = sizeof sbuf,
                .nbuf = nbuf,
                .pbuf = pbuf,
                .sbuf0 = sbuf,
                .vbuf = vbuf};
    if (len > FLOW_EXPR_MAX_TEXT)
        return fail(&p, CD_ETOOBIG, 1, 1, "expression longer than %d bytes", FLOW_EXPR_MAX_TEXT);
    flow_expr w = {
        .nodes = nbuf,
        .ncap = (int)(sizeof nbuf / sizeof nbuf[0]),
        .pool = pbuf,
        .pcap = sizeof pbuf,
        .vars = vbuf,
        .vcap = (int)(sizeof vbuf / sizeof vbuf[0]),
    };
    p.e = &w;
    if (lex(&p) == 0) {
        if (p.t == T_EOF) {
            fail(&p, CD_EINVAL, 1, 1, "empty expression");
        } else {
            w.root = parse_or(&p);
            if (w.root >= 0 && p.t != T_EOF)
                unexpected(&p, "an operator or end of expression");
        }
    }
    if (!p.rc && !(*out = pack(&w, arena)))
        fail(&p, CD_ENOMEM, 1, 1, "out of memory");
    if (p.sbuf != sbuf)
        cd_free(p.sbuf);
    if (w.nodes != nbuf)
        cd_free(w.nodes);
    if (w.pool != pbuf)
        cd_free(w.pool);
    if (w.vars != vbuf)
        cd_free(w.vars);
    return p.rc;
}

int flow_expr_parse(const char *text, size_t len, flow_expr **out, flow_expr_error *err)
{
    return flow_expr_parse_in(text, len, NULL, out, err);
}

int flow_expr_nvars(const flow_expr *e)
{
    return e->nvars;
}

const char *flow_expr_var_name(const flow_expr *e, int var)
{
    return e->pool + e->vars[var].off;
}

void flow_expr_var_pos(const flow_expr *e, int var, int *line, int *col)
{
    *line = e->vars[var].line;
    *col = e->vars[var].col;
}

/* --- values ---------------------------------------------------------------- */

const char *flow_type_name(flow_type t)
{
    static const char *names[] = {"null", "bool", "number", "string", "list", "any"};
    return (unsigned)t < 6 ? names[t] : "?";
}

int flow_value_equal(const flow_value *a, const flow_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case FLOW_T_NULL: return 1;
    case FLOW_T_BOOL: return !a->u.b == !b->u.b;
    case FLOW_T_NUM: return a->u.n == b->u.n;
    case FLOW_T_STR:
        return a->u.s.len == b->u.s.len && !memcmp(a->u.s.p, b->u.s.p, a->u.s.len);
    case FLOW_T_LIST:
        if (a->u.list.len != b->u.list.len)
            return 0;
        for (size_t i = 0; i < a->u.list.len; i++)
            if (!flow_value_equal(&a->u.list.items[i], &b->u.list.items[i]))
                return 0;
        return 1;
    default: return 0;
    }
}

static size_t fmt_num(double n, char *buf, size_t size)
{
    int r;
    if (n == (double)(long long)n && fabs(n) < 1e15)
        r = snprintf(buf, size, "%lld", (long long)n);
    else
        r = snprintf(buf, size, "%.15g", n);
    return r < 0 ? 0 : (size_t)r;
}

static size_t put(char *buf, size_t size, size_t at, const char *s, size_t n)
{
    if (at < size) {
        size_t room = size - at - 1;
        memcpy(buf + at, s, n < room ? n : room);
        buf[at + (n < room ? n : room)] = 0;
    }
    return at + n;
}

size_t flow_value_format(const flow_value *v, char *buf, size_t size)
{
    char tmp[40];
    if (size)
        buf[0] = 0;
    switch (v->type) {
    case FLOW_T_NULL: return put(buf, size, 0, "", 0);
    case FLOW_T_BOOL: return v->u.b ? put(buf, size, 0, "yes", 3) : put(buf, size, 0, "no", 2);
    case FLOW_T_NUM: return put(buf, size, 0, tmp, fmt_num(v->u.n, tmp, sizeof tmp));
    case FLOW_T_STR: return put(buf, size, 0, v->u.s.p, v->u.s.len);
    case FLOW_T_LIST: {
        size_t at = put(buf, size, 0, "[", 1);
        for (size_t i = 0; i < v->u.list.len; i++) {
            if (i)
                at = put(buf, size, at, ", ", 2);
            size_t n = flow_value_format(&v->u.list.items[i], at < size ? buf + at : NULL,
                                         at < size ? size - at : 0);
            at += n;
        }
        return put(buf, size, at, "]", 1);
    }
    default: return 0;
    }
}

const json_t *flow_json_path(const json_t *obj, const char *name)
{
    if (!json_is_object(obj))
        return NULL;
    const json_t *direct = json_object_get(obj, name);
    if (direct)
        return direct;
    const char *dot = strchr(name, '.');
    if (!dot)
        return NULL;
    char key[128];
    size_t n = (size_t)(dot - name);
    if (n >= sizeof key)
        return NULL;
    memcpy(key, name, n);
    key[n] = 0;
    return flow_json_path(json_object_get(obj, key), dot + 1);
}

int flow_value_from_json(const json_t *j, flow_arena *arena, flow_value *out)
{
    memset(out, 0, sizeof *out);
    switch (json_typeof(j)) {
    case JSON_TRUE: out->type = FLOW_T_BOOL; out->u.b = 1; return 0;
    case JSON_FALSE: out->type = FLOW_T_BOOL; return 0;
    case JSON_INTEGER:
        out->type = FLOW_T_NUM;
        out->u.n = (double)json_integer_value(j);
        return 0;
    case JSON_REAL:
        out->type = FLOW_T_NUM;
        out->u.n = json_real_value(j);
        return 0;
    case JSON_STRING:
        out->type = FLOW_T_STR;
        out->u.s.p = json_string_value(j);
        out->u.s.len = json_string_length(j);
        return 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        flow_value *items = flow_arena_alloc(arena, (n ? n : 1) * sizeof *items);
        if (!items)
            return CD_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (flow_value_from_json(json_array_get(j, i), arena, &items[i]))
                return CD_ENOMEM;
        out->type = FLOW_T_LIST;
        out->u.list.items = items;
        out->u.list.len = n;
        return 0;
    }
    default: out->type = FLOW_T_NULL; return 0;
    }
}

json_t *flow_value_to_json(const flow_value *v)
{
    switch (v->type) {
    case FLOW_T_BOOL: return json_boolean(v->u.b);
    case FLOW_T_NUM:
        if (v->u.n == (double)(json_int_t)v->u.n && fabs(v->u.n) < 9e15)
            return json_integer((json_int_t)v->u.n);
        return json_real(v->u.n);
    case FLOW_T_STR: return json_stringn(v->u.s.p, v->u.s.len);
    case FLOW_T_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->u.list.len; i++)
            if (json_array_append_new(a, flow_value_to_json(&v->u.list.items[i]))) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    default: return json_null();
    }
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int flow_parse_date(const char *s, size_t len, int64_t *out_ms)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (len < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return CD_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return CD_EINVAL;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return CD_EINVAL;
    if (len > 10) {
        if (len < 17 || s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
            digits(s + 14, 2, &mi) || h > 23 || mi > 59)
            return CD_EINVAL;
        size_t i = 16;
        if (s[i] == ':') {
            if (len < 20 || digits(s + 17, 2, &se) || se > 59)
                return CD_EINVAL;
            i = 19;
        }
        if (i + 1 != len || s[i] != 'Z')
            return CD_EINVAL;
    }
    *out_ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + se * 1000LL;
    return 0;
}

/* --- evaluator ------------------------------------------------------------- */

typedef struct evaluator {
    const flow_expr *e;
    const flow_env *env;
    flow_arena *arena;
    flow_expr_error *err;
    unsigned steps, max_steps;
} evaluator;

static int eval_fail(evaluator *ev, int rc, const node *n, const char *fmt, ...)
{
    if (ev->err) {
        va_list ap;
        va_start(ap, fmt);
        ev->err->line = n->line;
        ev->err->col = n->col;
        vsnprintf(ev->err->msg, sizeof ev->err->msg, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int eval(evaluator *ev, int i, flow_value *out);

static int eval_type(evaluator *ev, int i, flow_type want, flow_value *out, const char *what)
{
    int rc = eval(ev, i, out);
    if (rc)
        return rc;
    if (out->type != want)
        return eval_fail(ev, CD_EINVAL, &ev->e->nodes[i], "%s needs a %s, got %s", what,
                         flow_type_name(want), flow_type_name(out->type));
    return 0;
}

static int make_str(evaluator *ev, const node *n, size_t len, char **p, flow_value *out)
{
    if (len > FLOW_EXPR_MAX_STR)
        return eval_fail(ev, CD_ETOOBIG, n, "string longer than %d bytes", FLOW_EXPR_MAX_STR);
    *p = flow_arena_alloc(ev->arena, len + 1);
    if (!*p)
        return eval_fail(ev, CD_ENOMEM, n, "out of memory");
    (*p)[len] = 0;
    out->type = FLOW_T_STR;
    out->u.s.p = *p;
    out->u.s.len = len;
    return 0;
}

static int str_find(const flow_value *hay, const flow_value *needle)
{
    size_t h = hay->u.s.len, n = needle->u.s.len;
    if (n == 0)
        return 1;
    for (size_t i = 0; i + n <= h; i++)
        if (!memcmp(hay->u.s.p + i, needle->u.s.p, n))
            return 1;
    return 0;
}

/* x in container: list membership or substring. */
static int member(evaluator *ev, const node *n, const flow_value *x, const flow_value *c, int *res)
{
    if (c->type == FLOW_T_LIST) {
        *res = 0;
        for (size_t i = 0; i < c->u.list.len && !*res; i++)
            *res = flow_value_equal(x, &c->u.list.items[i]);
        return 0;
    }
    if (c->type == FLOW_T_STR && x->type == FLOW_T_STR) {
        *res = str_find(c, x);
        return 0;
    }
    return eval_fail(ev, CD_EINVAL, n, "'in' needs a list, or a string in a string; got %s in %s",
                     flow_type_name(x->type), flow_type_name(c->type));
}

static int compare(evaluator *ev, const node *n, const flow_value *a, const flow_value *b,
                   int *res)
{
    int c;
    if (a->type == FLOW_T_NUM && b->type == FLOW_T_NUM) {
        c = a->u.n < b->u.n ? -1 : a->u.n > b->u.n;
    } else if (a->type == FLOW_T_STR && b->type == FLOW_T_STR) {
        size_t m = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
        c = memcmp(a->u.s.p, b->u.s.p, m);
        if (!c)
            c = a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
    } else {
        return eval_fail(ev, CD_EINVAL, n, "cannot order %s and %s", flow_type_name(a->type),
                         flow_type_name(b->type));
    }
    switch (n->op) {
    case OP_LT: *res = c < 0; break;
    case OP_LE: *res = c <= 0; break;
    case OP_GT: *res = c > 0; break;
    default: *res = c >= 0; break;
    }
    return 0;
}

static int eval_arith(evaluator *ev, const node *n, flow_value *out)
{
    flow_value a, b;
    int rc = eval(ev, n->a, &a);
    if (rc || (rc = eval(ev, n->b, &b)))
        return rc;
    if (n->op == OP_ADD && a.type == FLOW_T_STR && b.type == FLOW_T_STR) {
        char *p;
        if ((rc = make_str(ev, n, a.u.s.len + b.u.s.len, &p, out)))
            return rc;
        memcpy(p, a.u.s.p, a.u.s.len);
        memcpy(p + a.u.s.len, b.u.s.p, b.u.s.len);
        return 0;
    }
    if (a.type != FLOW_T_NUM || b.type != FLOW_T_NUM)
        return eval_fail(ev, CD_EINVAL, n, "arithmetic on %s and %s", flow_type_name(a.type),
                         flow_type_name(b.type));
    out->type = FLOW_T_NUM;
    switch (n->op) {
    case OP_ADD: out->u.n = a.u.n + b.u.n; break;
    case OP_SUB: out->u.n = a.u.n - b.u.n; break;
    case OP_MUL: out->u.n = a.u.n * b.u.n; break;
    case OP_DIV:
    case OP_MOD:
        if (b.u.n == 0)
            return eval_fail(ev, CD_EINVAL, n, "division by zero");
        out->u.n = n->op == OP_DIV ? a.u.n / b.u.n : fmod(a.u.n, b.u.n);
        break;
    }
    if (!isfinite(out->u.n))
        return eval_fail(ev, CD_EINVAL, n, "number out of range");
    return 0;
}

static int eval_case(evaluator *ev, const node *n, const flow_value *s, int upper,
                     flow_value *out)
{
    char *p;
    int rc = make_str(ev, n, s->u.s.len, &p, out);
    if (rc)
        return rc;
    for (size_t i = 0; i < s->u.s.len; i++) {
        char c = s->u.s.p[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        p[i] = c;
    }
    return 0;
}

static int eval_call(evaluator *ev, const node *n, flow_value *out)
{
    flow_value a, b;
    int rc = eval(ev, n->a, &a);
    if (rc)
        return rc;
    if (n->nargs == 2 && (rc = eval(ev, ev->e->nodes[n->a].next, &b)))
        return rc;
    const char *name = FUNCS[n->fn].name;
    switch (n->fn) {
    case FN_LEN:
        out->type = FLOW_T_NUM;
        if (a.type == FLOW_T_STR)
            out->u.n = (double)a.u.s.len;
        else if (a.type == FLOW_T_LIST)
            out->u.n = (double)a.u.list.len;
        else
            return eval_fail(ev, CD_EINVAL, n, "len() needs a string or list, got %s",
                             flow_type_name(a.type));
        return 0;
    case FN_EMPTY:
        out->type = FLOW_T_BOOL;
        out->u.b = a.type == FLOW_T_NULL || (a.type == FLOW_T_STR && !a.u.s.len) ||
                   (a.type == FLOW_T_LIST && !a.u.list.len);
        return 0;
    case FN_LOWER:
    case FN_UPPER:
    case FN_TRIM:
        if (a.type != FLOW_T_STR)
            return eval_fail(ev, CD_EINVAL, n, "%s() needs a string, got %s", name,
                             flow_type_name(a.type));
        if (n->fn != FN_TRIM)
            return eval_case(ev, n, &a, n->fn == FN_UPPER, out);
        *out = a;
        while (out->u.s.len && (*out->u.s.p == ' ' || *out->u.s.p == '\t')) {
            out->u.s.p++;
            out->u.s.len--;
        }
        while (out->u.s.len &&
               (out->u.s.p[out->u.s.len - 1] == ' ' || out->u.s.p[out->u.s.len - 1] == '\t'))
            out->u.s.len--;
        return 0;
    case FN_DAYS_SINCE: {
        int64_t ms;
        if (a.type == FLOW_T_NUM)
            ms = (int64_t)a.u.n;
        else if (a.type != FLOW_T_STR || flow_parse_date(a.u.s.p, a.u.s.len, &ms))
            return eval_fail(ev, CD_EINVAL, n,
                             "days_since() needs a date 'YYYY-MM-DD' or epoch ms, got %s",
                             flow_type_name(a.type));
        out->type = FLOW_T_NUM;
        out->u.n = floor((double)(ev->env->now_ms - ms) / 86400000.0);
        return 0;
    }
    case FN_CONTAINS:
        out->type = FLOW_T_BOOL;
        return member(ev, n, &b, &a, &out->u.b);
    case FN_STARTS_WITH:
        if (a.type != FLOW_T_STR || b.type != FLOW_T_STR)
            return eval_fail(ev, CD_EINVAL, n, "starts_with() needs two strings");
        out->type = FLOW_T_BOOL;
        out->u.b = b.u.s.len <= a.u.s.len && !memcmp(a.u.s.p, b.u.s.p, b.u.s.len);
        return 0;
    default: /* abs, min, max, round */
        if (a.type != FLOW_T_NUM || (n->nargs == 2 && b.type != FLOW_T_NUM))
            return eval_fail(ev, CD_EINVAL, n, "%s() needs numbers", name);
        out->type = FLOW_T_NUM;
        out->u.n = n->fn == FN_ABS     ? fabs(a.u.n)
                   : n->fn == FN_ROUND ? round(a.u.n)
                   : n->fn == FN_MIN   ? (a.u.n < b.u.n ? a.u.n : b.u.n)
                                       : (a.u.n > b.u.n ? a.u.n : b.u.n);
        return 0;
    }
}

static int eval_list(evaluator *ev, const node *n, flow_value *out)
{
    flow_value *items = flow_arena_alloc(ev->arena, (n->nargs ? n->nargs : 1) * sizeof *items);
    if (!items)
        return eval_fail(ev, CD_ENOMEM, n, "out of memory");
    int i = 0;
    for (int c = n->a; c >= 0; c = ev->e->nodes[c].next) {
        int rc = eval(ev, c, &items[i++]);
        if (rc)
            return rc;
    }
    out->type = FLOW_T_LIST;
    out->u.list.items = items;
    out->u.list.len = n->nargs;
    return 0;
}

static int eval_var(evaluator *ev, const node *n, flow_value *out)
{
    out->type = FLOW_T_NULL;
    if (!ev->env->lookup)
        return 0;
    int rc = ev->env->lookup(ev->env->ud, n->u.var, flow_expr_var_name(ev->e, n->u.var), out);
    if (rc)
        return eval_fail(ev, rc, n, "unknown variable '%s'", flow_expr_var_name(ev->e, n->u.var));
    return 0;
}

static int eval(evaluator *ev, int i, flow_value *out)
{
    const node *n = &ev->e->nodes[i];
    if (++ev->steps > ev->max_steps)
        return eval_fail(ev, CD_ETOOBIG, n, "evaluation step budget exceeded");
    flow_value a, b;
    int rc, r;
    switch (n->op) {
    case OP_NULL: out->type = FLOW_T_NULL; return 0;
    case OP_TRUE:
    case OP_FALSE:
        out->type = FLOW_T_BOOL;
        out->u.b = n->op == OP_TRUE;
        return 0;
    case OP_NUM:
        out->type = FLOW_T_NUM;
        out->u.n = n->u.num;
        return 0;
    case OP_STR:
        out->type = FLOW_T_STR;
        out->u.s.p = ev->e->pool + n->u.str.off;
        out->u.s.len = n->u.str.len;
        return 0;
    case OP_LIST: return eval_list(ev, n, out);
    case OP_VAR: return eval_var(ev, n, out);
    case OP_CALL: return eval_call(ev, n, out);
    case OP_NOT:
        if ((rc = eval_type(ev, n->a, FLOW_T_BOOL, &a, "'not'")))
            return rc;
        out->type = FLOW_T_BOOL;
        out->u.b = !a.u.b;
        return 0;
    case OP_NEG:
        if ((rc = eval_type(ev, n->a, FLOW_T_NUM, &a, "'-'")))
            return rc;
        out->type = FLOW_T_NUM;
        out->u.n = -a.u.n;
        return 0;
    case OP_AND:
    case OP_OR:
        if ((rc = eval_type(ev, n->a, FLOW_T_BOOL, &a, n->op == OP_AND ? "'and'" : "'or'")))
            return rc;
        if ((n->op == OP_AND) != !!a.u.b) { /* short circuit */
            *out = a;
            return 0;
        }
        return eval_type(ev, n->b, FLOW_T_BOOL, out, n->op == OP_AND ? "'and'" : "'or'");
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD: return eval_arith(ev, n, out);
    default: break;
    }
    /* comparisons */
    if ((rc = eval(ev, n->a, &a)) || (rc = eval(ev, n->b, &b)))
        return rc;
    out->type = FLOW_T_BOOL;
    switch (n->op) {
    case OP_EQ: out->u.b = flow_value_equal(&a, &b); return 0;
    case OP_NE: out->u.b = !flow_value_equal(&a, &b); return 0;
    case OP_IN:
    case OP_NOTIN:
        if ((rc = member(ev, n, &a, &b, &r)))
            return rc;
        out->u.b = n->op == OP_IN ? r : !r;
        return 0;
    case OP_CONTAINS:
        if ((rc = member(ev, n, &b, &a, &r)))
            return rc;
        out->u.b = r;
        return 0;
    default: return compare(ev, n, &a, &b, &out->u.b);
    }
}

int flow_expr_eval(const flow_expr *e, const flow_env *env, flow_arena *arena, flow_value *out,
                   flow_expr_error *err)
{
    evaluator ev = {.e = e, .env = env, .arena = arena, .err = err};
    ev.max_steps = env->max_steps ? env->max_steps : FLOW_EXPR_MAX_NODES;
    return eval(&ev, e->root, out);
}

int flow_expr_test(const flow_expr *e, const flow_env *env, flow_arena *arena,
                   flow_expr_error *err)
{
    flow_value v;
    int rc = flow_expr_eval(e, env, arena, &v, err);
    if (rc)
        return rc;
    if (v.type != FLOW_T_BOOL) {
        const node *n = &e->nodes[e->root];
        if (err) {
            err->line = n->line;
            err->col = n->col;
            snprintf(err->msg, sizeof err->msg, "condition is a %s, not a bool",
                     flow_type_name(v.type));
        }
        return CD_EINVAL;
    }
    return v.u.b ? 1 : 0;
}

/* --- static types ---------------------------------------------------------- */

typedef struct inferer {
    const flow_expr *e;
    flow_typeof_fn fn;
    void *ud;
    flow_expr_error *err;
} inferer;

static int infer_fail(inferer *in, const node *n, const char *fmt, ...)
{
    if (in->err) {
        va_list ap;
        va_start(ap, fmt);
        in->err->line = n->line;
        in->err->col = n->col;
        vsnprintf(in->err->msg, sizeof in->err->msg, fmt, ap);
        va_end(ap);
    }
    return CD_EINVAL;
}

static int infer(inferer *in, int i, flow_type *out);

/* 1 if a value of static type t may be of type want at run time. */
static int fits(flow_type t, flow_type want)
{
    return t == want || t == FLOW_T_ANY;
}

static int infer_need(inferer *in, int i, flow_type want, const char *what, flow_type *t)
{
    int rc = infer(in, i, t);
    if (rc)
        return rc;
    if (!fits(*t, want))
        return infer_fail(in, &in->e->nodes[i], "%s needs a %s, got %s", what,
                          flow_type_name(want), flow_type_name(*t));
    return 0;
}

static int infer_call(inferer *in, const node *n, flow_type *out)
{
    flow_type a, b = FLOW_T_ANY;
    int rc = infer(in, n->a, &a);
    if (rc)
        return rc;
    if (n->nargs == 2 && (rc = infer(in, in->e->nodes[n->a].next, &b)))
        return rc;
    const char *name = FUNCS[n->fn].name;
    switch (n->fn) {
    case FN_LEN:
        *out = FLOW_T_NUM;
        if (!fits(a, FLOW_T_STR) && !fits(a, FLOW_T_LIST))
            return infer_fail(in, n, "len() needs a string or list, got %s", flow_type_name(a));
        return 0;
    case FN_EMPTY: *out = FLOW_T_BOOL; return 0;
    case FN_LOWER:
    case FN_UPPER:
    case FN_TRIM:
        *out = FLOW_T_STR;
        if (!fits(a, FLOW_T_STR))
            return infer_fail(in, n, "%s() needs a string, got %s", name, flow_type_name(a));
        return 0;
    case FN_DAYS_SINCE:
        *out = FLOW_T_NUM;
        if (!fits(a, FLOW_T_STR) && !fits(a, FLOW_T_NUM))
            return infer_fail(in, n, "days_since() needs a date, got %s", flow_type_name(a));
        return 0;
    case FN_CONTAINS:
        *out = FLOW_T_BOOL;
        if (!fits(a, FLOW_T_LIST) && !(fits(a, FLOW_T_STR) && fits(b, FLOW_T_STR)))
            return infer_fail(in, n, "contains() needs a list, or two strings; got %s and %s",
                              flow_type_name(a), flow_type_name(b));
        return 0;
    case FN_STARTS_WITH:
        *out = FLOW_T_BOOL;
        if (!fits(a, FLOW_T_STR) || !fits(b, FLOW_T_STR))
            return infer_fail(in, n, "starts_with() needs two strings, got %s and %s",
                              flow_type_name(a), flow_type_name(b));
        return 0;
    default:
        *out = FLOW_T_NUM;
        if (!fits(a, FLOW_T_NUM) || !fits(b, FLOW_T_NUM))
            return infer_fail(in, n, "%s() needs numbers, got %s", name,
                              flow_type_name(fits(a, FLOW_T_NUM) ? b : a));
        return 0;
    }
}

static int infer_binary(inferer *in, const node *n, flow_type *out)
{
    flow_type a, b;
    int rc = infer(in, n->a, &a);
    if (rc || (rc = infer(in, n->b, &b)))
        return rc;
    int any = a == FLOW_T_ANY || b == FLOW_T_ANY;
    *out = FLOW_T_BOOL;
    switch (n->op) {
    case OP_EQ:
    case OP_NE:
        if (!any && a != b && a != FLOW_T_NULL && b != FLOW_T_NULL)
            return infer_fail(in, n, "comparing %s with %s is always %s", flow_type_name(a),
                              flow_type_name(b), n->op == OP_EQ ? "false" : "true");
        return 0;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        if (!(fits(a, FLOW_T_NUM) && fits(b, FLOW_T_NUM)) &&
            !(fits(a, FLOW_T_STR) && fits(b, FLOW_T_STR)))
            return infer_fail(in, n, "cannot order %s and %s", flow_type_name(a),
                              flow_type_name(b));
        return 0;
    case OP_IN:
    case OP_NOTIN:
    case OP_CONTAINS: {
        flow_type x = n->op == OP_CONTAINS ? b : a, c = n->op == OP_CONTAINS ? a : b;
        if (!fits(c, FLOW_T_LIST) && !(fits(c, FLOW_T_STR) && fits(x, FLOW_T_STR)))
            return infer_fail(in, n, "'%s' needs a list, or a string in a string; got %s and %s",
                              n->op == OP_CONTAINS ? "contains" : "in", flow_type_name(x),
                              flow_type_name(c));
        return 0;
    }
    default: /* arithmetic */
        if (n->op == OP_ADD && fits(a, FLOW_T_STR) && fits(b, FLOW_T_STR)) {
            *out = a == FLOW_T_STR || b == FLOW_T_STR ? FLOW_T_STR : FLOW_T_ANY;
            if (*out == FLOW_T_ANY)
                return 0;
            return 0;
        }
        *out = FLOW_T_NUM;
        if (!fits(a, FLOW_T_NUM) || !fits(b, FLOW_T_NUM))
            return infer_fail(in, n, "arithmetic on %s and %s", flow_type_name(a),
                              flow_type_name(b));
        return 0;
    }
}

static int infer(inferer *in, int i, flow_type *out)
{
    const node *n = &in->e->nodes[i];
    flow_type a;
    int rc;
    switch (n->op) {
    case OP_NULL: *out = FLOW_T_NULL; return 0;
    case OP_TRUE:
    case OP_FALSE: *out = FLOW_T_BOOL; return 0;
    case OP_NUM: *out = FLOW_T_NUM; return 0;
    case OP_STR: *out = FLOW_T_STR; return 0;
    case OP_LIST:
        for (int c = n->a; c >= 0; c = in->e->nodes[c].next)
            if ((rc = infer(in, c, &a)))
                return rc;
        *out = FLOW_T_LIST;
        return 0;
    case OP_VAR: {
        const char *name = flow_expr_var_name(in->e, n->u.var);
        int t = in->fn ? in->fn(in->ud, n->u.var, name) : FLOW_T_ANY;
        if (t < 0)
            return infer_fail(in, n, "undefined variable '%s'", name);
        *out = (flow_type)t;
        return 0;
    }
    case OP_CALL: return infer_call(in, n, out);
    case OP_NOT: *out = FLOW_T_BOOL; return infer_need(in, n->a, FLOW_T_BOOL, "'not'", &a);
    case OP_NEG: *out = FLOW_T_NUM; return infer_need(in, n->a, FLOW_T_NUM, "'-'", &a);
    case OP_AND:
    case OP_OR: {
        const char *w = n->op == OP_AND ? "'and'" : "'or'";
        *out = FLOW_T_BOOL;
        if ((rc = infer_need(in, n->a, FLOW_T_BOOL, w, &a)))
            return rc;
        return infer_need(in, n->b, FLOW_T_BOOL, w, &a);
    }
    default: return infer_binary(in, n, out);
    }
}

int flow_expr_infer(const flow_expr *e, flow_typeof_fn typeof_fn, void *ud, flow_type *out,
                    flow_expr_error *err)
{
    inferer in = {.e = e, .fn = typeof_fn, .ud = ud, .err = err};
    return infer(&in, e->root, out);
}
