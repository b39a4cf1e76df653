/* kb.c - knowledge-base search index; see kb.h and docs/kb.md.
 *
 * Layout. Words (stems) are interned once for the whole index (term ids).
 * Each client has its own document table (slots, in order of insertion),
 * its own map term id -> posting list, and its own counts. A posting list
 * is a slot-ordered array of (slot, title tf, body tf), a parallel array of
 * offsets into the list's position bytes (varint deltas, title positions
 * then body positions). Removal marks the slot dead and lowers the
 * document frequencies; dead entries are skipped until the client is
 * compacted in place (when a quarter of its slots are dead). Each slot
 * keeps its sorted term ids (varint deltas) so removal knows its lists.
 *
 * A search intersects the lists of its terms (phrases and prefixes first
 * turned into lists of (slot, weighted frequency)), driven by the shortest,
 * scores every match and keeps the best offset + limit in a heap. */
#include "core/kb.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/utf8.h"

#include <libstemmer.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define K1 1.2
#define BM25_B 0.75
#define TAG_MARK '\x01'        /* first byte of a tag's term: never in a token */
#define SURFACE_MAX (1u << 22) /* distinct surface forms remembered */
#define PENDING_MAX 256u       /* terms not yet merged into the sorted array */
#define SLOT_LIVE 0x80u
#define TF_MAX 65535u

/* ---- small helpers ---- */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0x100000001b3ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Grows *p (elements of `size`) so that it holds at least `need`. */
static int grow(void **p, uint32_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return CD_OK;
    if (need > UINT32_MAX / 2)
        return CD_ENOMEM;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap += ncap / 2;
    void *q = cd_realloc(*p, ncap * size);
    if (!q)
        return CD_ENOMEM;
    *p = q;
    *cap = (uint32_t)ncap;
    return CD_OK;
}

static size_t varint_put(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t varint_len(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint32_t varint_get(const uint8_t **pp)
{
    const uint8_t *p = *pp;
    uint32_t v = 0;
    unsigned sh = 0;
    while (*p & 0x80) {
        v |= (uint32_t)(*p++ & 0x7f) << sh;
        sh += 7;
    }
    v |= (uint32_t)*p++ << sh;
    *pp = p;
    return v;
}

/* ---- u64 -> u64 map: open addressing, key 0 = empty ---- */

typedef struct u64map {
    uint64_t *k, *v;
    uint32_t cap, n; /* cap: power of two or 0 */
} u64map;

static uint64_t *map_get(const u64map *m, uint64_t k)
{
    if (!m->cap)
        return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)hash_u64(k) & mask;; i = (i + 1) & mask) {
        if (m->k[i] == k)
            return &m->v[i];
        if (m->k[i] == 0)
            return NULL;
    }
}

/* Makes room for `extra` more keys. */
static int map_reserve(u64map *m, uint32_t extra)
{
    uint64_t need = (uint64_t)m->n + extra;
    if (need * 10 < (uint64_t)m->cap * 7)
        return CD_OK;
    uint64_t ncap = m->cap ? m->cap : 16;
    while (need * 10 >= ncap * 7)
        ncap *= 2;
    if (ncap > (1u << 31))
        return CD_ENOMEM;
    uint64_t *nk = cd_calloc(ncap, sizeof *nk), *nv = cd_malloc(ncap * sizeof *nv);
    if (!nk || !nv) {
        cd_free(nk);
        cd_free(nv);
        return CD_ENOMEM;
    }
    uint32_t mask = (uint32_t)ncap - 1;
    for (uint32_t j = 0; j < m->cap; j++) {
        if (!m->k[j])
            continue;
        uint32_t i = (uint32_t)hash_u64(m->k[j]) & mask;
        while (nk[i])
            i = (i + 1) & mask;
        nk[i] = m->k[j];
        nv[i] = m->v[j];
    }
    cd_free(m->k);
    cd_free(m->v);
    m->k = nk;
    m->v = nv;
    m->cap = (uint32_t)ncap;
    return CD_OK;
}

/* Inserts or overwrites; room must have been reserved. */
static void map_put(u64map *m, uint64_t k, uint64_t v)
{
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)hash_u64(k) & mask;
    while (m->k[i] && m->k[i] != k)
        i = (i + 1) & mask;
    if (!m->k[i])
        m->n++;
    m->k[i] = k;
    m->v[i] = v;
}

static void map_del(u64map *m, uint64_t k)
{
    if (!m->cap)
        return;
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)hash_u64(k) & mask;
    while (m->k[i] != k) {
        if (!m->k[i])
            return;
        i = (i + 1) & mask;
    }
    /* Backward-shift deletion keeps every probe chain unbroken. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->k[j])
            break;
        uint32_t home = (uint32_t)hash_u64(m->k[j]) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->k[i] = m->k[j];
            m->v[i] = m->v[j];
            i = j;
        }
    }
    m->k[i] = 0;
    m->n--;
}

static void map_free(u64map *m)
{
    cd_free(m->k);
    cd_free(m->v);
}

/* ---- string table: interned byte strings -> ids ---- */

typedef struct strtab {
    char *s; /* all strings, back to back */
    size_t len, cap;
    uint32_t *off; /* per id */
    uint8_t *slen; /* per id */
    uint32_t *val; /* per id: caller's value */
    uint32_t n, idcap;
    uint32_t *h; /* id + 1, 0 = empty; power-of-two size */
    uint32_t hcap;
} strtab;

static int str_eq(const strtab *t, uint32_t id, const char *s, size_t n)
{
    return t->slen[id] == n && memcmp(t->s + t->off[id], s, n) == 0;
}

/* Id of s, or UINT32_MAX. */
static uint32_t str_find(const strtab *t, const char *s, size_t n)
{
    if (!t->hcap)
        return UINT32_MAX;
    uint32_t mask = t->hcap - 1;
    for (uint32_t i = (uint32_t)hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t e = t->h[i];
        if (!e)
            return UINT32_MAX;
        if (str_eq(t, e - 1, s, n))
            return e - 1;
    }
}

/* Adds s (not present; n <= 255) with value val; returns its id or
 * UINT32_MAX when memory is short. */
static uint32_t str_add(strtab *t, const char *s, size_t n, uint32_t val)
{
    if (((uint64_t)t->n + 1) * 10 >= (uint64_t)t->hcap * 7) {
        uint32_t ncap = t->hcap ? t->hcap * 2 : 1024;
        uint32_t *nh = cd_calloc(ncap, sizeof *nh);
        if (!nh)
            return UINT32_MAX;
        for (uint32_t id = 0; id < t->n; id++) {
            uint32_t i = (uint32_t)hash_bytes(t->s + t->off[id], t->slen[id]) & (ncap - 1);
            while (nh[i])
                i = (i + 1) & (ncap - 1);
            nh[i] = id + 1;
        }
        cd_free(t->h);
        t->h = nh;
        t->hcap = ncap;
    }
    if (t->len + n > UINT32_MAX)
        return UINT32_MAX;
    if (t->len + n > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 4096;
        while (ncap < t->len + n)
            ncap *= 2;
        char *ns = cd_realloc(t->s, ncap);
        if (!ns)
            return UINT32_MAX;
        t->s = ns;
        t->cap = ncap;
    }
    if (t->n == t->idcap) {
        uint32_t ncap = t->idcap ? t->idcap * 2 : 1024;
        uint32_t *no = cd_realloc(t->off, ncap * sizeof *no);
        if (!no)
            return UINT32_MAX;
        t->off = no;
        uint8_t *nl = cd_realloc(t->slen, ncap);
        if (!nl)
            return UINT32_MAX;
        t->slen = nl;
        uint32_t *nv = cd_realloc(t->val, ncap * sizeof *nv);
        if (!nv)
            return UINT32_MAX;
        t->val = nv;
        t->idcap = ncap;
    }
    uint32_t id = t->n++;
    memcpy(t->s + t->len, s, n);
    t->off[id] = (uint32_t)t->len;
    t->slen[id] = (uint8_t)n;
    t->val[id] = val;
    t->len += n;
    uint32_t mask = t->hcap - 1;
    uint32_t i = (uint32_t)hash_bytes(s, n) & mask;
    while (t->h[i])
        i = (i + 1) & mask;
    t->h[i] = id + 1;
    return id;
}

static void str_free(strtab *t)
{
    cd_free(t->s);
    cd_free(t->off);
    cd_free(t->slen);
    cd_free(t->val);
    cd_free(t->h);
}

static size_t str_mem(const strtab *t)
{
    return t->cap + (size_t)t->idcap * 9 + (size_t)t->hcap * 4;
}

/* ---- text: UTF-8, tokens, folding ---- */

