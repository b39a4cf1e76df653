/* sentiment.h - the sentiment engine: a score in [-1, 1] and a label
 * (negative, neutral, positive) for one message.
 *
 * Scoring (docs/sentiment.md has the details and measured figures):
 *   1. Lexicon sum S, VADER's rules (Hutto & Gilbert, 2014): each word,
 *      emoticon or emoji found in the lexicon adds its valence, changed by
 *      the words before it in the same clause: intensifiers ("very",
 *      "extremely") and dampeners ("slightly", "kind of") add or remove
 *      0.293, negators ("not", "never", "-n't", "no") multiply by -0.74,
 *      a word in CAPITALS among words that are not adds 0.733; a contrast
 *      ("but") halves what comes before it and weighs what follows by 1.5;
 *      '!' (up to 4) and repeated '?' push S away from 0.
 *   2. A learned layer (optional): z = a * S + b + sum of learned token
 *      weights (a token within a negation has its own weight). Without it,
 *      a = 1, b = 0 and no token weights.
 *   3. score = z / sqrt(z * z + 15), clamped to [-1, 1];
 *      label = 1 if score >= 0.05, -1 if score <= -0.05, else 0.
 *
 * Files: the VADER lexicon (lines `token<TAB>mean<TAB>...`, as in the npm
 * package vader-sentiment's vader_lexicon.txt) is required. Optional: an
 * emoji lexicon, either the npm package emoji-emotion's index.js (emoji and
 * polarity -5..5, scaled by 0.8 to VADER's -4..4), a file of
 * `emoji<TAB>number` lines, or one of `emoji<TAB>description` lines (the
 * description is scored with the word lexicon); and a learned-weights file
 * as written by sentiment_save_weights.
 *
 * Threads: a model is immutable after load or train; any number of threads
 * may call sentiment_score on one model at once.
 *
 * Input: any bytes. Invalid UTF-8, NULs and control bytes separate words;
 * time is linear in the length, nothing is allocated per message, and no
 * input can make the score leave [-1, 1]. Letters are compared after ASCII
 * lowercasing; U+2019 counts as an apostrophe. */
#ifndef SENTIMENT_H
#define SENTIMENT_H

#include <stddef.h>

#define SENTIMENT_NEUTRAL_BAND 0.05 /* |score| below this is neutral */

typedef struct sentiment_model sentiment_model;

typedef struct sentiment_result {
    double score; /* in [-1, 1] */
    int label;    /* -1 negative, 0 neutral, 1 positive */
} sentiment_result;

/* Files a model is made of. lexicon is required; emoji and weights may be
 * NULL (none). */
typedef struct sentiment_paths {
    const char *lexicon;
    const char *emoji;
    const char *weights;
} sentiment_paths;

/* The directory holding the lexicons when none is given: the environment
 * variable CAREDESK_LEXICON if set and not empty, else the project's
 * lexicon/ directory as built in (CMake passes its path). */
const char *sentiment_default_dir(void);

/* Loads the files. On failure returns CD_ENOTFOUND (a file cannot be
 * opened), CD_EINVAL (a file is malformed or the lexicon has no entry),
 * CD_ENOMEM, and writes a message naming the file into msg (msglen bytes,
 * may be 0); *out is then NULL. */
int sentiment_load(const sentiment_paths *paths, sentiment_model **out, char *msg, size_t msglen);

/* Loads from a directory laid out like the project's lexicon/:
 *   DIR/node_modules/vader-sentiment/vader_lexicon.txt   required
 *   DIR/node_modules/emoji-emotion/index.js              used if present
 *   DIR/sentiment_weights.tsv                            used if present
 * Without learned weights when with_weights is 0. dir NULL means
 * sentiment_default_dir(). Errors as sentiment_load. */
int sentiment_load_dir(const char *dir, int with_weights, sentiment_model **out, char *msg,
                       size_t msglen);

void sentiment_free(sentiment_model *m);

/* Scores text[0..len). text may be NULL when len is 0. */
void sentiment_score(const sentiment_model *m, const char *text, size_t len, sentiment_result *out);

/* Label of a score: 1, 0 or -1 (see SENTIMENT_NEUTRAL_BAND). */
int sentiment_label(double score);

/* What a model holds: entries of the word lexicon, emoji, tokens with a
 * learned weight, and whether it has a learned layer (and where it was
 * learned from: the note given to sentiment_save_weights, "" if none). */
typedef struct sentiment_info {
    size_t lexicon_entries, emoji_entries, learned_tokens;
    int learned;
    double a, b;
    const char *learned_from;
} sentiment_info;
void sentiment_model_info(const sentiment_model *m, sentiment_info *out);

/* --- learning -------------------------------------------------------------- */

typedef struct sentiment_example {
    const char *text;
    size_t len;
    int label; /* 1 positive, 0 negative */
} sentiment_example;

typedef struct sentiment_train_opts {
    double l2;        /* L2 penalty on each token weight; default 2.0 */
    int min_count;    /* a token (or negated token) seen fewer times gets none; default 3 */
    int epochs;       /* passes over the examples; default 60 */
    int fit_bias;     /* learn b too; default 0: b = 0, so a text with no
                       * lexicon word and no learned token stays neutral
                       * whatever the balance of the examples */
    const char *note; /* where the examples come from, kept with the weights */
} sentiment_train_opts;

/* Learns the layer of step 2 from labelled examples by logistic regression
 * (the probability of positive is 1 / (1 + exp(-z))): a (and b if asked), and a
 * weight for every token seen at least min_count times, plain or within a
 * negation. The new model has base's lexicons and no learned weights of
 * base. opts may be NULL (defaults). Deterministic. Returns 0, CD_EINVAL
 * (no examples) or CD_ENOMEM. */
int sentiment_train(const sentiment_model *base, const sentiment_example *ex, size_t n,
                    const sentiment_train_opts *opts, sentiment_model **out);

/* Writes the learned layer as text, readable by sentiment_load (weights).
 * Returns 0, CD_EINVAL (model has no learned layer) or CD_EIO. */
int sentiment_save_weights(const sentiment_model *m, const char *path);

#endif
