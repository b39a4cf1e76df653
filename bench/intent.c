/* bench/intent.c - the intent classifier's accuracy, calibration and speed,
 * side by side with a classic baseline run on the same files in the same
 * run: scikit-learn's TF-IDF (word 1-2-grams + char 2-5-grams) and
 * LinearSVC, bench/intent_baseline.py under Debian's /usr/bin/python3
 * (package python3-sklearn, installed by scripts/install-deps.sh).
 *
 * Data: by default ../shared/data/banking77/train.csv (BANKING77,
 * Casanueva et al. 2020, PolyAI, CC BY 4.0: 77 intents of banking customer
 * queries), split 80/20 stratified by category with a fixed seed; the 20%
 * is held out and never used to choose anything. --train A.csv --test
 * B.csv uses other files. Files: CSV (RFC 4180: quoted fields may hold
 * commas, quotes and newlines) with a header naming columns `text` and
 * `category` (any case; other columns are ignored; rows with an empty
 * category are skipped).
 *
 * Figures (times and rates are medians of --reps runs, default 5; CPU
 * time of the process, for both engines, so that other work on a shared
 * machine does not count; one thread each):
 *   accuracy       on the test file, model from intent_learn of every
 *                  training row then intent_train
 *   train_s        CPU time of that: new model, learn all, train
 *                  (train_wall_s: the same on the wall clock)
 *   predict_per_s  intent_predict on the test texts one at a time, per
 *                  CPU second
 *   ece            expected calibration error (15 equal-width bins)
 *   acc@T/cov@T    accuracy and coverage of predictions with confidence >= T
 *   online_accuracy  learning the training rows one by one with no refit
 *   learn_us       mean cost of one intent_learn (online step included)
 *   baseline_*     the scikit-learn pipeline's accuracy, fit time, rate
 *                  predicting one text per call, and batch rate
 *
 *   bench_intent [--train A.csv --test B.csv] [--reps N] [--no-baseline]
 *                [--per-category N] [--set name=value]...
 *       --per-category N learns from only the first N training rows of each
 *       category (few-shot).
 *   bench_intent --cv K [--train A.csv] [--set name=value]...
 *       K-fold stratified cross-validation on the training rows only (the
 *       80% part by default): how the defaults were chosen.
 *
 * --set names: char_min char_max word_ngrams word_weight char_weight bias
 * c epochs calib_folds max_features.
 *
 * Last line: accuracy=... train_s=... predict_per_s=... baseline_accuracy=...
 * baseline_predict_per_s=... then more key=value pairs. */
#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/intent.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CAREDESK_SOURCE_DIR
#define CAREDESK_SOURCE_DIR "."
#endif

#define BANKING77 CAREDESK_SOURCE_DIR "/../shared/data/banking77/train.csv"
#define BASELINE CAREDESK_SOURCE_DIR "/bench/intent_baseline.py"
#define PYTHON "/usr/bin/python3"
#define SPLIT_SEED 77
#define ECE_BINS 15

typedef struct row {
    char *text;
    size_t len;
    char *cat;
} row;

typedef struct rowset {
    row *r;
    size_t n, cap;
} rowset;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "bench_intent: out of memory\n");
        exit(1);
    }
    return p;
}

/* Times are CPU time of this process (the machine may be shared: other
 * work inflates wall time, not this); wall_s is the clock on the wall. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ---- CSV ------------------------------------------------------------------ */

typedef struct field {
    char *s;
    size_t len;
} field;

/* Parses one record at *p (fields decoded in place); returns the number of
 * fields (at most max; extra ones are dropped), 0 at the end of input. */
