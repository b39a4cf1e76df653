/* intent.h - the intent classifier: one model per client learns categories
 * from the client's resolved interactions and predicts a category, with a
 * calibrated confidence, for each new interaction.
 *
 * Features (docs/intent.md has the details and measured figures): the text
 * is split into words (ASCII letters and digits, any non-ASCII byte except
 * Latin-1 and general punctuation, inner apostrophes; ASCII lowercased,
 * U+2019 read as '); each word gives itself, the pair with the word before
 * it, and the character n-grams of " word " (lengths 2..4). Features are
 * hashed to 32-bit keys; a model keeps a dictionary of the keys it has
 * learned (at most max_features), and keys it never learned are ignored
 * when predicting. Values: sublinear term frequency (1 + ln tf) times
 * smoothed idf, the word block and the character block each L2-normalised.
 *
 * Model: one linear scorer per category plus a bias, trained as a
 * multiclass passive-aggressive learner (PA-I, Crammer et al. 2006) over
 * shuffled epochs with weight averaging. Confidence: the softmax of the
 * scores divided by a temperature fitted by minimising the log-loss of
 * out-of-fold scores (stratified folds of the learned examples).
 *
 * Learning is incremental. intent_learn adds one example: the model keeps
 * its features (not its text: 6 bytes per feature, about 1 KB for a
 * typical message), updates the document frequencies and takes one online
 * PA step on the weights (biases excepted) with no step limit, so the next
 * intent_predict already reflects it: the text just learned is predicted
 * as its category (if it has features and there are two categories or
 * more). Cost O(features x categories): about 6 us for a
 * 60-character message and 77 categories. intent_train refits the weights
 * and the temperature from every kept example without the caller giving
 * anything again: epochs x (1 + f x (k - 1) / k) passes over the kept
 * examples, k = calib_folds and f the folds run (all k on small sets,
 * fewer once 2,000 out-of-fold scores are in: one from 6,000 examples on
 * at k = 3); 0.45-0.6 s CPU for 8,000 examples and 77 categories on one
 * core. intent_maybe_train refits only when enough was learned since the
 * last refit. Until the first refit the temperature is 1.
 *
 * Categories: any NUL-terminated string of 1..INTENT_MAX_CATEGORY bytes;
 * a category never learned before is added when first learned (at most
 * INTENT_MAX_CATEGORIES). A model with no category predicts nothing
 * (intent_predict returns CD_ESTATE). With exactly one category it always
 * predicts that one with confidence (n + 1) / (n + 2) after n examples
 * (Laplace's rule of succession: it cannot know what it has not seen).
 *
 * Input: any bytes (invalid UTF-8, NULs, control bytes); time is linear in
 * the length. Nothing is allocated when predicting (about 60 KB of stack).
 * A text gives at most INTENT_MAX_TEXT_FEATURES distinct features, from
 * its start: a very long text is judged by roughly its first 2,000
 * characters of varied text. A text with no known feature scores the
 * biases only and gets a low confidence.
 *
 * Determinism: the same params and the same calls in the same order give
 * the same model, bit for bit (fixed shuffling seed; no clock, no global
 * state).
 *
 * Threads: intent_predict and the other const functions only read the
 * model; any number of threads may call them at once on a model nobody is
 * changing. intent_learn, intent_train and intent_free need the model to
 * themselves (a write lock; or refit a copy made with intent_clone, or
 * loaded with intent_load, and swap it in while the original keeps
 * serving predictions).
 *
 * Errors: functions return 0 (CD_OK) or a negative CD_E* code
 * (core/cd_err.h). A failed call leaves the model as it was. */
#ifndef INTENT_H
#define INTENT_H

#include <stddef.h>
#include <stdint.h>

#define INTENT_TOP 3                  /* best categories reported by intent_predict */
#define INTENT_MAX_CATEGORY 256       /* bytes in a category name */
#define INTENT_MAX_CATEGORIES 1024    /* categories in one model */
#define INTENT_MAX_TEXT_FEATURES 2048 /* distinct features taken from one text */
#define INTENT_MAX_EXAMPLES 10000000u /* examples kept by one model */

