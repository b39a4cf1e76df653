/* bench/kb.c - knowledge-base search latency and ranking, against SQLite
 * FTS5 with bm25().
 *
 * Corpus: articles generated from a seed, spread evenly over the clients.
 * Each article has a main and a second topic out of twelve (billing,
 * refunds, passwords, routers, appointments, cards, delivery, accounts, the
 * app, plans, outages, security); words come from the topics' nouns and
 * verbs, general support words, adjectives, function words, the client's
 * product names and codes (error numbers, order numbers), each list drawn
 * with Zipf-like weights (the k-th word 1/k). Titles have 4-10 words,
 * bodies 80-400 in sentences and paragraphs with some Markdown (headings,
 * lists, bold); 1-3 tags; 70% public.
 *
 * Queries, each for one client chosen at random: 1-4 words drawn as the
 * articles' words are (70%); a phrase of 2-3 consecutive words taken from
 * one of the client's articles, sometimes with a word (15%); a prefix of a
 * topic word (3-6 letters) and a star, sometimes with a word (15%).
 *
 * Engines, same corpus and queries in the same run:
 *   kb    src/core/kb.c, one index for all clients, kb_search(limit 10)
 *   fts5  SQLite FTS5 in an in-memory database, one table per client
 *         (FTS5's statistics are per table, as kb's are per client),
 *         tokenize='porter unicode61', rank = bm25(KB_TITLE_WEIGHT, 1.0),
 *         'optimize'd after loading, one prepared statement per table:
 *         SELECT rowid, rank FROM t WHERE t MATCH ? ORDER BY rank LIMIT 10
 * Both rank with BM25 (k1 1.2, b 0.75) over title and body with the same
 * title weight and take every query word as required; they differ in the
 * stemmer (Snowball english vs Porter) and tokenizer details (docs/kb.md).
 *
 * Latency: the time of one search call, 10 results (fts5: bind, step to
 * the end, reset). Every pass runs all queries through both engines; p50
 * and p99 are taken per pass, the medians over passes reported.
 *
 * top10_overlap = mean over queries where either engine found something
 * of |kb10 ∩ fts10| / max(|kb10|, |fts10|), kb10 and fts10 being the sets
 * of the (up to) ten documents returned. Queries where both found nothing
 * are counted apart (both_empty). score_agree = share of documents in both
 * top tens whose kb score equals -rank from FTS5 within 1e-9 (relative).
 *
 *   bench_kb [--docs N] [--queries N] [--clients N] [--seed N] [--passes N] */
#include "core/kb.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- random numbers ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static double unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* ---- word lists with Zipf-like weights ---- */

typedef struct wlist {
    const char **w;
    double *cdf;
    unsigned n;
} wlist;

