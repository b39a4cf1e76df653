/* sentiment.c - the sentiment engine (see sentiment.h, docs/sentiment.md).
 *
 * One pass over the bytes: whitespace splits raw tokens; a raw token with
 * punctuation is first looked up whole (emoticons such as ":)" or "<3"),
 * else split into words, emoji and punctuation. Words are lowercased into
 * a small stack buffer and looked up in an open-addressing table whose
 * slots carry part of the hash, so most misses touch one slot. The rules
 * that look back (intensifiers, negation, "kind of", "no") keep the last
 * three tokens of the clause. The capitals rule depends on the whole
 * message (it applies only when some but not all words are in capitals),
 * so the sum is kept both ways and the right one is picked at the end. */
#include "core/sentiment.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef CAREDESK_LEXICON_DIR
#define CAREDESK_LEXICON_DIR "lexicon"
#endif

#define MAXTOK 32            /* longer words are never looked up */
#define MAX_FILE (64u << 20) /* largest lexicon or weights file read */

/* VADER's constants (Hutto & Gilbert, 2014). */
#define B_INCR 0.293
#define B_DECR -0.293
#define C_INCR 0.733
#define N_SCALAR -0.74
#define ALPHA 15.0
#define EMOJI_SCALE 0.8 /* emoji-emotion's -5..5 onto VADER's -4..4 */

enum {
    F_LEX = 1 << 0,     /* has a lexicon valence */
    F_NEG = 1 << 1,     /* negator: not, never, isn't, ... */
    F_BOOST = 1 << 2,   /* intensifier or dampener; boost holds the amount */
    F_BUT = 1 << 3,     /* contrast */
    F_NEVER = 1 << 4,   /* "never" ("never so good" emphasises) */
    F_SOTHIS = 1 << 5,  /* "so", "this" */
    F_LEAST = 1 << 6,   /* "least" */
    F_NO = 1 << 7,      /* "no" */
    F_ORNOR = 1 << 8,   /* "or", "nor" */
    F_ATVERY = 1 << 9,  /* "at", "very" (before "least") */
    F_KIND = 1 << 10,   /* "kind", "sort" (before "of") */
    F_OF = 1 << 11,     /* "of" */
    F_EMOJI = 1 << 12,  /* an emoji entry */
    F_LEARNED = 1 << 13 /* has learned weights */
};

typedef struct entry {
    uint64_t pre; /* the key's first 8 bytes, zero-padded */
    uint32_t off; /* key in the arena */
    uint16_t len;
    uint16_t flags;
    float valence, boost;
    float w, wneg; /* learned: plain, within a negation */
} entry;

typedef struct slot {
    uint32_t tag;  /* high half of the hash */
    uint32_t idx1; /* entry index + 1; 0 = empty */
} slot;

typedef struct table {
    entry *e;
    size_t n, cap;
    slot *s;
    size_t mask; /* slots - 1 */
    char *keys;
    size_t klen, kcap;
} table;

struct sentiment_model {
    table t;
    double a, b;
    int learned;
    size_t n_lex, n_emoji, n_learned;
    char *learned_from;
    /* Bit (first byte << 8 | last byte), lowercased, of each lexicon entry
     * with punctuation: raw tokens looked up whole must match one. */
    uint64_t pairs[1024];
};

/* --- table ----------------------------------------------------------------- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    return h;
}

static void table_free(table *t)
{
    cd_free(t->e);
    cd_free(t->s);
    cd_free(t->keys);
    memset(t, 0, sizeof *t);
}

static inline uint64_t prefix8(const char *key, size_t len)
{
    uint64_t v = 0;
    memcpy(&v, key, len < 8 ? len : 8);
    return v;
}

static const entry *table_find(const table *t, const char *key, size_t len)
{
    if (!t->s)
        return NULL;
    uint64_t pre = prefix8(key, len);
    uint64_t h = hash_bytes(key, len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        const slot *s = &t->s[i];
        if (!s->idx1)
            return NULL;
        if (s->tag == tag) {
            const entry *e = &t->e[s->idx1 - 1];
            if (e->len == len && e->pre == pre) {
                if (len <= 8)
                    return e;
                const char *k = t->keys + e->off;
                size_t i2 = 8;
                while (i2 < len && k[i2] == key[i2])
                    i2++;
                if (i2 == len)
                    return e;
            }
        }
    }
}

static int table_rehash(table *t, size_t nslots)
{
    slot *s = cd_calloc(nslots, sizeof *s);
    if (!s)
        return CD_ENOMEM;
    for (size_t k = 0; k < t->n; k++) {
        const entry *e = &t->e[k];
        uint64_t h = hash_bytes(t->keys + e->off, e->len);
        size_t i = (size_t)h & (nslots - 1);
        while (s[i].idx1)
            i = (i + 1) & (nslots - 1);
        s[i].tag = (uint32_t)(h >> 32);
        s[i].idx1 = (uint32_t)k + 1;
    }
    cd_free(t->s);
    t->s = s;
    t->mask = nslots - 1;
    return CD_OK;
}

/* The entry of key, added (zeroed) if missing; NULL when out of memory. */
static entry *table_add(table *t, const char *key, size_t len)
{
    const entry *f = table_find(t, key, len);
    if (f)
        return (entry *)f;
    if (len > MAXTOK || t->n >= UINT32_MAX / 2)
        return NULL;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        entry *e = cd_realloc(t->e, nc * sizeof *e);
        if (!e)
            return NULL;
        t->e = e;
        t->cap = nc;
    }
    if (t->klen + len > t->kcap) {
        size_t nc = t->kcap ? t->kcap * 2 : 16384;
        while (nc < t->klen + len)
            nc *= 2;
        char *k = cd_realloc(t->keys, nc);
        if (!k)
            return NULL;
        t->keys = k;
        t->kcap = nc;
    }
    /* Slots at most half full. */
    if (!t->s || (t->n + 1) * 2 > t->mask + 1) {
        size_t ns = t->s ? (t->mask + 1) * 2 : 2048;
        if (table_rehash(t, ns) != CD_OK)
            return NULL;
    }
    entry *e = &t->e[t->n];
    memset(e, 0, sizeof *e);
    e->pre = prefix8(key, len);
    e->off = (uint32_t)t->klen;
    e->len = (uint16_t)len;
    memcpy(t->keys + t->klen, key, len);
    t->klen += len;
    uint64_t h = hash_bytes(key, len);
    size_t i = (size_t)h & t->mask;
    while (t->s[i].idx1)
        i = (i + 1) & t->mask;
    t->s[i].tag = (uint32_t)(h >> 32);
    t->s[i].idx1 = (uint32_t)++t->n;
    return e;
}

