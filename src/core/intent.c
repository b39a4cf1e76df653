/* intent.c - the intent classifier (see intent.h and docs/intent.md). */
#include "core/intent.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WORD_MAX 32 /* bytes of a word used for its features */
#define FS_BITS 12  /* feature scratch: 4096 slots for at most 2048 features */
#define FS_SLOTS (1u << FS_BITS)
#define TF_MAX 0x7fff
#define NONE UINT32_MAX

#define SEED_WORD 0x243f6a8885a308d3ull
#define SEED_PAIR 0x13198a2e03707344ull
#define SEED_CHAR 0xa4093822299f31d0ull
#define FNV_PRIME 0x100000001b3ull

struct intent_model {
    intent_params p;

    /* Categories: names, examples of each, and a hash table of ids + 1. */
    char **cat;
    uint32_t *cat_n;
    uint32_t ncat, capcat;
    uint32_t *cat_tab;
    uint32_t cat_tabcap; /* power of 2 */

    /* Feature dictionary: rows, each with its key and document frequency,
     * and an open-addressing table of row + 1 by key. */
    uint32_t *keys;
    uint32_t *df;
    float *idf;
    uint32_t nrows, caprows;
    uint32_t *tab;
    uint32_t tabcap; /* power of 2 */

    /* Weights: caprows x stride, row-major (one row of category weights per
     * feature), biases; stride >= ncat, a multiple of 8. */
    float *w;
    float *b;
    uint32_t stride;
    double temp;

    /* Kept examples: category, and features ex_off[i]..ex_off[i + 1] of
     * ex_row (dictionary rows) and ex_tf (term frequencies). */
    uint32_t *ex_cat;
    size_t *ex_off;
    uint32_t nex, capex;
    uint32_t *ex_row;
    uint16_t *ex_tf;
    size_t capfeat;
    uint32_t trained; /* nex at the last refit */
};

/* ---- hashing and features ---------------------------------------------- */

static uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint32_t word_key(uint64_t h)
{
    return (uint32_t)(h >> 33); /* top bit 0: word block */
}

static uint32_t char_key(uint64_t h)
{
    return (uint32_t)(h >> 33) | 0x80000000u; /* top bit 1: character block */
}

static int is_char_key(uint32_t key)
{
    return (key >> 31) != 0;
}

typedef struct fscratch {
    uint32_t key[FS_SLOTS];
    uint16_t cnt[FS_SLOTS]; /* 0: empty slot */
    uint16_t used[INTENT_MAX_TEXT_FEATURES];
    unsigned n;
    int full;
} fscratch;

static void fs_add(fscratch *fs, uint32_t key)
{
    uint32_t i = (key * 0x9e3779b1u) >> (32 - FS_BITS);
    for (;;) {
        if (fs->cnt[i] == 0) {
            if (fs->n == INTENT_MAX_TEXT_FEATURES) {
                fs->full = 1;
                return;
            }
            fs->key[i] = key;
            fs->cnt[i] = 1;
            fs->used[fs->n++] = (uint16_t)i;
            return;
        }
        if (fs->key[i] == key) {
            if (fs->cnt[i] < TF_MAX)
                fs->cnt[i]++;
            return;
        }
        i = (i + 1) & (FS_SLOTS - 1);
    }
}

static int is_word_byte(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of an apostrophe (' or U+2019) at s[i], else 0. */
static size_t apos_len(const unsigned char *s, size_t i, size_t len)
{
    if (s[i] == '\'')
        return 1;
    if (s[i] == 0xe2 && i + 2 < len && s[i + 1] == 0x80 && s[i + 2] == 0x99)
        return 3;
    return 0;
}

/* Bytes of a non-ASCII separator at s[i] (U+0080..U+00BF: NBSP, Latin-1
 * punctuation; U+2000..U+206F general punctuation except U+2019), else 0. */
static size_t nonascii_sep_len(const unsigned char *s, size_t i, size_t len)
{
    if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0xbf)
        return 2;
    if (s[i] == 0xe2 && i + 2 < len && (s[i + 1] == 0x80 || s[i + 1] == 0x81) && s[i + 2] >= 0x80 &&
        s[i + 2] <= 0xbf)
        return 3;
    return 0;
}

static void word_features(const intent_params *p, fscratch *fs, unsigned char *wb, size_t wl,
                          uint64_t *prev, int *have_prev)
{
    if (p->word_ngrams >= 1) {
        uint64_t h = SEED_WORD;
        for (size_t i = 1; i <= wl; i++)
            h = (h ^ wb[i]) * FNV_PRIME;
        h = fmix64(h);
        fs_add(fs, word_key(h));
        if (p->word_ngrams >= 2 && *have_prev)
            fs_add(fs, word_key(fmix64(SEED_PAIR ^ *prev ^ ((h << 17) | (h >> 47)))));
        *prev = h;
        *have_prev = 1;
    }
    /* Character n-grams of " word ". */
    size_t pl = wl + 2;
    wb[0] = ' ';
    wb[wl + 1] = ' ';
    for (size_t s = 0; s < pl && !fs->full; s++) {
        uint64_t h = SEED_CHAR;
        for (size_t j = 0; j < (size_t)p->char_max && s + j < pl; j++) {
            h = (h ^ wb[s + j]) * FNV_PRIME;
            if (j + 1 >= (size_t)p->char_min)
                fs_add(fs, char_key(fmix64(h)));
        }
    }
}

/* Collects the distinct features of text with their counts. */
static void featurize(const intent_params *p, const char *text, size_t len, fscratch *fs)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char wb[WORD_MAX + 2];
    uint64_t prev = 0;
    int have_prev = 0;
    size_t i = 0;

    memset(fs->cnt, 0, sizeof fs->cnt);
    fs->n = 0;
    fs->full = 0;
    while (i < len && !fs->full) {
        size_t k;
        if ((k = apos_len(s, i, len)) || (k = nonascii_sep_len(s, i, len)) ||
            (k = !is_word_byte(s[i]))) {
            i += k;
            continue;
        }
        size_t wl = 0;
        while (i < len) {
            unsigned char c = s[i];
            if ((k = apos_len(s, i, len))) {
                /* Inside a word only: between two word bytes. */
                if (i + k < len && is_word_byte(s[i + k]) && !apos_len(s, i + k, len) &&
                    !nonascii_sep_len(s, i + k, len)) {
                    if (wl < WORD_MAX)
                        wb[1 + wl++] = '\'';
                    i += k;
                    continue;
                }
                break;
            }
            if (!is_word_byte(c) || nonascii_sep_len(s, i, len))
                break;
            if (wl < WORD_MAX)
                wb[1 + wl++] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
            i++;
        }
        word_features(p, fs, wb, wl, &prev, &have_prev);
    }
}