static void die(const char *msg)
{
    fprintf(stderr, "bench_kb: %s\n", msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static wlist mklist(const char *words)
{
    wlist l = {0};
    char *copy = strdup(words);
    if (!copy)
        die("out of memory");
    for (char *t = strtok(copy, " "); t; t = strtok(NULL, " ")) {
        l.w = xrealloc(l.w, (l.n + 1) * sizeof *l.w);
        l.w[l.n++] = t;
    }
    l.cdf = xmalloc(l.n * sizeof *l.cdf);
    double s = 0;
    for (unsigned k = 0; k < l.n; k++)
        l.cdf[k] = s += 1.0 / (k + 1);
    for (unsigned k = 0; k < l.n; k++)
        l.cdf[k] /= s;
    return l;
}

static const char *zipf(const wlist *l)
{
    double u = unit();
    unsigned lo = 0, hi = l->n - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (l->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return l->w[lo];
}

#define NTOPICS 12
static const char *topic_names[NTOPICS] = {"billing",      "refunds", "passwords", "routers",
                                           "appointments", "cards",   "delivery",  "account",
                                           "app",          "plans",   "outages",   "security"};
static const char *topic_nouns[NTOPICS] = {
    "invoice bill charge payment statement balance fee plan subscription receipt amount tax "
    "discount credit cycle autopay period proration direct debit overcharge billing total",
    "refund return credit reimbursement order item purchase policy request window amount method "
    "store exchange label receipt condition warranty voucher",
    "password login account email link code username security verification question lockout "
    "attempt device browser session token reset",
    "router modem wifi network signal connection internet cable port light firmware channel band "
    "speed outage ethernet adapter extender hub",
    "appointment booking slot calendar visit clinic doctor schedule reminder time date "
    "confirmation location technician availability waiting",
    "card debit pin transaction limit bank statement fraud chip contactless expiry replacement "
    "wallet merchant cash atm",
    "delivery parcel package shipment courier tracking address order driver dispatch warehouse "
    "carrier postcode signature box",
    "account profile settings name email phone address preferences notification privacy data "
    "identity document",
    "app update version phone android iphone screen notification crash error install download "
    "storage cache settings",
    "plan upgrade downgrade tier feature trial contract renewal price bundle family business "
    "premium basic allowance",
    "outage service area status maintenance incident engineer fault update estimate restoration "
    "network region",
    "security fraud scam phishing message alert activity protection code verification factor "
    "authentication breach"};
static const char *topic_verbs[NTOPICS] = {
    "pay charge update download dispute view change cancel settle",
    "refund return request process approve reject issue receive exchange",
    "reset change recover unlock verify sign enter forget expire",
    "restart reboot connect reset configure update plug disconnect test",
    "book reschedule cancel confirm change arrive remind select check",
    "activate block freeze replace report decline order use withdraw",
    "deliver ship track dispatch collect return redirect arrive sign",
    "update delete create close verify change manage edit export",
    "install update open crash restart clear download sync log",
    "upgrade downgrade renew cancel compare switch start end",
    "report restore fix monitor check notify affect resolve",
    "report block protect verify enable secure alert detect"};
static const char *general_words =
    "help issue problem customer support team contact chat call agent ticket request case "
    "question answer information details step guide option button page menu website online "
    "minutes hours days week business working number reference message solution note "
    "available need time again sure follow first next";
static const char *adjectives = "new slow late missing wrong failed pending active blocked locked "
                                "expired incorrect unavailable intermittent duplicate";
static const char *function_words =
    "the to and a of your you is in for on it this if we can be with that or not will are "
    "have from at by as an our any when may then after before";
static const char *brand_syl[] = {"no", "va", "ze", "lo", "ta", "ri", "mo", "ki", "sa", "lu"};

static wlist L_nouns[NTOPICS], L_verbs[NTOPICS], L_general, L_adj, L_func, L_topics;

/* ---- corpus ---- */

typedef struct article {
    int64_t id, client;
    char *title, *body;
    const char *tags[3];
    size_t ntags;
    unsigned audience;
} article;

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n + 1);
    b->n += n;
}

static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_add(b, tmp);
}

typedef struct clientinfo {
    char brand[16], products[3][16];
} clientinfo;

static clientinfo *cinfo;