static size_t utf8_enc(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int ascii_word(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Non-ASCII characters are word characters but for punctuation and
 * symbol blocks. */
static int word_cp(uint32_t cp)
{
    if (cp < 0xc0)
        return cp == 0xaa || cp == 0xb2 || cp == 0xb3 || cp == 0xb5 || cp == 0xb9 || cp == 0xba ||
               (cp >= 0xbc && cp <= 0xbe);
    if (cp == 0xd7 || cp == 0xf7)
        return 0;
    if (cp >= 0x2000 && cp <= 0x206f) /* general punctuation */
        return 0;
    if (cp >= 0x20a0 && cp <= 0x20cf) /* currency */
        return 0;
    if (cp >= 0x2190 && cp <= 0x2bff) /* arrows, math, technical, boxes, dingbats */
        return 0;
    if (cp >= 0x2e00 && cp <= 0x2e7f) /* supplemental punctuation */
        return 0;
    if (cp >= 0x3000 && cp <= 0x303f) /* CJK punctuation */
        return 0;
    if ((cp >= 0xfe10 && cp <= 0xfe1f) || (cp >= 0xfe30 && cp <= 0xfe6f) || cp == 0xfeff)
        return 0;
    if ((cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) ||
        (cp >= 0xff3b && cp <= 0xff40) || (cp >= 0xff5b && cp <= 0xff65) || cp >= 0xfff0)
        return cp > 0xffff && !(cp >= 0x1f000 && cp <= 0x1faff);
    if (cp >= 0x1f000 && cp <= 0x1faff) /* emoji and pictographs */
        return 0;
    return 1;
}

/* Latin-1 letters U+00C0..U+00FF without accents, lowercase; 0 = keep. */
static const char latin1_base[64] = "aaaaaa\0ceeeeiiii\0nooooo\0ouuuuy\0\0"
                                    "aaaaaa\0ceeeeiiii\0nooooo\0ouuuuy\0y";
/* Latin Extended-A U+0100..U+017F without accents; '.' = lowercase only. */
static const char latina_base[129] = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii..jjkkk"
                                     "llllllllllnnnnnnn..oooooo..rrrrrrsssssssstttttt"
                                     "uuuuuuuuuuuuwwyyyzzzzzzs";

/* Lowercases cp and removes Latin accents; 0 = drop (combining marks). */
static uint32_t fold_cp(uint32_t cp)
{
    if (cp >= 0xc0 && cp <= 0xff) {
        char b = latin1_base[cp - 0xc0];
        if (b)
            return (unsigned char)b;
        return (cp <= 0xde && cp != 0xd7) ? cp + 0x20 : cp;
    }
    if (cp >= 0x100 && cp <= 0x17f) {
        char b = latina_base[cp - 0x100];
        if (b != '.')
            return (unsigned char)b;
        return (cp & 1) ? cp : cp + 1;
    }
    if (cp >= 0x300 && cp <= 0x36f)
        return 0;
    if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
        return cp + 0x20;
    if (cp >= 0x410 && cp <= 0x42f)
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 0x50;
    return cp;
}

/* Next token of s[*i..n): folded bytes (at most KB_TOKEN_MAX, cut at a
 * character boundary) in out, their count in *olen, the source bytes in
 * [*b, *e). Returns 0 at the end of the text. */
static int next_token(const unsigned char *s, size_t n, size_t *i, char *out, size_t *olen,
                      size_t *b, size_t *e)
{
    size_t p = *i;
    uint32_t cp;
    while (p < n) {
        if (s[p] < 0x80) {
            if (ascii_word(s[p]))
                break;
            p++;
            continue;
        }
        size_t l = utf8_dec(s + p, n - p, &cp);
        if (l && word_cp(cp))
            break;
        p += l ? l : 1;
    }
    if (p >= n) {
        *i = n;
        return 0;
    }
    size_t start = p, o = 0;
    int full = 0; /* cut: the rest of the token is dropped */
    while (p < n) {
        unsigned char c = s[p];
        if (c < 0x80) {
            if (!ascii_word(c))
                break;
            if (!full && o < KB_TOKEN_MAX)
                out[o++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            else
                full = 1;
            p++;
            continue;
        }
        size_t l = utf8_dec(s + p, n - p, &cp);
        if (!l || !word_cp(cp))
            break;
        p += l;
        uint32_t f = fold_cp(cp);
        if (!f || full)
            continue;
        char enc[4];
        size_t el = utf8_enc(f, enc);
        if (o + el <= KB_TOKEN_MAX) {
            memcpy(out + o, enc, el);
            o += el;
        } else {
            full = 1;
        }
    }
    *olen = o;
    *b = start;
    *e = p;
    *i = p;
    return 1;
}

/* Stem of the folded token w[0..n) into out (KB_TOKEN_MAX + 1 bytes);
 * returns its length. Tokens under three bytes and numbers stay as they
 * are. */
static size_t stem_word(struct sb_stemmer *st, const char *w, size_t n, char *out)
{
    int digits = 1;
    for (size_t i = 0; i < n && digits; i++)
        digits = w[i] >= '0' && w[i] <= '9';
    if (n >= 3 && !digits && st) {
        const sb_symbol *r = sb_stemmer_stem(st, (const sb_symbol *)w, (int)n);
        if (r) {
            size_t m = (size_t)sb_stemmer_length(st);
            if (m > KB_TOKEN_MAX)
                m = KB_TOKEN_MAX;
            if (m > 0) {
                memcpy(out, r, m);
                out[m] = 0;
                return m;
            }
        }
    }
    memcpy(out, w, n);
    out[n] = 0;
    return n;
}

/* ---- index structures ---- */

typedef struct kb_post {
    uint32_t slot;
    uint16_t tft, tfb;
} kb_post;

typedef struct plist {
    kb_post *e;
    uint32_t *poff; /* per entry: offset of its positions in pos */
    uint32_t n, cap;
    uint32_t df; /* live documents */
    uint8_t *pos;
    uint32_t npos, poscap;
} plist;

typedef struct slot {
    int64_t doc_id;
    uint32_t len;            /* tokens of title and body */
    uint32_t dt_off, dt_len; /* sorted term ids as varint deltas in dterms */
    uint8_t flags;           /* SLOT_LIVE | audience */
} slot;

typedef struct client {
    int64_t id;
    slot *slots;
    uint32_t nslots, slotcap;
    uint32_t nlive, ndead;
    uint64_t total_len; /* tokens of live documents */
    plist *lists;
    uint32_t nlists, listcap;
    u64map terms; /* term id + 1 -> index in lists */
    uint8_t *dterms;
    uint32_t ndterms, dtermcap;
} client;

/* Per-search working memory, pooled in the index. */
typedef struct qterm {
    char raw[KB_TOKEN_MAX + 1]; /* folded, as typed */
    char stem[KB_TOKEN_MAX + 1];
    uint8_t rawlen, stemlen;
} qterm;

typedef struct qphrase {
    uint32_t first, n; /* terms [first, first + n) */
    int prefix;        /* single term matched as a prefix */
} qphrase;

typedef struct mlist {
    uint32_t *slot;
    double *wf;
    uint32_t n, cap;
} mlist;

typedef struct heapent {
    double score;
    int64_t doc;
} heapent;

typedef struct stok {
    uint32_t b, e; /* source bytes */
    int8_t term;   /* matched query term, -1 = none */
} stok;

typedef struct scratch {
    struct scratch *next;
    struct sb_stemmer *stem;
    qterm terms[KB_QUERY_TERMS];
    qphrase phrases[KB_QUERY_TERMS];
    uint32_t nterms, nphrases;
    mlist ml[KB_QUERY_TERMS];
    uint32_t *pb[KB_QUERY_TERMS]; /* decoded positions */
    uint32_t pbcap[KB_QUERY_TERMS];
    double *acc; /* prefix union, per slot */
    uint32_t *mark, *touched;
    uint32_t acccap, touchcap, gen;
    uint32_t *plids; /* prefix expansion */
    uint32_t plidcap;
    heapent *heap;
    uint32_t heapcap;
    stok *toks; /* snippets */
    uint32_t tokcap;
    char *out;
    uint32_t outcap;
    uint32_t *cuts;
    uint32_t cutcap;
} scratch;

struct kb_index {
    pthread_rwlock_t lock;
    pthread_mutex_t pool_lock;
    scratch *pool;
    char lang[32];
    struct sb_stemmer *wstem; /* writers' (writes are exclusive) */
    strtab dict;              /* stems and tags -> term ids */
    strtab surf;              /* folded tokens -> term id (val) */
    uint32_t *sorted;         /* word term ids by bytes, for prefixes */
    uint32_t nsorted, sortedcap;
    uint32_t pending[PENDING_MAX]; /* newer word ids, sorted */
    uint32_t npending;
    client **clients;
    uint32_t nclients, clientcap;
    u64map cmap; /* client id -> index in clients */
    u64map docs; /* doc id -> client index << 32 | slot */
    /* writers' scratch */
    uint32_t *wtok; /* term ids of title then body tokens */
    uint32_t wtokcap;
    uint32_t *wstamp, *widx; /* per term id */
    uint32_t wstampcap, wgen;
    uint32_t *uterm, *utft, *utfb, *upos, *ulist, *uord;
    uint32_t ucap;
    uint32_t *wpos;
    uint32_t wposcap;
    uint8_t *wdt;
    uint32_t wdtcap;
};

/* ---- dictionary ---- */

static int term_cmp_str(const kb_index *ix, uint32_t id, const char *s, size_t n)
{
    size_t m = ix->dict.slen[id];
    int c = memcmp(ix->dict.s + ix->dict.off[id], s, m < n ? m : n);
    if (c)
        return c;
    return m < n ? -1 : m > n ? 1 : 0;
}

static int sort_ctx_cmp(const kb_index *ix, uint32_t a, uint32_t b)
{
    return term_cmp_str(ix, a, ix->dict.s + ix->dict.off[b], ix->dict.slen[b]);
}

/* Merges the pending word ids into the sorted array. */
static int merge_pending(kb_index *ix)
{
    if (grow((void **)&ix->sorted, &ix->sortedcap, (size_t)ix->nsorted + ix->npending,
             sizeof *ix->sorted))
        return CD_ENOMEM;
    uint32_t i = ix->nsorted, j = ix->npending, k = ix->nsorted + ix->npending;
    while (j > 0) {
        if (i > 0 && sort_ctx_cmp(ix, ix->sorted[i - 1], ix->pending[j - 1]) > 0)
            ix->sorted[--k] = ix->sorted[--i];
        else
            ix->sorted[--k] = ix->pending[--j];
    }
    ix->nsorted += ix->npending;
    ix->npending = 0;
    return CD_OK;
}

/* Id of word or tag s, interned if new; UINT32_MAX when memory is short. */
static uint32_t intern(kb_index *ix, const char *s, size_t n)
{
    uint32_t id = str_find(&ix->dict, s, n);
    if (id != UINT32_MAX)
        return id;
    if (n && s[0] != TAG_MARK && ix->npending == PENDING_MAX && merge_pending(ix))
        return UINT32_MAX;
    id = str_add(&ix->dict, s, n, 0);
    if (id == UINT32_MAX || !n || s[0] == TAG_MARK)
        return id;
    uint32_t k = ix->npending;
    while (k > 0 && sort_ctx_cmp(ix, ix->pending[k - 1], id) > 0) {
        ix->pending[k] = ix->pending[k - 1];
        k--;
    }
    ix->pending[k] = id;
    ix->npending++;
    return id;
}

/* Term id of the folded token w (writers), interning; UINT32_MAX = no memory. */
static uint32_t word_id(kb_index *ix, const char *w, size_t n)
{
    uint32_t sid = str_find(&ix->surf, w, n);
    if (sid != UINT32_MAX)
        return ix->surf.val[sid];
    char st[KB_TOKEN_MAX + 1];
    size_t sl = stem_word(ix->wstem, w, n, st);
    uint32_t id = intern(ix, st, sl);
    if (id != UINT32_MAX && ix->surf.n < SURFACE_MAX)
        str_add(&ix->surf, w, n, id); /* a cache: failing to add is harmless */
    return id;
}

/* Stem of the folded token w for readers: from the cache, else computed. */
static size_t read_stem(const kb_index *ix, struct sb_stemmer *st, const char *w, size_t n,
                        char *out)
{
    uint32_t sid = str_find(&ix->surf, w, n);
    if (sid != UINT32_MAX) {
        uint32_t id = ix->surf.val[sid];
        size_t m = ix->dict.slen[id];
        memcpy(out, ix->dict.s + ix->dict.off[id], m);
        out[m] = 0;
        return m;
    }
    return stem_word(st, w, n, out);
}

/* ---- lifecycle ---- */

kb_index *kb_new(const char *language)
{
    if (!language)
        language = "english";
    if (strlen(language) >= sizeof((kb_index *)0)->lang)
        return NULL;
    kb_index *ix = cd_calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    strcpy(ix->lang, language);
    ix->wstem = sb_stemmer_new(language, "UTF_8");
    if (!ix->wstem) {
        cd_free(ix);
        return NULL;
    }
    /* Writers first: a steady stream of searches must not starve writes. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lrc = pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lrc) {
        sb_stemmer_delete(ix->wstem);
        cd_free(ix);
        return NULL;
    }
    if (pthread_mutex_init(&ix->pool_lock, NULL)) {
        pthread_rwlock_destroy(&ix->lock);
        sb_stemmer_delete(ix->wstem);
        cd_free(ix);
        return NULL;
    }
    return ix;
}

static void scratch_free(scratch *s)
{
    if (s->stem)
        sb_stemmer_delete(s->stem);
    for (int i = 0; i < KB_QUERY_TERMS; i++) {
        cd_free(s->ml[i].slot);
        cd_free(s->ml[i].wf);
        cd_free(s->pb[i]);
    }
    cd_free(s->acc);
    cd_free(s->mark);
    cd_free(s->touched);
    cd_free(s->plids);
    cd_free(s->heap);
    cd_free(s->toks);
    cd_free(s->out);
    cd_free(s->cuts);
    cd_free(s);
}

static void client_free(client *c)
{
    for (uint32_t i = 0; i < c->nlists; i++) {
        cd_free(c->lists[i].e);
        cd_free(c->lists[i].poff);
        cd_free(c->lists[i].pos);
    }
    cd_free(c->lists);
    cd_free(c->slots);
    cd_free(c->dterms);
    map_free(&c->terms);
    cd_free(c);
}

void kb_free(kb_index *ix)
{
    if (!ix)
        return;
    while (ix->pool) {
        scratch *s = ix->pool;
        ix->pool = s->next;
        scratch_free(s);
    }
    for (uint32_t i = 0; i < ix->nclients; i++)
        client_free(ix->clients[i]);
    cd_free(ix->clients);
    map_free(&ix->cmap);
    map_free(&ix->docs);
    str_free(&ix->dict);
    str_free(&ix->surf);
    cd_free(ix->sorted);
    cd_free(ix->wtok);
    cd_free(ix->wstamp);
    cd_free(ix->widx);
    cd_free(ix->uterm);
    cd_free(ix->utft);
    cd_free(ix->utfb);
    cd_free(ix->upos);
    cd_free(ix->ulist);
    cd_free(ix->uord);
    cd_free(ix->wpos);
    cd_free(ix->wdt);
    sb_stemmer_delete(ix->wstem);
    pthread_mutex_destroy(&ix->pool_lock);
    pthread_rwlock_destroy(&ix->lock);
    cd_free(ix);
}

/* ---- writes ---- */

static client *find_client(const kb_index *ix, int64_t id)
{
    const uint64_t *v = map_get(&ix->cmap, (uint64_t)id);
    return v ? ix->clients[*v] : NULL;
}

static int get_client(kb_index *ix, int64_t id, uint32_t *ci)
{
    const uint64_t *v = map_get(&ix->cmap, (uint64_t)id);
    if (v) {
        *ci = (uint32_t)*v;
        return CD_OK;
    }
    if (grow((void **)&ix->clients, &ix->clientcap, (size_t)ix->nclients + 1,
             sizeof *ix->clients) ||
        map_reserve(&ix->cmap, 1))
        return CD_ENOMEM;
    client *c = cd_calloc(1, sizeof *c);
    if (!c)
        return CD_ENOMEM;
    c->id = id;
    *ci = ix->nclients;
    ix->clients[ix->nclients++] = c;
    map_put(&ix->cmap, (uint64_t)id, *ci);
    return CD_OK;
}

/* Index of the client's list for term id, created empty if needed. */
static int get_list(client *c, uint32_t term, uint32_t *li)
{
    const uint64_t *v = map_get(&c->terms, (uint64_t)term + 1);
    if (v) {
        *li = (uint32_t)*v;
        return CD_OK;
    }
    if (grow((void **)&c->lists, &c->listcap, (size_t)c->nlists + 1, sizeof *c->lists) ||
        map_reserve(&c->terms, 1))
        return CD_ENOMEM;
    *li = c->nlists++;
    memset(&c->lists[*li], 0, sizeof c->lists[*li]);
    map_put(&c->terms, (uint64_t)term + 1, *li);
    return CD_OK;
}

/* Compacts the client in place once a quarter of its slots are dead: drops
 * dead entries and their positions, renumbers the slots (order kept).
 * Skipped, harmlessly, when memory is short. */
static void maybe_compact(kb_index *ix, uint32_t ci)
{
    client *c = ix->clients[ci];
    if (c->ndead < 64 || (uint64_t)c->ndead * 4 < c->nslots)
        return;
    uint32_t *map = cd_malloc((size_t)c->nslots * sizeof *map);
    if (!map)
        return;
    uint32_t ns = 0;
    for (uint32_t s = 0; s < c->nslots; s++)
        map[s] = (c->slots[s].flags & SLOT_LIVE) ? ns++ : UINT32_MAX;
    for (uint32_t li = 0; li < c->nlists; li++) {
        plist *p = &c->lists[li];
        uint32_t w = 0, wp = 0;
        for (uint32_t r = 0; r < p->n; r++) {
            uint32_t to = map[p->e[r].slot];
            uint32_t pb = p->poff[r], pe = r + 1 < p->n ? p->poff[r + 1] : p->npos;
            if (to == UINT32_MAX)
                continue;
            memmove(p->pos + wp, p->pos + pb, pe - pb);
            p->e[w] = p->e[r];
            p->e[w].slot = to;
            p->poff[w] = wp;
            wp += pe - pb;
            w++;
        }
        p->n = w;
        p->npos = wp;
    }
    uint32_t dto = 0;
    for (uint32_t s = 0; s < c->nslots; s++) {
        if (map[s] == UINT32_MAX)
            continue;
        slot sl = c->slots[s];
        memmove(c->dterms + dto, c->dterms + sl.dt_off, sl.dt_len);
        sl.dt_off = dto;
        dto += sl.dt_len;
        c->slots[map[s]] = sl;
        uint64_t *v = map_get(&ix->docs, (uint64_t)sl.doc_id);
        if (v)
            *v = (uint64_t)ci << 32 | map[s];
    }
    c->nslots = ns;
    c->ndterms = dto;
    c->ndead = 0;
    cd_free(map);
}

/* Marks the slot dead and takes its words out of the counts. */
static void remove_slot(kb_index *ix, uint32_t ci, uint32_t s)
{
    client *c = ix->clients[ci];
    slot *sl = &c->slots[s];
    const uint8_t *p = c->dterms + sl->dt_off, *end = p + sl->dt_len;
    uint32_t id = 0;
    while (p < end) {
        id += varint_get(&p);
        const uint64_t *v = map_get(&c->terms, (uint64_t)id + 1);
        if (v)
            c->lists[*v].df--;
    }
    sl->flags = 0;
    c->nlive--;
    c->ndead++;
    c->total_len -= sl->len;
    map_del(&ix->docs, (uint64_t)sl->doc_id);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Grows the writers' per-unique-term arrays to hold n. */
static int grow_u(kb_index *ix, size_t n)
{
    if (n <= ix->ucap)
        return CD_OK;
    size_t ncap = ix->ucap ? (size_t)ix->ucap * 2 : 256;
    while (ncap < n)
        ncap *= 2;
    uint32_t **arrs[] = {&ix->uterm, &ix->utft, &ix->utfb, &ix->upos, &ix->ulist, &ix->uord};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        uint32_t *q = cd_realloc(*arrs[i], ncap * sizeof **arrs[i]);
        if (!q)
            return CD_ENOMEM;
        *arrs[i] = q;
    }
    ix->ucap = (uint32_t)ncap;
    return CD_OK;
}

/* Bytes the positions of unique term u take in a posting list. */
static uint32_t pos_bytes(const kb_index *ix, uint32_t u)
{
    uint32_t n = 0;
    const uint32_t *p = ix->wpos + ix->upos[u];
    uint32_t counts[2] = {ix->utft[u], ix->utfb[u]};
    for (int f = 0; f < 2; f++) {
        uint32_t prev = 0;
        for (uint32_t k = 0; k < counts[f]; k++) {
            if (k < TF_MAX)
                n += (uint32_t)varint_len(p[k] - prev);
            prev = p[k];
        }
        p += counts[f];
    }
    return n;
}

static int put_locked(kb_index *ix, int64_t doc_id, int64_t client_id, const char *title,
                      const char *body, const char *const *tags, size_t ntags, unsigned audience)
{
    /* 1. Words of title and body as term ids, then the tags. */
    const char *fields[2] = {title ? title : "", body ? body : ""};
    uint32_t nt0 = 0;
    size_t ntok = 0;
    for (int f = 0; f < 2; f++) {
        const unsigned char *s = (const unsigned char *)fields[f];
        size_t n = strlen(fields[f]), i = 0, wl, b, e;
        char w[KB_TOKEN_MAX];
        while (next_token(s, n, &i, w, &wl, &b, &e)) {
            if (!wl)
                continue;
            uint32_t id = word_id(ix, w, wl);
            if (id == UINT32_MAX || grow((void **)&ix->wtok, &ix->wtokcap, ntok + 1, 4))
                return CD_ENOMEM;
            ix->wtok[ntok++] = id;
        }
        if (f == 0)
            nt0 = (uint32_t)ntok;
    }
    uint32_t tagid[KB_TAGS_MAX];
    for (size_t t = 0; t < ntags; t++) {
        char tb[KB_TOKEN_MAX + 1];
        size_t n = strlen(tags[t]);
        tb[0] = TAG_MARK;
        for (size_t k = 0; k < n; k++) {
            char ch = tags[t][k];
            tb[k + 1] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        tagid[t] = intern(ix, tb, n + 1);
        if (tagid[t] == UINT32_MAX)
            return CD_ENOMEM;
    }

    /* 2. Unique terms with their counts; positions grouped per term. */
    uint32_t nterms = ix->dict.n;
    if (nterms > ix->wstampcap) {
        uint32_t old = ix->wstampcap, cap2 = ix->wstampcap;
        if (grow((void **)&ix->wstamp, &ix->wstampcap, nterms, 4) ||
            grow((void **)&ix->widx, &cap2, nterms, 4)) {
            if (ix->wstampcap != old) /* keep both arrays the same size */
                ix->wstampcap = old;
            return CD_ENOMEM;
        }
        memset(ix->wstamp + old, 0, (size_t)(ix->wstampcap - old) * 4);
    }
    if (++ix->wgen == 0) {
        memset(ix->wstamp, 0, (size_t)ix->wstampcap * 4);
        ix->wgen = 1;
    }
    uint32_t nu = 0;
    for (size_t k = 0; k < ntok + ntags; k++) {
        uint32_t id = k < ntok ? ix->wtok[k] : tagid[k - ntok];
        if (ix->wstamp[id] != ix->wgen) {
            if (grow_u(ix, (size_t)nu + 1))
                return CD_ENOMEM;
            ix->wstamp[id] = ix->wgen;
            ix->widx[id] = nu;
            ix->uterm[nu] = id;
            ix->utft[nu] = ix->utfb[nu] = 0;
            nu++;
        }
        if (k < ntok) {
            uint32_t u = ix->widx[id];
            if (k < nt0)
                ix->utft[u]++;
            else
                ix->utfb[u]++;
        }
    }
    if (grow((void **)&ix->wpos, &ix->wposcap, ntok ? ntok : 1, 4))
        return CD_ENOMEM;
    uint32_t sum = 0;
    for (uint32_t u = 0; u < nu; u++) {
        ix->upos[u] = ix->uord[u] = sum;
        sum += ix->utft[u] + ix->utfb[u];
    }
    for (size_t k = 0; k < ntok; k++) {
        uint32_t u = ix->widx[ix->wtok[k]];
        ix->wpos[ix->uord[u]++] = (uint32_t)(k < nt0 ? k : k - nt0);
    }
    /* The document's term ids, sorted, as varint deltas. */
    for (uint32_t u = 0; u < nu; u++)
        ix->uord[u] = ix->uterm[u];
    qsort(ix->uord, nu, sizeof *ix->uord, cmp_u32);
    if (grow((void **)&ix->wdt, &ix->wdtcap, (size_t)nu * 5 + 1, 1))
        return CD_ENOMEM;
    uint32_t dtl = 0, prev = 0;
    for (uint32_t u = 0; u < nu; u++) {
        dtl += (uint32_t)varint_put(ix->wdt + dtl, ix->uord[u] - prev);
        prev = ix->uord[u];
    }

    /* 3. Room for everything; nothing visible changes before this is done. */
    uint32_t ci;
    if (get_client(ix, client_id, &ci))
        return CD_ENOMEM;
    client *c = ix->clients[ci];
    if (grow((void **)&c->slots, &c->slotcap, (size_t)c->nslots + 1, sizeof *c->slots) ||
        grow((void **)&c->dterms, &c->dtermcap, (size_t)c->ndterms + dtl, 1) ||
        map_reserve(&c->terms, nu) || map_reserve(&ix->docs, 1))
        return CD_ENOMEM;
    for (uint32_t u = 0; u < nu; u++) {
        if (get_list(c, ix->uterm[u], &ix->ulist[u]))
            return CD_ENOMEM;
        plist *p = &c->lists[ix->ulist[u]];
        uint32_t cap1 = p->cap, cap2 = p->cap;
        if (grow((void **)&p->e, &cap1, (size_t)p->n + 1, sizeof *p->e) ||
            grow((void **)&p->poff, &cap2, (size_t)p->n + 1, sizeof *p->poff))
            return CD_ENOMEM;
        p->cap = cap1 < cap2 ? cap1 : cap2;
        if (grow((void **)&p->pos, &p->poscap, (size_t)p->npos + pos_bytes(ix, u), 1))
            return CD_ENOMEM;
    }

    /* 4. Commit. */
    const uint64_t *old = map_get(&ix->docs, (uint64_t)doc_id);
    uint32_t oldci = UINT32_MAX;
    if (old) {
        oldci = (uint32_t)(*old >> 32);
        remove_slot(ix, oldci, (uint32_t)*old);
    }
    uint32_t s = c->nslots++;
    c->slots[s] = (slot){.doc_id = doc_id,
                         .len = (uint32_t)ntok,
                         .dt_off = c->ndterms,
                         .dt_len = dtl,
                         .flags = (uint8_t)(SLOT_LIVE | audience)};
    memcpy(c->dterms + c->ndterms, ix->wdt, dtl);
    c->ndterms += dtl;
    for (uint32_t u = 0; u < nu; u++) {
        plist *p = &c->lists[ix->ulist[u]];
        uint32_t tft = ix->utft[u], tfb = ix->utfb[u];
        p->e[p->n] = (kb_post){.slot = s,
                               .tft = (uint16_t)(tft < TF_MAX ? tft : TF_MAX),
                               .tfb = (uint16_t)(tfb < TF_MAX ? tfb : TF_MAX)};
        p->poff[p->n] = p->npos;
        const uint32_t *pp = ix->wpos + ix->upos[u];
        uint32_t counts[2] = {tft, tfb};
        for (int f = 0; f < 2; f++) {
            uint32_t pv = 0;
            for (uint32_t k = 0; k < counts[f]; k++) {
                if (k < TF_MAX)
                    p->npos += (uint32_t)varint_put(p->pos + p->npos, pp[k] - pv);
                pv = pp[k];
            }
            pp += counts[f];
        }
        p->n++;
        p->df++;
    }
    c->nlive++;
    c->total_len += ntok;
    map_put(&ix->docs, (uint64_t)doc_id, (uint64_t)ci << 32 | s);
    if (oldci != UINT32_MAX)
        maybe_compact(ix, oldci);
    return CD_OK;
}

int kb_put(kb_index *ix, int64_t doc_id, int64_t client_id, const char *title, const char *body,
           const char *const *tags, size_t ntags, unsigned audience)
{
    if (!ix || doc_id <= 0 || client_id <= 0 ||
        (audience != KB_INTERNAL && audience != KB_PUBLIC) || ntags > KB_TAGS_MAX ||
        (ntags && !tags))
        return CD_EINVAL;
    for (size_t t = 0; t < ntags; t++) {
        size_t n = tags[t] ? strlen(tags[t]) : 0;
        if (n == 0 || n > KB_TOKEN_MAX)
            return CD_EINVAL;
    }
    pthread_rwlock_wrlock(&ix->lock);
    int rc = put_locked(ix, doc_id, client_id, title, body, tags, ntags, audience);
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int kb_remove(kb_index *ix, int64_t doc_id)
{
    if (!ix)
        return CD_EINVAL;
    pthread_rwlock_wrlock(&ix->lock);
    int rc = CD_ENOTFOUND;
    const uint64_t *v = doc_id > 0 ? map_get(&ix->docs, (uint64_t)doc_id) : NULL;
    if (v) {
        uint32_t ci = (uint32_t)(*v >> 32);
        remove_slot(ix, ci, (uint32_t)*v);
        maybe_compact(ix, ci);
        rc = CD_OK;
    }
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int kb_contains(kb_index *ix, int64_t doc_id, int64_t *client_id)
{
    if (!ix || doc_id <= 0)
        return 0;
    pthread_rwlock_rdlock(&ix->lock);
    const uint64_t *v = map_get(&ix->docs, (uint64_t)doc_id);
    if (v && client_id)
        *client_id = ix->clients[*v >> 32]->id;
    pthread_rwlock_unlock(&ix->lock);
    return v != NULL;
}

/* ---- search ---- */

static scratch *pool_get(kb_index *ix)
{
    pthread_mutex_lock(&ix->pool_lock);
    scratch *s = ix->pool;
    if (s)
        ix->pool = s->next;
    pthread_mutex_unlock(&ix->pool_lock);
    if (s)
        return s;
    s = cd_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->stem = sb_stemmer_new(ix->lang, "UTF_8");
    if (!s->stem) {
        cd_free(s);
        return NULL;
    }
    return s;
}

static void pool_put(kb_index *ix, scratch *s)
{
    pthread_mutex_lock(&ix->pool_lock);
    s->next = ix->pool;
    ix->pool = s;
    pthread_mutex_unlock(&ix->pool_lock);
}

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Adds the words of r[0..n) as one phrase (a term if one word; a prefix if
 * bare, one word and followed by '*'). */
static void add_run(const kb_index *ix, scratch *s, const unsigned char *r, size_t n, int bare)
{
    size_t i = 0, b, e, wl, lastend = 0;
    char w[KB_TOKEN_MAX];
    uint32_t first = s->nterms;
    while (s->nterms < KB_QUERY_TERMS && next_token(r, n, &i, w, &wl, &b, &e)) {
        if (!wl)
            continue;
        qterm *t = &s->terms[s->nterms++];
        memcpy(t->raw, w, wl);
        t->raw[wl] = 0;
        t->rawlen = (uint8_t)wl;
        t->stemlen = (uint8_t)read_stem(ix, s->stem, w, wl, t->stem);
        lastend = e;
    }
    uint32_t cnt = s->nterms - first;
    if (!cnt)
        return;
    qphrase *ph = &s->phrases[s->nphrases++];
    ph->first = first;
    ph->n = cnt;
    ph->prefix = bare && cnt == 1 && lastend < n && r[lastend] == '*';
}

static void parse_query(const kb_index *ix, scratch *s, const char *q)
{
    const unsigned char *u = (const unsigned char *)q;
    size_t n = strlen(q), p = 0;
    s->nterms = s->nphrases = 0;
    while (p < n && s->nterms < KB_QUERY_TERMS) {
        if (u[p] == '"') {
            size_t b = p + 1;
            const char *close = memchr(q + b, '"', n - b);
            size_t e = close ? (size_t)(close - q) : n;
            add_run(ix, s, u + b, e - b, 0);
            p = close ? e + 1 : n;
        } else if (is_space(u[p])) {
            p++;
        } else {
            size_t b = p;
            while (p < n && !is_space(u[p]) && u[p] != '"')
                p++;
            add_run(ix, s, u + b, p - b, 1);
        }
    }
}

typedef struct cur {
    const kb_post *e;   /* a posting list, or */
    const uint32_t *ms; /* a materialized list */
    const double *mw;
    uint32_t n, i;
    double idf;
} cur;

static inline uint32_t cur_slot(const cur *c, uint32_t i)
{
    return c->e ? c->e[i].slot : c->ms[i];
}

static inline double cur_wf(const cur *c)
{
    if (c->e)
        return KB_TITLE_WEIGHT * c->e[c->i].tft + c->e[c->i].tfb;
    return c->mw[c->i];
}

/* Moves c to its first entry with slot >= target; 1 if that slot is target. */
static int cur_seek(cur *c, uint32_t target)
{
    uint32_t i = c->i, n = c->n;
    if (i >= n)
        return 0;
    if (cur_slot(c, i) < target) {
        uint32_t lo = i, step = 1, hi = i + 1;
        while (hi < n && cur_slot(c, hi) < target) {
            lo = hi;
            step *= 2;
            hi = lo + step;
        }
        if (hi > n)
            hi = n;
        /* cur_slot(lo) < target; answer in (lo, hi] */
        while (lo + 1 < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (cur_slot(c, mid) < target)
                lo = mid;
            else
                hi = mid;
        }
        i = hi;
        c->i = i;
        if (i >= n)
            return 0;
    }
    return cur_slot(c, i) == target;
}

static const plist *term_list(const kb_index *ix, const client *c, const char *s, size_t n)
{
    uint32_t id = str_find(&ix->dict, s, n);
    if (id == UINT32_MAX)
        return NULL;
    const uint64_t *v = map_get(&c->terms, (uint64_t)id + 1);
    return v && c->lists[*v].df ? &c->lists[*v] : NULL;
}

/* Positions of entry r of p in field f (0 title, 1 body) into out. */
static uint32_t decode_pos(const plist *p, uint32_t r, int f, uint32_t *out)
{
    const uint8_t *q = p->pos + p->poff[r];
    uint32_t nt = p->e[r].tft, nb = p->e[r].tfb;
    if (f == 1)
        for (uint32_t k = 0; k < nt; k++)
            varint_get(&q);
    uint32_t n = f == 0 ? nt : nb, v = 0;
    for (uint32_t k = 0; k < n; k++) {
        v += varint_get(&q);
        out[k] = v;
    }
    return n;
}

static int ml_push(mlist *m, uint32_t sl, double wf)
{
    if (m->n == m->cap) {
        uint32_t c1 = m->cap, c2 = m->cap;
        if (grow((void **)&m->slot, &c1, (size_t)m->n + 1, sizeof *m->slot) ||
            grow((void **)&m->wf, &c2, (size_t)m->n + 1, sizeof *m->wf))
            return CD_ENOMEM;
        m->cap = c1 < c2 ? c1 : c2;
    }
    m->slot[m->n] = sl;
    m->wf[m->n] = wf;
    m->n++;
    return CD_OK;
}

/* The documents containing the phrase of the m lists pl, with their
 * weighted phrase frequencies, into out. */
static int phrase_list(scratch *s, const client *c, const plist **pl, uint32_t m, mlist *out)
{
    out->n = 0;
    uint32_t d = 0;
    for (uint32_t i = 1; i < m; i++)
        if (pl[i]->n < pl[d]->n)
            d = i;
    cur cs[KB_QUERY_TERMS];
    for (uint32_t i = 0; i < m; i++)
        cs[i] = (cur){.e = pl[i]->e, .n = pl[i]->n};
    for (uint32_t r = 0; r < pl[d]->n; r++) {
        uint32_t sl = pl[d]->e[r].slot;
        if (!(c->slots[sl].flags & SLOT_LIVE))
            continue;
        int ok = 1;
        for (uint32_t i = 0; i < m && ok; i++) {
            if (i == d)
                continue;
            if (!cur_seek(&cs[i], sl)) {
                if (cs[i].i >= cs[i].n)
                    return CD_OK;
                ok = 0;
            }
        }
        if (!ok)
            continue;
        cs[d].i = r;
        uint32_t cnt[2] = {0, 0}, np[KB_QUERY_TERMS];
        for (int f = 0; f < 2; f++) {
            for (uint32_t i = 0; i < m; i++) {
                const kb_post *e = &pl[i]->e[cs[i].i];
                uint32_t need = f == 0 ? e->tft : e->tfb;
                if (grow((void **)&s->pb[i], &s->pbcap[i], need ? need : 1, 4))
                    return CD_ENOMEM;
                np[i] = decode_pos(pl[i], cs[i].i, f, s->pb[i]);
            }
            uint32_t at[KB_QUERY_TERMS] = {0};
            for (uint32_t k = 0; k < np[0]; k++) {
                uint32_t p0 = s->pb[0][k];
                int hit = 1;
                for (uint32_t i = 1; i < m && hit; i++) {
                    while (at[i] < np[i] && s->pb[i][at[i]] < p0 + i)
                        at[i]++;
                    hit = at[i] < np[i] && s->pb[i][at[i]] == p0 + i;
                }
                cnt[f] += (uint32_t)hit;
            }
        }
        if ((cnt[0] || cnt[1]) && ml_push(out, sl, KB_TITLE_WEIGHT * cnt[0] + cnt[1]))
            return CD_ENOMEM;
    }
    return CD_OK;
}

/* Sorts a[0..n) ascending without allocating (heapsort). */
static void sort_u32(uint32_t *a, uint32_t n)
{
    if (n < 2)
        return;
    for (uint32_t start = n / 2; start-- > 0;) {
        uint32_t r = start;
        for (uint32_t ch; (ch = 2 * r + 1) < n; r = ch) {
            if (ch + 1 < n && a[ch + 1] > a[ch])
                ch++;
            if (a[r] >= a[ch])
                break;
            uint32_t t = a[r];
            a[r] = a[ch];
            a[ch] = t;
        }
    }
    for (uint32_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        uint32_t r = 0;
        for (uint32_t ch; (ch = 2 * r + 1) < end; r = ch) {
            if (ch + 1 < end && a[ch + 1] > a[ch])
                ch++;
            if (a[r] >= a[ch])
                break;
            uint32_t t2 = a[r];
            a[r] = a[ch];
            a[ch] = t2;
        }
    }
}

/* Adds to s->plids the client's lists of the words starting with pre. */
static int prefix_range(const kb_index *ix, scratch *s, const client *c, const char *pre, size_t n,
                        uint32_t *np)
{
    const uint32_t *arrs[2] = {ix->sorted, ix->pending};
    uint32_t lens[2] = {ix->nsorted, ix->npending};
    for (int a = 0; a < 2; a++) {
        uint32_t lo = 0, hi = lens[a];
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (term_cmp_str(ix, arrs[a][mid], pre, n) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (uint32_t k = lo; k < lens[a] && *np < KB_PREFIX_MAX; k++) {
            uint32_t id = arrs[a][k];
            if (ix->dict.slen[id] < n || memcmp(ix->dict.s + ix->dict.off[id], pre, n) != 0)
                break;
            const uint64_t *v = map_get(&c->terms, (uint64_t)id + 1);
            if (v && c->lists[*v].df) {
                if (grow((void **)&s->plids, &s->plidcap, (size_t)*np + 1, 4))
                    return CD_ENOMEM;
                s->plids[(*np)++] = (uint32_t)*v;
            }
        }
    }
    return CD_OK;
}

static int starts_with(const char *s, size_t n, const char *p, size_t m)
{
    return n >= m && memcmp(s, p, m) == 0;
}

/* Resolves prefix term t into cursor cu, materializing into m if it
 * expands to several words. 1 = matches something, 0 = nothing. */
static int resolve_prefix(const kb_index *ix, scratch *s, const client *c, const qterm *t, mlist *m,
                          cur *cu, uint32_t *df)
{
    uint32_t np = 0;
    int rc;
    /* The word as typed and its stem; one range when one contains the other. */
    if (starts_with(t->raw, t->rawlen, t->stem, t->stemlen)) {
        rc = prefix_range(ix, s, c, t->stem, t->stemlen, &np);
    } else if (starts_with(t->stem, t->stemlen, t->raw, t->rawlen)) {
        rc = prefix_range(ix, s, c, t->raw, t->rawlen, &np);
    } else {
        rc = prefix_range(ix, s, c, t->raw, t->rawlen, &np);
        if (!rc)
            rc = prefix_range(ix, s, c, t->stem, t->stemlen, &np);
    }
    if (rc)
        return rc;
    if (np == 0)
        return 0;
    if (np == 1) {
        const plist *p = &c->lists[s->plids[0]];
        *cu = (cur){.e = p->e, .n = p->n};
        *df = p->df;
        return 1;
    }
    if (grow((void **)&s->acc, &s->acccap, c->nslots, sizeof *s->acc))
        return CD_ENOMEM;
    uint32_t oldcap = s->touchcap;
    if (grow((void **)&s->mark, &s->touchcap, c->nslots, 4))
        return CD_ENOMEM;
    if (s->touchcap != oldcap) {
        uint32_t c2 = oldcap;
        if (grow((void **)&s->touched, &c2, s->touchcap, 4)) {
            s->touchcap = oldcap;
            return CD_ENOMEM;
        }
        memset(s->mark + oldcap, 0, (size_t)(s->touchcap - oldcap) * 4);
    }
    if (++s->gen == 0) {
        memset(s->mark, 0, (size_t)s->touchcap * 4);
        s->gen = 1;
    }
    uint32_t nt = 0;
    for (uint32_t k = 0; k < np; k++) {
        const plist *p = &c->lists[s->plids[k]];
        for (uint32_t r = 0; r < p->n; r++) {
            uint32_t sl = p->e[r].slot;
            if (!(c->slots[sl].flags & SLOT_LIVE))
                continue;
            if (s->mark[sl] != s->gen) {
                s->mark[sl] = s->gen;
                s->acc[sl] = 0;
                s->touched[nt++] = sl;
            }
            s->acc[sl] += KB_TITLE_WEIGHT * p->e[r].tft + p->e[r].tfb;
        }
    }
    sort_u32(s->touched, nt);
    m->n = 0;
    for (uint32_t k = 0; k < nt; k++)
        if (ml_push(m, s->touched[k], s->acc[s->touched[k]]))
            return CD_ENOMEM;
    *cu = (cur){.ms = m->slot, .mw = m->wf, .n = m->n};
    *df = m->n;
    return 1;
}

/* Resolves phrase k of the query into cursor cu with its idf. 1 = matches
 * something, 0 = nothing (so the query matches nothing), < 0 = error. */
static int resolve(const kb_index *ix, scratch *s, const client *c, uint32_t k, cur *cu)
{
    const qphrase *ph = &s->phrases[k];
    uint32_t df = 0;
    if (ph->prefix) {
        int rc = resolve_prefix(ix, s, c, &s->terms[ph->first], &s->ml[k], cu, &df);
        if (rc <= 0)
            return rc;
    } else if (ph->n == 1) {
        const qterm *t = &s->terms[ph->first];
        const plist *p = term_list(ix, c, t->stem, t->stemlen);
        if (!p)
            return 0;
        *cu = (cur){.e = p->e, .n = p->n};
        df = p->df;
    } else {
        const plist *pl[KB_QUERY_TERMS] = {0};
        for (uint32_t i = 0; i < ph->n; i++) {
            const qterm *t = &s->terms[ph->first + i];
            pl[i] = term_list(ix, c, t->stem, t->stemlen);
            if (!pl[i])
                return 0;
        }
        int rc = phrase_list(s, c, pl, ph->n, &s->ml[k]);
        if (rc)
            return rc;
        if (!s->ml[k].n)
            return 0;
        *cu = (cur){.ms = s->ml[k].slot, .mw = s->ml[k].wf, .n = s->ml[k].n};
        df = s->ml[k].n;
    }
    double nd = (double)c->nlive;
    double idf = log((nd - df + 0.5) / (df + 0.5));
    cu->idf = idf <= 0.0 ? 1e-6 : idf;
    return 1;
}

/* a ranks before b. */
static inline int better(const heapent *a, const heapent *b)
{
    return a->score > b->score || (a->score == b->score && a->doc < b->doc);
}

/* Sift down in a heap whose root is the worst entry. */
static void heap_down(heapent *h, uint32_t n, uint32_t r)
{
    for (uint32_t ch; (ch = 2 * r + 1) < n; r = ch) {
        if (ch + 1 < n && better(&h[ch], &h[ch + 1]))
            ch++;
        if (!better(&h[r], &h[ch]))
            break;
        heapent t = h[r];
        h[r] = h[ch];
        h[ch] = t;
    }
}

static void heap_up(heapent *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!better(&h[p], &h[i]))
            break;
        heapent t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
    }
}

static int search_locked(kb_index *ix, scratch *s, int64_t client_id, const char *query,
                         const kb_filter *f, size_t offset, size_t limit, kb_hit *hits,
                         size_t *nhits, size_t *total)
{
    const client *c = find_client(ix, client_id);
    if (!c || !c->nlive)
        return CD_OK;
    parse_query(ix, s, query);
    if (!s->nphrases)
        return CD_OK;
    cur cs[KB_QUERY_TERMS + KB_TAGS_MAX];
    uint32_t ncur = s->nphrases;
    for (uint32_t k = 0; k < s->nphrases; k++) {
        int rc = resolve(ix, s, c, k, &cs[k]);
        if (rc <= 0)
            return rc;
    }
    unsigned aud = f ? f->audience : 0;
    for (size_t t = 0; f && t < f->ntags; t++) {
        char tb[KB_TOKEN_MAX + 1];
        size_t n = strlen(f->tags[t]);
        tb[0] = TAG_MARK;
        for (size_t k = 0; k < n; k++) {
            char ch = f->tags[t][k];
            tb[k + 1] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        const plist *p = term_list(ix, c, tb, n + 1);
        if (!p)
            return CD_OK;
        cs[ncur++] = (cur){.e = p->e, .n = p->n};
    }
    /* Intersection order: shortest first. */
    uint32_t ord[KB_QUERY_TERMS + KB_TAGS_MAX];
    for (uint32_t k = 0; k < ncur; k++) {
        uint32_t j = k;
        while (j > 0 && cs[ord[j - 1]].n > cs[k].n) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = k;
    }
    uint32_t want = (uint32_t)(offset + limit), nh = 0;
    if (grow((void **)&s->heap, &s->heapcap, want ? want : 1, sizeof *s->heap))
        return CD_ENOMEM;
    double avgdl = (double)c->total_len / (double)c->nlive;
    size_t matches = 0;
    cur *dv = &cs[ord[0]];
    for (dv->i = 0; dv->i < dv->n; dv->i++) {
        uint32_t sl = cur_slot(dv, dv->i);
        const slot *so = &c->slots[sl];
        if (!(so->flags & SLOT_LIVE) || (aud && !(so->flags & aud)))
            continue;
        uint32_t j = 1;
        for (; j < ncur; j++) {
            cur *o = &cs[ord[j]];
            if (!cur_seek(o, sl)) {
                if (o->i >= o->n)
                    goto done;
                break;
            }
        }
        if (j < ncur)
            continue;
        matches++;
        if (!want)
            continue;
        double D = (double)so->len;
        double kd = K1 * (1 - BM25_B + BM25_B * D / avgdl);
        double score = 0.0;
        for (uint32_t k = 0; k < s->nphrases; k++) {
            double wf = cur_wf(&cs[k]);
            score += cs[k].idf * ((wf * (K1 + 1.0)) / (wf + kd));
        }
        heapent he = {score, so->doc_id};
        if (nh < want) {
            s->heap[nh] = he;
            heap_up(s->heap, nh++);
        } else if (better(&he, &s->heap[0])) {
            s->heap[0] = he;
            heap_down(s->heap, nh, 0);
        }
    }
done:
    /* Heap to best-first order: the worst goes to the end each time. */
    for (uint32_t end = nh; end > 1; end--) {
        heapent t = s->heap[0];
        s->heap[0] = s->heap[end - 1];
        s->heap[end - 1] = t;
        heap_down(s->heap, end - 1, 0);
    }
    for (uint32_t k = (uint32_t)offset; k < nh; k++)
        hits[(*nhits)++] = (kb_hit){s->heap[k].doc, s->heap[k].score};
    if (total)
        *total = matches;
    return CD_OK;
}

int kb_search(kb_index *ix, int64_t client_id, const char *query, const kb_filter *f, size_t offset,
              size_t limit, kb_hit *hits, size_t *nhits, size_t *total)
{
    if (nhits)
        *nhits = 0;
    if (total)
        *total = 0;
    if (!ix || !query || !nhits || (limit && !hits) || offset > KB_WINDOW_MAX ||
        limit > KB_WINDOW_MAX - offset || client_id <= 0)
        return CD_EINVAL;
    if (f) {
        if ((f->audience & ~(KB_INTERNAL | KB_PUBLIC)) || f->ntags > KB_TAGS_MAX ||
            (f->ntags && !f->tags))
            return CD_EINVAL;
        for (size_t t = 0; t < f->ntags; t++) {
            size_t n = f->tags[t] ? strlen(f->tags[t]) : 0;
            if (n == 0 || n > KB_TOKEN_MAX)
                return CD_EINVAL;
        }
    }
    scratch *s = pool_get(ix);
    if (!s)
        return CD_ENOMEM;
    pthread_rwlock_rdlock(&ix->lock);
    int rc = search_locked(ix, s, client_id, query, f, offset, limit, hits, nhits, total);
    pthread_rwlock_unlock(&ix->lock);
    pool_put(ix, s);
    if (rc) {
        *nhits = 0;
        if (total)
            *total = 0;
    }
    return rc;
}

/* ---- snippets ---- */

typedef struct obuf {
    scratch *s;
    uint32_t n;
    int oom;
} obuf;

static void o_put(obuf *o, const char *p, size_t n)
{
    if (o->oom)
        return;
    if ((size_t)o->n + n > UINT32_MAX / 2 ||
        grow((void **)&o->s->out, &o->s->outcap, (size_t)o->n + n + 1, 1)) {
        o->oom = 1;
        return;
    }
    memcpy(o->s->out + o->n, p, n);
    o->n += (uint32_t)n;
}

static void o_cut(obuf *o, uint32_t *ncuts)
{
    if (o->oom)
        return;
    if (grow((void **)&o->s->cuts, &o->s->cutcap, (size_t)*ncuts + 1, 4)) {
        o->oom = 1;
        return;
    }
    o->s->cuts[(*ncuts)++] = o->n;
}

/* Text between words: whitespace and control characters collapse to one
 * space, Markdown marks go, the rest is escaped. *space carries a pending
 * space across calls. */
static void o_between(obuf *o, const unsigned char *t, size_t n, int *space)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = t[i];
        uint32_t cp;
        size_t l = utf8_dec(t + i, n - i, &cp);
        if (c < 0x20 || c == 0x7f || c == ' ') {
            *space = 1;
            i++;
            continue;
        }
        if (c == '*' || c == '`' || c == '#') {
            i++;
            continue;
        }
        if (*space) {
            o_put(o, " ", 1);
            *space = 0;
        }
        switch (c) {
        case '&':
            o_put(o, "&amp;", 5);
            break;
        case '<':
            o_put(o, "&lt;", 4);
            break;
        case '>':
            o_put(o, "&gt;", 4);
            break;
        case '"':
            o_put(o, "&quot;", 6);
            break;
        case '\'':
            o_put(o, "&#39;", 5);
            break;
        default:
            if (l)
                o_put(o, (const char *)t + i, l);
            else
                o_put(o, "\xef\xbf\xbd", 3);
        }
        i += l ? l : 1;
    }
}

/* Does the folded word w (stem st) match query term t? */
static int term_match(const scratch *s, uint32_t k, const char *w, size_t wl, const char *st,
                      size_t sl)
{
    const qterm *t = &s->terms[k];
    int prefix = 0;
    for (uint32_t p = 0; p < s->nphrases; p++)
        if (s->phrases[p].first == k && s->phrases[p].prefix)
            prefix = 1;
    if (!prefix)
        return sl == t->stemlen && memcmp(st, t->stem, sl) == 0;
    return starts_with(st, sl, t->raw, t->rawlen) || starts_with(st, sl, t->stem, t->stemlen) ||
           starts_with(w, wl, t->raw, t->rawlen);
}

static int snippet_locked(kb_index *ix, scratch *s, const char *query, const char *text,
                          size_t max_words, char *out, size_t cap)
{
    const unsigned char *u = (const unsigned char *)text;
    size_t n = strlen(text);
    if (n > UINT32_MAX / 2)
        return CD_ETOOBIG;
    parse_query(ix, s, query);
    uint32_t nt = 0;
    size_t i = 0, wl, b, e;
    char w[KB_TOKEN_MAX], st[KB_TOKEN_MAX + 1];
    while (next_token(u, n, &i, w, &wl, &b, &e)) {
        if (grow((void **)&s->toks, &s->tokcap, (size_t)nt + 1, sizeof *s->toks))
            return CD_ENOMEM;
        stok *tk = &s->toks[nt++];
        tk->b = (uint32_t)b;
        tk->e = (uint32_t)e;
        tk->term = -1;
        if (!wl)
            continue;
        size_t sl = read_stem(ix, s->stem, w, wl, st);
        for (uint32_t k = 0; k < s->nterms; k++) {
            if (term_match(s, k, w, wl, st, sl)) {
                tk->term = (int8_t)k;
                break;
            }
        }
    }
    if (!nt)
        return CD_OK;

    /* The window: most distinct terms, then most matches, then earliest. */
    uint32_t W = max_words < nt ? (uint32_t)max_words : nt, best = 0;
    uint32_t cnt[KB_QUERY_TERMS] = {0}, distinct = 0, matches = 0;
    uint64_t bestscore = 0;
    for (uint32_t k = 0; k < nt; k++) {
        int t = s->toks[k].term;
        if (t >= 0) {
            distinct += cnt[t]++ == 0;
            matches++;
        }
        if (k >= W) {
            int o = s->toks[k - W].term;
            if (o >= 0) {
                distinct -= --cnt[o] == 0;
                matches--;
            }
        }
        if (k + 1 >= W) {
            uint64_t sc = (uint64_t)distinct << 32 | matches;
            if (sc > bestscore) {
                bestscore = sc;
                best = k + 1 - W;
            }
        }
    }
    /* A little context before the first match, if the last one stays in. */
    if (bestscore) {
        uint32_t fm = best, lm = best;
        while (s->toks[fm].term < 0)
            fm++;
        for (uint32_t k = best; k < best + W; k++)
            if (s->toks[k].term >= 0)
                lm = k;
        uint32_t slack = W - (lm - fm + 1), back = slack < 5 ? slack : 5;
        best = fm >= back ? fm - back : 0;
        if (best + W > nt)
            best = nt - W;
    }

    obuf o = {s, 0, 0};
    uint32_t ncuts = 0;
    int space = 0;
    if (best > 0)
        o_put(&o, "\xe2\x80\xa6 ", 4);
    for (uint32_t k = best; k < best + W; k++) {
        const stok *tk = &s->toks[k];
        if (k > best)
            o_between(&o, u + s->toks[k - 1].e, tk->b - s->toks[k - 1].e, &space);
        if (space) {
            o_put(&o, " ", 1);
            space = 0;
        }
        if (tk->term >= 0)
            o_put(&o, "<mark>", 6);
        o_put(&o, text + tk->b, tk->e - tk->b);
        if (tk->term >= 0)
            o_put(&o, "</mark>", 7);
        o_cut(&o, &ncuts);
    }
    /* Punctuation right after the last word, up to the next space. */
    uint32_t last = s->toks[best + W - 1].e, stop = last;
    uint32_t lim = best + W < nt ? s->toks[best + W].b : (uint32_t)n;
    while (stop < lim && !is_space(u[stop]))
        stop++;
    o_between(&o, u + last, stop - last, &space);
    if (best + W < nt)
        o_put(&o, " \xe2\x80\xa6", 4);
    if (o.oom)
        return CD_ENOMEM;
    if ((size_t)o.n < cap) {
        memcpy(out, s->out, o.n);
        out[o.n] = 0;
        return CD_OK;
    }
    /* Too long for out: cut after the last word that fits with an ellipsis. */
    uint32_t keep = 0;
    for (uint32_t k = 0; k < ncuts; k++)
        if ((size_t)s->cuts[k] + 4 + 1 <= cap)
            keep = s->cuts[k];
    if (!keep) {
        out[0] = 0;
        return CD_OK;
    }
    memcpy(out, s->out, keep);
    memcpy(out + keep, " \xe2\x80\xa6", 4);
    out[keep + 4] = 0;
    return CD_OK;
}

int kb_snippet(kb_index *ix, const char *query, const char *text, size_t max_words, char *out,
               size_t cap)
{
    if (!out || !cap)
        return CD_EINVAL;
    out[0] = 0;
    if (!ix || !query || !text)
        return CD_EINVAL;
    if (!max_words)
        max_words = KB_SNIPPET_WORDS;
    scratch *s = pool_get(ix);
    if (!s)
        return CD_ENOMEM;
    pthread_rwlock_rdlock(&ix->lock);
    int rc = snippet_locked(ix, s, query, text, max_words, out, cap);
    pthread_rwlock_unlock(&ix->lock);
    pool_put(ix, s);
    if (rc)
        out[0] = 0;
    return rc;
}

/* ---- stats ---- */

static size_t scratch_mem(const scratch *s)
{
    size_t m = sizeof *s + (size_t)s->acccap * 8 + (size_t)s->touchcap * 8 +
               (size_t)s->plidcap * 4 + (size_t)s->heapcap * sizeof *s->heap +
               (size_t)s->tokcap * sizeof *s->toks + s->outcap + (size_t)s->cutcap * 4;
    for (int i = 0; i < KB_QUERY_TERMS; i++)
        m += (size_t)s->ml[i].cap * 12 + (size_t)s->pbcap[i] * 4;
    return m;
}

void kb_get_stats(kb_index *ix, kb_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!ix)
        return;
    pthread_rwlock_rdlock(&ix->lock);
    size_t m = sizeof *ix + str_mem(&ix->dict) + str_mem(&ix->surf) + (size_t)ix->sortedcap * 4 +
               (size_t)ix->clientcap * sizeof *ix->clients + (size_t)ix->cmap.cap * 16 +
               (size_t)ix->docs.cap * 16 + (size_t)ix->wtokcap * 4 + (size_t)ix->wstampcap * 8 +
               (size_t)ix->ucap * 24 + (size_t)ix->wposcap * 4 + ix->wdtcap;
    for (uint32_t i = 0; i < ix->nclients; i++) {
        const client *c = ix->clients[i];
        m += sizeof *c + (size_t)c->slotcap * sizeof *c->slots +
             (size_t)c->listcap * sizeof *c->lists + (size_t)c->terms.cap * 16 + c->dtermcap;
        for (uint32_t l = 0; l < c->nlists; l++) {
            m += (size_t)c->lists[l].cap * (sizeof(kb_post) + 4) + c->lists[l].poscap;
            st->postings += c->lists[l].n;
        }
        st->docs += c->nlive;
    }
    st->clients = ix->nclients;
    st->terms = ix->dict.n;
    pthread_mutex_lock(&ix->pool_lock);
    for (const scratch *s = ix->pool; s; s = s->next)
        m += scratch_mem(s);
    pthread_mutex_unlock(&ix->pool_lock);
    pthread_rwlock_unlock(&ix->lock);
    st->mem_bytes = m;
}