static int table_copy(table *dst, const table *src)
{
    memset(dst, 0, sizeof *dst);
    dst->e = cd_malloc((src->cap ? src->cap : 1) * sizeof *dst->e);
    dst->s = cd_malloc((src->mask + 1) * sizeof *dst->s);
    dst->keys = cd_malloc(src->kcap ? src->kcap : 1);
    if (!dst->e || !dst->s || !dst->keys) {
        table_free(dst);
        return CD_ENOMEM;
    }
    memcpy(dst->e, src->e, src->n * sizeof *dst->e);
    memcpy(dst->s, src->s, (src->mask + 1) * sizeof *dst->s);
    memcpy(dst->keys, src->keys, src->klen);
    dst->n = src->n;
    dst->cap = src->cap ? src->cap : 1;
    dst->mask = src->mask;
    dst->klen = src->klen;
    dst->kcap = src->kcap ? src->kcap : 1;
    return CD_OK;
}

/* --- the built-in word lists (VADER's) -------------------------------------- */

static const char *const NEGATORS[] = {
    "aint",   "arent",    "cannot",  "cant",     "couldnt",  "darent",   "didnt",   "doesnt",
    "ain't",  "aren't",   "can't",   "couldn't", "daren't",  "didn't",   "doesn't", "dont",
    "hadnt",  "hasnt",    "havent",  "isnt",     "mightnt",  "mustnt",   "neither", "don't",
    "hadn't", "hasn't",   "haven't", "isn't",    "mightn't", "mustn't",  "neednt",  "needn't",
    "never",  "none",     "nope",    "nor",      "not",      "nothing",  "nowhere", "oughtnt",
    "shant",  "shouldnt", "uhuh",    "wasnt",    "werent",   "oughtn't", "shan't",  "shouldn't",
    "uh-uh",  "wasn't",   "weren't", "without",  "wont",     "wouldnt",  "won't",   "wouldn't",
    "rarely", "seldom",   "despite", "nobody",   "neednt",
};

static const char *const BOOST_UP[] = {
    "absolutely",    "amazingly",    "awfully",       "completely", "considerable", "considerably",
    "decidedly",     "deeply",       "effing",        "enormous",   "enormously",   "entirely",
    "especially",    "exceptional",  "exceptionally", "extreme",    "extremely",    "fabulously",
    "flipping",      "flippin",      "frackin",       "fracking",   "fricking",     "frickin",
    "frigging",      "friggin",      "fully",         "fuckin",     "fucking",      "fuggin",
    "fugging",       "greatly",      "hella",         "highly",     "hugely",       "incredible",
    "incredibly",    "intensely",    "major",         "majorly",    "more",         "most",
    "particularly",  "purely",       "quite",         "really",     "remarkably",   "so",
    "substantially", "thoroughly",   "total",         "totally",    "tremendous",   "tremendously",
    "uber",          "unbelievably", "unusually",     "utter",      "utterly",      "very",
};

static const char *const BOOST_DOWN[] = {
    "almost",   "barely",   "hardly",     "kinda",      "kindof",       "kind-of", "less",
    "little",   "marginal", "marginally", "occasional", "occasionally", "partly",  "scarce",
    "scarcely", "slight",   "slightly",   "somewhat",   "sorta",        "sortof",  "sort-of",
};

static int add_words(table *t, const char *const *w, size_t n, uint16_t flags, float boost)
{
    for (size_t i = 0; i < n; i++) {
        entry *e = table_add(t, w[i], strlen(w[i]));
        if (!e)
            return CD_ENOMEM;
        e->flags |= flags;
        if (flags & F_BOOST)
            e->boost = boost;
    }
    return CD_OK;
}

static int add_builtins(table *t)
{
    static const char *const but[] = {"but"}, *const never[] = {"never"},
                             *const sothis[] = {"so", "this"}, *const least[] = {"least"},
                             *const no[] = {"no"}, *const ornor[] = {"or", "nor"},
                             *const atvery[] = {"at", "very"}, *const kind[] = {"kind", "sort"},
                             *const of[] = {"of"};
#define N(a) (sizeof(a) / sizeof *(a))
    int rc = add_words(t, NEGATORS, N(NEGATORS), F_NEG, 0);
    rc = rc ? rc : add_words(t, BOOST_UP, N(BOOST_UP), F_BOOST, (float)B_INCR);
    rc = rc ? rc : add_words(t, BOOST_DOWN, N(BOOST_DOWN), F_BOOST, (float)B_DECR);
    rc = rc ? rc : add_words(t, but, N(but), F_BUT, 0);
    rc = rc ? rc : add_words(t, never, N(never), F_NEVER, 0);
    rc = rc ? rc : add_words(t, sothis, N(sothis), F_SOTHIS, 0);
    rc = rc ? rc : add_words(t, least, N(least), F_LEAST, 0);
    rc = rc ? rc : add_words(t, no, N(no), F_NO, 0);
    rc = rc ? rc : add_words(t, ornor, N(ornor), F_ORNOR, 0);
    rc = rc ? rc : add_words(t, atvery, N(atvery), F_ATVERY, 0);
    rc = rc ? rc : add_words(t, kind, N(kind), F_KIND, 0);
    rc = rc ? rc : add_words(t, of, N(of), F_OF, 0);
#undef N
    return rc;
}