static void mkname(char *out, size_t cap)
{
    size_t n = 0;
    int syl = 2 + (int)below(2);
    for (int i = 0; i < syl && n + 3 < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s", brand_syl[below(10)]);
}

/* One word of an article on topics t1 (main) and t2. */
static const char *word(const clientinfo *ci, int t1, int t2, char *tmp, size_t cap)
{
    double u = unit();
    if (u < 0.35)
        return zipf(&L_func);
    if (u < 0.56)
        return zipf(&L_nouns[t1]);
    if (u < 0.65)
        return zipf(&L_verbs[t1]);
    if (u < 0.73)
        return unit() < 0.7 ? zipf(&L_nouns[t2]) : zipf(&L_verbs[t2]);
    if (u < 0.90)
        return zipf(&L_general);
    if (u < 0.95)
        return zipf(&L_adj);
    if (u < 0.98)
        return unit() < 0.4 ? ci->brand : ci->products[below(3)];
    if (unit() < 0.5)
        snprintf(tmp, cap, "%u", 100 + below(900));
    else
        snprintf(tmp, cap, "e%u", 1000 + below(9000));
    return tmp;
}

static void gen_article(article *a, int64_t id, int64_t client)
{
    const clientinfo *ci = &cinfo[client - 1];
    int t1 = 0;
    const char *tn = zipf(&L_topics);
    for (int k = 0; k < NTOPICS; k++)
        if (strcmp(tn, topic_names[k]) == 0)
            t1 = k;
    int t2 = (int)below(NTOPICS);
    char tmp[32];
    sbuf t = {0}, b = {0};
    /* Title: a template, filled up to 4-10 words with topic words. */
    unsigned tl = 4 + below(7), used;
    switch (below(5)) {
    case 0:
        sb_fmt(&t, "How to %s your %s", zipf(&L_verbs[t1]), zipf(&L_nouns[t1]));
        used = 4;
        break;
    case 1:
        sb_fmt(&t, "Why is my %s %s", zipf(&L_nouns[t1]), zipf(&L_adj));
        used = 5;
        break;
    case 2:
        sb_fmt(&t, "%s %s not working", zipf(&L_nouns[t1]), zipf(&L_nouns[t1]));
        t.s[0] = (char)(t.s[0] - 32);
        used = 4;
        break;
    case 3:
        sb_fmt(&t, "Troubleshooting %s", zipf(&L_nouns[t1]));
        used = 2;
        break;
    default:
        sb_fmt(&t, "%s %s", ci->brand, zipf(&L_nouns[t1]));
        used = 2;
    }
    for (; used < tl; used++) {
        sb_add(&t, " ");
        sb_add(&t, unit() < 0.7 ? zipf(&L_nouns[t1]) : zipf(&L_verbs[t1]));
    }
    /* Body: paragraphs of sentences, some headings and list items. */
    unsigned bl = 80 + below(321), n = 0;
    while (n < bl) {
        double u = unit();
        if (u < 0.08) {
            sb_fmt(&b, "## %s %s\n\n", zipf(&L_verbs[t1]), zipf(&L_nouns[t1]));
            n += 2;
            continue;
        }
        int list = u < 0.2;
        unsigned sl = 6 + below(11);
        if (list)
            sb_add(&b, "- ");
        for (unsigned k = 0; k < sl && n < bl; k++, n++) {
            const char *w = word(ci, t1, t2, tmp, sizeof tmp);
            if (k == 0 && !list) {
                char cap[32];
                snprintf(cap, sizeof cap, "%s", w);
                if (cap[0] >= 'a' && cap[0] <= 'z')
                    cap[0] = (char)(cap[0] - 32);
                sb_add(&b, cap);
            } else if (unit() < 0.02) {
                sb_fmt(&b, "**%s**", w);
            } else {
                sb_add(&b, w);
            }
            sb_add(&b, k + 1 == sl || n + 1 == bl ? (list ? "\n" : ". ")
                       : unit() < 0.06            ? ", "
                                                  : " ");
        }
        if (!list && unit() < 0.25)
            sb_add(&b, "\n\n");
    }
    a->id = id;
    a->client = client;
    a->title = t.s;
    a->body = b.s;
    a->ntags = 1 + below(3);
    a->tags[0] = topic_names[t1];
    a->tags[1] = topic_names[t2];
    a->tags[2] = unit() < 0.5 ? "faq" : "howto";
    if (a->ntags >= 2 && t2 == t1)
        a->ntags = 1;
    a->audience = unit() < 0.7 ? KB_PUBLIC : KB_INTERNAL;
}

/* ---- queries ---- */

typedef struct query {
    int64_t client;
    char text[160];
    int kind; /* 0 words, 1 phrase, 2 prefix */
} query;

/* A lowercase alphanumeric word at *p of s (skipping anything else). */
static int next_word(const char *s, size_t *p, char *out, size_t cap)
{
    size_t i = *p;
    while (s[i] && !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                     (s[i] >= '0' && s[i] <= '9')))
        i++;
    if (!s[i])
        return 0;
    size_t n = 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9')) {
        if (n + 1 < cap)
            out[n++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        i++;
    }
    out[n] = 0;
    *p = i;
    /* only words followed by a space or punctuation that ends no sentence */
    return 1;
}

static const char *query_word(int t)
{
    double u = unit();
    if (u < 0.6)
        return zipf(&L_nouns[t]);
    if (u < 0.8)
        return zipf(&L_verbs[t]);
    if (u < 0.92)
        return zipf(&L_general);
    return zipf(&L_adj);
}