/* ---- dictionary --------------------------------------------------------- */

static uint32_t dict_find(const intent_model *m, uint32_t key)
{
    if (!m->tabcap)
        return NONE;
    uint32_t mask = m->tabcap - 1, i = (key * 0x85ebca6bu) & mask;
    for (;;) {
        uint32_t r = m->tab[i];
        if (!r)
            return NONE;
        if (m->keys[r - 1] == key)
            return r - 1;
        i = (i + 1) & mask;
    }
}

static void dict_insert_slot(uint32_t *tab, uint32_t cap, uint32_t key, uint32_t row)
{
    uint32_t mask = cap - 1, i = (key * 0x85ebca6bu) & mask;
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = row + 1;
}

/* Makes room for extra more rows (no change to the rows themselves). */
static int dict_reserve(intent_model *m, uint32_t extra)
{
    uint64_t need = (uint64_t)m->nrows + extra;
    if (need > m->p.max_features)
        need = m->p.max_features;
    if (need > m->caprows) {
        uint64_t cap = m->caprows ? m->caprows : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > m->p.max_features)
            cap = m->p.max_features;
        uint32_t *k = cd_realloc(m->keys, cap * sizeof *k);
        if (!k)
            return CD_ENOMEM;
        m->keys = k;
        uint32_t *d = cd_realloc(m->df, cap * sizeof *d);
        if (!d)
            return CD_ENOMEM;
        m->df = d;
        float *f = cd_realloc(m->idf, cap * sizeof *f);
        if (!f)
            return CD_ENOMEM;
        m->idf = f;
        if (m->stride) {
            float *w = cd_realloc(m->w, cap * m->stride * sizeof *w);
            if (!w)
                return CD_ENOMEM;
            memset(w + (size_t)m->caprows * m->stride, 0,
                   (cap - m->caprows) * m->stride * sizeof *w);
            m->w = w;
        }
        m->caprows = (uint32_t)cap;
    }
    if (need * 2 > m->tabcap) {
        uint64_t cap = m->tabcap ? m->tabcap : 2048;
        while (cap < need * 2)
            cap *= 2;
        uint32_t *t = cd_calloc(cap, sizeof *t);
        if (!t)
            return CD_ENOMEM;
        for (uint32_t r = 0; r < m->nrows; r++)
            dict_insert_slot(t, (uint32_t)cap, m->keys[r], r);
        cd_free(m->tab);
        m->tab = t;
        m->tabcap = (uint32_t)cap;
    }
    return CD_OK;
}

/* Adds a row for key; room must have been reserved. NONE when full. */
static uint32_t dict_add(intent_model *m, uint32_t key)
{
    if (m->nrows >= m->p.max_features || m->nrows >= m->caprows)
        return NONE;
    uint32_t r = m->nrows++;
    m->keys[r] = key;
    m->df[r] = 0;
    m->idf[r] = 1.0f;
    dict_insert_slot(m->tab, m->tabcap, key, r);
    return r;
}

/* ---- categories --------------------------------------------------------- */

static uint32_t str_hash(const char *s)
{
    uint64_t h = SEED_WORD;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * FNV_PRIME;
    return (uint32_t)fmix64(h);
}

static uint32_t cat_find(const intent_model *m, const char *name)
{
    if (!m->cat_tabcap)
        return NONE;
    uint32_t mask = m->cat_tabcap - 1, i = str_hash(name) & mask;
    for (;;) {
        uint32_t c = m->cat_tab[i];
        if (!c)
            return NONE;
        if (strcmp(m->cat[c - 1], name) == 0)
            return c - 1;
        i = (i + 1) & mask;
    }
}

static void cat_insert_slot(uint32_t *tab, uint32_t cap, const char *name, uint32_t id)
{
    uint32_t mask = cap - 1, i = str_hash(name) & mask;
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = id + 1;
}

/* Weight stride for n categories: a multiple of 8. */
static uint32_t stride_for(uint32_t n)
{
    return (n + 7) & ~7u;
}

/* Makes room for one more category (arrays, table, weight stride). */
static int cat_reserve(intent_model *m)
{
    uint32_t need = m->ncat + 1;
    if (need > m->capcat) {
        uint32_t cap = m->capcat ? m->capcat * 2 : 16;
        char **c = cd_realloc(m->cat, cap * sizeof *c);
        if (!c)
            return CD_ENOMEM;
        m->cat = c;
        uint32_t *n = cd_realloc(m->cat_n, cap * sizeof *n);
        if (!n)
            return CD_ENOMEM;
        m->cat_n = n;
        m->capcat = cap;
    }
    if (need * 2 > m->cat_tabcap) {
        uint32_t cap = m->cat_tabcap ? m->cat_tabcap * 2 : 32;
        uint32_t *t = cd_calloc(cap, sizeof *t);
        if (!t)
            return CD_ENOMEM;
        for (uint32_t i = 0; i < m->ncat; i++)
            cat_insert_slot(t, cap, m->cat[i], i);
        cd_free(m->cat_tab);
        m->cat_tab = t;
        m->cat_tabcap = cap;
    }
    if (need > m->stride) {
        uint32_t st = stride_for(need);
        float *w = NULL;
        if (m->caprows) {
            w = cd_calloc((size_t)m->caprows * st, sizeof *w);
            if (!w)
                return CD_ENOMEM;
        }
        float *b = cd_calloc(st, sizeof *b);
        if (!b) {
            cd_free(w);
            return CD_ENOMEM;
        }
        for (uint32_t r = 0; r < m->nrows; r++)
            memcpy(w + (size_t)r * st, m->w + (size_t)r * m->stride, m->ncat * sizeof *w);
        if (m->ncat)
            memcpy(b, m->b, m->ncat * sizeof *b);
        cd_free(m->w);
        cd_free(m->b);
        m->w = w;
        m->b = b;
        m->stride = st;
    }
    return CD_OK;
}

