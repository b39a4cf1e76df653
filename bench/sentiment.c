/* bench/sentiment.c - the sentiment engine's accuracy and speed, side by
 * side with the npm package vader-sentiment run by node on the same
 * sentences in the same run (bench/sentiment_vader.mjs).
 *
 * Data: ../shared/data/sentiment/yelp_labelled.tsv (UCI "Sentiment Labelled
 * Sentences", Kotzias et al., 2015, CC BY 4.0) and any file given with
 * --data; lines `label<TAB>text`, 1 positive, 0 negative; lines with
 * another label (a header, an unlabelled row) are skipped.
 *
 * Binary rule, for both engines: score (compound) >= 0 is positive.
 *
 * Accuracy is measured on sentences the engine did not learn from:
 *   accuracy          k-fold cross-validation (default 10 folds, a fixed
 *                     shuffle): the learned layer is trained on k-1 folds
 *                     and scores the held-out fold; pooled over the folds
 *                     and the files.
 *   lexicon_accuracy  the lexicon rules alone (nothing learned).
 *   shipped_accuracy  per file, the shipped weights (lexicon/
 *                     sentiment_weights.tsv), only for files they were not
 *                     learned from.
 *   vader_accuracy    vader-sentiment on the same files.
 * Speed: msgs_per_s is the shipped model scoring every sentence, timed
 * passes of at least 0.3 s, half of them just before node runs and half
 * just after (the machine may be shared), median of --reps (default 5);
 * vader_msgs_per_s is node's median of as many passes.
 *
 *   bench_sentiment [--data FILE]... [--no-yelp] [--folds K] [--reps N]
 *                   [--lexicon DIR]
 *   bench_sentiment --write-weights PATH [--note TEXT] [--data FILE]...
 *                   learns from all the files and writes the weights
 *
 * Last line: accuracy=... vader_accuracy=... msgs_per_s=...
 * vader_msgs_per_s=... then speedup, lexicon_accuracy, n, folds. */
#include "core/cd_err.h"
#include "core/sentiment.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#ifndef CAREDESK_SOURCE_DIR
#define CAREDESK_SOURCE_DIR "."
#endif

#define YELP CAREDESK_SOURCE_DIR "/../shared/data/sentiment/yelp_labelled.tsv"
#define MAX_FILES 16

typedef struct dataset {
    const char *path;
    char *buf;
    sentiment_example *ex;
    size_t n;
} dataset;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "bench_sentiment: out of memory\n");
        exit(1);
    }
    return p;
}

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