/* --- scanning --------------------------------------------------------------- */

/* One earlier token of the clause, as the rules need it. */
typedef struct prev {
    uint16_t flags; /* effective: "of" after "kind" counts as a dampener */
    uint8_t upper, neg;
    float boost;
} prev;

/* Called for each token during training: the lowercased token and whether
 * it is within a negation. */
typedef void (*tok_fn)(void *ctx, const char *key, size_t len, int negated);

typedef struct scan {
    const table *t;
    const uint64_t *pairs;
    const sentiment_model *m; /* learned weights used when set */
    tok_fn fn;
    void *ctx;
    prev win[3]; /* win[0] = the token just before */
    int nwin;
    double pre[2], post[2]; /* [0] without, [1] with the capitals rule */
    int but_seen;
    double last[2]; /* contribution of the token just before */
    int last_post, last_valid;
    double learned;
    size_t ntok, nupper, nexcl, nq;
} scan;

/* Byte classes: space (and NUL, control bytes), lower, upper, digit,
 * apostrophe, clause punctuation (. , ; ! ?), other ASCII punctuation, and
 * bytes of multibyte UTF-8. */
enum { S, L, U, D, A, C, P, H };
static const uint8_t CLS[256] = {
    S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S,
    S, C, P, P, P, P, P, A, P, P, P, P, C, P, C, P, D, D, D, D, D, D, D, D, D, D, P, C, P, P, P, C,
    P, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, P, P, P, P, P,
    P, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, P, P, P, P, S,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
};

static inline unsigned char low(unsigned char c)
{
    return CLS[c] == U ? (unsigned char)(c + 32) : c;
}

static inline int is_alnum(unsigned char c)
{
    return CLS[c] >= L && CLS[c] <= D;
}

static inline int is_emoji(uint32_t cp)
{
    return (cp >= 0x2300 && cp <= 0x23ff) || (cp >= 0x25a0 && cp <= 0x27bf) ||
           (cp >= 0x2b00 && cp <= 0x2bff) || (cp >= 0x1f000 && cp <= 0x1faff) || cp == 0x3030 ||
           cp == 0x303d || cp == 0x3297 || cp == 0x3299;
}

/* Joiners, variation selectors, skin tones, keycap: ignored. */
static inline int is_emoji_mod(uint32_t cp)
{
    return cp == 0x200d || cp == 0xfe0f || cp == 0xfe0e || cp == 0x20e3 ||
           (cp >= 0x1f3fb && cp <= 0x1f3ff);
}

static inline int is_apostrophe(uint32_t cp)
{
    return cp == '\'' || cp == 0x2019 || cp == 0x2018;
}

/* Letters of any script join words; punctuation and symbols separate. */
static inline int is_word_cp(uint32_t cp)
{
    if (cp < 0x80)
        return is_alnum((unsigned char)cp);
    if (cp < 0xc0 || cp == 0xd7 || cp == 0xf7)
        return 0;
    if ((cp >= 0x2000 && cp <= 0x2bff) || (cp >= 0x3000 && cp <= 0x303f) ||
        (cp >= 0xfe00 && cp <= 0xfe6f) || (cp >= 0xff00 && cp <= 0xff0f))
        return 0;
    return !is_emoji(cp) && !is_emoji_mod(cp) && cp != 0xfeff;
}

static void clause_break(scan *sc)
{
    sc->nwin = 0;
    sc->last_valid = 0;
}

static void add_contrib(scan *sc, double c0, double c1)
{
    double *d = sc->but_seen ? sc->post : sc->pre;
    d[0] += c0;
    d[1] += c1;
}

/* One token: e is its entry (NULL if unknown), upper whether it is in
 * capitals, nt whether it contains "n't". */
static void token(scan *sc, const entry *e, int upper, int nt, const char *key, size_t len)
{
    uint16_t fl = e ? e->flags : 0;
    int negated = 0;
    for (int k = 0; k < sc->nwin; k++)
        negated |= sc->win[k].neg;

    sc->ntok++;
    sc->nupper += upper != 0;
    if (sc->fn)
        sc->fn(sc->ctx, key, len, negated);
    else if (sc->m && e && (fl & F_LEARNED))
        sc->learned += negated ? e->wneg : e->w;

    double c0 = 0, c1 = 0;
    if ((fl & F_LEX) && !(fl & F_BOOST)) {
        double v = e->valence;
        double v0 = v, v1 = v + (upper ? (v > 0 ? C_INCR : -C_INCR) : 0);
        static const double damp[3] = {1.0, 0.95, 0.9};
        for (int k = 0; k < sc->nwin; k++) {
            const prev *p = &sc->win[k];
            if (p->flags & F_LEX)
                continue;
            if (p->flags & F_BOOST) {
                double s = v < 0 ? -p->boost : p->boost;
                double cap = p->upper ? (v > 0 ? C_INCR : -C_INCR) : 0;
                v0 += s * damp[k];
                v1 += (s + cap) * damp[k];
            }
            int emph = k > 0 && (p->flags & F_NEVER) && (sc->win[k - 1].flags & F_SOTHIS);
            if (emph) {
                v0 *= k == 1 ? 1.5 : 1.25;
                v1 *= k == 1 ? 1.5 : 1.25;
            } else if (p->neg) {
                v0 *= N_SCALAR;
                v1 *= N_SCALAR;
            }
        }
        if (sc->nwin >= 1 && (sc->win[0].flags & F_LEAST) && !(sc->win[0].flags & F_LEX) &&
            !(sc->nwin >= 2 && (sc->win[1].flags & F_ATVERY))) {
            v0 *= N_SCALAR;
            v1 *= N_SCALAR;
        }
        /* "no good", "no real help", "no X or good": negated. */
        if ((sc->nwin >= 1 && (sc->win[0].flags & F_NO)) ||
            (sc->nwin >= 2 && (sc->win[1].flags & F_NO)) ||
            (sc->nwin >= 3 && (sc->win[2].flags & F_NO) && (sc->win[0].flags & F_ORNOR))) {
            v0 = v1 = v * N_SCALAR;
        }
        /* "no" right before a lexicon word counts for nothing itself. */
        if (sc->nwin >= 1 && (sc->win[0].flags & F_NO) && sc->last_valid)
            sc->last_valid = 2;
        c0 = v0;
        c1 = v1;
    }
    /* "kind of", "sort of": the first word has no valence of its own, the
     * pair dampens what follows. */
    prev me = {.flags = fl, .upper = (uint8_t)(upper != 0), .boost = e ? e->boost : 0};
    if ((fl & F_OF) && sc->nwin >= 1 && (sc->win[0].flags & F_KIND)) {
        if (sc->last_valid)
            sc->last_valid = 2;
        me.flags = F_BOOST;
        me.boost = (float)B_DECR;
    }
    if (sc->last_valid == 2) { /* take back the token just before */
        double *d = sc->last_post ? sc->post : sc->pre;
        d[0] -= sc->last[0];
        d[1] -= sc->last[1];
    }
    me.neg = (fl & (F_NEG | F_NO)) || nt;
    add_contrib(sc, c0, c1);
    sc->last[0] = c0;
    sc->last[1] = c1;
    sc->last_post = sc->but_seen;
    sc->last_valid = 1;
    if ((fl & F_BUT) && !sc->but_seen)
        sc->but_seen = 1;
    memmove(&sc->win[1], &sc->win[0], 2 * sizeof sc->win[0]);
    sc->win[0] = me;
    if (sc->nwin < 3)
        sc->nwin++;
}