static int csv_record(char **p, char *end, field *f, int max)
{
    char *s = *p;
    if (s >= end)
        return 0;
    int n = 0;
    for (;;) {
        char *out = s, *start = s;
        if (s < end && *s == '"') {
            s++;
            for (;;) {
                if (s >= end)
                    break;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        *out++ = '"';
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                *out++ = *s++;
            }
            /* Anything between the closing quote and the separator is kept. */
            while (s < end && *s != ',' && *s != '\n' && *s != '\r')
                *out++ = *s++;
        } else {
            while (s < end && *s != ',' && *s != '\n' && *s != '\r')
                s++;
            out = s;
        }
        if (n < max)
            f[n] = (field){start, (size_t)(out - start)};
        n++;
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '\r')
            s++;
        if (s < end && *s == '\n')
            s++;
        break;
    }
    *p = s;
    return n < max ? n : max;
}

static void load_csv(const char *path, rowset *rs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_intent: %s: cannot open\n", path);
        exit(1);
    }
    size_t cap = 1 << 16, len = 0, got;
    char *buf = xrealloc(NULL, cap + 1);
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            buf = xrealloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    char *p = buf, *end = buf + len;
    if (len >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
        (unsigned char)p[2] == 0xbf)
        p += 3;
    field fl[64];
    int nf = csv_record(&p, end, fl, 64), ct = -1, cc = -1;
    for (int i = 0; i < nf; i++) {
        if (fl[i].len == 4 && strncasecmp(fl[i].s, "text", 4) == 0)
            ct = i;
        if (fl[i].len == 8 && strncasecmp(fl[i].s, "category", 8) == 0)
            cc = i;
    }
    if (ct < 0 || cc < 0) {
        fprintf(stderr, "bench_intent: %s: the header names no `text` and `category` columns\n",
                path);
        exit(1);
    }
    while ((nf = csv_record(&p, end, fl, 64)) > 0) {
        if (nf <= ct || nf <= cc || fl[cc].len == 0)
            continue;
        fl[ct].s[fl[ct].len] = '\0'; /* the byte after a field is a separator or moved */
        fl[cc].s[fl[cc].len] = '\0';
        if (rs->n == rs->cap)
            rs->r = xrealloc(rs->r, (rs->cap = rs->cap ? rs->cap * 2 : 1024) * sizeof *rs->r);
        rs->r[rs->n++] = (row){fl[ct].s, fl[ct].len, fl[cc].s};
    }
    if (!rs->n) {
        fprintf(stderr, "bench_intent: %s: no rows with text and category\n", path);
        exit(1);
    }
}

static void write_csv(const char *path, const rowset *rs)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "bench_intent: %s: cannot write\n", path);
        exit(1);
    }
    fputs("text,category\n", f);
    for (size_t i = 0; i < rs->n; i++) {
        const char *cols[2] = {rs->r[i].text, rs->r[i].cat};
        size_t lens[2] = {rs->r[i].len, strlen(rs->r[i].cat)};
        for (int c = 0; c < 2; c++) {
            fputc('"', f);
            for (size_t j = 0; j < lens[c]; j++) {
                if (cols[c][j] == '"')
                    fputc('"', f);
                fputc(cols[c][j], f);
            }
            fputc('"', f);
            fputc(c ? '\n' : ',', f);
        }
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_intent: %s: cannot write\n", path);
        exit(1);
    }
}

static void push(rowset *rs, row r)
{
    if (rs->n == rs->cap)
        rs->r = xrealloc(rs->r, (rs->cap = rs->cap ? rs->cap * 2 : 1024) * sizeof *rs->r);
    rs->r[rs->n++] = r;
}

static int cmp_cat(const void *a, const void *b)
{
    const row *x = a, *y = b;
    int c = strcmp(x->cat, y->cat);
    if (c)
        return c;
    /* Then file order: text addresses follow it. */
    return (x->text > y->text) - (x->text < y->text);
}

/* Stratified split: per category (in name order), a seeded shuffle, and
 * round(frac x count) rows to the second set. Also used for CV folds. */