static void load_data(dataset *d)
{
    FILE *f = fopen(d->path, "rb");
    if (!f) {
        fprintf(stderr, "bench_sentiment: %s: cannot open\n", d->path);
        exit(1);
    }
    size_t cap = 1 << 16, len = 0, got;
    d->buf = xrealloc(NULL, cap + 1);
    while ((got = fread(d->buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            d->buf = xrealloc(d->buf, (cap *= 2) + 1);
    }
    fclose(f);
    d->buf[len] = '\0';
    size_t capx = 0;
    for (char *line = d->buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        char *tab = strchr(line, '\t');
        if (tab && tab - line == 1 && (line[0] == '0' || line[0] == '1')) {
            if (d->n == capx)
                d->ex = xrealloc(d->ex, (capx = capx ? capx * 2 : 1024) * sizeof *d->ex);
            d->ex[d->n++] = (sentiment_example){tab + 1, strlen(tab + 1), line[0] == '1'};
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!d->n) {
        fprintf(stderr, "bench_sentiment: %s: no labelled lines\n", d->path);
        exit(1);
    }
}

static int right(const sentiment_model *m, const sentiment_example *e)
{
    sentiment_result r;
    sentiment_score(m, e->text, e->len, &r);
    return (r.score >= 0) == (e->label != 0);
}

static size_t accuracy_of(const sentiment_model *m, const dataset *d)
{
    size_t ok = 0;
    for (size_t i = 0; i < d->n; i++)
        ok += (size_t)right(m, &d->ex[i]);
    return ok;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* k-fold cross-validation: the number right on the held-out folds. */
static size_t cross_validate(const sentiment_model *base, const dataset *d, int k)
{
    size_t *perm = xrealloc(NULL, d->n * sizeof *perm);
    for (size_t i = 0; i < d->n; i++)
        perm[i] = i;
    uint64_t seed = 20240611;
    for (size_t i = d->n - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next(&seed) % (i + 1));
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    sentiment_example *train = xrealloc(NULL, d->n * sizeof *train);
    size_t ok = 0;
    for (int f = 0; f < k; f++) {
        size_t nt = 0;
        for (size_t i = 0; i < d->n; i++)
            if ((int)(i % (size_t)k) != f)
                train[nt++] = d->ex[perm[i]];
        sentiment_model *m;
        if (sentiment_train(base, train, nt, NULL, &m) != CD_OK) {
            fprintf(stderr, "bench_sentiment: training failed\n");
            exit(1);
        }
        for (size_t i = (size_t)f; i < d->n; i += (size_t)k)
            ok += (size_t)right(m, &d->ex[perm[i]]);
        sentiment_free(m);
    }
    free(train);
    free(perm);
    return ok;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Appends the msgs/s of `passes` timed passes (each at least 0.3 s). */
static void time_passes(const sentiment_model *m, const sentiment_example *all, size_t na,
                        int passes, double *rates, int *nrates)
{
    volatile double sink = 0;
    for (int r = 0; r < passes; r++) {
        size_t msgs = 0;
        double t0 = now_s(), t;
        do {
            for (size_t j = 0; j < na; j++) {
                sentiment_result res;
                sentiment_score(m, all[j].text, all[j].len, &res);
                sink += res.score;
            }
            msgs += na;
        } while ((t = now_s() - t0) < 0.3);
        rates[(*nrates)++] = (double)msgs / t;
    }
    (void)sink;
}

/* Runs bench/sentiment_vader.mjs; fills per-file accuracy and the totals. */
static void run_vader(const dataset *ds, int nds, int reps, double *file_acc, double *acc,
                      double *rate)
{
    size_t cap = 4096, len = 0;
    char *cmd = xrealloc(NULL, cap);
    len = (size_t)snprintf(cmd, cap, "node '%s/bench/sentiment_vader.mjs' --reps %d",
                           CAREDESK_SOURCE_DIR, reps);
    for (int i = 0; i < nds; i++) {
        if (strchr(ds[i].path, '\'')) {
            fprintf(stderr, "bench_sentiment: %s: quote in file name\n", ds[i].path);
            exit(1);
        }
        size_t need = len + strlen(ds[i].path) + 8;
        if (need > cap)
            cmd = xrealloc(cmd, cap = need * 2);
        len += (size_t)snprintf(cmd + len, cap - len, " '%s'", ds[i].path);
    }
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "bench_sentiment: cannot run node\n");
        exit(1);
    }
    char line[8192];
    int nfile = 0, done = 0;
    while (fgets(line, sizeof line, p)) {
        char *a;
        if (strncmp(line, "file=", 5) == 0 && nfile < nds && (a = strstr(line, " accuracy=")))
            file_acc[nfile++] = atof(a + 10);
        else if (sscanf(line, "vader_accuracy=%lf vader_msgs_per_s=%lf", acc, rate) == 2)
            done = 1;
    }
    int st = pclose(p);
    free(cmd);
    if (!done || nfile != nds || st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr,
                "bench_sentiment: the VADER reference did not run (exit %d): it needs node "
                "and lexicon/node_modules/vader-sentiment (scripts/install-deps.sh)\n",
                st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    dataset ds[MAX_FILES] = {{0}};
    int nds = 0, folds = 10, reps = 5, yelp = 1;
    const char *lexdir = NULL, *write_weights = NULL, *note = NULL;
    const char *extra[MAX_FILES];
    int nextra = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc && nextra < MAX_FILES - 1)
            extra[nextra++] = argv[++i];
        else if (strcmp(argv[i], "--no-yelp") == 0)
            yelp = 0;
        else if (strcmp(argv[i], "--folds") == 0 && i + 1 < argc)
            folds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--lexicon") == 0 && i + 1 < argc)
            lexdir = argv[++i];
        else if (strcmp(argv[i], "--write-weights") == 0 && i + 1 < argc)
            write_weights = argv[++i];
        else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
            note = argv[++i];
        else {
            fprintf(stderr,
                    "usage: bench_sentiment [--data FILE]... [--no-yelp] [--folds K] [--reps N] "
                    "[--lexicon DIR]\n"
                    "       bench_sentiment --write-weights PATH [--note TEXT] [--data FILE]...\n");
            return 2;
        }
    }
    if (folds < 2 || folds > 100 || reps < 1 || reps > 100) {
        fprintf(stderr, "bench_sentiment: --folds 2..100, --reps 1..100\n");
        return 2;
    }
    if (yelp)
        ds[nds++].path = YELP;
    for (int i = 0; i < nextra; i++)
        ds[nds++].path = extra[i];
    if (!nds) {
        fprintf(stderr, "bench_sentiment: no data\n");
        return 2;
    }
    size_t total = 0;
    for (int i = 0; i < nds; i++) {
        load_data(&ds[i]);
        total += ds[i].n;
    }

    char msg[512];
    sentiment_model *base, *shipped;
    int rc = sentiment_load_dir(lexdir, 0, &base, msg, sizeof msg);
    if (rc == CD_OK)
        rc = sentiment_load_dir(lexdir, 1, &shipped, msg, sizeof msg);
    if (rc != CD_OK) {
        fprintf(stderr, "bench_sentiment: %s\n", msg);
        return 1;
    }

    sentiment_example *all = xrealloc(NULL, total * sizeof *all);
    size_t na = 0;
    for (int i = 0; i < nds; i++)
        for (size_t j = 0; j < ds[i].n; j++)
            all[na++] = ds[i].ex[j];

    if (write_weights) {
        char nb[1024];
        if (!note) {
            size_t l = 0;
            for (int i = 0; i < nds && l < sizeof nb - 64; i++)
                l += (size_t)snprintf(nb + l, sizeof nb - l, "%s%s", i ? ", " : "",
                                      base_name(ds[i].path));
            snprintf(nb + l, sizeof nb - l, " (%zu labelled sentences)", total);
            note = nb;
        }
        sentiment_train_opts o = {.note = note};
        sentiment_model *m;
        if (sentiment_train(base, all, na, &o, &m) != CD_OK ||
            sentiment_save_weights(m, write_weights) != CD_OK) {
            fprintf(stderr, "bench_sentiment: cannot learn or write %s\n", write_weights);
            return 1;
        }
        sentiment_info in;
        sentiment_model_info(m, &in);
        printf("wrote %s: a=%.4f b=%.4f learned_tokens=%zu from %s\n", write_weights, in.a, in.b,
               in.learned_tokens, in.learned_from);
        sentiment_free(m);
        return 0;
    }

    sentiment_info si;
    sentiment_model_info(shipped, &si);
    printf("model: lexicon_entries=%zu emoji=%zu learned=%d learned_tokens=%zu a=%.4f b=%.4f "
           "learned_from=\"%s\"\n",
           si.lexicon_entries, si.emoji_entries, si.learned, si.learned_tokens, si.a, si.b,
           si.learned_from);

    /* Speed: the shipped model scoring every sentence, half the passes
     * just before node's and half just after, so both see the same load. */
    double rates[200];
    int nrates = 0;
    time_passes(shipped, all, na, (reps + 1) / 2, rates, &nrates);
    double vfile[MAX_FILES], vacc, vrate;
    run_vader(ds, nds, reps, vfile, &vacc, &vrate);
    time_passes(shipped, all, na, reps - (reps + 1) / 2 > 0 ? reps - (reps + 1) / 2 : 1, rates,
                &nrates);

    size_t cv_ok = 0, lex_ok = 0;
    for (int i = 0; i < nds; i++) {
        size_t cv = cross_validate(base, &ds[i], folds);
        size_t lx = accuracy_of(base, &ds[i]);
        cv_ok += cv;
        lex_ok += lx;
        printf("file=%s n=%zu accuracy=%.4f lexicon_accuracy=%.4f", ds[i].path, ds[i].n,
               (double)cv / (double)ds[i].n, (double)lx / (double)ds[i].n);
        if (si.learned && !strstr(si.learned_from, base_name(ds[i].path)))
            printf(" shipped_accuracy=%.4f",
                   (double)accuracy_of(shipped, &ds[i]) / (double)ds[i].n);
        printf(" vader_accuracy=%.4f\n", vfile[i]);
    }

    qsort(rates, (size_t)nrates, sizeof *rates, cmp_d);
    double rate = rates[nrates / 2];

    printf("accuracy=%.4f vader_accuracy=%.4f msgs_per_s=%.0f vader_msgs_per_s=%.0f "
           "speedup=%.0f lexicon_accuracy=%.4f n=%zu folds=%d\n",
           (double)cv_ok / (double)total, vacc, rate, vrate, vrate > 0 ? rate / vrate : 0,
           (double)lex_ok / (double)total, total, folds);
    sentiment_free(base);
    sentiment_free(shipped);
    free(all);
    for (int i = 0; i < nds; i++) {
        free(ds[i].buf);
        free(ds[i].ex);
    }
    return 0;
}