/* ---- vectors and scores ------------------------------------------------- */

/* Values of features rows[0..n) with term frequencies tf: sublinear tf x
 * idf, each block L2-normalised and scaled. Returns the squared norm
 * (bias included). */
static float make_values(const intent_model *m, const uint32_t *rows, const uint16_t *tf,
                         unsigned n, float *vals)
{
    float nw = 0, nc = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t r = rows[i];
        float v = (1.0f + logf((float)tf[i])) * m->idf[r];
        vals[i] = v;
        if (is_char_key(m->keys[r]))
            nc += v * v;
        else
            nw += v * v;
    }
    float sw = nw > 0 ? m->p.word_weight / sqrtf(nw) : 0;
    float sc = nc > 0 ? m->p.char_weight / sqrtf(nc) : 0;
    for (unsigned i = 0; i < n; i++)
        vals[i] *= is_char_key(m->keys[rows[i]]) ? sc : sw;
    return (nw > 0 ? m->p.word_weight * m->p.word_weight : 0) +
           (nc > 0 ? m->p.char_weight * m->p.char_weight : 0) + m->p.bias * m->p.bias;
}

/* The one hot loop of training and prediction: built for AVX2 as well
 * where the compiler and the C library can pick the variant at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define HOT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HOT_CLONES
#endif

HOT_CLONES
static void score(const float *w, const float *b, uint32_t stride, uint32_t k, float bias,
                  const uint32_t *rows, const float *vals, unsigned n, float *s)
{
    for (uint32_t c = 0; c < k; c++)
        s[c] = b[c] * bias;
    for (unsigned i = 0; i < n; i++) {
        const float *wr = w + (size_t)rows[i] * stride;
        float v = vals[i];
        for (uint32_t c = 0; c < k; c++)
            s[c] += v * wr[c];
    }
}

static void add_row(float *w, float *b, uint32_t stride, uint32_t c, float bias,
                    const uint32_t *rows, const float *vals, unsigned n, float step)
{
    for (unsigned i = 0; i < n; i++)
        w[(size_t)rows[i] * stride + c] += step * vals[i];
    b[c] += step * bias;
}

/* One PA-I step on (x, y); scores in s (scratch). Returns the step size.
 * u/ub (may be NULL): the averaging sums, weighted by t. sq: the squared
 * norm of x with the constant feature's value `bias` (0: the biases stay). */
static float pa_step(const intent_model *m, float *w, float *b, float *u, float *ub, double t,
                     const uint32_t *rows, const float *vals, unsigned n, float sq, uint32_t y,
                     float cap, float bias, float *s)
{
    uint32_t k = m->ncat;
    if (k < 2)
        return 0;
    score(w, b, m->stride, k, m->p.bias, rows, vals, n, s);
    uint32_t r = NONE;
    float best = -FLT_MAX;
    for (uint32_t c = 0; c < k; c++)
        if (c != y && s[c] > best) {
            best = s[c];
            r = c;
        }
    float loss = 1.0f - (s[y] - best);
    if (loss <= 0)
        return 0;
    if (!(sq > 0))
        return 0;
    float tau = loss / (2.0f * sq);
    if (tau > cap)
        tau = cap;
    add_row(w, b, m->stride, y, bias, rows, vals, n, tau);
    add_row(w, b, m->stride, r, bias, rows, vals, n, -tau);
    if (u) {
        float tt = (float)(t * tau);
        add_row(u, ub, m->stride, y, bias, rows, vals, n, tt);
        add_row(u, ub, m->stride, r, bias, rows, vals, n, -tt);
    }
    return tau;
}

/* ---- lifecycle ---------------------------------------------------------- */

void intent_params_default(intent_params *p)
{
    p->char_min = 2;
    p->char_max = 4;
    p->word_ngrams = 2;
    p->word_weight = 1.0f;
    p->char_weight = 1.0f;
    p->bias = 1.0f;
    p->c = 0.1f;
    p->c_online = FLT_MAX;
    p->epochs = 10;
    p->calib_folds = 3;
    p->max_features = 1u << 20;
    p->seed = 0x5eed1e57c0ffee11ull;
}

static int params_ok(const intent_params *p)
{
    return p->char_min >= 1 && p->char_min <= p->char_max && p->char_max <= 8 &&
           p->word_ngrams >= 0 && p->word_ngrams <= 2 && p->word_weight >= 0 &&
           p->char_weight >= 0 && p->word_weight + p->char_weight > 0 && p->bias >= 0 &&
           p->bias <= 100 && p->c > 0 && p->c <= 1e6f && p->c_online > 0 &&
           p->c_online <= FLT_MAX && p->epochs >= 1 && p->epochs <= 1000 && p->calib_folds >= 0 &&
           p->calib_folds <= 20 && p->max_features >= 1 && p->max_features <= (1u << 28) &&
           isfinite(p->word_weight) && isfinite(p->char_weight) && isfinite(p->bias);
}