static void split(const rowset *all, double frac, uint64_t seed, rowset *a, rowset *b)
{
    row *r = xrealloc(NULL, all->n * sizeof *r);
    memcpy(r, all->r, all->n * sizeof *r);
    qsort(r, all->n, sizeof *r, cmp_cat);
    for (size_t i = 0; i < all->n;) {
        size_t j = i;
        while (j < all->n && strcmp(r[j].cat, r[i].cat) == 0)
            j++;
        uint64_t st = seed;
        for (size_t x = j - i; x > 1; x--) {
            size_t k = (size_t)(rng_next(&st) % x);
            row t = r[i + x - 1];
            r[i + x - 1] = r[i + k];
            r[i + k] = t;
        }
        size_t nb = (size_t)floor(frac * (double)(j - i) + 0.5);
        for (size_t x = i; x < j; x++)
            push(x - i < nb ? b : a, r[x]);
        i = j;
    }
    free(r);
    /* Rows reach the model in a mixed order, as real work would. */
    uint64_t st = seed ^ 0xabcdef;
    rowset *sets[2] = {a, b};
    for (int s = 0; s < 2; s++)
        for (size_t x = sets[s]->n; x > 1; x--) {
            size_t k = (size_t)(rng_next(&st) % x);
            row t = sets[s]->r[x - 1];
            sets[s]->r[x - 1] = sets[s]->r[k];
            sets[s]->r[k] = t;
        }
}

/* Keeps the first n training rows of each category (rows are in a seeded
 * mixed order): learning from few examples. */
static void keep_per_category(rowset *rs, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < rs->n; i++) {
        size_t seen = 0;
        for (size_t j = 0; j < out && seen < n; j++)
            seen += strcmp(rs->r[j].cat, rs->r[i].cat) == 0;
        if (seen < n)
            rs->r[out++] = rs->r[i];
    }
    rs->n = out;
}

/* ---- the model under test ------------------------------------------------- */

static intent_params params;

static intent_model *train_model(const rowset *tr, int do_train)
{
    intent_model *m = intent_new_with(&params);
    if (!m) {
        fprintf(stderr, "bench_intent: bad parameters\n");
        exit(1);
    }
    for (size_t i = 0; i < tr->n; i++) {
        int rc = intent_learn(m, tr->r[i].text, tr->r[i].len, tr->r[i].cat);
        if (rc != CD_OK) {
            fprintf(stderr, "bench_intent: intent_learn: %s\n", cd_strerror(rc));
            exit(1);
        }
    }
    if (do_train && intent_train(m) != CD_OK) {
        fprintf(stderr, "bench_intent: intent_train failed\n");
        exit(1);
    }
    return m;
}

typedef struct evalres {
    double acc, ece, nll;
    double acc_at[3], cov_at[3];
} evalres;

static const double THRESH[3] = {0.5, 0.7, 0.9};

static void evaluate(const intent_model *m, const rowset *te, evalres *e)
{
    double bin_conf[ECE_BINS] = {0}, bin_ok[ECE_BINS] = {0}, bin_n[ECE_BINS] = {0};
    size_t ok = 0, n_at[3] = {0}, ok_at[3] = {0};
    memset(e, 0, sizeof *e);
    for (size_t i = 0; i < te->n; i++) {
        intent_prediction p;
        if (intent_predict(m, te->r[i].text, te->r[i].len, &p) != CD_OK)
            continue;
        int right = p.category && strcmp(p.category, te->r[i].cat) == 0;
        ok += (size_t)right;
        int bin = (int)(p.confidence * ECE_BINS);
        if (bin >= ECE_BINS)
            bin = ECE_BINS - 1;
        bin_conf[bin] += p.confidence;
        bin_ok[bin] += right;
        bin_n[bin]++;
        for (int t = 0; t < 3; t++)
            if (p.confidence >= THRESH[t]) {
                n_at[t]++;
                ok_at[t] += (size_t)right;
            }
    }
    e->acc = (double)ok / (double)te->n;
    for (int b = 0; b < ECE_BINS; b++)
        if (bin_n[b] > 0)
            e->ece += fabs(bin_conf[b] - bin_ok[b]) / (double)te->n;
    for (int t = 0; t < 3; t++) {
        e->cov_at[t] = (double)n_at[t] / (double)te->n;
        e->acc_at[t] = n_at[t] ? (double)ok_at[t] / (double)n_at[t] : 0;
    }
}