static int has_nt(const char *w, size_t n)
{
    for (size_t i = 0; i + 3 <= n; i++)
        if (w[i] == 'n' && w[i + 1] == '\'' && w[i + 2] == 't')
            return 1;
    return 0;
}

/* Whether the multibyte sequence at p[0..n) joins a word; *l its length. */
static inline int high_word(const unsigned char *p, size_t n, size_t *l, int *apos)
{
    uint32_t cp;
    *l = utf8_dec(p, n, &cp);
    *apos = *l && is_apostrophe(cp);
    return *l && is_word_cp(cp);
}

/* Whether the byte sequence at p[0..n) starts a word character. */
static inline int starts_word(const unsigned char *p, size_t n)
{
    if (!n)
        return 0;
    if (CLS[p[0]] != H)
        return is_alnum(p[0]);
    size_t l;
    int apos;
    return high_word(p, n, &l, &apos);
}

/* Reads the word at p[*j] (which starts one) and passes it on. */
static void word(scan *sc, const unsigned char *p, size_t n, size_t *jp)
{
    char buf[MAXTOK];
    size_t j = *jp, total = 0;
    int lower = 0, upper = 0, apos = 0;
    while (j < n) {
        unsigned char c = p[j];
        switch (CLS[c]) {
        case L:
        case D:
            lower |= CLS[c] == L;
            if (total < MAXTOK)
                buf[total] = (char)c;
            total++;
            j++;
            continue;
        case U:
            upper = 1;
            if (total < MAXTOK)
                buf[total] = (char)(c + 32);
            total++;
            j++;
            continue;
        case A:
            if (!total || !starts_word(p + j + 1, n - j - 1))
                break;
            if (total < MAXTOK)
                buf[total] = '\'';
            total++;
            apos = 1;
            j++;
            continue;
        case H: {
            size_t l;
            int ap;
            if (high_word(p + j, n - j, &l, &ap)) {
                if (total + l <= MAXTOK)
                    memcpy(buf + total, p + j, l);
                total += l;
                lower = 1;
                j += l;
                continue;
            }
            if (ap && total && starts_word(p + j + l, n - j - l)) {
                if (total < MAXTOK)
                    buf[total] = '\'';
                total++;
                apos = 1;
                j += l;
                continue;
            }
            break;
        }
        default:
            break;
        }
        break;
    }
    *jp = j;
    if (total < 2) /* single letters and digits carry nothing */
        return;
    if (total > MAXTOK) { /* counts as a word; never looked up */
        token(sc, NULL, upper && !lower, 0, buf, 0);
        return;
    }
    token(sc, table_find(sc->t, buf, total), upper && !lower, apos && has_nt(buf, total), buf,
          total);
}

/* Splits a raw token (no whitespace) into words, emoji and punctuation. */
static void split(scan *sc, const unsigned char *p, size_t n)
{
    size_t j = 0;
    while (j < n) {
        unsigned char c = p[j];
        unsigned cl = CLS[c];
        if (cl >= L && cl <= D) {
            word(sc, p, n, &j);
            continue;
        }
        if (cl != H) {
            if (cl == C)
                clause_break(sc);
            j++;
            continue;
        }
        uint32_t cp;
        size_t l = utf8_dec(p + j, n - j, &cp);
        if (!l) { /* invalid byte */
            j++;
            continue;
        }
        if (is_word_cp(cp)) {
            word(sc, p, n, &j);
            continue;
        }
        if (is_emoji(cp))
            token(sc, table_find(sc->t, (const char *)p + j, l), 0, 0, (const char *)p + j, l);
        else if (cp == 0x2026) /* ellipsis */
            clause_break(sc);
        j += l;
    }
}