intent_model *intent_new_with(const intent_params *p)
{
    if (!p || !params_ok(p))
        return NULL;
    intent_model *m = cd_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->p = *p;
    m->temp = 1.0;
    m->ex_off = cd_malloc(sizeof *m->ex_off);
    if (!m->ex_off) {
        cd_free(m);
        return NULL;
    }
    m->ex_off[0] = 0;
    return m;
}

intent_model *intent_new(void)
{
    intent_params p;
    intent_params_default(&p);
    return intent_new_with(&p);
}

void intent_free(intent_model *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->ncat; i++)
        cd_free(m->cat[i]);
    cd_free(m->cat);
    cd_free(m->cat_n);
    cd_free(m->cat_tab);
    cd_free(m->keys);
    cd_free(m->df);
    cd_free(m->idf);
    cd_free(m->tab);
    cd_free(m->w);
    cd_free(m->b);
    cd_free(m->ex_cat);
    cd_free(m->ex_off);
    cd_free(m->ex_row);
    cd_free(m->ex_tf);
    cd_free(m);
}

static void *dup_mem(const void *src, size_t n)
{
    void *d = cd_malloc(n);
    if (d && n)
        memcpy(d, src, n);
    return d;
}

intent_model *intent_clone(const intent_model *m)
{
    if (!m)
        return NULL;
    intent_model *c = cd_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = *m;
    c->cat = NULL;
    c->ncat = 0;
    c->cat_n = c->cat_tab = c->keys = c->df = c->tab = c->ex_cat = c->ex_row = NULL;
    c->idf = c->w = c->b = NULL;
    c->ex_off = NULL;
    c->ex_tf = NULL;
    int ok = 1;
    ok = ok && (c->cat = cd_calloc(m->capcat ? m->capcat : 1, sizeof *c->cat));
    for (uint32_t i = 0; ok && i < m->ncat; i++, c->ncat++)
        ok = (c->cat[i] = cd_strdup(m->cat[i])) != NULL;
    ok = ok && (c->cat_n = dup_mem(m->cat_n, m->capcat * sizeof *m->cat_n));
    ok = ok && (c->cat_tab = dup_mem(m->cat_tab, m->cat_tabcap * sizeof *m->cat_tab));
    ok = ok && (c->keys = dup_mem(m->keys, m->caprows * sizeof *m->keys));
    ok = ok && (c->df = dup_mem(m->df, m->caprows * sizeof *m->df));
    ok = ok && (c->idf = dup_mem(m->idf, m->caprows * sizeof *m->idf));
    ok = ok && (c->tab = dup_mem(m->tab, m->tabcap * sizeof *m->tab));
    ok = ok && (c->w = dup_mem(m->w, (size_t)m->caprows * m->stride * sizeof *m->w));
    ok = ok && (c->b = dup_mem(m->b, m->stride * sizeof *m->b));
    ok = ok && (c->ex_cat = dup_mem(m->ex_cat, m->capex * sizeof *m->ex_cat));
    ok = ok && (c->ex_off = dup_mem(m->ex_off, ((size_t)m->capex + 1) * sizeof *m->ex_off));
    ok = ok && (c->ex_row = dup_mem(m->ex_row, m->capfeat * sizeof *m->ex_row));
    ok = ok && (c->ex_tf = dup_mem(m->ex_tf, m->capfeat * sizeof *m->ex_tf));
    if (!ok) {
        intent_free(c);
        return NULL;
    }
    return c;
}

/* ---- learning ----------------------------------------------------------- */

static int examples_reserve(intent_model *m, size_t nfeat)
{
    if (m->nex + 1 > m->capex) {
        uint32_t cap = m->capex ? m->capex * 2 : 256;
        if (cap > INTENT_MAX_EXAMPLES)
            cap = INTENT_MAX_EXAMPLES;
        uint32_t *c = cd_realloc(m->ex_cat, cap * sizeof *c);
        if (!c)
            return CD_ENOMEM;
        m->ex_cat = c;
        size_t *o = cd_realloc(m->ex_off, ((size_t)cap + 1) * sizeof *o);
        if (!o)
            return CD_ENOMEM;
        m->ex_off = o;
        m->capex = cap;
    }
    size_t need = m->ex_off[m->nex] + nfeat;
    if (need > m->capfeat) {
        size_t cap = m->capfeat ? m->capfeat * 2 : 1 << 16;
        while (cap < need)
            cap *= 2;
        uint32_t *r = cd_realloc(m->ex_row, cap * sizeof *r);
        if (!r)
            return CD_ENOMEM;
        m->ex_row = r;
        uint16_t *t = cd_realloc(m->ex_tf, cap * sizeof *t);
        if (!t)
            return CD_ENOMEM;
        m->ex_tf = t;
        m->capfeat = cap;
    }
    return CD_OK;
}

static float idf_of(uint32_t n, uint32_t df)
{
    return logf((1.0f + (float)n) / (1.0f + (float)df)) + 1.0f;
}