static void gen_query(query *q, const article *arts, const size_t *byclient, size_t per,
                      int nclients)
{
    q->client = 1 + below((unsigned)nclients);
    const char *tn = zipf(&L_topics);
    int t = 0;
    for (int k = 0; k < NTOPICS; k++)
        if (strcmp(tn, topic_names[k]) == 0)
            t = k;
    double u = unit();
    size_t n = 0;
    q->text[0] = 0;
    if (u < 0.70) {
        q->kind = 0;
        unsigned nw = 1 + below(4);
        for (unsigned k = 0; k < nw; k++)
            n += (size_t)snprintf(q->text + n, sizeof q->text - n, "%s%s", k ? " " : "",
                                  query_word(t));
    } else if (u < 0.85) {
        /* 2-3 consecutive words of one sentence of one of the client's articles */
        q->kind = 1;
        const article *a = &arts[byclient[(q->client - 1) * per + below((unsigned)per)]];
        size_t len = strlen(a->body), p = below((unsigned)len), i;
        char w[3][32];
        unsigned want = 2 + below(2), got = 0;
        for (int tries = 0; tries < 50 && got < want; tries++) {
            got = 0;
            i = p;
            /* start at a word start */
            while (i > 0 && a->body[i - 1] != ' ')
                i--;
            size_t j = i;
            while (got < want && next_word(a->body, &j, w[got], sizeof w[got])) {
                /* stop at sentence or line ends: a phrase must be contiguous */
                got++;
                if (a->body[j] != ' ')
                    break;
            }
            if (got < want) {
                p = below((unsigned)len);
                got = 0;
            }
        }
        if (got < want) {
            snprintf(q->text, sizeof q->text, "%s", query_word(t));
            return;
        }
        n += (size_t)snprintf(q->text + n, sizeof q->text - n, "\"");
        for (unsigned k = 0; k < want; k++)
            n += (size_t)snprintf(q->text + n, sizeof q->text - n, "%s%s", k ? " " : "", w[k]);
        n += (size_t)snprintf(q->text + n, sizeof q->text - n, "\"");
        if (unit() < 0.3)
            snprintf(q->text + n, sizeof q->text - n, " %s", query_word(t));
    } else {
        q->kind = 2;
        const char *w = zipf(&L_nouns[t]);
        size_t wl = strlen(w), pl = 3 + below(4);
        if (pl > wl)
            pl = wl;
        n += (size_t)snprintf(q->text + n, sizeof q->text - n, "%.*s*", (int)pl, w);
        if (unit() < 0.4)
            snprintf(q->text + n, sizeof q->text - n, " %s", query_word(t));
    }
}