typedef struct intent_model intent_model;

/* Settings; intent_params_default gives the defaults (the values chosen by
 * cross-validation, docs/intent.md). */
typedef struct intent_params {
    int char_min, char_max; /* character n-gram lengths, 1 <= min <= max <= 8 (2, 4) */
    int word_ngrams;        /* 0: no word features, 1: words, 2: words and pairs (2) */
    float word_weight;      /* scale of the normalised word block (1) */
    float char_weight;      /* scale of the normalised character block (1) */
    float bias;             /* value of the constant feature (1) */
    float c;                /* PA-I aggressiveness in intent_train: largest step (0.1) */
    float c_online;         /* largest step of intent_learn's online step (FLT_MAX: none, so
                             * the text just learned is then predicted as its category) */
    int epochs;             /* passes over the examples in intent_train (10) */
    int calib_folds;        /* folds for the temperature; 0: temperature 1 (3) */
    uint32_t max_features;  /* dictionary size limit (1 << 20) */
    uint64_t seed;          /* shuffling */
} intent_params;

typedef struct intent_prediction {
    const char *category; /* best category, borrowed from the model; NULL if none */
    double confidence;    /* its probability, in [0, 1] */
    int ntop;             /* entries in top, <= INTENT_TOP and <= categories */
    struct {
        const char *category;
        double confidence;
    } top[INTENT_TOP]; /* best first; top[0] is category */
} intent_prediction;

void intent_params_default(intent_params *p);

/* A new empty model; NULL when out of memory (or, for intent_new_with,
 * when params are out of range). */
intent_model *intent_new(void);
intent_model *intent_new_with(const intent_params *p);
void intent_free(intent_model *m);

/* A deep copy; NULL when out of memory. */
intent_model *intent_clone(const intent_model *m);

/* Learns that text[0..len) belongs to category (text may be NULL when len
 * is 0). CD_EINVAL: category NULL, empty or too long, or text NULL with
 * len > 0. CD_ETOOBIG: INTENT_MAX_CATEGORIES or INTENT_MAX_EXAMPLES
 * reached. CD_ENOMEM. */
int intent_learn(intent_model *m, const char *text, size_t len, const char *category);

/* Refits weights and temperature from every example learned so far.
 * CD_OK with nothing to do when no example was learned. CD_ENOMEM. */
int intent_train(intent_model *m);

/* Refits when the examples learned since the last refit are at least
 * max(min_new, fraction x all examples); *trained (may be NULL) tells
 * whether it did. E.g. intent_maybe_train(m, 20, 0.05, NULL). */
int intent_maybe_train(intent_model *m, size_t min_new, double fraction, int *trained);

/* Predicts the category of text[0..len). CD_EINVAL: text NULL with
 * len > 0 or out NULL. CD_ESTATE: the model knows no category (out then
 * has category NULL, confidence 0, ntop 0). */
int intent_predict(const intent_model *m, const char *text, size_t len, intent_prediction *out);

size_t intent_examples(const intent_model *m);                /* examples learned */
size_t intent_pending(const intent_model *m);                 /* learned since the last refit */
size_t intent_categories(const intent_model *m);              /* categories known */
const char *intent_category(const intent_model *m, size_t i); /* NULL when i out of range */
size_t intent_features(const intent_model *m);                /* dictionary entries */
double intent_temperature(const intent_model *m);

/* Serialisation: intent_save writes the whole model (params, categories,
 * dictionary, weights, kept examples) into a new buffer (*buf, *len; free
 * it with cd_free); intent_load reads one back, checking everything (any
 * bytes may be given: CD_EINVAL when malformed or of another version). */
int intent_save(const intent_model *m, unsigned char **buf, size_t *len);
int intent_load(const unsigned char *buf, size_t len, intent_model **out);

#endif