int intent_learn(intent_model *m, const char *text, size_t len, const char *category)
{
    if (!m || !category || (!text && len))
        return CD_EINVAL;
    size_t cl = strnlen(category, INTENT_MAX_CATEGORY + 1);
    if (cl == 0 || cl > INTENT_MAX_CATEGORY)
        return CD_EINVAL;
    if (m->nex >= INTENT_MAX_EXAMPLES)
        return CD_ETOOBIG;
    uint32_t y = cat_find(m, category);
    if (y == NONE && m->ncat >= INTENT_MAX_CATEGORIES)
        return CD_ETOOBIG;

    fscratch fs;
    featurize(&m->p, text ? text : "", len, &fs);

    /* Reserve everything first, so a failure changes nothing visible. */
    int rc;
    char *name = NULL;
    if (y == NONE) {
        if ((rc = cat_reserve(m)) != CD_OK)
            return rc;
        if (!(name = cd_strndup(category, cl)))
            return CD_ENOMEM;
    }
    if ((rc = dict_reserve(m, fs.n)) != CD_OK || (rc = examples_reserve(m, fs.n)) != CD_OK) {
        cd_free(name);
        return rc;
    }
    if (y == NONE) {
        y = m->ncat++;
        m->cat[y] = name;
        m->cat_n[y] = 0;
        cat_insert_slot(m->cat_tab, m->cat_tabcap, name, y);
    }
    m->cat_n[y]++;

    /* The example's rows, new features added to the dictionary. */
    size_t off = m->ex_off[m->nex];
    uint32_t *rows = m->ex_row + off;
    uint16_t *tf = m->ex_tf + off;
    unsigned n = 0;
    for (unsigned i = 0; i < fs.n; i++) {
        uint32_t slot = fs.used[i], key = fs.key[slot];
        uint32_t r = dict_find(m, key);
        if (r == NONE && (r = dict_add(m, key)) == NONE)
            continue;
        rows[n] = r;
        tf[n] = fs.cnt[slot];
        n++;
    }
    m->ex_cat[m->nex] = y;
    m->ex_off[m->nex + 1] = off + n;
    m->nex++;
    for (unsigned i = 0; i < n; i++) {
        m->df[rows[i]]++;
        m->idf[rows[i]] = idf_of(m->nex, m->df[rows[i]]);
    }

    /* One online step, so that predictions reflect the example now. The
     * biases stay: a category's first examples would otherwise raise its
     * bias over everything the last refit learned. */
    float vals[INTENT_MAX_TEXT_FEATURES], s[INTENT_MAX_CATEGORIES];
    float sq = make_values(m, rows, tf, n, vals) - m->p.bias * m->p.bias;
    pa_step(m, m->w, m->b, NULL, NULL, 0, rows, vals, n, sq, y, m->p.c_online, 0, s);
    return CD_OK;
}

/* ---- training ----------------------------------------------------------- */