/* ---- timing ---- */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t k = (size_t)(p * (double)(n - 1) + 0.5);
    return v[k];
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void check(int rc, sqlite3 *db, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        fprintf(stderr, "bench_kb: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    size_t ndocs = 100000, nq = 10000;
    int nclients = 50, passes = 5;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--docs") == 0 && i + 1 < argc)
            ndocs = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc)
            nq = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            nclients = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
            passes = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_kb [--docs N] [--queries N] [--clients N] "
                            "[--seed N] [--passes N]\n");
            return 2;
        }
    }
    if (nclients < 1 || ndocs < (size_t)nclients || nq < 1 || passes < 1)
        die("bad arguments");
    rng_state = seed;

    /* Word lists; topics themselves are Zipf-weighted in the order above. */
    char topics[256] = "";
    for (int k = 0; k < NTOPICS; k++) {
        L_nouns[k] = mklist(topic_nouns[k]);
        L_verbs[k] = mklist(topic_verbs[k]);
        strcat(topics, topic_names[k]);
        strcat(topics, " ");
    }
    L_topics = mklist(topics);
    L_general = mklist(general_words);
    L_adj = mklist(adjectives);
    L_func = mklist(function_words);
    cinfo = xmalloc((size_t)nclients * sizeof *cinfo);
    for (int c = 0; c < nclients; c++) {
        mkname(cinfo[c].brand, sizeof cinfo[c].brand);
        for (int p = 0; p < 3; p++)
            mkname(cinfo[c].products[p], sizeof cinfo[c].products[p]);
    }

    /* Corpus: article i belongs to client 1 + i % nclients. */
    article *arts = xmalloc(ndocs * sizeof *arts);
    size_t per = ndocs / (size_t)nclients, words = 0;
    size_t *byclient = xmalloc((size_t)nclients * per * sizeof *byclient);
    for (size_t i = 0; i < ndocs; i++) {
        gen_article(&arts[i], (int64_t)i + 1, 1 + (int64_t)(i % (size_t)nclients));
        if (i / (size_t)nclients < per)
            byclient[(i % (size_t)nclients) * per + i / (size_t)nclients] = i;
        size_t p = 0;
        char w[64];
        while (next_word(arts[i].body, &p, w, sizeof w))
            words++;
    }
    query *qs = xmalloc(nq * sizeof *qs);
    size_t kinds[3] = {0, 0, 0};
    for (size_t i = 0; i < nq; i++) {
        gen_query(&qs[i], arts, byclient, per, nclients);
        kinds[qs[i].kind]++;
    }

    /* kb */
    double t0 = now_us();
    kb_index *ix = kb_new("english");
    if (!ix)
        die("kb_new failed");
    for (size_t i = 0; i < ndocs; i++)
        if (kb_put(ix, arts[i].id, arts[i].client, arts[i].title, arts[i].body, arts[i].tags,
                   arts[i].ntags, arts[i].audience) != 0)
            die("kb_put failed");
    double kb_build_s = (now_us() - t0) / 1e6;
    kb_stats st;
    kb_get_stats(ix, &st);

    /* fts5 */
    sqlite3 *db;
    check(sqlite3_open(":memory:", &db), db, "open");
    sqlite3_int64 mem0 = sqlite3_memory_used();
    t0 = now_us();
    check(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), db, "begin");
    sqlite3_stmt **ins = xmalloc((size_t)nclients * sizeof *ins);
    sqlite3_stmt **sel = xmalloc((size_t)nclients * sizeof *sel);
    for (int c = 0; c < nclients; c++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "CREATE VIRTUAL TABLE c%d USING fts5(title, body, tokenize='porter unicode61');"
                 "INSERT INTO c%d(c%d, rank) VALUES('rank', 'bm25(%.1f, 1.0)');",
                 c + 1, c + 1, c + 1, KB_TITLE_WEIGHT);
        check(sqlite3_exec(db, sql, NULL, NULL, NULL), db, "create");
        snprintf(sql, sizeof sql, "INSERT INTO c%d(rowid, title, body) VALUES(?, ?, ?)", c + 1);
        check(sqlite3_prepare_v2(db, sql, -1, &ins[c], NULL), db, "prepare insert");
    }
    for (size_t i = 0; i < ndocs; i++) {
        sqlite3_stmt *s = ins[arts[i].client - 1];
        sqlite3_bind_int64(s, 1, arts[i].id);
        sqlite3_bind_text(s, 2, arts[i].title, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, arts[i].body, -1, SQLITE_STATIC);
        check(sqlite3_step(s), db, "insert");
        sqlite3_reset(s);
    }
    for (int c = 0; c < nclients; c++) {
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO c%d(c%d) VALUES('optimize')", c + 1, c + 1);
        check(sqlite3_exec(db, sql, NULL, NULL, NULL), db, "optimize");
        sqlite3_finalize(ins[c]);
        snprintf(sql, sizeof sql,
                 "SELECT rowid, rank FROM c%d WHERE c%d MATCH ?1 ORDER BY rank LIMIT 10", c + 1,
                 c + 1);
        check(sqlite3_prepare_v2(db, sql, -1, &sel[c], NULL), db, "prepare select");
    }
    check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
    double fts_build_s = (now_us() - t0) / 1e6;
    sqlite3_int64 fts_mem = sqlite3_memory_used() - mem0;

    /* Searches. */
    double *lat_kb = xmalloc(nq * sizeof(double)), *lat_fts = xmalloc(nq * sizeof(double));
    double *p50k = xmalloc((size_t)passes * sizeof(double)),
           *p99k = xmalloc((size_t)passes * sizeof(double)),
           *p50f = xmalloc((size_t)passes * sizeof(double)),
           *p99f = xmalloc((size_t)passes * sizeof(double));
    double overlap_sum = 0, score_ok = 0, score_n = 0;
    size_t overlap_n = 0, both_empty = 0, kb_nonempty = 0, fts_nonempty = 0;
    for (int pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i < nq; i++) {
            kb_hit h[10];
            size_t nh = 0, tot = 0;
            double a = now_us();
            int rc = kb_search(ix, qs[i].client, qs[i].text, NULL, 0, 10, h, &nh, &tot);
            lat_kb[i] = now_us() - a;
            if (rc != 0)
                die("kb_search failed");

            sqlite3_stmt *s = sel[qs[i].client - 1];
            int64_t fid[10];
            double frank[10];
            size_t nf = 0;
            a = now_us();
            sqlite3_bind_text(s, 1, qs[i].text, -1, SQLITE_STATIC);
            while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                if (nf < 10) {
                    fid[nf] = sqlite3_column_int64(s, 0);
                    frank[nf] = sqlite3_column_double(s, 1);
                    nf++;
                }
            }
            sqlite3_reset(s);
            lat_fts[i] = now_us() - a;
            if (rc != SQLITE_DONE) {
                fprintf(stderr, "bench_kb: fts5 query %s: %s\n", qs[i].text, sqlite3_errmsg(db));
                return 1;
            }
            if (pass > 0)
                continue;
            kb_nonempty += nh > 0;
            fts_nonempty += nf > 0;
            if (!nh && !nf) {
                both_empty++;
                continue;
            }
            size_t common = 0;
            for (size_t x = 0; x < nh; x++)
                for (size_t y = 0; y < nf; y++)
                    if (h[x].doc_id == fid[y]) {
                        common++;
                        score_n++;
                        double d = fabs(h[x].score + frank[y]);
                        score_ok += d <= 1e-9 * fabs(frank[y]);
                    }
            overlap_sum += (double)common / (double)(nh > nf ? nh : nf);
            overlap_n++;
        }
        p50k[pass] = pct(lat_kb, nq, 0.50);
        p99k[pass] = pct(lat_kb, nq, 0.99);
        p50f[pass] = pct(lat_fts, nq, 0.50);
        p99f[pass] = pct(lat_fts, nq, 0.99);
    }
    double kb50 = median(p50k, (size_t)passes), kb99 = median(p99k, (size_t)passes);
    double f50 = median(p50f, (size_t)passes), f99 = median(p99f, (size_t)passes);
    double overlap = overlap_n ? overlap_sum / (double)overlap_n : 1.0;

    printf("corpus: %zu articles, %d clients, %.1fM body words, seed %llu\n", ndocs, nclients,
           (double)words / 1e6, (unsigned long long)seed);
    printf("queries: %zu (%zu words, %zu phrases, %zu prefixes); with results: kb %zu, "
           "fts5 %zu, neither %zu\n",
           nq, kinds[0], kinds[1], kinds[2], kb_nonempty, fts_nonempty, both_empty);
    printf("build: kb %.2f s, %.0f MB (%zu terms, %zu postings); fts5 %.2f s, %.0f MB "
           "(text included)\n",
           kb_build_s, (double)st.mem_bytes / 1e6, st.terms, st.postings, fts_build_s,
           (double)fts_mem / 1e6);
    printf("kb:   p50 %.1f us, p99 %.1f us (medians of %d passes)\n", kb50, kb99, passes);
    printf("fts5: p50 %.1f us, p99 %.1f us (medians of %d passes)\n", f50, f99, passes);
    printf("top-10 overlap %.4f over %zu queries; scores equal to fts5's for %.4f of common "
           "documents\n",
           overlap, overlap_n, score_n ? score_ok / score_n : 1.0);
    printf("kb_p50_us=%.1f fts5_p50_us=%.1f ratio=%.2f top10_overlap=%.4f kb_p99_us=%.1f "
           "fts5_p99_us=%.1f score_agree=%.4f kb_build_s=%.2f fts5_build_s=%.2f kb_mb=%.0f\n",
           kb50, f50, f50 / kb50, overlap, kb99, f99, score_n ? score_ok / score_n : 1.0,
           kb_build_s, fts_build_s, (double)st.mem_bytes / 1e6);

    for (int c = 0; c < nclients; c++)
        sqlite3_finalize(sel[c]);
    sqlite3_close(db);
    kb_free(ix);
    for (size_t i = 0; i < ndocs; i++) {
        free(arts[i].title);
        free(arts[i].body);
    }
    free(arts);
    free(byclient);
    free(qs);
    free(lat_kb);
    free(lat_fts);
    free(p50k);
    free(p99k);
    free(p50f);
    free(p99f);
    free(ins);
    free(sel);
    free(cinfo);
    return 0;
}