static void scan_text(scan *sc, const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (CLS[p[i]] == S) {
            i++;
            continue;
        }
        size_t s = i;
        int punct = 0;
        for (; i < n; i++) {
            unsigned cl = CLS[p[i]];
            if (cl == S)
                break;
            if (cl == C || cl == P) {
                punct = 1;
                sc->nexcl += p[i] == '!';
                sc->nq += p[i] == '?';
            }
        }
        size_t len = i - s;
        /* An emoticon (":)", "<3", ":D")? Only raw tokens whose first and
         * last bytes match some punctuated lexicon entry are looked up. */
        if (punct && len >= 2 && len <= MAXTOK) {
            unsigned k = (unsigned)low(p[s]) << 8 | low(p[i - 1]);
            if (sc->pairs[k >> 6] >> (k & 63) & 1) {
                char buf[MAXTOK];
                int upper = 0, lower = 0;
                for (size_t k2 = 0; k2 < len; k2++) {
                    unsigned char c = p[s + k2];
                    upper |= CLS[c] == U;
                    lower |= CLS[c] == L;
                    buf[k2] = (char)low(c);
                }
                const entry *e = table_find(sc->t, buf, len);
                if (e && (e->flags & F_LEX)) {
                    token(sc, e, upper && !lower, 0, buf, len);
                    continue;
                }
            }
        }
        split(sc, p + s, len);
    }
}

/* Lexicon sum S after the contrast, capitals and punctuation rules. */
static double scan_sum(const scan *sc)
{
    int capdiff = sc->nupper > 0 && sc->nupper < sc->ntok;
    double s = sc->but_seen ? 0.5 * sc->pre[capdiff] + 1.5 * sc->post[capdiff] : sc->pre[capdiff];
    double amp = (double)(sc->nexcl > 4 ? 4 : sc->nexcl) * 0.292;
    if (sc->nq > 1)
        amp += sc->nq <= 3 ? (double)sc->nq * 0.18 : 0.96;
    if (s > 0)
        s += amp;
    else if (s < 0)
        s -= amp;
    return s;
}

static void scan_init(scan *sc, const sentiment_model *m)
{
    memset(sc, 0, sizeof *sc);
    sc->t = &m->t;
    sc->pairs = m->pairs;
    sc->m = m->learned ? m : NULL;
}

int sentiment_label(double score)
{
    return score >= SENTIMENT_NEUTRAL_BAND ? 1 : score <= -SENTIMENT_NEUTRAL_BAND ? -1 : 0;
}

static double normalize(double z)
{
    if (!isfinite(z))
        return z > 0 ? 1.0 : z < 0 ? -1.0 : 0.0;
    double s = z / sqrt(z * z + ALPHA);
    return s > 1.0 ? 1.0 : s < -1.0 ? -1.0 : s;
}

void sentiment_score(const sentiment_model *m, const char *text, size_t len, sentiment_result *out)
{
    out->score = 0;
    out->label = 0;
    if (!m || !text || !len)
        return;
    scan sc;
    scan_init(&sc, m);
    scan_text(&sc, (const unsigned char *)text, len);
    if (!sc.ntok)
        return;
    double z = m->a * scan_sum(&sc) + m->b + sc.learned;
    out->score = normalize(z);
    out->label = sentiment_label(out->score);
}

/* --- loading ---------------------------------------------------------------- */

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

static int read_file(const char *path, char **buf, size_t *len, char *msg, size_t msglen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_msg(msg, msglen, "%s: %s", path, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? CD_ENOTFOUND : CD_EIO;
    }
    size_t cap = 65536, n = 0;
    char *b = cd_malloc(cap + 1);
    int rc = CD_OK;
    while (b) {
        if (n == cap) {
            if (cap >= MAX_FILE) {
                set_msg(msg, msglen, "%s: larger than %u bytes", path, MAX_FILE);
                rc = CD_ETOOBIG;
                break;
            }
            char *nb = cd_realloc(b, cap * 2 + 1);
            if (!nb)
                break;
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                set_msg(msg, msglen, "%s: read error", path);
                rc = CD_EIO;
            }
            break;
        }
    }
    fclose(f);
    if (!b) {
        set_msg(msg, msglen, "%s: out of memory", path);
        cd_free(b);
        return CD_ENOMEM;
    }
    if (rc != CD_OK) {
        cd_free(b);
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return CD_OK;
}

/* Next line of buf (NUL-terminated) from *pos; NULL at the end. */
static char *next_line(char *buf, size_t len, size_t *pos, size_t *linelen)
{
    if (*pos >= len)
        return NULL;
    char *s = buf + *pos;
    char *nl = memchr(s, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - s) : len - *pos;
    *pos += l + 1;
    if (l && s[l - 1] == '\r')
        l--;
    s[l] = '\0';
    *linelen = l;
    return s;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v))
        return 0;
    while (*end == ' ')
        end++;
    if (*end && *end != '\t')
        return 0;
    *out = v;
    return 1;
}

static void lower_ascii(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] + 32);
}

static int load_lexicon(sentiment_model *m, const char *path, char *msg, size_t msglen)
{
    char *buf;
    size_t len, pos = 0, ll, lineno = 0;
    int rc = read_file(path, &buf, &len, msg, msglen);
    if (rc)
        return rc;
    char *line;
    while ((line = next_line(buf, len, &pos, &ll))) {
        lineno++;
        if (!ll)
            continue;
        char *tab = memchr(line, '\t', ll);
        double v;
        if (!tab || tab == line || !parse_double(tab + 1, &v)) {
            set_msg(msg, msglen, "%s:%zu: expected token<TAB>mean<TAB>...", path, lineno);
            cd_free(buf);
            return CD_EINVAL;
        }
        size_t kl = (size_t)(tab - line);
        if (kl > MAXTOK)
            continue;
        lower_ascii(line, kl);
        entry *e = table_add(&m->t, line, kl);
        if (!e) {
            set_msg(msg, msglen, "%s: out of memory", path);
            cd_free(buf);
            return CD_ENOMEM;
        }
        if (!(e->flags & F_LEX))
            m->n_lex++;
        e->flags |= F_LEX;
        e->valence = (float)v;
    }
    cd_free(buf);
    if (!m->n_lex) {
        set_msg(msg, msglen, "%s: no lexicon entries", path);
        return CD_EINVAL;
    }
    for (size_t i = 0; i < m->t.n; i++) {
        const entry *e = &m->t.e[i];
        const unsigned char *k = (const unsigned char *)m->t.keys + e->off;
        int punct = 0;
        for (size_t j = 0; j < e->len; j++)
            punct |= CLS[k[j]] == C || CLS[k[j]] == P;
        if ((e->flags & F_LEX) && punct && e->len >= 2) {
            unsigned b = (unsigned)low(k[0]) << 8 | low(k[e->len - 1]);
            m->pairs[b >> 6] |= 1ULL << (b & 63);
        }
    }
    return CD_OK;
}