static uint64_t rng_next(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void shuffle(uint32_t *a, uint32_t n, uint64_t *st)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)(rng_next(st) % i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

typedef struct trainset {
    const float *vals; /* per feature of ex_row, precomputed */
    const float *sq;   /* squared norm per example */
} trainset;

/* Trains averaged PA-I on examples idx[0..n) into w/b (zeroed here); u/ub
 * scratch of the same sizes. */
static void train_on(const intent_model *m, const trainset *ts, uint32_t *idx, uint32_t n,
                     uint64_t seed, float *w, float *b, float *u, float *ub, float *s)
{
    size_t wn = (size_t)m->nrows * m->stride;
    memset(w, 0, wn * sizeof *w);
    memset(u, 0, wn * sizeof *u);
    memset(b, 0, m->stride * sizeof *b);
    memset(ub, 0, m->stride * sizeof *ub);
    uint64_t st = seed;
    double t = 1;
    for (int e = 0; e < m->p.epochs; e++) {
        shuffle(idx, n, &st);
        for (uint32_t j = 0; j < n; j++, t++) {
            uint32_t i = idx[j];
            size_t o = m->ex_off[i];
            unsigned nf = (unsigned)(m->ex_off[i + 1] - o);
            pa_step(m, w, b, u, ub, t, m->ex_row + o, ts->vals + o, nf, ts->sq[i], m->ex_cat[i],
                    m->p.c, m->p.bias, s);
        }
    }
    /* Averaged weights: w - u / t. */
    float inv = (float)(1.0 / t);
    for (size_t i = 0; i < wn; i++)
        w[i] -= u[i] * inv;
    for (uint32_t c = 0; c < m->stride; c++)
        b[c] -= ub[c] * inv;
}

/* Out-of-fold scores kept for the temperature fit: per example the
 * CALIB_TOP highest scores minus the highest (descending), and the true
 * category's, with whether it is among them. Categories further down add
 * less than exp(-gap / t) each to the softmax's denominator: nothing at the
 * temperatures that fit. */
#define CALIB_TOP 32
#define CALIB_ENOUGH 2000

typedef struct calib {
    float *d;    /* n x CALIB_TOP, unused tail -inf */
    float *dy;   /* n */
    uint8_t *in; /* n: true category among the top */
    uint32_t n;
} calib;

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static void calib_add(calib *cb, float *s, uint32_t k, uint32_t y)
{
    float mx = s[0];
    for (uint32_t c = 1; c < k; c++)
        if (s[c] > mx)
            mx = s[c];
    float sy = s[y] - mx;
    for (uint32_t c = 0; c < k; c++)
        s[c] -= mx;
    qsort(s, k, sizeof *s, cmp_desc);
    float *d = cb->d + (size_t)cb->n * CALIB_TOP;
    uint32_t top = k < CALIB_TOP ? k : CALIB_TOP;
    for (uint32_t i = 0; i < CALIB_TOP; i++)
        d[i] = i < top ? s[i] : -INFINITY;
    cb->dy[cb->n] = sy;
    cb->in[cb->n] = sy >= s[top - 1];
    cb->n++;
}

/* Mean log-loss at temperature t. */
static double nll(const calib *cb, double t)
{
    double sum = 0;
    float inv = (float)(1.0 / t);
    for (uint32_t i = 0; i < cb->n; i++) {
        const float *d = cb->d + (size_t)i * CALIB_TOP;
        float z = 0;
        for (uint32_t c = 0; c < CALIB_TOP; c++)
            z += expf(d[c] * inv);
        if (!cb->in[i])
            z += expf(cb->dy[i] * inv);
        sum += log(z) - cb->dy[i] * inv;
    }
    return sum / cb->n;
}

/* Golden-section search of log t in [log 1e-3, log 1e3]. */
static double fit_temperature(const calib *cb)
{
    const double g = 0.6180339887498949;
    double a = log(1e-3), bb = log(1e3);
    double x1 = bb - g * (bb - a), x2 = a + g * (bb - a);
    double f1 = nll(cb, exp(x1)), f2 = nll(cb, exp(x2));
    while (bb - a > 1e-3) {
        if (f1 < f2) {
            bb = x2;
            x2 = x1;
            f2 = f1;
            x1 = bb - g * (bb - a);
            f1 = nll(cb, exp(x1));
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (bb - a);
            f2 = nll(cb, exp(x2));
        }
    }
    return exp((a + bb) / 2);
}

int intent_train(intent_model *m)
{
    if (!m)
        return CD_EINVAL;
    if (m->nex == 0)
        return CD_OK;
    uint32_t n = m->nex, k = m->ncat, stride = m->stride;
    size_t nfeat = m->ex_off[n], wn = (size_t)m->nrows * stride;
    if (k < 2) {
        for (uint32_t r = 0; r < m->nrows; r++)
            m->idf[r] = idf_of(n, m->df[r]);
        m->trained = n;
        return CD_OK;
    }

    int rc = CD_ENOMEM;
    float *vals = cd_malloc((nfeat ? nfeat : 1) * sizeof *vals);
    float *sq = cd_malloc((size_t)n * sizeof *sq);
    uint32_t *idx = cd_malloc((size_t)n * sizeof *idx);
    float *w = cd_malloc((size_t)m->caprows * stride * sizeof *w);
    float *u = cd_malloc((wn ? wn : 1) * sizeof *u);
    float *b = cd_malloc(stride * sizeof *b);
    float *ub = cd_malloc(stride * sizeof *ub);
    float *s = cd_malloc(stride * sizeof *s);
    calib cb = {0};
    uint32_t *fold = NULL, *seen = NULL;
    uint32_t folds = (uint32_t)m->p.calib_folds;
    int calibrate = folds >= 2 && n >= 2 * folds;
    if (calibrate) {
        cb.d = cd_malloc((size_t)n * CALIB_TOP * sizeof *cb.d);
        cb.dy = cd_malloc((size_t)n * sizeof *cb.dy);
        cb.in = cd_malloc((size_t)n * sizeof *cb.in);
        fold = cd_malloc((size_t)n * sizeof *fold);
        seen = cd_calloc(k, sizeof *seen);
        if (!cb.d || !cb.dy || !cb.in || !fold || !seen)
            goto out;
    }
    if (!vals || !sq || !idx || !w || !u || !b || !ub || !s)
        goto out;
    /* Nothing fails from here on. */
    for (uint32_t r = 0; r < m->nrows; r++)
        m->idf[r] = idf_of(n, m->df[r]);
    for (uint32_t i = 0; i < n; i++) {
        size_t o = m->ex_off[i];
        sq[i] =
            make_values(m, m->ex_row + o, m->ex_tf + o, (unsigned)(m->ex_off[i + 1] - o), vals + o);
    }
    trainset ts = {vals, sq};

    /* Temperature: out-of-fold scores of stratified folds, fold after fold
     * until CALIB_ENOUGH are collected (every fold on small sets, one on
     * large ones, which bounds the cost). */
    double temp = 1.0;
    if (calibrate) {
        uint64_t st = m->p.seed ^ 0xf01df01df01df01dull;
        for (uint32_t i = 0; i < n; i++)
            idx[i] = i;
        shuffle(idx, n, &st);
        for (uint32_t j = 0; j < n; j++) {
            uint32_t i = idx[j];
            fold[i] = seen[m->ex_cat[i]]++ % folds;
        }
        for (uint32_t f = 0; f < folds && cb.n < CALIB_ENOUGH; f++) {
            uint32_t nt = 0;
            for (uint32_t i = 0; i < n; i++)
                if (fold[i] != f)
                    idx[nt++] = i;
            train_on(m, &ts, idx, nt, m->p.seed + f + 1, w, b, u, ub, s);
            for (uint32_t i = 0; i < n; i++) {
                if (fold[i] != f)
                    continue;
                size_t o = m->ex_off[i];
                score(w, b, stride, k, m->p.bias, m->ex_row + o, vals + o,
                      (unsigned)(m->ex_off[i + 1] - o), s);
                calib_add(&cb, s, k, m->ex_cat[i]);
            }
        }
        temp = fit_temperature(&cb);
    }

    for (uint32_t i = 0; i < n; i++)
        idx[i] = i;
    train_on(m, &ts, idx, n, m->p.seed, w, b, u, ub, s);
    memset(w + wn, 0, ((size_t)m->caprows * stride - wn) * sizeof *w);
    cd_free(m->w);
    cd_free(m->b);
    m->w = w;
    m->b = b;
    w = b = NULL;
    m->temp = temp;
    m->trained = n;
    rc = CD_OK;
out:
    cd_free(vals);
    cd_free(sq);
    cd_free(idx);
    cd_free(w);
    cd_free(u);
    cd_free(b);
    cd_free(ub);
    cd_free(s);
    cd_free(cb.d);
    cd_free(cb.dy);
    cd_free(cb.in);
    cd_free(fold);
    cd_free(seen);
    return rc;
}

int intent_maybe_train(intent_model *m, size_t min_new, double fraction, int *trained)
{
    if (trained)
        *trained = 0;
    if (!m)
        return CD_EINVAL;
    size_t pending = m->nex - m->trained;
    double need = fraction * m->nex;
    if (pending == 0 || pending < min_new || (double)pending < need)
        return CD_OK;
    int rc = intent_train(m);
    if (rc == CD_OK && trained)
        *trained = 1;
    return rc;
}

/* ---- prediction --------------------------------------------------------- */

int intent_predict(const intent_model *m, const char *text, size_t len, intent_prediction *out)
{
    if (!out)
        return CD_EINVAL;
    memset(out, 0, sizeof *out);
    if (!m || (!text && len))
        return CD_EINVAL;
    if (m->ncat == 0)
        return CD_ESTATE;
    if (m->ncat == 1) {
        out->category = out->top[0].category = m->cat[0];
        out->confidence = out->top[0].confidence = (m->nex + 1.0) / (m->nex + 2.0);
        out->ntop = 1;
        return CD_OK;
    }

    fscratch fs;
    featurize(&m->p, text ? text : "", len, &fs);
    uint32_t rows[INTENT_MAX_TEXT_FEATURES];
    uint16_t tf[INTENT_MAX_TEXT_FEATURES];
    float vals[INTENT_MAX_TEXT_FEATURES], s[INTENT_MAX_CATEGORIES];
    unsigned n = 0;
    for (unsigned i = 0; i < fs.n; i++) {
        uint32_t slot = fs.used[i];
        uint32_t r = dict_find(m, fs.key[slot]);
        if (r == NONE)
            continue;
        rows[n] = r;
        tf[n] = fs.cnt[slot];
        n++;
    }
    make_values(m, rows, tf, n, vals);
    uint32_t k = m->ncat;
    score(m->w, m->b, m->stride, k, m->p.bias, rows, vals, n, s);

    /* Softmax at the fitted temperature; the best INTENT_TOP. */
    uint32_t best[INTENT_TOP];
    int nb = 0;
    for (uint32_t c = 0; c < k; c++) {
        int at = nb;
        while (at > 0 && s[c] > s[best[at - 1]])
            at--;
        if (at >= INTENT_TOP)
            continue;
        if (nb < INTENT_TOP)
            nb++;
        memmove(best + at + 1, best + at, (size_t)(nb - 1 - at) * sizeof *best);
        best[at] = c;
    }
    double inv = 1.0 / m->temp, mx = s[best[0]], z = 0;
    for (uint32_t c = 0; c < k; c++)
        z += exp((s[c] - mx) * inv);
    for (int i = 0; i < nb; i++) {
        double pr = exp((s[best[i]] - mx) * inv) / z;
        if (!(pr >= 0))
            pr = 0;
        if (pr > 1)
            pr = 1;
        out->top[i].category = m->cat[best[i]];
        out->top[i].confidence = pr;
    }
    out->ntop = nb;
    out->category = out->top[0].category;
    out->confidence = out->top[0].confidence;
    return CD_OK;
}

/* ---- accessors ---------------------------------------------------------- */

size_t intent_examples(const intent_model *m)
{
    return m ? m->nex : 0;
}

size_t intent_pending(const intent_model *m)
{
    return m ? m->nex - m->trained : 0;
}

size_t intent_categories(const intent_model *m)
{
    return m ? m->ncat : 0;
}

const char *intent_category(const intent_model *m, size_t i)
{
    return m && i < m->ncat ? m->cat[i] : NULL;
}

size_t intent_features(const intent_model *m)
{
    return m ? m->nrows : 0;
}

double intent_temperature(const intent_model *m)
{
    return m ? m->temp : 1.0;
}

/* ---- serialisation ------------------------------------------------------ */

#define MAGIC "CDINTNT1"

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int err;
} wbuf;