static double predict_rate(const intent_model *m, const rowset *te)
{
    size_t done = 0;
    double t0 = now_s(), t;
    volatile double sink = 0;
    do {
        for (size_t i = 0; i < te->n; i++) {
            intent_prediction p;
            intent_predict(m, te->r[i].text, te->r[i].len, &p);
            sink += p.confidence;
        }
        done += te->n;
        t = now_s() - t0;
    } while (t < 0.3);
    (void)sink;
    return (double)done / t;
}

/* ---- the baseline ---------------------------------------------------------- */

typedef struct baseline {
    double acc, train_s, train_wall, rate, batch_rate;
} baseline;

static double kv(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? atof(p + strlen(pat)) : NAN;
}

static int run_baseline(const char *train, const char *test, int reps, baseline *b)
{
    if (access(PYTHON, X_OK) != 0) {
        fprintf(stderr,
                "bench_intent: %s is missing: the baseline needs Debian's python3 with "
                "python3-sklearn (scripts/install-deps.sh)\n",
                PYTHON);
        return -1;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' --train '%s' --test '%s' --reps %d", PYTHON, BASELINE, train,
             test, reps);
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "bench_intent: cannot run %s\n", PYTHON);
        return -1;
    }
    char line[1024], last[1024] = "";
    while (fgets(line, sizeof line, p))
        if (strncmp(line, "baseline ", 9) == 0)
            snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    if (st != 0 || !last[0]) {
        fprintf(stderr,
                "bench_intent: the baseline did not run (exit %d): it needs /usr/bin/python3 with "
                "python3-sklearn (scripts/install-deps.sh installs it) and %s\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, BASELINE);
        return -1;
    }
    b->acc = kv(last, "accuracy");
    b->train_s = kv(last, "train_s");
    b->train_wall = kv(last, "train_wall_s");
    b->rate = kv(last, "predict_per_s");
    b->batch_rate = kv(last, "batch_predict_per_s");
    if (!(b->acc >= 0) || !(b->rate > 0)) {
        fprintf(stderr, "bench_intent: cannot read the baseline's line: %s", last);
        return -1;
    }
    return 0;
}

/* Runs the baseline on rows written to temporary files. */
static int baseline_on(const rowset *tr, const rowset *te, int reps, baseline *b)
{
    char dir[] = "/tmp/bench_intent.XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_intent: cannot make a temporary directory\n");
        return -1;
    }
    char ptr[sizeof dir + 16], pte[sizeof dir + 16];
    snprintf(ptr, sizeof ptr, "%s/train.csv", dir);
    snprintf(pte, sizeof pte, "%s/test.csv", dir);
    write_csv(ptr, tr);
    write_csv(pte, te);
    int rc = run_baseline(ptr, pte, reps, b);
    unlink(ptr);
    unlink(pte);
    rmdir(dir);
    return rc;
}

/* ---- main ------------------------------------------------------------------ */