/* Key of an emoji: its first code point, modifiers dropped. */
static size_t emoji_key(const char *s, size_t n, const char **key)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t j = 0;
    while (j < n) {
        uint32_t cp;
        size_t l = utf8_dec(p + j, n - j, &cp);
        if (!l)
            return 0;
        if (!is_emoji_mod(cp) && is_emoji(cp)) {
            *key = s + j;
            return l;
        }
        j += l;
    }
    return 0;
}

static int add_emoji(sentiment_model *m, const char *s, size_t n, double v)
{
    const char *key;
    size_t kl = emoji_key(s, n, &key);
    if (!kl)
        return CD_OK; /* not an emoji this engine reads as one */
    entry *e = table_add(&m->t, key, kl);
    if (!e)
        return CD_ENOMEM;
    if (!(e->flags & F_EMOJI))
        m->n_emoji++;
    e->flags |= F_LEX | F_EMOJI;
    e->valence = (float)(v > 4 ? 4 : v < -4 ? -4 : v);
    return CD_OK;
}

/* emoji-emotion's index.js: objects with `emoji: '…'` and `polarity: N`. */
static int load_emoji_js(sentiment_model *m, const char *path, char *buf, size_t len, char *msg,
                         size_t msglen)
{
    const char *p = buf, *end = buf + len;
    while ((p = strstr(p, "emoji: '"))) {
        p += 8;
        const char *q = memchr(p, '\'', (size_t)(end - p));
        if (!q)
            break;
        const char *pol = strstr(q, "polarity: ");
        const char *nextobj = strstr(q, "emoji: '");
        if (!pol || (nextobj && pol > nextobj))
            break;
        char *e2;
        long v = strtol(pol + 10, &e2, 10);
        if (e2 == pol + 10)
            break;
        if (add_emoji(m, p, (size_t)(q - p), (double)v * EMOJI_SCALE)) {
            set_msg(msg, msglen, "%s: out of memory", path);
            return CD_ENOMEM;
        }
        p = e2;
    }
    if (!m->n_emoji) {
        set_msg(msg, msglen, "%s: no emoji entries (expected emoji-emotion's index.js)", path);
        return CD_EINVAL;
    }
    return CD_OK;
}

/* Lines `emoji<TAB>number` or `emoji<TAB>description`. */
static int load_emoji_tsv(sentiment_model *m, const char *path, char *buf, size_t len, char *msg,
                          size_t msglen)
{
    size_t pos = 0, ll, lineno = 0;
    char *line;
    while ((line = next_line(buf, len, &pos, &ll))) {
        lineno++;
        if (!ll || line[0] == '#')
            continue;
        char *tab = memchr(line, '\t', ll);
        if (!tab || tab == line) {
            set_msg(msg, msglen, "%s:%zu: expected emoji<TAB>valence or description", path, lineno);
            return CD_EINVAL;
        }
        double v;
        if (!parse_double(tab + 1, &v)) {
            scan sc;
            scan_init(&sc, m);
            sc.m = NULL;
            scan_text(&sc, (const unsigned char *)tab + 1, strlen(tab + 1));
            v = scan_sum(&sc);
        }
        if (add_emoji(m, line, (size_t)(tab - line), v)) {
            set_msg(msg, msglen, "%s: out of memory", path);
            return CD_ENOMEM;
        }
    }
    return CD_OK;
}

static int load_emoji(sentiment_model *m, const char *path, char *msg, size_t msglen)
{
    char *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, msg, msglen);
    if (rc)
        return rc;
    size_t pl = strlen(path);
    if (pl >= 3 && strcmp(path + pl - 3, ".js") == 0)
        rc = load_emoji_js(m, path, buf, len, msg, msglen);
    else
        rc = load_emoji_tsv(m, path, buf, len, msg, msglen);
    cd_free(buf);
    return rc;
}

static int set_learned(sentiment_model *m, const char *key, size_t kl, double w, double wneg)
{
    entry *e = table_add(&m->t, key, kl);
    if (!e)
        return CD_ENOMEM;
    if (!(e->flags & F_LEARNED))
        m->n_learned++;
    e->flags |= F_LEARNED;
    e->w = (float)w;
    e->wneg = (float)wneg;
    return CD_OK;
}

static int load_weights(sentiment_model *m, const char *path, char *msg, size_t msglen)
{
    char *buf;
    size_t len, pos = 0, ll, lineno = 0;
    int rc = read_file(path, &buf, &len, msg, msglen), have_a = 0, have_b = 0;
    if (rc)
        return rc;
    char *line;
    while (rc == CD_OK && (line = next_line(buf, len, &pos, &ll))) {
        lineno++;
        if (!ll || line[0] == '#')
            continue;
        char *f[4] = {line, NULL, NULL, NULL};
        int nf = 1;
        for (char *c = line; *c && nf < 4; c++) {
            if (*c == '\t') {
                *c = '\0';
                f[nf++] = c + 1;
            }
        }
        double x, y;
        if (nf == 2 && strcmp(f[0], "learned_from") == 0) {
            cd_free(m->learned_from);
            m->learned_from = cd_strdup(f[1]);
            if (!m->learned_from)
                rc = CD_ENOMEM;
        } else if (nf == 2 && strcmp(f[0], "a") == 0 && parse_double(f[1], &x)) {
            m->a = x;
            have_a = 1;
        } else if (nf == 2 && strcmp(f[0], "b") == 0 && parse_double(f[1], &x)) {
            m->b = x;
            have_b = 1;
        } else if (nf == 4 && strcmp(f[0], "w") == 0 && *f[1] && strlen(f[1]) <= MAXTOK &&
                   parse_double(f[2], &x) && parse_double(f[3], &y)) {
            lower_ascii(f[1], strlen(f[1]));
            rc = set_learned(m, f[1], strlen(f[1]), x, y);
        } else {
            set_msg(msg, msglen, "%s:%zu: expected a, b, learned_from or w lines", path, lineno);
            rc = CD_EINVAL;
        }
    }
    cd_free(buf);
    if (rc == CD_ENOMEM)
        set_msg(msg, msglen, "%s: out of memory", path);
    if (rc == CD_OK && (!have_a || !have_b)) {
        set_msg(msg, msglen, "%s: missing the a or b line", path);
        rc = CD_EINVAL;
    }
    if (rc == CD_OK)
        m->learned = 1;
    return rc;
}