static void put(wbuf *b, const void *src, size_t n)
{
    if (b->err)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = cd_realloc(b->p, cap);
        if (!p) {
            b->err = CD_ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u32(wbuf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, x, 4);
}

static void put_u64(wbuf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_f32(wbuf *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}

static void put_f64(wbuf *b, double f)
{
    uint64_t v;
    memcpy(&v, &f, 8);
    put_u64(b, v);
}

int intent_save(const intent_model *m, unsigned char **out, size_t *outlen)
{
    if (!m || !out || !outlen)
        return CD_EINVAL;
    wbuf b = {0};
    const intent_params *p = &m->p;
    put(&b, MAGIC, 8);
    put_u32(&b, (uint32_t)p->char_min);
    put_u32(&b, (uint32_t)p->char_max);
    put_u32(&b, (uint32_t)p->word_ngrams);
    put_f32(&b, p->word_weight);
    put_f32(&b, p->char_weight);
    put_f32(&b, p->bias);
    put_f32(&b, p->c);
    put_f32(&b, p->c_online);
    put_u32(&b, (uint32_t)p->epochs);
    put_u32(&b, (uint32_t)p->calib_folds);
    put_u32(&b, p->max_features);
    put_u64(&b, p->seed);
    put_f64(&b, m->temp);
    put_u32(&b, m->ncat);
    for (uint32_t c = 0; c < m->ncat; c++) {
        uint32_t l = (uint32_t)strlen(m->cat[c]);
        put_u32(&b, l);
        put(&b, m->cat[c], l);
        put_u32(&b, m->cat_n[c]);
    }
    put_u32(&b, m->nrows);
    for (uint32_t r = 0; r < m->nrows; r++) {
        put_u32(&b, m->keys[r]);
        put_u32(&b, m->df[r]);
        put_f32(&b, m->idf[r]);
    }
    for (uint32_t r = 0; r < m->nrows; r++)
        for (uint32_t c = 0; c < m->ncat; c++)
            put_f32(&b, m->w[(size_t)r * m->stride + c]);
    for (uint32_t c = 0; c < m->ncat; c++)
        put_f32(&b, m->b[c]);
    put_u32(&b, m->nex);
    put_u32(&b, m->trained);
    for (uint32_t i = 0; i < m->nex; i++) {
        size_t o = m->ex_off[i];
        uint32_t nf = (uint32_t)(m->ex_off[i + 1] - o);
        put_u32(&b, m->ex_cat[i]);
        put_u32(&b, nf);
        for (uint32_t j = 0; j < nf; j++) {
            put_u32(&b, m->ex_row[o + j]);
            unsigned char t[2] = {(unsigned char)m->ex_tf[o + j],
                                  (unsigned char)(m->ex_tf[o + j] >> 8)};
            put(&b, t, 2);
        }
    }
    if (b.err) {
        cd_free(b.p);
        return b.err;
    }
    *out = b.p;
    *outlen = b.len;
    return CD_OK;
}

typedef struct rbuf {
    const unsigned char *p;
    size_t len, at;
    int bad;
} rbuf;

static const unsigned char *take(rbuf *r, size_t n)
{
    if (r->bad || r->len - r->at < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->at;
    r->at += n;
    return p;
}

static uint32_t get_u32(rbuf *r)
{
    const unsigned char *x = take(r, 4);
    return x ? (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24
             : 0;
}

static uint64_t get_u64(rbuf *r)
{
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

static float get_f32(rbuf *r)
{
    uint32_t v = get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    if (!isfinite(f))
        r->bad = 1;
    return f;
}

static double get_f64(rbuf *r)
{
    uint64_t v = get_u64(r);
    double f;
    memcpy(&f, &v, 8);
    if (!isfinite(f))
        r->bad = 1;
    return f;
}

int intent_load(const unsigned char *buf, size_t len, intent_model **out)
{
    if (!out)
        return CD_EINVAL;
    *out = NULL;
    if (!buf)
        return CD_EINVAL;
    rbuf r = {buf, len, 0, 0};
    const unsigned char *mg = take(&r, 8);
    if (!mg || memcmp(mg, MAGIC, 8) != 0)
        return CD_EINVAL;
    intent_params p;
    p.char_min = (int)get_u32(&r);
    p.char_max = (int)get_u32(&r);
    p.word_ngrams = (int)get_u32(&r);
    p.word_weight = get_f32(&r);
    p.char_weight = get_f32(&r);
    p.bias = get_f32(&r);
    p.c = get_f32(&r);
    p.c_online = get_f32(&r);
    p.epochs = (int)get_u32(&r);
    p.calib_folds = (int)get_u32(&r);
    p.max_features = get_u32(&r);
    p.seed = get_u64(&r);
    double temp = get_f64(&r);
    if (r.bad || !params_ok(&p) || !(temp > 0))
        return CD_EINVAL;
    intent_model *m = intent_new_with(&p);
    if (!m)
        return CD_ENOMEM;
    m->temp = temp;
    int rc = CD_EINVAL;

    uint32_t ncat = get_u32(&r);
    if (r.bad || ncat > INTENT_MAX_CATEGORIES)
        goto fail;
    for (uint32_t c = 0; c < ncat; c++) {
        uint32_t l = get_u32(&r);
        if (r.bad || l == 0 || l > INTENT_MAX_CATEGORY)
            goto fail;
        const unsigned char *s = take(&r, l);
        uint32_t cnt = get_u32(&r);
        if (r.bad || memchr(s, 0, l))
            goto fail;
        if ((rc = cat_reserve(m)) != CD_OK)
            goto fail;
        rc = CD_EINVAL;
        char *name = cd_strndup((const char *)s, l);
        if (!name) {
            rc = CD_ENOMEM;
            goto fail;
        }
        if (cat_find(m, name) != NONE) {
            cd_free(name);
            goto fail;
        }
        m->cat[m->ncat] = name;
        m->cat_n[m->ncat] = cnt;
        cat_insert_slot(m->cat_tab, m->cat_tabcap, name, m->ncat);
        m->ncat++;
    }

    uint32_t nrows = get_u32(&r);
    if (r.bad || nrows > p.max_features || (size_t)nrows * 12 > len - r.at)
        goto fail;
    if ((rc = dict_reserve(m, nrows)) != CD_OK)
        goto fail;
    rc = CD_EINVAL;
    for (uint32_t i = 0; i < nrows; i++) {
        uint32_t key = get_u32(&r), df = get_u32(&r);
        float idf = get_f32(&r);
        if (r.bad || dict_find(m, key) != NONE)
            goto fail;
        uint32_t row = dict_add(m, key);
        m->df[row] = df;
        m->idf[row] = idf;
    }
    if (ncat && (size_t)nrows * ncat * 4 > len - r.at)
        goto fail;
    for (uint32_t i = 0; i < nrows; i++)
        for (uint32_t c = 0; c < ncat; c++)
            m->w[(size_t)i * m->stride + c] = get_f32(&r);
    for (uint32_t c = 0; c < ncat; c++)
        m->b[c] = get_f32(&r);
    uint32_t nex = get_u32(&r), trained = get_u32(&r);
    if (r.bad || nex > INTENT_MAX_EXAMPLES || trained > nex || (size_t)nex * 8 > len - r.at)
        goto fail;
    for (uint32_t i = 0; i < nex; i++) {
        uint32_t cat = get_u32(&r), nf = get_u32(&r);
        if (r.bad || cat >= ncat || nf > INTENT_MAX_TEXT_FEATURES || (size_t)nf * 6 > len - r.at)
            goto fail;
        if ((rc = examples_reserve(m, nf)) != CD_OK)
            goto fail;
        rc = CD_EINVAL;
        size_t o = m->ex_off[m->nex];
        for (uint32_t j = 0; j < nf; j++) {
            uint32_t row = get_u32(&r);
            const unsigned char *t = take(&r, 2);
            if (r.bad || row >= nrows)
                goto fail;
            uint16_t tf = (uint16_t)(t[0] | t[1] << 8);
            if (tf == 0 || tf > TF_MAX)
                goto fail;
            m->ex_row[o + j] = row;
            m->ex_tf[o + j] = tf;
        }
        m->ex_cat[m->nex] = cat;
        m->ex_off[m->nex + 1] = o + nf;
        m->nex++;
    }
    m->trained = trained;
    for (uint32_t i = 0; i < nrows; i++)
        if (m->df[i] > nex)
            goto fail;
    if (r.bad || r.at != len)
        goto fail;
    *out = m;
    return CD_OK;
fail:
    intent_free(m);
    return rc;
}