static void set_param(const char *kvs)
{
    const char *eq = strchr(kvs, '=');
    if (!eq) {
        fprintf(stderr, "bench_intent: --set wants name=value\n");
        exit(2);
    }
    size_t nl = (size_t)(eq - kvs);
    double v = atof(eq + 1);
#define P(name, expr)                                                                              \
    if (nl == strlen(#name) && strncmp(kvs, #name, nl) == 0) {                                     \
        expr;                                                                                      \
        return;                                                                                    \
    }
    P(char_min, params.char_min = (int)v)
    P(char_max, params.char_max = (int)v)
    P(word_ngrams, params.word_ngrams = (int)v)
    P(word_weight, params.word_weight = (float)v)
    P(char_weight, params.char_weight = (float)v)
    P(bias, params.bias = (float)v)
    P(c, params.c = (float)v)
    P(c_online, params.c_online = (float)v)
    P(epochs, params.epochs = (int)v)
    P(calib_folds, params.calib_folds = (int)v)
    P(max_features, params.max_features = (uint32_t)v)
#undef P
    fprintf(stderr, "bench_intent: unknown parameter %.*s\n", (int)nl, kvs);
    exit(2);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_intent [--train A.csv --test B.csv] [--reps N] [--no-baseline]\n"
                    "                    [--per-category N] [--cv K] [--set name=value]...\n");
    exit(2);
}