static sentiment_model *model_new(void)
{
    sentiment_model *m = cd_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->a = 1.0;
    if (add_builtins(&m->t) != CD_OK) {
        sentiment_free(m);
        return NULL;
    }
    return m;
}

int sentiment_load(const sentiment_paths *paths, sentiment_model **out, char *msg, size_t msglen)
{
    *out = NULL;
    set_msg(msg, msglen, "ok");
    if (!paths || !paths->lexicon) {
        set_msg(msg, msglen, "no lexicon file given");
        return CD_EINVAL;
    }
    sentiment_model *m = model_new();
    if (!m) {
        set_msg(msg, msglen, "out of memory");
        return CD_ENOMEM;
    }
    int rc = load_lexicon(m, paths->lexicon, msg, msglen);
    if (rc == CD_OK && paths->emoji)
        rc = load_emoji(m, paths->emoji, msg, msglen);
    if (rc == CD_OK && paths->weights)
        rc = load_weights(m, paths->weights, msg, msglen);
    if (rc != CD_OK) {
        sentiment_free(m);
        return rc;
    }
    *out = m;
    return CD_OK;
}

const char *sentiment_default_dir(void)
{
    const char *e = getenv("CAREDESK_LEXICON");
    return e && *e ? e : CAREDESK_LEXICON_DIR;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int sentiment_load_dir(const char *dir, int with_weights, sentiment_model **out, char *msg,
                       size_t msglen)
{
    char lex[4096], emo[4096], w[4096];
    if (!dir)
        dir = sentiment_default_dir();
    int n1 = snprintf(lex, sizeof lex, "%s/node_modules/vader-sentiment/vader_lexicon.txt", dir);
    int n2 = snprintf(emo, sizeof emo, "%s/node_modules/emoji-emotion/index.js", dir);
    int n3 = snprintf(w, sizeof w, "%s/sentiment_weights.tsv", dir);
    *out = NULL;
    if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n1 >= sizeof lex || (size_t)n2 >= sizeof emo ||
        (size_t)n3 >= sizeof w) {
        set_msg(msg, msglen, "lexicon directory path too long");
        return CD_EINVAL;
    }
    if (!exists(lex)) {
        set_msg(msg, msglen,
                "%s: missing (the npm package vader-sentiment; scripts/install-deps.sh "
                "installs it)",
                lex);
        return CD_ENOTFOUND;
    }
    sentiment_paths p = {.lexicon = lex,
                         .emoji = exists(emo) ? emo : NULL,
                         .weights = with_weights && exists(w) ? w : NULL};
    return sentiment_load(&p, out, msg, msglen);
}

void sentiment_free(sentiment_model *m)
{
    if (!m)
        return;
    table_free(&m->t);
    cd_free(m->learned_from);
    cd_free(m);
}

void sentiment_model_info(const sentiment_model *m, sentiment_info *out)
{
    out->lexicon_entries = m->n_lex;
    out->emoji_entries = m->n_emoji;
    out->learned_tokens = m->n_learned;
    out->learned = m->learned;
    out->a = m->a;
    out->b = m->b;
    out->learned_from = m->learned_from ? m->learned_from : "";
}

/* --- learning --------------------------------------------------------------- */

typedef struct trainer {
    table vocab;     /* tokens seen; entry index = vocab id */
    uint32_t *feats; /* per example: feature ids (vocab id * 2 + negated) */
    size_t nfeats, capfeats;
    int oom;
} trainer;

static void collect(void *ctx, const char *key, size_t len, int negated)
{
    trainer *tr = ctx;
    if (tr->oom || !len)
        return;
    entry *e = table_add(&tr->vocab, key, len);
    if (!e) {
        tr->oom = 1;
        return;
    }
    if (tr->nfeats == tr->capfeats) {
        size_t nc = tr->capfeats ? tr->capfeats * 2 : 4096;
        uint32_t *f = cd_realloc(tr->feats, nc * sizeof *f);
        if (!f) {
            tr->oom = 1;
            return;
        }
        tr->feats = f;
        tr->capfeats = nc;
    }
    tr->feats[tr->nfeats++] = (uint32_t)(e - tr->vocab.e) * 2 + (negated != 0);
}

static int model_copy_lexicon(const sentiment_model *base, sentiment_model **out)
{
    sentiment_model *m = cd_calloc(1, sizeof *m);
    if (!m || table_copy(&m->t, &base->t) != CD_OK) {
        cd_free(m);
        return CD_ENOMEM;
    }
    for (size_t i = 0; i < m->t.n; i++) {
        entry *e = &m->t.e[i];
        e->flags &= (uint16_t)~F_LEARNED;
        e->w = e->wneg = 0;
    }
    m->a = 1.0;
    memcpy(m->pairs, base->pairs, sizeof m->pairs);
    m->n_lex = base->n_lex;
    m->n_emoji = base->n_emoji;
    *out = m;
    return CD_OK;
}