static int cross_validate(const rowset *all, int k, int with_baseline)
{
    double bsum = 0;
    /* Fold f: rows whose position in their category's shuffled order is
     * f mod k; done as k successive stratified splits of what remains. */
    evalres sum = {0};
    double tsum = 0;
    rowset rest = *all;
    rowset *folds = xrealloc(NULL, (size_t)k * sizeof *folds);
    rowset left = {0};
    for (int f = 0; f < k; f++) {
        memset(&folds[f], 0, sizeof folds[f]);
        if (f == k - 1) {
            folds[f] = rest;
            break;
        }
        rowset a = {0}, b = {0};
        split(&rest, 1.0 / (k - f), SPLIT_SEED + 1000 + (uint64_t)f, &a, &b);
        folds[f] = b;
        if (f > 0)
            free(left.r);
        left = a;
        rest = a;
    }
    for (int f = 0; f < k; f++) {
        rowset tr = {0};
        for (int g = 0; g < k; g++)
            if (g != f)
                for (size_t i = 0; i < folds[g].n; i++)
                    push(&tr, folds[g].r[i]);
        double t0 = now_s();
        intent_model *m = train_model(&tr, 1);
        tsum += now_s() - t0;
        evalres e;
        evaluate(m, &folds[f], &e);
        if (with_baseline) {
            baseline b;
            if (baseline_on(&tr, &folds[f], 1, &b) != 0)
                return 1;
            bsum += b.acc;
            printf("fold %d: baseline_accuracy=%.4f\n", f, b.acc);
        }
        sum.acc += e.acc;
        sum.ece += e.ece;
        for (int t = 0; t < 3; t++) {
            sum.acc_at[t] += e.acc_at[t];
            sum.cov_at[t] += e.cov_at[t];
        }
        printf("fold %d: accuracy=%.4f ece=%.4f temperature=%.4f\n", f, e.acc, e.ece,
               intent_temperature(m));
        intent_free(m);
        free(tr.r);
    }
    printf("cv_accuracy=%.4f cv_ece=%.4f cv_acc@0.9=%.4f cv_cov@0.9=%.4f train_s=%.3f folds=%d",
           sum.acc / k, sum.ece / k, sum.acc_at[2] / k, sum.cov_at[2] / k, tsum / k, k);
    if (with_baseline)
        printf(" cv_baseline_accuracy=%.4f", bsum / k);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *train = NULL, *test = NULL;
    int reps = 5, no_baseline = 0, cv = 0, per_cat = 0;
    intent_params_default(&params);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--train") && i + 1 < argc)
            train = argv[++i];
        else if (!strcmp(argv[i], "--test") && i + 1 < argc)
            test = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cv") && i + 1 < argc)
            cv = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc)
            set_param(argv[++i]);
        else if (!strcmp(argv[i], "--per-category") && i + 1 < argc)
            per_cat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-baseline"))
            no_baseline = 1;
        else
            usage();
    }
    if (reps < 1 || reps > 99 || cv < 0 || cv == 1 || cv > 50 || (!cv && !train != !test))
        usage();

    rowset all = {0}, tr = {0}, te = {0};
    if (train) {
        load_csv(train, &tr);
        if (test)
            load_csv(test, &te);
    } else {
        load_csv(BANKING77, &all);
        split(&all, 0.2, SPLIT_SEED, &tr, &te);
    }
    if (per_cat > 0)
        keep_per_category(&tr, (size_t)per_cat);
    if (cv)
        return cross_validate(&tr, cv, !no_baseline);

    printf("data: %s train=%zu test=%zu\n", train ? "files" : "banking77 80/20 stratified", tr.n,
           te.n);

    /* The classifier. */
    double *tt = xrealloc(NULL, (size_t)reps * sizeof *tt);
    double *pr = xrealloc(NULL, (size_t)reps * sizeof *pr);
    double *tw = xrealloc(NULL, (size_t)reps * sizeof *tw);
    intent_model *m = NULL;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s(), w0 = wall_s();
        intent_model *x = train_model(&tr, 1);
        tt[r] = now_s() - t0;
        tw[r] = wall_s() - w0;
        intent_free(m);
        m = x;
    }
    evalres e;
    evaluate(m, &te, &e);
    for (int r = 0; r < reps; r++)
        pr[r] = predict_rate(m, &te);
    double train_s = median(tt, reps), rate = median(pr, reps), train_wall = median(tw, reps);
    printf("intent: accuracy=%.4f train_s=%.3f train_wall_s=%.3f predict_per_s=%.0f features=%zu "
           "categories=%zu temperature=%.4f\n",
           e.acc, train_s, train_wall, rate, intent_features(m), intent_categories(m),
           intent_temperature(m));
    printf("calibration: ece=%.4f", e.ece);
    for (int t = 0; t < 3; t++)
        printf(" acc@%.1f=%.4f cov@%.1f=%.4f", THRESH[t], e.acc_at[t], THRESH[t], e.cov_at[t]);
    printf("\n");

    /* Incremental: online steps only (no refit), and the cost of a learn. */
    double t0 = now_s();
    intent_model *on = train_model(&tr, 0);
    double learn_us = (now_s() - t0) / (double)tr.n * 1e6;
    evalres eo;
    evaluate(on, &te, &eo);
    intent_free(on);
    unsigned char *buf = NULL;
    size_t blen = 0;
    size_t model_bytes = intent_save(m, &buf, &blen) == CD_OK ? blen : 0;
    cd_free(buf);
    printf("incremental: online_accuracy=%.4f learn_us=%.1f model_bytes=%zu\n", eo.acc, learn_us,
           model_bytes);
    intent_free(m);

    /* The baseline, on the same rows. */
    baseline b = {NAN, NAN, NAN, NAN, NAN};
    if (!no_baseline) {
        if (baseline_on(&tr, &te, reps < 3 ? reps : 3, &b) != 0)
            return 1;
        printf("baseline: accuracy=%.4f train_s=%.3f train_wall_s=%.3f predict_per_s=%.0f "
               "batch_predict_per_s=%.0f\n",
               b.acc, b.train_s, b.train_wall, b.rate, b.batch_rate);
    }
    printf("accuracy=%.4f train_s=%.3f predict_per_s=%.0f baseline_accuracy=%.4f "
           "baseline_predict_per_s=%.0f baseline_train_s=%.3f baseline_batch_predict_per_s=%.0f "
           "speedup=%.1f ece=%.4f acc@0.9=%.4f cov@0.9=%.4f online_accuracy=%.4f learn_us=%.1f "
           "train_wall_s=%.3f baseline_train_wall_s=%.3f\n",
           e.acc, train_s, rate, b.acc, b.rate, b.train_s, b.batch_rate, rate / b.rate, e.ece,
           e.acc_at[2], e.cov_at[2], eo.acc, learn_us, train_wall, b.train_wall);
    return 0;
}