int sentiment_train(const sentiment_model *base, const sentiment_example *ex, size_t n,
                    const sentiment_train_opts *opts, sentiment_model **out)
{
    *out = NULL;
    if (!base || !ex || !n || n > UINT32_MAX)
        return CD_EINVAL;
    double l2 = opts && opts->l2 > 0 ? opts->l2 : 2.0;
    int min_count = opts && opts->min_count > 0 ? opts->min_count : 3;
    int epochs = opts && opts->epochs > 0 ? opts->epochs : 60;
    int fit_bias = opts && opts->fit_bias;

    trainer tr = {0};
    double *lexsum = cd_malloc(n * sizeof *lexsum);
    size_t *start = cd_malloc((n + 1) * sizeof *start);
    double *w = NULL, *g2 = NULL;
    uint32_t *count = NULL;
    sentiment_model *m = NULL;
    int rc = CD_ENOMEM;
    if (!lexsum || !start)
        goto done;

    /* Features: the lexicon sum, and every token, plain or negated. */
    for (size_t i = 0; i < n; i++) {
        scan sc;
        scan_init(&sc, base);
        sc.m = NULL;
        sc.fn = collect;
        sc.ctx = &tr;
        start[i] = tr.nfeats;
        if (ex[i].text)
            scan_text(&sc, (const unsigned char *)ex[i].text, ex[i].len);
        lexsum[i] = sc.ntok ? scan_sum(&sc) : 0;
        if (tr.oom)
            goto done;
    }
    start[n] = tr.nfeats;
    size_t nf = tr.vocab.n * 2;
    w = cd_calloc(nf + 2, sizeof *w);
    g2 = cd_calloc(nf + 2, sizeof *g2);
    count = cd_calloc(nf + 1, sizeof *count);
    if (!w || !g2 || !count)
        goto done;
    for (size_t k = 0; k < tr.nfeats; k++)
        count[tr.feats[k]]++;

    /* Logistic regression by AdaGrad, examples in a fixed order. w[nf] is
     * a (starting at 1: the lexicon as it is), w[nf + 1] is b. */
    double *a = &w[nf], *b = &w[nf + 1];
    *a = 1.0;
    const double lr = 0.1, eps = 1e-8;
    for (int ep = 0; ep < epochs; ep++) {
        for (size_t i = 0; i < n; i++) {
            double z = *a * lexsum[i] + *b;
            for (size_t k = start[i]; k < start[i + 1]; k++)
                if (count[tr.feats[k]] >= (uint32_t)min_count)
                    z += w[tr.feats[k]];
            double y = ex[i].label ? 1.0 : 0.0;
            double p = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
            double g = p - y;
            double ga = g * lexsum[i];
            g2[nf] += ga * ga;
            *a -= lr * ga / sqrt(g2[nf] + eps);
            if (fit_bias) {
                g2[nf + 1] += g * g;
                *b -= lr * g / sqrt(g2[nf + 1] + eps);
            }
            for (size_t k = start[i]; k < start[i + 1]; k++) {
                uint32_t f = tr.feats[k];
                if (count[f] < (uint32_t)min_count)
                    continue;
                /* The penalty spread over the examples the token is in. */
                double gf = g + l2 * w[f] / (double)count[f];
                g2[f] += gf * gf;
                w[f] -= lr * gf / sqrt(g2[f] + eps);
            }
        }
    }

    rc = model_copy_lexicon(base, &m);
    if (rc)
        goto done;
    rc = CD_ENOMEM;
    for (size_t v = 0; v < tr.vocab.n; v++) {
        double wp = w[2 * v], wn = w[2 * v + 1];
        if (fabs(wp) < 1e-3 && fabs(wn) < 1e-3)
            continue;
        const entry *e = &tr.vocab.e[v];
        if (set_learned(m, tr.vocab.keys + e->off, e->len, wp, wn) != CD_OK)
            goto done;
    }
    m->a = *a;
    m->b = *b;
    m->learned = 1;
    m->learned_from = cd_strdup(opts && opts->note ? opts->note : "");
    if (!m->learned_from)
        goto done;
    *out = m;
    m = NULL;
    rc = CD_OK;
done:
    sentiment_free(m);
    table_free(&tr.vocab);
    cd_free(tr.feats);
    cd_free(lexsum);
    cd_free(start);
    cd_free(w);
    cd_free(g2);
    cd_free(count);
    return rc;
}

int sentiment_save_weights(const sentiment_model *m, const char *path)
{
    if (!m || !m->learned)
        return CD_EINVAL;
    FILE *f = fopen(path, "w");
    if (!f)
        return CD_EIO;
    fprintf(f, "# caredesk sentiment: learned layer (docs/sentiment.md)\n"
               "# z = a * lexicon_sum + b + sum of token weights; a token within a negation\n"
               "# takes its second weight. Lines: a, b, learned_from, and\n"
               "# w<TAB>token<TAB>weight<TAB>weight_negated\n");
    fprintf(f, "learned_from\t");
    for (const char *c = m->learned_from ? m->learned_from : ""; *c; c++)
        fputc(*c == '\n' || *c == '\t' ? ' ' : *c, f);
    fprintf(f, "\na\t%.9g\nb\t%.9g\n", m->a, m->b);
    for (size_t i = 0; i < m->t.n; i++) {
        const entry *e = &m->t.e[i];
        if (!(e->flags & F_LEARNED))
            continue;
        int bad = 0;
        for (size_t k = 0; k < e->len; k++) {
            char c = m->t.keys[e->off + k];
            bad |= c == '\t' || c == '\n' || c == '\r' || c == '#';
        }
        if (bad || !e->len)
            continue;
        fprintf(f, "w\t%.*s\t%.6g\t%.6g\n", (int)e->len, m->t.keys + e->off, (double)e->w,
                (double)e->wneg);
    }
    int rc = ferror(f) ? CD_EIO : CD_OK;
    if (fclose(f) != 0)
        rc = CD_EIO;
    return rc;
}
